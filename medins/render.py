"""Presenting results: JSON for scripts, aligned tables in Chinese or English for people."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from typing import Any

from medins import regions
from medins.case_model import YearToDate
from medins.engine.result import Cited, Eligibility, Reason, Settlement, Warning_
from medins.i18n import LABELS, Lang, Text, adjustment_label, label
from medins.money import show
from medins.rules_model import Source


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def cited_json(c: Cited) -> dict[str, Any]:
    s = c.source
    return {
        "region": c.region,
        "role": c.role,
        "id": c.id,
        "confidence": s.confidence,
        "document": s.document,
        "issuer": s.issuer,
        "title": s.title,
        "url": s.url,
        "effective": s.effective.isoformat() if s.effective else None,
        "verified": s.verified.isoformat() if s.verified else None,
        "note": s.note,
    }


def ytd_json(ytd: YearToDate) -> dict[str, Any]:
    return ytd.model_dump(mode="json")


def eligibility_json(e: Eligibility, lang: Lang) -> dict[str, Any]:
    return {
        "eligible": e.eligible,
        "settlement": e.settlement,
        "cross_province": e.cross_province,
        "place": e.place,
        "deemed": e.deemed,
        "category": e.category,
        "group": e.group,
        "benefit": {
            "standard": e.benefit,
            "category": e.benefit_category,
            "mode": e.adjustment.mode,
            "value": str(e.adjustment.value) if e.adjustment.mode != "none" else None,
        },
        "reasons": [{"code": r.code, "blocking": r.blocking, "message": r.text(lang)} for r in e.reasons],
        "materials_required": list(e.materials_required),
        "materials_one_of": list(e.materials_one_of),
        "materials_missing": None if e.materials_missing is None else list(e.materials_missing),
        "hospital_level": e.hospital_level,
        "matched_level": e.matched_level,
        "hospital_name": e.hospital_name,
        "emergency_filing_deadline": e.emergency_deadline.isoformat() if e.emergency_deadline else None,
        "filing_valid_until": e.filing_valid_until.isoformat() if e.filing_valid_until else None,
    }


def settlement_json(s: Settlement, lang: Lang) -> dict[str, Any]:
    """The estimate as JSON: amounts as strings with two decimals, the ratio with four."""
    return {
        "case_id": s.case_id,
        "service_date": s.service_date.isoformat(),
        "total": show(s.total),
        "fully_self_paid": show(s.fully_self_paid),
        "over_ceiling": show(s.over_ceiling),
        "pre_self_pay": show(s.pre_self_pay),
        "offsite_self_pay": show(s.offsite_self_pay),
        "in_scope": show(s.in_scope),
        "deductible": show(s.deductible),
        "basic_fund": show(s.basic_fund),
        "above_cap": show(s.above_cap),
        "critical_illness_fund": show(s.critical_illness_fund),
        "large_amount_fund": show(s.large_amount_fund),
        "medical_assistance_fund": show(s.medical_assistance_fund),
        "fund_total": show(s.fund_total),
        "personal_total": show(s.personal_total),
        "paid_at_discharge": show(s.paid_at_discharge),
        "fund_ratio": f"{s.fund_ratio:.4f}",
        "eligibility": eligibility_json(s.eligibility, lang),
        "warnings": [{"code": w.code, "message": w.text(lang)} for w in s.warnings],  # type: ignore[operator]
        "deferred": list(s.deferred),
        "ytd_after": ytd_json(s.ytd_after),
        "trail": [
            {
                "step": st.key,
                "text": st.text(lang),
                "formula": st.formula,
                "amount": None if st.amount is None else show(st.amount),
                "sources": list(st.sources),
            }
            for st in s.trail
        ],
        "lines": [
            {
                "line": ln.index + 1,
                "item": ln.label,
                "code": ln.code,
                "kind": ln.kind,
                "class": ln.item_class,
                "amount": show(ln.amount),
                "fully_self_paid": show(ln.fully_self_paid),
                "over_ceiling": show(ln.over_ceiling),
                "pre_self_pay": show(ln.pre_self_pay),
                "in_scope": show(ln.in_scope),
            }
            for ln in s.lines
        ],
        "sources": [cited_json(c) for c in s.cited],
    }


BAR_WIDTH = 40
BAR_GLYPHS = "█▓▒░"
ASCII_BAR = "#=-."
"""The share bar's glyphs for a console that cannot show ``BAR_GLYPHS`` (a GBK or ASCII one)."""


