"""Readable views of rule packs: the list, one region's standards, a filing checklist, JSON Schemas."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from tabulate import tabulate

from medins import regions
from medins.case_model import Case
from medins.i18n import LABELS, Lang, adjustment_label, label
from medins.inherit import SCHEME_TABLES
from medins.loader import RegionPack, RuleSet, in_force
from medins.money import pct, show
from medins.render import source_name
from medins.rules_model import (
    CONFIDENCE_ORDER,
    Adjustment,
    Band,
    BenefitTerms,
    Catalogue,
    Standards,
)
from medins.types import Dated
from medins.worked import ExamplesFile, count_examples


def _count_values(value: Any) -> int:
    if isinstance(value, Decimal):
        return 1
    if isinstance(value, BaseModel):
        return sum(_count_values(getattr(value, f)) for f in type(value).model_fields if f not in ("source",))
    if isinstance(value, dict):
        return sum(_count_values(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_count_values(v) for v in value)
    return 0


def _sections(model: Standards | Catalogue) -> list[Dated]:
    found: list[Dated] = []
    if isinstance(model, Catalogue):
        return list(model.settings)
    for scheme in (model.employee, model.resident):
        if scheme is not None:
            found += [*scheme.inpatient, *scheme.outpatient, *scheme.chronic, *scheme.tier2]
    return [*found, *model.offsite, *model.filing, *model.assistance]


def confidence_of(section: Dated, model: Standards | Catalogue) -> str:
    """A section is as confirmed as its weakest source."""
    levels = [model.sources[s].confidence for s in section.source_ids if s in model.sources]
    return min(levels, key=lambda c: CONFIDENCE_ORDER[c]) if levels else "illustrative"


def pack_summary(pack: RegionPack) -> dict[str, Any]:
    """Code, name, roles, schemes, effective periods and how many values each confidence covers."""
    values: Counter[str] = Counter()
    starts: list[date] = []
    ends: list[date | None] = []
    schemes: list[str] = []
    roles: list[str] = []
    for model in (pack.catalogue, pack.standards_file):
        if model is None:
            continue
        roles.append(model.kind)
        if isinstance(model, Standards):
            schemes = [s for s in ("employee", "resident") if getattr(model, s) is not None]
        for section in _sections(model):
            values[confidence_of(section, model)] += _count_values(section)
            starts.append(section.effective)
            ends.append(section.until)
    total = sum(values.values()) or 1
    end = None if (not ends or any(e is None for e in ends)) else max(e for e in ends if e)
    return {
        "code": pack.code,
        "name": pack.name,
        "roles": roles,
        "schemes": schemes,
        "effective_from": min(starts).isoformat() if starts else None,
        "effective_until": end.isoformat() if end else None,
        "values": dict(values),
        # a number (per cent of the pack's values that a primary text confirms), not text
        "primary_share": int((Decimal(values["primary"] * 100) / total).to_integral_value()),
        "confidence": min(values, key=lambda c: CONFIDENCE_ORDER[c]) if values else None,
        "examples": count_examples(pack.folder),
        "extends": pack.standards_file.extends if pack.standards_file else None,
        "insured_place": pack.standards is not None,
    }


def pack_table(rows: list[dict[str, Any]], lang: Lang, style: str = "simple") -> str:
    head = (
        ["代码", "名称", "角色", "险种", "生效期间", "数值（原文/二手/示意）", "原文核实占比", "例子"]
        if lang == "zh"
        else [
            "code",
            "name",
            "roles",
            "schemes",
            "effective",
            "values (primary/secondary/illustrative)",
            "primary share",
            "examples",
        ]
    )
    body = []
    for r in rows:
        v = r["values"]
        body.append(
            [
                r["code"],
                r["name"],
                "+".join(_role(x, r, lang) for x in r["roles"]),
                "+".join(label(s, lang) for s in r["schemes"]) or "-",
                f"{r['effective_from']}–{r['effective_until'] or '…'}" if r["effective_from"] else "-",
                f"{v.get('primary', 0)}/{v.get('secondary', 0)}/{v.get('illustrative', 0)}",
                f"{r['primary_share']}%",
                str(r["examples"]),
            ]
        )
    return tabulate(body, headers=head, tablefmt=style, disable_numparse=True)


ROLE_NAMES = {"catalogue": ("就医地目录", "catalogue"), "standards": ("参保地待遇", "standards")}


def _role(role: str, row: dict[str, Any], lang: Lang) -> str:
    """A role as ``rules list`` shows it: a province pack's standards say they are not an insured
    place's, and a pack that extends another says which."""
    zh, en = ROLE_NAMES[role]
    if role == "standards" and not row["insured_place"]:
        zh, en = "省级待遇（非参保地）", "province standards (not an insured place)"
    if role == "standards" and row["extends"]:
        zh, en = f"{zh}（继承 {row['extends']}）", f"{en} (extends {row['extends']})"
    return zh if lang == "zh" else en


