"""Each shipped pack carries the figures its cited texts give.

The expected figure is typed from the quoted text of the source named beside it, not from the pack.
Values no text confirms are illustrative: for those the test checks that the pack's note states the
value the pack uses, so that the note a user reads tells the truth.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from medins.api import load_rules
from medins.loader import in_force
from medins.rules_model import Standards

D = Decimal
ON = date(2025, 6, 1)
RULES = load_rules(None)


def std(code: str) -> Standards:
    return RULES.standards(code)


def rate(benefit, group: str, level: int):  # type: ignore[no-untyped-def]
    return next(r for r in benefit.rates if r.matches(group, level))


def test_every_source_is_complete_and_honest() -> None:
    for code, pack in RULES.packs.items():
        for model in (pack.standards, pack.catalogue):
            if model is None:
                continue
            for sid, source in model.sources.items():
                assert source.confidence != "primary", f"{code}:{sid}: no primary text was read for the packs"
                if source.confidence == "secondary":
                    assert source.url and source.quote and source.verified, f"{code}:{sid}"
                else:
                    assert source.note, f"{code}:{sid}"


# --- 310000 上海市 -------------------------------------------------------------------------------
# sh-resident-faq-2024 (english.shanghai.gov.cn, 2024-09-05): "Deductibles per visit: 50 yuan
# (level-1), 100 yuan (level-2), 300 yuan (level-3)"; outpatient deductible 300 yuan (0–18, 60+),
# 500 yuan (19–59); personal share 30 % / 40 % / 50 % at level 1 / 2 / 3; major illness insurance
# covers "60 percent of personal expenses".
def test_shanghai_residents_match_the_city_faq() -> None:
    s = std("310000").resident
    inpatient = in_force(s.inpatient, ON, "inpatient", "")
    assert [rate(inpatient, "adult", lv).deductible_for(1) for lv in (1, 2, 3)] == [D(50), D(100), D(300)]
    outpatient = in_force(s.outpatient, ON, "outpatient", "")
    assert rate(outpatient, "minor", 1).deductible_for(1) == D(300)
    assert rate(outpatient, "adult", 1).deductible_for(1) == D(500)
    assert rate(outpatient, "aged_70_plus", 1).deductible_for(1) == D(300)
    assert [rate(outpatient, "adult", lv).bands[0].ratio for lv in (1, 2, 3)] == [D("0.70"), D("0.60"), D("0.50")]
    tier2 = in_force(s.tier2, ON, "tier2", "")
    assert tier2.bands[0].ratio == D("0.60") and tier2.source == "sh-resident-faq-2024"


# sh-assistance-2018 (shine.cn, 2018-06-29): 低保 families 90 %, annual cap 130,000 yuan; 50 % for
# families in poverty due to medical expenses.
def test_shanghai_assistance_matches_the_2018_report() -> None:
    a = in_force(std("310000").assistance, ON, "assistance", "").categories
    assert (a["subsistence"].ratio, a["subsistence"].cap) == (D("0.90"), D(130000))
    assert a["illness_poverty"].ratio == D("0.50")


# --- 230400 鹤岗市 -------------------------------------------------------------------------------
# hlj-employee-outpatient-2023 (hospital notice): "普通门诊统筹年度累计起付标准为400元;起付标准以上部分,
# 三级医疗机构支付比例为50%" … retirees 5 points more … "统筹基金年度最高支付限额为3000元".
def test_hegang_employee_outpatient_matches_the_notice() -> None:
    o = in_force(std("230400").employee.outpatient, ON, "outpatient", "")
    assert o.deductible_basis == "year" and o.cap == D(3000) and o.cap_mode == "fund"
    assert rate(o, "in_service", 3).deductible_for(1) == D(400)
    assert rate(o, "in_service", 3).bands[0].ratio == D("0.50")
    assert rate(o, "retired", 3).bands[0].ratio == D("0.55")


# --- 130100 石家庄市 ------------------------------------------------------------------------------
# sjz-employee-2023 (reposted city notice): outpatient pooling cap 3500 yuan (in service, under 45),
# 6000 yuan (retired); 60 % in service, 70 % retired; chronic-disease outpatient deductible 200 yuan,
# 90 % at level 1.
def test_shijiazhuang_employees_match_the_reposted_notice() -> None:
    e = std("130100").employee
    o = in_force(e.outpatient, ON, "outpatient", "")
    assert (rate(o, "in_service", 2).cap, rate(o, "retired", 2).cap) == (D(3500), D(6000))
    assert (rate(o, "in_service", 2).bands[0].ratio, rate(o, "retired", 2).bands[0].ratio) == (D("0.60"), D("0.70"))
    c = in_force(e.chronic, ON, "chronic", "").diseases["hypertension"]
    c_rate = rate(c, "in_service", 1)
    assert c_rate.deductible_for(1) == D(200) and c_rate.bands[0].ratio == D("0.90")


# --- national framework, as quoted by local guides ------------------------------------------------
# national-offsite-guide: "异地转诊人员和异地急诊抢救人员支付比例的降幅不超过10个百分点……其他跨省临时外出
# 就医人员支付比例的降幅不超过20个百分点"; national-filing-guide: "跨省异地长期居住人员,备案长期有效;
# 跨省临时外出就医人员,备案有效期原则上不少于6个月".
@pytest.mark.parametrize("code", ["110000", "130100", "230400"])
def test_points_reductions_within_the_national_maxima(code: str) -> None:
    cats = in_force(std(code).offsite, ON, "offsite", "").categories
    assert cats["referral"].mode == "points" and cats["referral"].value <= D("0.10")
    assert cats["emergency"].value <= D("0.10")
    assert cats["other_temporary"].value <= D("0.20")
    for long_term in ("relocated_retiree", "long_term_resident", "stationed_worker"):
        assert cats[long_term].mode == "none"


@pytest.mark.parametrize("code", ["110000", "130100", "230400", "310000", "330400"])
def test_filing_validity_as_the_national_rule(code: str) -> None:
    rules = in_force(std(code).filing, ON, "filing", "").categories
    for long_term in ("relocated_retiree", "long_term_resident", "stationed_worker"):
        assert rules[long_term].validity_months is None  # 长期有效
    for temporary in ("referral", "other_temporary"):
        assert rules[temporary].validity_months >= 6  # 不少于6个月


# national-assistance-guidance (国办发〔2021〕42号, local copy): 低保边缘 deductible about 10 % of last
# year's per-capita disposable income, 因病致贫 about 25 %; 特困/低保 at least 70 %.
@pytest.mark.parametrize("code", ["110000", "130100", "230400", "330400"])
def test_assistance_follows_the_national_guidance(code: str) -> None:
    a = in_force(std(code).assistance, ON, "assistance", "").categories
    assert a["marginal"].deductible_share == D("0.10")
    assert a["illness_poverty"].deductible_share == D("0.25")
    assert a["extreme_poverty"].ratio >= D("0.70") and a["subsistence"].ratio >= D("0.70")


# --- illustrative packs: the note a user reads states the values the pack uses -------------------
NOTED = {
    # 110000 illustrative-beijing: "职工住院起付线1300元（再次650元），三级医院在职 起付线–3万85%、3万–4万90%、4万–10万95%"
    "110000": lambda s: (
        rate(in_force(s.employee.inpatient, ON, "", ""), "in_service", 3).deductible == [D(1300), D(650)]
        and [b.ratio for b in rate(in_force(s.employee.inpatient, ON, "", ""), "in_service", 3).bands]
        == [D("0.85"), D("0.90"), D("0.95")]
    ),
    # 330400 illustrative-jiaxing: "居民住院起付线300/600/900元、85/75/65%"
    "330400": lambda s: (
        [rate(in_force(s.resident.inpatient, ON, "", ""), "general", lv).deductible_for(1) for lv in (1, 2, 3)]
        == [D(300), D(600), D(900)]
    ),
    # 230400 illustrative-hegang: "大病保险起付线1.2万元、1.2万–5万60%、5万–10万65%、10万以上75%、封顶35万元"
    "230400": lambda s: (
        in_force(s.resident.tier2, ON, "", "").deductible == D(12000)
        and in_force(s.resident.tier2, ON, "", "").cap == D(350000)
    ),
    # 130100 illustrative-hebei: "居民住院一、二、三级起付线200/500/1000元、比例85%/75%/60%"
    "130100": lambda s: (
        [rate(in_force(s.resident.inpatient, ON, "", ""), "general", lv).bands[0].ratio for lv in (1, 2, 3)]
        == [D("0.85"), D("0.75"), D("0.60")]
    ),
}


@pytest.mark.parametrize("code", sorted(NOTED))
def test_illustrative_note_states_the_values_used(code: str) -> None:
    assert NOTED[code](std(code))
