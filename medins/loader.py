"""Reading rule files: TOML with exact decimals, pydantic validation, errors that name the place.

A rules directory holds one folder per pooling region, named by its 6-digit code, with
``catalogue.toml`` (treatment-place role) and/or ``standards.toml`` (insured-place role), and a
``drug-lists/`` folder with the converted national drug lists.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import json
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from medins import regions
from medins.errors import CaseError, MedinsError, RuleError, t
from medins.i18n import Text
from medins.inherit import Resolved, extended_codes, in_file, resolve
from medins.money import MAX_AMOUNT
from medins.rules_model import PARTIAL, Catalogue, Drug, DrugList, Standards
from medins.types import Dated

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

M = TypeVar("M", bound=BaseModel)
D = TypeVar("D", bound=Dated)

CATALOGUE_FILE = "catalogue.toml"
STANDARDS_FILE = "standards.toml"
DRUG_LIST_DIR = "drug-lists"


def shipped_rules_dir() -> Path:
    """The rules that travel inside the package (or, in a source checkout, the repository's rules/)."""
    packaged = Path(__file__).resolve().parent / "_rules"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "rules"


CACHE_FORMAT = "2"
"""The shape of a cached rule set: changed when the pickled classes change (2: packs with ``base`` and
``origins``), so that a cache written by an earlier shape is never read back."""


def rules_cache() -> Path | None:
    """Where validated rule sets are kept between runs: ``MEDINS_CACHE`` (``off`` for none), else
    ``$XDG_CACHE_HOME/medins``, else ``~/.cache/medins``."""
    chosen = os.environ.get("MEDINS_CACHE")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "no") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "medins"


