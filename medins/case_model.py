"""A case: one bill of one person, with the filing and year-to-date amounts it is settled against."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from medins.money import fen
from medins.types import (
    AssistanceCategory,
    Category,
    Frozen,
    Level,
    Money,
    Quantity,
    RegionCode,
    Scheme,
    VisitType,
)


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
    start: date | None = None
    end: date | None = None
    filed_on: date | None = None
    materials: list[str] | None = Field(None, description="Materials on file, by the insured place's ids.")

    @model_validator(mode="after")
    def _end_after_start(self) -> Filing:
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
    hospital_level: Level | None = None
    hospital: str | None = Field(None, description="Designated institution code (H + 11 digits).")
    disease: str | None = None
    admitted: date | None = None
    discharged: date | None = None
    date_: date | None = Field(None, alias="date")

    @model_validator(mode="after")
    def _dates(self) -> Visit:
        if self.admitted and self.discharged and self.discharged < self.admitted:
            raise PydanticCustomError(
                "discharge_before_admission",
                "discharged {discharged} is before admitted {admitted}",
                {"discharged": str(self.discharged), "admitted": str(self.admitted)},
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
    unit_price: Money | None = None
    amount: Money | None = None
    restriction_met: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Item:
        if not self.code and not self.name:
            raise PydanticCustomError("item_unnamed", "give code or name")
        if self.unit_price is None and self.amount is None:
            raise PydanticCustomError("item_unpriced", "give unit_price or amount")
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

    total: Money
    fully_self_paid: Money = Decimal(0)
    over_ceiling: Money = Decimal(0)
    class_b: Money = Field(Decimal(0), description="Amount of class-B lines (after any over-ceiling part).")
    pre_self_pay: Money | None = Field(None, description="Class-B pre-self-pay, when known exactly.")

    @model_validator(mode="after")
    def _parts(self) -> Summary:
        if self.fully_self_paid + self.over_ceiling + self.class_b > self.total:
            raise PydanticCustomError("summary_parts", "fully_self_paid + over_ceiling + class_b exceed total")
        if self.pre_self_pay is not None and self.pre_self_pay > self.class_b and self.class_b:
            raise PydanticCustomError("summary_parts", "pre_self_pay exceeds class_b")
        return self


class Accum(Frozen):
    """Year-to-date amounts of one benefit."""

    in_scope: Money = Decimal(0)
    deductible: Money = Decimal(0)
    fund: Money = Decimal(0)
    above_cap: Money = Decimal(0)


class YearToDate(Frozen):
    """What the person already used this year at the insured place."""

    year: int | None = None
    admissions: int = Field(0, ge=0)
    inpatient: Accum = Field(default_factory=Accum)
    outpatient: Accum = Field(default_factory=Accum)
    chronic: dict[str, Accum] = Field(default_factory=dict)
    tier2_base: Money = Decimal(0)
    tier2_fund: Money = Decimal(0)
    assistance_base: Money = Decimal(0)
    assistance_fund: Money = Decimal(0)

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
    def _one_bill(self) -> Case:
        if self.items is not None and self.summary is not None:
            raise PydanticCustomError("bill_twice", "give [[items]] or [summary], not both")
        if not self.items and self.summary is None:
            raise PydanticCustomError("bill_missing", "give the bill as [[items]] lines or a [summary]")
        return self
