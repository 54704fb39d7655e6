"""Golden what-if cases: comparisons and years worked out by hand from the rule values.

``tests/golden/compare/NN-name.toml`` is a case whose comments work out every scenario by hand;
beside it ``NN-name.json`` holds ``vary`` (name → values, in the order of the product), ``as_given``
and ``scenarios`` (one object per scenario in product order: any of the keys of a scenario in
``medins compare --format json``, plus ``todo_contains``, a text the English "what to do" must
hold), optionally ``as_of`` and ``rules`` (a rules directory under ``tests/golden``; default: the
shipped rules).

``tests/golden/year/NN-name.toml`` is a year file worked out by hand; ``NN-name.json`` holds
``order`` (the file positions, from 1, in settlement order), ``bills`` (in that order: amounts and
``crossings`` as ``[tier, kind, at, ratio_before, ratio_after]``), ``totals`` and ``ytd_after``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from medins import api
from medins.whatif import compare, comparison_json, estimate_year, year_json

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
COMPARE = sorted((GOLDEN / "compare").glob("*.toml"))
YEARS = sorted((GOLDEN / "year").glob("*.toml"))


def _rules(expected: dict[str, Any]) -> Any:
    return api.load_rules(GOLDEN / expected["rules"]) if "rules" in expected else api.load_rules()


def _same(expected: Any, actual: Any) -> bool:
    """An expected amount "9690.00" is the Decimal 9690.00 exactly, two decimals included."""
    if isinstance(actual, Decimal):
        return isinstance(expected, str) and format(actual, "f") == expected
    return expected == actual


def _mismatches(expected: dict[str, Any], actual: dict[str, Any], where: str) -> list[str]:
    out = []
    for key, value in expected.items():
        if key == "todo_contains":
            if not any(value in line for line in actual["todo"]):
                out.append(f"{where}.todo: {value!r} not in {actual['todo']!r}")
        elif isinstance(value, dict):
            out += _mismatches(value, actual.get(key) or {}, f"{where}.{key}")
        elif key not in actual:
            out.append(f"{where}.{key}: missing")
        elif not _same(value, actual[key]):
            out.append(f"{where}.{key}: expected {value!r}, got {actual[key]!r}")
    return out


def test_golden_cases_present() -> None:
    assert len(COMPARE) >= 5 and len(YEARS) >= 2
    for path in COMPARE + YEARS:
        assert path.with_suffix(".json").exists(), f"{path.name} has no expected .json"


@pytest.mark.parametrize("case_path", COMPARE, ids=[p.stem for p in COMPARE])
def test_golden_compare(case_path: Path) -> None:
    expected = json.loads(case_path.with_suffix(".json").read_text(encoding="utf-8"))
    result = compare(api.load_case(case_path), expected["vary"], _rules(expected))
    actual = comparison_json(result, "en")
    problems = _mismatches(expected["as_given"], actual["as_given"], "as_given")
    if len(actual["scenarios"]) != len(expected["scenarios"]):
        problems.append(f"{len(actual['scenarios'])} scenarios, expected {len(expected['scenarios'])}")
    for i, (want, got) in enumerate(zip(expected["scenarios"], actual["scenarios"], strict=False), 1):
        problems += _mismatches(want, got, f"scenario {i}")
    for s in result.scenarios:  # every scenario reconciles to the fen
        st = s.settlement
        assert st.total == st.basic_fund + st.tier2_fund + st.medical_assistance_fund + st.personal_total
    assert not problems, f"{case_path.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("year_path", YEARS, ids=[p.stem for p in YEARS])
def test_golden_year(year_path: Path) -> None:
    expected = json.loads(year_path.with_suffix(".json").read_text(encoding="utf-8"))
    result = estimate_year(year_path, _rules(expected))
    actual = year_json(result, "en")
    problems = []
    order = [b["visit"] for b in actual["bills"]]
    if order != expected["order"]:
        problems.append(f"order: expected {expected['order']}, got {order}")
    for i, (want, got) in enumerate(zip(expected["bills"], actual["bills"], strict=True), 1):
        want = dict(want)
        crossings = want.pop("crossings")
        problems += _mismatches(want, got, f"bill {i}")
        found = [
            [c["tier"], c["kind"], format(c["at"], "f") if c["at"] is not None else None]
            + [
                str(Decimal(r).quantize(Decimal("0.01")))
                for r in (c["ratio_before"], c["ratio_after"])
                if r is not None
            ]
            for c in got["crossings"]
        ]
        if found != crossings:
            problems.append(f"bill {i}.crossings: expected {crossings}, got {found}")
    problems += _mismatches(expected["totals"], actual["totals"], "totals")
    problems += _mismatches(expected["ytd_after"], actual["ytd_after"], "ytd_after")
    totals = result.totals
    assert totals["total"] == (
        totals["basic_fund"] + totals["tier2_fund"] + totals["medical_assistance_fund"] + totals["personal_total"]
    )
    assert not problems, f"{year_path.name}:\n  " + "\n  ".join(problems)
