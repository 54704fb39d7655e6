"""Settle one bill: eligibility, lines, tier 1, tier 2, tier 3, reconciliation — in the policy's order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from medins.case_model import Accum, Case, YearToDate
from medins.engine.eligibility import check_eligibility
from medins.engine.lines import catalogue_index, classify_items, classify_summary
from medins.engine.result import Cited, Eligibility, Settlement, Step, Warning_
from medins.engine.tiers import Banded, adjust_bands, pay_through_bands
from medins.errors import CaseError, SettlementBug, t
from medins.i18n import Text, label
from medins.loader import RuleSet, in_force
from medins.money import MAX_AMOUNT, ZERO, fen, pct, show
from medins.rules_model import BenefitTerms, Rate, Standards, Tier2
from medins.types import MAX_ADMISSIONS


@dataclass
class Trail:
    """Collects steps, warnings and the sources used while a bill is settled."""

    on: bool = True  # build the explanation steps (a batch that never shows them skips the work)
    steps: list[Step] = field(default_factory=list)
    warnings: list[Warning_] = field(default_factory=list)
    cited: dict[tuple[str, str, str], Cited] = field(default_factory=dict)

    def step(self, key: str, text: Text, formula: str, amount: Decimal | None, sources: tuple[str, ...] = ()) -> None:
        self.steps.append(Step(key, text, formula, amount, sources))

    def warn(self, code: str, text: object) -> None:
        self.warnings.append(Warning_(code, text))  # type: ignore[arg-type]

    def cite(self, items: list[Cited] | tuple[Cited, ...]) -> tuple[str, ...]:
        for c in items:
            self.cited.setdefault((c.region, c.role, c.id), c)
        if not self.on:
            return ()
        return tuple(dict.fromkeys(f"{c.region}:{c.id}" for c in items))


def _cites(std: Standards, ids: list[str], role: str = "standards") -> list[Cited]:
    return [Cited(std.region, role, i, std.sources[i]) for i in ids if i in std.sources]


def _rate(terms: BenefitTerms, group: str, level: int, where: str) -> Rate:
    for rate in terms.rates:
        if rate.matches(group, level):
            return rate
    raise CaseError(
        t(f"规则中没有 {group}、{level} 级医院的费率", f"the rules have no rate for {group} at level {level}"), where
    )


def _group(case: Case, std: Standards) -> str:
    scheme = getattr(std, case.person.scheme)
    if scheme is None:
        raise CaseError(
            t(
                f"{std.region} 规则包没有{label(case.person.scheme, 'zh')}",
                f"the {std.region} pack has no {case.person.scheme} scheme",
            ),
            "person.scheme",
        )
    status = case.person.status
    if status is None:
        if len(scheme.groups) == 1:
            return scheme.groups[0]
        raise CaseError(
            t("缺少 person.status", "person.status missing"),
            "person.status",
            t(f"可选：{', '.join(scheme.groups)}", f"one of {', '.join(scheme.groups)}"),
        )
    if status not in scheme.groups:
        raise CaseError(
            t(f"人员类别 {status!r} 无效", f"unknown status {status!r}"),
            "person.status",
            t(f"可选：{', '.join(scheme.groups)}", f"one of {', '.join(scheme.groups)}"),
        )
    return status


def _fresh_ytd(ytd: YearToDate, year: int, trail: Trail) -> YearToDate:
    if ytd.year is not None and ytd.year != year:
        trail.warn(
            "YTD_OTHER_YEAR",
            t(
                f"年度累计属于 {ytd.year} 年，本单在 {year} 年，从零开始累计",
                f"year-to-date amounts are for {ytd.year}; this bill is in {year}: starting from zero",
            ),
        )
        return YearToDate(year=year)
    return ytd


def settle(case: Case, rules: RuleSet, as_of: date | None = None, explain: bool = True) -> Settlement:
    """Settle one bill across the three tiers, with the rule values in force on its service date.

    With ``explain=False`` the trail is left empty (amounts, warnings and sources are the same).
    """
    service_date = case.visit.service_date
    assert service_date is not None  # the case model requires a date
    on = as_of or service_date  # the date that chooses rule values
    trail = Trail(on=explain)
    std = rules.standards(case.person.insured_region, "person.insured_region")
    catalogue_pack = rules.packs.get(case.visit.region)
    catalogue = catalogue_pack.catalogue if catalogue_pack else None
    group = _group(case, std)
    ytd = _fresh_ytd(case.ytd, service_date.year, trail)

    # 0. eligibility decides the reduction and whether the bill settles here or at home
    elig = check_eligibility(case, std, catalogue, on)
    if not elig.cross_province and any(r.code == "SAME_PROVINCE" and r.blocking for r in elig.reasons):
        insured, treated = case.person.insured_region, case.visit.region
        raise CaseError(
            elig.reasons[0].text
            + t(f"（参保地 {insured}，就医地 {treated}）", f" (insured in {insured}, treated in {treated})"),
            "visit.region",
            t(
                "本工具计算跨省异地就医；省内异地需参保地规则包提供 in_province 规则",
                "medins settles cross-province visits; in-province ones need the pack's offsite.in_province rules",
            ),
        )
    src = trail.cite(elig.cited)
    verdict = label(elig.settlement, "zh"), label(elig.settlement, "en")
    if trail.on:
        trail.step(
            "eligibility",
            t(
                f"资格：{verdict[0]}；待遇类别 {label(elig.benefit_category, 'zh')}；{label(elig.adjustment.mode, 'zh')}",
                f"eligibility: {verdict[1]}; benefit category {elig.benefit_category}; {label(elig.adjustment.mode, 'en')}",
            ),
            "; ".join(r.code for r in elig.reasons) or "OK",
            None,
            src,
        )

    # 1. the lines, by the treatment place's catalogue
    if catalogue is None:
        raise CaseError(
            t(
                f"就医地 {case.visit.region} 没有目录规则包",
                f"no catalogue pack for the treatment place {case.visit.region}",
            ),
            "visit.region",
            t(
                "可用：" + ", ".join(c for c, p in rules.packs.items() if p.catalogue),
                "available: " + ", ".join(c for c, p in rules.packs.items() if p.catalogue),
            ),
        )
    settings = in_force(catalogue.settings, on, "catalogue settings", f"{catalogue.region} catalogue.toml")
    cat_src = trail.cite(_cites_catalogue(catalogue, settings.source_ids))
    if case.items is not None:
        index = rules.drugs(catalogue.drug_list)
        dl = index.drug_list
        trail.cite([Cited("national", "drug_list", dl.edition, dl.source)])
        if on < dl.effective or (dl.until is not None and on > dl.until):
            trail.warn(
                "DRUG_LIST_OUT_OF_DATE",
                t(
                    f"药品目录 {dl.edition} 的适用期为 {dl.effective}–{dl.until or '…'}，"
                    + (f"规则日期 --as-of {on}" if as_of else f"就医日 {on}")
                    + " 不在其中",
                    f"drug list {dl.edition} applies {dl.effective}–{dl.until or '…'}; "
                    + (f"the rule date --as-of {on}" if as_of else f"the visit on {on}")
                    + " is outside it",
                ),
            )
        lines = classify_items(case.items, catalogue_index(rules.cache, catalogue, settings, index), trail.warn)
    else:
        lines = [classify_summary(case.summary, settings, trail.warn)]  # type: ignore[arg-type]
    total = sum((ln.amount for ln in lines), ZERO)
    fully = sum((ln.fully_self_paid for ln in lines), ZERO)
    over = sum((ln.over_ceiling for ln in lines), ZERO)
    pre = sum((ln.pre_self_pay for ln in lines), ZERO)
    in_scope = sum((ln.in_scope for ln in lines), ZERO)
    if trail.on:
        trail.step(
            "lines",
            t("就医地目录分类", "classified by the treatment place's catalogue"),
            f"{show(total)} = {show(fully)} + {show(over)} + {show(pre)} + {show(in_scope)}",
            in_scope,
            cat_src,
        )

    # 2. tier 1, basic medical insurance
    tier1, offsite_pay, tier1_amount = _tier1(case, std, group, elig, on, ytd, in_scope, total, trail)

    # 3. tier 2, critical illness / large amount
    scheme = getattr(std, case.person.scheme)
    tier2_section = _section_or_none(scheme.tier2, on)
    tier2_paid, tier2_base, tier2_kind = ZERO, ZERO, None
    visit_type = _benefit_visit_type(case, elig)
    if tier2_section is not None and visit_type in tier2_section.visit_types:
        tier2_kind = tier2_section.kind
        tier2_paid, tier2_base = _tier2(tier2_section, std, group, tier1, (pre, offsite_pay), ytd, trail)

    # 4. tier 3, medical assistance
    assist_paid, assist_base, assist_deferred = _tier3(case, std, on, tier1, (pre, offsite_pay), tier2_paid, ytd, trail)

    basic = tier1.paid
    personal = total - basic - tier2_paid - assist_paid
    if trail.on:
        trail.step(
            "personal",
            t("个人负担", "patient pays"),
            f"{show(total)} − {show(basic)} − {show(tier2_paid)} − {show(assist_paid)} = {show(personal)}",
            personal,
        )

    deferred: list[str] = []
    if elig.settlement == "reimburse_at_home":
        deferred = ["basic", "tier2", "medical_assistance"]
        trail.warn(
            "REIMBURSE_AT_HOME",
            t("不能直接结算：先全额垫付，回参保地报销", "no direct settlement: pay in full, claim at home"),
        )
    elif assist_deferred and assist_paid > 0:
        deferred = ["medical_assistance"]
        trail.warn(
            "ASSISTANCE_AT_HOME",
            t("医疗救助不在就医地直接结算，回参保地申请", "medical assistance does not settle here: claim it at home"),
        )

    ytd_after = _ytd_after(
        ytd, case, on, visit_type, tier1, tier1_amount, tier2_base, tier2_paid, assist_base, assist_paid
    )
    settlement = Settlement(
        case_id=case.person.id,
        service_date=service_date,
        eligibility=elig,
        lines=tuple(lines),
        total=total,
        fully_self_paid=fully,
        over_ceiling=over,
        pre_self_pay=pre,
        offsite_self_pay=offsite_pay,
        in_scope=in_scope,
        deductible=tier1.deductible,
        basic_fund=basic,
        above_cap=tier1.above_cap,
        tier2_kind=tier2_kind,
        tier2_fund=tier2_paid,
        medical_assistance_fund=assist_paid,
        personal_total=personal,
        deferred=tuple(deferred),
        warnings=tuple(trail.warnings) + tuple(_illustrative_warning(trail)),
        trail=tuple(trail.steps),
        ytd_after=ytd_after,
        cited=tuple(trail.cited.values()),
    )
    reconcile(settlement, tier2_section, ytd)
    return settlement


def _cites_catalogue(catalogue: object, ids: list[str]) -> list[Cited]:
    sources = catalogue.sources  # type: ignore[attr-defined]
    return [Cited(catalogue.region, "catalogue", i, sources[i]) for i in ids if i in sources]  # type: ignore[attr-defined]


def _section_or_none(sections: list, on: date):  # type: ignore[no-untyped-def]
    for s in sections:
        if s.in_force(on):
            return s
    return None


def _benefit_visit_type(case: Case, elig: Eligibility) -> str:
    if case.visit.type == "chronic_outpatient" and not elig.chronic_ok:
        return "outpatient"
    return case.visit.type


def _tier1(
    case: Case,
    std: Standards,
    group: str,
    elig: Eligibility,
    on: date,
    ytd: YearToDate,
    in_scope: Decimal,
    total: Decimal,
    trail: Trail,
) -> tuple[Banded, Decimal, Decimal]:
    """Tier 1: deductible, bands (off-site reduction applied), cap. Returns the banded payment,
    the off-site first self-pay and the in-scope amount tier 1 considered."""
    scheme = getattr(std, case.person.scheme)
    visit_type = _benefit_visit_type(case, elig)
    where = f"{std.region} standards.toml: {case.person.scheme}.{visit_type}"
    if visit_type == "chronic_outpatient":
        section = in_force(scheme.chronic, on, "chronic", where)
        terms: BenefitTerms = section.diseases[case.visit.disease]  # type: ignore[index]
        sources = section.source_ids
        accum = ytd.chronic.get(case.visit.disease or "", Accum())
    else:
        if case.visit.type == "chronic_outpatient":
            trail.warn(
                "CHRONIC_AS_OUTPATIENT",
                t(
                    "不符合门诊慢特病跨省直接结算条件，按普通门诊估算",
                    "not eligible as chronic-disease outpatient: estimated as general outpatient",
                ),
            )
        section = in_force(getattr(scheme, visit_type), on, visit_type, where)
        terms = section
        sources = section.source_ids
        accum = ytd.inpatient if visit_type == "inpatient" else ytd.outpatient
    src = trail.cite(_cites(std, sources))
    rate = _rate(terms, group, elig.matched_level, where)
    adj = elig.adjustment if visit_type in elig.adjustment.visit_types else None

    # the off-site first self-pay share comes off the in-scope amount before the deductible
    offsite_pay = ZERO
    amount = in_scope
    if adj is not None and adj.mode == "extra_pre_self_pay":
        offsite_pay = fen(in_scope * adj.value)
        amount = in_scope - offsite_pay
        if trail.on:
            trail.step(
                "offsite_self_pay",
                t(
                    f"异地就医先行自付（{label(elig.benefit_category, 'zh')}）",
                    f"off-site first self-pay ({elig.benefit_category})",
                ),
                f"{show(in_scope)} × {pct(adj.value)} = {show(offsite_pay)}",
                offsite_pay,
                src,
            )

    deductible = rate.deductible
    ded_note = ""
    if visit_type == "inpatient" and ytd.admissions >= 1 and rate.later_deductible is not None:
        deductible = rate.later_deductible
        ded_note = f" (admission {ytd.admissions + 1})"
    offsite_rule = _offsite_deductible(std, on, elig, visit_type)
    if offsite_rule is not None:
        share_amount = fen(total * offsite_rule.share)
        deductible = max(offsite_rule.min, share_amount)
        if offsite_rule.max is not None:
            deductible = min(deductible, offsite_rule.max)
        if trail.on:
            trail.step(
                "offsite_deductible",
                t("异地就医起付线", "out-of-province deductible"),
                f"{show(total)} × {pct(offsite_rule.share)} = {show(share_amount)} → [{show(offsite_rule.min)}, {show(offsite_rule.max) if offsite_rule.max is not None else '∞'}] = {show(deductible)}",
                deductible,
                src,
            )
    annual = terms.deductible_basis == "year"
    cap = rate.cap if rate.cap is not None else terms.cap
    bands = adjust_bands(rate.bands, adj)
    band_start = accum.in_scope if terms.bands_on == "year" else ZERO
    result = pay_through_bands(
        amount,
        deductible=deductible,
        deductible_used=accum.deductible if annual else ZERO,
        bands=bands,
        band_start=band_start,
        cap=cap,
        cap_mode=terms.cap_mode,
        fund_used=accum.fund,
        base_used=accum.in_scope,
    )
    used = f" − {show(accum.deductible)}" if annual and accum.deductible else ""
    if trail.on:
        trail.step(
            "deductible",
            t(
                f"起付线（{label(visit_type, 'zh')}，{elig.matched_level} 级）",
                f"deductible ({visit_type}, level {elig.matched_level}){ded_note}",
            ),
            f"min({show(amount)}, {show(deductible)}{used}) = {show(result.deductible)}",
            result.deductible,
            src,
        )
    if adj is not None and adj.mode in ("points", "multiplier"):
        op = f"− {pct(adj.value)}" if adj.mode == "points" else f"× {adj.value}"
        if trail.on:
            trail.step(
                "offsite_adjustment",
                t(f"异地就医待遇调整：各档比例 {op}", f"off-site adjustment: each ratio {op}"),
                ", ".join(f"{pct(a.ratio)}→{pct(b.ratio)}" for a, b in zip(rate.bands, bands, strict=False)),
                None,
                src,
            )
    for seg in result.segments:
        if trail.on:
            trail.step("band", t("统筹基金按比例支付", "basic fund pays its ratio"), seg.formula(), fen(seg.pay), src)
    if result.capped or result.above_cap:
        mode = "fund payment" if terms.cap_mode == "fund" else "in-scope base"
        if trail.on:
            trail.step(
                "cap",
                t("达到年度最高支付限额", "annual cap reached"),
                f"cap {show(cap)} on {mode}; above cap {show(result.above_cap)}",
                result.above_cap,
                src,
            )  # type: ignore[arg-type]
    if trail.on:
        trail.step(
            "basic_fund", t("基本医保统筹支付", "basic medical insurance pays"), show(result.paid), result.paid, src
        )
    return result, offsite_pay, amount


def _offsite_deductible(std: Standards, on: date, elig: Eligibility, visit_type: str):  # type: ignore[no-untyped-def]
    offsite = in_force(std.offsite, on, "offsite", std.region)
    rule = offsite.deductible_rule
    if rule is not None and elig.benefit_category in rule.categories and visit_type in rule.visit_types:
        return rule
    return None


def _self_pay_in_base(self_pay: tuple[Decimal, Decimal], include: bool) -> tuple[Decimal, str]:
    """Class-B pre-self-pay and off-site first self-pay, when the tier counts them in its base."""
    if not include:
        return ZERO, ""
    pre, offsite = self_pay
    text = f" + {show(pre)} (class B)" + (f" + {show(offsite)} (off-site)" if offsite else "")
    return pre + offsite, text


def _tier2(
    section: Tier2,
    std: Standards,
    group: str,
    tier1: Banded,
    self_pay: tuple[Decimal, Decimal],
    ytd: YearToDate,
    trail: Trail,
) -> tuple[Decimal, Decimal]:
    """Tier 2 on the year's cumulative base: deductible, bands, cap."""
    src = trail.cite(_cites(std, section.source_ids))
    if section.base == "above_basic_cap":
        base = tier1.above_cap
        formula = f"above basic cap = {show(base)}"
    else:
        extra, extra_text = _self_pay_in_base(self_pay, section.include_pre_self_pay)
        base = tier1.burden + extra
        formula = f"{show(tier1.burden)}{extra_text} = {show(base)}"
    name = label(section.kind, "zh"), label(section.kind, "en")
    if trail.on:
        trail.step("tier2_base", t(f"{name[0]}计算基数", f"{name[1]} base"), formula, base, src)
    result = pay_through_bands(
        base,
        deductible=section.deductible,
        deductible_used=min(ytd.tier2_base, section.deductible),
        bands=section.bands_for(group),
        band_start=ytd.tier2_base,
        cap=section.cap,
        cap_mode="fund",
        fund_used=ytd.tier2_fund,
        base_used=ytd.tier2_base,
    )
    if trail.on:
        if section.deductible:
            trail.step(
                "tier2_deductible",
                t(f"{name[0]}起付线", f"{name[1]} deductible"),
                f"{show(section.deductible)}; year base before {show(ytd.tier2_base)}; this bill {show(result.deductible)}",
                result.deductible,
                src,
            )
        for seg in result.segments:
            trail.step(
                "tier2_band", t(f"{name[0]}按比例支付", f"{name[1]} pays its ratio"), seg.formula(), fen(seg.pay), src
            )
        if result.capped:
            trail.step(
                "tier2_cap",
                t(f"{name[0]}达到年度封顶", f"{name[1]} annual cap reached"),
                f"cap {show(section.cap)}",  # type: ignore[arg-type]
                result.paid,
                src,
            )
        trail.step("tier2_fund", t(f"{name[0]}支付", f"{name[1]} pays"), show(result.paid), result.paid, src)
    return result.paid, base


