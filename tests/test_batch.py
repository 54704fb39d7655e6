"""``medins batch``: every row accepted or rejected with its reason, amounts as ``estimate`` gives them.

Fixtures are in tests/fixtures/batch (made by its make_fixtures.py): one file per real-world quirk.
"""

from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from openpyxl import load_workbook

from medins.api import estimate, parse_case
from medins.batch import OUT_AMOUNTS, BatchOptions, run_batch
from medins.batch.bill import Settler
from medins.cli import EXIT_ERROR, EXIT_OK, EXIT_REJECTS, cli
from medins.loader import resolve_rules_dir
from medins.procs import Interrupted
from medins.render import settlement_json

FIX = Path(__file__).parent / "fixtures" / "batch"


def run(*args: str | Path, lang: str = "en") -> Result:
    return CliRunner().invoke(cli, ["batch", *map(str, args), "--lang", lang])


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def rejects(path: Path) -> list[tuple[str, str, str, str, str]]:
    return [(r["row"], r["file"], r["bill_id"], r["column"], r["reason"]) for r in rows(path)]


# ----------------------------------------------------------------------------- the main fixture


@pytest.fixture(scope="module")
def main_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    out = tmp_path_factory.mktemp("main")
    result = run(
        FIX / "bills.csv",
        "--items",
        FIX / "items.csv",
        "-o",
        out / "settled.csv",
        "--summary",
        out / "summary.json",
        "--clearing",
        out / "clearing.csv",
        "--quiet",
    )
    return result, out


def test_every_row_is_accepted_or_rejected_with_its_reason(main_run: tuple[Result, Path]) -> None:
    result, out = main_run
    assert result.exit_code == EXIT_REJECTS, result.output
    assert result.output == ""  # --quiet
    assert [r["bill_id"] for r in rows(out / "settled.csv")] == ["B001", "B002", "B003", "B004", "B005"]
    got = rejects(out / "settled.rejects.csv")
    mismatch = "amount 25.00 differs from quantity × unit_price = 20.00 by more than 0.01"
    assert got[0] == ("7", "bills", "B006", "", f"items row 8: {mismatch}")
    assert got[1][:4] == ("8", "bills", "B007", "visit_region")
    assert got[1][4].startswith("the 130100 pack has no in-province rules (offsite.in_province)")
    assert got[2:] == [
        ("9", "bills", "B008", "admitted", "'2025-02-30' is not a valid date (write YYYY-MM-DD)"),
        ("10", "bills", "B009", "total", "no item lines (ITEMS has no row with this bill_id) and no total"),
        ("7", "items", "B006", "", "belongs to rejected bill B006 (bills row 7)"),
        ("8", "items", "B006", "amount", mismatch),
        ("9", "items", "B999", "bill_id", "no bill with bill_id B999 in BILLS"),
    ]


def test_summary_counts_add_up(main_run: tuple[Result, Path]) -> None:
    _, out = main_run
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["bills"] == {"input": 9, "accepted": 5, "rejected": 4}
    assert summary["item_lines"] == {"input": 9, "accepted": 6, "rejected": 3}
    # P01: B003 (2 March) is settled before B001 (20 March); persons settled: P01, 13010219750505432X, P03, P04
    assert summary["persons"] == {"input": 8, "settled": 4, "reordered": 1}
    settled = rows(out / "settled.csv")
    overall = summary["overall"]
    total = sum(Decimal(r["total"]) for r in settled)
    funds = sum(Decimal(r["fund_total"]) for r in settled)
    assert overall["count"] == 5 and overall["direct"] == 4
    assert Decimal(overall["total"]) == total and Decimal(overall["fund_total"]) == funds
    assert overall["fund_ratio"] == f"{(funds / total).quantize(Decimal('0.0001'))}"
    assert overall["average_total"] == f"{(total / 5).quantize(Decimal('0.01'))}"
    assert {k: v["count"] for k, v in summary["by_visit_type"].items()} == {
        "chronic_outpatient": 1,
        "inpatient": 3,
        "outpatient": 1,
    }
    assert {k: v["count"] for k, v in summary["by_benefit_category"].items()} == {
        "long_term_resident": 1,
        "referral": 2,
        "relocated_retiree": 1,
        "unfiled": 1,
    }
    assert list(summary["by_insured_region"]) == ["130100"]
    inpatient = [r for r in settled if r["visit_type"] == "inpatient"]
    assert Decimal(summary["by_visit_type"]["inpatient"]["basic_fund"]) == sum(
        Decimal(r["basic_fund"]) for r in inpatient
    )


