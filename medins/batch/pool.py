"""``--jobs``: this process and its workers read ranges of BILLS and ITEMS and settle partitions,
each taking the next from a counter they share.
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from medins.batch.lines import Variant, _Fan
from medins.batch.options import Outcome
from medins.batch.partition import (
    SPANS_PER_JOB,
    BillIndex,
    BillsJob,
    ItemsJob,
    Parts,
    Spill,
    _bills_span,
    _items_span,
    _partition_bills,
    _partition_items,
)
from medins.batch.read import NotRegular, _spans
from medins.batch.waves import _settle_part
from medins.batch.write import Lines
from medins.errors import MedinsError, SettlementBug
from medins.tabular import CsvTable


class _Counter:
    """The number of the next range or partition to take, shared by the run's processes: a file of
    the spool, read and advanced under an exclusive lock. (Not a ``multiprocessing`` value: its named
    semaphore may be gone when a worker still starting opens it, if the run is stopped meanwhile.)"""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reset()

    @classmethod
    def at(cls, path: Path) -> _Counter:
        """The counter of a file that is, or is about to be, made (not reset)."""
        counter = cls.__new__(cls)
        counter.path = path
        return counter

    def reset(self) -> None:
        self.path.write_bytes(b"0")

    def take(self, count: int) -> int | None:
        """The next number below ``count``, or None when all are taken."""
        with self.path.open("r+b") as f:
            _lock(f)
            k = int(f.read() or b"0")
            if k >= count:
                return None
            f.seek(0)
            f.write(str(k + 1).encode())
            f.truncate()
        return k  # the lock ends as the file is closed


def _lock(f: BinaryIO) -> None:
    if sys.platform == "win32":
        import msvcrt

        msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)
    else:
        import fcntl

        fcntl.flock(f.fileno(), fcntl.LOCK_EX)


class _Pool:
    """``--jobs N``: this process and N − 1 workers (started fresh: polars' threads do not survive a
    fork), started with the run so that their start overlaps the reading of BILLS, then given work
    twice: ranges of ITEMS to split, then partitions to settle. Each process takes the next range or
    partition from a shared counter as it finishes its last. However the run ends (an error, a
    signal, a worker that died), no worker outlives it."""

    def __init__(self, jobs: int, spool: Path, started: Any = None) -> None:
        """The workers ``started`` (:func:`medins.batch.run.start_pool_workers`), or started here."""
        from medins.batch.run import start_pool_workers

        self.parent = os.getpid()
        self.closed = self.stopping = False
        self.counter = _Counter(spool / "next")
        started = started or start_pool_workers(jobs, spool)
        self.to: dict[int, Any] = started.to
        self.back: dict[Any, int] = started.back
        self.workers: dict[int, Any] = started.workers

    def configure(self, variants: list[Variant]) -> None:
        """Tell the workers the run's sets of rules (one config each) and how OUT's rows are written."""
        writer = variants[0].writer
        rules = ([v.settler.cfg for v in variants], Lines(writer.kind, writer.text))
        for k in self.to:
            self._send(k, ("rules", rules))

    def next(self, count: int) -> int | None:
        """The next range or partition to take, of ``count``; None when all are taken."""
        return self.counter.take(count)

    def start(self, kind: str, payload: Any) -> None:
        """Set every worker taking work of this kind from the counter (from 0)."""
        self.counter.reset()
        for k in self.to:
            self._send(k, (kind, payload))

    def _send(self, k: int, message: Any) -> None:
        from medins import procs

        try:
            self.to[k].send(message)
        except OSError:  # the worker is gone
            self.workers[k].join(2)
            raise procs.worker_died(self.workers[k].exitcode) from None

    def receive(self, timeout: float) -> list[tuple[int, str, Any]]:
        """What the workers sent; a worker that failed or died stops the run."""
        from multiprocessing.connection import wait

        from medins import procs
        from medins.tabular import TableError

        ready = wait(list(self.back), timeout=timeout)
        got = []
        for conn in ready:
            k = self.back[conn]
            try:
                kind, payload = conn.recv()
            except EOFError:  # the worker ended without saying why
                self.workers[k].join(2)
                raise procs.worker_died(self.workers[k].exitcode) from None
            if kind == "medins":
                raise TableError(*payload)
            if kind == "error":
                name, message, tb = payload
                raise SettlementBug(f"a batch worker failed: {name}: {message}\n{tb}")
            got.append((k, kind, _unparcel(payload) if kind in ("bills", "items", "part") else payload))
        if not ready:
            dead = [w for w in self.workers.values() if w.exitcode not in (None, 0)]
            if dead:
                raise procs.worker_died(dead[0].exitcode)
        return got

    def ranges(self, kind: str, job: Any, count: int, mine: Callable[[int], Any]) -> dict[int, Any] | None:
        """Ranges ``0 … count - 1`` of a table read by this process (``mine(k)``) and the workers, each
        taking the next: the results by range, or None when one range was not plainly regular."""
        from medins.batch.options import WORKER_POLL

        found: dict[int, Any] = {}
        self.start(kind, job)
        regular = True
        try:
            while (k := self.next(count)) is not None:
                found[k] = mine(k)
        except NotRegular:
            regular = False
        waiting = set(self.workers)
        while waiting:
            for k, got, payload in self.receive(WORKER_POLL):
                if got == "irregular":
                    regular = False
                elif got == "idle":
                    waiting.discard(k)
                else:
                    found[payload[0]] = payload[1]
        return found if regular else None

    def stop(self) -> None:
        """Ask the workers to end (:meth:`close` waits for them)."""
        if not self.stopping:
            self.stopping = True
            for k in self.to:
                self._send(k, ("stop", None))

    def close(self, ended: bool) -> None:
        """Stop the workers: asked to end when the run went well, ended otherwise."""
        from medins import procs
        from medins.batch.records import _stop_workers

        if self.closed:
            return
        self.closed = True
        stopped = False
        try:
            if ended:
                self.stop()
                for w in self.workers.values():
                    w.join()
                stopped = True
        finally:
            if not stopped:
                with procs.critical():
                    _stop_workers(list(self.workers.values()), [])
            for conn in [*self.to.values(), *self.back]:
                conn.close()


def _pool_worker(inbox: Any, outbox: Any, counter_path: str, number: int, parent: int) -> None:
    """A ``--jobs`` process: once told the run's configs, load the rules (and a reform's: one config
    per set of rules), then take ranges of BILLS or ITEMS or partitions from the counter file
    ``counter_path`` as the main process says, sending each result and then ``idle`` when none is
    left."""
    from medins import procs
    from medins.batch.bill import Settler

    procs.worker_started(parent)

    take = _Counter.at(Path(counter_path)).take

    try:
        variants = []
        while True:
            while not inbox.poll(procs.PARENT_CHECK):
                if procs.parent_gone(parent):
                    os._exit(1)
            kind, job = inbox.recv()
            if kind == "stop":
                return
            if kind == "rules":
                cfgs, lines = job
                for cfg in cfgs:
                    settler = Settler(cfg)
                    variants.append(Variant(settler, settler.rules, lines, cfg.want_state))
                continue
            try:
                if kind == "bills":
                    while (k := take(len(job.spans))) is not None:
                        outbox.send(("bills", _parcel(job.spill.folder, (k, _bills_span(job, k, variants)))))
                elif kind == "items":
                    while (k := take(len(job.spans))) is not None:
                        outbox.send(("items", _parcel(job.spill.folder, (k, _items_span(job, k, variants)))))
                elif kind == "settle":
                    while (p := take(job.parts)) is not None:
                        outbox.send(("part", _parcel(job.spool, (p, _settle_own(job, p, variants)))))
            except NotRegular:
                outbox.send(("irregular", number))
            outbox.send(("idle", number))
    except MedinsError as exc:
        outbox.send(("medins", (exc.text, exc.where, exc.fix)))
    except BaseException as exc:  # a defect: sent to the main process, which stops the run
        import traceback

        outbox.send(("error", (type(exc).__name__, str(exc), traceback.format_exc())))


def _parcel(folder: Path, result: Any) -> Path:
    """A worker's result, in a file of the spool: the pipe carries only its name, so a worker never
    waits for the main process to read a large result before taking its next range or partition."""
    fd, name = tempfile.mkstemp(prefix="result-", suffix=".pickle", dir=folder)
    with os.fdopen(fd, "wb") as f:
        pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
    return Path(name)


def _unparcel(path: Path) -> Any:
    with path.open("rb") as f:
        result = pickle.load(f)
    path.unlink()
    return result


def _settle_own(job: Parts, p: int, variants: list[Variant]) -> list[tuple[Any, Outcome]] | None:
    """Settle partition ``p`` with aggregates of its own (merged in partition order by the caller)."""
    runs = [v.settler.agg for v in variants]
    for v in variants:
        v.settler.agg = type(v.settler.agg)()
    try:
        result = _settle_part(job, p, variants)
        if result is not None:
            for (_, outcome), v in zip(result, variants, strict=True):
                outcome.agg = v.settler.agg
    finally:
        for v, agg in zip(variants, runs, strict=True):
            v.settler.agg = agg
    return result


def _settle_in_pool(
    pool: _Pool, job: Parts, variants: list[Variant], advance: Callable[[int], Any]
) -> list[list[tuple[Any, Outcome]]]:
    """Every partition settled by this process and the workers, each taking the next; the results in
    partition order, their aggregates merged into the run's in that order."""
    from medins.batch.options import WORKER_POLL

    results: dict[int, Any] = {}

    def taken(_k: int, payload: Any) -> None:
        p, result = payload
        results[p] = result
        if result is not None:
            advance(result[0][1].bills)

    def check(k: int, kind: str, payload: Any) -> None:
        if kind == "irregular":
            raise NotRegular
        if kind == "part":
            taken(k, payload)

    pool.start("settle", job)
    idle: set[int] = set()
    while (p := pool.next(job.parts)) is not None:
        results[p] = _settle_own(job, p, variants)
        if results[p] is not None:
            advance(results[p][0][1].bills)
        for k, kind, payload in pool.receive(0):
            idle.add(k) if kind == "idle" else check(k, kind, payload)
    pending = set(pool.workers) - idle
    while pending:
        for k, kind, payload in pool.receive(WORKER_POLL):
            if kind == "idle":
                pending.discard(k)
            else:
                check(k, kind, payload)
    out = []
    for p in sorted(results):
        if results[p] is not None:
            for (_, outcome), v in zip(results[p], variants, strict=True):
                v.settler.agg.merge(outcome.agg)
            out.append(results[p])
    return out


