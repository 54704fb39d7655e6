"""Every value of a rule pack with where it comes from (``rules sources``), and what changed between
two rule sets or two dates of one pack (``rules diff``).

The walk is generic: it follows the pydantic models of the rule files and yields each scalar value
that the file itself writes (defaults are not values of the file), under its key path as written in
the TOML (``resident.inpatient[0].rates[2].bands[0].ratio``). A value belongs to its dated section
(its ``effective``/``until`` and ``source`` ids); a ``[[filing.deemed]]`` entry names its own sources.
Catalogue ``[[items]]`` and ``[[institutions]]`` carry values outside dated sections: items have no
source, institutions cite ``institutions_source``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from pydantic import BaseModel

from medins.loader import RegionPack, RuleSet
from medins.rules_model import CONFIDENCE_ORDER, Catalogue, Source, Standards

META_KEYS = frozenset({"effective", "until", "source", "note", "income_note"})
"""Keys that date, cite or comment a section rather than set a value of it."""

SECTION_LISTS = ("inpatient", "outpatient", "chronic", "tier2")
FLAGS = ("no_url", "primary_without_quote", "verified_over_12_months")


@dataclass(frozen=True)
class ValueRow:
    """One value of a pack: where it is, what it is, which section dates it and which sources cite it."""

    region: str
    name: str
    kind: str  # "standards" | "catalogue"
    section: str  # the section list, e.g. "employee.chronic" ("items" for catalogue items)
    index: int | None  # the section's place in its list
    field: str  # the key path inside the section, e.g. "diseases.copd.rates[0].bands[0].ratio"
    value: Any
    effective: date | None
    until: date | None
    sources: tuple[tuple[str, Source], ...]
    missing_sources: tuple[str, ...] = ()
    origin: str = ""  # the file the value was read from, in the rules directory (130000/standards.toml)

    @property
    def inherited(self) -> bool:
        """Whether the value comes from a pack this region's file extends."""
        return bool(self.origin) and not self.origin.startswith(f"{self.region}/")

    @property
    def path(self) -> str:
        """The key path as in the TOML file."""
        head = self.section if self.index is None else f"{self.section}[{self.index}]"
        return _join(head, self.field)

    @property
    def dateless_path(self) -> str:
        """The key path without the section's place in its list (one section is in force on a date)."""
        return _join(self.section, self.field)

    @property
    def confidence(self) -> str:
        """A value is as confirmed as the weakest source of its section (none: illustrative)."""
        levels = [s.confidence for _, s in self.sources]
        if not levels or self.missing_sources:
            return "illustrative"
        return min(levels, key=lambda c: CONFIDENCE_ORDER[c])


def _join(head: str, field: str) -> str:
    if not field:
        return head
    return f"{head}{field}" if field.startswith("[") else f"{head}.{field}"


def _key(name: str, model: type[BaseModel]) -> str:
    info = model.model_fields[name]
    return info.alias or name


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Each scalar the file writes under ``value``, with its key path: models by the fields the file
    set (by their TOML names), tables by key, arrays by index; meta keys are skipped."""
    if isinstance(value, BaseModel):
        cls = type(value)
        for name in cls.model_fields:
            if name not in value.model_fields_set:
                continue
            key = _key(name, cls)
            if key in META_KEYS:
                continue
            yield from walk(getattr(value, name), f"{path}.{key}" if path else key)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from walk(v, f"{path}[{i}]")
    elif value is not None:
        yield path, value


def _cite(model: Standards | Catalogue, ids: list[str]) -> tuple[tuple[tuple[str, Source], ...], tuple[str, ...]]:
    found = tuple((i, model.sources[i]) for i in dict.fromkeys(ids) if i in model.sources)
    missing = tuple(i for i in dict.fromkeys(ids) if i not in model.sources)
    return found, missing


def _sections(model: Standards | Catalogue) -> Iterator[tuple[str, int, Any]]:
    if isinstance(model, Catalogue):
        for i, s in enumerate(model.settings):
            yield "settings", i, s
        return
    for scheme in ("employee", "resident"):
        terms = getattr(model, scheme)
        if terms is None:
            continue
        for name in SECTION_LISTS:
            for i, s in enumerate(getattr(terms, name)):
                yield f"{scheme}.{name}", i, s
    for name in ("offsite", "filing", "assistance"):
        for i, s in enumerate(getattr(model, name)):
            yield name, i, s


def model_values(code: str, name: str, model: Standards | Catalogue, on: date | None = None) -> Iterator[ValueRow]:
    """Every value of one rule file (only the sections in force on ``on``, when given)."""
    for section, index, sec in _sections(model):
        if on is not None and not sec.in_force(on):
            continue
        cited = _cite(model, list(sec.source_ids))
        deemed = {}
        if section == "filing":
            deemed = {i: _cite(model, d.source_ids) for i, d in enumerate(sec.deemed)}
        for field, value in walk(sec):
            sources, missing = cited
            if field.startswith("deemed["):
                sources, missing = deemed[int(field[len("deemed[") : field.index("]")])]
            yield ValueRow(
                code, name, model.kind, section, index, field, value, sec.effective, sec.until, sources, missing
            )
    if isinstance(model, Catalogue):
        for field, value in walk(model.items, ""):
            yield ValueRow(code, name, model.kind, "items", None, field, value, None, None, ())
        if model.institutions:
            cited = _cite(model, [model.institutions_source] if model.institutions_source else [])
            for field, value in walk(model.institutions, ""):
                yield ValueRow(code, name, model.kind, "institutions", None, field, value, None, None, *cited)


def not_in_force(pack: RegionPack, on: date) -> list[str]:
    """The section lists of a pack (``employee.inpatient``) that have sections but none in force on ``on``."""
    missing: dict[str, bool] = {}
    for model in (pack.standards_file, pack.catalogue):
        if model is not None:
            for section, _, sec in _sections(model):
                missing[section] = missing.get(section, True) and not sec.in_force(on)
    return [name for name, none in missing.items() if none]


def pack_values(pack: RegionPack, on: date | None = None) -> Iterator[ValueRow]:
    """Every value of a pack, as resolved with what it extends: its standards, then its catalogue;
    each names the file it was read from."""
    for model in (pack.standards_file, pack.catalogue):
        if model is None:
            continue
        resolved = pack.origins.get(model.kind)
        for row in model_values(pack.code, pack.name, model, on):
            file = resolved.origin(row.path) if resolved else pack.folder / f"{model.kind}.toml"
            yield replace(row, origin=f"{file.parent.name}/{file.name}")


def rule_set_values(rules: RuleSet, codes: list[str] | None = None, on: date | None = None) -> Iterator[ValueRow]:
    for code in codes or sorted(rules.packs):
        yield from pack_values(rules.packs[code], on)


# ------------------------------------------------------------------ flags


def year_before(day: date) -> date:
    """The same day twelve months earlier (29 February: the 28th)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def source_flags(source: Source, today: date) -> list[str]:
    """What a clerk should look at: no address, a primary source without its quotation, a check
    older than twelve months."""
    flags = []
    if not source.url:
        flags.append("no_url")
    if source.confidence == "primary" and not source.quote:
        flags.append("primary_without_quote")
    if source.verified is not None and source.verified < year_before(today):
        flags.append("verified_over_12_months")
    return flags


