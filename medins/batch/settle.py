"""Settle over columns: read both files by chunks, partition persons, settle each partition by waves.

:func:`settle_columns` takes the tables :func:`medins.batch.run_batch` opened and either settles
the whole run or returns None *before writing anything*, leaving the run to the record-by-record
path. It returns None when a file is not plainly regular, that is when the careful reader could
find something to say about a row: a record with another cell count than the header, a quote that
runs over rows or that polars reads otherwise than the csv module, a blank record, a carriage return
inside a line, a cell longer than ``MAX_CELL``, text that does not decode, an XLSX; or when a check
of the scan would reject a row (a missing or scientific-notation ID, a date cell that is not a date,
a duplicate bill id, an item line without its bill, a person with two names, a bill older than
``--ytd-in``). Such files keep every message the careful path gives. A GB18030 file is transcoded
to UTF-8 chunk by chunk as it is read.

Every bill of a regular file settles here. The arrays (:mod:`medins.engine.population`) settle the
bills they can; the others — a value the case model would refuse, a rule form the arrays leave
aside, year-to-date amounts past the ceilings — settle one at a time through the same ``Settler``
as the careful path, in their key's order, with the year-to-date amounts the arrays carried to them.

The steps, each in its module: :func:`~medins.batch.read.record_chunks` and
:func:`~medins.batch.read.read_chunk` (read), :func:`~medins.batch.partition._partition_bills` and
:func:`~medins.batch.partition._partition_items` (partition into :class:`~medins.batch.partition.Spill`,
each item line split by :class:`~medins.batch.lines.LinePass` on the way),
:func:`~medins.batch.waves._prepare` (the checks that need a person's bills together),
:class:`~medins.batch.waves._Run` (eligibility, cells, waves, OUT rows, sums) and
:func:`~medins.batch.write._write_in_order` (OUT in input order); with ``--jobs``,
:mod:`medins.batch.pool` shares the ranges and partitions out. :func:`~medins.batch.waves.settle_table`
is one partition as a table.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from medins.batch.lines import LinePass, Variant, _Fan
from medins.batch.options import Outcome, partitions
from medins.batch.partition import Parts, Spill, _partition_bills, _partition_items, _split_ytd
from medins.batch.pool import _bills_in_pool, _items_in_pool, _Pool, _settle_in_pool
from medins.batch.read import NotRegular
from medins.batch.waves import _file_lines, _prepare, _Run, _settle_part
from medins.batch.write import _total, _write_in_order
from medins.loader import RuleSet
from medins.tabular import CsvTable


def settle_columns(
    bills_table: CsvTable,
    bill_cols: Any,
    items_table: CsvTable | None,
    item_cols: Any,
    ytd_in: dict[Any, tuple[int, str, str]],
    settler: Any,
    rules: RuleSet,
    writer: Any,
    want_state: bool,
    spool: Path,
    memory: int,
    jobs: int = 1,
    progress: Callable[[int], Any] | None = None,
    reformed: tuple[Any, RuleSet, Any] | None = None,
    pool: _Pool | None = None,
) -> list[Outcome] | None:
    """Settle the run over columns: one outcome per set of rules (the rules, then the reform's when
    ``reformed`` gives its settler, rules and OUT writer); None (nothing written) when the careful
    path must take it. The input is read once for both: the line pass is shared unless the reform
    changes a catalogue.

    ``progress(n)`` gives a progress bar (a context manager with ``update(k)``) for ``n`` bills; it
    moves as partitions are settled. ``pool``: the ``--jobs`` workers if ``batch._workers`` has
    started them (closed here, however the run ends); else they are started here when needed."""
    size = bills_table.path.stat().st_size + (items_table.path.stat().st_size if items_table else 0)
    parts = partitions(size, memory, jobs)
    spill = Spill(spool, parts)
    variants = [Variant(settler, rules, writer, want_state)]
    if reformed is not None:
        variants.append(Variant(*reformed))
    for v in variants:  # a reform that keeps every catalogue splits the lines as the rules do
        same = (
            v is not variants[0]
            and rules.packs.keys() == v.rules.packs.keys()
            and all(rules.packs[c].catalogue is v.rules.packs[c].catalogue for c in rules.packs)
        )
        v.lines = variants[0].lines if same else LinePass(v.rules, v.shared)
    owners: list[int] = []  # the first set of rules of each line pass
    for k, v in enumerate(variants):
        if all(variants[o].lines is not v.lines for o in owners):
            owners.append(k)
    passes = [variants[k].lines for k in owners]
    fan = _Fan(passes)
    ended = False
    try:
        if parts > 1 and jobs > 1:
            pool = pool or _Pool(jobs, spool)
            pool.configure(variants)
        elif pool is not None:  # started for a larger input than this one turned out to be
            pool.close(True)
            pool = None
        try:
            if pool is not None and bills_table.encoding == "utf-8":
                index = _bills_in_pool(pool, jobs, bills_table, bill_cols, spill, fan, owners, variants)
            else:
                index = _partition_bills(bills_table, bill_cols, spill, fan)  # type: ignore[arg-type]
            spill.close()  # the bills wait in files, not in memory, while ITEMS is read
            fan.start_items()
            if items_table is not None:
                if pool is not None and items_table.encoding == "utf-8":
                    _items_in_pool(pool, jobs, items_table, item_cols, index, spill, fan, owners, variants)
                else:
                    _partition_items(items_table, item_cols, index, spill, fan)  # type: ignore[arg-type]
        except NotRegular:
            return None
        part_of = index.partition_of(len(passes[0].ctx)) if parts > 1 else None
        del index
        outcome = _settle_columns(
            spill, parts, part_of, bill_cols, items_table, item_cols, ytd_in, variants, passes, spool, pool, progress
        )
        ended = outcome is not None
        return outcome
    finally:
        if pool is not None:
            pool.close(ended)


def _settle_columns(  # type: ignore[no-untyped-def]
    spill, parts, part_of, bill_cols, items_table, item_cols, ytd_in, variants, passes, spool, pool, progress
) -> list[Outcome] | None:
    """The second half of :func:`settle_columns`: every partition settled, OUT written in input order.

    With partitions (``part_of``: each bill's), the line passes' sums are cut into a file per
    partition and let go: what the run holds while it settles does not grow with BILLS."""
    bills_total = len(passes[0].ctx)
    if parts == 1:
        views = {id(lp): lp.view() for lp in passes}
    else:
        views = {id(lp): lp.view().split(spool, part_of, parts, f"{k}") for k, lp in enumerate(passes)}
        for lp in passes:
            lp.drop_sums()
    for v in variants:
        v.view = views[id(v.lines)]
    # the checks that need a person's bills together (one name per person, nothing older than
    # --ytd-in) are made as each partition is settled: a partition that fails them sends the whole run
    # to the careful path, before anything is written (partitions write to the spool until all are done)
    frames: list[Any] = [None]
    if parts == 1:
        bills = spill.get("bills", 0)
        if bills is not None:
            prepared = _prepare(bills, bill_cols, ytd_in)
            if prepared is None:
                return None
            frames = [(bills, prepared)]
    try:
        outputs = _settle_parts(
            spill,
            parts,
            frames,
            bill_cols,
            items_table,
            item_cols,
            ytd_in,
            variants,
            spool,
            pool,
            progress,
            bills_total,
        )
    except NotRegular:
        return None
    if pool is not None:
        pool.stop()  # the workers end while OUT is merged: less memory held, no wait for them
    for v, (outs, _) in zip(variants, outputs, strict=True):
        _write_in_order(v.writer, outs)
    return [_total(outcomes, v.settler.agg) for v, (_, outcomes) in zip(variants, outputs, strict=True)]


def _settle_parts(  # type: ignore[no-untyped-def]
    spill, parts, frames, bill_cols, items_table, item_cols, ytd_in, variants, spool, pool, progress, bills_total
):
    """Settle every partition under every set of rules, here or in ``--jobs`` workers: per set, the
    OUT rows (in spool files) and outcomes, in partition order; raises :class:`NotRegular` when a
    partition fails the checks that need a person's bills together."""
    bar_context = progress(bills_total) if progress else nullcontext()
    got: list[tuple[list[Any], list[Outcome]]] = [([], []) for _ in variants]

    def keep(results: list[tuple[Any, Outcome]]) -> None:
        for k, (out, outcome) in enumerate(results):
            got[k][0].append(out)
            got[k][1].append(outcome)

    with bar_context as bar:
        advance = bar.update if hasattr(bar, "update") else (lambda k: None)
        delimiter = items_table.delimiter if items_table else None
        ytd_files = _split_ytd(ytd_in, parts, spool) if parts > 1 else None
        job = Parts(
            spill,
            parts,
            bill_cols,
            item_cols,
            {} if ytd_files else ytd_in,
            spool,
            delimiter,
            [v.view for v in variants],
            ytd_files,
        )
        if pool is not None:
            for results in _settle_in_pool(pool, job, variants, advance):
                keep(results)
        for p in range(parts if pool is None else 0):
            if parts == 1:
                if frames[0] is None:
                    continue
                bills, prepared = frames[0]
                results = []
                for v in variants:
                    read = _file_lines(spill, 0, delimiter)
                    run = _Run(bills, prepared.S, bill_cols, read, item_cols, v.settler, v.rules, v.shared, v.view)
                    results.append(run.settle(prepared, ytd_in, v.want_state))
                    del run
                keep(results)
                advance(results[0][1].bills)
                continue
            result = _settle_part(job, p, variants)
            if result is not None:
                keep(result)
                advance(result[0][1].bills)
    return got
