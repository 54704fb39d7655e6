"""Settle a population of bills at once: lines, eligibility and rule cells over columns, tiers in waves.

The policy steps are those of :mod:`medins.engine.settle`, in its order, over arrays:

1. **lines** — each distinct item is looked up in its treatment place's catalogue once
   (:func:`medins.engine.lines.resolve_item`); the four parts of every line are integer arithmetic;
2. **eligibility** — what does not depend on dates is decided once per distinct combination of the
   person's, filing's and visit's fields; the filing's dates are compared as day numbers;
3. **cells** — bills needing the same rule values (insured place, scheme, group, matched level,
   benefit visit type, benefit category, sections in force, assistance category) share one
   :class:`Cell`, resolved once and broadcast;
4. **waves** — bills are ordered by year-to-date key and service date; the k-th bill of every key
   forms wave k. Tier 1, tier 2 and tier 3 run over a whole wave; the year-to-date arrays carry the
   amounts to the next wave.

A bill the arrays do not settle (a rule form or amount they leave to :func:`medins.api.estimate`, a
fund that reaches its cap, an input the case model would refuse) is marked and settled one at a
time by the caller's ``one`` function, at its place in its key's order: the amounts are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np

from medins import regions
from medins.engine.columns import (
    SCALE,
    ZERO_E,
    Bands,
    band_matrix,
    band_rows,
    dmax,
    dmin,
    fen_units,
    half_up,
    pay,
    ratio_units,
)
from medins.engine.eligibility import deemed_entry, destination_matches, visit_place
from medins.engine.settle import _section_or_none
from medins.engine.tiers import adjust_bands
from medins.errors import MedinsError
from medins.loader import RuleSet
from medins.money import MAX_AMOUNT
from medins.types import MAX_ADMISSIONS

MAX_FEN = int(MAX_AMOUNT) * 100

# benefit visit types as small integers
INPATIENT, OUTPATIENT, CHRONIC = 0, 1, 2
VISIT_CODES = {"inpatient": INPATIENT, "outpatient": OUTPATIENT, "chronic_outpatient": CHRONIC}


def _illustrative(sources: list[Any]) -> bool:
    return any(s is not None and s.confidence == "illustrative" for s in sources)


def _std_sources(std: Any, ids: list[str]) -> list[Any]:
    return [std.sources.get(i) for i in ids]


# ----------------------------------------------------------------------------- eligibility


@dataclass(frozen=True)
class Static:
    """What eligibility decides without the dates, for one combination of fields (None: settle one by one)."""

    place: str
    cross: bool
    deemed_category: str | None  # the [[filing.deemed]] entry's category, when one covers the visit
    deemed_adjustment: Any
    deemed_illustrative: bool
    has_filing: bool
    date_checks: bool  # the filing's dates are checked (not an emergency deemed filed)
    validity_months: int | None
    retroactive: bool
    filing_static_fail: bool  # destination mismatch, proof missing
    other_blocking: bool  # same province, not designated, disease not covered or not approved
    chronic_ok: bool
    matched_level: int
    filed_adjustment: Any  # the filed category's adjustment (None when the table lacks it)
    unfiled_adjustment: Any
    illustrative: bool
    category: str | None


def static_eligibility(
    std: Any,
    catalogue: Any,
    offsite: Any,
    rules: Any,
    insured: str,
    scheme: str,
    chronic_diseases: tuple[str, ...],
    filing: tuple[str, str | None, tuple[str, ...] | None, bool] | None,
    treated: str,
    hospital: str | None,
    level: int | None,
    visit_type: str,
    disease: str | None,
    on: date,
) -> Static | None:
    """:func:`medins.engine.eligibility.check_eligibility` without the dates; None where it would raise."""
    place = visit_place(insured, treated)
    local, cross = place == "local", place == "cross_province"
    other_blocking = False
    sources = _std_sources(std, offsite.source_ids) + _std_sources(std, rules.source_ids)
    adjustments = offsite.categories
    if place == "in_province":
        if offsite.in_province is None:
            return None  # settle raises: the pack has no in-province rules
        adjustments = offsite.in_province
    deemed = None if local else deemed_entry(rules, treated, visit_type)
    has_filing = filing is not None and not local
    date_checks = False
    months = None
    retro = bool(rules.retroactive_before_settlement)
    static_fail = False
    category = None if local or filing is None else filing[0]
    if not local and filing is None and deemed is None:
        pass  # FILING_MISSING: a filing failure
    elif has_filing:
        cat, destination, materials, has_start = filing  # type: ignore[misc]
        rule = rules.categories[cat]
        if materials is not None:
            if any(m not in rules.materials for m in materials):
                return None
            have = set(materials)
            lacking = [m for m in rule.required if m not in have]
            if rule.one_of and not have.intersection(rule.one_of):
                lacking.append("|")
            static_fail |= bool(lacking)
        if destination is not None:
            region = regions.lookup(destination)
            if len(destination) != 6 or not destination.isdigit() or region is None or not region.in_use:
                return None
        if cat == "emergency" and rules.emergency_deemed_filed and not has_start:
            pass
        else:
            if not has_start or destination is None:
                return None
            date_checks = True
            months = rule.validity_months
            if not destination_matches(destination, treated, rules.destination_level):
                static_fail = True
    # the hospital
    if hospital is not None:
        if not (len(hospital) == 12 and hospital[0] == "H" and hospital[1:].isdigit()):
            return None
        if catalogue is not None and catalogue.institutions is not None:
            inst = next((i for i in catalogue.institutions if i.code == hospital), None)
            if catalogue.institutions_source:
                sources.append(catalogue.sources[catalogue.institutions_source])
            if inst is not None:
                level = inst.level
            if inst is None or (cross and not inst.cross_province):
                other_blocking = True
    if level is None:
        return None
    matched = level if local else offsite.level_map.get(str(level), level)
    chronic_ok = True
    if visit_type == "chronic_outpatient":
        part = getattr(std, scheme)
        section = None
        if part and part.chronic:
            section = _section_or_none(part.chronic, on)
            if section is None:
                return None
        covered = (section.cross_province if cross else section.diseases) if section is not None else ()
        if disease not in covered or disease not in chronic_diseases:
            chronic_ok = False
            other_blocking = True
    filed = adjustments.get(filing[0]) if has_filing else None  # type: ignore[index]
    deemed_adj = None
    deemed_cat = None
    deemed_illus = False
    if deemed is not None:
        entry = deemed[1]
        deemed_cat = entry.category
        deemed_adj = entry.adjustment or adjustments.get(entry.category)
        deemed_illus = _illustrative(_std_sources(std, entry.source_ids))
    return Static(
        place,
        cross,
        deemed_cat,
        deemed_adj,
        deemed_illus,
        has_filing,
        date_checks,
        months,
        retro,
        static_fail,
        other_blocking,
        chronic_ok,
        matched,
        filed,
        adjustments.get("unfiled"),
        _illustrative(sources),
        category,
    )


# ----------------------------------------------------------------------------- rule cells


@dataclass
class Cell:
    """The rule values one group of bills needs, resolved once (None fields: not used)."""

    ok: bool
    illustrative: bool = False
    # tier 1
    extra: int = 0  # off-site first self-pay share, 10^-8 (0: none)
    deductibles: list[tuple[int, int]] = field(default_factory=list)  # per admission (fen, exponent)
    offsite_rule: tuple[int, tuple[int, int], tuple[int, int] | None] | None = None  # share, min, max
    year_cap: tuple[int, int] | None = None
    annual: bool = False
    bands_on_year: bool = False
    cap: tuple[int, int] | None = None
    base_cap: bool = False
    bands: list[tuple[int, int, int]] = field(default_factory=list)
    # tier 2
    tier2: bool = False
    tier2_kind: str = ""
    tier2_above_cap: bool = False
    tier2_include_pre: bool = False
    tier2_deductible: tuple[int, int] = (0, 0)
    tier2_bands: list[tuple[int, int, int]] = field(default_factory=list)
    tier2_cap: tuple[int, int] | None = None
    # tier 3
    assist: bool = False
    assist_include_pre: bool = False
    assist_deductible: tuple[int, int] = (0, ZERO_E)
    assist_bands: list[tuple[int, int, int]] = field(default_factory=list)
    assist_cap: tuple[int, int] | None = None
    assist_direct: bool = True


NO_CELL = Cell(ok=False)


def resolve_cell(*args: Any) -> Cell:
    """A cell's values as ``_tier1``, ``_tier2`` and ``_tier3`` read them (arguments as
    :func:`_resolve_cell`); ``ok=False`` where the arrays leave the bill to the one-at-a-time engine
    (a value not exact in fen or 10^-8, staged assistance, a missing rate or section: the engine then
    gives the same result or message)."""
    try:
        return _resolve_cell(*args)
    except (MedinsError, KeyError, AttributeError, TypeError):
        return NO_CELL


def _exact(value: Decimal | None) -> tuple[int, int] | None:
    return fen_units(value) if value is not None else None


def _resolve_cell(
    rules: RuleSet,
    insured: str,
    scheme_id: str,
    group: str,
    matched_level: int,
    visit_type: str,
    disease: str | None,
    adjustment: Any,
    cross: bool,
    benefit_category: str,
    assistance: str | None,
    on: date,
) -> Cell:
    std = rules.standards(insured)
    scheme = getattr(std, scheme_id)
    if visit_type == "chronic_outpatient":
        section = _section_or_none(scheme.chronic, on)
        terms = section.diseases[disease]
    else:
        section = _section_or_none(getattr(scheme, visit_type), on)
        terms = section
    if section is None:
        return NO_CELL
    sources = _std_sources(std, section.source_ids)
    rate = next((r for r in terms.rates if r.matches(group, matched_level)), None)
    if rate is None:
        return NO_CELL
    adj = adjustment if visit_type in adjustment.visit_types else None
    cell = Cell(ok=True)
    if adj is not None and adj.mode == "extra_pre_self_pay":
        share = ratio_units(adj.value)
        if share is None:
            return NO_CELL
        cell.extra = share
    for d in rate.deductible:
        f = _exact(d)
        if f is None:
            return NO_CELL
        cell.deductibles.append(f)
    offsite = _section_or_none(std.offsite, on)
    rule = offsite.deductible_rule if offsite is not None else None
    if rule is not None and cross and benefit_category in rule.categories and visit_type in rule.visit_types:
        share = ratio_units(rule.share)
        low = _exact(rule.min)
        high = _exact(rule.max) if rule.max is not None else None
        if share is None or low is None or (rule.max is not None and high is None):
            return NO_CELL
        cell.offsite_rule = (share, low, high)
    cell.annual = terms.deductible_basis == "year"
    if terms.deductible_year_cap is not None:
        cell.year_cap = _exact(terms.deductible_year_cap)
        if cell.year_cap is None:
            return NO_CELL
    cap = rate.cap if rate.cap is not None else terms.cap
    if cap is not None:
        cell.cap = _exact(cap)
        if cell.cap is None:
            return NO_CELL
    cell.base_cap = terms.cap_mode == "base"
    cell.bands_on_year = terms.bands_on == "year"
    bands = band_rows(adjust_bands(rate.bands, adj))
    if bands is None:
        return NO_CELL
    cell.bands = bands
    # tiers 2 and 3
    for more in (_tier2_cell(cell, std, scheme, group, visit_type, on), _tier3_cell(cell, std, assistance, on)):
        if more is None:
            return NO_CELL
        sources += more
    cell.illustrative = _illustrative(sources)
    return cell


def _tier2_cell(cell: Cell, std: Any, scheme: Any, group: str, visit_type: str, on: date) -> list[Any] | None:
    """Tier 2's values into ``cell``: its sources, or None where the arrays leave the bill aside."""
    t2 = _section_or_none(scheme.tier2, on)
    if t2 is None or visit_type not in t2.visit_types:
        return []
    cell.tier2 = True
    cell.tier2_kind = t2.kind
    cell.tier2_above_cap = t2.base == "above_basic_cap"
    cell.tier2_include_pre = bool(t2.include_pre_self_pay)
    ded = _exact(t2.deductible)
    rows = band_rows(t2.bands_for(group))
    cap2 = _exact(t2.cap) if t2.cap is not None else None
    if ded is None or rows is None or (t2.cap is not None and cap2 is None):
        return None
    cell.tier2_deductible, cell.tier2_bands, cell.tier2_cap = ded, rows, cap2
    return _std_sources(std, t2.source_ids)


