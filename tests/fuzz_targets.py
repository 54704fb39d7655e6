"""Fuzz targets: medins run on drawn input the way a user would, where only a clean refusal may stop it.

Each target is a hypothesis strategy that draws an example (a valid input with a few things changed)
and a function that runs medins on it. The function returns ``"ok"`` when medins settled it and
``"refused"`` when medins refused it cleanly; anything else raises :class:`Uncaught`:

- a library call that raises anything but a ``MedinsError`` (a ``SettlementBug`` above all);
- a command whose exception is not ``SystemExit``, whose exit code is outside 0-3, or whose output
  shows a ``Traceback``;
- a call that runs longer than :data:`TIME_LIMIT` seconds.

``tests/test_fuzz.py`` runs each target for a few dozen examples; ``scripts/fuzz.py`` for thousands,
collecting the crashes by signature (target, exception type, innermost medins frame).
"""

from __future__ import annotations

import atexit
import copy
import difflib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner, Result
from hypothesis import strategies as st

import medins
import medins.api
from medins.api import check, estimate, load_rules, parse_case
from medins.cli import cli
from medins.errors import MedinsError
from medins.loader import resolve_rules_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "bad_input"))
import kit  # noqa: E402

MEDINS_DIR = Path(medins.__file__).resolve().parent
SHIPPED = resolve_rules_dir(None)
EXIT_CODES = frozenset({0, 1, 2, 3})
TIME_LIMIT = 30.0
"""Seconds one example may take before it counts as a hang."""


# ----------------------------------------------------------------------------- crashes


class Hang(BaseException):
    """Raised by the timer when an example runs too long (a BaseException, so nothing swallows it)."""


class Uncaught(Exception):
    """medins did something other than settle or refuse cleanly."""

    def __init__(self, target: str, kind: str, frame: str, detail: str, shown: str = "") -> None:
        self.target = target
        self.kind = kind
        self.frame = frame
        self.detail = detail
        self.shown = shown
        super().__init__(f"{target}: {kind} at {frame}\n{detail}\n--- input ---\n{shown}")

    @property
    def signature(self) -> tuple[str, str, str]:
        """What tells one crash from another: target, exception type, innermost medins frame."""
        return (self.target, self.kind, self.frame)


def innermost_frame(exc: BaseException) -> str:
    """The deepest frame of medins' own code in the exception's traceback, as ``file:line in function``."""
    found = "(no medins frame)"
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename)
        try:
            rel = path.resolve().relative_to(MEDINS_DIR.parent)
        except ValueError:
            continue
        if rel.parts[0] == "medins":
            found = f"{rel.as_posix()}:{frame.lineno} in {frame.name}"
    return found


def _describe(exc: BaseException, frames: int = 12) -> str:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    text = "".join(lines[:1] + lines[-frames:]) if len(lines) > frames + 1 else "".join(lines)
    return text[-6000:]


def _kind(exc: BaseException) -> str:
    return type(exc).__name__


@contextmanager
def time_limit(seconds: float = TIME_LIMIT) -> Iterator[None]:
    """Raise :class:`Hang` when the block runs longer than ``seconds`` (main thread on Unix only)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def _alarm(_signum: int, _frame: Any) -> None:
        raise Hang(f"over {seconds:g} s")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def call_api(target: str, shown: Callable[[], str], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the library; a ``MedinsError`` is a clean refusal (returns None), anything else a crash."""
    try:
        with time_limit():
            return fn(*args, **kwargs)
    except MedinsError:
        return None
    except Hang as exc:
        raise Uncaught(target, "Hang", getattr(fn, "__name__", "?"), str(exc), shown()) from None
    except Exception as exc:
        raise Uncaught(target, _kind(exc), innermost_frame(exc), _describe(exc), shown()) from exc


RUNNER = CliRunner()


def call_cli(
    target: str, shown: Callable[[], str], args: list[str], lang: str = "en", command: click.Command = cli
) -> Result:
    """Run ``medins ARGS`` in-process; a crash is an exception, an odd exit code or a traceback shown."""
    env = {"MEDINS_LANG": lang, "MEDINS_RULES": None}
    try:
        with time_limit():
            result = RUNNER.invoke(command, args, env=env, catch_exceptions=True)
    except Hang as exc:
        raise Uncaught(target, "Hang", " ".join(args[:2]), str(exc), shown()) from None
    exc = result.exception
    name = " ".join(a for a in args[:2] if not a.startswith(("/", "-")) and os.sep not in a)
    if exc is not None and not isinstance(exc, SystemExit):
        raise Uncaught(target, _kind(exc), innermost_frame(exc), f"medins {name}\n{_describe(exc)}", shown())
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    if result.exit_code not in EXIT_CODES:
        raise Uncaught(target, f"exit {result.exit_code}", f"medins {name}", output[-3000:], shown())
    if "Traceback" in output:
        # The exception's name, not its message, so one defect with many values is one signature.
        raised = re.findall(r"^(\w+(?:Error|Exception|Bug|Exit|Warning))\b", output, re.MULTILINE)
        raise Uncaught(
            target, "Traceback in output", f"medins {name}: {raised[-1] if raised else '?'}", output[-6000:], shown()
        )
    return result


def outcome(result: Result) -> str:
    """``ok`` for exit 0, ``rejects`` for a batch with rejected rows, else ``refused``."""
    return {0: "ok", 3: "rejects"}.get(result.exit_code, "refused")