def test_clearing_groups_direct_settlements_by_region_and_month(main_run: tuple[Result, Path]) -> None:
    _, out = main_run
    direct = [r for r in rows(out / "settled.csv") if r["settlement"] == "direct"]
    assert [r["bill_id"] for r in direct] == ["B001", "B002", "B003", "B004"]  # B005 was not filed

    def total(col: str) -> str:
        return f"{sum(Decimal(r[col]) for r in direct):.2f}"

    tier2 = sum(Decimal(r["critical_illness_fund"]) + Decimal(r["large_amount_fund"]) for r in direct)
    assert rows(out / "clearing.csv") == [
        {
            "insured_region": "130100",
            "visit_region": "110000",
            "month": "2025-03",
            "count": "4",
            "total": total("total"),
            "basic_fund": total("basic_fund"),
            "tier2_fund": f"{tier2:.2f}",
            "medical_assistance_fund": total("medical_assistance_fund"),
            "fund_total": total("fund_total"),
            "declaration_due": "2025-04-20",
            "clearing_due": "2025-06-20",
        }
    ]


def _case(bill: dict[str, str], lines: list[dict[str, str]]) -> dict[str, Any]:
    """The fixture's bill as a case file would write it (written independently of medins.batch)."""
    person: dict[str, Any] = {"id": bill["person_id"], "insured_region": bill["insured_region"]}
    person.update({k: bill[k] for k in ("scheme", "status", "assistance") if bill[k]})
    if bill["chronic_diseases"]:
        person["chronic_diseases"] = bill["chronic_diseases"].split(";")
    visit: dict[str, Any] = {"region": bill["visit_region"], "hospital_level": int(bill["hospital_level"])}
    visit["type"] = bill["visit_type"]
    visit.update({k: bill[k] for k in ("disease", "admitted", "discharged", "date") if bill[k]})
    case: dict[str, Any] = {"person": person, "visit": visit}
    if bill["filing_category"]:
        case["filing"] = {
            "category": bill["filing_category"],
            "destination": bill["filing_destination"],
            "start": bill["filing_start"],
            "materials": bill["filing_materials"].split(";"),
        }
    if lines:
        case["items"] = [
            {k: (v == "true" if k == "restriction_met" else v) for k, v in line.items() if v and k != "bill_id"}
            for line in lines
        ]
    else:
        case["summary"] = {k: bill[k] for k in ("total", "fully_self_paid", "class_b") if bill[k]}
    return case


def test_batch_amounts_equal_estimate_one_by_one(main_run: tuple[Result, Path]) -> None:
    _, out = main_run
    settled = {r["bill_id"]: r for r in rows(out / "settled.csv")}
    bills = {b["bill_id"]: b for b in rows(FIX / "bills.csv")}
    items = rows(FIX / "items.csv")
    # each person's bills in service-date order, year-to-date amounts carried by hand
    order = sorted(settled, key=lambda b: (settled[b]["person_id"], settled[b]["service_date"]))
    ytd: dict[str, Any] = {}
    for bid in order:
        data = _case(bills[bid], [i for i in items if i["bill_id"] == bid])
        pid = bills[bid]["person_id"]
        if pid in ytd:
            data["ytd"] = ytd[pid]
        s = estimate(parse_case(data))
        ytd[pid] = s.ytd_after
        expected = settlement_json(s, "en")
        assert {k: settled[bid][k] for k in (*OUT_AMOUNTS, "fund_ratio")} == {
            k: expected[k] for k in (*OUT_AMOUNTS, "fund_ratio")
        }, bid
        assert settled[bid]["service_date"] == expected["service_date"]
        assert settled[bid]["deferred"] == ";".join(expected["deferred"])
    # B001 is P01's second admission: its deductible is the later-admission one, as chained above
    assert settled["B001"]["deductible"] == "500.00" and settled["B003"]["deductible"] == "1000.00"


def test_jobs_2_writes_the_same_files(main_run: tuple[Result, Path], tmp_path: Path) -> None:
    _, first = main_run
    result = run(
        FIX / "bills.csv",
        "--items",
        FIX / "items.csv",
        "-o",
        tmp_path / "settled.csv",
        "--summary",
        tmp_path / "summary.json",
        "--clearing",
        tmp_path / "clearing.csv",
        "--jobs",
        "2",
        "--quiet",
    )
    assert result.exit_code == EXIT_REJECTS
    for name in ("settled.csv", "settled.rejects.csv", "summary.json", "clearing.csv"):
        assert (tmp_path / name).read_bytes() == (first / name).read_bytes(), name


