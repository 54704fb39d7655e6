"""The pieces of ``medins batch``: header aliases, value normalising, error columns, CSV records, dates."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from medins.batch import (
    BILL_COLUMNS,
    ITEM_COLUMNS,
    clearing_dates,
    error_column,
    header_key,
    map_columns,
    norm_bool,
    norm_choice,
    norm_date,
    norm_level,
)
from medins.cli import EXIT_REJECTS, cli
from medins.tabular import FORMULA_NO_VALUE, TableError, cell_problem, neutralise, open_csv, xlsx_cell_text

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
    assert [(row, values) for row, _, _, values in records] == [
        (2, ["B1", "two\r\nlines", "1.00"]),
        (4, ["B2", "x", "2.00"]),
        (5, ["B3", 'a "quoted", name', "3"]),
    ]
    data = path.read_bytes()
    assert [data[start:end] for _, start, end, _ in records] == [
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
