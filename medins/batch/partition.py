"""Partition: persons hashed into partitions; bills and item lines spilled by partition, to memory
or to files, and the year-to-date entries too, so that a partition holds whole persons.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medins import procs
from medins.batch.lines import LOCATION, LinePass, LineView, Variant, _Fan
from medins.batch.read import (
    _SCIENTIFIC_PATTERN,
    ITEM_CHUNK_BYTES,
    NotRegular,
    _day_numbers,
    _first_day,
    read_chunk,
    record_chunks,
)
from medins.tabular import CsvTable


class Spill:
    """Partitions of the input: held in memory when there is one, else in files.

    Bills wait in memory until ``FLUSH_ROWS`` of them wait in all, then each partition's go to an
    Arrow IPC file of its own (what waits does not grow with the number of partitions).
    Item lines are not kept: only where each one is in ITEMS (:data:`LOCATION`), for the rare bill
    settled one at a time, which reads its lines back from there.
    """

    FLUSH_ROWS = 20_000

    def __init__(self, folder: Path, parts: int) -> None:
        self.folder, self.parts = folder, parts
        self.held: dict[tuple[str, int], list[pl.DataFrame]] = {}
        self.waiting = 0
        self.files: dict[tuple[str, int], list[tuple[Path, int]]] = {}
        """Each partition's files, with the number of BILLS' records before the range each was read from
        (0 but for ``--jobs`` ranges), which their record numbers start from."""
        self.located: dict[int, list[np.ndarray]] = {}
        self.text: Path | None = None
        """The UTF-8 text of ITEMS that the locations point into."""
        self.tag = ""
        """Added to the names of the files: a ``--jobs`` process reading a range of BILLS or ITEMS writes
        its own, which the run's adopt (:meth:`adopt_bills`, :meth:`adopt`)."""

    def locate(self, where: np.ndarray, part: np.ndarray) -> None:
        """Where each line of a chunk is (:data:`LOCATION`), by its bill's partition."""
        if self.parts == 1:
            self.located.setdefault(0, []).append(where)
            return
        # numpy sorts 16-bit keys by radix, stably: four times as fast as 32-bit ones
        order = np.argsort(part.astype(np.int16) if self.parts <= 1 << 15 else part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.parts + 1))
        for p in range(self.parts):
            if bounds[p] < bounds[p + 1]:
                with (self.folder / f"lines-{p}{self.tag}.bin").open("ab") as f:
                    where[order[bounds[p] : bounds[p + 1]]].tofile(f)

    def for_range(self, tag: str) -> Spill:
        """An empty spill of the same partitions, whose files carry ``tag``."""
        spill = Spill(self.folder, self.parts)
        spill.tag, spill.text = tag, self.text
        return spill

    def adopt_bills(self, files: dict[tuple[str, int], list[tuple[Path, int]]], rows_before: int) -> None:
        """Take the bill files a range of BILLS was spilled to (``rows_before``: the records before it)."""
        for key, paths in files.items():
            self.files.setdefault(key, []).extend((path, rows_before) for path, _ in paths)

    def adopt(self, tag: str, lines_before: int) -> None:
        """Append the location files a worker wrote under ``tag`` to the run's, its line numbers made
        the file's (``lines_before``: the lines of ITEMS before its range)."""
        for p in range(self.parts):
            path = self.folder / f"lines-{p}{tag}.bin"
            if path.exists():
                where = np.fromfile(path, dtype=LOCATION)
                where["line"] += lines_before
                with (self.folder / f"lines-{p}.bin").open("ab") as f:
                    where.tofile(f)
                path.unlink()

    def locations(self, p: int) -> np.ndarray:
        """Where the item lines of partition ``p`` are."""
        if self.parts == 1:
            held = self.located.get(0, [])
            return np.concatenate(held) if held else np.zeros(0, dtype=LOCATION)
        path = self.folder / f"lines-{p}.bin"
        return np.fromfile(path, dtype=LOCATION) if path.exists() else np.zeros(0, dtype=LOCATION)

    def put(self, kind: str, frame: pl.DataFrame, part: np.ndarray) -> None:
        if self.parts == 1:
            self.held.setdefault((kind, 0), []).append(frame)
            return
        pieces = frame.with_columns(pl.Series("_part", part, dtype=pl.Int32)).partition_by(
            "_part", maintain_order=True, include_key=False, as_dict=True
        )
        for (p,), piece in pieces.items():
            self.held.setdefault((kind, p), []).append(piece)
        self.waiting += frame.height
        if self.waiting >= self.FLUSH_ROWS:
            self.close()

    def _flush(self, kind: str, p: int) -> None:
        waiting = self.held.pop((kind, p), [])
        if waiting:
            files = self.files.setdefault((kind, p), [])
            path = self.folder / f"{kind}-{p}{self.tag}-{len(files)}.arrow"
            pl.concat(waiting).write_ipc(path)
            files.append((path, 0))

    def close(self) -> None:
        """Write what still waits: every partition is then read from its files."""
        if self.parts > 1:
            for kind, p in list(self.held):
                self._flush(kind, p)
            self.waiting = 0

    def get(self, kind: str, p: int) -> pl.DataFrame | None:
        if self.parts == 1:
            frames = self.held.pop((kind, 0), [])
        else:
            frames = [
                pl.read_ipc(path).with_columns(pl.col("_row") + before) if before else pl.read_ipc(path)
                for path, before in self.files.get((kind, p), [])
            ]
        return pl.concat(frames) if frames else None


