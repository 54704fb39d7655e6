"""A new rule pack to fill in (``medins rules new``): every section present, every value to be confirmed.

The files are written from plain tables: a generic skeleton of realistic placeholder values, or the
values of an existing pack (``--from``). Every dated section then cites one source, ``to-confirm``,
which is ``illustrative`` and marked ``to_confirm = true``: ``medins rules validate`` lists each value
that cites it until the clerk replaces the source with the document the value was read in. Comments
say what each section holds, in the user's language.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from medins.codes import ASSISTANCE_CATEGORIES, CATEGORIES, LONG_TERM, NATIONAL_CHRONIC
from medins.errors import RuleError, UsageError, t
from medins.i18n import Lang
from medins.rules_model import Catalogue, Standards
from medins.worked import EXAMPLES_FILE

TO_CONFIRM = "to-confirm"
"""The id of the one source a new pack's sections cite until their values are confirmed."""

SECTION_LISTS = {
    "employee.inpatient",
    "employee.outpatient",
    "employee.chronic",
    "employee.tier2",
    "resident.inpatient",
    "resident.outpatient",
    "resident.chronic",
    "resident.tier2",
    "offsite",
    "filing",
    "assistance",
    "settings",
    "items",
    "institutions",
    "filing.deemed",
    "explanations",
}
"""Lists written as arrays of tables (``[[employee.inpatient]]``), one table per entry."""

WIDTH = 110
"""The longest line an inline table may take before it is written as a table of its own."""


# ------------------------------------------------------------------ comments, by key path (no indexes)

