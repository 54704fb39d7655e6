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


def case_items_toml(name: str = "注射用艾普拉唑钠") -> str:
    """A case billed by one drug line (``ITEM``) instead of a summary: settling it reads the drug list."""
    summary = {"summary.total": None, "summary.fully_self_paid": None, "summary.class_b": None}
    line = f'\n[[items]]\nname = "{name}"\nspec = "{ITEM["spec"]}"\nquantity = 6\nunit_price = 70.00\n'
    return case_toml(summary, extra=line)


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    """A value nested ``depth`` deep: ``[[[…]]]``."""
    return open_ * depth + close * depth


NRDL_RECORD: dict[str, Any] = {
    "id": 3400,
    "name": "注射用艾普拉唑钠",
    "drugTypeName": "西药",
    "dosageForm": "",
    "remark": "限：1.预防重症患者应激性溃疡出血；2.消化性溃疡出血。",
    "paymentStandards": "63.00元(10mg/支)",
    "agreementPeriod": "2024年1月1日至2025年12月31日",
    "category": {"id": 582, "name": "质子泵抑制剂", "code": "XA02BC"},
    "kindName": "医保乙类",
    "categoryName": "消化道和代谢方面的药物 > 质子泵抑制剂",
}
"""One record of the national drug-list service, as ``rules import-nrdl`` reads it."""


def nrdl_json(*records: dict[str, Any], drop: tuple[str, ...] = (), **top: Any) -> str:
    """A service page of ``NRDL_RECORD`` records, each dict's fields changed (``drop`` removes fields).

    ``top`` changes the page's own keys (``success``, ``msg``); ``total`` defaults to the count.
    """
    import json

    rows = [{k: v for k, v in {**NRDL_RECORD, **r}.items() if k not in drop} for r in records or ({},)]
    data = {"pageNum": 1, "pageSize": 10000, "total": top.pop("total", len(rows)), "pages": 1, "list": rows}
    return json.dumps({"code": 1, "msg": "操作成功!", "success": True, **top, "data": data}, ensure_ascii=False)


__all__ = [
    "BILL",
    "CASE",
    "ITEM",
    "NRDL_RECORD",
    "bills_csv",
    "case_items_toml",
    "case_toml",
    "items_csv",
    "nested",
    "nrdl_json",
]


def _rows(base: dict[str, str], rows: tuple[dict[str, Any], ...], drop: tuple[str, ...]) -> list[list[Any]]:
    columns = [c for c in base if c not in drop]
    for row in rows:
        columns += [c for c in row if c not in columns and c not in drop]
    out: list[list[Any]] = [list(columns)]
    for k, row in enumerate(rows or ({},), 1):
        values = {**base, "bill_id": f"B{k}", **row}
        out.append([values.get(c, "") for c in columns])
    return out


def _xlsx(rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append([None if v == "" else v for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def bills_xlsx(*rows: dict[str, Any], drop: tuple[str, ...] = ()) -> bytes:
    """A BILLS workbook, as ``bills_csv``; cells keep their Python type (a float ID, a ``=`` formula)."""
    return _xlsx(_rows(BILL, rows, drop))


def items_xlsx(*rows: dict[str, Any], drop: tuple[str, ...] = ()) -> bytes:
    """An ITEMS workbook, as ``items_csv``; cells keep their Python type."""
    return _xlsx(_rows(ITEM, tuple({"bill_id": "B1", **r} for r in rows) or ({"bill_id": "B1"},), drop))


YTD_ENTRY: dict[str, Any] = {
    "person_id": BILL["person_id"],
    "insured_region": "130100",
    "scheme": "resident",
    "year": 2025,
    "last_service_date": "2025-03-20",
    "ytd": {"year": 2025, "admissions": 1},
}
"""One entry of a ``--ytd-out`` file (version 2): ``BILL``'s person after a stay in March 2025."""


def ytd_json(*entries: dict[str, Any], version: Any = 2) -> str:
    """A year-to-date file: one ``YTD_ENTRY`` per dict, with the dict's fields changed."""
    import json

    listed = [{**YTD_ENTRY, **e} for e in entries or ({},)]
    return json.dumps({"format": "medins-ytd", "version": version, "entries": listed}, ensure_ascii=False)
