"""Administrative division codes (GB/T 2260): look a code up, check it, find its province and city.

The table is the package data file ``medins/data/regions.csv`` (made by
``medins.convert.convert_areacodes``), read once on first use.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from medins.errors import MedinsError, RuleError, t
from medins.i18n import Text

MUNICIPALITIES = frozenset({"11", "12", "31", "50"})
"""Province prefixes of Beijing, Tianjin, Shanghai and Chongqing, whose districts have no city."""

_CODE = re.compile(r"[0-9]{6}")


@dataclass(frozen=True)
class Region:
    """One administrative division code as the project stores it.

    ``level`` is 省级, 地级 or 县级; ``status`` ``in_use`` or ``retired``; ``replacement`` the
    codes a retired code was replaced by, ``;``-separated, each possibly with a ``[year]`` note.
    """

    code: str
    name: str
    level: str
    parent: str
    status: str
    replacement: str

    @property
    def in_use(self) -> bool:
        """Whether the code is in use today."""
        return self.status == "in_use"

    @property
    def replacements(self) -> tuple[str, ...]:
        """The replacement codes without their ``[year]`` notes, each once, in the given order."""
        codes = (part.split("[", 1)[0].strip() for part in self.replacement.split(";"))
        return tuple(dict.fromkeys(code for code in codes if code))


@cache
def _table() -> str:
    """The table's text, read once from the package data (beside this module, as an installed package
    has it; through importlib.resources, which costs more to import, when it is not).

    Each line after the header is one code; lines start with the code, so a lookup finds its line
    with one search instead of building a table of all 6,000-odd codes (which cost more than the
    rest of a quick estimate).
    """
    path = Path(__file__).parent / "data" / "regions.csv"
    if not path.is_file():  # pragma: no cover - a package that is not a folder of files
        from importlib.resources import files

        return "\n" + (files("medins") / "data" / "regions.csv").read_text(encoding="utf-8")
    return "\n" + path.read_text(encoding="utf-8")


@cache
def lookup(code: str) -> Region | None:
    """The region of a code, in use or retired; None if the code is unknown."""
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        return None
    text = _table()
    start = text.find(f"\n{code},")
    if start < 0:
        return None
    end = text.find("\n", start + 1)
    line = text[start + 1 : end if end >= 0 else len(text)].rstrip("\r")
    return Region(*next(csv.reader([line])))


def successors(code: str) -> tuple[str, ...]:
    """The codes in use that took over a code: itself if in use, else its replacements.

    A replacement that is itself retired is followed to its own replacements. A replacement with a
    ``[year]`` note took over part of the area before the code was retired; such codes count only
    when the entry names no other. Unknown codes, and retired codes without a replacement, have
    none.
    """
    found: dict[str, None] = {}
    seen: set[str] = set()

    def follow(current: str) -> None:
        if current in seen:
            return
        seen.add(current)
        region = lookup(current)
        if region is None:
            return
        if region.in_use:
            found[current] = None
            return
        parts = [p.strip() for p in region.replacement.split(";") if p.strip()]
        main = [p for p in parts if "[" not in p] or parts
        for part in main:
            follow(part.split("[", 1)[0].strip())

    follow(code)
    return tuple(found)


def require(code: str, where: str, error: type[MedinsError] = RuleError) -> Region:
    """The region of a code that is in use; otherwise raise ``error`` saying what to do.

    Refused: a code that is not six digits, an unknown code, and a retired code (the fix names
    the codes in use that replaced it, with their names).
    """
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise error(
            t(
                f"地区代码应为6位数字（收到 {code!r}）",
                f"a region code has 6 digits (got {code!r})",
            ),
            where,
            t("例如 110101（北京市东城区）", "e.g. 110101 (东城区, Beijing)"),
        )
    region = lookup(code)
    if region is None:
        raise error(
            t(f"未知的地区代码 {code}", f"unknown region code {code}"),
            where,
            t("请核对 GB/T 2260 行政区划代码", "check the GB/T 2260 code"),
        )
    if not region.in_use:
        raise error(
            t(
                f"地区代码 {code}（{region.name}）已停用",
                f"region code {code} ({region.name}) is retired",
            ),
            where,
            _replacement_fix(code),
        )
    return region


def _replacement_fix(code: str) -> Text:
    """How to replace a retired code.

    Its successors in use, each with its name; when it has none, a pointer to GB/T 2260.
    """
    codes = successors(code)
    if not codes:
        return t(
            "该代码没有对应的新代码，请核对现行 GB/T 2260 行政区划代码",
            "it has no replacement code; check the current GB/T 2260 code",
        )
    named = [f"{c} {name(c)}" for c in codes]
    return t(f"请改用 {' 或 '.join(named)}", f"use {' or '.join(named)} instead")


def province(code: str) -> str:
    """The province code of a code: its first two digits and ``0000``."""
    return code[:2] + "0000"


def city(code: str) -> str:
    """The city code of a code: its first four digits and ``00``.

    For the four municipalities (11, 12, 31, 50) the province code itself.
    """
    if code[:2] in MUNICIPALITIES:
        return province(code)
    return code[:4] + "00"


def name(code: str) -> str:
    """The name of a region, or the code itself when it is unknown."""
    region = lookup(code)
    return region.name if region is not None else code
