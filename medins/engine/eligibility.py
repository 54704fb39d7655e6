"""Eligibility for direct settlement: where the visit is, filing, destination, proof, hospital, visit type.

A visit in the insured pooling region itself is local (no filing, no reduction); one in another region
of the same province settles under the pack's ``offsite.in_province`` adjustments; one in another
province under ``offsite.categories``. ``[[filing.deemed]]`` names destinations that count as filed.

Pure: the caller passes the insured place's standards and (when it has one) the treatment place's
catalogue; nothing here reads files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from medins import regions
from medins.case_model import Case, Filing, Visit
from medins.codes import LONG_TERM
from medins.engine.result import Cited, Eligibility, Place, Reason
from medins.errors import CaseError, RuleError, t
from medins.i18n import label
from medins.loader import in_force
from medins.rules_model import (
    Adjustment,
    Catalogue,
    DeemedFiling,
    FilingSection,
    Institution,
    OffsiteSection,
    Standards,
)

# Reasons that mean the filing does not hold for this visit: the visit is then treated as unfiled.
FILING_FAILURES = frozenset(
    {"FILING_MISSING", "FILING_EXPIRED", "FILING_NOT_YET_VALID", "DESTINATION_MISMATCH", "PROOF_MISSING"}
)


def _months_later(day: date, months: int) -> date | None:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    if year > date.max.year:
        return None
    # the month's length without the calendar module (and the locale module it imports)
    days = 31 if month == 12 else (date(year, month + 1, 1) - date(year, month, 1)).days
    return date(year, month, min(day.day, days))


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it has no such day).

    Past the calendar's last day the answer is that day, 9999-12-31.
    """
    return _months_later(day, months) or date.max


def validity_end(start: date, months: int) -> date:
    """The last day of a validity of ``months`` from ``start``: the day before the same date that many
    months later, or the end of that month when it has no such date (31 Aug + 6 months ends 28/29 Feb).

    A validity that would run past the calendar's last day (9999-12-31) ends on that day.
    """
    target = _months_later(start, months)
    if target is None:
        return date.max
    return target if target.day < start.day else target - timedelta(days=1)


def days_after(day: date, days: int) -> date:
    """``day`` plus ``days``, at most the calendar's last day (9999-12-31)."""
    return day + timedelta(days=days) if (date.max - day).days >= days else date.max


def _cite(std: Standards, section_sources: list[str], role: str = "standards") -> list[Cited]:
    return [Cited(std.region, role, sid, std.sources[sid]) for sid in section_sources if sid in std.sources]


def destination_matches(destination: str, treatment: str, level: str) -> bool:
    """A filing's destination covers the treatment place at the province or city level the rules use."""
    if regions.province(destination) != regions.province(treatment):
        return False
    if level == "province" or destination == regions.province(destination):
        return True
    return regions.city(destination) == regions.city(treatment)


LOCAL_STANDARD = Adjustment.model_construct(mode="none")
"""A local visit's adjustment: the insured place's own standard, no reduction (built without
validation: a value this plain would cost the model's validator to be built at every start)."""


def visit_place(insured: str, treated: str) -> Place:
    """Where a visit is, seen from the insured place.

    ``local`` when the treatment place is in the insured pooling region (the same city; a
    municipality such as 110000 Beijing or 310000 Shanghai as a whole), ``in_province`` when it is
    elsewhere in the same province, ``cross_province`` otherwise.
    """
    if regions.city(treated) == regions.city(insured):
        return "local"
    if regions.province(treated) == regions.province(insured):
        return "in_province"
    return "cross_province"


def covers(destination: str, treated: str) -> bool:
    """A named destination covers the treatment place: a province code its province, else its city."""
    if destination == regions.province(destination):
        return regions.province(treated) == destination
    return regions.city(treated) == regions.city(destination)


def deemed_entry(rules: FilingSection, treated: str, visit_type: str) -> tuple[int, DeemedFiling] | None:
    """The first ``[[filing.deemed]]`` entry whose destinations cover the place and visit type, if any."""
    for i, entry in enumerate(rules.deemed):
        if visit_type in entry.visit_types and any(covers(d, treated) for d in entry.destinations):
            return i, entry
    return None