def _bands(bands: list[Band], deductible: Decimal) -> str:
    parts = []
    start = deductible
    for b in bands:
        low = b.from_ if b.from_ not in (None, Decimal(0)) else start
        parts.append(f"{show(low)}–{show(b.to) if b.to is not None else '…'} {pct(b.ratio)}")
        start = b.to if b.to is not None else start
    return "; ".join(parts)


def _stage_base(base: str, lang: Lang) -> str:
    """What a later assistance stage pays on, as ``rules show`` names it."""
    if base == "burden":
        return "全部救助基数" if lang == "zh" else "whole base"
    return "前段剩余" if lang == "zh" else "what earlier stages leave"


CAP_MODE = {"fund": ("基金支付", "fund"), "base": ("费用", "base")}


def _group_name(group: str, lang: Lang, names: dict[str, str] | None) -> str:
    """A person group as ``rules show`` names it: the pack's own label in Chinese, else the id's label."""
    if lang == "zh" and names and group in names:
        return names[group]
    if group in LABELS or not names or group not in names:
        return label(group, lang)
    return names[group]  # the pack names the group only in Chinese: 60–69岁 rather than aged_60_69


def _terms_rows(terms: BenefitTerms, lang: Lang, names: dict[str, str] | None = None) -> list[list[str]]:
    rows = []
    for rate in terms.rates:
        sep = "、" if lang == "zh" else ","
        groups = (
            _group_name(rate.group, lang, names)
            if isinstance(rate.group, str)
            else sep.join(_group_name(g, lang, names) for g in rate.group)
        )
        level = rate.level if isinstance(rate.level, (int, str)) else ",".join(map(str, rate.level))
        ded = " / ".join(show(d) for d in rate.deductible)
        if terms.deductible_year_cap is not None:
            year_cap = show(terms.deductible_year_cap)
            ded += f"（年累计 ≤ {year_cap}）" if lang == "zh" else f" (≤ {year_cap} a year)"
        cap = rate.cap if rate.cap is not None else terms.cap
        rows.append(
            [
                groups,
                str(level),
                ded,
                _bands(rate.bands, rate.deductible[0]),
                (show(cap) if cap is not None else "-")
                + (f"（{CAP_MODE[terms.cap_mode][0]}）" if lang == "zh" else f" ({terms.cap_mode})"),
            ]
        )
    return rows


def _cited(section: Dated, model: Standards | Catalogue, code: str, lang: Lang) -> str:
    """A section's sources by name (document or title, else ``示意值（石家庄市待遇）``) and its confidence."""
    names = [source_name(code, model.kind, model.sources[s], lang) for s in section.source_ids if s in model.sources]
    sep = "、" if lang == "zh" else ", "
    return f"[{sep.join(dict.fromkeys(names))}{_weakest(names, confidence_of(section, model), lang)}]"


def _weakest(names: list[str], level: str, lang: Lang) -> str:
    """The confidence after a list of sources, unless a source's name says it already (示意值（…）)."""
    if any(n.startswith(label(level, lang)) for n in names):
        return ""
    return ("；" if lang == "zh" else "; ") + label(level, lang)


def _paren(text: str, lang: Lang) -> str:
    return f"（{text}）" if lang == "zh" else f" ({text})"


def drug_list_name(edition: str, lang: Lang) -> str:
    """A national drug-list edition by name: ``nrdl-2024`` is 国家医保药品目录 2024 年版."""
    m = re.fullmatch(r"nrdl-(\d{4})", edition)
    if m is None:
        return edition
    return f"国家医保药品目录 {m.group(1)} 年版" if lang == "zh" else f"national drug list {m.group(1)}"


def _adj(a: Adjustment, lang: Lang) -> str:
    return adjustment_label(a.mode, a.value, lang)


