"""Step 1, at the treatment place: split each bill line by the catalogue (domain §4.1).

amount = fully self-paid + over-ceiling + pre-self-pay + in-scope, to the fen, for every line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from medins.case_model import Item, Summary
from medins.engine.result import Line
from medins.errors import CaseError, t
from medins.loader import DrugIndex
from medins.money import ZERO, fen
from medins.rules_model import Catalogue, CatalogueSettings, Drug, LocalItem


@dataclass(frozen=True, slots=True)
class Resolved:
    """What the catalogue says of a line's item."""

    code: str | None
    kind: str
    item_class: str  # A, B or C (C: not covered)
    pre_ratio: Decimal
    ceiling: Decimal | None
    restriction: str
    ceiling_note: str | None = None


def _norm(text: str) -> str:
    return "".join(text.split()).replace("（", "(").replace("）", ")").lower()


def _drug_ceiling(drug: Drug, spec: str | None) -> tuple[Decimal | None, str | None]:
    if not drug.ceilings:
        return None, None
    if spec:
        for c in drug.ceilings:
            if _norm(c.spec) == _norm(spec):
                return c.price, None
        return None, drug.ceiling_text
    if len(drug.ceilings) == 1:
        return drug.ceilings[0].price, None
    return None, drug.ceiling_text


def _find_drug(index: DrugIndex, item: Item, where: str) -> Drug | None:
    if item.code and item.code in index.by_code:
        return index.by_code[item.code]
    if not item.name:
        return None
    candidates = index.by_name.get(item.name, [])
    if item.dosage_form:
        candidates = [d for d in candidates if d.dosage_form == item.dosage_form or not d.dosage_form]
    if not candidates:
        return None
    first = candidates[0]
    if all(
        (d.drug_class, d.herbal, d.restriction, d.ceilings)
        == (first.drug_class, first.herbal, first.restriction, first.ceilings)
        for d in candidates
    ):
        return first
    forms = "、".join(sorted({d.dosage_form for d in candidates if d.dosage_form}))
    raise CaseError(
        t(
            f"药品 “{item.name}” 有多个剂型，分类或限价不同",
            f"drug '{item.name}' has several dosage forms with different terms",
        ),
        f"{where}.dosage_form",
        t(f"请填写 dosage_form：{forms}", f"give dosage_form: {forms}"),
    )


@dataclass(frozen=True, slots=True)
class CatalogueIndex:
    """A treatment place's catalogue, settings and drug list, indexed once for the lines of many bills."""

    catalogue: Catalogue
    settings: CatalogueSettings
    drugs: DrugIndex
    local: dict[str, LocalItem]
    overrides: dict[str, Decimal]
    ceilings: dict[tuple[str, str | None], Decimal]
    # what resolve_item found, by (code, name, dosage form, spec): bills repeat their items
    resolved: dict[tuple[str | None, str | None, str | None, str | None], Resolved | None] = field(default_factory=dict)

    @classmethod
    def build(cls, catalogue: Catalogue, settings: CatalogueSettings, drugs: DrugIndex) -> CatalogueIndex:
        local: dict[str, LocalItem] = {}
        for li in catalogue.items:
            local[li.code] = li
            local.setdefault(li.name, li)
        return cls(
            catalogue,
            settings,
            drugs,
            local,
            {o.code: o.pre_self_pay for o in settings.overrides},
            {(c.code, _norm(c.spec) if c.spec else None): c.price for c in settings.ceilings},
        )


def catalogue_index(
    cache: dict[Any, Any], catalogue: Catalogue, settings: CatalogueSettings, drugs: DrugIndex
) -> CatalogueIndex:
    """The index for these settings, kept in ``cache`` (the rule set's, so it lives and dies with it).

    Keyed by identity: the index holds what its key names, so an id is never reused while cached.
    """
    key = ("catalogue_index", id(catalogue), id(settings), id(drugs))
    index = cache.get(key)
    if index is None:
        index = cache[key] = CatalogueIndex.build(catalogue, settings, drugs)
    return index


RESOLVED_CACHE_LIMIT = 200_000  # distinct items remembered per catalogue index


def resolve_item(item: Item, index: CatalogueIndex, where: str) -> Resolved | None:
    """Find the item in the treatment place's catalogue: local items, then the national drug list."""
    key = (item.code, item.name, item.dosage_form, item.spec)
    cache = index.resolved
    if key in cache:
        return cache[key]
    found = _resolve(item, index, where)
    if len(cache) < RESOLVED_CACHE_LIMIT:
        cache[key] = found
    return found