def cached(name: str, digest: Any, build: Callable[[], Any], valid: Callable[[Any], bool]) -> Any:
    """``build()``, or what it gave before for the same ``digest`` (a ``hashlib`` object of every
    input's bytes; this version, the cache format and pydantic's version are added here), read back
    from :func:`rules_cache` as ``{name}-….pickle``. A cache that cannot be read or written is only
    slower; a value that fails ``valid`` is built again."""
    import pickle

    import pydantic

    from medins import __version__

    folder = rules_cache()
    if folder is None:
        return build()
    digest.update(f"\0{__version__} {CACHE_FORMAT} {pydantic.VERSION}".encode())
    path = folder / f"{name}-{digest.hexdigest()[:32]}.pickle"
    try:
        with path.open("rb") as f:
            found = pickle.load(f)
        if valid(found):
            return found
    except Exception:  # no cache yet, or one this version cannot read: build it
        pass
    value = build()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with temp.open("wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, path)
        _prune(folder, name)
    except OSError:
        pass
    return value


CACHE_KEEP = 32
"""How many cached values of each kind the cache keeps: the most recently made."""


def _prune(folder: Path, name: str) -> None:
    """Remove all but the :data:`CACHE_KEEP` newest ``{name}-*.pickle`` files: every edit of a rules
    directory makes a new one, and the old ones are never read again."""
    files = []
    for path in folder.glob(f"{name}-*.pickle"):
        with contextlib.suppress(OSError):  # removed meanwhile by another run
            files.append((path.stat().st_mtime, path))
    for _, path in sorted(files, reverse=True)[CACHE_KEEP:]:
        with contextlib.suppress(OSError):
            path.unlink()


def resolve_rules_dir(option: str | os.PathLike[str] | None) -> Path:
    """The rules directory: ``--rules``, else ``MEDINS_RULES``, else the shipped rules."""
    chosen = option or os.environ.get("MEDINS_RULES") or None
    if chosen is None:
        return shipped_rules_dir()
    path = Path(chosen)
    if path.is_file():
        raise RuleError(
            t("规则目录应为文件夹，这是一个文件", "the rules directory is a file, not a folder"),
            str(path),
            t(
                "请用 --rules 或 MEDINS_RULES 指向含地区文件夹的目录",
                "point --rules or MEDINS_RULES at a folder of region folders",
            ),
        )
    if not path.is_dir():
        raise RuleError(
            t("规则目录不存在", "rules directory does not exist"),
            str(path),
            t(
                "请用 --rules 或 MEDINS_RULES 指向含地区文件夹的目录",
                "point --rules or MEDINS_RULES at a folder of region folders",
            ),
        )
    return path


MAX_DEPTH = 32
"""How deeply tables and lists may nest in a rule, case or data file (real files nest under 10)."""


def _too_deep(data: Any, limit: int = MAX_DEPTH) -> str | None:
    """The key path of the first value nested deeper than ``limit``, or None; iterative, no recursion.

    Only containers are visited (a drug list's 4,750 records of scalars cost a few milliseconds); the
    key path is built only for the container found too deep.
    """
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return key_path(_path_to(data, value)) or "(top)"
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((v, depth + 1) for v in items if isinstance(v, (dict, list)))
    return None


def _path_to(data: Any, target: Any) -> tuple[str | int, ...]:
    """The keys from ``data`` down to the container ``target`` (found by identity), iteratively."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, loc = stack.pop()
        if value is target:
            return loc
        if isinstance(value, dict):
            stack.extend((v, (*loc, str(k))) for k, v in value.items() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, (*loc, i)) for i, v in enumerate(value) if isinstance(v, (dict, list)))
    return ()


def _nested_error(path: Path, cls: type[MedinsError], at: str | None) -> MedinsError:
    where = f"{path}: {at}" if at else str(path)
    return cls(
        t(f"嵌套过深（超过 {MAX_DEPTH} 层）", f"nested too deeply (more than {MAX_DEPTH} levels)"),
        where,
        t("检查括号是否成对，或文件是否选错", "check the brackets pair up, or that this is the right file"),
    )


def read_text(path: Path, cls: type[MedinsError] = RuleError, what: str = "text") -> str:
    """A file's text as UTF-8 (a BOM allowed); other encodings and unreadable files are errors."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        if path.is_symlink() and not path.exists():
            target = os.readlink(path)
            text = (
                t(f"符号链接循环（指向 {target!r}）", f"symbolic link loop (to {target!r})")
                if exc.errno == errno.ELOOP
                else t(f"符号链接指向不存在的文件 {target!r}", f"symbolic link to a missing file {target!r}")
            )
            raise cls(text, str(path), t("修复或删除该链接", "fix or remove the link")) from None
        detail = exc.strerror or str(exc)
        raise cls(t(f"无法读取文件：{detail}", f"cannot read file: {detail}"), str(path)) from None
    if not raw.strip():
        raise cls(t("文件为空", "the file is empty"), str(path), t(f"应为 {what} 文本", f"expected {what} text"))
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise cls(t("是 UTF-16 编码", "UTF-16 encoded, not UTF-8"), str(path), t("请另存为 UTF-8", "save it as UTF-8"))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        bad = raw[exc.start : exc.start + 4].hex(" ")
        raise cls(
            t(f"不是 UTF-8 编码：第 {line} 行有字节 {bad}", f"not UTF-8: bytes {bad} on line {line}"),
            f"{path}:{line}",
            t("请另存为 UTF-8", "save it as UTF-8"),
        ) from None


def read_toml(path: Path, cls: type[MedinsError] = RuleError) -> dict[str, Any]:
    """Parse a TOML file with exact decimals; a syntax error names file, line and column.

    Refused with ``cls``: an unreadable or empty file, text not in UTF-8, a syntax error, a number
    too long to read, and tables or lists nested more than ``MAX_DEPTH`` deep.
    """
    text = read_text(path, cls, "TOML")
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        where = f"{path}:{m.group(1)}:{m.group(2)}" if m else str(path)
        detail = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg)
        raise cls(
            t(f"TOML 语法错误：{detail}", f"invalid TOML: {detail}"),
            where,
            t("检查该行的引号、括号和等号", "check the quotes, brackets and = on that line"),
        ) from None
    except RecursionError:
        raise _nested_error(path, cls, None) from None
    except ValueError:  # an integer of more than 4300 digits
        raise _long_number(path, cls) from None
    deep = _too_deep(data)
    if deep is not None:
        raise _nested_error(path, cls, deep)
    return data