def show_pack(rules: RuleSet, code: str, on: date, lang: Lang) -> tuple[dict[str, Any], str]:
    """The standards (and catalogue settings) of a region in force on a date, as JSON and text."""
    pack = rules.packs.get(code) if code in rules.packs and rules.packs[code].standards_file else None
    if pack is None:
        pack = rules.pack(code, "catalogue", code)
    data: dict[str, Any] = {"code": code, "name": pack.name, "as_of": on.isoformat()}
    out: list[str] = [f"{code} {pack.name}  ({'生效日' if lang == 'zh' else 'as of'} {on})"]
    came, came_json = _provenance(rules, pack, lang)
    data["from"] = came_json

    def at(section: str, kind: str = "standards") -> str:
        """The region whose file gave a section: an illustrative source is named after it."""
        resolved = pack.origins.get(kind)
        return resolved.origins.get(section, resolved.chain[0]).parent.name if resolved else code

    out += _provenance_lines(rules, pack, lang)
    head = (
        ["人员", "医院等级", "起付线（首次/第2次/…）", "分段比例", "封顶线"]
        if lang == "zh"
        else ["group", "level", "deductible (1st/2nd/…)", "bands", "cap"]
    )
    std = pack.standards_file
    if std is not None:
        where = f"{code} standards.toml"
        for scheme_name in ("employee", "resident"):
            scheme = getattr(std, scheme_name)
            if scheme is None:
                continue
            names = getattr(scheme, "group_labels", None) or {}
            for kind in ("inpatient", "outpatient"):
                if not getattr(scheme, kind):  # a province pack's scheme may leave it to its cities
                    continue
                section = in_force(getattr(scheme, kind), on, kind, where)
                data[f"{scheme_name}.{kind}"] = section.model_dump(mode="json", by_alias=True)
                out.append(
                    f"\n{label(scheme_name, lang)} · {label(kind, lang)}  {_cited(section, std, at(scheme_name + '.' + kind), lang)}"
                    + came(f"{scheme_name}.{kind}")
                )
                out.append(tabulate(_terms_rows(section, lang, names), headers=head, tablefmt="simple"))
            for section in [s for s in scheme.chronic if s.in_force(on)]:
                data[f"{scheme_name}.chronic"] = section.model_dump(mode="json", by_alias=True)
                out.append(
                    f"\n{label(scheme_name, lang)} · {label('chronic_outpatient', lang)}  {_cited(section, std, at(scheme_name + '.chronic'), lang)}"
                    + came(f"{scheme_name}.chronic")
                )
                rows = []
                for disease, terms in section.diseases.items():
                    cross = "✓" if disease in section.cross_province else " "
                    for r in _terms_rows(terms, lang, names):
                        rows.append([f"{cross} {label(disease, lang)}", *r])
                out.append(tabulate(rows, headers=["", *head], tablefmt="simple"))
            for section in [s for s in scheme.tier2 if s.in_force(on)]:
                data[f"{scheme_name}.tier2"] = section.model_dump(mode="json", by_alias=True)
                base = (
                    label(section.base, lang)
                    if section.base != "above_basic_cap"
                    else ("基本医保封顶线以上" if lang == "zh" else "above the basic cap")
                )
                out.append(
                    f"\n{label(scheme_name, lang)} · {label(section.kind, lang)}  {_cited(section, std, at(scheme_name + '.tier2'), lang)}"
                    + came(f"{scheme_name}.tier2")
                )
                cap = show(section.cap) if section.cap is not None else "-"
                bands = _bands(section.bands, section.deductible)
                if lang == "zh":
                    pre = "是" if section.include_pre_self_pay else "否"
                    out.append(
                        f"  基数：{base}；起付线 {show(section.deductible)}；{bands.replace('; ', '；')}；"
                        f"封顶线 {cap}；乙类先行自付计入基数：{pre}"
                    )
                else:
                    pre = "yes" if section.include_pre_self_pay else "no"
                    out.append(
                        f"  base: {base}; deductible {show(section.deductible)}; {bands}; "
                        f"cap {cap}; pre-self-pay in base: {pre}"
                    )
        offsite = in_force(std.offsite, on, "offsite", where) if std.offsite or pack.standards else None
        if offsite is not None:  # a province pack may leave the off-site rules to its cities
            data["offsite"] = offsite.model_dump(mode="json", by_alias=True)
            out.append(
                f"\n{'异地就医待遇调整' if lang == 'zh' else 'off-site adjustments'}  {_cited(offsite, std, at('offsite'), lang)}"
                + came("offsite")
            )
            out.append(
                tabulate(
                    [
                        [label(c, lang), _adj(a, lang), ",".join(label(v, lang) for v in a.visit_types)]
                        for c, a in offsite.categories.items()
                    ],
                    tablefmt="plain",
                )
            )
        for section in [s for s in std.assistance if s.in_force(on)]:
            data["assistance"] = section.model_dump(mode="json", by_alias=True)
            out.append(
                f"\n{'医疗救助' if lang == 'zh' else 'medical assistance'}  {_cited(section, std, at('assistance'), lang)}"
                + came("assistance")
                + (
                    ""
                    if section.direct_settlement
                    else ("（不跨省直接结算）" if lang == "zh" else " (not settled directly across provinces)")
                )
            )
            rows = []
            for cat, terms in section.categories.items():
                stages = terms.stage_list()
                for k, stage in enumerate(stages):
                    ded = (
                        show(stage.deductible)
                        if stage.deductible is not None
                        else (
                            f"{pct(stage.deductible_share)} × {show(section.income_reference)}"
                            if stage.deductible_share is not None
                            else "0.00"
                        )
                    )  # type: ignore[arg-type]
                    name = label(cat, lang) if len(stages) == 1 else f"{label(cat, lang)} {k + 1}/{len(stages)}"
                    if k > 0:
                        name += " · " + _stage_base(stage.base, lang)
                    start = stage.deductible or Decimal(0)
                    if stage.deductible_share is not None and section.income_reference is not None:
                        start = section.income_reference * stage.deductible_share
                    ratio = pct(stage.ratio) if stage.ratio is not None else _bands(stage.ratio_bands(), start)
                    rows.append([name, ded, ratio, show(stage.cap) if stage.cap is not None else "-"])
            more = ["支付比例", "年度封顶线"] if lang == "zh" else ["ratio", "cap"]
            out.append(tabulate(rows, headers=["", *head[2:3], *more], tablefmt="simple"))
    cat = rules.packs[code].catalogue if code in rules.packs else None
    if cat is not None:
        settings = in_force(cat.settings, on, "catalogue settings", f"{code} catalogue.toml")
        data["catalogue"] = settings.model_dump(mode="json", by_alias=True)
        p = settings.pre_self_pay
        out.append(
            f"\n{'就医地目录' if lang == 'zh' else 'catalogue'}{_paren(drug_list_name(cat.drug_list, lang), lang)}  {_cited(settings, cat, at('settings', 'catalogue'), lang)}"
            + came("settings", "catalogue")
        )
        institutions = len(cat.institutions) if cat.institutions is not None else "-"
        if lang == "zh":
            out.append(
                f"  乙类先行自付比例：药品 {pct(p.drug)}，诊疗项目 {pct(p.service)}，医用耗材 {pct(p.consumable)}；"
                f"本地项目 {len(cat.items)} 个；定点医疗机构 {institutions} 家"
            )
        else:
            out.append(
                f"  class-B pre-self-pay: drug {pct(p.drug)}, service {pct(p.service)}, consumable {pct(p.consumable)}; "
                f"local items {len(cat.items)}; institutions {institutions}"
            )
    return data, "\n".join(out)


