"""The rule-file format, defined once: the treatment-place catalogue and the insured-place standards.

Both files are TOML, read with exact decimals. Every section is dated (``effective``/``until``) and
names its sources; every source says what it is and how far it can be trusted.
"""

# No ``from __future__ import annotations`` here: Python evaluates each field's type as it defines
# the class, instead of pydantic evaluating every annotation from its text (a sixth of the time
# the models take to define, paid by every command that reads a case or the rules).

import json
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, Strict, ValidationError, ValidationInfo, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from medins.codes import AssistanceCategory, BenefitCategory, Category, VisitType
from medins.money import MAX_AMOUNT
from medins.types import Dated, Day, Frozen, Level, Money, Ratio, RegionCode, check_period


def _to_the_fen(value: Decimal) -> Decimal:
    if value != value.quantize(Decimal("0.01")):
        raise PydanticCustomError("rule_amount_places", "{value} has more than 2 decimals", {"value": str(value)})
    return value


RuleMoney = Annotated[Money, Field(le=int(MAX_AMOUNT)), AfterValidator(_to_the_fen)]
"""An amount of a rule file in yuan: 0 to ``MAX_AMOUNT`` (the ceiling of one bill), to the fen."""

_EDITION = re.compile(r"\w[\w.-]*")


def check_edition(value: str) -> str:
    """A drug-list edition is a plain file name in ``drug-lists/``: no folder, no ``..``, no ``.json``."""
    if not _EDITION.fullmatch(value) or ".." in value or value.endswith(".json"):
        raise PydanticCustomError("edition_name", "{value} is not a drug-list edition name", {"value": repr(value)})
    return value


Edition = Annotated[str, AfterValidator(check_edition)]
"""The name of a drug-list edition, e.g. ``nrdl-2024`` (read from ``drug-lists/nrdl-2024.json``)."""