def clip(text: str | bytes, limit: int = 4000) -> str:
    """Text for a report: long inputs cut in the middle."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="backslashreplace")
    if len(text) <= limit:
        return text
    return text[: limit // 2] + f"\n… ({len(text) - limit} characters cut) …\n" + text[-limit // 2 :]


# ----------------------------------------------------------------------------- vocabulary

KNOWN_REGIONS = ["110000", "130100", "230400", "310000", "330400"]
SCHEMES = ["employee", "resident"]
VISIT_TYPES = ["inpatient", "outpatient", "chronic_outpatient"]
CATEGORIES = ["relocated_retiree", "long_term_resident", "stationed_worker", "referral", "emergency", "other_temporary"]
ASSISTANCE = ["extreme_poverty", "subsistence", "marginal", "relapse_monitored", "illness_poverty", "orphan"]
GROUPS = ["in_service", "retired", "general", "student_child", "minor", "adult", "aged_60_69", "aged_70_plus"]
DISEASES = ["hypertension", "diabetes", "cancer_chemoradiotherapy", "uremia_dialysis", "transplant_antirejection"]
MATERIALS = [
    "insurance_credential",
    "filing_form",
    "hukou",
    "residence_proof",
    "posting_certificate",
    "promise",
    "referral_certificate",
]
ITEM_CODES = [
    "BJ-SVC-0001",
    "BJ-SVC-0002",
    "BJ-SVC-0003",
    "BJ-SVC-0004",
    "BJ-CON-0001",
    "SH-SVC-0001",
    "SH-SVC-0002",
    "SH-SVC-0003",
    "SH-SVC-0004",
    "SH-CON-0001",
    "NRDL2024-0001",
    "NRDL2024-0025",
    "NRDL2024-9999",
]
ITEM_NAMES = [
    "注射用艾普拉唑钠",
    "艾普拉唑",
    "氨氯地平",
    "二甲双胍",
    "阿托伐他汀",
    "复方硼砂",
    "注射用右兰索拉唑",
    "普通病房床位费",
    "磁共振平扫",
    "血液透析",
    "冠状动脉药物洗脱支架",
    "一次性使用输液器",
    "门诊诊查费",
    "不存在的药",
]
DOSAGE_FORMS = ["口服常释剂型", "注射剂", "外用液体剂", "颗粒剂", ""]
KINDS = ["drug", "service", "consumable", "herbal", "other"]

TRICKY = [
    "",
    " ",
    "\t",
    "0",
    "-0",
    "-1",
    "-0.01",
    "0.001",
    "0.005",
    "1e-30",
    "1e25",
    "1e26",
    "1e27",
    "1e400",
    "-1e400",
    "1E+17",
    "1.30102E+17",
    "9.2e18",
    "9223372036854775808",
    "1" + "0" * 30,
    "9" * 400,
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "sNaN",
    "5000,50",
    "1,234.50",
    "1,234,567",
    "1,2,3",
    "1.234,50",
    "¥12",
    "12元",
    "￥1,000.00",
    "１２３",
    "٣٤",
    "1_000",
    "0x10",
    "1/2",
    "50%",
    "2025-02-30",
    "2025-13-01",
    "9999-12-31",
    "0001-01-01",
    "2025/03/10",
    "20250310",
    "1741564800",
    "2025-03-10T08:00:00",
    "2025-03-10 08:00",
    "true",
    "false",
    "None",
    "null",
    "\x00",
    "a\x00b",
    "\u202e",
    "\ufeff",
    "🙂",
    "张三",
    "\r",
    "\n",
    "\r\n",
    '"',
    '""',
    "'",
    ",",
    ";",
    "a,b",
    'a"b',
    "=1+2",
    "=SUM(A1:A2)",
    "--total",
    "-h",
]
"""Text users and spreadsheets produce that a field might not expect."""

BOUNDARY_MONEY = [
    "0",
    "0.00",
    "0.001",
    "0.005",
    "0.01",
    "0.015",
    "1e-30",
    "99999999.99",
    "9.2e18",
    "1e25",
    "1e26",
    "1e27",
    "1e400",
    "-0.01",
    "-1",
    "NaN",
    "Infinity",
    "sNaN",
    "99999999999999999999.99",
]

text = st.text(max_size=12)
tricky = st.sampled_from(TRICKY)
any_text = st.one_of(text, tricky, tricky, st.text(alphabet="0123456789.,-eE+ ", max_size=12))
plain_money = st.decimals(min_value=0, max_value=300000, places=2)
boundary_money = st.sampled_from(BOUNDARY_MONEY)
money_text = st.one_of(
    plain_money.map(str), plain_money.map(str), st.integers(0, 10**6).map(str), boundary_money, boundary_money
)
iso_date = st.dates(date(2023, 1, 1), date(2026, 12, 31))
date_text = st.one_of(
    iso_date.map(date.isoformat),
    iso_date.map(date.isoformat),
    st.dates().map(date.isoformat),
    st.sampled_from(["9999-12-31", "0001-01-01", "2025-02-29", "2024-02-29", "2025-02-30", "2025/03/10", "20250310"]),
    st.sampled_from(["9999-12-31", "9999-12-01", "9999-07-01", "0001-01-01", "1900-01-01"]),
)
region_text = st.one_of(
    st.sampled_from(KNOWN_REGIONS),
    st.sampled_from(KNOWN_REGIONS),
    st.from_regex(r"\d{6}", fullmatch=True),
    st.sampled_from(["000000", "999999", "11000", "1100000", " 110000", "110000 ", "１１００００", "110101", "130102"]),
)


@dataclass(frozen=True)
class Deep:
    """A value nested ``depth`` deep (built when the example runs, so reports stay short)."""

    depth: int
    shape: str = "list"

    def build(self) -> Any:
        value: Any = 1
        for _ in range(self.depth):
            value = [value] if self.shape == "list" else {"k": value}
        return value


def materialize(value: Any) -> Any:
    """Replace :class:`Deep` markers inside a drawn value by the nested values they stand for."""
    if isinstance(value, Deep):
        return value.build()
    if isinstance(value, dict):
        return {k: materialize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [materialize(v) for v in value]
    return value


scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.decimals(),
    any_text,
    st.dates(),
    st.datetimes(),
    st.times(),
)
nonsense = st.one_of(
    st.recursive(scalar, lambda c: st.lists(c, max_size=3) | st.dictionaries(text, c, max_size=3), max_leaves=6),
    st.builds(Deep, st.integers(20, 4000), st.sampled_from(["list", "dict"])),
)
"""Any value at all: wrong types, non-finite numbers, containers, deep nesting."""


# ----------------------------------------------------------------------------- 1. case mappings


def _toml(text: str) -> dict[str, Any]:
    return tomllib.loads(text, parse_float=Decimal)


def _case_text(changes: dict[str, str | None], extra: str = "") -> str:
    return kit.case_toml(changes, extra)


ITEMS_EXTRA = """
[[items]]
name = "注射用艾普拉唑钠"
spec = "10mg/支"
quantity = 6
unit_price = 70.00

[[items]]
code = "BJ-SVC-0001"
quantity = 12
unit_price = 120.00

