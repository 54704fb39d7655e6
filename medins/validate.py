"""Semantic checks of rule files beyond their schema: what a careful reviewer of a pack would check."""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from medins import regions
from medins.codes import ASSISTANCE_CATEGORIES, CATEGORIES, LONG_TERM, NATIONAL_CHRONIC
from medins.errors import MedinsError, RuleError, t
from medins.i18n import Lang, Text
from medins.inherit import Resolved
from medins.loader import (
    CATALOGUE_FILE,
    DRUG_LIST_DIR,
    STANDARDS_FILE,
    is_region_code,
    load_drug_list,
    load_resolved,
    no_rule_files,
    present,
    read_toml,
)
from medins.rules_model import (
    Band,
    BenefitTerms,
    Catalogue,
    DeemedFiling,
    Explanation,
    Standards,
    check_edition,
)
from medins.types import Dated
from medins.worked import EXAMPLES_FILE


@dataclass(frozen=True)
class Problem:
    """One finding of the checks: an error, a warning (explained by the pack, or not), or a value
    still to confirm (its section cites a source marked ``to_confirm``)."""

    level: Literal["error", "warning", "to_confirm"]
    code: str
    file: str
    path: str
    text: Text
    explained: str | None = None

    def render(self, lang: Lang) -> str:
        tag = {"error": ("错误", "error"), "warning": ("警告", "warning"), "to_confirm": ("待核实", "to confirm")}[
            self.level
        ]
        head = f"{self.file}: {self.path}: " if self.path else f"{self.file}: "
        line = f"{tag[0] if lang == 'zh' else tag[1]}: {head}{self.text(lang)} [{self.code}]"
        if self.explained:
            line += (
                ("（已说明：" if lang == "zh" else " (explained: ") + self.explained + ("）" if lang == "zh" else ")")
            )
        return line


def check_bands(bands: Sequence[Band], path: str) -> Iterator[tuple[str, str, Text]]:
    """Bands ascend and join: each starts where the previous ended; only the last is open."""
    previous_to: Decimal | None = Decimal(0)
    for i, band in enumerate(bands):
        here = f"{path}.bands[{i}]"
        start = band.from_ if band.from_ is not None else previous_to
        if previous_to is None:
            yield (
                "BAND_AFTER_OPEN",
                here,
                t("前一档没有上限（to），其后不能再有档", "the previous band is open-ended, no band can follow it"),
            )
            return
        if band.from_ is not None and band.from_ != previous_to:
            yield (
                "BANDS_NOT_CONTIGUOUS",
                f"{here}.from",
                t(
                    f"分段不连续：from = {band.from_}，上一档止于 {previous_to}",
                    f"bands not contiguous: from = {band.from_} but the previous band ends at {previous_to}",
                ),
            )
        if band.to is not None and start is not None and band.to <= start:
            yield (
                "BANDS_NOT_ASCENDING",
                f"{here}.to",
                t(
                    f"分段未递增：to = {band.to} 不大于 {start}",
                    f"bands not ascending: to = {band.to} is not above {start}",
                ),
            )
        previous_to = band.to


def _periods(sections: Sequence[Dated], path: str) -> Iterator[tuple[str, str, Text]]:
    ordered = sorted(enumerate(sections), key=lambda p: p[1].effective)
    for (i, a), (j, b) in itertools.pairwise(ordered):
        if a.until is None or a.until >= b.effective:
            yield (
                "PERIODS_OVERLAP",
                f"{path}[{j}].effective",
                t(
                    f"生效期间与 {path}[{i}] 重叠（{a.effective}–{a.until or '…'} 与 {b.effective} 起）",
                    f"effective period overlaps {path}[{i}] ({a.effective}–{a.until or '…'} and from {b.effective})",
                ),
            )


def _sources(section: Dated | DeemedFiling, known: Mapping[str, object], path: str) -> Iterator[tuple[str, str, Text]]:
    """A section (or deemed-filing entry) names at least one source, each in the file's [sources]."""
    if not section.source_ids:
        yield (
            "SOURCE_MISSING",
            f"{path}.source",
            t("source = [] 没有指明来源", "source = [] names no source"),
        )
    for sid in section.source_ids:
        if sid not in known:
            yield (
                "SOURCE_UNKNOWN",
                f"{path}.source",
                t(f"来源 “{sid}” 不在 [sources] 中", f"source '{sid}' is not in [sources]"),
            )


def _ratio_at(terms: BenefitTerms, group: str, level: int) -> Decimal | None:
    for rate in terms.rates:
        if rate.matches(group, level):
            return rate.bands[0].ratio
    return None


