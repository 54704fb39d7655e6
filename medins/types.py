"""Field types shared by rule files and cases: exact money, ratios, region codes, dated sections."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from medins.money import parse_money


def _decimal(value: Any) -> Decimal:
    if isinstance(value, str):  # first: the common case, text from CSV, flags or JSON
        try:
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


Money = Annotated[Decimal, BeforeValidator(_decimal), Field(ge=0)]
"""A non-negative amount in yuan."""

Ratio = Annotated[Decimal, BeforeValidator(_decimal), Field(ge=0, le=1)]
"""A share between 0 and 1 (0.85 means 85 %)."""

Quantity = Annotated[Decimal, BeforeValidator(_decimal), Field(gt=0)]

RegionCode = Annotated[str, Field(pattern=r"^\d{6}$")]

Level = Annotated[int, Field(ge=1, le=3)]
"""Hospital level: 1, 2 or 3 (一级, 二级, 三级)."""

Scheme = Literal["employee", "resident"]
VisitType = Literal["inpatient", "outpatient", "chronic_outpatient"]
VISIT_TYPES: tuple[VisitType, ...] = get_args(VisitType)
Category = Literal[
    "relocated_retiree",
    "long_term_resident",
    "stationed_worker",
    "referral",
    "emergency",
    "other_temporary",
]
CATEGORIES: tuple[Category, ...] = get_args(Category)
LONG_TERM: frozenset[str] = frozenset({"relocated_retiree", "long_term_resident", "stationed_worker"})
# What the insured place applies to a visit: a filing category, or "unfiled".
BenefitCategory = Literal[
    "relocated_retiree",
    "long_term_resident",
    "stationed_worker",
    "referral",
    "emergency",
    "other_temporary",
    "unfiled",
]
AssistanceCategory = Literal[
    "extreme_poverty",
    "subsistence",
    "marginal",
    "relapse_monitored",
    "illness_poverty",
    "orphan",
]
ASSISTANCE_CATEGORIES: tuple[str, ...] = get_args(AssistanceCategory)
NATIONAL_CHRONIC: tuple[str, ...] = (
    "hypertension",
    "diabetes",
    "cancer_chemoradiotherapy",
    "uremia_dialysis",
    "transplant_antirejection",
)


class Frozen(BaseModel):
    """Base of every model: immutable, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


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
        if self.until is not None and self.until < self.effective:
            raise PydanticCustomError(
                "until_before_effective",
                "until {until} is before effective {effective}",
                {"until": str(self.until), "effective": str(self.effective)},
            )
        return self

    @property
    def source_ids(self) -> list[str]:
        return [self.source] if isinstance(self.source, str) else list(self.source)

    def in_force(self, on: date) -> bool:
        return self.effective <= on and (self.until is None or on <= self.until)