@dataclass
class Parts:
    """What settling any partition needs (picklable: sent to ``--jobs`` workers)."""

    spill: Spill
    parts: int
    bill_cols: Any
    item_cols: Any
    ytd_in: dict[Any, tuple[int, str, str]]
    spool: Path
    items_delimiter: str | None
    """ITEMS' delimiter; None without ITEMS."""
    lines: list[LineView]
    """The line pass of each set of rules."""
    ytd_files: list[Path] | None = None
    """``--ytd-in``'s entries of each partition, in a file each (:func:`_split_ytd`); None: ``ytd_in``."""

    def ytd_of(self, p: int) -> dict[Any, tuple[int, str, str]]:
        """``--ytd-in``'s entries of partition ``p``'s persons (with ``ytd_files``, only theirs)."""
        if self.ytd_files is None:
            return self.ytd_in
        with self.ytd_files[p].open("rb") as f:
            return pickle.load(f)  # type: ignore[no-any-return]


def partition_of_persons(person_ids: pl.Series, parts: int) -> np.ndarray:
    """Each person's partition, by the hash of ``person_id``: a person's bills, and their ``--ytd-in``
    entries, always go to the same one."""
    return (person_ids.hash(seed=0).to_numpy() % np.uint64(parts)).astype(np.int64)


def _split_ytd(ytd_in: dict[Any, tuple[int, str, str]], parts: int, folder: Path) -> list[Path] | None:
    """``--ytd-in``'s entries cut by partition, a file of the spool each: a key goes where its person's
    bills go (:func:`partition_of_persons`), so a partition, or a ``--jobs``
    worker, reads only its own persons' entries, never the whole file's."""
    if not ytd_in:
        return None
    keys = list(ytd_in)
    ids = pl.Series([k[0] for k in keys], dtype=pl.String)
    part = partition_of_persons(ids, parts)
    buckets: list[dict[Any, tuple[int, str, str]]] = [{} for _ in range(parts)]
    for key, p in zip(keys, part.tolist(), strict=True):
        buckets[p][key] = ytd_in[key]
    files = []
    for p, bucket in enumerate(buckets):
        path = folder / f"ytd-in-{p}.pickle"
        with path.open("wb") as f:
            pickle.dump(bucket, f, protocol=pickle.HIGHEST_PROTOCOL)
        files.append(path)
    return files


SPANS_PER_JOB = 3
"""With ``--jobs N``, BILLS and ITEMS are each read in this many byte ranges per process."""


@dataclass
class BillsJob:
    """What reading ranges of BILLS in a ``--jobs`` worker needs (picklable)."""

    table: CsvTable
    cols: Any
    spans: list[tuple[int, int]]
    spill: Spill
    passes: list[int]
    """Per line pass, the set of rules it splits by (a variant's number)."""


def _bills_span(job: BillsJob, k: int, variants: list[Variant]) -> tuple[Any, ...]:
    """Read range ``k`` of BILLS into partition files of its own: how many records it has, the index's
    arrays (rows counted from the range's first record), per line pass each bill's context (numbered
    in the range) with the contexts' places and days, and the files."""
    spill = job.spill.for_range(f"-b{k}")
    passes = [LinePass(variants[v].rules, variants[v].shared) for v in job.passes]
    read, arrays = _read_bills(job.table, job.cols, spill, _Fan(passes), job.spans[k])
    spill.close()
    found = []
    for lp in passes:
        ctx = np.concatenate(lp._ctx) if lp._ctx else np.zeros(0, dtype=np.int32)
        late = np.concatenate(lp._late) if lp._late else np.zeros(0, dtype=bool)
        found.append((ctx, late, list(lp.keys)))
    return read, arrays, found, spill.files


