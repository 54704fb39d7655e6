"""A case built from command-line flags, for a quick estimate without a file."""

from __future__ import annotations

from datetime import date
from typing import Any

from medins.api import parse_case
from medins.case_model import Case
from medins.errors import CaseError, UsageError, t
from medins.i18n import Text

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

YTD_FLAGS = {
    "ytd_in_scope": "in_scope",
    "ytd_deductible": "deductible",
    "ytd_fund": "fund",
}
FLAG_OF_KEY.update(
    {
        "summary.pre_self_pay": "--pre-self-pay",
        "visit.discharged": "--discharged",
        "visit.hospital": "--hospital",
        "filing.end": "--filed-until",
        "filing.materials": "--materials",
        "ytd.admissions": "--admissions",
        "ytd.tier2_base": "--ytd-tier2-base",
        "ytd.tier2_fund": "--ytd-tier2-fund",
        **{
            f"ytd.{b}.{k}": f"--ytd-{k.replace('_', '-')}"
            for b in ("inpatient", "outpatient")
            for k in YTD_FLAGS.values()
        },
        **{f"ytd.{b}": "--ytd-fund" for b in ("inpatient", "outpatient")},
    }
)


def _visit(flags: dict[str, Any], day: str, assumptions: list[Text] | None) -> dict[str, Any]:
    """The [visit] of a quick case, saying what was assumed for what the flags left out."""
    visit: dict[str, Any] = {"region": flags["treated_in"], "type": flags.get("visit_type") or "inpatient"}
    if flags.get("level") is not None:
        visit["hospital_level"] = flags["level"]
    if flags.get("hospital"):
        visit["hospital"] = flags["hospital"]
    if visit["type"] == "inpatient":
        visit["admitted"] = day
        if flags.get("discharged"):
            visit["discharged"] = _iso(flags["discharged"])
    else:
        visit["date"] = day
    if flags.get("disease"):
        visit["disease"] = flags["disease"]
    if assumptions is not None:
        if not flags.get("visit_date"):
            assumptions.append(
                t(f"就诊日期按今天 {day} 计算（未给 --date）", f"service date taken as today, {day} (no --date)")
            )
        if not flags.get("visit_type"):
            assumptions.append(t("就诊类型按住院计算（未给 --type）", "visit type taken as inpatient (no --type)"))
    return visit


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _filing(flags: dict[str, Any], day: str, assumptions: list[Text] | None) -> dict[str, Any] | None:
    """The [filing] of a quick case, or None (not filed) when no --category is given."""
    if not flags.get("category"):
        if assumptions is not None:
            assumptions.append(t("未给 --category：按未备案计算", "no --category: settled as not filed"))
        return None
    filing: dict[str, Any] = {
        "category": flags["category"],
        "destination": flags.get("destination") or flags["treated_in"],
    }
    if flags.get("filed_from"):
        filing["start"] = _iso(flags["filed_from"])
    elif flags["category"] != "emergency":
        filing["start"] = day
    if flags.get("filed_until"):
        filing["end"] = _iso(flags["filed_until"])
    if flags.get("materials") is not None:
        filing["materials"] = list(flags["materials"])
    if assumptions is not None:
        parts = []
        if not flags.get("filed_from"):
            parts.append(t("自就诊日期起有效", "valid from the service date"))
        if not flags.get("destination"):
            parts.append(t("备案地为就医地", "filed for the treatment place"))
        if flags.get("materials") is None:
            parts.append(t("材料齐全", "materials complete"))
        if parts:
            zh = "、".join(p.zh for p in parts)
            en = ", ".join(p.en for p in parts)
            assumptions.append(t(f"备案未给出的部分按：{zh}", f"filing details not given taken as: {en}"))
    return filing


def case_from_flags(flags: dict[str, Any], assumptions: list[Text] | None = None) -> Case:
    """Build a summary case from ``medins estimate`` flags; say which flag is missing.

    ``assumptions``, when given, receives what was assumed for what the flags left out (the date,
    the visit type, a complete filing), for the output to say.
    """
    missing = [flag for key, flag in REQUIRED.items() if flags.get(key) in (None, "")]
    if "--level" in missing and flags.get("hospital"):
        missing.remove("--level")
    if missing:
        raise UsageError(
            t(f"没有案例文件时需要：{' '.join(missing)}", f"without a case file, give {' '.join(missing)}"),
            "medins estimate",
            t("或给出案例文件 CASE.toml", "or give a case file CASE.toml"),
        )
    day = _iso(flags.get("visit_date") or date.today())
    person: dict[str, Any] = {"insured_region": flags["insured"], "scheme": flags["scheme"]}
    if flags.get("status"):
        person["status"] = flags["status"]
    if flags.get("assistance"):
        person["assistance"] = flags["assistance"]
    if flags.get("disease"):
        person["chronic_diseases"] = [flags["disease"]]
    summary = {
        "total": flags["total"],
        "fully_self_paid": flags.get("self_paid") or "0",
        "class_b": flags.get("class_b") or "0",
        "over_ceiling": flags.get("over_ceiling") or "0",
    }
    if flags.get("pre_self_pay") not in (None, ""):
        summary["pre_self_pay"] = flags["pre_self_pay"]
    data: dict[str, Any] = {"person": person, "visit": _visit(flags, day, assumptions), "summary": summary}
    filing = _filing(flags, day, assumptions)
    if filing is not None:
        data["filing"] = filing
    ytd = _ytd(flags, data["visit"]["type"])
    if ytd:
        data["ytd"] = ytd
    return _parse(data)


