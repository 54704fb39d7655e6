"""Field types shared by rule files and cases: exact money, ratios, region codes, dated sections.

Case fields are read strictly, each refusal quoting the value: an amount is 0 to ``MAX_AMOUNT`` yuan
with at most two decimals (a unit price may have more); a date is a date (``2025-03-10``), never an
integer or a datetime; a hospital level is 1, 2 or 3, never ``true``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from medins.money import FEN, MAX_AMOUNT, MAX_QUANTITY, parse_money


def _decimal(value: Any) -> Decimal:
    if isinstance(value, str):  # first: the common case, text from CSV, flags or JSON
        try:
            if "_" in value:  # Decimal() reads 1_000; an amount never has underscores
                raise InvalidOperation
            result = Decimal(value)  # a plain decimal string
        except InvalidOperation:
            try:
                result = parse_money(value)  # 1,234.50 / ¥12 / 12元
            except ValueError:
                raise PydanticCustomError("decimal_parsing", "Input should be a number") from None
    elif isinstance(value, bool):
        raise PydanticCustomError("decimal_type", "Input should be a number")
    elif isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        # TOML is parsed with parse_float=Decimal; a float here comes from Python callers.
        result = Decimal(repr(value))
    else:
        raise PydanticCustomError("decimal_type", "Input should be a number")
    if not result.is_finite():
        raise PydanticCustomError("not_finite", "nan and inf are not amounts")
    return result


def shown(value: Any) -> str:
    """A value as a message quotes it: text in quotes, numbers and dates as written in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value if len(value) <= 80 else value[:77] + "...")
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, int) and abs(value) >= 10**30:  # too long to quote in full
        return f"{Decimal(value):.6E}"
    if isinstance(value, Decimal) and value.is_finite() and len(text := str(value)) > 40:
        return f"{value:.6E}" if abs(value) >= 1 else text[:37] + "..."
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, list):  # a TOML array or table: named, not printed (it may nest deeply)
        return "[…]" if value else "[]"
    if isinstance(value, dict):
        return "{…}" if value else "{}"
    return type(value).__name__


def _amount_checked(value: Any, places: bool) -> Decimal:
    result = _decimal(value)
    if result < 0:
        raise PydanticCustomError("amount_negative", "{value} is negative: amounts are 0 or more", _ctx(value))
    if result > MAX_AMOUNT:
        raise PydanticCustomError("amount_too_large", "{value} is above the ceiling of {max} yuan", _ctx(value))
    if places and result != result.quantize(FEN):
        raise PydanticCustomError("amount_places", "{value} has more than 2 decimals", _ctx(value))
    return result


def _ctx(value: Any, ceiling: Decimal = MAX_AMOUNT) -> dict[str, str]:
    return {"value": shown(value), "max": f"{ceiling:,}"}


def _amount(value: Any) -> Decimal:
    return _amount_checked(value, places=True)


def _price(value: Any) -> Decimal:
    return _amount_checked(value, places=False)


def _quantity(value: Any) -> Decimal:
    try:
        result = _decimal(value)
    except PydanticCustomError:
        raise PydanticCustomError("quantity_text", "quantity {value} is not a number", _ctx(value)) from None
    if result <= 0:
        raise PydanticCustomError("quantity_not_positive", "quantity {value} must be more than 0", _ctx(value))
    if result > MAX_QUANTITY:
        raise PydanticCustomError("quantity_too_large", "quantity {value} is above {max}", _ctx(value, MAX_QUANTITY))
    return result


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day(value: Any) -> date:
    if type(value) is date:  # the common case: a TOML date or a date from Python
        return value
    ctx = {"value": shown(value)}
    if isinstance(value, datetime):
        ctx["day"] = value.date().isoformat()
        raise PydanticCustomError("date_with_time", "{value} has a time of day: write the date only", ctx)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _ISO_DAY.fullmatch(text):
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise PydanticCustomError("date_invalid", "{value} is not a day of the calendar", ctx) from None
        raise PydanticCustomError("date_text", "{value} is not a date YYYY-MM-DD", ctx)
    if isinstance(value, int) and not isinstance(value, bool):
        digits = str(value)
        if len(digits) == 8:
            try:
                ctx["day"] = date(int(digits[:4]), int(digits[4:6]), int(digits[6:])).isoformat()
            except ValueError:
                pass
            else:
                raise PydanticCustomError("date_digits", "{value} is a number, not a date", ctx)
        raise PydanticCustomError("date_number", "{value} is a number, not a date", ctx)
    raise PydanticCustomError("date_type", "{value} is not a date", ctx)


