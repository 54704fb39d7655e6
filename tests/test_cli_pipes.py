"""Issue 14, items 6, 7 and 9: standard input and output, any encoding Python knows, JSON summaries,
the batch columns listed."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from medins.cli import cli

ROOT = Path(__file__).parent.parent
STORY = ROOT / "examples" / "shijiazhuang-resident-beijing.toml"
BATCH = Path(__file__).parent / "fixtures" / "batch"


def run(*args: str, stdin: bytes | str | None = None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, input=stdin, prog_name="medins")


def test_estimate_and_check_read_the_case_from_standard_input() -> None:
    text = STORY.read_text(encoding="utf-8")
    piped = run("estimate", "-", stdin=text)
    assert piped.exit_code == 0, piped.stderr
    assert piped.stdout == run("estimate", str(STORY)).stdout
    check = run("check", "-", "--format", "json", stdin=text)
    assert json.loads(check.stdout)["eligible"] is True


def test_a_bad_case_on_standard_input_is_named_dash() -> None:
    result = run("estimate", "-", stdin=STORY.read_text(encoding="utf-8").replace("total = 68000.00", "total = -1"))
    assert result.exit_code == 1
    assert result.stderr == "medins: 错误: -: summary.total: 金额 -1 为负数；金额不能小于 0\n"


def test_batch_reads_standard_input_and_writes_standard_output() -> None:
    bills = (BATCH / "bills.csv").read_bytes()
    result = run("batch", "-", "-o", "-", "--quiet", stdin=bills)
    rows = list(csv.DictReader(io.StringIO(result.stdout.lstrip("\ufeff"))))
    # bills.csv has 9 bills; without --items, B001, B004, B006 and B009 (lines only, no total) are
    # rejected, B007 (in-province, no such rules) and B008 (2025-02-30) too: B002, B003, B005 settle
    assert [r["bill_id"] for r in rows] == ["B002", "B003", "B005"]
    assert result.exit_code == 3
    rejected = list(csv.DictReader(io.StringIO(result.stderr.lstrip("\ufeff"))))
    assert [r["bill_id"] for r in rejected] == ["B001", "B004", "B006", "B007", "B008", "B009"]
    assert len(rows) + len(rejected) == 9


def test_batch_takes_any_encoding_python_knows(tmp_path: Path) -> None:
    gbk = run("batch", str(BATCH / "gbk-bills.csv"), "-o", str(tmp_path / "g.csv"), "--encoding", "gbk", "--quiet")
    auto = run("batch", str(BATCH / "gbk-bills.csv"), "-o", str(tmp_path / "a.csv"), "--quiet")
    assert gbk.exit_code == auto.exit_code
    assert (tmp_path / "g.csv").read_bytes() == (tmp_path / "a.csv").read_bytes()
    bad = run("batch", str(BATCH / "gbk-bills.csv"), "-o", str(tmp_path / "b.csv"), "--encoding", "klingon")
    assert bad.exit_code == 2
    assert bad.stderr.endswith(
        "错误：'--encoding' 的值无效：'klingon' 不是 Python 认识的编码；可用 auto、utf-8、gb18030、gbk 等\n"
    )


def test_batch_summary_as_json(tmp_path: Path) -> None:
    result = run("batch", str(BATCH / "bills.csv"), "-o", str(tmp_path / "s.csv"), "--format", "json")
    data = json.loads(result.stdout)
    assert result.exit_code == 3
    # the same nine bills as above: three settle, six are rejected
    assert data["bills"] == {"input": 9, "accepted": 3, "rejected": 6}
    assert result.stderr == ""  # JSON instead of the table, not beside it


def test_batch_lists_its_columns_without_a_file() -> None:
    zh = run("batch", "--columns")
    assert zh.exit_code == 0
    assert zh.stdout.startswith("账单文件（BILLS）\n  bill_id ")
    assert "  insured_region      参保地, insu_admdvs\n" in zh.stdout
    assert "明细文件（--items）\n" in zh.stdout
    en = run("batch", "--columns", "--lang", "en")
    assert en.stdout.startswith("bills file (BILLS)\n")
