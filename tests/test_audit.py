"""medins audit: a settlement extract of the national platform settled again and compared.

The story's bill (examples/shijiazhuang-resident-beijing.toml) as the platform would record it,
worked by hand from the rule values (rules/130100 standards, illustrative Hebei values):
in scope 68,000 − 3,000 fully self-paid − 1,200 pre-self-pay = 63,800; deductible 1,000 (first
admission, level 3); ratio 60 % − 10 points for a referral = 50 %: tier 1 (63,800 − 1,000) × 50 % =
31,400; tier 2 base 63,800 − 31,400 = 32,400, less its deductible 15,000, × 60 % = 10,440; tier 3
(subsistence) (32,400 − 10,440) × 75 % = 16,470; funds 31,400 + 10,440 + 16,470 = 58,310; personal
68,000 − 58,310 = 9,690.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from medins.audit_compare import fen_of
from medins.cli import cli
from medins.platform import CODES, SOURCES, mapped

HEAD = [
    "setl_id", "mdtrt_id", "psn_no", "insutype", "psn_type", "insu_admdvs", "mdtrtarea_admvs", "hosp_lv",
    "begndate", "enddate", "setl_time", "med_type", "medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay",
    "preselfpay_amt", "inscp_amt", "act_pay_dedc", "hifp_pay", "hifmi_pay", "hifob_pay", "maf_pay",
    "cvlserv_pay", "hifes_pay", "othfund_pay", "fund_pay_sumamt", "psn_pay", "refd_setl_flag", "assistance",
    "filing_category", "filing_destination", "filing_start", "filing_materials",
]  # fmt: skip
STORY = {
    "setl_id": "S1", "mdtrt_id": "M1", "psn_no": "130125-demo-01", "insutype": "390", "psn_type": "",
    "insu_admdvs": "130100", "mdtrtarea_admvs": "110000", "hosp_lv": "02", "begndate": "2025-03-10",
    "enddate": "2025-03-22", "setl_time": "2025-03-22 10:00:00", "med_type": "21",
    "medfee_sumamt": "68000.00", "fulamt_ownpay_amt": "3000.00", "overlmt_selfpay": "0",
    "preselfpay_amt": "1200.00", "inscp_amt": "63800.00", "act_pay_dedc": "1000.00", "hifp_pay": "31400.00",
    "hifmi_pay": "10440.00", "hifob_pay": "0", "maf_pay": "16470.00", "cvlserv_pay": "0", "hifes_pay": "0",
    "othfund_pay": "0", "fund_pay_sumamt": "58310.00", "psn_pay": "9690.00", "refd_setl_flag": "0",
    "assistance": "低保", "filing_category": "异地转诊", "filing_destination": "110000",
    "filing_start": "2025-03-01", "filing_materials": "insurance_credential;filing_form;referral_certificate",
}  # fmt: skip


def write(path: Path, rows: list[dict[str, str]], head: list[str] = HEAD) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, head)
        w.writeheader()
        w.writerows(rows)
    return path


def audit(tmp: Path, *args: str) -> tuple[int, list[dict[str, str]], list[dict[str, str]], dict]:
    out, summary = tmp / "diff.csv", tmp / "report.json"
    result = CliRunner().invoke(cli, ["audit", *args, "-o", str(out), "--summary", str(summary), "--quiet"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    with out.open(encoding="utf-8-sig") as f:
        diff = list(csv.DictReader(f))
    with (tmp / "diff.rejects.csv").open(encoding="utf-8-sig") as f:
        rejects = list(csv.DictReader(f))
    return result.exit_code, diff, rejects, json.loads(summary.read_text("utf-8"))


def test_the_story_as_paid_matches_to_the_fen(tmp_path: Path) -> None:
    code, diff, rejects, summary = audit(tmp_path, str(write(tmp_path / "setl.csv", [STORY])))
    assert (code, rejects) == (0, [])
    (row,) = diff
    assert row["status"] == "matched"
    assert (row["medins_basic_fund"], row["medins_critical_illness_fund"]) == ("31400.00", "10440.00")
    assert (row["medins_medical_assistance_fund"], row["medins_personal_total"]) == ("16470.00", "9690.00")
    assert summary["compared"] == {"matched": 1, "within_1_yuan": 0, "beyond": 0}


def test_one_tier_changed_names_that_record_and_tier_with_the_trail_step(tmp_path: Path) -> None:
    other = dict(STORY, setl_id="S2", mdtrt_id="M2", psn_no="P2")
    changed = dict(STORY, hifmi_pay="10439.50")  # the platform paid 0.50 less of tier 2 than 10,440
    code, diff, _, summary = audit(tmp_path, str(write(tmp_path / "setl.csv", [changed, other])))
    assert code == 4
    by_id = {r["setl_id"]: r for r in diff}
    assert by_id["S2"]["status"] == "matched"
    assert by_id["S1"]["status"] == "within_1_yuan"
    assert by_id["S1"]["differing"] == "critical_illness_fund"
    assert by_id["S1"]["diff_critical_illness_fund"] == "0.50"
    (largest,) = summary["largest"]
    assert (largest["setl_id"], largest["platform_field"], largest["row"]) == ("S1", "hifmi_pay", 2)
    # the step that decided medins' 10,440: tier 2's band, (32,400 − 15,000) × 60 %
    assert largest["step"]["key"] == "tier2_band"
    assert "10440.00" in largest["step"]["formula"]
    assert "tier2_band" in by_id["S1"]["trail_step"]


def test_a_refund_pair_nets_to_zero_and_is_not_settled(tmp_path: Path) -> None:
    first = dict(STORY, setl_id="F1", setl_time="2025-03-22 09:00:00")
    amounts = [h for h in HEAD[12:27]]
    back = {k: (f"-{v}" if k in amounts and v not in ("0", "0.00") else v) for k, v in first.items()}
    back.update(setl_id="R1", refd_setl_flag="1")
    code, diff, rejects, summary = audit(tmp_path, str(write(tmp_path / "setl.csv", [first, back, STORY])))
    assert (code, rejects) == (0, [])
    by_id = {r["setl_id"]: r for r in diff}
    assert by_id["F1"]["status"] == by_id["R1"]["status"] == "refund_pair"
    assert (by_id["F1"]["refund_of"], by_id["R1"]["refund_of"]) == ("R1", "F1")
    assert by_id["R1"]["platform_basic_fund"] == "0.00"  # 31,400 − 31,400
    # the refunded stay is not a first admission: the one settled again still has the 1,000 deductible
    assert by_id["S1"]["status"] == "matched"
    assert summary["records"]["refund_pairs"] == 1


def test_unmapped_codes_and_malformed_cells_are_rejects_with_row_column_value(tmp_path: Path) -> None:
    rows = [
        dict(STORY, setl_id="A", insutype="340"),  # row 2: 离休 has no medins scheme
        dict(STORY, setl_id="B", med_type="99"),  # row 3
        dict(STORY, setl_id="C", hifp_pay="31,400"),  # row 4: not an amount
        dict(STORY, setl_id="D", begndate="2025-02-30"),  # row 5: no such day
        dict(STORY, setl_id="E", psn_no="1.30125E+17"),  # row 6: an ID a spreadsheet rounded
        dict(STORY, setl_id="F", hifp_pay="31400.005"),  # row 7: finer than the fen
        dict(STORY, setl_id="G", psn_no="G"),
    ]
    code, diff, rejects, summary = audit(tmp_path, str(write(tmp_path / "setl.csv", rows)), "--lang", "en")
    assert code == 3
    assert [(r["row"], r["column"], r["value"]) for r in rejects] == [
        ("2", "insutype", "340"),
        ("3", "med_type", "99"),
        ("4", "hifp_pay", "31,400"),
        ("5", "begndate", "2025-02-30"),
        ("6", "psn_no", "1.30125E+17"),
        ("7", "hifp_pay", "31400.005"),
    ]
    assert "insutype code '340' has no medins value" in rejects[0]["reason"]
    assert [r["setl_id"] for r in diff] == ["G"]
    assert summary["records"]["rejected"] == 6


def test_chinese_headers_and_a_fee_list_with_a_refunds_line(tmp_path: Path) -> None:
    """The extract's Chinese headers; fee lines of a settlement not in SETL are rejects, the rest settle."""
    zh = {"setl_id": "结算ID", "insutype": "险种类型", "med_type": "医疗类别", "hifp_pay": "基本医疗保险统筹基金支出"}
    head = [zh.get(h, h) for h in HEAD]
    rows = [{zh.get(k, k): v for k, v in STORY.items()}]
    setl = write(tmp_path / "setl.csv", rows, head)
    fee = tmp_path / "fee.csv"
    # one line of 68,000 in scope would change the bill: a line of the story's class-A service at 100.00
    fee.write_text("setl_id,hilist_code,cnt,pric\nS9,X,1,1.00\n", encoding="utf-8")
    code, diff, rejects, _ = audit(tmp_path, str(setl), "--fee-list", str(fee), "--lang", "en")
    assert [(r["row"], r["file"], r["column"], r["value"]) for r in rejects] == [("2", "fee_list", "setl_id", "S9")]
    assert diff[0]["status"] == "matched"  # settled from its own amounts: it has no lines
    assert code == 3


