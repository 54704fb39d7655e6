"""The careful reading's bills settled over columns: a file that is not plainly regular (a blank
record, a carriage return inside a line, a quoted cell polars reads otherwise than the csv module, a
row the scan rejects, an XLSX …) is read record by record by :mod:`medins.batch.check`, with every
message that reading gives; the bills it accepts are then settled by the same engine as a regular
file's (:func:`medins.batch.waves.settle_frames`), by partitions of persons, instead of one at a time.

Each accepted bill's cells, and its item lines', are read back by their byte ranges as the csv module
reads them and stripped, as the per-bill path strips them; a bill of a workbook that lost one of its
cells is rejected first (:meth:`~medins.batch.bill.Settler.lost_cells`); a bill the arrays leave
aside settles one at a time in its key's order, as in any partition. OUT comes out in input order.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medins import procs
from medins.batch.bill import Settler, WorkerConfig
from medins.batch.check import _Runs, _Scan
from medins.batch.lines import Shared
from medins.batch.options import BatchOptions, Outcome, partitions
from medins.batch.partition import partition_of_persons
from medins.batch.read import PY_SPACE, Chunk, NotRegular, read_chunk, require_plain, whole_records
from medins.batch.schema import Reject, YtdKey
from medins.batch.waves import settle_frames
from medins.batch.write import OUT_STEP, _spill_output, _write_in_order
from medins.tabular import CsvTable

CAREFUL_SHARE = 8
"""A carefully read file is settled in partitions this many times smaller than a regular file's of the
same size: the scan's record of every row is held besides. Measured on 200,000 bills and 2,001,021
item lines with a blank record (256M, the default ``--memory``), when each partition's cells were
gathered as Python text before they became columns: 5 partitions peaked at 492 MB, 20 at 320 MB, 40
at 273 MB, taking 28, 33 and 35 s (bill by bill: 145 s, 175 MB)."""


def settle_scanned(
    opts: BatchOptions,
    cfg: WorkerConfig,
    tables: tuple[CsvTable, Any, CsvTable | None, Any],
    scan: _Scan,
    runs: _Runs,
    items_input: int,
    reordered: int,
    ytd_in: dict[YtdKey, tuple[int, str, str]],
    writer: Any,
    progress: Callable[[int], Any] | None,
    rejects: list[Reject],
    spool: Path,
) -> Outcome | None:
    """Settle the bills the scan accepted over columns and write OUT; None, having written nothing and
    rejected nothing more, when a partition fails a check the arrays make (the caller then settles
    the bills one at a time, as before)."""
    bills_table, bill_cols, items_table, item_cols = tables
    accepted = np.flatnonzero(np.frombuffer(bytes(scan.rejected), dtype=np.uint8) == 0)
    n = len(scan.ids)
    size = sum(p.stat().st_size for p in (bills_table.path, items_table.path if items_table else None) if p)
    parts = partitions(size, max(opts.memory // CAREFUL_SHARE, 1), 1)
    person_ids = pl.Series([scan.persons[scan.person[j]] for j in accepted.tolist()], dtype=pl.String)
    part_of = partition_of_persons(person_ids, parts) if parts > 1 else np.zeros(len(accepted), dtype=np.int64)
    del person_ids
    procs.give_back_memory()
    settler = Settler(cfg)
    shared = Shared()
    outputs: list[Any] = []
    outcomes: list[Outcome] = []
    lost: list[Reject] = []  # bills whose cells an XLSX lost, rejected before the columns
    folder = Path(tempfile.mkdtemp(prefix="careful-", dir=spool))
    bar = progress(n) if progress else nullcontext()
    try:
        with bar as b:
            advance = b.update if hasattr(b, "update") else (lambda k: None)
            advance(n - len(accepted))
            for p in range(parts):
                mine = accepted[part_of == p]
                if not len(mine):
                    continue
                bills, items, rows, held, refused = _frames(settler, scan, runs, mine, bills_table, items_table)
                lost.extend(refused)
                if not len(held):
                    advance(len(mine))
                    continue
                settled = settle_frames(
                    bills, items, bill_cols, item_cols, settler, shared, ytd_in, cfg.want_state, rows
                )
                if settled is None:
                    return None
                out, outcome = settled
                out = out.with_columns(pl.Series("_row", held[out["_row"].to_numpy()], dtype=pl.Int64))
                path = folder / f"out-{p}.csv"
                outputs.append(_spill_output(writer, out, path, max(2_000, OUT_STEP // parts)))
                outcomes.append(outcome)
                advance(len(mine))
    except NotRegular:
        return None
    finally:
        settler.close()
    if outputs:  # none when the scan rejected every bill
        _write_in_order(writer, outputs)
    rejects.extend(lost)
    for outcome in outcomes:
        rejects.extend(outcome.rejects)
    return Outcome(
        settler.agg,
        [f for o in outcomes for f in o.finals],
        n,
        items_input,
        sum(o.accepted for o in outcomes),
        sum(o.items_ok for o in outcomes),
        len(scan.persons),
        sum(o.settled_persons for o in outcomes),
        reordered,
        [],
    )


Frames = tuple[pl.DataFrame, pl.DataFrame | None, np.ndarray, np.ndarray, list[Reject]]


def _frames(
    settler: Settler, scan: _Scan, runs: _Runs, mine: np.ndarray, bills_table: CsvTable, items_table: CsvTable | None
) -> Frames:
    """The bills ``mine`` (scan numbers, in input order) and their item lines as text columns, each
    cell read back by its record's byte range and stripped; each bill's row less 2; the bills held
    (scan numbers); and the rejects of those left out, whose cells an XLSX lost.

    The records' bytes are joined and read by polars as a regular file's chunks are
    (:func:`_frames_by_columns`); records that reading would not take as the csv module reads them,
    and a workbook's, are read one by one (:func:`_frames_by_records`)."""
    if not settler.cells_checked:  # a workbook's cells are checked record by record
        try:
            return _frames_by_columns(scan, runs, mine, bills_table, items_table)
        except NotRegular:
            pass
    return _frames_by_records(settler, scan, runs, mine, bills_table, items_table)


