"""Worked examples inside a rule pack (``examples.toml``): cases the pack must settle to known amounts.

A region folder may hold ``examples.toml`` beside its ``standards.toml``: a list of ``[[examples]]``,
each a case written as a case file writes it (``person``, ``filing``, ``visit``, ``summary`` or
``items``, ``ytd``) with a ``name``, the ``expected`` amounts and where the example comes from: a
``source`` (an id of the file's own ``[sources]`` or of the pack's standards) when a policy notice
published it, or ``worked_by_hand = true`` when it was worked out from the pack's own values (the
working then stands in a comment above it). ``medins rules test`` settles each through
:func:`medins.api.estimate` against the rules directory the folder sits in and compares every amount.

The examples live in their own file so that a pack's values and the cases that prove them change
separately (a notice's new values, the same published examples), and so that a pack's examples are
never inherited by another pack.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from medins.case_model import Case
from medins.errors import MedinsError, RuleError, t
from medins.i18n import Text
from medins.loader import RuleSet, parse_model, read_toml
from medins.money import show
from medins.rules_model import Flag, RuleMoney, Source
from medins.types import Frozen, RegionCode

EXAMPLES_FILE = "examples.toml"

ALWAYS = ("basic_fund", "critical_illness_fund", "large_amount_fund", "medical_assistance_fund", "personal_total")
"""Amounts every example checks: each tier's fund and the patient's (a tier-2 or tier-3 fund left
out of ``expected`` is expected to be 0)."""

OPTIONAL = (
    "fully_self_paid",
    "over_ceiling",
    "pre_self_pay",
    "offsite_self_pay",
    "in_scope",
    "deductible",
    "above_cap",
    "fund_total",
    "paid_at_discharge",
)
"""Amounts an example checks only when it gives them."""


class Expected(Frozen):
    """The amounts an example must settle to, in yuan, as ``medins estimate --format json`` names them."""

    basic_fund: RuleMoney = Field(description="Tier 1, the basic fund (统筹基金).")
    critical_illness_fund: RuleMoney = Field(Decimal(0), description="Residents' tier 2 (大病保险); default 0.")
    large_amount_fund: RuleMoney = Field(Decimal(0), description="Employees' tier 2 (大额补助); default 0.")
    medical_assistance_fund: RuleMoney = Field(Decimal(0), description="Tier 3 (医疗救助); default 0.")
    personal_total: RuleMoney = Field(description="What the patient carries (个人负担).")
    fully_self_paid: RuleMoney | None = None
    over_ceiling: RuleMoney | None = None
    pre_self_pay: RuleMoney | None = None
    offsite_self_pay: RuleMoney | None = None
    in_scope: RuleMoney | None = None
    deductible: RuleMoney | None = None
    above_cap: RuleMoney | None = None
    fund_total: RuleMoney | None = None
    paid_at_discharge: RuleMoney | None = None


class ExampleHead(Frozen):
    """What an example says besides its case: name, where it comes from, what it must settle to."""

    name: str = Field(min_length=1, description="Unique within the file; reports name the example by it.")
    note: str | None = None
    source: str | list[str] | None = Field(
        None, description="The source that published the example: an id of [sources] here or in standards.toml."
    )
    worked_by_hand: Flag = Field(
        False, description="true: worked out by hand from the pack's own values (the working in a comment)."
    )
    expected: Expected

    @property
    def source_ids(self) -> list[str]:
        return [] if self.source is None else [self.source] if isinstance(self.source, str) else list(self.source)


class Example(ExampleHead, Case):
    """One worked example: a case (as in a case file) with its name, origin and expected amounts."""


class ExamplesFile(Frozen):
    """The worked examples of one region's pack (examples.toml beside standards.toml)."""

    kind: Literal["examples"]
    region: RegionCode
    name: str | None = None
    notes: list[str] = Field(default_factory=list)
    sources: dict[str, Source] = Field(default_factory=dict, description="Notices that published examples.")
    examples: list[Example] = Field(default_factory=list)


