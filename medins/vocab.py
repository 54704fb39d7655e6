"""One vocabulary for the values a user types, shared by command-line flags, case files and batch cells.

A value may be the id medins uses (``referral``), its Chinese label (``异地转诊人员``) or a common
short form (``异地转诊``, ``转诊``); a region its 6-digit code or its name (``石家庄市``); a date
``2025-03-10``, ``2025/3/10``, ``2025年3月10日`` or ``20250310``. A district or county code stands
for the pooling region (统筹地区) it belongs to, with a notice saying so.

Loads no pydantic and no rules, so that the command line can use it before anything heavy.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import date

from medins.codes import ASSISTANCE_CATEGORIES, CATEGORIES, NATIONAL_CHRONIC, VISIT_TYPES
from medins.i18n import LABELS, Text


def _labels(ids: Iterable[str]) -> dict[str, str]:
    """Each id under its own name, its Chinese label and its English label."""
    found: dict[str, str] = {}
    for i in ids:
        found[i] = i
        if i in LABELS:
            found[LABELS[i][0]] = i
            found[LABELS[i][1].lower()] = i
    return found


ALIASES: dict[str, dict[str, str]] = {
    "scheme": {
        **_labels(("employee", "resident")),
        "职工": "employee",
        "职工医保": "employee",
        "职工基本医疗保险": "employee",
        "居民": "resident",
        "居民医保": "resident",
        "城乡居民": "resident",
        "城乡居民基本医疗保险": "resident",
    },
    "status": {**_labels(("in_service", "retired")), "在职人员": "in_service", "退休人员": "retired"},
    "assistance": {
        **_labels(ASSISTANCE_CATEGORIES),
        "特困": "extreme_poverty",
        "低保": "subsistence",
        "低保边缘": "marginal",
        "防返贫监测": "relapse_monitored",
        "因病致贫": "illness_poverty",
    },
    "category": {
        **_labels(CATEGORIES),
        "异地安置退休": "relocated_retiree",
        "异地长期居住": "long_term_resident",
        "常驻异地工作": "stationed_worker",
        "异地转诊": "referral",
        "转诊": "referral",
        "急诊抢救": "emergency",
        "急诊": "emergency",
        "其他临时外出": "other_temporary",
        "临时外出": "other_temporary",
    },
    "visit_type": {
        **_labels(VISIT_TYPES),
        "门诊": "outpatient",
        "慢特病": "chronic_outpatient",
        "门诊慢特病": "chronic_outpatient",
    },
    "disease": {
        **_labels(NATIONAL_CHRONIC),
        "恶性肿瘤": "cancer_chemoradiotherapy",
        "尿毒症": "uremia_dialysis",
        "慢阻肺": "copd",
        "慢性阻塞性肺病": "copd",
        "类风湿性关节炎": "rheumatoid_arthritis",
        "冠状动脉粥样硬化性心脏病": "coronary_heart_disease",
        "coronary artery disease": "coronary_heart_disease",
    },
    "material": {
        **_labels(
            (
                "insurance_credential",
                "filing_form",
                "hukou",
                "residence_proof",
                "posting_certificate",
                "promise",
                "referral_certificate",
            )
        ),
        "备案表": "filing_form",
        "医保电子凭证": "insurance_credential",
        "社会保障卡": "insurance_credential",
        "社保卡": "insurance_credential",
        "身份证": "insurance_credential",
        "居住证": "residence_proof",
        "居住证明": "residence_proof",
        "派驻证明": "posting_certificate",
        "承诺书": "promise",
        "转诊证明": "referral_certificate",
        "转院证明": "referral_certificate",
    },
}
"""Accepted names of each kind of value: name → the id medins uses."""

KIND_NAMES: dict[str, Text] = {
    "scheme": Text("险种", "scheme"),
    "status": Text("人员类别", "status"),
    "assistance": Text("医疗救助类别", "assistance category"),
    "category": Text("备案类别", "filing category"),
    "visit_type": Text("就诊类型", "visit type"),
    "disease": Text("病种", "disease"),
    "material": Text("备案材料", "filing material"),
}


def choice(kind: str, value: str) -> str:
    """The id a name stands for (``异地转诊`` → ``referral``); the value itself when it names none."""
    names = ALIASES[kind]
    text = value.strip()
    return names.get(text) or names.get(text.lower()) or names.get(text.replace("-", "_").lower()) or value


def known(kind: str, value: str) -> bool:
    """Whether the value names something of this kind."""
    return choice(kind, value) in set(ALIASES[kind].values())


def suggest(kind: str, value: str, among: Iterable[str] | None = None) -> str | None:
    """The id nearest to a misspelt value (``refferal`` → ``referral``, ``diabetis`` → ``diabetes``), if any.

    ``among`` restricts the answer to these ids (a region's own diseases, say).
    """
    allowed = set(among) if among is not None else set(ALIASES[kind].values())
    names = {name: i for name, i in ALIASES[kind].items() if i in allowed}
    for i in allowed:
        names.setdefault(i, i)
    close = difflib.get_close_matches(value.strip().lower(), list(names), n=1, cutoff=0.6)
    return names[close[0]] if close else None


def ids_with_names(kind: str, lang: str = "zh", among: Iterable[str] | None = None) -> str:
    """The accepted values for a message: ``referral（异地转诊人员）, …`` or ``referral, …``."""
    ids = list(dict.fromkeys(among if among is not None else ALIASES[kind].values()))
    if lang != "zh":
        return ", ".join(ids)
    return "、".join(f"{i}（{LABELS[i][0]}）" if i in LABELS else i for i in ids)


# ----------------------------------------------------------------------------- dates

_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_DATE8 = re.compile(r"(\d{4})(\d{2})(\d{2})")


def norm_date(value: str) -> str:
    """``2025/3/10``, ``2025.3.10``, ``2025年3月10日``, ``20250310`` → ``2025-03-10``; else the value as given."""
    text = value.strip()
    m = _DATE.fullmatch(text) or _DATE8.fullmatch(text)
    if m is None:
        return value
    return f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"


def parse_date(value: str) -> date | None:
    """A date written in any form ``norm_date`` reads; None when it is not a day of the calendar."""
    try:
        return date.fromisoformat(norm_date(value))
    except ValueError:
        return None


DATE_FORMS = Text("写成 2025-03-10、2025/3/10 或 20250310", "write 2025-03-10, 2025/3/10 or 20250310")

# ----------------------------------------------------------------------------- hospital levels

_LEVEL = re.compile(r"([123一二三])\s*(?:级|甲|乙|丙|级甲等|级乙等|级丙等|级医院)?")


def norm_level(value: str) -> str:
    """``3``, ``三级``, ``三甲``, ``三级甲等`` → ``3``; else the value as given."""
    m = _LEVEL.fullmatch(value.strip())
    return str("123一二三".index(m.group(1)) % 3 + 1) if m else value


# ----------------------------------------------------------------------------- regions

MUNICIPALITIES = frozenset({"11", "12", "31", "50"})


def region_by_name(name: str) -> list[str]:
    """The codes in use whose name is ``name`` (``石家庄市``; ``石家庄`` finds it too)."""
    from medins import regions

    text = regions._table()
    found: list[str] = []
    for candidate in dict.fromkeys((name, name + "市", name + "省")):
        at = 0
        while (at := text.find(f",{candidate},", at)) >= 0:
            start = text.rfind("\n", 0, at) + 1
            code = text[start:at]
            at += len(candidate) + 2
            region = regions.lookup(code)
            if region is not None and region.in_use and region.name == candidate:
                found.append(code)
        if found:
            break
    return found


def pooling_region(code: str) -> str:
    """The pooling region (统筹地区) of a region code: a district's or county's city (or municipality).

    A county-level city that a province administers directly (仙桃市) is its own pooling region; a
    city or province code is itself.
    """
    from medins import regions

    region = regions.lookup(code)
    if region is None or region.level != "县级" or not region.parent:
        return code
    parent = regions.lookup(region.parent)
    if parent is None:
        return code
    if parent.level == "地级" or region.parent[:2] in MUNICIPALITIES:
        return region.parent
    return code


class RegionProblem(ValueError):
    """A region name that names no region, or several."""

    def __init__(self, text: Text, fix: Text) -> None:
        self.text = text
        self.fix = fix
        super().__init__(text.en)


def region(value: str, what: Text) -> tuple[str, Text | None]:
    """A region given by code or name, as the code of its pooling region, and a notice when it was mapped.

    ``what`` names the place in the notice (``参保地 --insured``). A value that is neither a name
    nor a code is returned as given, for the code check to refuse with its own message.
    """
    from medins import regions

    text = value.strip()
    code = text
    if not text.isdigit():
        codes = region_by_name(text)
        if len(codes) > 1:
            named = ", ".join(f"{c} {regions.name(c)}（{regions.name(regions.province(c))}）" for c in codes)
            raise RegionProblem(
                Text(f"地区名称 {text!r} 对应多个地区：{named}", f"region name {text!r} matches several: {named}"),
                Text("请写 6 位地区代码", "give the 6-digit region code"),
            )
        if not codes:
            if re.search(r"[\u4e00-\u9fff]", text):
                raise RegionProblem(
                    Text(f"未知的地区名称 {text!r}", f"unknown region name {text!r}"),
                    Text(
                        "写全称（如 石家庄市、北京市）或 6 位地区代码",
                        "write the full name (石家庄市) or the 6-digit code",
                    ),
                )
            return value, None
        code = codes[0]
    pooled = pooling_region(code)
    if pooled == code:
        return code, None
    notice = Text(
        f"{what.zh} {code}（{regions.name(code)}）按所属统筹地区 {pooled}（{regions.name(pooled)}）计算",
        f"{what.en} {code} ({regions.name(code)}) is settled as its pooling region {pooled} ({regions.name(pooled)})",
    )
    return pooled, notice
