"""Fuzzing in the suite: a few dozen drawn inputs per target, each refused cleanly or settled, never a crash.

The targets live in tests/fuzz_targets.py; scripts/fuzz.py runs them at 10,000 examples each. A failure
shows the shrunk example hypothesis found, the crash (exception type and innermost medins frame), the
traceback and the input as medins received it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import fuzz_targets as fz
import pytest
from hypothesis import HealthCheck, example, given, settings

FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


# Fixed examples first: each kind of crash found so far (or named in issue 10), kept as a regression.
@FUZZ
@given(fz.case_mappings())
@example(fz.CaseMapping("kit", [("set", ("summary", "total"), Decimal("1e27"))]))
@example(
    fz.CaseMapping("kit", [("set", ("summary", "pre_self_pay"), Decimal("50000")), ("delete", ("summary", "class_b"))])
)
@example(
    fz.CaseMapping(
        "kit",
        [("set", ("visit", "admitted"), date(9999, 12, 31)), ("set", ("filing", "start"), date(9999, 12, 31))],
    )
)
@example(fz.CaseMapping("kit", [("set", ("date",), 1)]))  # an unknown top-level key named like a pydantic tag
@example(fz.CaseMapping("kit", [("set", ("items",), fz.Deep(3000, "dict"))]))
@example(fz.CaseMapping("kit", [("set", ("filing", "end"), fz.Deep(3000, "list"))]))
def test_case_mapping(drawn: fz.CaseMapping) -> None:
    fz.case_mapping(drawn)


@FUZZ
@given(fz.case_texts())
@example(fz.CaseText("kit", fz.TextEdit([("insert", 0, "date = 1")]), "utf-8", b"", []))
@example(fz.CaseText("kit", fz.TextEdit([("insert", 0, "x = " + "[" * 3000 + "]" * 3000)]), "utf-8", b"", []))
@example(fz.CaseText("kit", fz.TextEdit([("insert", -1, "pre_self_pay = 50000")]), "utf-8", b"", []))
def test_case_toml_text(drawn: fz.CaseText) -> None:
    fz.case_toml_text(drawn)


QUICK = [("--insured", "130100"), ("--treated-in", "110000"), ("--scheme", "resident"), ("--level", "3")]


@FUZZ
@given(fz.quick_flags())
@example(fz.QuickFlags([*QUICK, ("--total", "1e27")], False, False))
@example(
    fz.QuickFlags(
        [
            *QUICK,
            ("--total", "1000"),
            ("--date", "9999-12-31"),
            ("--filed-from", "9999-12-31"),
            ("--category", "referral"),
        ],
        True,
        False,
    )
)
@example(fz.QuickFlags([*QUICK, ("--total", "1000")], False, True))
def test_quick_flags(drawn: fz.QuickFlags) -> None:
    fz.quick_flags_run(drawn)


def _bills(*rows: dict[str, str], ending: str = "\n", items: list[dict[str, str]] | None = None) -> fz.CsvFiles:
    return fz.CsvFiles(list(rows), [], items, [], ",", (), ending, "utf-8", b"", [])


@FUZZ
@given(fz.csv_files())
@example(_bills({}, {}, ending="\r"))
@example(_bills({"pre_self_pay": "50000", "class_b": ""}))
@example(_bills({"total": "1e27"}, {"total": "1e400"}))
@example(_bills({"admitted": "9999-12-31", "discharged": "9999-12-31", "filing_start": "9999-12-31"}))
@example(_bills({"person_name": "x" * 131072}))
@example(_bills({}, items=[{"quantity": "1e27"}]))
def test_csv_rows(drawn: fz.CsvFiles) -> None:
    fz.csv_rows(drawn)


@FUZZ
@given(fz.rule_edits())
@example(fz.RuleEdit("110000/catalogue.toml", fz.line_edit("110000/catalogue.toml", "drug_list", '"../../x"'), 0))
@example(fz.RuleEdit("130100/standards.toml", fz.line_edit("130100/standards.toml", "cap", "1e30"), 0))
@example(fz.RuleEdit(fz.DRUG_LIST, fz.tree_set(fz.DRUG_LIST, ("drugs",), "x"), 0))
@example(fz.RuleEdit(fz.DRUG_LIST, fz.TextEdit([("char-delete", 0, 1)]), 0))
def test_rule_files(drawn: fz.RuleEdit) -> None:
    fz.rule_files(drawn)


@pytest.mark.parametrize("name", sorted(fz.CASE_TEXTS))
def test_case_bases_settle(name: str) -> None:
    """Every base the case targets edit settles unedited: a refusal in a fuzz run comes from the edit."""
    assert fz.case_mapping(fz.CaseMapping(name, [])) == "ok"
    assert fz.case_toml_text(fz.CaseText(name, fz.TextEdit([]), "utf-8", b"", [])) == "ok"


@pytest.mark.parametrize("file", fz.EDITABLE)
def test_rule_bases_settle(file: str) -> None:
    """Every rule file survives the round trip through the fuzzer's writer unedited, and its cases settle."""
    if file.endswith(".toml"):
        assert fz._toml(fz.dump_toml(fz._parsed_rule(file))) == fz._parsed_rule(file)
    for case in range(len(fz.CASES_FOR_RULES[file])):
        assert fz.rule_files(fz.RuleEdit(file, fz.TreeEdit([]), case)) == "validate ok, estimate ok"


def test_refusal_is_not_a_crash() -> None:
    """A library error is a clean refusal; any other exception is a crash with its type and medins frame."""
    from medins.errors import CaseError, t

    def refuse() -> Any:
        raise CaseError(t("坏", "bad"), "visit.admitted")

    assert fz.call_api("t", lambda: "", refuse) is None
    with pytest.raises(fz.Uncaught) as info:
        fz.call_api("t", lambda: "input", {}.__getitem__, "k")
    assert info.value.signature == ("t", "KeyError", "(no medins frame)")
    assert "input" in str(info.value)


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("raise KeyError('k')", "KeyError"),
        ("sys.exit(7)", "exit 7"),
        ("click.echo('Traceback (most recent call last):')", "Traceback in output"),
    ],
)
def test_command_crashes_are_seen(body: str, kind: str) -> None:
    """A command crashes when it raises, exits outside 0-3, or prints a traceback (even with exit 0)."""
    import sys

    import click

    @click.command()
    def command() -> None:
        exec(body, {"sys": sys, "click": click})

    with pytest.raises(fz.Uncaught) as info:
        fz.call_cli("t", lambda: "", [], command=command)
    assert info.value.kind == kind
    ok = click.command()(lambda: click.echo("fine"))
    assert fz.outcome(fz.call_cli("t", lambda: "", [], command=ok)) == "ok"