COMMENTS: dict[str, tuple[str, str]] = {
    "kind": (
        "文件种类：standards 为参保地待遇标准，catalogue 为就医地目录",
        "file kind: standards for the insured place's standards, catalogue for the treatment place's",
    ),
    "region": ("6 位地区代码（统筹地区）", "6-digit region code of the pooling region"),
    "name": ("地区名称", "region name"),
    "province_note": ("省级统一制定的内容（如有）", "what the province sets for its cities, if anything"),
    "notes": ("本规则包的说明（建模取舍、尚未建模的规定）", "notes on the pack: choices made, rules not modelled"),
    "sources": (
        "来源：每个数值注明出处（文号、发文机关、网址、生效日期）。读到原文后，把各段的 source 改为该原文的编号，"
        "confidence 写 primary（原文）或 secondary（转载），并删去 to_confirm",
        "sources: every value cites where it comes from (document number, issuer, address, effective date). "
        "Once the text is read, point each section's source at it, set confidence to primary (the text) or "
        "secondary (a repost), and drop to_confirm",
    ),
    "employee": ("职工基本医疗保险", "employees' basic medical insurance"),
    "employee.groups": ("人员类别：在职、退休", "person groups: in service, retired"),
    "resident": ("城乡居民基本医疗保险", "residents' basic medical insurance"),
    "resident.groups": ("人员分组（如按年龄、学生儿童）", "person groups (e.g. by age, students and children)"),
    "employee.inpatient": (
        "职工住院：起付线（按次或按年）、比例段、年度封顶；effective 为生效日期",
        "employees' inpatient stays: deductible (per admission or per year), ratio bands, annual cap; "
        "effective is the date the values apply from",
    ),
    "resident.inpatient": (
        "居民住院：起付线（按次或按年）、比例段、年度封顶",
        "residents' inpatient stays: deductible (per admission or per year), ratio bands, annual cap",
    ),
    "employee.outpatient": ("职工普通门诊（门诊统筹）", "employees' general outpatient visits"),
    "resident.outpatient": ("居民普通门诊（门诊统筹）", "residents' general outpatient visits"),
    "employee.chronic": (
        "职工门诊慢特病：cross_province 为可跨省直接结算的病种，diseases 为各病种的待遇",
        "employees' outpatient chronic diseases: cross_province lists those settled across provinces, "
        "diseases gives each one's terms",
    ),
    "resident.chronic": (
        "居民门诊慢特病：cross_province 为可跨省直接结算的病种，diseases 为各病种的待遇",
        "residents' outpatient chronic diseases: cross_province lists those settled across provinces, "
        "diseases gives each one's terms",
    ),
    "employee.tier2": ("职工大额医疗费用补助（第二重保障）", "employees' large-amount supplement (tier 2)"),
    "resident.tier2": ("居民大病保险（第二重保障）", "residents' critical-illness insurance (tier 2)"),
    "deductible_basis": (
        "起付线按次（admission）还是按年（year）计算",
        "deductible per admission ('admission') or once a year ('year')",
    ),
    "band_basis": ("比例段按本次还是全年累计费用划分", "ratio bands on this admission's or the year's amount"),
    "cap_mode": (
        "封顶方式：fund 为基金年度最高支付额，base 为纳入计算的政策范围内费用上限",
        "cap mode: 'fund' caps what the fund pays in a year, 'base' caps the in-scope expense considered",
    ),
    "cap": ("年度封顶线（元）", "annual cap (yuan)"),
    "rates": (
        "各人员类别、医院等级的起付线（多个值依次为第1、2…次住院）和比例段（第一段从起付线起算）",
        "deductible by group and hospital level (several values: the 1st, 2nd … admission) and ratio bands "
        "(the first band starts at the deductible)",
    ),
    "offsite": (
        "跨省异地就医：各备案类别的待遇调整（points 降低百分点，multiplier 乘以系数，extra_pre_self_pay "
        "先行自付，none 不调整）",
        "cross-province treatment: the adjustment for each filing category (points lowers by percentage "
        "points, multiplier multiplies, extra_pre_self_pay takes a first share, none keeps the local ratio)",
    ),
    "offsite.level_map": ("就医地医院等级 → 参保地对应等级", "treatment-place hospital level -> local level"),
    "offsite.categories": ("各备案类别（及未备案 unfiled）的调整", "adjustment by filing category (and unfiled)"),
    "filing": ("异地就医备案：材料、有效期、补办规定", "filing: materials, validity, filing after admission"),
    "filing.materials": ("材料编号 → 中文名称", "material id -> its Chinese name"),
    "filing.categories": (
        "各备案类别所需材料（required 全部需要，one_of 任选其一）和有效期（月）",
        "materials each filing category needs (required: all; one_of: any one) and validity in months",
    ),
    "assistance": (
        "医疗救助（第三重保障）：各救助类别的起付线、比例、年度限额",
        "medical assistance (tier 3): deductible, ratio and annual cap of each category",
    ),
    "assistance.categories": (
        "deductible_share 为上年居民人均可支配收入（income_reference）的比例",
        "deductible_share is a share of last year's per-capita disposable income (income_reference)",
    ),
    "drug_list": (
        "国家医保药品目录版本（drug-lists/ 下的文件名）",
        "national drug list edition (a file in drug-lists/)",
    ),
    "settings": (
        "就医地目录设置：乙类先行自付比例（药品、诊疗项目、医用耗材）",
        "catalogue settings: class-B pre-self-pay shares (drugs, services, consumables)",
    ),
    "items": (
        "本地诊疗项目、医用耗材和医院制剂，如：\n"
        '[[items]]\ncode = "本地编码"\nname = "项目名称"\nkind = "service"\nclass = "B"\nunit = "次"',
        "local service items, consumables and hospital preparations, e.g.:\n"
        '[[items]]\ncode = "LOCAL-CODE"\nname = "item name"\nkind = "service"\nclass = "B"\nunit = "visit"',
    ),
}

HEADERS: dict[str, tuple[str, str]] = {
    "standards": (
        "参保地待遇标准（standards.toml），由 medins rules new 生成。每个数值都待核实：按本地区政策原文逐段替换，"
        "并在 [sources] 中注明出处。medins rules validate 列出仍待核实的数值。",
        "insured-place standards (standards.toml), written by medins rules new. Every value is to be "
        "confirmed: replace them section by section from the region's policy texts and cite each in "
        "[sources]. medins rules validate lists the values still to confirm.",
    ),
    "catalogue": (
        "就医地目录设置（catalogue.toml），由 medins rules new 生成。药品按国家医保药品目录；乙类先行自付比例待核实。",
        "treatment-place catalogue settings (catalogue.toml), written by medins rules new. Drugs follow the "
        "national drug list; the class-B pre-self-pay shares are to be confirmed.",
    ),
    "examples": (
        "本规则包的例子（examples.toml）：每个例子是一个案例（写法同案例文件）及其应得金额。抄录政策通知中的计算示例时写 "
        'source = "来源编号"；按本包取值手算的写 worked_by_hand = true，并在注释中写出计算过程。'
        "medins rules test 逐个结算并比较。",
        "worked examples of this pack (examples.toml): each is a case (written as a case file) and the "
        'amounts it must settle to. For an example a policy notice published, write source = "id"; for one '
        "worked out by hand from this pack's values, worked_by_hand = true with the working in a comment. "
        "medins rules test settles and compares them.",
    ),
}

