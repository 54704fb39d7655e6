"""``medins batch --engine spark`` against ``medins batch --jobs 1``: the same OUT, REJECTS, SUMMARY,
CLEARING and YTD.

The month is the columns engine's (tests/test_columns_engine.py): 20,000 generated bills with a
share of cells made bad or unusual, so that bills go to the per-bill engine and are rejected or
accepted there, and item lines hold quotes and line breaks. The local engine is the oracle.

One Spark session (``local[2]``) serves every test here: a session takes about 2 GB. Without
pyspark these tests are skipped, unless ``MEDINS_REQUIRE_SPARK`` is set (as CI sets it), when they
fail. The command line's own refusals need no Spark and run everywhere.
"""

from __future__ import annotations

import csv
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from test_columns_engine import BILLS, SEED, _change, _run, month_halves

from medins.cli import EXIT_ERROR, EXIT_USAGE, cli
from medins.errors import MedinsError

REPORTS = ("summary.json", "clearing.csv", "ytd.json")


def _pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        if os.environ.get("MEDINS_REQUIRE_SPARK"):
            raise
        pytest.skip("pyspark is not installed (pip install 'medins[spark]')")


@pytest.fixture(scope="session")
def spark() -> Any:
    _pyspark()
    from medins.spark import session

    s = session("local[2]")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory, generate_month: Any) -> Path:
    folder = tmp_path_factory.mktemp("spark-month")
    generate_month(BILLS, 4, SEED, folder)
    _change(folder, random.Random(SEED), 0.003)
    return folder


def _local(bills: Path, items: Path | None, out: Path, ytd_in: Path | None = None) -> Path:
    """The local engine's outputs in ``out`` (``--jobs 1``), as the columns-engine tests write them."""
    _run(bills, items, out, ytd_in=ytd_in, jobs=1)
    return out


def _on_spark(bills: Path, items: Path | None, out: Path, ytd_in: Path | None = None, name: str = "out.csv") -> Any:
    from medins import spark

    out.mkdir(parents=True, exist_ok=True)
    return spark.run(
        str(bills),
        str(items) if items else None,
        str(out / name),
        summary=out / "summary.json",
        clearing=out / "clearing.csv",
        ytd_in=ytd_in,
        ytd_out=out / "ytd.json",
        lang="en",
    )


def _read(path: Path) -> pl.DataFrame:
    """A CSV file, or the part files of a folder Spark wrote (CSV or Parquet), every cell text."""
    if path.is_dir():
        parquet = sorted(path.glob("*.parquet"))
        if parquet:
            return pl.concat([pl.read_parquet(p) for p in parquet]).with_columns(pl.all().cast(pl.String))
        parts = sorted(path.glob("*.csv"))
        return pl.concat([pl.read_csv(p, infer_schema=False) for p in parts]).fill_null("")
    return pl.read_csv(path, infer_schema=False).fill_null("")


def _same(local: Path, spark_out: Path, out_name: str = "out.csv") -> None:
    """OUT's rows (sorted by bill), REJECTS' rows (in order), and the reports byte for byte."""
    want = _read(local / "out.csv")
    got = _read(spark_out / out_name)
    assert got.height == want.height
    assert got.sort("bill_id").equals(want.sort("bill_id"))
    stem, suffix = out_name.rsplit(".", 1)
    want_rejects = _read(local / "out.rejects.csv")
    got_rejects = _read(spark_out / f"{stem}.rejects.{suffix}")
    assert got_rejects.equals(want_rejects)
    for name in REPORTS:
        if name == "summary.json" and out_name.endswith(".parquet"):
            continue  # its inputs differ: compared by the test
        assert (spark_out / name).read_bytes() == (local / name).read_bytes(), f"{name} differs"


def test_spark_settles_the_month_as_the_local_engine(spark: Any, month: Path, tmp_path: Path) -> None:
    local = _local(month / "bills.csv", month / "items.csv", tmp_path / "local")
    report = _on_spark(month / "bills.csv", month / "items.csv", tmp_path / "spark")
    _same(local, tmp_path / "spark")
    # the month exercises what it was made for: rejects of bills and of item lines, multi-line cells
    summary = json.loads((local / "summary.json").read_text(encoding="utf-8"))
    assert report.bills_rejected == summary["bills"]["rejected"] > 50
    assert report.items_rejected == summary["item_lines"]["rejected"] > 50
    assert report.bills_input == BILLS