def test_generated_extract_matches_every_record(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "generate_extract", Path(__file__).parent.parent / "benchmarks" / "generate_extract.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    records, _ = module.extract(400, 3, 7, tmp_path, 0.05, 0.3)
    code, diff, rejects, summary = audit(
        tmp_path, str(tmp_path / "setl_d.csv"), "--fee-list", str(tmp_path / "fee_list_d.csv")
    )
    assert (code, rejects) == (0, [])
    assert len(diff) == records
    assert summary["compared"]["within_1_yuan"] == summary["compared"]["beyond"] == 0
    assert summary["records"]["refund_pairs"] > 0
    assert float(summary["unmodelled_funds"]["cvlserv_pay"]) > 0


@pytest.mark.parametrize(
    ("text", "fen", "bad"),
    [("12", 1200, False), ("-12.3", -1230, False), ("12.3000", 1230, False), ("", 0, False),
     ("12.345", 0, True), ("1,200", 0, True), ("12元", 0, True),
     ("\u0661\u0662.\u0663\u0660", 0, True), ("\uff11\uff12.\uff13\uff10", 0, True)],  # Arabic-Indic, full-width
)  # fmt: skip
def test_amount_cells_are_read_exactly_or_refused(text: str, fen: int, bad: bool) -> None:
    import polars as pl

    values, wrong = fen_of(pl.Series([text]))
    assert bool(wrong[0]) == bad
    if not bad:
        assert int(values[0]) == fen


def test_every_code_has_a_known_source_and_is_found() -> None:
    for column, code, medins_id, _, source in CODES:
        assert source in SOURCES
        assert mapped(column, code) == medins_id
    assert mapped("hosp_lv", "2") == "3"  # an integer column drops the leading zero of 02
    assert mapped("insutype", "340") is None


def test_the_batchs_own_rejects_name_the_extracts_row_column_and_value(tmp_path: Path) -> None:
    """A region without a rule pack is refused by the settlement itself: told in the extract's words."""
    rows = [STORY, dict(STORY, setl_id="S2", psn_no="P2", insu_admdvs="990000")]
    code, diff, rejects, summary = audit(tmp_path, str(write(tmp_path / "setl.csv", rows)), "--lang", "en")
    assert code == 3
    ((row, file, setl_id, column, value),) = [
        (r["row"], r["file"], r["setl_id"], r["column"], r["value"]) for r in rejects
    ]
    assert (row, file, setl_id, column, value) == ("3", "setl", "S2", "insu_admdvs", "990000")
    assert {r["setl_id"]: r["status"] for r in diff} == {"S1": "matched", "S2": "not_settled"}
    assert summary["records"]["not_settled"] == 1


def test_a_gbk_extract_of_one_hospital_with_treated_in(tmp_path: Path) -> None:
    """GBK, as an office's Excel saves it; no mdtrtarea_admvs column: --treated-in gives the place."""
    head = [h for h in HEAD if h != "mdtrtarea_admvs"]
    zh = {"psn_no": "人员编号", "med_type": "医疗类别", "assistance": "救助类别", "filing_category": "备案类别"}
    path = tmp_path / "setl.csv"
    with path.open("w", encoding="gbk", newline="") as f:
        w = csv.writer(f)
        w.writerow([zh.get(h, h) for h in head])
        w.writerow([STORY[h] for h in head])
    code, diff, rejects, _ = audit(tmp_path, str(path), "--treated-in", "北京市")
    assert (code, rejects) == (0, [])
    assert (diff[0]["visit_region"], diff[0]["status"]) == ("110000", "matched")


def test_a_missing_column_stops_the_audit_naming_it(tmp_path: Path) -> None:
    head = [h for h in HEAD if h != "hifp_pay"]
    path = write(tmp_path / "setl.csv", [{h: STORY[h] for h in head}], head)
    result = CliRunner().invoke(cli, ["audit", str(path), "-o", str(tmp_path / "d.csv"), "--lang", "en"])
    assert result.exit_code == 1
    assert "SETL lacks required columns: hifp_pay" in result.output
    assert not (tmp_path / "d.csv").exists()


def test_civil_servant_subsidy_is_reported_apart_not_as_a_difference(tmp_path: Path) -> None:
    """The platform paid 2,000 of the 9,690 personal share from the civil-servant subsidy: funds
    60,310 = 58,310 + 2,000, personal 7,690. medins compares 58,310 and 9,690."""
    paid = dict(STORY, cvlserv_pay="2000.00", fund_pay_sumamt="60310.00", psn_pay="7690.00")
    code, diff, _, summary = audit(tmp_path, str(write(tmp_path / "setl.csv", [paid])))
    assert code == 0
    assert (diff[0]["platform_fund_total"], diff[0]["platform_personal_total"]) == ("58310.00", "9690.00")
    assert diff[0]["unmodelled_funds"] == "2000.00"
    assert summary["unmodelled_funds"]["cvlserv_pay"] == "2000.00"


def test_an_xlsx_id_excel_stored_as_a_number_is_a_reject_saying_to_re_export_as_text(tmp_path: Path) -> None:
    """Excel keeps 15 significant digits of a number: the 18-digit psn_no 130125199001011234 typed
    into a number cell is stored as 1.30125199001011E+17 and shows as 130125199001011000, another
    person's number. The record is rejected naming row 2, psn_no and that value; the next record,
    whose IDs are text (and a short setl_id stored as the number 12345, kept whole), is settled."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(HEAD)
    sheet.append([130125199001011234.0 if h == "psn_no" else STORY[h] for h in HEAD])
    sheet.append([12345 if h == "setl_id" else STORY[h] for h in HEAD])
    path = tmp_path / "setl.xlsx"
    book.save(path)
    code, diff, rejects, _ = audit(tmp_path, str(path), "--lang", "en")
    assert code == 3
    ((row, file, column, value, reason),) = [
        (r["row"], r["file"], r["column"], r["value"], r["reason"]) for r in rejects
    ]
    assert (row, file, column, value) == ("2", "setl", "psn_no", "130125199001011000")
    assert "digits beyond 15 are lost: format the column as text" in reason
    assert [(r["setl_id"], r["status"]) for r in diff] == [("12345", "matched")]


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("a,b,c\r\n S1 ,\u3000x\u00a0,\x1c\r\nS2,,y\r\n", True),  # padded cells, CRLF: stripped as the chunks are
        ("a,b,c\nS1,x,y\nS2,,z", True),  # no line end after the last record
        ('a,b,c\nS1,"x,1",y\n', False),  # a quote: read by chunks
        ("a,b,c\nS1,x\nS2,y,z,w\n", False),  # cell counts that add up but differ line by line
        ("a,b,c\nS1,x,y\r\n", True),  # line ends of both kinds
        ("a,b,c\nS1\rx,y,z\n", False),  # a lone carriage return
        ("a,b,c\n , ,\u3000\nS2,x,y\n", False),  # a record of empty cells
    ],
)
def test_a_plain_extract_read_at_once_as_the_batch_reads_it_by_chunks(tmp_path: Path, text: str, plain: bool) -> None:
    import polars as pl

    from medins.audit import read_plain
    from medins.batch.read import NotRegular, read_chunk, record_chunks
    from medins.tabular import open_csv

    path = tmp_path / "setl.csv"
    path.write_bytes(text.encode("utf-8"))
    table, _ = open_csv(path, "utf-8", lambda header: len(header))
    whole = read_plain(table)
    try:
        chunks: pl.DataFrame | None = pl.concat([read_chunk(table, c, "_record") for c in record_chunks(table)])
    except NotRegular:
        chunks = None
    if plain:
        assert whole is not None and chunks is not None
        assert whole.equals(chunks)
    else:
        assert whole is None
