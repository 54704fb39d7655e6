"""Bilingual text: every user-facing message and label exists in Chinese and English.

Chinese is the default language; English on request (``--lang en``, ``MEDINS_LANG=en``, or an
English locale).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

Lang = Literal["zh", "en"]


@dataclass(frozen=True)
class Text:
    """A message in both languages."""

    zh: str
    en: str

    def __call__(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en

    def __str__(self) -> str:  # the English form is what logs and exceptions show
        return self.en

    def format(self, **kw: object) -> Text:
        return Text(self.zh.format(**kw), self.en.format(**kw))

    def __add__(self, other: Text) -> Text:
        return Text(self.zh + other.zh, self.en + other.en)


def default_lang() -> Lang:
    """The language when none is asked for: MEDINS_LANG, else an English locale gives English, else Chinese."""
    env = os.environ.get("MEDINS_LANG", "").lower()
    if env in ("zh", "en"):
        return env  # type: ignore[return-value]
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            return "en" if value.lower().startswith("en") else "zh"
    return "zh"


# One table of labels for the concepts of the domain, keyed by the ids used in code, rule files
# and CSV columns.
LABELS: dict[str, tuple[str, str]] = {
    # schemes and person groups
    "employee": ("职工医保", "employee scheme"),
    "resident": ("城乡居民医保", "resident scheme"),
    "in_service": ("在职", "in service"),
    "retired": ("退休", "retired"),
    # visit types
    "inpatient": ("住院", "inpatient"),
    "outpatient": ("普通门诊", "general outpatient"),
    "chronic_outpatient": ("门诊慢特病", "chronic/special-disease outpatient"),
    # off-site categories and groups
    "relocated_retiree": ("异地安置退休人员", "relocated retiree"),
    "long_term_resident": ("异地长期居住人员", "long-term resident"),
    "stationed_worker": ("常驻异地工作人员", "stationed worker"),
    "referral": ("异地转诊人员", "referred patient"),
    "emergency": ("急诊抢救人员", "emergency patient"),
    "other_temporary": ("其他临时外出就医人员", "other temporary visitor"),
    "unfiled": ("未备案", "not filed"),
    "long_term": ("长期异地", "long-term"),
    "temporary": ("临时外出", "temporary"),
    # chronic diseases
    "hypertension": ("高血压", "hypertension"),
    "diabetes": ("糖尿病", "diabetes"),
    "cancer_chemoradiotherapy": ("恶性肿瘤门诊放化疗", "cancer outpatient chemo/radiotherapy"),
    "uremia_dialysis": ("尿毒症透析", "uraemia dialysis"),
    "transplant_antirejection": ("器官移植术后抗排异治疗", "anti-rejection therapy after transplant"),
    "copd": ("慢性阻塞性肺疾病", "chronic obstructive pulmonary disease"),
    "rheumatoid_arthritis": ("类风湿关节炎", "rheumatoid arthritis"),
    "coronary_heart_disease": ("冠心病", "coronary heart disease"),
    "viral_hepatitis": ("病毒性肝炎", "viral hepatitis"),
    "ankylosing_spondylitis": ("强直性脊柱炎", "ankylosing spondylitis"),
    # assistance categories
    "extreme_poverty": ("特困人员", "extreme poverty"),
    "subsistence": ("低保对象", "subsistence allowance"),
    "marginal": ("低保边缘人员", "marginal low-income"),
    "relapse_monitored": ("防返贫监测对象", "monitored for relapse into poverty"),
    "illness_poverty": ("因病致贫重病患者", "poverty caused by illness"),
    "orphan": ("孤儿", "orphan"),
    # tiers and amounts
    "total": ("医疗费总额", "total expenses"),
    "fully_self_paid": ("全自费", "fully self-paid"),
    "over_ceiling": ("超限价自付", "over price ceiling"),
    "pre_self_pay": ("乙类先行自付", "class-B pre-self-pay"),
    "offsite_self_pay": ("异地先行自付", "off-site first self-pay"),
    "in_scope": ("符合政策范围", "in scope"),
    "personal_burden": ("政策范围内个人负担", "policy-scope personal burden"),
    "deductible": ("起付线", "deductible"),
    "basic_fund": ("基本医保统筹支付", "basic medical insurance"),
    "critical_illness_fund": ("大病保险支付", "critical-illness insurance"),
    "large_amount_fund": ("大额医疗补助支付", "large-amount supplement"),
    "medical_assistance_fund": ("医疗救助支付", "medical assistance"),
    "fund_total": ("基金支付合计", "funds in total"),
    "personal_total": ("个人负担", "patient pays"),
    "fund_ratio": ("基金支付比例", "fund ratio"),
    "critical_illness": ("大病保险", "critical-illness insurance"),
    "large_amount": ("大额医疗费用补助", "large-amount supplement"),
    # confidence
    "primary": ("原文核实", "primary"),
    "secondary": ("二手资料", "secondary"),
    "illustrative": ("示意值", "illustrative"),
    # settlement
    "direct": ("直接结算", "direct settlement"),
    "reimburse_at_home": ("回参保地手工报销", "reimburse at home"),
    "local": ("参保地标准", "local standard"),
    "reduced": ("降低标准", "reduced standard"),
    # reasons of the eligibility check (their short names; the codes stay in the JSON)
    "LOCAL_VISIT": ("参保地本地就医", "local visit"),
    "IN_PROVINCE": ("省内异地就医", "in-province off-site visit"),
    "SAME_PROVINCE": ("省内异地、无省内规则", "same province, no in-province rules"),
    "DEEMED_FILED": ("视同备案", "deemed filed"),
    "FILING_MISSING": ("未备案", "no filing"),
    "FILING_EXPIRED": ("备案已过期", "filing expired"),
    "FILING_NOT_YET_VALID": ("备案尚未生效", "filing not yet valid"),
    "RETROACTIVE_OK": ("出院结算前补办备案", "filed before discharge settlement"),
    "EMERGENCY_DEEMED_FILED": ("急诊抢救视同备案", "emergency deemed filed"),
    "DESTINATION_MISMATCH": ("备案就医地不符", "filed for another place"),
    "PROOF_MISSING": ("备案材料不全", "filing proof missing"),
    "NOT_DESIGNATED": ("非跨省联网定点机构", "not a designated institution"),
    "DESIGNATION_UNKNOWN": ("未核对定点机构", "designation not checked"),
    "DISEASE_NOT_COVERED": ("该病种不跨省直接结算", "disease not settled across provinces"),
    "NOT_APPROVED_FOR_DISEASE": ("未认定该病种", "not approved for the disease"),
    # adjustment modes
    "points": ("降低百分点", "percentage points lower"),
    "multiplier": ("比例乘以系数", "ratio multiplied"),
    "extra_pre_self_pay": ("先行自付一定比例", "extra first self-pay share"),
    "none": ("不降低", "no reduction"),
    # filing materials (a pack may name others; these are the usual ones)
    "insurance_credential": (
        "医保电子凭证、社会保障卡或有效身份证件",
        "insurance e-credential, social security card or ID",
    ),
    "filing_form": ("跨省异地就医备案表", "cross-province filing form"),
    "hukou": ("户口簿", "household register (hukou) moved to the destination"),
    "residence_proof": ("居住证或居住证明", "residence permit or proof of residence"),
    "posting_certificate": ("用人单位派驻证明", "employer's posting certificate"),
    "promise": ("个人承诺书", "personal written promise"),
    "referral_certificate": ("转诊转院证明", "referral certificate"),
}


def adjustment_label(mode: str, value: object, lang: Lang) -> str:
    """How an off-site adjustment reads: 'ratio lowered by 10 percentage points', '比例乘以 0.9'."""
    from decimal import Decimal

    v = Decimal(str(value))
    points = f"{(v * 100).normalize():f}"
    texts = {
        "none": ("按参保地标准，不降低", "local standard, no reduction"),
        "points": (f"支付比例降低 {points} 个百分点", f"ratio lowered by {points} percentage points"),
        "multiplier": (f"支付比例乘以 {v}", f"ratio multiplied by {v}"),
        "extra_pre_self_pay": (
            f"个人先行自付 {points}% 后按参保地标准",
            f"patient first pays {points}%, then the local standard",
        ),
    }
    zh, en = texts[mode]
    return zh if lang == "zh" else en


def label(key: str, lang: Lang) -> str:
    """The label of a domain id in the language; the id itself when the table has none."""
    pair = LABELS.get(key)
    if pair is None:
        return key
    return pair[0] if lang == "zh" else pair[1]
