"""A case: one bill of one person, with the filing and year-to-date amounts it is settled against.

What a case may not say, each refused with the keys and values at fault:

- an amount below 0, above ``MAX_AMOUNT`` (10^10 yuan) or with more than two decimals (unit prices
  and quantities may have more; a line's amount is quantity × unit price rounded half-up to the fen);
- summary parts that do not fit in the total: fully_self_paid + over_ceiling + class_b, or
  fully_self_paid + over_ceiling + pre_self_pay, above total; pre_self_pay above a given class_b;
- a date that is an integer, a datetime or not a calendar day; discharge before admission; a stay
  longer than ``MAX_STAY_DAYS`` (a longer stay is settled in parts, each its own case);
- a hospital level other than 1, 2 or 3;
- a year-to-date fund payment larger than the year-to-date in-scope amount it was paid on, more
  than ``MAX_ADMISSIONS`` (366) admissions in a year, or year-to-date sums that this bill would
  carry past ``MAX_AMOUNT``.
"""

# No ``from __future__ import annotations`` here: Python evaluates each field's type as it defines
# the class, instead of pydantic evaluating every annotation from its text (a sixth of the time
# the models take to define, paid by every command that reads a case or the rules).

import difflib
import re
import typing
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from medins.codes import AssistanceCategory, Category, Scheme, VisitType
from medins.errors import CaseError, t
from medins.i18n import Text
from medins.money import MAX_AMOUNT, fen, show
from medins.types import Admissions, Amount, Day, Frozen, HospitalLevel, Price, Quantity, RegionCode, Year, shown

MAX_STAY_DAYS = 366
"""The longest stay one case may cover, admission to discharge. Longer stays are settled in parts
(中途结算), and each part is its own case."""


class Person(Frozen):
    id: str | None = None
    insured_region: RegionCode
    scheme: Scheme
    status: str | None = Field(
        None, description="in_service or retired for employees; the region's group for residents."
    )
    assistance: AssistanceCategory | None = None
    chronic_diseases: list[str] = Field(default_factory=list, description="Diseases the insured place approved.")


class Filing(Frozen):
    category: Category
    destination: RegionCode | None = None
    start: Day | None = None
    end: Day | None = None
    filed_on: Day | None = None
    materials: list[str] | None = Field(None, description="Materials on file, by the insured place's ids.")

    @model_validator(mode="after")
    def _end_after_start(self) -> "Filing":
        if self.start and self.end and self.end < self.start:
            raise PydanticCustomError(
                "end_before_start",
                "end {end} is before start {start}",
                {"end": str(self.end), "start": str(self.start)},
            )
        return self


class Visit(Frozen):
    region: RegionCode = Field(description="The treatment place.")
    type: VisitType
    hospital_level: HospitalLevel | None = None
    hospital: str | None = Field(None, description="Designated institution code (H + 11 digits).")
    disease: str | None = None
    admitted: Day | None = None
    discharged: Day | None = None
    date_: Day | None = Field(None, alias="date")

    @model_validator(mode="after")
    def _dates(self) -> "Visit":
        if self.admitted and self.discharged and self.discharged < self.admitted:
            raise PydanticCustomError(
                "discharge_before_admission",
                "discharged {discharged} is before admitted {admitted}",
                {"discharged": str(self.discharged), "admitted": str(self.admitted)},
            )
        if self.admitted and self.discharged and (self.discharged - self.admitted).days > MAX_STAY_DAYS:
            raise PydanticCustomError(
                "stay_too_long",
                "a stay from {admitted} to {discharged} is {days} days",
                {
                    "key": "discharged",
                    "discharged": str(self.discharged),
                    "admitted": str(self.admitted),
                    "days": (self.discharged - self.admitted).days,
                    "max": MAX_STAY_DAYS,
                },
            )
        if self.service_date is None:
            raise PydanticCustomError("date_missing", "give admitted (inpatient) or date")
        if self.hospital_level is None and self.hospital is None:
            raise PydanticCustomError("level_missing", "give hospital_level or hospital")
        if self.type == "chronic_outpatient" and not self.disease:
            raise PydanticCustomError("disease_missing", "a chronic_outpatient visit needs disease")
        return self

    @property
    def service_date(self) -> date | None:
        """The date that chooses rule values: admission for a stay, else the visit date."""
        return self.admitted or self.date_ or self.discharged

    @property
    def settlement_date(self) -> date | None:
        return self.discharged or self.date_ or self.admitted


