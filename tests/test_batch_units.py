"""The pieces of ``medins batch``: header aliases, value normalising, error columns, CSV records, dates."""

from __future__ import annotations

import csv
import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from medins.batch import BILL_COLUMNS, ITEM_COLUMNS
from medins.batch.check import _scan_bills
from medins.batch.clearing import clearing_dates
from medins.batch.schema import header_key, map_columns
from medins.batch.values import date_problem, error_column, id_problem, norm_bool, norm_choice, norm_date, norm_level
from medins.cli import EXIT_REJECTS, cli
from medins.tabular import (
    FORMULA_NO_VALUE,
    RangeReader,
    TableError,
    _utf8_by_polars,
    cell_problem,
    neutralise,
    open_csv,
    utf8_kind,
    xlsx_cell_text,
)

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-10", "2025-03-10"),
        ("2025/3/1", "2025-03-01"),
        ("2025年3月1日", "2025-03-01"),
        ("20250301", "2025-03-01"),
        ("2025-03-01 08:30:00", "2025-03-01"),
        ("2025.03.01", "2025-03-01"),
        ("01/03/2025", "01/03/2025"),  # ambiguous: left for the case model to refuse
        ("2025-02-30", "2025-02-30"),
    ],
)
def test_dates(text: str, expected: str) -> None:
    assert norm_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3", "3"), ("3.0", "3"), ("三级", "3"), ("三级甲等", "3"), ("二甲", "2"), ("1级", "1"), ("30", "30"), ("A", "A")],
)
def test_hospital_levels(text: str, expected: str) -> None:
    assert norm_level(text) == expected


def test_values_by_chinese_label() -> None:
    assert [norm_choice("scheme", v) for v in ("职工", "职工医保", "居民", "城乡居民", "Employee")] == [
        "employee",
        "employee",
        "resident",
        "resident",
        "employee",
    ]
    assert norm_choice("visit_type", "住院") == "inpatient"
    assert norm_choice("filing_category", "异地转诊人员") == "referral"
    assert norm_choice("assistance", "低保") == "subsistence"
    assert norm_choice("disease", "糖尿病") == "diabetes"
    assert norm_choice("scheme", "商业保险") == "商业保险"  # unknown values reach the case model as given
    assert [norm_bool(v) for v in ("是", "否", "TRUE", "0", "maybe")] == [True, False, True, False, "maybe"]


def test_headers_match_aliases_case_and_units() -> None:
    assert header_key(" Bill ID ") == "bill_id"
    assert header_key("医疗费总额（元）") == "医疗费总额"
    assert header_key("\ufeffMEDFEE_SUMAMT") == "medfee_sumamt"
    cols = map_columns(["单据号", "psn_no", "Visit Region", "extra"], BILL_COLUMNS, "BILLS", [("bill_id",)], "f.csv")
    assert cols.index == {"bill_id": 0, "person_id": 1, "visit_region": 2}
    assert cols.ignored == ("extra",)


def test_two_headers_for_one_column_stop_the_run() -> None:
    with pytest.raises(TableError) as exc:
        map_columns(["setl_id", "mdtrt_id"], BILL_COLUMNS, "BILLS", [("bill_id",)], "f.csv")
    assert exc.value.render("en") == (
        "f.csv: columns 'setl_id' and 'mdtrt_id' both mean bill_id; remove or rename one of them"
    )


def test_readme_documents_every_alias() -> None:
    section = README.split("## Batch", 1)[1].split("\n## ", 1)[0]
    for table in (BILL_COLUMNS, ITEM_COLUMNS):
        for name, aliases in table.items():
            assert f"`{name}`" in section, name
            for alias in aliases:
                assert alias in section, alias