EXAMPLE_TEMPLATE: dict[str, str] = {
    "zh": """\
# 例子的写法（删去行首的 # 即可使用；金额单位为元）：
#
# 下例按新规则包的占位值计算（本地三级医院住院，不涉及异地）；核实数值后请按实际取值重算。
# 计算过程：政策范围内 = 10,000 − 全自费 0 − 乙类先行自付 0 = 10,000；起付线（在职、三级、第1次住院）900；
#           统筹基金 = (10,000 − 900) × 85 % = 7,735.00；个人负担 = 10,000 − 7,735 = 2,265.00
# [[examples]]
# name = "职工在职·本地三级医院住院"
# worked_by_hand = true
#
# [examples.person]
# insured_region = "{code}"
# scheme = "employee"
# status = "in_service"
#
# [examples.visit]
# region = "{code}"
# type = "inpatient"
# hospital_level = 3
# admitted = {year}-03-10
# discharged = {year}-03-20
#
# [examples.summary]
# total = 10000
#
# [examples.expected]
# basic_fund = 7735.00
# personal_total = 2265.00
""",
    "en": """\
# How to write an example (remove the leading # to use it; amounts in yuan):
#
# This one follows a new pack's placeholder values (a local level-3 inpatient stay, nothing off-site);
# work it out again once the values are confirmed.
# Working: in-scope = 10,000 − fully self-paid 0 − class-B pre-self-pay 0 = 10,000; deductible (in
#          service, level 3, 1st admission) 900; tier 1 = (10,000 − 900) × 85 % = 7,735.00;
#          patient = 10,000 − 7,735 = 2,265.00
# [[examples]]
# name = "employee in service, local level-3 inpatient stay"
# worked_by_hand = true
#
# [examples.person]
# insured_region = "{code}"
# scheme = "employee"
# status = "in_service"
#
# [examples.visit]
# region = "{code}"
# type = "inpatient"
# hospital_level = 3
# admitted = {year}-03-10
# discharged = {year}-03-20
#
# [examples.summary]
# total = 10000
#
# [examples.expected]
# basic_fund = 7735.00
# personal_total = 2265.00
""",
}


# ------------------------------------------------------------------ the generic skeleton


def _d(text: str) -> Decimal:
    return Decimal(text)


def _levels(deductibles: list[Any], ratios: list[str], group: str | None = None) -> list[dict[str, Any]]:
    out = []
    for level, (ded, ratio) in enumerate(zip(deductibles, ratios, strict=True), start=1):
        rate: dict[str, Any] = {} if group is None else {"group": group}
        rate.update({"level": level, "deductible": ded, "bands": [{"ratio": _d(ratio)}]})
        out.append(rate)
    return out


def _chronic(start: date, ratio: str, big_ratio: str, small_cap: int, big_cap: int) -> dict[str, Any]:
    big = {"cancer_chemoradiotherapy", "uremia_dialysis", "transplant_antirejection"}
    diseases = {}
    for disease in NATIONAL_CHRONIC:
        diseases[disease] = {
            "deductible_basis": "year",
            "cap": big_cap if disease in big else small_cap,
            "rates": [{"deductible": 0, "bands": [{"ratio": _d(big_ratio if disease in big else ratio)}]}],
        }
    return {"effective": start, "source": TO_CONFIRM, "cross_province": list(NATIONAL_CHRONIC), "diseases": diseases}


