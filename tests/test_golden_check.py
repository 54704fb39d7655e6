"""Golden eligibility cases (``medins check``), the check command's exit codes and error lines, and the
filing checklist (``medins filing requirements``).

Each ``tests/golden/check/NN-name.toml`` is a case; ``NN-name.json`` holds the expected subset of
``medins check --format json``. Its comments work the expected values out from the rule files. Keys of
the JSON:

- ``rules``: optional, a rules directory next to the case (default: the shipped rules);
- ``reason_codes`` / ``blocking_codes``: compared as sets with the codes of ``reasons`` (all, and
  those with ``blocking`` true);
- any other key: compared for equality with the key of the rendered JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from medins import api
from medins.cli import cli
from medins.loader import shipped_rules_dir
from medins.render import eligibility_json

GOLDEN = Path(__file__).parent / "golden" / "check"
CASES = sorted(GOLDEN.glob("*.toml"))

REASON_CODES = {
    "LOCAL_VISIT",
    "IN_PROVINCE",
    "DEEMED_FILED",
    "FILING_MISSING",
    "FILING_EXPIRED",
    "FILING_NOT_YET_VALID",
    "DESTINATION_MISMATCH",
    "PROOF_MISSING",
    "NOT_DESIGNATED",
    "DISEASE_NOT_COVERED",
    "NOT_APPROVED_FOR_DISEASE",
    "RETROACTIVE_OK",
    "EMERGENCY_DEEMED_FILED",
    "SAME_PROVINCE",
    "DESIGNATION_UNKNOWN",
}
CATEGORIES = (
    "relocated_retiree",
    "long_term_resident",
    "stationed_worker",
    "referral",
    "emergency",
    "other_temporary",
)


def expected_of(case_file: Path) -> dict[str, Any]:
    return json.loads(case_file.with_suffix(".json").read_text("utf-8"))


def run_check(case_file: Path) -> dict[str, Any]:
    expected = expected_of(case_file)
    rules_dir = GOLDEN / expected["rules"] if "rules" in expected else shipped_rules_dir()
    case = api.load_case(case_file)
    return eligibility_json(api.check(case, api.load_rules(rules_dir)), "en")


# ----------------------------------------------------------------------------- golden cases


def test_golden_cases_found() -> None:
    assert len(CASES) >= 18
    for case_file in CASES:
        assert case_file.with_suffix(".json").is_file(), f"{case_file.name} has no expected .json"


@pytest.mark.parametrize("case_file", CASES, ids=[c.stem for c in CASES])
def test_golden_check(case_file: Path) -> None:
    expected = expected_of(case_file)
    actual = run_check(case_file)
    codes = [r["code"] for r in actual["reasons"]]
    if "reason_codes" in expected:
        assert set(codes) == set(expected["reason_codes"]), actual["reasons"]
    if "blocking_codes" in expected:
        blocking = {r["code"] for r in actual["reasons"] if r["blocking"]}
        assert blocking == set(expected["blocking_codes"]), actual["reasons"]
    for key, value in expected.items():
        if key in ("rules", "reason_codes", "blocking_codes"):
            continue
        assert key in actual, f"{key} is not in the check output"
        assert actual[key] == value, f"{key}: expected {value!r}, got {actual[key]!r}"


def test_golden_cases_cover_every_reason_code_and_category() -> None:
    codes: set[str] = set()
    categories: set[str] = set()
    for case_file in CASES:
        expected = expected_of(case_file)
        codes.update(expected.get("reason_codes", []))
        if expected.get("category"):
            categories.add(expected["category"])
    assert codes == REASON_CODES
    assert categories == set(CATEGORIES)


# ----------------------------------------------------------------------------- the check command


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("MEDINS_RULES", raising=False)
    monkeypatch.delenv("MEDINS_LANG", raising=False)
    return CliRunner()


def test_check_exits_0_for_an_ineligible_case(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["check", str(GOLDEN / "08-filing-missing.toml"), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["eligible"] is False
    assert data["settlement"] == "reimburse_at_home"


def test_check_table_exits_0_for_an_ineligible_case(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["check", str(GOLDEN / "15-proof-missing.toml"), "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "not eligible for direct settlement" in result.stdout
    assert "PROOF_MISSING" in result.stdout


CASE_HEAD = """\
[person]
insured_region = "130100"
scheme = "resident"

"""
CASE_TAIL = """
[visit]
region = "110000"
hospital_level = 3
type = "inpatient"
admitted = 2025-03-10
discharged = 2025-03-22