def _long_number(path: Path, cls: type[MedinsError]) -> MedinsError:
    return cls(
        t("数值过长（超过 4300 位），无法读取", "a number too long to read (more than 4300 digits)"),
        str(path),
        t("检查数值是否误粘贴", "check the number was not pasted in by mistake"),
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(path: Path, cls: type[MedinsError] = RuleError) -> Any:
    """Parse a JSON file with exact decimals (``parse_float=Decimal``); every fault is one ``cls`` error.

    Refused: an unreadable or empty file, UTF-16 or other non-UTF-8 text, a syntax error (with line
    and column), ``NaN``/``Infinity``, a number too long to read, and values nested more than
    ``MAX_DEPTH`` deep. The shape of the value is the caller's to check.
    """
    text = read_text(path, cls, "JSON")
    try:
        data = json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise cls(
            t(f"JSON 语法错误：{exc.msg}", f"invalid JSON: {exc.msg}"),
            f"{path}:{exc.lineno}:{exc.colno}",
            t("检查该处的引号、括号和逗号", "check the quotes, brackets and commas there"),
        ) from None
    except RecursionError:
        raise _nested_error(path, cls, None) from None
    except ValueError as exc:
        if "is not a number JSON allows" in str(exc):
            raise cls(t(f"不是有效数值：{exc}", f"not a valid number: {exc}"), str(path)) from None
        raise _long_number(path, cls) from None
    deep = _too_deep(data)
    if deep is not None:
        raise _nested_error(path, cls, deep)
    return data


# ------------------------------------------------------------------ validation errors


def key_path(loc: Iterable[str | int]) -> str:
    """``('resident','inpatient',0,'bands',2,'ratio')`` -> ``resident.inpatient[0].bands[2].ratio``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _model_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class that owns the last key of ``loc`` (to suggest the nearest valid key)."""
    current: Any = model
    for part in loc:
        current = _unwrap_model(current)
        if current is None:
            return None
        if isinstance(part, int):
            continue
        fields = {(f.alias or name): f for name, f in current.model_fields.items()}
        if part in fields:  # else a dict key (a category name): stay on the dict's value model
            current = fields[part].annotation
    return _unwrap_model(current)


def _unwrap_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _unwrap_model(arg)
            if found is not None:
                return found
    if origin is dict:
        return _unwrap_model(typing.get_args(annotation)[1])
    return None


_MESSAGES: dict[str, tuple[str, str]] = {
    "missing": ("缺少必填项", "required key missing"),
    "decimal_parsing": ("应为数字", "should be a number"),
    "decimal_type": ("应为数字", "should be a number"),
    "not_finite": ("nan 和 inf 不是有效金额或比例", "nan and inf are not valid amounts or ratios"),
    "greater_than_equal": ("不能小于 {ge}", "must be at least {ge}"),
    "less_than_equal": ("不能大于 {le}", "must be at most {le}"),
    "greater_than": ("必须大于 {gt}", "must be greater than {gt}"),
    "date_from_datetime_parsing": ("应为日期 YYYY-MM-DD", "should be a date YYYY-MM-DD"),
    "date_parsing": ("应为日期 YYYY-MM-DD", "should be a date YYYY-MM-DD"),
    "date_type": ("应为日期 YYYY-MM-DD", "should be a date YYYY-MM-DD"),
    "string_type": ("应为文本", "should be text"),
    "int_type": ("应为整数", "should be a whole number"),
    "int_parsing": ("应为整数", "should be a whole number"),
    "int_from_float": ("应为整数", "should be a whole number"),
    "float_type": ("应为数字", "should be a number"),
    "float_parsing": ("应为数字", "should be a number"),
    "bool_type": ("应为 true 或 false", "should be true or false"),
    "bool_parsing": ("应为 true 或 false", "should be true or false"),
    "string_too_short": ("不能为空", "must not be empty"),
    "too_long": ("最多 {max_length} 项", "at most {max_length} entries"),
    "list_type": ("应为列表", "should be a list"),
    "dict_type": ("应为表", "should be a table"),
    "model_type": ("应为表", "should be a table"),
    "too_short": ("至少需要 {min_length} 项", "needs at least {min_length} entries"),
    "string_pattern_mismatch": ("格式不对（应匹配 {pattern}）", "wrong format (should match {pattern})"),
}


# Errors our own validators raise: (key to append to the path, zh, en, fix zh, fix en).
_CUSTOM: dict[str, tuple[str, str, str, str, str]] = {
    "end_before_start": (
        "end",
        "结束日 {end} 早于开始日 {start}",
        "end {end} is before start {start}",
        "请检查备案起止日期",
        "check the filing's dates",
    ),
    "until_before_effective": (
        "until",
        "until {until} 早于 effective {effective}",
        "until {until} is before effective {effective}",
        "请检查生效期间",
        "check the effective period",
    ),
    "discharge_before_admission": (
        "discharged",
        "出院日 {discharged} 早于入院日 {admitted}",
        "discharged {discharged} is before admitted {admitted}",
        "请检查就诊日期",
        "check the visit dates",
    ),
    "date_missing": (
        "",
        "缺少就诊日期",
        "no service date",
        "住院填 admitted，门诊填 date",
        "give admitted (inpatient) or date",
    ),
    "level_missing": (
        "hospital_level",
        "缺少医院等级",
        "no hospital level",
        "填写 hospital_level（1、2、3）或 hospital 机构编码",
        "give hospital_level (1, 2, 3) or the hospital code",
    ),
    "disease_missing": (
        "disease",
        "门诊慢特病就诊需要病种",
        "a chronic_outpatient visit needs its disease",
        "填写 disease，如 hypertension",
        "give disease, e.g. hypertension",
    ),
    "item_unnamed": ("", "费用明细缺少项目", "a bill line names no item", "填写 code 或 name", "give code or name"),
    "item_unpriced": (
        "",
        "费用明细缺少金额",
        "a bill line has no price",
        "填写 unit_price 或 amount",
        "give unit_price or amount",
    ),
    "amount_mismatch": (
        "amount",
        "金额 {amount} 与 数量×单价 = {product} 不符（相差超过0.01）",
        "amount {amount} differs from quantity × unit_price = {product} by more than 0.01",
        "",
        "",
    ),
    "summary_parts": (
        "",
        "汇总金额的组成部分超过总额",
        "the summary's parts exceed its total",
        "检查 total、fully_self_paid、over_ceiling、class_b",
        "check total, fully_self_paid, over_ceiling, class_b",
    ),
    "bill_twice": (
        "",
        "同时给出了 [[items]] 和 [summary]",
        "both [[items]] and [summary] given",
        "只保留其一",
        "keep one of them",
    ),
    "bill_missing": (
        "",
        "没有费用：缺少 [[items]] 明细或 [summary] 汇总",
        "no bill: neither [[items]] nor [summary]",
        "添加费用明细或汇总",
        "add the bill lines or its summary",
    ),
    "source_incomplete": (
        "",
        "{confidence} 来源缺少 {missing}",
        "a source marked {confidence} needs {missing}",
        "",
        "",
    ),
    "adjustment_value": (
        "value",
        "调整方式 {mode} 与取值 {value} 不符",
        "the adjustment's value {value} does not fit its mode {mode}",
        "none 不填 value；其他方式 value 大于 0",
        "mode none takes no value; other modes need a value above 0",
    ),
    "later_deductible_removed": (
        "later_deductible",
        "later_deductible = {later} 已不再读取：起付线按年度住院次数写成序列",
        "later_deductible = {later} is no longer read: the deductible is a sequence by admission of the year",
        "写成 deductible = [{first}, {later}]（首次住院的起付线，再是第 2 次及以后的）",
        "write deductible = [{first}, {later}] (the 1st admission's deductible, then the 2nd and later's)",
    ),
    "edition_name": (
        "",
        "{value} 不是药品目录版本名（不能含 /、\\ 或 ..）",
        "{value} is not a drug-list edition name (no /, \\ or ..)",
        "写 drug-lists/ 中文件的名称，不带 .json，如 nrdl-2024",
        "give the name of a file in drug-lists/ without .json, e.g. nrdl-2024",
    ),
    "rule_amount_places": (
        "",
        "{value} 的小数超过两位",
        "{value} has more than 2 decimals",
        "金额精确到分，如 1000 或 1000.50",
        "amounts are to the fen, e.g. 1000 or 1000.50",
    ),
    "income_reference_missing": (
        "income_reference",
        "{categories} 按收入比例计算起付线（deductible_share），但没有 income_reference",
        "deductible_share of {categories} needs the section's income_reference",
        "填写 income_reference（上年居民人均可支配收入），或改用 deductible",
        "give income_reference (last year's per-capita disposable income), or use deductible",
    ),
    "date_with_time": (
        "",
        "{value} 带有时刻",
        "{value} has a time of day",
        "只写日期，如 {day}",
        "write the date only, e.g. {day}",
    ),
    "date_digits": (
        "",
        "{value} 是数字，不是日期",
        "{value} is a number, not a date",
        "写成 {day}",
        "write it as {day}",
    ),
    "date_number": (
        "",
        "{value} 是数字，不是日期",
        "{value} is a number, not a date",
        "写成 YYYY-MM-DD，如 2025-01-01",
        "write YYYY-MM-DD, e.g. 2025-01-01",
    ),
    "source_url": (
        "",
        "{value} 不是网址",
        "{value} is not a web address",
        "写出处的完整网址，如 https://www.nhsa.gov.cn/…",
        "give the full address of the text, e.g. https://www.nhsa.gov.cn/…",
    ),
    "date_text": ("", "{value} 不是日期 YYYY-MM-DD", "{value} is not a date YYYY-MM-DD", "", ""),
    "date_invalid": ("", "{value} 不是日历上的日期", "{value} is not a day of the calendar", "", ""),
    "deductible_twice": (
        "",
        "同时给出了 deductible 和 deductible_share",
        "give deductible or deductible_share, not both",
        "",
        "",
    ),
    "stage_deductible_twice": (
        "",
        "同时给出了 deductible = {deductible} 和 deductible_share = {deductible_share}",
        "deductible = {deductible} and deductible_share = {deductible_share} both given",
        "每段救助只写其一：固定金额 deductible，或收入比例 deductible_share",
        "give a stage one of them: a fixed deductible, or deductible_share of the income reference",
    ),
    "stage_ratio_and_bands": (
        "",
        "同时给出了 ratio = {ratio} 和 bands",
        "ratio = {ratio} and bands both given",
        "每段救助写一个比例 ratio，或分段比例 bands",
        "give a stage one ratio, or bands",
    ),
    "stage_ratio_missing": (
        "",
        "救助段 {stage} 没有 ratio 或 bands",
        "the stage {stage} has neither ratio nor bands",
        "写出该段的比例 ratio，或分段比例 bands",
        "give the stage's ratio, or its bands",
    ),
    "assistance_forms_mixed": (
        "",
        "{key} = {value} 属于单段写法，不能与 stages 同时给出",
        "{key} = {value} belongs to the one-stage form and cannot be given with stages",
        "把 {key} 写入相应的救助段",
        "move {key} into the stage it belongs to",
    ),
}


class _Blank(dict[str, str]):
    """Format values where a message's field the error did not give stays empty."""

    def __missing__(self, key: str) -> str:
        return ""


def _shown(value: Any, limit: int = 40) -> str:
    """A value as a message quotes it: text in quotes, numbers and dates as written, long values cut."""
    if isinstance(value, bool):
        shown = "true" if value else "false"
    elif isinstance(value, Decimal) and not value.is_finite():
        shown = {"NaN": "nan", "sNaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}.get(str(value), str(value))
    elif isinstance(value, (Decimal, int, date)):
        shown = str(value)
    elif isinstance(value, str):
        shown = repr(value)
    else:
        try:
            shown = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            shown = f"<{type(value).__name__}>"  # a value nested too deeply to print
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _got(value: Any) -> Text:
    return t(f"（收到 {_shown(value)}）", f" (got {_shown(value)})")


# Names pydantic gives the members of a union (``str | list[str]``) in an error's location.
_UNION_TAGS = re.compile(r"(str|int|float|bool|decimal|date|datetime|none|constrained-[a-z]+|lax-or-strict)")


def _key_loc(loc: tuple[str | int, ...], etype: str, data: Any = None) -> tuple[str | int, ...]:
    """An error's location as keys of the file: the names pydantic adds for union members dropped.

    With the data validated, a part is kept when it is a key (or index) of the value reached so far,
    or the missing key itself; without it, known member names are dropped.
    """
    out: list[str | int] = []
    current, known = data, data is not None
    for k, part in enumerate(loc):
        is_key = isinstance(part, str) and isinstance(current, dict) and part in current
        if not is_key and isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue
        if not known:
            if not (isinstance(part, str) and _UNION_TAGS.fullmatch(part)):
                out.append(part)
            continue
        if (isinstance(part, int) and isinstance(current, list) and 0 <= part < len(current)) or (
            isinstance(part, str) and isinstance(current, dict) and part in current
        ):
            out.append(part)
            current = current[part]
        elif isinstance(part, str) and isinstance(current, dict) and etype == "missing" and k == len(loc) - 1:
            out.append(part)
    return tuple(out)


def validation_error(
    exc: ValidationError,
    model: type[BaseModel],
    where: str,
    cls: type[MedinsError] = RuleError,
    data: Any = None,
) -> MedinsError:
    """The first pydantic error as one bilingual line with the key path, the value quoted and a hint.

    ``data``, the mapping validated, lets the key path leave out the names pydantic gives union
    members (``source.str``).
    """
    errors = exc.errors(include_url=False)
    # an unknown key explains the "missing" error a typo also causes: report it first
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    etype = err["type"]
    loc = _key_loc(tuple(err["loc"]), etype, data)
    if etype == "extra_forbidden" and not loc and err["loc"]:
        loc = (err["loc"][-1],)  # an unknown key whose name looks like a union member's (``date``)
    ctx = {k: v for k, v in (err.get("ctx") or {}).items()}
    fix: Text | None = None
    if etype == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        names = sorted((f.alias or n) for n, f in owner.model_fields.items()) if owner else []
        close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.5)
        text = t(f"未知的键 {_shown(loc[-1])}", f"unknown key {_shown(loc[-1])}")
        if close:
            fix = t(f"是否应为 “{close[0]}”？", f"did you mean '{close[0]}'?")
        elif names:
            fix = t("可用的键：" + ", ".join(names), "valid keys: " + ", ".join(names))
    elif etype in ("literal_error", "enum"):
        expected = ctx.get("expected", "")
        shown = _shown(err.get("input"))
        text = t(f"取值 {shown} 无效", f"invalid value {shown}")
        fix = t(f"可选：{expected.replace(' or ', ', ')}", f"expected one of {expected}")
    elif etype in _CUSTOM:
        suffix, zh, en, fix_zh, fix_en = _CUSTOM[etype]
        safe = _Blank({k: str(v) for k, v in ctx.items()})
        text = t(zh.format_map(safe), en.format_map(safe))
        fix = t(fix_zh.format_map(safe), fix_en.format_map(safe)) if fix_zh else None
        if suffix:
            loc = (*loc, suffix)
    elif etype == "string_pattern_mismatch" and ctx.get("pattern") == r"^\d{6}$":
        text = t("地区代码应为6位数字", "a region code has 6 digits") + _got(err.get("input"))
        fix = t("例如 110000 北京市、130100 石家庄市", "e.g. 110000 Beijing, 130100 Shijiazhuang")
    elif etype in _MESSAGES:
        zh, en = _MESSAGES[etype]
        safe = _Blank({k: _shown(v) for k, v in ctx.items()})
        text = t(zh.format_map(safe), en.format_map(safe))
        if etype != "missing":
            text = text + _got(err.get("input"))
        if etype == "less_than_equal" and ctx.get("le") == 1:
            fix = t("比例写成 0 到 1 之间的小数，如 0.85", "write ratios as 0-1, e.g. 0.85")
        elif etype == "less_than_equal" and ctx.get("le") == int(MAX_AMOUNT):
            fix = t(f"金额以元为单位，不超过 {MAX_AMOUNT:,} 元", f"amounts are in yuan, at most {MAX_AMOUNT:,}")
    else:
        # an error type without a message of ours: pydantic's English text, the value quoted
        msg = err["msg"].removeprefix("Value error, ")
        text = t(msg, msg) + _got(err.get("input"))
    path = key_path(loc)
    full_where = f"{where}: {path}" if path else where
    return cls(text, full_where, fix)


def parse_model(
    data: dict[str, Any],
    model: type[M],
    where: str,
    cls: type[MedinsError] = RuleError,
    context: dict[str, Any] | None = None,
) -> M:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise validation_error(exc, model, where, cls, data) from None


# ------------------------------------------------------------------ dated choice


def in_force(sections: list[D], on: date, what: str, where: str) -> D:
    """The section version in force on a date; an error when none is."""
    for section in sections:
        if section.in_force(on):
            return section
    periods = ", ".join(f"{s.effective}–{s.until or '…'}" for s in sections) or "-"
    raise RuleError(
        t(
            f"{on} 没有生效的 {what} 规则（生效期间：{periods}）",
            f"no {what} rules in force on {on} (effective periods: {periods})",
        ),
        where,
        t(
            "请用 --as-of 选择生效期内的日期，或补充规则",
            "use --as-of with a date in an effective period, or add the rules",
        ),
    )


# ------------------------------------------------------------------ the rule set


@dataclass
class RegionPack:
    """The files of one region folder, each resolved with what it extends.

    ``base`` holds the standards of a province pack that is not an insured place of its own (other
    packs extend it and it does not say ``insured_place = true``): ``standards`` is then None, so no
    bill settles with it. ``origins`` says, by kind, which file each section was read from.
    """

    code: str
    folder: Path
    catalogue: Catalogue | None = None
    standards: Standards | None = None
    base: Standards | None = None
    origins: dict[str, Resolved] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return (self.standards or self.base or self.catalogue).name  # type: ignore[union-attr]

    @property
    def standards_file(self) -> Standards | None:
        """The standards as written, whether or not the region is an insured place."""
        return self.standards or self.base


@dataclass
class DrugIndex:
    """The drugs of a list by code and by name."""

    drug_list: DrugList
    by_code: dict[str, Drug] = field(default_factory=dict)
    by_name: dict[str, list[Drug]] = field(default_factory=dict)

    @classmethod
    def build(cls, drug_list: DrugList) -> DrugIndex:
        index = cls(drug_list)
        for drug in drug_list.drugs:
            index.by_code[drug.code] = drug
            index.by_name.setdefault(drug.name, []).append(drug)
        return index


@dataclass
class RuleSet:
    """All packs of a rules directory, loaded and validated; drug lists load on first use."""

    root: Path
    packs: dict[str, RegionPack]
    _drug_lists: dict[str, DrugIndex] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)  # the engine's indexes of these rules

    def extended_by(self, code: str) -> list[str]:
        """The codes of the packs whose standards extend ``code``'s."""
        return sorted(c for c, p in self.packs.items() if p.standards_file and p.standards_file.extends == code)

    def pack(self, code: str, role: str, where: str) -> RegionPack:
        pack = self.packs.get(code)
        has = pack is not None and (pack.standards if role == "standards" else pack.catalogue) is not None
        if not has and role == "standards" and pack is not None and pack.base is not None:
            cities = self.extended_by(code)
            named = "、".join(f"{c} {self.packs[c].name}" for c in cities)
            raise CaseError(
                t(
                    f"{code} {pack.name} 是省级规则包" + (f"，供 {named} 继承" if cities else "") + "，不是参保地",
                    f"{code} {pack.name} is a province pack"
                    + (f" that {named} extend" if cities else "")
                    + ", not an insured place",
                ),
                where,
                t(
                    "填写参保的统筹地区" + (f"（如 {cities[0]}）" if cities else "") + "；若省本级自成统筹地区，"
                    f"在 {code}/{STANDARDS_FILE} 写 insured_place = true 并写全其待遇",
                    "give the pooling region the person is insured in"
                    + (f" (e.g. {cities[0]})" if cities else "")
                    + f"; if the province level pools on its own, write insured_place = true in {code}/{STANDARDS_FILE} "
                    "with its full standards",
                ),
            )
        if not has:
            available = ", ".join(
                f"{c} {p.name}"
                for c, p in sorted(self.packs.items())
                if (p.standards if role == "standards" else p.catalogue) is not None
            )
            what = (
                t("参保地待遇标准", "insured-place standards")
                if role == "standards"
                else t("就医地目录", "treatment-place catalogue")
            )
            raise CaseError(
                t(f"地区 {code} 没有", f"region {code} has no ") + what,
                where,
                t(f"可用：{available}", f"available: {available}"),
            )
        return pack  # type: ignore[return-value]

    def standards(self, code: str, where: str = "") -> Standards:
        return self.pack(code, "standards", where).standards  # type: ignore[return-value]

    def catalogue(self, code: str, where: str = "") -> Catalogue:
        return self.pack(code, "catalogue", where).catalogue  # type: ignore[return-value]

    def drugs(self, edition: str) -> DrugIndex:
        """A drug list, validated once: later runs read it back from the cache (:func:`cached`)."""
        if edition not in self._drug_lists:
            import hashlib

            path = self.root / DRUG_LIST_DIR / f"{edition}.json"

            def build() -> DrugIndex:
                return DrugIndex.build(load_drug_list(path))

            try:
                digest = hashlib.sha256(path.read_bytes())
            except OSError:  # missing or unreadable: load_drug_list says so
                self._drug_lists[edition] = build()
            else:
                self._drug_lists[edition] = cached("drugs", digest, build, lambda d: isinstance(d, DrugIndex))
        return self._drug_lists[edition]

    @cached_property
    def institutions(self) -> dict[str, tuple[str, Any]]:
        found: dict[str, tuple[str, Any]] = {}
        for code, pack in self.packs.items():
            for inst in (pack.catalogue.institutions or []) if pack.catalogue else []:
                found[inst.code] = (code, inst)
        return found