def _deductible_sequence(
    terms: BenefitTerms, sequence: Sequence[Decimal], path: str, admissions: bool
) -> Iterator[tuple[str, str, Text]]:
    """A deductible of several values counts inpatient admissions: only for per-admission inpatient terms."""
    if len(sequence) < 2:
        return
    written = "[" + ", ".join(str(d) for d in sequence) + "]"
    if not admissions:
        yield (
            "DEDUCTIBLE_SEQUENCE_NOT_INPATIENT",
            path,
            t(
                f"起付线序列 {written} 按年度住院次数取值，只用于住院；此处写一个金额，如 deductible = {sequence[0]}",
                f"the deductible sequence {written} counts the year's admissions and is for inpatient terms only; "
                f"write one amount here, e.g. deductible = {sequence[0]}",
            ),
        )
    elif terms.deductible_basis == "year":
        yield (
            "DEDUCTIBLE_SEQUENCE_ANNUAL",
            path,
            t(
                f'起付线序列 {written} 与 deductible_basis = "year"（每年一次起付线）不相容；写一个金额，'
                '或改用 deductible_basis = "admission"',
                f'the deductible sequence {written} does not fit deductible_basis = "year" (one deductible a year): '
                'write one amount, or use deductible_basis = "admission"',
            ),
        )


def _deductible_year_cap(terms: BenefitTerms, path: str) -> Iterator[tuple[str, str, Text]]:
    """A yearly cap on the sum of deductibles needs a deductible paid per admission."""
    if terms.deductible_year_cap is not None and terms.deductible_basis == "year":
        yield (
            "DEDUCTIBLE_YEAR_CAP_ANNUAL",
            f"{path}.deductible_year_cap",
            t(
                f"deductible_year_cap = {terms.deductible_year_cap} 限制多次住院起付线的年度累计，"
                f'但 deductible_basis = "year" 已是每年一次起付线；删除 deductible_year_cap，或降低 deductible',
                f"deductible_year_cap = {terms.deductible_year_cap} caps the year's sum of per-admission deductibles, "
                'but deductible_basis = "year" already takes one deductible a year: remove deductible_year_cap, '
                "or lower deductible",
            ),
        )


def _deductible_warnings(terms: BenefitTerms, path: str) -> Iterator[tuple[str, str, Text]]:
    """A later admission's deductible above an earlier one, or a yearly cap below a first stay's deductible."""
    for i, rate in enumerate(terms.rates):
        here = f"{path}.rates[{i}].deductible"
        for j in range(1, len(rate.deductible)):
            before, after = rate.deductible[j - 1], rate.deductible[j]
            if after > before:
                yield (
                    "DEDUCTIBLE_RISES",
                    f"{here}[{j}]",
                    t(
                        f"第 {j + 1} 次住院起付线 {after} 高于第 {j} 次 {before}",
                        f"the deductible of admission {j + 1}, {after}, is above that of admission {j}, {before}",
                    ),
                )
        cap = terms.deductible_year_cap
        if cap is not None and terms.deductible_basis == "admission" and cap < rate.deductible[0]:
            yield (
                "DEDUCTIBLE_YEAR_CAP_BELOW_FIRST",
                f"{path}.deductible_year_cap",
                t(
                    f"年度起付线累计上限 {cap} 低于 rates[{i}] 首次住院起付线 {rate.deductible[0]}",
                    f"the yearly deductible cap {cap} is below the first admission's deductible "
                    f"{rate.deductible[0]} of rates[{i}]",
                ),
            )


def _benefit_terms(
    terms: BenefitTerms, groups: list[str], path: str, admissions: bool = False
) -> Iterator[tuple[str, str, Text]]:
    """Every group at every level finds exactly one rate; bands well formed; cap above deductible.

    ``admissions``: the terms are inpatient, where a deductible sequence counts the year's admissions.
    """
    yield from _deductible_year_cap(terms, path)
    for i, rate in enumerate(terms.rates):
        here = f"{path}.rates[{i}]"
        yield from check_bands(rate.bands, here)
        rgroups = [rate.group] if isinstance(rate.group, str) else rate.group
        for g in rgroups:
            if g != "*" and groups and g not in groups:  # no groups: a province pack's, its cities name them
                yield (
                    "GROUP_UNKNOWN",
                    f"{here}.group",
                    t(
                        f"人员类别 “{g}” 未在 groups 中声明（{', '.join(groups)}）",
                        f"group '{g}' is not declared in groups ({', '.join(groups)})",
                    ),
                )
        cap = rate.cap if rate.cap is not None else terms.cap
        first = rate.deductible[0]
        if cap is not None and cap <= first and terms.cap_mode == "base":
            yield (
                "CAP_BELOW_DEDUCTIBLE",
                f"{here}.deductible",
                t(f"封顶线 {cap} 不高于起付线 {first}", f"cap {cap} is not above the deductible {first}"),
            )
        yield from _deductible_sequence(terms, rate.deductible, f"{here}.deductible", admissions)
    for g in groups:
        for level in (1, 2, 3):
            n = sum(1 for r in terms.rates if r.matches(g, level))
            if n == 0:
                yield (
                    "RATE_MISSING",
                    f"{path}.rates",
                    t(f"没有适用于 {g}、{level} 级医院的费率", f"no rate for group {g} at level {level}"),
                )
            elif n > 1:
                yield (
                    "RATE_AMBIGUOUS",
                    f"{path}.rates",
                    t(f"{g}、{level} 级医院有 {n} 个费率", f"{n} rates match group {g} at level {level}"),
                )


