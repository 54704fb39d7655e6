"""What the engine returns: frozen records of an eligibility check and of a settled bill."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from medins.case_model import YearToDate
from medins.i18n import Text
from medins.rules_model import Adjustment, Source


@dataclass(frozen=True, slots=True)
class Cited:
    """A source used, with the region and file role it came from."""

    region: str
    role: str
    id: str
    source: Source


@dataclass(frozen=True, slots=True)
class Reason:
    """One finding of the eligibility check, with a stable code."""

    code: str
    text: Text
    blocking: bool


Place = Literal["local", "in_province", "cross_province"]
"""Where the visit is, seen from the insured place: its own pooling region, another region of its
province (省内异地), or another province (跨省异地)."""


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Whether the visit settles directly, as what, and with which reduction.

    ``place`` says where the visit is; ``cross_province`` is ``place == "cross_province"``;
    ``deemed`` is the ``[[filing.deemed]]`` entry's index when the visit counts as filed by it.
    """

    cross_province: bool
    category: str | None
    group: Literal["long_term", "temporary"] | None
    eligible: bool
    settlement: Literal["direct", "reimburse_at_home"]
    benefit_category: str
    adjustment: Adjustment
    reasons: tuple[Reason, ...]
    materials_required: tuple[str, ...]
    materials_one_of: tuple[str, ...]
    materials_missing: tuple[str, ...] | None
    material_names: dict[str, str]
    hospital_level: int
    matched_level: int
    hospital_name: str | None
    emergency_deadline: date | None
    filing_valid_until: date | None
    chronic_ok: bool
    cited: tuple[Cited, ...]
    place: Place = "cross_province"
    deemed: int | None = None

    @property
    def benefit(self) -> str:
        return "local" if self.adjustment.mode == "none" else "reduced"


@dataclass(frozen=True, slots=True)
class Line:
    """One classified bill line: amount = fully self-paid + over-ceiling + pre-self-pay + in-scope."""

    index: int
    label: str
    code: str | None
    kind: str
    item_class: str
    amount: Decimal
    fully_self_paid: Decimal
    over_ceiling: Decimal
    pre_self_pay: Decimal
    in_scope: Decimal


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the trail: what was computed, the formula in numbers, and the rule's source."""

    key: str
    text: Text
    formula: str
    amount: Decimal | None
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Warning_:
    code: str
    text: Text


@dataclass(frozen=True)
class Settlement:
    """A settled bill: the lines' parts, each tier's payment, the patient's, and why."""

    case_id: str | None
    service_date: date
    eligibility: Eligibility
    lines: tuple[Line, ...]
    total: Decimal
    fully_self_paid: Decimal
    over_ceiling: Decimal
    pre_self_pay: Decimal
    offsite_self_pay: Decimal
    in_scope: Decimal
    deductible: Decimal
    basic_fund: Decimal
    above_cap: Decimal
    tier2_kind: str | None
    tier2_fund: Decimal
    medical_assistance_fund: Decimal
    personal_total: Decimal
    deferred: tuple[str, ...]
    warnings: tuple[Warning_, ...]
    trail: tuple[Step, ...]
    ytd_after: YearToDate
    cited: tuple[Cited, ...] = field(default=())

    @property
    def critical_illness_fund(self) -> Decimal:
        return self.tier2_fund if self.tier2_kind == "critical_illness" else Decimal("0.00")

    @property
    def large_amount_fund(self) -> Decimal:
        return self.tier2_fund if self.tier2_kind == "large_amount" else Decimal("0.00")

    @property
    def fund_total(self) -> Decimal:
        return self.basic_fund + self.tier2_fund + self.medical_assistance_fund

    @property
    def fund_ratio(self) -> Decimal:
        from decimal import ROUND_HALF_UP

        from medins.money import RATIO_PLACES

        if not self.total:
            return Decimal("0.0000")
        return (self.fund_total / self.total).quantize(RATIO_PLACES, rounding=ROUND_HALF_UP)

    @property
    def paid_at_discharge(self) -> Decimal:
        """What the patient pays at the desk: funds settled later at home are advanced by the patient."""
        later = Decimal(0)
        if "basic" in self.deferred:
            later += self.basic_fund
        if "tier2" in self.deferred:
            later += self.tier2_fund
        if "medical_assistance" in self.deferred:
            later += self.medical_assistance_fund
        return self.personal_total + later

    @property
    def illustrative(self) -> tuple[Cited, ...]:
        return tuple(c for c in self.cited if c.source.confidence == "illustrative")
