"""The same bill filed as referral, filed as other_temporary, and not filed: three fund payments, each
following the insured place's off-site rule.

Insured place 130100 (Shijiazhuang, shipped rules/130100/standards.toml), treatment place 110000
(Beijing, shipped rules/110000/catalogue.toml); a resident, no assistance, one admission at a level-3
hospital, bill given as a summary:

    total 50000.00, fully_self_paid 2000.00, class_b 10000.00, over_ceiling 0

Lines (treatment place): 110000 catalogue [[settings]] pre_self_pay = { drug = 0.10, ... }
    pre_self_pay = class_b × 0.10 = 10000.00 × 0.10 = 1000.00
    in_scope = 50000.00 − 2000.00 − 0 − 1000.00 = 47000.00

Tier 1 (insured place): [[resident.inpatient]] cap_mode = "fund", cap = 200000,
    { level = 3, deductible = [1000, 500], bands = [{ ratio = 0.60 }] }
    (first admission of the year: deductible 1000; level_map "3" = 3)
    [offsite.categories] referral = points 0.10, other_temporary = points 0.20, unfiled = points 0.30
    fund = (47000.00 − 1000) × (0.60 − points), far below the 200000 cap
    burden = in_scope − fund

Tier 2: [[resident.tier2]] critical_illness, base = "personal_burden", include_pre_self_pay = false,
    deductible = 15000, bands = [{ to = 100000, ratio = 0.60 }, { from = 100000, ratio = 0.70 }]
    (no off-site adjustment: the README applies it in tier 1 only)
    tier 2 = (burden − 15000) × 0.60 (burden < 100000)

personal_total = total − basic_fund − critical_illness_fund (no assistance)

    filing            ratio  basic_fund                  burden    critical_illness_fund        personal_total
    referral          0.50   46000 × 0.50 = 23000.00     24000.00  (24000 − 15000) × 0.6 = 5400.00   50000 − 23000 − 5400 = 21600.00
    other_temporary   0.40   46000 × 0.40 = 18400.00     28600.00  (28600 − 15000) × 0.6 = 8160.00   50000 − 18400 − 8160 = 23440.00
    not filed         0.30   46000 × 0.30 = 13800.00     33200.00  (33200 − 15000) × 0.6 = 10920.00  50000 − 13800 − 10920 = 25280.00
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from medins import api
from medins.engine.result import Settlement
from medins.loader import shipped_rules_dir

MATERIALS = {
    "referral": ["insurance_credential", "filing_form", "referral_certificate"],
    "other_temporary": ["insurance_credential", "filing_form"],
}

# filing category (None: not filed) -> (benefit category, points, basic_fund, critical_illness_fund, personal_total)
EXPECTED: dict[str | None, tuple[str, str, str, str, str]] = {
    "referral": ("referral", "0.10", "23000.00", "5400.00", "21600.00"),
    "other_temporary": ("other_temporary", "0.20", "18400.00", "8160.00", "23440.00"),
    None: ("unfiled", "0.30", "13800.00", "10920.00", "25280.00"),
}


def bill(category: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "person": {"insured_region": "130100", "scheme": "resident"},
        "visit": {
            "region": "110000",
            "hospital_level": 3,
            "type": "inpatient",
            "admitted": "2025-03-10",
            "discharged": "2025-03-22",
        },
        "summary": {"total": "50000.00", "fully_self_paid": "2000.00", "class_b": "10000.00"},
    }
    if category is not None:
        data["filing"] = {
            "category": category,
            "destination": "110000",
            "start": "2025-03-01",
            "materials": MATERIALS[category],
        }
    return data


def settle(category: str | None) -> Settlement:
    return api.estimate(api.parse_case(bill(category)), api.load_rules(shipped_rules_dir()))


@pytest.mark.parametrize("category", list(EXPECTED), ids=lambda c: c or "unfiled")
def test_fund_payment_follows_the_insured_place_rule(category: str | None) -> None:
    benefit, points, basic, tier2, personal = EXPECTED[category]
    s = settle(category)
    assert s.eligibility.benefit_category == benefit
    assert s.eligibility.adjustment.mode == "points"
    assert s.eligibility.adjustment.value == Decimal(points)
    assert s.eligibility.settlement == ("reimburse_at_home" if category is None else "direct")
    assert s.pre_self_pay == Decimal("1000.00")
    assert s.in_scope == Decimal("47000.00")
    assert s.deductible == Decimal("1000.00")
    assert s.basic_fund == Decimal(basic)
    assert s.tier2_kind == "critical_illness"
    assert s.critical_illness_fund == Decimal(tier2)
    assert s.medical_assistance_fund == Decimal("0.00")
    assert s.personal_total == Decimal(personal)
    assert s.basic_fund + s.critical_illness_fund + s.personal_total == Decimal("50000.00")


def test_three_filings_three_different_fund_payments() -> None:
    funds = [settle(category).basic_fund for category in EXPECTED]
    assert len(set(funds)) == 3
    assert funds == sorted(funds, reverse=True)  # referral > other_temporary > not filed
