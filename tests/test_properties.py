"""Invariants over random bills and random rule values (hypothesis).

For every bill: total = tier 1 + tier 2 + tier 3 + personal, exactly; no tier negative; no tier above
its remaining cap; and a larger bill never leaves the patient paying less, other things equal.
"""

from __future__ import annotations

from copy import deepcopy
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from medins.api import estimate, load_rules, parse_case
from medins.engine.tiers import pay_through_bands
from medins.loader import RegionPack, RuleSet, read_toml
from medins.rules_model import Band, Standards

HERE = Path(__file__).parent
BASE = read_toml(HERE / "fixtures" / "broken" / "valid" / "130100" / "standards.toml")
SHIPPED = load_rules(None)

money = st.decimals(min_value=0, max_value=500000, places=2, allow_nan=False, allow_infinity=False)
ratio = st.decimals(min_value=0, max_value=1, places=2, allow_nan=False, allow_infinity=False)


@st.composite
def bands(draw: Any) -> list[dict[str, Any]]:
    cuts = sorted(set(draw(st.lists(st.integers(1000, 300000), max_size=3))))
    out: list[dict[str, Any]] = []
    for cut in cuts:
        out.append({"to": Decimal(cut), "ratio": draw(ratio)})
    out.append({"ratio": draw(ratio)})
    return out


@st.composite
def standards(draw: Any) -> Standards:
    data = deepcopy(BASE)
    inpatient = data["resident"]["inpatient"][0]
    inpatient["rates"] = [{"deductible": draw(money.filter(lambda m: m < 5000)), "bands": draw(bands())}]
    inpatient["cap_mode"] = draw(st.sampled_from(["fund", "base"]))
    inpatient["cap"] = draw(st.one_of(st.none(), st.decimals(min_value=1000, max_value=400000, places=0)))
    if inpatient["cap"] is None:
        del inpatient["cap"]
    inpatient["deductible_basis"] = draw(st.sampled_from(["admission", "year"]))
    mode = draw(st.sampled_from(["none", "points", "multiplier", "extra_pre_self_pay"]))
    value = Decimal(0) if mode == "none" else draw(st.decimals(min_value=Decimal("0.01"), max_value=1, places=2))
    data["offsite"][0]["categories"]["referral"] = {"mode": mode, "value": value}
    data["resident"]["tier2"] = [
        {
            "effective": date(2024, 1, 1),
            "source": "test",
            "kind": "critical_illness",
            "base": "personal_burden",
            "include_pre_self_pay": draw(st.booleans()),
            "deductible": draw(money.filter(lambda m: m < 30000)),
            "bands": draw(bands()),
            "cap": draw(st.decimals(min_value=1000, max_value=400000, places=0)),
        }
    ]
    data["assistance"] = [
        {
            "effective": date(2024, 1, 1),
            "source": "test",
            "direct_settlement": draw(st.booleans()),
            "income_reference": Decimal(40000),
            "categories": {
                "subsistence": {
                    "deductible_share": draw(st.decimals(min_value=0, max_value=Decimal("0.3"), places=2)),
                    "ratio": draw(ratio),
                    "cap": draw(st.decimals(min_value=100, max_value=100000, places=0)),
                }
            },
        }
    ]
    return Standards.model_validate(data)


@st.composite
def bills(draw: Any) -> dict[str, Any]:
    total = draw(st.decimals(min_value=1, max_value=600000, places=2))
    fully = draw(st.decimals(min_value=0, max_value=total, places=2))
    class_b = draw(st.decimals(min_value=0, max_value=total - fully, places=2))
    return {"total": total, "fully_self_paid": fully, "class_b": class_b}


@st.composite
def ytds(draw: Any) -> dict[str, Any]:
    in_scope = draw(money)
    return {
        "admissions": draw(st.integers(0, 3)),
        "inpatient": {
            "in_scope": in_scope,
            "deductible": draw(money.filter(lambda m: m < 5000)),
            "fund": draw(st.decimals(min_value=0, max_value=in_scope, places=2)),  # the fund pays within scope
        },
        "tier2_base": draw(money),
        "tier2_fund": draw(money),
        "assistance_base": draw(money),
        "assistance_fund": draw(money.filter(lambda m: m < 100000)),
    }


def rules_with(std: Standards) -> RuleSet:
    packs = dict(SHIPPED.packs)
    packs["130100"] = RegionPack("130100", SHIPPED.root / "130100", standards=std)
    return RuleSet(SHIPPED.root, packs)