@pytest.mark.parametrize(
    ("path", "message", "expected"),
    [
        ("visit.admitted", "should be a date", ("admitted", None, True)),
        ("person.insured_region", "", ("insured_region", None, True)),
        ("filing.materials", "", ("filing_materials", None, True)),
        ("person.chronic_diseases[1]", "", ("chronic_diseases", None, True)),
        ("items[2].amount", "", ("amount", 2, True)),
        ("items[0]", "give code or name; a bill line names no item", ("code", 0, True)),
        ("visit", "give admitted (inpatient) or date; no service date", ("admitted", None, True)),
        ("summary", "check total, fully_self_paid", ("total", None, True)),
        ("130100 standards.toml: resident.inpatient", "no rules", (None, None, False)),
    ],
)
def test_error_paths_map_to_columns(path: str, message: str, expected: tuple) -> None:
    assert error_column(path, message) == expected


def test_neutralise_only_formula_starts() -> None:
    assert [neutralise(v) for v in ("=1+1", "+86", "-5", "@x", "\tx", "\rx", "a=b", "")] == [
        "'=1+1",
        "'+86",
        "'-5",
        "'@x",
        "'\tx",
        "'\rx",
        "a=b",
        "",
    ]


def test_xlsx_cells_as_text() -> None:
    assert xlsx_cell_text(130102198001011234.0, "id").endswith("digits:130102198001011000")
    assert xlsx_cell_text(12345.0, "id") == "12345"
    assert xlsx_cell_text(0.1 + 0.2, "text") == "0.3"
    assert xlsx_cell_text(date(2025, 3, 1), "date") == "2025-03-01"
    assert xlsx_cell_text(True, "text") == "true"
    assert cell_problem(FORMULA_NO_VALUE) is not None and cell_problem("=A1") is None


def test_clearing_dates() -> None:
    assert clearing_dates("2025-03") == (date(2025, 4, 20), date(2025, 6, 20))
    assert clearing_dates("2025-12") == (date(2026, 1, 20), date(2026, 3, 20))
    assert clearing_dates("2025-11") == (date(2025, 12, 20), date(2026, 2, 20))