def _bills_in_pool(
    pool: _Pool,
    jobs: int,
    table: CsvTable,
    cols: Any,
    spill: Spill,
    fan: _Fan,
    owners: list[int],
    variants: list[Variant],
) -> BillIndex:
    """Read BILLS in ranges, by this process and the workers, each taking the next range; the ranges'
    records numbered, their contexts numbered and their partition files taken in file order, as one
    pass would have them. When a range turns out not to be plainly regular, BILLS is read again in
    one pass here (which finds out whether the file itself is regular)."""
    spans = _spans(table, SPANS_PER_JOB * jobs)
    job = BillsJob(table, cols, spans, spill.for_range(""), owners)
    found = pool.ranges("bills", job, len(spans), lambda k: _bills_span(job, k, variants))
    if found is None:
        for path in spill.folder.glob("bills-*-b*.arrow"):
            path.unlink()
        return _partition_bills(table, cols, spill, fan)  # type: ignore[arg-type]
    before, arrays = 0, []
    for k in range(len(spans)):
        read, (h, check, rows, parts), per_pass, files = found[k]
        arrays.append((h, check, (rows.astype(np.int64) + before).astype(np.int32), parts))
        for lp, (ctx, late, keys) in zip(fan.passes, per_pass, strict=True):
            lp.adopt_bills(ctx, late, keys)
        spill.adopt_bills(files, before)
        before += read
    return BillIndex(*(np.concatenate([a[i] for a in arrays]) for i in range(4)))