def _relative(rules: RuleSet, file: Path) -> str:
    """A rule file as ``rules show`` names it: its path in the rules directory (``130000/standards.toml``)."""
    try:
        return file.relative_to(rules.root).as_posix()
    except ValueError:
        return str(file)


def _provenance(rules: RuleSet, pack: RegionPack, lang: Lang) -> tuple[Callable[..., str], dict[str, dict[str, str]]]:
    """Which file each section of a pack was read from: a suffix for a section heading that another
    pack gave (``⇐ 130000 河北省``), and by kind, section -> file for JSON."""
    found: dict[str, dict[str, str]] = {}
    for kind, resolved in sorted(pack.origins.items()):
        found[kind] = {
            key: _relative(rules, file)
            for key, file in sorted(resolved.origins.items())
            if not key.startswith("sources.") and key not in SCHEME_TABLES
        }

    def came(section: str, kind: str = "standards") -> str:
        resolved = pack.origins.get(kind)
        if resolved is None or len(resolved.chain) == 1:
            return ""
        file = resolved.origins.get(section, resolved.chain[0])
        if file == resolved.chain[0]:
            return ""
        code = file.parent.name
        return f"  ⇐ {code} {_pack_name(rules, code)}" if lang == "zh" else f"  <= {code} {_pack_name(rules, code)}"

    return came, found