def _web_address(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+\S*", value):
        raise PydanticCustomError("source_url", "{value} is not a web address", {"value": repr(value)})
    return value


Url = Annotated[str, AfterValidator(_web_address)]
"""A source's address: ``http://`` or ``https://`` and a host, no spaces."""

Count = Annotated[int, Strict()]
"""A whole number of a rule file (months, days): a TOML integer, never text or 6.0."""

RuleLevel = Annotated[Level, Strict()]
"""A hospital level in a rule file: the TOML integer 1, 2 or 3 (never ``true`` or ``"3"``)."""

Flag = Annotated[bool, Strict()]
"""A yes/no of a rule file: TOML ``true`` or ``false`` only, never ``"yes"`` or ``1``."""

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
    url: Url | None = None
    effective: Day | None = None
    verified: Day | None = Field(None, description="When the value was last checked against the text.")
    quote: str | None = Field(None, description="A short quotation of the text containing the value.")
    note: str | None = None
    to_confirm: Flag = Field(
        False,
        description="The values citing it are still to be confirmed (a new pack's placeholders, or values "
        "copied from another region): medins rules validate lists each of them.",
    )

    @model_validator(mode="after")
    def _complete(self) -> "Source":
        if self.confidence == "illustrative":
            if not self.note:
                raise PydanticCustomError(
                    "source_incomplete",
                    "an illustrative source needs a note saying why the value is used",
                    {"confidence": self.confidence, "missing": "note"},
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


class Section(Dated):
    """A dated section of a rule file; its dates are TOML dates, never numbers or date-times."""

    effective: Day
    until: Day | None = None


PARTIAL = "partial"
"""Validation context key: true for a pack that only other packs extend (a province pack), whose
sections may be incomplete; every other file is validated with its required sections."""


def require_keys(model: Frozen, info: ValidationInfo, keys: tuple[str, ...]) -> None:
    """Refuse a complete pack's missing required keys; a pack that others extend may leave them out.

    The keys are optional in the file's schema because a file that ``extends`` another gets them from
    it: they are required of the file as resolved.
    """
    if (info.context or {}).get(PARTIAL):
        return
    missing = [k for k in keys if not getattr(model, k)]
    if missing:
        name = type(model).__name__
        raise ValidationError.from_exception_data(
            name, [InitErrorDetails(type="missing", loc=(k,), input={}) for k in missing]
        )


EXTENDS_DESCRIPTION = (
    "Region code of the pack this file extends (e.g. 130000 for a Hebei city): the file is read as that "
    "pack's file of the same kind with this file's sections put over it, each section replaced whole."
)


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

    from_: RuleMoney | None = Field(None, alias="from")
    to: RuleMoney | None = None
    ratio: Ratio


def _as_sequence(value: Any) -> Any:
    """One amount is a sequence of one: ``deductible = 800`` means ``[800]``."""
    return value if isinstance(value, list) else [value]


def _written(value: Any) -> str:
    """A TOML value as the rewriting hint quotes it: numbers as written, a list's items, else as shown."""
    if isinstance(value, list):
        return ", ".join(_written(v) for v in value)
    return str(value) if isinstance(value, (int, Decimal)) and not isinstance(value, bool) else repr(value)


DeductibleSequence = Annotated[
    list[RuleMoney],
    BeforeValidator(_as_sequence, json_schema_input_type=RuleMoney | list[RuleMoney]),
    Field(min_length=1),
]
"""Deductibles by admission of the year, one amount or a non-empty list (the last value repeats)."""


class Rate(Frozen):
    """Deductible and bands for some person groups at some hospital levels (``"*"`` means all)."""

    group: str | list[str] = "*"
    level: RuleLevel | list[RuleLevel] | Literal["*"] = "*"
    deductible: DeductibleSequence = Field(
        [Decimal(0)],
        description="Deductible of the 1st, 2nd, … inpatient admission of the year, the last value "
        "repeating (e.g. [800, 600, 400]); one amount means the same for every admission.",
    )
    bands: list[Band] = Field(min_length=1)
    cap: RuleMoney | None = Field(None, description="Overrides the benefit's cap for these groups.")

    @model_validator(mode="before")
    @classmethod
    def _no_later_deductible(cls, data: Any) -> Any:
        # the key of the old format: refused with the rewriting that keeps its meaning
        if isinstance(data, dict) and "later_deductible" in data:
            raise PydanticCustomError(
                "later_deductible_removed",
                "later_deductible = {later} is no longer read: write deductible = [{first}, {later}] "
                "(the 1st admission's deductible, then the one for the 2nd and later)",
                {"first": _written(data.get("deductible", 0)), "later": _written(data["later_deductible"])},
            )
        return data

    def matches(self, group: str, level: int) -> bool:
        groups = [self.group] if isinstance(self.group, str) else self.group
        levels = [self.level] if isinstance(self.level, (int, str)) else self.level
        return ("*" in groups or group in groups) and ("*" in levels or level in levels)

    def deductible_for(self, admission: int) -> Decimal:
        """The deductible of the year's ``admission``-th stay (1 for the first): the last value repeats."""
        return self.deductible[min(max(admission, 1), len(self.deductible)) - 1]


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
    cap: RuleMoney | None = Field(None, description="Annual cap; none means no cap.")
    deductible_year_cap: RuleMoney | None = Field(
        None,
        description="Most the deductibles paid in a year may add up to (起付标准累计不超过): a stay "
        "pays only what is left of it. For deductible_basis 'admission'; none means no cap.",
    )
    rates: list[Rate] = Field(min_length=1)

    @property
    def bands_on(self) -> str:
        return self.band_basis or self.deductible_basis


class Benefit(Section, BenefitTerms):
    """Dated benefit terms for inpatient or general outpatient visits."""


class ChronicSection(Section):
    """Outpatient chronic and special diseases: each disease with its own terms."""

    cross_province: list[str] = Field(
        description="Diseases whose outpatient treatment settles directly across provinces."
    )
    diseases: dict[str, BenefitTerms]
    labels: dict[str, str] = Field(default_factory=dict, description="Chinese names of local diseases.")


class Tier2(Section):
    """Tier 2: residents' critical-illness insurance or employees' large-amount supplement."""

    kind: Literal["critical_illness", "large_amount"]
    base: Literal["personal_burden", "above_basic_cap"] = Field(
        description="'personal_burden': the policy-scope personal burden left by tier 1; "
        "'above_basic_cap': the in-scope expense above the basic fund's cap."
    )
    include_pre_self_pay: Flag = Field(False, description="Whether class-B pre-self-pay counts in the base.")
    visit_types: list[VisitType] = ["inpatient", "outpatient", "chronic_outpatient"]
    deductible: RuleMoney = Decimal(0)
    bands: list[Band] = Field(min_length=1)
    group_bands: dict[str, list[Band]] = Field(
        default_factory=dict, description="Bands for particular person groups, e.g. retirees."
    )
    cap: RuleMoney | None = None

    def bands_for(self, group: str) -> list[Band]:
        return self.group_bands.get(group, self.bands)


class Scheme(Frozen):
    """One scheme of the insured place (employee or resident)."""

    groups: list[str] = Field(
        default_factory=list, min_length=1, description="Person groups, e.g. in_service, retired (required)."
    )
    group_labels: dict[str, str] = Field(default_factory=dict)
    inpatient: list[Benefit] = Field(default_factory=list, min_length=1, description="Required.")
    outpatient: list[Benefit] = Field(default_factory=list, min_length=1, description="Required.")
    chronic: list[ChronicSection] = Field(default_factory=list)
    tier2: list[Tier2] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self, info: ValidationInfo) -> "Scheme":
        require_keys(self, info, ("groups", "inpatient", "outpatient"))
        return self


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
    def _value_fits_mode(self) -> "Adjustment":
        ctx = {"mode": repr(self.mode), "value": str(self.value)}
        if self.mode == "none" and self.value != 0:
            raise PydanticCustomError("adjustment_value", "mode 'none' takes no value", ctx)
        if self.mode != "none" and self.value == 0:
            raise PydanticCustomError("adjustment_value", "mode {mode} needs a value above 0", ctx)
        return self


class OffsiteDeductible(Frozen):
    """A separate out-of-province deductible: a share of the bill within a floor and a ceiling."""

    share: Ratio
    min: RuleMoney = Decimal(0)
    max: RuleMoney | None = None
    categories: list[BenefitCategory]
    visit_types: list[VisitType] = ["inpatient"]


class OffsiteSection(Section):
    """How the insured place treats its people treated in another province."""

    level_map: dict[Literal["1", "2", "3"], RuleLevel] = Field(
        default_factory=dict,
        description="Treatment-place hospital level -> the local level whose ratios apply, e.g. {3 = 3}.",
    )
    categories: dict[BenefitCategory, Adjustment]
    unfiled_settlement: Literal["reimburse_at_home"] = "reimburse_at_home"
    deductible_rule: OffsiteDeductible | None = None
    in_province: dict[BenefitCategory, Adjustment] | None = Field(
        None,
        description="Adjustments by benefit category for visits in another region of the insured place's own "
        "province (省内异地), with 'unfiled'; the [filing] rules (and [[filing.deemed]]) decide the category. "
        "Without this table medins does not settle in-province visits.",
    )


class FilingCategoryRule(Frozen):
    """What one filing category needs: materials, and how long the filing lasts."""

    required: list[str] = Field(default_factory=list, description="Materials all required.")
    one_of: list[str] = Field(default_factory=list, description="At least one of these is required.")
    validity_months: Count | None = Field(None, ge=1, le=1200, description="None: open-ended (长期有效).")
    min_months_before_change: Count | None = Field(None, ge=0, le=1200)


class DeemedFiling(Frozen):
    """Destinations whose visits count as filed without a filing (视同备案), e.g. 京津冀 for Hebei.

    A visit to one of ``destinations`` (a province code covers the whole province, a city code the
    city and its districts) of one of ``visit_types``, with no filing or with a filing that does not
    hold, settles directly as ``category``, with ``adjustment`` when given, else that category's
    adjustment of the table that applies (``offsite.categories``, or ``offsite.in_province``).
    """

    destinations: list[RegionCode] = Field(
        min_length=1,
        description="Region codes of the treatment places, province (e.g. 110000) or city (e.g. 130200) level.",
    )
    visit_types: list[VisitType] = Field(
        ["inpatient", "outpatient", "chronic_outpatient"], min_length=1, description="Visit types deemed filed."
    )
    category: Category = Field(description="The filing category the visit counts as, e.g. other_temporary.")
    adjustment: Adjustment | None = Field(
        None, description="The reduction then applied; default: the category's adjustment in [offsite]."
    )
    source: str | list[str] = Field(description="Id (or ids) of entries in [sources] that say so.")
    note: str | None = None

    @property
    def source_ids(self) -> list[str]:
        return [self.source] if isinstance(self.source, str) else list(self.source)


class FilingSection(Section):
    """The insured place's filing rules (备案)."""

    destination_level: Literal["province", "city"] = "province"
    retroactive_before_settlement: Flag = True
    emergency_deemed_filed: Flag = True
    emergency_filing_days: Count | None = Field(None, ge=0, le=3660)
    channels: list[str] = Field(default_factory=list, description="Where one may file.")
    materials: dict[str, str] = Field(description="Material id -> its Chinese name.")
    materials_en: dict[str, str] = Field(default_factory=dict)
    categories: dict[Category, FilingCategoryRule]
    deemed: list[DeemedFiling] = Field(
        default_factory=list,
        description="[[filing.deemed]]: destinations and visit types that count as filed without a filing.",
    )


def _error_at(model: str, key: str, value: object, kind: str, message: str, ctx: dict[str, Any]) -> ValidationError:
    """A validation error placed on one key of a model, so the message names that key's path."""
    error = PydanticCustomError(kind, message, ctx)
    return ValidationError.from_exception_data(model, [InitErrorDetails(type=error, loc=(key,), input=value)])


class AssistanceStage(Frozen):
    """One stage of medical assistance: the base it pays on, its deductible, ratio or bands, and cap.

    The deductible and the bands are read on the stage's own cumulative base of the year (the first
    band starts at the deductible, as tier 1's); the cap is on what the stage paid in the year.
    """

    base: Literal["remaining", "burden"] = Field(
        "remaining",
        description="'remaining': the assistance base less what the earlier stages paid on this bill "
        "(倾斜救助 / 再救助; for the first stage the whole base); 'burden': the whole assistance base, "
        "the policy-scope burden left after tiers 1–2.",
    )
    deductible: RuleMoney | None = Field(None, description="The stage's deductible on its cumulative base of the year.")
    deductible_share: Ratio | None = Field(
        None, description="The stage's deductible as a share of the section's income_reference."
    )
    ratio: Ratio | None = Field(None, description="The stage's ratio; give ratio or bands.")
    bands: list[Band] | None = Field(
        None,
        min_length=1,
        max_length=20,
        description="Ratio bands on the stage's cumulative base of the year, the first from the deductible.",
    )
    cap: RuleMoney | None = Field(None, description="Annual cap on what the stage pays.")

    @model_validator(mode="after")
    def _one_of_each(self) -> "AssistanceStage":
        if self.deductible is not None and self.deductible_share is not None:
            raise _error_at(
                "AssistanceStage",
                "deductible_share",
                self.deductible_share,
                "stage_deductible_twice",
                "deductible = {deductible} is given too: give deductible or deductible_share, not both",
                {"deductible": str(self.deductible), "deductible_share": str(self.deductible_share)},
            )
        if self.ratio is not None and self.bands is not None:
            raise _error_at(
                "AssistanceStage",
                "bands",
                [b.model_dump(mode="json", by_alias=True, exclude_none=True) for b in self.bands],
                "stage_ratio_and_bands",
                "ratio = {ratio} is given too: give ratio or bands, not both",
                {"ratio": str(self.ratio)},
            )
        if self.ratio is None and self.bands is None:
            given = self.model_dump(mode="json", exclude_defaults=True)
            raise _error_at(
                "AssistanceStage",
                "ratio",
                given,
                "stage_ratio_missing",
                "a stage needs ratio or bands",
                {"stage": json.dumps(given, ensure_ascii=False)},
            )
        return self

    def ratio_bands(self) -> list[Band]:
        """The stage's bands; a single ratio is one open band from the deductible."""
        # the ratio is validated already: the band is built without building Band's validator
        return list(self.bands) if self.bands is not None else [Band.model_construct(ratio=self.ratio)]


class AssistanceTerms(Frozen):
    """Medical assistance for one category: one stage (deductible, ratio, cap) or a list of stages.

    The one-stage form (``deductible`` or ``deductible_share``, ``ratio``, ``cap``) means a single
    stage on the whole assistance base; ``stages`` gives two or more, each paying on what the earlier
    ones leave unless it says ``base = "burden"``.
    """

    deductible: RuleMoney | None = None
    deductible_share: Ratio | None = Field(None, description="Share of the section's income_reference.")
    ratio: Ratio | None = Field(None, description="The ratio of the one-stage form (required without stages).")
    cap: RuleMoney | None = None
    stages: list[AssistanceStage] | None = Field(
        None,
        min_length=1,
        max_length=10,
        exclude_if=lambda v: v is None,
        description="Assistance in stages, paid in order (e.g. 常规救助 then 倾斜救助 / 再救助); "
        "replaces deductible, deductible_share, ratio and cap.",
    )

    @model_validator(mode="after")
    def _one_deductible(self) -> "AssistanceTerms":
        if self.stages is not None:
            for key in ("deductible", "deductible_share", "ratio", "cap"):
                value = getattr(self, key)
                if value is not None:
                    raise _error_at(
                        "AssistanceTerms",
                        key,
                        value,
                        "assistance_forms_mixed",
                        "{key} belongs to the one-stage form: with stages, put it in a stage",
                        {"key": key, "value": str(value)},
                    )
            return self
        if self.deductible is not None and self.deductible_share is not None:
            raise PydanticCustomError("deductible_twice", "give deductible or deductible_share, not both")
        if self.ratio is None:
            raise ValidationError.from_exception_data(
                "AssistanceTerms", [InitErrorDetails(type="missing", loc=("ratio",), input={})]
            )
        return self

    def stage_list(self) -> list[AssistanceStage]:
        """The stages in order; the one-stage form is one stage on the whole assistance base."""
        if self.stages is not None:
            return list(self.stages)
        return [
            AssistanceStage.model_construct(
                base="remaining",
                deductible=self.deductible,
                deductible_share=self.deductible_share,
                ratio=self.ratio,
                bands=None,
                cap=self.cap,
            )
        ]


class AssistanceSection(Section):
    """Tier 3, medical assistance, by category."""

    direct_settlement: Flag = Field(description="Whether it settles directly across provinces.")
    include_pre_self_pay: Flag = False
    income_reference: RuleMoney | None = Field(
        None, description="Last year's per-capita disposable income that deductible shares refer to."
    )
    income_note: str | None = None
    categories: dict[AssistanceCategory, AssistanceTerms]

    @model_validator(mode="after")
    def _income_for_shares(self) -> "AssistanceSection":
        if self.income_reference is None:
            shares = [c for c, terms in self.categories.items() if terms.deductible_share is not None]
            for c, terms in self.categories.items():
                shares += [
                    f"{c}.stages[{i}]" for i, st in enumerate(terms.stages or []) if st.deductible_share is not None
                ]
            if shares:
                raise PydanticCustomError(
                    "income_reference_missing",
                    "deductible_share of {categories} needs income_reference",
                    {"categories": ", ".join(shares)},
                )
        return self


class Standards(Frozen):
    """The insured-place treatment standards of one pooling region (standards.toml)."""

    kind: Literal["standards"]
    region: RegionCode
    name: str
    extends: RegionCode | None = Field(None, description=EXTENDS_DESCRIPTION)
    insured_place: Flag | None = Field(
        None,
        description="Whether bills of people insured here settle with this pack. Default: yes, unless "
        "another pack extends this one (a province pack holding what its cities share).",
    )
    province_note: str | None = Field(None, description="Which rules the province sets for its cities.")
    notes: list[str] = Field(default_factory=list)
    explanations: list[Explanation] = Field(default_factory=list)
    sources: dict[str, Source] = Field(default_factory=dict, min_length=1, description="Required.")
    employee: Scheme | None = None
    resident: Scheme | None = None
    offsite: list[OffsiteSection] = Field(default_factory=list, min_length=1, description="Required.")
    filing: list[FilingSection] = Field(default_factory=list, min_length=1, description="Required.")
    assistance: list[AssistanceSection] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self, info: ValidationInfo) -> "Standards":
        require_keys(self, info, ("sources", "offsite", "filing"))
        return self


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
    price: RuleMoney


