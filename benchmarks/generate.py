"""Synthetic bills for ``medins batch``: seeded, reproducible, drawn from the shipped rules.

    python benchmarks/generate.py --bills 200000 --items-per-bill 10 --seed 1 --out bench-data

writes ``bills.csv`` and ``items.csv`` (UTF-8) to ``--out``. The mix: persons insured in every
shipped insured place, treated in a shipped treatment place of another province (some in their own
province, about 1 %: local visits), employees and residents in their region's groups, all six filing
categories plus unfiled visits, some expired filings and missing proof, inpatient,
general-outpatient and chronic-disease visits at levels 1–3 in the first half of 2025, some persons
on medical assistance; item lines drawn from the 2024 national drug list (by code, or by name and
dosage form, with specifications for drugs with payment standards) and from the treatment place's
local items, with a few lines whose restriction is not met. With ``--items-per-bill 0`` every bill
is given by summary amounts instead.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"

BILL_COLUMNS = [
    "bill_id",
    "person_id",
    "insured_region",
    "scheme",
    "status",
    "assistance",
    "chronic_diseases",
    "filing_category",
    "filing_destination",
    "filing_start",
    "filing_end",
    "filing_materials",
    "visit_region",
    "hospital_level",
    "visit_type",
    "disease",
    "admitted",
    "discharged",
    "date",
    "total",
    "fully_self_paid",
    "over_ceiling",
    "class_b",
]
ITEM_COLUMNS = ["bill_id", "code", "name", "dosage_form", "spec", "quantity", "unit_price", "amount", "restriction_met"]

MATERIALS = {
    "relocated_retiree": ["insurance_credential", "filing_form", "residence_proof"],
    "long_term_resident": ["insurance_credential", "filing_form", "promise"],
    "stationed_worker": ["insurance_credential", "filing_form", "posting_certificate"],
    "referral": ["insurance_credential", "filing_form", "referral_certificate"],
    "emergency": ["insurance_credential"],
    "other_temporary": ["insurance_credential", "filing_form"],
}
CHRONIC = ["hypertension", "diabetes", "cancer_chemoradiotherapy", "uremia_dialysis", "transplant_antirejection"]
YEAR_START = date(2025, 1, 1)


# Insured places by weight, each with where its people go (treatment places by weight).
TRAVEL = {
    "130100": (35, {"110000": 8, "310000": 2}),
    "230400": (15, {"110000": 1, "310000": 1}),
    "330400": (20, {"310000": 17, "110000": 3}),
    "110000": (15, {"310000": 1}),
    "310000": (15, {"110000": 1}),
}


def _regions() -> tuple[dict[str, tuple], dict[str, list[dict[str, object]]]]:
    """Per shipped insured place: weight, destinations, groups per scheme, assistance categories;
    per shipped treatment place: its local items."""
    from medins.loader import load_rules

    rules = load_rules(RULES)
    insured = {}
    for code, (weight, goes) in TRAVEL.items():
        std = rules.packs[code].standards if code in rules.packs else None
        goes = {k: w for k, w in goes.items() if k in rules.packs and rules.packs[k].catalogue}
        if std is None or not goes:
            continue
        groups = {s: getattr(std, s).groups for s in ("employee", "resident") if getattr(std, s)}
        assistance = list(std.assistance[0].categories) if std.assistance else []
        insured[code] = (weight, goes, groups, assistance)
    locals_ = {
        code: [{"code": i.code, "ceiling": i.ceiling} for i in p.catalogue.items]
        for code, p in rules.packs.items()
        if p.catalogue
    }
    return insured, locals_


def _drugs() -> tuple[list[dict], set[str]]:
    """Drugs of the list, and the codes that a name (with dosage form) finds without ambiguity."""
    drugs = json.loads((RULES / "drug-lists" / "nrdl-2024.json").read_text("utf-8"))["drugs"]
    by_name: dict[str, list[dict]] = {}
    for d in drugs:
        by_name.setdefault(d["name"], []).append(d)
    by_name_ok: set[str] = set()
    for d in drugs:
        candidates = [c for c in by_name[d["name"]] if c["dosage_form"] == d["dosage_form"] or not c["dosage_form"]]
        terms = {(c["class"], c["herbal"], c["restriction"], json.dumps(c["ceilings"])) for c in candidates}
        if len(terms) == 1 and d["dosage_form"]:
            by_name_ok.add(d["code"])
    return drugs, by_name_ok


def _person_id(rng: random.Random, region: str, n: int) -> str:
    born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 65))
    body = f"{region[:4]}{rng.randrange(1, 99):02d}{born:%Y%m%d}{n % 1000:03d}"
    return body + rng.choice("0123456789X")


def _money(value: float) -> str:
    return f"{Decimal(value).quantize(Decimal('0.01'))}"


def generate(bills: int, items_per_bill: int, seed: int, out: Path) -> tuple[int, int]:
    """Write bills.csv and items.csv; return (bills, item lines)."""
    rng = random.Random(seed)
    drugs, by_name_ok = _drugs()
    insured, locals_ = _regions()
    codes = sorted(insured)
    weights = [insured[c][0] for c in codes]
    out.mkdir(parents=True, exist_ok=True)
    persons = max(1, bills * 10 // 25)  # about 2.5 bills a person
    people = []
    for n in range(persons):
        region = rng.choices(codes, weights)[0]
        _, goes, groups, categories = insured[region]
        if region in locals_ and rng.random() < 0.03:
            treated = region  # treated at home: not cross-province, rejected
        else:
            treated = rng.choices(list(goes), list(goes.values()))[0]
        scheme = "employee" if rng.random() < 0.4 else "resident"
        if scheme == "employee":
            status = "retired" if rng.random() < 0.3 else "in_service"
        else:
            status = rng.choice(groups["resident"])
        assistance = rng.choice(categories) if scheme == "resident" and categories and rng.random() < 0.06 else ""
        r = rng.random()
        if r < 0.05:
            category = ""
        elif r < 0.25:
            category = "relocated_retiree" if status == "retired" else "long_term_resident"
        elif r < 0.35:
            category = "stationed_worker" if scheme == "employee" else "long_term_resident"
        elif r < 0.75:
            category = "referral"
        elif r < 0.85:
            category = "emergency"
        else:
            category = "other_temporary"
        chronic = rng.sample(CHRONIC, rng.choice([1, 1, 2])) if rng.random() < 0.2 else []
        people.append((_person_id(rng, region, n), region, treated, scheme, status, assistance, category, chronic))

    rows = []
    for b in range(bills):
        pid, region, treated, scheme, status, assistance, category, chronic = people[rng.randrange(persons)]
        r = rng.random()
        visit_type = "inpatient" if r < 0.35 else "chronic_outpatient" if r < 0.5 and chronic else "outpatient"
        start = YEAR_START + timedelta(days=rng.randrange(0, 180))
        if visit_type == "inpatient":
            admitted, discharged, day = start, start + timedelta(days=rng.randrange(1, 20)), None
        else:
            admitted = discharged = None
            day = start
        settled = discharged or day
        filing = {}
        if category:
            long_term = category in ("relocated_retiree", "long_term_resident", "stationed_worker")
            filed = YEAR_START - timedelta(days=rng.randrange(0, 700 if long_term else 40))
            materials = list(MATERIALS[category])
            if rng.random() < 0.03:
                materials.pop()  # proof missing
            filing = {
                "filing_category": category,
                "filing_destination": treated,
                "filing_start": "" if category == "emergency" else filed.isoformat(),
                "filing_end": (filed + timedelta(days=90)).isoformat() if rng.random() < 0.05 else "",
                "filing_materials": ";".join(materials),
            }
        row = {
            "bill_id": f"S{seed:02d}{b:09d}",
            "person_id": pid,
            "insured_region": region,
            "scheme": scheme,
            "status": status,
            "assistance": assistance,
            "chronic_diseases": ";".join(chronic),
            **filing,
            "visit_region": treated,
            "hospital_level": rng.choices(["1", "2", "3"], [1, 3, 6])[0],
            "visit_type": visit_type,
            "disease": rng.choice(chronic) if visit_type == "chronic_outpatient" else "",
            "admitted": admitted.isoformat() if admitted else "",
            "discharged": discharged.isoformat() if discharged else "",
            "date": day.isoformat() if day else "",
        }
        if items_per_bill <= 0:
            scale = 20000 if visit_type == "inpatient" else 600
            total = rng.lognormvariate(0, 0.8) * scale
            row.update(
                total=_money(total),
                fully_self_paid=_money(total * rng.uniform(0, 0.1)),
                over_ceiling="0",
                class_b=_money(total * rng.uniform(0, 0.3)),
            )
        rows.append((settled, b, row))
    rows.sort(key=lambda r: (r[0], r[1]))  # a monthly file: in settlement-date order

    lines = 0
    with (
        (out / "bills.csv").open("w", encoding="utf-8", newline="") as fb,
        (out / "items.csv").open("w", encoding="utf-8", newline="") as fi,
    ):
        wb = csv.DictWriter(fb, BILL_COLUMNS)
        wi = csv.writer(fi)
        wb.writeheader()
        wi.writerow(ITEM_COLUMNS)
        for _, _, row in rows:
            wb.writerow(row)
            if items_per_bill <= 0:
                continue
            for _ in range(rng.randint(1, 2 * items_per_bill - 1)):
                days = 3 if row["visit_type"] == "inpatient" else 1
                wi.writerow(_item(rng, row["bill_id"], days, drugs, by_name_ok, locals_[row["visit_region"]]))
                lines += 1
    return len(rows), lines


def _item(
    rng: random.Random, bill_id: str, days: int, drugs: list[dict], by_name_ok: set[str], locals_: list[dict]
) -> list:
    quantity = rng.choice([1, 1, 2, 3, 6, 10, 14, 28]) * days
    if rng.random() < 0.15:
        item = rng.choice(locals_)
        price = float(item.get("ceiling") or 0) * rng.uniform(0.9, 1.3) or rng.uniform(20, 800)
        return [bill_id, item["code"], "", "", "", "1", _money(price), "", ""]
    d = rng.choice(drugs)
    spec = ""
    if d["ceilings"]:
        c = rng.choice(d["ceilings"])
        spec = c["spec"]
        price = float(c["price"]) * rng.uniform(0.8, 1.2)
    else:
        price = rng.lognormvariate(3, 1)
    by_name = d["code"] in by_name_ok and rng.random() < 0.3
    restriction = ""
    if d["restriction"]:
        restriction = rng.choices(["true", "false", ""], [8, 1, 1])[0]
    unit = _money(price)
    amount = _money(float(Decimal(unit) * quantity)) if rng.random() < 0.3 else ""
    return [
        bill_id,
        "" if by_name else d["code"],
        d["name"] if by_name else "",
        d["dosage_form"] if by_name else "",
        spec,
        str(quantity),
        unit,
        amount,
        restriction,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bills", type=int, default=200_000)
    parser.add_argument("--items-per-bill", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    bills, lines = generate(args.bills, args.items_per_bill, args.seed, args.out)
    print(f"{bills} bills, {lines} item lines -> {args.out}")


if __name__ == "__main__":
    main()