def _resolve(item: Item, index: CatalogueIndex, where: str) -> Resolved | None:
    overrides, ceilings, ratios = index.overrides, index.ceilings, index.settings.pre_self_pay
    found_local = index.local.get(item.code or "") or (index.local.get(item.name or "") if not item.code else None)
    if found_local is not None:
        kind = found_local.kind
        pre = found_local.pre_self_pay if found_local.pre_self_pay is not None else getattr(ratios, kind)
        return Resolved(
            found_local.code,
            kind,
            found_local.item_class,
            overrides.get(found_local.code, pre),
            ceilings.get((found_local.code, None), found_local.ceiling),
            found_local.restriction or "",
        )
    drug = _find_drug(index.drugs, item, where)
    if drug is None:
        return None
    if drug.herbal == "excluded":
        cls = "C"
    elif drug.herbal == "paid":
        cls = index.settings.herbal_pieces_class
    else:
        cls = drug.drug_class or "C"
    ceiling, note = _drug_ceiling(drug, item.spec)
    if ceilings:
        local_ceiling = ceilings.get((drug.code, _norm(item.spec) if item.spec else None)) or ceilings.get(
            (drug.code, None)
        )
        if local_ceiling is not None:
            ceiling, note = local_ceiling, None
    return Resolved(drug.code, "drug", cls, overrides.get(drug.code, ratios.drug), ceiling, drug.restriction, note)


def split_line(index: int, item: Item, found: Resolved | None, warn: Callable[[str, object], None]) -> Line:
    """Split one line into its four parts."""
    amount = item.line_amount
    name = item.label
    if found is None:
        warn(
            "ITEM_NOT_IN_CATALOGUE",
            t(
                f"第 {index + 1} 行 “{name}” 不在就医地目录中，全自费",
                f"line {index + 1} '{name}' is not in the treatment place's catalogue: fully self-paid",
            ),
        )
        return Line(index, name, item.code, item.kind or "unknown", "C", amount, amount, ZERO, ZERO, ZERO)
    if found.item_class == "C":
        return Line(index, name, found.code, found.kind, "C", amount, amount, ZERO, ZERO, ZERO)
    if found.restriction:
        if item.restriction_met is False:
            warn(
                "RESTRICTION_NOT_MET",
                t(
                    f"第 {index + 1} 行 “{name}” 限定支付范围未满足，全自费：{found.restriction}",
                    f"line {index + 1} '{name}' restriction not met, fully self-paid: {found.restriction}",
                ),
            )
            return Line(index, name, found.code, found.kind, found.item_class, amount, amount, ZERO, ZERO, ZERO)
        if item.restriction_met is None:
            warn(
                "RESTRICTION_ASSUMED_MET",
                t(
                    f"第 {index + 1} 行 “{name}” 有限定支付范围，按已满足计算：{found.restriction}",
                    f"line {index + 1} '{name}' has a restriction, assumed met: {found.restriction}",
                ),
            )
    over = ZERO
    if found.ceiling is not None:
        unit = item.unit_price if item.unit_price is not None else amount / item.quantity
        if unit > found.ceiling:
            over = min(amount, fen((unit - found.ceiling) * item.quantity))
    elif found.ceiling_note:
        warn(
            "CEILING_SPEC_UNKNOWN",
            t(
                f"第 {index + 1} 行 “{name}” 的支付标准按规格区分（{found.ceiling_note}），请填写 spec；未按限价计算",
                f"line {index + 1} '{name}' has payment standards by specification ({found.ceiling_note}); give spec; no ceiling applied",
            ),
        )
    pre = fen((amount - over) * found.pre_ratio) if found.item_class == "B" else ZERO
    return Line(index, name, found.code, found.kind, found.item_class, amount, ZERO, over, pre, amount - over - pre)


def classify_items(items: list[Item], index: CatalogueIndex, warn: Callable[[str, object], None]) -> list[Line]:
    """Classify every line of an itemised bill."""
    return [split_line(i, item, resolve_item(item, index, f"items[{i}]"), warn) for i, item in enumerate(items)]


def classify_summary(summary: Summary, settings: CatalogueSettings, warn: Callable[[str, object], None]) -> Line:
    """A bill known only by its totals, as one line."""
    if summary.pre_self_pay is not None:
        pre = fen(summary.pre_self_pay)
    else:
        pre = fen(summary.class_b * settings.pre_self_pay.drug)
        if summary.class_b:
            warn(
                "SUMMARY_PRE_SELF_PAY",
                t(
                    f"乙类先行自付按药品比例 {settings.pre_self_pay.drug} 估算（未给出 pre_self_pay）",
                    f"class-B pre-self-pay estimated at the drug ratio {settings.pre_self_pay.drug} (no pre_self_pay given)",
                ),
            )
    total = fen(summary.total)
    fully, over = fen(summary.fully_self_paid), fen(summary.over_ceiling)
    return Line(0, "summary", None, "summary", "-", total, fully, over, pre, total - fully - over - pre)
