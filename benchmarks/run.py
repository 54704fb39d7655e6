"""Time ``medins batch`` against the floor: the same files read and written by ``csv`` with no computation.

    python benchmarks/run.py                      # 200,000 bills, 10 item lines each, 3 runs (about 3 minutes on 2 cores)
    python benchmarks/run.py --bills 1000000 --runs 1
    python benchmarks/run.py --bills 20000        # a quicker look

Generates the input with ``generate.py`` (reused when the size and seed match), then runs, each as a
subprocess measured by a small wrapper process that samples, every 20 ms, the resident memory of the
command and all its descendants together (``/proc``; elsewhere the largest single process), and every
100 ms their proportional set size (PSS: a page that several processes share, such as the libraries
each worker maps, counted once in all rather than once in each; Linux only):

- the floor: ``bills.csv`` and ``items.csv`` read with ``csv.reader`` and written with ``csv.writer``;
- ``medins batch --jobs 1`` and ``--jobs 2`` (with ``--quiet``), whose outputs must be identical;
- with ``--reform FILE``, also ``medins batch --jobs 1 --reform FILE``, against ``--jobs 1`` of the
  same round (target: at most 2.2 times as long);
- with ``--audit``, also ``medins audit`` of the platform extract ``generate_extract.py`` writes from
  the same bills (in ``--dir``/extract), against ``--jobs 1`` of the same round (target: at most 1.5
  times as long).
- with ``--engine spark``, also ``medins batch --engine spark --master local[N]`` (N the cores), beside
  ``--jobs 1`` of the same round (no target: the figure is Spark's overhead on one machine), its OUT
  rows compared with ``--jobs 1``'s.

Bytecode is written to a temporary cache first (``PYTHONPYCACHEPREFIX``), as an installed package
has it, so compiling sources is not counted even where ``PYTHONDONTWRITEBYTECODE`` is set. Each is
run ``--runs`` times, the floor in the same rounds as the others; prints min–max seconds,
the ratio to the floor of the same round (min–max), the CPU time of all the command's processes
(steadier than the wall time on a shared machine; ``--jobs 2``'s over ``--jobs 1``'s is the work
the second process adds) and the peak memory (max) beside the targets.
The targets are printed, not asserted.
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
TARGET_RATIO = 2.0
TARGET_MB = 300
TARGET_SPEEDUP = 1.6
TARGET_REFORM = 2.2
TARGET_AUDIT = 1.5


def floor(folder: Path) -> None:
    """Read both inputs with csv.reader and write them back with csv.writer: no computation."""
    for name in ("bills", "items"):
        src, dst = folder / f"{name}.csv", folder / f"floor-{name}.csv"
        with src.open(encoding="utf-8", newline="") as f, dst.open("w", encoding="utf-8", newline="") as g:
            writer = csv.writer(g)
            for row in csv.reader(f):
                writer.writerow(row)


def _tree_rss_kb(root: int) -> tuple[int, set[int]]:
    """Resident memory of ``root`` and all its descendants (kB), from /proc, and their process ids."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
        rss[int(entry)] = int(fields[21]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    family, grew = {root}, True
    while grew:
        grew = False
        for pid, ppid in parent.items():
            if ppid in family and pid not in family:
                family.add(pid)
                grew = True
    return sum(rss.get(pid, 0) for pid in family), family


def _pss_kb(pids: set[int]) -> int:
    """The proportional set size of these processes together (kB): each page shared by several
    processes (the libraries they all map) counted once in all, not once in each as resident memory
    sums count it. 0 where /proc has no ``smaps_rollup`` (Linux before 4.14, other systems)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def measure(cmd: list[str]) -> None:
    """Run one command and print its wall time, CPU time (all its processes), exit code and peak
    memory (kB) as JSON: resident
    memory summed over the processes every 20 ms, and their proportional set size every 100 ms while
    the resident memory is within 10 % of its highest (it costs the kernel more to tell)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak = pss = tick = 0
    while proc.poll() is None:
        if os.path.isdir("/proc"):
            rss, family = _tree_rss_kb(proc.pid)
            peak = max(peak, rss)
            # the PSS only near the highest resident memory so far: reading it costs the kernel a
            # walk of every page, time the measured run would lose on a small machine
            if tick % 5 == 0 and rss >= 0.9 * peak:
                pss = max(pss, _pss_kb(family))
            tick += 1
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    single = usage.ru_maxrss
    if sys.platform == "darwin":
        single //= 1024  # bytes there, kilobytes on Linux
    # the CPU time of the command and of every process it waited for (its --jobs workers): on a noisy
    # machine steadier than the wall time, and what --jobs N spends beyond --jobs 1 is its own overhead
    cpu = usage.ru_utime + usage.ru_stime
    print(
        json.dumps(
            {"seconds": seconds, "cpu": cpu, "code": proc.returncode, "peak_kb": max(peak, single), "pss_kb": pss}
        )
    )


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
    parser.add_argument("--runs", type=int, default=3, help="rounds of floor, --jobs 1, --jobs 2")
    parser.add_argument("--reform", type=Path, help="also time --jobs 1 with this reform file")
    parser.add_argument("--audit", action="store_true", help="also time medins audit of the same bills' extract")
    parser.add_argument("--engine", choices=["local", "spark"], default="local", help="spark: also time --engine spark")
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
    cache = tempfile.TemporaryDirectory()
    os.environ["PYTHONPYCACHEPREFIX"] = cache.name
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    import medins

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(medins.__file__).parent)], check=True)
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

    names = ["floor (csv read + write)", "medins batch --jobs 1", "medins batch --jobs 2"]
    if args.reform:
        names.append("medins batch --reform")
    extract = folder / "extract"
    if args.audit:
        names.append("medins audit")
        _extract(extract, params)
    spark_name = "medins batch --engine spark"
    if args.engine == "spark":
        names.append(spark_name)
    rounds: list[dict[str, dict[str, float]]] = []
    batch = [sys.executable, "-m", "medins", "batch", str(folder / "bills.csv"), "--items", str(folder / "items.csv")]
    for _ in range(args.runs):
        results: dict[str, dict[str, float]] = {}
        results[names[0]] = timed([sys.executable, __file__, "--floor", str(folder)])
        for jobs in (1, 2):
            out = folder / f"settled-j{jobs}.csv"
            summary = folder / f"summary-j{jobs}.json"
            cmd = [*batch, "-o", str(out), "--summary", str(summary), "--jobs", str(jobs), "--quiet"]
            results[f"medins batch --jobs {jobs}"] = timed(cmd)
        if args.reform:
            cmd = [*batch, "-o", str(folder / "settled-reform.csv"), "--reform", str(args.reform.resolve()), "--quiet"]
            results["medins batch --reform"] = timed(cmd)
        if args.audit:
            setl, fee = str(extract / "setl_d.csv"), str(extract / "fee_list_d.csv")
            cmd = [sys.executable, "-m", "medins", "audit", setl, "--fee-list", fee, "-o", str(extract / "diff.csv")]
            results["medins audit"] = timed([*cmd, "--summary", str(extract / "report.json"), "--quiet"])
        if args.engine == "spark":
            master = f"local[{os.cpu_count() or 1}]"
            cmd = [*batch, "-o", str(folder / "settled-spark.csv"), "--engine", "spark", "--master", master, "--quiet"]
            results[spark_name] = timed(cmd)
        rounds.append(results)
    same = filecmp.cmp(folder / "settled-j1.csv", folder / "settled-j2.csv", shallow=False)
    summary = json.loads((folder / "summary-j1.json").read_text("utf-8"))

    def span(values: list[float], fmt: str) -> str:
        low, high = min(values), max(values)
        return f"{low:{fmt}}" if f"{low:{fmt}}" == f"{high:{fmt}}" else f"{low:{fmt}}–{high:{fmt}}"

    print()
    print(
        f"{'run':<28}{'seconds':>13}{'CPU s':>12}{'× floor':>13}{'peak MB':>9}{'PSS MB':>8}  exit  ({args.runs} runs, min–max)"
    )
    for name in names:
        secs = [r[name]["seconds"] for r in rounds]
        cpu = [r[name]["cpu"] for r in rounds]
        ratio = [r[name]["seconds"] / r[names[0]]["seconds"] for r in rounds]
        peak = max(r[name]["peak_kb"] for r in rounds) / 1024
        pss = max(r[name]["pss_kb"] for r in rounds) / 1024
        codes = sorted({int(r[name]["code"]) for r in rounds})
        print(
            f"{name:<28}{span(secs, '.1f'):>13}{span(cpu, '.1f'):>12}{span(ratio, '.2f'):>13}{peak:>9.0f}{pss:>8.0f}  {codes}"
        )
    j1 = [r[names[1]]["seconds"] / r[names[0]]["seconds"] for r in rounds]
    speed = [r[names[1]]["seconds"] / r[names[2]]["seconds"] for r in rounds]
    peaks = [max(r[n]["peak_kb"] for r in rounds) / 1024 for n in names[1:]]
    print()
    print(f"targets: --jobs 1 ≤ {TARGET_RATIO:.0f}× floor (measured {span(j1, '.2f')}×), ", end="")
    psses = [max(r[n]["pss_kb"] for r in rounds) / 1024 for n in names[1:]]
    print(f"< {TARGET_MB} MB (--jobs 1: {peaks[0]:.0f} MB, --jobs 2: {peaks[1]:.0f} MB; ", end="")
    print(f"PSS {psses[0]:.0f} and {psses[1]:.0f} MB), ", end="")
    print(f"--jobs 2 ≥ {TARGET_SPEEDUP}× --jobs 1 when --jobs 1 is above the floor (measured {span(speed, '.2f')}×)")
    # round by round: on a noisy machine a range hides which runs met a target
    print("by round: --jobs 1 × floor " + ", ".join(f"{x:.2f}" for x in j1), end="; ")
    print("--jobs 2 faster than --jobs 1 " + ", ".join(f"{x:.2f}×" for x in speed))
    work = [r[names[2]]["cpu"] / r[names[1]]["cpu"] for r in rounds]
    print(f"CPU of all processes, --jobs 2 over --jobs 1 of the same round: {span(work, '.2f')}× ", end="")
    print("(above 1: the work the second process repeats or adds)")
    print(f"outputs of --jobs 1 and --jobs 2 identical: {same}")
    if args.reform:
        reform = [r["medins batch --reform"]["seconds"] / r[names[1]]["seconds"] for r in rounds]
        print(f"target: --reform ≤ {TARGET_REFORM}× --jobs 1 of the same round (measured {span(reform, '.2f')}×)")
    if args.audit:
        audit = [r["medins audit"]["seconds"] / r[names[1]]["seconds"] for r in rounds]
        report = json.loads((extract / "report.json").read_text("utf-8"))
        print(f"target: audit ≤ {TARGET_AUDIT}× --jobs 1 of the same round (measured {span(audit, '.2f')}×); ", end="")
        print(
            f"records {report['records']['input']:,}, compared {report['records']['compared']:,}: {report['compared']}"
        )
    if args.engine == "spark":
        print(f"--engine spark: {spark_report(folder, rounds, spark_name, names[1], span)}")
    b, i = summary["bills"], summary["item_lines"]
    print(
        f"bills accepted {b['accepted']:,}, rejected {b['rejected']:,}; item lines accepted {i['accepted']:,}, "
        f"rejected {i['rejected']:,}; fund ratio {summary['overall']['fund_ratio']}"
    )