class CatalogueSettings(Section):
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
    ceiling: RuleMoney | None = None
    restriction: str | None = None


class Institution(Frozen):
    """A designated medical institution of the treatment place."""

    code: str = Field(pattern=r"^H\d{11}$")
    name: str
    level: RuleLevel
    cross_province: Flag = True


class Catalogue(Frozen):
    """The treatment-place catalogue of one pooling region (catalogue.toml)."""

    kind: Literal["catalogue"]
    region: RegionCode
    name: str
    extends: RegionCode | None = Field(None, description=EXTENDS_DESCRIPTION)
    drug_list: Edition = Field(None, description="Edition of the national drug list, e.g. nrdl-2024 (required).")  # type: ignore[assignment]
    notes: list[str] = Field(default_factory=list)
    explanations: list[Explanation] = Field(default_factory=list)
    sources: dict[str, Source] = Field(default_factory=dict, min_length=1, description="Required.")
    settings: list[CatalogueSettings] = Field(default_factory=list, min_length=1, description="Required.")
    items: list[LocalItem] = Field(default_factory=list)
    institutions_source: str | None = None
    institutions: list[Institution] | None = Field(
        None, description="Designated cross-province institutions; omit when not published."
    )

    @model_validator(mode="after")
    def _complete(self, info: ValidationInfo) -> "Catalogue":
        require_keys(self, info, ("drug_list", "sources", "settings"))
        return self


# ---------------------------------------------------------------- the national drug list


class DrugCeiling(Frozen):
    """A payment standard of a negotiated drug for one specification."""

    spec: str
    price: RuleMoney


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
    edition: Edition
    effective: Day
    until: Day | None = None
    source: Source
    drugs: list[Drug]

    @model_validator(mode="after")
    def _until_after_effective(self) -> "DrugList":
        check_period(self.effective, self.until)
        return self