def test_summary_table_on_stderr_without_progress_bar(tmp_path: Path) -> None:
    result = run(FIX / "bills.csv", "--items", FIX / "items.csv", "-o", tmp_path / "out.csv", lang="zh")
    assert result.exit_code == EXIT_REJECTS
    assert result.stdout == ""
    assert (
        result.stderr.splitlines()[0]
        == "单据 9 张：通过 5，拒绝 4；明细 9 行：通过 6，拒绝 3；1 人的单据按就医日期重新排序"
    )
    assert "参保地: 130100 石家庄市" in result.stderr
    assert "结算中" not in result.stderr  # no progress bar when stderr is not a terminal


# ----------------------------------------------------------------------------- chaining months


def _amounts(path: Path) -> dict[str, dict[str, str]]:
    return {r["bill_id"]: {k: r[k] for k in (*OUT_AMOUNTS, "fund_ratio", "deferred")} for r in rows(path)}


def test_two_months_chained_equal_one_run_over_both(tmp_path: Path) -> None:
    both = tmp_path / "both.csv"
    both.write_bytes((FIX / "march.csv").read_bytes() + (FIX / "april.csv").read_bytes().split(b"\r\n", 1)[1])
    assert run(both, "-o", tmp_path / "one.csv", "--quiet").exit_code == EXIT_OK
    state = tmp_path / "ytd.json"
    assert run(FIX / "march.csv", "-o", tmp_path / "m.csv", "--ytd-out", state, "--quiet").exit_code == EXIT_OK
    result = run(FIX / "april.csv", "-o", tmp_path / "a.csv", "--ytd-in", state, "--ytd-out", state, "--quiet")
    assert result.exit_code == EXIT_OK, result.output
    chained = {**_amounts(tmp_path / "m.csv"), **_amounts(tmp_path / "a.csv")}
    assert chained == _amounts(tmp_path / "one.csv")
    # the chain matters: April alone, without March's amounts, settles P-M1 and P-M2 differently
    assert run(FIX / "april.csv", "-o", tmp_path / "alone.csv", "--quiet").exit_code == EXIT_OK
    alone = _amounts(tmp_path / "alone.csv")
    assert alone["A-0402"] != chained["A-0402"] and alone["A-0403"] != chained["A-0403"]
    assert alone["A-0401"] == chained["A-0401"]
    saved = json.loads(state.read_text("utf-8"))
    assert saved["version"] == 2
    entries = {e["person_id"]: e for e in saved["entries"]}
    assert sorted(entries) == ["P-M1", "P-M2", "P-M3"]
    assert (entries["P-M1"]["insured_region"], entries["P-M1"]["scheme"], entries["P-M1"]["year"]) == (
        "130100",
        "resident",
        2025,
    )
    assert entries["P-M1"]["last_service_date"] == "2025-04-05"
    assert entries["P-M1"]["ytd"]["admissions"] == 2


def test_a_bill_of_a_month_already_settled_is_rejected(tmp_path: Path) -> None:
    state = tmp_path / "ytd.json"
    assert run(FIX / "march.csv", "-o", tmp_path / "m.csv", "--ytd-out", state, "--quiet").exit_code == EXIT_OK
    result = run(FIX / "late.csv", "-o", tmp_path / "late.csv", "--ytd-in", state, "--ytd-out", state, "--quiet")
    assert result.exit_code == EXIT_REJECTS
    assert rejects(tmp_path / "late.rejects.csv") == [
        (
            "2",
            "bills",
            "L-0318",
            "date",
            "dated 2025-03-18, before this person's last service date 2025-03-20 in --ytd-in "
            "(insured in 130100, resident, 2025): it belongs to a month already settled",
        )
    ]
    (entry,) = [e for e in json.loads(state.read_text("utf-8"))["entries"] if e["person_id"] == "P-M1"]
    assert entry["last_service_date"] == "2025-03-20"


def test_ytd_in_must_be_a_state_file(tmp_path: Path) -> None:
    bad = tmp_path / "ytd.json"
    bad.write_text('{"persons": []}', encoding="utf-8")
    result = run(FIX / "march.csv", "-o", tmp_path / "m.csv", "--ytd-in", bad)
    assert result.exit_code == EXIT_ERROR
    assert "not a medins year-to-date file" in result.stderr
    assert not (tmp_path / "m.csv").exists()


# ----------------------------------------------------------------------------- encodings


