"""After the careful reading (:mod:`medins.batch.check`): its accepted bills settled over columns
(:mod:`medins.batch.scanned`), or bill by bill — where the arrays refuse a partition, and with
``engine="records"``, the oracle the tests hold the columns to: each person's bills in service-date
order, each re-read by its byte range, in this process or in ``--jobs`` workers that each own a
share of the year-to-date keys.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import traceback
from array import array
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from medins import procs
from medins.batch.bill import Aggregates, Settler, WorkerConfig
from medins.batch.check import _Runs, _Scan, _scan_bills, _scan_items
from medins.batch.options import WORKER_POLL, BatchOptions, Outcome
from medins.batch.schema import ColumnMap, Reject, Task, YtdKey
from medins.errors import MedinsError, SettlementBug
from medins.tabular import CsvTable, TableError, TableWriter

BATCH_SIZE = 128


def _chains(scan: _Scan) -> tuple[array, array, array, int]:
    """Each year-to-date key's bills to settle, in service-date order (ties: file order), as one array."""
    todo = [b for b in range(len(scan.ids)) if not scan.rejected[b]]
    chain, day = scan.chain, scan.day
    todo.sort(key=lambda b: (chain[b], day[b], b))
    order = array("i", todo)
    keys = len(scan.keys)
    start = array("i", [0]) * keys
    end = array("i", [0]) * keys
    reordered = 0
    k = 0
    while k < len(order):
        c = chain[order[k]]
        j = k
        while j + 1 < len(order) and chain[order[j + 1]] == c:
            j += 1
        start[c], end[c] = k, j + 1
        if any(order[x] > order[x + 1] for x in range(k, j)):
            reordered += 1
        k = j + 1
    return order, start, end, reordered


def _tasks(
    scan: _Scan,
    runs: _Runs,
    order: array,
    chain_start: array,
    chain_end: array,
    ytd_in: dict[YtdKey, tuple[int, str, str]],
) -> Iterator[tuple[int, Task]]:
    """Tasks in input order; a bill whose key has earlier-dated bills further down brings them first.

    Each task comes with its key's number, which decides the worker that settles it.
    """
    pos = array("i", chain_start)
    queued = bytearray(scan.rejected)
    chain = scan.chain
    for b in range(len(scan.ids)):
        if queued[b]:
            continue
        c = chain[b]
        while True:
            k = pos[c]
            j = order[k]
            pos[c] = k + 1
            queued[j] = 1
            key = scan.keys[c]
            first = k == chain_start[c]
            entry = ytd_in.get(key) if first else None
            yield (
                c,
                (
                    j,
                    scan.rows[j],
                    scan.starts[j],
                    scan.ends[j],
                    runs.of(j),
                    key,
                    first,
                    k + 1 == chain_end[c],
                    entry[2] if entry else None,
                ),
            )
            if j == b:
                break


class _Sink:
    """Takes results: OUT rows in input order, rejects, counts, the progress bar."""

    def __init__(self, scan: _Scan, writer: TableWriter, rejects: list[Reject], progress: Any) -> None:
        self.done = bytearray(scan.rejected)
        self.pending: dict[int, list[str]] = {}
        self.writer = writer
        self.rejects = rejects
        self.next = 0
        self.accepted = 0
        self.accepted_bills = array("i")
        self.items_ok = 0
        self.finals: list[tuple[str, str, str]] = []
        self.bar: Any = None
        self._skip = 0

    def take(self, results: list[tuple[Any, ...]]) -> None:
        for b, out, rejects, items_ok, final in results:
            self.done[b] = 1
            if out is not None:
                self.pending[b] = out
                self.accepted_bills.append(b)
                self.accepted += 1
                self.items_ok += items_ok
            elif rejects:
                self.rejects.extend(rejects)
            if final is not None:
                self.finals.append(final)
        before = self.next
        done, pending, n = self.done, self.pending, len(self.done)
        while self.next < n and done[self.next]:
            row = pending.pop(self.next, None)
            if row is not None:
                self.writer.write(row)
            self.next += 1
        if self.bar is not None and hasattr(self.bar, "update"):
            self.bar.update(self.next - before)


def _settle_here(cfg: WorkerConfig, tasks: Iterator[tuple[int, Task]], sink: _Sink) -> tuple[Aggregates, list]:
    settler = Settler(cfg)
    try:
        batch: list[Task] = []
        sink.take([])
        for _, task in tasks:
            batch.append(task)
            if len(batch) >= BATCH_SIZE:
                sink.take(settler.run(batch))
                batch = []
        sink.take(settler.run(batch))
    finally:
        settler.close()
    return settler.agg, sink.finals


