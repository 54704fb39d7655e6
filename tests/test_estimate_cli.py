"""`medins estimate`: output formats, quick flags, --as-of, and one clear line for each bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from medins.cli import cli

ROOT = Path(__file__).parent.parent
STORY = (ROOT / "examples" / "shijiazhuang-resident-beijing.toml").read_text(encoding="utf-8")
BEFORE_SUMMARY = STORY.split("[summary]")[0]
JSON_KEYS = {
    "total",
    "fully_self_paid",
    "over_ceiling",
    "pre_self_pay",
    "in_scope",
    "deductible",
    "basic_fund",
    "critical_illness_fund",
    "large_amount_fund",
    "medical_assistance_fund",
    "fund_total",
    "personal_total",
    "fund_ratio",
    "warnings",
    "deferred",
    "ytd_after",
    "trail",
}


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_json_has_the_documented_keys_and_string_amounts() -> None:
    result = run("estimate", str(ROOT / "examples" / "shijiazhuang-resident-beijing.toml"), "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert set(data) >= JSON_KEYS
    assert data["total"] == "68000.00" and data["fund_ratio"] == "0.8575"  # 58310 / 68000 = 0.857500
    assert data["ytd_after"]["admissions"] == 1
    assert data["ytd_after"]["tier2_base"] == "32400.00"
    assert [w["code"] for w in data["warnings"]] == ["SUMMARY_PRE_SELF_PAY", "ILLUSTRATIVE_VALUES"]


def test_explain_shows_formulas_in_numbers_and_sources() -> None:
    result = run("estimate", str(ROOT / "examples" / "shijiazhuang-resident-beijing.toml"), "--explain", "--lang", "en")
    assert result.exit_code == 0
    assert "(63800.00 − 1000.00) × 50% = 31400.00" in result.output
    assert "(32400.00 − 15000.00) × 60% = 10440.00" in result.output
    assert "(21960.00 − 0.00) × 75% = 16470.00" in result.output
    assert "130100:illustrative-hebei [illustrative]" in result.output


def test_quick_estimate_from_flags() -> None:
    # 130100 resident, Beijing level 3, referral: 50000 total, 8000 class B -> pre 800.00, in scope 49200.00
    # tier 1: (49200 − 1000) × 50% = 24100.00; burden 25100.00; tier 2: (25100 − 15000) × 60% = 6060.00
    result = run(
        "estimate",
        "--insured",
        "130100",
        "--treated-in",
        "110000",
        "--scheme",
        "resident",
        "--level",
        "3",
        "--total",
        "50000",
        "--class-b",
        "8000",
        "--category",
        "referral",
        "--date",
        "2025-05-01",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["basic_fund"], data["critical_illness_fund"], data["personal_total"]) == (
        "24100.00",
        "6060.00",
        "19840.00",
    )


def test_quick_estimate_names_missing_flags() -> None:
    result = run("estimate", "--insured", "130100", "--lang", "en")
    assert result.exit_code == 1
    assert result.stderr == (
        "medins: error: medins estimate: without a case file, give --treated-in --scheme --level "
        "--total; or give a case file CASE.toml\n"
    )


def test_as_of_chooses_other_rule_values() -> None:
    result = run(
        "estimate",
        str(ROOT / "examples" / "shijiazhuang-resident-beijing.toml"),
        "--as-of",
        "2023-06-01",
        "--lang",
        "en",
    )
    assert result.exit_code == 1
    assert "no offsite rules in force on 2023-06-01" in result.stderr


BAD = {
    "unknown-region": (
        STORY.replace('insured_region = "130100"', 'insured_region = "130199"'),
        "{path}: person.insured_region: unknown region code 130199; check the GB/T 2260 code",
    ),
    "no-pack": (
        STORY.replace('insured_region = "130100"', 'insured_region = "130200"'),
        "{path}: person.insured_region: region 130200 has no insured-place standards; available: 110000 北京市, "
        "130100 石家庄市, 230400 鹤岗市, 310000 上海市, 330400 嘉兴市",
    ),
    "date-outside-rules": (
        STORY.replace("admitted = 2025-03-10", "admitted = 2023-03-10").replace(
            "start = 2025-03-01", "start = 2023-03-01"
        ),
        "130100 standards.toml: no offsite rules in force on 2023-03-10 (effective periods: 2024-01-01–…); "
        "use --as-of with a date in an effective period, or add the rules",
    ),
    "discharge-before-admission": (
        STORY.replace("discharged = 2025-03-22", "discharged = 2025-03-02"),
        "{path}: visit.discharged: discharged 2025-03-02 is before admitted 2025-03-10; check the visit dates",
    ),
    "negative-amount": (
        STORY.replace("total = 68000.00", "total = -68000.00"),
        "{path}: summary.total: must be at least 0",
    ),
    "non-numeric-amount": (
        STORY.replace("total = 68000.00", 'total = "lots"'),
        "{path}: summary.total: should be a number",
    ),
    "amount-mismatch": (
        BEFORE_SUMMARY + '[[items]]\nname = "氨氯地平"\nquantity = 3\nunit_price = 1.00\namount = 3.05\n',
        "{path}: items[0].amount: amount 3.05 differs from quantity × unit_price = 3.00 by more than 0.01",
    ),
    "unknown-scheme": (
        STORY.replace('scheme = "resident"', 'scheme = "farmer"'),
        "{path}: person.scheme: invalid value 'farmer'; expected one of 'employee' or 'resident'",
    ),
    "unknown-status": (
        STORY.replace('scheme = "resident"', 'scheme = "resident"\nstatus = "student"'),
        "{path}: person.status: unknown status 'student'; one of general",
    ),
    "unknown-category": (
        STORY.replace('category = "referral"', 'category = "tourist"'),
        "{path}: filing.category: invalid value 'tourist'; expected one of 'relocated_retiree', "
        "'long_term_resident', 'stationed_worker', 'referral', 'emergency' or 'other_temporary'",
    ),
    "unknown-disease": (
        STORY.replace('type = "inpatient"', 'type = "chronic_outpatient"\ndisease = "gout"'),
        "{path}: visit.disease: unknown disease 'gout'; one of cancer_chemoradiotherapy, diabetes, "
        "hypertension, transplant_antirejection, uremia_dialysis",
    ),
    "items-and-summary": (
        STORY + '\n[[items]]\nname = "氨氯地平"\nquantity = 1\nunit_price = 1\n',
        "{path}: both [[items]] and [summary] given; keep one of them",
    ),
    "no-bill": (BEFORE_SUMMARY, "{path}: no bill: neither [[items]] nor [summary]; add the bill lines or its summary"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_case_gets_one_line_and_exit_1(tmp_path: Path, name: str) -> None:
    text, line = BAD[name]
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    result = run("estimate", str(path), "--lang", "en")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "medins: error: " + line.format(path=path) + "\n"


def test_bad_case_message_in_chinese(tmp_path: Path) -> None:
    path = tmp_path / "case.toml"
    path.write_text(STORY.replace("discharged = 2025-03-22", "discharged = 2025-03-02"), encoding="utf-8")
    result = run("estimate", str(path))
    assert (
        result.stderr
        == f"medins: 错误: {path}: visit.discharged: 出院日 2025-03-02 早于入院日 2025-03-10；请检查就诊日期\n"
    )