class Item(Frozen):
    """A bill line, naming the item by code or by name (with dosage form and specification)."""

    code: str | None = None
    name: str | None = None
    dosage_form: str | None = None
    spec: str | None = None
    kind: str | None = Field(None, description="drug, service or consumable; inferred when omitted.")
    quantity: Quantity = Decimal(1)
    unit_price: Price | None = None
    amount: Amount | None = None
    restriction_met: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "Item":
        if not self.code and not self.name:
            raise PydanticCustomError("item_unnamed", "give code or name")
        if self.unit_price is None and self.amount is None:
            raise PydanticCustomError("item_unpriced", "give unit_price or amount")
        if self.unit_price is not None and self.quantity * self.unit_price > MAX_AMOUNT:
            raise PydanticCustomError(
                "line_too_large",
                "quantity {quantity} × unit_price {unit_price} is above the ceiling",
                {"quantity": str(self.quantity), "unit_price": str(self.unit_price), "max": f"{MAX_AMOUNT:,}"},
            )
        if self.unit_price is not None and self.amount is not None:
            product = self.quantity * self.unit_price
            if abs(product - self.amount) > Decimal("0.01"):
                raise PydanticCustomError(
                    "amount_mismatch",
                    "amount {amount} differs from quantity × unit_price = {product}",
                    {"amount": str(self.amount), "product": str(fen(product))},
                )
        return self

    @property
    def line_amount(self) -> Decimal:
        return fen(self.amount if self.amount is not None else self.quantity * self.unit_price)  # type: ignore[operator]

    @property
    def label(self) -> str:
        return self.name or self.code or "?"


class Summary(Frozen):
    """The bill's totals, when the lines are not known."""

    total: Amount
    fully_self_paid: Amount = Decimal(0)
    over_ceiling: Amount = Decimal(0)
    class_b: Amount = Field(Decimal(0), description="Amount of class-B lines (after any over-ceiling part).")
    pre_self_pay: Amount | None = Field(None, description="Class-B pre-self-pay, when known exactly.")

    @model_validator(mode="after")
    def _parts(self) -> "Summary":
        fixed = self.fully_self_paid + self.over_ceiling
        if fixed + self.class_b > self.total:
            raise PydanticCustomError(
                "summary_parts_exceed",
                "parts exceed total",
                {
                    "key": "class_b",
                    "parts": f"fully_self_paid {self.fully_self_paid} + over_ceiling {self.over_ceiling}"
                    f" + class_b {self.class_b}",
                    "sum": show(fixed + self.class_b),
                    "total": str(self.total),
                },
            )
        if self.pre_self_pay is None:
            return self
        if fixed + self.pre_self_pay > self.total:
            raise PydanticCustomError(
                "summary_parts_exceed",
                "parts exceed total",
                {
                    "key": "pre_self_pay",
                    "parts": f"fully_self_paid {self.fully_self_paid} + over_ceiling {self.over_ceiling}"
                    f" + pre_self_pay {self.pre_self_pay}",
                    "sum": show(fixed + self.pre_self_pay),
                    "total": str(self.total),
                },
            )
        # pre-self-pay is a share of the class-B lines: with class_b given (even 0) it cannot be more
        if "class_b" in self.model_fields_set and self.pre_self_pay > self.class_b:
            raise PydanticCustomError(
                "pre_self_pay_exceeds_class_b",
                "pre_self_pay exceeds class_b",
                {"key": "pre_self_pay", "pre_self_pay": str(self.pre_self_pay), "class_b": str(self.class_b)},
            )
        return self


class Accum(Frozen):
    """Year-to-date amounts of one benefit."""

    in_scope: Amount = Decimal(0)
    deductible: Amount = Decimal(0)
    fund: Amount = Decimal(0)
    above_cap: Amount = Decimal(0)

    @model_validator(mode="after")
    def _fund_within_scope(self) -> "Accum":
        if self.fund > self.in_scope:
            raise PydanticCustomError(
                "ytd_fund_exceeds",
                "fund exceeds in_scope",
                {"key": "fund", "fund": str(self.fund), "in_scope": str(self.in_scope)},
            )
        return self