def test_records_keep_spreadsheet_row_numbers_across_multiline_cells(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(b'bill_id,name,amount\r\nB1,"two\r\nlines",1.00\r\n\r\nB2,x,2.00\r\n"B3","a ""quoted"", name",3')
    table, _ = open_csv(path, "auto", lambda header: len(header))
    records = list(table.records())
    assert all(problem is None for *_, problem in records)
    assert [(row, values) for row, _, _, values, _ in records] == [
        (2, ["B1", "two\r\nlines", "1.00"]),
        (4, ["B2", "x", "2.00"]),
        (5, ["B3", 'a "quoted", name', "3"]),
    ]
    data = path.read_bytes()
    assert [data[start:end] for _, start, end, _, _ in records] == [
        b'B1,"two\r\nlines",1.00\r\n',
        b"B2,x,2.00\r\n",
        b'"B3","a ""quoted"", name",3',
    ]


def test_item_rows_after_a_multiline_name_are_numbered_right(tmp_path: Path) -> None:
    bills = tmp_path / "bills.csv"
    bills.write_text(
        "bill_id,person_id,insured_region,scheme,visit_region,hospital_level,visit_type,date\n"
        "B1,P1,130100,resident,110000,3,outpatient,2025-03-01\n",
        encoding="utf-8",
    )
    items = tmp_path / "items.csv"
    items.write_text(
        'bill_id,name,quantity,unit_price\nB1,"自配\n药品",1,10\nB1,普通病房床位费,1,50\nB2,x,1,1\n', encoding="utf-8"
    )
    result = CliRunner().invoke(
        cli, ["batch", str(bills), "--items", str(items), "-o", str(tmp_path / "o.csv"), "--lang", "en", "--quiet"]
    )
    assert result.exit_code == EXIT_REJECTS
    rejects = (tmp_path / "o.rejects.csv").read_text("utf-8-sig").splitlines()
    assert rejects[1:] == ["4,items,B2,bill_id,no bill with bill_id B2 in BILLS"]
    settled = (tmp_path / "o.csv").read_text("utf-8-sig").splitlines()[1]
    assert re.search(r",60\.00,", settled) and "ITEM_NOT_IN_CATALOGUE" in settled


# ----------------------------------------------------------------------------- the shape of a record


def _records(tmp_path: Path, data: bytes, encoding: str = "auto") -> list[tuple[int, list[str], str | None]]:
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    table, _ = open_csv(path, encoding, lambda header: len(header))
    return [(row, values, p.reason.en if p else None) for row, _, _, values, p in table.records()]


def test_a_row_wider_than_the_header_names_the_split_number(tmp_path: Path) -> None:
    got = _records(tmp_path, b"bill_id,fully_self_paid,class_b\nB1,1,000.50,2\nB2,3,4\n")
    assert got[0] == (
        2,
        ["B1", "1", "000.50", "2"],
        "row 2 has 4 cells, the header 3: an unquoted comma? '1' in column fully_self_paid and '000.50' after it "
        "look like one number '1,000.50' split in two; put the cell in quotes (\"1,000.50\") or write it without "
        "the separator",
    )
    assert got[1] == (3, ["B2", "3", "4"], None)


def test_a_row_wider_or_shorter_is_a_problem_and_the_reader_goes_on(tmp_path: Path) -> None:
    got = _records(tmp_path, b"a,b,c\n1,2,3,note\n1,2\n1,2,3\n")
    assert (
        got[0][2] == "row 2 has 4 cells, the header 3: an unquoted ',' inside a cell? the cells beyond the header: "
        "'note'; put cells that contain ',' in quotes"
    )
    assert (
        got[1][2] == "row 3 has 2 cells, the header 3: the last cell is '2'; the cells from c on are missing "
        "(a lost ',', or a cut row?)"
    )
    assert got[2] == (4, ["1", "2", "3"], None)


def test_unnamed_trailing_header_cells_may_be_left_out(tmp_path: Path) -> None:
    got = _records(tmp_path, b"a,b,,\n1,2\n1,2,,\n1,2,,x\n1,2,x\n1,2,,,\n")
    assert [p for *_, p in got[:3]] == [None, None, None]  # x lies under no header, as any unknown column
    assert got[3][2] == (
        "row 5 has 3 cells, the header 4: the last cell is 'x'; the cells from #4 on are missing (a lost ',', "
        "or a cut row?)"
    )
    assert got[4][2] is not None and got[4][2].startswith("row 6 has 5 cells, the header 4")


def test_cr_only_and_semicolon_files_are_read(tmp_path: Path) -> None:
    assert _records(tmp_path, b'a;b;c\r1;"2;x";3\r4;5;6\r') == [
        (2, ["1", "2;x", "3"], None),
        (3, ["4", "5", "6"], None),
    ]


def test_an_unbalanced_quote_rejects_its_row_and_the_rows_after_it_are_read(tmp_path: Path) -> None:
    data = b'id,name,region,total\n1,"Zhang,130100,5\n2,Li,130100,6\n3,"Wang",130100,7\n'
    got = _records(tmp_path, data)
    assert got[0][0] == 2 and got[0][2] is not None
    assert got[0][2].startswith("an unbalanced quote in row 2, column name: the cell 'Zhang,130100,5⏎2,Li,130100,6⏎")
    assert [(row, values, p) for row, values, p in got[1:]] == [
        (3, ["2", "Li", "130100", "6"], None),
        (4, ["3", "Wang", "130100", "7"], None),
    ]


def test_a_quote_closed_by_the_next_quoted_cell_is_found_too(tmp_path: Path) -> None:
    # the open quote of row 2 closes at row 3's quoted name: row 2 would take row 3's cells
    data = b'id,name,region,total\n1,"Zhang,130100,5\n2,"Li",130100,6\n'
    got = _records(tmp_path, data)
    assert got[0][2] is not None and got[0][2].startswith("an unbalanced quote in row 2, column name")
    assert got[1] == (3, ["2", "Li", "130100", "6"], None)


def test_a_huge_cell_rejects_only_its_row(tmp_path: Path) -> None:
    got = _records(tmp_path, b"a,b\n1," + b"x" * 131_073 + b"\n2,y\n")
    assert got[0][2] == (
        "the cell is 131,073 characters long ('xxxxxxxxxxxxxxxxxxxx…'); a cell holds at most 10,000: "
        "an unbalanced quote?"
    )
    assert got[1] == (3, ["2", "y"], None)


def test_byte_ranges_reread_the_same_record_after_a_rejected_quote(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b'id,name,region,total\r1,"Zhang,130100,5\r2,Li,130100,6\r')
    table, _ = open_csv(path, "auto", lambda header: len(header))
    records = list(table.records())
    reader = RangeReader(path, table.encoding, table.delimiter)
    try:
        assert [reader.read(start, end) for _, start, end, _, p in records if p is None] == [
            [["2", "Li", "130100", "6"]]
        ]
    finally:
        reader.close()


# ----------------------------------------------------------------------------- encodings


def test_utf8_file_with_a_gbk_line_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes("bill_id,name\nB1,注射用艾普拉唑钠\n".encode() + "B1,布洛芬\n".encode("gbk"))
    with pytest.raises(TableError) as exc:
        open_csv(path, "auto", lambda header: len(header))
    assert exc.value.render("en") == (
        f"{path}: the file mixes encodings: line 3 is not UTF-8 (read as GBK: 'B1,布洛芬'), while line 2 is "
        "UTF-8 text; save the whole file as UTF-8 (convert or re-type those lines), then run again"
    )


def test_a_wholly_gbk_file_reads_as_gb18030_even_with_lines_valid_as_utf8(tmp_path: Path) -> None:
    # 一专业 in GBK (d2bb d7a8 d2b5) happens to be valid UTF-8 (Cyrillic and Hebrew letters)
    assert "一专业".encode("gbk").decode("utf-8")
    assert utf8_kind("一专业".encode("gbk")) == 0 and utf8_kind("一专业".encode()) == 2
    path = tmp_path / "gbk.csv"
    path.write_bytes("id,name\n1,一专业\n2,张三\n".encode("gbk"))
    table, _ = open_csv(path, "auto", lambda header: len(header))
    assert table.encoding == "gb18030"
    assert [values for _, _, _, values, _ in table.records()] == [["1", "一专业"], ["2", "张三"]]


def test_a_utf8_mark_before_gbk_text_is_refused_or_read_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "id,name\n1,张三\n".encode("gbk"))
    with pytest.raises(TableError) as exc:
        open_csv(path, "auto", lambda header: len(header))
    assert "starts with a UTF-8 byte-order mark, but line 2 is not UTF-8 (read as GBK: '1,张三')" in str(
        exc.value.render("en")
    )
    table, _ = open_csv(path, "gb18030", lambda header: len(header))
    assert table.header == ["id", "name"] and [v for *_, v, _ in table.records()] == [["1", "张三"]]


