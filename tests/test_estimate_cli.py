"""`medins estimate`: output formats, quick flags, --as-of, and one clear line for each bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from medins.api import estimate, parse_case
from medins.cli import cli
from medins.engine.eligibility import add_months, validity_end
from medins.errors import CaseError
from medins.money import MAX_AMOUNT, parse_money
from medins.render import ASCII_BAR, settlement_table

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

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
    # a source by its document number, an illustrative one by the pack it is in, with its note
    assert "  医保发〔2022〕22号 [secondary] 国家医疗保障局 财政部" in result.output
    assert "  illustrative (石家庄市 standards) — 未读到石家庄市或河北省的政策原文" in result.output
    assert "  [国办发〔2021〕42号, illustrative (石家庄市 standards)]" in result.output


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
    assert result.exit_code == 2  # a usage error
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
        STORY.replace("admitted = 2025-03-10", "admitted = 2023-03-10")
        .replace("discharged = 2025-03-22", "discharged = 2023-03-22")
        .replace("start = 2025-03-01", "start = 2023-03-01"),
        "130100 standards.toml: no offsite rules in force on 2023-03-10 (effective periods: 2024-01-01–…); "
        "use --as-of with a date in an effective period, or add the rules",
    ),
    "discharge-before-admission": (
        STORY.replace("discharged = 2025-03-22", "discharged = 2025-03-02"),
        "{path}: visit.discharged: discharged 2025-03-02 is before admitted 2025-03-10; check the visit dates",
    ),
    "negative-amount": (
        STORY.replace("total = 68000.00", "total = -68000.00"),
        "{path}: summary.total: amount -68000.00 is negative; amounts are 0 or more",
    ),
    "non-numeric-amount": (
        STORY.replace("total = 68000.00", 'total = "lots"'),
        "{path}: summary.total: 'lots' is not an amount; write digits and a decimal point; "
        "a thousands separator only between groups of three (1,234.50)",
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
        "{path}: visit.disease: unknown disease 'gout'; one of ankylosing_spondylitis, cancer_chemoradiotherapy, "
        "copd, coronary_heart_disease, diabetes, hypertension, rheumatoid_arthritis, transplant_antirejection, "
        "uremia_dialysis, viral_hepatitis",
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


# ----------------------------------------------------------------------------- amount text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,234.50", "1234.50"),
        ("1,234,567", "1234567"),
        ("1，234.50", "1234.50"),
        ("¥12", "12"),
        ("12元", "12"),
        ("68000.00", "68000.00"),
        (".5", "0.5"),
        ("1e3", "1E+3"),
    ],
)
def test_amount_text_that_is_read(text: str, value: str) -> None:
    assert str(parse_money(text)) == value


@pytest.mark.parametrize(
    "text", ["5000,50", "1,23", "12,,3", ",123", "1,234.", "1,2345", "1_000", "nan", "inf", "-Infinity", "", "1 234"]
)
def test_amount_text_that_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_money(text)


def _story(**changes: str) -> dict[str, Any]:
    data = tomllib.loads(STORY, parse_float=Decimal)
    for key, value in changes.items():
        section, name = key.split("__")
        data[section][name] = value
    return data


@pytest.mark.parametrize(
    ("changes", "where", "message"),
    [
        (
            {"summary__total": "1e27"},
            "case: summary.total",
            "amount '1e27' is above the ceiling of 10,000,000,000 yuan; check the unit and the digits (amounts are in yuan)",
        ),
        (
            {"summary__total": "10000000000.01"},
            "case: summary.total",
            "amount '10000000000.01' is above the ceiling of 10,000,000,000 yuan; "
            "check the unit and the digits (amounts are in yuan)",
        ),
        (
            {"summary__pre_self_pay": "70000", "summary__class_b": "0"},
            "case: summary.pre_self_pay",
            "fully_self_paid 3000.00 + over_ceiling 0 + pre_self_pay 70000 = 73000.00, more than total 68000.00; "
            "the parts must fit in the total",
        ),
        (
            {"visit__admitted": 20250310},
            "case: visit.admitted",
            "20250310 is a number, not a date; write 2025-03-10 (a TOML date, without quotes)",
        ),
        (
            {"visit__hospital_level": True},
            "case: visit.hospital_level",
            "hospital level true is not valid; hospital levels are 1, 2 or 3",
        ),
    ],
)
def test_a_bad_mapping_is_one_case_error(changes: dict[str, Any], where: str, message: str) -> None:
    with pytest.raises(CaseError) as err:
        parse_case(_story(**changes))
    assert (err.value.where, err.value.message.en) == (where, message)


def test_pre_self_pay_without_class_b_is_used_when_it_fits() -> None:
    # a settlement slip gives the pre-self-pay, not the class-B amount: 3000 + 1500 fit in 68000
    data = _story(summary__pre_self_pay="1500")
    del data["summary"]["class_b"]
    assert parse_case(data).summary.pre_self_pay == Decimal("1500")  # type: ignore[union-attr]


def test_the_largest_bill_settles_without_overflow() -> None:
    s = estimate(parse_case(_story(summary__total=str(MAX_AMOUNT), summary__class_b="0")))
    assert s.total == MAX_AMOUNT
    assert s.basic_fund + s.tier2_fund + s.medical_assistance_fund + s.personal_total == s.total


def test_validity_past_the_last_day_of_the_calendar_ends_there() -> None:
    assert validity_end(date(9999, 7, 1), 6) == date.max
    assert validity_end(date(9999, 6, 30), 6) == date(9999, 12, 29)
    assert add_months(date(9999, 12, 31), 1) == date.max


# ----------------------------------------------------------------------------- the command line


def test_flags_beside_a_case_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "case.toml"
    path.write_text(STORY, encoding="utf-8")
    result = run("estimate", str(path), "--total", "1000", "--insured", "230400", "--lang", "en")
    assert result.exit_code == 2
    assert result.stderr == (
        f"medins: error: {path}: --insured --total cannot be given with a case file; "
        "change the case file, or give only the flags\n"
    )


def test_a_misspelt_choice_gets_the_nearest_value_and_exit_2() -> None:
    result = run("estimate", "--insured", "130100", "--category", "refferal", "--lang", "en")
    assert result.exit_code == 2
    assert result.stderr == (
        "medins: error: --category: invalid value 'refferal'; did you mean 'referral'? one of relocated_retiree, "
        "long_term_resident, stationed_worker, referral, emergency, other_temporary\n"
    )


def test_a_quick_estimate_names_the_flag_of_a_bad_amount() -> None:
    result = run(
        "estimate", "--insured", "130100", "--treated-in", "110000", "--scheme", "resident", "--level", "3",
        "--total", "1000", "--self-paid", "5000,50", "--lang", "en",
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.startswith("medins: error: --self-paid: '5000,50' is not an amount; ")


def test_as_of_is_not_called_the_visit_in_the_drug_list_warning(tmp_path: Path) -> None:
    path = tmp_path / "case.toml"
    items = '[[items]]\nname = "注射用艾普拉唑钠"\nspec = "10mg/支"\nquantity = 6\nunit_price = 70.00\n'
    path.write_text(BEFORE_SUMMARY + items, encoding="utf-8")
    result = run("estimate", str(path), "--as-of", "2024-06-01", "--format", "json", "--lang", "en")
    assert result.exit_code == 0, result.output
    warning = next(w for w in json.loads(result.output)["warnings"] if w["code"] == "DRUG_LIST_OUT_OF_DATE")
    assert warning["message"] == (
        "drug list nrdl-2024 applies 2025-01-01–2025-12-31; the rule date --as-of 2024-06-01 is outside it"
    )


def test_the_bar_falls_back_to_ascii_glyphs() -> None:
    s = estimate(parse_case(_story()))
    bar, legend = settlement_table(s, "en", glyphs=ASCII_BAR).split("[", 1)[1].split("\n")[:2]
    assert set(bar.rstrip("]")) <= set(ASCII_BAR) and bar.startswith("#")
    assert legend.startswith("# basic medical insurance")


@pytest.mark.parametrize(
    ("args", "want"),
    [
        (["estimate", str(ROOT / "examples" / "shijiazhuang-resident-beijing.toml"), "--explain"], ["! ", "[#"]),
        (["check", "{case}"], ["x 备案有效期至 2025-03-05"]),
        (["rules", "list"], ["130100"]),
    ],
)
def test_a_gbk_console_gets_what_it_can_show(tmp_path: Path, args: list[str], want: list[str]) -> None:
    case = tmp_path / "case.toml"
    case.write_text(STORY.replace("filed_on = 2025-03-01", "filed_on = 2025-03-01\nend = 2025-03-05"), "utf-8")
    env = {k: v for k, v in os.environ.items() if k != "MEDINS_RULES"} | {"PYTHONIOENCODING": "gbk"}
    proc = subprocess.run(
        [sys.executable, "-m", "medins", *(a.replace("{case}", str(case)) for a in args), "--lang", "zh"],
        capture_output=True,
        env=env,
        timeout=120,
    )
    out = proc.stdout.decode("gbk")
    assert proc.returncode == 0, proc.stderr.decode("gbk", errors="replace")
    assert proc.stderr == b""
    for word in want:
        assert word in out
