"""The converted files the project ships: the 2024 national drug list and the region table."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest

from medins import regions
from medins.rules_model import DrugCeiling, DrugList

DRUG_LIST = Path(__file__).resolve().parents[1] / "rules" / "drug-lists" / "nrdl-2024.json"


@cache
def drug_list() -> DrugList:
    """The shipped drug list, read with exact decimals."""
    return DrugList.model_validate(json.loads(DRUG_LIST.read_text("utf-8"), parse_float=Decimal))


def test_drug_list_holds_every_record() -> None:
    model = drug_list()
    assert model.edition == "nrdl-2024"
    assert str(model.effective) == "2025-01-01"
    assert model.source.confidence == "primary"
    assert len(model.drugs) == 4750
    assert len({d.code for d in model.drugs}) == 4750
    assert model.drugs[0].code == "NRDL2024-0001"
    assert model.drugs[-1].code == "NRDL2024-4750"


def test_drug_list_has_no_floats() -> None:
    json.loads(DRUG_LIST.read_text("utf-8"), parse_float=lambda s: pytest.fail(f"float {s}"))


def test_drug_list_known_drugs() -> None:
    by_name = {d.name: d for d in drug_list().drugs}
    borax = by_name["复方硼砂"]
    assert (borax.dosage_form, borax.drug_class) == ("外用液体剂", "A")
    ilaprazole = by_name["注射用艾普拉唑钠"]
    assert ilaprazole.drug_class == "B"
    assert ilaprazole.ceilings == [DrugCeiling(spec="10mg/支", price=Decimal("63.00"))]


def test_drug_list_counts_by_class_and_herbal() -> None:
    drugs = drug_list().drugs
    assert sum(d.drug_class == "A" for d in drugs) == 767
    assert sum(d.drug_class == "B" for d in drugs) == 3059
    assert sum(d.herbal == "paid" for d in drugs) == 892
    assert sum(d.herbal == "excluded" for d in drugs) == 32


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("110000", "北京市"),
        ("130100", "石家庄市"),
        ("310000", "上海市"),
        ("330400", "嘉兴市"),
        ("230400", "鹤岗市"),
        ("130125", "行唐县"),
    ],
)
def test_regions_know_the_places_used(code: str, name: str) -> None:
    region = regions.lookup(code)
    assert region is not None
    assert (region.name, region.status) == (name, "in_use")