class YearToDate(Frozen):
    """What the person already used this year at the insured place."""

    year: Year | None = None
    admissions: Admissions = 0
    inpatient: Accum = Field(default_factory=Accum)
    outpatient: Accum = Field(default_factory=Accum)
    chronic: dict[str, Accum] = Field(default_factory=dict)
    tier2_base: Amount = Decimal(0)
    tier2_fund: Amount = Decimal(0)
    assistance_base: Amount = Decimal(0)
    assistance_fund: Amount = Decimal(0)
    # stages after the first, for categories paid in stages; left out of the JSON when empty
    assistance_stage_base: list[Amount] = Field(
        default_factory=list,
        max_length=10,
        exclude_if=lambda v: not v,
        description="The year's cumulative base of each assistance stage after the first "
        "(the first stage's is assistance_base).",
    )
    assistance_stage_fund: list[Amount] = Field(
        default_factory=list,
        max_length=10,
        exclude_if=lambda v: not v,
        description="What each assistance stage after the first paid this year (assistance_fund is all stages).",
    )

    def benefit(self, visit_type: str, disease: str | None) -> Accum:
        if visit_type == "chronic_outpatient":
            return self.chronic.get(disease or "", Accum())
        return self.inpatient if visit_type == "inpatient" else self.outpatient


class Case(Frozen):
    """One bill to settle."""

    person: Person
    filing: Filing | None = None
    visit: Visit
    items: list[Item] | None = None
    summary: Summary | None = None
    ytd: YearToDate = Field(default_factory=YearToDate)

    @model_validator(mode="after")
    def _one_bill(self) -> "Case":
        if self.items is not None and self.summary is not None:
            raise PydanticCustomError("bill_twice", "give [[items]] or [summary], not both")
        if not self.items and self.summary is None:
            raise PydanticCustomError("bill_missing", "give the bill as [[items]] lines or a [summary]")
        if self.items:
            total = sum((item.line_amount for item in self.items), Decimal(0))
            if total > MAX_AMOUNT:
                raise PydanticCustomError(
                    "bill_too_large",
                    "the lines add up to {total}",
                    {"key": "items", "total": show(total), "max": f"{MAX_AMOUNT:,}"},
                )
        return self


# ----------------------------------------------------------------------------- messages

