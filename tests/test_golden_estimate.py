"""Golden estimates: hand-worked cases settled against a small test rules directory.

Each ``tests/golden/estimate/NN-name.toml`` is a case whose comments work out every expected amount
by hand from the rule values in ``tests/golden/rules``; beside it, ``NN-name.json`` holds the expected
values: any subset of the keys of ``medins estimate --format json``, plus ``warning_codes`` (the set of
warning codes), ``settlement`` and ``benefit_category`` (from the eligibility), ``ytd_after`` (a subset
of the year-to-date amounts after the bill) and optionally ``as_of``, and ``rules``: a rules directory
under ``tests/golden`` that the case uses instead of ``tests/golden/rules``.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from medins import api
from medins.cli import cli
from medins.render import settlement_json

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
RULES = GOLDEN / "rules"
CASES = sorted((GOLDEN / "estimate").glob("*.toml"))

SPECIAL = {"as_of", "warning_codes", "settlement", "benefit_category", "ytd_after", "rules"}


def _same_amount(expected: Any, actual: Any) -> bool:
    """ytd_after amounts serialise as plain decimals ('0', '1440.00'): compare them as numbers."""
    if isinstance(expected, str) and isinstance(actual, str):
        try:
            return Decimal(expected) == Decimal(actual)
        except InvalidOperation:
            return expected == actual
    return expected == actual


def _subset_mismatches(expected: Any, actual: Any, path: str) -> list[str]:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        out: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{path}.{key}: missing")
            else:
                out += _subset_mismatches(value, actual[key], f"{path}.{key}")
        return out
    if not _same_amount(expected, actual):
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []


@pytest.mark.parametrize("case_path", CASES, ids=[p.stem for p in CASES])
def test_golden_estimate(case_path: Path) -> None:
    expected = json.loads(case_path.with_suffix(".json").read_text(encoding="utf-8"))
    as_of = date.fromisoformat(expected["as_of"]) if "as_of" in expected else None
    case = api.load_case(case_path)
    rules = GOLDEN / expected["rules"] if "rules" in expected else RULES
    result = api.estimate(case, api.load_rules(rules), as_of)
    actual = settlement_json(result, "en")

    problems: list[str] = []
    for key, value in expected.items():
        if key in SPECIAL:
            continue
        if key not in actual:
            problems.append(f"{key}: not in the output")
        elif actual[key] != value:
            problems.append(f"{key}: expected {value!r}, got {actual[key]!r}")
    if "warning_codes" in expected:
        codes = {w["code"] for w in actual["warnings"]}
        if set(expected["warning_codes"]) != codes:
            problems.append(f"warning_codes: expected {sorted(expected['warning_codes'])}, got {sorted(codes)}")
    if "settlement" in expected and result.eligibility.settlement != expected["settlement"]:
        problems.append(f"settlement: expected {expected['settlement']!r}, got {result.eligibility.settlement!r}")
    if "benefit_category" in expected and result.eligibility.benefit_category != expected["benefit_category"]:
        problems.append(
            f"benefit_category: expected {expected['benefit_category']!r}, got {result.eligibility.benefit_category!r}"
        )
    if "ytd_after" in expected:
        problems += _subset_mismatches(expected["ytd_after"], actual["ytd_after"], "ytd_after")
    assert not problems, f"{case_path.name}:\n  " + "\n  ".join(problems)


def test_golden_cases_present() -> None:
    assert len(CASES) >= 24
    for case_path in CASES:
        assert case_path.with_suffix(".json").exists(), f"{case_path.name} has no expected .json"


def _rules_dirs() -> list[Path]:
    named = {json.loads(p.with_suffix(".json").read_text(encoding="utf-8")).get("rules") for p in CASES}
    return [RULES, *(GOLDEN / n for n in sorted(n for n in named if n))]


@pytest.mark.parametrize("rules_dir", _rules_dirs(), ids=lambda p: p.name)
def test_golden_rules_validate(rules_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["rules", "validate", "--lang", "en", str(rules_dir)])
    assert result.exit_code == 0, result.output
    assert " 0 errors" in result.output