def find_institution(catalogue: Catalogue | None, code: str) -> Institution | None:
    for inst in (catalogue.institutions or []) if catalogue else []:
        if inst.code == code:
            return inst
    return None


def _level_unknown(code: str | None, region: str, catalogue: Catalogue | None) -> CaseError:
    """Why the hospital's level is not known: the code is not in the treatment place's catalogue."""
    place = f"{region} {regions.name(region)}"
    fix = t(
        f"在 [visit] 中填写 hospital_level = 1、2 或 3（与 hospital = {code!r} 一起）",
        f"give hospital_level = 1, 2 or 3 in [visit] (beside hospital = {code!r})",
    )
    if catalogue is None or catalogue.institutions is None:
        return CaseError(
            t(
                f"就医地 {place} 的规则包没有定点机构名单，无法从机构代码 {code!r} 得知医院等级",
                f"the pack of the treatment place {place} lists no institutions: "
                f"the level of hospital {code!r} is unknown",
            ),
            "visit.hospital",
            fix,
        )
    return CaseError(
        t(
            f"机构代码 {code!r} 不在就医地 {place} 的定点机构目录中，无法得知医院等级",
            f"hospital {code!r} is not in the institution catalogue of the treatment place {place}, "
            "so its level is unknown",
        ),
        "visit.hospital",
        fix,
    )


def check_eligibility(case: Case, std: Standards, catalogue: Catalogue | None, on: date) -> Eligibility:
    """Decide whether the visit settles directly and which off-site standard applies.

    The steps in order: where the visit is, the filing (or a deemed one), the hospital, the chronic
    disease, then the benefit category and its adjustment. ``on`` chooses the rule values; the filing
    is always checked against the visit's own dates.
    """
    person, visit, filing = case.person, case.visit, case.filing
    service_day = visit.service_date or on
    settle_day = visit.settlement_date or service_day
    found = _Found()
    offsite: OffsiteSection = in_force(std.offsite, on, "offsite", f"{std.region} standards.toml")
    rules: FilingSection = in_force(std.filing, on, "filing", f"{std.region} standards.toml")
    found.cited += _cite(std, offsite.source_ids) + _cite(std, rules.source_ids)

    place, adjustments, table = _place(found, std, offsite, person.insured_region, visit.region)
    local, cross = place == "local", place == "cross_province"
    treated = f"{visit.region} {regions.name(visit.region)}"
    deemed = None if local else deemed_entry(rules, visit.region, visit.type)

    category = None if local or filing is None else filing.category
    checked = _Filing()
    if local or (filing is None and deemed is not None):
        pass  # no filing needed, or one is deemed below
    elif filing is None:
        found.add(
            "FILING_MISSING",
            "没有异地就医备案：不能直接结算，回参保地按未备案标准报销",
            "no off-site filing: no direct settlement; reimbursed at home at the unfiled standard",
            True,
        )
    else:
        checked = _filing(found, filing, rules, visit.region, service_day, settle_day)
    deemed_at: int | None = None
    if deemed is not None and (filing is None or any(r.code in FILING_FAILURES for r in found.reasons)):
        deemed_at, entry = deemed
        # the filing's failures no longer block: the destination counts as filed
        found.reasons = [Reason(r.code, r.text, False) if r.code in FILING_FAILURES else r for r in found.reasons]
        found.cited += _cite(std, entry.source_ids)
        found.reasons.append(deemed_reason(treated, deemed_at, entry.category))
        if filing is None:
            category = entry.category

    level, hospital_name = _hospital(found, visit, catalogue, cross, treated)
    if level is None:
        raise _level_unknown(visit.hospital, visit.region, catalogue)
    matched = level if local else offsite.level_map.get(str(level), level)
    chronic_ok = _chronic(found, std, case, on, cross)

    reasons = found.reasons
    eligible = not any(r.blocking for r in reasons)
    filing_failed = any(r.code in FILING_FAILURES for r in reasons)
    if local:
        benefit_category, adjustment = "local", LOCAL_STANDARD
    elif deemed is not None and deemed_at is not None:
        entry = deemed[1]
        benefit_category = entry.category
        adjustment = entry.adjustment or _adjustment(adjustments, benefit_category, std.region, table)
    else:
        benefit_category = "unfiled" if (filing is None or filing_failed) else filing.category
        adjustment = _adjustment(adjustments, benefit_category, std.region, table)
    group = None if category is None else ("long_term" if category in LONG_TERM else "temporary")
    return Eligibility(
        place=place,
        deemed=deemed_at,
        cross_province=cross,
        category=category,
        group=group,  # type: ignore[arg-type]
        eligible=eligible,
        settlement="direct" if eligible else "reimburse_at_home",
        benefit_category=benefit_category,
        adjustment=adjustment,
        reasons=tuple(reasons),
        materials_required=checked.required,
        materials_one_of=checked.one_of,
        materials_missing=checked.missing,
        material_names=dict(rules.materials),
        hospital_level=level,
        matched_level=matched,
        hospital_name=hospital_name,
        emergency_deadline=checked.emergency_deadline,
        filing_valid_until=checked.valid_until,
        chronic_ok=chronic_ok,
        cited=tuple(found.cited),
    )


