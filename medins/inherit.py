"""Pack inheritance: a rule file that ``extends`` another region's file of its kind, read as one.

A city's ``standards.toml`` with ``extends = "130000"`` is read as ``../130000/standards.toml`` (the
province pack) with the city's sections put over it. What a *section* is:

- every top-level key of the file other than the pack's own keys (``kind``, ``region``, ``name``,
  ``extends``, ``insured_place``, ``province_note``, ``notes``) and the two merged tables below:
  ``[[offsite]]``, ``[[filing]]``, ``[[assistance]]``; in a catalogue ``drug_list``, ``[[settings]]``,
  ``[[items]]``, ``institutions_source``, ``[[institutions]]``;
- one level down in ``[employee]`` and ``[resident]``: ``groups``, ``group_labels``, ``inpatient``,
  ``outpatient``, ``chronic``, ``tier2``, so a city can take the province's tier 2 and write its own
  inpatient terms.

A section the extending file writes replaces the parent's **whole**: a dated list of sections
(``[[employee.inpatient]]`` …) is never merged version by version, so a city that writes one
``[[offsite]]`` has exactly the off-site versions it writes. ``[sources]`` are merged by id (an id in
both files must say the same thing), ``[[explanations]]`` are the parent's and then the file's own.
A parent may itself extend another pack; cycles, missing parents and parents of another kind are
errors naming the file and ``extends``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medins.errors import MedinsError, RuleError, t

OWN_KEYS = frozenset({"kind", "region", "name", "extends", "insured_place", "province_note", "notes"})
"""Keys of a pack itself: never inherited."""

SCHEME_TABLES = ("employee", "resident")
"""Tables whose keys are sections one level down."""

_SECTION = re.compile(r"^(employee|resident)\.[A-Za-z_0-9]+|^[A-Za-z_0-9]+")


@dataclass
class Resolved:
    """A rule file's data with what it extends merged in, and which file gave each section."""

    data: dict[str, Any]
    origins: dict[str, Path] = field(default_factory=dict)
    """Section key (``offsite``, ``employee.tier2``, ``sources.<id>``) -> the file it was read from."""
    chain: list[Path] = field(default_factory=list)
    """The file itself, then the file it extends, and so on."""

    def origin(self, key_path: str) -> Path:
        """The file a key path of the resolved data comes from (the file itself when not inherited)."""
        m = re.match(r"^sources\.([^.\[]+)", key_path)
        if m and f"sources.{m.group(1)}" in self.origins:
            return self.origins[f"sources.{m.group(1)}"]
        m = _SECTION.match(key_path)
        return self.origins.get(m.group(0), self.chain[0]) if m else self.chain[0]


def parent_file(path: Path, code: str) -> Path:
    """The file a rule file's ``extends = code`` names: the same file name in the sibling folder ``code``."""
    return path.parent.parent / code / path.name


def resolve(path: Path, read: Callable[[Path], dict[str, Any]]) -> Resolved:
    """Read a rule file and every file it extends, then merge them from the farthest parent down."""
    chain = [path]
    datas = [read(path)]
    while "extends" in datas[-1]:
        file, code = chain[-1], datas[-1]["extends"]
        code = _code(code, f"{file}: extends")
        where = f"{file}: extends"
        parent = parent_file(file, code)
        seen = [p.parent.name for p in chain]  # folder names: a link that loops is its load's own error
        if code in seen:
            loop = " → ".join([*seen[seen.index(code) :], code])
            raise RuleError(
                t(f"extends 形成循环：{loop}", f"extends makes a cycle: {loop}"),
                where,
                t(
                    "省级规则包不能再继承其下的规则包；删去其中一处 extends",
                    "a province pack cannot extend its own cities: remove one extends",
                ),
            )
        if not (parent.exists() or parent.is_symlink()):
            others = sorted(p.name for p in parent.parent.glob("*.toml")) if parent.parent.is_dir() else []
            has = (
                t(f"（{code} 只有 {', '.join(others)}）", f" ({code} has only {', '.join(others)})")
                if others
                else t("", "")
            )
            raise RuleError(
                t(
                    f"extends = {code!r}，但找不到 {code}/{path.name}",
                    f"extends = {code!r} but there is no {code}/{path.name}",
                )
                + has,
                where,
                t(
                    f"在规则目录中加入 {code}/{path.name}，或改正 extends",
                    f"add {code}/{path.name} to the rules directory, or correct extends",
                ),
            )
        data = read(parent)
        if data.get("kind") != datas[-1].get("kind"):
            raise RuleError(
                t(
                    f"extends = {code!r}：{parent} 的 kind = {data.get('kind')!r}，不是 {datas[-1].get('kind')!r}",
                    f"extends = {code!r}: {parent} has kind = {data.get('kind')!r}, not {datas[-1].get('kind')!r}",
                ),
                where,
                t("规则包只能继承同类文件（待遇继承待遇，目录继承目录）", "a file extends a file of its own kind"),
            )
        chain.append(parent)
        datas.append(data)
    merged: dict[str, Any] = {}
    origins: dict[str, Path] = {}
    for file, data in reversed(list(zip(chain, datas, strict=True))):
        merged = _over(merged, origins, data, file)
    return Resolved(merged, origins, chain)


