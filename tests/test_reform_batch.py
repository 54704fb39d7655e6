"""``medins batch --reform``: every bill settled under the rules and under the reformed rules.

- a reform that changes nothing changes no amount: every ``change_…`` is 0.00;
- a reform of one insured place (Shijiazhuang 130100, the shipped example) changes only that
  place's rows, and of those only the referred patients';
- three bills worked by hand.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from medins.batch import BatchOptions, run_batch
from medins.batch.compare import REFORM_AMOUNTS
from medins.cli import cli

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "reforms" / "reform-referral-5-points.toml"
SHIPPED = (ROOT / "rules" / "130100" / "standards.toml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory, generate_month: Any) -> Path:
    folder = tmp_path_factory.mktemp("month")
    generate_month(2000, 4, 11, folder)
    return folder


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _settle(month: Path, out: Path, reform: Path | None, **options: object) -> list[dict[str, str]]:
    out.mkdir()
    run_batch(
        BatchOptions(
            month / "bills.csv",
            out / "out.csv",
            items=month / "items.csv",
            summary=out / "summary.json",
            lang="en",
            reform=reform,
            **options,  # type: ignore[arg-type]
        )
    )
    return _rows(out / "out.csv")


def test_a_reform_that_changes_nothing_changes_no_amount(month: Path, tmp_path: Path) -> None:
    # the referral reduction set to what it is (0.10): the offsite section written out as shipped
    same = EXAMPLE.read_text(encoding="utf-8").replace("value = 0.05 }    # was 0.10", "value = 0.10 }")
    assert "value = 0.10 }" in same and "0.05" not in same.split("[[regions")[1]
    reform = tmp_path / "same.toml"
    reform.write_text(same, encoding="utf-8")
    rows = _settle(month, tmp_path / "o", reform)
    plain = _settle(month, tmp_path / "p", None)
    assert len(rows) == len(plain) > 1900
    for row, before in zip(rows, plain, strict=True):
        assert {k: row[k] for k in before} == before  # the rules' own columns as without a reform
        for c in REFORM_AMOUNTS:
            assert row[f"reform_{c}"] == row[c], (row["bill_id"], c)
            assert row[f"change_{c}"] == "0.00", (row["bill_id"], c)
        assert row["reform_settlement"] == row["settlement"] and row["reform_rejected"] == ""
    summary = json.loads((tmp_path / "o" / "summary.json").read_text(encoding="utf-8"))
    assert all(v == "0.00" for v in summary["reform"]["overall"]["change"].values())


def test_a_reform_of_one_place_changes_only_its_referred_patients(month: Path, tmp_path: Path) -> None:
    rows = _settle(month, tmp_path / "o", EXAMPLE, jobs=2, memory=2**20)
    changed = [r for r in rows if any(r[f"change_{c}"] != "0.00" for c in REFORM_AMOUNTS)]
    assert changed, "the reform changed no bill"
    assert {r["insured_region"] for r in changed} == {"130100"}
    # a referred patient's bill, or a later bill of the same person, whose year-to-date amounts the
    # referral bill changed (another category's bill of a person never referred is unchanged)
    referred = {r["person_id"] for r in rows if r["benefit_category"] == "referral" and r["insured_region"] == "130100"}
    assert {r["person_id"] for r in changed} <= referred
    assert any(r["benefit_category"] == "referral" for r in changed)
    for r in changed:
        change = {c: Decimal(r[f"change_{c}"]) for c in REFORM_AMOUNTS}
        tiers = change["basic_fund"] + change["critical_illness_fund"] + change["large_amount_fund"]
        assert tiers + change["medical_assistance_fund"] == change["fund_total"] == -change["personal_total"]
    # a smaller reduction: the basic fund pays more on the whole, the patients less (a single bill
    # may get less, when the person's earlier bills, paid more, reached a cap sooner)
    assert sum(Decimal(r["change_basic_fund"]) for r in changed) > 0
    assert sum(Decimal(r["change_personal_total"]) for r in changed) < 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text(encoding="utf-8"))["reform"]
    assert summary["changed"] == {"130100": ["standards"]}
    for code, c in summary["by_insured_region"].items():
        assert (c["change"]["fund_total"] != "0.00") == (code == "130100"), code


BILLS = """bill_id,person_id,insured_region,scheme,status,filing_category,filing_destination,filing_start,filing_materials,visit_region,hospital_level,visit_type,admitted,discharged,total,fully_self_paid,over_ceiling,class_b
R1,130102199001010011,130100,resident,general,referral,110000,2025-03-01,insurance_credential;filing_form;referral_certificate,110000,3,inpatient,2025-03-10,2025-03-20,11000.00,0,0,0
R2,130102199001010022,130100,resident,general,long_term_resident,110000,2024-01-01,insurance_credential;filing_form;residence_proof,110000,3,inpatient,2025-03-10,2025-03-20,11000.00,0,0,0
R3,130102199001010033,130100,resident,general,other_temporary,110000,2025-03-01,insurance_credential;filing_form,110000,3,inpatient,2025-03-10,2025-03-20,11000.00,0,0,0
"""


def test_three_bills_worked_by_hand(tmp_path: Path) -> None:
    """Shijiazhuang residents in a Beijing level-3 hospital, first stay of the year, 11,000.00 in scope
    (no self-paid part, no class-B): deductible 1,000, ratio 60 %, less the category's reduction.

    R1 referral, 60 − 10 = 50 %: basic (11,000 − 1,000) × 0.50 = 5,000.00; reformed 60 − 5 = 55 %:
       10,000 × 0.55 = 5,500.00, change +500.00. Burden 11,000 − 5,000 = 6,000 (reformed 5,500) is
       under the critical-illness deductible 15,000: tier 2 pays 0; no assistance group: 0. Patient
       6,000.00 → 5,500.00, change −500.00; fund total +500.00.
    R2 long-term resident, no reduction: 10,000 × 0.60 = 6,000.00 both ways: change 0.00.
    R3 other temporary, 60 − 20 = 40 %: 4,000.00 both ways: change 0.00.
    """
    bills = tmp_path / "bills.csv"
    bills.write_text(BILLS, encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        ["batch", str(bills), "-o", str(tmp_path / "out.csv"), "--reform", str(EXAMPLE), "--lang", "en", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    got = {r["bill_id"]: r for r in _rows(tmp_path / "out.csv")}
    expected = {
        "R1": ("5000.00", "5500.00", "500.00", "6000.00", "5500.00", "-500.00"),
        "R2": ("6000.00", "6000.00", "0.00", "5000.00", "5000.00", "0.00"),
        "R3": ("4000.00", "4000.00", "0.00", "7000.00", "7000.00", "0.00"),
    }
    for bill, (basic, r_basic, d_basic, personal, r_personal, d_personal) in expected.items():
        row = got[bill]
        assert (row["basic_fund"], row["reform_basic_fund"], row["change_basic_fund"]) == (basic, r_basic, d_basic)
        assert (row["personal_total"], row["reform_personal_total"], row["change_personal_total"]) == (
            personal,
            r_personal,
            d_personal,
        )
        assert row["change_fund_total"] == d_basic
        assert row["reform_critical_illness_fund"] == row["reform_medical_assistance_fund"] in ("0.00", "")


def test_a_bad_reform_stops_the_run_before_any_output(tmp_path: Path) -> None:
    bills = tmp_path / "bills.csv"
    bills.write_text(BILLS, encoding="utf-8")
    reform = tmp_path / "bad.toml"
    reform.write_text('name = "x"\nnote = "y"\n[regions.130100.standards]\nnot_a_key = 1\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["batch", str(bills), "-o", str(tmp_path / "out.csv"), "--reform", str(reform)])
    assert result.exit_code == 1
    assert "not_a_key" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out.csv").exists()


CATALOGUE_REFORM = """\
name = "北京目录：乙类药品先行自付 10%→20%"
note = "A hypothetical change of the treatment place's catalogue, to test a reform that splits lines anew."