def _tier3(
    case: Case,
    std: Standards,
    on: date,
    tier1: Banded,
    self_pay: tuple[Decimal, Decimal],
    tier2_paid: Decimal,
    ytd: YearToDate,
    trail: Trail,
) -> tuple[Decimal, Decimal, bool]:
    """Tier 3: the assistance category's deductible, ratio and cap on what tiers 1–2 left."""
    category = case.person.assistance
    if category is None:
        return ZERO, ZERO, False
    section = _section_or_none(std.assistance, on)
    where = f"{std.region} standards.toml: assistance"
    if section is None:
        raise CaseError(t(f"{on} 没有生效的医疗救助规则", f"no medical-assistance rules in force on {on}"), where)
    terms = section.categories.get(category)
    if terms is None:
        valid = ", ".join(section.categories)
        raise CaseError(
            t(f"参保地没有救助类别 {category}", f"the insured place has no assistance category {category}"),
            "person.assistance",
            t(f"可选：{valid}", f"one of {valid}"),
        )
    src = trail.cite(_cites(std, section.source_ids))
    extra, extra_text = _self_pay_in_base(self_pay, section.include_pre_self_pay)
    base = max(ZERO, tier1.burden + extra - tier2_paid)
    if trail.on:
        trail.step(
            "assistance_base",
            t(
                "医疗救助计算基数（前两重保障后的政策范围内个人负担）",
                "medical assistance base (policy-scope burden after tiers 1–2)",
            ),
            f"{show(tier1.burden)}{extra_text} − {show(tier2_paid)} = {show(base)}",
            base,
            src,
        )
    if terms.deductible_share is not None:
        deductible = fen(section.income_reference * terms.deductible_share)  # type: ignore[operator]
        if trail.on:
            trail.step(
                "assistance_deductible",
                t("医疗救助起付线", "assistance deductible"),
                f"{show(section.income_reference)} × {pct(terms.deductible_share)} = {show(deductible)}",
                deductible,
                src,
            )  # type: ignore[arg-type]
    else:
        deductible = terms.deductible or ZERO
    result = pay_through_bands(
        base,
        deductible=deductible,
        deductible_used=min(ytd.assistance_base, deductible),
        bands=[_one_band(terms.ratio)],
        band_start=ytd.assistance_base,
        cap=terms.cap,
        cap_mode="fund",
        fund_used=ytd.assistance_fund,
        base_used=ytd.assistance_base,
    )
    for seg in result.segments:
        if trail.on:
            trail.step(
                "assistance_band",
                t(f"医疗救助（{label(category, 'zh')}）", f"medical assistance ({category})"),
                seg.formula(),
                fen(seg.pay),
                src,
            )
    if trail.on:
        trail.step(
            "medical_assistance_fund",
            t("医疗救助支付", "medical assistance pays"),
            show(result.paid) + ("" if section.direct_settlement else " (claimed at home)"),
            result.paid,
            src,
        )
    return result.paid, base, not section.direct_settlement


