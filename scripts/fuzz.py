"""Fuzz medins at scale: every target of tests/fuzz_targets.py for N examples, crashes grouped by signature.

    python scripts/fuzz.py                          # 10,000 examples per target
    python scripts/fuzz.py --examples 500 --targets case_mapping,quick_flags --seed 7

A crash is anything but a clean refusal (see tests/fuzz_targets.py). Each target prints its examples,
time, outcomes and distinct crashes (target, exception type, innermost medins frame) with the shortest
example found; the last line is ``uncaught exceptions: N``, and the exit code is 1 when N > 0.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fuzz_targets import TARGETS, Target, Uncaught  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402


@dataclass
class Crash:
    """One distinct crash: how often it happened and the shortest input that caused it."""

    first: Uncaught
    count: int = 0
    shown: str = ""

    def add(self, exc: Uncaught) -> None:
        self.count += 1
        if not self.shown or len(exc.shown) < len(self.shown):
            self.shown = exc.shown
            self.first = exc


@dataclass
class Tally:
    """What one target's run found."""

    name: str
    examples: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    crashes: dict[tuple[str, str, str], Crash] = field(default_factory=dict)
    harness: list[str] = field(default_factory=list)

    @property
    def uncaught(self) -> int:
        return sum(c.count for c in self.crashes.values())

    def add(self, exc: Uncaught) -> None:
        self.crashes.setdefault(exc.signature, Crash(exc)).add(exc)


def run_target(target: Target, examples: int, seed_value: int, every: int) -> Tally:
    """Run one target for ``examples`` examples, collecting crashes without stopping."""
    tally = Tally(target.name)
    start = time.monotonic()

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(seed_value)
    @given(target.strategy())
    def loop(example: Any) -> None:
        tally.examples += 1
        try:
            tally.outcomes[target.run(example)] += 1
        except Uncaught as exc:
            tally.add(exc)
        except Exception:  # a defect of the fuzzer itself, kept apart from medins' crashes
            if len(tally.harness) < 5:
                tally.harness.append(traceback.format_exc(limit=-6))
            tally.outcomes["harness error"] += 1
        if every and tally.examples % every == 0:
            rate = tally.examples / (time.monotonic() - start)
            print(
                f"  … {target.name}: {tally.examples} examples, {tally.uncaught} uncaught, {rate:.1f}/s",
                file=sys.stderr,
                flush=True,
            )

    loop()
    tally.seconds = time.monotonic() - start
    return tally


def indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def report(tally: Tally) -> None:
    """Print one target's results."""
    rate = tally.examples / tally.seconds if tally.seconds else 0.0
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(tally.outcomes.items()))
    print(f"== {tally.name}: {tally.examples} examples in {tally.seconds:.1f} s ({rate:.1f}/s)")
    print(f"   outcomes: {outcomes}")
    print(f"   uncaught exceptions: {tally.uncaught} ({len(tally.crashes)} distinct)")
    for (_target, kind, frame), crash in sorted(tally.crashes.items(), key=lambda kv: -kv[1].count):
        mark = "!!" if "SettlementBug" in kind or "SettlementBug" in frame else "-"
        print(f"   {mark} {kind} at {frame}  [{crash.count}x]")
        detail = crash.first.detail.strip().splitlines()
        print(indent("\n".join(detail[-6:])))
        print("      example:")
        print(indent(crash.shown, "        "))
    for text in tally.harness:
        print("   ! fuzzer error:")
        print(indent(text))
    print(flush=True)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the chosen targets, print the counts; exit 1 when anything crashed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=10_000, help="examples per target (default 10000)")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated, of: {', '.join(TARGETS)}")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0: the same run every time)")
    parser.add_argument("--progress", type=int, default=0, metavar="K", help="print a progress line every K examples")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    print(f"medins fuzz: {args.examples} examples per target, seed {args.seed}, targets {', '.join(names)}\n")
    total = harness = bugs = 0
    for name in names:
        tally = run_target(TARGETS[name], args.examples, args.seed, args.progress)
        report(tally)
        total += tally.uncaught
        harness += tally.outcomes.get("harness error", 0)
        bugs += sum(c.count for (_t, kind, frame), c in tally.crashes.items() if "SettlementBug" in kind + frame)
    if harness:
        print(f"fuzzer errors: {harness}")
    print(f"settlement bugs (reconciliation failures, marked !!): {bugs}")
    print(f"uncaught exceptions: {total}")
    return 1 if total or harness else 0


if __name__ == "__main__":
    sys.exit(main())