[[items]]
code = "BJ-CON-0001"
quantity = 1
unit_price = 950.00
"""

CHRONIC = {
    "visit.type": '"chronic_outpatient"',
    "visit.disease": '"hypertension"',
    "visit.date": "2025-03-10",
    "visit.admitted": None,
    "visit.discharged": None,
    "person.chronic_diseases": '["hypertension"]',
    "summary.total": "860.00",
    "summary.fully_self_paid": "0",
    "summary.class_b": "300.00",
}
NO_SUMMARY = {k: None for k in ("summary.total", "summary.fully_self_paid", "summary.class_b")}

CASE_TEXTS: dict[str, str] = {
    "kit": _case_text({}),
    "kit-employee-retired": _case_text({"person.scheme": '"employee"', "person.status": '"retired"'}),
    "kit-unfiled": _case_text({k: None for k in kit.CASE if k.startswith("filing.")}),
    "kit-emergency": _case_text({"filing.category": '"emergency"', "filing.start": None, "filing.materials": None}),
    "kit-chronic": _case_text(CHRONIC),
    "kit-outpatient": _case_text(
        {"visit.type": '"outpatient"', "visit.date": "2025-03-10", "visit.admitted": None, "visit.discharged": None}
    ),
    "kit-items": _case_text(NO_SUMMARY, ITEMS_EXTRA),
    "kit-ytd": _case_text(
        {}, "\n[ytd]\nyear = 2025\nadmissions = 1\ninpatient = { in_scope = 30000, deductible = 1000, fund = 20000 }\n"
    ),
    "insured-110000": _case_text(
        {
            "person.insured_region": '"110000"',
            "person.scheme": '"employee"',
            "person.status": '"in_service"',
            "person.assistance": None,
            "filing.destination": '"310000"',
            "visit.region": '"310000"',
        }
    ),
    "insured-310000": _case_text(
        {
            "person.insured_region": '"310000"',
            "person.status": '"adult"',
            "person.assistance": None,
            "filing.destination": '"110000"',
        }
    ),
}
for _path in sorted((ROOT / "examples").glob("*.toml")):
    CASE_TEXTS[_path.stem] = _path.read_text(encoding="utf-8")

CASE_BASES: dict[str, dict[str, Any]] = {name: _toml(text) for name, text in CASE_TEXTS.items()}

ACCUM_KEYS = ["in_scope", "deductible", "fund", "above_cap"]


def _money_value() -> st.SearchStrategy[Any]:
    return st.one_of(
        plain_money,
        plain_money,
        st.integers(0, 10**6),
        money_text,
        st.sampled_from([Decimal(m) for m in BOUNDARY_MONEY]),
        st.sampled_from([Decimal(m) for m in BOUNDARY_MONEY]),
        st.floats(0, 1e6),
    )


def _date_value() -> st.SearchStrategy[Any]:
    return st.one_of(
        iso_date,
        iso_date,
        st.sampled_from([date.min, date.max, date(2024, 2, 29), date(1900, 1, 1)]),
        st.sampled_from([date.max, date(9999, 12, 1), date(9999, 7, 1)]),
        date_text,
        st.datetimes(datetime(2023, 1, 1), datetime(2026, 12, 31)),
        st.integers(19000101, 99991231),
    )


def _accum() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(ACCUM_KEYS), _money_value(), max_size=4)


def _item() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "code": st.one_of(st.sampled_from(ITEM_CODES), any_text),
            "name": st.one_of(st.sampled_from(ITEM_NAMES), st.sampled_from(ITEM_NAMES), any_text),
            "dosage_form": st.sampled_from(DOSAGE_FORMS),
            "spec": st.sampled_from(["10mg/支", "0.5g*24片", ""]),
            "kind": st.sampled_from(KINDS),
            "quantity": st.one_of(st.integers(-2, 100), plain_money, money_text),
            "unit_price": _money_value(),
            "amount": _money_value(),
            "restriction_met": st.one_of(st.booleans(), st.none(), any_text),
        },
    )


def _named_item() -> st.SearchStrategy[dict[str, Any]]:
    """An item that names something and has a price: the likely case, so the engine is reached."""
    return st.builds(
        lambda name, extra: {**name, **extra},
        st.one_of(
            st.sampled_from(ITEM_CODES).map(lambda c: {"code": c}),
            st.sampled_from(ITEM_NAMES).map(lambda n: {"name": n}),
        ),
        st.fixed_dictionaries(
            {"quantity": st.integers(1, 30), "unit_price": plain_money},
            optional={"kind": st.sampled_from(KINDS), "restriction_met": st.booleans()},
        ),
    )


CASE_FIELDS: dict[tuple[str, ...], st.SearchStrategy[Any]] = {
    ("person", "id"): st.one_of(st.sampled_from(["130125-demo-01", "1.30102E+17"]), any_text),
    ("person", "insured_region"): region_text,
    ("person", "scheme"): st.one_of(st.sampled_from(SCHEMES), any_text),
    ("person", "status"): st.one_of(st.sampled_from(GROUPS), any_text),
    ("person", "assistance"): st.one_of(st.sampled_from(ASSISTANCE), any_text),
    ("person", "chronic_diseases"): st.lists(st.one_of(st.sampled_from(DISEASES), any_text), max_size=3),
    ("filing", "category"): st.one_of(st.sampled_from(CATEGORIES), st.sampled_from(CATEGORIES), any_text),
    ("filing", "destination"): region_text,
    ("filing", "start"): _date_value(),
    ("filing", "end"): _date_value(),
    ("filing", "filed_on"): _date_value(),
    ("filing", "materials"): st.lists(st.one_of(st.sampled_from(MATERIALS), any_text), max_size=5),
    ("visit", "region"): region_text,
    ("visit", "type"): st.one_of(st.sampled_from(VISIT_TYPES), any_text),
    ("visit", "hospital_level"): st.one_of(
        st.integers(-1, 4), st.sampled_from([1, 2, 3, "3", 3.0, True, Decimal("2")])
    ),
    ("visit", "hospital"): st.one_of(st.from_regex(r"H\d{11}", fullmatch=True), any_text),
    ("visit", "disease"): st.one_of(st.sampled_from(DISEASES), any_text),
    ("visit", "admitted"): _date_value(),
    ("visit", "discharged"): _date_value(),
    ("visit", "date"): _date_value(),
    **{("summary", k): _money_value() for k in ("total", "fully_self_paid", "over_ceiling", "class_b", "pre_self_pay")},
    ("items",): st.lists(st.one_of(_named_item(), _named_item(), _item()), min_size=0, max_size=5),
    ("ytd", "year"): st.one_of(st.integers(2023, 2026), st.integers(), any_text),
    ("ytd", "admissions"): st.one_of(st.integers(0, 5), st.integers()),
    ("ytd", "inpatient"): _accum(),
    ("ytd", "outpatient"): _accum(),
    ("ytd", "chronic"): st.dictionaries(st.one_of(st.sampled_from(DISEASES), text), _accum(), max_size=2),
    **{("ytd", k): _money_value() for k in ("tier2_base", "tier2_fund", "assistance_base", "assistance_fund")},
}
FIELD_PATHS = [
    *CASE_FIELDS,
    *[path for path in CASE_FIELDS if path[0] == "summary"] * 3,
    *[path for path in CASE_FIELDS if path[-1] in ("admitted", "discharged", "date", "start", "end")] * 2,
    ("items",),
]
"""Where an edit lands: amounts and dates more often, as the likelier to break arithmetic."""
SECTIONS = ["person", "filing", "visit", "summary", "items", "ytd"]


@dataclass
class CaseMapping:
    """A base case with edits, and the date the rules are chosen for."""

    base: str
    edits: list[tuple[Any, ...]]
    as_of: date | None = None

    def build(self) -> dict[str, Any]:
        """The edited mapping, as parse_case receives it."""
        data = copy.deepcopy(CASE_BASES[self.base])
        for edit in self.edits:
            op, path = edit[0], edit[1]
            *parents, last = path
            node: Any = data
            for key in parents:
                if not isinstance(node, dict):
                    break
                child = node.get(key)
                if not isinstance(child, dict):
                    child = node[key] = {}
                node = child
            else:
                if not isinstance(node, dict):
                    continue
                if op == "set":
                    node[last] = materialize(edit[2])
                elif op == "delete":
                    node.pop(last, None)
        return data

    def show(self) -> str:
        return clip(f"base {self.base}, as_of {self.as_of}\nedits: {self.edits!r}", 3000)


@st.composite
def case_mappings(draw: st.DrawFn) -> CaseMapping:
    """A valid case mapping with up to five edits: plausible values, nonsense, deletions, unknown keys."""
    base = draw(st.sampled_from(sorted(CASE_BASES)))
    edits: list[tuple[Any, ...]] = []
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3, 5]))):
        kind = draw(
            st.sampled_from(["set", "set", "set", "set", "set", "set", "nonsense", "delete", "unknown", "section"])
        )
        if kind == "set":
            path = draw(st.sampled_from(FIELD_PATHS))
            edits.append(("set", path, draw(CASE_FIELDS[path])))
        elif kind == "nonsense":
            edits.append(("set", draw(st.sampled_from(FIELD_PATHS)), draw(nonsense)))
        elif kind == "delete":
            path = draw(st.sampled_from([*FIELD_PATHS, *((s,) for s in SECTIONS)]))
            edits.append(("delete", path))
        elif kind == "unknown":
            where = draw(st.sampled_from([(), *((s,) for s in SECTIONS if s != "items")]))
            edits.append(
                ("set", (*where, draw(st.one_of(text, st.sampled_from(["hospital_levl", "totl", "date"])))), 1)
            )
        else:
            edits.append(("set", (draw(st.sampled_from(SECTIONS)),), draw(nonsense)))
    as_of = draw(st.one_of(st.none(), st.none(), iso_date, st.sampled_from([date.min, date.max])))
    return CaseMapping(base, edits, as_of)


_RULES: list[Any] = []


def shipped_rules() -> Any:
    """The shipped rules, loaded once."""
    if not _RULES:
        _RULES.append(load_rules())
    return _RULES[0]


def case_mapping(example: CaseMapping) -> str:
    """parse_case, then estimate and check with the shipped rules."""
    target = "case_mapping"
    data = example.build()
    case = call_api(target, example.show, parse_case, data)
    if case is None:
        return "refused"
    rules = shipped_rules()
    settled = call_api(target, example.show, estimate, case, rules, example.as_of)
    checked = call_api(target, example.show, check, case, rules, example.as_of)
    return "ok" if settled is not None and checked is not None else "refused"


# ----------------------------------------------------------------------------- 2. case TOML text

TOML_LITERALS = [
    '""',
    '"x"',
    "'literal'",
    '"""multi\nline"""',
    '"\\u0000"',
    '"\\uD800"',
    '"张三"',
    "0",
    "-1",
    "-0",
    "+1",
    "1_000",
    "0x1F",
    "0o17",
    "0b101",
    "3.0",
    "1.5",
    "0.005",
    "1e27",
    "1e400",
    "-1e400",
    "9223372036854775807",
    "9223372036854775808",
    "99999999999999999999999",
    "nan",
    "inf",
    "-inf",
    "true",
    "false",
    "2025-02-30",
    "9999-12-31",
    "0001-01-01",
    "2025-03-10T08:00:00",
    "2025-03-10T08:00:00Z",
    "2025-03-10 08:00:00+08:00",
    "08:00:00",
    "20250310",
    "1741564800",
    "[]",
    "{}",
    '[1, "a"]',
    '["hypertension", "diabetes"]',
    "{ a = 1 }",
    "{ total = 1 }",
    '"1e27"',
    '"5000,50"',
    '"1,234.50"',
    '"¥12"',
    '"NaN"',
    '"2025-03-10"',
    '"9999-12-31"',
    '"chronic_outpatient"',
    '"emergency"',
    '"employee"',
    '"310000"',
    '"999999"',
    "110000",
]
"""TOML literals of every type, valid and not, to put where a value was."""

CASE_LINES = [
    "[person]",
    "[filing]",
    "[visit]",
    "[summary]",
    "[ytd]",
    "[[items]]",
    "[ytd.inpatient]",
    "[ytd.chronic.hypertension]",
    "[person.extra]",
    'code = "BJ-SVC-0001"',
    'name = "注射用艾普拉唑钠"',
    "quantity = 2",
    "unit_price = 70.00",
    "amount = 1e27",
    "pre_self_pay = 50000",
    "over_ceiling = 100",
    'disease = "hypertension"',
    "date = 2025-03-10",
    "discharged = 2125-03-22",
    "end = 2025-02-01",
    "hospital_level = true",
    'hospital = "H11010500001"',
    'status = "retired"',
    "admissions = -1",
    "year = 2025",
    "in_scope = 1",
    "fund = 9e18",
    "unknown = 1",
    "chronic = { hypertension = { in_scope = 100 } }",
    "a.b.c = 1",
    "x = [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]",
    "",
    "# comment",
    "=",
    '"',
    "[",
]
"""Lines that make sense somewhere in a case file (and some that make sense nowhere)."""


@dataclass
class TextEdit:
    """Edits of a text at line and character level; ``apply`` gives the edited text."""

    ops: list[tuple[Any, ...]]

    def apply(self, source: str) -> str:
        """The source with every edit applied in order (positions are taken modulo the current size)."""
        lines = source.split("\n")
        for op in self.ops:
            kind = op[0]
            n = max(len(lines), 1)
            if kind == "value":
                candidates = [i for i, line in enumerate(lines) if "=" in line and not line.lstrip().startswith("#")]
                if candidates:
                    i = candidates[op[1] % len(candidates)]
                    key = lines[i].split("=", 1)[0]
                    lines[i] = f"{key}= {op[2]}"
            elif kind == "insert":
                lines.insert(op[1] % (n + 1), op[2])
            elif kind == "delete" and lines:
                del lines[op[1] % n]
            elif kind == "duplicate" and lines:
                i = op[1] % n
                lines.insert(i, lines[i])
            elif kind == "swap" and lines:
                i, j = op[1] % n, op[2] % n
                lines[i], lines[j] = lines[j], lines[i]
            elif kind in ("char-insert", "char-delete", "char-replace"):
                joined = "\n".join(lines)
                pos = op[1] % (len(joined) + 1)
                if kind == "char-insert":
                    joined = joined[:pos] + op[2] + joined[pos:]
                elif kind == "char-delete":
                    joined = joined[:pos] + joined[pos + op[2] :]
                else:
                    joined = joined[:pos] + op[2] + joined[pos + 1 :]
                lines = joined.split("\n")
        return "\n".join(lines)


def text_edits(literals: list[str], lines: list[str], max_ops: int = 4) -> st.SearchStrategy[TextEdit]:
    """Up to ``max_ops`` edits: replace a value, insert, delete, duplicate or swap lines, edit characters."""
    position = st.integers(0, 10**6)
    op = st.one_of(
        st.tuples(st.just("value"), position, st.sampled_from(literals)),
        st.tuples(st.just("value"), position, st.sampled_from(literals)),
        st.tuples(st.just("value"), position, st.integers(2, 3000).map(lambda d: "[" * d + "]" * d)),
        st.tuples(st.just("insert"), position, st.sampled_from(lines)),
        st.tuples(st.just("delete"), position),
        st.tuples(st.just("duplicate"), position),
        st.tuples(st.just("swap"), position, position),
        st.tuples(
            st.just("char-insert"), position, st.one_of(st.text(max_size=3), st.sampled_from(list("=[]{}\"'#\n,.")))
        ),
        st.tuples(st.just("char-delete"), position, st.integers(1, 20)),
        st.tuples(st.just("char-replace"), position, st.sampled_from(list("=[]{}\"'#\n,.0 x"))),
    )
    return st.lists(op, min_size=1, max_size=max_ops).map(TextEdit)


ENCODINGS = ["utf-8", "utf-8", "utf-8", "utf-8", "utf-8-sig", "gb18030", "utf-16"]


@dataclass
class CaseText:
    """A case file's text: a base with edits, an encoding, and the options it is run with."""

    base: str
    edits: TextEdit
    encoding: str
    junk: bytes
    options: list[str]

    def data(self) -> bytes:
        """The file's bytes."""
        text = self.edits.apply(CASE_TEXTS[self.base])
        raw = text.encode(self.encoding, errors="replace")
        if self.junk:
            cut = len(raw) // 2
            raw = raw[:cut] + self.junk + raw[cut:]
        return raw

    def show(self) -> str:
        raw = self.data()
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            body = repr(raw)
        return clip(f"base {self.base}, encoding {self.encoding}, options {self.options}\n{body}")