def _width(text: str) -> int:
    """Columns a text takes on a terminal: two for wide and full-width characters (CJK)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 0 if unicodedata.combining(ch) else 1 for ch in text)


def _two_columns(rows: list[tuple[str, str]]) -> str:
    """Labels left-aligned and amounts right-aligned, two spaces apart, as a plain table.

    Written here rather than with tabulate, whose import (with wcwidth) cost a quick estimate
    more time than its arithmetic.
    """
    left = max(_width(a) for a, _ in rows)
    right = max(_width(b) for _, b in rows)
    return "\n".join(f"{a}{' ' * (left - _width(a))}  {' ' * (right - _width(b))}{b}" for a, b in rows)


def share_bar(s: Settlement, lang: Lang, glyphs: str = BAR_GLYPHS) -> str:
    """One line showing who pays what share: █ basic, ▓ tier 2, ▒ assistance, ░ patient (or ``glyphs``)."""
    basic, tier2, assist, patient = glyphs
    parts = [
        (s.basic_fund, basic, "basic_fund"),
        (s.tier2_fund, tier2, (s.tier2_kind and f"{s.tier2_kind}_fund") or "critical_illness_fund"),
        (s.medical_assistance_fund, assist, "medical_assistance_fund"),
        (s.personal_total, patient, "personal_total"),
    ]
    if not s.total:
        return ""
    widths = [int((v / s.total * BAR_WIDTH).to_integral_value()) for v, _, _ in parts]
    widths[-1] = BAR_WIDTH - sum(widths[:-1])
    bar = "".join(ch * max(w, 0) for (_, ch, _), w in zip(parts, widths, strict=False))
    shares = whole_percents([v for v, _, _ in parts], s.total)
    legend = "  ".join(f"{ch} {label(key, lang)} {p}%" for (v, ch, key), p in zip(parts, shares, strict=True) if v)
    return f"[{bar}]\n{legend}"


def whole_percents(values: list[Decimal], total: Decimal) -> list[int]:
    """Whole percentages of ``total`` that add up to 100: each share rounded down, then the points
    left over go to the largest remainders (the largest remainder method), so a legend never reads 99 %.
    """
    exact = [v * 100 / total for v in values]
    floors = [int(e) for e in exact]
    left = 100 - sum(floors)
    order = sorted(range(len(values)), key=lambda i: (exact[i] - floors[i], values[i]), reverse=True)
    for i in order[: max(left, 0)]:
        floors[i] += 1
    return floors


def adjustment_text(e: Eligibility, lang: Lang) -> str:
    return adjustment_label(e.adjustment.mode, e.adjustment.value, lang)


def material_name(e: Eligibility, material: str, lang: Lang) -> str:
    """A material's name in the language: the pack's Chinese name, or the English label."""
    if "|" in material:
        sep = "或" if lang == "zh" else " or "
        return sep.join(material_name(e, m, lang) for m in material.split("|"))
    if lang == "zh":
        return e.material_names.get(material, material)
    return label(material, "en") if material in LABELS else e.material_names.get(material, material)


def _t(zh: str, en: str, lang: Lang) -> str:
    return zh if lang == "zh" else en


# ----------------------------------------------------------------------------- sources, reasons and warnings for people
# Tables and text name a source by its document (文号) or title, and an illustrative value by the
# pack it is in; reasons and warnings are shown by their message. Codes and source ids stay in the JSON.

ROLE_NAMES = {
    "standards": ("待遇", "standards"),
    "catalogue": ("目录", "catalogue"),
    "drug_list": ("药品目录", "drug list"),
}


def source_name(region: str, role: str, source: Source, lang: Lang) -> str:
    """A source as people know it: its document number or name, else its title, else what it is and
    where: ``医保发〔2022〕22号``, ``示意值（石家庄市待遇）`` / ``illustrative (石家庄市 standards)``."""
    if source.document:
        return source.document
    if source.title:
        return source.title
    return f"{label(source.confidence, lang)}{_pack_name(region, role, lang, True)}"


def _pack_name(region: str, role: str, lang: Lang, bracketed: bool = False) -> str:
    """Which pack a value is in: ``石家庄市待遇`` / ``石家庄市 standards`` (in brackets when asked)."""
    place = regions.name(region) if region != "national" else _t("国家", "national", lang)
    zh, en = ROLE_NAMES.get(role, ("规则", "rules"))
    if lang == "zh":
        return f"（{place}{zh}）" if bracketed else f"{place}{zh}"
    return f" ({place} {en})" if bracketed else f"{place} {en}"


def cited_names(s: Settlement, keys: tuple[str, ...] | list[str], lang: Lang) -> list[str]:
    """The names of the sources a trail step cites (``region:id`` keys), each once."""
    by_key = {f"{c.region}:{c.id}": c for c in s.cited}
    names = []
    for key in keys:
        c = by_key.get(key)
        names.append(source_name(c.region, c.role, c.source, lang) if c is not None else key)
    return list(dict.fromkeys(names))


def illustrative_text(s: Settlement, lang: Lang) -> str:
    """The illustrative-values warning, naming the packs whose values no primary text confirms."""
    packs = "、" if lang == "zh" else ", "
    used = packs.join(
        dict.fromkeys(_pack_name(c.region, c.role, lang) for c in s.cited if c.source.confidence == "illustrative")
    )
    return _t(
        f"本估算用到了未经政策原文核实的示意值（{used}），结果仅供参考",
        f"this estimate uses illustrative values no primary text confirms ({used}): indicative only",
        lang,
    )


# Keys of case and rule files that the engine's Chinese messages name: said in words for people.
_ZH_KEYS = (
    (re.compile(r"（未给出 pre_self_pay）"), "（未给出乙类先行自付金额）"),
    (re.compile(r"\s*offsite\.in_province"), ""),
    (re.compile(r"（filing\.deemed\[\d+\]）"), ""),
    (re.compile(r"（assistance_stage_base、assistance_stage_fund）"), ""),
    (re.compile(r"按 \[summary\] 汇总金额"), "按汇总金额"),
)


def _in_words(text: str, lang: Lang) -> str:
    if lang == "zh":
        for pattern, words in _ZH_KEYS:
            text = pattern.sub(words, text)
    return text


def reason_text(r: Reason, e: Eligibility, lang: Lang) -> str:
    """A reason of the eligibility check as people read it: materials and categories by name."""
    if r.code == "PROOF_MISSING" and lang == "en" and e.materials_missing:
        return "filing proof missing: " + "; ".join(material_name(e, m, lang) for m in e.materials_missing)
    text = r.text(lang)
    if r.code == "DEEMED_FILED" and lang == "en":
        text = re.sub(r"settled as (\w+)$", lambda m: f"settled as {label(m.group(1), 'en')}", text)
    return _in_words(text, lang)


def reason_line(r: Reason, e: Eligibility, lang: Lang) -> str:
    """``✗``/``·`` and the reason; the English line keeps the code README's table explains."""
    mark = "✗ " if r.blocking else "· "
    return mark + (reason_text(r, e, lang) if lang == "zh" else f"{r.code}: {reason_text(r, e, lang)}")


