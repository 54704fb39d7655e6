"""OUT as XLSX holds the service date as a date, formatted YYYY-MM-DD (a CSV holds the same text)."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import openpyxl

from medins.batch import BatchOptions, run_batch

FIX = Path(__file__).parent / "fixtures" / "batch"


def test_xlsx_dates_are_dates(tmp_path: Path) -> None:
    run_batch(BatchOptions(FIX / "march.csv", tmp_path / "out.xlsx"))
    run_batch(BatchOptions(FIX / "march.csv", tmp_path / "out.csv"))
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx").active
    head = [c.value for c in sheet[1]]
    column = head.index("service_date") + 1
    with (tmp_path / "out.csv").open(encoding="utf-8-sig", newline="") as f:
        texts = [row["service_date"] for row in csv.DictReader(f)]
    cells = [sheet.cell(r, column) for r in range(2, sheet.max_row + 1)]
    assert len(cells) == len(texts) > 0
    for cell, text in zip(cells, texts, strict=True):
        assert isinstance(cell.value, datetime) and cell.number_format == "yyyy-mm-dd"
        assert cell.value.date().isoformat() == text