def _benefit_warnings(terms: BenefitTerms, groups: list[str], path: str) -> Iterator[tuple[str, str, Text]]:
    yield from _deductible_warnings(terms, path)
    for g in groups:
        r1, r3 = _ratio_at(terms, g, 1), _ratio_at(terms, g, 3)
        if r1 is not None and r3 is not None and r3 > r1:
            yield (
                "RATIO_RISES_WITH_LEVEL",
                path,
                t(f"{g}：三级医院比例 {r3} 高于一级 {r1}", f"{g}: level-3 ratio {r3} is above level-1 {r1}"),
            )
    if "in_service" in groups and "retired" in groups:
        for level in (1, 2, 3):
            a, b = _ratio_at(terms, "in_service", level), _ratio_at(terms, "retired", level)
            if a is not None and b is not None and b < a:
                yield (
                    "RETIREE_BELOW_IN_SERVICE",
                    path,
                    t(
                        f"{level} 级医院退休比例 {b} 低于在职 {a}",
                        f"level {level}: retiree ratio {b} is below in-service {a}",
                    ),
                )


def _cross_province(diseases: Sequence[str], terms: dict[str, object], path: str) -> Iterator[tuple[str, str, Text]]:
    """A cross-province disease is one of the nationally settled ones, listed once, with its terms.

    Direct settlement across provinces exists only for the diseases the national administration names
    (``NATIONAL_CHRONIC``); a pack's local diseases settle at home and stay out of ``cross_province``.
    """
    seen: set[str] = set()
    for k, disease in enumerate(diseases):
        where = f"{path}.cross_province[{k}]"
        if disease in seen:
            yield (
                "DISEASE_REPEATED",
                where,
                t(f"病种 {disease!r} 重复列出", f"disease {disease!r} is listed twice"),
            )
            continue
        seen.add(disease)
        if disease not in NATIONAL_CHRONIC:
            close = difflib.get_close_matches(disease, NATIONAL_CHRONIC, n=1, cutoff=0.6)
            hint = t(f"是否应为 {close[0]!r}？", f"did you mean {close[0]!r}? ") if close else t("", "")
            names = ", ".join(NATIONAL_CHRONIC)
            yield (
                "DISEASE_NOT_NATIONAL",
                where,
                t(
                    f"{disease!r} 不是国家规定可跨省直接结算的门诊慢特病；{hint('zh')}可选：{names}",
                    f"{disease!r} is not one of the outpatient chronic diseases settled directly across provinces "
                    f"nationally; {hint('en')}one of {names}",
                ),
            )
        elif disease not in terms:
            yield (
                "DISEASE_UNDEFINED",
                f"{path}.cross_province",
                t(f"病种 {disease!r} 没有待遇定义", f"disease {disease!r} has no terms in diseases"),
            )


TEMPORARY_MIN_VALIDITY_MONTHS = 6
"""The national minimum validity of a temporary filing, in months.

医保发〔2022〕22号 (国家医保局、财政部, 2022-07-26): "跨省临时外出就医人员备案有效期原则上不少于6个月，
有效期内可在就医地多次就诊并享受跨省异地就医直接结算服务". Read in local guides that quote it:
清远 (gansulong.com/c/030HP64532024.html, cited as ``national-filing-guide`` by the 130100 pack) and
金华 (readke.com/c/3391599.html). A pack may set a longer validity, never a shorter one without a reason.
"""

_VALIDITY_RULE = "医保发〔2022〕22号：“跨省临时外出就医人员备案有效期原则上不少于6个月”"