def plain(value: Any) -> Any:
    """A value for JSON: decimals stay Decimal (written as exact JSON numbers), dates become ISO text."""
    if isinstance(value, date):
        return value.isoformat()
    return value


def written(value: Any) -> str:
    """A value as the TOML writes it: numbers as written, true/false, dates in ISO form, text as is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def source_record(sid: str, source: Source, today: date) -> dict[str, Any]:
    return {
        "id": sid,
        "confidence": source.confidence,
        "document": source.document,
        "title": source.title,
        "issuer": source.issuer,
        "url": source.url,
        "verified": source.verified.isoformat() if source.verified else None,
        "flags": source_flags(source, today),
    }


def row_record(row: ValueRow, today: date) -> dict[str, Any]:
    """One value with stable English field names (numbers stay numbers)."""
    sources = [source_record(i, s, today) for i, s in row.sources]
    flags = list(dict.fromkeys(f for s in sources for f in s["flags"]))
    if not row.sources:
        flags.insert(0, "no_source")
    return {
        "region": row.region,
        "name": row.name,
        "file": row.kind,
        "from": row.origin,
        "path": row.path,
        "value": plain(row.value),
        "effective": row.effective.isoformat() if row.effective else None,
        "until": row.until.isoformat() if row.until else None,
        "confidence": row.confidence,
        "sources": sources,
        "flags": flags,
    }


def summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """How many values each confidence covers, and how many values each flag touches."""
    by_confidence = Counter(r["confidence"] for r in records)
    by_flag = Counter(f for r in records for f in r["flags"])
    return {
        "values": len(records),
        "by_confidence": {c: by_confidence.get(c, 0) for c in ("primary", "secondary", "illustrative")},
        "flagged": {f: by_flag.get(f, 0) for f in ("no_source", *FLAGS)},
    }


# ------------------------------------------------------------------ diff


def diff_values(old: list[ValueRow], new: list[ValueRow], dateless: bool) -> list[dict[str, Any]]:
    """The values added, removed or changed between two lists of values, keyed by region, file and key
    path (``dateless``: without the section's place in its list, for one pack at two dates)."""

    def keyed(rows: list[ValueRow]) -> dict[tuple[str, str, str], ValueRow]:
        return {(r.region, r.kind, r.dateless_path if dateless else r.path): r for r in rows}

    a, b = keyed(old), keyed(new)
    changes = []
    for key in sorted(a.keys() | b.keys()):
        before, after = a.get(key), b.get(key)
        if before is not None and after is not None:
            if type(before.value) is type(after.value) and before.value == after.value:
                continue  # 0.9 and 0.90 are the same ratio
            change = "changed"
        else:
            change = "added" if before is None else "removed"
        changes.append(
            {"change": change, "region": key[0], "file": key[1], "path": key[2], "old": before, "new": after}
        )
    return changes


def side_record(row: ValueRow | None, today: date) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "path": row.path,
        "from": row.origin,
        "value": plain(row.value),
        "effective": row.effective.isoformat() if row.effective else None,
        "until": row.until.isoformat() if row.until else None,
        "sources": [source_record(i, s, today) for i, s in row.sources],
    }


def diff_record(change: dict[str, Any], today: date) -> dict[str, Any]:
    return {
        "change": change["change"],
        "region": change["region"],
        "file": change["file"],
        "path": change["path"],
        "old": side_record(change["old"], today),
        "new": side_record(change["new"], today),
    }