# The reasons whose words hold a bill's own dates (or a deemed filing's entry): written here once, for
# the check of one visit and for the batch over columns, which adds them to what a bill's fields decide.
DATED_REASONS = frozenset({"EMERGENCY_DEEMED_FILED", "RETROACTIVE_OK", "FILING_NOT_YET_VALID", "FILING_EXPIRED"})
PLACE_REASONS = frozenset({"LOCAL_VISIT", "SAME_PROVINCE", "IN_PROVINCE"})


def emergency_reason(deadline: date | None) -> Reason:
    deadline_zh = f"，最迟于 {deadline} 补办备案" if deadline else ""
    deadline_en = f"; file on or before {deadline}" if deadline else ""
    return Reason(
        "EMERGENCY_DEEMED_FILED",
        t("急诊抢救视同已备案" + deadline_zh, "emergency treatment is deemed filed" + deadline_en),
        False,
    )


def retroactive_reason(start: date) -> Reason:
    return Reason(
        "RETROACTIVE_OK",
        t(
            f"入院后、出院结算前（{start}）补办备案，可直接结算",
            f"filed after admission but before discharge settlement ({start}): settles directly",
        ),
        False,
    )


def not_yet_reason(start: date, settle_day: date) -> Reason:
    return Reason(
        "FILING_NOT_YET_VALID",
        t(
            f"备案自 {start} 起生效，晚于结算日 {settle_day}",
            f"the filing starts {start}, after settlement on {settle_day}",
        ),
        True,
    )


def expired_reason(until: date, service_day: date) -> Reason:
    return Reason(
        "FILING_EXPIRED",
        t(
            f"备案有效期至 {until}，就医日 {service_day} 已过期",
            f"the filing expired on {until}, before the visit on {service_day}",
        ),
        True,
    )


def deemed_reason(treated: str, deemed_at: int, category: str) -> Reason:
    """``treated``: the treatment place's code and name."""
    return Reason(
        "DEEMED_FILED",
        t(
            f"到 {treated} 就医视同已备案（filing.deemed[{deemed_at}]），按{label(category, 'zh')}结算",
            f"a visit to {treated} counts as filed (filing.deemed[{deemed_at}]): settled as {category}",
        ),
        False,
    )


class _Found:
    """What the steps of the check find: the reasons, in order, and the sources they rest on."""

    def __init__(self) -> None:
        self.reasons: list[Reason] = []
        self.cited: list[Cited] = []

    def add(self, code: str, zh: str, en: str, blocking: bool) -> None:
        self.reasons.append(Reason(code, t(zh, en), blocking))


@dataclass
class _Filing:
    """What checking a filing found beside its reasons."""

    valid_until: date | None = None
    emergency_deadline: date | None = None
    missing: tuple[str, ...] | None = None
    required: tuple[str, ...] = ()
    one_of: tuple[str, ...] = ()


