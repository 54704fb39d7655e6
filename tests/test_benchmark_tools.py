"""benchmarks/run.py's measuring wrapper: what it reports of a command and the processes it starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"

# a process that spends at least 0.2 s of CPU (its own clock, however busy the machine is)
SPIN = "import time\nwhile time.process_time() < 0.2:\n    pass\n"


def test_the_cpu_time_counts_every_process_of_the_command() -> None:
    # the command spins 0.2 s itself and waits for a child that spins 0.2 s: at least 0.4 s in all,
    # as a --jobs 2 run's figure must hold its worker's work as well as its own
    parent = f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {SPIN!r}], check=True)\n{SPIN}"
    out = subprocess.run(
        [sys.executable, str(RUN), "--measure", "--", sys.executable, "-c", parent],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got["code"] == 0
    assert got["cpu"] >= 0.4
    assert got["peak_kb"] > 0
