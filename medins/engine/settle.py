"""Settle one bill: eligibility, lines, tier 1, tier 2, tier 3, reconciliation — in the policy's order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from medins.case_model import Accum, Case, YearToDate
from medins.engine.eligibility import check_eligibility, visit_place
from medins.engine.lines import catalogue_index, classify_items, classify_summary
from medins.engine.result import Cited, Eligibility, Settlement, Step, Warning_
from medins.engine.tiers import Banded, adjust_bands, pay_through_bands
from medins.errors import CaseError, SettlementBug, t
from medins.i18n import Text, label
from medins.loader import RuleSet, in_force
from medins.money import MAX_AMOUNT, ZERO, fen, pct, show
from medins.rules_model import AssistanceStage, BenefitTerms, Rate, Standards, Tier2
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
    insured, treated = case.person.insured_region, case.visit.region
    # a local visit's treatment place is the insured place: its own catalogue classifies the lines
    local = visit_place(insured, treated) == "local"
    catalogue_pack = rules.packs.get(insured if local else treated)
    catalogue = catalogue_pack.catalogue if catalogue_pack else None
    group = _group(case, std)
    ytd = _fresh_ytd(case.ytd, service_date.year, trail)

    # 0. eligibility decides the reduction and whether the bill settles here or at home
    elig = check_eligibility(case, std, catalogue, on)
    if elig.place == "in_province" and any(r.code == "SAME_PROVINCE" for r in elig.reasons):
        raise CaseError(
            t(
                f"参保地 {insured} 的规则包没有省内异地就医规则 offsite.in_province："
                f"就医地 {treated} 与参保地同省，无法计算",
                f"the {insured} pack has no in-province rules (offsite.in_province): "
                f"a visit in {treated}, in the insured place's own province, cannot be settled",
            ),
            "visit.region",
            t(
                f"在 {insured}/standards.toml 的 [[offsite]] 中加上 [offsite.in_province]"
                "（各备案类别及 unfiled 的待遇调整，注明来源）",
                f"add [offsite.in_province] to [[offsite]] in {insured}/standards.toml "
                "(an adjustment for each filing category and unfiled, with its source)",
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
    if catalogue is None and local and case.items is not None:
        raise CaseError(
            t(
                f"参保地 {insured} 的规则包没有目录（catalogue.toml）：本地就医的费用明细按参保地目录分类",
                f"the {insured} pack has no catalogue (catalogue.toml): "
                "a local visit's item lines are classified by the insured place's own catalogue",
            ),
            "items",
            t(
                f"改用 [summary] 汇总金额，或为 {insured} 加上 catalogue.toml",
                f"give the bill as [summary] amounts, or add catalogue.toml for {insured}",
            ),
        )
    if catalogue is None and local:
        lines, cat_src = _local_summary(case, insured, trail)
    elif catalogue is None:
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
    else:
        settings = in_force(catalogue.settings, on, "catalogue settings", f"{catalogue.region} catalogue.toml")
        cat_src = trail.cite(_cites_catalogue(catalogue, settings.source_ids))
    if catalogue is None:
        pass  # a local visit by its summary amounts, classified above
    elif case.items is not None:
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
            t("就医地目录分类", "classified by the treatment place's catalogue")
            if catalogue is not None
            else t("按 [summary] 汇总金额（参保地没有目录）", "the [summary] amounts as given (no catalogue)"),
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
    assist_paid, assist_base, assist_deferred, stage_ytd = _tier3(
        case, std, on, tier1, (pre, offsite_pay), tier2_paid, ytd, trail
    )

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

    ytd_after = _ytd_after(ytd, case, visit_type, tier1, tier1_amount, tier2_base, tier2_paid, assist_base, assist_paid)
    ytd_after = _with_stage_ytd(ytd_after, stage_ytd)
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


def _local_summary(case: Case, insured: str, trail: Trail) -> tuple[list, tuple[str, ...]]:
    """A local visit in a place whose pack has no catalogue: the summary amounts as given.

    Class-B pre-self-pay then has no ratio to be estimated with, so it must be given.
    """
    summary = case.summary
    assert summary is not None  # a case has items or a summary
    if summary.pre_self_pay is None and summary.class_b:
        raise CaseError(
            t(
                f"参保地 {insured} 的规则包没有目录，无法按比例估算乙类先行自付（class_b = {summary.class_b}）",
                f"the {insured} pack has no catalogue to estimate class-B pre-self-pay from "
                f"(class_b = {summary.class_b})",
            ),
            "summary.class_b",
            t("在 [summary] 中给出 pre_self_pay", "give pre_self_pay in [summary]"),
        )
    given = summary.model_copy(update={"pre_self_pay": summary.pre_self_pay or ZERO})
    trail.warn(
        "LOCAL_NO_CATALOGUE",
        t(
            f"参保地 {insured} 的规则包没有目录：按 [summary] 汇总金额计算",
            f"the {insured} pack has no catalogue: settled from the [summary] amounts as given",
        ),
    )
    return [classify_summary(given, None, trail.warn)], ()  # type: ignore[arg-type]


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

    # the deductible sequence runs over the year's inpatient admissions; other visits take its first value
    admission = ytd.admissions + 1 if visit_type == "inpatient" else 1
    deductible = rate.deductible_for(admission)
    offsite_rule = _offsite_deductible(std, on, elig, visit_type)
    if offsite_rule is None and len(rate.deductible) > 1 and trail.on:
        trail.step(
            "deductible_admission",
            t(f"第 {admission} 次住院起付线", f"deductible of admission {admission}"),
            f"[{', '.join(show(d) for d in rate.deductible)}][{min(admission, len(rate.deductible))}] = {show(deductible)}",
            deductible,
            src,
        )
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
    if terms.deductible_year_cap is not None:
        deductible = _deductible_within_year_cap(
            deductible, terms.deductible_year_cap, accum.deductible, annual, src, trail
        )
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
    nth = visit_type == "inpatient"
    if trail.on:
        trail.step(
            "deductible",
            t(
                f"起付线（{label(visit_type, 'zh')}，{elig.matched_level} 级{f'，第 {admission} 次住院' if nth else ''}）",
                f"deductible ({visit_type}, level {elig.matched_level}{f', admission {admission}' if nth else ''})",
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


def _deductible_within_year_cap(
    deductible: Decimal, year_cap: Decimal, paid: Decimal, annual: bool, src: tuple[str, ...], trail: Trail
) -> Decimal:
    """The deductible left under the yearly cap on the sum of deductibles (起付标准累计不超过 year_cap).

    Per admission, a stay pays at most what the deductibles ``paid`` this year leave of the cap. With an
    annual deductible (which ``rules validate`` refuses with a cap) the cap only lowers that deductible;
    what was paid is subtracted later, as for any annual deductible.
    """
    left = max(ZERO, year_cap - paid)
    kept = min(deductible, year_cap if annual else left)
    if trail.on:
        trail.step(
            "deductible_year_cap",
            t(
                f"年度起付线累计上限 {show(year_cap)}，已付 {show(paid)}，本次 {show(kept)}",
                f"yearly deductible cap {show(year_cap)}, paid {show(paid)}, this stay {show(kept)}",
            ),
            f"min({show(deductible)}, {show(year_cap)}{'' if annual else f' − {show(paid)}'}) = {show(kept)}",
            kept,
            src,
        )
    return kept


def _offsite_deductible(std: Standards, on: date, elig: Eligibility, visit_type: str):  # type: ignore[no-untyped-def]
    offsite = in_force(std.offsite, on, "offsite", std.region)
    rule = offsite.deductible_rule
    if (
        rule is not None
        and elig.cross_province  # an out-of-province deductible: never for local or in-province visits
        and elig.benefit_category in rule.categories
        and visit_type in rule.visit_types
    ):
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
) -> tuple[Decimal, Decimal, bool, StageYtd | None]:
    """Tier 3: the assistance category's stages, each with its deductible, ratio or bands and cap.

    The base is what tiers 1–2 left; each stage pays on the whole base or on what the earlier stages
    left, and the stages together never pay more than the base. Returns what tier 3 pays, its base,
    whether it is claimed at home, and the year-to-date amounts of the stages after the first.
    """
    category = case.person.assistance
    if category is None:
        return ZERO, ZERO, False, None
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
    stages = terms.stage_list()
    staged = terms.stages is not None
    before = _stages_before(ytd, len(stages), trail)
    paid_so_far = ZERO
    pays: list[Decimal] = []
    inputs: list[Decimal] = []
    for k, stage in enumerate(stages):
        zh, en = (
            (f"医疗救助第 {k + 1} 段", f"assistance stage {k + 1}") if staged else ("医疗救助", "medical assistance")
        )
        name = f"{zh}（{label(category, 'zh')}）", f"{en} ({category})"
        stage_base = base if stage.base == "burden" else base - paid_so_far
        base_before, fund_before = before[k]
        if staged and trail.on:
            formula = (
                f"{show(base)} (whole base)"
                if stage.base == "burden" or k == 0
                else f"{show(base)} − {show(paid_so_far)} (paid by stage{f's 1–{k}' if k > 1 else ' 1'}) = {show(stage_base)}"
            )
            trail.step("assistance_stage_base", t(f"{name[0]}基数", f"{name[1]} base"), formula, stage_base, src)
        deductible = _stage_deductible(stage, section.income_reference)
        result = pay_through_bands(
            stage_base,
            deductible=deductible,
            deductible_used=min(base_before, deductible),
            bands=stage.ratio_bands(),
            band_start=base_before,
            cap=stage.cap,
            cap_mode="fund",
            fund_used=fund_before,
            base_used=base_before,
        )
        # a stage on the whole base may overlap what earlier stages paid: tier 3 never exceeds the base
        pay = min(result.paid, base - paid_so_far)
        if trail.on:
            _stage_trail(
                trail,
                name,
                stage,
                staged,
                section.income_reference,
                deductible,
                (base_before, fund_before),
                result,
                pay,
                src,
            )
            if staged:
                trail.step("assistance_stage_paid", t(f"{name[0]}支付", f"{name[1]} pays"), show(pay), pay, src)
        paid_so_far += pay
        pays.append(pay)
        inputs.append(stage_base)
    if trail.on:
        formula = f"{' + '.join(show(p) for p in pays)} = {show(paid_so_far)}" if staged else show(paid_so_far)
        trail.step(
            "medical_assistance_fund",
            t("医疗救助支付", "medical assistance pays"),
            formula + ("" if section.direct_settlement else " (claimed at home)"),
            paid_so_far,
            src,
        )
    stage_ytd = _stage_ytd_after(ytd, inputs[1:], pays[1:]) if len(stages) > 1 else None
    return paid_so_far, base, not section.direct_settlement, stage_ytd


StageYtd = tuple[list[Decimal], list[Decimal]]
"""The year-to-date base and payment of each assistance stage after the first."""


def _stage_deductible(stage: AssistanceStage, income_reference: Decimal | None) -> Decimal:
    if stage.deductible_share is not None:
        return fen(income_reference * stage.deductible_share)  # type: ignore[operator]
    return stage.deductible or ZERO


def _stages_before(ytd: YearToDate, count: int, trail: Trail) -> list[tuple[Decimal, Decimal]]:
    """Each stage's cumulative base and payment before this bill.

    The first stage's base is ``assistance_base``; its payment is ``assistance_fund`` less what the
    later stages paid. Later stages read ``assistance_stage_base`` and ``assistance_stage_fund``.
    """
    later_base, later_fund = ytd.assistance_stage_base, ytd.assistance_stage_fund
    later_paid = sum(later_fund, ZERO)
    if later_paid > ytd.assistance_fund:
        raise CaseError(
            t(
                f"ytd.assistance_stage_fund 合计 {show(later_paid)}，超过 ytd.assistance_fund {show(ytd.assistance_fund)}",
                f"ytd.assistance_stage_fund adds up to {show(later_paid)}, "
                f"more than ytd.assistance_fund {show(ytd.assistance_fund)}",
            ),
            "ytd.assistance_stage_fund",
            t(
                "assistance_fund 是各段救助的年度合计，assistance_stage_fund 是第 2 段起各段",
                "assistance_fund is the year's total of all stages; assistance_stage_fund the stages after the first",
            ),
        )
    for i, paid in enumerate(later_fund):
        stage_base = later_base[i] if i < len(later_base) else ZERO
        if paid > stage_base:
            raise CaseError(
                t(
                    f"ytd.assistance_stage_fund[{i}] = {show(paid)} 超过该段的年度累计基数 {show(stage_base)}",
                    f"ytd.assistance_stage_fund[{i}] = {show(paid)} is more than the stage's year base {show(stage_base)}",
                ),
                f"ytd.assistance_stage_fund[{i}]",
                t(
                    "每段支付不超过该段的基数：检查 assistance_stage_base 与 assistance_stage_fund",
                    "a stage pays at most its base: check assistance_stage_base and assistance_stage_fund",
                ),
            )
    given = max(len(later_base), len(later_fund))
    if given > count - 1:
        trail.warn(
            "YTD_ASSISTANCE_STAGES",
            t(
                f"年度累计给出了 {given} 个后续救助段，本类别只有 {count - 1} 个：多出的照原样保留，不参与计算",
                f"the year-to-date amounts give {given} assistance stages after the first, the category has "
                f"{count - 1}: the extra ones are carried unchanged and not used",
            ),
        )
    elif count > 1 and given == 0 and (ytd.assistance_base or ytd.assistance_fund):
        trail.warn(
            "YTD_ASSISTANCE_STAGES",
            t(
                "年度累计的医疗救助没有按段给出（assistance_stage_base、assistance_stage_fund）：第 2 段起从零累计",
                "the year-to-date assistance is not given by stage (assistance_stage_base, assistance_stage_fund): "
                "the stages after the first count from zero",
            ),
        )

    def at(values: list[Decimal], i: int) -> Decimal:
        return values[i] if i < len(values) else ZERO

    out = [(ytd.assistance_base, ytd.assistance_fund - later_paid)]
    out += [(at(later_base, i), at(later_fund, i)) for i in range(count - 1)]
    return out


def _stage_ytd_after(ytd: YearToDate, inputs: list[Decimal], pays: list[Decimal]) -> StageYtd:
    size = max(len(inputs), len(ytd.assistance_stage_base), len(ytd.assistance_stage_fund))

    def grown(values: list[Decimal], add: list[Decimal]) -> list[Decimal]:
        old = [*values, *[ZERO] * (size - len(values))]
        return [v + (add[i] if i < len(add) else ZERO) for i, v in enumerate(old)]

    return grown(ytd.assistance_stage_base, inputs), grown(ytd.assistance_stage_fund, pays)


def _with_stage_ytd(ytd: YearToDate, stage_ytd: StageYtd | None) -> YearToDate:
    """The year-to-date state with the later assistance stages' amounts after this bill."""
    if stage_ytd is None:
        return ytd
    bases, funds = stage_ytd
    for key, values in (("assistance_stage_base", bases), ("assistance_stage_fund", funds)):
        for i, value in enumerate(values):
            if value > MAX_AMOUNT:
                raise CaseError(
                    t(
                        f"本单之后年度累计 {key}[{i}] 为 {show(value)}，超过金额上限 {MAX_AMOUNT:,} 元",
                        f"after this bill the year-to-date {key}[{i}] would be {show(value)}, "
                        f"above the ceiling of {MAX_AMOUNT:,} yuan",
                    ),
                    f"ytd.{key}",
                    t("检查年度累计金额", "check the year-to-date amounts"),
                )
    return ytd.model_copy(update={"assistance_stage_base": bases, "assistance_stage_fund": funds})