# ----------------------------------------------------------------------------- identifiers and the year-to-date key


def test_ids_in_scientific_notation() -> None:
    assert id_problem("1.30102E+17") is not None and id_problem("1E+05") is not None
    assert id_problem("20250310E01") is None and id_problem("130102198001011234") is None
    assert id_problem("2.02503e-11") is not None


def test_date_cells_are_quoted_when_refused() -> None:
    assert date_problem("2025/3/10") is None and date_problem("20250310") is None
    assert date_problem("2025/13/01").en == "'2025/13/01' is not a valid date (write YYYY-MM-DD)"  # type: ignore[union-attr]
    assert "date serial" in date_problem("45726").en  # type: ignore[union-attr]


def _bill(**cells: str) -> dict[str, str]:
    base = {
        "bill_id": "B1",
        "person_id": "P1",
        "insured_region": "130100",
        "scheme": "resident",
        "visit_region": "110000",
        "hospital_level": "3",
        "visit_type": "inpatient",
        "admitted": "2025-03-01",
        "discharged": "2025-03-05",
        "total": "900000.00",
    }
    return {**base, **cells}


def _write_bills(path: Path, bills: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(bills[0]))
        w.writeheader()
        w.writerows(bills)


def test_year_to_date_key_is_person_region_scheme_and_year(tmp_path: Path) -> None:
    bills = [
        _bill(),
        _bill(bill_id="B2", scheme="居民", admitted="2025-06-01", discharged="2025-06-05"),  # same key
        _bill(bill_id="B3", insured_region="330400", admitted="2025-04-01", discharged="2025-04-05"),
        _bill(bill_id="B4", scheme="employee", admitted="2025-05-01", discharged="2025-05-05"),
        _bill(bill_id="B5", admitted="2024-12-01", discharged="2024-12-05"),
    ]
    table_path = tmp_path / "bills.csv"
    _write_bills(table_path, bills)
    table, _ = open_csv(table_path, "auto", lambda header: len(header))
    cols = map_columns(table.header, BILL_COLUMNS, "BILLS", [("bill_id",)], "bills.csv")
    scan = _scan_bills(table, cols, {}, [], "en")
    assert [scan.keys[c] for c in scan.chain] == [
        ("P1", "130100", "resident", 2025),
        ("P1", "130100", "resident", 2025),
        ("P1", "330400", "resident", 2025),
        ("P1", "130100", "employee", 2025),
        ("P1", "130100", "resident", 2024),
    ]
    assert scan.persons == ["P1"]