def load_drug_list(path: Path) -> DrugList:
    """Read a converted drug list; any fault is a RuleError naming the file and the key path."""
    if not (path.exists() or path.is_symlink()):
        raise RuleError(
            t("找不到药品目录文件", "drug list file not found"),
            str(path),
            t("用 medins rules import-nrdl 生成", "create it with medins rules import-nrdl"),
        )
    return parse_model(read_json(path), DrugList, str(path))


def _kind_model(data: dict[str, Any], path: Path) -> type[Catalogue] | type[Standards]:
    kind = data.get("kind")
    if kind == "catalogue":
        return Catalogue
    if kind == "standards":
        return Standards
    raise RuleError(
        t(f"kind 取值 {kind!r} 无效", f"kind is {kind!r}"),
        f"{path}: kind",
        t(
            '应为 "catalogue"（就医地目录）或 "standards"（参保地待遇）',
            'should be "catalogue" (treatment place) or "standards" (insured place)',
        ),
    )


Reader = Callable[[Path], dict[str, Any]]


def _memo(read: Reader) -> Reader:
    """A reader that parses each file once (one load reads a parent for each of its cities)."""
    seen: dict[Path, dict[str, Any]] = {}

    def once(path: Path) -> dict[str, Any]:
        key = path.absolute()  # not resolve(): a looping link is reported when it is read
        if key not in seen:
            seen[key] = read(path)
        return seen[key]

    return once


