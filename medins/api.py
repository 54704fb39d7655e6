"""The library's front door: load rules and cases, check eligibility, estimate a bill."""

from __future__ import annotations

import difflib
import os
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from medins import regions
from medins.case_model import Case, case_error
from medins.engine.eligibility import check_eligibility, visit_place
from medins.engine.result import Eligibility, Settlement
from medins.engine.settle import settle
from medins.errors import CaseError, t
from medins.i18n import LABELS, Text
from medins.loader import RuleSet, read_toml, resolve_rules_dir
from medins.loader import load_rules as _load_rules
from medins.plain import construct

_CACHE: dict[Path, RuleSet] = {}


def load_rules(path: str | os.PathLike[str] | None = None) -> RuleSet:
    """Load a rules directory (``--rules``, else ``MEDINS_RULES``, else the shipped rules), once.

    A rules directory that loaded before, with the same files to the byte, is read back from the
    user's cache (see :func:`medins.loader.rules_cache`) instead of being validated again.
    """
    root = resolve_rules_dir(path).resolve()
    if root not in _CACHE:
        _CACHE[root] = _cached(root)
    return _CACHE[root]


def _cached(root: Path) -> RuleSet:
    import hashlib

    from medins.loader import cached

    digest = hashlib.sha256(str(root).encode())
    for parts in sorted(_rule_paths(root)):
        file = root.joinpath(*parts)
        digest.update(os.path.join(*parts).encode() + b"\0")
        if file.is_file():
            digest.update(file.read_bytes() + b"\0")
    return cached(  # type: ignore[no-any-return]
        "rules", digest, lambda: _load_rules(root), lambda found: isinstance(found, RuleSet) and found.root == root
    )


def _rule_paths(root: Path) -> list[tuple[str, ...]]:
    """Every folder and file under ``root`` but the drug lists (read on first use), as path parts."""
    found: list[tuple[str, ...]] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "drug-lists"]
        base = Path(folder).relative_to(root).parts
        found += [(*base, name) for name in (*dirs, *files) if name != "drug-lists"]
    return found


_plain_tried = False


def _first_case(data: Any) -> Case | None:
    """The first case of a process, built by :func:`medins.plain.construct` when it is of the plain
    form: a quick estimate reads one case, and building pydantic's validator costs more than the
    whole estimate. Later cases (a batch, a year, a what-if) are left to pydantic, whose validator,
    once built, is quicker than the plain path; so is a case it could not take."""
    global _plain_tried
    if _plain_tried or Case.__pydantic_complete__:
        return None
    _plain_tried = True
    return construct(Case, data)


def parse_case(data: dict[str, Any], where: str = "case", notices: list[Text] | None = None) -> Case:
    """Validate a case given as a mapping (as read from TOML), with region codes checked.

    Values may be written as the user's vocabulary has them (:mod:`medins.vocab`): Chinese names
    and aliases of ids, region names, dates as ``2025/3/10`` or ``"20250310"`` text, hospital levels
    as ``三级``. A district or county code stands for its pooling region; ``notices``, when given,
    receives a line saying so. Every invalid mapping raises ``CaseError`` naming the key path and
    quoting the value.
    """
    data = _in_vocabulary(data, where, notices)
    case = _first_case(data)
    if case is None:
        try:
            case = Case.model_validate(data)
        except ValidationError as exc:
            raise case_error(exc, where, data) from None
    regions.require(case.person.insured_region, f"{where}: person.insured_region", CaseError)
    regions.require(case.visit.region, f"{where}: visit.region", CaseError)
    return case


