"""The batch on Apache Spark: read, partition by person, settle each partition, aggregate.

The same settlement as ``medins batch``, where the data already lives: bills, item lines and
year-to-date entries are put into one frame keyed by the person (an item line by its bill's person),
repartitioned by that key so that each Spark partition holds whole persons, sorted within partitions
into the files' order, and settled over Arrow (``mapInArrow``) by
:func:`medins.batch.waves.settle_partition`, the code the local engine runs on each of its partitions.
The partitions give OUT rows, rejects and each key's final year-to-date state as DataFrames; the
summary and the clearing statement are Spark aggregations of the OUT rows (exact decimal sums),
shown by the batch's own definitions (:func:`medins.batch.summary.group_stats`, ``_write_clearing``).

pyspark is an optional extra (``pip install 'medins[spark]'``); only ``--engine spark`` imports this
module. The steps: :func:`read_table` (read), :func:`settle` (partition, settle), :class:`Settled`
(aggregate), :func:`run` (write, for ``medins batch --engine spark``).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medins.batch.bill import GROUP_AMOUNTS, Aggregates
from medins.batch.clearing import _write_clearing
from medins.batch.options import BatchOptions, BatchReport
from medins.batch.read import _SCIENTIFIC_PATTERN, PY_SPACE, _first_day
from medins.batch.schema import (
    BILL_COLUMNS,
    DATE_COLUMNS,
    ITEM_COLUMNS,
    ITEM_REQUIRED,
    OUT_AMOUNTS,
    OUT_HEAD,
    OUT_TAIL,
    bill_required,
    map_columns,
)
from medins.batch.summary import _summary
from medins.batch.values import date_problem, day_number, id_problem
from medins.batch.waves import settle_partition
from medins.batch.ytd import _load_ytd, _write_ytd
from medins.errors import MedinsError, SettlementBug, t

INSTALL = t(
    "请安装 spark 扩展：pip install 'medins[spark]'（另需 Java 17 或更新版本）",
    "install the spark extra: pip install 'medins[spark]' (Java 17 or newer is needed too)",
)

KIND_BILL, KIND_ITEM, KIND_YTD, KIND_ORPHAN = 0, 1, 2, 3
"""What a row of the partitioned frame is (an orphan: an item line whose bill_id no bill has)."""

OUT_ROW, REJECT_ROW, FINAL_ROW, COUNT_ROW, IRREGULAR_ROW = 0, 1, 2, 3, 4
"""What a row the partitions give is: an OUT row, a reject, a key's final state, a partition's
count, or a cell the columns cannot settle (the run stops and names it)."""

COUNTS = ("_bills", "_items", "_persons", "_settled", "_reordered")
"""A partition's counts: bills and item lines in, persons in and settled, persons reordered."""

YTD_COLUMNS = ("person_id", "insured_region", "scheme", "year", "last_service_date", "ytd")
"""Year-to-date state as a DataFrame: the entries of ``--ytd-in``/``--ytd-out`` (``ytd`` as JSON)."""

_STRIP = "[" + re.escape(PY_SPACE) + "]"


