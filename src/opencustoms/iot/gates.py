"""Gate reads: container numbers corrected with the ISO 6346 check digit and the usual OCR confusions, plates
compared with the declarations expected for the containers, radiation alarms; a passage with any problem goes to
the officers' decision queue (release or inspect).

Each reason of a verdict is a code, its English ``detail`` and the ``values`` its sentence needs: pages write it in
the reader's language from the template ``iot.<code>`` of ``wording/signals.toml``
(:func:`opencustoms.signals.describe`), the stored detail being the fallback."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from opencustoms.reference.codes import iso6346_check_digit

# OCR confuses these pairs; letters live in the owner code and category, digits in the serial and check digit.
TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "B": "8", "S": "5", "Z": "2", "G": "6"}
TO_LETTER = {v: k for k, v in (("O", "0"), ("I", "1"), ("B", "8"), ("S", "5"), ("Z", "2"), ("G", "6"))}
CONFUSABLE = {"O": "0", "0": "O", "I": "1", "1": "I", "B": "8", "8": "B", "S": "5", "5": "S", "Z": "2", "2": "Z"}
# Misreads within a class (a digit for another digit, a letter for another letter) that glyph shapes invite.
SAME_CLASS = {
    "0": "689",
    "8": "0369",
    "6": "058",
    "5": "63",
    "3": "85",
    "9": "08",
    "1": "7",
    "7": "1",
    "O": "QDC",
    "Q": "O",
    "D": "O",
    "C": "GO",
    "G": "CO",
    "I": "LT",
    "L": "I",
    "T": "I",
    "E": "FB",
    "F": "E",
    "B": "ER",
    "R": "B",
    "M": "NH",
    "N": "MH",
    "H": "MN",
    "U": "JV",
    "V": "U",
}
_SHAPE = re.compile(r"^[A-Z]{3}[UJZ][0-9]{7}$")


def _valid(number: str) -> bool:
    return bool(_SHAPE.match(number)) and iso6346_check_digit(number[:10]) == int(number[10])


@dataclass(frozen=True)
class ContainerReading:
    read: str
    status: str  # valid | corrected | ambiguous | unreadable
    number: str | None  # the valid number (read or corrected), None when ambiguous or unreadable
    candidates: tuple[str, ...] = ()
    note: str = ""
    problem: str = ""  # unreadable: length, shape or check_digit


def correct_container_number(read: str) -> ContainerReading:
    """Validate an OCR'd container number; try the OCR confusions (O/0, I/1, B/8, S/5, Z/2) where the character is of
    the wrong class for its position, then single same-class misreads (8/6, 1/7, O/Q, M/N, ...) that make the check
    digit right. One
    candidate: corrected. Several: ambiguous (the candidates are listed). None: unreadable."""
    text = re.sub(r"[\s\-./]", "", read.upper())
    if len(text) != 11:
        return ContainerReading(
            read, "unreadable", None, note=f"{len(text)} characters read; a container number has 11", problem="length"
        )
    if _valid(text):
        return ContainerReading(read, "valid", text)
    # 1. position classes: letters in 0-3, digits in 4-10
    forced = "".join(TO_LETTER.get(c, c) if i < 4 else TO_DIGIT.get(c, c) for i, c in enumerate(text))
    if forced != text and _valid(forced):
        return ContainerReading(
            read,
            "corrected",
            forced,
            (forced,),
            note=f"read {text}; letters and digits swapped by OCR, corrected to {forced}",
        )
    if not re.match(r"^[A-Z]{3}[UJZ][0-9]{7}$", forced):
        return ContainerReading(
            read, "unreadable", None, note=f"{text} is not shaped like an ISO 6346 number", problem="shape"
        )
    # 2. one same-class misread that satisfies the check digit
    candidates = set()
    for i, c in enumerate(forced):
        for alt in SAME_CLASS.get(c, ""):
            candidate = forced[:i] + alt + forced[i + 1 :]
            if _valid(candidate):
                candidates.add(candidate)
    # the category letter may be misread among U/J/Z
    for cat in "UJZ":
        candidate = forced[:3] + cat + forced[4:]
        if candidate != forced and _valid(candidate):
            candidates.add(candidate)
    if len(candidates) == 1:
        [number] = candidates
        return ContainerReading(
            read,
            "corrected",
            number,
            (number,),
            note=f"read {text}: check digit wrong; one OCR confusion fixes it: {number}",
        )
    if candidates:
        return ContainerReading(
            read,
            "ambiguous",
            None,
            tuple(sorted(candidates)),
            note=f"read {text}: check digit wrong; {len(candidates)} corrections are possible",
        )
    return ContainerReading(
        read,
        "unreadable",
        None,
        note=f"read {text}: check digit wrong and no single OCR confusion explains it",
        problem="check_digit",
    )


def normalise_plate(plate: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", plate.upper())


def plates_match(read: str, expected: str) -> str:
    """'exact', 'confusable' (differs only by OCR-confusable characters) or 'different'."""
    a, b = normalise_plate(read), normalise_plate(expected)
    if a == b:
        return "exact"
    if len(a) == len(b) and all(x == y or CONFUSABLE.get(x) == y for x, y in zip(a, b, strict=True)):
        return "confusable"
    return "different"


@dataclass
class PassageVerdict:
    reasons: list[dict[str, Any]] = field(default_factory=list)
    reads: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)
    functional_reference_ids: list[str] = field(default_factory=list)

    @property
    def needs_officer(self) -> bool:
        return bool(self.reasons)


def judge_passage(
    plates: list[tuple[str, float | None]],
    containers: list[tuple[str, float | None]],
    radiation: list[tuple[bool, float | None]],
    declarations: dict[str, dict[str, Any]],
    plate_declarations: list[str],
    *,
    min_confidence: float = 0.8,
) -> PassageVerdict:
    """Decide whether a gate passage needs an officer.

    ``declarations`` maps each container number the reads resolve to onto the declaration expecting it
    (``{"functional_reference_id", "vehicle_id"}``); ``plate_declarations`` are declarations whose vehicle is the
    read plate."""
    verdict = PassageVerdict()
    readings = [correct_container_number(c) for c, _ in containers]
    verdict.reads = {
        "plates": [{"read": p, "confidence": conf} for p, conf in plates],
        "containers": [
            {
                "read": r.read,
                "confidence": conf,
                "status": r.status,
                "number": r.number,
                "candidates": list(r.candidates),
                "note": r.note,
            }
            for r, (_, conf) in zip(readings, containers, strict=True)
        ],
        "radiation": [{"alarm": alarm, "level": level} for alarm, level in radiation],
    }
    for plate, conf in plates:
        if conf is not None and conf < min_confidence:
            verdict.reasons.append(
                {
                    "code": "low_confidence_read",
                    "detail": f"plate {plate} read with confidence {conf:.2f} < {min_confidence}",
                    "values": {"plate": plate, "confidence": round(conf, 2), "min_confidence": min_confidence},
                }
            )
    for reading, (_, conf) in zip(readings, containers, strict=True):
        if reading.status in ("ambiguous", "unreadable"):
            code = "container_number_ambiguous" if reading.status == "ambiguous" else "container_number_unreadable"
            verdict.reasons.append(
                {
                    "code": code,
                    "detail": reading.note,
                    "candidates": list(reading.candidates),
                    "values": {
                        "read": reading.read,
                        "corrections": len(reading.candidates),
                        "problem": reading.problem or None,
                        "characters": len(re.sub(r"[\s\-./]", "", reading.read)),
                    },
                }
            )
        elif conf is not None and conf < min_confidence and reading.status == "valid":
            verdict.reasons.append(
                {
                    "code": "low_confidence_read",
                    "detail": f"container {reading.number} read with confidence {conf:.2f}",
                    "values": {"container": reading.number, "confidence": round(conf, 2)},
                }
            )
    numbers = [r.number for r in readings if r.number]
    expected_vehicles: set[str] = set()
    refs: list[str] = []
    for number in numbers:
        found = declarations.get(number)
        if found is None:
            verdict.reasons.append(
                {
                    "code": "container_not_declared",
                    "detail": f"no declaration expects container {number}",
                    "values": {"container": number},
                }
            )
            continue
        refs.append(found["functional_reference_id"])
        if found.get("vehicle_id"):
            expected_vehicles.add(found["vehicle_id"])
    verdict.expected = {
        "declarations": [declarations[n] for n in numbers if n in declarations],
        "vehicles": sorted(expected_vehicles),
    }
    for plate, _ in plates:
        if expected_vehicles:
            results = {plates_match(plate, v) for v in expected_vehicles}
            if "exact" in results:
                continue
            if "confusable" in results:
                verdict.reasons.append(
                    {
                        "code": "plate_confusable",
                        "detail": f"plate read {plate} matches {', '.join(sorted(expected_vehicles))} "
                        "only up to OCR confusions",
                        "values": {"plate": plate, "expected": sorted(expected_vehicles)},
                    }
                )
            else:
                verdict.reasons.append(
                    {
                        "code": "plate_mismatch",
                        "detail": f"plate read {plate}; the declarations expect {', '.join(sorted(expected_vehicles))}",
                        "values": {"plate": plate, "expected": sorted(expected_vehicles)},
                    }
                )
        elif not plate_declarations and not numbers:
            verdict.reasons.append(
                {
                    "code": "unexpected_vehicle",
                    "detail": f"no declaration names vehicle {plate} and no container was read",
                    "values": {"plate": plate, "containers_read": 0},
                }
            )
        elif not plate_declarations and numbers and not refs:
            verdict.reasons.append(
                {
                    "code": "unexpected_vehicle",
                    "detail": f"no declaration names vehicle {plate} or its containers",
                    "values": {"plate": plate, "containers_read": len(numbers)},
                }
            )
        refs.extend(plate_declarations)
    for alarm, level in radiation:
        if alarm:
            verdict.reasons.append(
                {
                    "code": "radiation_alarm",
                    "detail": "radiation portal alarm" + (f" (level {level})" if level is not None else ""),
                    "values": {"level": level},
                }
            )
    verdict.functional_reference_ids = sorted(set(refs))
    return verdict