def _place(
    found: _Found, std: Standards, offsite: OffsiteSection, insured: str, treated_in: str
) -> tuple[Place, dict, str]:
    """Where the visit is: local, in-province (with the pack's ``in_province`` table) or cross-province;
    the adjustment table that applies and its key."""
    adjustments = offsite.categories
    place = visit_place(insured, treated_in)
    local = place == "local"
    table = "offsite.categories"
    treated = f"{treated_in} {regions.name(treated_in)}"
    add = found.add
    if local:
        add(
            "LOCAL_VISIT",
            f"在参保统筹区内就医（{treated}）：按参保地本地待遇，无需备案，不降低",
            f"treated in the insured pooling region itself ({treated}): the local standard, "
            "no filing needed, no reduction",
            False,
        )
    elif place == "in_province":
        if offsite.in_province is None:
            add(
                "SAME_PROVINCE",
                f"参保地与就医地 {treated} 在同一省内（省内异地），不属于跨省异地就医；"
                f"参保地 {std.region} 规则包没有省内异地规则 offsite.in_province",
                f"insured and treatment places ({treated}) are in the same province: not a cross-province "
                f"visit, and the {std.region} pack has no in-province rules (offsite.in_province)",
                True,
            )
        else:
            add(
                "IN_PROVINCE",
                f"省内异地就医（{treated}）：按参保地省内异地规则 offsite.in_province",
                f"in-province off-site visit ({treated}): the insured place's offsite.in_province rules apply",
                False,
            )
            adjustments = offsite.in_province
            table = "offsite.in_province"
    return place, adjustments, table


def _filing(
    found: _Found, filing: Filing, rules: FilingSection, treated_in: str, service_day: date, settle_day: date
) -> _Filing:
    """A filing's checks: materials, emergency deemed filing, validity, retroactive filing, destination."""
    add = found.add
    out = _Filing()
    rule = rules.categories[filing.category]
    out.required, out.one_of = required, one_of = tuple(rule.required), tuple(rule.one_of)
    if filing.materials is not None:
        unknown = [m for m in filing.materials if m not in rules.materials]
        if unknown:
            valid = ", ".join(f"{k}（{v}）" for k, v in rules.materials.items())
            raise CaseError(
                t(
                    f"参保地不认识的材料：{', '.join(unknown)}",
                    f"materials the insured place does not know: {', '.join(unknown)}",
                ),
                "filing.materials",
                t(f"可用：{valid}", f"valid: {valid}"),
            )
        have = set(filing.materials)
        lacking = [m for m in required if m not in have]
        if one_of and not have.intersection(one_of):
            lacking.append("|".join(one_of))
        out.missing = tuple(lacking)
    if filing.destination is not None:
        regions.require(filing.destination, "filing.destination", CaseError)
    if filing.category == "emergency" and rules.emergency_deemed_filed and filing.start is None:
        if rules.emergency_filing_days is not None:
            out.emergency_deadline = days_after(settle_day, rules.emergency_filing_days)
        found.reasons.append(emergency_reason(out.emergency_deadline))
    else:
        start = filing.start or filing.filed_on
        if start is None:
            raise CaseError(
                t("备案缺少 start（备案生效日期）", "the filing has no start date"),
                "filing.start",
                t("填写 start = YYYY-MM-DD", "add start = YYYY-MM-DD"),
            )
        out.valid_until = filing.end
        if out.valid_until is None and rule.validity_months is not None:
            out.valid_until = validity_end(start, rule.validity_months)
        if service_day < start:
            if rules.retroactive_before_settlement and start <= settle_day:
                found.reasons.append(retroactive_reason(start))
            else:
                found.reasons.append(not_yet_reason(start, settle_day))
        if out.valid_until is not None and service_day > out.valid_until:
            found.reasons.append(expired_reason(out.valid_until, service_day))
        if filing.destination is None:
            raise CaseError(
                t("备案缺少 destination（备案就医地）", "the filing has no destination"),
                "filing.destination",
                t("填写就医地的地区代码", "give the treatment place's region code"),
            )
        if not destination_matches(filing.destination, treated_in, rules.destination_level):
            add(
                "DESTINATION_MISMATCH",
                f"备案就医地 {filing.destination} {regions.name(filing.destination)} 与就医地 {treated_in} {regions.name(treated_in)} 不符",
                f"filed for {filing.destination} {regions.name(filing.destination)}, treated in {treated_in} {regions.name(treated_in)}",
                True,
            )
    if out.missing:
        names = "、".join(
            rules.materials.get(m, m) if "|" not in m else "或".join(rules.materials[x] for x in m.split("|"))
            for m in out.missing
        )
        add("PROOF_MISSING", f"备案材料不全，缺：{names}", f"filing proof missing: {', '.join(out.missing)}", True)
    return out