def skeleton_standards(code: str, name: str, start: date) -> dict[str, Any]:
    """Placeholder standards of a prefecture-level city: realistic orders of magnitude, nothing more."""
    employee_rates = _levels([300, 600, 900], ["0.90", "0.87", "0.85"], "in_service") + _levels(
        [300, 600, 900], ["0.93", "0.90", "0.88"], "retired"
    )
    materials = {
        "insurance_credential": "医保电子凭证、社会保障卡或有效身份证件",
        "filing_form": "跨省异地就医备案表",
        "hukou": "户口簿（户籍迁入就医地）",
        "residence_proof": "居住证或居住证明",
        "posting_certificate": "用人单位派驻证明",
        "promise": "个人承诺书",
        "referral_certificate": "参保地定点医疗机构转诊转院证明",
    }
    filing_categories: dict[str, Any] = {
        "relocated_retiree": {"one_of": ["hukou", "residence_proof", "promise"]},
        "long_term_resident": {"one_of": ["residence_proof", "promise"]},
        "stationed_worker": {"one_of": ["posting_certificate", "promise"]},
        "referral": {"required": ["insurance_credential", "filing_form", "referral_certificate"]},
        "emergency": {"required": ["insurance_credential"]},
        "other_temporary": {"required": ["insurance_credential", "filing_form"]},
    }
    for cat in (c for c in CATEGORIES if c in LONG_TERM):
        filing_categories[cat] = {
            "required": ["insurance_credential", "filing_form"],
            **filing_categories[cat],
            "min_months_before_change": 6,
        }
    for cat in ("referral", "other_temporary"):
        filing_categories[cat]["validity_months"] = 6
    adjustments: dict[str, Any] = {c: {"mode": "none"} for c in CATEGORIES if c in LONG_TERM}
    adjustments.update(
        {
            "referral": {"mode": "points", "value": _d("0.10")},
            "emergency": {"mode": "points", "value": _d("0.10")},
            "other_temporary": {"mode": "points", "value": _d("0.20")},
            "unfiled": {"mode": "points", "value": _d("0.30")},
        }
    )
    assistance = {
        "extreme_poverty": {"deductible": 0, "ratio": _d("0.90"), "cap": 60000},
        "orphan": {"deductible": 0, "ratio": _d("0.90"), "cap": 60000},
        "subsistence": {"deductible": 0, "ratio": _d("0.75"), "cap": 50000},
        "marginal": {"deductible_share": _d("0.10"), "ratio": _d("0.65"), "cap": 40000},
        "relapse_monitored": {"deductible_share": _d("0.10"), "ratio": _d("0.65"), "cap": 40000},
        "illness_poverty": {"deductible_share": _d("0.25"), "ratio": _d("0.60"), "cap": 40000},
    }
    assert set(assistance) == set(ASSISTANCE_CATEGORIES) and set(filing_categories) == set(CATEGORIES)
    return {
        "kind": "standards",
        "region": code,
        "name": name,
        "notes": [],
        "sources": {},
        "employee": {
            "groups": ["in_service", "retired"],
            "inpatient": [
                {
                    "effective": start,
                    "source": TO_CONFIRM,
                    "deductible_basis": "admission",
                    "cap_mode": "fund",
                    "cap": 300000,
                    "rates": employee_rates,
                }
            ],
            "outpatient": [
                {
                    "effective": start,
                    "source": TO_CONFIRM,
                    "deductible_basis": "year",
                    "cap_mode": "fund",
                    "cap": 3000,
                    "rates": [
                        {"group": "in_service", "deductible": 1000, "bands": [{"ratio": _d("0.70")}]},
                        {"group": "retired", "deductible": 800, "bands": [{"ratio": _d("0.80")}]},
                    ],
                }
            ],
            "chronic": [_chronic(start, "0.80", "0.85", 4000, 100000)],
            "tier2": [
                {
                    "effective": start,
                    "source": TO_CONFIRM,
                    "kind": "large_amount",
                    "base": "above_basic_cap",
                    "bands": [{"ratio": _d("0.90")}],
                    "cap": 400000,
                    "visit_types": ["inpatient", "chronic_outpatient"],
                }
            ],
        },
        "resident": {
            "groups": ["general"],
            "group_labels": {"general": "城乡居民"},
            "inpatient": [
                {
                    "effective": start,
                    "source": TO_CONFIRM,
                    "deductible_basis": "admission",
                    "cap_mode": "fund",
                    "cap": 200000,
                    "rates": _levels([200, 500, 1000], ["0.85", "0.75", "0.60"]),
                }
            ],
            "outpatient": [
                {
                    "effective": start,
                    "source": TO_CONFIRM,
                    "deductible_basis": "year",
                    "cap_mode": "fund",
                    "cap": 500,
                    "rates": [{"deductible": 0, "bands": [{"ratio": _d("0.50")}]}],
                }
            ],
            "chronic": [_chronic(start, "0.60", "0.70", 2000, 60000)],
            "tier2": [
                {
                    "effective": start,
                    "source": TO_CONFIRM,
                    "kind": "critical_illness",
                    "base": "personal_burden",
                    "include_pre_self_pay": False,
                    "deductible": 15000,
                    "bands": [{"to": 100000, "ratio": _d("0.60")}, {"from": 100000, "ratio": _d("0.70")}],
                    "cap": 300000,
                    "visit_types": ["inpatient", "chronic_outpatient"],
                }
            ],
        },
        "offsite": [
            {
                "effective": start,
                "source": TO_CONFIRM,
                "level_map": {"1": 1, "2": 2, "3": 3},
                "categories": adjustments,
            }
        ],
        "filing": [
            {
                "effective": start,
                "source": TO_CONFIRM,
                "destination_level": "province",
                "retroactive_before_settlement": True,
                "emergency_deemed_filed": True,
                "emergency_filing_days": 10,
                "channels": ["国家医保服务平台APP", "国家异地就医备案小程序", "参保地医保经办窗口"],
                "materials": materials,
                "categories": filing_categories,
            }
        ],
        "assistance": [
            {
                "effective": start,
                "source": TO_CONFIRM,
                "direct_settlement": True,
                "income_reference": 40000,
                "income_note": "上年度居民人均可支配收入（待核实）",
                "categories": assistance,
            }
        ],
    }


