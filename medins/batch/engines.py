"""Which way a run's bills are settled: over columns (:mod:`medins.batch.settle`) when both files
are plainly regular, else record by record (:mod:`medins.batch.records`), with the same words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from medins.batch.bill import Settler, WorkerConfig
from medins.batch.options import BatchOptions, Outcome, ReformRun
from medins.batch.records import _settle_bill_by_bill
from medins.batch.schema import ColumnMap, Reject, YtdKey
from medins.tabular import CsvTable, TableWriter


def _settle_all(
    opts: BatchOptions,
    cfg: WorkerConfig,
    rules: Any,
    tables: tuple[CsvTable, ColumnMap, CsvTable | None, ColumnMap | None],
    ytd_in: dict[YtdKey, tuple[int, str, str]],
    writer: TableWriter,
    spool_dir: Path,
    progress: Callable[[int], Any] | None,
    rejects: list[Reject],
    reform: ReformRun | None = None,
    pool: Any = None,
) -> list[Outcome]:
    """Settle every bill: over columns, or bill by bill where the input is not plainly regular; with
    ``reform``, under the reformed rules too (over columns in the same pass over the input).
    ``pool``: the ``--jobs`` workers :func:`_workers` started, if any (the columns take them over).

    OUT rows go to ``writer`` (not closed here), rejected rows to ``rejects``; the reform's to its
    own. One :class:`Outcome` per set of rules."""
    bills_table, bill_cols, items_table, item_cols = tables
    if opts.engine != "records":
        from medins.batch.settle import settle_columns

        settlers = [Settler(cfg)] + ([Settler(reform.cfg)] if reform else [])
        for settler in settlers:  # the rules the settlers use (with a reform, the reformed rules)
            if items_table is not None:
                for edition in {p.catalogue.drug_list for p in settler.rules.packs.values() if p.catalogue}:
                    settler.rules.drugs(edition)
        try:
            fast = settle_columns(
                bills_table,
                bill_cols,
                items_table,
                item_cols,
                ytd_in,
                settlers[0],
                settlers[0].rules,
                writer,
                opts.ytd_out is not None,
                spool_dir,
                opts.memory,
                opts.jobs,
                progress,
                (settlers[1], settlers[1].rules, reform.writer) if reform else None,
                pool,
            )
        finally:
            for settler in settlers:
                settler.close()
        if fast is not None:
            for outcome, mine in zip(fast, [rejects] + ([reform.rejects] if reform else []), strict=True):
                mine.extend(column_rejects(outcome))
            return fast
    done = [_settle_bill_by_bill(opts, cfg, rules, tables, ytd_in, writer, progress, rejects, spool_dir)]
    if reform:
        mine = replace(opts, ytd_out=None)
        done.append(
            _settle_bill_by_bill(mine, reform.cfg, None, tables, ytd_in, reform.writer, None, reform.rejects, spool_dir)
        )
    return done


def column_rejects(outcome: Any) -> list[Reject]:
    return list(outcome.rejects)
