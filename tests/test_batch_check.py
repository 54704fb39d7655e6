"""``medins batch --check``: headers and rows checked as the run reads them, nothing settled."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner

from medins.cli import cli

FIX = Path(__file__).parent / "fixtures" / "batch"


def _invoke(*args: object) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def test_check_lists_the_rows_the_run_rejects_while_reading(tmp_path: Path) -> None:
    """bills.csv and items.csv hold a 30 February (bills row 9, B008), a line of no bill (B999), an
    amount that is not quantity × unit price and more: every row a full run rejects, --check rejects
    with the same words, without settling; B007 alone, refused by the rules (its pack has no
    in-province rules), is left to the run."""
    run = _invoke("batch", FIX / "bills.csv", "--items", FIX / "items.csv", "-o", tmp_path / "o.csv", "--lang", "en")
    assert run.exit_code == 3  # type: ignore[attr-defined]
    before = sorted(p.name for p in tmp_path.iterdir())
    check = _invoke(
        "batch",
        FIX / "bills.csv",
        "--items",
        FIX / "items.csv",
        "--check",
        "--rejects",
        tmp_path / "c.csv",
        "--lang",
        "en",
    )
    assert check.exit_code == 3, check.output  # type: ignore[attr-defined]
    by_rules = [r for r in _rows(tmp_path / "o.rejects.csv") if r[2] == "B007"]
    assert [r[:2] for r in by_rules] == [["8", "bills"]] and "in-province" in by_rules[0][4]
    assert _rows(tmp_path / "c.csv") == [r for r in _rows(tmp_path / "o.rejects.csv") if r[2] != "B007"]
    assert len(_rows(tmp_path / "c.csv")) > 3
    out = check.output  # type: ignore[attr-defined]
    assert out.startswith(f"bills 9, item lines 9: {len(_rows(tmp_path / 'c.csv')) - 1} rows would be rejected")
    assert "row=9  file=bills  bill_id=B008  column=admitted  reason='2025-02-30' is not a valid date" in out
    # nothing settled, nothing written but the rejects asked for
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "c.csv"])


def test_check_of_duplicate_bills_in_chinese(tmp_path: Path) -> None:
    check = _invoke("batch", FIX / "dup-bills.csv", "--items", FIX / "dup-items.csv", "--check")
    assert check.exit_code == 3  # type: ignore[attr-defined]
    lines = check.output.splitlines()  # type: ignore[attr-defined]
    assert lines[0] == "单据 3 张，明细 3 行：4 行会被拒绝（未结算，只检查表头和各行）"
    assert lines[1] == "  行=2  文件=bills  单据号=D001  列=bill_id  原因=单据号 D001 重复：第 2、4 行"


def test_a_clean_file_checks_with_exit_0_and_json(tmp_path: Path) -> None:
    check = _invoke("batch", FIX / "march.csv", "--check", "--format", "json")
    assert check.exit_code == 0, check.output  # type: ignore[attr-defined]
    assert '"rejected": []' in check.output  # type: ignore[attr-defined]


def test_without_check_the_output_is_required(tmp_path: Path) -> None:
    got = _invoke("batch", FIX / "march.csv", "--lang", "en")
    assert got.exit_code == 2  # type: ignore[attr-defined]
    assert "Missing option '-o' / '--out'" in got.output  # type: ignore[attr-defined]


def test_a_header_the_run_cannot_use_is_an_error(tmp_path: Path) -> None:
    got = _invoke("batch", FIX / "missing-column.csv", "--check", "--lang", "en")
    assert got.exit_code == 1  # type: ignore[attr-defined]
    assert "Traceback" not in got.output  # type: ignore[attr-defined]