def _extract(folder: Path, params: dict[str, int]) -> None:
    """The platform extract of the same bills (``generate_extract.py``), reused when the size and seed match."""
    marker = folder / "params.json"
    if marker.exists() and json.loads(marker.read_text()) == params:
        return
    start = time.perf_counter()
    cmd = [sys.executable, str(HERE / "generate_extract.py"), "--out", str(folder), "--refunds", "0.005"]
    cmd += ["--civil-servant", "0.1", *(f"--{k.replace('_', '-')}={v}" for k, v in params.items())]
    subprocess.run(cmd, check=True)
    marker.write_text(json.dumps(params))
    print(f"extract generated in {time.perf_counter() - start:.1f} s")


def spark_report(folder: Path, rounds: list, name: str, local: str, span) -> str:  # type: ignore[no-untyped-def]
    """Spark's time beside --jobs 1's, and whether its OUT rows (a folder of parts) are --jobs 1's."""
    import polars as pl

    times = [r[name]["seconds"] / r[local]["seconds"] for r in rounds]
    want = pl.read_csv(folder / "settled-j1.csv", infer_schema=False).fill_null("").sort("bill_id")
    parts = sorted((folder / "settled-spark.csv").glob("*.csv"))
    got = pl.concat([pl.read_csv(p, infer_schema=False) for p in parts]).fill_null("").sort("bill_id")
    return f"{span(times, '.1f')}× --jobs 1 of the same round; OUT rows (sorted by bill) identical: {got.equals(want)}"


if __name__ == "__main__":
    main()