def _one_band(ratio: Decimal):  # type: ignore[no-untyped-def]
    from medins.rules_model import Band

    return Band(ratio=ratio)


def _ytd_after(
    ytd: YearToDate,
    case: Case,
    on: date,
    visit_type: str,
    tier1: Banded,
    tier1_amount: Decimal,
    tier2_base: Decimal,
    tier2_paid: Decimal,
    assist_base: Decimal,
    assist_paid: Decimal,
) -> YearToDate:
    def grow(a: Accum) -> Accum:
        # built from validated amounts; the ceiling is checked on the whole result below
        return Accum.model_construct(
            in_scope=a.in_scope + tier1_amount,
            deductible=a.deductible + tier1.deductible,
            fund=a.fund + tier1.paid,
            above_cap=a.above_cap + tier1.above_cap,
        )

    update: dict[str, object] = {
        "year": on.year,
        "tier2_base": ytd.tier2_base + tier2_base,
        "tier2_fund": ytd.tier2_fund + tier2_paid,
        "assistance_base": ytd.assistance_base + assist_base,
        "assistance_fund": ytd.assistance_fund + assist_paid,
    }
    if visit_type == "inpatient":
        update["admissions"] = ytd.admissions + 1
        update["inpatient"] = grow(ytd.inpatient)
    elif visit_type == "outpatient":
        update["outpatient"] = grow(ytd.outpatient)
    else:
        disease = case.visit.disease or ""
        update["chronic"] = {**ytd.chronic, disease: grow(ytd.chronic.get(disease, Accum()))}
    after = ytd.model_copy(update=update)
    _ytd_within_ceiling(after)
    return after


