"""Reading rule files: TOML with exact decimals, pydantic validation, errors that name the place.

A rules directory holds one folder per pooling region, named by its 6-digit code, with
``catalogue.toml`` (treatment-place role) and/or ``standards.toml`` (insured-place role), and a
``drug-lists/`` folder with the converted national drug lists.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from medins.errors import CaseError, MedinsError, RuleError, t
from medins.i18n import Text
from medins.rules_model import Catalogue, Drug, DrugList, Standards
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
    packaged = Path(str(resources.files("medins"))) / "_rules"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "rules"


def resolve_rules_dir(option: str | os.PathLike[str] | None) -> Path:
    """The rules directory: ``--rules``, else ``MEDINS_RULES``, else the shipped rules."""
    chosen = option or os.environ.get("MEDINS_RULES") or None
    if chosen is None:
        return shipped_rules_dir()
    path = Path(chosen)
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


def read_toml(path: Path, cls: type[MedinsError] = RuleError) -> dict[str, Any]:
    """Parse a TOML file with exact decimals; a syntax error names file, line and column."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise cls(t("无法读取文件", "cannot read file"), str(path), t(str(exc), str(exc))) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise cls(
            t("不是 UTF-8 编码", "not UTF-8 encoded"), str(path), t("请另存为 UTF-8", "save it as UTF-8")
        ) from None
    try:
        return tomllib.loads(text, parse_float=Decimal)
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
    "less_than_equal": (
        "不能大于 {le}（比例写成 0 到 1 之间的小数，如 0.85）",
        "must be at most {le} (write ratios as 0-1, e.g. 0.85)",
    ),
    "greater_than": ("必须大于 {gt}", "must be greater than {gt}"),
    "date_from_datetime_parsing": ("应为日期 YYYY-MM-DD", "should be a date YYYY-MM-DD"),
    "date_parsing": ("应为日期 YYYY-MM-DD", "should be a date YYYY-MM-DD"),
    "date_type": ("应为日期 YYYY-MM-DD", "should be a date YYYY-MM-DD"),
    "string_type": ("应为文本", "should be text"),
    "int_type": ("应为整数", "should be a whole number"),
    "int_parsing": ("应为整数", "should be a whole number"),
    "bool_type": ("应为 true 或 false", "should be true or false"),
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
    "source_incomplete": ("", "来源信息不完整：{missing}", "a {confidence} source needs {missing}", "", ""),
    "adjustment_value": (
        "value",
        "调整方式与取值不符",
        "the adjustment's value does not fit its mode",
        "none 不填 value；其他方式 value 大于 0",
        "mode none takes no value; other modes need a value above 0",
    ),
    "deductible_twice": (
        "",
        "同时给出了 deductible 和 deductible_share",
        "give deductible or deductible_share, not both",
        "",
        "",
    ),
}


def validation_error(
    exc: ValidationError, model: type[BaseModel], where: str, cls: type[MedinsError] = RuleError
) -> MedinsError:
    """The first pydantic error as one bilingual line with the key path and a hint."""
    errors = exc.errors(include_url=False)
    # an unknown key explains the "missing" error a typo also causes: report it first
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
    etype = err["type"]
    ctx = {k: v for k, v in (err.get("ctx") or {}).items()}
    fix: Text | None = None
    if etype == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        names = sorted((f.alias or n) for n, f in owner.model_fields.items()) if owner else []
        close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.5)
        text = t("未知的键", "unknown key")
        if close:
            fix = t(f"是否应为 “{close[0]}”？", f"did you mean '{close[0]}'?")
        elif names:
            fix = t("可用的键：" + ", ".join(names), "valid keys: " + ", ".join(names))
    elif etype in ("literal_error", "enum"):
        expected = ctx.get("expected", "")
        text = t(f"取值 {err.get('input')!r} 无效", f"invalid value {err.get('input')!r}")
        fix = t(f"可选：{expected.replace(' or ', ', ')}", f"expected one of {expected}")
    elif etype in _CUSTOM:
        suffix, zh, en, fix_zh, fix_en = _CUSTOM[etype]
        safe = {k: str(v) for k, v in ctx.items()}
        text = t(zh.format(**safe), en.format(**safe))
        fix = t(fix_zh, fix_en) if fix_zh else None
        if suffix:
            loc = (*loc, suffix)
    elif etype == "string_pattern_mismatch" and ctx.get("pattern") == r"^\d{6}$":
        text = t(
            f"地区代码应为6位数字（收到 {err.get('input')!r}）",
            f"a region code has 6 digits (got {err.get('input')!r})",
        )
        fix = t("例如 110000 北京市、130100 石家庄市", "e.g. 110000 Beijing, 130100 Shijiazhuang")
    elif etype in _MESSAGES:
        zh, en = _MESSAGES[etype]
        safe = {k: str(v) for k, v in ctx.items()}
        try:
            text = t(zh.format(**safe), en.format(**safe))
        except KeyError:
            text = t(zh, en)
    else:
        msg = err["msg"].removeprefix("Value error, ")
        text = t(msg, msg)
    path = key_path(loc)
    full_where = f"{where}: {path}" if path else where
    return cls(text, full_where, fix)


