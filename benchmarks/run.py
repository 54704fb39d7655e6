"""Time ``medins batch`` against the floor: the same files read and written by ``csv`` with no computation.

    python benchmarks/run.py                      # 200,000 bills, 10 item lines each (about 4-5 minutes on 2 cores)
    python benchmarks/run.py --bills 20000        # a quicker look

Generates the input with ``generate.py`` (reused when the size and seed match), then runs, each as a
subprocess measured by a small wrapper process (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``
is then the peak resident memory of the largest process of that one command):

- the floor: ``bills.csv`` and ``items.csv`` read with ``csv.reader`` and written with ``csv.writer``;
- ``medins batch --jobs 1`` and ``--jobs 2`` (with ``--quiet``), whose outputs must be identical.

Prints seconds, bills per second, the ratio to the floor and peak memory beside the targets. The
targets are printed, not asserted.
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET_RATIO = 4.0
TARGET_MB = 300
TARGET_SPEEDUP = 1.6


def floor(folder: Path) -> None:
    """Read both inputs with csv.reader and write them back with csv.writer: no computation."""
    for name in ("bills", "items"):
        src, dst = folder / f"{name}.csv", folder / f"floor-{name}.csv"
        with src.open(encoding="utf-8", newline="") as f, dst.open("w", encoding="utf-8", newline="") as g:
            writer = csv.writer(g)
            for row in csv.reader(f):
                writer.writerow(row)


def measure(cmd: list[str]) -> None:
    """Run one command and print its wall time, exit code and peak memory (kB) as JSON."""
    start = time.perf_counter()
    code = subprocess.run(cmd, check=False).returncode
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if sys.platform == "darwin":
        peak //= 1024  # bytes there, kilobytes on Linux
    print(json.dumps({"seconds": seconds, "code": code, "peak_kb": peak}))


def timed(cmd: list[str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", "--", *cmd], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc), {cpu}, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bills", type=int, default=200_000)
    parser.add_argument("--items-per-bill", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "medins-bench")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("cmd", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.cmd)
        return
    if args.floor:
        floor(args.floor)
        return

    folder: Path = args.dir
    folder.mkdir(parents=True, exist_ok=True)
    params = {"bills": args.bills, "items_per_bill": args.items_per_bill, "seed": args.seed}
    marker = folder / "params.json"
    if not marker.exists() or json.loads(marker.read_text()) != params:
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                str(HERE / "generate.py"),
                "--bills",
                str(args.bills),
                "--items-per-bill",
                str(args.items_per_bill),
                "--seed",
                str(args.seed),
                "--out",
                str(folder),
            ],
            check=True,
        )
        marker.write_text(json.dumps(params))
        print(f"generated in {time.perf_counter() - start:.1f} s")
    with (folder / "items.csv").open(encoding="utf-8", newline="") as f:
        lines = sum(1 for _ in csv.reader(f)) - 1
    print(f"machine: {machine()}")
    print(f"input: {args.bills:,} bills, {lines:,} item lines ({folder})")

    results: dict[str, dict[str, float]] = {}
    results["floor (csv read + write)"] = timed([sys.executable, __file__, "--floor", str(folder)])
    for jobs in (1, 2):
        out = folder / f"settled-j{jobs}.csv"
        cmd = [sys.executable, "-m", "medins", "batch", str(folder / "bills.csv"), "--items", str(folder / "items.csv")]
        cmd += ["-o", str(out), "--summary", str(folder / f"summary-j{jobs}.json"), "--jobs", str(jobs), "--quiet"]
        results[f"medins batch --jobs {jobs}"] = timed(cmd)
    same = filecmp.cmp(folder / "settled-j1.csv", folder / "settled-j2.csv", shallow=False)
    summary = json.loads((folder / "summary-j1.json").read_text("utf-8"))

    base = results["floor (csv read + write)"]["seconds"]
    print()
    print(f"{'run':<28}{'seconds':>9}{'bills/s':>10}{'× floor':>9}{'peak MB':>9}  exit")
    for name, r in results.items():
        rate = args.bills / r["seconds"]
        print(
            f"{name:<28}{r['seconds']:>9.1f}{rate:>10,.0f}{r['seconds'] / base:>9.1f}{r['peak_kb'] / 1024:>9.0f}  {r['code']}"
        )
    j1, j2 = results["medins batch --jobs 1"], results["medins batch --jobs 2"]
    speedup = j1["seconds"] / j2["seconds"]
    print()
    print(f"targets: ≤ {TARGET_RATIO:.0f}× floor (--jobs 1: {j1['seconds'] / base:.1f}×), ", end="")
    print(
        f"< {TARGET_MB} MB (--jobs 1: {j1['peak_kb'] / 1024:.0f} MB, --jobs 2: {j2['peak_kb'] / 1024:.0f} MB), ", end=""
    )
    print(f"--jobs 2 ≥ {TARGET_SPEEDUP}× --jobs 1 (measured {speedup:.2f}×)")
    print(f"outputs of --jobs 1 and --jobs 2 identical: {same}")
    b, i = summary["bills"], summary["item_lines"]
    print(
        f"bills accepted {b['accepted']:,}, rejected {b['rejected']:,}; item lines accepted {i['accepted']:,}, "
        f"rejected {i['rejected']:,}; fund ratio {summary['overall']['fund_ratio']}"
    )


if __name__ == "__main__":
    main()