def _frames_by_columns(
    scan: _Scan, runs: _Runs, mine: np.ndarray, bills_table: CsvTable, items_table: CsvTable | None
) -> Frames:
    """What :func:`_frames` gives, from each file's records joined and read by
    :func:`~medins.batch.read.read_chunk`; raises :class:`NotRegular` where that reading might differ
    from the csv module's (no CSV lost a cell: none is rejected here)."""
    held = mine.astype(np.int64)
    bills = _joined(bills_table, [(scan.starts[j], scan.ends[j]) for j in held.tolist()], "_row")
    if bills.height != len(held):
        raise NotRegular
    rows = np.array([scan.rows[j] - 2 for j in held.tolist()], dtype=np.int64)
    if items_table is None:
        return bills, None, rows, held, []
    spans, owner, first, count = [], [], [], []
    for k, j in enumerate(held.tolist()):
        for r_start, r_end, r_row, n in runs.of(j):
            spans.append((r_start, r_end))
            owner.append(k)
            first.append(r_row - 2)
            count.append(n)
    counts = np.array(count, dtype=np.int64)
    lines = _joined(items_table, spans, "_line")
    if lines.height != int(counts.sum()):
        raise NotRegular
    # each run's lines are consecutive rows: its first row, then one more each
    before = np.repeat(np.cumsum(counts) - counts, counts)
    line_no = np.repeat(np.array(first, dtype=np.int64), counts) + np.arange(len(before), dtype=np.int64) - before
    items = lines.with_columns(
        pl.Series("_line", line_no, dtype=pl.Int64),
        pl.Series("_bill", np.repeat(np.array(owner, dtype=np.int64), counts), dtype=pl.Int64),
    )
    return bills, items, rows, held, []