def _hospital(
    found: _Found, visit: Visit, catalogue: Catalogue | None, cross: bool, treated: str
) -> tuple[int | None, str | None]:
    """The hospital's code, designation and level from the treatment place's institution list."""
    add = found.add
    level = visit.hospital_level
    hospital_name = None
    if visit.hospital is not None:
        if not (len(visit.hospital) == 12 and visit.hospital[0] == "H" and visit.hospital[1:].isdigit()):
            raise CaseError(
                t(
                    f"医疗机构代码 {visit.hospital!r} 格式不对，应为 H 加 11 位数字",
                    f"institution code {visit.hospital!r} is not H followed by 11 digits",
                ),
                "visit.hospital",
                t("如 H11010500001", "e.g. H11010500001"),
            )
        if catalogue is None or catalogue.institutions is None:
            add(
                "DESIGNATION_UNKNOWN",
                "就医地规则包未收录定点机构名单，未核对是否为跨省联网定点机构",
                "the treatment place's pack lists no institutions: designation not checked",
                False,
            )
        else:
            inst = find_institution(catalogue, visit.hospital)
            if catalogue.institutions_source:
                found.cited += [
                    Cited(
                        catalogue.region,
                        "catalogue",
                        catalogue.institutions_source,
                        catalogue.sources[catalogue.institutions_source],
                    )
                ]
            if inst is not None:
                hospital_name = inst.name
                level = inst.level
            if inst is None or (cross and not inst.cross_province):
                # the cross-province flag is the national network's; local and in-province visits
                # need only the institution to be on the place's list
                add(
                    "NOT_DESIGNATED",
                    f"{visit.hospital} 不是跨省联网定点医疗机构"
                    if cross
                    else f"{visit.hospital} 不在就医地 {treated} 的定点医疗机构名单中",
                    f"{visit.hospital} is not a designated cross-province institution"
                    if cross
                    else f"{visit.hospital} is not on the designated institutions of {treated}",
                    True,
                )
    return level, hospital_name


def _chronic(found: _Found, std: Standards, case: Case, on: date, cross: bool) -> bool:
    """A chronic-disease visit: the disease is one the insured place settles, and the person is approved."""
    person, visit = case.person, case.visit
    add = found.add
    chronic_ok = True
    if visit.type == "chronic_outpatient":
        scheme = getattr(std, person.scheme)
        section = (
            in_force(scheme.chronic, on, "chronic", f"{std.region} standards.toml")
            if scheme and scheme.chronic
            else None
        )
        covered = (section.cross_province if cross else section.diseases) if section is not None else ()
        if visit.disease not in covered:
            chronic_ok = False
            add(
                "DISEASE_NOT_COVERED",
                f"{label(visit.disease or '', 'zh')} 不在参保地跨省直接结算的门诊慢特病范围"
                if cross
                else f"{label(visit.disease or '', 'zh')} 不是参保地的门诊慢特病",
                f"{visit.disease} is not a chronic disease the insured place settles across provinces"
                if cross
                else f"{visit.disease} is not a chronic disease of the insured place",
                True,
            )
        elif visit.disease not in person.chronic_diseases:
            chronic_ok = False
            add(
                "NOT_APPROVED_FOR_DISEASE",
                f"参保地未认定此人患 {label(visit.disease or '', 'zh')}",
                f"the insured place has not approved this person for {visit.disease}",
                True,
            )

    return chronic_ok


def _adjustment(adjustments: dict, category: str, region: str, table: str) -> Adjustment:
    """The category's adjustment of the table in force; a table without it is the pack's mistake."""
    adjustment = adjustments.get(category)
    if adjustment is None:
        raise RuleError(
            t(
                f"{table} 中没有类别 {category!r} 的待遇调整",
                f"{table} has no adjustment for category {category!r}",
            ),
            f"{region} standards.toml: {table}",
            t(
                f"在 {table} 中加上 {category} = {{ mode = ... }}",
                f"add {category} = {{ mode = ... }} to {table}",
            ),
        )
    return adjustment
