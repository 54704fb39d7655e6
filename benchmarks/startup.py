"""Time a quick ``medins estimate`` and ``medins --help`` against ``python -c "import click, pydantic"``.

    python benchmarks/startup.py            # 10 rounds
    python benchmarks/startup.py --rounds 20 --calls 10000

Each round runs, as fresh processes, the floor (``import click, pydantic``), ``medins estimate`` of
the README's story and ``medins --help``; prints the min–max seconds of each and the min–max of the
ratio to the floor of the same round, beside the targets (printed, not asserted). Bytecode is
written to a temporary cache first (``PYTHONPYCACHEPREFIX``), as an installed package has it, so
compiling sources is not counted even where ``PYTHONDONTWRITEBYTECODE`` is set.

Then ``--calls`` in-process ``medins.estimate`` calls of the same case, with and without the trail:
microseconds per call (best of three).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "examples" / "shijiazhuang-resident-beijing.toml"
TARGETS = {"estimate": 2.5, "help": 1.5}


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _in_process(calls: int) -> dict[str, float]:
    import medins

    case = medins.load_case(CASE)
    rules = medins.load_rules()
    out = {}
    for explain in (True, False):
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(calls):
                medins.estimate(case, rules, explain=explain)
            best = min(best, time.perf_counter() - start)
        out["with the trail" if explain else "without"] = best / calls * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=10_000, help="in-process estimate calls (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, PYTHONPYCACHEPREFIX=cache, MEDINS_LANG="zh")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        medins = [sys.executable, "-m", "medins"]
        commands = {
            "floor": [sys.executable, "-c", "import click, pydantic"],
            "estimate": [*medins, "estimate", str(CASE)],
            "help": [*medins, "--help"],
        }
        for cmd in commands.values():  # write bytecode and the rules cache
            _wall(cmd, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        ratios: dict[str, list[float]] = {name: [] for name in TARGETS}
        for _ in range(args.rounds):
            this = {name: _wall(cmd, env) for name, cmd in commands.items()}
            for name, seconds in this.items():
                times[name].append(seconds)
            for name in TARGETS:
                ratios[name].append(this[name] / this["floor"])
    print(f"{'':10} {'seconds min–max':>17} {'× floor min–max':>17} {'target':>7}")
    for name, values in times.items():
        line = f"{name:10} {min(values):7.3f}–{max(values):<9.3f}"
        if name in ratios:
            line += f" {min(ratios[name]):7.2f}–{max(ratios[name]):<9.2f} ≤ {TARGETS[name]}"
        print(line)
    if args.calls:
        for name, micro in _in_process(args.calls).items():
            print(f"medins.estimate in process, {name}: {micro:.0f} µs a call")


if __name__ == "__main__":
    main()
