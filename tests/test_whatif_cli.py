"""`medins compare` and `medins year` on the command line, and the what-if library around the golden cases.

Amounts are the hand-worked ones of tests/golden/compare and tests/golden/year (see their comments).
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from medins import api
from medins.cli import cli
from medins.errors import CaseError, UsageError
from medins.whatif import MAX_SCENARIOS, compare, estimate_year, load_year, parse_vary, settle_year

ROOT = Path(__file__).parent.parent
STORY = str(ROOT / "examples" / "shijiazhuang-resident-beijing.toml")
GOLDEN = Path(__file__).parent / "golden"
YEAR_01 = str(GOLDEN / "year" / "01-resident-deductible-band-cap.toml")
YEAR_02 = str(GOLDEN / "year" / "02-outpatient-annual-deductible.toml")
TEST_RULES = str(GOLDEN / "rules")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.stdout + result.stderr
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


# ----------------------------------------------------------------------------- compare


def test_compare_table_in_english() -> None:
    # golden 01: as given (referral) 9,690.00; unfiled 10,946.00 at home; referral the cheapest
    code, out, err = run("compare", STORY, "--vary", "category=none,referral", "--lang", "en")
    assert (code, err) == (0, "")
    assert out.splitlines()[1:] == [
        "as given: direct settlement, referred patient, total 68,000.00, patient pays 9,690.00",
        "#  filing category   settlement             basic     tier 2  assistance  patient pays  vs as given  cheapest",
        "1  no filing         reimburse at home  18,840.00  17,976.00   20,238.00     10,946.00    +1,256.00",
        "2  referred patient  direct settlement  31,400.00  10,440.00   16,470.00      9,690.00         0.00  ✓",
        "",
        "what to do:",
        "  1. no filing; pay 68,000.00 in full at discharge and claim at home with the receipts",
        "  2. file as referred patient for 110000 (北京市); materials: insurance e-credential, social security card or ID, "
        "cross-province filing form, referral certificate",
    ]
    assert out.startswith("⚠ Note: these estimates use illustrative values")


def test_compare_in_chinese_by_default() -> None:
    code, out, _ = run("compare", STORY, "--vary", "level=1,2,3")
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == "原案：直接结算，异地转诊人员，医疗费 68,000.00，个人负担 9,690.00"
    assert lines[2].split() == [
        "#",
        "医院等级",
        "结算方式",
        "基本医保",
        "大病/大额",
        "医疗救助",
        "个人负担",
        "与原案差额",
        "最省",
    ]
    # level 1: 47,700.00 / 660.00 / 11,580.00 / 8,060.00, the cheapest
    assert lines[3].split() == ["1", "1", "直接结算", "47,700.00", "660.00", "11,580.00", "8,060.00", "-1,630.00", "✓"]
    assert lines[4].split()[-2:] == ["8,715.50", "-974.50"]
    assert "材料：医保电子凭证" in out


def test_compare_json_amounts_are_numbers() -> None:
    code, out, _ = run("compare", STORY, "--vary", "category=none,referral", "--format", "json", "--lang", "en")
    assert code == 0
    assert '"personal_total": 10946.00,' in out  # a number with its two decimals, not a string
    data = json.loads(out, parse_float=Decimal)
    first, second = data["scenarios"]
    assert first["choices"] == {"category": "none"}
    assert (first["personal_total"], first["paid_at_discharge"], first["difference"]) == (
        Decimal("10946.00"),
        Decimal("68000.00"),
        Decimal("1256.00"),
    )
    assert data["cheapest"] == [2] and second["cheapest"] is True and first["cheapest"] is False
    for row in [data["as_given"], *data["scenarios"]]:
        parts = row["basic_fund"] + row["tier2_fund"] + row["medical_assistance_fund"] + row["personal_total"]
        assert parts == row["total"] == Decimal("68000.00")


def test_compare_csv() -> None:
    code, out, _ = run("compare", STORY, "--vary", "category=none,referral", "--format", "csv", "--lang", "en")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["scenario"] for r in rows] == ["as_given", "1", "2"]
    assert [r["category"] for r in rows] == ["", "none", "referral"]
    assert [r["personal_total"] for r in rows] == ["9690.00", "10946.00", "9690.00"]
    assert [r["settlement"] for r in rows] == ["direct", "reimburse_at_home", "direct"]
    assert [r["cheapest"] for r in rows] == ["", "", "yes"]
    assert rows[1]["difference"] == "1256.00"


def test_compare_with_quick_flags() -> None:
    # 50,000 with 8,000 class B: pre-self-pay 800, in-scope 49,200, level 3 deductible 1,000
    # referral (50 %): 48,200 × 0.50 = 24,100.00; burden 25,100; tier 2 (25,100 − 15,000) × 0.60 = 6,060.00
    #   patient 50,000 − 24,100 − 6,060 = 19,840.00
    # none (30 %): 48,200 × 0.30 = 14,460.00; burden 34,740; tier 2 19,740 × 0.60 = 11,844.00
    #   patient 50,000 − 14,460 − 11,844 = 23,696.00 (+3,856.00)
    quick = ["--insured", "130100", "--treated-in", "110000", "--scheme", "resident", "--level", "3"]
    quick += ["--total", "50000", "--class-b", "8000", "--category", "referral", "--date", "2025-03-10"]
    code, out, _ = run("compare", *quick, "--vary", "category=none,referral", "--format", "json")
    assert code == 0
    data = json.loads(out, parse_float=Decimal)
    assert data["as_given"]["personal_total"] == Decimal("19840.00")
    assert [s["personal_total"] for s in data["scenarios"]] == [Decimal("23696.00"), Decimal("19840.00")]
    assert data["scenarios"][0]["difference"] == Decimal("3856.00")


ERRORS = [
    (["--vary", "levle=1,2"], 2, ["--vary levle", "did you mean 'level'"]),
    (["--vary", "level=4"], 2, ["--vary level=4", "1, 2 or 3"]),
    (["--vary", "category=referal"], 2, ["--vary category=referal", "did you mean 'referral'"]),
    (["--vary", "level=1,2", "--vary", "level=3"], 2, ["--vary level", "given twice"]),
    (["--vary", "level=1,2", "--vary", "hospital=H11010100001"], 2, ["level and hospital"]),
    (["--vary", "level=1,,2"], 2, ["--vary level=1,,2", "empty value"]),
    (["--vary", "level"], 2, ["'level' is not NAME=V1,V2"]),
    ([], 2, ["--vary", "nothing to vary"]),
    (["--vary", "treated-in=999999"], 2, ["--vary treated-in=999999", "unknown region code"]),
    (["--vary", "as-of=2025-13-01"], 2, ["--vary as-of=2025-13-01", "not a date"]),
    (["--vary", "hospital=X1"], 2, ["--vary hospital=X1", "H followed by 11 digits"]),
    (["--vary", "scheme=employee"], 2, ["--vary scheme=employee", "--vary group=in_service,retired"]),
    (["--vary", "level=1", "--total", "5"], 2, ["--total cannot be given with a case file"]),
    (["--vary", "treated-in=230400"], 1, ["--vary treated-in=230400", "visit.region", "no catalogue pack for"]),
    (
        ["--vary", "scheme=employee", "--vary", "group=retire"],
        1,
        ["--vary scheme=employee group=retire", "unknown status 'retire'", "one of in_service, retired"],
    ),
]


@pytest.mark.parametrize(("args", "exit_code", "fragments"), ERRORS, ids=[" ".join(e[0]) or "none" for e in ERRORS])
def test_compare_errors(args: list[str], exit_code: int, fragments: list[str]) -> None:
    code, out, err = run("compare", STORY, *args, "--lang", "en")
    assert (code, out) == (exit_code, "")
    assert err.startswith("medins: error: ") and err.count("\n") == 1
    for fragment in fragments:
        assert fragment in err


def test_compare_refuses_more_than_200_scenarios() -> None:
    # 7 × 3 × 3 × 2 × 2 = 252 scenarios
    many = [
        "--vary",
        "category=none,referral,emergency,other_temporary,relocated_retiree,long_term_resident,stationed_worker",
    ]
    many += ["--vary", "level=1,2,3", "--vary", "treated-in=110000,310000,130100", "--vary", "scheme=employee,resident"]
    many += ["--vary", "as-of=2025-01-01,2025-06-01"]
    code, out, err = run("compare", STORY, *many, "--lang", "en")
    assert (code, out) == (2, "")
    assert "= 252 scenarios, more than 200" in err and "give fewer values" in err
    assert MAX_SCENARIOS == 200
    # 200 exactly is allowed by the check
    assert (
        len(
            parse_vary(
                ["level=1,2", "as-of=" + ",".join(f"2025-{m:02d}-{d:02d}" for m in range(1, 5) for d in range(1, 26))]
            )
        )
        == 2
    )


def test_compare_without_quick_flags_names_compare() -> None:
    code, _, err = run("compare", "--insured", "130100", "--vary", "category=none", "--lang", "en")
    assert code == 2
    assert err.startswith("medins: error: medins compare: without a case file, give --treated-in")


def test_a_group_of_the_other_scheme_is_said_not_to_apply() -> None:
    code, out, _ = run("compare", STORY, "--vary", "group=retired", "--lang", "en")
    assert code == 0
    assert "  1. group retired does not apply to the resident scheme; file as referred patient" in out


def test_compare_local_visit_needs_no_filing() -> None:
    # treated in the insured place itself: 130100 has no catalogue, so give pre_self_pay exactly
    case = api.parse_case(
        {
            "person": {"insured_region": "130100", "scheme": "resident"},
            "visit": {"region": "110000", "hospital_level": 3, "type": "inpatient", "admitted": "2025-03-10"},
            "summary": {"total": "10000", "pre_self_pay": "0"},
        }
    )
    result = compare(case, {"treated-in": ["130100"]})
    (s,) = result.scenarios
    assert s.settlement.eligibility.place == "local"
    assert s.todo[0].en == "treated in the insured place: no filing"
    # local standard, level 3: (10,000 − 1,000) × 60 % = 5,400.00; patient 4,600.00
    assert (s.settlement.basic_fund, s.settlement.personal_total) == (Decimal("5400.00"), Decimal("4600.00"))


# ----------------------------------------------------------------------------- year


def test_year_table_in_english() -> None:
    code, out, err = run("year", YEAR_02, "--rules", TEST_RULES, "--lang", "en")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert [line.split()[0] for line in lines[3:7]] == ["1", "2", "3", "4"]
    assert lines[7].split() == ["year", "2,550.00", "1,000.00", "0.00", "0.00", "1,550.00"]
    assert lines[-2:] == [
        "  #2 2025-03-01: basic: deductible met at 200.00",
        "  #3 2025-04-01: basic: annual cap reached, 250.00 above it",
    ]


def test_year_json_and_csv() -> None:
    code, out, _ = run("year", YEAR_01, "--format", "json", "--lang", "en")
    assert code == 0
    assert '"basic_fund": 200000.00,' in out
    data = json.loads(out, parse_float=Decimal)
    assert [b["visit"] for b in data["bills"]] == [2, 4, 3, 1]
    assert [b["label"] for b in data["bills"]] == ["stay 1", "stay 2", "stay 3", "stay 4"]
    assert data["totals"]["personal_total"] == Decimal("80000.00")
    assert data["ytd_after"]["admissions"] == 4
    code, out, _ = run("year", YEAR_01, "--format", "csv", "--lang", "en")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["visit"] for r in rows] == ["2", "4", "3", "1", "totals"]
    assert rows[-1]["total"] == "401000.00" and rows[-1]["tier2_fund"] == "121000.00"
    assert "critical-illness insurance: next band from 100,000.00, ratio 60% → 70%" in rows[2]["crossings"]


YEAR_HEAD = """[person]
insured_region = "130100"
scheme = "resident"
"""
VISIT = """
[[visits]]
region = "110000"
hospital_level = 3
type = "inpatient"
admitted = 2025-03-10
summary = { total = 1000.00 }
"""

YEAR_ERRORS = [
    (YEAR_HEAD + VISIT.replace("[[visits]]", "[[visit]]"), ["visit: unknown key 'visit'", "did you mean 'visits'"]),
    (YEAR_HEAD, ["visits: no [[visits]]"]),
    (YEAR_HEAD + VISIT + VISIT.replace("1000.00", "-5"), ["visits[1].summary.total", "-5"]),
    (YEAR_HEAD + VISIT.replace("hospital_level", "hospital_lvl"), ["visits[0].hospital_lvl", "hospital_level"]),
    (
        YEAR_HEAD + VISIT + VISIT.replace('"110000"', '"230400"'),
        ["visits[1]", "no catalogue pack for the treatment place"],
    ),
    (YEAR_HEAD.replace("resident", "residant") + VISIT, ["person.scheme", "residant"]),
]


@pytest.mark.parametrize(("text", "fragments"), YEAR_ERRORS, ids=range(len(YEAR_ERRORS)))
def test_year_errors(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = tmp_path / "year.toml"
    path.write_text(text, encoding="utf-8")
    code, out, err = run("year", str(path), "--lang", "en")
    assert (code, out) == (1, "")
    assert err.startswith(f"medins: error: {path}: ")
    for fragment in fragments:
        assert fragment in err


def test_year_missing_file() -> None:
    code, out, err = run("year", "no-such-year.toml", "--lang", "en")
    assert (code, out) == (1, "")
    assert "no-such-year.toml" in err


# ----------------------------------------------------------------------------- the library


def test_settle_year_from_cases_starts_from_the_given_ytd() -> None:
    year_file = load_year(YEAR_01)
    # as if stay 1 (in-scope 20,000; 1st stay) had been settled before: the three others only
    rest = [c for c in year_file.cases if c.visit.admitted != date(2025, 3, 10)]
    first = estimate_year(YEAR_01).bills[0].settlement.ytd_after
    year = settle_year(rest, ytd=first)
    assert [b.settlement.basic_fund for b in year.bills] == [
        Decimal("17700.00"),
        Decimal("119700.00"),
        Decimal("51200.00"),
    ]
    assert year.ytd_after.admissions == 4


def test_settle_year_refuses_another_person_and_ytd_after_the_first() -> None:
    cases = list(load_year(YEAR_01).cases)
    other = cases[1].model_copy(update={"person": cases[1].person.model_copy(update={"id": "someone-else"})})
    with pytest.raises(CaseError) as exc:
        settle_year([cases[0], other])
    assert exc.value.where == "cases[1]: person.id"
    with pytest.raises(CaseError) as exc:
        settle_year([cases[0], cases[1].model_copy(update={"ytd": cases[0].ytd.model_copy(update={"admissions": 1})})])
    assert exc.value.where == "cases[1]: ytd"


def test_a_new_calendar_year_starts_from_zero() -> None:
    cases = list(load_year(YEAR_01).cases)  # stay 4 (2025-07-01) moved to 2026: a 1st stay again
    moved = cases[0].model_copy(update={"visit": cases[0].visit.model_copy(update={"admitted": date(2026, 1, 5)})})
    year = settle_year([moved, *cases[1:]])
    last = year.bills[-1].settlement
    # 2026, 1st stay: (150,000 − 1,000) × 60 % = 89,400.00, the cap far away; tier 2 from zero:
    # burden 60,600 − 15,000 = 45,600 × 60 % = 27,360.00
    assert (last.basic_fund, last.tier2_fund) == (Decimal("89400.00"), Decimal("27360.00"))
    assert "YTD_OTHER_YEAR" not in {w.code for w in last.warnings}


def test_year_with_rules_of_another_date_still_carries_the_year() -> None:
    # the rules of 2024-06-01 are those of 2025 here (130100 sections run from 2024-01-01): same year
    year = estimate_year(YEAR_01, as_of=date(2024, 6, 1))
    assert year.ytd_after.admissions == 4 and year.ytd_after.year == 2025
    assert year.totals["basic_fund"] == Decimal("200000.00")


def test_parse_vary_errors_are_usage_errors() -> None:
    with pytest.raises(UsageError) as exc:
        parse_vary(["category=none", "category=referral"])
    assert exc.value.exit_code == 2


def test_import_of_the_cli_does_not_load_the_what_if_library() -> None:
    code = "import sys, medins.cli; print('medins.whatif' in sys.modules, 'medins.cli_whatif' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def test_readme_compare_output_is_real() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## What if", 1)[1].split("\n## ", 1)[0]
    command = "$ medins compare examples/shijiazhuang-resident-beijing.toml --vary category=none,referral,long_term_resident\n"
    block = section.split(command, 1)[1].split("\n```", 1)[0]
    code, out, _ = run("compare", STORY, "--vary", "category=none,referral,long_term_resident")
    assert code == 0
    assert out.rstrip("\n") == block


def test_readme_year_file_settles(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### A year for one person", 1)[1]
    path = tmp_path / "year.toml"
    path.write_text(section.split("```toml\n", 1)[1].split("```", 1)[0], encoding="utf-8")
    # 2nd stay of the year ([ytd] admissions = 1): (20,000 − 500) × 60 % = 11,700.00; patient 9,300.00
    (bill,) = estimate_year(path).bills
    assert (bill.label, bill.settlement.basic_fund, bill.settlement.personal_total) == (
        "March stay",
        Decimal("11700.00"),
        Decimal("9300.00"),
    )


def test_another_place_reclassifies_the_lines_and_says_what_it_lacks() -> None:
    jiaxing = str(ROOT / "examples" / "jiaxing-retiree-shanghai-outpatient.toml")
    code, out, _ = run("compare", jiaxing, "--vary", "treated-in=310000,110000", "--lang", "en")
    assert code == 0
    lines = out.splitlines()
    assert lines[-1].startswith("     warning ITEM_NOT_IN_CATALOGUE: line 1 'SH-SVC-0001'")
    assert lines[-2].startswith("  2. file as relocated retiree for 110000")
    result = compare(api.load_case(jiaxing), {"treated-in": ["110000"]})
    (s,) = result.scenarios
    assert s.case.filing is not None and s.case.filing.destination == "110000"
    assert s.settlement.fully_self_paid > result.base.fully_self_paid  # the Shanghai service item


def test_vary_takes_the_flags_vocabulary() -> None:
    # the same scenarios as category=none,referral × level=3 × treated-in=310000 × as-of=2025-03-10
    code, out, _ = run(
        "compare", STORY, "--vary", "category=不备案,异地转诊", "--vary", "level=三级", "--vary", "treated-in=上海市",
        "--vary", "as-of=2025/3/10", "--format", "json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out, parse_float=Decimal)
    assert [s["choices"] for s in data["scenarios"]] == [
        {"category": "none", "level": 3, "treated-in": "310000", "as-of": "2025-03-10"},
        {"category": "referral", "level": 3, "treated-in": "310000", "as-of": "2025-03-10"},
    ]
    assert [s["personal_total"] for s in data["scenarios"]] == [Decimal("10946.00"), Decimal("9690.00")]


# ----------------------------------------------------------------------------- properties

CATEGORY_VALUES = ["none", "relocated_retiree", "referral", "emergency", "other_temporary"]


@settings(max_examples=25, deadline=None)
@given(
    total=st.integers(min_value=100, max_value=2_000_000),
    shares=st.tuples(st.integers(0, 100), st.integers(0, 100)),
    categories=st.lists(st.sampled_from(CATEGORY_VALUES), min_size=1, max_size=3, unique=True),
    levels=st.lists(st.sampled_from([1, 2, 3]), min_size=1, max_size=3, unique=True),
)
def test_every_scenario_reconciles_and_the_cheapest_is_the_least(
    total: int, shares: tuple[int, int], categories: list[str], levels: list[int]
) -> None:
    self_paid = Decimal(total * min(shares[0], 50)) / 100
    class_b = Decimal(total * min(shares[1], 50)) / 100
    case = api.parse_case(
        {
            "person": {"insured_region": "130100", "scheme": "resident", "assistance": "subsistence"},
            "filing": {"category": "referral", "destination": "110000", "start": "2025-03-01"},
            "visit": {"region": "110000", "hospital_level": 3, "type": "inpatient", "admitted": "2025-03-10"},
            "summary": {"total": str(total), "fully_self_paid": str(self_paid), "class_b": str(class_b)},
        }
    )
    result = compare(
        case, {"category": [*categories, "referral"] if "referral" not in categories else categories, "level": levels}
    )
    least = min(s.settlement.personal_total for s in result.scenarios)
    for s in result.scenarios:
        t = s.settlement
        assert t.total == t.basic_fund + t.tier2_fund + t.medical_assistance_fund + t.personal_total
        assert min(t.basic_fund, t.tier2_fund, t.medical_assistance_fund, t.personal_total) >= 0
        assert s.difference == t.personal_total - result.base.personal_total
        assert s.cheapest == (
            t.personal_total == least
            and t.paid_at_discharge
            == min(x.settlement.paid_at_discharge for x in result.scenarios if x.settlement.personal_total == least)
        )
        if dict(s.choices) == {"category": "referral", "level": 3}:
            # the case as given, filed again as a referral from the service date: the same amounts
            assert (t.basic_fund, t.personal_total, s.difference) == (
                result.base.basic_fund,
                result.base.personal_total,
                Decimal(0),
            )


def test_estimate_of_a_year_file_settles_the_year() -> None:
    """``medins estimate`` given a file with [[visits]] settles it as ``medins year`` does."""
    path = GOLDEN / "year" / "01-resident-deductible-band-cap.toml"
    for fmt in ("table", "json"):
        year = CliRunner().invoke(cli, ["year", str(path), "--format", fmt])
        via_estimate = CliRunner().invoke(cli, ["estimate", str(path), "--format", fmt])
        assert year.exit_code == via_estimate.exit_code == 0, via_estimate.output
        assert via_estimate.output == year.output
        assert "401,000.00" in year.output or '"401000.00"' in year.output or "401000.00" in year.output
