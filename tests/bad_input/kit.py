"""Valid inputs with one thing changed: the helpers corpus entries build their files with.

Each base is a valid input that medins settles (the tests check that too), so an entry that changes
one cell or key shows exactly which bad value medins must refuse.
"""

from __future__ import annotations

import csv
import io
from typing import Any

BILL: dict[str, str] = {
    "bill_id": "B1",
    "person_id": "130102198001011234",
    "person_name": "张三",
    "insured_region": "130100",
    "scheme": "resident",
    "status": "general",
    "assistance": "subsistence",
    "filing_category": "referral",
    "filing_destination": "110000",
    "filing_start": "2025-03-01",
    "filing_materials": "insurance_credential;filing_form;referral_certificate",
    "visit_region": "110000",
    "hospital_level": "3",
    "visit_type": "inpatient",
    "admitted": "2025-03-10",
    "discharged": "2025-03-22",
    "total": "68000.00",
    "fully_self_paid": "3000.00",
    "class_b": "12000.00",
}
"""A bill settled from its totals: the README's story as one CSV row."""

ITEM: dict[str, str] = {
    "bill_id": "B1",
    "code": "",
    "name": "注射用艾普拉唑钠",
    "spec": "10mg/支",
    "quantity": "6",
    "unit_price": "70.00",
    "amount": "",
}
"""A drug line of the 2024 drug list, settled in Beijing's catalogue."""


def _table(base: dict[str, str], rows: tuple[dict[str, Any], ...], sep: str, drop: tuple[str, ...]) -> str:
    columns = [c for c in base if c not in drop]
    for row in rows:
        columns += [c for c in row if c not in columns and c not in drop]
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, lineterminator="\n")
    w.writerow(columns)
    for k, row in enumerate(rows or ({},), 1):
        values = {**base, "bill_id": f"B{k}", **{c: str(v) for c, v in row.items()}}
        w.writerow([values.get(c, "") for c in columns])
    return buf.getvalue()


def bills_csv(*rows: dict[str, Any], sep: str = ",", drop: tuple[str, ...] = ()) -> str:
    """A BILLS file: one row per dict, each the valid ``BILL`` with the dict's cells changed.

    Bills are numbered B1, B2 … unless a dict gives ``bill_id``; ``drop`` removes columns.
    """
    return _table(BILL, rows, sep, drop)


def items_csv(*rows: dict[str, Any], sep: str = ",", drop: tuple[str, ...] = ()) -> str:
    """An ITEMS file: one row per dict, each the valid ``ITEM`` (of bill B1 unless given) changed."""
    base = dict(ITEM)
    text = _table(base, tuple({"bill_id": "B1", **r} for r in rows) or ({"bill_id": "B1"},), sep, drop)
    return text


CASE: dict[str, str] = {
    "person.id": '"130125-demo-01"',
    "person.insured_region": '"130100"',
    "person.scheme": '"resident"',
    "person.assistance": '"subsistence"',
    "filing.category": '"referral"',
    "filing.destination": '"110000"',
    "filing.start": "2025-03-01",
    "filing.filed_on": "2025-03-01",
    "filing.materials": '["insurance_credential", "filing_form", "referral_certificate"]',
    "visit.region": '"110000"',
    "visit.hospital_level": "3",
    "visit.type": '"inpatient"',
    "visit.admitted": "2025-03-10",
    "visit.discharged": "2025-03-22",
    "summary.total": "68000.00",
    "summary.fully_self_paid": "3000.00",
    "summary.class_b": "12000.00",
}
"""The README's story as a case file, one TOML literal per dotted key."""


def case_toml(changes: dict[str, str | None] | None = None, extra: str = "") -> str:
    """A case file: ``CASE`` with keys changed (a TOML literal) or removed (None), then ``extra``."""
    values = dict(CASE)
    for key, literal in (changes or {}).items():
        if literal is None:
            values.pop(key, None)
        else:
            values[key] = literal
    sections: dict[str, list[str]] = {}
    for key, literal in values.items():
        section, _, name = key.rpartition(".")
        sections.setdefault(section, []).append(f"{name} = {literal}")
    parts = [f"[{s}]\n" + "\n".join(lines) + "\n" for s, lines in sections.items()]
    return "\n".join(parts) + extra


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    """A value nested ``depth`` deep: ``[[[…]]]``."""
    return open_ * depth + close * depth


__all__ = ["BILL", "CASE", "ITEM", "bills_csv", "case_toml", "items_csv", "nested"]