# Refusals of the case model: type -> (zh, en, fix zh, fix en); placeholders come from the error's
# context ("value" is the offending value as written). A "key" in the context is appended to the path.
MESSAGES: dict[str, tuple[str, str, str, str]] = {
    "string_type": ("应为文本（收到 {input}）", "should be text (got {input})", "", ""),
    "list_type": ("应为列表（收到 {input}）", "should be a list (got {input})", "", ""),
    "dict_type": ("应为表（收到 {input}）", "should be a table (got {input})", "", ""),
    "model_type": ("应为表（收到 {input}）", "should be a table (got {input})", "", ""),
    "bool_type": ("应为 true 或 false（收到 {input}）", "should be true or false (got {input})", "", ""),
    "bool_parsing": ("应为 true 或 false（收到 {input}）", "should be true or false (got {input})", "", ""),
    "decimal_parsing": (
        "{input} 不是金额",
        "{input} is not an amount",
        "只写数字和小数点，千位分隔符只能按三位一组（1,234.50）",
        "write digits and a decimal point; a thousands separator only between groups of three (1,234.50)",
    ),
    "decimal_type": (
        "{input} 不是金额",
        "{input} is not an amount",
        "写成数字，如 1234.50",
        "write a number, e.g. 1234.50",
    ),
    "not_finite": ("{input} 不是金额", "{input} is not an amount", "写成有限的数字", "write a finite number"),
    "amount_negative": ("金额 {value} 为负数", "amount {value} is negative", "金额不能小于 0", "amounts are 0 or more"),
    "amount_too_large": (
        "金额 {value} 超过上限 {max} 元",
        "amount {value} is above the ceiling of {max} yuan",
        "检查单位和位数（金额以元计）",
        "check the unit and the digits (amounts are in yuan)",
    ),
    "amount_places": (
        "金额 {value} 的小数超过两位",
        "amount {value} has more than 2 decimals",
        "金额精确到分（两位小数）；单价可以有更多小数",
        "amounts are in yuan to the fen (2 decimals); a unit price may have more",
    ),
    "quantity_text": ("数量 {value} 不是数字", "quantity {value} is not a number", "", ""),
    "quantity_not_positive": ("数量 {value} 应大于 0", "quantity {value} must be more than 0", "", ""),
    "quantity_too_large": ("数量 {value} 超过上限 {max}", "quantity {value} is above the ceiling of {max}", "", ""),
    "line_too_large": (
        "数量 {quantity} × 单价 {unit_price} 超过金额上限 {max} 元",
        "quantity {quantity} × unit_price {unit_price} is above the ceiling of {max} yuan",
        "检查数量和单价",
        "check the quantity and the unit price",
    ),
    "bill_too_large": (
        "费用明细合计 {total} 超过金额上限 {max} 元",
        "the bill's lines add up to {total}, above the ceiling of {max} yuan",
        "检查各行的数量和单价",
        "check the lines' quantities and unit prices",
    ),
    "date_with_time": (
        "{value} 带有时刻，不是日期",
        "{value} has a time of day, not a date",
        "只写日期：{day}",
        "write the date only: {day}",
    ),
    "date_invalid": ("{value} 不是日历上的日期", "{value} is not a day of the calendar", "", ""),
    "date_text": (
        "{value} 不是日期",
        "{value} is not a date",
        "写成 2025-03-10、2025/3/10 或 20250310",
        "write 2025-03-10, 2025/3/10 or 20250310",
    ),
    "date_digits": (
        "{value} 是数字，不是日期",
        "{value} is a number, not a date",
        "写成 {day}（不加引号的 TOML 日期）",
        "write {day} (a TOML date, without quotes)",
    ),
    "date_number": (
        "{value} 是数字，不是日期",
        "{value} is a number (a timestamp?), not a date",
        "写成 YYYY-MM-DD，如 2025-03-10",
        "write YYYY-MM-DD, e.g. 2025-03-10",
    ),
    "date_type": (
        "{value} 不是日期",
        "{value} is not a date",
        "写成 2025-03-10、2025/3/10 或 20250310",
        "write 2025-03-10, 2025/3/10 or 20250310",
    ),
    "stay_too_long": (
        "住院 {admitted} 至 {discharged} 共 {days} 天，超过 {max} 天",
        "a stay from {admitted} to {discharged} is {days} days, more than {max}",
        "检查日期；更长的住院分段结算，每段一个案例",
        "check the dates; a longer stay is settled in parts, each its own case",
    ),
    "level_value": (
        "医院等级 {value} 无效",
        "hospital level {value} is not valid",
        "医院等级为 1、2 或 3（一级、二级、三级）",
        "hospital levels are 1, 2 or 3",
    ),
    "whole_number": ("{value} 不是整数", "{value} is not a whole number", "", ""),
    "whole_number_range": ("{value} 不在 0 到 {max} 之间", "{value} is not between 0 and {max}", "", ""),
    "summary_parts_exceed": (
        "{parts} = {sum}，超过总额 total {total}",
        "{parts} = {sum}, more than total {total}",
        "各部分之和不能超过总额",
        "the parts must fit in the total",
    ),
    "pre_self_pay_exceeds_class_b": (
        "pre_self_pay {pre_self_pay} 超过 class_b {class_b}",
        "pre_self_pay {pre_self_pay} is more than class_b {class_b}",
        "乙类先行自付是乙类金额的一部分",
        "class-B pre-self-pay is a share of the class-B amount",
    ),
    "ytd_fund_exceeds": (
        "年度累计基金支付 fund {fund} 超过累计政策范围内费用 in_scope {in_scope}",
        "year-to-date fund {fund} is more than year-to-date in_scope {in_scope}",
        "基金只支付政策范围内费用的一部分；检查这两个数",
        "the fund pays a share of in-scope expenses; check both amounts",
    ),
}