def _hospital_level(value: Any) -> int:
    if type(value) is int and 1 <= value <= 3:
        return value
    if isinstance(value, str) and value.strip() in ("1", "2", "3"):
        return int(value)
    if isinstance(value, Decimal) and value.is_finite() and value in (1, 2, 3):
        return int(value)
    raise PydanticCustomError("level_value", "{value} is not a hospital level", {"value": shown(value)})


MAX_ADMISSIONS = 366
"""The most admissions a year-to-date record may count: one a day."""


def _whole(value: Any, top: int) -> int:
    if type(value) is int and 0 <= value <= top:
        return value
    ctx = {"value": shown(value), "max": str(top)}
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise PydanticCustomError("whole_number", "{value} is not a whole number", ctx)
    try:
        number = int(value)
    except ValueError:
        raise PydanticCustomError("whole_number", "{value} is not a whole number", ctx) from None
    if not 0 <= number <= top:
        raise PydanticCustomError("whole_number_range", "{value} is not between 0 and {max}", ctx)
    return number


def _year(value: Any) -> int:
    return _whole(value, 9999)


def _admissions(value: Any) -> int:
    return _whole(value, MAX_ADMISSIONS)


Money = Annotated[Decimal, BeforeValidator(_decimal), Field(ge=0)]
"""A non-negative amount in yuan."""

Ratio = Annotated[Decimal, BeforeValidator(_decimal), Field(ge=0, le=1)]
"""A share between 0 and 1 (0.85 means 85 %)."""

Amount = Annotated[
    Decimal, BeforeValidator(_amount), Field(json_schema_extra={"minimum": 0, "maximum": int(MAX_AMOUNT)})
]
"""An amount of a case in yuan: 0 to ``MAX_AMOUNT``, to the fen (at most two decimals)."""

Price = Annotated[Decimal, BeforeValidator(_price), Field(json_schema_extra={"minimum": 0, "maximum": int(MAX_AMOUNT)})]
"""A unit price in yuan: 0 to ``MAX_AMOUNT``, any number of decimals (a line's amount is rounded)."""

Quantity = Annotated[
    Decimal,
    BeforeValidator(_quantity),
    Field(json_schema_extra={"exclusiveMinimum": 0, "maximum": int(MAX_QUANTITY)}),
]
"""A bill line's quantity: more than 0, at most ``MAX_QUANTITY``, any number of decimals."""

Day = Annotated[date, BeforeValidator(_day)]
"""A date of a case: a TOML date or ``YYYY-MM-DD`` text; never an integer or a datetime."""

Year = Annotated[int, BeforeValidator(_year)]
"""A year 0–9999 as a whole number; never ``true``."""

Admissions = Annotated[int, BeforeValidator(_admissions)]
"""A count of admissions in a year, 0 to ``MAX_ADMISSIONS``; never ``true``."""

HospitalLevel = Annotated[int, BeforeValidator(_hospital_level), Field(json_schema_extra={"minimum": 1, "maximum": 3})]
"""A case's hospital level: 1, 2 or 3 (一级, 二级, 三级); ``true`` and 4 are refused."""

RegionCode = Annotated[str, Field(pattern=r"^\d{6}$")]

Level = Annotated[int, Field(ge=1, le=3)]
"""Hospital level: 1, 2 or 3 (一级, 二级, 三级)."""


def check_period(effective: date, until: date | None) -> None:
    """A dated thing's ``until`` may not come before its ``effective``."""
    if until is not None and until < effective:
        raise PydanticCustomError(
            "until_before_effective",
            "until {until} is before effective {effective}",
            {"until": str(until), "effective": str(effective)},
        )


class Frozen(BaseModel):
    """Base of every model: immutable, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)


class Dated(Frozen):
    """A section that applies from ``effective`` (through ``until``, inclusive, when given)."""

    effective: date
    until: date | None = None
    source: str | list[str] = Field(
        description="Id (or ids) of entries in the file's [sources] table that this section rests on."
    )
    note: str | None = None

    @model_validator(mode="after")
    def _until_after_effective(self) -> Dated:
        check_period(self.effective, self.until)
        return self

    @property
    def source_ids(self) -> list[str]:
        return [self.source] if isinstance(self.source, str) else list(self.source)

    def in_force(self, on: date) -> bool:
        return self.effective <= on and (self.until is None or on <= self.until)