def warning_text(w: Warning_, s: Settlement, lang: Lang) -> str:
    """A warning of the settlement as people read it."""
    if w.code == "ILLUSTRATIVE_VALUES":
        return illustrative_text(s, lang)
    return _in_words(w.text(lang), lang)  # type: ignore[operator]


def warning_line(w: Warning_, s: Settlement, lang: Lang, where: str = "") -> str:
    """``提示：…`` in Chinese; ``warning CODE: …`` in English (README's codes)."""
    if lang == "zh":
        return f"提示{' ' + where if where else ''}：{warning_text(w, s, lang)}"
    return f"warning {where + ' ' if where else ''}{w.code}: {warning_text(w, s, lang)}"


# Words of the trail's formulas, which the engine writes in English (longest first).
_FORMULA_ZH = (
    (re.compile(r"; above cap "), "；超出封顶线 "),
    (re.compile(r"cap (\S+) on in-scope base"), r"封顶线 \1（按政策范围内费用）"),
    (re.compile(r"cap (\S+) on fund payment"), r"封顶线 \1（按基金支付）"),
    (re.compile(r"above basic cap = "), "基本医保封顶线以上 = "),
    (re.compile(r"yearly deductible cap (\S+), paid (\S+), this stay "), r"年度起付线累计上限 \1，已付 \2，本次 "),
    (re.compile(r"year base before"), "年度累计基数"),
    (re.compile(r"paid this year before"), "本年此前已付"),
    (re.compile(r"this bill"), "本单"),
    (re.compile(r"\(whole base\)"), "（全部基数）"),
    (re.compile(r"\(paid by stage (\d+)\)"), r"（第 \1 段已救助）"),
    (re.compile(r"\(class B\)"), "（乙类）"),
    (re.compile(r"\(off-site\)"), "（异地先行自付）"),
    (re.compile(r"\(claimed at home\)"), "（回参保地申请）"),
    (re.compile(r" left of the base\)"), " 为剩余基数)"),
    (re.compile(r"^ratio "), "比例 "),
    (re.compile(r"^bands "), "分段 "),
    (re.compile(r"no cap"), "无封顶"),
    (re.compile(r"(?<![A-Za-z])cap "), "封顶线 "),
)


