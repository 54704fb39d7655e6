"""The engine remembers what the catalogue says of an item; the memory must never change an answer."""

from __future__ import annotations

from decimal import Decimal

import pytest

from medins.api import estimate, load_rules, parse_case
from medins.errors import MedinsError

RULES = load_rules()

# 甲磺酸多拉司琼注射液 (NRDL2024-3405, class 乙) has two payment standards in rules/drug-lists/nrdl-2024.json:
# 1ml:12.5mg/支 at 13.60 and 5ml:100mg/支 at 66.82.
DRUG = "甲磺酸多拉司琼注射液"


def _bill(spec: str | None) -> dict:
    item: dict = {"name": DRUG, "quantity": "2", "unit_price": "70.00"}
    if spec is not None:
        item["spec"] = spec
    return {
        "person": {"insured_region": "130100", "scheme": "resident", "status": "general"},
        "filing": {"category": "referral", "destination": "110000", "start": "2024-01-01", "filed_on": "2024-01-01"},
        "visit": {
            "region": "110000",
            "type": "inpatient",
            "hospital_level": 3,
            "admitted": "2024-03-01",
            "discharged": "2024-03-05",
        },
        "items": [item],
    }


def over_ceiling(spec: str | None) -> Decimal:
    return estimate(parse_case(_bill(spec), "bill"), RULES, explain=False).over_ceiling


def test_same_drug_other_spec_other_ceiling_in_any_order() -> None:
    # 2 × 70.00 = 140.00; small spec: (70.00 − 13.60) × 2 = 112.80 over the ceiling;
    # large spec: (70.00 − 66.82) × 2 = 6.36; no spec with two standards: no ceiling applied, 0.00.
    expected = {"1ml:12.5mg/支": Decimal("112.80"), "5ml:100mg/支": Decimal("6.36"), None: Decimal("0.00")}
    for spec in ["1ml:12.5mg/支", "5ml:100mg/支", None, "5ml:100mg/支", "1ml:12.5mg/支", None]:
        assert over_ceiling(spec) == expected[spec], spec


def test_a_fresh_rule_set_gets_its_own_answers() -> None:
    first = over_ceiling("1ml:12.5mg/支")
    again = estimate(parse_case(_bill("1ml:12.5mg/支"), "bill"), load_rules(), explain=False).over_ceiling
    assert first == again == Decimal("112.80")


@pytest.mark.parametrize("text", ["NaN", "inf", "-Infinity", "sNaN"])
def test_text_that_is_not_a_finite_amount_is_refused(text: str) -> None:
    bill = _bill(None)
    bill["items"][0] = {"name": DRUG, "amount": text}
    with pytest.raises(MedinsError) as err:
        parse_case(bill, "bill")
    assert err.value.where == "bill: items[0].amount"
    assert err.value.message.en == f"{text!r} is not an amount; write a finite number"