def _tier3_cell(cell: Cell, std: Any, assistance: str | None, on: date) -> list[Any] | None:
    """One-stage medical assistance's values into ``cell``: its sources, or None where the arrays leave
    the bill aside (staged assistance, a value not exact)."""
    if assistance is None:
        return []
    a = _section_or_none(std.assistance, on)
    if a is None or assistance not in a.categories:
        return None
    terms3 = a.categories[assistance]
    if terms3.stages is not None:
        return None
    stage = terms3.stage_list()[0]
    if stage.deductible_share is not None:
        share = ratio_units(stage.deductible_share)
        ref = _exact(a.income_reference)
        if share is None or ref is None:
            return None
        ded3 = (int(half_up(np.int64(ref[0] * share), SCALE)), ZERO_E)
    elif stage.deductible is not None:
        ded3 = _exact(stage.deductible)  # type: ignore[assignment]
        if ded3 is None:
            return None
    else:
        ded3 = (0, ZERO_E)
    rows3 = band_rows(stage.ratio_bands())
    cap3 = _exact(stage.cap) if stage.cap is not None else None
    if rows3 is None or (stage.cap is not None and cap3 is None):
        return None
    cell.assist = True
    cell.assist_include_pre = bool(a.include_pre_self_pay)
    cell.assist_deductible, cell.assist_bands, cell.assist_cap = ded3, rows3, cap3
    cell.assist_direct = bool(a.direct_settlement)
    return _std_sources(std, a.source_ids)


