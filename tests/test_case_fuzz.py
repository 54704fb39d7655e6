"""Fuzzing the case boundary: any mapping a case file can hold gets a settlement or a ``MedinsError``.

A valid case (the README's story, with an itemised variant) is mutated at random key paths with
values of every TOML type, extreme numbers and dates; ``parse_case``, ``estimate`` and ``check``
must answer or refuse with a ``MedinsError`` (a ``CaseError`` from ``parse_case``), never raise
anything else. ``MEDINS_FUZZ_EXAMPLES`` raises the number of examples (the suite runs a few).
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medins.api import check, estimate, load_rules, parse_case
from medins.case_model import YearToDate
from medins.cli import cli
from medins.codes import ASSISTANCE_CATEGORIES, CATEGORIES, NATIONAL_CHRONIC, VISIT_TYPES
from medins.errors import CaseError, MedinsError
from medins.money import MAX_AMOUNT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

sys.path.insert(0, str(Path(__file__).parent / "bad_input"))
import kit

EXAMPLES = int(os.environ.get("MEDINS_FUZZ_EXAMPLES", "150"))
RULES = load_rules()
BASE: dict[str, Any] = tomllib.loads(kit.case_toml(), parse_float=Decimal)
ITEMISED: dict[str, Any] = {k: v for k, v in BASE.items() if k != "summary"} | {
    "items": [
        {"name": "注射用艾普拉唑钠", "spec": "10mg/支", "quantity": 6, "unit_price": Decimal("70.00")},
        {"code": "BJ-SVC-0004", "quantity": 2, "unit_price": Decimal("300")},
    ]
}
KEYS = {
    "person": ["id", "insured_region", "scheme", "status", "assistance", "chronic_diseases"],
    "filing": ["category", "destination", "start", "end", "filed_on", "materials"],
    "visit": ["region", "type", "hospital_level", "hospital", "disease", "admitted", "discharged", "date"],
    "summary": ["total", "fully_self_paid", "over_ceiling", "class_b", "pre_self_pay"],
    "ytd": ["year", "admissions", "tier2_base", "tier2_fund", "assistance_base", "assistance_fund"],
    "ytd.inpatient": ["in_scope", "deductible", "fund", "above_cap"],
    "items[0]": ["code", "name", "quantity", "unit_price", "amount", "kind", "restriction_met", "spec"],
}

numbers = st.one_of(
    st.integers(-(10**20), 10**20),
    st.sampled_from([0, 1, 3, 4, -1, 20250310, 1741564800, 2**63, 10**400]),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [Decimal("1e27"), Decimal("1e-400"), Decimal("9.2e18"), Decimal("0.001"), Decimal("-0"), Decimal("sNaN")]
    ),
    st.floats(),
)
texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "5000,50",
            "1,234.50",
            "1,23",
            "nan",
            "inf",
            "1e27",
            "2025-03-10",
            "2025-02-30",
            "9999-12-31",
            "0001-01-01",
            "110000",
            "130100",
            "999999",
            "referral",
            "H11010500001",
            "hypertension",
            "¥12",
            "12元",
        ]
    ),
)
dates = st.one_of(
    st.dates(),
    st.sampled_from([date.min, date.max, date(9999, 12, 1), date(2025, 3, 10), date(1900, 1, 1)]),
    st.datetimes(),
    st.just(datetime(2025, 3, 10)),
)
values = st.recursive(
    st.one_of(st.booleans(), numbers, texts, dates),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)


def _target(data: dict[str, Any], section: str) -> dict[str, Any] | None:
    node: Any = data
    for part in section.replace("[0]", ".0").split("."):
        if part == "0":
            if not isinstance(node, list) or not node:
                return None
            node = node[0]
        else:
            if not isinstance(node, dict):
                return None
            node = node.setdefault(part, {})
    return node if isinstance(node, dict) else None


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(draw(st.sampled_from([BASE, ITEMISED])))
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(sorted(KEYS)))
        target = _target(data, section)
        if target is None:
            continue
        key = draw(st.one_of(st.sampled_from(KEYS[section]), st.text(max_size=6)))
        if draw(st.integers(0, 5)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(values)
    if draw(st.integers(0, 9)) == 0:
        data[draw(st.sampled_from(["person", "visit", "summary", "items", "ytd", "x"]))] = draw(values)
    return data


def _settle(data: dict[str, Any]) -> None:
    try:
        case = parse_case(data)
    except CaseError:
        return
    with contextlib.suppress(MedinsError):
        check(case, RULES)
    try:
        s = estimate(case, RULES)
    except MedinsError:
        return
    # a batch carries the state to the person's next bill as JSON: it must read back
    assert YearToDate.model_validate_json(s.ytd_after.model_dump_json()) == s.ytd_after


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=mutated())
def test_any_case_mapping_is_settled_or_refused(data: dict[str, Any]) -> None:
    _settle(data)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    text=st.one_of(st.text(max_size=30), st.sampled_from(["1,234.5", "１２３", "1,,2", "-0", ".", "+.5e3"])),
    key=st.sampled_from(["summary.total", "summary.class_b", "visit.admitted", "visit.hospital_level", "ytd.year"]),
)
def test_any_text_in_a_field_is_settled_or_refused(text: str, key: str) -> None:
    data = copy.deepcopy(BASE)
    section, name = key.split(".")
    data.setdefault(section, {})[name] = text
    _settle(data)


amounts = st.decimals(min_value=0, max_value=MAX_AMOUNT, places=2)
WELL_TYPED: dict[str, st.SearchStrategy[Any]] = {
    "person.scheme": st.sampled_from(["employee", "resident"]),
    "person.status": st.sampled_from(["in_service", "retired", "general", "student"]),
    "person.assistance": st.sampled_from(ASSISTANCE_CATEGORIES),
    "person.chronic_diseases": st.lists(st.sampled_from(NATIONAL_CHRONIC), max_size=2),
    "person.insured_region": st.sampled_from(["130100", "110000", "230400", "310000", "330400"]),
    "filing.category": st.sampled_from(CATEGORIES),
    "filing.destination": st.sampled_from(["110000", "110105", "130100", "310000"]),
    "filing.start": st.dates(),
    "filing.end": st.dates(),
    "filing.filed_on": st.dates(),
    "visit.region": st.sampled_from(["110000", "310000", "130100", "230400"]),
    "visit.type": st.sampled_from(VISIT_TYPES),
    "visit.disease": st.sampled_from(NATIONAL_CHRONIC),
    "visit.hospital_level": st.integers(1, 3),
    "visit.admitted": st.dates(),
    "visit.discharged": st.dates(),
    "visit.date": st.dates(),
    "summary.total": amounts,
    "summary.fully_self_paid": amounts,
    "summary.over_ceiling": amounts,
    "summary.class_b": amounts,
    "summary.pre_self_pay": amounts,
    "ytd.year": st.integers(0, 9999),
    "ytd.admissions": st.integers(0, 400),
    "ytd.tier2_base": amounts,
    "ytd.tier2_fund": amounts,
    "ytd.assistance_base": amounts,
    "ytd.assistance_fund": amounts,
    "ytd.inpatient.in_scope": amounts,
    "ytd.inpatient.deductible": amounts,
    "ytd.inpatient.fund": amounts,
    "ytd.inpatient.above_cap": amounts,
}


@st.composite
def well_typed(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(draw(st.sampled_from([BASE, ITEMISED])))
    for key in draw(st.lists(st.sampled_from(sorted(WELL_TYPED)), min_size=1, max_size=5, unique=True)):
        section, _, name = key.rpartition(".")
        target = _target(data, section)
        if target is not None:
            target[name] = draw(WELL_TYPED[key])
    return data


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=well_typed())
def test_any_well_typed_case_is_settled_or_refused(data: dict[str, Any]) -> None:
    _settle(data)


# ----------------------------------------------------------------------------- through the command line

FLAG_VALUES: dict[str, st.SearchStrategy[str]] = {
    "--insured": st.sampled_from(["130100", "230400", "110000", "1301", "999999", "", "13010x"]),
    "--treated-in": st.sampled_from(["110000", "310000", "130200", "120000", "abc"]),
    "--scheme": st.sampled_from(["resident", "employee", "residnt", ""]),
    "--status": st.sampled_from(["general", "in_service", "retired", "student"]),
    "--type": st.sampled_from([*VISIT_TYPES, "inpatien"]),
    "--level": st.sampled_from(["1", "2", "3", "4", "0", "three", "3.0"]),
    "--date": st.one_of(st.dates().map(str), st.sampled_from(["9999-12-31", "0001-01-01", "2025-02-30", "x"])),
    "--total": st.one_of(st.sampled_from(["1e27", "1e400", "nan", "5000,50", "-1", "0", "10000000000"]), texts),
    "--self-paid": st.sampled_from(["0", "100", "1,23", "1e20", "99999"]),
    "--class-b": st.sampled_from(["0", "100", "50000", "abc"]),
    "--over-ceiling": st.sampled_from(["0", "10", "inf"]),
    "--category": st.sampled_from([*CATEGORIES, "refferal"]),
    "--filed-from": st.one_of(st.dates().map(str), st.just("9999-12-31")),
    "--assistance": st.sampled_from([*ASSISTANCE_CATEGORIES, "poor"]),
    "--disease": st.sampled_from([*NATIONAL_CHRONIC, "gout"]),
    "--as-of": st.one_of(st.dates().map(str), st.just("2025/01/01")),
    "--format": st.sampled_from(["table", "json"]),
}


def _no_crash(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args, env={"MEDINS_LANG": "en"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 1, 2), (args, result.output)
    if result.exit_code:
        assert result.stderr.count("\n") <= 4, result.stderr  # one line (click's usage errors take four)


@settings(max_examples=EXAMPLES // 3, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(flags=st.dictionaries(st.sampled_from(sorted(FLAG_VALUES)), st.none(), min_size=3, max_size=12), data=st.data())
def test_any_quick_flags_get_an_answer_or_one_line(flags: dict[str, None], data: st.DataObject) -> None:
    args = ["estimate"]
    for flag in flags:
        args += [flag, data.draw(FLAG_VALUES[flag])]
    _no_crash(args)


@settings(max_examples=EXAMPLES // 3, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, 2000), st.integers(0, 3), st.text(alphabet="[]{}=\"'.,:-#\n 0123456789eE+x", max_size=3)
        ),
        min_size=1,
        max_size=4,
    ),
    command=st.sampled_from(["estimate", "check"]),
)
def test_any_mutated_case_text_gets_an_answer_or_one_line(
    edits: list[tuple[int, int, str]], command: str, tmp_path_factory: Any
) -> None:
    text = kit.case_toml()
    for at, cut, insert in edits:
        at %= len(text) + 1
        text = text[:at] + insert + text[at + cut :]
    path = tmp_path_factory.mktemp("fuzz") / "case.toml"
    path.write_text(text, encoding="utf-8")
    _no_crash([command, str(path)])
