"""What if: one bill settled under several choices (compare), and one person's year of bills (year).

Both settle through the public API, :func:`medins.api.estimate`, bill by bill: a scenario or a bill
of the year gets the same validation, amounts, warnings and trail as ``medins estimate``.

- **compare**: the case as given is the baseline; each ``--vary NAME=V1,V2,…`` replaces one choice
  of the patient's, and every combination of the values (the cartesian product, at most
  ``MAX_SCENARIOS``) is settled and set beside the baseline, with what the patient must do for it.
- **year**: a year file holds one person (and filing) and several ``[[visits]]``; the visits are
  settled in service-date order, each from the year-to-date amounts the one before left, and the
  deductibles, bands and caps crossed on the way are read from each bill's trail.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from medins import regions
from medins.api import estimate, load_rules, parse_case
from medins.case_model import Case, Filing, YearToDate
from medins.codes import CATEGORIES
from medins.engine.eligibility import destination_matches
from medins.engine.result import Settlement
from medins.errors import CaseError, MedinsError, SettlementBug, UsageError, t
from medins.i18n import Lang, Text, label
from medins.loader import RuleSet, in_force, read_toml
from medins.money import ZERO, pct, show

# ----------------------------------------------------------------------------- labels
# Labels this module adds. They belong in medins.i18n.LABELS; kept here until they move there.
WHATIF_LABELS: dict[str, tuple[str, str]] = {
    "category": ("备案类别", "filing category"),
    "level": ("医院等级", "hospital level"),
    "treated-in": ("就医地", "treated in"),
    "hospital": ("医疗机构", "hospital"),
    "scheme": ("险种", "scheme"),
    "group": ("人员类别", "person group"),
    "as-of": ("规则日期", "rules as of"),
    "none": ("不备案", "no filing"),
    "settlement": ("结算方式", "settlement"),
    "basic": ("基本医保", "basic"),
    "tier2": ("大病/大额", "tier 2"),
    "assistance": ("医疗救助", "assistance"),
    "patient": ("个人负担", "patient pays"),
    "difference": ("与原案差额", "vs as given"),
    "todo": ("需要做的", "what to do"),
    "cheapest": ("最省", "cheapest"),
}


def wlabel(key: str, lang: Lang) -> str:
    """A label of this module's table, else of the domain's."""
    pair = WHATIF_LABELS.get(key)
    if pair is None:
        return label(key, lang)
    return pair[0] if lang == "zh" else pair[1]


# ----------------------------------------------------------------------------- compare

MAX_SCENARIOS = 200
"""The most combinations one compare settles: more is refused, asking for fewer values."""

NO_FILING = "none"
"""The ``category`` value for "do not file"."""

VARY_NAMES = ("category", "level", "treated-in", "hospital", "scheme", "group", "as-of")
"""What ``--vary`` may change, in the order the scenarios apply them."""

_HOSPITAL = re.compile(r"H\d{11}")


def _usage(text: Text, name: str, value: str | None, fix: Text | None = None) -> UsageError:
    where = f"--vary {name}={value}" if value is not None else f"--vary {name}"
    return UsageError(text, where, fix)


def _choices_fix(value: str, choices: Sequence[str]) -> Text:
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    hint = t(f"是否应为 '{close[0]}'？", f"did you mean '{close[0]}'? ") if close else t("", "")
    return hint + t(f"可选：{', '.join(choices)}", f"one of {', '.join(choices)}")


NO_FILING_NAMES = frozenset({NO_FILING, "不备案", "未备案"})


def _checked_value(name: str, raw: Any) -> Any:
    """One value of a variation, checked and typed: level an int, as-of a date, the rest text.

    Values are read as the quick-estimate flags read them (:mod:`medins.vocab`): ids or Chinese
    names (``异地转诊``, ``居民``, ``三级``, ``北京市``), dates as 2025-03-10, 2025/3/10 or 20250310.
    """
    from medins import vocab

    if name == "as-of":
        if isinstance(raw, date):
            return raw
        day = vocab.parse_date(str(raw))
        if day is None:
            raise _usage(t(f"{str(raw)!r} 不是日期", f"{str(raw)!r} is not a date"), name, str(raw), vocab.DATE_FORMS)
        return day
    text = str(raw).strip()
    if name == "level":
        level = vocab.norm_level(text)
        if level not in ("1", "2", "3"):
            raise _usage(
                t(f"医院等级 {text!r} 无效", f"invalid hospital level {text!r}"),
                name,
                text,
                t("医院等级为 1、2 或 3", "hospital levels are 1, 2 or 3"),
            )
        return int(level)
    if name == "category":
        if text in NO_FILING_NAMES:
            return NO_FILING
        category = vocab.choice("category", text)
        if category not in CATEGORIES:
            raise _usage(
                t(f"备案类别 {text!r} 无效", f"invalid filing category {text!r}"),
                name,
                text,
                _choices_fix(text, (*CATEGORIES, NO_FILING)),
            )
        return category
    if name == "scheme":
        scheme = vocab.choice("scheme", text)
        if scheme not in ("employee", "resident"):
            raise _usage(
                t(f"险种 {text!r} 无效", f"invalid scheme {text!r}"),
                name,
                text,
                _choices_fix(text, ("employee", "resident")),
            )
        return scheme
    if name == "treated-in":
        try:
            code, _notice = vocab.region(text, t("就医地 --vary treated-in", "treatment place --vary treated-in"))
        except vocab.RegionProblem as exc:
            raise _usage(exc.text, name, text, exc.fix) from None
        regions.require(code, f"--vary treated-in={text}", UsageError)
        return code
    if name == "hospital" and not _HOSPITAL.fullmatch(text):
        raise _usage(
            t(
                f"医疗机构代码 {text!r} 格式不对，应为 H 加 11 位数字",
                f"institution code {text!r} is not H followed by 11 digits",
            ),
            name,
            text,
            t("如 H11010500001", "e.g. H11010500001"),
        )
    if name == "group":
        if not text:
            raise _usage(t("人员类别为空", "empty person group"), name, text)
        return vocab.choice("status", text)
    return text


def check_variations(
    vary: Mapping[str, Sequence[Any]] | Sequence[tuple[str, Sequence[Any]]],
) -> list[tuple[str, tuple[Any, ...]]]:
    """Check what to vary: known names, each once, valid distinct values, at most ``MAX_SCENARIOS`` combinations.

    ``level`` and ``hospital`` are not varied together (a hospital has its own level). Every
    refusal is a ``UsageError`` naming ``--vary NAME=VALUE``.
    """
    pairs = list(vary.items()) if isinstance(vary, Mapping) else list(vary)
    if not pairs:
        raise UsageError(
            t("没有给出要比较的选择", "nothing to vary"),
            "--vary",
            t("如 --vary category=none,referral", "e.g. --vary category=none,referral"),
        )
    out: list[tuple[str, tuple[Any, ...]]] = []
    seen: set[str] = set()
    for name, values in pairs:
        if name not in VARY_NAMES:
            raise _usage(t(f"不能变化 {name!r}", f"cannot vary {name!r}"), name, None, _choices_fix(name, VARY_NAMES))
        if name in seen:
            raise _usage(
                t(f"{name} 给了两次", f"{name} is given twice"),
                name,
                None,
                t(f"把取值写在一起：--vary {name}=A,B", f"give its values once: --vary {name}=A,B"),
            )
        seen.add(name)
        if isinstance(values, (str, bytes)) or not values:
            raise _usage(
                t(f"{name} 没有取值", f"{name} has no values"),
                name,
                None,
                t(f"如 --vary {name}=A,B", f"e.g. --vary {name}=A,B"),
            )
        checked: list[Any] = []
        for raw in values:
            value = _checked_value(name, raw)
            if value in checked:
                raise _usage(t(f"取值 {raw} 给了两次", f"value {raw} is given twice"), name, str(raw))
            checked.append(value)
        out.append((name, tuple(checked)))
    if {"level", "hospital"} <= seen:
        raise UsageError(
            t(
                "不能同时变化 level 和 hospital：医疗机构有自己的等级",
                "level and hospital cannot both vary: a hospital has its own level",
            ),
            "--vary",
            t("只变化其中之一", "vary one of them"),
        )
    count = 1
    for _name, values in out:
        count *= len(values)
    if count > MAX_SCENARIOS:
        sizes = " × ".join(f"{len(v)} ({n})" for n, v in out)
        raise UsageError(
            t(
                f"组合数 {sizes} = {count}，超过上限 {MAX_SCENARIOS}",
                f"{sizes} = {count} scenarios, more than {MAX_SCENARIOS}",
            ),
            "--vary",
            t("减少取值，或分几次比较", "give fewer values, or compare in several runs"),
        )
    return out


def parse_vary(texts: Sequence[str]) -> list[tuple[str, tuple[Any, ...]]]:
    """``["level=1,2,3", "category=none,referral"]`` as checked variations (see :func:`check_variations`)."""
    pairs: list[tuple[str, list[str]]] = []
    for text in texts:
        name, sep, values = text.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(
                t(f"{text!r} 不是 NAME=V1,V2 的形式", f"{text!r} is not NAME=V1,V2"),
                "--vary",
                t(
                    f"如 --vary level=1,2,3；NAME 为 {', '.join(VARY_NAMES)}",
                    f"e.g. --vary level=1,2,3; NAME is one of {', '.join(VARY_NAMES)}",
                ),
            )
        parts = [v.strip() for v in values.split(",")]
        if any(not p for p in parts):
            raise _usage(
                t(f"{text!r} 中有空的取值", f"{text!r} has an empty value"),
                name,
                values,
                t("取值之间用一个逗号分隔", "separate the values with single commas"),
            )
        pairs.append((name, parts))
    return check_variations(pairs)


@dataclass(frozen=True)
class Scenario:
    """One combination of choices, settled.

    ``difference`` is what the patient pays here minus what they pay in the case as given;
    ``todo`` says what the patient must do for it (file, with which materials; claim at home …).
    """

    choices: tuple[tuple[str, Any], ...]
    case: Case
    as_of: date | None
    settlement: Settlement
    difference: Decimal
    todo: tuple[Text, ...]
    cheapest: bool = False

    def name(self, lang: Lang) -> str:
        return ", ".join(f"{wlabel(n, lang)}={_shown_choice(n, v, lang)}" for n, v in self.choices)


@dataclass(frozen=True)
class Comparison:
    """The case as given (``base``) and every scenario, in the order of the product of the values."""

    variations: tuple[tuple[str, tuple[Any, ...]], ...]
    case: Case
    base: Settlement
    base_todo: tuple[Text, ...]
    scenarios: tuple[Scenario, ...]

    @property
    def cheapest(self) -> tuple[Scenario, ...]:
        return tuple(s for s in self.scenarios if s.cheapest)


def _table_choice(name: str, value: Any, lang: Lang) -> str:
    """A scenario's value in the comparison table: categories, schemes and groups by their labels."""
    if name in ("category", "scheme", "group"):
        return wlabel(value, lang)
    return _shown_choice(name, value, lang)