CASE_OPTIONS = st.lists(
    st.sampled_from([["--format", "json"], ["--explain"], ["--as-of", "2024-06-01"], ["--as-of", "9999-12-31"]]),
    max_size=2,
).map(lambda groups: [a for g in groups for a in g])


def case_texts() -> st.SearchStrategy[CaseText]:
    """Case files from the kit and the examples, edited at line and character level."""
    return st.builds(
        CaseText,
        st.sampled_from(sorted(CASE_TEXTS)),
        text_edits(TOML_LITERALS, CASE_LINES),
        st.sampled_from(ENCODINGS),
        st.one_of(st.just(b""), st.just(b""), st.just(b""), st.binary(min_size=1, max_size=4)),
        CASE_OPTIONS,
    )


@contextmanager
def scratch() -> Iterator[Path]:
    """A temporary folder, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="medins-fuzz-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def case_toml_text(example: CaseText) -> str:
    """``medins estimate FILE`` and ``medins check FILE`` on the edited file."""
    target = "case_toml_text"
    with scratch() as tmp:
        path = tmp / "case.toml"
        path.write_bytes(example.data())
        est = call_cli(target, example.show, ["estimate", str(path), *example.options])
        chk = call_cli(target, example.show, ["check", str(path), *[o for o in example.options if o != "--explain"]])
    return outcome(est) if outcome(est) == outcome(chk) else "mixed"


# ----------------------------------------------------------------------------- 3. quick flags

FLAG_VALUES: dict[str, st.SearchStrategy[str]] = {
    "--insured": region_text,
    "--treated-in": region_text,
    "--scheme": st.one_of(st.sampled_from(SCHEMES), st.sampled_from(SCHEMES), any_text),
    "--status": st.one_of(st.sampled_from(GROUPS), any_text),
    "--type": st.one_of(st.sampled_from(VISIT_TYPES), st.sampled_from(VISIT_TYPES), any_text),
    "--level": st.one_of(
        st.sampled_from(["1", "2", "3"]), st.sampled_from(["0", "4", "-1", "1.5", "３", " 3"]), any_text
    ),
    "--date": date_text,
    "--total": money_text,
    "--self-paid": money_text,
    "--class-b": money_text,
    "--over-ceiling": money_text,
    "--category": st.one_of(st.sampled_from(CATEGORIES), st.sampled_from(["refferal", "Referral"]), any_text),
    "--filed-from": date_text,
    "--assistance": st.one_of(st.sampled_from(ASSISTANCE), any_text),
    "--disease": st.one_of(st.sampled_from(DISEASES), any_text),
    "--as-of": date_text,
    "--format": st.one_of(st.sampled_from(["table", "json"]), any_text),
    "--lang": st.one_of(st.sampled_from(["zh", "en"]), any_text),
}
REQUIRED_FLAGS = ["--insured", "--treated-in", "--scheme", "--level", "--total"]
small_money = st.decimals(min_value=0, max_value=3000, places=2).map(str)
PLAUSIBLE_FLAGS: dict[str, st.SearchStrategy[str]] = {
    "--insured": st.sampled_from(KNOWN_REGIONS),
    "--treated-in": st.sampled_from(KNOWN_REGIONS),
    "--scheme": st.sampled_from(SCHEMES),
    "--status": st.sampled_from(GROUPS),
    "--type": st.sampled_from(VISIT_TYPES),
    "--level": st.sampled_from(["1", "2", "3"]),
    "--date": iso_date.map(date.isoformat),
    "--total": st.decimals(min_value=3000, max_value=300000, places=2).map(str),
    "--self-paid": small_money,
    "--class-b": small_money,
    "--over-ceiling": small_money,
    "--category": st.sampled_from(CATEGORIES),
    "--filed-from": iso_date.map(date.isoformat),
    "--assistance": st.sampled_from(ASSISTANCE),
    "--disease": st.sampled_from(DISEASES),
    "--as-of": iso_date.map(date.isoformat),
    "--format": st.sampled_from(["table", "json"]),
    "--lang": st.sampled_from(["zh", "en"]),
}


@dataclass
class QuickFlags:
    """``medins estimate`` arguments: flags with values, maybe --explain, maybe a case file too."""

    flags: list[tuple[str, str]]
    explain: bool
    with_case: bool

    def args(self, case_path: str) -> list[str]:
        """The command line (after ``medins``)."""
        out = ["estimate"]
        if self.with_case:
            out.append(case_path)
        for flag, value in self.flags:
            out += [flag, value]
        if self.explain:
            out.append("--explain")
        return out

    def show(self) -> str:
        return clip(" ".join(repr(a) if not a or " " in a else a for a in self.args("CASE.toml")), 3000)


SPOILED = [*FLAG_VALUES, *["--total", "--self-paid", "--class-b", "--over-ceiling"] * 2, "--date", "--filed-from"]
"""Which flag a spoiling edit picks: amounts and dates more often, as the likelier to break arithmetic."""
RESIDENT_GROUPS = {"110000": ["general", "student_child"], "310000": ["minor", "adult", "aged_60_69", "aged_70_plus"]}
TREATMENT_PLACES = ["110000", "310000"]  # the regions with a catalogue pack


@st.composite
def quick_flags(draw: st.DrawFn) -> QuickFlags:
    """A coherent command line (places, scheme and status that fit), then up to three flags spoiled."""
    insured = draw(st.sampled_from(KNOWN_REGIONS))
    scheme = draw(st.sampled_from(SCHEMES))
    groups = ["in_service", "retired"] if scheme == "employee" else RESIDENT_GROUPS.get(insured, ["general"])
    flags: dict[str, str] = {
        "--insured": insured,
        "--treated-in": draw(st.sampled_from([r for r in TREATMENT_PLACES if r != insured])),
        "--scheme": scheme,
        "--level": draw(PLAUSIBLE_FLAGS["--level"]),
        "--total": draw(PLAUSIBLE_FLAGS["--total"]),
    }
    if scheme == "employee" or insured in RESIDENT_GROUPS or draw(st.booleans()):
        flags["--status"] = draw(st.sampled_from(groups))
    visit_type = draw(st.sampled_from(VISIT_TYPES))
    if visit_type != "inpatient" or draw(st.booleans()):
        flags["--type"] = visit_type
    if visit_type == "chronic_outpatient":
        flags["--disease"] = draw(PLAUSIBLE_FLAGS["--disease"])
    for flag in FLAG_VALUES:
        if flag not in flags and flag not in ("--status", "--type", "--disease") and draw(st.integers(0, 2)) == 0:
            flags[flag] = draw(PLAUSIBLE_FLAGS[flag])
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        flag = draw(st.sampled_from(SPOILED))
        if draw(st.integers(0, 4)) == 0:
            flags.pop(flag, None)
        else:
            flags[flag] = draw(FLAG_VALUES[flag])
    if draw(st.integers(0, 9)) == 0:  # every date at the edge of the calendar at once
        day = draw(st.sampled_from(["9999-12-31", "9999-12-01", "9999-07-01", "0001-01-01"]))
        for flag in draw(st.lists(st.sampled_from(["--date", "--filed-from", "--as-of"]), min_size=1, unique=True)):
            flags[flag] = day
        if draw(st.booleans()):
            flags.setdefault("--category", draw(PLAUSIBLE_FLAGS["--category"]))
    pairs = list(flags.items())
    if draw(st.integers(0, 9)) == 0:  # a flag given twice
        flag = draw(st.sampled_from(list(FLAG_VALUES)))
        pairs.append((flag, draw(FLAG_VALUES[flag])))
    pairs = draw(st.permutations(pairs))
    return QuickFlags(list(pairs), draw(st.booleans()), draw(st.integers(0, 9)) == 0)


def quick_flags_run(example: QuickFlags) -> str:
    """``medins estimate --insured … --total …``, in-process."""
    with scratch() as tmp:
        path = tmp / "case.toml"
        path.write_text(kit.case_toml(), encoding="utf-8")
        return outcome(call_cli("quick_flags", example.show, example.args(str(path))))


# ----------------------------------------------------------------------------- 4. CSV rows

CELL_TRICKY = [
    *TRICKY,
    "a,b,c",
    '"quoted"',
    '"unbalanced',
    "line\nbreak",
    "cr\ronly",
    "semi;colon",
    "tab\tcell",
    "1,000",
    "68000.00",
    "3000",
    "12000",
    "=HYPERLINK(1)",
    "#N/A",
    "#VALUE!",
    "1.00E+05",
]

CELL_PLAUSIBLE: dict[str, st.SearchStrategy[str]] = {
    "bill_id": st.sampled_from(["B1", "B2", "B3", "", "b1", "B1 "]),
    "person_id": st.sampled_from(["130102198001011234", "130102198001015678", "1.30102E+17", "", "x"]),
    "person_name": st.sampled_from(["张三", "李四", "", "Zhang San"]),
    "insured_region": region_text,
    "scheme": st.sampled_from(SCHEMES),
    "status": st.sampled_from(["", *GROUPS]),
    "assistance": st.sampled_from(["", *ASSISTANCE]),
    "chronic_diseases": st.sampled_from(["", "hypertension", "hypertension;diabetes"]),
    "filing_category": st.sampled_from(["", *CATEGORIES]),
    "filing_destination": region_text,
    "filing_start": date_text,
    "filing_end": st.one_of(st.just(""), date_text),
    "filing_filed_on": st.one_of(st.just(""), date_text),
    "filing_materials": st.sampled_from(["", "insurance_credential;filing_form;referral_certificate", "promise"]),
    "visit_region": region_text,
    "hospital_level": st.sampled_from(["1", "2", "3", "", "0", "4"]),
    "hospital": st.one_of(st.just(""), st.from_regex(r"H\d{11}", fullmatch=True)),
    "visit_type": st.sampled_from(VISIT_TYPES),
    "disease": st.sampled_from(["", *DISEASES]),
    "admitted": date_text,
    "discharged": st.one_of(st.just(""), date_text),
    "date": st.one_of(st.just(""), date_text),
    "total": money_text,
    "fully_self_paid": money_text,
    "over_ceiling": money_text,
    "class_b": money_text,
    "pre_self_pay": st.one_of(st.just(""), money_text),
}
ITEM_PLAUSIBLE: dict[str, st.SearchStrategy[str]] = {
    "bill_id": st.sampled_from(["B1", "B2", "B3", "B9", ""]),
    "code": st.one_of(st.just(""), st.sampled_from(ITEM_CODES)),
    "name": st.sampled_from(ITEM_NAMES),
    "dosage_form": st.sampled_from(DOSAGE_FORMS),
    "spec": st.sampled_from(["10mg/支", ""]),
    "kind": st.sampled_from(["", *KINDS]),
    "quantity": st.one_of(st.integers(-1, 50).map(str), money_text),
    "unit_price": money_text,
    "amount": st.one_of(st.just(""), money_text),
    "restriction_met": st.sampled_from(["", "true", "false", "1", "0", "是", "否", "yes"]),
}
cell_nonsense = st.one_of(
    st.sampled_from(CELL_TRICKY),
    st.text(max_size=10),
    st.text(alphabet=",;\"'\r\n\t 0123456789.eE+-", max_size=10),
    st.integers(1000, 140000).map(lambda n: "9" * n),
)


def _rows(columns: dict[str, st.SearchStrategy[str]], max_rows: int) -> st.SearchStrategy[list[dict[str, str]]]:
    names = list(columns)

    @st.composite
    def row(draw: st.DrawFn) -> dict[str, str]:
        out: dict[str, str] = {}
        for _ in range(draw(st.integers(0, 4))):
            name = draw(st.sampled_from(names))
            out[name] = draw(st.one_of(columns[name], columns[name], cell_nonsense))
        if "admitted" in columns and draw(st.integers(0, 9)) == 0:  # dates at the edge of the calendar
            day = draw(st.sampled_from(["9999-12-31", "9999-12-01", "9999-07-01", "0001-01-01"]))
            for name in draw(st.lists(st.sampled_from(["admitted", "discharged", "filing_start"]), min_size=1)):
                out[name] = day
        return out

    return st.lists(row(), min_size=1, max_size=max_rows)


ROW_EDITS = st.lists(
    st.one_of(
        st.tuples(st.just("duplicate"), st.integers(0, 100)),
        st.tuples(st.just("delete"), st.integers(1, 100)),
        st.tuples(st.just("swap"), st.integers(0, 100), st.integers(0, 100)),
        st.tuples(st.just("extra-cell"), st.integers(1, 100), st.sampled_from([",x", ",", ",1,000", ";x"])),
        st.tuples(st.just("truncate"), st.integers(1, 100), st.integers(0, 300)),
        st.tuples(st.just("replace"), st.integers(0, 100), st.text(max_size=30)),
        st.tuples(st.just("insert-quote"), st.integers(1, 100), st.integers(0, 300)),
        st.tuples(st.just("blank"), st.integers(0, 100)),
    ),
    max_size=3,
)
LINE_ENDINGS = ["\n", "\n", "\n", "\r\n", "\r"]
CSV_ENCODINGS = ["utf-8", "utf-8", "utf-8", "utf-8-sig", "gb18030", "utf-16"]


def _edit_rows(text: str, edits: list[tuple[Any, ...]], ending: str) -> str:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for op in edits:
        n = len(lines)
        if not n:
            break
        kind, i = op[0], op[1] % n
        if kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "delete" and n > 1:
            del lines[max(i, 1)]
        elif kind == "swap":
            j = op[2] % n
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "extra-cell":
            lines[i] += op[2]
        elif kind == "truncate":
            lines[i] = lines[i][: op[2]]
        elif kind == "replace":
            lines[i] = op[2]
        elif kind == "insert-quote":
            pos = op[2] % (len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + '"' + lines[i][pos:]
        elif kind == "blank":
            lines.insert(i, "")
    return ending.join(lines) + ending


@dataclass
class CsvFiles:
    """A BILLS file (and maybe an ITEMS file): kit rows with cells replaced, then whole rows edited."""

    bills: list[dict[str, str]]
    bill_edits: list[tuple[Any, ...]]
    items: list[dict[str, str]] | None
    item_edits: list[tuple[Any, ...]]
    sep: str
    drop: tuple[str, ...]
    ending: str
    encoding: str
    junk: bytes
    options: list[str]

    def bills_data(self) -> bytes:
        """The bills file's bytes."""
        return self._encode(
            _edit_rows(kit.bills_csv(*self.bills, sep=self.sep, drop=self.drop), self.bill_edits, self.ending)
        )

    def items_data(self) -> bytes | None:
        """The items file's bytes, if there is one."""
        if self.items is None:
            return None
        return self._encode(_edit_rows(kit.items_csv(*self.items, sep=self.sep), self.item_edits, self.ending))

    def _encode(self, text: str) -> bytes:
        raw = text.encode(self.encoding, errors="replace")
        if self.junk:
            cut = raw.rfind(b"\n", 0, max(len(raw) - 1, 0)) + 1
            raw = raw[:cut] + self.junk + raw[cut:]
        return raw

    def show(self) -> str:
        parts = [f"options {self.options}, encoding {self.encoding}, sep {self.sep!r}, ending {self.ending!r}"]
        parts.append("BILLS:\n" + clip(self.bills_data(), 2500))
        items = self.items_data()
        if items is not None:
            parts.append("ITEMS:\n" + clip(items, 1500))
        return "\n".join(parts)