# key path -> kind of value (medins.vocab) it holds
_CHOICES = {
    ("person", "scheme"): "scheme",
    ("person", "status"): "status",
    ("person", "assistance"): "assistance",
    ("person", "chronic_diseases"): "disease",
    ("filing", "category"): "category",
    ("filing", "materials"): "material",
    ("visit", "type"): "visit_type",
    ("visit", "disease"): "disease",
}
_DATES = {
    ("filing", "start"),
    ("filing", "end"),
    ("filing", "filed_on"),
    ("visit", "admitted"),
    ("visit", "discharged"),
    ("visit", "date"),
}
_REGIONS = {
    ("person", "insured_region"): t("参保地", "insured place"),
    ("visit", "region"): t("就医地", "treatment place"),
    ("filing", "destination"): t("备案就医地", "filing destination"),
}


def _in_vocabulary(data: Any, where: str, notices: list[Text] | None) -> Any:
    """The mapping with names, aliases and date forms written as the ids and forms the model takes."""
    from medins import vocab

    if not isinstance(data, dict):
        return data
    out = dict(data)
    for section in ("person", "filing", "visit"):
        table = out.get(section)
        if not isinstance(table, dict):
            continue
        table = dict(table)
        for key, value in table.items():
            if (section, key) in _CHOICES:
                kind = _CHOICES[(section, key)]
                if isinstance(value, str):
                    table[key] = vocab.choice(kind, value)
                elif isinstance(value, list):
                    table[key] = [vocab.choice(kind, v) if isinstance(v, str) else v for v in value]
            elif (section, key) in _DATES and isinstance(value, str) and vocab.parse_date(value):
                table[key] = vocab.norm_date(value)
            elif (section, key) == ("visit", "hospital_level") and isinstance(value, str):
                table[key] = vocab.norm_level(value)
            elif (section, key) in _REGIONS and isinstance(value, str):
                place = f"{where}: {section}.{key}"
                what = _REGIONS[(section, key)] + t(f" {section}.{key}", f" {section}.{key}")
                try:
                    code, notice = vocab.region(value, what)
                except vocab.RegionProblem as exc:
                    raise CaseError(exc.text, place, exc.fix) from None
                table[key] = code
                if notice is not None and notices is not None:
                    notices.append(notice)
        out[section] = table
    return out


def load_case(path: str | os.PathLike[str], notices: list[Text] | None = None) -> Case:
    """Read a case file (TOML); ``notices`` receives what was mapped (see :func:`parse_case`)."""
    p = Path(path)
    return parse_case(read_toml(p, CaseError), str(p), notices)


def _known_disease(case: Case, rules: RuleSet, on: date) -> None:
    if case.visit.type != "chronic_outpatient":
        return
    std = rules.standards(case.person.insured_region, "person.insured_region")
    scheme = getattr(std, case.person.scheme)
    known: set[str] = set()
    for section in scheme.chronic if scheme else []:
        known.update(section.diseases)
    for key, d in [
        ("visit.disease", case.visit.disease),
        *(("person.chronic_diseases", c) for c in case.person.chronic_diseases),
    ]:
        if d not in known:
            close = difflib.get_close_matches(str(d), sorted(known), n=1, cutoff=0.6)
            hint = t(f"是否应为 '{close[0]}'？", f"did you mean '{close[0]}'? ") if close else t("", "")
            raise CaseError(
                t(f"未知的病种 {d!r}", f"unknown disease {d!r}"),
                key,
                hint + t(f"可选：{', '.join(sorted(known))}", f"one of {', '.join(sorted(known))}"),
            )


