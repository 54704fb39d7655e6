"""``--reform``: every bill also settled under a reform of the rules; OUT gains the reformed amounts
beside the base ones, SUMMARY the two sums and their difference.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from medins.batch.bill import Aggregates, WorkerConfig
from medins.batch.engines import _settle_all
from medins.batch.options import BatchOptions, Outcome, ReformRun
from medins.batch.schema import ColumnMap, Reject, YtdKey
from medins.batch.summary import group_stats
from medins.errors import SettlementBug
from medins.money import show
from medins.tabular import CsvTable, TableWriter

REFORM_AMOUNTS = (
    "basic_fund",
    "critical_illness_fund",
    "large_amount_fund",
    "medical_assistance_fund",
    "fund_total",
    "personal_total",
)
"""The amounts OUT shows again under a reform (``reform_…``), with their change (``change_…``)."""


REFORM_MONEY = re.compile(r"-?\d+\.\d\d")
"""Money as OUT writes it, the only form the reform's changes are computed from."""


REFORM_COLUMNS = (
    *(f"reform_{c}" for c in REFORM_AMOUNTS),
    *(f"change_{c}" for c in REFORM_AMOUNTS),
    "reform_settlement",
    "reform_rejected",
)


def _settle_with_reform(
    opts: BatchOptions,
    cfg: WorkerConfig,
    rules: Any,
    tables: tuple[CsvTable, ColumnMap, CsvTable | None, ColumnMap | None],
    ytd_in: dict[YtdKey, tuple[int, str, str]],
    writer: TableWriter,
    out_columns: list[str],
    kinds: list[str],
    spool_dir: Path,
    progress: Callable[[int], Any] | None,
    rejects: list[Reject],
    pool: Any = None,
) -> tuple[Outcome, dict[str, Any]]:
    """Settle every bill under the rules and under the reformed rules (in one pass over the input
    where the columns take the run), and write OUT with the reformed amounts and their changes beside
    each bill. The run's reports (rejects, summary, clearing, year-to-date) are the rules' own; the
    summary gains the comparison."""
    from medins.reform import load_reform

    assert opts.reform is not None
    reform = load_reform(opts.reform, rules)
    base_out, reform_out = spool_dir / "rules-out.csv", spool_dir / "reform-out.csv"
    own = TableWriter(base_out, base_out, out_columns, kinds, "settled")
    theirs = ReformRun(
        replace(cfg, reform=opts.reform, want_state=False),
        TableWriter(reform_out, reform_out, out_columns, kinds, "settled"),
    )
    base, changed = _settle_all(opts, cfg, rules, tables, ytd_in, own, spool_dir, progress, rejects, theirs, pool)
    own.close()
    theirs.writer.close()
    _write_with_reform(writer, base_out, reform_out, theirs.rejects)
    comparison = {
        "name": reform.name,
        "note": reform.note,
        "file": opts.reform.name,
        "changed": {code: list(kinds_) for code, kinds_ in reform.changed.items()},
        **_compare(base.agg, changed.agg),
    }
    return base, comparison


def _fen_of(column: Any) -> Any:
    """OUT's money text (``-12.30``) as integer fen, in polars; empty stays null."""
    import polars as pl

    text = pl.col(column)
    return pl.when(text == "").then(None).otherwise(text.str.replace(".", "", literal=True).cast(pl.Int64))


def _money_text(fen: Any) -> Any:
    """Integer fen as OUT writes money (two decimals, ``-`` before a negative), in polars."""
    import polars as pl

    size = fen.abs()
    sign = pl.when(fen < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str([sign, (size // 100).cast(pl.String), pl.lit("."), (size % 100).cast(pl.String).str.zfill(2)])


def _write_with_reform(writer: TableWriter, base_out: Path, reform_out: Path, reform_rejects: list[Reject]) -> None:
    """OUT: each settled bill's row, then its amounts under the reform and the change in each; a bill
    the reform run rejected has the reason instead (``reform_rejected``).

    The rules' OUT is streamed in batches beside the reform's amounts by bill id (the only part held
    whole: an id and seven short cells a bill)."""
    import polars as pl

    money = f"^{REFORM_MONEY.pattern}$"
    base = pl.scan_csv(base_out, infer_schema=False)
    columns = base.collect_schema().names()
    theirs = pl.scan_csv(reform_out, infer_schema=False).select(
        "bill_id",
        *(pl.col(c).fill_null("").alias(f"reform_{c}") for c in REFORM_AMOUNTS),
        pl.col("settlement").alias("reform_settlement"),
    )
    reasons = pl.LazyFrame(
        {
            "bill_id": [r[3] for r in reform_rejects if r[0] == 0],
            "reform_rejected": [r[5] for r in reform_rejects if r[0] == 0],
        },
        schema={"bill_id": pl.String, "reform_rejected": pl.String},
    ).unique("bill_id", keep="first", maintain_order=True)
    both = (
        base.with_columns(pl.col(c).fill_null("") for c in REFORM_AMOUNTS)
        .join(theirs, on="bill_id", how="left", maintain_order="left")
        .join(reasons, on="bill_id", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col(f"reform_{c}").is_null() | (pl.col(f"reform_{c}") == "") | (pl.col(c) == ""))
            .then(pl.lit(""))
            .otherwise(_money_text(_fen_of(f"reform_{c}") - _fen_of(c)))
            .alias(f"change_{c}")
            for c in REFORM_AMOUNTS
        )
        .select([*columns, *REFORM_COLUMNS])
    )
    for batch in both.collect_batches(chunk_size=50_000):
        batch = batch.fill_null("")
        for c in (*REFORM_AMOUNTS, *(f"reform_{c}" for c in REFORM_AMOUNTS)):
            bad = batch.filter((pl.col(c) != "") & ~pl.col(c).str.contains(money))
            if bad.height:
                raise SettlementBug(f"OUT holds {c} = {bad[c][0]!r}, not money")
        writer.write_frame(batch)


def _compare(base: Aggregates, reform: Aggregates) -> dict[str, Any]:
    """The summary's comparison: overall and by insured place, benefit category and visit type, each
    tier's payment, the patient's and the fund ratio under the rules and the reform, and the change."""

    def one(key: tuple[str, str]) -> dict[str, Any]:
        a, b = group_stats(base.groups.get(key)), group_stats(reform.groups.get(key))
        keep = ("count", "total", *REFORM_AMOUNTS, "fund_ratio")
        change = {c: show(Decimal(b[c]) - Decimal(a[c])) for c in ("total", *REFORM_AMOUNTS)}
        return {"rules": {c: a[c] for c in keep}, "reform": {c: b[c] for c in keep}, "change": change}

    out: dict[str, Any] = {"overall": one(("all", ""))}
    for dim, name in (
        ("insured_region", "by_insured_region"),
        ("benefit_category", "by_benefit_category"),
        ("visit_type", "by_visit_type"),
    ):
        keys = sorted({k for d, k in base.groups if d == dim} | {k for d, k in reform.groups if d == dim})
        out[name] = {k: one((dim, k)) for k in keys}
    return out