def _stage_trail(
    trail: Trail,
    name: tuple[str, str],
    stage: AssistanceStage,
    staged: bool,
    income_reference: Decimal | None,
    deductible: Decimal,
    before: tuple[Decimal, Decimal],
    result: Banded,
    pay: Decimal,
    src: tuple[str, ...],
) -> None:
    """A stage's deductible, ratio or bands, cap and payment, in numbers."""
    base_before, fund_before = before
    if deductible:
        share = (
            f"{show(income_reference)} × {pct(stage.deductible_share)} = "  # type: ignore[arg-type]
            if stage.deductible_share is not None
            else ""
        )
        trail.step(
            "assistance_deductible",
            t(f"{name[0]}起付线", f"{name[1]} deductible"),
            f"{share}{show(deductible)}; year base before {show(base_before)}; this bill {show(result.deductible)}",
            result.deductible,
            src,
        )
    if staged:
        ratio = f"ratio {pct(stage.ratio)}" if stage.ratio is not None else f"bands {_bands_text(stage, deductible)}"
        cap = f"cap {show(stage.cap)}, paid this year before {show(fund_before)}" if stage.cap is not None else "no cap"
        trail.step(
            "assistance_terms",
            t(f"{name[0]}比例与年度封顶", f"{name[1]} ratio and annual cap"),
            f"{ratio}; {cap}",
            None,
            src,
        )
    for seg in result.segments:
        trail.step("assistance_band", t(name[0], name[1]), seg.formula(), fen(seg.pay), src)
    if result.capped:
        trail.step(
            "assistance_cap",
            t(f"{name[0]}达到年度封顶", f"{name[1]} annual cap reached"),
            f"cap {show(stage.cap)} − paid this year before {show(fund_before)} = {show(result.paid)}",  # type: ignore[arg-type]
            result.paid,
            src,
        )
    if pay < result.paid:
        trail.step(
            "assistance_limit",
            t(f"{name[0]}以剩余基数为限", f"{name[1]} limited to the base left"),
            f"min({show(result.paid)}, {show(pay)} left of the base) = {show(pay)}",
            pay,
            src,
        )


def _bands_text(stage: AssistanceStage, deductible: Decimal) -> str:
    """The stage's bands on its cumulative base, the first from the deductible."""
    parts, start = [], deductible
    for band in stage.ratio_bands():
        low = band.from_ if band.from_ not in (None, ZERO) else start
        parts.append(f"{show(low)}–{show(band.to) if band.to is not None else '…'} {pct(band.ratio)}")
        start = band.to if band.to is not None else start
    return "; ".join(parts)


def _ytd_after(
    ytd: YearToDate,
    case: Case,
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
        "year": case.visit.service_date.year,  # the year of the visit, whatever date chose the rules
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