def _temporary_validity(category: str, months: int | None, path: str) -> Iterator[tuple[str, str, Text]]:
    """A temporary category (referral, emergency, other_temporary) lasts at least the national minimum."""
    if category in LONG_TERM or months is None or months >= TEMPORARY_MIN_VALIDITY_MONTHS:
        return
    yield (
        "VALIDITY_BELOW_NATIONAL_MINIMUM",
        f"{path}.validity_months",
        t(
            f"validity_months = {months}：临时外出就医备案有效期短于国家规定的 {TEMPORARY_MIN_VALIDITY_MONTHS} 个月"
            f"（{_VALIDITY_RULE}；据清远、金华医保经办指南转述）。可设更长的有效期；地方文件确有更短规定时请在 [[explanations]] 中说明",
            f"validity_months = {months} is below the national minimum of {TEMPORARY_MIN_VALIDITY_MONTHS} months "
            f"for a temporary filing ({_VALIDITY_RULE}: temporary cross-province filings last at least 6 months "
            "in principle; as quoted by the Qingyuan and Jinhua filing guides). A pack may set longer; "
            "if a local text really sets less, say so in an [[explanations]] entry",
        ),
    )


def _missing_categories(table: Mapping[str, Any], path: str, what: Text) -> Iterator[tuple[str, str, str, Text]]:
    """Every filing category and ``unfiled`` needs an entry in an adjustment table."""
    for cat in (*CATEGORIES, "unfiled"):
        if cat not in table:
            yield (
                "error",
                "CATEGORY_MISSING",
                path,
                t(f"缺少类别 {cat} 的", "no ") + what + t("", f" for category {cat!r}"),
            )


def _in_province_and_deemed(std: Standards) -> Iterator[tuple[str, str, str, Text]]:
    """``offsite.in_province`` has every category; ``[[filing.deemed]]`` names places the insured
    place can be away at, once each, with known sources."""
    from medins.engine.eligibility import visit_place

    for i, section in enumerate(std.offsite):
        if section.in_province is None:
            continue
        yield from _missing_categories(
            section.in_province, f"offsite[{i}].in_province", t("省内异地待遇调整", "in-province adjustment")
        )
    for i, section in enumerate(std.filing):
        seen: dict[tuple[str, str], int] = {}
        for j, entry in enumerate(section.deemed):
            p = f"filing[{i}].deemed[{j}]"
            for k, dest in enumerate(entry.destinations):
                where = f"{p}.destinations[{k}]"
                try:
                    region = regions.require(dest, where, RuleError)
                except MedinsError as exc:
                    yield "error", "REGION_CODE", where, exc.text
                    continue
                if region.level == "县级":
                    yield (
                        "error",
                        "DESTINATION_LEVEL",
                        where,
                        t(
                            f"视同备案的就医地 {dest!r}（{region.name}）是县级代码：应为省级或地市级代码",
                            f"deemed destination {dest!r} ({region.name}) is a county-level code: "
                            f"name a province or city, e.g. {regions.city(dest)}",
                        ),
                    )
                if visit_place(std.region, dest) == "in_province" and all(o.in_province is None for o in std.offsite):
                    yield (
                        "warning",
                        "DEEMED_WITHOUT_IN_PROVINCE",
                        where,
                        t(
                            f"视同备案的就医地 {dest!r} 在参保地省内，但规则包没有 offsite.in_province：这些就医无法计算",
                            f"deemed destination {dest!r} is in the insured place's province, but the pack has no "
                            "offsite.in_province: such visits cannot be settled",
                        ),
                    )
                if visit_place(std.region, dest) == "local":
                    yield (
                        "error",
                        "DESTINATION_IS_INSURED_PLACE",
                        where,
                        t(
                            f"视同备案的就医地 {dest!r} 就是参保地 {std.region} 本身：本地就医本就无需备案",
                            f"deemed destination {dest!r} is the insured place {std.region} itself: "
                            "a local visit needs no filing",
                        ),
                    )
                for vt in entry.visit_types:
                    other = seen.setdefault((dest, vt), j)
                    if other != j:
                        yield (
                            "error",
                            "DEEMED_TWICE",
                            where,
                            t(
                                f"就医地 {dest!r} 的{vt}已在 filing[{i}].deemed[{other}] 中视同备案",
                                f"destination {dest!r} ({vt}) is already deemed filed in filing[{i}].deemed[{other}]",
                            ),
                        )
            for code, path, text in _sources(entry, std.sources, p):
                yield "error", code, path, text