def _ytd_within_ceiling(ytd: YearToDate) -> None:
    """Year-to-date sums after this bill stay within the amount ceiling a case may carry."""
    if ytd.admissions > MAX_ADMISSIONS:
        raise CaseError(
            t(
                f"本单之后年度住院次数为 {ytd.admissions}，超过 {MAX_ADMISSIONS}",
                f"after this bill the year's admissions would be {ytd.admissions}, more than {MAX_ADMISSIONS}",
            ),
            "ytd.admissions",
            t("检查年度累计住院次数", "check the year-to-date admissions"),
        )
    amounts: list[tuple[str, Decimal]] = [
        (name, getattr(ytd, name)) for name in ("tier2_base", "tier2_fund", "assistance_base", "assistance_fund")
    ]
    benefits = [("inpatient", ytd.inpatient), ("outpatient", ytd.outpatient)]
    benefits += [(f"chronic.{d}", a) for d, a in ytd.chronic.items()]
    for prefix, accum in benefits:
        amounts += [(f"{prefix}.{n}", getattr(accum, n)) for n in ("in_scope", "deductible", "fund", "above_cap")]
    for key, value in amounts:
        if value > MAX_AMOUNT:
            raise CaseError(
                t(
                    f"本单之后年度累计 {key} 为 {show(value)}，超过金额上限 {MAX_AMOUNT:,} 元",
                    f"after this bill the year-to-date {key} would be {show(value)}, "
                    f"above the ceiling of {MAX_AMOUNT:,} yuan",
                ),
                f"ytd.{key}",
                t("检查年度累计金额", "check the year-to-date amounts"),
            )


