"""Tests of :mod:`opencustoms.reference.hs`: reading HS nomenclature files and validating codes against them.

The real HS 2017 and HS 2022 files (datasets/harmonized-system, from UN Comtrade) live outside the repository,
in ``<workspace>/shared/data/hs``; tests that need them are skipped, naming the path, when it is absent.
"""

from __future__ import annotations

import contextlib
import csv
import io
import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import shared_data
from opencustoms.reference.errors import InvalidCodeError, NomenclatureFileError
from opencustoms.reference.hs import (
    AGGREGATE_CODES,
    REQUIRED_COLUMNS,
    HSEntry,
    Nomenclature,
    read_hs_csv,
)

HS_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "hs"
HS_CHAPTERS = [f"{n:02d}" for n in range(1, 98) if n != 77]
HEADER = "section,hscode,description,parent,level\n"


def hs_file(edition: int) -> Path:
    """The real HS file (datasets/harmonized-system in shared/data/hs): a skip when absent, a failure in CI."""
    return shared_data("hs", f"harmonized-system-{edition}.csv")


@pytest.fixture(scope="module")
def hs2022() -> Nomenclature:
    return Nomenclature("2022", read_hs_csv(hs_file(2022)))


@pytest.fixture(scope="module")
def hs2017() -> Nomenclature:
    return Nomenclature("2017", read_hs_csv(hs_file(2017)))


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return (header + "".join(r + "\n" for r in rows)).encode()


def file_error(source, *fragments: str) -> NomenclatureFileError:
    with pytest.raises(NomenclatureFileError) as info:
        read_hs_csv(source)
    for fragment in fragments:
        assert fragment in info.value.message, (fragment, info.value.message)
    return info.value


MINI = csv_bytes(
    "I,01,Animals; live,TOTAL,2",
    'I,0101,"Horses, asses, mules and hinnies; live",01,4',
    'I,010121,"Horses; live, pure-bred breeding animals",0101,6',
    "I,010130,Asses; live,0101,6",
    "I,0102,Bovine animals; live,01,4",
    "XVI,84,Nuclear reactors,TOTAL,2",
    "XVI,8471,Automatic data processing machines,84,4",
    "XVI,847130,Portable automatic data processing machines,8471,6",
    "TOTAL,99,Commodities not specified according to kind,TOTAL,2",
    "TOTAL,9999,Commodities not specified according to kind,99,4",
    "TOTAL,999999,Commodities not specified according to kind,9999,6",
    "TOTAL,TOTAL,All Commodities,TOTAL,5",
)


@pytest.fixture()
def mini() -> Nomenclature:
    return Nomenclature("test", read_hs_csv(MINI))


# --- the real HS 2022 and HS 2017 files ---------------------------------------------------------------------


def test_hs2022_counts(hs2022: Nomenclature) -> None:
    assert hs2022.counts() == {2: 96, 4: 1228, 6: 5612}
    assert len(hs2022) == 96 + 1228 + 5612


def test_hs2017_loads_despite_its_trailing_blank_row(hs2017: Nomenclature) -> None:
    """The HS 2017 file ends with a ',,,,' row; it must be skipped, not reported as a bad code."""
    assert hs_file(2017).read_bytes().rstrip().endswith(b",,,,")
    assert hs2017.counts() == {2: 96, 4: 1222, 6: 5387}


@pytest.mark.parametrize("edition", [2017, 2022])
def test_aggregates_are_dropped(edition: int) -> None:
    entries = read_hs_csv(hs_file(edition))
    codes = {e.code for e in entries}
    assert not codes & AGGREGATE_CODES
    assert all(e.section != "TOTAL" for e in entries)
    assert all(e.parent not in AGGREGATE_CODES for e in entries)


@pytest.mark.parametrize("edition", [2017, 2022])
def test_chapters_are_01_to_97_without_77(edition: int) -> None:
    nom = Nomenclature(str(edition), read_hs_csv(hs_file(edition)))
    assert sorted(e.code for e in nom.entries.values() if e.level == 2) == HS_CHAPTERS
    assert "77" not in nom


@pytest.mark.parametrize("edition", [2017, 2022])
def test_structure_of_the_real_files(edition: int) -> None:
    entries = read_hs_csv(hs_file(edition))
    by_code = {e.code: e for e in entries}
    assert len(by_code) == len(entries), "no code appears twice"
    for e in entries:
        assert e.level == len(e.code) and e.level in (2, 4, 6)
        assert e.description and e.section
        if e.level == 2:
            assert e.parent is None
        else:
            assert e.parent == e.code[:-2] and e.parent in by_code
            assert by_code[e.parent].section == e.section