def _ytd(flags: dict[str, Any], visit_type: str) -> dict[str, Any]:
    ytd: dict[str, Any] = {}
    if flags.get("admissions") is not None:
        ytd["admissions"] = flags["admissions"]
    benefit = {key: flags[flag] for flag, key in YTD_FLAGS.items() if flags.get(flag) not in (None, "")}
    if benefit:
        where = {"inpatient": "inpatient", "outpatient": "outpatient"}.get(visit_type)
        if where is None:
            raise UsageError(
                t(
                    "--ytd-in-scope、--ytd-deductible、--ytd-fund 只用于住院和普通门诊",
                    "--ytd-in-scope, --ytd-deductible and --ytd-fund are for inpatient and outpatient visits",
                ),
                "medins estimate",
                t(
                    "门诊慢特病的年度累计请写在案例文件 [ytd.chronic] 中",
                    "give a chronic disease's amounts in a case file's [ytd.chronic]",
                ),
            )
        ytd[where] = benefit
    for flag in ("ytd_tier2_base", "ytd_tier2_fund"):
        if flags.get(flag) not in (None, ""):
            ytd[flag.removeprefix("ytd_")] = flags[flag]
    return ytd


def check_case_from_flags(flags: dict[str, Any], assumptions: list[Text] | None = None) -> Case:
    """A case for ``medins check`` from flags: the person, the filing and the visit, without a bill."""
    missing = [flag for key, flag in (("insured", "--insured"), ("treated_in", "--treated-in")) if not flags.get(key)]
    if missing:
        raise UsageError(
            t(f"没有案例文件时需要：{' '.join(missing)}", f"without a case file, give {' '.join(missing)}"),
            "medins check",
            t("或给出案例文件 CASE.toml", "or give a case file CASE.toml"),
        )
    day = _iso(flags.get("visit_date") or date.today())
    scheme = flags.get("scheme") or "resident"
    if assumptions is not None and not flags.get("scheme"):
        assumptions.append(t("险种按城乡居民医保计算（未给 --scheme）", "scheme taken as resident (no --scheme)"))
    visit = _visit({**flags, "level": flags.get("level") or (None if flags.get("hospital") else 3)}, day, assumptions)
    if assumptions is not None and flags.get("level") is None and not flags.get("hospital"):
        assumptions.append(t("医院等级按三级计算（未给 --level）", "hospital level taken as 3 (no --level)"))
    if visit["type"] == "chronic_outpatient" and not visit.get("disease"):
        raise UsageError(t("门诊慢特病需要 --disease", "a chronic_outpatient visit needs --disease"), "--disease")
    data: dict[str, Any] = {
        "person": {"insured_region": flags["insured"], "scheme": scheme},
        "visit": visit,
        "summary": {"total": "0"},
    }
    if visit.get("disease"):
        data["person"]["chronic_diseases"] = [visit["disease"]]
    filing = _filing(flags, day, assumptions)
    if filing is not None:
        data["filing"] = filing
    return _parse(data)


def _parse(data: dict[str, Any]) -> Case:
    try:
        return parse_case(data, "flags")
    except CaseError as exc:
        raise flag_error(exc) from None


def flag_error(exc: CaseError) -> CaseError:
    """A case error about a quick case, naming the flags the user typed instead of the case's keys."""
    where = flag_place(exc.where)
    text, fix = exc.text, exc.fix
    for key in sorted(FLAG_OF_KEY, key=len, reverse=True):
        flag = FLAG_OF_KEY[key]
        text = Text(text.zh.replace(key, flag), text.en.replace(key, flag))
        if fix is not None:
            fix = Text(fix.zh.replace(key, flag), fix.en.replace(key, flag))
    return CaseError(text, where, fix)


def flag_place(where: str) -> str:
    """``flags: summary.total`` -> ``--total``: a quick estimate's errors name the flag the user typed."""
    path = where.removeprefix("flags: ").removeprefix("flags")
    key = path.split("[")[0]
    return FLAG_OF_KEY.get(key, f"medins estimate: {path}" if path else "medins estimate")