def _settle_in_workers(
    cfg: WorkerConfig, tasks: Iterator[tuple[int, Task]], sink: _Sink, jobs: int, scan: _Scan
) -> tuple[Aggregates, list]:
    """Year-to-date keys (person, insured region, scheme, year) are shared out to ``jobs`` processes
    (key number modulo jobs); each keeps its keys' amounts, so a key's bills settle in order in one process.

    However this ends (an error, a signal, a worker that died), no worker outlives it.
    """
    ctx = multiprocessing.get_context()
    outbox = ctx.Queue()
    inboxes = [ctx.Queue() for _ in range(jobs)]
    parent = os.getpid()
    workers = [
        ctx.Process(target=_worker_main, args=(cfg, inboxes[k], outbox, k, parent), daemon=True) for k in range(jobs)
    ]
    agg = Aggregates()
    outstanding = 0
    limit = BATCH_SIZE * jobs * 8
    finished = bytearray(jobs)

    def receive() -> None:
        nonlocal outstanding
        for w in workers:
            if w.exitcode not in (None, 0):  # killed or crashed: it sent no message, and never will
                raise procs.worker_died(w.exitcode)
        silent = 0
        while True:
            try:
                kind, payload = outbox.get(timeout=WORKER_POLL)
                break
            except queue.Empty:
                dead = [w for k, w in enumerate(workers) if not finished[k] and w.exitcode is not None]
                if dead:
                    silent += 1
                    if silent > 1:  # an ended worker's last messages, if any, have been read
                        raise procs.worker_died(dead[0].exitcode) from None
        if kind == "results":
            outstanding -= len(payload)
            sink.take(payload)
        elif kind == "done":
            number, part = payload
            agg.merge(part)
            finished[number] = 1
        elif kind == "medins":
            raise TableError(*payload)
        else:
            name, message, tb = payload
            if name == "SettlementBug":
                raise SettlementBug(f"{message}\n{tb}")
            raise RuntimeError(f"a batch worker failed: {name}: {message}\n{tb}")

    ended = False
    try:
        with procs.signals_blocked():
            for worker in workers:
                worker.start()
        buffers: list[list[Task]] = [[] for _ in range(jobs)]
        sink.take([])
        for p, task in tasks:
            w = p % jobs
            buffers[w].append(task)
            if len(buffers[w]) >= BATCH_SIZE:
                inboxes[w].put(buffers[w])
                outstanding += len(buffers[w])
                buffers[w] = []
                while outstanding > limit:
                    receive()
                if len(sink.pending) > limit:
                    for k in range(jobs):
                        if buffers[k]:
                            inboxes[k].put(buffers[k])
                            outstanding += len(buffers[k])
                            buffers[k] = []
        for k in range(jobs):
            if buffers[k]:
                inboxes[k].put(buffers[k])
                outstanding += len(buffers[k])
            inboxes[k].put(None)
        while not all(finished):
            receive()
        for worker in workers:
            worker.join()
        ended = True
    finally:
        if not ended:
            with procs.critical():
                _stop_workers(workers, [outbox, *inboxes])
    return agg, sink.finals


def _stop_workers(workers: list[Any], queues: list[Any]) -> None:
    """End the workers of a run that stops early, and never wait at exit for data nobody reads."""
    for q in queues:
        q.cancel_join_thread()
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    for worker in workers:
        if worker.pid is None:
            continue
        worker.join(2)
        if worker.is_alive():
            worker.kill()
            worker.join(2)


def _worker_main(cfg: WorkerConfig, inbox: Any, outbox: Any, number: int, parent: int) -> None:
    """A ``--jobs`` process: settle the batches it is sent, then send its aggregates.

    It ends with its parent however the parent ends, leaves Ctrl-C to the parent, and dies on SIGTERM.
    """
    procs.worker_started(parent)
    try:
        settler = Settler(cfg)
        while (tasks := procs.receive(inbox, parent)) is not None:
            outbox.put(("results", settler.run(tasks)))
        settler.close()
        outbox.put(("done", (number, settler.agg)))
    except MedinsError as exc:  # a file problem: the main process stops the run with this message
        outbox.put(("medins", (exc.text, exc.where, exc.fix)))
    except BaseException as exc:  # a defect: sent to the main process, which stops the run
        outbox.put(("error", (type(exc).__name__, str(exc), traceback.format_exc())))


def _settle_bill_by_bill(
    opts: BatchOptions,
    cfg: WorkerConfig,
    rules: Any,
    tables: tuple[CsvTable, ColumnMap, CsvTable | None, ColumnMap | None],
    ytd_in: dict[YtdKey, tuple[int, str, str]],
    writer: Any,
    progress: Callable[[int], Any] | None,
    rejects: list[Reject],
    spool: Path | None = None,
) -> Outcome:
    """The careful path: every record read and checked; the bills it accepts settled over columns
    (:mod:`medins.batch.scanned`, given a ``spool`` folder), or, with ``engine="records"`` or where
    the arrays refuse a partition, each read by its records and settled by the per-bill engine, in
    order."""
    bills_table, bill_cols, items_table, item_cols = tables
    lang = opts.lang
    scan = _scan_bills(bills_table, bill_cols, ytd_in, rejects, lang)
    n = len(scan.ids)
    runs = _Runs(n)
    items_input = _scan_items(items_table, item_cols, scan, runs, rejects, lang) if items_table else 0
    if items_table is not None and rules is not None:
        for edition in {p.catalogue.drug_list for p in rules.packs.values() if p.catalogue}:
            rules.drugs(edition)  # load once here, before worker processes fork
    order, person_start, person_end, reordered = _chains(scan)
    if opts.engine != "records" and spool is not None:
        from medins.batch.scanned import settle_scanned

        got = settle_scanned(
            opts, cfg, tables, scan, runs, items_input, reordered, ytd_in, writer, progress, rejects, spool
        )
        if got is not None:
            return got
    tasks = _tasks(scan, runs, order, person_start, person_end, ytd_in)
    sink = _Sink(scan, writer, rejects, progress)
    bar = progress(n) if progress else nullcontext()
    with bar as b:
        sink.bar = b
        if opts.jobs <= 1:
            agg, finals = _settle_here(cfg, tasks, sink)
        else:
            agg, finals = _settle_in_workers(cfg, tasks, sink, opts.jobs, scan)
    if sink.next < n:
        raise SettlementBug(f"only {sink.next} of {n} bills were finished")
    settled_persons = len({scan.person[b] for b in sink.accepted_bills})
    return Outcome(
        agg, finals, n, items_input, sink.accepted, sink.items_ok, len(scan.persons), settled_persons, reordered, []
    )