BATCH_OPTIONS = st.lists(
    st.sampled_from(
        [
            ["--summary", "{tmp}/summary.json"],
            ["--clearing", "{tmp}/clearing.csv"],
            ["--ytd-out", "{tmp}/ytd.json"],
            ["--encoding", "utf-8"],
            ["--encoding", "gb18030"],
            ["--rejects", "{tmp}/rej.csv"],
            ["-o", "{tmp}/out.xlsx"],
            ["--lang", "zh"],
        ]
    ),
    max_size=3,
    unique_by=lambda g: g[0],
).map(lambda groups: [a for g in groups for a in g])


def csv_files() -> st.SearchStrategy[CsvFiles]:
    """Bills from kit.bills_csv (and items from kit.items_csv) with drawn cells and edited rows."""
    return st.builds(
        CsvFiles,
        _rows(CELL_PLAUSIBLE, 4),
        ROW_EDITS,
        st.one_of(st.none(), _rows(ITEM_PLAUSIBLE, 4)),
        ROW_EDITS,
        st.sampled_from([",", ",", ",", ",", ";", "\t"]),
        st.one_of(st.just(()), st.just(()), st.lists(st.sampled_from(list(kit.BILL)), max_size=2).map(tuple)),
        st.sampled_from(LINE_ENDINGS),
        st.sampled_from(CSV_ENCODINGS),
        st.one_of(
            st.just(b""), st.just(b""), st.just(b""), st.binary(min_size=1, max_size=4), st.just(b"\xd5\xc5\xc8\xfd")
        ),
        BATCH_OPTIONS,
    )


