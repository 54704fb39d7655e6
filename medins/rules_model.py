"""The rule-file format, defined once: the treatment-place catalogue and the insured-place standards.

Both files are TOML, read with exact decimals. Every section is dated (``effective``/``until``) and
names its sources; every source says what it is and how far it can be trusted.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from medins.types import (
    AssistanceCategory,
    BenefitCategory,
    Category,
    Dated,
    Frozen,
    Level,
    Money,
    Ratio,
    RegionCode,
    VisitType,
)

Confidence = Literal["primary", "secondary", "illustrative"]
CONFIDENCE_ORDER: dict[str, int] = {"illustrative": 0, "secondary": 1, "primary": 2}


class Source(Frozen):
    """Where values come from: the document, its issuer and address, and how far it is confirmed.

    ``primary``: the policy text itself was read; ``secondary``: a news, hospital or aggregator page
    quotes it; ``illustrative``: a realistic value that no text read confirms (``note`` says why it
    was chosen).
    """

    confidence: Confidence
    document: str | None = Field(None, description="Document number (文号), e.g. 医保发〔2022〕22号.")
    issuer: str | None = None
    title: str | None = None
    url: str | None = None
    effective: date | None = None
    verified: date | None = Field(None, description="When the value was last checked against the text.")
    quote: str | None = Field(None, description="A short quotation of the text containing the value.")
    note: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Source:
        if self.confidence == "illustrative":
            if not self.note:
                raise PydanticCustomError(
                    "source_incomplete", "an illustrative source needs a note saying why the value is used"
                )
        else:
            missing = [k for k in ("issuer", "title", "url") if not getattr(self, k)]
            if self.confidence == "primary" and self.effective is None:
                missing.append("effective")
            if self.verified is None:
                missing.append("verified")
            if missing:
                raise PydanticCustomError(
                    "source_incomplete",
                    "a {confidence} source needs {missing}",
                    {"confidence": self.confidence, "missing": ", ".join(missing)},
                )
        return self


class Explanation(Frozen):
    """Why a warning of ``medins rules validate`` is a deliberate feature of the pack."""

    code: str
    path: str
    why: str


# ---------------------------------------------------------------- insured-place standards


class Band(Frozen):
    """A ratio band on the cumulative amount. The first band starts at the deductible.

    ``from`` defaults to the previous band's ``to`` (0 for the first, meaning "from the deductible");
    only the last band may be open-ended.
    """

    from_: Money | None = Field(None, alias="from")
    to: Money | None = None
    ratio: Ratio


class Rate(Frozen):
    """Deductible and bands for some person groups at some hospital levels (``"*"`` means all)."""

    group: str | list[str] = "*"
    level: Level | list[Level] | Literal["*"] = "*"
    deductible: Money = Decimal(0)
    later_deductible: Money | None = Field(
        None, description="Deductible for the 2nd and later admissions of a year, when lower."
    )
    bands: list[Band] = Field(min_length=1)
    cap: Money | None = Field(None, description="Overrides the benefit's cap for these groups.")

    def matches(self, group: str, level: int) -> bool:
        groups = [self.group] if isinstance(self.group, str) else self.group
        levels = [self.level] if isinstance(self.level, (int, str)) else self.level
        return ("*" in groups or group in groups) and ("*" in levels or level in levels)


class BenefitTerms(Frozen):
    """How the basic fund pays one visit type: deductible basis, cap and its mode, rates."""

    deductible_basis: Literal["admission", "year"] = Field(
        description="'admission': the deductible applies to each admission; 'year': once a year."
    )
    band_basis: Literal["admission", "year"] | None = Field(
        None,
        description="Cumulative amount the band boundaries are written on; defaults to deductible_basis.",
    )
    cap_mode: Literal["fund", "base"] = Field(
        "fund",
        description="'fund': cap on what the fund pays in the year; 'base': cap on the in-scope expense.",
    )
    cap: Money | None = Field(None, description="Annual cap; none means no cap.")
    rates: list[Rate] = Field(min_length=1)

    @property
    def bands_on(self) -> str:
        return self.band_basis or self.deductible_basis


class Benefit(Dated, BenefitTerms):
    """Dated benefit terms for inpatient or general outpatient visits."""


class ChronicSection(Dated):
    """Outpatient chronic and special diseases: each disease with its own terms."""

    cross_province: list[str] = Field(
        description="Diseases whose outpatient treatment settles directly across provinces."
    )
    diseases: dict[str, BenefitTerms]
    labels: dict[str, str] = Field(default_factory=dict, description="Chinese names of local diseases.")


class Tier2(Dated):
    """Tier 2: residents' critical-illness insurance or employees' large-amount supplement."""

    kind: Literal["critical_illness", "large_amount"]
    base: Literal["personal_burden", "above_basic_cap"] = Field(
        description="'personal_burden': the policy-scope personal burden left by tier 1; "
        "'above_basic_cap': the in-scope expense above the basic fund's cap."
    )
    include_pre_self_pay: bool = Field(False, description="Whether class-B pre-self-pay counts in the base.")
    visit_types: list[VisitType] = ["inpatient", "outpatient", "chronic_outpatient"]
    deductible: Money = Decimal(0)
    bands: list[Band] = Field(min_length=1)
    group_bands: dict[str, list[Band]] = Field(
        default_factory=dict, description="Bands for particular person groups, e.g. retirees."
    )
    cap: Money | None = None

    def bands_for(self, group: str) -> list[Band]:
        return self.group_bands.get(group, self.bands)


class Scheme(Frozen):
    """One scheme of the insured place (employee or resident)."""

    groups: list[str] = Field(min_length=1, description="Person groups, e.g. in_service, retired.")
    group_labels: dict[str, str] = Field(default_factory=dict)
    inpatient: list[Benefit] = Field(min_length=1)
    outpatient: list[Benefit] = Field(min_length=1)
    chronic: list[ChronicSection] = Field(default_factory=list)
    tier2: list[Tier2] = Field(default_factory=list)


class Adjustment(Frozen):
    """The off-site reduction for a filing category.

    ``points``: each ratio lowered by ``value`` (0.10 = 10 percentage points);
    ``multiplier``: each ratio multiplied by ``value``;
    ``extra_pre_self_pay``: the patient first pays ``value`` of the in-scope amount;
    ``none``: local standard.
    """

    mode: Literal["none", "points", "multiplier", "extra_pre_self_pay"]
    value: Ratio = Decimal(0)
    visit_types: list[VisitType] = ["inpatient", "outpatient", "chronic_outpatient"]

    @model_validator(mode="after")
    def _value_fits_mode(self) -> Adjustment:
        if self.mode == "none" and self.value != 0:
            raise PydanticCustomError("adjustment_value", "mode 'none' takes no value")
        if self.mode != "none" and self.value == 0:
            raise PydanticCustomError("adjustment_value", "mode '{mode}' needs a value above 0", {"mode": self.mode})
        return self


class OffsiteDeductible(Frozen):
    """A separate out-of-province deductible: a share of the bill within a floor and a ceiling."""

    share: Ratio
    min: Money = Decimal(0)
    max: Money | None = None
    categories: list[BenefitCategory]
    visit_types: list[VisitType] = ["inpatient"]


class OffsiteSection(Dated):
    """How the insured place treats its people treated in another province."""

    level_map: dict[str, Level] = Field(
        default_factory=dict,
        description="Treatment-place hospital level -> the local level whose ratios apply, e.g. {3 = 3}.",
    )
    categories: dict[BenefitCategory, Adjustment]
    unfiled_settlement: Literal["reimburse_at_home"] = "reimburse_at_home"
    deductible_rule: OffsiteDeductible | None = None
    in_province: dict[BenefitCategory, Adjustment] | None = Field(
        None, description="Adjustments for off-site visits inside the province, when the pack has them."
    )


class FilingCategoryRule(Frozen):
    """What one filing category needs: materials, and how long the filing lasts."""

    required: list[str] = Field(default_factory=list, description="Materials all required.")
    one_of: list[str] = Field(default_factory=list, description="At least one of these is required.")
    validity_months: int | None = Field(None, ge=1, description="None: open-ended (长期有效).")
    min_months_before_change: int | None = Field(None, ge=0)


class FilingSection(Dated):
    """The insured place's filing rules (备案)."""

    destination_level: Literal["province", "city"] = "province"
    retroactive_before_settlement: bool = True
    emergency_deemed_filed: bool = True
    emergency_filing_days: int | None = Field(None, ge=0)
    channels: list[str] = Field(default_factory=list, description="Where one may file.")
    materials: dict[str, str] = Field(description="Material id -> its Chinese name.")
    materials_en: dict[str, str] = Field(default_factory=dict)
    categories: dict[Category, FilingCategoryRule]


