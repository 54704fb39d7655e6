"""A case built without pydantic's validator (``medins.plain``) is the case pydantic builds, or none.

Every case file of the golden tests and the examples takes the plain path and gives the same models,
field by field (types, decimals as written, which keys were given); every mapping the case fuzzers
make (values of every TOML type, at random key paths) is either built the same or left to pydantic,
and a mapping pydantic refuses is always left to it, so its message is the one the user sees.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import BaseModel, ValidationError
from test_case_fuzz import BASE, EXAMPLES, mutated, well_typed

from medins import api
from medins.case_model import Accum, Case, Item
from medins.plain import construct

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).parent

CASE_FILES = sorted(
    [
        *(HERE / "golden" / "estimate").glob("*.toml"),
        *(HERE / "golden" / "check").glob("*.toml"),
        *(HERE.parent / "examples").glob("*.toml"),
    ]
)


def _fields(value: Any) -> Any:
    """A model as its class, the keys it was given and every field's value with its type and text."""
    if isinstance(value, BaseModel):
        return (
            type(value),
            sorted(value.model_fields_set),
            list(value.__dict__),
            {k: _fields(v) for k, v in value.__dict__.items()},
            value.__pydantic_extra__,
            value.__pydantic_private__,
        )
    if isinstance(value, list):
        return [_fields(v) for v in value]
    if isinstance(value, dict):
        return {k: _fields(v) for k, v in value.items()}
    return type(value), repr(value)


def _validated(data: Any) -> Case | None:
    try:
        return Case.model_validate(data)
    except ValidationError:
        return None


def _same_or_declined(data: Any) -> Case | None:
    built = construct(Case, data)
    validated = _validated(data)
    if built is not None:
        assert validated is not None, "the plain path took a case pydantic refuses"
        assert _fields(built) == _fields(validated)
    return built


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_case_file_takes_the_plain_path_to_the_same_case(path: Path) -> None:
    data = tomllib.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    if "visits" in data:  # a year of visits: each is a case
        pytest.skip("a year file")
    data = api._in_vocabulary(data, str(path), [])
    assert _validated(data) is not None
    assert _same_or_declined(data) is not None


def test_defaults_are_made_as_pydantic_makes_them() -> None:
    # no ytd, no quantity, class_b left out: the defaults, and "class_b" not among the keys given
    data = copy.deepcopy(BASE)
    data["summary"] = {"total": Decimal("100.00"), "pre_self_pay": Decimal("10.00")}
    data.pop("ytd", None)
    case = _same_or_declined(data)
    assert case is not None
    assert case.summary is not None and case.summary.model_fields_set == {"total", "pre_self_pay"}
    assert case.ytd.inpatient == Accum() and case.ytd.model_fields_set == set()
    item = construct(Item, {"name": "x", "unit_price": Decimal("2.5")})
    assert item is not None and item.quantity == Decimal(1) and item.model_fields_set == {"name", "unit_price"}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("visit.hospital_level", True),  # the field's own validator refuses it (level_value)
        ("summary.total", "12,34"),  # the amount validator refuses it
        ("visit.region", "１１００００"),  # full-width digits: not six ASCII digits
        ("visit.region", "110000\n"),
        ("person.id", 5),  # not text: pydantic refuses it (string_type)
        ("summary.class_b", Decimal("99999.00")),  # parts above the total: the model validator refuses
        ("person.chronic_diseases", ("diabetes",)),  # a tuple, which pydantic turns into a list
        ("person.unknown", "x"),
    ],
)
def test_what_the_plain_path_leaves_to_pydantic(key: str, value: Any) -> None:
    data = copy.deepcopy(BASE)
    section, name = key.split(".")
    data[section][name] = value
    assert construct(Case, data) is None


def test_values_a_field_validator_reads_are_read_the_same() -> None:
    data = copy.deepcopy(BASE)
    data["visit"] = {**data["visit"], "hospital_level": "3"}
    data["summary"] = {**data["summary"], "total": "68,000.00", "class_b": 12000}
    case = _same_or_declined(data)
    assert case is not None and case.visit.hospital_level == 3 and str(case.summary.total) == "68000.00"


def test_a_date_by_alias_and_by_name_is_left_to_pydantic() -> None:
    data = copy.deepcopy(BASE)
    data["visit"] = {**data["visit"], "date": data["visit"]["admitted"], "date_": data["visit"]["admitted"]}
    assert construct(Case, data) is None


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=mutated())
def test_any_case_mapping_is_built_the_same_or_left_to_pydantic(data: dict[str, Any]) -> None:
    _same_or_declined(data)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=well_typed())
def test_any_well_typed_case_is_built_the_same_or_left_to_pydantic(data: dict[str, Any]) -> None:
    _same_or_declined(data)


def test_a_quick_estimate_builds_no_validator() -> None:
    """A fresh process settling the story builds no pydantic validator and never imports
    importlib.metadata (pydantic's plugin loader): the case takes the plain path, the rules come from
    the cache (written by the first run)."""
    story = HERE.parent / "examples" / "shijiazhuang-resident-beijing.toml"
    code = (
        "import sys, medins\n"
        f"case = medins.load_case({str(story)!r})\n"
        "medins.estimate(case, medins.load_rules())\n"
        "from medins.case_model import Case\n"
        "print(Case.__pydantic_complete__, 'importlib.metadata' in sys.modules)\n"
        f"print(medins.load_case({str(story)!r}) == case, Case.__pydantic_complete__)\n"
    )
    for _ in range(2):  # the first run may write the rules cache
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # the second case of a process is validated by pydantic, to the same case
    assert out.split() == ["False", "False", "True", "True"]