def csv_rows(example: CsvFiles) -> str:
    """``medins batch BILLS [--items ITEMS] -o OUT --quiet`` in a temporary folder."""
    with scratch() as tmp:
        bills = tmp / "bills.csv"
        bills.write_bytes(example.bills_data())
        args = ["batch", str(bills)]
        items = example.items_data()
        if items is not None:
            (tmp / "items.csv").write_bytes(items)
            args += ["--items", str(tmp / "items.csv")]
        options = [o.replace("{tmp}", str(tmp)) for o in example.options]
        if "-o" not in options:
            args += ["-o", str(tmp / "out.csv")]
        return outcome(call_cli("csv_rows", example.show, [*args, *options, "--quiet"]))


# ----------------------------------------------------------------------------- 5. rule files

RULE_FILES = sorted(p.relative_to(SHIPPED).as_posix() for p in SHIPPED.glob("*/*.toml"))
RULE_LITERALS = [
    *TOML_LITERALS,
    "0.85",
    "1.01",
    "-0.1",
    "1e30",
    "100000",
    "[{ to = 1000, ratio = 0.5 }, { ratio = 0.9 }]",
    "[{ ratio = 0.9 }, { to = 1000, ratio = 0.5 }]",
    '"illustrative"',
    '"primary"',
    '"nrdl-2024"',
    '"nrdl-2099"',
    '"../../etc/hostname"',
    '"../drug-lists/nrdl-2024"',
    '"fund"',
    '"base"',
    '"admission"',
    '"year"',
    '"points"',
    '"multiplier"',
    '"extra_pre_self_pay"',
    '"none"',
    '"standards"',
    '"catalogue"',
    '"A"',
    '"B"',
    '"C"',
    '"X"',
    '["in_service"]',
    '"no-such-source"',
    '{ mode = "points", value = 2 }',
]
RULE_LINES = [
    "[[resident.inpatient]]",
    "[[employee.inpatient]]",
    "[resident]",
    "[employee]",
    "[sources.x]",
    "[[settings]]",
    "[[items]]",
    "effective = 2026-01-01",
    "until = 2023-12-31",
    'source = "no-such-source"',
    "cap = 1e30",
    "deductible = -1",
    "ratio = 1.5",
    'kind = "catalogue"',
    'region = "999999"',
    'drug_list = "../../x"',
    "unknown_key = 1",
    'code = "BJ-SVC-0001"',
    'class = "B"',
    "",
    "=",
    "[",
]
DRUG_LIST = "drug-lists/nrdl-2024.json"
EDITABLE = [*RULE_FILES, DRUG_LIST]
"""The files the rule target edits: each standards, catalogue and examples file, and the national drug list."""
CASES_FOR_RULES: dict[str, list[str]] = {
    DRUG_LIST: ["kit-items", "jiaxing-retiree-shanghai-outpatient"],
    "110000/catalogue.toml": ["kit", "kit-items", "kit-chronic"],
    "110000/standards.toml": ["insured-110000"],
    "130000/standards.toml": ["kit"],  # a province pack: its edits are read as no insured place's
    "130100/standards.toml": ["kit", "kit-employee-retired", "kit-chronic", "kit-unfiled", "kit-ytd"],
    "230000/standards.toml": ["hegang-long-term-resident"],  # read through 230400, which extends it
    "230400/standards.toml": ["hegang-long-term-resident"],
    "310000/catalogue.toml": ["hegang-long-term-resident", "jiaxing-retiree-shanghai-outpatient"],
    "310000/standards.toml": ["insured-310000"],
    "330000/standards.toml": ["jiaxing-retiree-shanghai-outpatient"],
    "330400/standards.toml": ["jiaxing-retiree-shanghai-outpatient"],
    # an examples file changes no settlement: validate settles its examples, the kit case checks the rest
    "110000/examples.toml": ["kit"],
    "130100/examples.toml": ["kit"],
    "230400/examples.toml": ["kit"],
    "310000/examples.toml": ["kit"],
    "330400/examples.toml": ["kit"],
}


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        if value.is_nan():
            return "nan"
        if value.is_infinite():
            return "inf" if value > 0 else "-inf"
        text = str(value)
        return text if any(c in text for c in ".eE") else text + ".0"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def _is_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def dump_toml(data: dict[str, Any]) -> str:
    """A TOML text for a parsed document (tables as [headers], lists of tables as [[headers]])."""
    lines: list[str] = []

    def table(prefix: str, node: dict[str, Any]) -> None:
        for k, v in node.items():
            if not isinstance(v, dict) and not _is_tables(v):
                lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        for k, v in node.items():
            path = f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k)
            if isinstance(v, dict):
                lines.append(f"\n[{path}]")
                table(path, v)
            elif _is_tables(v):
                for element in v:
                    lines.append(f"\n[[{path}]]")
                    table(path, element)

    table("", data)
    return "\n".join(lines) + "\n"


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        out.append((*prefix, k))
        out.extend(_paths(v, (*prefix, k)))
    return out