def test_a_person_insured_in_two_places_starts_fresh_in_the_second(tmp_path: Path) -> None:
    """The issue's case: insured in 330400, then in 130100; the second bill's fund is not 0.00."""
    moved = [
        _bill(insured_region="330400"),
        _bill(bill_id="B2", admitted="2025-06-01", discharged="2025-06-05"),
    ]
    _write_bills(tmp_path / "moved.csv", moved)
    _write_bills(tmp_path / "alone.csv", moved[1:])
    runner = CliRunner()
    for name in ("moved", "alone"):
        args = ["batch", str(tmp_path / f"{name}.csv"), "-o", str(tmp_path / f"{name}.out.csv")]
        result = runner.invoke(cli, [*args, "--ytd-out", str(tmp_path / f"{name}.ytd.json"), "--quiet"])
        assert result.exit_code == 0, result.output
    with (tmp_path / "moved.out.csv").open(encoding="utf-8-sig") as f:
        settled = {r["bill_id"]: r for r in csv.DictReader(f)}
    with (tmp_path / "alone.out.csv").open(encoding="utf-8-sig") as f:
        (alone,) = list(csv.DictReader(f))
    assert settled["B2"]["basic_fund"] == alone["basic_fund"] == "200000.00"  # 130100's cap, not 0.00
    assert settled["B1"]["basic_fund"] == "250000.00"  # 330400's cap
    entries = json.loads((tmp_path / "moved.ytd.json").read_text("utf-8"))["entries"]
    assert [(e["person_id"], e["insured_region"], e["scheme"], e["year"]) for e in entries] == [
        ("P1", "130100", "resident", 2025),
        ("P1", "330400", "resident", 2025),
    ]