def skeleton_catalogue(code: str, name: str, start: date, drug_list: str) -> dict[str, Any]:
    """Placeholder catalogue settings: the national drug list and common class-B pre-self-pay shares."""
    return {
        "kind": "catalogue",
        "region": code,
        "name": name,
        "drug_list": drug_list,
        "notes": [],
        "sources": {},
        "settings": [
            {
                "effective": start,
                "source": TO_CONFIRM,
                "pre_self_pay": {"drug": _d("0.10"), "service": _d("0.10"), "consumable": _d("0.20")},
                "herbal_pieces_class": "A",
            }
        ],
    }


# ------------------------------------------------------------------ from an existing pack


def _every_section_to_confirm(value: Any) -> Any:
    """A copy of a file's tables with every ``source`` (sections, deemed filings) citing ``to-confirm``."""
    if isinstance(value, dict):
        out = {k: _every_section_to_confirm(v) for k, v in value.items()}
        if isinstance(out.get("deductible"), list) and len(out["deductible"]) == 1:
            out["deductible"] = out["deductible"][0]  # one amount for every admission, as files write it
        if "source" in out:
            # the section's note speaks of the other region's sources
            dates = {k: out[k] for k in ("effective", "until") if k in out}
            out = dates | {"source": TO_CONFIRM} | {k: v for k, v in out.items() if k not in (*dates, "source", "note")}
        if "income_note" in out:
            out["income_note"] = "上年度居民人均可支配收入（待核实）"
        return out
    if isinstance(value, list):
        return [_every_section_to_confirm(v) for v in value]
    return value


def copied(model: Standards | Catalogue, code: str, name: str) -> dict[str, Any]:
    """The values of an existing pack's file for region ``code``: what the file wrote, its sections
    citing ``to-confirm``; its own notes, sources and local items and institutions left behind."""
    data = model.model_dump(mode="python", by_alias=True, exclude_unset=True)
    data = _every_section_to_confirm(data)
    data.update({"region": code, "name": name, "notes": [], "sources": {}})
    for key in ("province_note", "items", "institutions", "institutions_source"):
        data.pop(key, None)
    return data