def _leaf_is(data: Any, path: tuple[Any, ...], types: tuple[type, ...]) -> bool:
    for part in path:
        data = data[part]
    return isinstance(data, types) and not isinstance(data, (bool, datetime))


def _show_path(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


@dataclass
class TreeEdit:
    """Edits of a parsed TOML document that keep it valid TOML: values replaced, scaled, keys deleted or renamed."""

    ops: list[tuple[Any, ...]]

    def apply(self, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The edited document, and one line per edit saying what changed."""
        data = copy.deepcopy(data)
        log: list[str] = []
        for op in self.ops:
            paths = _paths(data)
            if op[0] in ("scale", "shift"):  # only among the values they can change
                wanted = (int, Decimal) if op[0] == "scale" else (date,)
                paths = [p for p in paths if _leaf_is(data, p, wanted)]
            if not paths:
                continue
            path = paths[op[1] % len(paths)]
            parent: Any = data
            for part in path[:-1]:
                parent = parent[part]
            last = path[-1]
            old = parent[last]
            where = _show_path(path)
            kind = op[0]
            if kind == "set":
                parent[last] = op[2]
                log.append(f"{where}: {old!r} -> {op[2]!r}")
            elif kind == "scale" and isinstance(old, (int, Decimal)) and not isinstance(old, bool):
                parent[last] = Decimal(old) * op[2]
                log.append(f"{where}: {old!r} × {op[2]} -> {parent[last]!r}")
            elif kind == "shift" and isinstance(old, date):
                try:
                    parent[last] = old + timedelta(days=op[2])
                except OverflowError:
                    continue
                log.append(f"{where}: {old} + {op[2]} days")
            elif kind == "delete":
                del parent[last]
                log.append(f"{where}: deleted")
            elif kind == "duplicate" and isinstance(parent, list):
                parent.insert(last, copy.deepcopy(old))
                log.append(f"{where}: duplicated")
            elif kind == "rename" and isinstance(parent, dict) and op[2] not in parent:
                parent[op[2]] = parent.pop(last)
                log.append(f"{where}: renamed to {op[2]!r}")
        return data, log


toml_scalar = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=-2, max_value=300000, places=2),
    st.sampled_from([Decimal(v) for v in ("0", "0.5", "0.85", "1", "1.01", "-0.1", "1e30", "1e-30")]),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-3, 400000),
    st.booleans(),
    st.sampled_from([s[1:-1] for s in RULE_LITERALS if s.startswith('"') and s.endswith('"') and len(s) > 1]),
    st.text(max_size=8),
    st.dates(),
    st.sampled_from([date(2023, 12, 31), date(2024, 1, 1), date(2026, 1, 1), date(9999, 12, 31), date(1, 1, 1)]),
    st.datetimes(),
    st.times(),
)
toml_value = st.recursive(
    toml_scalar, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=5
)
SCALES = [Decimal(v) for v in ("-1", "0", "0.5", "0.99", "1.01", "1.5", "2", "10", "1000000", "1e30", "0.001")]


def tree_edits(max_ops: int = 3) -> st.SearchStrategy[TreeEdit]:
    """Up to ``max_ops`` structural edits, most of them changing one value."""
    position = st.integers(0, 10**6)
    op = st.one_of(
        st.tuples(st.just("set"), position, toml_value),
        st.tuples(st.just("set"), position, toml_scalar),
        st.tuples(st.just("scale"), position, st.sampled_from(SCALES)),
        st.tuples(st.just("scale"), position, st.sampled_from(SCALES)),
        st.tuples(st.just("shift"), position, st.sampled_from([-3650, -366, -1, 1, 365, 3650, 10**6])),
        st.tuples(st.just("delete"), position),
        st.tuples(st.just("duplicate"), position),
        st.tuples(st.just("rename"), position, st.sampled_from(["unknown", "cap_", "Ratio", "kind2"])),
    )
    return st.lists(op, min_size=1, max_size=max_ops).map(TreeEdit)


@dataclass
class RuleEdit:
    """One shipped rule file edited (as text, or as a parsed tree); a case that uses it is estimated."""

    file: str
    edits: TextEdit | TreeEdit
    case: int

    def original(self) -> str:
        """The file's text in the rules copy, before the edit."""
        return (rules_template() / self.file).read_text(encoding="utf-8")

    def text(self) -> str:
        """The edited file's text."""
        if isinstance(self.edits, TextEdit):
            return self.edits.apply(self.original())
        data, _log = self.edits.apply(_parsed_rule(self.file))
        if self.file.endswith(".json"):
            return json.dumps(data, ensure_ascii=False, indent=1, default=str)
        return dump_toml(data)

    def case_name(self) -> str:
        """The case estimated against the edited rules."""
        names = CASES_FOR_RULES.get(self.file, ["kit"])
        return names[self.case % len(names)]

    def show(self) -> str:
        head = f"{self.file}, case {self.case_name()}\n"
        if isinstance(self.edits, TreeEdit):
            _data, log = self.edits.apply(_parsed_rule(self.file))
            return clip(head + "\n".join(log), 3000)
        before = self.original().split("\n")
        diff = difflib.unified_diff(
            before, self.text().split("\n"), self.file, self.file + " (edited)", n=0, lineterm=""
        )
        return clip(head + "\n".join(diff), 3000)


_PARSED: dict[str, dict[str, Any]] = {}


def _parsed_rule(file: str) -> dict[str, Any]:
    if file not in _PARSED:
        text = (rules_template() / file).read_text(encoding="utf-8")
        _PARSED[file] = json.loads(text) if file.endswith(".json") else _toml(text)
    return _PARSED[file]


_TEMPLATE: list[Path] = []


def rules_template() -> Path:
    """A copy of the shipped rules whose national drug list keeps a tenth of its drugs, all those with
    price ceilings, and every drug the cases name: each example reads the list afresh, and the full
    4,750 drugs would make this target three times slower without reaching more of medins."""
    if not _TEMPLATE:
        root = Path(tempfile.mkdtemp(prefix="medins-fuzz-rules-"))
        atexit.register(shutil.rmtree, root, True)
        shutil.copytree(SHIPPED, root / "rules")
        path = root / "rules" / DRUG_LIST
        data = json.loads(path.read_text(encoding="utf-8"))
        names = set(ITEM_NAMES)
        data["drugs"] = [d for i, d in enumerate(data["drugs"]) if i % 10 == 0 or d["name"] in names or d["ceilings"]]
        path.unlink()
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        _TEMPLATE.append(root / "rules")
    return _TEMPLATE[0]


def line_edit(file: str, key: str, literal: str) -> TextEdit:
    """A text edit giving the first ``key = …`` line of a rule file the value ``literal`` (for fixed examples)."""
    lines = (rules_template() / file).read_text(encoding="utf-8").split("\n")
    candidates = [i for i, line in enumerate(lines) if "=" in line and not line.lstrip().startswith("#")]
    index = next(k for k, i in enumerate(candidates) if lines[i].split("=", 1)[0].strip() == key)
    return TextEdit([("value", index, literal)])


def tree_set(file: str, path: tuple[Any, ...], value: Any) -> TreeEdit:
    """A tree edit setting ``path`` of a rule file to ``value`` (for fixed examples)."""
    return TreeEdit([("set", _paths(_parsed_rule(file)).index(path), value)])


def rule_edits() -> st.SearchStrategy[RuleEdit]:
    """One standards.toml, catalogue.toml or the drug list, edited as a tree (mostly) or as text."""
    return st.builds(
        RuleEdit,
        st.sampled_from(EDITABLE),
        st.one_of(tree_edits(), tree_edits(), text_edits(RULE_LITERALS, RULE_LINES, max_ops=3)),
        st.integers(0, 10),
    )


def _forget(rules_dir: Path) -> None:
    """Drop a finished rules copy from the library's per-directory cache (each copy is used once)."""
    cache = getattr(medins.api, "_CACHE", None)
    if isinstance(cache, dict):
        cache.pop(rules_dir.resolve(), None)


def rule_files(example: RuleEdit) -> str:
    """``medins rules validate DIR`` and ``medins estimate CASE --rules DIR`` on a rules copy with one file edited."""
    target = "rule_files"
    with scratch() as tmp:
        rules_dir = tmp / "rules"
        try:  # hard links: the untouched files cost nothing to copy
            shutil.copytree(rules_template(), rules_dir, copy_function=os.link)
        except OSError:
            shutil.rmtree(rules_dir, ignore_errors=True)
            shutil.copytree(rules_template(), rules_dir)
        edited = rules_dir / example.file
        edited.unlink()
        edited.write_text(example.text(), encoding="utf-8")
        case = tmp / "case.toml"
        case.write_text(CASE_TEXTS[example.case_name()], encoding="utf-8")
        try:
            validated = call_cli(target, example.show, ["rules", "validate", str(rules_dir)])
            settled = call_cli(target, example.show, ["estimate", str(case), "--rules", str(rules_dir), "--explain"])
        finally:
            _forget(rules_dir)
    return f"validate {outcome(validated)}, estimate {outcome(settled)}"


# ----------------------------------------------------------------------------- the list


@dataclass(frozen=True)
class Target:
    """A fuzz target: how to draw an example, and how to run medins on it."""

    name: str
    strategy: Callable[[], st.SearchStrategy[Any]]
    run: Callable[[Any], str]


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("case_mapping", case_mappings, case_mapping),
        Target("case_toml_text", case_texts, case_toml_text),
        Target("quick_flags", quick_flags, quick_flags_run),
        Target("csv_rows", csv_files, csv_rows),
        Target("rule_files", rule_edits, rule_files),
    )
}
"""Every target, in the order the script runs them."""