class AssistanceTerms(Frozen):
    """Medical assistance for one category: deductible (amount or share of income), ratio, cap."""

    deductible: Money | None = None
    deductible_share: Ratio | None = Field(None, description="Share of the section's income_reference.")
    ratio: Ratio
    cap: Money | None = None

    @model_validator(mode="after")
    def _one_deductible(self) -> AssistanceTerms:
        if self.deductible is not None and self.deductible_share is not None:
            raise PydanticCustomError("deductible_twice", "give deductible or deductible_share, not both")
        return self


class AssistanceSection(Dated):
    """Tier 3, medical assistance, by category."""

    direct_settlement: bool = Field(description="Whether it settles directly across provinces.")
    include_pre_self_pay: bool = False
    income_reference: Money | None = Field(
        None, description="Last year's per-capita disposable income that deductible shares refer to."
    )
    income_note: str | None = None
    categories: dict[AssistanceCategory, AssistanceTerms]


class Standards(Frozen):
    """The insured-place treatment standards of one pooling region (standards.toml)."""

    kind: Literal["standards"]
    region: RegionCode
    name: str
    province_note: str | None = Field(None, description="Which rules the province sets for its cities.")
    notes: list[str] = Field(default_factory=list)
    explanations: list[Explanation] = Field(default_factory=list)
    sources: dict[str, Source] = Field(min_length=1)
    employee: Scheme | None = None
    resident: Scheme | None = None
    offsite: list[OffsiteSection] = Field(min_length=1)
    filing: list[FilingSection] = Field(min_length=1)
    assistance: list[AssistanceSection] = Field(default_factory=list)