def _en_step(text: str) -> str:
    """An English step text with the ids the engine puts in it (``benefit category referral``,
    ``(extreme_poverty)``, ``deductible (inpatient, …``) by their labels."""
    text = re.sub(r"benefit category (\w+)", lambda m: f"benefit category {label(m.group(1), 'en')}", text)
    return re.sub(r"\((\w+)([,)])", lambda m: f"({label(m.group(1), 'en')}{m.group(2)}", text)


def _reason_names(formula: str, lang: Lang) -> str:
    """The eligibility step's reasons (``FILING_EXPIRED; RETROACTIVE_OK`` or ``OK``) by their short names."""
    if lang == "en":
        return formula
    if formula == "OK":
        return "通过"
    return "；".join(label(code, lang) for code in formula.split("; "))


def formula_text(formula: str, lang: Lang) -> str:
    if lang == "zh":
        for en, zh in _FORMULA_ZH:
            formula = en.sub(zh, formula)
    return formula


def settlement_table(s: Settlement, lang: Lang, explain: bool = False, glyphs: str = BAR_GLYPHS) -> str:
    """The estimate for people: amounts, the share bar (drawn with ``glyphs``), reasons, warnings."""
    e = s.eligibility
    out: list[str] = []
    if s.illustrative:
        out.append(
            _t(
                "⚠ 注意：本估算用到了未经政策原文核实的示意值，结果仅供参考（见 --explain 的来源）。",
                "⚠ Note: this estimate uses illustrative values that no primary policy text confirms; indicative only (sources under --explain).",
                lang,
            )
        )
    verdict = label(e.settlement, lang)
    cat = label(e.benefit_category, lang)
    adj = adjustment_text(e, lang)
    out.append(
        _t(
            f"结算方式：{verdict}；待遇：{cat}，{adj}；医院等级 {e.hospital_level}（按参保地 {e.matched_level} 级）",
            f"settlement: {verdict}; benefit: {cat}, {adj}; hospital level {e.hospital_level} (insured-place level {e.matched_level})",
            lang,
        )
    )
    rows = [
        ("total", s.total),
        ("fully_self_paid", s.fully_self_paid),
        ("over_ceiling", s.over_ceiling),
        ("pre_self_pay", s.pre_self_pay),
        ("offsite_self_pay", s.offsite_self_pay),
        ("in_scope", s.in_scope),
        ("deductible", s.deductible),
        ("basic_fund", s.basic_fund),
    ]
    if s.tier2_kind:
        rows.append((f"{s.tier2_kind}_fund", s.tier2_fund))
    rows += [
        ("medical_assistance_fund", s.medical_assistance_fund),
        ("fund_total", s.fund_total),
        ("personal_total", s.personal_total),
    ]
    # the parts of the total one level in; the deductible, a part of the in-scope amount, one more
    indent = {"fully_self_paid": 2, "over_ceiling": 2, "pre_self_pay": 2, "offsite_self_pay": 2, "in_scope": 2}
    indent["deductible"] = 4
    always = {"total", "basic_fund", "fund_total", "personal_total", f"{s.tier2_kind}_fund"}
    table = [(" " * indent.get(k, 0) + label(k, lang), _money(v)) for k, v in rows if v or k in always]
    table.append((label("fund_ratio", lang), f"{s.fund_ratio * 100:.2f}%"))
    if s.paid_at_discharge != s.personal_total:
        table.append((_t("出院时需先支付", "paid at discharge", lang), _money(s.paid_at_discharge)))
    out.append(_two_columns(table))
    out.append(share_bar(s, lang, glyphs))
    if s.deferred:
        names = {
            "basic": "basic_fund",
            "tier2": f"{s.tier2_kind or 'critical_illness'}_fund",
            "medical_assistance": "medical_assistance_fund",
        }
        sep = "、" if lang == "zh" else ", "
        out.append(
            _t("回参保地报销：", "claimed later at home: ", lang)
            + sep.join(label(names.get(d, d), lang) for d in s.deferred)
        )
    for r in e.reasons:
        out.append(reason_line(r, e, lang))
    for w in s.warnings:
        out.append(warning_line(w, s, lang))
    if explain:
        sep = "、" if lang == "zh" else ", "
        out.append("")
        out.append(_t("计算过程：", "How it was worked out:", lang))
        for i, st in enumerate(s.trail, 1):
            src = f"  [{sep.join(cited_names(s, st.sources, lang))}]" if st.sources else ""
            formula = _reason_names(st.formula, lang) if st.key == "eligibility" else formula_text(st.formula, lang)
            step = _in_words(st.text(lang), lang) if lang == "zh" else _en_step(st.text(lang))
            out.append(f"{i:>2}. {step}: {formula}{src}")
        out.append("")
        out.append(_t("来源：", "Sources:", lang))
        for c in s.cited:
            out.append("  " + source_line(c.region, c.role, c.source, lang))
    return "\n".join(out)