_QUOTED = re.compile(r"'([^']*)'")
# the kind of value (medins.vocab) a key holds, for "did you mean" among names and for listing names
_KIND_OF_KEY = {"scheme": "scheme", "category": "category", "type": "visit_type", "assistance": "assistance"}


def _path(loc: tuple[Any, ...]) -> str:
    # a case model has no unions, so every part of a location is a key of the file
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _owner(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model whose table is at ``loc`` (to list its keys)."""
    current: Any = Case
    for part in loc:
        if isinstance(part, int):
            continue
        fields = {(f.alias or name): f for name, f in current.model_fields.items()}
        if part not in fields:  # a key of a dict (a disease of ytd.chronic): its values are Accum
            current = Accum
            continue
        annotation = fields[part].annotation
        models = [a for a in (annotation, *typing.get_args(annotation)) if isinstance(a, type)]
        models += [b for a in typing.get_args(annotation) for b in typing.get_args(a) if isinstance(b, type)]
        found = next((m for m in models if issubclass(m, BaseModel)), None)
        if found is None:
            return None
        current = found
    return current


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, Decimal, date))


def case_error(exc: ValidationError, where: str, data: Any = None) -> CaseError:
    """The first problem pydantic found in a case mapping, as one bilingual ``CaseError``.

    The message quotes the offending value, the place is ``where: key.path``; a value that is not
    one of the allowed ones gets the nearest allowed one ("did you mean"). ``data``, the mapping
    validated, keeps keys that share a name with pydantic's union tags (``date``) in the path.
    """
    from medins.loader import validation_error

    errors = exc.errors(include_url=False)
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    etype, ctx, value = err["type"], dict(err.get("ctx") or {}), err.get("input")
    loc = tuple(err["loc"])
    if "key" in ctx:
        loc = (*loc, ctx.pop("key"))
    path = _path(loc)
    place = f"{where}: {path}" if path else where
    if etype in MESSAGES:
        zh, en, fix_zh, fix_en = MESSAGES[etype]
        safe = {k: str(v) for k, v in ctx.items()}
        safe.setdefault("input", shown(value))
        fix = t(fix_zh.format(**safe), fix_en.format(**safe)) if fix_zh else None
        return CaseError(t(zh.format(**safe), en.format(**safe)), place, fix)
    if etype == "extra_forbidden":
        owner = _owner(loc[:-1])
        names = sorted((f.alias or n) for n, f in owner.model_fields.items()) if owner else []
        close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.5)
        fix = (
            t(f"是否应为 “{close[0]}”？", f"did you mean '{close[0]}'?")
            if close
            else t("可用的键：" + ", ".join(names), "valid keys: " + ", ".join(names))
        )
        return CaseError(t(f"未知的键 {shown(loc[-1])}", f"unknown key {shown(loc[-1])}"), place, fix)
    if etype == "literal_error":
        from medins import vocab

        expected = str(ctx.get("expected", ""))
        allowed = _QUOTED.findall(expected)
        kind = _KIND_OF_KEY.get(str(loc[-1])) if loc else None
        close = difflib.get_close_matches(value, allowed, n=1, cutoff=0.6) if isinstance(value, str) else []
        if not close and kind and isinstance(value, str):
            close = [c for c in [vocab.suggest(kind, value, allowed)] if c]
        hint = t(f"是否应为 '{close[0]}'？", f"did you mean '{close[0]}'? ") if close else t("", "")
        zh_allowed = vocab.ids_with_names(kind, "zh", allowed) if kind else expected.replace(" or ", ", ")
        return CaseError(
            t(f"取值 {shown(value)} 无效", f"invalid value {shown(value)}"),
            place,
            hint + t(f"可选：{zh_allowed}", f"expected one of {expected}"),
        )
    error = validation_error(exc, Case, where, CaseError, data)
    quoted = "(got " in error.text.en or shown(value) in error.text.en
    if _scalar(value) and etype not in ("extra_forbidden", "missing") and not quoted:
        got = Text(f"（收到 {shown(value)}）", f" (got {shown(value)})")
        return CaseError(error.text + got, error.where, error.fix)
    return error