def is_base(path: Path, read: Reader = read_toml) -> bool:
    """Whether a standards file is a province pack and not an insured place: it says
    ``insured_place = false``, or a file of the same name in another region folder extends it and it
    does not say ``insured_place = true``. Such a pack may leave out required sections."""
    data = read(path)
    if data.get("kind") != "standards" or data.get("insured_place") is True:
        return False
    if data.get("insured_place") is False:
        return True
    folder = path.parent
    siblings = [f / path.name for f in region_folders(folder.parent) if f != folder and present(f / path.name)]
    return folder.name in extended_codes(siblings, read)


def load_resolved(
    path: Path, partial: bool | None = None, read: Reader = read_toml
) -> tuple[Catalogue | Standards, Resolved]:
    """Load one rule file with the files it ``extends`` (see :mod:`medins.inherit`), deciding its kind
    by its ``kind`` key; an error in an inherited section names the file it was read from.

    ``partial`` (default: :func:`is_base`) lets a province pack leave out required sections.
    """
    model = _kind_model(read(path), path)
    resolved = resolve(path, read)
    if partial is None:
        partial = is_base(path, read)
    try:
        loaded = parse_model(resolved.data, model, str(path), context={PARTIAL: partial})
    except RuleError as exc:
        raise in_file(exc, resolved) from None
    return loaded, resolved


