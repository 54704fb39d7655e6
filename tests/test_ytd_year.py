"""The year-to-date amounts a bill leaves belong to the year of the visit, not of the rule date.

``--as-of`` chooses which rule values apply; the bill is still in its own year, so the amounts it
leaves must carry that year: the next bill of the same year goes on from them (a later year starts
from zero). Settling the README's story (discharged 2025-03-22) with rules as of 2024-09-01 once
stamped the amounts 2024, and the next 2025 bill then started from zero.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from medins import estimate, load_case

STORY = Path(__file__).parent.parent / "examples" / "shijiazhuang-resident-beijing.toml"


def test_amounts_after_a_bill_settled_as_of_another_year_keep_the_visits_year() -> None:
    case = load_case(STORY)
    assert case.visit.service_date.year == 2025
    as_given = estimate(case)
    as_of_2024 = estimate(case, as_of=date(2024, 9, 1))
    assert as_given.ytd_after.year == 2025
    assert as_of_2024.ytd_after.year == 2025
    # the next bill of 2025 goes on from them: its deductible is the second stay's, not the first's
    second = case.model_copy(update={"ytd": as_of_2024.ytd_after})
    assert estimate(second, as_of=date(2024, 9, 1)).ytd_after.admissions == 2
