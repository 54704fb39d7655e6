"""Semantic checks of rule files beyond their schema: what a careful reviewer of a pack would check."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

from medins import regions
from medins.codes import ASSISTANCE_CATEGORIES, CATEGORIES
from medins.errors import MedinsError, RuleError, t
from medins.i18n import Lang, Text
from medins.loader import (
    CATALOGUE_FILE,
    DRUG_LIST_DIR,
    STANDARDS_FILE,
    is_region_code,
    load_drug_list,
    load_rule_file,
    present,
    read_toml,
)
from medins.rules_model import (
    Band,
    BenefitTerms,
    Catalogue,
    Explanation,
    Standards,
    check_edition,
)
from medins.types import Dated


@dataclass(frozen=True)
class Problem:
    """One finding of the checks: an error, or a warning (explained by the pack, or not)."""

    level: Literal["error", "warning"]
    code: str
    file: str
    path: str
    text: Text
    explained: str | None = None

    def render(self, lang: Lang) -> str:
        tag = {"error": ("错误", "error"), "warning": ("警告", "warning")}[self.level]
        head = f"{self.file}: {self.path}: " if self.path else f"{self.file}: "
        line = f"{tag[0] if lang == 'zh' else tag[1]}: {head}{self.text(lang)} [{self.code}]"
        if self.explained:
            line += (
                ("（已说明：" if lang == "zh" else " (explained: ") + self.explained + ("）" if lang == "zh" else ")")
            )
        return line


def check_bands(bands: Sequence[Band], path: str) -> Iterator[tuple[str, str, Text]]:
    """Bands ascend and join: each starts where the previous ended; only the last is open."""
    previous_to: Decimal | None = Decimal(0)
    for i, band in enumerate(bands):
        here = f"{path}.bands[{i}]"
        start = band.from_ if band.from_ is not None else previous_to
        if previous_to is None:
            yield (
                "BAND_AFTER_OPEN",
                here,
                t("前一档没有上限（to），其后不能再有档", "the previous band is open-ended, no band can follow it"),
            )
            return
        if band.from_ is not None and band.from_ != previous_to:
            yield (
                "BANDS_NOT_CONTIGUOUS",
                f"{here}.from",
                t(
                    f"分段不连续：from = {band.from_}，上一档止于 {previous_to}",
                    f"bands not contiguous: from = {band.from_} but the previous band ends at {previous_to}",
                ),
            )
        if band.to is not None and start is not None and band.to <= start:
            yield (
                "BANDS_NOT_ASCENDING",
                f"{here}.to",
                t(
                    f"分段未递增：to = {band.to} 不大于 {start}",
                    f"bands not ascending: to = {band.to} is not above {start}",
                ),
            )
        previous_to = band.to


def _periods(sections: Sequence[Dated], path: str) -> Iterator[tuple[str, str, Text]]:
    ordered = sorted(enumerate(sections), key=lambda p: p[1].effective)
    for (i, a), (j, b) in itertools.pairwise(ordered):
        if a.until is None or a.until >= b.effective:
            yield (
                "PERIODS_OVERLAP",
                f"{path}[{j}].effective",
                t(
                    f"生效期间与 {path}[{i}] 重叠（{a.effective}–{a.until or '…'} 与 {b.effective} 起）",
                    f"effective period overlaps {path}[{i}] ({a.effective}–{a.until or '…'} and from {b.effective})",
                ),
            )


def _sources(section: Dated, known: dict[str, object], path: str) -> Iterator[tuple[str, str, Text]]:
    if not section.source_ids:
        yield (
            "SOURCE_MISSING",
            f"{path}.source",
            t("source = [] 没有指明来源", "source = [] names no source"),
        )
    for sid in section.source_ids:
        if sid not in known:
            yield (
                "SOURCE_UNKNOWN",
                f"{path}.source",
                t(f"来源 “{sid}” 不在 [sources] 中", f"source '{sid}' is not in [sources]"),
            )


def _ratio_at(terms: BenefitTerms, group: str, level: int) -> Decimal | None:
    for rate in terms.rates:
        if rate.matches(group, level):
            return rate.bands[0].ratio
    return None


def _benefit_terms(terms: BenefitTerms, groups: list[str], path: str) -> Iterator[tuple[str, str, Text]]:
    """Every group at every level finds exactly one rate; bands well formed; cap above deductible."""
    for i, rate in enumerate(terms.rates):
        here = f"{path}.rates[{i}]"
        yield from check_bands(rate.bands, here)
        rgroups = [rate.group] if isinstance(rate.group, str) else rate.group
        for g in rgroups:
            if g != "*" and g not in groups:
                yield (
                    "GROUP_UNKNOWN",
                    f"{here}.group",
                    t(
                        f"人员类别 “{g}” 未在 groups 中声明（{', '.join(groups)}）",
                        f"group '{g}' is not declared in groups ({', '.join(groups)})",
                    ),
                )
        cap = rate.cap if rate.cap is not None else terms.cap
        if cap is not None and cap <= rate.deductible and terms.cap_mode == "base":
            yield (
                "CAP_BELOW_DEDUCTIBLE",
                f"{here}.deductible",
                t(
                    f"封顶线 {cap} 不高于起付线 {rate.deductible}",
                    f"cap {cap} is not above the deductible {rate.deductible}",
                ),
            )
        if rate.later_deductible is not None and rate.later_deductible > rate.deductible:
            yield (
                "LATER_DEDUCTIBLE_HIGHER",
                f"{here}.later_deductible",
                t(
                    f"再次住院起付线 {rate.later_deductible} 高于首次 {rate.deductible}",
                    f"later-admission deductible {rate.later_deductible} is above the first {rate.deductible}",
                ),
            )
    for g in groups:
        for level in (1, 2, 3):
            n = sum(1 for r in terms.rates if r.matches(g, level))
            if n == 0:
                yield (
                    "RATE_MISSING",
                    f"{path}.rates",
                    t(f"没有适用于 {g}、{level} 级医院的费率", f"no rate for group {g} at level {level}"),
                )
            elif n > 1:
                yield (
                    "RATE_AMBIGUOUS",
                    f"{path}.rates",
                    t(f"{g}、{level} 级医院有 {n} 个费率", f"{n} rates match group {g} at level {level}"),
                )


def _benefit_warnings(terms: BenefitTerms, groups: list[str], path: str) -> Iterator[tuple[str, str, Text]]:
    for g in groups:
        r1, r3 = _ratio_at(terms, g, 1), _ratio_at(terms, g, 3)
        if r1 is not None and r3 is not None and r3 > r1:
            yield (
                "RATIO_RISES_WITH_LEVEL",
                path,
                t(f"{g}：三级医院比例 {r3} 高于一级 {r1}", f"{g}: level-3 ratio {r3} is above level-1 {r1}"),
            )
    if "in_service" in groups and "retired" in groups:
        for level in (1, 2, 3):
            a, b = _ratio_at(terms, "in_service", level), _ratio_at(terms, "retired", level)
            if a is not None and b is not None and b < a:
                yield (
                    "RETIREE_BELOW_IN_SERVICE",
                    path,
                    t(
                        f"{level} 级医院退休比例 {b} 低于在职 {a}",
                        f"level {level}: retiree ratio {b} is below in-service {a}",
                    ),
                )


def check_standards(std: Standards) -> Iterator[tuple[str, str, str, Text]]:
    """Yield (level, code, path, text) for a standards file."""
    known = std.sources
    for scheme_name in ("employee", "resident"):
        scheme = getattr(std, scheme_name)
        if scheme is None:
            continue
        for kind in ("inpatient", "outpatient"):
            sections = getattr(scheme, kind)
            base = f"{scheme_name}.{kind}"
            for code, path, text in _periods(sections, base):
                yield "error", code, path, text
            for i, section in enumerate(sections):
                p = f"{base}[{i}]"
                for code, path, text in (*_sources(section, known, p), *_benefit_terms(section, scheme.groups, p)):
                    yield "error", code, path, text
                for code, path, text in _benefit_warnings(section, scheme.groups, p):
                    yield "warning", code, path, text
        for code, path, text in _periods(scheme.chronic, f"{scheme_name}.chronic"):
            yield "error", code, path, text
        for i, section in enumerate(scheme.chronic):
            p = f"{scheme_name}.chronic[{i}]"
            for code, path, text in _sources(section, known, p):
                yield "error", code, path, text
            for disease in section.cross_province:
                if disease not in section.diseases:
                    yield (
                        "error",
                        "DISEASE_UNDEFINED",
                        f"{p}.cross_province",
                        t(f"病种 {disease!r} 没有待遇定义", f"disease {disease!r} has no terms in diseases"),
                    )
            for disease, terms in section.diseases.items():
                for code, path, text in _benefit_terms(terms, scheme.groups, f"{p}.diseases.{disease}"):
                    yield "error", code, path, text
        for code, path, text in _periods(scheme.tier2, f"{scheme_name}.tier2"):
            yield "error", code, path, text
        for i, section in enumerate(scheme.tier2):
            p = f"{scheme_name}.tier2[{i}]"
            for code, path, text in (*_sources(section, known, p), *check_bands(section.bands, p)):
                yield "error", code, path, text
            for g, bands in section.group_bands.items():
                for code, path, text in check_bands(bands, f"{p}.group_bands.{g}"):
                    yield "error", code, path, text
                if g not in scheme.groups:
                    yield (
                        "error",
                        "GROUP_UNKNOWN",
                        f"{p}.group_bands.{g}",
                        t(
                            f"人员类别 “{g}” 未在 groups 中声明（{', '.join(scheme.groups)}）",
                            f"group '{g}' is not declared in groups ({', '.join(scheme.groups)})",
                        ),
                    )
            if section.cap is not None and section.cap <= section.deductible and section.base == "above_basic_cap":
                yield (
                    "error",
                    "CAP_BELOW_DEDUCTIBLE",
                    f"{p}.cap",
                    t(
                        f"封顶线 {section.cap} 不高于起付线 {section.deductible}",
                        f"cap {section.cap} is not above the deductible {section.deductible}",
                    ),
                )
    for name in ("offsite", "filing", "assistance"):
        sections = getattr(std, name)
        for code, path, text in _periods(sections, name):
            yield "error", code, path, text
        for i, section in enumerate(sections):
            for code, path, text in _sources(section, known, f"{name}[{i}]"):
                yield "error", code, path, text
    for i, section in enumerate(std.offsite):
        for cat in (*CATEGORIES, "unfiled"):
            if cat not in section.categories:
                yield (
                    "error",
                    "CATEGORY_MISSING",
                    f"offsite[{i}].categories",
                    t(f"缺少类别 {cat} 的待遇调整", f"no adjustment for category {cat}"),
                )
        for cat in ("relocated_retiree", "long_term_resident", "stationed_worker"):
            adj = section.categories.get(cat)  # type: ignore[call-overload]
            if adj is not None and adj.mode != "none":
                yield (
                    "warning",
                    "LONG_TERM_REDUCED",
                    f"offsite[{i}].categories.{cat}",
                    t(
                        "长期异地人员原则上执行参保地待遇，此处设有降低",
                        "long-term filers normally get the local standard; this pack reduces it",
                    ),
                )
    for i, section in enumerate(std.filing):
        for cat in CATEGORIES:
            rule = section.categories.get(cat)
            if rule is None:
                yield (
                    "error",
                    "CATEGORY_MISSING",
                    f"filing[{i}].categories",
                    t(f"缺少类别 {cat} 的备案规则", f"no filing rule for category {cat}"),
                )
                continue
            for m in (*rule.required, *rule.one_of):
                if m not in section.materials:
                    yield (
                        "error",
                        "MATERIAL_UNKNOWN",
                        f"filing[{i}].categories.{cat}",
                        t(f"材料 {m!r} 未在 materials 中定义", f"material {m!r} is not defined in materials"),
                    )
    for i, section in enumerate(std.assistance):
        for cat in ASSISTANCE_CATEGORIES[:2]:
            terms = section.categories.get(cat)  # type: ignore[call-overload]
            if terms is not None and terms.ratio < Decimal("0.7"):
                yield (
                    "warning",
                    "ASSISTANCE_BELOW_GUIDANCE",
                    f"assistance[{i}].categories.{cat}.ratio",
                    t(
                        "特困、低保救助比例低于国家指导的 70%",
                        "ratio below the national guidance of 70 % for this category",
                    ),
                )


def check_catalogue(cat: Catalogue, rules_root: Path) -> Iterator[tuple[str, str, str, Text]]:
    known = cat.sources
    for code, path, text in _periods(cat.settings, "settings"):
        yield "error", code, path, text
    for i, section in enumerate(cat.settings):
        for code, path, text in _sources(section, known, f"settings[{i}]"):
            yield "error", code, path, text
    if cat.institutions is not None and cat.institutions_source not in known:
        yield (
            "error",
            "SOURCE_UNKNOWN",
            "institutions_source",
            t(
                f"定点机构名单需要 institutions_source 指向 [sources]（收到 {cat.institutions_source!r}）",
                f"the institution list needs institutions_source naming a [sources] entry "
                f"(got {cat.institutions_source!r})",
            ),
        )
    if not (rules_root / DRUG_LIST_DIR / f"{cat.drug_list}.json").exists():
        yield (
            "error",
            "DRUG_LIST_MISSING",
            "drug_list",
            t(
                f"找不到药品目录 {cat.drug_list!r}（{DRUG_LIST_DIR}/{cat.drug_list}.json）",
                f"drug list {cat.drug_list!r} not found ({DRUG_LIST_DIR}/{cat.drug_list}.json)",
            ),
        )
    seen: set[str] = set()
    for i, item in enumerate(cat.items):
        if item.code in seen:
            yield (
                "error",
                "ITEM_DUPLICATE",
                f"items[{i}].code",
                t(f"项目编码 {item.code!r} 重复", f"item code {item.code!r} repeated"),
            )
        seen.add(item.code)


def _explained(problem: tuple[str, str, str, Text], explanations: list[Explanation]) -> str | None:
    _, code, path, _ = problem
    for ex in explanations:
        if ex.code == code and path.startswith(ex.path):
            return ex.why
    return None


READ_NAMES = (CATALOGUE_FILE, STANDARDS_FILE)
"""The file names medins reads in a region folder."""

_READS = t(
    f"medins 只读取地区文件夹中的 {CATALOGUE_FILE}、{STANDARDS_FILE} 和 {DRUG_LIST_DIR}/*.json",
    f"medins reads only {CATALOGUE_FILE} and {STANDARDS_FILE} in a region folder and {DRUG_LIST_DIR}/*.json",
)


def _unread(path: Path) -> Problem:
    return Problem(
        "warning",
        "UNREAD_FILE",
        str(path),
        "",
        t(f"medins 不读取文件 {path.name!r}：", f"medins does not read a file named {path.name!r}: ") + _READS,
    )


def validate_drug_list(path: Path) -> list[Problem]:
    """The problems of a drug-list file, read exactly as ``estimate`` reads it, then its codes."""
    try:
        drugs = load_drug_list(path)
    except MedinsError as exc:
        return [Problem("error", "DRUG_LIST", exc.where or str(path), "", exc.message)]
    problems: list[Problem] = []
    if drugs.edition != path.stem:
        problems.append(
            Problem(
                "warning",
                "EDITION_MISMATCH",
                str(path),
                "edition",
                t(
                    f"edition = {drugs.edition!r}，但文件名是 {path.name}（目录按文件名引用）",
                    f"edition = {drugs.edition!r} but the file is {path.name} (catalogues refer to the file name)",
                ),
            )
        )
    seen: dict[str, int] = {}
    for i, drug in enumerate(drugs.drugs):
        if drug.code in seen:
            problems.append(
                Problem(
                    "error",
                    "DRUG_DUPLICATE",
                    str(path),
                    f"drugs[{i}].code",
                    t(
                        f"药品编码 {drug.code!r} 与 drugs[{seen[drug.code]}] 重复",
                        f"drug code {drug.code!r} repeats drugs[{seen[drug.code]}]",
                    ),
                )
            )
        seen.setdefault(drug.code, i)
    return problems


def validate_file(path: Path, rules_root: Path) -> list[Problem]:
    """All problems of one file: a drug list, or a rule file's loading errors, then the semantic checks.

    A ``.toml`` or ``.json`` file under a name medins does not read gets a warning (and, when it
    is a rule file by its ``kind``, the checks too).
    """
    if path.suffix == ".json":
        return validate_drug_list(path) if path.parent.name == DRUG_LIST_DIR else [_unread(path)]
    problems: list[Problem] = []
    if path.name not in READ_NAMES:
        problems.append(_unread(path))
        try:
            kind = read_toml(path).get("kind")
        except MedinsError:
            return problems
        if kind not in ("catalogue", "standards"):
            return problems
    try:
        loaded = load_rule_file(path)
    except MedinsError as exc:
        return [*problems, Problem("error", "SCHEMA", exc.where or str(path), "", exc.message, None)]
    expected = {CATALOGUE_FILE: "catalogue", STANDARDS_FILE: "standards"}.get(path.name)
    if expected is not None and loaded.kind != expected:
        problems.append(
            Problem(
                "error",
                "KIND_MISMATCH",
                str(path),
                "kind",
                t(
                    f'kind = "{loaded.kind}"，但文件名 {path.name} 要求 kind = "{expected}"',
                    f'kind = "{loaded.kind}" but the file name {path.name} needs kind = "{expected}"',
                ),
            )
        )
    folder = path.parent.name
    if not is_region_code(folder):
        problems.append(
            Problem(
                "error",
                "FOLDER_NOT_REGION",
                str(path),
                "",
                t(
                    f"文件夹名 {folder!r} 不是地区代码，medins 不读取其中的文件",
                    f"folder name {folder!r} is not a region code: medins does not read files in it",
                ),
                None,
            )
        )
    elif loaded.region != folder:
        problems.append(
            Problem(
                "error",
                "FOLDER_MISMATCH",
                str(path),
                "region",
                t(
                    f'文件夹 {folder} 与 region = "{loaded.region}" 不一致',
                    f'folder {folder} disagrees with region = "{loaded.region}"',
                ),
            )
        )
    try:
        regions.require(loaded.region, f"{path}: region", RuleError)
    except MedinsError as exc:
        problems.append(Problem("error", "REGION_CODE", str(path), "region", exc.message))
    if isinstance(loaded, Standards):
        found = list(check_standards(loaded))
    else:
        found = list(check_catalogue(loaded, rules_root))
    for p in found:
        level, code, kpath, text = p
        explained = _explained(p, loaded.explanations) if level == "warning" else None
        problems.append(Problem(level, code, str(path), kpath, text, explained))  # type: ignore[arg-type]
    return problems


def _stray(folder: Path) -> list[Path]:
    """The ``.toml`` and ``.json`` files of a folder under names medins does not read there."""
    return sorted(
        f
        for f in folder.iterdir()
        if f.suffix in (".toml", ".json") and f.name not in READ_NAMES and (f.is_file() or f.is_symlink())
    )


def _region_files(folder: Path) -> list[Path]:
    return [folder / n for n in READ_NAMES if present(folder / n)] + _stray(folder)


def _referenced_drug_list(catalogue: Path) -> Path | None:
    """The drug list a catalogue file names, when the name is valid (its faults are reported elsewhere)."""
    try:
        edition = read_toml(catalogue).get("drug_list")
        check_edition(edition)
    except (MedinsError, ValueError, TypeError):
        return None
    found = catalogue.parent.parent / DRUG_LIST_DIR / f"{edition}.json"
    return found if present(found) else None


def _no_rule_files(path: Path) -> RuleError:
    return RuleError(
        t("没有可检查的规则文件", "no rule files to check"),
        str(path),
        t(
            f"medins 读取 <地区代码>/{CATALOGUE_FILE}、<地区代码>/{STANDARDS_FILE} 和 {DRUG_LIST_DIR}/*.json，"
            "如 rules/130100/standards.toml",
            f"medins reads <region code>/{CATALOGUE_FILE}, <region code>/{STANDARDS_FILE} and "
            f"{DRUG_LIST_DIR}/*.json, e.g. rules/130100/standards.toml",
        ),
    )


def rule_files(paths: Sequence[Path]) -> list[Path]:
    """The files to check under the given paths (a rules directory, a region folder, or files).

    A rules directory gives its region folders' files, files in folders not named by a region code
    that hold rule files (so that the check reports the folder), stray ``.toml``/``.json`` files
    (reported as unread) and every drug list; a catalogue also brings the drug list it names.
    Refused: a path that does not exist, and paths holding no file medins reads (nothing to check).
    """
    files: list[Path] = []
    for p in paths:
        if p.is_file() or (p.is_symlink() and not p.exists()):
            files.append(p)
        elif p.is_dir() and any(present(p / n) for n in READ_NAMES) and not _is_rules_dir(p):
            files.extend(_region_files(p))
        elif p.is_dir() and p.name == DRUG_LIST_DIR:
            files.extend(sorted(f for f in p.iterdir() if f.suffix == ".json"))
        elif p.is_dir():
            found: list[Path] = []
            for folder in sorted(f for f in p.iterdir() if f.is_dir()):
                if is_region_code(folder.name) or any(present(folder / n) for n in READ_NAMES):
                    found.extend(_region_files(folder))
            if not any(f.name in READ_NAMES for f in found):
                raise _no_rule_files(p)
            # files at the top of a rules directory are not read, whatever their name
            found.extend(
                sorted(f for f in p.iterdir() if f.suffix in (".toml", ".json") and (f.is_file() or f.is_symlink()))
            )
            lists = p / DRUG_LIST_DIR
            if lists.is_dir():
                found.extend(sorted(f for f in lists.iterdir() if f.suffix == ".json"))
            files.extend(found)
        else:
            raise RuleError(
                t("路径不存在", "no such file or folder"),
                str(p),
                t("请给出规则目录、地区文件夹或规则文件", "give a rules directory, a region folder or rule files"),
            )
    for f in list(files):
        if f.name == CATALOGUE_FILE:
            drug_list = _referenced_drug_list(f)
            if drug_list is not None:
                files.append(drug_list)
    unique = list(dict.fromkeys(files))
    if not any(_is_read(f) for f in unique):
        raise _no_rule_files(paths[0] if paths else Path("."))
    return unique


def _is_rules_dir(folder: Path) -> bool:
    """Whether a folder is a rules directory (it holds region folders) rather than a region folder."""
    return not is_region_code(folder.name) and any(f.is_dir() and is_region_code(f.name) for f in folder.iterdir())


def _is_read(path: Path) -> bool:
    """Whether medins reads a file of this name: a rule file, or a drug list in ``drug-lists/``."""
    return path.name in READ_NAMES or (path.suffix == ".json" and path.parent.name == DRUG_LIST_DIR)