def require_pyspark() -> None:
    """Stop with the install command when pyspark is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise MedinsError(
            t("未安装 pyspark：--engine spark 需要它", "pyspark is not installed: --engine spark needs it"),
            "--engine spark",
            INSTALL,
        ) from None


def session(master: str | None = None) -> Any:
    """A Spark session: the running one (a notebook's), or ``spark-submit``'s, unless ``master`` names
    another; on this machine (``local[N]``, the default) bound to 127.0.0.1. Without the web UI."""
    require_pyspark()
    from pyspark.sql import SparkSession

    # workers run the interpreter that runs medins, which has medins and polars installed
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    # started by spark-submit (its JVM started this Python): the session is as spark-submit configures it
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    local = master.startswith("local") if master else not submitted
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.appName("medins batch")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if master:
        builder = builder.master(master)
    if local:
        # the aggregations' shuffles: a few partitions per core, not the default 200
        builder = builder.config("spark.sql.shuffle.partitions", str(4 * (os.cpu_count() or 1)))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# ----------------------------------------------------------------------------- read


def _format(path: str) -> str:
    """``parquet`` for a .parquet file or a folder of them, else ``csv``."""
    if path.lower().endswith(".parquet"):
        return "parquet"
    folder = Path(path)
    if folder.is_dir() and any(folder.glob("*.parquet")) and not any(folder.glob("*.csv")):
        return "parquet"
    return "csv"


def read_table(spark: Any, path: str | Path, role: str) -> Any:
    """A CSV or Parquet file, or a folder of them, every column as text, with ``_file`` (how rejects
    name the file: ``bills``, or ``bills/NAME`` for a file of a folder) and ``_row`` (the record's
    number in its file, 0 the first after the header; a CSV record within one line).

    Rows are numbered from each file's blocks (``_metadata``): a block's rows follow the rows of
    the blocks before it in the same file."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    text = str(path)
    fmt = _format(text)
    reader = spark.read.format(fmt)
    if fmt == "csv":
        # RFC 4180 quoting, a quoted cell may hold a line break (so each CSV file is read whole, by one
        # task: a folder of files, or Parquet, spreads the reading); cells kept as written (the
        # settlement strips them as the batch does)
        reader = reader.options(
            header="true", escape='"', multiLine="true", encoding="UTF-8", inferSchema="false", mode="PERMISSIVE"
        )
    try:
        df = reader.load(text)
    except Exception as exc:  # Spark's AnalysisException: a path that is not there or not readable
        raise MedinsError(
            t(f"无法读取：{_first_line(exc)}", f"cannot read: {_first_line(exc)}"),
            text,
            t("请给出 CSV 或 Parquet 文件或文件夹", "give a CSV or Parquet file or folder"),
        ) from None
    names = [c.lstrip("\ufeff") for c in df.columns]
    single = not Path(text).is_dir() and "*" not in text
    label = F.lit(role) if single else F.concat(F.lit(role + "/"), F.regexp_extract("_metadata.file_path", "[^/]+$", 0))
    df = df.select(
        *[
            F.coalesce(F.col(f"`{c}`").cast("string"), F.lit("")).alias(n)
            for c, n in zip(df.columns, names, strict=True)
        ],
        F.col("_metadata.file_path").alias("_path"),
        F.col("_metadata.file_block_start").alias("_block"),
        label.alias("_file"),
        F.monotonically_increasing_id().alias("_mid"),
    )
    blocks = df.groupBy("_path", "_block").agg(F.min("_mid").alias("_first"), F.count("*").alias("_n"))
    before = Window.partitionBy("_path").orderBy("_block").rowsBetween(Window.unboundedPreceding, -1)
    blocks = blocks.withColumn("_offset", F.coalesce(F.sum("_n").over(before), F.lit(0)))
    numbered = df.join(F.broadcast(blocks.drop("_n")), ["_path", "_block"])
    row = (F.col("_mid") - F.col("_first") + F.col("_offset")).alias("_row")
    return numbered.select(*[F.col(f"`{n}`") for n in names], "_file", row)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def ytd_frame(spark: Any, entries: dict[Any, tuple[int, str, str]]) -> Any:
    """``--ytd-in`` entries (as :func:`medins.batch.ytd._load_ytd` reads them) as a DataFrame."""
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    schema = StructType([StructField(c, IntegerType() if c == "year" else StringType(), False) for c in YTD_COLUMNS])
    rows = [(p, r, s, y, last, ytd) for (p, r, s, y), (_, last, ytd) in sorted(entries.items())]
    return spark.createDataFrame(rows, schema)


# ----------------------------------------------------------------------------- partition and settle


@dataclass(frozen=True)
class Plan:
    """What each partition needs (sent to the executors): the files' headers, the rules folder and
    the language. The rules folder must be readable where the executors run (the shipped rules are
    inside the package)."""

    bill_headers: tuple[str, ...]
    item_headers: tuple[str, ...] | None
    rules: str | None
    lang: str
    want_state: bool
    out_columns: tuple[str, ...]


def _result_schema(plan: Plan) -> Any:
    from pyspark.sql.types import BooleanType, IntegerType, LongType, StringType, StructField, StructType

    fields = [
        StructField("_kind", IntegerType(), False),
        StructField("_file", StringType(), True),
        StructField("_row", LongType(), True),
        *[StructField(c, StringType(), True) for c in plan.out_columns],
        StructField("_month", StringType(), True),
        StructField("_local", BooleanType(), True),
        StructField("_order", IntegerType(), True),
        StructField("_column", StringType(), True),
        StructField("_reason", StringType(), True),
        StructField("_scheme", StringType(), True),
        StructField("_year", IntegerType(), True),
        StructField("_last", StringType(), True),
        StructField("_ytd", StringType(), True),
        *[StructField(c, LongType(), True) for c in COUNTS],
    ]
    return StructType(fields)


def settle(
    bills: Any,
    items: Any = None,
    *,
    ytd: Any = None,
    rules: str | Path | None = None,
    lang: str = "zh",
    partitions: int | None = None,
) -> Settled:
    """Settle a DataFrame of bills (and one of item lines) as ``medins batch`` does, partitioned by person.

    ``bills`` and ``items`` have the batch's columns as text (canonical or alias names), with
    ``_file`` and ``_row`` as :func:`read_table` gives them (without them, rows are numbered in the
    DataFrame's order). ``ytd`` is year-to-date state in (:data:`YTD_COLUMNS`). ``partitions``
    defaults to twice the cluster's cores (``spark.default.parallelism``)."""
    from pyspark.sql import functions as F

    spark = bills.sparkSession
    bills = _numbered(bills, "bills")
    bill_headers = tuple(c for c in bills.columns if c not in ("_file", "_row"))
    bill_cols = map_columns(list(bill_headers), BILL_COLUMNS, "BILLS", bill_required(items is not None), "bills")
    item_cols = None
    item_headers: tuple[str, ...] | None = None
    if items is not None:
        items = _numbered(items, "items")
        item_headers = tuple(c for c in items.columns if c not in ("_file", "_row"))
        item_cols = map_columns(list(item_headers), ITEM_COLUMNS, "ITEMS", ITEM_REQUIRED, "items")
    out_columns = list(OUT_HEAD)
    if "person_name" in bill_cols.index:
        out_columns.insert(2, "person_name")
    out_columns += [*OUT_AMOUNTS, "fund_ratio", *OUT_TAIL]
    plan = Plan(bill_headers, item_headers, str(rules) if rules else None, lang, True, tuple(out_columns))

    def stripped(c: str) -> Any:
        return F.regexp_replace(F.col(f"`{c}`"), f"^{_STRIP}+|{_STRIP}+$", "")

    bid = bill_headers[bill_cols.index["bill_id"]]
    pid = bill_headers[bill_cols.index["person_id"]]
    b = bills.select(
        F.lit(KIND_BILL).alias("_kind"),
        stripped(pid).alias("_person"),
        "_file",
        "_row",
        *[F.col(f"`{c}`").alias(f"b{i}") for i, c in enumerate(bill_headers)],
    )
    _refuse_shared_ids(bills, stripped(bid), bill_cols.shown("bill_id"))
    parts = [b]
    if items is not None and item_headers is not None and item_cols is not None:
        ibid = item_headers[item_cols.index["bill_id"]]
        owners = bills.select(stripped(bid).alias("_bill"), stripped(pid).alias("_person"))
        lines = items.select(
            stripped(ibid).alias("_bill"),
            "_file",
            "_row",
            *[F.col(f"`{c}`").alias(f"i{i}") for i, c in enumerate(item_headers)],
        ).join(owners, "_bill", "left")
        # a line of no bill goes to the partition of its bill_id, to be rejected there
        orphan = F.col("_person").isNull()
        parts.append(
            lines.select(
                F.when(orphan, F.lit(KIND_ORPHAN)).otherwise(F.lit(KIND_ITEM)).alias("_kind"),
                F.when(orphan, F.col("_bill")).otherwise(F.col("_person")).alias("_person"),
                *[c for c in lines.columns if c not in ("_bill", "_person")],
            )
        )
    if ytd is not None:
        parts.append(
            ytd.select(
                F.lit(KIND_YTD).alias("_kind"),
                F.col("person_id").alias("_person"),
                *[F.col(c).cast("string").alias(f"y_{c}") for c in YTD_COLUMNS],
            )
        )
    frame = parts[0]
    for p in parts[1:]:
        frame = frame.unionByName(p, allowMissingColumns=True)
    n = partitions or max(1, 2 * spark.sparkContext.defaultParallelism)
    frame = frame.repartition(n, "_person").sortWithinPartitions("_kind", "_file", "_row")
    result = frame.mapInArrow(partial(settle_arrow, plan), _result_schema(plan)).persist()
    return Settled(result, plan, bill_cols, item_cols, ytd)


def _numbered(df: Any, role: str) -> Any:
    """``df`` with ``_file`` and ``_row``: as given, or numbered in the DataFrame's order (each
    partition's rows after the rows of the partitions before it)."""
    from pyspark.sql import functions as F

    if "_row" in df.columns and "_file" in df.columns:
        return df
    mid = df.withColumn("_mid", F.monotonically_increasing_id())
    part = F.shiftright(F.col("_mid"), 33)
    counts = mid.groupBy(part.alias("_part")).count().collect()
    offsets, total = {}, 0
    for r in sorted(counts, key=lambda r: r["_part"]):
        offsets[r["_part"]], total = total, total + r["count"]
    offset = F.create_map(*[x for k, v in offsets.items() for x in (F.lit(k), F.lit(v))]) if offsets else None
    low = F.col("_mid").bitwiseAND(F.lit((1 << 33) - 1))
    row = (offset[part] + low) if offset is not None else low
    cols = [F.col(f"`{c}`").cast("string") for c in df.columns if c not in ("_file", "_row")]
    return mid.select(*cols, F.lit(role).alias("_file"), row.cast("long").alias("_row"))


def _refuse_shared_ids(bills: Any, bid: Any, column: str) -> None:
    """Two bills with one bill_id cannot be told apart by their item lines: stop, naming them."""
    from pyspark.sql import functions as F

    shared = (
        bills.select(bid.alias("_bill"), "_file", "_row")
        .groupBy("_bill")
        .agg(F.count("*").alias("n"), F.sort_array(F.collect_list(F.struct("_file", "_row"))).alias("rows"))
        .filter(F.col("n") > 1)
        .limit(1)
        .collect()
    )
    if shared:
        where = ", ".join(f"{r['_file']} row {r['_row'] + 2}" for r in shared[0]["rows"][:5])
        raise MedinsError(
            t(f"单据号 {shared[0]['_bill']!r} 重复：{where}", f"bill_id {shared[0]['_bill']!r} is shared by {where}"),
            f"BILLS, column {column}",
            t(
                "请改正单据号；本地引擎（不加 --engine spark）会拒绝这些行并结算其余单据",
                "correct the IDs; the local engine (without --engine spark) rejects such rows and settles the rest",
            ),
        )


def settle_arrow(plan: Plan, batches: Iterator[Any]) -> Iterator[Any]:
    """The partition function: one partition's bills, item lines and year-to-date entries (Arrow
    batches) settled by :func:`medins.batch.waves.settle_partition`; yields OUT rows, rejects, final
    states and counts as Arrow batches of the result schema."""
    frames = [pl.from_arrow(b) for b in batches]
    frames = [f for f in frames if isinstance(f, pl.DataFrame) and f.height]
    if not frames:
        return
    frame = pl.concat(frames, how="vertical_relaxed")
    rows = _settle_frame(plan, frame)
    schema = _arrow_schema(plan)
    table = pl.concat(rows, how="diagonal_relaxed") if rows else None
    if table is None or not table.height:
        return
    for c in schema.names:
        if c not in table.columns:
            table = table.with_columns(pl.lit(None).alias(c))
    yield from table.select(schema.names).to_arrow().cast(schema).to_batches()


def _arrow_schema(plan: Plan) -> Any:
    import pyarrow as pa

    text = [(c, pa.string()) for c in ("_file", *plan.out_columns, "_month")]
    return pa.schema(
        [
            ("_kind", pa.int32()),
            text[0],
            ("_row", pa.int64()),
            *text[1:],
            ("_local", pa.bool_()),
            ("_order", pa.int32()),
            ("_column", pa.string()),
            ("_reason", pa.string()),
            ("_scheme", pa.string()),
            ("_year", pa.int32()),
            ("_last", pa.string()),
            ("_ytd", pa.string()),
            *[(c, pa.int64()) for c in COUNTS],
        ]
    )


def _settle_frame(plan: Plan, frame: pl.DataFrame) -> list[pl.DataFrame]:
    from medins.engine.eligibility import visit_place

    lang = plan.lang
    bills = frame.filter(pl.col("_kind") == KIND_BILL)
    b_src = bills.select("_file", "_row")
    bills = bills.select([pl.col(f"b{i}").fill_null("").alias(c) for i, c in enumerate(plan.bill_headers)])
    items = None
    i_src = None
    if plan.item_headers is not None:
        lines = frame.filter(pl.col("_kind") == KIND_ITEM)
        i_src = lines.select("_file", "_row")
        items = lines.select([pl.col(f"i{i}").fill_null("").alias(c) for i, c in enumerate(plan.item_headers)])
    ytd: dict[Any, tuple[int, str, str]] = {}
    if "y_person_id" in frame.columns:
        for r in frame.filter(pl.col("_kind") == KIND_YTD).iter_rows(named=True):
            key = (r["y_person_id"], r["y_insured_region"], r["y_scheme"], int(r["y_year"]))
            ytd[key] = (day_number(r["y_last_service_date"]), r["y_last_service_date"], r["y_ytd"])
    got: list[pl.DataFrame] = []
    orphans = frame.filter(pl.col("_kind") == KIND_ORPHAN)
    if orphans.height:
        got.append(_orphan_rejects(plan, orphans))
    counts = {"_items": (items.height if items is not None else 0) + orphans.height}
    if not bills.height:
        return [*got, _counts(counts)]
    irregular = _irregular(plan, bills, b_src)
    if irregular is not None:
        return [irregular]
    try:
        out, outcome, _ = settle_partition(
            bills,
            items,
            plan.rules,
            ytd,
            lang,
            plan.want_state,
            b_src["_row"].to_numpy(),
            i_src["_row"].to_numpy() if i_src is not None else None,
        )
    except ValueError:  # a person with two names, or a bill older than its --ytd-in entry
        return [_irregular_person(plan, bills, b_src, ytd)]
    # OUT rows, with what the clearing statement needs: the settlement month and whether it is local
    index = out["_row"].to_numpy()
    month = _months(bills, plan)[index]
    pairs = {
        (a, b): visit_place(a, b) == "local"
        for a, b in set(zip(out["insured_region"], out["visit_region"], strict=True))
    }
    local = [pairs[(a, b)] for a, b in zip(out["insured_region"], out["visit_region"], strict=True)]
    got.append(
        out.drop("_row").with_columns(
            pl.lit(OUT_ROW, dtype=pl.Int32).alias("_kind"),
            b_src["_file"].gather(index).alias("_file"),
            b_src["_row"].gather(index).alias("_row"),
            pl.Series("_month", month, dtype=pl.String),
            pl.Series("_local", local, dtype=pl.Boolean),
        )
    )
    if outcome.rejects:
        got.append(_rejects(outcome.rejects, bills, b_src, items, i_src, plan))
    if outcome.finals:
        got.append(
            pl.DataFrame(
                {
                    "_kind": [FINAL_ROW] * len(outcome.finals),
                    "person_id": [k[0] for k, _, _ in outcome.finals],
                    "insured_region": [k[1] for k, _, _ in outcome.finals],
                    "_scheme": [k[2] for k, _, _ in outcome.finals],
                    "_year": [int(k[3]) for k, _, _ in outcome.finals],
                    "_last": [d for _, d, _ in outcome.finals],
                    "_ytd": [y for _, _, y in outcome.finals],
                },
                schema_overrides={"_kind": pl.Int32, "_year": pl.Int32},
            )
        )
    counts.update(
        _bills=outcome.bills, _persons=outcome.persons, _settled=outcome.settled_persons, _reordered=outcome.reordered
    )
    return [*got, _counts(counts)]


def _counts(counts: dict[str, int]) -> pl.DataFrame:
    return pl.DataFrame(
        {"_kind": [COUNT_ROW], **{c: [counts.get(c, 0)] for c in COUNTS}},
        schema_overrides={"_kind": pl.Int32, **{c: pl.Int64 for c in COUNTS}},
    )


def _orphan_rejects(plan: Plan, orphans: pl.DataFrame) -> pl.DataFrame:
    """Item lines whose bill_id no bill has: rejected with the batch's reasons."""
    assert plan.item_headers is not None
    cols = map_columns(list(plan.item_headers), ITEM_COLUMNS, "ITEMS", [], "items")
    ids = orphans["_person"].to_list()  # the line's bill_id, stripped
    missing = t("缺少单据号", "bill_id missing")
    reasons = [
        (t(f"单据文件中没有单据号 {bid}", f"no bill with bill_id {bid} in BILLS") if bid else missing)(plan.lang)  # type: ignore[arg-type]
        for bid in ids
    ]
    return pl.DataFrame(
        {
            "_kind": [REJECT_ROW] * orphans.height,
            "_order": [1] * orphans.height,
            "_row": orphans["_row"],
            "_file": orphans["_file"],
            "bill_id": ids,
            "_column": [cols.shown("bill_id")] * orphans.height,
            "_reason": reasons,
        },
        schema_overrides={"_kind": pl.Int32, "_order": pl.Int32, "_row": pl.Int64},
    )


def _months(bills: pl.DataFrame, plan: Plan) -> np.ndarray:
    """Each bill's settlement month (discharge date, else date, else admission), as the clearing
    statement groups it; empty without a date."""
    cols = map_columns(list(plan.bill_headers), BILL_COLUMNS, "BILLS", [], "bills")
    zero = np.zeros(bills.height, dtype=np.int64)
    days = {}
    for c in ("discharged", "date", "admitted"):
        if c in cols.index:
            texts = bills[plan.bill_headers[cols.index[c]]].str.strip_chars(PY_SPACE)
            known = {v: day_number(v) if v else 0 for v in texts.unique().to_list()}
            days[c] = np.array([known[v] for v in texts.to_list()], dtype=np.int64)
    day = _first_day(days.get("discharged", zero), days.get("date", zero), days.get("admitted", zero))
    shown = {d: date.fromordinal(int(d)).strftime("%Y-%m") if d else "" for d in np.unique(day).tolist()}
    return np.array([shown[d] for d in day.tolist()], dtype=object)


def _rejects(
    rejects: list[Any], bills: pl.DataFrame, b_src: pl.DataFrame, items: Any, i_src: Any, plan: Plan
) -> pl.DataFrame:
    """A partition's rejects with their files: a bill's by its bill_id, an item line's by its bill_id
    and row (the rows are the files' own already)."""
    bid = bills[
        plan.bill_headers[map_columns(list(plan.bill_headers), BILL_COLUMNS, "BILLS", [], "bills").index["bill_id"]]
    ]
    bill_file = dict(zip(bid.str.strip_chars(PY_SPACE).to_list(), b_src["_file"].to_list(), strict=True))
    line_file: dict[tuple[str, int], str] = {}
    if items is not None and plan.item_headers is not None:
        icols = map_columns(list(plan.item_headers), ITEM_COLUMNS, "ITEMS", [], "items")
        ibid = items[plan.item_headers[icols.index["bill_id"]]].str.strip_chars(PY_SPACE).to_list()
        line_file = dict(zip(zip(ibid, i_src["_row"].to_list(), strict=True), i_src["_file"].to_list(), strict=True))
    files = [bill_file.get(r[3], "bills") if r[0] == 0 else line_file.get((r[3], r[1] - 2), "items") for r in rejects]
    return pl.DataFrame(
        {
            "_kind": [REJECT_ROW] * len(rejects),
            "_order": [r[0] for r in rejects],
            "_row": [r[1] - 2 for r in rejects],
            "_file": files,
            "bill_id": [r[3] for r in rejects],
            "_column": [r[4] for r in rejects],
            "_reason": [r[5] for r in rejects],
        },
        schema_overrides={"_kind": pl.Int32, "_order": pl.Int32, "_row": pl.Int64},
    )


def _irregular(plan: Plan, bills: pl.DataFrame, src: pl.DataFrame) -> pl.DataFrame | None:
    """The first cell the local engine's columns would send to its careful path (a missing or
    scientific-notation ID, a date that is not a date), as an IRREGULAR row; None when none."""
    cols = map_columns(list(plan.bill_headers), BILL_COLUMNS, "BILLS", [], "bills")
    lang = plan.lang
    checks = [("bill_id", "id"), ("person_id", "id")] + [(c, "date") for c in sorted(DATE_COLUMNS) if c in cols.index]
    for name, kind in checks:
        header = plan.bill_headers[cols.index[name]]
        cells = bills[header].str.strip_chars(PY_SPACE)
        if kind == "id":
            bad = (cells == "") | cells.str.contains(_SCIENTIFIC_PATTERN)
        else:
            known = {v: bool(v) and not day_number(v) for v in cells.unique().to_list()}
            bad = pl.Series([known[v] for v in cells.to_list()], dtype=pl.Boolean)
        if bad.any():
            at = int(np.nonzero(bad.to_numpy())[0][0])
            value = cells[at]
            if kind == "date":
                reason = date_problem(value)(lang)  # type: ignore[arg-type]
            elif value:
                reason = (id_problem(value) or t(f"无效的编号：{value!r}", f"not a valid ID: {value!r}"))(lang)  # type: ignore[arg-type]
            else:
                reason = t(f"缺少 {cols.shown(name)}", f"{cols.shown(name)} missing")(lang)  # type: ignore[arg-type]
            return _irregular_row(src, at, cols.shown(name), reason)
    return None


def _irregular_person(plan: Plan, bills: pl.DataFrame, src: pl.DataFrame, ytd: dict[Any, Any]) -> pl.DataFrame:
    """The first bill of a person written with two names, or dated before the person's --ytd-in entry."""
    cols = map_columns(list(plan.bill_headers), BILL_COLUMNS, "BILLS", [], "bills")
    lang = plan.lang
    pid = bills[plan.bill_headers[cols.index["person_id"]]].str.strip_chars(PY_SPACE)
    if "person_name" in cols.index:
        name = bills[plan.bill_headers[cols.index["person_name"]]].str.strip_chars(PY_SPACE)
        named = pl.DataFrame({"p": pid, "n": name, "i": np.arange(bills.height)}).filter(pl.col("n") != "")
        two = named.group_by("p").agg(pl.col("n").n_unique().alias("k"), pl.col("i").min()).filter(pl.col("k") > 1)
        if two.height:
            at = int(two["i"].min())  # type: ignore[arg-type]
            reason = t(f"人员编号 “{pid[at]}” 对应不同的姓名", f"person_id '{pid[at]}' carries different names")(lang)  # type: ignore[arg-type]
            return _irregular_row(src, at, cols.shown("person_name"), reason)
    reason = t(
        "有单据早于年度累计文件中此人的最后就医日期：属于已结算的月份",
        "a bill is dated before this person's last service date in --ytd-in: it belongs to a month already settled",
    )(lang)  # type: ignore[arg-type]
    return _irregular_row(src, 0, cols.shown("person_id"), reason)


def _irregular_row(src: pl.DataFrame, at: int, column: str, reason: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "_kind": [IRREGULAR_ROW],
            "_file": [src["_file"][at]],
            "_row": [int(src["_row"][at])],
            "_column": [column],
            "_reason": [reason],
        },
        schema_overrides={"_kind": pl.Int32, "_row": pl.Int64},
    )


