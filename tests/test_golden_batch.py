"""The batch's outputs for three generated months, byte for byte, as the per-bill engine produced them.

tests/golden/batch/seed-N holds what ``medins batch`` wrote for ``benchmarks/generate.py --bills 2000
--seed N`` (OUT, REJECTS, SUMMARY, CLEARING, YTD) when it was recorded, before the engine is replaced:
a replacement must reproduce them exactly, or list and justify each difference as a fix and record
the new files. The amounts in them were not worked by hand; the hand-worked cases are the golden
estimate cases and the examples. ``inputs.sha256`` pins the generated inputs, so a change of the
generator cannot pass for a change of the engine.

Recorded again once, when OUT gained ``reasons`` and ``reason_text`` (the eligibility reasons, issue
14): every earlier column of every row was compared with the recording before and is unchanged; the
other outputs are byte for byte the same.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from medins.cli import cli

ROOT = Path(__file__).parent.parent
GOLDEN = Path(__file__).parent / "golden" / "batch"
OUTPUTS = ("out.csv", "out.rejects.csv", "summary.json", "clearing.csv", "ytd.json")


def _generate(seed: int, folder: Path) -> None:
    script = ROOT / "benchmarks" / "generate.py"
    args = [sys.executable, str(script), "--bills", "2000", "--seed", str(seed), "--out", str(folder)]
    subprocess.run(args, check=True, capture_output=True)
    for line in (GOLDEN / f"seed-{seed}" / "inputs.sha256").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, f"generated {name} changed"


@pytest.mark.parametrize(("seed", "jobs"), [(1, 1), (2, 1), (3, 2)])
def test_batch_reproduces_the_recorded_month(seed: int, jobs: int, tmp_path: Path, monkeypatch) -> None:
    data, out = tmp_path / "in", tmp_path / "out"
    out.mkdir()
    _generate(seed, data)
    monkeypatch.chdir(data)  # the summary names the inputs as given
    args = ["batch", "bills.csv", "--items", "items.csv", "-o", str(out / "out.csv"), "--quiet", "--lang", "en"]
    args += ["--summary", str(out / "summary.json"), "--clearing", str(out / "clearing.csv")]
    args += ["--ytd-out", str(out / "ytd.json"), "--jobs", str(jobs)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output  # every generated row settles (same-province rows are local visits)
    for name in OUTPUTS:
        want = (GOLDEN / f"seed-{seed}" / name).read_bytes()
        got = (out / name).read_bytes()
        assert got == want, f"seed {seed}: {name} differs from the recorded output"