def load_rule_file(path: Path) -> Catalogue | Standards:
    """Load one rule file, resolved with what it extends, deciding its kind by its ``kind`` key."""
    return load_resolved(path)[0]


def is_region_code(name: str) -> bool:
    """Whether a folder name is a 6-digit region code (the folders medins reads rule files from)."""
    return re.fullmatch(r"\d{6}", name) is not None


def present(path: Path) -> bool:
    """Whether a path is there, counting a broken symbolic link (reading it then says why it fails)."""
    return path.exists() or path.is_symlink()


def region_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and is_region_code(p.name))


def no_rule_files(where: Path, text: Text | None = None) -> RuleError:
    """Nothing medins reads was found at ``where``: the error says which files it reads."""
    return RuleError(
        text or t("规则目录中没有规则文件", "no rule files in this rules directory"),
        str(where),
        t(
            f"medins 读取 <地区代码>/{CATALOGUE_FILE}、<地区代码>/{STANDARDS_FILE} 和 {DRUG_LIST_DIR}/*.json，"
            "如 130100/standards.toml",
            f"medins reads <region code>/{CATALOGUE_FILE}, <region code>/{STANDARDS_FILE} and "
            f"{DRUG_LIST_DIR}/*.json, e.g. 130100/standards.toml",
        ),
    )