def parse_model(data: dict[str, Any], model: type[M], where: str, cls: type[MedinsError] = RuleError) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, model, where, cls) from None


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
    """The files of one region folder."""

    code: str
    folder: Path
    catalogue: Catalogue | None = None
    standards: Standards | None = None

    @property
    def name(self) -> str:
        return (self.standards or self.catalogue).name  # type: ignore[union-attr]


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

    def pack(self, code: str, role: str, where: str) -> RegionPack:
        pack = self.packs.get(code)
        has = pack is not None and (pack.standards if role == "standards" else pack.catalogue) is not None
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
        if edition not in self._drug_lists:
            self._drug_lists[edition] = DrugIndex.build(load_drug_list(self.root / DRUG_LIST_DIR / f"{edition}.json"))
        return self._drug_lists[edition]

    @cached_property
    def institutions(self) -> dict[str, tuple[str, Any]]:
        found: dict[str, tuple[str, Any]] = {}
        for code, pack in self.packs.items():
            for inst in (pack.catalogue.institutions or []) if pack.catalogue else []:
                found[inst.code] = (code, inst)
        return found


def load_drug_list(path: Path) -> DrugList:
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError:
        raise RuleError(
            t("找不到药品目录文件", "drug list file not found"),
            str(path),
            t("用 medins rules import-nrdl 生成", "create it with medins rules import-nrdl"),
        ) from None
    except json.JSONDecodeError as exc:
        raise RuleError(
            t(f"JSON 语法错误：{exc.msg}", f"invalid JSON: {exc.msg}"), f"{path}:{exc.lineno}:{exc.colno}"
        ) from None
    return parse_model(data, DrugList, str(path))


def load_rule_file(path: Path) -> Catalogue | Standards:
    """Load one rule file, deciding its kind by its ``kind`` key."""
    data = read_toml(path)
    kind = data.get("kind")
    if kind == "catalogue":
        return parse_model(data, Catalogue, str(path))
    if kind == "standards":
        return parse_model(data, Standards, str(path))
    raise RuleError(
        t(f"kind 取值 {kind!r} 无效", f"kind is {kind!r}"),
        f"{path}: kind",
        t(
            '应为 "catalogue"（就医地目录）或 "standards"（参保地待遇）',
            'should be "catalogue" (treatment place) or "standards" (insured place)',
        ),
    )


def region_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"\d{6}", p.name))


def load_rules(root: Path) -> RuleSet:
    """Load every region folder of a rules directory (without the semantic checks of ``validate``)."""
    packs: dict[str, RegionPack] = {}
    for folder in region_folders(root):
        pack = RegionPack(folder.name, folder)
        for name, attr in ((CATALOGUE_FILE, "catalogue"), (STANDARDS_FILE, "standards")):
            path = folder / name
            if path.exists():
                loaded = load_rule_file(path)
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
                setattr(pack, attr, loaded)
        if pack.catalogue or pack.standards:
            packs[folder.name] = pack
    return RuleSet(root, packs)