def test_a_second_half_from_parquet_with_the_first_halfs_ytd(spark: Any, month: Path, tmp_path: Path) -> None:
    """YTD in: the second half of the month read with the first half's --ytd-out, from a Parquet
    folder, written as Parquet; the local engine reads the same rows as CSV."""
    halves = month_halves(month, tmp_path / "halves")
    second = pl.read_csv(halves / "second.csv", infer_schema=False).fill_null("")
    (halves / "second").mkdir()
    second.write_parquet(halves / "second" / "part-0.parquet")
    one = _local(halves / "first.csv", month / "items.csv", tmp_path / "one")
    ytd = one / "ytd.json"
    local = _local(halves / "second.csv", None, tmp_path / "local", ytd_in=ytd)
    _on_spark(halves / "second", None, tmp_path / "spark", ytd_in=ytd, name="out.parquet")
    # a bill's row in a file of a folder: the file is named
    spark_rejects = _read(tmp_path / "spark" / "out.rejects.parquet")
    assert set(spark_rejects["file"]) == {"bills/part-0.parquet"}
    rejects = _read(local / "out.rejects.csv").with_columns(pl.lit("bills/part-0.parquet").alias("file"))
    rejects.write_csv(local / "out.rejects.csv")
    _same(local, tmp_path / "spark", "out.parquet")
    want = json.loads((local / "summary.json").read_text(encoding="utf-8"))
    got = json.loads((tmp_path / "spark" / "summary.json").read_text(encoding="utf-8"))
    assert (want["inputs"]["bills"], got["inputs"]["bills"]) == ("second.csv", "second")
    assert (want["inputs"]["encoding"]["bills"], got["inputs"]["encoding"]["bills"]) == ("utf-8", "parquet")
    del want["inputs"], got["inputs"]
    assert got == want
    entries = json.loads(ytd.read_text(encoding="utf-8"))["entries"]
    assert len(entries) > 1000  # the first half's amounts were carried


def test_an_item_line_without_its_bill_is_rejected_with_its_row(spark: Any, month: Path) -> None:
    """DataFrames made in the session (not read from files) are numbered in their order: the orphan
    line, last of the items, is rejected at row items.height + 2 (the header counts as row 1)."""
    from medins import spark as medins_spark

    bills = pl.read_csv(month / "bills.csv", infer_schema=False).head(30).fill_null("")
    items = pl.read_csv(month / "items.csv", infer_schema=False).fill_null("")
    items = items.filter(pl.col("bill_id").is_in(bills["bill_id"].implode()))
    orphan = items.head(1).with_columns(pl.lit("B-NOT-THERE").alias("bill_id"))
    lines = pl.concat([items, orphan])
    done = medins_spark.settle(
        spark.createDataFrame(bills.rows(), bills.columns),
        spark.createDataFrame(lines.rows(), lines.columns),
        lang="en",
    )
    got = done.rejects.filter("bill_id = 'B-NOT-THERE'").drop("_order").collect()
    assert [tuple(r) for r in got] == [
        (items.height + 2, "items", "B-NOT-THERE", "bill_id", "no bill with bill_id B-NOT-THERE in BILLS")
    ]
    report = done.report("bills", "items")
    assert (report.bills_input, report.items_input) == (30, items.height + 1)


def test_a_cell_the_columns_cannot_settle_stops_the_run_naming_it(spark: Any, month: Path, tmp_path: Path) -> None:
    with (month / "bills.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[:41]
    rows[7][rows[0].index("admitted")] = "2025-02-30"  # no such day: row 8 as the batch counts (the header is row 1)
    folder = tmp_path / "in"
    folder.mkdir()
    with (folder / "bills.csv").open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(MedinsError) as caught:
        _on_spark(folder / "bills.csv", None, tmp_path / "spark")
    message = caught.value.render("en")
    assert message.startswith("bills row 8, column admitted: ")
    assert "'2025-02-30'" in message
    assert "the local engine (without --engine spark)" in message


# ----------------------------------------------------------------------------- the command line, without Spark


def test_without_pyspark_the_message_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark raises ImportError
    result = CliRunner().invoke(
        cli, ["batch", "bills.csv", "-o", str(tmp_path / "out.csv"), "--engine", "spark", "--lang", "en"]
    )
    assert result.exit_code == EXIT_ERROR
    assert result.stderr == (
        "medins: error: --engine spark: pyspark is not installed: --engine spark needs it; "
        "install the spark extra: pip install 'medins[spark]' (Java 17 or newer is needed too)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--jobs", "2"], "--engine: --engine spark does not take --jobs"),
        (["--encoding", "gbk", "--memory", "1G"], "--engine: --engine spark does not take --memory, --encoding"),
    ],
)
def test_spark_refuses_the_local_engines_options(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(
        cli, ["batch", "bills.csv", "-o", str(tmp_path / "out"), "--engine", "spark", *args, "--lang", "en"]
    )
    assert result.exit_code == EXIT_USAGE
    assert result.stderr.startswith(f"medins: error: {message}; ")


def test_the_local_engine_refuses_a_folder_and_master(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["batch", str(tmp_path), "-o", str(tmp_path / "o.csv"), "--lang", "en"])
    assert result.exit_code == EXIT_USAGE
    assert result.stderr == (
        f"medins: error: {tmp_path}: is a folder: the local engine reads one file; "
        "give a file, or add --engine spark to read a folder\n"
    )
    bills = tmp_path / "b.csv"
    bills.write_text("bill_id\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["batch", str(bills), "-o", "o.csv", "--master", "local[2]", "--lang", "en"])
    assert result.exit_code == EXIT_USAGE
    assert result.stderr == "medins: error: --master: --master goes with --engine spark\n"