def test_reading_from_path_str_and_bytes_agree() -> None:
    path = hs_file(2022)
    from_path = read_hs_csv(path)
    assert read_hs_csv(str(path)) == from_path
    assert read_hs_csv(path.read_bytes()) == from_path


def test_editions_differ_where_hs_2022_changed(hs2017: Nomenclature, hs2022: Nomenclature) -> None:
    """HS 2022 created heading 8549 (electrical and electronic waste)."""
    assert "8549" in hs2022 and "8549" not in hs2017
    hs2022.check("8549.11")
    with pytest.raises(InvalidCodeError) as info:
        hs2017.check("854911")
    assert "not in HS 2017" in info.value.message


def test_descriptions_are_read(hs2022: Nomenclature) -> None:
    entry = hs2022.describe("8471.30")
    assert entry == hs2022.entries["847130"]
    assert entry.description.startswith("Automatic data processing machines; portable")
    assert entry.section == "XVI" and entry.parent == "8471" and entry.level == 6
    assert hs2022.describe("0101").description == "Horses, asses, mules and hinnies; live"


# --- Nomenclature.check -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("01", "01"),
        ("0101", "0101"),
        ("010121", "010121"),
        ("8471.30", "847130"),
        ("8471 30", "847130"),
        ("97", "97"),
        ("84713000", "84713000"),
        ("8471.30.00.10", "8471300010"),
    ],
)
def test_check_valid_codes(hs2022: Nomenclature, code: str, expected: str) -> None:
    assert hs2022.check(code) == expected


def all_codes(edition: int, level: int | None = None) -> list[str]:
    path = HS_DATA / f"harmonized-system-{edition}.csv"
    if not path.is_file():
        return ["01"]  # the test using it is skipped by its fixture
    return sorted(e.code for e in read_hs_csv(path) if level is None or e.level == level)


HS2022_CODES = all_codes(2022)
HS2022_SUBHEADINGS = all_codes(2022, 6)


@given(code=st.sampled_from(HS2022_CODES))
@settings(suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture])
def test_every_code_of_the_edition_checks(hs2022: Nomenclature, code: str) -> None:
    assert hs2022.check(code) == code
    dotted = code[:4] + "." + code[4:] if len(code) == 6 else code
    assert hs2022.check(dotted) == code


def test_every_code_of_the_edition_checks_exhaustively(hs2022: Nomenclature) -> None:
    for code in hs2022.entries:
        assert hs2022.check(code) == code


@given(sub=st.sampled_from(HS2022_SUBHEADINGS), ext=st.sampled_from([2, 4]), data=st.data())
@settings(suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture])
def test_national_extensions_of_existing_subheadings_are_accepted(
    hs2022: Nomenclature, sub: str, ext: int, data: st.DataObject
) -> None:
    code = sub + data.draw(st.text(alphabet="0123456789", min_size=ext, max_size=ext))
    assert hs2022.check(code) == code
    assert hs2022.describe(code) == hs2022.entries[sub]


@given(
    code=st.sampled_from(HS_CHAPTERS).flatmap(
        lambda ch: st.text(alphabet="0123456789", min_size=4, max_size=8).map(lambda t: ch + t)
    )
)
@settings(suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture])
def test_check_accepts_exactly_codes_whose_six_digit_stem_exists(hs2022: Nomenclature, code: str) -> None:
    assume(len(code) in (6, 8, 10))
    if code[:6] in hs2022:
        assert hs2022.check(code) == code
    else:
        with pytest.raises(InvalidCodeError) as info:
            hs2022.check(code)
        assert f"{code[:6]} is not in HS 2022" in info.value.message
        assert info.value.field == "hs_code"


def test_unknown_subheading_is_rejected_with_a_hint(hs2022: Nomenclature) -> None:
    assert "010111" not in hs2022  # a HS 2007 code, split in 2012
    with pytest.raises(InvalidCodeError) as info:
        hs2022.check("0101.11", field="goods[0].hs_code")
    message = info.value.message
    assert "'0101.11'" in message and "010111 is not in HS 2022" in message
    assert "under 0101 the valid codes include 010121, 010129, 010130, 010190" in message
    assert info.value.field == "goods[0].hs_code"


def test_unknown_national_code_names_the_missing_subheading(hs2022: Nomenclature) -> None:
    with pytest.raises(InvalidCodeError) as info:
        hs2022.check("0101110000")
    assert "010111 is not in HS 2022" in info.value.message
    assert "under 0101" in info.value.message