@dataclass
class ItemsJob:
    """What splitting ranges of ITEMS in a ``--jobs`` worker needs (picklable)."""

    table: CsvTable
    cols: Any
    spans: list[tuple[int, int]]
    spill: Spill
    index: list[Path]
    passes: list[tuple[int, Path, list[tuple[str, int]]]]
    """Per line pass: the set of rules it splits by (a variant's number), where each bill's context
    is saved, and each context's place and day."""
    ready: list[LinePass] | None = None
    """The passes a process made for its first range, for its next (not sent to workers)."""

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "ready": None}


def _items_span(job: ItemsJob, k: int, variants: list[Variant]) -> tuple[int, list[dict[str, Any]]]:
    """Split the lines of range ``k`` of ITEMS: how many lines it has and, per line pass, the sums of
    the bills it has lines of (:meth:`LinePass.found`), line numbers counted from the range's first."""
    index = BillIndex.loaded(job.index)
    spill = job.spill.for_range(f"-s{k}")
    if job.ready is None:  # the passes of this process: the items they resolved serve its next ranges
        job.ready = [
            LinePass(variants[v].rules, variants[v].shared).ranged(np.load(ctx, mmap_mode="r"), keys)
            for v, ctx, keys in job.passes
        ]
    else:
        for lp in job.ready:
            lp._sums(len(lp.ctx))
    read = _partition_items(job.table, job.cols, index, spill, _Fan(job.ready), job.spans[k])  # type: ignore[arg-type]
    return read, [lp.found() for lp in job.ready]


def _partition_bills(table: CsvTable, cols: Any, spill: Spill, lines: LinePass) -> BillIndex:
    """Read BILLS chunk by chunk, check what the scan checks row by row, and put each bill into its
    person's partition; returns the bill ids with their row and partition (for the items)."""
    # a bill id twice shares its hashes: the index refuses it
    return BillIndex(*_read_bills(table, cols, spill, lines)[1])


def _read_bills(
    table: CsvTable, cols: Any, spill: Spill, lines: Any, span: tuple[int, int] | None = None
) -> tuple[int, tuple[np.ndarray, ...]]:
    """What :func:`_partition_bills` does, for the records between two byte offsets with ``span``
    (numbered from 0 there): how many records were read, and the index's arrays (ids' two hashes,
    rows, partitions) in file order."""
    from medins.batch.schema import DATE_COLUMNS

    index: list[tuple[np.ndarray, ...]] = []
    read = 0
    days: dict[str, int] = {"": 0}
    ib, ip = f"c{cols.index['bill_id']}", f"c{cols.index['person_id']}"
    dates = [f"c{cols.index[c]}" for c in DATE_COLUMNS if c in cols.index]
    chunks_read = ((c, read_chunk(table, c, "_row")) for c in record_chunks(table, span=span))
    with procs.ahead(chunks_read, _ahead(span)) as chunks:
        for chunk, df in chunks:
            read = chunk.first + chunk.count
            _bills_chunk(df, cols, spill, lines, days, index, ib, ip, dates)
    if not index:
        return read, tuple(np.zeros(0, dtype=t) for t in (np.uint64, np.uint64, np.int32, np.int32))
    return read, tuple(np.concatenate([chunk[k] for chunk in index]) for k in range(4))


def _ahead(span: tuple[int, int] | None) -> int:
    """How many chunks to read ahead: one when this process reads the whole file; none when it reads
    a range beside the ``--jobs`` workers, which already keep every CPU busy (measured: no faster
    with, and 20 MB more at the peak)."""
    return 1 if span is None else 0


def _bills_chunk(
    df: pl.DataFrame,
    cols: Any,
    spill: Spill,
    lines: Any,
    days: dict[str, int],
    index: list[tuple[np.ndarray, ...]],
    ib: str,
    ip: str,
    dates: list[str],
) -> None:
    """One chunk of BILLS read by :func:`_read_bills`: checked, its days noted, spilled by partition."""
    from medins.batch.values import day_number

    for c in (ib, ip):
        if ((df[c] == "") | df[c].str.contains(_SCIENTIFIC_PATTERN)).any():
            raise NotRegular
    for c in dates:
        for v in df[c].unique().to_list():
            if v not in days:
                days[v] = day_number(v)
                if not days[v]:
                    raise NotRegular
    part = partition_of_persons(df[ip], spill.parts)
    day = {
        c: _day_numbers(df[f"c{cols.index[c]}"], days) if c in cols.index else np.zeros(df.height, dtype=np.int64)
        for c in ("admitted", "date", "discharged")
    }
    empty = pl.Series([""] * df.height, dtype=pl.String)
    lines.bills(
        df[f"c{cols.index['insured_region']}"] if "insured_region" in cols.index else empty,
        df[f"c{cols.index['visit_region']}"] if "visit_region" in cols.index else empty,
        _first_day(day["admitted"], day["date"], day["discharged"]),
    )
    ids = df[ib]
    index.append(
        (
            ids.hash(seed=0).to_numpy(),
            ids.hash(seed=0x5EED).to_numpy(),
            df["_row"].to_numpy().astype(np.int32),  # row numbers and partitions: int32 (24 bytes a bill)
            part.astype(np.int32),
        )
    )
    spill.put("bills", df, part)