# ----------------------------------------------------------------------------- aggregate


@dataclass
class Settled:
    """A settled run as DataFrames, and the summary and clearing statement aggregated from them."""

    result: Any
    """What the partitions gave (persisted): OUT rows, rejects, final states, counts."""
    plan: Plan
    bill_cols: Any
    item_cols: Any
    ytd_in: Any
    _agg: Any = field(default=None, repr=False)

    def check(self) -> None:
        """Stop with the first cell the partitions could not settle over columns, naming it."""
        from pyspark.sql import functions as F

        bad = self.result.filter(F.col("_kind") == IRREGULAR_ROW).orderBy("_file", "_row").limit(1).collect()
        if bad:
            r = bad[0]
            raise MedinsError(
                t(r["_reason"], r["_reason"]),
                f"{r['_file']} row {r['_row'] + 2}, column {r['_column']}",
                t(
                    "请改正这一格（medins batch --check 列出所有这样的行）；或用本地引擎（不加 --engine spark），"
                    "它会拒绝这样的行并结算其余单据",
                    "correct the cell (medins batch --check lists every such row), or use the local engine "
                    "(without --engine spark), which rejects such rows and settles the rest",
                ),
            )

    @property
    def out(self) -> Any:
        """OUT: the settled bills, with ``_file`` and ``_row`` (sort by them for the files' order)."""
        from pyspark.sql import functions as F

        return self.result.filter(F.col("_kind") == OUT_ROW).select("_file", "_row", *self.plan.out_columns)

    @property
    def rejects(self) -> Any:
        """REJECTS: ``row`` (as the batch counts it: the header is row 1), ``file``, ``bill_id``,
        ``column``, ``reason``, with ``_order`` (0 bills, 1 item lines) to sort by."""
        from pyspark.sql import functions as F

        got = self.result.filter(F.col("_kind") == REJECT_ROW).select(
            "_order", "_file", "_row", "bill_id", F.col("_column").alias("column"), F.col("_reason").alias("reason")
        )
        return got.select(
            "_order",
            (F.col("_row") + 2).alias("row"),
            F.col("_file").alias("file"),
            "bill_id",
            "column",
            "reason",
        )

    @property
    def ytd(self) -> Any:
        """Year-to-date state out (:data:`YTD_COLUMNS`): each key's state after its last settled
        bill, and the entries of ``ytd`` in that no bill of this run changed."""
        from pyspark.sql import functions as F

        finals = self.result.filter(F.col("_kind") == FINAL_ROW).select(
            "person_id",
            "insured_region",
            F.col("_scheme").alias("scheme"),
            F.col("_year").alias("year"),
            F.col("_last").alias("last_service_date"),
            F.col("_ytd").alias("ytd"),
        )
        if self.ytd_in is None:
            return finals
        key = ["person_id", "insured_region", "scheme", "year"]
        kept = self.ytd_in.select(*YTD_COLUMNS).join(finals.select(*key), key, "left_anti")
        return finals.unionByName(kept)

    def aggregates(self) -> Any:
        """The summary's groups and the clearing statement's sums (:class:`medins.batch.bill.Aggregates`),
        as Spark aggregations of OUT: exact decimal sums of the amounts as written."""
        if self._agg is not None:
            return self._agg
        from pyspark.sql import functions as F

        out = self.out
        money = "decimal(20,2)"
        dims = F.explode(
            F.array(
                F.struct(F.lit("all").alias("d"), F.lit("").alias("k")),
                *[
                    F.struct(F.lit(d).alias("d"), F.col(d).alias("k"))
                    for d in ("visit_type", "benefit_category", "insured_region")
                ],
            )
        ).alias("g")
        groups = (
            out.select(
                dims,
                (F.col("settlement") == "direct").cast("int").alias("direct"),
                *[F.col(a).cast(money).alias(a) for a in GROUP_AMOUNTS],
            )
            .groupBy("g.d", "g.k")
            .agg(
                F.count("*").alias("count"),
                F.sum("direct").alias("direct"),
                *[F.sum(a).alias(a) for a in GROUP_AMOUNTS],
            )
            .collect()
        )
        agg = Aggregates()
        for r in groups:
            agg.groups[(r["d"], r["k"])] = [r["count"], r["direct"], *[r[a] for a in GROUP_AMOUNTS]]
        deferred = F.split(F.col("deferred"), ";")

        def paid(amount: Any, part: str) -> Any:
            return F.when(F.array_contains(deferred, part), F.lit(0).cast(money)).otherwise(amount)

        basic = paid(F.col("basic_fund").cast(money), "basic")
        tier2 = paid(F.col("critical_illness_fund").cast(money) + F.col("large_amount_fund").cast(money), "tier2")
        assist = paid(F.col("medical_assistance_fund").cast(money), "medical_assistance")
        clearing = (
            self.result.filter((F.col("_kind") == OUT_ROW) & (F.col("settlement") == "direct") & ~F.col("_local"))
            .select(
                "insured_region",
                "visit_region",
                "_month",
                F.col("total").cast(money).alias("total"),
                basic.alias("basic"),
                tier2.alias("tier2"),
                assist.alias("assist"),
            )
            .groupBy("insured_region", "visit_region", "_month")
            .agg(
                F.count("*").alias("count"),
                *[F.sum(c).alias(c) for c in ("total", "basic", "tier2", "assist")],
            )
            .collect()
        )
        for r in clearing:
            agg.clearing[(r["insured_region"], r["visit_region"], r["_month"])] = [
                r["count"],
                r["total"],
                r["basic"],
                r["tier2"],
                r["assist"],
                r["basic"] + r["tier2"] + r["assist"],
            ]
        self._agg = agg
        return agg

    def report(
        self, bills_name: str, items_name: str | None, encodings: tuple[str, str] = ("utf-8", "utf-8")
    ) -> BatchReport:
        """The batch's report: the counts (summed from the partitions' own, and Spark counts of OUT and
        REJECTS) and the summary, naming the inputs and what they were read as (``encodings`` of
        bills and items: ``utf-8``, or ``parquet``)."""
        from pyspark.sql import functions as F

        self.check()
        kinds = self.result.groupBy("_kind", "_order").agg(
            F.count("*").alias("n"), *[F.sum(c).alias(c) for c in COUNTS]
        )
        rows = {(r["_kind"], r["_order"]): r for r in kinds.collect()}
        n = {c: int((rows.get((COUNT_ROW, None)) or {c: 0})[c] or 0) for c in COUNTS}
        rejected = [int(rows[(REJECT_ROW, k)]["n"]) if (REJECT_ROW, k) in rows else 0 for k in (0, 1)]
        accepted = int(rows[(OUT_ROW, None)]["n"]) if (OUT_ROW, None) in rows else 0
        if n["_bills"] - rejected[0] != accepted:
            raise SettlementBug("input rows do not equal accepted + rejected rows")
        persons, settled, reordered = n["_persons"], n["_settled"], n["_reordered"]
        report = BatchReport(n["_bills"], rejected[0], n["_items"], rejected[1])
        opts = BatchOptions(Path(bills_name), Path("out"), Path(items_name) if items_name else None)
        tables = _Encoding(encodings[0]), _Encoding(encodings[1])
        report.summary = _summary(
            opts,
            report,
            self.aggregates(),
            persons,
            int(reordered),
            settled,
            self.bill_cols,
            self.item_cols,
            tables[0],  # type: ignore[arg-type]
            tables[1] if self.item_cols is not None else None,  # type: ignore[arg-type]
        )
        return report

    def ytd_entries(self) -> list[tuple[Any, str, str]]:
        """YTD out, collected: ``((person, insured region, scheme, year), last service date, JSON)``."""
        return [
            ((r["person_id"], r["insured_region"], r["scheme"], int(r["year"])), r["last_service_date"], r["ytd"])
            for r in self.ytd.collect()
        ]