def test_unknown_heading_is_rejected_with_a_hint(hs2022: Nomenclature) -> None:
    assert "0107" not in hs2022
    with pytest.raises(InvalidCodeError) as info:
        hs2022.check("0107")
    assert "0107 is not in HS 2022" in info.value.message
    assert "under 01 the valid codes include 0101, 0102" in info.value.message


@given(heading=st.sampled_from(sorted({c[:4] for c in HS2022_SUBHEADINGS})), tail=st.integers(0, 99))
@settings(suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture])
def test_hints_list_only_real_subheadings_of_the_heading(hs2022: Nomenclature, heading: str, tail: int) -> None:
    code = f"{heading}{tail:02d}"
    assume(code not in hs2022)
    with pytest.raises(InvalidCodeError) as info:
        hs2022.check(code)
    message = info.value.message
    assert f"under {heading} the valid codes include " in message
    listed = message.split("include ", 1)[1].split(", ")
    assert 1 <= len(listed) <= 5
    assert all(c in hs2022 and c.startswith(heading) and len(c) == 6 for c in listed)


@pytest.mark.parametrize("code", ["77", "7701", "770100", "98", "00", "8471.3", "84713", "84x130", "", "HS847130"])
def test_check_rejects_bad_format_before_lookup(hs2022: Nomenclature, code: str) -> None:
    with pytest.raises(InvalidCodeError):
        hs2022.check(code)


def test_chapter_77_is_rejected(hs2022: Nomenclature) -> None:
    with pytest.raises(InvalidCodeError) as info:
        hs2022.check("7701")
    assert "chapter 77" in info.value.message and "reserved" in info.value.message


@given(text=st.text(max_size=14))
@settings(suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture])
def test_check_is_total(hs2022: Nomenclature, text: str) -> None:
    try:
        value = hs2022.check(text)
    except InvalidCodeError:
        return
    assert value[:6] in hs2022


# --- describe and lineage -----------------------------------------------------------------------------------


def test_lineage_of_a_subheading(hs2022: Nomenclature) -> None:
    chain = hs2022.lineage("8471.30")
    assert [e.code for e in chain] == ["84", "8471", "847130"]
    assert [e.level for e in chain] == [2, 4, 6]
    assert chain[0].description.startswith("Machinery and mechanical appliances")
    assert chain[1].description.startswith("Automatic data processing machines and units thereof")


def test_lineage_of_heading_chapter_and_national_code(hs2022: Nomenclature) -> None:
    assert [e.code for e in hs2022.lineage("0101")] == ["01", "0101"]
    assert [e.code for e in hs2022.lineage("01")] == ["01"]
    assert [e.code for e in hs2022.lineage("8471300010")] == ["84", "8471", "847130"]


@given(code=st.sampled_from(HS2022_SUBHEADINGS))
@settings(suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture])
def test_lineage_is_chapter_heading_subheading(hs2022: Nomenclature, code: str) -> None:
    chain = hs2022.lineage(code)
    assert [e.code for e in chain] == [code[:2], code[:4], code]
    assert all(e.section == chain[0].section for e in chain)


def test_lineage_and_describe_reject_unknown_codes(hs2022: Nomenclature) -> None:
    for fn in (hs2022.lineage, hs2022.describe):
        with pytest.raises(InvalidCodeError) as info:
            fn("010111")
        assert "is not in HS 2022" in info.value.message


