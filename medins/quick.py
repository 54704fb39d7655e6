"""A case built from command-line flags, for a quick estimate without a file."""

from __future__ import annotations

from datetime import date
from typing import Any

from medins.api import parse_case
from medins.case_model import Case
from medins.errors import CaseError, UsageError, t

# Where a flag's value lands in the case: errors about that key name the flag.
FLAG_OF_KEY = {
    "person.insured_region": "--insured",
    "visit.region": "--treated-in",
    "person.scheme": "--scheme",
    "person.status": "--status",
    "visit.type": "--type",
    "visit.hospital_level": "--level",
    "visit.admitted": "--date",
    "visit.date": "--date",
    "summary.total": "--total",
    "summary.fully_self_paid": "--self-paid",
    "summary.class_b": "--class-b",
    "summary.over_ceiling": "--over-ceiling",
    "filing.category": "--category",
    "filing.start": "--filed-from",
    "filing.destination": "--treated-in",
    "person.assistance": "--assistance",
    "visit.disease": "--disease",
    "person.chronic_diseases": "--disease",
}

REQUIRED = {
    "insured": "--insured",
    "treated_in": "--treated-in",
    "scheme": "--scheme",
    "level": "--level",
    "total": "--total",
}


def case_from_flags(flags: dict[str, Any]) -> Case:
    """Build a summary case from ``medins estimate`` flags; say which flag is missing."""
    missing = [flag for key, flag in REQUIRED.items() if flags.get(key) in (None, "")]
    if missing:
        raise UsageError(
            t(f"没有案例文件时需要：{' '.join(missing)}", f"without a case file, give {' '.join(missing)}"),
            "medins estimate",
            t("或给出案例文件 CASE.toml", "or give a case file CASE.toml"),
        )
    day = flags.get("visit_date") or date.today().isoformat()
    visit: dict[str, Any] = {
        "region": flags["treated_in"],
        "type": flags.get("visit_type") or "inpatient",
        "hospital_level": flags["level"],
    }
    if visit["type"] == "inpatient":
        visit["admitted"] = day
    else:
        visit["date"] = day
    if flags.get("disease"):
        visit["disease"] = flags["disease"]
    person: dict[str, Any] = {"insured_region": flags["insured"], "scheme": flags["scheme"]}
    if flags.get("status"):
        person["status"] = flags["status"]
    if flags.get("assistance"):
        person["assistance"] = flags["assistance"]
    if flags.get("disease"):
        person["chronic_diseases"] = [flags["disease"]]
    data: dict[str, Any] = {
        "person": person,
        "visit": visit,
        "summary": {
            "total": flags["total"],
            "fully_self_paid": flags.get("self_paid") or "0",
            "class_b": flags.get("class_b") or "0",
            "over_ceiling": flags.get("over_ceiling") or "0",
        },
    }
    if flags.get("category"):
        data["filing"] = {
            "category": flags["category"],
            "destination": flags["treated_in"],
            "start": flags.get("filed_from") or day,
        }
        if flags["category"] == "emergency" and not flags.get("filed_from"):
            del data["filing"]["start"]
    try:
        return parse_case(data, "flags")
    except CaseError as exc:
        raise CaseError(exc.text, flag_place(exc.where), exc.fix) from None


def flag_place(where: str) -> str:
    """``flags: summary.total`` -> ``--total``: a quick estimate's errors name the flag the user typed."""
    path = where.removeprefix("flags: ").removeprefix("flags")
    key = path.split("[")[0]
    return FLAG_OF_KEY.get(key, f"medins estimate: {path}" if path else "medins estimate")