@dataclass(frozen=True)
class _Encoding:
    """What the summary says of an input read by Spark: its encoding."""

    encoding: str


# ----------------------------------------------------------------------------- write


def _writer(df: Any, path: str) -> Any:
    """A DataFrame written to ``path``: Parquet when it ends with .parquet, else CSV with a header."""
    w = df.write.mode("overwrite")
    if path.lower().endswith(".parquet"):
        return w.format("parquet")
    return w.format("csv").options(
        header="true", escape='"', emptyValue="", ignoreLeadingWhiteSpace="false", ignoreTrailingWhiteSpace="false"
    )


def _refuse_overwriting(path: Path) -> None:
    """Spark writes a folder at OUT: refuse to replace a file, or a folder Spark did not write."""
    if path.is_file() or (path.is_dir() and any(path.iterdir()) and not (path / "_SUCCESS").exists()):
        raise MedinsError(
            t(
                "已存在且不是 Spark 写出的文件夹：--engine spark 在此写出一个文件夹",
                "exists and is not a folder Spark wrote: --engine spark writes a folder here",
            ),
            str(path),
            t("请换一个名字，或先删除它", "name another, or remove it first"),
        )


def run(
    bills: str,
    items: str | None,
    out: str,
    *,
    rejects: str | None = None,
    summary: Path | None = None,
    clearing: Path | None = None,
    ytd_in: Path | None = None,
    ytd_out: Path | None = None,
    rules_dir: Path | None = None,
    lang: str = "zh",
    master: str | None = None,
) -> BatchReport:
    """``medins batch --engine spark``: read, settle and write as :func:`medins.batch.run_batch`
    does. OUT and REJECTS are folders Spark writes (CSV, or Parquet when the name ends with
    .parquet), in the files' order; SUMMARY, CLEARING and YTD are single files written here, as the
    batch writes them."""
    from medins.loader import resolve_rules_dir
    from medins.tabular import Outputs

    rules = resolve_rules_dir(rules_dir).resolve()
    entries = _load_ytd(ytd_in) if ytd_in else None
    rejects = rejects or _rejects_path(out)
    for p in (out, rejects):
        if "://" not in p:
            _refuse_overwriting(Path(p))
    spark = session(master)
    bills_df = read_table(spark, bills, "bills")
    items_df = read_table(spark, items, "items") if items else None
    ytd = ytd_frame(spark, entries) if entries else None
    done = settle(bills_df, items_df, ytd=ytd, rules=rules, lang=lang)
    try:
        # the summary names the inputs as the batch does; a Parquet input has no text encoding
        read_as = tuple(_format(p).replace("csv", "utf-8") if p else "" for p in (bills, items))
        report = done.report(Path(bills).name, Path(items).name if items else None, read_as)  # type: ignore[arg-type]
        _writer(done.out.orderBy("_file", "_row").drop("_file", "_row"), out).save(out)
        _writer(done.rejects.orderBy("_order", "file", "row").drop("_order"), rejects).save(rejects)
        with Outputs() as outputs:
            if clearing:
                _write_clearing(outputs, clearing, done.aggregates())
            if summary:
                temp = outputs.temp_for(summary)
                temp.write_text(json.dumps(report.summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            if ytd_out:
                _write_ytd(outputs.temp_for(ytd_out), {}, done.ytd_entries())
            outputs.commit()
    finally:
        done.result.unpersist()
    return report


def _rejects_path(out: str) -> str:
    """OUT with ``.rejects`` before its extension, as the batch names REJECTS."""
    return (
        str(BatchOptions(Path("bills"), Path(out)).rejects_path)
        if "://" not in out
        else re.sub(r"(\.[^./]+)?/*$", lambda m: ".rejects" + (m.group(1) or ""), out, count=1)
    )
