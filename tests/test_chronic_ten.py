"""Ten cross-province chronic outpatient diseases (医保办发〔2024〕19号): the vocabulary, the shipped packs'
dated sections, and check, estimate and batch for the five added diseases.

The notice could not be read; its reports (新华社 2024-09-14, 人民日报 2024-09-18, a Guizhou municipal
repost with the document number) name the five added diseases — 慢性阻塞性肺疾病、类风湿关节炎、冠心病、
病毒性肝炎、强直性脊柱炎 — and require every pooling region to provide direct settlement by the end of
2024. The shipped packs settle them across provinces from 2025-01-01, with each pack's diabetes terms as
illustrative values.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from medins import api
from medins.batch.values import norm_choice
from medins.cli import cli
from medins.codes import NATIONAL_CHRONIC
from medins.i18n import LABELS
from medins.loader import in_force, shipped_rules_dir
from medins.vocab import choice, known

FIRST_FIVE = ("hypertension", "diabetes", "cancer_chemoradiotherapy", "uremia_dialysis", "transplant_antirejection")
ADDED = {
    "copd": "慢性阻塞性肺疾病",
    "rheumatoid_arthritis": "类风湿关节炎",
    "coronary_heart_disease": "冠心病",
    "viral_hepatitis": "病毒性肝炎",
    "ankylosing_spondylitis": "强直性脊柱炎",
}
PACKS = ("110000", "130100", "230400", "310000", "330400")
NOTICE = "医保办发〔2024〕19号"
GOLDEN = Path(__file__).parent / "golden"


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args))


# ----------------------------------------------------------------------------- vocabulary


def test_the_national_list_has_ten_diseases_the_first_five_first() -> None:
    assert (*FIRST_FIVE, *ADDED) == NATIONAL_CHRONIC


@pytest.mark.parametrize("disease", sorted(ADDED))
def test_each_added_disease_has_the_reports_chinese_name_and_an_english_label(disease: str) -> None:
    zh, en = LABELS[disease]
    assert zh == ADDED[disease]
    assert en.isascii() and en and en != disease


@pytest.mark.parametrize(
    ("name", "disease"),
    [
        ("慢性阻塞性肺疾病", "copd"),
        ("慢阻肺", "copd"),
        ("慢性阻塞性肺病", "copd"),
        ("COPD", "copd"),
        ("chronic obstructive pulmonary disease", "copd"),
        ("类风湿关节炎", "rheumatoid_arthritis"),
        ("类风湿性关节炎", "rheumatoid_arthritis"),
        ("Rheumatoid arthritis", "rheumatoid_arthritis"),
        ("冠心病", "coronary_heart_disease"),
        ("冠状动脉粥样硬化性心脏病", "coronary_heart_disease"),
        ("coronary-heart-disease", "coronary_heart_disease"),
        ("病毒性肝炎", "viral_hepatitis"),
        ("强直性脊柱炎", "ankylosing_spondylitis"),
        ("ankylosing_spondylitis", "ankylosing_spondylitis"),
    ],
)
def test_flags_and_case_files_read_the_added_diseases_by_name(name: str, disease: str) -> None:
    assert choice("disease", name) == disease
    assert known("disease", name)


def test_a_batch_cell_reads_the_added_diseases_by_chinese_name_or_id() -> None:
    for disease, zh in ADDED.items():
        assert norm_choice("disease", zh) == disease
        assert norm_choice("chronic_diseases", zh) == disease
        assert norm_choice("disease", disease.upper()) == disease
    # and by the shared vocabulary's short names, as flags and case files read them
    assert norm_choice("disease", "慢阻肺") == "copd"
    assert norm_choice("chronic_diseases", "类风湿性关节炎") == "rheumatoid_arthritis"
    assert (norm_choice("disease", "恶性肿瘤"), norm_choice("filing_category", "转诊")) == (
        "cancer_chemoradiotherapy",
        "referral",
    )


# ----------------------------------------------------------------------------- the shipped packs


def _schemes() -> list[tuple[str, str]]:
    rules = api.load_rules(shipped_rules_dir())
    out = []
    for code in PACKS:
        std = rules.packs[code].standards
        for scheme in ("employee", "resident"):
            part = getattr(std, scheme)
            if part is not None and any(s.cross_province for s in part.chronic):
                out.append((code, scheme))
    return out


SCHEMES = _schemes()


def test_every_pack_and_scheme_with_cross_province_diseases_is_covered() -> None:
    assert len(SCHEMES) == 10  # five packs, both schemes


def _chronic(code: str, scheme: str, on: date):  # type: ignore[no-untyped-def]
    std = api.load_rules(shipped_rules_dir()).packs[code].standards
    return std, in_force(getattr(std, scheme).chronic, on, "chronic", code)


@pytest.mark.parametrize(("code", "scheme"), SCHEMES)
def test_the_added_diseases_are_cross_province_from_2025(code: str, scheme: str) -> None:
    _, before = _chronic(code, scheme, date(2024, 12, 31))
    _, after = _chronic(code, scheme, date(2025, 1, 1))
    assert before.until == date(2024, 12, 31) and after.effective == date(2025, 1, 1)
    assert tuple(before.cross_province) == FIRST_FIVE
    assert tuple(after.cross_province) == (*FIRST_FIVE, *ADDED)
    assert not set(ADDED) & set(before.diseases)


@pytest.mark.parametrize(("code", "scheme"), SCHEMES)
def test_the_first_five_keep_their_terms_and_the_added_ones_take_diabetes_terms(code: str, scheme: str) -> None:
    _, before = _chronic(code, scheme, date(2024, 12, 31))
    _, after = _chronic(code, scheme, date(2025, 1, 1))
    for disease in FIRST_FIVE:
        assert after.diseases[disease] == before.diseases[disease], disease
    for disease in ADDED:
        assert after.diseases[disease] == after.diseases["diabetes"], disease


@pytest.mark.parametrize(("code", "scheme"), SCHEMES)
def test_the_2025_section_cites_the_reports_as_secondary_and_the_local_terms_as_illustrative(
    code: str, scheme: str
) -> None:
    std, after = _chronic(code, scheme, date(2025, 1, 1))
    cited = [std.sources[s] for s in after.source_ids]
    reports = [s for s in cited if s.document == NOTICE]
    assert len(reports) == 3
    assert {s.confidence for s in reports} == {"secondary"}
    assert all(s.url and s.quote and s.verified for s in reports)
    quotes = "".join(s.quote or "" for s in reports)
    assert all(zh in quotes for zh in ADDED.values())
    assert "从5种增加到10种" in quotes and "2024年底前" in quotes
    local = [s for s in cited if s.confidence == "illustrative" and s.note and "糖尿病" in s.note]
    assert local and all("未读到原文" in (s.note or "") for s in local)
    # the section before 2025 cites none of it: its values are today's
    _, before = _chronic(code, scheme, date(2024, 12, 31))
    assert not any(std.sources[s].document == NOTICE for s in before.source_ids)


@pytest.mark.parametrize("code", PACKS)
def test_each_pack_notes_the_ten_diseases_and_its_date(code: str) -> None:
    std = api.load_rules(shipped_rules_dir()).packs[code].standards
    notes = " ".join(std.notes)
    assert NOTICE in notes and "2025-01-01" in notes and "二手资料" in notes


def test_the_shipped_packs_validate() -> None:
    result = run("rules", "validate", "--lang", "en")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert " 0 errors, 0 unexplained warnings" in result.output  # type: ignore[attr-defined]


def test_validate_offers_an_added_disease_for_a_misspelt_id(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(shipped_rules_dir(), rules)
    path = rules / "130100" / "standards.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('  "rheumatoid_arthritis",\n', '  "rheumatoid_arthritus",\n', 1), encoding="utf-8")
    result = run("rules", "validate", str(rules), "--lang", "en")
    assert result.exit_code == 1
    out = result.output  # type: ignore[attr-defined]
    assert "employee.chronic[1].cross_province[6]" in out
    assert "'rheumatoid_arthritus'" in out and "did you mean 'rheumatoid_arthritis'" in out


# ----------------------------------------------------------------------------- check and estimate

QUICK = [
    "--insured", "石家庄市", "--treated-in", "北京市", "--scheme", "职工", "--status", "在职", "--level", "3",
    "--type", "门诊慢特病", "--total", "3000", "--category", "异地长期居住",
]  # fmt: skip


def _quick(disease: str, day: str) -> dict:  # type: ignore[type-arg]
    result = run("estimate", *QUICK, "--disease", disease, "--date", day, "--format", "json", "--lang", "en")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return json.loads(result.stdout)  # type: ignore[attr-defined]


@pytest.mark.parametrize("disease", sorted(ADDED))
def test_a_quick_estimate_settles_an_added_disease_directly_from_2025(disease: str) -> None:
    # 130100 employee, level 3 (diabetes's terms): deductible 200, 80 %, long-term resident: no reduction
    # (3000.00 − 200.00) × 80 % = 2240.00
    out = _quick(ADDED[disease], "2025-01-01")
    assert out["eligibility"]["settlement"] == "direct"
    assert (out["deductible"], out["basic_fund"], out["personal_total"]) == ("200.00", "2240.00", "760.00")
    assert "CHRONIC_AS_OUTPATIENT" not in {w["code"] for w in out["warnings"]}


@pytest.mark.parametrize("disease", sorted(ADDED))
def test_before_2025_an_added_disease_is_not_settled_across_provinces(disease: str) -> None:
    # as any disease outside cross_province: reimbursed at home, estimated as general outpatient
    # 130100 employee outpatient (in service): deductible 200, 60 %: (3000.00 − 200.00) × 60 % = 1680.00
    out = _quick(disease, "2024-12-31")
    assert out["eligibility"]["settlement"] == "reimburse_at_home"
    assert [r["code"] for r in out["eligibility"]["reasons"]] == ["DISEASE_NOT_COVERED"]
    assert {"CHRONIC_AS_OUTPATIENT", "REIMBURSE_AT_HOME"} <= {w["code"] for w in out["warnings"]}
    assert (out["basic_fund"], out["paid_at_discharge"]) == ("1680.00", "3000.00")


def test_the_trail_cites_the_notice_only_when_the_2025_section_is_used() -> None:
    after = json.dumps(_quick("copd", "2025-03-10")["sources"], ensure_ascii=False)
    before = json.dumps(_quick("copd", "2024-12-31")["sources"], ensure_ascii=False)
    assert NOTICE in after and NOTICE not in before


CASE = """
[person]
insured_region = "310000"
scheme = "resident"
status = "adult"
chronic_diseases = ["{disease}"]