HEAD_KEYS = frozenset(ExampleHead.model_fields)


@dataclass(frozen=True)
class Loaded:
    """An examples file read: its header, and each example's head and case (in file order)."""

    path: Path
    region: str
    examples: list[tuple[ExampleHead, Case]]
    problems: list[tuple[str, str, Text]] = field(default_factory=list)  # (code, key path, text): errors


def _raw_examples(data: dict[str, Any], where: str) -> list[Any]:
    raw = data.get("examples", [])
    if not isinstance(raw, list):
        raise RuleError(
            t("examples 应为 [[examples]] 表数组", "examples should be an array of tables [[examples]]"),
            f"{where}: examples",
        )
    return raw


def load_examples(path: Path, standards_sources: dict[str, Source] | None = None) -> Loaded:
    """Read an examples file: schema errors raise ``MedinsError`` naming the key path; what only the
    whole file shows (a name used twice, an example of another region, no origin) is in ``problems``."""
    from medins.api import parse_case

    where = str(path)
    data = read_toml(path)
    raw = _raw_examples(data, where)
    header = parse_model({**data, "examples": []}, ExamplesFile, where)
    known = {**(standards_sources or {}), **header.sources}
    examples: list[tuple[ExampleHead, Case]] = []
    problems: list[tuple[str, str, Text]] = []
    names: dict[str, int] = {}
    for i, entry in enumerate(raw):
        at = f"examples[{i}]"
        if not isinstance(entry, dict):
            raise RuleError(t("每个例子应为一张表", "each example should be a table"), f"{where}: {at}")
        try:
            head = parse_model({k: v for k, v in entry.items() if k in HEAD_KEYS}, ExampleHead, f"{where}: {at}")
            case = parse_case({k: v for k, v in entry.items() if k not in HEAD_KEYS}, f"{where}: {at}")
        except MedinsError as exc:
            # one key path from the file's top: examples[0].expected.basic_fund
            exc.where = exc.where.replace(f"{where}: {at}: ", f"{where}: {at}.", 1)
            raise
        if head.name in names:
            problems.append(
                (
                    "EXAMPLE_NAME_REPEATED",
                    f"{at}.name",
                    t(
                        f"例子名称 {head.name!r} 与 examples[{names[head.name]}] 重复",
                        f"example name {head.name!r} repeats examples[{names[head.name]}]",
                    ),
                )
            )
        names.setdefault(head.name, i)
        if case.person.insured_region != header.region:
            problems.append(
                (
                    "EXAMPLE_OTHER_REGION",
                    f"{at}.person.insured_region",
                    t(
                        f"例子的参保地 {case.person.insured_region} 不是本文件的地区 {header.region}：应写在该地区的 "
                        f"{EXAMPLES_FILE} 中",
                        f"the example's insured place {case.person.insured_region} is not this file's region "
                        f"{header.region}: put it in that region's {EXAMPLES_FILE}",
                    ),
                )
            )
        if head.worked_by_hand == bool(head.source_ids):
            problems.append(
                (
                    "EXAMPLE_ORIGIN",
                    f"{at}.source",
                    t(
                        '例子须注明来源：发布该例子的文件写 source = "来源编号"，按本规则包取值手算的写 '
                        "worked_by_hand = true（二者只写一个）",
                        'say where the example comes from: source = "id" for a notice that published it, or '
                        "worked_by_hand = true for one worked out from the pack's own values (one of the two)",
                    ),
                )
            )
        for sid in head.source_ids:
            if sid not in known:
                problems.append(
                    (
                        "SOURCE_UNKNOWN",
                        f"{at}.source",
                        t(
                            f"来源 {sid!r} 不在本文件或 standards.toml 的 [sources] 中",
                            f"source {sid!r} is in neither this file's nor standards.toml's [sources]",
                        ),
                    )
                )
        examples.append((head, case))
    return Loaded(path, header.region, examples, problems)