def check_standards(std: Standards) -> Iterator[tuple[str, str, str, Text]]:
    """Yield (level, code, path, text) for a standards file."""
    known = std.sources
    for scheme_name in ("employee", "resident"):
        scheme = getattr(std, scheme_name)
        if scheme is None:
            continue
        for kind in ("inpatient", "outpatient"):
            sections = getattr(scheme, kind)
            base = f"{scheme_name}.{kind}"
            for code, path, text in _periods(sections, base):
                yield "error", code, path, text
            for i, section in enumerate(sections):
                p = f"{base}[{i}]"
                terms_found = _benefit_terms(section, scheme.groups, p, admissions=kind == "inpatient")
                for code, path, text in (*_sources(section, known, p), *terms_found):
                    yield "error", code, path, text
                for code, path, text in _benefit_warnings(section, scheme.groups, p):
                    yield "warning", code, path, text
        for code, path, text in _periods(scheme.chronic, f"{scheme_name}.chronic"):
            yield "error", code, path, text
        for i, section in enumerate(scheme.chronic):
            p = f"{scheme_name}.chronic[{i}]"
            for code, path, text in _sources(section, known, p):
                yield "error", code, path, text
            for code, path, text in _cross_province(section.cross_province, section.diseases, p):
                yield "error", code, path, text
            for disease, terms in section.diseases.items():
                for code, path, text in _benefit_terms(terms, scheme.groups, f"{p}.diseases.{disease}"):
                    yield "error", code, path, text
        for code, path, text in _periods(scheme.tier2, f"{scheme_name}.tier2"):
            yield "error", code, path, text
        for i, section in enumerate(scheme.tier2):
            p = f"{scheme_name}.tier2[{i}]"
            for code, path, text in (*_sources(section, known, p), *check_bands(section.bands, p)):
                yield "error", code, path, text
            for g, bands in section.group_bands.items():
                for code, path, text in check_bands(bands, f"{p}.group_bands.{g}"):
                    yield "error", code, path, text
                if scheme.groups and g not in scheme.groups:  # no groups: a province pack's, its cities name them
                    yield (
                        "error",
                        "GROUP_UNKNOWN",
                        f"{p}.group_bands.{g}",
                        t(
                            f"人员类别 “{g}” 未在 groups 中声明（{', '.join(scheme.groups)}）",
                            f"group '{g}' is not declared in groups ({', '.join(scheme.groups)})",
                        ),
                    )
            if section.cap is not None and section.cap <= section.deductible and section.base == "above_basic_cap":
                yield (
                    "error",
                    "CAP_BELOW_DEDUCTIBLE",
                    f"{p}.cap",
                    t(
                        f"封顶线 {section.cap} 不高于起付线 {section.deductible}",
                        f"cap {section.cap} is not above the deductible {section.deductible}",
                    ),
                )
    for name in ("offsite", "filing", "assistance"):
        sections = getattr(std, name)
        for code, path, text in _periods(sections, name):
            yield "error", code, path, text
        for i, section in enumerate(sections):
            for code, path, text in _sources(section, known, f"{name}[{i}]"):
                yield "error", code, path, text
    for i, section in enumerate(std.offsite):
        yield from _missing_categories(section.categories, f"offsite[{i}].categories", t("待遇调整", "adjustment"))
        for cat in ("relocated_retiree", "long_term_resident", "stationed_worker"):
            adj = section.categories.get(cat)  # type: ignore[call-overload]
            if adj is not None and adj.mode != "none":
                yield (
                    "warning",
                    "LONG_TERM_REDUCED",
                    f"offsite[{i}].categories.{cat}",
                    t(
                        "长期异地人员原则上执行参保地待遇，此处设有降低",
                        "long-term filers normally get the local standard; this pack reduces it",
                    ),
                )
    yield from _in_province_and_deemed(std)
    for i, section in enumerate(std.filing):
        for cat in CATEGORIES:
            rule = section.categories.get(cat)
            if rule is None:
                yield (
                    "error",
                    "CATEGORY_MISSING",
                    f"filing[{i}].categories",
                    t(f"缺少类别 {cat} 的备案规则", f"no filing rule for category {cat}"),
                )
                continue
            for m in (*rule.required, *rule.one_of):
                if m not in section.materials:
                    yield (
                        "error",
                        "MATERIAL_UNKNOWN",
                        f"filing[{i}].categories.{cat}",
                        t(f"材料 {m!r} 未在 materials 中定义", f"material {m!r} is not defined in materials"),
                    )
            for code, path, text in _temporary_validity(cat, rule.validity_months, f"filing[{i}].categories.{cat}"):
                yield "warning", code, path, text
    yield from _assistance_checks(std)