def source_line(region: str, role: str, src: Source, lang: Lang) -> str:
    """One source in full: its name, confidence, issuer, title, address, effective date and note."""
    name = source_name(region, role, src, lang)
    effective = src.effective and _t(f"生效 {src.effective}", f"effective {src.effective}", lang)
    parts = [p for p in (src.issuer, src.title if src.title != name else None, src.url, effective) if p]
    conf = "" if name.startswith(label(src.confidence, lang)) else f" [{label(src.confidence, lang)}]"
    return (
        f"{name}{conf}"
        + (" " + " | ".join(str(p) for p in parts) if parts else "")
        + (f" — {src.note}" if src.note else "")
    )


def eligibility_table(e: Eligibility, lang: Lang, region_insured: str, region_treated: str) -> str:
    out = []
    yes = (
        _t("可以直接结算", "eligible for direct settlement", lang)
        if e.eligible
        else _t("不能直接结算", "not eligible for direct settlement", lang)
    )
    place = "" if e.cross_province else f" ({label('LOCAL_VISIT' if e.place == 'local' else 'IN_PROVINCE', lang)})"
    out.append(f"{regions.name(region_insured)} → {regions.name(region_treated)}{place}: {yes}")
    group = label(e.group, lang) if e.group else "-"
    if e.place == "local":
        out.append(_t("类别：参保地本地就医，无需备案", "category: local visit, no filing needed", lang))
    else:
        deemed = _t("，视同备案", ", deemed filed", lang) if e.deemed is not None and e.category else ""
        out.append(
            _t(
                f"类别：{label(e.category or 'unfiled', lang)}（{group}{deemed}）",
                f"category: {label(e.category or 'unfiled', lang)} ({group}{deemed})",
                lang,
            )
        )
    adj = adjustment_text(e, lang)
    out.append(
        _t(
            f"结算方式：{label(e.settlement, lang)}；待遇：{label(e.benefit, lang)}（{adj}）",
            f"settlement: {label(e.settlement, lang)}; benefit: {label(e.benefit, lang)} ({adj})",
            lang,
        )
    )
    if e.benefit_category == "unfiled" and e.place != "local":
        why = [reason_text(r, e, lang) for r in e.reasons if r.blocking]
        out.append(
            _t(f"按未备案标准结算（{adj}）", f"settled at the unfiled rate ({adj})", lang)
            + (_t("，原因：", ", because: ", lang) + ("；" if lang == "zh" else "; ").join(why) if why else "")
        )
    if e.materials_required or e.materials_one_of:
        names = [material_name(e, m, lang) for m in e.materials_required]
        if e.materials_one_of:
            names.append(_t("以下之一：", "one of: ", lang) + material_name(e, "|".join(e.materials_one_of), lang))
        out.append(_t("所需材料：", "materials required: ", lang) + ("；" if lang == "zh" else "; ").join(names))
    if e.materials_missing:
        missing = [material_name(e, m, lang) for m in e.materials_missing]
        out.append(_t("缺少材料：", "materials missing: ", lang) + ("；" if lang == "zh" else "; ").join(missing))
    for r in e.reasons:
        out.append(reason_line(r, e, lang))
    return "\n".join(out)


def text(value: Text, lang: Lang) -> str:
    return value(lang)