def _group_by_label(case: Case, rules: RuleSet) -> Case:
    """Names the insured place gives its own ids, as the ids: a person group by its label (``学生儿童``,
    ``60–69岁``), a filing material by its name (``参保地定点医疗机构转诊转院证明``).

    A material the insured place knows by neither is refused here, with the nearest one.
    """
    pack = rules.packs.get(case.person.insured_region)
    std = pack.standards if pack else None
    if std is None:
        return case
    status = case.person.status
    scheme = getattr(std, case.person.scheme, None)
    labels = getattr(scheme, "group_labels", None) or {}
    if status is not None and status not in labels:
        found = [gid for gid, text in labels.items() if text == status]
        if len(found) == 1:
            case = case.model_copy(update={"person": case.person.model_copy(update={"status": found[0]})})
    if scheme is not None and len(scheme.groups) > 1:
        _check_group(case.person.status, list(scheme.groups), labels)
    materials = case.filing.materials if case.filing else None
    if materials:
        names: dict[str, str] = {}
        for section in std.filing:
            names.update({mid: mid for mid in section.materials})
            names.update({text: mid for mid, text in section.materials.items()})
            names.update({text.lower(): mid for mid, text in section.materials_en.items()})
        ids = [names.get(m) or names.get(m.lower()) or m for m in materials]
        unknown = [m for m in ids if m not in names]
        if unknown:  # with a nearest one to offer; otherwise the eligibility check lists the valid ones
            from medins import vocab

            close = vocab.suggest("material", unknown[0], set(names.values())) or next(
                iter(difflib.get_close_matches(unknown[0], list(names), n=1, cutoff=0.5)), None
            )
            if close:
                close = names.get(close, close)
                valid = ", ".join(f"{k}（{v}）" for k, v in std.filing[-1].materials.items())
                raise CaseError(
                    t(
                        f"参保地不认识的材料：{', '.join(unknown)}",
                        f"materials the insured place does not know: {', '.join(unknown)}",
                    ),
                    "filing.materials",
                    t(f"是否应为 '{close}'？可用：{valid}", f"did you mean '{close}'? valid: {valid}"),
                )
        if ids != list(materials):
            filing = case.filing.model_copy(update={"materials": ids})  # type: ignore[union-attr]
            case = case.model_copy(update={"filing": filing})
    return case


def _check_group(status: str | None, groups: list[str], labels: dict[str, str]) -> None:
    """A person group the scheme has: refused when missing or unknown, naming the groups in Chinese
    (the region's labels, else the usual ones) and the nearest one."""
    from medins.i18n import label

    if status in groups:
        return
    zh = "、".join(f"{g}（{labels.get(g) or label(g, 'zh')}）" if (labels.get(g) or g in LABELS) else g for g in groups)
    en = ", ".join(groups)
    if status is None:
        raise CaseError(
            t("缺少 person.status（人员类别）", "person.status missing"),
            "person.status",
            t(f"可选：{zh}", f"one of {en}"),
        )
    names = {**{g: g for g in groups}, **{text: g for g, text in labels.items()}}
    close = difflib.get_close_matches(status, list(names), n=1, cutoff=0.6)
    hint = t(f"是否应为 '{names[close[0]]}'？", f"did you mean '{names[close[0]]}'? ") if close else t("", "")
    raise CaseError(
        t(f"人员类别 {status!r} 无效", f"unknown status {status!r}"),
        "person.status",
        hint + t(f"可选：{zh}", f"one of {en}"),
    )


def check(case: Case, rules: RuleSet | None = None, as_of: date | None = None) -> Eligibility:
    """Whether the case's visit settles directly across provinces, and under which standard."""
    rules = rules or load_rules()
    case = _group_by_label(case, rules)
    on = as_of or case.visit.service_date
    _known_disease(case, rules, on)  # type: ignore[arg-type]
    std = rules.standards(case.person.insured_region, "person.insured_region")
    insured, treated = case.person.insured_region, case.visit.region
    # a local visit's treatment place is the insured place: its own catalogue lists the hospitals
    pack = rules.packs.get(insured if visit_place(insured, treated) == "local" else treated)
    return check_eligibility(case, std, pack.catalogue if pack else None, on)  # type: ignore[arg-type]


def estimate(case: Case, rules: RuleSet | None = None, as_of: date | None = None, explain: bool = True) -> Settlement:
    """Settle one bill across the three tiers; every step is in ``Settlement.trail`` (unless ``explain=False``,
    which skips building the trail: same amounts, faster for batches)."""
    rules = rules or load_rules()
    case = _group_by_label(case, rules)
    _known_disease(case, rules, as_of or case.visit.service_date)  # type: ignore[arg-type]
    return settle(case, rules, as_of, explain)
