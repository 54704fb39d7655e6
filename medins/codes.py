"""The ids of the domain, one name per concept: schemes, visit types, filing and assistance categories.

Kept apart from the models so that the command line can offer them (choices, "did you mean")
without loading pydantic.
"""

from __future__ import annotations

from typing import Literal, get_args

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
BenefitCategory = Literal[Category, "unfiled"]
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
    # added by 医保办发〔2024〕19号 (from 5 to 10 diseases; every pooling region by the end of 2024)
    "copd",
    "rheumatoid_arthritis",
    "coronary_heart_disease",
    "viral_hepatitis",
    "ankylosing_spondylitis",
)
"""The outpatient chronic and special diseases settled directly across provinces nationally: the first
five, then the five 医保办发〔2024〕19号 added. A pack says from when it settles each (``cross_province``
of a dated chronic section)."""


__all__ = [
    "ASSISTANCE_CATEGORIES",
    "CATEGORIES",
    "LONG_TERM",
    "NATIONAL_CHRONIC",
    "VISIT_TYPES",
    "AssistanceCategory",
    "BenefitCategory",
    "Category",
    "Scheme",
    "VisitType",
]