[[regions.110000.catalogue.settings]]
effective = 2024-01-01
source = "illustrative-beijing-catalogue"
pre_self_pay = { drug = 0.20, service = 0.10, consumable = 0.30 }
herbal_pieces_class = "A"
"""


@pytest.mark.parametrize("which", ["standards", "catalogue"])
def test_a_reform_over_columns_settles_as_bill_by_bill(month: Path, tmp_path: Path, which: str) -> None:
    """The columns read the input once for both sets of rules (a catalogue reform with a line pass of
    its own): every output the same as two runs bill by bill."""
    reform = EXAMPLE
    if which == "catalogue":
        reform = tmp_path / "catalogue.toml"
        reform.write_text(CATALOGUE_REFORM, encoding="utf-8")
    columns = _settle(month, tmp_path / "columns", reform, jobs=2, memory=2**20)
    records = _settle(month, tmp_path / "records", reform, engine="records")
    assert columns == records
    for name in ("out.rejects.csv", "summary.json"):
        assert (tmp_path / "columns" / name).read_bytes() == (tmp_path / "records" / name).read_bytes()
    changed = [r for r in columns if r["change_personal_total"] != "0.00"]
    assert changed and all(
        r["visit_region" if which == "catalogue" else "insured_region"] in ("110000", "130100") for r in changed
    )
    if which == "catalogue":
        assert {r["visit_region"] for r in changed} == {"110000"}
