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

Recorded again when the shipped packs' values were corrected from better sources (issue 15: Shanghai's
2023 employee outpatient terms and residents' level-2 ratio, Beijing's residents' critical-illness
terms, Shijiazhuang's residents' outpatient deductible, Jiaxing's residents' ratios and outpatient cap,
Jiaxing's employees' inpatient ratios).
Every row that changed is a bill of an insured place, scheme, group and visit type whose values
changed (or of a person whose earlier bill of the year did); four of them were worked by hand from the
new values before the files were replaced — S01000001063 (Jiaxing resident, level-2 outpatient:
(5627.48 − 300) × 45 % = 2397.37), S01000001466 (Shijiazhuang resident, level-1 outpatient, referral:
(883.11 − 100) × (50 % − 10 points) = 313.24), S01000000146 (Shanghai employee, level-3 outpatient,
referral: (3908.81 − 500) × 70 % × 0.9 = 2147.55) and S01000000404 (Jiaxing resident, level-1
inpatient, referral: (11705.92 − 1170.59 first self-pay − 300) × 90 % = 9211.80), then, for Jiaxing's
employees, two more: S01000000257 (in service, level-3 inpatient, referral: (10688.32 − 1068.83 − 800)
× 80 % = 7055.59) and S01000000108 (retired, level 3, relocated: (5779.84 − 600) × 85 % = 4402.86).
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
