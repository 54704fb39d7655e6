"""Reading a reform: a partial rule file merged into the shipped packs, validated like a pack file.

A reform file has a ``name``, a ``note`` and, under ``[regions.<code>.standards]`` or
``[regions.<code>.catalogue]``, only the keys it changes. Its tables are merged key by key into the
raw TOML of the pack's file; any other value (an array, even an array of tables) replaces the pack's
value whole. The merged file is then validated exactly as ``load_rules`` validates a pack file, and
an error names the key as the reform wrote it.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medins.errors import RuleError, t
from medins.i18n import Text
from medins.inherit import resolve
from medins.loader import (
    CATALOGUE_FILE,
    STANDARDS_FILE,
    RegionPack,
    RuleSet,
    _refuse_semantic_errors,
    _shown,
    is_region_code,
    key_path,
    load_resolved,
    parse_model,
    read_toml,
)
from medins.rules_model import PARTIAL, Catalogue, Standards

KINDS: dict[str, tuple[str, type[Catalogue] | type[Standards]]] = {
    "catalogue": (CATALOGUE_FILE, Catalogue),
    "standards": (STANDARDS_FILE, Standards),
}
TOP_KEYS = ("name", "note", "regions")

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Reform:
    """A reform as loaded: its name and note, and the rules with it applied."""

    name: str
    note: str
    path: Path
    changed: dict[str, tuple[str, ...]]
    """Region code -> the kinds of file the reform changes (``"catalogue"``, ``"standards"``), sorted."""
    rules: RuleSet
    """The base rules with the reform applied; packs it does not change are the base's own objects."""


def load_reform(path: str | os.PathLike[str], base: RuleSet) -> Reform:
    """Read a reform file and apply it to ``base``, refusing what ``load_rules`` would refuse.

    Each changed file is the pack's raw TOML with the reform's tables merged in key by key (other
    values replace the pack's whole), then validated with the pack's model and its semantic checks.
    Refused, naming the reform's key: a missing or empty ``name``/``note``, an unknown top-level key,
    no region, a region or file the base rules lack, a change of ``kind`` or ``region``, an unknown
    key, a bad value, and a merged file that ``rules validate`` calls an error.
    """
    where = str(path)
    data = read_toml(Path(path))
    for key in data:
        if key not in TOP_KEYS:
            raise RuleError(
                t(f"未知的键 {_shown(key)}", f"unknown key {_shown(key)}"), f"{where}: {key}", _top_fix(key)
            )
    name, note = (_required_text(data, key, where) for key in ("name", "note"))
    regions_table = data.get("regions")
    if regions_table is not None and not isinstance(regions_table, dict):
        raise _not_a_table(where, ("regions",), regions_table)
    if not regions_table:
        raise RuleError(
            t(
                "改革没有改动任何规则：没有 [regions.<地区代码>.standards] 或 [regions.<地区代码>.catalogue] 表",
                "the reform changes nothing: no [regions.<code>.standards] or [regions.<code>.catalogue] table",
            ),
            f"{where}: regions",
            t(
                "写出要改的键，如 [regions.130100.standards] 下的 offsite",
                "give the keys it changes, e.g. offsite under [regions.130100.standards]",
            ),
        )
    packs = dict(base.packs)
    changed: dict[str, tuple[str, ...]] = {}
    reformed: dict[Path, dict[str, Any]] = {}  # a province pack's file as the reform changed it
    # province packs first: the cities that extend them are read with the reformed file
    order = sorted(regions_table, key=lambda c: (base.packs.get(c) is None or base.packs[c].base is None, c))
    for code in order:
        pack = _base_pack(base, code, regions_table[code], where)
        kinds: dict[str, Any] = {}
        for kind, table in regions_table[code].items():
            kinds[kind] = _kind_table(pack, kind, table, where)
        new = RegionPack(pack.code, pack.folder, pack.catalogue, pack.standards, pack.base, pack.origins)
        for kind in sorted(kinds):
            province = kind == "standards" and pack.base is not None
            loaded, data = _apply(pack, kind, kinds[kind], base.root, where, _reader(reformed), province)
            setattr(new, "base" if province else kind, loaded)
            if province:
                reformed[(pack.folder / STANDARDS_FILE).absolute()] = data
        packs[code] = new
        changed[code] = tuple(sorted(kinds))
    for code, pack in sorted(base.packs.items()):
        origins = pack.origins.get("standards")
        if code in changed or pack.standards is None or origins is None:
            continue
        if any(f.absolute() in reformed for f in origins.chain[1:]):
            packs[code] = RegionPack(
                code, pack.folder, pack.catalogue, _extending(pack, base.root, where, _reader(reformed)), None
            )
            packs[code].origins = pack.origins
            changed[code] = ("standards",)
    rules = RuleSet(base.root, packs, _drug_lists=base._drug_lists)
    return Reform(name, note, Path(path), changed, rules)


