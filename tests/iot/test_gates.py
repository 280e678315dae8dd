from __future__ import annotations

from opencustoms.iot.gates import correct_container_number, judge_passage, plates_match


def test_valid_number_passes() -> None:
    assert correct_container_number("CSQU 305438-3").status == "valid"


def test_letters_and_digits_swapped_by_ocr_are_corrected() -> None:
    r = correct_container_number("C5QU3O54383")  # S read as 5, 0 read as O
    assert (r.status, r.number) == ("corrected", "CSQU3054383")


def test_single_confusion_fixed_by_the_check_digit() -> None:
    # the serial's 8 read as 6: only one misread makes the check digit right
    r = correct_container_number("CSQU3054363")
    assert (r.status, r.number) == ("corrected", "CSQU3054383")
    # MSCU1234567, the common invalid example: several single misreads fit, so it is flagged, never guessed
    r = correct_container_number("MSCU1234567")
    assert r.status == "ambiguous" and r.number is None and len(r.candidates) >= 2
    assert all(correct_container_number(c).status == "valid" for c in r.candidates)
    assert correct_container_number("XXXX").status == "unreadable"


def test_ambiguous_reads_are_flagged() -> None:
    # find a number where two different confusable substitutions both satisfy the check digit
    from opencustoms.reference.codes import iso6346_check_digit

    found = None
    for serial in range(100000, 140000):
        base = f"ABZU{serial:06d}"
        number = base + str(iso6346_check_digit(base))
        wrong = number[:10] + str((int(number[10]) + 1) % 10)
        r = correct_container_number(wrong)
        if r.status == "ambiguous":
            found = r
            break
    assert found is not None and len(found.candidates) >= 2 and found.number is None


def test_passage_verdicts() -> None:
    declared = {"CSQU3054383": {"functional_reference_id": "D1", "vehicle_id": "NL-12-ABC"}}
    ok = judge_passage([("NL12ABC", 0.95)], [("CSQU3054383", 0.9)], [(False, 100.0)], declared, [])
    assert not ok.needs_officer and ok.functional_reference_ids == ["D1"]
    bad = judge_passage([("NL-99-XYZ", 0.95)], [("CSQU3O54383", 0.9)], [(True, 900.0)], declared, [])
    assert {r["code"] for r in bad.reasons} == {"plate_mismatch", "radiation_alarm"}
    assert bad.reads["containers"][0]["status"] == "corrected"
    assert plates_match("NL-12-A8C", "NL12ABC") == "confusable"
