"""A run from end to end: the paths checked, the inputs opened, the ``--jobs`` workers started, every
bill settled (:mod:`medins.batch.engines`), then OUT, REJECTS, SUMMARY, CLEARING and YTD moved into
place; and ``--check``, which settles nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from medins import procs
from medins.api import load_rules
from medins.batch.clearing import _write_clearing
from medins.batch.compare import REFORM_AMOUNTS, REFORM_COLUMNS, _settle_with_reform
from medins.batch.engines import _settle_all
from medins.batch.options import BatchOptions, BatchReport, partitions
from medins.batch.records import _stop_workers
from medins.batch.schema import OUT_AMOUNTS, OUT_HEAD, OUT_TAIL, REJECT_COLUMNS, Reject
from medins.batch.summary import _summary
from medins.batch.tables import _check_paths, _inputs
from medins.batch.ytd import _load_ytd, _write_ytd
from medins.errors import SettlementBug
from medins.launch import imports_done
from medins.loader import resolve_rules_dir
from medins.tabular import Outputs, TableWriter


def start_pool_workers(jobs: int, spool: Path) -> Any:
    """The ``--jobs`` processes of a columns run whose spool is ``spool`` (:func:`procs.start_workers`:
    the columns engine is imported by them, not needed here). They take ranges and partitions from
    the counter file ``next`` of the spool, once the run's ``_Pool`` has made it and told them."""
    return procs.start_workers(jobs, "medins.batch.pool:_pool_worker", str(spool / "next"))


@contextmanager
def _workers(opts: BatchOptions, spool: Path) -> Iterator[Any]:
    """``--jobs N``: the workers, started before the inputs are opened and before this process
    imports the columns engine (their start-up overlaps this process's), when the inputs' size says
    the run is settled in partitions; stopped on leaving if the run ended before the columns took
    them over."""
    pool = None
    if opts.jobs > 1 and opts.engine != "records":
        try:
            size = sum(p.stat().st_size for p in (opts.bills, opts.items) if p is not None)
        except OSError:  # not a file whose size is known: the columns start them if need be
            size = 0
        if partitions(size, opts.memory, opts.jobs) > 1:
            started = start_pool_workers(opts.jobs, spool)
            try:
                from medins.batch.pool import _Pool

                pool = _Pool(opts.jobs, spool, started)
            except BaseException:
                with procs.critical():
                    _stop_workers(list(started.workers.values()), [])
                raise
    try:
        yield pool
    finally:
        if pool is not None:
            pool.close(False)