[summary]
total = 20000.00
"""

MATERIALS_VALID = (
    "insurance_credential（医保电子凭证、社会保障卡或有效身份证件）, "
    "filing_form（跨省异地就医备案表）, "
    "hukou（户口簿（户籍迁入就医地））, "
    "residence_proof（居住证或居住证明）, "
    "posting_certificate（用人单位派驻证明）, "
    "promise（个人承诺书）, "
    "referral_certificate（参保地定点医疗机构转诊转院证明）"
)

# (id, [filing] table, expected stderr line with {path} for the case file)
BAD_FILINGS = [
    (
        "unknown-category",
        '[filing]\ncategory = "tourist"\ndestination = "110000"\nstart = 2025-03-01\n',
        "medins: error: {path}: filing.category: invalid value 'tourist'; expected one of "
        "'relocated_retiree', 'long_term_resident', 'stationed_worker', 'referral', 'emergency' "
        "or 'other_temporary'",
    ),
    (
        "end-before-start",
        '[filing]\ncategory = "referral"\ndestination = "110000"\nstart = 2025-04-01\nend = 2025-03-01\n',
        "medins: error: {path}: filing.end: end 2025-03-01 is before start 2025-04-01; check the filing's dates",
    ),
    (
        "destination-unknown-code",
        '[filing]\ncategory = "referral"\ndestination = "999999"\nstart = 2025-03-01\n',
        "medins: error: {path}: filing.destination: unknown region code 999999; check the GB/T 2260 code",
    ),
    (
        "destination-five-digits",
        '[filing]\ncategory = "referral"\ndestination = "11000"\nstart = 2025-03-01\n',
        "medins: error: {path}: filing.destination: a region code has 6 digits (got '11000'); "
        "e.g. 110000 Beijing, 130100 Shijiazhuang",
    ),
    (
        "unknown-materials",
        '[filing]\ncategory = "referral"\ndestination = "110000"\nstart = 2025-03-01\n'
        'materials = ["insurance_credential", "passport"]\n',
        "medins: error: {path}: filing.materials: materials the insured place does not know: passport; valid: "
        + MATERIALS_VALID.replace("{", "{{").replace("}", "}}"),
    ),
]


@pytest.mark.parametrize(("filing", "line"), [b[1:] for b in BAD_FILINGS], ids=[b[0] for b in BAD_FILINGS])
def test_check_exits_1_with_one_line(runner: CliRunner, tmp_path: Path, filing: str, line: str) -> None:
    case_file = tmp_path / "case.toml"
    case_file.write_text(CASE_HEAD + filing + CASE_TAIL, "utf-8")
    result = runner.invoke(cli, ["check", str(case_file), "--lang", "en"])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr == line.format(path=case_file) + "\n"


# ----------------------------------------------------------------------------- filing requirements

# The same in every shipped standards.toml, [filing.categories].
REQUIRED = {
    "relocated_retiree": (["insurance_credential", "filing_form"], ["hukou", "residence_proof", "promise"], None),
    "long_term_resident": (["insurance_credential", "filing_form"], ["residence_proof", "promise"], None),
    "stationed_worker": (["insurance_credential", "filing_form"], ["posting_certificate", "promise"], None),
    "referral": (["insurance_credential", "filing_form", "referral_certificate"], [], 6),
    "emergency": (["insurance_credential"], [], None),
    "other_temporary": (["insurance_credential", "filing_form"], [], 6),
}


@pytest.mark.parametrize("insured", ["110000", "130100", "230400", "310000", "330400"])
@pytest.mark.parametrize("category", CATEGORIES)
def test_filing_requirements_json(runner: CliRunner, insured: str, category: str) -> None:
    result = runner.invoke(
        cli, ["filing", "requirements", "--insured", insured, "--category", category, "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    required, one_of, months = REQUIRED[category]
    assert data["insured"] == insured
    assert data["category"] == category
    assert [m["id"] for m in data["materials_required"]] == required
    assert [m["id"] for m in data["materials_one_of"]] == one_of
    assert all(m["name"] for m in data["materials_required"] + data["materials_one_of"])
    assert data["validity_months"] == months


# The 130100 referral checklist, worked out from rules/130100/standards.toml:
#   [filing.categories] referral = { required = [...3], validity_months = 6 }; destination_level = "province";
#   retroactive_before_settlement = true; channels = [3]; referral = points 0.10; unfiled = points 0.30;
#   sources: [[filing]] national-filing-guide, illustrative-hebei-offsite + [[offsite]] national-offsite-guide
#   (illustrative-hebei-offsite once: it is the same source). The table names them: both guides by their
#   document 医保发〔2022〕22号 (once), the illustrative source by its pack, 示意值（石家庄市待遇）.
REFERRAL_130100_ZH = """\
130100 石家庄市 · 异地转诊人员
所需材料：医保电子凭证、社会保障卡或有效身份证件；跨省异地就医备案表；参保地定点医疗机构转诊转院证明
有效期：6 个月
备案就医地精确到：省
入院后、出院结算前补办备案，仍可直接结算
办理渠道：国家医保服务平台APP；国家异地就医备案小程序；参保地医保经办窗口
备案后待遇：支付比例降低 10 个百分点
未备案：支付比例降低 30 个百分点，回参保地手工报销
依据：医保发〔2022〕22号；示意值（石家庄市待遇）
"""

REFERRAL_130100_EN = """\
130100 石家庄市 · referred patient
materials: insurance e-credential, social security card or ID; cross-province filing form; referral certificate
valid for 6 months
destination at the level of: province
filing after admission but before discharge settlement still settles directly
where to file: 国家医保服务平台APP; 国家异地就医备案小程序; 参保地医保经办窗口
benefit with this filing: ratio lowered by 10 percentage points
without a filing: ratio lowered by 30 percentage points, reimbursed at home
sources: 医保发〔2022〕22号; illustrative (石家庄市 standards)
"""


@pytest.mark.parametrize(("lang", "text"), [("zh", REFERRAL_130100_ZH), ("en", REFERRAL_130100_EN)], ids=["zh", "en"])
def test_filing_requirements_table_130100_referral(runner: CliRunner, lang: str, text: str) -> None:
    result = runner.invoke(
        cli, ["filing", "requirements", "--insured", "130100", "--category", "referral", "--lang", lang]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == text