def _joined(table: CsvTable, spans: list[tuple[int, int]], name: str) -> pl.DataFrame:
    """The records between these byte offsets of a CSV, joined in this order and read as one chunk of
    text columns ``c0, c1, …`` stripped as Python strips them, with their number among them in
    ``name``; raises :class:`NotRegular` as the columns reader would."""
    require_plain(table)
    if not spans:
        schema = {f"c{i}": pl.String for i in range(len(table.header))}
        return pl.DataFrame(schema={**schema, name: pl.Int64})
    data = b"".join(piece if piece.endswith(b"\n") else piece + b"\n" for piece in _read_spans(table.path, spans))
    if table.encoding != "utf-8":
        try:
            data = data.decode(table.encoding).encode("utf-8")
        except UnicodeDecodeError:
            raise NotRegular from None
    count, quoted, starts, padded = whole_records(data, table.delimiter, len(table.header))
    return read_chunk(table, Chunk(data, 0, count, quoted, 0, starts, padded), name)


def _read_spans(path: Path, spans: list[tuple[int, int]]) -> list[bytes]:
    """The bytes between each pair of offsets of a file, a read each (not a mapping of the file, whose
    pages would count in the run's memory)."""
    with path.open("rb") as f:
        if hasattr(os, "pread"):
            fd = f.fileno()
            return [os.pread(fd, end - start, start) for start, end in spans]
        out = []
        for start, end in spans:
            f.seek(start)
            out.append(f.read(end - start))
        return out


def _frames_by_records(
    settler: Settler, scan: _Scan, runs: _Runs, mine: np.ndarray, bills_table: CsvTable, items_table: CsvTable | None
) -> Frames:
    """What :func:`_frames` gives, each record read back by the csv module and stripped."""
    bills = _Text(len(bills_table.header))
    items = _Text(len(items_table.header) if items_table is not None else 0)
    rows: list[int] = []
    held: list[int] = []
    lost: list[Reject] = []
    for j in mine.tolist():
        values = settler.bills.read(scan.starts[j], scan.ends[j])[0]
        lines = settler.item_records(runs.of(j))
        refused = settler.lost_cells(scan.rows[j], values, lines)
        if refused is not None:
            lost.extend(refused)
            continue
        k = len(held)
        held.append(j)
        rows.append(scan.rows[j] - 2)
        bills.add(values, k)
        for r, record in lines:
            items.add(record, k, r - 2)
    return (
        bills.frame("_row"),
        items.frame("_bill") if items_table is not None else None,
        np.array(rows, dtype=np.int64),
        np.array(held, dtype=np.int64),
        lost,
    )


class _Text:
    """Records gathered as text columns ``c0``, ``c1`` … (cells stripped as Python strips them, missing
    ones empty) with their numbers, turned into a frame every ``STEP`` records: Python holds the cells
    of a step at most."""

    STEP = 20_000

    def __init__(self, width: int) -> None:
        self.width = width
        self.schema = {f"c{i}": pl.String for i in range(width)}
        self.frames: list[pl.DataFrame] = []
        self.records: list[list[str]] = []
        self.owner: list[int] = []
        self.line: list[int] = []

    def add(self, record: list[str], owner: int, line: int = 0) -> None:
        if len(record) != self.width:
            record = (record + [""] * self.width)[: self.width]
        self.records.append(record)
        self.owner.append(owner)
        self.line.append(line)
        if len(self.owner) >= self.STEP:
            self._flush()

    def _flush(self) -> None:
        cells = pl.DataFrame(self.records, schema=self.schema, orient="row")
        self.frames.append(
            cells.select(pl.all().str.strip_chars(PY_SPACE)).with_columns(
                pl.Series("_line", self.line, dtype=pl.Int64), pl.Series("_owner", self.owner, dtype=pl.Int64)
            )
        )
        self.records, self.owner, self.line = [], [], []

    def frame(self, owner: str) -> pl.DataFrame:
        """The records as one frame, each one's number as ``owner`` (``_row``: a bill's; ``_bill``: an
        item line's bill, with ``_line``, its row less 2)."""
        self._flush()
        frame = pl.concat(self.frames).rename({"_owner": owner})
        self.frames = []
        return frame.drop("_line") if owner == "_row" else frame