def _illustrative_warning(trail: Trail) -> list[Warning_]:
    used = [c for c in trail.cited.values() if c.source.confidence == "illustrative"]
    if not used:
        return []
    ids = ", ".join(f"{c.region}:{c.id}" for c in used)
    return [
        Warning_(
            "ILLUSTRATIVE_VALUES",
            t(
                f"本估算用到了未经政策原文核实的示意值（{ids}），结果仅供参考",
                f"this estimate uses illustrative values no primary text confirms ({ids}): indicative only",
            ),
        )
    ]


def reconcile(s: Settlement, tier2: Tier2 | None, ytd: YearToDate) -> None:
    """Check the identities of domain §4.1 and §4.5; a violation is a defect and raises."""
    for ln in s.lines:
        if (
            ln.amount != ln.fully_self_paid + ln.over_ceiling + ln.pre_self_pay + ln.in_scope
            or min(ln.fully_self_paid, ln.over_ceiling, ln.pre_self_pay, ln.in_scope) < 0
        ):
            raise SettlementBug(f"line {ln.index} does not reconcile: {ln}")
    if s.total != s.fully_self_paid + s.over_ceiling + s.pre_self_pay + s.in_scope:
        raise SettlementBug("bill parts do not add up to the total")
    if s.total != s.basic_fund + s.tier2_fund + s.medical_assistance_fund + s.personal_total:
        raise SettlementBug("tiers and personal payment do not add up to the total")
    for name in ("basic_fund", "tier2_fund", "medical_assistance_fund", "personal_total", "offsite_self_pay"):
        if getattr(s, name) < 0:
            raise SettlementBug(f"{name} is negative")
    if s.basic_fund > s.in_scope - s.offsite_self_pay:
        raise SettlementBug("basic fund pays more than the in-scope amount")
    if tier2 is not None and tier2.cap is not None and s.tier2_fund > max(ZERO, tier2.cap - ytd.tier2_fund):
        raise SettlementBug("tier 2 above its cap")
    for v in (s.basic_fund, s.tier2_fund, s.medical_assistance_fund, s.personal_total):
        if v != fen(v):
            raise SettlementBug("an amount is not rounded to the fen")