def _shown_choice(name: str, value: Any, lang: Lang) -> str:
    if name == "category":
        return wlabel(value, lang) if lang == "zh" else str(value)
    if name == "treated-in":
        return f"{value} {regions.name(value)}" if lang == "zh" else str(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def compare(
    case: Case,
    vary: Mapping[str, Sequence[Any]] | Sequence[tuple[str, Sequence[Any]]],
    rules: RuleSet | None = None,
    as_of: date | None = None,
) -> Comparison:
    """Settle ``case`` as given and under every combination of ``vary``; mark the cheapest for the patient.

    ``vary`` maps names of :data:`VARY_NAMES` to values: ``category`` a filing category or
    ``"none"`` (the filing is replaced by one of that category for the scenario's treatment place,
    from the service date, with the materials the insured place requires; ``none`` removes it),
    ``level`` 1–3 (the hospital code is dropped), ``treated-in`` a region code (the hospital code is
    dropped and its level kept; a filing for the old place moves to the new one), ``hospital`` a
    code looked up in the treatment place's catalogue, ``scheme``, ``group`` (``person.status``) and
    ``as-of`` (the date choosing rule values; else ``as_of``). The cheapest scenarios have the lowest
    patient payment, ties broken by the lowest payment at discharge.
    """
    rules = rules or load_rules()
    variations = check_variations(vary)
    base = estimate(case, rules, as_of)
    _reconciled(base, "as given")
    scenarios: list[Scenario] = []
    names = [n for n, _ in variations]
    for combo in itertools.product(*(values for _, values in variations)):
        choices = dict(zip(names, combo, strict=True))
        ordered = tuple((n, choices[n]) for n in names)
        where = "--vary " + " ".join(f"{n}={_shown_choice(n, v, 'en')}" for n, v in ordered)
        try:
            scenario_case, scenario_as_of = apply_choices(case, base, choices, rules, as_of)
            result = estimate(scenario_case, rules, scenario_as_of)
        except MedinsError as exc:
            exc.where = f"{where}: {exc.where}" if exc.where else where
            raise
        _reconciled(result, where)
        scenarios.append(
            Scenario(
                choices=ordered,
                case=scenario_case,
                as_of=scenario_as_of,
                settlement=result,
                difference=result.personal_total - base.personal_total,
                todo=todo(scenario_case, result, choices.get("group")),
            )
        )
    if scenarios:
        best = min((s.settlement.personal_total, s.settlement.paid_at_discharge) for s in scenarios)
        scenarios = [
            _marked(s) if (s.settlement.personal_total, s.settlement.paid_at_discharge) == best else s
            for s in scenarios
        ]
    return Comparison(tuple(variations), case, base, todo(case, base), tuple(scenarios))


def _marked(s: Scenario) -> Scenario:
    return Scenario(s.choices, s.case, s.as_of, s.settlement, s.difference, s.todo, True)


def _reconciled(s: Settlement, where: str) -> None:
    """total = basic + tier 2 + assistance + patient, exactly (the engine checks it too: a defect if not)."""
    if s.total != s.basic_fund + s.tier2_fund + s.medical_assistance_fund + s.personal_total:
        raise SettlementBug(f"{where}: total {s.total} does not reconcile")


def apply_choices(
    case: Case, base: Settlement, choices: Mapping[str, Any], rules: RuleSet, as_of: date | None
) -> tuple[Case, date | None]:
    """The case of one scenario, and the date choosing its rule values."""
    person, visit, filing = case.person, case.visit, case.filing
    scenario_as_of = choices.get("as-of", as_of)
    if "treated-in" in choices:
        new_place = choices["treated-in"]
        visit_update: dict[str, Any] = {"region": new_place}
        if visit.hospital is not None:  # a hospital code belongs to its place: keep only its level
            visit_update |= {"hospital": None, "hospital_level": base.eligibility.hospital_level}
        if filing is not None and filing.destination is not None:
            level = _filing_rules(case, rules, scenario_as_of).destination_level
            if destination_matches(filing.destination, visit.region, level):
                filing = filing.model_copy(update={"destination": new_place})
        visit = visit.model_copy(update=visit_update)
    if "hospital" in choices:
        visit = visit.model_copy(update={"hospital": choices["hospital"], "hospital_level": None})
    if "level" in choices:
        visit = visit.model_copy(update={"hospital_level": choices["level"], "hospital": None})
    if "scheme" in choices:
        person = person.model_copy(update={"scheme": choices["scheme"]})
        std = rules.standards(person.insured_region, "person.insured_region")
        scheme = getattr(std, choices["scheme"], None)
        if scheme is not None and person.status not in scheme.groups:
            person = person.model_copy(update={"status": None})  # the other scheme's groups differ
            if len(scheme.groups) > 1 and "group" not in choices:
                raise UsageError(
                    t(
                        f"{label(choices['scheme'], 'zh')}要分人员类别（{', '.join(scheme.groups)}）",
                        f"the {choices['scheme']} scheme has person groups ({', '.join(scheme.groups)})",
                    ),
                    "",
                    t(
                        f"同时给出 --vary group={','.join(scheme.groups)}",
                        f"vary the group too: --vary group={','.join(scheme.groups)}",
                    ),
                )
    if "group" in choices:
        std = rules.standards(person.insured_region, "person.insured_region")
        scheme = getattr(std, person.scheme, None)
        groups = scheme.groups if scheme is not None else []
        # a group of the other scheme does not apply where the scheme has one group only
        applies = choices["group"] in groups or len(groups) != 1
        person = person.model_copy(update={"status": choices["group"] if applies else None})
    if "category" in choices:
        filing = _filing_for(choices["category"], case, visit, rules, scenario_as_of)
    new = case.model_copy(update={"person": person, "visit": visit, "filing": filing})
    return new, scenario_as_of


def _filing_rules(case: Case, rules: RuleSet, as_of: date | None):  # type: ignore[no-untyped-def]
    std = rules.standards(case.person.insured_region, "person.insured_region")
    on = as_of or case.visit.service_date
    return in_force(std.filing, on, "filing", f"{std.region} standards.toml")  # type: ignore[arg-type]


def _filing_for(category: str, case: Case, visit: Any, rules: RuleSet, as_of: date | None) -> Filing | None:
    """A filing of ``category`` for the visit's place from its service date, with the required materials.

    Of a category's "one of" materials, one the case's own filing holds is kept, else the first.
    An emergency filing has no start: emergency treatment counts as filed (file afterwards).
    """
    if category == NO_FILING:
        return None
    rule = _filing_rules(case, rules, as_of)
    terms = rule.categories[category]
    held = set(case.filing.materials or []) if case.filing else set()
    materials = list(terms.required)
    if terms.one_of:
        materials.append(next((m for m in terms.one_of if m in held), terms.one_of[0]))
    day = visit.service_date
    if category == "emergency" and rule.emergency_deemed_filed:
        return Filing(category="emergency", destination=visit.region, materials=materials)
    return Filing(category=category, destination=visit.region, start=day, filed_on=day, materials=materials)  # type: ignore[arg-type]


def todo(case: Case, s: Settlement, group: str | None = None) -> tuple[Text, ...]:
    """What the patient must do for this settlement: the filing and its materials, a claim at home.

    ``group`` is the person group a scenario asked for (said when it does not apply to the scheme).
    """
    from medins.render import material_name

    e = s.eligibility
    out: list[Text] = []
    if group is not None and case.person.status != group:
        out.append(
            t(
                f"人员类别{label(group, 'zh')}不适用于{label(case.person.scheme, 'zh')}",
                f"group {label(group, 'en')} does not apply to the {label(case.person.scheme, 'en')}",
            )
        )
    if e.place == "local":
        out.append(t("在参保地就医，无需备案", "treated in the insured place: no filing"))
    elif case.filing is None and e.deemed is not None:
        out.append(
            t(
                f"视同备案（{label(e.benefit_category, 'zh')}），无需办理",
                f"deemed filed ({label(e.benefit_category, 'en')}): nothing to file",
            )
        )
    elif case.filing is None:
        out.append(t("不备案", "no filing"))
    else:
        f = case.filing
        dest = f.destination or case.visit.region
        names = {lang: [material_name(e, m, lang) for m in e.materials_required] for lang in ("zh", "en")}
        if e.materials_one_of:
            one_of = "|".join(e.materials_one_of)
            names["zh"].append("以下之一：" + material_name(e, one_of, "zh"))
            names["en"].append("one of: " + material_name(e, one_of, "en"))
        if f.category == "emergency" and f.start is None:
            by = f"，{e.emergency_deadline} 前" if e.emergency_deadline else ""
            by_en = f" by {e.emergency_deadline}" if e.emergency_deadline else ""
            out.append(t(f"急诊抢救视同备案，事后补办备案{by}", f"emergency counts as filed: file afterwards{by_en}"))
        else:
            out.append(
                t(
                    f"备案为{label(f.category, 'zh')}，就医地 {dest} {regions.name(dest)}",
                    f"file as {label(f.category, 'en')} for {dest} ({regions.name(dest)})",
                )
            )
        out.append(t("材料：" + "、".join(names["zh"]), "materials: " + ", ".join(names["en"])))
    from medins.render import reason_text

    for r in e.reasons:
        if r.blocking and r.code != "FILING_MISSING":
            out.append(t(reason_text(r, e, "zh"), reason_text(r, e, "en")))
    if e.settlement == "reimburse_at_home":
        out.append(
            t(
                f"出院时全额垫付 {_money(s.paid_at_discharge)} 元，凭票据回参保地报销",
                f"pay {_money(s.paid_at_discharge)} in full at discharge and claim at home with the receipts",
            )
        )
    elif "medical_assistance" in s.deferred:
        out.append(
            t(
                f"医疗救助 {_money(s.medical_assistance_fund)} 元回参保地申请",
                f"claim the medical assistance of {_money(s.medical_assistance_fund)} at home",
            )
        )
    return tuple(out)


# ----------------------------------------------------------------------------- a year for one person

YEAR_KEYS = ("person", "filing", "ytd", "visits")
VISIT_BILL_KEYS = ("summary", "items", "filing")


@dataclass(frozen=True)
class Crossing:
    """A threshold a bill's cumulative amount passed: a tier's deductible, a band boundary or its cap.

    ``at`` is the position on the tier's cumulative scale (of the year, or of the admission for a
    tier-1 term written per admission) where it happened; for a band, ``before`` and ``after`` are
    the ratios on either side. For a cap, ``at`` is the expense above it in this bill (tier 1) or None.
    """

    tier: str  # basic | tier2 | assistance
    kind: str  # deductible | band | cap
    at: Decimal | None
    before: Decimal | None = None
    after: Decimal | None = None

    def text(self, lang: Lang, tier2_kind: str | None = None) -> str:
        tier = {
            "basic": wlabel("basic", lang),
            "tier2": label(tier2_kind or "critical_illness", lang),
            "assistance": wlabel("assistance", lang),
        }[self.tier]
        if self.kind == "deductible":
            return t(f"{tier}：起付线在 {_money(self.at)} 处付足", f"{tier}: deductible met at {_money(self.at)}")(lang)  # type: ignore[arg-type]
        if self.kind == "band":
            return t(
                f"{tier}：在 {_money(self.at)} 处进入下一段，比例 {pct(self.before)} → {pct(self.after)}",  # type: ignore[arg-type]
                f"{tier}: next band from {_money(self.at)}, ratio {pct(self.before)} → {pct(self.after)}",  # type: ignore[arg-type]
            )(lang)
        if self.at is not None:
            return t(
                f"{tier}：达到年度封顶，{_money(self.at)} 在封顶线以上",
                f"{tier}: annual cap reached, {_money(self.at)} above it",
            )(lang)
        return t(f"{tier}：达到年度封顶", f"{tier}: annual cap reached")(lang)


@dataclass(frozen=True)
class YearBill:
    """One bill of the year, settled from the year-to-date amounts before it."""

    index: int  # its place in the input (0-based)
    case: Case
    settlement: Settlement
    crossings: tuple[Crossing, ...]
    label: str | None = None


@dataclass(frozen=True)
class Year:
    """A person's bills in service-date order, and the year's totals."""

    bills: tuple[YearBill, ...]

    @property
    def totals(self) -> dict[str, Decimal]:
        keys = (
            "total",
            "basic_fund",
            "tier2_fund",
            "medical_assistance_fund",
            "fund_total",
            "personal_total",
            "paid_at_discharge",
        )
        return {k: sum((getattr(b.settlement, k) for b in self.bills), ZERO) for k in keys}

    @property
    def ytd_after(self) -> YearToDate:
        """The year-to-date amounts after the last bill (of the last bill's own year)."""
        return self.bills[-1].settlement.ytd_after


# the trail's steps that carry each tier's thresholds: (deductible, band, cap)
_TIER_STEPS = {
    "basic": ("deductible", "band", "cap"),
    "tier2": ("tier2_deductible", "tier2_band", "tier2_cap"),
    "assistance": ("assistance_deductible", "assistance_band", "assistance_cap"),
}
# a band segment as the trail writes it (medins.engine.tiers.Segment.formula): (high − low) × ratio = pay
_SEGMENT = re.compile(r"\((?P<high>\d+\.\d\d) − (?P<low>\d+\.\d\d)\) × (?P<pct>\d+(?:\.\d+)?)% = ")


def crossings(s: Settlement) -> tuple[Crossing, ...]:
    """The deductibles met, band boundaries passed and caps reached in one bill, tier by tier.

    Read from the bill's trail: a deductible is met when the bill paid part of it and the amount
    went on into the bands; a band boundary is passed where two contiguous segments meet; a cap is
    reached where the trail records it and the tier still paid something in this bill.
    """
    out: list[Crossing] = []
    paid = {"basic": s.basic_fund, "tier2": s.tier2_fund, "assistance": s.medical_assistance_fund}
    for tier, (ded_key, band_key, cap_key) in _TIER_STEPS.items():
        steps = [st for st in s.trail if st.key in (ded_key, band_key, cap_key)]
        segments = []
        for st in steps:
            m = _SEGMENT.match(st.formula) if st.key == band_key else None
            if m:
                segments.append((Decimal(m["low"]), Decimal(m["high"]), Decimal(m["pct"]) / 100))
        paid_deductible = any(st.key == ded_key and st.amount for st in steps)
        if paid_deductible and segments:
            out.append(Crossing(tier, "deductible", segments[0][0]))
        for (_, high, before), (low, _, after) in itertools.pairwise(segments):
            if low == high:
                out.append(Crossing(tier, "band", low, before, after))
        if any(st.key == cap_key for st in steps) and paid[tier]:  # a bill that pays nothing was already past it
            out.append(Crossing(tier, "cap", s.above_cap if tier == "basic" else None))
    return tuple(out)


def settle_year(
    cases: Sequence[Case],
    rules: RuleSet | None = None,
    as_of: date | None = None,
    ytd: YearToDate | None = None,
    where: Callable[[int, str], str] | None = None,
    labels: Sequence[str | None] | None = None,
) -> Year:
    """Settle one person's bills in service-date order (ties keep the given order), carrying the year to date.

    Every case must be of the same person, insured place and scheme; ``ytd`` (default: the first
    case's own ``ytd``) is the state before the earliest bill, and the other cases may carry none. A
    bill in a later calendar year starts that year from zero. An error names the bill by
    ``where(index, key)`` (default ``cases[i]: key``); ``labels`` name the bills in the output.
    """
    rules = rules or load_rules()
    name = where or (lambda i, key: f"cases[{i}]: {key}" if key else f"cases[{i}]")
    if not cases:
        raise CaseError(
            t("没有要结算的就诊", "no visits to settle"),
            "visits",
            t("至少给出一个 [[visits]]", "give at least one [[visits]]"),
        )
    first = cases[0].person
    for i, c in enumerate(cases):
        for key in ("id", "insured_region", "scheme"):
            if getattr(c.person, key) != getattr(first, key):
                raise CaseError(
                    t(
                        f"person.{key} = {getattr(c.person, key)!r} 与第一单的 {getattr(first, key)!r} 不同",
                        f"person.{key} = {getattr(c.person, key)!r} differs from the first bill's {getattr(first, key)!r}",
                    ),
                    name(i, f"person.{key}"),
                    t(
                        "年度累计属于同一人、同一参保地和险种",
                        "year-to-date amounts belong to one person, insured place and scheme",
                    ),
                )
        if i and c.ytd != YearToDate():
            raise CaseError(
                t("只有第一单可以给出年度累计 ytd", "only the first bill may give year-to-date amounts"),
                name(i, "ytd"),
                t("后面各单的累计由前一单结算得出", "the later bills carry what the bill before them left"),
            )
    state = ytd if ytd is not None else cases[0].ytd
    order = sorted(range(len(cases)), key=lambda i: cases[i].visit.service_date)  # type: ignore[arg-type,return-value]
    bills: list[YearBill] = []
    for i in order:
        day = cases[i].visit.service_date
        assert day is not None  # a case has a service date
        if state.year is not None and state.year != day.year:
            state = YearToDate()  # a new calendar year starts from zero
        case = cases[i].model_copy(update={"ytd": state})
        try:
            result = estimate(case, rules, as_of)
        except MedinsError as exc:
            exc.where = name(i, exc.where)
            raise
        _reconciled(result, name(i, ""))
        bills.append(YearBill(i, case, result, crossings(result), labels[i] if labels else None))
        state = result.ytd_after  # of the bill's own year, whatever date chose the rule values
    return Year(tuple(bills))


@dataclass(frozen=True)
class YearFile:
    """A year file read: its cases in file order (the first carries the ``[ytd]`` before the year's bills)."""

    path: str
    cases: tuple[Case, ...]
    labels: tuple[str | None, ...]
    own_filing: tuple[bool, ...]

    def key(self, i: int, key: str) -> str:
        """Where a key of visit ``i``'s case is in the file: ``visit.region`` is ``visits[i].region``."""
        if key == "visit":
            return f"{self.path}: visits[{i}]"
        for prefix in ("visit.", "summary", "items"):
            if key.startswith(prefix):
                return f"{self.path}: visits[{i}].{key.removeprefix('visit.')}"
        if key.startswith("filing") and self.own_filing[i]:
            return f"{self.path}: visits[{i}].{key}"
        return f"{self.path}: visits[{i}]: {key}" if key else f"{self.path}: visits[{i}]"


def load_year(path: str | Path) -> YearFile:
    """Read a year file: ``[person]``, an optional ``[filing]`` and ``[ytd]``, and ``[[visits]]``.

    Each ``[[visits]]`` entry holds the keys of a case's ``[visit]`` and its bill, as ``summary = {…}``
    or ``[[visits.items]]``; an optional ``filing`` table replaces the top-level filing for that
    visit, and ``label`` names it. ``[ytd]`` is what the person used this year before the first
    visit. Errors name the key path in the file (``visits[2].summary.total``).
    """
    p = Path(path)
    data = read_toml(p, CaseError)
    for key in data:
        if key not in YEAR_KEYS:
            close = difflib.get_close_matches(key, YEAR_KEYS, n=1, cutoff=0.5)
            fix = (
                t(f"是否应为 “{close[0]}”？", f"did you mean '{close[0]}'?")
                if close
                else t("可用的键：" + ", ".join(YEAR_KEYS), "valid keys: " + ", ".join(YEAR_KEYS))
            )
            raise CaseError(t(f"未知的键 {key!r}", f"unknown key {key!r}"), f"{p}: {key}", fix)
    visits = data.get("visits")
    if not isinstance(visits, list) or not visits or not all(isinstance(v, dict) for v in visits):
        raise CaseError(
            t("没有 [[visits]]：年度文件至少要有一次就诊", "no [[visits]]: a year file holds at least one visit"),
            f"{p}: visits",
            t(
                "每次就诊写一个 [[visits]]（region、type、日期、summary 或 items）",
                "write one [[visits]] per visit (region, type, dates, summary or items)",
            ),
        )
    labels = tuple(str(v["label"]) if "label" in v else None for v in visits)
    own = tuple("filing" in v for v in visits)
    year_file = YearFile(str(p), (), labels, own)
    cases: list[Case] = []
    for i, entry in enumerate(visits):
        visit = {k: v for k, v in entry.items() if k not in (*VISIT_BILL_KEYS, "label")}
        case_data: dict[str, Any] = {"person": data.get("person"), "visit": visit}
        filing = entry["filing"] if own[i] else data.get("filing")
        if filing is not None:
            case_data["filing"] = filing
        case_data |= {k: entry[k] for k in ("summary", "items") if k in entry}
        if i == 0 and "ytd" in data:
            case_data["ytd"] = data["ytd"]
        try:
            cases.append(parse_case(case_data, "@"))
        except CaseError as exc:
            key = exc.where.removeprefix("@").removeprefix(": ")
            exc.where = (
                f"{p}: {key}"
                if key.startswith(("ytd", "person")) or (key.startswith("filing") and not own[i])
                else year_file.key(i, key)
            )
            raise
    return YearFile(str(p), tuple(cases), labels, own)


def estimate_year(path: str | Path, rules: RuleSet | None = None, as_of: date | None = None) -> Year:
    """Read a year file and settle its visits in service-date order (see :func:`load_year`, :func:`settle_year`)."""
    year_file = load_year(path)
    return settle_year(year_file.cases, rules, as_of, where=year_file.key, labels=year_file.labels)


# ----------------------------------------------------------------------------- presenting


def json_text(data: Any, indent: int = 2) -> str:
    """JSON with Decimal amounts written as numbers, exactly as they are (``9690.00``), never through a float."""
    import json

    def enc(value: Any, level: int) -> str:
        pad, end = " " * (indent * (level + 1)), " " * (indent * level)
        if isinstance(value, dict):
            if not value:
                return "{}"
            items = (f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {enc(v, level + 1)}" for k, v in value.items())
            return "{\n" + ",\n".join(items) + "\n" + end + "}"
        if isinstance(value, (list, tuple)):
            if not value:
                return "[]"
            return "[\n" + ",\n".join(pad + enc(v, level + 1) for v in value) + "\n" + end + "]"
        if isinstance(value, Decimal):
            return format(value, "f")
        if isinstance(value, date):
            return json.dumps(value.isoformat())
        return json.dumps(value, ensure_ascii=False)

    return enc(data, 0)


AMOUNTS = ("total", "basic_fund", "tier2_fund", "medical_assistance_fund", "personal_total", "paid_at_discharge")


def _choice_json(name: str, value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def settlement_record(case: Case, s: Settlement, todo_items: Sequence[Text], lang: Lang) -> dict[str, Any]:
    """The fields one row of a comparison shows, amounts as Decimal."""
    e = s.eligibility
    return {
        "settlement": e.settlement,
        "benefit_category": e.benefit_category,
        "treated_in": case.visit.region,
        "hospital_level": e.hospital_level,
        "total": s.total,
        "basic_fund": s.basic_fund,
        "tier2_kind": s.tier2_kind,
        "tier2_fund": s.tier2_fund,
        "medical_assistance_fund": s.medical_assistance_fund,
        "personal_total": s.personal_total,
        "paid_at_discharge": s.paid_at_discharge,
        "fund_ratio": s.fund_ratio,
        "deferred": list(s.deferred),
        "todo": [x(lang) for x in todo_items],
        "warnings": [w.code for w in s.warnings],
    }


def comparison_json(c: Comparison, lang: Lang) -> dict[str, Any]:
    """The comparison for scripts: the case as given, the variations, one record per scenario."""
    base = settlement_record(c.case, c.base, c.base_todo, lang)
    scenarios = []
    for i, s in enumerate(c.scenarios, 1):
        record = {
            "scenario": i,
            "choices": {n: _choice_json(n, v) for n, v in s.choices},
            **settlement_record(s.case, s.settlement, s.todo, lang),
            "difference": s.difference,
            "cheapest": s.cheapest,
        }
        scenarios.append(record)
    return {
        "as_given": base,
        "variations": [{"name": n, "values": [_choice_json(n, v) for v in values]} for n, values in c.variations],
        "scenarios": scenarios,
        "cheapest": [i for i, s in enumerate(c.scenarios, 1) if s.cheapest],
    }


def comparison_csv(c: Comparison, lang: Lang) -> str:
    """One row for the case as given (``scenario`` = ``as_given``), then one per scenario; ids as headers."""
    import csv
    import io

    names = [n for n, _ in c.variations]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    head = ["scenario", *names, "settlement", "benefit_category", *AMOUNTS, "difference", "cheapest", "todo"]
    w.writerow(head)
    sep = "；" if lang == "zh" else "; "

    def amounts(s: Settlement) -> list[str]:
        return [show(getattr(s, k)) for k in AMOUNTS]

    base = c.base
    w.writerow(
        [
            "as_given",
            *("" for _ in names),
            base.eligibility.settlement,
            base.eligibility.benefit_category,
            *amounts(base),
            "0.00",
            "",
            sep.join(x(lang) for x in c.base_todo),
        ]
    )
    for i, s in enumerate(c.scenarios, 1):
        values = dict(s.choices)
        w.writerow(
            [
                str(i),
                *(str(_choice_json(n, values[n])) for n in names),
                s.settlement.eligibility.settlement,
                s.settlement.eligibility.benefit_category,
                *amounts(s.settlement),
                show(s.difference),
                "yes" if s.cheapest else "",
                sep.join(x(lang) for x in s.todo),
            ]
        )
    return out.getvalue()


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _aligned(rows: list[list[str]], right: set[int]) -> str:
    """Columns two spaces apart, CJK characters counted double; columns in ``right`` right-aligned."""
    widths = [max(_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [
            (" " * (w - _width(v)) + v) if i in right else (v + " " * (w - _width(v)))
            for i, (v, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _signed(value: Decimal) -> str:
    return "0.00" if not value else f"{value:+,.2f}"


ILLUSTRATIVE = t(
    "⚠ 注意：以下估算用到了未经政策原文核实的示意值，结果仅供参考（见 medins estimate --explain 的来源）。",
    "⚠ Note: these estimates use illustrative values that no primary policy text confirms; indicative only "
    "(sources under medins estimate --explain).",
)


def comparison_table(c: Comparison, lang: Lang) -> str:
    """The comparison for people: one line per scenario, the cheapest marked, then what each asks of the patient."""
    names = [n for n, _ in c.variations]
    out: list[str] = []
    if c.base.illustrative or any(s.settlement.illustrative for s in c.scenarios):
        out.append(ILLUSTRATIVE(lang))
    b = c.base
    out.append(
        t(
            f"原案：{label(b.eligibility.settlement, 'zh')}，{label(b.eligibility.benefit_category, 'zh')}，"
            f"医疗费 {_money(b.total)}，个人负担 {_money(b.personal_total)}",
            f"as given: {label(b.eligibility.settlement, 'en')}, {label(b.eligibility.benefit_category, 'en')}, "
            f"total {_money(b.total)}, patient pays {_money(b.personal_total)}",
        )(lang)
    )
    head = ["#", *(wlabel(n, lang) for n in names)]
    head += [wlabel(k, lang) for k in ("settlement", "basic", "tier2", "assistance", "patient", "difference")]
    head.append(wlabel("cheapest", lang))
    rows = [head]
    for i, s in enumerate(c.scenarios, 1):
        values = dict(s.choices)
        st = s.settlement
        rows.append(
            [str(i), *(_table_choice(n, values[n], lang) for n in names)]
            + [label(st.eligibility.settlement, lang)]
            + [_money(v) for v in (st.basic_fund, st.tier2_fund, st.medical_assistance_fund, st.personal_total)]
            + [_signed(s.difference), "✓" if s.cheapest else ""]
        )
    first = len(names) + 2
    out.append(_aligned(rows, {0, *range(first, first + 5)}))
    out.append("")
    out.append(wlabel("todo", lang) + ("：" if lang == "zh" else ":"))
    sep = "；" if lang == "zh" else "; "
    # warnings the case as given does not have (an item the other place's catalogue lacks …); the
    # illustrative-values banner is above, and a claim at home is in what to do
    known = {w.code for w in c.base.warnings} | {"ILLUSTRATIVE_VALUES", "REIMBURSE_AT_HOME", "ASSISTANCE_AT_HOME"}
    from medins.render import warning_line

    for i, s in enumerate(c.scenarios, 1):
        out.append(f"{i:>3}. " + sep.join(x(lang) for x in s.todo))
        for w in s.settlement.warnings:
            if w.code not in known:
                out.append("     " + warning_line(w, s.settlement, lang))
    return "\n".join(out)


def year_json(y: Year, lang: Lang) -> dict[str, Any]:
    """The year for scripts: each bill (in service-date order) with its crossings, the totals, the state after."""
    bills = []
    for b in y.bills:
        s = b.settlement
        bills.append(
            {
                "visit": b.index + 1,
                "label": b.label,
                "service_date": s.service_date,
                "visit_type": b.case.visit.type,
                "treated_in": b.case.visit.region,
                "settlement": s.eligibility.settlement,
                "benefit_category": s.eligibility.benefit_category,
                "total": s.total,
                "in_scope": s.in_scope,
                "deductible": s.deductible,
                "basic_fund": s.basic_fund,
                "above_cap": s.above_cap,
                "tier2_kind": s.tier2_kind,
                "tier2_fund": s.tier2_fund,
                "medical_assistance_fund": s.medical_assistance_fund,
                "personal_total": s.personal_total,
                "paid_at_discharge": s.paid_at_discharge,
                "crossings": [
                    {
                        "tier": x.tier,
                        "kind": x.kind,
                        "at": x.at,
                        "ratio_before": x.before,
                        "ratio_after": x.after,
                        "text": x.text(lang, s.tier2_kind),
                    }
                    for x in b.crossings
                ],
                "warnings": [w.code for w in s.warnings],
                "ytd_after": s.ytd_after.model_dump(),
            }
        )
    return {"bills": bills, "totals": y.totals, "ytd_after": y.ytd_after.model_dump()}


def year_csv(y: Year, lang: Lang) -> str:
    """One row per bill in service-date order, then a ``totals`` row; crossings as text, ``;``-separated."""
    import csv
    import io

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    keys = ("total", "basic_fund", "tier2_fund", "medical_assistance_fund", "personal_total", "paid_at_discharge")
    w.writerow(["visit", "label", "service_date", "visit_type", "treated_in", "settlement", *keys, "crossings"])
    for b in y.bills:
        s = b.settlement
        w.writerow(
            [
                str(b.index + 1),
                b.label or "",
                s.service_date.isoformat(),
                b.case.visit.type,
                b.case.visit.region,
                s.eligibility.settlement,
            ]
            + [show(getattr(s, k)) for k in keys]
            + ["; ".join(x.text(lang, s.tier2_kind) for x in b.crossings)]
        )
    totals = y.totals
    w.writerow(["totals", "", "", "", "", "", *(show(totals[k]) for k in keys), ""])
    return out.getvalue()


def year_table(y: Year, lang: Lang) -> str:
    """The year for people: a line per bill, the totals, then the thresholds crossed bill by bill."""
    out: list[str] = []
    if any(b.settlement.illustrative for b in y.bills):
        out.append(ILLUSTRATIVE(lang))
    person = y.bills[0].case.person
    out.append(
        t(
            f"{person.id or ''} 参保地 {person.insured_region} {regions.name(person.insured_region)}，{label(person.scheme, 'zh')}，"
            f"{len(y.bills)} 次就诊（按就医日期顺序，年度累计逐单结转）",
            f"{person.id or ''} insured in {person.insured_region}, {label(person.scheme, 'en')}, "
            f"{len(y.bills)} visits (in service-date order, year to date carried)",
        )(lang).strip()
    )
    labelled = any(b.label for b in y.bills)
    head = [
        "#",
        *([t("名称", "label")(lang)] if labelled else []),
        t("日期", "date")(lang),
        t("类型", "type")(lang),
        wlabel("treated-in", lang),
        wlabel("settlement", lang),
    ]
    head += [label("total", lang)] + [wlabel(k, lang) for k in ("basic", "tier2", "assistance", "patient")]
    rows = [head]
    for b in y.bills:
        s = b.settlement
        rows.append(
            [str(b.index + 1), *([b.label or ""] if labelled else [])]
            + [s.service_date.isoformat(), label(b.case.visit.type, lang), b.case.visit.region]
            + [label(s.eligibility.settlement, lang)]
            + [_money(v) for v in (s.total, s.basic_fund, s.tier2_fund, s.medical_assistance_fund, s.personal_total)]
        )
    tot = y.totals
    rows.append(
        ["", *([""] if labelled else []), t("全年合计", "year")(lang), "", "", ""]
        + [_money(tot[k]) for k in ("total", "basic_fund", "tier2_fund", "medical_assistance_fund", "personal_total")]
    )
    first = 6 if labelled else 5
    out.append(_aligned(rows, {0, *range(first, first + 5)}))
    crossed = [(b, x) for b in y.bills for x in b.crossings]
    if crossed:
        out.append("")
        out.append(t("越过的起付线、分段和封顶：", "deductibles, bands and caps crossed:")(lang))
        for b, x in crossed:
            out.append(f"  #{b.index + 1} {b.settlement.service_date}: {x.text(lang, b.settlement.tier2_kind)}")
    from medins.render import warning_line

    for b in y.bills:
        for w in b.settlement.warnings:
            if w.code != "ILLUSTRATIVE_VALUES":
                out.append(warning_line(w, b.settlement, lang, f"#{b.index + 1}"))
    return "\n".join(out)