def test_gbk_csv_with_chinese_headers_and_values(tmp_path: Path) -> None:
    result = run(FIX / "gbk-bills.csv", "-o", tmp_path / "out.csv", "--summary", tmp_path / "s.json", "--quiet")
    assert result.exit_code == EXIT_OK, result.output
    summary = json.loads((tmp_path / "s.json").read_text("utf-8"))
    assert summary["inputs"]["encoding"]["bills"] == "gb18030"
    assert summary["inputs"]["columns"]["bills"]["used"]["bill_id"] == "单据号"
    got = [(r["bill_id"], r["person_name"], r["visit_type"], r["service_date"]) for r in rows(tmp_path / "out.csv")]
    assert got == [("G001", "张三", "inpatient", "2025-03-10"), ("G002", "李四", "outpatient", "2025-03-12")]


def test_gb18030_rare_character_survives(tmp_path: Path) -> None:
    assert "䶮".encode("gb18030") and (FIX / "gb18030-rare.csv").read_bytes().find("䶮".encode("gb18030")) > 0
    result = run(FIX / "gb18030-rare.csv", "-o", tmp_path / "out.csv", "--quiet")
    assert result.exit_code == EXIT_OK
    assert [r["person_name"] for r in rows(tmp_path / "out.csv")] == ["刘䶮"]


def test_utf8_bom_and_national_column_names(tmp_path: Path) -> None:
    assert (FIX / "bom-bills.csv").read_bytes().startswith(b"\xef\xbb\xbfsetl_id,")
    result = run(FIX / "bom-bills.csv", "-o", tmp_path / "out.csv", "--summary", tmp_path / "s.json", "--quiet")
    assert result.exit_code == EXIT_OK
    (row,) = rows(tmp_path / "out.csv")
    assert (row["bill_id"], row["person_id"], row["total"], row["pre_self_pay"]) == (
        "N001",
        "130102198001011234",
        "900.00",
        "20.00",
    )
    used = json.loads((tmp_path / "s.json").read_text("utf-8"))["inputs"]["columns"]["bills"]["used"]
    assert (used["bill_id"], used["visit_region"], used["total"]) == ("setl_id", "mdtrtarea_admvs", "medfee_sumamt")