[filing]
category = "referral"
destination = "110000"
start = 2024-12-01
materials = ["insurance_credential", "filing_form", "referral_certificate"]

[visit]
region = "110000"
hospital_level = 3
type = "chronic_outpatient"
disease = "{disease}"
date = {day}

[summary]
total = 1000.00
"""


@pytest.mark.parametrize("disease", [*ADDED.values(), "慢阻肺"])
@pytest.mark.parametrize(("day", "eligible"), [("2024-12-31", False), ("2025-01-01", True)])
def test_check_of_a_case_file_names_the_disease_by_chinese_name(
    tmp_path: Path, disease: str, day: str, eligible: bool
) -> None:
    case = tmp_path / "case.toml"
    case.write_text(CASE.format(disease=disease, day=day), encoding="utf-8")
    result = run("check", str(case), "--format", "json", "--lang", "en")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    out = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert out["eligible"] is eligible
    codes = {r["code"] for r in out["reasons"]}
    assert ("DISEASE_NOT_COVERED" in codes) is not eligible


def test_a_person_not_approved_for_an_added_disease_is_told_so(tmp_path: Path) -> None:
    case = tmp_path / "case.toml"
    text = CASE.format(disease="copd", day="2025-02-03").replace(
        'chronic_diseases = ["copd"]', 'chronic_diseases = ["diabetes"]'
    )
    case.write_text(text, encoding="utf-8")
    out = json.loads(run("check", str(case), "--format", "json", "--lang", "en").stdout)  # type: ignore[attr-defined]
    assert out["eligible"] is False
    assert [r["code"] for r in out["reasons"]] == ["NOT_APPROVED_FOR_DISEASE"]


# ----------------------------------------------------------------------------- batch

BILLS = """bill_id,person_id,insured_region,scheme,status,chronic_diseases,filing_category,filing_destination,filing_start,filing_materials,visit_region,hospital_level,visit_type,disease,date,total
B1,P1,130100,职工,在职,慢性阻塞性肺疾病,异地长期居住,110000,2024-06-01,社保卡;备案表;居住证,110000,3,门诊慢特病,慢性阻塞性肺疾病,2024-12-31,3000
B2,P1,130100,职工,在职,慢性阻塞性肺疾病,异地长期居住,110000,2024-06-01,社保卡;备案表;居住证,110000,3,门诊慢特病,慢性阻塞性肺疾病,2025-01-02,3000
B3,P2,330400,职工,在职,强直性脊柱炎,异地转诊,310000,2025-09-01,社保卡;备案表;转诊证明,310000,3,门诊慢特病,ankylosing_spondylitis,2025-09-09,5000
"""


def test_batch_settles_the_added_diseases_from_chinese_cells(tmp_path: Path) -> None:
    bills = tmp_path / "bills.csv"
    bills.write_text(BILLS, encoding="utf-8")
    out = tmp_path / "out.csv"
    result = run("batch", str(bills), "-o", str(out), "--quiet", "--lang", "en")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    rows = {r["bill_id"]: r for r in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")))}
    # B1, 2024-12-31: not yet cross-province → at home, as a general outpatient visit (deductible 200, 60 %)
    assert (rows["B1"]["settlement"], rows["B1"]["reasons"]) == ("reimburse_at_home", "DISEASE_NOT_COVERED")
    assert rows["B1"]["basic_fund"] == "1680.00"
    # B2, 2025-01-02: the chronic terms (deductible 200 a year for copd, not yet paid for it; 80 %)
    assert (rows["B2"]["settlement"], rows["B2"]["basic_fund"]) == ("direct", "2240.00")
    # B3: 330400 referral, first self-pay 10 %: 5000.00 × 90 % × 80 % = 3600.00
    assert (rows["B3"]["settlement"], rows["B3"]["offsite_self_pay"], rows["B3"]["basic_fund"]) == (
        "direct",
        "500.00",
        "3600.00",
    )


def test_the_golden_cases_cover_each_added_disease() -> None:
    diseases: set[str] = set()
    for case in sorted((GOLDEN / "estimate").glob("6*-chronic-*.toml")):
        parsed = api.load_case(case)
        if parsed.visit.date_ and parsed.visit.date_ >= date(2025, 1, 1):
            diseases.add(parsed.visit.disease or "")
    assert diseases == set(ADDED)