def source_to_confirm(lang: Lang, origin: tuple[str, str] | None, today: date) -> dict[str, Any]:
    """The one source of a new pack: illustrative, to be confirmed, saying where the values came from."""
    if origin is None:
        note = (
            f"待核实：{today} 由 medins rules new 生成的占位示意值（地级市常见量级），不是任何政策文件的数值。"
            "请按本地区政策原文逐段替换，并为每段注明原文来源。"
            if lang == "zh"
            else f"To confirm: placeholder values written by medins rules new on {today} (usual orders of "
            "magnitude for a prefecture-level city), from no policy text. Replace them section by section "
            "from the region's policy texts and cite each."
        )
    else:
        note = (
            f"待核实：{today} 由 medins rules new 从 {origin[0]} {origin[1]} 的规则包复制的数值，其来源是该地区的文件，"
            "不能证明本地区的取值。请按本地区政策原文逐段核实、替换，并为每段注明原文来源。"
            if lang == "zh"
            else f"To confirm: values copied by medins rules new on {today} from the pack of {origin[0]} "
            f"{origin[1]}; their sources are that region's texts and prove nothing here. Confirm or replace "
            "them section by section from this region's policy texts and cite each."
        )
    return {"confidence": "illustrative", "to_confirm": True, "note": note}


# ------------------------------------------------------------------ writing TOML with comments


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {value!r} as TOML")