@contextlib.contextmanager
def time_limit(seconds: int):
    """Fail instead of hanging (where SIGALRM exists)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_lineage_stops_on_a_parent_loop() -> None:
    """A malformed file whose parent column loops must not make lineage() spin forever."""
    nom = Nomenclature(
        "broken",
        [
            HSEntry("01", "chapter", "010121", 2, "I"),  # loops back to its own subheading
            HSEntry("0101", "heading", "0101", 4, "I"),  # its own parent
            HSEntry("010121", "subheading", "0101", 6, "I"),
            HSEntry("0102", "heading", "010121", 4, "I"),  # a longer code as parent
        ],
    )
    with time_limit(5):
        assert [e.code for e in nom.lineage("010121")] == ["0101", "010121"]
        assert [e.code for e in nom.lineage("0102")] == ["0102"]
        assert [e.code for e in nom.lineage("01")] == ["01"]


def test_children(mini: Nomenclature) -> None:
    assert [e.code for e in mini.children("0101")] == ["010121", "010130"]
    assert [e.code for e in mini.children("01")] == ["0101", "0102"]
    assert list(mini.children("0102")) == []


def test_contains_and_len(mini: Nomenclature) -> None:
    assert len(mini) == 8
    assert "847130" in mini and "99" not in mini and "TOTAL" not in mini
    assert mini.counts() == {2: 2, 4: 3, 6: 3}


# --- read_hs_csv: good input --------------------------------------------------------------------------------


def test_read_small_file(mini: Nomenclature) -> None:
    assert mini.entries["01"] == HSEntry("01", "Animals; live", None, 2, "I")
    assert mini.entries["0101"] == HSEntry("0101", "Horses, asses, mules and hinnies; live", "01", 4, "I")


def test_byte_order_mark_is_accepted() -> None:
    assert read_hs_csv(b"\xef\xbb\xbf" + MINI) == read_hs_csv(MINI)


def test_columns_may_come_in_any_order_and_extra_columns_are_ignored() -> None:
    data = b"level,parent,hscode,section,description,note\n2,TOTAL,01,I,Animals; live,x\n4,01,0101,I,Horses,\n"
    assert read_hs_csv(data) == [
        HSEntry("01", "Animals; live", None, 2, "I"),
        HSEntry("0101", "Horses", "01", 4, "I"),
    ]


def test_crlf_line_endings_and_blank_lines_are_accepted() -> None:
    data = MINI.replace(b"\n", b"\r\n").replace(b"\r\nI,0102", b"\r\n\r\n,,,,\r\nI,0102")
    assert read_hs_csv(data) == read_hs_csv(MINI)


def test_file_path_is_read(tmp_path: Path) -> None:
    path = tmp_path / "hs.csv"
    path.write_bytes(MINI)
    assert read_hs_csv(path) == read_hs_csv(str(path)) == read_hs_csv(MINI)


# Descriptions as in the real files: any text, with commas, quotes and line breaks, but no surrounding space.
descriptions = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)


@st.composite
def hs_entry_lists(draw: st.DrawFn) -> list[HSEntry]:
    entries: list[HSEntry] = []
    for chapter in draw(st.lists(st.sampled_from(HS_CHAPTERS), min_size=1, max_size=3, unique=True)):
        section = draw(st.sampled_from(["I", "XVI", "XXI"]))
        entries.append(HSEntry(chapter, draw(descriptions), None, 2, section))
        for h in draw(st.lists(st.integers(1, 99), max_size=3, unique=True)):
            heading = f"{chapter}{h:02d}"
            entries.append(HSEntry(heading, draw(descriptions), chapter, 4, section))
            for s in draw(st.lists(st.integers(0, 99), max_size=3, unique=True)):
                entries.append(HSEntry(f"{heading}{s:02d}", draw(descriptions), heading, 6, section))
    return entries


def write_csv(entries: list[HSEntry], with_aggregates: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REQUIRED_COLUMNS)
    for e in entries:
        writer.writerow([e.section, e.code, e.description, e.parent or "TOTAL", e.level])
    if with_aggregates:
        writer.writerow(["TOTAL", "99", "Commodities not specified according to kind", "TOTAL", 2])
        writer.writerow(["TOTAL", "9999", "Commodities not specified according to kind", "99", 4])
        writer.writerow(["TOTAL", "TOTAL", "All Commodities", "TOTAL", 5])
    return out.getvalue().encode()


@given(entries=hs_entry_lists(), with_aggregates=st.booleans())
def test_written_files_read_back_unchanged(entries: list[HSEntry], with_aggregates: bool) -> None:
    assert read_hs_csv(write_csv(entries, with_aggregates)) == entries


# --- read_hs_csv: bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("column", REQUIRED_COLUMNS)
def test_missing_column_is_named(column: str) -> None:
    header = ",".join(c for c in REQUIRED_COLUMNS if c != column) + "\n"
    error = file_error(
        MINI.replace(HEADER.encode(), header.encode()),
        f"lacks the column(s) {column};",
        "section,hscode,description,parent,level",
        "github.com/datasets/harmonized-system",
    )
    assert error.field == column


def test_several_missing_columns_are_all_named() -> None:
    error = file_error(b"code,description\n01,Animals\n", "lacks the column(s) section, hscode, parent, level")
    assert error.field == "section"


def test_misspelt_header_is_a_missing_column() -> None:
    file_error(MINI.replace(b"hscode", b"hs_code"), "hscode")


def test_non_utf8_bytes_are_reported_with_their_offset() -> None:
    data = MINI.replace(b"Asses", "\u00c2nes".encode("latin-1"))
    offset = data.index(b"\xc2")
    file_error(data, "not UTF-8", f"byte {offset}", "re-save it as UTF-8")


def test_utf16_file_is_not_utf8() -> None:
    file_error(MINI.decode().encode("utf-16"), "not UTF-8")


@pytest.mark.parametrize(
    ("row", "fragments"),
    [
        ("I,0101,Horses,01,2", ("line 2", "level 2 does not match code '0101'")),
        ("I,01,Animals,TOTAL,6", ("line 2", "level 6 does not match code '01'")),
        ("I,010121,Horses,0101,4", ("line 2", "level 4 does not match code '010121'")),
    ],
)
def test_level_that_does_not_match_the_code(row: str, fragments: tuple[str, ...]) -> None:
    error = file_error(csv_bytes(row), *fragments)
    assert error.field == "level"


@pytest.mark.parametrize("level", ["", "four", "4.0", "IV"])
def test_level_that_is_not_a_number(level: str) -> None:
    error = file_error(csv_bytes(f"I,0101,Horses,01,{level}"), "line 2", f"level {level!r} is not a number")
    assert error.field == "level"


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("7701", "chapter 77"),
        ("0A01", "is not an HS code"),
        ("101", "is not an HS code"),
        ("", "is not an HS code"),
        ("98", "chapter 98"),
    ],
)
def test_bad_codes_are_reported_with_their_line(code: str, fragment: str) -> None:
    error = file_error(
        csv_bytes("I,01,Animals,TOTAL,2", f"I,{code},Something,01,{len(code) or 2}"), "line 3:", fragment
    )
    assert error.field == "hscode"


def test_line_numbers_count_physical_lines() -> None:
    """Blank lines and descriptions spanning lines must not shift the line number in the message."""
    data = csv_bytes("I,01,Animals,TOTAL,2", "", 'I,0101,"Horses,\nasses",01,4', "", "I,0102,Bovine,01,2")
    file_error(data, "line 7:", "level 2 does not match code '0102'")


def test_short_row_is_a_file_error_not_a_crash() -> None:
    file_error(csv_bytes("I,01,Animals,TOTAL,2", "I,0101"), "line 3", "level")
    file_error(csv_bytes("I"), "line 2", "is not an HS code")


@pytest.mark.parametrize("data", [b"", b"\n", b"  \r\n\n", b"\xef\xbb\xbf"])
def test_empty_file(data: bytes) -> None:
    file_error(data, "empty", "section,hscode,description,parent,level")


def test_empty_file_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.touch()
    file_error(path, "empty")


@pytest.mark.parametrize(
    "data",
    [
        HEADER.encode(),
        csv_bytes("TOTAL,99,Not specified,TOTAL,2", "TOTAL,TOTAL,All,TOTAL,5"),
        csv_bytes(",,,,"),
    ],
)
def test_file_without_hs_codes(data: bytes) -> None:
    file_error(data, "holds no HS codes")


def test_nonexistent_path(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "harmonized-system.csv"
    error = file_error(path, "cannot read", str(path), "No such file or directory", "check the path")
    assert isinstance(error.__cause__, FileNotFoundError)
    file_error(str(path), "No such file or directory")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    file_error(tmp_path, "cannot read", str(tmp_path))


def test_path_with_nul_character() -> None:
    file_error("hs\x00.csv", "cannot read")


def test_oversized_field_is_a_file_error() -> None:
    file_error(csv_bytes("I,01," + "x" * 200_000 + ",TOTAL,2"), "not valid CSV")


def test_nomenclature_file_error_is_an_opencustoms_error() -> None:
    from opencustoms.errors import OpenCustomsError

    assert issubclass(NomenclatureFileError, OpenCustomsError)
    assert NomenclatureFileError.status == 422


@given(data=st.binary(max_size=300))
def test_any_bytes_give_entries_or_a_file_error(data: bytes) -> None:
    try:
        entries = read_hs_csv(data)
    except NomenclatureFileError as exc:
        assert exc.message
        return
    assert entries and all(e.level == len(e.code) for e in entries)


cells = st.text(alphabet=st.sampled_from(list('0123456789,"\n TOTAL9Ix.\x00\u00e9')), max_size=8)


@given(rows=st.lists(st.lists(cells, max_size=7), max_size=6))
def test_any_csv_body_gives_entries_or_a_file_error(rows: list[list[str]]) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    try:
        entries = read_hs_csv((HEADER + out.getvalue()).encode())
    except NomenclatureFileError as exc:
        assert exc.message
        return
    assert entries
    for e in entries:
        assert e.level == len(e.code) and e.code not in AGGREGATE_CODES and e.code[:2] in HS_CHAPTERS