def _assistance_checks(std: Standards) -> Iterator[tuple[str, str, str, Text]]:
    """Stage bands ascend and join; the first stage of 特困/低保 meets the 70 % guidance; a later
    stage on the whole base is flagged, since it overlaps what the earlier stages paid."""
    for i, section in enumerate(std.assistance):
        for cat, terms in section.categories.items():
            p = f"assistance[{i}].categories.{cat}"
            first = terms.stage_list()[0]
            ratio = first.ratio if first.ratio is not None else first.ratio_bands()[0].ratio
            if cat in ASSISTANCE_CATEGORIES[:2] and ratio < Decimal("0.7"):
                at = p if terms.stages is None else f"{p}.stages[0]"
                yield (
                    "warning",
                    "ASSISTANCE_BELOW_GUIDANCE",
                    f"{at}.ratio" if first.ratio is not None else f"{at}.bands[0].ratio",
                    t(
                        f"特困、低保救助比例 {ratio} 低于国家指导的 70%",
                        f"ratio {ratio} below the national guidance of 70 % for this category",
                    ),
                )
            for k, stage in enumerate(terms.stages or []):
                here = f"{p}.stages[{k}]"
                if stage.bands is not None:
                    for code, path, text in check_bands(stage.bands, here):
                        yield "error", code, path, text
                if k > 0 and stage.base == "burden":
                    yield (
                        "warning",
                        "ASSISTANCE_STAGE_WHOLE_BASE",
                        f"{here}.base",
                        t(
                            f'base = "burden"：第 {k + 1} 段按全部救助基数计算，与前几段已支付的部分重叠；'
                            "各段合计以救助基数为限",
                            f'base = "burden": stage {k + 1} pays on the whole assistance base, overlapping what '
                            "the earlier stages paid; all stages together are limited to the base",
                        ),
                    )


def check_catalogue(cat: Catalogue, rules_root: Path) -> Iterator[tuple[str, str, str, Text]]:
    known = cat.sources
    for code, path, text in _periods(cat.settings, "settings"):
        yield "error", code, path, text
    for i, section in enumerate(cat.settings):
        for code, path, text in _sources(section, known, f"settings[{i}]"):
            yield "error", code, path, text
    if cat.institutions is not None and cat.institutions_source not in known:
        yield (
            "error",
            "SOURCE_UNKNOWN",
            "institutions_source",
            t(
                f"定点机构名单需要 institutions_source 指向 [sources]（收到 {cat.institutions_source!r}）",
                f"the institution list needs institutions_source naming a [sources] entry "
                f"(got {cat.institutions_source!r})",
            ),
        )
    if not (rules_root / DRUG_LIST_DIR / f"{cat.drug_list}.json").exists():
        yield (
            "error",
            "DRUG_LIST_MISSING",
            "drug_list",
            t(
                f"找不到药品目录 {cat.drug_list!r}（{DRUG_LIST_DIR}/{cat.drug_list}.json）",
                f"drug list {cat.drug_list!r} not found ({DRUG_LIST_DIR}/{cat.drug_list}.json)",
            ),
        )
    seen: set[str] = set()
    for i, item in enumerate(cat.items):
        if item.code in seen:
            yield (
                "error",
                "ITEM_DUPLICATE",
                f"items[{i}].code",
                t(f"项目编码 {item.code!r} 重复", f"item code {item.code!r} repeated"),
            )
        seen.add(item.code)


def _explained(problem: tuple[str, str, str, Text], explanations: list[Explanation]) -> str | None:
    _, code, path, _ = problem
    for ex in explanations:
        if ex.code == code and path.startswith(ex.path):
            return ex.why
    return None


READ_NAMES = (CATALOGUE_FILE, STANDARDS_FILE, EXAMPLES_FILE)
"""The file names medins reads in a region folder."""

_READS = t(
    f"medins 只读取地区文件夹中的 {CATALOGUE_FILE}、{STANDARDS_FILE}、{EXAMPLES_FILE} 和 {DRUG_LIST_DIR}/*.json",
    f"medins reads only {CATALOGUE_FILE}, {STANDARDS_FILE} and {EXAMPLES_FILE} in a region folder and "
    f"{DRUG_LIST_DIR}/*.json",
)


def _unread(path: Path) -> Problem:
    return Problem(
        "warning",
        "UNREAD_FILE",
        str(path),
        "",
        t(f"medins 不读取文件 {path.name!r}：", f"medins does not read a file named {path.name!r}: ") + _READS,
    )


def validate_drug_list(path: Path) -> list[Problem]:
    """The problems of a drug-list file, read exactly as ``estimate`` reads it, then its codes."""
    try:
        drugs = load_drug_list(path)
    except MedinsError as exc:
        return [Problem("error", "DRUG_LIST", exc.where or str(path), "", exc.message)]
    problems: list[Problem] = []
    if drugs.edition != path.stem:
        problems.append(
            Problem(
                "warning",
                "EDITION_MISMATCH",
                str(path),
                "edition",
                t(
                    f"edition = {drugs.edition!r}，但文件名是 {path.name}（目录按文件名引用）",
                    f"edition = {drugs.edition!r} but the file is {path.name} (catalogues refer to the file name)",
                ),
            )
        )
    seen: dict[str, int] = {}
    for i, drug in enumerate(drugs.drugs):
        if drug.code in seen:
            problems.append(
                Problem(
                    "error",
                    "DRUG_DUPLICATE",
                    str(path),
                    f"drugs[{i}].code",
                    t(
                        f"药品编码 {drug.code!r} 与 drugs[{seen[drug.code]}] 重复",
                        f"drug code {drug.code!r} repeats drugs[{seen[drug.code]}]",
                    ),
                )
            )
        seen.setdefault(drug.code, i)
    return problems