def _provenance_lines(rules: RuleSet, pack: RegionPack, lang: Lang) -> list[str]:
    """The lines under ``rules show``'s heading that say what the pack extends, or that it is a
    province pack and who extends it."""
    lines = []
    for kind, resolved in sorted(pack.origins.items()):
        if len(resolved.chain) > 1:
            files = [_relative(rules, f) for f in resolved.chain]
            parents = "、".join(f"{f.split('/')[0]} {_pack_name(rules, f.split('/')[0])} [{f}]" for f in files[1:])
            lines.append(
                f"{FILE_NAMES[kind][0]} [{files[0]}] 继承 {parents}：标 ⇐ 的节取自被继承的文件，其余取自本文件"
                if lang == "zh"
                else f"{FILE_NAMES[kind][1]} [{files[0]}] extends {parents.replace('、', ', ')}: sections marked <= "
                "come from the file extended, the others from this file"
            )
    if pack.base is not None:
        cities = ", ".join(f"{c} {rules.packs[c].name}" for c in rules.extended_by(pack.code))
        if lang == "zh":
            lines.append("省级规则包，不是参保地" + (f"；继承它的：{cities}" if cities else ""))
        else:
            lines.append("a province pack, not an insured place" + (f"; extended by {cities}" if cities else ""))
    return lines


def _pack_name(rules: RuleSet, code: str) -> str:
    return rules.packs[code].name if code in rules.packs else regions.name(code)


def filing_checklist(rules: RuleSet, insured: str, category: str, on: date, lang: Lang) -> tuple[dict[str, Any], str]:
    """Materials, validity, where to file, and the reduction with and without the filing."""
    regions.require(insured, "--insured")
    std = rules.standards(insured, "--insured")
    where = f"{insured} standards.toml"
    section = in_force(std.filing, on, "filing", where)
    offsite = in_force(std.offsite, on, "offsite", where)
    rule = section.categories[category]  # type: ignore[index]
    names = dict(section.materials)
    if lang == "en":
        names = {k: section.materials_en.get(k) or (label(k, "en") if k in LABELS else v) for k, v in names.items()}
    data = {
        "insured": insured,
        "name": std.name,
        "category": category,
        "as_of": on.isoformat(),
        "materials_required": [{"id": m, "name": names[m]} for m in rule.required],
        "materials_one_of": [{"id": m, "name": names[m]} for m in rule.one_of],
        "validity_months": rule.validity_months,
        "min_months_before_change": rule.min_months_before_change,
        "destination_level": section.destination_level,
        "retroactive_before_settlement": section.retroactive_before_settlement,
        "emergency_deemed_filed": section.emergency_deemed_filed,
        "emergency_filing_days": section.emergency_filing_days,
        "channels": section.channels,
        "with_filing": offsite.categories[category].model_dump(mode="json"),  # type: ignore[index]
        "without_filing": offsite.categories["unfiled"].model_dump(mode="json"),
        "sources": list(dict.fromkeys(section.source_ids + offsite.source_ids)),
        "confidence": confidence_of(section, std),
    }
    zh = lang == "zh"
    out = [f"{insured} {std.name} · {label(category, lang)}"]
    req = [names[m] for m in rule.required]
    if rule.one_of:
        req.append(("以下之一：" if zh else "one of: ") + " / ".join(names[m] for m in rule.one_of))
    sep = "；" if zh else "; "
    out.append(("所需材料：" if zh else "materials: ") + (sep.join(req) if req else ("无" if zh else "none")))
    if rule.validity_months:
        out.append(f"有效期：{rule.validity_months} 个月" if zh else f"valid for {rule.validity_months} months")
    else:
        out.append("有效期：长期有效" if zh else "validity: open-ended")
    if rule.min_months_before_change:
        out.append(
            f"变更或取消须满 {rule.min_months_before_change} 个月"
            if zh
            else f"may be changed after {rule.min_months_before_change} months"
        )
    out.append(
        ("备案就医地精确到：" if zh else "destination at the level of: ")
        + (("省" if section.destination_level == "province" else "市") if zh else section.destination_level)
    )
    if section.retroactive_before_settlement:
        out.append(
            "入院后、出院结算前补办备案，仍可直接结算"
            if zh
            else "filing after admission but before discharge settlement still settles directly"
        )
    if category == "emergency" and section.emergency_deemed_filed:
        days = section.emergency_filing_days
        out.append(
            ("急诊抢救视同已备案" if zh else "emergency treatment is deemed filed")
            + ((f"，{days} 天内补办备案" if zh else f"; file within {days} days") if days is not None else "")
        )
    if section.channels:
        out.append(("办理渠道：" if zh else "where to file: ") + sep.join(section.channels))
    out.append(("备案后待遇：" if zh else "benefit with this filing: ") + _adj(offsite.categories[category], lang))  # type: ignore[index]
    out.append(
        ("未备案：" if zh else "without a filing: ")
        + _adj(offsite.categories["unfiled"], lang)
        + ("，回参保地手工报销" if zh else ", reimbursed at home")
    )
    cited = list(dict.fromkeys(source_name(insured, "standards", std.sources[i], lang) for i in data["sources"]))  # type: ignore[union-attr]
    out.append(("依据：" if zh else "sources: ") + sep.join(cited) + _weakest(cited, data["confidence"], lang))  # type: ignore[arg-type]
    return data, "\n".join(out)