def _key(key: str) -> str:
    import re

    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_inline(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return _scalar(value)


def _comment(lines: list[str], text: str, indent: str = "") -> None:
    """Comment lines, each paragraph wrapped to 100 columns (a Chinese character takes two)."""
    from medins.messages import wrap_text

    for paragraph in text.split("\n"):
        wrapped = wrap_text(paragraph, 98) if len(paragraph) > 40 else paragraph
        for line in wrapped.split("\n"):
            lines.append(f"{indent}# {line}".rstrip())


def _bare(path: str) -> str:
    """A key path without list indexes, as COMMENTS is keyed."""
    import re

    return re.sub(r"\[\d+\]", "", path)


class _Writer:
    def __init__(self, lang: Lang) -> None:
        self.lang = lang
        self.lines: list[str] = []
        self.said: set[str] = set()

    def note(self, path: str, last: str) -> None:
        """The comment of a key path (or of its last key, for keys found in many sections), once per path."""
        bare = _bare(path)
        text = COMMENTS.get(bare) or (
            COMMENTS.get(last) if last in ("deductible_basis", "band_basis", "cap_mode") else None
        )
        if text and bare not in self.said:
            self.said.add(bare)
            _comment(self.lines, text[0 if self.lang == "zh" else 1])

    def table(self, data: dict[str, Any], path: str) -> None:
        """Write a table's keys: short values inline first, then sub-tables and arrays of tables."""
        later: list[tuple[str, Any]] = []
        for key, value in data.items():
            full = f"{path}.{key}" if path else key
            if self._own_table(_bare(full), key, value):
                later.append((key, value))
                continue
            if path == "" or _bare(full) in COMMENTS:
                self.note(full, key)
            if isinstance(value, list) and value and len(f"{key} = {_inline(value)}") > WIDTH:
                self.lines.append(f"{_key(key)} = [")
                self.lines += [f"  {_inline(v)}," for v in value]
                self.lines.append("]")
            else:
                self.lines.append(f"{_key(key)} = {_inline(value)}")
        for key, value in later:
            full = f"{path}.{key}" if path else key
            if isinstance(value, list):
                for v in value:
                    self.lines.append("")
                    self.note(full, key)
                    self.lines.append(f"[[{full}]]")
                    self.table(v, full)
            elif full == "sources" or key == "diseases":  # one table per source, per disease
                self.lines.append("")
                self.note(full, key)
                for k, v in value.items():
                    self.lines.append(f"[{full}.{_key(k)}]")
                    self.table(v, f"{full}.{_key(k)}")
                    self.lines.append("")
            else:
                self.lines.append("")
                self.note(full, key)
                self.lines.append(f"[{full}]")
                self.table(value, full)

    @staticmethod
    def _own_table(bare: str, key: str, value: Any) -> bool:
        """Whether a value is written as a table (or array of tables) of its own rather than inline."""
        if isinstance(value, dict):
            return bool(value) and len(f"{key} = {_inline(value)}") > WIDTH
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return bare in SECTION_LISTS or any(len(f"  {_inline(v)},") > WIDTH for v in value)
        return False


def toml_text(data: dict[str, Any], kind: str, lang: Lang) -> str:
    """A rule file's tables as commented TOML in ``lang``; reading it back gives the same tables."""
    w = _Writer(lang)
    _comment(w.lines, f"{data['name']} ({data['region']}) — " + HEADERS[kind][0 if lang == "zh" else 1])
    w.lines.append("")
    w.table(data, "")
    text = "\n".join(w.lines).rstrip() + "\n"
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def examples_text(code: str, name: str, lang: Lang, year: int) -> str:
    """An examples file with no example yet: what one looks like, in comments."""
    lines: list[str] = []
    _comment(lines, f"{name} ({code}) — " + HEADERS["examples"][0 if lang == "zh" else 1])
    lines += ["", 'kind = "examples"', f'region = "{code}"', f"name = {_scalar(name)}", ""]
    return "\n".join(lines) + "\n" + EXAMPLE_TEMPLATE[lang].replace("{code}", code).replace("{year}", str(year))


def new_pack(
    code: str,
    name: str,
    kinds: list[str],
    lang: Lang,
    today: date,
    origin: tuple[str, str] | None = None,
    models: dict[str, Standards | Catalogue] | None = None,
    drug_list: str = "nrdl-2024",
) -> dict[str, str]:
    """The files of a new pack for region ``code``: file name -> text. ``origin`` and ``models``: the
    pack whose values are copied (its code and name, and its files by kind)."""
    start = date(today.year, 1, 1)
    source = source_to_confirm(lang, origin, today)
    files: dict[str, str] = {}
    for kind in kinds:
        if models is not None:
            data = copied(models[kind], code, name)
        elif kind == "standards":
            data = skeleton_standards(code, name, start)
        else:
            data = skeleton_catalogue(code, name, start, drug_list)
        data["sources"] = {TO_CONFIRM: source}
        if kind == "catalogue":
            data.setdefault("items", [])
        files[f"{kind}.toml"] = toml_text(data, kind, lang)
    if "standards" in kinds:
        files[EXAMPLES_FILE] = examples_text(code, name, lang, today.year)
    return files


def pack_files(folder: Path, which: str | None, src: Any = None) -> list[str]:
    """The kinds of file to write into ``folder``: ``which`` (``both``, ``standards``, ``catalogue``),
    by default both, or with a pack to copy (``src``) the files it has. Refused: copying a file the pack
    lacks (a usage error) and any file that is there already (never overwritten)."""
    has = [k for k in ("standards", "catalogue") if src is not None and getattr(src, k) is not None]
    if which is None and src is not None:
        kinds = has
    else:
        kinds = ["standards", "catalogue"] if which in (None, "both") else [str(which)]
    missing = [k for k in kinds if src is not None and k not in has]
    if missing:
        raise UsageError(
            t(
                f"{src.code} {src.name} 的规则包没有 {missing[0]}.toml",
                f"the pack of {src.code} {src.name} has no {missing[0]}.toml",
            ),
            "--files",
            t(f"该规则包只有 {has[0]}.toml：用 --files {has[0]}", f"it has {has[0]}.toml only: use --files {has[0]}"),
        )
    names = [f"{k}.toml" for k in kinds] + ([EXAMPLES_FILE] if "standards" in kinds else [])
    taken = [folder / n for n in names if (folder / n).exists() or (folder / n).is_symlink()]
    if taken:
        raise RuleError(
            t("规则包文件已存在，不覆盖", "the pack's files exist already: not overwritten"),
            ", ".join(str(p) for p in taken),
            t(
                "换一个 --dir，或先移走这些文件；修改现有规则包请直接编辑",
                "choose another --dir, or move these files away first; edit an existing pack in place",
            ),
        )
    return kinds


def write_pack(folder: Path, files: dict[str, str]) -> list[Path]:
    """Write the files into ``folder`` (made if need be); the caller has checked that none exists."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, text in files.items():
        path = folder / file_name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