def validate_file(path: Path, rules_root: Path) -> list[Problem]:
    """All problems of one file: a drug list, or a rule file's loading errors, then the semantic checks.

    A ``.toml`` or ``.json`` file under a name medins does not read gets a warning (and, when it
    is a rule file by its ``kind``, the checks too).
    """
    if path.suffix == ".json":
        return validate_drug_list(path) if path.parent.name == DRUG_LIST_DIR else [_unread(path)]
    if path.name == EXAMPLES_FILE:
        return validate_examples(path, rules_root)
    problems: list[Problem] = []
    if path.name not in READ_NAMES:
        problems.append(_unread(path))
        try:
            kind = read_toml(path).get("kind")
        except MedinsError:
            return problems
        if kind not in ("catalogue", "standards"):
            return problems
    try:
        loaded, resolved = load_resolved(path)
    except MedinsError as exc:
        return [*problems, Problem("error", "SCHEMA", exc.where or str(path), "", exc.message, None)]
    expected = {CATALOGUE_FILE: "catalogue", STANDARDS_FILE: "standards"}.get(path.name)
    if expected is not None and loaded.kind != expected:
        problems.append(
            Problem(
                "error",
                "KIND_MISMATCH",
                str(path),
                "kind",
                t(
                    f'kind = "{loaded.kind}"，但文件名 {path.name} 要求 kind = "{expected}"',
                    f'kind = "{loaded.kind}" but the file name {path.name} needs kind = "{expected}"',
                ),
            )
        )
    folder = path.parent.name
    if not is_region_code(folder):
        problems.append(
            Problem(
                "error",
                "FOLDER_NOT_REGION",
                str(path),
                "",
                t(
                    f"文件夹名 {folder!r} 不是地区代码，medins 不读取其中的文件",
                    f"folder name {folder!r} is not a region code: medins does not read files in it",
                ),
                None,
            )
        )
    elif loaded.region != folder:
        problems.append(
            Problem(
                "error",
                "FOLDER_MISMATCH",
                str(path),
                "region",
                t(
                    f'文件夹 {folder} 与 region = "{loaded.region}" 不一致',
                    f'folder {folder} disagrees with region = "{loaded.region}"',
                ),
            )
        )
    try:
        regions.require(loaded.region, f"{path}: region", RuleError)
    except MedinsError as exc:
        problems.append(Problem("error", "REGION_CODE", str(path), "region", exc.message))
    for p in _checks(loaded, rules_root):
        level, code, kpath, text = p
        origin = resolved.origin(kpath) if kpath else path  # an inherited section's problem: its own file
        explained = _explained(p, loaded.explanations) if level == "warning" else None
        problems.append(Problem(level, code, str(origin), kpath, text, explained))  # type: ignore[arg-type]
    return problems + to_confirm(loaded, path, resolved)


def to_confirm(loaded: Catalogue | Standards, path: Path, resolved: Resolved | None = None) -> list[Problem]:
    """Each value whose section cites a source marked ``to_confirm``, with its key path and value (under
    the file it is written in, when the pack extends another)."""
    from medins.sources import model_values, written

    out = []
    for row in model_values(loaded.region, loaded.name, loaded):
        marked = [sid for sid, source in row.sources if source.to_confirm]
        if marked:
            value = written(row.value)
            out.append(
                Problem(
                    "to_confirm",
                    "TO_CONFIRM",
                    str(resolved.origin(row.path) if resolved else path),
                    row.path,
                    t(f"{value}（来源 {marked[0]} 待核实）", f"{value} (source {marked[0]} to confirm)"),
                )
            )
    return out