def json_schema(kind: str) -> dict[str, Any]:
    """JSON Schema of a rule-file kind, of any rule file, or of the case file."""
    from medins.rules_model import Catalogue as C
    from medins.rules_model import Standards as S

    def schema(model: type[BaseModel]) -> dict[str, Any]:
        return model.model_json_schema(by_alias=True, mode="validation")

    if kind == "catalogue":
        out = schema(C)
    elif kind == "standards":
        out = schema(S)
    elif kind == "case":
        out = schema(Case)
    elif kind == "examples":
        out = schema(ExamplesFile)
    else:
        cs, ss, es = schema(C), schema(S), schema(ExamplesFile)
        defs = {
            **cs.pop("$defs", {}),
            **ss.pop("$defs", {}),
            **es.pop("$defs", {}),
            "Catalogue": cs,
            "Standards": ss,
            "ExamplesFile": es,
        }
        out = {
            "title": "medins rule file",
            "anyOf": [{"$ref": "#/$defs/Catalogue"}, {"$ref": "#/$defs/Standards"}, {"$ref": "#/$defs/ExamplesFile"}],
            "$defs": defs,
        }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **out}


# ----------------------------------------------------------------- rules sources / rules diff

FILE_NAMES = {"standards": ("待遇", "standards"), "catalogue": ("目录", "catalogue")}
FLAG_NAMES = {
    "no_source": ("无来源", "no source"),
    "no_url": ("无网址", "no address"),
    "primary_without_quote": ("原文无引文", "primary without quote"),
    "verified_over_12_months": ("核实逾12个月", "verified over 12 months ago"),
}
CHANGE_NAMES = {"added": ("新增", "added"), "removed": ("删除", "removed"), "changed": ("修改", "changed")}


def _period(effective: date | None, until: date | None) -> str:
    return f"{effective}–{until or '…'}" if effective else "-"


def _file_cell(row: Any, i: int) -> str:
    """The file a value is in: ``待遇`` for the region's own, ``待遇 ⇐ 230000`` (``standards <= 230000``)
    for a value it inherits."""
    name = FILE_NAMES[row.kind][i]
    mark = "⇐" if i == 0 else "<="
    return f"{name} {mark} {row.origin.split('/')[0]}" if row.inherited else name


def _source_names(row: Any, lang: Lang) -> str:
    """A value's sources by name (document number, else title, else 示意值（…）), never by id."""
    if row is None:
        return ""
    region = row.origin.split("/")[0] if row.inherited else row.region  # an inherited source is the province's
    names = [source_name(region, row.kind, s, lang) for _, s in row.sources]
    return ("、" if lang == "zh" else ", ").join(dict.fromkeys(names)) or "-"