@procs.interruptible
def run_batch(opts: BatchOptions, progress: Callable[[int], Any] | None = None) -> BatchReport:
    """Settle every bill of BILLS (with ITEMS) and write OUT, REJECTS and the asked-for reports.

    A file that cannot be used raises a ``MedinsError`` (exit 1) and leaves no output behind; a bad
    row is rejected and the run goes on. SIGINT and SIGTERM stop the run the same way (``Interrupted``,
    exit 130 or 143); while it writes, the run holds a lock on its outputs (``procs.output_lock``).
    """
    _check_paths(opts)
    rules_root = resolve_rules_dir(opts.rules_dir).resolve()
    rules = load_rules(rules_root)
    ytd_in = _load_ytd(opts.ytd_in) if opts.ytd_in else {}
    rejects: list[Reject] = []
    targets = [p for p in (opts.out, opts.rejects_path, opts.summary, opts.clearing, opts.ytd_out) if p]
    with (
        procs.output_lock(targets),
        procs.spool_folder("medins-batch-") as spool,
        Outputs() as outputs,
        _workers(opts, Path(spool)) as pool,
    ):
        spool_dir = Path(spool)
        tables, cfg = _inputs(opts, rules_root, spool_dir)
        imports_done()  # polars and numpy are imported by now
        bills_table, bill_cols, items_table, item_cols = tables
        out_columns = list(OUT_HEAD)
        if "person_name" in bill_cols.index:
            out_columns.insert(2, "person_name")
        out_columns += [*OUT_AMOUNTS, "fund_ratio", *OUT_TAIL]
        kinds = ["text"] * len(out_columns)
        for i, c in enumerate(out_columns):
            kinds[i] = "money" if c in OUT_AMOUNTS else "ratio" if c == "fund_ratio" else kinds[i]
        kinds[out_columns.index("eligible")] = "bool"
        kinds[out_columns.index("service_date")] = "date"
        columns, column_kinds = out_columns, kinds
        if opts.reform is not None:
            columns = [*out_columns, *REFORM_COLUMNS]
            column_kinds = [*kinds, *(["money"] * 2 * len(REFORM_AMOUNTS)), "text", "text"]
        writer = TableWriter(outputs.temp_for(opts.out), opts.out, columns, column_kinds, "settled")
        comparison = None
        if opts.reform is None:
            (done,) = _settle_all(opts, cfg, rules, tables, ytd_in, writer, spool_dir, progress, rejects, None, pool)
        else:
            done, comparison = _settle_with_reform(
                opts, cfg, rules, tables, ytd_in, writer, out_columns, kinds, spool_dir, progress, rejects, pool
            )
        n, items_input, persons_input, reordered = done.bills, done.items_input, done.persons, done.reordered
        agg, finals, accepted, items_ok, settled_persons = (
            done.agg,
            done.finals,
            done.accepted,
            done.items_ok,
            done.settled_persons,
        )
        writer.close()

        rejects.sort(key=lambda r: (r[0], r[1]))
        bills_rejected = sum(1 for r in rejects if r[0] == 0)
        items_rejected = len(rejects) - bills_rejected
        if n - bills_rejected != accepted or items_input - items_rejected != items_ok:
            raise SettlementBug("input rows do not equal accepted + rejected rows")
        rw = TableWriter(
            outputs.temp_for(opts.rejects_path),
            opts.rejects_path,
            list(REJECT_COLUMNS),
            ["int", "text", "text", "text", "text"],
            "rejects",
        )
        for r in rejects:
            rw.write([str(r[1]), r[2], r[3], r[4], r[5]])
        rw.close()
        report = BatchReport(n, bills_rejected, items_input, items_rejected)
        report.summary = _summary(
            opts, report, agg, persons_input, reordered, settled_persons, bill_cols, item_cols, bills_table, items_table
        )
        if comparison is not None:
            report.summary["reform"] = comparison
        if opts.clearing:
            _write_clearing(outputs, opts.clearing, agg)
        if opts.summary:
            temp = outputs.temp_for(opts.summary)
            temp.write_text(json.dumps(report.summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        if opts.ytd_out:
            _write_ytd(outputs.temp_for(opts.ytd_out), ytd_in, finals, done.final_files)
        outputs.commit()
    return report


class _Nowhere:
    """Where ``--check`` writes the rows of the bills it accepts: nowhere."""

    def write(self, values: list[Any]) -> None:
        pass


@dataclass
class CheckReport:
    """What ``medins batch --check`` found: the rows the run would reject before settling any bill."""

    bills_input: int
    items_input: int
    rejects: list[Reject]

    @property
    def rejected(self) -> int:
        return len(self.rejects)


def check_tables(opts: BatchOptions) -> CheckReport:
    """Check BILLS (and ITEMS) without settling: the headers (required columns, aliases), then every
    row as the run reads it (cell count, IDs, dates, duplicate bills, item lines without a bill,
    year-to-date entries) and every bill's case by the case model (values, amounts, dates in order).
    A header the run cannot use raises; a bad row becomes a reject, with the run's words."""
    rules_root = resolve_rules_dir(opts.rules_dir).resolve()
    ytd_in = _load_ytd(opts.ytd_in) if opts.ytd_in else {}
    rejects: list[Reject] = []
    with procs.spool_folder("medins-check-") as spool:
        spool_dir = Path(spool)
        tables, cfg = _inputs(opts, rules_root, spool_dir, check_only=True)
        checking = replace(opts, engine="records", jobs=1, ytd_out=None, reform=None)
        (done,) = _settle_all(checking, cfg, None, tables, ytd_in, _Nowhere(), spool_dir, None, rejects)  # type: ignore[arg-type]
    rejects.sort(key=lambda r: (r[0], r[1]))
    return CheckReport(done.bills, done.items_input, rejects)