def validate_examples(path: Path, rules_root: Path) -> list[Problem]:
    """An examples file: its schema, each example's name and origin, then each example settled
    against the rules directory (a wrong amount is an error naming the example and both amounts)."""
    from medins.worked import settle_file

    try:
        loaded, outcomes = settle_file(path, rules_root)
    except MedinsError as exc:
        return [Problem("error", "SCHEMA", exc.where or str(path), "", exc.message, None)]
    problems = [Problem("error", code, str(path), key, text) for code, key, text in loaded.problems]
    if not loaded.examples:
        problems.append(
            Problem(
                "to_confirm",
                "EXAMPLES_NONE",
                str(path),
                "examples",
                t(
                    "还没有例子：抄录本地政策通知中的计算示例，或按本包取值手算几例（至少三例，涵盖住院、门诊和慢特病）",
                    "no example yet: copy the worked examples of the region's policy notices, or work a few out by "
                    "hand from this pack's values (three at least, across inpatient, outpatient and chronic visits)",
                ),
            )
        )
    for o in outcomes:
        if not o.passed:
            problems.append(
                Problem(
                    "error",
                    "EXAMPLE_FAILED",
                    str(path),
                    f"examples[{o.index}]",
                    t(f"例子 {o.name!r} 未通过：{o.reason('zh')}", f"example {o.name!r} failed: {o.reason('en')}"),
                )
            )
    return problems


def _checks(loaded: Catalogue | Standards, rules_root: Path) -> list[tuple[str, str, str, Text]]:
    return list(check_standards(loaded) if isinstance(loaded, Standards) else check_catalogue(loaded, rules_root))


def _stray(folder: Path) -> list[Path]:
    """The ``.toml`` and ``.json`` files of a folder under names medins does not read there."""
    return sorted(
        f
        for f in folder.iterdir()
        if f.suffix in (".toml", ".json") and f.name not in READ_NAMES and (f.is_file() or f.is_symlink())
    )


def _region_files(folder: Path) -> list[Path]:
    return [folder / n for n in READ_NAMES if present(folder / n)] + _stray(folder)


def _referenced_drug_list(catalogue: Path) -> Path | None:
    """The drug list a catalogue file names, when the name is valid (its faults are reported elsewhere)."""
    try:
        edition = read_toml(catalogue).get("drug_list")
        check_edition(edition)
    except (MedinsError, ValueError, TypeError):
        return None
    found = catalogue.parent.parent / DRUG_LIST_DIR / f"{edition}.json"
    return found if present(found) else None


def _no_rule_files(path: Path) -> RuleError:
    return no_rule_files(path, t("没有可检查的规则文件", "no rule files to check"))


def rule_files(paths: Sequence[Path]) -> list[Path]:
    """The files to check under the given paths (a rules directory, a region folder, or files).

    A rules directory gives its region folders' files, files in folders not named by a region code
    that hold rule files (so that the check reports the folder), stray ``.toml``/``.json`` files
    (reported as unread) and every drug list; a catalogue also brings the drug list it names.
    Refused: a path that does not exist, and paths holding no file medins reads (nothing to check).
    """
    files: list[Path] = []
    for p in paths:
        if p.is_file() or (p.is_symlink() and not p.exists()):
            files.append(p)
        elif p.is_dir() and any(present(p / n) for n in READ_NAMES) and not _is_rules_dir(p):
            files.extend(_region_files(p))
        elif p.is_dir() and p.name == DRUG_LIST_DIR:
            files.extend(sorted(f for f in p.iterdir() if f.suffix == ".json"))
        elif p.is_dir():
            found: list[Path] = []
            for folder in sorted(f for f in p.iterdir() if f.is_dir()):
                if is_region_code(folder.name) or any(present(folder / n) for n in READ_NAMES):
                    found.extend(_region_files(folder))
            if not any(f.name in READ_NAMES for f in found):
                raise _no_rule_files(p)
            # files at the top of a rules directory are not read, whatever their name
            found.extend(
                sorted(f for f in p.iterdir() if f.suffix in (".toml", ".json") and (f.is_file() or f.is_symlink()))
            )
            lists = p / DRUG_LIST_DIR
            if lists.is_dir():
                found.extend(sorted(f for f in lists.iterdir() if f.suffix == ".json"))
            files.extend(found)
        else:
            raise RuleError(
                t("路径不存在", "no such file or folder"),
                str(p),
                t("请给出规则目录、地区文件夹或规则文件", "give a rules directory, a region folder or rule files"),
            )
    for f in list(files):
        if f.name == CATALOGUE_FILE:
            drug_list = _referenced_drug_list(f)
            if drug_list is not None:
                files.append(drug_list)
    unique = list(dict.fromkeys(files))
    if not any(_is_read(f) for f in unique):
        raise _no_rule_files(paths[0] if paths else Path("."))
    return unique


def _is_rules_dir(folder: Path) -> bool:
    """Whether a folder is a rules directory (it holds region folders) rather than a region folder."""
    return not is_region_code(folder.name) and any(f.is_dir() and is_region_code(f.name) for f in folder.iterdir())


def _is_read(path: Path) -> bool:
    """Whether medins reads a file of this name: a rule file, or a drug list in ``drug-lists/``."""
    return path.name in READ_NAMES or (path.suffix == ".json" and path.parent.name == DRUG_LIST_DIR)