def _refuse_semantic_errors(
    loaded: Catalogue | Standards, path: Path, root: Path, resolved: Resolved | None = None
) -> None:
    """The first error ``rules validate`` finds in a file stops the load: rules that validation
    refuses (bands out of order, a filing category without its rule …) never settle a bill."""
    from medins.validate import check_catalogue, check_standards

    found = check_standards(loaded) if isinstance(loaded, Standards) else check_catalogue(loaded, root)
    for level, code, key_path_, text in found:
        if level == "error":
            error = RuleError(
                text + t(f" [{code}]", f" [{code}]"),
                f"{path}: {key_path_}" if key_path_ else str(path),
                t(
                    f"用 medins rules validate {path} 查看全部问题",
                    f"run medins rules validate {path} to see every problem",
                ),
            )
            raise in_file(error, resolved) if resolved else error


def load_rules(root: Path) -> RuleSet:
    """Load every region folder of a rules directory, refusing what ``rules validate`` calls an error.

    Refused: a directory with no rule file, rule files in a folder not named by a region code, a
    pack whose region code is unknown or retired, and the first semantic error of a file (warnings
    are left to ``rules validate``).
    """
    packs: dict[str, RegionPack] = {}
    read = _memo(read_toml)
    # every file read and its kind checked first: a broken city file is reported as itself, not as
    # the province pack it no longer visibly extends
    for folder in region_folders(root):
        for name in (CATALOGUE_FILE, STANDARDS_FILE):
            if present(folder / name):
                _kind_model(read(folder / name), folder / name)
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        names = [n for n in (CATALOGUE_FILE, STANDARDS_FILE) if present(folder / n)]
        if not is_region_code(folder.name):
            if names:
                raise RuleError(
                    t(f"文件夹名 {folder.name!r} 不是地区代码", f"folder name {folder.name!r} is not a region code"),
                    str(folder / names[0]),
                    t("文件夹名须为6位地区代码，如 130100", "name the folder by the 6-digit region code, e.g. 130100"),
                )
            continue
        pack = RegionPack(folder.name, folder)
        for name, attr in ((CATALOGUE_FILE, "catalogue"), (STANDARDS_FILE, "standards")):
            path = folder / name
            if name in names:
                base = is_base(path, read)
                loaded, resolved = load_resolved(path, base, read)
                if loaded.kind != attr:
                    raise RuleError(
                        t(f'文件名要求 kind = "{attr}"', f'this file name needs kind = "{attr}"'), f"{path}: kind"
                    )
                if loaded.region != folder.name:
                    raise RuleError(
                        t(
                            f'文件夹 {folder.name} 与 region = "{loaded.region}" 不一致',
                            f'folder {folder.name} disagrees with region = "{loaded.region}"',
                        ),
                        f"{path}: region",
                        t("文件夹名须为该地区代码", "name the folder by the region code"),
                    )
                regions.require(loaded.region, f"{path}: region", RuleError)
                _refuse_semantic_errors(loaded, path, root, resolved)
                setattr(pack, "base" if base else attr, loaded)
                pack.origins[attr] = Resolved({}, resolved.origins, resolved.chain)  # the data is in the model
        if pack.catalogue or pack.standards or pack.base:
            packs[folder.name] = pack
    if not packs:
        raise no_rule_files(root)
    return RuleSet(root, packs)