def test_wrong_encoding_gives_garbled_headers(tmp_path: Path) -> None:
    utf8 = tmp_path / "utf8.csv"
    utf8.write_text((FIX / "gbk-bills.csv").read_bytes().decode("gbk"), encoding="utf-8")
    result = run(utf8, "-o", tmp_path / "out.csv", "--encoding", "gb18030")
    assert result.exit_code == EXIT_ERROR
    assert result.stderr == (
        f"medins: error: {utf8}: read as gb18030, the header row is not valid text or has no known column name "
        "(wrong encoding?); "
        "pass --encoding utf-8 or --encoding gb18030 to say how the file is encoded\n"
    )
    result = run(FIX / "gbk-bills.csv", "-o", tmp_path / "out.csv", "--encoding", "utf-8")
    assert result.exit_code == EXIT_ERROR
    assert "read as utf-8, the header row is not valid text" in result.stderr
    # an English header decodes in any encoding; the name on line 2 does not
    result = run(FIX / "gb18030-rare.csv", "-o", tmp_path / "out.csv", "--encoding", "utf-8")
    assert result.exit_code == EXIT_ERROR
    assert "line 2 is not valid utf-8" in result.stderr and "--encoding" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["utf8.csv"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "the file is empty"),
        ("bills.txt", "BILLS: unsupported file type '.txt'"),
        ("workbook.csv", "this is an XLSX (zip) file, not CSV; name it .xlsx"),
        ("broken.xlsx", "cannot be read as an XLSX workbook"),
    ],
)
def test_files_that_are_not_tables(tmp_path: Path, name: str, message: str) -> None:
    path = tmp_path / name
    if name == "empty.csv":
        shutil.copy(FIX / "empty.csv", path)
    elif name == "workbook.csv":
        shutil.copy(FIX / "bills.xlsx", path)
    else:
        path.write_bytes(b"bill_id,person_id\n")
    result = run(path, "-o", tmp_path / "out.csv")
    assert result.exit_code == EXIT_ERROR
    assert message in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_missing_column_names_the_nearest_header(tmp_path: Path) -> None:
    result = run(FIX / "missing-column.csv", "-o", tmp_path / "out.csv")
    assert result.exit_code == EXIT_ERROR
    assert result.stderr == (
        f"medins: error: {FIX / 'missing-column.csv'}: BILLS lacks required columns: visit_region "
        "(nearest header: 'visit_regon'); see README, Batch, for column names and aliases\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_output_must_be_csv_or_xlsx(tmp_path: Path) -> None:
    result = run(FIX / "march.csv", "-o", tmp_path / "out.txt")
    assert result.exit_code == EXIT_ERROR
    assert "OUT: unsupported file type '.txt'" in result.stderr


# ----------------------------------------------------------------------------- spreadsheets


def test_xlsx_bills_and_items(tmp_path: Path) -> None:
    out = tmp_path / "out.xlsx"
    result = run(FIX / "bills.xlsx", "--items", FIX / "items.xlsx", "-o", out, "--quiet")
    assert result.exit_code == EXIT_REJECTS, result.output

    def formula(text: str) -> str:
        return (
            f"the cell is a formula '{text}' without a cached value (the workbook was never recalculated and "
            "saved): open and save it in Excel, or paste the values"
        )

    lost = (
        "the ID is stored as the number 130102198001011000; digits beyond 15 are lost: "
        "format the column as text and enter it again"
    )
    got = list(load_workbook(tmp_path / "out.rejects.xlsx").active.iter_rows(min_row=2, values_only=True))
    assert got == [
        (3, "bills", "X002", "人员编号", lost),
        (4, "bills", "X003", "医疗费总额", formula("=1000+2000")),
        (6, "bills", "X005", None, f"items row 5: {formula('=D5*E5')}"),
        (4, "items", "X005", None, "belongs to rejected bill X005 (bills row 6)"),
        (5, "items", "X005", "金额", formula("=D5*E5")),
    ]
    ws = load_workbook(out).active
    header = [c.value for c in ws[1]]
    x001, x004 = ws[2], ws[3]
    col = {name: i for i, name in enumerate(header)}
    assert x001[col["person_id"]].value == "130102198001011234" and x001[col["person_id"]].data_type == "s"
    service = x001[col["service_date"]]  # a date, shown as one (issue 14: XLSX dates as dates)
    assert (service.value, service.number_format) == (datetime(2025, 3, 10), "yyyy-mm-dd")
    total = x001[col["total"]]
    assert (total.value, total.data_type, total.number_format) == (20000, "n", "0.00")
    assert x001[col["fully_self_paid"]].value == 500.5
    assert x001[col["fund_ratio"]].number_format == "0.0000"
    assert x001[col["eligible"]].value is True
    # X004: 5 × 120 bed days + 2 × 15.50 drug, from numeric item cells
    assert x004[col["bill_id"]].value == "X004" and x004[col["total"]].value == 631


def test_formula_looking_text_is_neutralised(tmp_path: Path) -> None:
    assert run(FIX / "formula-bills.csv", "-o", tmp_path / "out.csv", "--quiet").exit_code == EXIT_OK
    got = [(r["person_id"], r["person_name"], r["total"]) for r in rows(tmp_path / "out.csv")]
    assert got == [
        ("'+8613800138000", '\'=HYPERLINK("http://example.invalid","点我")', "300.00"),
        ("'@p02", "'-1+2", "300.00"),
    ]
    assert run(FIX / "formula-bills.csv", "-o", tmp_path / "out.xlsx", "--quiet").exit_code == EXIT_OK
    ws = load_workbook(tmp_path / "out.xlsx").active
    cells = [(c.value, c.data_type) for c in ws[2][1:3]]
    assert cells == [("'+8613800138000", "s"), ('\'=HYPERLINK("http://example.invalid","点我")', "s")]


def test_id_numbers_stay_text(tmp_path: Path) -> None:
    assert run(FIX / "ids-bills.csv", "-o", tmp_path / "out.csv", "--quiet").exit_code == EXIT_OK
    got = [(r["bill_id"], r["person_id"]) for r in rows(tmp_path / "out.csv")]
    assert got == [("000123", "130102198001011234"), ("000124", "13010219750505432X")]
    assert run(FIX / "ids-bills.csv", "-o", tmp_path / "out.xlsx", "--quiet").exit_code == EXIT_OK
    ws = load_workbook(tmp_path / "out.xlsx").active
    assert [(c.value, c.data_type) for c in ws[2][:2]] == [("000123", "s"), ("130102198001011234", "s")]


# ----------------------------------------------------------------------------- duplicates, orphans


def test_duplicate_bill_ids_reject_every_row_and_their_items(tmp_path: Path) -> None:
    result = run(
        FIX / "dup-bills.csv", "--items", FIX / "dup-items.csv", "-o", tmp_path / "out.csv", "--summary",
        tmp_path / "s.json", "--quiet",
    )  # fmt: skip
    assert result.exit_code == EXIT_REJECTS
    assert [r["bill_id"] for r in rows(tmp_path / "out.csv")] == ["D002"]
    shared = "bill_id D001 is shared by rows 2, 4"
    duplicated = "its bill_id D001 is duplicated (bills rows 2, 4)"
    assert rejects(tmp_path / "out.rejects.csv") == [
        ("2", "bills", "D001", "bill_id", shared),
        ("4", "bills", "D001", "bill_id", shared),
        ("2", "items", "D001", "bill_id", duplicated),
        ("3", "items", "D001", "bill_id", duplicated),
    ]
    summary = json.loads((tmp_path / "s.json").read_text("utf-8"))
    assert summary["bills"] == {"input": 3, "accepted": 1, "rejected": 2}
    assert summary["item_lines"] == {"input": 3, "accepted": 1, "rejected": 2}


def test_reasons_in_chinese(tmp_path: Path) -> None:
    result = run(FIX / "dup-bills.csv", "--items", FIX / "dup-items.csv", "-o", tmp_path / "o.csv", lang="zh")
    assert result.exit_code == EXIT_REJECTS
    assert rejects(tmp_path / "o.rejects.csv")[0] == ("2", "bills", "D001", "bill_id", "单据号 D001 重复：第 2、4 行")


# ----------------------------------------------------------------------------- no half files


@pytest.mark.parametrize("engine", ["columns", "records"])
def test_an_interrupted_run_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str) -> None:
    """Ctrl-C while the bills are settled: over columns (this file is not plainly regular, so the
    careful reading reads it and the columns settle what it accepts), or bill by bill."""
    from medins.batch import scanned

    calls = []
    real_settle = Settler.settle

    def settle(self: Any, task: Any) -> Any:
        calls.append(task)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_settle(self, task)

    def frames(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        raise KeyboardInterrupt

    monkeypatch.setattr(Settler, "settle", settle)
    monkeypatch.setattr(scanned, "settle_frames", frames)
    opts = BatchOptions(
        FIX / "bills.csv", tmp_path / "out.csv", items=FIX / "items.csv", summary=tmp_path / "s.json", engine=engine
    )
    with pytest.raises(Interrupted) as caught:
        run_batch(opts)
    assert caught.value.exit_code == 130
    assert calls
    assert list(tmp_path.iterdir()) == []


def test_outputs_may_not_overwrite_inputs(tmp_path: Path) -> None:
    bills = tmp_path / "bills.csv"
    shutil.copy(FIX / "march.csv", bills)
    result = run(bills, "-o", tmp_path / "out.csv", "--rejects", bills)
    assert result.exit_code == EXIT_ERROR
    assert "an output would overwrite an input" in result.stderr
    assert bills.read_bytes() == (FIX / "march.csv").read_bytes()


# ----------------------------------------------------------------------------- broken rows, other shapes


def test_broken_rows_are_rejected_alone_the_same_with_jobs_2(tmp_path: Path) -> None:
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / jobs
        out.mkdir()
        result = run(FIX / "shapes-bills.csv", "-o", out / "o.csv", "--summary", out / "s.json", "--jobs", jobs)
        assert result.exit_code == EXIT_REJECTS, result.output
        outs.append(out)
    for name in ("o.csv", "o.rejects.csv", "s.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    assert [r["bill_id"] for r in rows(outs[0] / "o.csv")] == ["S005", "S009"]
    got = [
        (row, bid, column, reason.split(":")[0]) for row, _, bid, column, reason in rejects(outs[0] / "o.rejects.csv")
    ]
    assert got == [
        ("2", "S001", "person_name", "person_id 'P10' carries different names"),
        ("3", "S002", "fully_self_paid", "row 3 has 23 cells, the header 22"),
        ("4", "S003", "fully_self_paid", "row 4 has 20 cells, the header 22"),
        ("5", "S004", "person_name", "an unbalanced quote in row 5, column person_name"),
        ("7", "S006", "person_id", "the ID '1.30102E+17' is in scientific notation"),
        ("8", "S007", "person_name", "person_id 'P10' carries different names"),
        ("9", "S008", "date", "'2025-02-30' is not a valid date (write YYYY-MM-DD)"),
    ]
    summary = json.loads((outs[0] / "s.json").read_text("utf-8"))
    assert summary["bills"] == {"input": 9, "accepted": 2, "rejected": 7}


@pytest.mark.parametrize("name", ["cr-bills.csv", "semicolon-bills.csv"])
def test_cr_only_and_semicolon_files_read_as_the_comma_file(tmp_path: Path, name: str) -> None:
    assert run(FIX / "march.csv", "-o", tmp_path / "comma.csv", "--quiet").exit_code == EXIT_OK
    assert run(FIX / name, "-o", tmp_path / "other.csv", "--quiet").exit_code == EXIT_OK
    assert (tmp_path / "other.csv").read_bytes() == (tmp_path / "comma.csv").read_bytes()


def test_utf8_items_with_a_gbk_line_are_refused_naming_the_line(tmp_path: Path) -> None:
    items = FIX / "mixed-items.csv"
    result = run(FIX / "bills.csv", "--items", items, "-o", tmp_path / "o.csv")
    assert result.exit_code == EXIT_ERROR
    assert result.stderr == (
        f"medins: error: {items}: the file mixes encodings: line 3 is not UTF-8 (read as GBK: "
        "'B001,,布洛芬缓释胶囊,,0.3g,1,10.00,,'), while line 2 is UTF-8 text; save the whole file as UTF-8 "
        "(convert or re-type those lines), then run again\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_new_year_starts_a_new_year_to_date_chain(tmp_path: Path) -> None:
    march = (FIX / "march.csv").read_text("utf-8")
    head, m1 = march.splitlines()[:2]
    december = m1.replace("M-0301", "D-1201").replace("2025-03-03", "2024-12-03").replace("2025-03-10", "2024-12-10")
    (tmp_path / "two.csv").write_text(f"{head}\n{december}\n{m1}\n", encoding="utf-8")
    (tmp_path / "one.csv").write_text(f"{head}\n{m1}\n", encoding="utf-8")
    for name in ("two", "one"):
        args = ("-o", tmp_path / f"{name}.out.csv", "--ytd-out", tmp_path / f"{name}.json", "--quiet")
        assert run(tmp_path / f"{name}.csv", *args).exit_code == EXIT_OK
    both = {r["bill_id"]: r for r in rows(tmp_path / "two.out.csv")}
    (alone,) = rows(tmp_path / "one.out.csv")
    assert {k: both["M-0301"][k] for k in (*OUT_AMOUNTS, "warnings")} == {
        k: alone[k] for k in (*OUT_AMOUNTS, "warnings")
    }
    assert "YTD_OTHER_YEAR" not in both["M-0301"]["warnings"]
    entries = json.loads((tmp_path / "two.json").read_text("utf-8"))["entries"]
    assert [(e["year"], e["last_service_date"]) for e in entries] == [(2024, "2024-12-03"), (2025, "2025-03-03")]


def test_ytd_in_applies_per_insured_region(tmp_path: Path) -> None:
    state = tmp_path / "ytd.json"
    assert run(FIX / "march.csv", "-o", tmp_path / "m.csv", "--ytd-out", state, "--quiet").exit_code == EXIT_OK
    late = (FIX / "late.csv").read_text("utf-8")
    (tmp_path / "moved.csv").write_text(late.replace(",130100,", ",330400,", 1), encoding="utf-8")
    # P-M1's 2025-03-18 bill, insured in 330400: not a month already settled there
    result = run(tmp_path / "moved.csv", "-o", tmp_path / "l.csv", "--ytd-in", state, "--quiet")
    assert result.exit_code == EXIT_OK, result.output
    assert [r["insured_region"] for r in rows(tmp_path / "l.csv")] == ["330400"]


# ----------------------------------------------------------------------------- local and in-province visits

LOCAL_RULES = Path(__file__).parent / "golden" / "check" / "rules-local"
PLACE_CATALOGUE = """\
kind = "catalogue"
region = "{region}"
name = "test"
drug_list = "nrdl-2024"

[sources.test]
confidence = "illustrative"
note = "test values"

[[settings]]
effective = 2024-01-01
source = "test"
pre_self_pay = {{ drug = 0.10, service = 0.20, consumable = 0.30 }}
"""
PLACE_HEAD = (
    "bill_id,person_id,person_name,insured_region,scheme,status,assistance,chronic_diseases,filing_category,"
    "filing_destination,filing_start,filing_materials,visit_region,hospital_level,visit_type,disease,admitted,"
    "discharged,date,total,fully_self_paid,class_b"
)


def test_local_in_province_and_deemed_rows_settle_under_their_standard(tmp_path: Path) -> None:
    """One row of each place, worked by hand from tests/golden/check/rules-local/130100 (resident,
    group general; inpatient level 2: deductible 500, 80 %; level 3: 1000, 70 %; outpatient: yearly
    deductible 100, 50 %; no tier 2, no assistance) and a test catalogue (class-B drugs 10 %):

    L1 local (130100 → 130100), no filing: the local standard.
       in-scope 10000.00 − 1000.00 = 9000.00; (9000.00 − 500.00) × 80 % = 6800.00
    I1 in-province (→ 130200), filed other_temporary for 130200: in_province.other_temporary = −5 points.
       pre-self-pay 5000.00 × 10 % = 500.00; in-scope 20000.00 − 2000.00 − 500.00 = 17500.00;
       (17500.00 − 1000.00) × (70 % − 5 %) = 16500.00 × 0.65 = 10725.00
    D1 Beijing, no filing: filing.deemed[0] (110000, inpatient) → other_temporary with its own −10 points.
       (30000.00 − 1000.00) × (70 % − 10 %) = 29000.00 × 0.60 = 17400.00
    U1 in-province (→ 130200), outpatient, no filing, no deemed entry: in_province.unfiled = −15 points,
       reimbursed at home. (500.00 − 100.00) × (50 % − 15 %) = 400.00 × 0.35 = 140.00
    """
    rules = tmp_path / "rules"
    shutil.copytree(LOCAL_RULES, rules)
    shutil.copytree(resolve_rules_dir(None) / "drug-lists", rules / "drug-lists")  # the catalogues name it
    for region in ("130200", "110000"):
        (rules / region).mkdir()
        (rules / region / "catalogue.toml").write_text(PLACE_CATALOGUE.format(region=region), "utf-8")
    bills = [
        "L1,130102198001010011,甲,130100,resident,general,,,,,,,130100,2,inpatient,,2025-03-01,2025-03-05,,"
        "10000.00,1000.00,0",
        "I1,130102198001010022,乙,130100,resident,general,,,other_temporary,130200,2025-02-01,"
        "insurance_credential;filing_form,130200,3,inpatient,,2025-03-02,2025-03-08,,20000.00,2000.00,5000.00",
        "D1,130102198001010033,丙,130100,resident,general,,,,,,,110000,3,inpatient,,2025-03-03,2025-03-09,,"
        "30000.00,0,0",
        "U1,130102198001010044,丁,130100,resident,general,,,,,,,130200,2,outpatient,,,,2025-03-10,500.00,0,0",
    ]
    (tmp_path / "bills.csv").write_text(PLACE_HEAD + "\n" + "\n".join(bills) + "\n", "utf-8")
    result = run(tmp_path / "bills.csv", "-o", tmp_path / "out.csv", "--rules", rules, "--quiet")
    assert result.exit_code == EXIT_OK, result.output
    got = {
        r["bill_id"]: (r["benefit_category"], r["settlement"], r["in_scope"], r["deductible"], r["basic_fund"])
        for r in rows(tmp_path / "out.csv")
    }
    assert got == {
        "L1": ("local", "direct", "9000.00", "500.00", "6800.00"),
        "I1": ("other_temporary", "direct", "17500.00", "1000.00", "10725.00"),
        "D1": ("other_temporary", "direct", "30000.00", "1000.00", "17400.00"),
        "U1": ("unfiled", "reimburse_at_home", "500.00", "100.00", "140.00"),
    }
    # the eligibility reasons, as the check of one visit gives them, and the same bill by bill
    reasons = {r["bill_id"]: r["reasons"] for r in rows(tmp_path / "out.csv")}
    assert reasons == {
        "L1": "LOCAL_VISIT",
        "I1": "IN_PROVINCE",
        "D1": "DEEMED_FILED",
        "U1": "IN_PROVINCE;FILING_MISSING",
    }
    run_batch(
        BatchOptions(
            tmp_path / "bills.csv", tmp_path / "bill-by-bill.csv", rules_dir=rules, engine="records", lang="en"
        )
    )
    assert (tmp_path / "bill-by-bill.csv").read_bytes() == (tmp_path / "out.csv").read_bytes()


def test_an_in_province_row_without_in_province_rules_is_rejected_naming_the_key(tmp_path: Path) -> None:
    """The shipped 130100 pack has no offsite.in_province: a visit in 130200 is a reject, not a wrong amount."""
    row = (
        "P1,130102198001010011,甲,130100,resident,general,,,other_temporary,130200,2025-02-01,"
        "insurance_credential;filing_form,130200,2,inpatient,,2025-03-01,2025-03-05,,10000.00,0,0"
    )
    (tmp_path / "bills.csv").write_text(PLACE_HEAD + "\n" + row + "\n", "utf-8")
    result = run(tmp_path / "bills.csv", "-o", tmp_path / "out.csv", "--quiet")
    assert result.exit_code == EXIT_REJECTS, result.output
    ((line, file, bill, column, reason),) = rejects(tmp_path / "out.rejects.csv")
    assert (line, file, bill, column) == ("2", "bills", "P1", "visit_region")
    assert reason.startswith("the 130100 pack has no in-province rules (offsite.in_province): a visit in 130200")