# ----------------------------------------------------------------------------- year-to-date state


class State:
    """Year-to-date amounts by key (person, insured place, scheme, year) and by benefit slot.

    Every amount is fen with its Decimal exponent (see :mod:`medins.engine.columns`).
    """

    KEY_FIELDS = ("tier2_base", "tier2_fund", "assistance_base", "assistance_fund")
    SLOT_FIELDS = ("in_scope", "deductible", "fund", "above_cap")

    def __init__(self, keys: int, slots: int) -> None:
        self.admissions = np.zeros(keys, dtype=np.int64)
        self.year = np.full(keys, -1, dtype=np.int64)  # -1: none
        self.k = {f: np.zeros(keys, dtype=np.int64) for f in self.KEY_FIELDS}
        self.ke = {f: np.zeros(keys, dtype=np.int8) for f in self.KEY_FIELDS}
        self.s = {f: np.zeros(slots, dtype=np.int64) for f in self.SLOT_FIELDS}
        self.se = {f: np.zeros(slots, dtype=np.int8) for f in self.SLOT_FIELDS}


# ----------------------------------------------------------------------------- waves


def waves(key: np.ndarray, day: np.ndarray) -> list[np.ndarray]:
    """Bill indexes by wave: the k-th bill (service date, then input order) of every key in wave k."""
    n = len(key)
    if n == 0:
        return []
    order = np.lexsort((np.arange(n), day, key))
    k_sorted = key[order]
    starts = np.r_[True, k_sorted[1:] != k_sorted[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    rank = np.arange(n) - first
    out = []
    by_rank = np.argsort(rank, kind="stable")
    ranks = rank[by_rank]
    bounds = np.searchsorted(ranks, np.arange(ranks[-1] + 2))
    for w in range(ranks[-1] + 1):
        out.append(order[by_rank[bounds[w] : bounds[w + 1]]])
    return out


def gather_cells(cells: list[Cell], cell_of: np.ndarray) -> dict[str, Any]:
    """Broadcast the cells' values to arrays over bills (``cell_of`` gives each bill's cell)."""

    def col(get: Callable[[Cell], int], dtype: Any = np.int64) -> np.ndarray:
        return np.array([get(c) for c in cells], dtype=dtype)[cell_of]

    g: dict[str, Any] = {}
    g["extra"] = col(lambda c: c.extra)
    g["annual"] = col(lambda c: c.annual, bool)
    g["bands_on_year"] = col(lambda c: c.bands_on_year, bool)
    g["has_cap"] = col(lambda c: c.cap is not None, bool)
    g["cap"] = col(lambda c: c.cap[0] if c.cap else 0)
    g["cap_e"] = col(lambda c: c.cap[1] if c.cap else 0, np.int8)
    g["base_cap"] = col(lambda c: c.base_cap, bool)
    g["has_year_cap"] = col(lambda c: c.year_cap is not None, bool)
    g["year_cap"] = col(lambda c: c.year_cap[0] if c.year_cap else 0)
    g["year_cap_e"] = col(lambda c: c.year_cap[1] if c.year_cap else 0, np.int8)
    g["has_offsite"] = col(lambda c: c.offsite_rule is not None, bool)
    g["off_share"] = col(lambda c: c.offsite_rule[0] if c.offsite_rule else 0)
    g["off_min"] = col(lambda c: c.offsite_rule[1][0] if c.offsite_rule else 0)
    g["off_min_e"] = col(lambda c: c.offsite_rule[1][1] if c.offsite_rule else 0, np.int8)
    g["off_has_max"] = col(lambda c: bool(c.offsite_rule and c.offsite_rule[2] is not None), bool)
    g["off_max"] = col(lambda c: c.offsite_rule[2][0] if c.offsite_rule and c.offsite_rule[2] else 0)
    g["off_max_e"] = col(lambda c: c.offsite_rule[2][1] if c.offsite_rule and c.offsite_rule[2] else 0, np.int8)
    depth = max((len(c.deductibles) for c in cells), default=1) or 1
    ded = np.zeros((len(cells), depth), dtype=np.int64)
    ded_e = np.zeros((len(cells), depth), dtype=np.int8)
    count = np.ones(len(cells), dtype=np.int64)
    for i, c in enumerate(cells):
        for j, (v, e) in enumerate(c.deductibles):
            ded[i, j], ded_e[i, j] = v, e
        count[i] = max(1, len(c.deductibles))
    g["ded"], g["ded_e"], g["ded_count"] = ded[cell_of], ded_e[cell_of], count[cell_of]
    g["bands"] = _cell_bands(cells, cell_of, lambda c: c.bands)
    g["tier2"] = col(lambda c: c.tier2, bool)
    g["tier2_critical"] = col(lambda c: c.tier2_kind == "critical_illness", bool)
    g["tier2_above_cap"] = col(lambda c: c.tier2_above_cap, bool)
    g["tier2_pre"] = col(lambda c: c.tier2_include_pre, bool)
    g["tier2_ded"] = col(lambda c: c.tier2_deductible[0])
    g["tier2_ded_e"] = col(lambda c: c.tier2_deductible[1], np.int8)
    g["tier2_has_cap"] = col(lambda c: c.tier2_cap is not None, bool)
    g["tier2_cap"] = col(lambda c: c.tier2_cap[0] if c.tier2_cap else 0)
    g["tier2_cap_e"] = col(lambda c: c.tier2_cap[1] if c.tier2_cap else 0, np.int8)
    g["tier2_bands"] = _cell_bands(cells, cell_of, lambda c: c.tier2_bands)
    g["assist"] = col(lambda c: c.assist, bool)
    g["assist_pre"] = col(lambda c: c.assist_include_pre, bool)
    g["assist_ded"] = col(lambda c: c.assist_deductible[0])
    g["assist_ded_e"] = col(lambda c: c.assist_deductible[1], np.int8)
    g["assist_has_cap"] = col(lambda c: c.assist_cap is not None, bool)
    g["assist_cap"] = col(lambda c: c.assist_cap[0] if c.assist_cap else 0)
    g["assist_cap_e"] = col(lambda c: c.assist_cap[1] if c.assist_cap else 0, np.int8)
    g["assist_direct"] = col(lambda c: c.assist_direct, bool)
    g["assist_bands"] = _cell_bands(cells, cell_of, lambda c: c.assist_bands)
    g["illustrative"] = col(lambda c: c.illustrative, bool)
    return g


def _cell_bands(cells: list[Cell], cell_of: np.ndarray, get: Callable[[Cell], list]) -> Bands:
    m = band_matrix([get(c) for c in cells])
    return Bands(m.low[cell_of], m.high[cell_of], m.ratio[cell_of])


def _take(b: Bands, idx: np.ndarray) -> Bands:
    return Bands(b.low[idx], b.high[idx], b.ratio[idx])


@dataclass
class Settled:
    """Per bill of a wave: every amount of the OUT row (fen), and the bills left to one-at-a-time."""

    in_scope_amount: np.ndarray  # the in-scope amount tier 1 considered (after the off-site share)
    offsite: np.ndarray
    deductible: np.ndarray
    deductible_e: np.ndarray
    basic: np.ndarray
    above_cap: np.ndarray
    above_cap_e: np.ndarray
    tier2_base: np.ndarray
    tier2_base_e: np.ndarray
    tier2: np.ndarray
    assist_base: np.ndarray
    assist: np.ndarray
    personal: np.ndarray


def settle_wave(
    g: dict[str, Any],
    idx: np.ndarray,
    slot: np.ndarray,
    key: np.ndarray,
    visit: np.ndarray,
    amounts: dict[str, np.ndarray],
    state: State,
) -> Settled:
    """Tiers 1–3 for the bills ``idx`` of one wave (each key at most once), from ``state``."""
    G = {k: (v[idx] if isinstance(v, np.ndarray) else _take(v, idx)) for k, v in g.items()}
    sl, ky = slot[idx], key[idx]
    total, pre, in_scope = amounts["total"][idx], amounts["pre"][idx], amounts["in_scope"][idx]
    n = len(idx)
    zero = np.zeros(n, dtype=np.int64)
    ze = np.full(n, ZERO_E, dtype=np.int8)
    acc_in, acc_ded, acc_fund = state.s["in_scope"][sl], state.s["deductible"][sl], state.s["fund"][sl]
    acc_in_e, acc_ded_e = state.se["in_scope"][sl], state.se["deductible"][sl]

    # tier 1: the off-site first self-pay share comes off the in-scope amount
    offsite = half_up(in_scope * G["extra"], SCALE)
    amount = in_scope - offsite
    # the deductible of the year's admission-th stay; other visits take the first value
    admission = np.where(visit[idx] == INPATIENT, state.admissions[ky] + 1, 1)
    pick = np.minimum(admission, G["ded_count"]) - 1
    rows = np.arange(n)
    ded, ded_e = G["ded"][rows, pick], G["ded_e"][rows, pick]
    if G["has_offsite"].any():
        share_amount = half_up(total * G["off_share"], SCALE)
        d2, d2_e = dmax(G["off_min"], G["off_min_e"], share_amount, ze)
        d3, d3_e = dmin(d2, d2_e, G["off_max"], G["off_max_e"])
        d2 = np.where(G["off_has_max"], d3, d2)
        d2_e = np.where(G["off_has_max"], d3_e, d2_e)
        ded = np.where(G["has_offsite"], d2, ded)
        ded_e = np.where(G["has_offsite"], d2_e, ded_e)
    annual = G["annual"]
    if G["has_year_cap"].any():
        left, left_e = dmax(zero, ze, G["year_cap"] - acc_ded, np.minimum(G["year_cap_e"], acc_ded_e))
        limit = np.where(annual, G["year_cap"], left)
        limit_e = np.where(annual, G["year_cap_e"], left_e)
        kept, kept_e = dmin(ded, ded_e, limit, limit_e)
        ded = np.where(G["has_year_cap"], kept, ded)
        ded_e = np.where(G["has_year_cap"], kept_e, ded_e)
    t1 = pay(
        amount,
        deductible=ded,
        deductible_e=ded_e.astype(np.int8),
        used=np.where(annual, acc_ded, 0),
        used_e=np.where(annual, acc_ded_e, ZERO_E).astype(np.int8),
        bands=G["bands"],
        band_start=np.where(G["bands_on_year"], acc_in, 0),
        cap=G["cap"],
        cap_e=G["cap_e"],
        has_cap=G["has_cap"],
        base_cap=G["base_cap"],
        fund_used=acc_fund,
        base_used=acc_in,
        base_used_e=acc_in_e,
    )
    burden = amount - t1.paid

    # tier 2 on the year's cumulative base
    self_pay = pre + offsite
    base2 = np.where(G["tier2_above_cap"], t1.above_cap, burden + np.where(G["tier2_pre"], self_pay, 0))
    base2_e = np.where(G["tier2_above_cap"], t1.above_cap_e, ZERO_E).astype(np.int8)
    base2 = np.where(G["tier2"], base2, 0)
    base2_e = np.where(G["tier2"], base2_e, ZERO_E).astype(np.int8)
    t2 = _pay_on_year(G, "tier2", base2, state, "tier2_base", "tier2_fund", ky)
    tier2_paid = np.where(G["tier2"], t2.paid, 0)

    # tier 3: what tiers 1 and 2 left
    base3 = np.maximum(0, burden + np.where(G["assist_pre"], self_pay, 0) - tier2_paid)
    base3 = np.where(G["assist"], base3, 0)
    t3 = _pay_on_year(G, "assist", base3, state, "assistance_base", "assistance_fund", ky)
    assist = np.where(G["assist"], np.minimum(t3.paid, base3), 0)
    personal = total - t1.paid - tier2_paid - assist
    return Settled(
        amount,
        offsite,
        t1.deductible,
        t1.deductible_e,
        t1.paid,
        t1.above_cap,
        t1.above_cap_e,
        base2,
        base2_e,
        tier2_paid,
        base3,
        assist,
        personal,
    )


def _pay_on_year(
    G: dict[str, Any], tier: str, base: np.ndarray, state: State, base_field: str, fund_field: str, ky: np.ndarray
) -> Any:
    """Tier 2 or a one-stage tier 3: ``base`` paid on the year's cumulative base, its deductible taken
    from the start of the year's base (``min(base before, deductible)`` used), its cap on the fund."""
    before, before_e = state.k[base_field][ky], state.ke[base_field][ky]
    used, used_e = dmin(before, before_e, G[f"{tier}_ded"], G[f"{tier}_ded_e"])
    return pay(
        base,
        deductible=G[f"{tier}_ded"],
        deductible_e=G[f"{tier}_ded_e"],
        used=used,
        used_e=used_e,
        bands=G[f"{tier}_bands"],
        band_start=before,
        cap=G[f"{tier}_cap"],
        cap_e=G[f"{tier}_cap_e"],
        has_cap=G[f"{tier}_has_cap"],
        base_cap=np.zeros(len(base), dtype=bool),
        fund_used=state.k[fund_field][ky],
        base_used=before,
        base_used_e=before_e,
    )


def _add(value: np.ndarray, exp: np.ndarray, delta: np.ndarray, delta_e: Any) -> tuple[np.ndarray, np.ndarray]:
    return value + delta, np.minimum(exp, delta_e).astype(np.int8)


def apply_wave(
    state: State,
    idx: np.ndarray,
    slot: np.ndarray,
    key: np.ndarray,
    visit: np.ndarray,
    years: np.ndarray,
    r: Settled,
) -> np.ndarray:
    """Carry the wave's amounts into the state; returns the bills whose year-to-date amounts would pass
    the ceilings (left to one-at-a-time, their state unchanged)."""
    sl, ky = slot[idx], key[idx]
    inpatient = visit[idx] == INPATIENT
    adm = state.admissions[ky] + inpatient
    new = {
        "in_scope": _add(state.s["in_scope"][sl], state.se["in_scope"][sl], r.in_scope_amount, ZERO_E),
        "deductible": _add(state.s["deductible"][sl], state.se["deductible"][sl], r.deductible, r.deductible_e),
        "fund": _add(state.s["fund"][sl], state.se["fund"][sl], r.basic, ZERO_E),
        "above_cap": _add(state.s["above_cap"][sl], state.se["above_cap"][sl], r.above_cap, r.above_cap_e),
    }
    knew = {
        "tier2_base": _add(state.k["tier2_base"][ky], state.ke["tier2_base"][ky], r.tier2_base, r.tier2_base_e),
        "tier2_fund": _add(state.k["tier2_fund"][ky], state.ke["tier2_fund"][ky], r.tier2, ZERO_E),
        "assistance_base": _add(state.k["assistance_base"][ky], state.ke["assistance_base"][ky], r.assist_base, ZERO_E),
        "assistance_fund": _add(state.k["assistance_fund"][ky], state.ke["assistance_fund"][ky], r.assist, ZERO_E),
    }
    over = adm > MAX_ADMISSIONS
    for v, _ in (*new.values(), *knew.values()):
        over |= v > MAX_FEN
    go = ~over
    s, k = sl[go], ky[go]
    for f, (v, e) in new.items():
        state.s[f][s], state.se[f][s] = v[go], e[go]
    for f, (v, e) in knew.items():
        state.k[f][k], state.ke[f][k] = v[go], e[go]
    state.admissions[k] = adm[go]
    state.year[k] = years[idx][go]
    return over