def _over(base: dict[str, Any], origins: dict[str, Path], data: dict[str, Any], file: Path) -> dict[str, Any]:
    """``data``'s sections put over ``base``'s (the parent's, already merged); ``origins`` updated."""
    out = {k: v for k, v in base.items() if k not in OWN_KEYS}
    for key, value in data.items():
        if key in OWN_KEYS:
            out[key] = value
        elif key == "sources" and isinstance(value, dict) and isinstance(out.get(key), dict):
            for sid, source in value.items():
                if sid in out[key] and out[key][sid] != source:
                    raise _source_clash(sid, file, origins[f"sources.{sid}"])
            out[key] = {**out[key], **value}
            origins.update({f"sources.{sid}": file for sid in value})
        elif key == "sources" and isinstance(value, dict):
            out[key] = value
            origins.update({f"sources.{sid}": file for sid in value})
        elif key == "explanations" and isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = [*out[key], *value]
        elif key in SCHEME_TABLES and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
            origins.update({f"{key}.{sub}": file for sub in value})
        else:
            out[key] = value
            for stale in [k for k in origins if k.startswith(f"{key}.")]:
                del origins[stale]
            origins[key] = file
            if key in SCHEME_TABLES and isinstance(value, dict):
                origins.update({f"{key}.{sub}": file for sub in value})
    return out


def _source_clash(sid: str, file: Path, parent: Path) -> RuleError:
    return RuleError(
        t(
            f"来源 {sid!r} 与被继承的 {parent} 中同名来源内容不同",
            f"source {sid!r} differs from the source of that id in {parent}, which this file extends",
        ),
        f"{file}: sources.{sid}",
        t(
            "同一来源只写一处（继承的来源可直接引用），或给本文件的来源另取一个 id",
            "write a source once (an inherited source can be cited as it is), or give this file's source another id",
        ),
    )


def in_file(err: MedinsError, resolved: Resolved) -> MedinsError:
    """An error placed on the resolved data (``<file>: <key path>``) moved to the file the key came from."""
    own = str(resolved.chain[0])
    if len(resolved.chain) == 1 or not err.where.startswith(f"{own}: "):
        return err
    key_path = err.where[len(own) + 2 :]
    file = resolved.origin(key_path)
    if file == resolved.chain[0]:
        return err
    return type(err)(err.text, f"{file}: {key_path}", err.fix)


def extended_codes(files: list[Path], read: Callable[[Path], dict[str, Any]]) -> set[str]:
    """The region codes that some of ``files`` extend; an ``extends`` that is no region code is an
    error of its file (before the pack it meant is read as a pack no one extends)."""
    found: set[str] = set()
    for file in files:
        try:
            data = read(file)
        except MedinsError:  # the file's own load reports it
            continue
        if "extends" in data:
            found.add(_code(data["extends"], f"{file}: extends"))
    return found


def _code(code: Any, where: str) -> str:
    if not isinstance(code, str) or not re.fullmatch(r"\d{6}", code):
        raise RuleError(
            t(f"extends 应为6位地区代码（收到 {code!r}）", f"extends should be a 6-digit region code (got {code!r})"),
            where,
            t(
                '写出被继承的规则包的地区代码，如 extends = "130000"',
                'give the region code of the pack extended, e.g. extends = "130000"',
            ),
        )
    return code