# ---------------------------------------------------------------- treatment-place catalogue


class PreSelfPay(Frozen):
    """Class-B pre-self-pay ratio (乙类先行自付比例) by item kind."""

    drug: Ratio
    service: Ratio
    consumable: Ratio


class Override(Frozen):
    """A per-item class-B pre-self-pay ratio different from its kind's."""

    code: str
    pre_self_pay: Ratio


class Ceiling(Frozen):
    """A local price ceiling (限价 / 支付标准) per unit."""

    code: str
    spec: str | None = None
    price: Money


class CatalogueSettings(Dated):
    """Dated catalogue settings of a treatment place."""

    pre_self_pay: PreSelfPay
    herbal_pieces_class: Literal["A", "B"] = Field(
        "A", description="Class given to herbal pieces the national list pays."
    )
    overrides: list[Override] = Field(default_factory=list)
    ceilings: list[Ceiling] = Field(default_factory=list)


class LocalItem(Frozen):
    """A local service item, consumable or hospital preparation with its class."""

    code: str
    name: str
    kind: Literal["drug", "service", "consumable"]
    item_class: Literal["A", "B", "C"] = Field(alias="class")
    unit: str | None = None
    pre_self_pay: Ratio | None = None
    ceiling: Money | None = None
    restriction: str | None = None


class Institution(Frozen):
    """A designated medical institution of the treatment place."""

    code: str = Field(pattern=r"^H\d{11}$")
    name: str
    level: Level
    cross_province: bool = True


class Catalogue(Frozen):
    """The treatment-place catalogue of one pooling region (catalogue.toml)."""

    kind: Literal["catalogue"]
    region: RegionCode
    name: str
    drug_list: str = Field(description="Edition of the national drug list, e.g. nrdl-2024.")
    notes: list[str] = Field(default_factory=list)
    explanations: list[Explanation] = Field(default_factory=list)
    sources: dict[str, Source] = Field(min_length=1)
    settings: list[CatalogueSettings] = Field(min_length=1)
    items: list[LocalItem] = Field(default_factory=list)
    institutions_source: str | None = None
    institutions: list[Institution] | None = Field(
        None, description="Designated cross-province institutions; omit when not published."
    )


# ---------------------------------------------------------------- the national drug list


class DrugCeiling(Frozen):
    """A payment standard of a negotiated drug for one specification."""

    spec: str
    price: Money


class Drug(Frozen):
    """One record of the national drug list, as the project stores it."""

    code: str
    name: str
    dosage_form: str = ""
    section: str
    category: str = ""
    category_name: str = ""
    drug_class: Literal["A", "B"] | None = Field(None, alias="class")
    herbal: Literal["paid", "excluded"] | None = None
    restriction: str = ""
    ceilings: list[DrugCeiling] = Field(default_factory=list)
    ceiling_text: str = ""
    agreement_period: str = ""


class DrugList(Frozen):
    """A national drug list edition converted into the project's own file."""

    kind: Literal["drug_list"]
    edition: str
    effective: date
    until: date | None = None
    source: Source
    drugs: list[Drug]