# ------------------------------------------------------------------ the reform file's own keys


def _top_fix(key: str) -> Text:
    close = difflib.get_close_matches(key, TOP_KEYS, n=1, cutoff=0.5)
    if close:
        return t(f"是否应为 “{close[0]}”？", f"did you mean '{close[0]}'?")
    return t(
        "改革文件只有 name、note 和 [regions.<地区代码>.standards|catalogue] 表",
        "a reform file has name, note and [regions.<code>.standards|catalogue] tables only",
    )


def _required_text(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    fix = (
        t(
            '给改革起个名字，如 name = "异地转诊降幅 10→5 个百分点"',
            'name the reform, e.g. name = "referral 10→5 points"',
        )
        if key == "name"
        else t(
            "用 note 说明这项改革改了什么、为什么（它是假设，不是现行政策）",
            "say in note what the reform changes and why (it is hypothetical, not a policy in force)",
        )
    )
    if value is None:
        raise RuleError(t("缺少必填项", "required key missing"), f"{where}: {key}", fix)
    if not isinstance(value, str):
        raise RuleError(t("应为文本", "should be text") + _got(value), f"{where}: {key}", fix)
    if not value.strip():
        raise RuleError(t("不能为空", "must not be empty") + _got(value), f"{where}: {key}", fix)
    return value


def _got(value: Any) -> Text:
    return t(f"（收到 {_shown(value)}）", f" (got {_shown(value)})")


def _not_a_table(where: str, loc: Loc, value: Any) -> RuleError:
    return RuleError(
        t("应为表", "should be a table") + _got(value),
        f"{where}: {key_path(loc)}",
        t(f"写成 [{key_path(loc)}] 表", f"write it as the table [{key_path(loc)}]"),
    )


def _base_pack(base: RuleSet, code: str, table: Any, where: str) -> RegionPack:
    at = f"{where}: regions.{code}"
    if not is_region_code(code):
        raise RuleError(
            t("地区代码应为6位数字", "a region code has 6 digits") + _got(code),
            at,
            t("例如 [regions.130100.standards]（石家庄市）", "e.g. [regions.130100.standards] (Shijiazhuang)"),
        )
    pack = base.packs.get(code)
    if pack is None:
        available = ", ".join(f"{c} {p.name}" for c, p in sorted(base.packs.items()))
        raise RuleError(
            t(f"规则中没有地区 {code} 的规则包", f"the rules have no pack for region {code}"),
            at,
            t(f"改革只能修改已有的规则包：{available}", f"a reform changes packs the rules have: {available}"),
        )
    if not isinstance(table, dict):
        raise _not_a_table(where, ("regions", code), table)
    if not table:
        raise _nothing(where, ("regions", code))
    return pack


def _nothing(where: str, loc: Loc) -> RuleError:
    return RuleError(
        t("这张表没有改动任何键", "this table changes no key"),
        f"{where}: {key_path(loc)}",
        t("写出要改的键与新值，或删去这张表", "give the keys it changes with their new values, or remove the table"),
    )


def _kind_table(pack: RegionPack, kind: str, table: Any, where: str) -> dict[str, Any]:
    loc: Loc = ("regions", pack.code, kind)
    has = [k for k in KINDS if (pack.standards_file if k == "standards" else pack.catalogue) is not None]
    if kind not in KINDS:
        close = difflib.get_close_matches(kind, list(KINDS), n=1, cutoff=0.5)
        raise RuleError(
            t(f"未知的键 {_shown(kind)}", f"unknown key {_shown(kind)}"),
            f"{where}: {key_path(loc)}",
            t(f"是否应为 “{close[0]}”？", f"did you mean '{close[0]}'?")
            if close
            else t(
                "地区下只有 standards（参保地待遇）和 catalogue（就医地目录）",
                "a region has standards (insured place) and catalogue (treatment place) only",
            ),
        )
    if kind not in has:
        raise RuleError(
            t(
                f"{pack.code} {pack.name} 的规则包没有 {KINDS[kind][0]}",
                f"the pack of {pack.code} {pack.name} has no {KINDS[kind][0]}",
            ),
            f"{where}: {key_path(loc)}",
            t(
                f"改革只能修改该包已有的文件：{', '.join(has)}",
                f"a reform changes the files the pack has: {', '.join(has)}",
            ),
        )
    if not isinstance(table, dict):
        raise _not_a_table(where, loc, table)
    for key, own in (("kind", kind), ("region", pack.code)):
        if key in table and table[key] != own:
            raise RuleError(
                t(
                    f"改革不能修改 {key}（收到 {_shown(table[key])}，该文件为 {_shown(own)}）",
                    f"a reform cannot change {key} (got {_shown(table[key])}; the file's is {_shown(own)})",
                ),
                f"{where}: {key_path((*loc, key))}",
                t(
                    f"删去 {key}：表 [{key_path(loc)}] 已说明改的是哪个地区的哪个文件",
                    f"remove {key}: the table [{key_path(loc)}] already says which region and file it changes",
                ),
            )
    return table


# ------------------------------------------------------------------ merging and validating


def merge(base: dict[str, Any], changes: dict[str, Any], at: Loc = (), arrays: list[Loc] | None = None) -> list[Loc]:
    """Merge ``changes`` into ``base`` in place: tables key by key, any other value replacing whole.

    Returns the key paths of the values set (the reform's leaves), in the order written; ``arrays``
    gathers those where a table replaced an array (``[x]`` written for the pack's ``[[x]]``).
    """
    set_: list[Loc] = []
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            set_.extend(merge(base[key], value, (*at, key), arrays))
        else:
            if arrays is not None and isinstance(value, dict) and isinstance(base.get(key), list):
                arrays.append((*at, key))
            base[key] = value
            set_.append((*at, key))
    return set_


def _reader(reformed: dict[Path, dict[str, Any]]) -> Callable[[Path], dict[str, Any]]:
    """Read rule files, a province pack the reform changed as changed (a fresh copy each time)."""

    def read(path: Path) -> dict[str, Any]:
        found = reformed.get(path.absolute())
        return copy.deepcopy(found) if found is not None else read_toml(path)

    return read


def _extending(pack: RegionPack, root: Path, where: str, read: Callable[[Path], dict[str, Any]]) -> Standards:
    """A city's standards read again over the province pack the reform changed."""
    file = pack.folder / STANDARDS_FILE
    try:
        loaded, resolved = load_resolved(file, False, read)
        _refuse_semantic_errors(loaded, file, root, resolved)
    except RuleError as exc:
        raise RuleError(
            t(
                f"改革使继承省级规则包的 {pack.code} {pack.name} 失效（{exc.where}）：",
                f"the reform makes {pack.code} {pack.name}, which extends the province pack, invalid ({exc.where}): ",
            )
            + exc.text,
            where,
            t("修改改革，使继承它的规则包仍然有效", "change the reform so that the packs extending it stay valid"),
        ) from None
    return loaded  # type: ignore[return-value]


def _apply(
    pack: RegionPack,
    kind: str,
    table: dict[str, Any],
    root: Path,
    where: str,
    read: Callable[[Path], dict[str, Any]] = read_toml,
    partial: bool = False,
) -> tuple[Catalogue | Standards, dict[str, Any]]:
    """The pack's file of ``kind`` (with what it extends) and the reform's table merged in, validated
    as ``load_rules`` does; and the merged data."""
    file_name, model = KINDS[kind]
    file = pack.folder / file_name
    data = resolve(file, read).data
    arrays: list[Loc] = []
    leaves = merge(data, table, arrays=arrays)
    if not leaves:
        raise _nothing(where, ("regions", pack.code, kind))
    if arrays:
        raise _table_for_array(where, ("regions", pack.code, kind), arrays[0], file)
    at: Loc = ("regions", pack.code, kind)
    try:
        loaded = parse_model(data, model, str(file), context={PARTIAL: partial})
    except RuleError as exc:
        raise _in_reform(exc, file, where, at, leaves, semantic=False) from None
    try:
        _refuse_semantic_errors(loaded, file, root)
    except RuleError as exc:
        raise _in_reform(exc, file, where, at, leaves, semantic=True) from None
    return loaded, data


def _table_for_array(where: str, at: Loc, loc: Loc, file: Path) -> RuleError:
    """``[regions.X.standards.offsite]`` written for the pack's ``[[offsite]]``: say how a reform changes it."""
    written, own = key_path((*at, *loc)), key_path(loc)
    return RuleError(
        t(
            f"应为列表，收到表：{own} 在规则文件 {file} 中是列表",
            f"should be a list, got a table: {own} is a list in {file}",
        ),
        f"{where}: {written}",
        t(
            f"改革整体替换列表：照规则文件写出它的每一项，表的列表写成 [[{written}]]"
            "（按日期的一节连同 effective、source 和各键），再改要改的值",
            f"a reform replaces a list whole: write every entry of it as in the pack, a list of tables as "
            f"[[{written}]] (a dated section with its effective, source and every key), then change the values "
            "it changes",
        ),
    )


_PARTS = re.compile(r"\[\d+\]|[^.\[\]]+")


def _parts(path: str) -> list[str]:
    return _PARTS.findall(path)


def _in_reform(exc: RuleError, file: Path, where: str, at: Loc, leaves: list[Loc], semantic: bool) -> RuleError:
    """An error of the merged pack file as an error of the reform, at the key the reform wrote.

    The error's key is the reform's when the reform set it (or a value around it); when it is a
    table holding keys the reform set, those keys are named; else the reform key nearest to it is
    named (when one is nearest), with the pack's file and key, as the reform's doing. A semantic
    error's advice to run ``rules validate`` on the pack is dropped: the pack alone is valid.
    """
    head = f"{file}: "
    pack_key = exc.where[len(head) :] if exc.where.startswith(head) else ""
    prefix = key_path(at)
    written = [key_path(leaf) for leaf in leaves]
    if exc.text.en == "required key missing":
        fix: Text = t("在改革中写出该键", "give it in the reform")
    elif semantic or exc.fix is None:
        fix = t("改正改革中的这一值", "correct this value in the reform")
    else:
        fix = exc.fix
    for leaf in written:
        if pack_key == leaf or pack_key.startswith((leaf + ".", leaf + "[")):
            return RuleError(exc.text, f"{where}: {prefix}.{pack_key}", fix)
    inside = [leaf for leaf in written if pack_key and leaf.startswith((pack_key + ".", pack_key + "["))]
    if inside:
        keys = ", ".join(f"{prefix}.{leaf}" for leaf in inside)
        return RuleError(
            exc.text + t(f"（改革设定了 {keys}）", f" (the reform set {keys})"),
            f"{where}: {prefix}.{pack_key}",
            fix,
        )
    own = f"{file}: {pack_key}" if pack_key else str(file)
    made = t(f"改革使规则文件失效（{own}）：", f"the reform makes the pack's file invalid ({own}): ") + exc.text
    fix = t(
        "修改改革，使改动后的规则文件仍然有效",
        "change the reform so that the file it changes stays valid",
    )
    target = _parts(pack_key)
    shared = [_common(target, _parts(leaf)) for leaf in written]
    best = max(shared)
    nearest = [leaf for leaf, n in zip(written, shared, strict=True) if n == best]
    if len(nearest) == 1:
        return RuleError(made, f"{where}: {prefix}.{nearest[0]}", fix)
    return RuleError(
        t(f"改革 {where} 使规则文件失效：", f"the reform {where} makes the file invalid: ") + exc.text, own, fix
    )


def _common(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
