"""``medins batch --explain BILL``: one bill of a file settled as the run settles it, with its trail."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner, Result

from medins.batch import OUT_AMOUNTS
from medins.cli import EXIT_OK, EXIT_REJECTS, EXIT_USAGE, cli

FIX = Path(__file__).parent / "fixtures" / "batch"


def explain(*args: str | Path, lang: str = "en") -> Result:
    return CliRunner().invoke(cli, ["batch", *map(str, args), "--lang", lang])


def test_a_later_bill_carries_the_earlier_bill_of_its_person() -> None:
    result = explain(FIX / "bills.csv", "--items", FIX / "items.csv", "--explain", "B001", "--format", "json")
    assert result.exit_code == EXIT_OK, result.output
    data = json.loads(result.output)
    # B001 (20 March) is the second admission of person 130102198001011234: B003 (2 March, row 4) is
    # settled first. Worked from the fixture's lines and 130100's resident values:
    #   in scope: line 1 420.00 class-B drug, 42.00 over its ceiling, 10 % of 378.00 = 37.80 first paid
    #   → 340.20; line 2 800.00 class A; line 3 900.00 class-B consumable, 100.00 over, 30 % of 800.00
    #   = 240.00 → 560.00; line 4 31.00 class A: 340.20 + 800.00 + 560.00 + 31.00 = 1,731.20
    #   deductible of a second admission at level 3: [1000, 500][2] = 500.00
    #   ratio 60 % lowered 10 points for a referral = 50 %: (1,731.20 − 500.00) × 50 % = 615.60
    #   critical illness: 6,100.00 + 1,115.60 is below its 15,000 deductible → 0.00
    #   assistance (subsistence, 75 %): its deductible passed with B003 → (1,731.20 − 615.60) × 75 % = 836.70
    #   patient: 2,151.00 − 615.60 − 836.70 = 698.70
    assert data["bill"] == {"row": 2, "bill_id": "B001", "earlier_bills": 1}
    assert (data["in_scope"], data["deductible"], data["basic_fund"]) == ("1731.20", "500.00", "615.60")
    assert (data["critical_illness_fund"], data["medical_assistance_fund"]) == ("0.00", "836.70")
    assert data["personal_total"] == "698.70"
    assert [s["step"] for s in data["trail"]][:4] == ["eligibility", "lines", "deductible_admission", "deductible"]


def test_the_explained_amounts_are_the_runs(tmp_path: Path) -> None:
    run = explain(FIX / "bills.csv", "--items", FIX / "items.csv", "-o", tmp_path / "out.csv", "--quiet")
    assert run.exit_code in (EXIT_OK, EXIT_REJECTS), run.output
    with (tmp_path / "out.csv").open(encoding="utf-8-sig", newline="") as f:
        settled = {r["bill_id"]: r for r in csv.DictReader(f)}
    for bid, row in settled.items():
        got = explain(FIX / "bills.csv", "--items", FIX / "items.csv", "--explain", bid, "--format", "json")
        data = json.loads(got.output)
        assert {k: data[k] for k in OUT_AMOUNTS} == {k: row[k] for k in OUT_AMOUNTS}, bid


def test_a_row_number_names_the_bill_and_the_table_shows_the_trail() -> None:
    result = explain(FIX / "bills.csv", "--items", FIX / "items.csv", "--explain", "2", lang="zh")
    assert result.exit_code == EXIT_OK, result.output
    assert "单据 B001（第 2 行）；同一人此前已结算 1 张单据" in result.output
    assert "(1731.20 − 500.00) × 50% = 615.60" in result.output


def test_a_rejected_bill_says_why_and_exits_3() -> None:
    result = explain(FIX / "dup-bills.csv", "--items", FIX / "dup-items.csv", "--explain", "3")
    assert result.exit_code == EXIT_OK, result.output  # D002 is settled; the duplicate D001 is not
    assert result.output.startswith("bill D002 (row 3); 0 earlier bills")
    result = explain(FIX / "dup-bills.csv", "--items", FIX / "dup-items.csv", "--explain", "2")
    assert result.exit_code == EXIT_REJECTS, result.output
    assert result.output.startswith("bill D001 (row 2) is rejected, not settled:")
    assert "bills 2 bill_id: bill_id D001 is shared by rows 2, 4" in result.output
    assert "items 3 bill_id: its bill_id D001 is duplicated (bills rows 2, 4)" in result.output


def test_an_unknown_bill_is_a_usage_error() -> None:
    result = explain(FIX / "bills.csv", "--items", FIX / "items.csv", "--explain", "B999")
    assert result.exit_code == EXIT_USAGE
    assert "BILLS has no bill with id or row 'B999'" in result.output
    assert "Traceback" not in result.output
