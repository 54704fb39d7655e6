"""The README tells the truth, and the story examples settle as worked out by hand."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from medins.api import estimate, load_case
from medins.cli import cli

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))


def test_readme_regions_table_is_what_rules_list_prints() -> None:
    result = CliRunner().invoke(cli, ["rules", "list", "--format", "markdown", "--lang", "en"])
    assert result.exit_code == 0
    assert result.output.strip() in README


def test_readme_quick_start_output_is_real() -> None:
    block = re.search(r"Its real output:\n\n```text\n(.*?)\n```", README, re.S)
    assert block is not None
    result = CliRunner().invoke(cli, ["estimate", str(ROOT / "examples" / "shijiazhuang-resident-beijing.toml")])
    assert result.exit_code == 0
    assert result.output.strip() == block.group(1)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_estimates_and_checks(path: Path) -> None:
    for command in ("estimate", "check"):
        result = CliRunner().invoke(cli, [command, str(path), "--format", "json"])
        assert result.exit_code == 0, result.output


def test_shijiazhuang_resident_referred_to_beijing() -> None:
    # 130100 resident inpatient level 3: deductible 1000, ratio 0.60; referral: points 0.10 -> 0.50.
    # Beijing catalogue: class-B drugs pre-self-pay 0.10 -> 12000.00 × 10% = 1200.00.
    # in scope = 68000.00 − 3000.00 − 1200.00 = 63800.00
    # tier 1: (63800.00 − 1000.00) × 50% = 31400.00; burden = 63800.00 − 31400.00 = 32400.00
    # tier 2 (critical illness, deductible 15000, 60% to 100000): (32400.00 − 15000.00) × 60% = 10440.00
    # tier 3 (subsistence, deductible 0, 75%): (32400.00 − 10440.00) × 75% = 21960.00 × 75% = 16470.00
    # patient: 68000.00 − 31400.00 − 10440.00 − 16470.00 = 9690.00
    s = estimate(load_case(ROOT / "examples" / "shijiazhuang-resident-beijing.toml"))
    assert (s.basic_fund, s.critical_illness_fund, s.medical_assistance_fund, s.personal_total) == (
        Decimal("31400.00"),
        Decimal("10440.00"),
        Decimal("16470.00"),
        Decimal("9690.00"),
    )
    assert s.eligibility.settlement == "direct" and s.deferred == ()


def test_jiaxing_retiree_outpatient_in_shanghai() -> None:
    # lines: 25.00 (A) + 28 × 0.45 = 12.60 (A) + 60 × 0.30 = 18.00 (A) + 28 × 2.10 = 58.80 (B) = 114.40
    # Shanghai catalogue: class-B drug pre-self-pay 10% -> 5.88; in scope 108.52
    # 330400 employee outpatient, retired, level 3: annual deductible 700, 75%; relocated retiree: no reduction
    # ytd: 640.00 in scope, 640.00 deductible paid -> 60.00 left; bands on the year: (748.52 − 700.00) × 75% = 36.39
    s = estimate(load_case(ROOT / "examples" / "jiaxing-retiree-shanghai-outpatient.toml"))
    assert (s.total, s.pre_self_pay, s.deductible, s.basic_fund, s.personal_total) == (
        Decimal("114.40"),
        Decimal("5.88"),
        Decimal("60.00"),
        Decimal("36.39"),
        Decimal("78.01"),
    )


def test_hegang_long_term_resident_in_shanghai() -> None:
    # 23600.00 − 1100.00 − 5200.00 × 10% (520.00) = 21980.00 in scope
    # 230400 resident inpatient level 3: deductible 600, 65%; long-term resident: no reduction
    # tier 1: (21980.00 − 600.00) × 65% = 13897.00; burden 8083.00 < critical-illness deductible 12000 -> 0
    s = estimate(load_case(ROOT / "examples" / "hegang-long-term-resident.toml"))
    assert (s.in_scope, s.basic_fund, s.critical_illness_fund, s.personal_total) == (
        Decimal("21980.00"),
        Decimal("13897.00"),
        Decimal("0.00"),
        Decimal("9703.00"),
    )
