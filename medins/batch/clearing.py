"""CLEARING: what the insured places owe the treatment places, by month and pair of regions, with
the dates the month is declared and cleared by.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from medins.batch.bill import Aggregates
from medins.batch.schema import CLEARING_COLUMNS
from medins.engine.eligibility import add_months
from medins.tabular import Outputs, TableWriter


def clearing_dates(month: str) -> tuple[date, date]:
    """Declaration due (the 20th of the following month) and clearing due (two months after that)."""
    year, mon = int(month[:4]), int(month[5:7])
    declaration = add_months(date(year, mon, 20), 1)
    return declaration, add_months(declaration, 2)


def _write_clearing(outputs: Outputs, path: Path, agg: Aggregates) -> None:
    kinds = ["text", "text", "text", "int", "money", "money", "money", "money", "money", "text", "text"]
    w = TableWriter(outputs.temp_for(path), path, list(CLEARING_COLUMNS), kinds, "clearing")
    for (insured, treated, month), acc in sorted(agg.clearing.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
        declaration, clearing = clearing_dates(month)
        w.write(
            [
                insured,
                treated,
                month,
                str(acc[0]),
                *[f"{v:.2f}" for v in acc[1:]],
                declaration.isoformat(),
                clearing.isoformat(),
            ]
        )
    w.close()