def sources_table(rows: list[Any], today: date, lang: Lang) -> str:
    """``rules sources`` for people: one line per value, its section's dates, sources and flags, then
    how many values each confidence covers and how many each flag touches."""
    from medins.sources import FLAGS, row_record, summary, written

    zh = lang == "zh"
    i = 0 if zh else 1
    head = (
        ["地区", "文件", "键路径", "值", "生效期间", "来源", "可信度", "核实日期", "提示"]
        if zh
        else ["region", "file", "key path", "value", "effective", "sources", "confidence", "verified", "flags"]
    )
    body, records = [], []
    for row in rows:
        rec = row_record(row, today)
        records.append(rec)
        verified = sorted({str(s.verified) for _, s in row.sources if s.verified})
        body.append(
            [
                row.name if zh else row.region,
                _file_cell(row, i),
                row.path,
                written(row.value),
                _period(row.effective, row.until),
                _source_names(row, lang),
                label(rec["confidence"], lang),
                ", ".join(verified) or "-",
                ("、" if zh else ", ").join(FLAG_NAMES[f][i] for f in rec["flags"]) or "",
            ]
        )
    total = summary(records)
    conf = total["by_confidence"]
    flagged = total["flagged"]
    sep = "，" if zh else ", "
    counts = sep.join(f"{label(c, lang)} {n}" for c, n in conf.items())
    flags = sep.join(f"{FLAG_NAMES[f][i]} {flagged[f]}" for f in ("no_source", *FLAGS))
    foot = (
        f"共 {total['values']} 个数值：{counts}。\n带提示的数值：{flags}（核实日期以 {today} 为准）。"
        if zh
        else f"{total['values']} values: {counts}.\nFlagged values: {flags} (verification judged on {today})."
    )
    return tabulate(body, headers=head, tablefmt="simple", disable_numparse=True) + "\n\n" + foot


def diff_table(changes: list[dict[str, Any]], labels: tuple[str, str], lang: Lang) -> str:
    """``rules diff`` for people: each value added, removed or changed, old → new, with each side's sources."""
    from medins.sources import written

    zh = lang == "zh"
    i = 0 if zh else 1
    if not changes:
        return (
            f"{labels[0]} 与 {labels[1]} 的数值相同。" if zh else f"{labels[0]} and {labels[1]} have the same values."
        )
    head = (
        ["变化", "地区", "文件", "键路径", "原值 → 新值", "原来源", "新来源"]
        if zh
        else ["change", "region", "file", "key path", "old → new", "old sources", "new sources"]
    )
    body = []
    for c in changes:
        old, new = c["old"], c["new"]
        shown = f"{written(old.value) if old else '-'} → {written(new.value) if new else '-'}"
        row = old or new
        body.append(
            [
                CHANGE_NAMES[c["change"]][i],
                row.name if zh else row.region,
                _file_cell(row, i)
                if not (old and new and old.origin != new.origin)
                else f"{_file_cell(old, i)} → {_file_cell(new, i)}",
                c["path"],
                shown,
                _source_names(old, lang),
                _source_names(new, lang),
            ]
        )
    n = Counter(c["change"] for c in changes)
    foot = (
        f"{labels[0]} → {labels[1]}：{len(changes)} 处不同（新增 {n['added']}，删除 {n['removed']}，修改 {n['changed']}）。"
        if zh
        else f"{labels[0]} → {labels[1]}: {len(changes)} differences ({n['added']} added, {n['removed']} removed, "
        f"{n['changed']} changed)."
    )
    return tabulate(body, headers=head, tablefmt="simple", disable_numparse=True) + "\n\n" + foot


# ----------------------------------------------------------------- rules test


def example_lines(outcomes: list[Any], lang: Lang) -> str:
    """One line per worked example (✓ passed, ✗ failed with each amount expected and settled), then the counts."""
    zh = lang == "zh"
    out = []
    for o in outcomes:
        head = f"{o.region} {regions.name(o.region) or ''}".rstrip()
        line = f"{'✓' if o.passed else '✗'} {head}  {o.name}"
        if not o.passed:
            line += ("：" if zh else ": ") + o.reason(lang)
            line += f"  ({o.file}: examples[{o.index}])"
        out.append(line)
    failed = sum(not o.passed for o in outcomes)
    passed = len(outcomes) - failed
    out.append(
        f"{len(outcomes)} 个例子：{passed} 个通过，{failed} 个未通过"
        if zh
        else f"{len(outcomes)} examples: {passed} passed, {failed} failed"
    )
    return "\n".join(out)