def test_ytd_in_of_version_1_is_refused_with_how_to_proceed(tmp_path: Path) -> None:
    _write_bills(tmp_path / "b.csv", [_bill()])
    old = tmp_path / "ytd.json"
    old.write_text('{"format": "medins-ytd", "version": 1, "persons": {}}', encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["batch", str(tmp_path / "b.csv"), "-o", str(tmp_path / "o.csv"), "--ytd-in", str(old), "--lang", "en"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"medins: error: {old}: this is a version-1 year-to-date file, keyed by person")
    assert "run this year's batches again in order from the first, with --ytd-out" in result.stderr
    assert "Traceback" not in result.output


# pieces of UTF-8 and the bytes that break it: a lone continuation byte, a cut-off character, a
# surrogate, an overlong form, a code point past U+10FFFF, an invalid lead byte
_UTF8_BITS = st.lists(
    st.sampled_from(
        [
            b"a",
            b",",
            b"\n",
            "中".encode(),
            "é".encode(),
            "😀".encode(),
            b"\x80",
            b"\xe4\xb8",
            b"\xed\xa0\x80",
            b"\xc0\xaf",
            b"\xf4\x90\x80\x80",
            b"\xff",
        ]
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(bits=_UTF8_BITS, size=st.integers(1, 9), skip=st.integers(0, 2))
def test_utf8_check_by_polars_agrees_with_python(tmp_path_factory, bits: list[bytes], size: int, skip: int) -> None:
    """The check a large file gets (polars, by pieces ending on an ASCII byte) says what Python's
    strict decoder says of the whole file, wherever the pieces are cut; it fails if a piece is cut
    inside a character (a valid file would then be refused)."""
    path = tmp_path_factory.mktemp("u") / "f.csv"
    data = b"".join(bits)
    path.write_bytes(b"\xef\xbb\xbf"[:skip] + data)  # bytes before ``start`` are not looked at
    start = skip
    try:
        data.decode("utf-8")
        expected = True
    except UnicodeDecodeError:
        expected = False
    assert _utf8_by_polars(path, start, size) is expected


# year-to-date records as --ytd-in reads them (json.loads with parse_float=Decimal): mostly as
# --ytd-out writes them, with every kind of departure the case model has a word for
_PLAIN = st.builds(
    lambda whole, cents, places: f"{whole}.{cents:02d}"[: len(str(whole)) + (0 if places == 0 else 1 + places)],
    st.one_of(st.integers(0, 999), st.integers(0, 9_999_999_999)),
    st.integers(0, 99),
    st.sampled_from([0, 1, 2]),
)
_ODD_AMOUNT = st.sampled_from(
    [
        "007",
        "1e2",
        "1.234",
        "-1",
        "1,000",
        " 1",
        "",
        "10000000000",
        "10000000000.00",
        "10000000000.01",
        "99999999999",
        "0.000",
        "¥5",
        "1_0",
    ]
) | st.sampled_from([0, 5, Decimal("1.5"), Decimal("1E+2"), None, True, 1.5])
_AMOUNT = st.integers(0, 29).flatmap(lambda n: _ODD_AMOUNT if n == 0 else _PLAIN)  # one in 30 odd


def _keyed(keys: tuple[str, ...], values: st.SearchStrategy) -> st.SearchStrategy:
    """A dict of ``keys`` in order, one time in ten one left out, one added or two swapped."""

    def shape(vals: list[Any], change: int, at: int) -> dict[str, Any]:
        pairs = list(zip(keys, vals, strict=True))
        at %= len(pairs)
        if change == 1:
            del pairs[at]
        elif change == 2:
            pairs.append(("extra", vals[at]))
        elif change == 3 and at + 1 < len(pairs):
            pairs[at], pairs[at + 1] = pairs[at + 1], pairs[at]
        return dict(pairs)

    return st.builds(
        shape,
        st.tuples(*[values for _ in keys]).map(list),
        st.integers(0, 29).map(lambda n: n if n <= 3 else 0),
        st.integers(0, 20),
    )


def _fund_within(accum: dict[str, Any], keep: bool) -> dict[str, Any]:
    """Mostly (``keep``) a fund no more than the in-scope amount, as a real record has."""
    fund, in_scope = accum.get("fund"), accum.get("in_scope")
    plain = _PLAIN_RE.fullmatch(str(fund)) and _PLAIN_RE.fullmatch(str(in_scope))
    if keep and plain and Decimal(fund) > Decimal(in_scope):
        accum["fund"], accum["in_scope"] = in_scope, fund
    return accum


_PLAIN_RE = re.compile(r"[0-9]+(\.[0-9]+)?")
_ACCUM = st.integers(0, 29).flatmap(
    lambda n: (
        st.sampled_from([None, {}, [], "0"])
        if n == 0
        else st.builds(_fund_within, _keyed(("in_scope", "deductible", "fund", "above_cap"), _AMOUNT), st.just(n != 1))
    )
)
_DISEASE = st.integers(0, 9).flatmap(
    lambda n: (
        st.sampled_from(['a"b', "a\\b", "tab\there", "line\nbreak"])
        if n == 0
        else st.sampled_from(["hypertension", "diabetes", "糖尿病", "", "é"])
    )
)


def _ytd_value(key: str) -> st.SearchStrategy:
    if key == "year":
        return st.sampled_from([2025] * 6 + [None, 2024, "2025", True, 2025.0])
    if key == "admissions":
        return st.integers(0, 19).flatmap(
            lambda n: st.sampled_from([367, -1, True, "3", 1.0]) if n == 0 else st.integers(0, 366)
        )
    if key in ("inpatient", "outpatient"):
        return _ACCUM
    if key == "chronic":
        return st.integers(0, 19).flatmap(
            lambda n: st.sampled_from([[], None]) if n == 0 else st.dictionaries(_DISEASE, _ACCUM, max_size=3)
        )
    return _AMOUNT


@st.composite
def _ytd_records(draw: st.DrawFn) -> dict[str, Any]:
    from medins.batch.ytd import _YTD_KEYS

    values = {k: draw(_ytd_value(k)) for k in _YTD_KEYS}
    record = draw(_keyed(_YTD_KEYS, st.just(None)))  # the shape: keys left out, added, swapped
    return {k: values.get(k, values["tier2_fund"]) for k in record}


@settings(max_examples=1500, deadline=None)
@given(record=_ytd_records())
def test_plain_ytd_reading_agrees_with_the_case_model(record: dict[str, Any]) -> None:
    """--ytd-in reads a record written as --ytd-out writes it without the case model
    (``plain_ytd_json``): whenever it does, the case model accepts the record, for the entry's year,
    and writes it as the same text. Records it does not take (None) are left to the case model, so
    their messages are the case model's; the test fails if the plain reading takes one the case
    model refuses (a fund above its in-scope amount, a third decimal, an extra key …) or writes one
    digit otherwise."""
    from medins.batch.ytd import plain_ytd_json
    from medins.case_model import YearToDate

    fast = plain_ytd_json(record, 2025)
    if fast is None:
        return
    model = YearToDate.model_validate(record)
    assert model.year in (None, 2025)
    assert model.model_dump_json() == fast


@settings(max_examples=300, deadline=None)
@given(
    amounts=st.lists(_PLAIN, min_size=11, max_size=11),
    diseases=st.lists(st.sampled_from(["hypertension", "diabetes", "糖尿病", "é"]), max_size=3, unique=True),
    admissions=st.integers(0, 366),
    year=st.sampled_from([2025, None]),
)
def test_what_ytd_out_writes_is_read_without_the_case_model(
    amounts: list[str], diseases: list[str], admissions: int, year: int | None
) -> None:
    """A record as --ytd-out writes it (the case model's own JSON) takes the plain reading: the quick
    way is the one files written by medins get, and it gives their text back unchanged."""
    from medins.batch.ytd import plain_ytd_json
    from medins.case_model import YearToDate

    def accum(k: int) -> dict[str, str]:
        in_scope, deductible, fund, above_cap = (Decimal(a) for a in amounts[k : k + 4])
        fund = min(fund, in_scope)
        return {
            "in_scope": str(in_scope),
            "deductible": str(deductible),
            "fund": str(fund),
            "above_cap": str(above_cap),
        }

    model = YearToDate(
        year=year,
        admissions=admissions,
        inpatient=accum(0),
        outpatient=accum(4),
        chronic={d: accum(i % 4) for i, d in enumerate(diseases)},
        tier2_base=amounts[8],
        tier2_fund=amounts[9],
        assistance_base=amounts[10],
    )
    written = model.model_dump_json()
    assert plain_ytd_json(json.loads(written, parse_float=Decimal), 2025) == written


def _mostly(valid: st.SearchStrategy, *odd: Any) -> st.SearchStrategy:
    """``valid`` nine times in ten, else one of ``odd``."""
    return st.integers(0, 9).flatmap(lambda n: st.sampled_from(odd) if n == 0 else valid)


@st.composite
def _plain_records(draw: st.DrawFn) -> dict[str, Any]:
    """A record as --ytd-out writes one with no chronic disease, now and then one value made odd."""

    def accum() -> dict[str, Any]:
        in_scope, deductible, fund, above_cap = (draw(_PLAIN) for _ in range(4))
        if Decimal(fund) > Decimal(in_scope):
            fund, in_scope = in_scope, fund
        return {
            "in_scope": in_scope,
            "deductible": draw(_mostly(st.just(deductible), "1.234", "007", 5)),
            "fund": draw(_mostly(st.just(fund), "99999999.99")),
            "above_cap": above_cap,
        }

    return {
        "year": draw(_mostly(st.sampled_from([2025, None]), 2024, "2025", 1899)),
        "admissions": draw(_mostly(st.integers(0, 366), 367, 999, -1)),
        "inpatient": accum(),
        "outpatient": accum(),
        "chronic": draw(
            _mostly(st.just({}), {"高血压": {"in_scope": "1", "deductible": "0", "fund": "0", "above_cap": "0"}})
        ),
        "tier2_base": draw(_PLAIN),
        "tier2_fund": draw(_mostly(_PLAIN, "1e2", "")),
        "assistance_base": draw(_PLAIN),
        "assistance_fund": draw(_PLAIN),
    }


@settings(max_examples=1500, deadline=None)
@given(
    pid=_mostly(
        st.sampled_from(["110101199001011234", "A 1", "张三", "é", "x\u2028y"]), " ", 'q"uote', "b\\s", "t\tab"
    ),
    region=_mostly(st.sampled_from(["110000", "130100"]), '1"0', "", " "),
    scheme=_mostly(st.sampled_from(["employee", "resident"]), " ", "e\\"),
    year=_mostly(st.just(2025), 1899, 1000, 2024),
    last=_mostly(st.sampled_from(["{y}-03-07", "{y}-12-31"]), "2024-12-31", "{y}-02-30", "{y}-3-7", "{y}0307"),
    record=_plain_records(),
    more=st.booleans(),
)
def test_ytd_lines_read_by_pattern_agree_with_decoding(
    pid: str, region: str, scheme: str, year: int, last: str, record: dict[str, Any], more: bool
) -> None:
    """An --ytd-in line as --ytd-out writes it is read by one pattern (``_plain_ytd_line``) when it
    can be: whenever it is, decoding the line and checking it as any entry (``_ytd_entry``) accepts
    it and gives the same key, day, date and text. It fails if the pattern takes an entry the checks
    refuse (a year before 1900, a date not in the year, a fund above its in-scope amount …) or reads
    one value otherwise."""
    from medins.batch.ytd import _plain_ytd_line, _ytd_entry

    last = last.format(y=year)  # mostly a date of the entry's year
    names = ", ".join(
        f'"{n}": {json.dumps(v, ensure_ascii=False)}'
        for n, v in (("person_id", pid), ("insured_region", region), ("scheme", scheme))
    )
    ytd = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    line = f'  {{{names}, "year": {year}, "last_service_date": "{last}", "ytd": {ytd}}}' + ("," if more else "") + "\n"
    by_pattern: dict[Any, Any] = {}
    taken = _plain_ytd_line(by_pattern, line, {})
    if not taken:
        return
    decoded: dict[Any, Any] = {}
    _ytd_entry(decoded, json.loads(line[2 : -2 if more else -1], parse_float=Decimal), "ytd.json", {})
    assert decoded == by_pattern


def test_a_plain_ytd_line_is_read_by_the_pattern() -> None:
    """The quick reading is the one the lines --ytd-out writes get (the hypothesis test above only
    holds it to the decoding where it is taken)."""
    from medins.batch.ytd import _plain_ytd_line
    from medins.case_model import YearToDate

    text = YearToDate(year=2025, admissions=2, inpatient={"in_scope": "12.50", "fund": "3"}).model_dump_json()
    line = f'  {{"person_id": "张三 1", "insured_region": "110000", "scheme": "employee", "year": 2025, "last_service_date": "2025-03-07", "ytd": {text}}},\n'
    state: dict[Any, Any] = {}
    assert _plain_ytd_line(state, line, {})
    assert state == {("张三 1", "110000", "employee", 2025): (date(2025, 3, 7).toordinal(), "2025-03-07", text)}