def count_examples(folder: Path) -> int:
    """How many ``[[examples]]`` a region folder's examples file holds (0 without one or when unreadable)."""
    path = folder / EXAMPLES_FILE
    if not path.is_file():
        return 0
    try:
        raw = read_toml(path).get("examples", [])
    except MedinsError:
        return 0
    return len(raw) if isinstance(raw, list) else 0


# ------------------------------------------------------------------ settling them


@dataclass(frozen=True)
class Mismatch:
    """One amount an example expected that the settlement does not give."""

    key: str
    expected: Decimal
    got: Decimal


@dataclass(frozen=True)
class Outcome:
    """The result of one example: passed, or the amounts that differ, or why it could not be settled."""

    region: str
    file: str
    index: int
    name: str
    mismatches: tuple[Mismatch, ...] = ()
    error: Text | None = None

    @property
    def passed(self) -> bool:
        return not self.mismatches and self.error is None

    def reason(self, lang: str) -> str:
        """Why it failed, one line: each amount as expected and as settled, or the settling error."""
        if self.error is not None:
            return self.error(lang)  # type: ignore[arg-type]
        if lang == "zh":
            return "；".join(f"{m.key} 应为 {show(m.expected)}，结算得 {show(m.got)}" for m in self.mismatches)
        return "; ".join(f"{m.key} expected {show(m.expected)}, settled {show(m.got)}" for m in self.mismatches)


def settled_amounts(settlement: Any) -> dict[str, Decimal]:
    """The amounts of a settlement that an example can expect, by their ``expected`` keys."""
    return {key: getattr(settlement, key) for key in (*ALWAYS, *OPTIONAL)}


def compare(expected: Expected, got: dict[str, Decimal]) -> tuple[Mismatch, ...]:
    """The amounts that differ: every tier and the patient always, the optional ones when given."""
    out = []
    for key in (*ALWAYS, *OPTIONAL):
        want = getattr(expected, key)
        if want is not None and want != got[key]:
            out.append(Mismatch(key, want, got[key]))
    return tuple(out)


def run_examples(loaded: Loaded, rules: RuleSet) -> list[Outcome]:
    """Settle each example of a file with ``rules`` and compare its amounts."""
    from medins.api import estimate

    outcomes = []
    for i, (head, case) in enumerate(loaded.examples):
        base = {"region": loaded.region, "file": str(loaded.path), "index": i, "name": head.name}
        try:
            settlement = estimate(case, rules, explain=False)
        except MedinsError as exc:
            outcomes.append(Outcome(**base, error=exc.message))  # type: ignore[arg-type]
            continue
        outcomes.append(Outcome(**base, mismatches=compare(head.expected, settled_amounts(settlement))))  # type: ignore[arg-type]
    return outcomes


def rules_root_of(path: Path) -> Path:
    """The rules directory an examples file settles against: the folder above its region folder."""
    return path.resolve().parent.parent


def example_files(paths: list[Path], root: Path) -> Iterator[Path]:
    """The examples files under the given paths (rules directories, region folders or files); none:
    every region folder of ``root``. A path that does not exist is a usage error for the caller."""
    from medins.loader import is_region_code

    for p in paths or [root]:
        if p.is_file():
            yield p
        elif (p / EXAMPLES_FILE).is_file():
            yield p / EXAMPLES_FILE
        elif p.is_dir():
            for folder in sorted(f for f in p.iterdir() if f.is_dir() and is_region_code(f.name)):
                if (folder / EXAMPLES_FILE).is_file():
                    yield folder / EXAMPLES_FILE


def settle_file(path: Path, rules_root: Path | None = None) -> tuple[Loaded, list[Outcome]]:
    """Read one examples file and settle its examples against its rules directory (or ``rules_root``).

    Raises ``MedinsError`` when the rules directory does not load or the file breaks the schema."""
    from medins.api import load_rules

    rules = load_rules(rules_root or rules_root_of(path))
    pack = rules.packs.get(path.resolve().parent.name)
    loaded = load_examples(path, pack.standards.sources if pack and pack.standards else None)
    return loaded, run_examples(loaded, rules)