class BillIndex:
    """Bill ids by their 64-bit hash, sorted, with each bill's row and partition (24 bytes a bill; a
    second hash must agree, so two ids sharing the first are told apart or sent to the careful path)."""

    def __init__(self, h: np.ndarray, check: np.ndarray, rows: np.ndarray, parts: np.ndarray) -> None:
        order = np.argsort(h)
        self.hash, self.check = h[order], check[order]
        self.rows, self.parts = rows[order], parts[order]
        if len(h) > 1 and (self.hash[1:] == self.hash[:-1]).any():
            raise NotRegular  # a duplicate bill id (or, once in 2^64, two ids sharing a hash)

    NAMES = ("hash", "check", "rows", "parts")

    def saved(self, folder: Path) -> list[Path]:
        """The index in ``.npy`` files, for ``--jobs`` workers to map."""
        paths = [folder / f"index-{name}.npy" for name in self.NAMES]
        for name, path in zip(self.NAMES, paths, strict=True):
            np.save(path, getattr(self, name))
        return paths

    @classmethod
    def loaded(cls, paths: list[Path]) -> BillIndex:
        index = cls.__new__(cls)
        for name, path in zip(cls.NAMES, paths, strict=True):
            setattr(index, name, np.load(path, mmap_mode="r"))
        return index

    def partition_of(self, bills: int) -> np.ndarray:
        """Each bill's partition, by record number in BILLS (``bills`` of them)."""
        part = np.zeros(bills, dtype=np.int32)
        part[self.rows] = self.parts
        return part

    def find(self, ids: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """Each id's bill row and partition; raises :class:`NotRegular` for an id not in BILLS.

        A bill's lines usually follow each other: each run of equal ids is looked up once."""
        head = (ids != ids.shift(1)).fill_null(True).to_numpy()  # a run's first line (a null id: its own run)
        heads = ids.filter(head) if not head.all() else ids
        h = heads.hash(seed=0).to_numpy()
        at = np.minimum(np.searchsorted(self.hash, h), len(self.hash) - 1)
        if (self.hash[at] != h).any() or (self.check[at] != heads.hash(seed=0x5EED).to_numpy()).any():
            raise NotRegular  # an empty, unknown or mangled bill id: the careful path says which
        rows, parts = self.rows[at], self.parts[at]
        if len(heads) == len(ids):
            return rows, parts
        run = np.cumsum(head) - 1
        return rows[run], parts[run]


def _partition_items(
    table: CsvTable,
    cols: Any,
    index: BillIndex,
    spill: Spill,
    lines: LinePass,
    span: tuple[int, int] | None = None,
) -> int:
    """Read ITEMS chunk by chunk: split each line by its catalogue into its bill's sums, and note
    where the line is, by its bill's partition (read back only for a bill settled one at a time);
    returns how many lines were read.

    A GB18030 file is transcoded into a UTF-8 copy in the spool as it is read, for those reads.
    ``span``: only the lines between two byte offsets (see :func:`record_chunks`), numbered from 0."""
    ib = f"c{cols.index['bill_id']}"
    copy = (spill.folder / "items.utf8").open("wb") if table.encoding != "utf-8" else None
    spill.text = spill.folder / "items.utf8" if copy is not None else table.path
    read = 0
    try:
        chunks = record_chunks(table, ITEM_CHUNK_BYTES, copy, span)
        with procs.ahead(((c, read_chunk(table, c, "_line")) for c in chunks), _ahead(span)) as read_ahead:
            for chunk, df in read_ahead:
                bill, part = index.find(df[ib])
                line_no = df["_line"].to_numpy()
                lines.lines(df, cols, bill, line_no)
                where = np.empty(chunk.count, dtype=LOCATION)
                where["pos"] = chunk.base + chunk.starts[:-1]
                where["len"] = np.diff(chunk.starts)
                where["bill"], where["line"] = bill, line_no
                spill.locate(where, part)
                read = chunk.first + chunk.count
    finally:
        if copy is not None:
            copy.close()
    return read