def case(summary: dict[str, Any], ytd: dict[str, Any], filed: bool = True) -> Any:
    data: dict[str, Any] = {
        "person": {"insured_region": "130100", "scheme": "resident", "assistance": "subsistence"},
        "visit": {"region": "110000", "type": "inpatient", "hospital_level": 3, "admitted": date(2025, 3, 1)},
        "summary": summary,
        "ytd": ytd,
    }
    if filed:
        data["filing"] = {"category": "referral", "destination": "110000", "start": date(2025, 2, 1)}
    return parse_case(data)


@settings(max_examples=300, deadline=None)
@given(std=standards(), bill=bills(), ytd=ytds(), filed=st.booleans())
def test_every_bill_reconciles_within_caps(
    std: Standards, bill: dict[str, Any], ytd: dict[str, Any], filed: bool
) -> None:
    rules = rules_with(std)
    s = estimate(case(bill, ytd, filed), rules)
    lean = estimate(case(bill, ytd, filed), rules, explain=False)  # the batch path: no trail, same result
    assert lean.trail == () and s.trail
    assert (
        lean.basic_fund,
        lean.tier2_fund,
        lean.medical_assistance_fund,
        lean.personal_total,
        lean.ytd_after,
        lean.warnings,
    ) == (s.basic_fund, s.tier2_fund, s.medical_assistance_fund, s.personal_total, s.ytd_after, s.warnings)
    assert s.total == s.basic_fund + s.tier2_fund + s.medical_assistance_fund + s.personal_total
    assert s.total == s.fully_self_paid + s.over_ceiling + s.pre_self_pay + s.in_scope
    for amount in (s.basic_fund, s.tier2_fund, s.medical_assistance_fund, s.personal_total, s.deductible):
        assert amount >= 0 and amount == amount.quantize(Decimal("0.01"))
    inpatient = std.resident.inpatient[0]  # type: ignore[union-attr]
    if inpatient.cap is not None and inpatient.cap_mode == "fund":
        assert s.basic_fund <= max(Decimal(0), inpatient.cap - ytd["inpatient"]["fund"])
    tier2 = std.resident.tier2[0]  # type: ignore[union-attr]
    assert s.tier2_fund <= max(Decimal(0), tier2.cap - ytd["tier2_fund"])  # type: ignore[operator]
    cap3 = std.assistance[0].categories["subsistence"].cap
    assert s.medical_assistance_fund <= max(Decimal(0), cap3 - ytd["assistance_fund"])  # type: ignore[operator]
    # the year-to-date amounts grow by exactly what this bill used
    assert s.ytd_after.tier2_fund == ytd["tier2_fund"] + s.tier2_fund
    assert s.ytd_after.inpatient.fund == ytd["inpatient"]["fund"] + s.basic_fund


@settings(max_examples=300, deadline=None)
@given(
    std=standards(),
    bill=bills(),
    ytd=ytds(),
    extra=st.decimals(min_value=1, max_value=100000, places=2),
    filed=st.booleans(),
)
def test_a_larger_bill_never_costs_the_patient_less(
    std: Standards, bill: dict[str, Any], ytd: dict[str, Any], extra: Decimal, filed: bool
) -> None:
    rules = rules_with(std)
    smaller = estimate(case(bill, ytd, filed), rules)
    larger = estimate(case({**bill, "total": bill["total"] + extra}, ytd, filed), rules)
    assert larger.personal_total >= smaller.personal_total
    assert larger.fund_total >= smaller.fund_total - Decimal("0.02")  # rounding of three tiers at most


@settings(max_examples=500, deadline=None)
@given(
    amount=money,
    deductible=money,
    used=money,
    bands_=bands(),
    cap=st.one_of(st.none(), money),
    mode=st.sampled_from(["fund", "base"]),
    fund_used=money,
    base_used=money,
    start=money,
)
def test_pay_through_bands_bounds(
    amount: Decimal,
    deductible: Decimal,
    used: Decimal,
    bands_: list[dict[str, Any]],
    cap: Decimal | None,
    mode: str,
    fund_used: Decimal,
    base_used: Decimal,
    start: Decimal,
) -> None:
    result = pay_through_bands(
        amount,
        deductible=deductible,
        deductible_used=used,
        bands=[Band.model_validate(b) for b in bands_],
        band_start=start,
        cap=cap,
        cap_mode=mode,
        fund_used=fund_used,
        base_used=base_used,
    )
    assert 0 <= result.deductible <= amount
    assert result.deductible == min(amount, max(Decimal(0), deductible - used))
    assert 0 <= result.paid <= amount - result.deductible + Decimal("0.005")
    assert 0 <= result.above_cap <= amount
    if cap is not None and mode == "fund":
        assert result.paid <= max(Decimal(0), cap - fund_used)