def _items_in_pool(
    pool: _Pool,
    jobs: int,
    table: CsvTable,
    cols: Any,
    index: BillIndex,
    spill: Spill,
    fan: _Fan,
    owners: list[int],
    variants: list[Variant],
) -> None:
    """Split ITEMS in ranges, by this process and the workers, each taking the next range; the sums
    of each range added in file order (line numbers made the file's), the location files appended.
    When a range turns out not to be plainly regular, ITEMS is read again in one pass here (which
    finds out whether the file itself is regular)."""
    spans = _spans(table, SPANS_PER_JOB * jobs)
    folder = spill.folder
    passes = []
    for k, lp in enumerate(fan.passes):
        path = folder / f"ctx-{k}.npy"
        np.save(path, lp.ctx)
        passes.append((owners[k], path, list(lp.keys)))
    job = ItemsJob(table, cols, spans, spill, index.saved(folder), passes)
    spill.text = table.path
    found = pool.ranges("items", job, len(spans), lambda k: _items_span(job, k, variants))
    if found is not None:
        before = 0
        for k in range(len(spans)):
            read, sums = found[k]
            for lp, mine in zip(fan.passes, sums, strict=True):
                lp.add(mine, before)
            spill.adopt(f"-s{k}", before)
            before += read
        if before >= 10**9:
            raise NotRegular  # past what the warnings' positions hold: the careful path reads it
        return
    for path in folder.glob("lines-*.bin"):
        path.unlink()
    for lp in fan.passes:
        lp._sums(len(lp.ctx))
    _partition_items(table, cols, index, spill, fan)  # type: ignore[arg-type]
