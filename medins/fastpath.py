"""The batch over columns: read both files by chunks, partition persons, settle each partition by waves.

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

The steps: :func:`record_chunks` and :func:`read_chunk` (read), :func:`_partition_bills` and
:func:`_partition_items` (partition into :class:`Spill`), :func:`_prepare` (the checks that need a
person's bills together), :class:`_Run` (lines, eligibility, cells, waves, OUT rows, sums), and
:func:`_write_in_order` (OUT in input order). :func:`settle_table` is one partition as a table.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from medins.tabular import POLARS_ALLOCATOR

os.environ.setdefault("_RJEM_MALLOC_CONF", POLARS_ALLOCATOR)  # before polars is imported: see there
import polars as pl

from medins import regions
from medins.batch import Outcome, partitions
from medins.engine.columns import LIMIT, SCALE, decimal_text, fen_units, half_up, ratio_units
from medins.engine.eligibility import LOCAL_STANDARD, visit_place
from medins.engine.lines import catalogue_index, resolve_item
from medins.engine.population import (
    CHRONIC,
    INPATIENT,
    NO_CELL,
    OUTPATIENT,
    VISIT_CODES,
    Cell,
    State,
    Static,
    apply_wave,
    gather_cells,
    resolve_cell,
    settle_wave,
    static_eligibility,
    waves,
)
from medins.errors import MedinsError, SettlementBug
from medins.loader import RuleSet
from medins.tabular import MAX_CELL, CsvTable

# polars imports numpy's array interface the first time it gives a column as an array: done here,
# not at a moment a Ctrl-C may interrupt it (polars then panics instead of letting the run stop)
pl.Series([0], dtype=pl.Int64).to_numpy()

# the characters Python's str.strip() removes (Rust's trim differs on \x1c-\x1f)
PY_SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
_SCIENTIFIC = r"^[+-]?\d(?:\.\d+)?[eE][+-]\d+$"
_AMOUNT = r"^\d{1,8}(?:\.\d{1,2})?$"
_PRICE = r"^\d{1,5}(?:\.\d{1,4})?$"
_QUANTITY = r"^\d{1,5}(?:\.\d{1,4})?$"


# ----------------------------------------------------------------------------- read


CHUNK_BYTES = 4 << 20
"""BILLS is read this many bytes at a time (whole records)."""

ITEM_CHUNK_BYTES = 6 << 20
"""ITEMS is read this many bytes at a time: its lines are split by their catalogues chunk by chunk,
where a larger chunk shares the cost of each step among more lines."""


class NotRegular(Exception):
    """The file is not plainly regular: the careful path reads it."""


@dataclass
class Chunk:
    """Whole records of a table, as UTF-8 bytes."""

    data: bytes
    first: int
    """The number of the first record (0 the first after the header)."""
    count: int
    quoted: dict[int, list[str]]
    """The records holding a quote, as the csv module reads them, by their number in the chunk."""
    base: int
    """Where ``data`` starts in the table's UTF-8 text: the file itself, or its transcoded copy."""
    starts: np.ndarray
    """Where each record starts in ``data``, and ``len(data)`` last."""
    padded: bool = True
    """Whether a cell may begin or end with white space: the chunk's cells are then stripped as the
    careful path strips them."""


_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[9, 11, 12, 28, 29, 30, 31, 32]] = True
"""The one-byte characters ``str.strip`` removes, but line ends (never inside a plain record)."""

_SPACE_LEAD = {9, 11, 12, 28, 29, 30, 31, 32, 0xC2, 0xE1, 0xE2, 0xE3}
"""The first bytes of the characters ``str.strip`` removes: those one-byte ones and the lead bytes of
U+0085, U+00A0 (two bytes), U+1680, U+2000–200A, U+2028, U+2029, U+202F, U+205F, U+3000 (three)."""


@functools.cache
def _space_leads(sep: int) -> bytes:
    """A ``bytes.translate`` table marking those first bytes with 1 (a tab that separates cells is no
    cell's white space)."""
    return bytes(int(b in _SPACE_LEAD and b != sep) for b in range(256))


def _spaced(data: bytes, sep: int) -> bool:
    """Whether a cell of these records (UTF-8 bytes, whole lines) begins or ends with a character
    ``str.strip`` removes: such a character right after a delimiter or a line start, or right before a
    delimiter or a line end. Only the bytes that may begin such a character are looked at, so a chunk
    costs one pass over its bytes. (A record with a quote is judged by its cells as the csv module
    reads them; this may also say yes of one, which only costs a strip.)"""
    at = np.flatnonzero(np.frombuffer(data.translate(_space_leads(sep)), dtype=bool))
    if not len(at):
        return False
    arr = np.frombuffer(data, dtype=np.uint8)
    top = len(arr) - 1
    a = arr[at].astype(np.int32)
    b = arr[np.minimum(at + 1, top)].astype(np.int32)
    c = arr[np.minimum(at + 2, top)].astype(np.int32)
    three = (
        ((a == 0xE1) & (b == 0x9A) & (c == 0x80))
        | ((a == 0xE2) & (b == 0x80) & ((c <= 0x8A) | (c == 0xA8) | (c == 0xA9) | (c == 0xAF)))
        | ((a == 0xE2) & (b == 0x81) & (c == 0x9F))
        | ((a == 0xE3) & (b == 0x80) & (c == 0x80))
    )
    two = (a == 0xC2) & ((b == 0x85) | (b == 0xA0))
    width = np.where(_ASCII_SPACE[a] & (a != sep), 1, np.where(two, 2, np.where(three, 3, 0)))
    space = width > 0
    at, width = at[space], width[space]
    if not len(at):
        return False
    before = arr[np.maximum(at - 1, 0)]
    after_at = at + width
    after = arr[np.minimum(after_at, top)]
    leading = (at == 0) | (before == sep) | (before == 10)
    trailing = (after_at > top) | (after == sep) | (after == 10) | (after == 13)
    return bool((leading | trailing).any())


def record_chunks(
    table: CsvTable, size: int = CHUNK_BYTES, copy: BinaryIO | None = None, span: tuple[int, int] | None = None
) -> Iterator[Chunk]:
    """The records after the header as chunks of whole records; raises :class:`NotRegular` when a
    record is not plainly regular. A GB18030 table's chunks are transcoded to UTF-8 and, given
    ``copy``, written to it: the chunks' ``base`` are then offsets in the copy. Every chunk must be
    read by :func:`read_chunk`, which finishes the check of the cell counts.

    ``span`` (UTF-8 only): the records between two byte offsets of the file, the first where a record
    starts, the second taken as the end of the file (a quote still open there raises
    :class:`NotRegular`); records are then numbered from 0 at the first offset.

    Read with numpy and ``bytes.count``: line ends and quotes are found as arrays; a record is one
    line unless a quote left open at a line's end continues it. A record with a quote is read by the
    csv module, as the careful path reads it, must have the header's cell count, and the polars
    reading of it must come out the same (see :func:`read_chunk`). The records without a quote must
    hold, together, the header's cell count less one delimiters each: when one of them has more,
    polars refuses it in :func:`read_chunk`, so none has fewer.
    """
    if table.spooled or table.encoding not in ("utf-8", "gb18030") or len(table.delimiter) != 1:
        raise NotRegular
    if table.newline not in (b"\n", b"\r\n"):
        raise NotRegular
    # GB18030 never uses the bytes of a line end, a quote or a delimiter inside a character: a chunk
    # cut at a line end is whole characters, transcoded to UTF-8 as it is read
    gb = table.encoding == "gb18030"
    width = len(table.header)
    sep_byte = table.delimiter.encode()
    sep = ord(sep_byte)
    records = 0
    with table.path.open("rb") as f:
        if span is None:
            f.seek(table.start)
            header = f.readline()
            if b'"' in header or not header.endswith(b"\n"):
                raise NotRegular
            at, left = table.start + len(header), -1  # where ``carry`` starts in the file; bytes left
        else:
            if gb:
                raise NotRegular
            at, left = span[0], span[1] - span[0]
            f.seek(at)
        carry = b""
        while True:
            if left < 0:
                more = f.read(size)
            else:
                more = f.read(min(size, left)) if left else b""
                left -= len(more)
            data = carry + more
            if not data:
                break
            if more:
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    carry = data
                    continue
                data, carry = data[:cut], data[cut:]
            else:
                carry = b""
                if not data.endswith(b"\n"):
                    data += b"\n"
            if gb:
                try:
                    data = data.decode("gb18030").encode("utf-8")
                except UnicodeDecodeError:
                    raise NotRegular from None
            if data.count(b"\r") != data.count(b"\r\n"):
                raise NotRegular  # a carriage return inside a line
            arr = np.frombuffer(data, dtype=np.uint8)
            ends = np.flatnonzero(arr == 10)
            lines = len(ends)
            quoted: dict[int, list[str]] = {}
            if b'"' not in data:
                count = lines
                plain_seps = data.count(sep_byte)
                starts = np.r_[0, ends + 1]
            else:
                q_line = np.bincount(np.searchsorted(ends, np.flatnonzero(arr == 34)), minlength=lines)
                open_at_end = np.cumsum(q_line) % 2 == 1  # a quote left open: the record goes on
                if open_at_end[-1]:
                    if not more:
                        raise NotRegular
                    closed = np.flatnonzero(~open_at_end)
                    keep = int(ends[closed[-1]]) + 1 if len(closed) else 0
                    tail = data[keep:]
                    carry = (tail.decode("utf-8").encode("gb18030") if gb else tail) + carry
                    if keep == 0:
                        continue
                    data, arr = data[:keep], arr[:keep]
                    lines = int(closed[-1]) + 1
                    ends, q_line, open_at_end = ends[:lines], q_line[:lines], open_at_end[:lines]
                count, quoted, starts, plain_seps = _records(data, ends, open_at_end, q_line, table.delimiter, width)
            if plain_seps != (count - len(quoted)) * (width - 1):
                raise NotRegular  # a record without a quote has another cell count than the header
            # a record with a quote is checked by its cells as the csv module reads them, the others
            # by the bytes around their delimiters
            padded = any(v != v.strip() for values in quoted.values() for v in values) or _spaced(data, sep)
            if gb:
                base = copy.tell() if copy is not None else -1
                if copy is not None:
                    copy.write(data)
            else:
                base, at = at, at + len(data)
            yield Chunk(data, records, count, quoted, base, starts, padded)
            records += count
    if not records:
        raise NotRegular


def _blank_line(data: bytes, seps: bytes) -> bool:
    """Whether a line of ``data`` is only delimiters: a record of empty cells. (It may say yes of
    such bytes inside a quoted cell, which only sends the file to the careful reader.)"""
    return any(data.startswith(seps + end) or (b"\n" + seps + end) in data for end in (b"\n", b"\r\n"))


def _records(
    data: bytes, ends: np.ndarray, open_at_end: np.ndarray, quotes: np.ndarray, delimiter: str, width: int
) -> tuple[int, dict[int, list[str]], np.ndarray, int]:
    """Whole lines of a chunk that holds quotes, grouped into records (a line whose quote is left open
    goes on into the next): how many records, the cells of those with a quote as the csv module reads
    them (each must have ``width``), where each record starts (and ``len(data)`` last), and how many
    delimiters the records without a quote hold."""
    line_starts = np.r_[0, ends[:-1] + 1]
    record_end = ~open_at_end
    record_of_line = np.cumsum(np.r_[0, record_end[:-1].astype(np.int64)])
    quotes_in_record = np.bincount(record_of_line, weights=quotes, minlength=int(record_of_line[-1]) + 1) > 0
    first_line = np.flatnonzero(np.r_[True, record_end[:-1]])
    count = len(first_line)
    sep = delimiter.encode()
    plain_seps = data.count(sep)
    quoted: dict[int, list[str]] = {}
    for r in np.flatnonzero(quotes_in_record).tolist():
        lo = int(line_starts[first_line[r]])
        hi = int(ends[first_line[r + 1] - 1]) + 1 if r + 1 < count else len(data)
        plain_seps -= data.count(sep, lo, hi)
        try:
            values = next(csv.reader([data[lo:hi].decode("utf-8", errors="replace")], delimiter=delimiter), [])
        except csv.Error:  # a line break outside quotes: a span that began inside a record
            raise NotRegular from None
        if len(values) != width:
            raise NotRegular
        quoted[r] = values
    return count, quoted, np.r_[line_starts[first_line], len(data)], plain_seps


def read_chunk(table: CsvTable, chunk: Chunk, row: str) -> pl.DataFrame:
    """One chunk of records as text columns ``c0, c1, …`` (cells stripped as the careful path strips
    them) with the record number in ``row``; raises :class:`NotRegular` where the careful reader
    would have something to say."""
    width, first, count, quoted = len(table.header), chunk.first, chunk.count, chunk.quoted
    try:
        df = pl.read_csv(
            io.BytesIO(chunk.data),
            has_header=False,
            new_columns=[f"c{i}" for i in range(width)],
            separator=table.delimiter,
            quote_char='"',
            infer_schema=False,
            empty_string_is_null=False,
            encoding="utf8",
            raise_if_empty=False,
        )
    except Exception:  # anything polars cannot read the careful reader explains
        raise NotRegular from None
    if df.width != width or df.height != count:
        raise NotRegular
    df = df.with_columns(pl.all().fill_null(""))
    if quoted:
        rows = sorted(quoted)
        for r, values in zip(rows, df[rows].rows(), strict=True):
            if [v.replace("\r\n", "\n") for v in values] != [v.replace("\r\n", "\n") for v in quoted[r]]:
                raise NotRegular
    if chunk.padded:
        df = df.with_columns(pl.all().str.strip_chars(PY_SPACE))
    longest = df.select(pl.all().str.len_bytes().max()).row(0)  # a character is a byte or more
    if any((x or 0) > MAX_CELL for x in longest):
        longest = df.select(pl.all().str.len_chars().max()).row(0)
        if any((x or 0) > MAX_CELL for x in longest):
            raise NotRegular
    if chunk.padded:
        if df.height and df.select(pl.all_horizontal(pl.all() == "").any()).item():
            raise NotRegular
    elif _blank_line(chunk.data, table.delimiter.encode() * (width - 1)) or any(
        not any(values) for values in quoted.values()
    ):
        raise NotRegular
    return df.with_columns(pl.Series(row, np.arange(first, first + df.height, dtype=np.int64)))


# ----------------------------------------------------------------------------- the run


LOCATION = np.dtype([("pos", "<i8"), ("len", "<i4"), ("bill", "<i4"), ("line", "<i8")])
"""Where an item line is: its record's offset and length in the UTF-8 text of ITEMS, its bill's
record number in BILLS and its own in ITEMS."""


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
        order = np.argsort(part, kind="stable")
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
class Variant:
    """A set of rules every bill of the run is settled under: the rules, or a reform's. Each has its
    settler (the per-bill engine and the run's sums), OUT writer, caches and line pass."""

    settler: Any
    rules: RuleSet
    writer: Any
    want_state: bool = False
    shared: Shared = field(default_factory=lambda: Shared())
    lines: Any = None
    view: Any = None


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


class _Fan:
    """The line passes of a run's sets of rules, fed the same chunks (one, unless a reform changes a
    catalogue)."""

    def __init__(self, passes: list[LinePass]) -> None:
        self.passes = passes
        self.ctx = passes[0]

    def bills(self, *args: Any) -> None:
        for lp in self.passes:
            lp.bills(*args)

    def start_items(self) -> None:
        for lp in self.passes:
            lp.start_items()

    def lines(self, *args: Any) -> None:
        for lp in self.passes:
            lp.lines(*args)


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


def _file_lines(spill: Spill, p: int, delimiter: str | None) -> FileLines | None:
    """Partition ``p``'s item lines, read back from where :class:`Spill` noted them."""
    if delimiter is None or spill.text is None:
        return None
    return FileLines(spill.text, lambda: spill.locations(p), delimiter)


def _settle_part(job: Parts, p: int, variants: list[Any]) -> list[tuple[Any, Outcome]] | None:
    """Settle partition ``p`` from its spill files under each set of rules (``variants``: settler,
    rules, writer, want_state and shared caches); each set's OUT rows go to a file of their own."""
    bills = job.spill.get("bills", p)
    if bills is None:
        return None
    ytd_in = job.ytd_of(p)
    prepared = _prepare(bills, job.bill_cols, ytd_in)
    if prepared is None:  # the careful path reads the run and says what is wrong
        raise NotRegular
    out = []
    for k, v in enumerate(variants):
        read = _file_lines(job.spill, p, job.items_delimiter)
        view = job.lines[k].part(p)
        run = _Run(bills, prepared.S, job.bill_cols, read, job.item_cols, v.settler, v.rules, v.shared, view)
        rows, outcome = run.settle(prepared, ytd_in, v.want_state)
        del run
        if outcome.finals:  # the final states wait in a file, not in memory, until YTD is written
            from medins.batch import write_finals

            write_finals(outcome.finals, job.spool / f"ytd-{p}-{k}.pickle")
            outcome.finals, outcome.final_files = [], [job.spool / f"ytd-{p}-{k}.pickle"]
        path = job.spool / f"out-{p}-{k}.csv"
        out.append((_spill_output(v.writer, rows, path, max(2_000, OUT_STEP // job.parts)), outcome))
    return out


@dataclass(frozen=True)
class Lines:
    """How OUT's rows become CSV lines in a worker: the writer's kind and its text columns."""

    kind: str
    text: list[int]

    def csv_lines(self, frame: pl.DataFrame) -> bytes:
        from medins.tabular import csv_lines

        return csv_lines(frame, self.text)


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
        """The workers ``started`` (:func:`medins.batch.start_pool_workers`), or started here."""
        from medins.batch import start_pool_workers

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
        from medins.batch import WORKER_POLL

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
        from medins.batch import _stop_workers

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
    from medins.batch import Settler

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
    from medins.batch import WORKER_POLL

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


def _spans(table: CsvTable, count: int) -> list[tuple[int, int]]:
    """The records of a table cut into ``count`` byte ranges (or fewer) at line ends. A cut inside a
    quoted cell that holds a line break is found by :func:`record_chunks` (a quote open at a range's
    end, or a line break outside quotes at its start), and the run then reads the table in one pass."""
    with table.path.open("rb") as f:
        f.seek(table.start)
        begin = table.start + len(f.readline())
        end = f.seek(0, os.SEEK_END)
        cuts = [begin]
        for k in range(1, count):
            f.seek(begin + (end - begin) * k // count)
            f.readline()
            at = f.tell()
            if cuts[-1] < at < end:
                cuts.append(at)
        cuts.append(end)
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


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


def _total(outcomes: list[Outcome], agg: Any) -> Outcome:
    """The partitions' outcomes as one (the aggregates are the run's, ``agg``)."""
    total = Outcome(agg, [], 0, 0, 0, 0, 0, 0, 0, [])
    for o in outcomes:
        total.finals += o.finals
        total.final_files += o.final_files
        total.rejects += o.rejects
        total.bills += o.bills
        total.items_input += o.items_input
        total.accepted += o.accepted
        total.items_ok += o.items_ok
        total.persons += o.persons
        total.settled_persons += o.settled_persons
        total.reordered += o.reordered
    return total


LINE_SLICE = 100_000
"""Item lines are split this many at a time."""

OUT_STEP = 50_000
"""OUT is merged from the partitions this many input rows at a time."""


def _spill_output(writer: Any, out: pl.DataFrame, path: Path, size: int) -> tuple[np.ndarray, Path | list]:
    """A partition's OUT rows: formatted as the final CSV lines in a file, with their input rows, or
    (for an XLSX, or a cell holding a line break) as frames of ``size`` rows in IPC files."""
    rows = out["_row"].to_numpy()
    body = out.drop("_row")
    # only a text column can hold a line break: the others are numbers, dates and flags formatted here
    text = [body.columns[i] for i in writer.text]
    breaks = [pl.col(c).str.contains("\n", literal=True) | pl.col(c).str.contains("\r", literal=True) for c in text]
    if writer.kind == "csv" and not (text and body.select(pl.any_horizontal(breaks).any()).item()):
        with path.open("wb") as f:
            for start in range(0, body.height, 20_000):  # formatted a slice at a time: less held at once
                f.write(writer.csv_lines(body.slice(start, 20_000)))
        return rows, path
    files = []
    for k, start in enumerate(range(0, out.height, size)):
        piece = out.slice(start, size)
        piece_path = path.with_name(f"{path.stem}-{k}.arrow")
        piece.write_ipc(piece_path)
        files.append((int(piece["_row"][0]), int(piece["_row"][-1]), piece_path))
    return rows, files


def _write_in_order(writer: Any, outputs: list[Any], step: int = OUT_STEP) -> None:
    """OUT in input order. Each partition's rows are in input order; the merge takes one line at a
    time from the partition the next row belongs to, holding only a buffer of lines."""
    if len(outputs) == 1 and isinstance(outputs[0], pl.DataFrame):
        writer.write_frame(outputs[0].drop("_row"))
        return
    if all(isinstance(o[1], Path) for o in outputs):
        rows = np.concatenate([o[0] for o in outputs])
        part = np.concatenate([np.full(len(o[0]), p, dtype=np.int32) for p, o in enumerate(outputs)])
        sequence = part[np.argsort(rows, kind="stable")]
        readers = [o[1].open("rb") for o in outputs]
        try:
            for start in range(0, len(sequence), step):
                writer.write_lines(b"".join([readers[p].readline() for p in sequence[start : start + step].tolist()]))
        finally:
            for r in readers:
                r.close()
        return
    _merge_frames(writer, [o[1] if isinstance(o[1], list) else _as_frames(o) for o in outputs], step)


def _as_frames(output: tuple[np.ndarray, Path]) -> list:
    raise SettlementBug("partitions written in two forms")  # both forms come from one writer kind


def _merge_frames(writer: Any, outputs: list[list[tuple[int, int, Path]]], step: int) -> None:
    """OUT in input order from partitions kept as IPC files of a few thousand rows each."""
    queues = [list(files) for files in outputs]
    held: list[list[pl.DataFrame]] = [[] for _ in outputs]
    top = max((files[-1][1] for files in outputs if files), default=-1) + 1
    for start in range(0, top, step):
        end = start + step
        pieces = []
        for p, queue in enumerate(queues):
            while queue and queue[0][0] < end:
                held[p].append(pl.read_ipc(queue.pop(0)[2]))
            keep = []
            for frame in held[p]:
                rows = frame["_row"].to_numpy()
                lo, hi = np.searchsorted(rows, [start, end])
                if hi > lo:
                    pieces.append(frame.slice(int(lo), int(hi - lo)))
                if len(rows) and rows[-1] >= end:
                    keep.append(frame)
            held[p] = keep
        if pieces:
            writer.write_frame(pl.concat(pieces).sort("_row").drop("_row"))


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
    from medins import batch as B

    index: list[tuple[np.ndarray, ...]] = []
    read = 0
    days: dict[str, int] = {"": 0}
    ib, ip = f"c{cols.index['bill_id']}", f"c{cols.index['person_id']}"
    dates = [f"c{cols.index[c]}" for c in B.DATE_COLUMNS if c in cols.index]
    for chunk in record_chunks(table, span=span):
        df = read_chunk(table, chunk, "_row")
        read = chunk.first + chunk.count
        for c in (ib, ip):
            if ((df[c] == "") | df[c].str.contains(_SCIENTIFIC)).any():
                raise NotRegular
        for c in dates:
            for v in df[c].unique().to_list():
                if v not in days:
                    days[v] = B.day_number(v)
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
    if not index:
        return read, tuple(np.zeros(0, dtype=t) for t in (np.uint64, np.uint64, np.int32, np.int32))
    return read, tuple(np.concatenate([chunk[k] for chunk in index]) for k in range(4))


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
        """Each id's bill row and partition; raises :class:`NotRegular` for an id not in BILLS."""
        h = ids.hash(seed=0).to_numpy()
        at = np.minimum(np.searchsorted(self.hash, h), len(self.hash) - 1)
        if (self.hash[at] != h).any() or (self.check[at] != ids.hash(seed=0x5EED).to_numpy()).any():
            raise NotRegular  # an empty, unknown or mangled bill id: the careful path says which
        return self.rows[at], self.parts[at]


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
        for chunk in record_chunks(table, ITEM_CHUNK_BYTES, copy, span):
            df = read_chunk(table, chunk, "_line")
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


@dataclass
class Prepared:
    """One partition's bills, checked, with their year-to-date keys and days."""

    S: dict[str, pl.Series]
    key: np.ndarray
    key_tuples: list[Any]
    service: np.ndarray
    settle_day: np.ndarray
    years: np.ndarray
    scheme: np.ndarray
    day_of: dict[str, np.ndarray]


def _prepare(bills: pl.DataFrame, cols: Any, ytd_in: dict[Any, tuple[int, str, str]]) -> Prepared | None:
    """The checks that need a person's bills together, and each bill's year-to-date key and days."""
    from medins import batch as B

    n = bills.height
    empty = pl.Series([""] * n, dtype=pl.String)
    S = {c: bills[f"c{cols.index[c]}"] if c in cols.index else empty for c in B.BILL_COLUMNS}
    if "person_name" in cols.index:
        named = pl.DataFrame({"p": S["person_id"], "name": S["person_name"]}).filter(pl.col("name") != "")
        if named.height and named.group_by("p").agg(pl.col("name").n_unique().alias("k"))["k"].max() > 1:  # type: ignore[operator]
            return None
    day_of: dict[str, np.ndarray] = {}
    for c in B.DATE_COLUMNS:
        codes, texts = _codes(S[c])
        day_of[c] = np.array([B.day_number(v) if v else 0 for v in texts], dtype=np.int64)[codes]
    service = _first_day(day_of["admitted"], day_of["date"], day_of["discharged"])
    settle_day = _first_day(day_of["discharged"], day_of["date"], day_of["admitted"])
    years = _years(service)
    s_codes, s_texts = _codes(S["scheme"])
    scheme = np.array([B.norm_choice("scheme", x) for x in s_texts], dtype=object)[s_codes]
    key_text = pl.select(
        pl.concat_str(
            [
                S["person_id"],
                S["insured_region"],
                pl.Series(scheme.tolist(), dtype=pl.String),
                pl.Series(years).cast(pl.String),
            ],
            separator="\x00",
        )
    ).to_series()
    key, key_texts = _codes(key_text)
    key_tuples = [(a, b, c, int(d)) for a, b, c, d in (t.split("\x00") for t in key_texts)]
    if ytd_in:
        earliest = np.full(len(key_tuples), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(earliest, key, np.where(service > 0, service, np.iinfo(np.int64).max))
        for k, kt in enumerate(key_tuples):
            entry = ytd_in.get(kt)
            if entry is not None and earliest[k] < entry[0]:
                return None
    return Prepared(S, key, key_tuples, service, settle_day, years, scheme, day_of)


def _day_numbers(texts: pl.Series, days: dict[str, int]) -> np.ndarray:
    """Date texts as day numbers, each distinct text looked up once in ``days``."""
    codes, distinct = _codes(texts)
    return np.array([days[v] for v in distinct], dtype=np.int64)[codes]


def _first_day(*columns: np.ndarray) -> np.ndarray:
    out = columns[-1]
    for c in reversed(columns[:-1]):
        out = np.where(c > 0, c, out)
    return out


def _years(days: np.ndarray) -> np.ndarray:
    uniq, inv = np.unique(days, return_inverse=True)
    ys = np.array([date.fromordinal(int(d)).year if d else 0 for d in uniq], dtype=np.int64)
    return ys[inv.reshape(-1)]


def _groups(*cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's group among the distinct rows of integer ``cols``, and each group's first row.

    The columns are folded into one int64 key, renumbered densely whenever the next column would
    make it outgrow int64.
    """
    n = len(cols[0])
    combined = np.zeros(n, dtype=np.int64)
    size = 1
    for c in cols:
        c = np.asarray(c, dtype=np.int64)
        low = int(c.min()) if n else 0
        span = (int(c.max()) - low + 1) if n else 1
        if size * span >= 2**62:
            _, combined = np.unique(combined, return_inverse=True)
            combined = combined.reshape(-1).astype(np.int64)
            size = int(combined.max()) + 1 if n else 1
        combined = combined * span + (c - low)
        size *= span
    _, first, inv = np.unique(combined, return_index=True, return_inverse=True)
    return inv.reshape(-1), first


def _index(values: list[str], value: str) -> int:
    return values.index(value) if value in values else -1


def _table(values: list[Any], codes: np.ndarray, dtype: Any = object) -> np.ndarray:
    return np.array(values, dtype=dtype)[codes]


class Shared:
    """What one run learns once and every partition reuses: the case model's verdicts on distinct
    persons, filings and visits, catalogue contexts and lookups, eligibility without dates, rule cells."""

    def __init__(self) -> None:
        self.parts: dict[tuple, Any] = {}
        self.resolved: dict[tuple, Any] = {}
        self.statics: dict[tuple, Any] = {}
        self.cells: dict[tuple, Cell] = {}
        self.contexts: dict[tuple, Any] = {}


@dataclass(frozen=True, slots=True)
class _ItemName:
    """What :func:`medins.engine.lines.resolve_item` reads of an item."""

    code: str | None
    name: str | None
    dosage_form: str | None
    spec: str | None


WARNING_CODES = ("ITEM_NOT_IN_CATALOGUE", "RESTRICTION_NOT_MET", "RESTRICTION_ASSUMED_MET", "CEILING_SPEC_UNKNOWN")
NEVER = np.iinfo(np.int32).max
"""No such warning on the bill's lines. Line positions are held in int32: ITEMS may have up to 10^9 lines."""


class LinePass:
    """What each bill's item lines add up to, found while ITEMS is read once, chunk by chunk.

    Indexed by the bill's record number in BILLS: the catalogue context of the bill (its treatment
    place's catalogue, or the insured place's for a local visit, with the settings in force on its
    day), the sum of its lines' amounts and of their four parts, how many lines it has, whether one
    of them is one the arrays leave to the case model, and where each line warning first appears
    (line number × 2, + 1 for the second warning a line may raise), so the warnings come out in the
    order the per-bill engine raises them.
    """

    ARRAYS = ("ctx", "late", "total", "fully", "over", "pre", "count", "bad", "first")

    def __init__(self, rules: RuleSet, shared: Shared) -> None:
        self.rules, self.shared = rules, shared
        self._ctx: list[np.ndarray] = []
        self._late: list[np.ndarray] = []
        self.contexts: list[_Ctx] = []
        self.keys: list[tuple[str, int]] = []
        """For each context, the place and day (a day number) it was first found for."""
        self._numbers: dict[int, int] = {}
        # the (context, item) pairs resolved so far: two hashes of each, sorted by the first, and the
        # row of what it resolved to
        self._h1 = np.zeros(0, dtype=np.uint64)
        self._h2 = np.zeros(0, dtype=np.uint64)
        self._row = np.zeros(0, dtype=np.int64)
        self._table = np.zeros((0, 5), dtype=np.int64)

    def start_items(self) -> None:
        """After the last chunk of BILLS: the arrays the lines add up into."""
        self.ctx = np.concatenate(self._ctx) if self._ctx else np.zeros(0, dtype=np.int32)
        self.late = np.concatenate(self._late) if self._late else np.zeros(0, dtype=bool)
        self._ctx, self._late = [], []
        self._sums(len(self.ctx))

    def _sums(self, bills: int) -> None:
        self.total = np.zeros(bills, dtype=np.int64)
        self.fully = np.zeros(bills, dtype=np.int64)
        self.over = np.zeros(bills, dtype=np.int64)
        self.pre = np.zeros(bills, dtype=np.int64)
        self.count = np.zeros(bills, dtype=np.int32)
        self.bad = np.zeros(bills, dtype=bool)
        self.first = np.full((bills, len(WARNING_CODES)), NEVER, dtype=np.int32)

    SUMS = ("total", "fully", "over", "pre", "count", "bad", "first")

    def ranged(self, ctx: np.ndarray, keys: list[tuple[str, int]]) -> LinePass:
        """This pass, empty, ready to read a range of ITEMS for bills whose contexts another pass
        found: ``ctx`` each bill's context, ``keys`` each context's place and day."""
        self.ctx = ctx
        for place, day in keys:
            got = self._context(place, date.fromordinal(day))
            if got is None:
                raise SettlementBug(f"no catalogue context for {place} on day {day}")
            self.contexts.append(got[0])
        self._sums(len(ctx))
        return self

    def found(self) -> dict[str, np.ndarray]:
        """The sums of the bills that have lines here (``bills``: their record numbers): what a range
        of ITEMS sends, in proportion to its lines rather than to BILLS."""
        bills = np.flatnonzero(self.count)
        return {"bills": bills, **{name: getattr(self, name)[bills] for name in self.SUMS}}

    def add(self, sums: dict[str, np.ndarray], lines_before: int) -> None:
        """Add what a pass over a later range of ITEMS found (:meth:`found`; ``lines_before``: the lines
        before the range)."""
        at = sums["bills"]
        for name in ("total", "fully", "over", "pre", "count"):
            getattr(self, name)[at] += sums[name]
        self.bad[at] |= sums["bad"]
        first = sums["first"].astype(np.int64)
        seen = first != NEVER
        first[seen] += 2 * lines_before
        if (first[seen] >= NEVER).any():
            raise NotRegular  # past what the warnings' positions hold: the careful path reads it
        self.first[at] = np.minimum(self.first[at], first.astype(np.int32))

    def drop_sums(self) -> None:
        """Let the arrays go once a view of them has been split by partition."""
        for name in self.ARRAYS:
            setattr(self, name, None)

    def view(self) -> LineView:
        """What a partition reads: the arrays, and per context what the bills need of it."""
        return LineView(
            {a: getattr(self, a) for a in self.ARRAYS},
            [(c.drug_ratio, c.settings_illus, c.dl_illus) for c in self.contexts],
        )

    # -- bills: each one's catalogue context
    def bills(self, insured: pl.Series, treated: pl.Series, service: np.ndarray) -> None:
        """The next chunk of BILLS, in file order."""
        i_code, i_text = _codes(insured)
        t_code, t_text = _codes(treated)
        grp, first = _groups(i_code, t_code, service)
        ctx = np.full(len(first), -1, dtype=np.int32)
        late = np.zeros(len(first), dtype=bool)
        for g, i in enumerate(first.tolist()):
            ins, tre = i_text[i_code[i]], t_text[t_code[i]]
            if not service[i]:
                continue
            place = ins if visit_place(ins, tre) == "local" else tre
            key = ("day", place, int(service[i]))
            if key not in self.shared.contexts:
                self.shared.contexts[key] = self._context(place, date.fromordinal(int(service[i])))
            got = self.shared.contexts[key]
            if got is not None:
                c, ctx_late = got
                number = self._numbers.get(id(c))
                if number is None:
                    number = self._numbers[id(c)] = len(self.contexts)
                    self.contexts.append(c)
                    self.keys.append((place, int(service[i])))
                ctx[g], late[g] = number, ctx_late
        self._ctx.append(ctx[grp])
        self._late.append(late[grp])

    def adopt_bills(self, ctx: np.ndarray, late: np.ndarray, keys: list[tuple[str, int]]) -> None:
        """The next range of BILLS, read by another pass: its bills' contexts (numbered in that pass,
        ``keys`` each one's place and day) numbered in this one."""
        remap = np.full(len(keys) + 1, -1, dtype=np.int32)  # the last: no context
        for j, (place, day) in enumerate(keys):
            key = ("day", place, day)
            if key not in self.shared.contexts:
                self.shared.contexts[key] = self._context(place, date.fromordinal(day))
            got = self.shared.contexts[key]
            if got is None:
                raise SettlementBug(f"no catalogue context for {place} on day {day}")
            number = self._numbers.get(id(got[0]))
            if number is None:
                number = self._numbers[id(got[0])] = len(self.contexts)
                self.contexts.append(got[0])
                self.keys.append((place, day))
            remap[j] = number
        self._ctx.append(remap[np.where(ctx >= 0, ctx, len(keys))])
        self._late.append(late)

    def _context(self, place: str, on: date) -> tuple[_Ctx, bool] | None:
        pack = self.rules.packs.get(place)
        catalogue = pack.catalogue if pack else None
        if catalogue is None:
            return None
        section = next((s for s in catalogue.settings if s.in_force(on)), None)
        if section is None:
            return None
        drug = ratio_units(section.pre_self_pay.drug)
        if drug is None:
            return None
        index = self.rules.drugs(catalogue.drug_list)
        dl = index.drug_list
        out_of_date = on < dl.effective or (dl.until is not None and on > dl.until)
        known = self.shared.contexts.get((place, id(section)))
        if known is None:
            cited = [catalogue.sources.get(i) for i in section.source_ids]
            known = self.shared.contexts[(place, id(section))] = _Ctx(
                catalogue_index(self.rules.cache, catalogue, section, index),
                drug,
                any(s is not None and s.confidence == "illustrative" for s in cited),
                dl.source.confidence == "illustrative",
            )
        return known, out_of_date

    # -- item lines
    def lines(self, items: pl.DataFrame, item_cols: Any, nb: np.ndarray, line_no: np.ndarray) -> None:
        """Split the lines of a chunk of ITEMS (``nb``: each line's bill, ``line_no``: its record number)."""
        if len(line_no) and int(line_no[-1]) >= 10**9:
            raise NotRegular  # past what the warnings' positions hold: the careful path reads it
        from medins import batch as B
        from medins.case_model import Item

        icol = {name: f"c{i}" for name, i in item_cols.index.items()}

        def ic(name: str) -> pl.Series:
            return items[icol[name]] if name in icol else pl.Series([""] * items.height)

        # numbers, parsed as columns
        q_text, p_text, a_text = ic("quantity"), ic("unit_price"), ic("amount")
        q, p, a = _units_cols([(q_text, _QUANTITY, 4, 10**4), (p_text, _PRICE, 4, -1), (a_text, _AMOUNT, 2, -1)])
        has_p = (p_text != "").to_numpy()
        has_a = (a_text != "").to_numpy()
        bad = (q <= 0) | (has_p & (p < 0)) | (has_a & (a < 0)) | (~has_p & ~has_a)
        qp = np.where(has_p & ~bad, q * np.maximum(p, 0), 0)  # 10^-8 yuan: < 10^18 by the patterns
        amount = np.where(has_a, a, half_up(qp, 10**6))
        bad |= has_p & has_a & (np.abs(qp - a * 10**6) > 10**6)
        # an item names itself by code or name (the case model's one rule on its texts); whether its
        # restriction is met is read once per distinct text
        bad |= ~((ic("code") != "") | (ic("name") != "")).to_numpy()
        r_code, r_text = _codes(ic("restriction_met"))
        r_value = [B.norm_bool(x) if x else None for x in r_text]
        bad |= np.array([v is not None and not isinstance(v, bool) for v in r_value], dtype=bool)[r_code]
        met = np.array([v is True for v in r_value], dtype=bool)[r_code]
        not_met = np.array([v is False for v in r_value], dtype=bool)[r_code]
        # each distinct item looked up once in each catalogue
        key = pl.select(
            pl.concat_str([ic(c) for c in ("code", "name", "dosage_form", "spec")], separator="\x00")
        ).to_series()
        ctx_line = self.ctx[nb]
        per = self._resolved(ctx_line, key, Item)
        line_class, line_pre, ceiling = per[:, 0], per[:, 1], per[:, 2]
        restricted, note = per[:, 3] > 0, per[:, 4] > 0
        bad |= line_class < 0
        np.logical_or.at(self.bad, nb, bad)
        self.count += np.bincount(nb, minlength=len(self.count)).astype(np.int32)
        full = (line_class <= 1) | (restricted & not_met)
        has_ceiling = ceiling >= 0
        with_p = ~full & has_ceiling & has_p & (p > ceiling)
        over_line = np.where(with_p, np.minimum(amount, half_up(np.maximum(p - ceiling, 0) * q, 10**6)), 0)
        # a ceiling without a unit price: the unit is amount / quantity, in Decimal as the engine does
        from medins.money import fen

        for j in np.nonzero(~full & has_ceiling & ~has_p & ~bad)[0]:
            qty = Decimal(q_text[int(j)] or "1")
            amt = Decimal(int(amount[j])) / 100
            unit = amt / qty
            c = Decimal(int(ceiling[j])) / 10**4
            if unit > c:
                over_line[j] = min(int(amount[j]), int(fen((unit - c) * qty) * 100))
        pre_line = np.where(~full & (line_class == 3), half_up((amount - over_line) * line_pre, SCALE), 0)
        fully_line = np.where(full, amount, 0)
        ok = ~bad
        np.add.at(self.total, nb[ok], amount[ok])
        np.add.at(self.fully, nb[ok], fully_line[ok])
        np.add.at(self.over, nb[ok], over_line[ok])
        np.add.at(self.pre, nb[ok], pre_line[ok])
        # where each warning first appears: a line's first warning, then its second
        w1 = np.where(
            line_class == 0,
            0,
            np.where(
                (line_class > 1) & restricted & not_met,
                1,
                np.where((line_class > 1) & restricted & ~met & ~not_met, 2, -1),
            ),
        )
        w2 = ~full & ~has_ceiling & note
        flat = self.first.reshape(-1)
        width = len(WARNING_CODES)
        one = ok & (w1 >= 0)
        np.minimum.at(flat, nb[one] * width + w1[one], (line_no[one] * 2).astype(np.int32))
        two = ok & w2
        np.minimum.at(flat, nb[two] * width + 3, (line_no[two] * 2 + 1).astype(np.int32))

    NONE = (-1, 0, -1, 0, 0)
    """What a line of no catalogue context resolves to: a class the arrays leave to the case model."""

    def _resolved(self, ctx_line: np.ndarray, key: pl.Series, Item: Any) -> np.ndarray:
        """Each line's item as its context's catalogue resolves it: class, pre-self-pay share, ceiling,
        restricted, note (rows of int64). Each distinct (context, item) is resolved once in the run;
        known ones are found by two 64-bit hashes of the pair, in sorted arrays."""
        pairs = pl.DataFrame({"c": ctx_line, "k": key})
        h1 = pairs.hash_rows(seed=0).to_numpy()
        h2 = pairs.hash_rows(seed=0x5EED).to_numpy()
        live = ctx_line >= 0
        at = np.minimum(np.searchsorted(self._h1, h1), max(len(self._h1) - 1, 0))
        known = (self._h1[at] == h1) if len(self._h1) else np.zeros(len(h1), dtype=bool)
        new = live & ~known
        if new.any():
            _, first = np.unique(h1[new], return_index=True)
            lines = np.flatnonzero(new)[first]
            lookups = self.shared.resolved
            rows = []
            for j in lines.tolist():
                context, text = self.contexts[int(ctx_line[j])], key[j]
                found = lookups.get((id(context), text))
                if found is None:
                    found = lookups[(id(context), text)] = _resolve(context, *text.split("\x00"), Item)
                rows.append(found if found is not False else self.NONE)
            start = len(self._table)
            self._table = np.vstack([self._table, np.array(rows, dtype=np.int64).reshape(-1, 5)])
            h1_all = np.concatenate([self._h1, h1[lines]])
            h2_all = np.concatenate([self._h2, h2[lines]])
            row_all = np.concatenate([self._row, np.arange(start, start + len(lines), dtype=np.int64)])
            order = np.argsort(h1_all, kind="stable")
            self._h1, self._h2, self._row = h1_all[order], h2_all[order], row_all[order]
            if len(self._h1) > 1 and (self._h1[1:] == self._h1[:-1]).any():
                raise NotRegular  # two pairs sharing a hash (odds about 2^-64): the careful path reads it
            at = np.minimum(np.searchsorted(self._h1, h1), len(self._h1) - 1)
        if not ((self._h1[at] == h1) & (self._h2[at] == h2) | ~live).all():
            raise NotRegular  # an item sharing another's first hash only: the careful path reads it
        row = np.where(live, self._row[at] if len(self._row) else 0, 0)
        return np.where(live[:, None], self._table[row], np.array(self.NONE, dtype=np.int64))


@dataclass
class LineView:
    """The line pass as a partition reads it: arrays by bill, and per context its drug ratio and
    whether its settings and drug list are illustrative.

    The arrays are indexed by record number in BILLS; or, in a partition's view (:meth:`part`), they
    hold that partition's bills only, whose record numbers ``rows`` gives in ascending order. A view
    :meth:`split` by partition holds no arrays, only the files of each partition's (picklable: sent to
    ``--jobs`` workers)."""

    arrays: dict[str, np.ndarray]
    contexts: list[tuple[int, bool, bool]]
    rows: np.ndarray | None = None
    files: list[Path] | None = None

    def split(self, folder: Path, part_of: np.ndarray, parts: int, prefix: str = "") -> LineView:
        """The arrays cut by partition (``part_of``: each bill's), a file of the spool each."""
        order = np.argsort(part_of, kind="stable")  # by partition, then record number
        bounds = np.searchsorted(part_of[order], np.arange(parts + 1))
        files = []
        for p in range(parts):
            rows = order[bounds[p] : bounds[p + 1]]
            path = folder / f"lines{prefix}-{p}.pickle"
            with path.open("wb") as f:
                pickle.dump((rows, {k: v[rows] for k, v in self.arrays.items()}), f, protocol=pickle.HIGHEST_PROTOCOL)
            files.append(path)
        return LineView({}, self.contexts, files=files)

    def part(self, p: int) -> LineView:
        """What partition ``p`` reads: this view, or its file when the view was split."""
        if self.files is None:
            return self
        with self.files[p].open("rb") as f:
            rows, arrays = pickle.load(f)
        return LineView(arrays, self.contexts, rows=rows)

    def take(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The arrays for these bills (``rows``: record numbers in BILLS)."""
        if self.rows is None:
            return {k: np.asarray(v[rows]) for k, v in self.arrays.items()}
        at = np.searchsorted(self.rows, rows)
        if len(rows) and (
            (at >= len(self.rows)).any() or (self.rows[np.minimum(at, len(self.rows) - 1)] != rows).any()
        ):
            raise SettlementBug("a bill's line sums are not in its partition's file")
        return {k: v[at] for k, v in self.arrays.items()}


def _resolve(ctx: Any, code: str, name: str, form: str, spec: str, Item: Any) -> Any:
    """``(class, pre-self-pay ratio, ceiling, restricted, ceiling note)`` of an item in a catalogue; False
    when the lookup raises (an ambiguous name) or a value is not exact in the arrays' units."""
    item = _ItemName(code or None, name or None, form or None, spec or None)
    try:
        r = resolve_item(item, ctx.index, "items[0]")
    except MedinsError:
        return False
    if r is None:
        return (0, 0, -1, False, False)
    cls = {"C": 1, "A": 2, "B": 3}.get(r.item_class)
    if cls is None:
        return False
    ratio = ratio_units(r.pre_ratio) if cls == 3 else 0
    if ratio is None:
        return False
    ceiling = -1
    if r.ceiling is not None:
        scaled = r.ceiling * 10**4
        if scaled != scaled.to_integral_value() or scaled >= 2**32:
            return False
        ceiling = int(scaled)
    return (cls, ratio, ceiling, bool(r.restriction), r.ceiling_note is not None)


class ItemLines:
    """The item lines of a partition's bills, read back for a bill settled one at a time: each line's
    row number in ITEMS (as messages count them) and its cells, stripped, in input order."""

    def __init__(self) -> None:
        self._order: np.ndarray | None = None
        self._bills: np.ndarray = np.zeros(0, dtype=np.int64)
        self._start: np.ndarray = np.zeros(1, dtype=np.int64)

    def _index(self, bills: np.ndarray, lines: np.ndarray) -> None:
        self._order = np.lexsort((lines, bills))
        self._bills, counts = np.unique(bills[self._order], return_counts=True)
        self._start = np.r_[0, np.cumsum(counts)]

    def _at(self, bill: int) -> np.ndarray:
        assert self._order is not None
        k = int(np.searchsorted(self._bills, bill))
        if k == len(self._bills) or self._bills[k] != bill:
            return self._order[:0]
        return self._order[self._start[k] : self._start[k + 1]]

    def of(self, bill: int) -> list[tuple[int, list[str]]]:
        raise NotImplementedError


class FileLines(ItemLines):
    """Lines read back from the UTF-8 text of ITEMS, where the partition's locations say they are."""

    def __init__(self, text: Path, locations: Callable[[], np.ndarray], delimiter: str) -> None:
        super().__init__()
        self.text, self.locations, self.delimiter = text, locations, delimiter
        self.where = np.zeros(0, dtype=LOCATION)

    def of(self, bill: int) -> list[tuple[int, list[str]]]:
        if self._order is None:
            self.where = self.locations()
            self._index(self.where["bill"], self.where["line"])
        out = []
        with self.text.open("rb") as f:
            for j in self._at(bill).tolist():
                f.seek(int(self.where["pos"][j]))
                record = f.read(int(self.where["len"][j])).decode("utf-8")
                cells = next(csv.reader([record], delimiter=self.delimiter))
                out.append((int(self.where["line"][j]) + 2, [c.strip() for c in cells]))
        return out


class FrameLines(ItemLines):
    """Lines held in a frame of text columns with ``_bill`` and ``_line`` (:func:`settle_table`)."""

    def __init__(self, frame: pl.DataFrame) -> None:
        super().__init__()
        self.frame = frame
        self.cells = frame.select([c for c in frame.columns if c not in ("_line", "_bill")])

    def of(self, bill: int) -> list[tuple[int, list[str]]]:
        if self._order is None:
            self._index(self.frame["_bill"].to_numpy(), self.frame["_line"].to_numpy())
        line = self.frame["_line"]
        return [(int(line[j]) + 2, list(self.cells.row(j))) for j in self._at(bill).tolist()]


class _Coded(dict):  # type: ignore[type-arg]
    """A partition's columns as :func:`_codes` gives them (``part`` 0: each bill's code, 1: the
    distinct values), each column's computed when first asked for: most runs never ask for some
    (the bill ids, the dates), whose codes would cost the most."""

    def __init__(self, S: dict[str, pl.Series], part: int, coded: dict[str, tuple[np.ndarray, list[str]]]) -> None:
        super().__init__()
        self.S, self.part, self.coded = S, part, coded

    def __missing__(self, c: str) -> Any:
        if c not in self.coded:
            self.coded[c] = _codes(self.S[c])
        value = self[c] = self.coded[c][self.part]
        return value


class _Run:
    def __init__(
        self,
        bills: pl.DataFrame,
        S: dict[str, pl.Series],
        bill_cols: Any,
        items: ItemLines | None,
        item_cols: Any,
        settler: Any,
        rules: RuleSet,
        shared: Shared,
        lines: LineView | None,
    ) -> None:
        """``items`` gives the item lines of a bill settled one at a time."""
        self.shared = shared
        self.S, self.bill_cols, self.item_cols = S, bill_cols, item_cols
        self.settler, self.rules = settler, rules
        self.n = n = bills.height
        self.row = bills["_row"].to_numpy()  # each bill's record number in BILLS (0 the first after the header)
        self.shown = self.row  # the record numbers messages name (a partition's own when it is a file's part)
        self.bills = bills.select([c for c in bills.columns if c != "_row"])
        self.items = items
        self.lines = lines
        self.line_of = lines.take(self.row) if lines is not None else None
        self.alone = np.zeros(n, dtype=bool)
        coded: dict[str, tuple[np.ndarray, list[str]]] = {}
        self.code: dict[str, np.ndarray] = _Coded(S, 0, coded)
        self.uniq: dict[str, list[str]] = _Coded(S, 1, coded)

    # -- one bill by the case model and the per-bill engine
    def one(self, i: int, ytd_json: str | None) -> tuple[Any, ...]:
        values = list(self.bills.row(i))
        rows: list[tuple[int, list[str]]] = []
        count = int(self.line_of["count"][i]) if self.line_of is not None else 0
        if count:
            if self.items is None:
                raise SettlementBug("a bill's item lines are missing from its partition")
            rows = self.items.of(int(self.row[i]))
            if len(rows) != count:
                raise SettlementBug(
                    f"bill row {int(self.row[i]) + 2}: {len(rows)} item lines read back, {count} counted"
                )
        return self.settler._one(int(self.shown[i]) + 2, values, rows, ytd_json)

    def settle(
        self, prepared: Prepared, ytd_in: dict[Any, tuple[int, str, str]], want_state: bool
    ) -> tuple[pl.DataFrame, Outcome]:
        """Settle the partition: its OUT rows (with ``_row``, the BILLS record number) and its outcome."""
        from medins import batch as B

        key, key_tuples, service, settle_day = prepared.key, prepared.key_tuples, prepared.service, prepared.settle_day
        years, scheme, day_of = prepared.years, prepared.scheme, prepared.day_of
        n, settler = self.n, self.settler
        line_count = self.line_of["count"] if self.line_of is not None else np.zeros(n, dtype=np.int64)
        has_lines = line_count > 0
        C, U = self.code, self.uniq
        insured = _table(U["insured_region"], C["insured_region"])
        treated = _table(U["visit_region"], C["visit_region"])
        visit_type = _table([B.norm_choice("visit_type", x) for x in U["visit_type"]], C["visit_type"])

        # -- the fields of each bill, checked by the case model once per distinct value of each part
        combo_info, combo_of = self._check_fields(day_of, has_lines)
        d = day_of
        self.alone |= (d["filing_end"] > 0) & (d["filing_start"] > 0) & (d["filing_end"] < d["filing_start"])
        both = (d["admitted"] > 0) & (d["discharged"] > 0)
        self.alone |= both & ((d["discharged"] < d["admitted"]) | (d["discharged"] - d["admitted"] > 366))

        # -- where the visit is, seen from the insured place
        pair, pair_first = _groups(C["insured_region"], C["visit_region"])
        places = [visit_place(insured[i], treated[i]) for i in pair_first]
        place = _table(places, pair)

        # -- lines and bill parts
        total, fully, over, pre, line_warn, ctx_illus = self._parts(has_lines)
        in_scope = total - fully - over - pre

        # -- the dated sections of each insured place's standards in force on each bill's day
        sig_of = self._sections(insured, service)

        # -- eligibility, then cells
        elig = self._eligibility(combo_info, combo_of, service, settle_day, place, scheme, d, sig_of)
        cells, cell_of, visit_code, disease_of = self._cells(elig, combo_info, combo_of, service, scheme, sig_of)
        g = gather_cells(cells, cell_of)
        self.alone |= ~np.array([c.ok for c in cells], dtype=bool)[cell_of]
        self.alone |= total > LIMIT

        # -- year-to-date state, then the waves
        state, slot = self._state(key, key_tuples, visit_code, disease_of, ytd_in)
        amounts = {"total": total, "pre": pre, "in_scope": in_scope}
        results, vector_done, from_one, last_bill, one_day = self._in_waves(
            g, key, service, years, slot, visit_code, disease_of, amounts, state
        )
        # -- the identities of domain §4.5, over the arrays
        v = vector_done
        fund = results["basic"] + results["tier2"] + results["assist"]
        if (
            (total[v] != fund[v] + results["personal"][v]).any()
            or (results["personal"][v] < 0).any()
            or (results["basic"][v] > (in_scope - results["offsite"])[v]).any()
            or (in_scope[v] < 0).any()
        ):
            raise SettlementBug("a bill settled over columns does not reconcile")

        # -- OUT rows in input order: the arrays' rows and the per-bill engine's, merged by row
        elig["reason_codes"], elig["reason_words"] = self._reason_columns(elig, service, settle_day, vector_done)
        frame = self._rows(
            v, visit_type, service, total, fully, over, pre, in_scope, results, elig, g, line_warn, ctx_illus
        )
        rejects: list[Any] = []
        singles: list[list[str]] = []
        single_rows: list[int] = []
        for i in sorted(from_one):
            res = from_one[i]
            if res[0] is None:
                rejects.extend(res[1])
            else:
                singles.append(res[0])
                single_rows.append(i)
        if singles:
            extra = (
                pl.DataFrame(singles, schema=frame.columns[1:], orient="row")
                .with_columns(pl.Series("_row", self.row[single_rows], dtype=pl.Int64))
                .select(frame.columns)
            )
            frame = pl.concat([frame, extra]).sort("_row")
        accepted = frame.height
        items_ok = int(line_count[v].sum()) + sum(int(line_count[i]) for i in single_rows)
        # -- aggregates: the per-bill engine added its bills to settler.agg; the arrays add theirs
        self._aggregate(settler.agg, v, visit_type, insured, treated, settle_day, total, results, elig, g)
        finals: list[tuple[Any, str, str]] = []
        if want_state:
            keys = np.nonzero(last_bill >= 0)[0]
            texts = self._states_json(state, keys)
            for k, text in zip(keys.tolist(), texts, strict=True):
                i = int(last_bill[k])
                day = one_day.get(i) or date.fromordinal(int(service[i])).isoformat()
                ytd = self.key_alone.get(k, text)
                finals.append((key_tuples[k], day, ytd))
        accepted_mask = vector_done.copy()
        for i, res in from_one.items():
            accepted_mask[i] = res[0] is not None
        persons = self.code["person_id"]
        return frame, Outcome(
            settler.agg,
            finals,
            self.n,
            int(line_count.sum()),
            accepted,
            items_ok,
            len(self.uniq["person_id"]),
            len(np.unique(persons[accepted_mask])),
            _reordered(key, service),
            rejects,
        )

    def _sections(self, insured: np.ndarray, service: np.ndarray) -> np.ndarray:
        """Each bill's signature of dated sections in force (offsite, filing, assistance, and each
        scheme's benefits, chronic and tier 2), numbered the same across partitions."""
        grp, first = _groups(self.code["insured_region"], service)
        sigs = self.shared.__dict__.setdefault("sigs", {})
        g_sig = np.zeros(len(first), dtype=np.int64)
        for gi, i in enumerate(first.tolist()):
            pack = self.rules.packs.get(insured[i])
            if pack is None or pack.standards is None:
                continue  # such a bill is refused by the per-bill engine, which says why
            on = date.fromordinal(int(service[i]))
            sig = tuple(next((id(x) for x in group if x.in_force(on)), None) for group in _dated_groups(pack.standards))
            g_sig[gi] = sigs.setdefault(sig, len(sigs))
        return g_sig[grp]

    def _state(self, key, key_tuples, visit_code, disease_of, ytd_in):  # type: ignore[no-untyped-def]
        """The year-to-date arrays (from ``--ytd-in``) and each bill's slot in them: inpatient and
        outpatient per key, and one per key and chronic disease."""
        nkeys = len(key_tuples)
        slot = np.where(visit_code == INPATIENT, 2 * key, 2 * key + 1)
        chronic_slots: dict[tuple[int, str], int] = {}
        for i in np.nonzero(visit_code == CHRONIC)[0].tolist():
            kd = (int(key[i]), disease_of[i])
            sl = chronic_slots.get(kd)
            if sl is None:
                sl = chronic_slots[kd] = 2 * nkeys + len(chronic_slots)
            slot[i] = sl
        # the keys --ytd-in has amounts for, and a slot for each chronic disease they name (a disease
        # none of this run's bills is for is carried to --ytd-out as it came)
        found = [(k, ytd_in[kt][2]) for k, kt in enumerate(key_tuples) if kt in ytd_in] if ytd_in else []
        # as _load_ytd wrote them from the checked model (trusted), read in one go
        datas = json.loads("[" + ",".join(text for _, text in found) + "]")
        for (k, _), data in zip(found, datas, strict=True):
            for d in data["chronic"]:
                if (k, d) not in chronic_slots:
                    chronic_slots[(k, d)] = 2 * nkeys + len(chronic_slots)
        state = State(nkeys, 2 * nkeys + len(chronic_slots))
        self.chronic_order: dict[int, list[str]] = {}
        self.chronic_slots = chronic_slots
        self.loaded: set[int] = set()
        self.key_alone: dict[int, str | None] = {}  # keys kept as JSON, settled one bill at a time
        kept = self._load_states(state, [k for k, _ in found], key_tuples, datas)
        for (k, text), ok in zip(found, kept, strict=True):
            if not ok:
                self.key_alone[k] = text
        return state, slot

    def _in_waves(self, g, key, service, years, slot, visit_code, disease_of, amounts, state):  # type: ignore[no-untyped-def]
        """Settle wave after wave: the arrays' bills together, then the wave's bills left to the per-bill
        engine, each from the year-to-date amounts the arrays carried to it."""
        n, nkeys = self.n, len(state.admissions)
        results = {
            f: np.zeros(n, dtype=np.int64) for f in ("offsite", "deductible", "basic", "tier2", "assist", "personal")
        }
        vector_done = np.zeros(n, dtype=bool)
        from_one: dict[int, tuple[Any, ...]] = {}
        last_bill = np.full(nkeys, -1, dtype=np.int64)
        one_day: dict[int, str] = {}
        alone_key = np.zeros(nkeys, dtype=bool)
        for k in self.key_alone:
            alone_key[k] = True
        for w in waves(key, service):
            alone_w = self.alone[w] | alone_key[key[w]]
            vec = w[~alone_w]
            late = w[alone_w]
            if len(vec):
                r = settle_wave(g, vec, slot, key, visit_code, amounts, state)
                over_ceiling = apply_wave(state, vec, slot, key, visit_code, years, r)
                ok = ~over_ceiling
                done = vec[ok]
                self._note_chronic(done, key, visit_code, disease_of)
                for f in results:
                    results[f][done] = getattr(r, f)[ok]
                vector_done[done] = True
                last_bill[key[done]] = done
                late = np.concatenate([late, vec[over_ceiling]])
            for i in late.tolist():
                k = int(key[i])
                ytd_json = self.key_alone[k] if k in self.key_alone else self._state_json(state, k)
                res = self.one(i, ytd_json)
                from_one[i] = res
                out, _rejects, ytd_after, day = res
                if out is not None:
                    last_bill[k] = i
                    one_day[i] = day
                    if k in self.key_alone or not self._store(state, k, ytd_after):
                        self.key_alone[k] = ytd_after.model_dump_json()
                        alone_key[k] = True
        if not (vector_done | np.isin(np.arange(n), list(from_one))).all():
            raise SettlementBug("a bill was neither settled nor rejected")
        return results, vector_done, from_one, last_bill, one_day

    # -- pieces
    PERSON = ("insured_region", "scheme", "status", "assistance", "chronic_diseases")
    FILING = (
        "filing_category",
        "filing_destination",
        "filing_materials",
        "filing_start",
        "filing_end",
        "filing_filed_on",
    )
    VISIT = ("visit_region", "hospital_level", "hospital", "visit_type", "disease", "admitted", "discharged", "date")

    def _check_fields(self, day_of: dict[str, np.ndarray], has_lines: np.ndarray) -> tuple[list[Any], np.ndarray]:
        """The case model's verdict on each bill's fields, checked once per distinct person, filing and
        visit (dates stand in by whether they are given; their order is checked over the arrays).

        Returns the information the next steps need per distinct combination of the three parts, and
        each bill's combination; a bill whose fields the case model refuses is left to one-at-a-time.
        """
        from medins import batch as B
        from medins.case_model import Filing, Person, Visit

        C, U = self.code, self.uniq

        def part_codes(cols: tuple[str, ...]) -> list[np.ndarray]:
            return [(day_of[c] > 0).astype(np.int64) if c in B.DATE_COLUMNS else C[c] for c in cols]

        def values(cols: tuple[str, ...], i: int) -> dict[str, str]:
            v = {c: ("2025-01-01" if day_of[c][i] > 0 else "") if c in B.DATE_COLUMNS else U[c][C[c][i]] for c in cols}
            return {c: x for c, x in v.items() if x}

        def check(model: Any, cols: tuple[str, ...], section: str) -> tuple[np.ndarray, list[Any]]:
            grp, first = _groups(*part_codes(cols))
            out = []
            cache = self.shared.parts
            for i in first.tolist():
                v = values(cols, i)
                if section == "visit":
                    v["scheme"], v["insured_region"] = (
                        U["scheme"][C["scheme"][i]],
                        U["insured_region"][C["insured_region"][i]],
                    )
                k = (section, *sorted(v.items()))
                if k in cache:
                    out.append(cache[k])
                    continue
                try:
                    data = self.settler._case_data(v).get(section)
                    got = None if data is None else model.model_validate(data)
                except (MedinsError, ValueError):
                    got = False
                except Exception:  # a pydantic refusal
                    got = False
                cache[k] = got
                out.append(got)
            return grp, out

        p_grp, persons = check(Person, self.PERSON, "person")
        f_grp, filings = check(Filing, self.FILING, "filing")
        v_grp, visits = check(Visit, self.VISIT, "visit")
        self.p_grp, self.f_grp, self.v_grp = p_grp, f_grp, v_grp
        self.models = (persons, filings, visits)
        combo_of, first = _groups(
            p_grp, f_grp, v_grp, has_lines.astype(np.int64), (C["total"] != _index(U["total"], "")).astype(np.int64)
        )
        info: list[Any] = []
        combos: dict[tuple, Any] = {}  # a partition's own: most combinations hold one person's values
        for i in first.tolist():
            person, filing, visit = persons[p_grp[i]], filings[f_grp[i]], visits[v_grp[i]]
            billed = bool(has_lines[i]) or U["total"][C["total"][i]] != ""
            k = (id(person), id(filing), id(visit), billed)
            if k not in combos:
                combos[k] = self._combine(person, filing, visit, billed)
            info.append(combos[k])
        self.alone |= ~np.array([x is not None for x in info], dtype=bool)[combo_of]
        return info, combo_of

    def _combine(self, person: Any, filing: Any, visit: Any, billed: bool) -> dict[str, Any] | None:
        """One combination's information, or None when the case model or the pack would refuse it."""
        if person is None or person is False or filing is False or visit is None or visit is False or not billed:
            return None
        try:
            regions.require(person.insured_region, "", MedinsError)
            regions.require(visit.region, "", MedinsError)
            std = self.rules.standards(person.insured_region)
        except MedinsError:
            return None
        part = getattr(std, person.scheme)
        if part is None:
            return None
        status = person.status
        if status is None:
            if len(part.groups) != 1:
                return None
            status = part.groups[0]
        elif status not in part.groups:
            return None
        if visit.type == "chronic_outpatient":
            known = {d for section in part.chronic for d in section.diseases}
            if visit.disease not in known or any(c not in known for c in person.chronic_diseases):
                return None
        return {
            "group": status,
            "chronic": tuple(person.chronic_diseases),
            "assistance": person.assistance,
            "filing": None
            if filing is None
            else (
                filing.category,
                filing.destination,
                tuple(filing.materials) if filing.materials is not None else None,
            ),
            "level": visit.hospital_level,
            "hospital": visit.hospital,
            "disease": visit.disease,
            "visit_type": visit.type,
        }

    def _parts(self, has_lines: np.ndarray):  # type: ignore[no-untyped-def]
        """Each bill's total and parts in fen (its lines' sums, or its summary amounts), the warnings its
        lines raise (in order), and whether its catalogue settings or drug list are illustrative."""
        from medins import batch as B

        n = self.n
        L = self.line_of
        assert L is not None and self.lines is not None
        contexts = self.lines.contexts
        ctx_id = L["ctx"]
        self.alone |= ctx_id < 0
        self.alone |= has_lines & L["bad"]
        total = np.where(has_lines, L["total"], 0)
        fully = np.where(has_lines, L["fully"], 0)
        over = np.where(has_lines, L["over"], 0)
        pre = np.where(has_lines, L["pre"], 0)
        head_warn = np.zeros(n, dtype=np.int8)  # 1 DRUG_LIST_OUT_OF_DATE, 2 SUMMARY_PRE_SELF_PAY
        head_warn[has_lines & L["late"] & ~self.alone] = 1
        # summary bills
        summ = ~has_lines & ~self.alone
        if summ.any():
            idx = np.nonzero(summ)[0]
            f = {c: _units(self.uniq[c], _AMOUNT, 2, 0)[self.code[c][idx]] for c in B.SUMMARY_COLUMNS}
            given = {
                c: np.array([bool(x) for x in self.uniq[c]], dtype=bool)[self.code[c][idx]] for c in B.SUMMARY_COLUMNS
            }
            bad = np.zeros(len(idx), dtype=bool)
            for c in B.SUMMARY_COLUMNS:
                bad |= f[c] < 0
            tot, ful, ovr, clb = (np.maximum(f[c], 0) for c in ("total", "fully_self_paid", "over_ceiling", "class_b"))
            pre_given, has_pre, has_clb = np.maximum(f["pre_self_pay"], 0), given["pre_self_pay"], given["class_b"]
            fixed = ful + ovr
            bad |= fixed + clb > tot
            bad |= has_pre & (fixed + pre_given > tot)
            bad |= has_pre & has_clb & (pre_given > clb)
            drug = np.array([c[0] for c in contexts] + [0], dtype=np.int64)[ctx_id[idx]]
            p = np.where(has_pre, pre_given, half_up(clb * drug, SCALE))
            total[idx], fully[idx], over[idx], pre[idx] = tot, ful, ovr, p
            self.alone[idx[bad]] = True
            head_warn[idx[~bad & ~has_pre & (clb > 0)]] = 2
        # the lines' warnings by where each first appears
        line_warn: dict[int, list[str]] = {}
        first = L["first"]
        for i in np.nonzero((first < NEVER).any(axis=1) & has_lines)[0].tolist():
            seen = [(int(first[i, k]), WARNING_CODES[k]) for k in range(len(WARNING_CODES)) if first[i, k] < NEVER]
            line_warn[i] = [code for _, code in sorted(seen)]
        for i in np.nonzero(head_warn)[0].tolist():
            line_warn.setdefault(i, []).insert(0, ("", "DRUG_LIST_OUT_OF_DATE", "SUMMARY_PRE_SELF_PAY")[head_warn[i]])
        settings_illus = np.array([c[1] for c in contexts] + [False], dtype=bool)[ctx_id]
        dl_illus = np.array([c[2] for c in contexts] + [False], dtype=bool)[ctx_id]
        ctx_illus = (ctx_id >= 0) & (settings_illus | (has_lines & dl_illus))
        return total, fully, over, pre, line_warn, ctx_illus

    def _eligibility(self, combo_info, combo_of, service, settle_day, place, scheme, d, sig_of):  # type: ignore[no-untyped-def]
        """Eligibility per bill: once per distinct fields and sections in force, then the filing's dates."""
        from medins.engine.eligibility import validity_end

        has_start = (d["filing_start"] > 0) | (d["filing_filed_on"] > 0)
        statics, sgrp = self._statics(combo_info, combo_of, service, place, scheme, has_start, sig_of)
        ok_static = np.array([s is not None for s in statics], dtype=bool)
        self.alone |= ~ok_static[sgrp]

        def field(get: Callable[[Static], Any], dtype: Any) -> np.ndarray:
            return np.array([get(s) if s is not None else 0 for s in statics], dtype=dtype)[sgrp]

        local = field(lambda s: s.place == "local", bool)
        has_filing = field(lambda s: s.has_filing, bool)
        date_checks = field(lambda s: s.date_checks, bool)
        months = field(lambda s: s.validity_months or 0, np.int64)
        retro = field(lambda s: s.retroactive, bool)
        has_deemed = field(lambda s: s.deemed_category is not None, bool)
        # the filing's dates, as day numbers
        start = np.where(d["filing_start"] > 0, d["filing_start"], d["filing_filed_on"])
        until = d["filing_end"].copy()
        need = date_checks & (until == 0) & (months > 0)
        if need.any():
            pairs, pfirst = _groups(start[need], months[need])
            ends = np.array(
                [
                    validity_end(date.fromordinal(int(start[need][j])), int(months[need][j])).toordinal()
                    for j in pfirst.tolist()
                ],
                dtype=np.int64,
            )
            until[need] = ends[pairs]
        fail = field(lambda s: s.filing_static_fail, bool) | (~local & ~has_filing)
        not_yet = date_checks & (service < start) & ~(retro & (start <= settle_day))
        expired = date_checks & (until > 0) & (service > until)
        fail |= not_yet | expired
        fail &= ~local
        deemed = has_deemed & (~has_filing | fail)
        other = field(lambda s: s.other_blocking, bool)
        eligible = ~other & ~(fail & ~deemed)
        # the benefit category and its adjustment: local, deemed, unfiled or the filed category
        choice = np.where(local, 0, np.where(deemed, 1, np.where(~has_filing | fail, 2, 3)))
        options = [
            [
                ("local", LOCAL_STANDARD),
                (s.deemed_category, s.deemed_adjustment),
                ("unfiled", s.unfiled_adjustment),
                (s.category, s.filed_adjustment),
            ]
            if s is not None
            else [("", None)] * 4
            for s in statics
        ]
        cat_ids: dict[Any, int] = {}
        cat_names: list[str] = []
        adj_ids: dict[int, int] = {}
        adjustments: list[Any] = []
        table_cat = np.zeros((len(statics), 4), dtype=np.int64)
        table_adj = np.zeros((len(statics), 4), dtype=np.int64)
        for si, opts in enumerate(options):
            for j, (cat, adj) in enumerate(opts):
                c = cat_ids.setdefault(cat, len(cat_names))
                if c == len(cat_names):
                    cat_names.append(cat or "")
                a = adj_ids.get(id(adj))
                if a is None:
                    a = adj_ids[id(adj)] = len(adjustments)
                    adjustments.append(adj)
                table_cat[si, j], table_adj[si, j] = c, a
        cat = table_cat[sgrp, choice]
        adj = table_adj[sgrp, choice]
        self.alone |= np.array([a is None for a in adjustments], dtype=bool)[adj]
        illus = field(lambda s: s.illustrative, bool) | (deemed & field(lambda s: s.deemed_illustrative, bool))
        return {
            "static": statics,
            "static_of": sgrp,
            "eligible": eligible,
            "category": cat,
            "category_names": cat_names,
            "adjustment": adj,
            "adjustments": adjustments,
            "local": local,
            "illustrative": illus,
            "chronic_ok": field(lambda s: s.chronic_ok, bool),
            "matched": field(lambda s: s.matched_level, np.int64),
            "cross": field(lambda s: s.cross, bool),
            # what the reasons' words need: the filing's dates and what they decided
            "emergency": has_filing & ~date_checks & ~local,
            "retro_ok": date_checks & (service < start) & retro & (start <= settle_day),
            "not_yet": not_yet,
            "expired": expired,
            "start": start,
            "until": until,
            "deemed": deemed,
        }

    def _statics(self, combo_info, combo_of, service, place, scheme, has_start, sig_of):  # type: ignore[no-untyped-def]
        """What eligibility decides without the dates, once per distinct insured place, scheme, filing,
        visit, approved diseases (for a chronic visit) and sections in force: a :class:`Static` (None
        where the per-bill engine must decide), and each bill's number among them."""
        rules, C = self.rules, self.code
        # the offsite and filing sections in force, per insured place and day
        grp, first = _groups(C["insured_region"], service)
        sec = np.zeros((len(first), 2), dtype=np.int64)
        sections: list[Any] = [None]
        section_no: dict[int, int] = {id(None): 0}
        for gi, i in enumerate(first.tolist()):
            pack = rules.packs.get(self.uniq["insured_region"][C["insured_region"][i]])
            if pack is None or pack.standards is None:
                continue
            std = pack.standards
            on = date.fromordinal(int(service[i]))
            for j, group in enumerate((std.offsite, std.filing)):
                s = next((x for x in group if x.in_force(on)), None)
                k = section_no.get(id(s))
                if k is None:
                    k = section_no[id(s)] = len(sections)
                    sections.append(s)
                sec[gi, j] = k
        sec_of = sec[grp]
        # what eligibility reads: the insured place and scheme, the approved diseases (for a chronic
        # visit), the filing and the visit; not the person's group or assistance category
        chronic_visit = np.array(
            [bool(ci) and ci["visit_type"] == "chronic_outpatient" for ci in combo_info], dtype=bool
        )[combo_of]
        sgrp, sfirst = _groups(
            C["insured_region"],
            C["scheme"],
            np.where(chronic_visit, C["chronic_diseases"], -1),
            self.f_grp,
            self.v_grp,
            sig_of,
            has_start.astype(np.int64),
            self.alone.astype(np.int64),
        )
        statics: list[Any] = []
        for i in sfirst.tolist():
            info = combo_info[combo_of[i]]
            offsite, filing_rules = sections[sec_of[i, 0]], sections[sec_of[i, 1]]
            s = None
            if info is not None and offsite is not None and filing_rules is not None:
                insured = self.uniq["insured_region"][C["insured_region"][i]]
                treated = self.uniq["visit_region"][C["visit_region"][i]]
                pack = rules.packs.get(insured if place[i] == "local" else treated)
                f = info["filing"]
                # what eligibility reads, the approved diseases only for a chronic visit
                reads = (
                    insured,
                    scheme[i],
                    info["chronic"] if chronic_visit[i] else (),
                    None if f is None else (*f, bool(has_start[i])),
                    treated,
                    info["hospital"],
                    info["level"],
                    info["visit_type"],
                    info["disease"],
                )
                sk = (*reads, int(sig_of[i]))
                if sk in self.shared.statics:
                    statics.append(self.shared.statics[sk])
                    continue
                try:
                    on = date.fromordinal(int(service[i]))
                    s = static_eligibility(
                        rules.standards(insured), pack.catalogue if pack else None, offsite, filing_rules, *reads, on
                    )
                    if s is not None:
                        s = (s, self._reason_parts(i, rules.standards(insured), pack, filing_rules, on))
                except (MedinsError, KeyError):
                    s = None
                self.shared.statics[sk] = s
            statics.append(s)
        self.reason_parts = [None if s is None else s[1] for s in statics]
        return [None if s is None else s[0] for s in statics], sgrp

    def _reason_columns(
        self, elig: dict[str, Any], service: np.ndarray, settle_day: np.ndarray, v: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each bill's eligibility reasons, as OUT writes them: the codes, and their words in the run's
        language; the same as the check of one visit gives, in its order. Written once per distinct
        static group, dated reasons and deemed filing."""
        from medins.engine.eligibility import (
            days_after,
            deemed_reason,
            emergency_reason,
            expired_reason,
            not_yet_reason,
            retroactive_reason,
        )

        lang = self.settler.lang
        sep = "；" if lang == "zh" else "; "
        sgrp = elig["static_of"]
        emergency, retro_ok, not_yet, expired = elig["emergency"], elig["retro_ok"], elig["not_yet"], elig["expired"]
        early = retro_ok | not_yet
        # most bills have no reason at all: only the others are grouped and written
        static_any = np.array([bool(p and (p.before or p.after or p.last)) for p in self.reason_parts], dtype=bool)
        some = v & (static_any[sgrp] | emergency | early | expired | elig["deemed"])
        codes_of = np.full(self.n, "", dtype=object)
        words_of = np.full(self.n, "", dtype=object)
        if not some.any():
            return codes_of, words_of
        at = np.flatnonzero(some)
        grp, first = _groups(
            sgrp[at],
            np.where(emergency, 1, np.where(retro_ok, 2, np.where(not_yet, 3, 0)))[at],
            np.where(early, elig["start"], 0)[at],
            np.where(emergency | not_yet, settle_day, 0)[at],
            np.where(expired, elig["until"], 0)[at],
            np.where(expired, service, 0)[at],
            elig["deemed"][at].astype(np.int64),
        )
        codes: list[str] = []
        words: list[str] = []
        for i in at[first].tolist():
            parts = self.reason_parts[sgrp[i]]
            if parts is None:  # settled one at a time: the engine's own
                codes.append("")
                words.append("")
                continue
            dated = []
            if emergency[i]:
                days = parts.emergency_days
                day = date.fromordinal(int(settle_day[i]))
                dated.append(emergency_reason(days_after(day, days) if days is not None else None))
            elif retro_ok[i]:
                dated.append(retroactive_reason(date.fromordinal(int(elig["start"][i]))))
            elif not_yet[i]:
                dated.append(
                    not_yet_reason(date.fromordinal(int(elig["start"][i])), date.fromordinal(int(settle_day[i])))
                )
            if expired[i]:
                dated.append(expired_reason(date.fromordinal(int(elig["until"][i])), date.fromordinal(int(service[i]))))
            deemed = [deemed_reason(*parts.deemed)] if elig["deemed"][i] and parts.deemed is not None else []
            reasons = [*parts.before, *dated, *parts.after, *deemed, *parts.last]
            codes.append(";".join(r.code for r in reasons))
            words.append(sep.join(r.text(lang) for r in reasons))
        codes_of[at] = np.array(codes, dtype=object)[grp]
        words_of[at] = np.array(words, dtype=object)[grp]
        return codes_of, words_of

    def _reason_parts(self, i: int, std: Any, pack: Any, filing_rules: Any, on: date) -> ReasonParts:
        """The eligibility reasons a bill's fields decide, from the check of one visit run on the first
        bill of a static group (whose dates stand in by their presence): those before the filing's
        dated reasons, those after them, and those after a deemed filing's."""
        from types import SimpleNamespace

        from medins.engine.eligibility import DATED_REASONS, PLACE_REASONS, check_eligibility, deemed_entry

        persons, filings, visits = self.models
        visit = visits[self.v_grp[i]]
        case = SimpleNamespace(person=persons[self.p_grp[i]], filing=filings[self.f_grp[i]], visit=visit)
        found = check_eligibility(case, std, pack.catalogue if pack else None, on)  # type: ignore[arg-type]
        before, after, last = [], [], []
        for r in found.reasons:
            if r.code in DATED_REASONS or r.code == "DEEMED_FILED":
                continue
            if r.code in PLACE_REASONS or r.code == "FILING_MISSING":
                before.append(r)
            elif r.code in ("DESTINATION_MISMATCH", "PROOF_MISSING"):
                after.append(r)
            else:
                last.append(r)
        deemed = deemed_entry(filing_rules, visit.region, visit.type)
        treated = f"{visit.region} {regions.name(visit.region)}"
        return ReasonParts(
            tuple(before),
            tuple(after),
            tuple(last),
            None if deemed is None else (treated, deemed[0], deemed[1].category),
            filing_rules.emergency_filing_days,
        )

    def _cells(self, elig, combo_info, combo_of, service, scheme, sig_of):  # type: ignore[no-untyped-def]
        """Each bill's rule cell, benefit visit type and (chronic) disease."""
        _n, rules, C = self.n, self.rules, self.code
        vt_u = [ci["visit_type"] if ci else "outpatient" for ci in combo_info]
        vt = np.array([VISIT_CODES[x] for x in vt_u], dtype=np.int64)[combo_of]
        # a chronic visit the insured place does not settle as such is a general outpatient visit
        vt = np.where((vt == CHRONIC) & ~elig["chronic_ok"], OUTPATIENT, vt)
        disease_u = [(ci["disease"] or "") if ci else "" for ci in combo_info]
        d_codes, d_names = _codes(pl.Series(disease_u, dtype=pl.String))
        disease = np.where(vt == CHRONIC, d_codes[combo_of], -1)
        group_u = [ci["group"] if ci else "" for ci in combo_info]
        assist_u = [ci["assistance"] or "" if ci else "" for ci in combo_info]
        gcodes, gnames = _codes(pl.Series(group_u, dtype=pl.String))
        acodes, anames = _codes(pl.Series(assist_u, dtype=pl.String))
        s_codes, _s_names = _codes(pl.Series(scheme.tolist(), dtype=pl.String))
        cgrp, cfirst = _groups(
            C["insured_region"],
            s_codes,
            sig_of,
            gcodes[combo_of],
            elig["matched"],
            vt,
            disease,
            elig["adjustment"],
            elig["cross"].astype(np.int64),
            elig["category"],
            acodes[combo_of],
            self.alone.astype(np.int64),
        )
        cells: list[Cell] = []
        known = self.shared.cells
        for i in cfirst.tolist():
            if self.alone[i]:
                cells.append(NO_CELL)
                continue
            adj = elig["adjustments"][elig["adjustment"][i]]
            ck = (
                self.uniq["insured_region"][C["insured_region"][i]],
                scheme[i],
                int(sig_of[i]),
                gnames[gcodes[combo_of[i]]],
                int(elig["matched"][i]),
                int(vt[i]),
                d_names[disease[i]] if disease[i] >= 0 else None,
                id(adj),
                bool(elig["cross"][i]),
                elig["category_names"][elig["category"][i]],
                anames[acodes[combo_of[i]]],
            )
            if ck in known:
                cells.append(known[ck])
                continue
            cells.append(
                resolve_cell(
                    rules,
                    self.uniq["insured_region"][C["insured_region"][i]],
                    scheme[i],
                    gnames[gcodes[combo_of[i]]],
                    int(elig["matched"][i]),
                    ("inpatient", "outpatient", "chronic_outpatient")[vt[i]],
                    d_names[disease[i]] if disease[i] >= 0 else None,
                    elig["adjustments"][elig["adjustment"][i]],
                    bool(elig["cross"][i]),
                    elig["category_names"][elig["category"][i]],
                    anames[acodes[combo_of[i]]] or None,
                    date.fromordinal(int(service[i])),
                )
            )
            known[ck] = cells[-1]
        disease_of = [d_names[x] if x >= 0 else "" for x in disease.tolist()]
        return cells, cgrp, vt, disease_of

    def _rows(self, v, visit_type, service, total, fully, over, pre, in_scope, results, elig, g, line_warn, ctx_illus):  # type: ignore[no-untyped-def]
        """The OUT rows of the bills settled over columns (None for the others), formatted as columns."""
        basic, t2, assist = results["basic"], results["tier2"], results["assist"]
        fund = basic + t2 + assist
        kind = g["tier2_critical"]
        eligible = elig["eligible"]
        deferred_assist = eligible & g["assist"] & ~g["assist_direct"] & (assist > 0)
        later = np.where(~eligible, fund, np.where(deferred_assist, assist, 0))
        chronic_as_outpatient = (visit_type == "chronic_outpatient") & ~elig["chronic_ok"]
        illus = g["illustrative"] | elig["illustrative"] | ctx_illus
        money = {
            "total": total,
            "fully": fully,
            "over": over,
            "pre": pre,
            "offsite": results["offsite"],
            "in_scope": in_scope,
            "deductible": results["deductible"],
            "basic": basic,
            "critical": np.where(kind, t2, 0),
            "large": np.where(kind, 0, t2),
            "assist": assist,
            "fund": fund,
            "personal": results["personal"],
            "at_discharge": results["personal"] + later,
        }
        frame = pl.DataFrame({k: x for k, x in money.items()}).select(
            [
                ((pl.col(k) // 100).cast(pl.String) + "." + (pl.col(k) % 100).cast(pl.String).str.zfill(2)).alias(k)
                for k in money
            ]
        )
        safe_total = np.where(total > 0, total, 1)
        q = (fund * 10**4 * 2 + safe_total) // (2 * safe_total)
        ratio = pl.select(
            pl.when(pl.Series(total) > 0)
            .then((pl.Series(q) // 10**4).cast(pl.String) + "." + (pl.Series(q) % 10**4).cast(pl.String).str.zfill(4))
            .otherwise(pl.lit("0.0000"))
        ).to_series()
        days = pl.Series(service).cast(pl.Int32) - 719163  # day numbers from 1970-01-01
        service_text = days.cast(pl.Date).dt.to_string("%Y-%m-%d")
        deferred_text = np.where(
            ~eligible, "basic;tier2;medical_assistance", np.where(deferred_assist, "medical_assistance", "")
        )
        cat_names = np.array(elig["category_names"], dtype=object)[elig["category"]]
        with_name = "person_name" in self.bill_cols.index
        head = [self.S["bill_id"], self.S["person_id"]] + ([self.S["person_name"]] if with_name else [])
        cols = [
            *head,
            self.S["insured_region"],
            self.S["visit_region"],
            pl.Series(visit_type.tolist(), dtype=pl.String),
            service_text,
            *frame.get_columns(),
            ratio,
            pl.Series(np.where(eligible, "true", "false").tolist(), dtype=pl.String),
            pl.Series(np.where(eligible, "direct", "reimburse_at_home").tolist(), dtype=pl.String),
            pl.Series(cat_names.tolist(), dtype=pl.String),
            pl.Series(deferred_text.tolist(), dtype=pl.String),
        ]
        # the warnings: the lines' (in their order), then the bill's own, each code once
        own = (
            np.where(chronic_as_outpatient, 1, 0)
            + np.where(~eligible, 2, np.where(deferred_assist, 4, 0))
            + np.where(illus, 8, 0)
        )
        names = ("CHRONIC_AS_OUTPATIENT", "REIMBURSE_AT_HOME", "ASSISTANCE_AT_HOME", "ILLUSTRATIVE_VALUES")
        table = [[names[b] for b in range(4) if m >> b & 1] for m in range(16)]
        text = np.array([";".join(t) for t in table], dtype=object)[own]
        for i, warned in line_warn.items():
            if v[i]:
                text[i] = ";".join(dict.fromkeys(warned + table[own[i]]))
        cols.append(pl.Series(text.tolist(), dtype=pl.String))
        cols.append(pl.Series(elig["reason_codes"].tolist(), dtype=pl.String))
        cols.append(pl.Series(elig["reason_words"].tolist(), dtype=pl.String))
        names_out = [f"_{k}" for k in range(len(cols))]
        frame = pl.DataFrame(dict(zip(names_out, cols, strict=True)))
        frame = frame.with_columns(pl.Series("_row", self.row)).filter(pl.Series(v))
        return frame.select(["_row", *names_out])

    def _aggregate(self, agg, v, visit_type, insured, treated, settle_day, total, results, elig, g) -> None:  # type: ignore[no-untyped-def]
        """Add the column-settled bills to the summary's groups and the clearing statement's sums."""
        from medins.batch import GROUP_AMOUNTS

        basic, t2, assist = results["basic"], results["tier2"], results["assist"]
        kind = g["tier2_critical"]
        eligible = elig["eligible"]
        frame = pl.DataFrame(
            {
                "visit_type": visit_type[v].tolist(),
                "benefit_category": np.array(elig["category_names"], dtype=object)[elig["category"]][v].tolist(),
                "insured_region": insured[v].tolist(),
                "direct": eligible[v].astype(np.int64),
                "total": total[v],
                "basic_fund": basic[v],
                "critical_illness_fund": np.where(kind, t2, 0)[v],
                "large_amount_fund": np.where(kind, 0, t2)[v],
                "medical_assistance_fund": assist[v],
                "fund_total": (basic + t2 + assist)[v],
                "personal_total": results["personal"][v],
            }
        )
        sums = [pl.len().alias("count"), pl.col("direct").sum(), *[pl.col(a).sum() for a in GROUP_AMOUNTS]]
        for dim, by in (
            ("all", None),
            ("visit_type", "visit_type"),
            ("benefit_category", "benefit_category"),
            ("insured_region", "insured_region"),
        ):
            out = (
                frame.select(sums).with_columns(pl.lit("").alias("k"))
                if by is None
                else frame.group_by(by).agg(sums).rename({by: "k"})
            )
            for r in out.iter_rows(named=True):
                if r["count"] == 0:
                    continue
                part = type(agg)()
                part.groups[(dim, r["k"])] = [r["count"], r["direct"], *[_dec(r[a]) for a in GROUP_AMOUNTS]]
                agg.merge(part)
        # clearing: direct bills between places, by insured place × treatment place × settlement month
        clear = v & eligible & ~elig["local"]
        if clear.any():
            deferred_assist = g["assist"] & ~g["assist_direct"] & (assist > 0)
            a = np.where(deferred_assist, 0, assist)
            months = (pl.Series(settle_day[clear]).cast(pl.Int32) - 719163).cast(pl.Date).dt.to_string("%Y-%m")
            cf = pl.DataFrame(
                {
                    "i": insured[clear].tolist(),
                    "t": treated[clear].tolist(),
                    "m": months,
                    "total": total[clear],
                    "basic": basic[clear],
                    "tier2": t2[clear],
                    "assist": a[clear],
                    "fund": (basic + t2 + a)[clear],
                }
            )
            out = cf.group_by("i", "t", "m").agg(
                pl.len().alias("count"), *[pl.col(c).sum() for c in ("total", "basic", "tier2", "assist", "fund")]
            )
            for r in out.iter_rows(named=True):
                part = type(agg)()
                part.clearing[(r["i"], r["t"], r["m"])] = [
                    r["count"],
                    *[_dec(r[c]) for c in ("total", "basic", "tier2", "assist", "fund")],
                ]
                agg.merge(part)

    # -- year-to-date state as the case file's JSON
    def _states_json(self, state: State, keys: np.ndarray) -> list[str | None]:
        """:meth:`_state_json` of these keys, the same texts, formatted as columns."""
        if not len(keys):
            return []

        def amount(v: np.ndarray, e: np.ndarray) -> pl.Expr:  # decimal_text over columns
            whole = pl.lit(pl.Series(v // 100)).cast(pl.String)
            part = pl.lit(pl.Series(v % 100))
            exp = pl.lit(pl.Series(e.astype(np.int64)))
            return (
                pl.when(exp >= 0)
                .then(whole)
                .when(exp == -1)
                .then(pl.concat_str([whole, pl.lit("."), (part // 10).cast(pl.String)]))
                .otherwise(pl.concat_str([whole, pl.lit("."), part.cast(pl.String).str.zfill(2)]))
            )

        def accum(slots: np.ndarray) -> pl.Expr:
            pieces: list[pl.Expr] = []
            for j, f in enumerate(State.SLOT_FIELDS):
                pieces += [pl.lit(("{" if j == 0 else ",") + f'"{f}":"'), amount(state.s[f][slots], state.se[f][slots])]
                pieces.append(pl.lit('"'))
            return pl.concat_str([*pieces, pl.lit("}")])

        slot_text = pl.select(accum(np.arange(len(state.s["fund"])))).to_series().to_list()
        chronic = []
        for k in keys.tolist():
            order = self.chronic_order.get(k, [])
            chronic.append(
                ",".join(f"{json.dumps(d, ensure_ascii=False)}:{slot_text[self.chronic_slots[(k, d)]]}" for d in order)
            )
        year = state.year[keys]
        pieces = [
            pl.lit('{"year":'),
            pl.when(pl.lit(pl.Series(year >= 0)))
            .then(pl.lit(pl.Series(year)).cast(pl.String))
            .otherwise(pl.lit("null")),
            pl.lit(',"admissions":'),
            pl.lit(pl.Series(state.admissions[keys])).cast(pl.String),
            pl.lit(',"inpatient":'),
            pl.lit(pl.Series([slot_text[s] for s in (2 * keys).tolist()], dtype=pl.String)),
            pl.lit(',"outpatient":'),
            pl.lit(pl.Series([slot_text[s] for s in (2 * keys + 1).tolist()], dtype=pl.String)),
            pl.lit(',"chronic":{'),
            pl.lit(pl.Series(chronic, dtype=pl.String)),
            pl.lit("}"),
        ]
        for f in State.KEY_FIELDS:
            pieces += [pl.lit(f',"{f}":"'), amount(state.k[f][keys], state.ke[f][keys]), pl.lit('"')]
        texts = pl.select(pl.concat_str([*pieces, pl.lit("}")])).to_series().to_list()
        none = (year < 0) & np.array(
            [not self.chronic_order.get(k) and k not in self.loaded for k in keys.tolist()], dtype=bool
        )
        return [None if n else t for n, t in zip(none.tolist(), texts, strict=True)]

    def _state_json(self, state: State, k: int) -> str | None:
        if state.year[k] < 0 and not self.chronic_order.get(k) and k not in self.loaded:
            return None
        parts = [
            f'"year":{int(state.year[k]) if state.year[k] >= 0 else "null"}',
            f'"admissions":{int(state.admissions[k])}',
        ]

        def accum(s: int) -> str:
            return (
                "{"
                + ",".join(
                    f'"{f}":"{decimal_text(int(state.s[f][s]), int(state.se[f][s]))}"' for f in State.SLOT_FIELDS
                )
                + "}"
            )

        parts.append(f'"inpatient":{accum(2 * k)}')
        parts.append(f'"outpatient":{accum(2 * k + 1)}')
        chronic = ",".join(
            f"{json.dumps(d, ensure_ascii=False)}:{accum(self.chronic_slots[(k, d)])}"
            for d in self.chronic_order.get(k, [])
        )
        parts.append('"chronic":{' + chronic + "}")
        for f in State.KEY_FIELDS:
            parts.append(f'"{f}":"{decimal_text(int(state.k[f][k]), int(state.ke[f][k]))}"')
        return "{" + ",".join(parts) + "}"

    def _load_states(self, state: State, keys: list[int], key_tuples: list[Any], datas: list[Any]) -> list[bool]:
        """Put the keys' year-to-date records (``datas``: the JSON of a checked :class:`YearToDate`
        each, as ``_load_ytd`` writes it, every amount a Decimal's text) into the arrays, as columns;
        per key, False (nothing stored) when the arrays cannot hold its record exactly, or it is
        another year's."""
        ok = [
            (d["year"] is None or d["year"] == key_tuples[k][3])
            and not d.get("assistance_stage_base")
            and not d.get("assistance_stage_fund")
            for k, d in zip(keys, datas, strict=True)
        ]
        # every amount, field by field: the key fields' per key, the accumulators' per slot
        good = [j for j in range(len(keys)) if ok[j]]
        key_of = np.array([keys[j] for j in good], dtype=np.int64)
        slots: list[int] = []
        owners: list[int] = []
        accs: list[dict[str, str]] = []
        for g, j in enumerate(good):
            k, d = keys[j], datas[j]
            slots += [2 * k, 2 * k + 1]
            accs += [d["inpatient"], d["outpatient"]]
            for name, acc in d["chronic"].items():
                slots.append(self.chronic_slots[(k, name)])
                accs.append(acc)
            owners += [g] * (len(accs) - len(owners))
        slot_of, owner_of = np.array(slots, dtype=np.int64), np.array(owners, dtype=np.int64)
        read = {}
        fails = np.zeros(len(good), dtype=bool)
        for f in State.KEY_FIELDS:
            value, exp, bad = _fen_texts([datas[j][f] for j in good])
            read[("k", f)] = (value, exp)
            fails |= bad
        for f in State.SLOT_FIELDS:
            value, exp, bad = _fen_texts([acc[f] for acc in accs])
            read[("s", f)] = (value, exp)
            fails[owner_of[bad]] = True
        stored = ~fails
        for f in State.KEY_FIELDS:
            value, exp = read[("k", f)]
            state.k[f][key_of[stored]], state.ke[f][key_of[stored]] = value[stored], exp[stored]
        in_stored = stored[owner_of] if len(owner_of) else np.zeros(0, dtype=bool)
        for f in State.SLOT_FIELDS:
            value, exp = read[("s", f)]
            state.s[f][slot_of[in_stored]], state.se[f][slot_of[in_stored]] = value[in_stored], exp[in_stored]
        for g, j in enumerate(good):
            if fails[g]:
                ok[j] = False
                continue
            k, d = keys[j], datas[j]
            state.admissions[k] = d["admissions"]
            state.year[k] = d["year"] if d["year"] is not None else -1
            self.chronic_order[k] = list(d["chronic"])
            self.loaded.add(k)
        return ok

    def _store(self, state: State, k: int, ytd: Any) -> bool:
        """Put a year-to-date record (a :class:`YearToDate` the per-bill engine gave) into the arrays;
        False when they cannot hold it exactly."""
        if ytd.assistance_stage_base or ytd.assistance_stage_fund:
            return False
        values: list[tuple[dict, dict, str, int, Decimal]] = []
        for f in State.KEY_FIELDS:
            values.append((state.k, state.ke, f, k, getattr(ytd, f)))
        slots = [(2 * k, ytd.inpatient), (2 * k + 1, ytd.outpatient)]
        for d, acc in ytd.chronic.items():
            s = self.chronic_slots.get((k, d))
            if s is None:
                return False
            slots.append((s, acc))
        for s, acc in slots:
            for f in State.SLOT_FIELDS:
                values.append((state.s, state.se, f, s, getattr(acc, f)))
        converted = []
        for arrays, exps, f, at, value in values:
            u = fen_units(value)
            if u is None:
                return False
            converted.append((arrays, exps, f, at, u))
        for arrays, exps, f, at, (v, e) in converted:
            arrays[f][at], exps[f][at] = v, e
        state.admissions[k] = ytd.admissions
        state.year[k] = ytd.year if ytd.year is not None else -1
        self.chronic_order[k] = list(ytd.chronic)
        return True

    def _note_chronic(self, done: np.ndarray, key: np.ndarray, visit: np.ndarray, disease: list[str]) -> None:
        for i in done[visit[done] == CHRONIC].tolist():
            order = self.chronic_order.setdefault(int(key[i]), [])
            if disease[i] not in order:
                order.append(disease[i])


@dataclass(frozen=True)
class ReasonParts:
    """The eligibility reasons of a static group: the parts its fields decide, around the dated ones."""

    before: tuple[Any, ...]
    after: tuple[Any, ...]
    last: tuple[Any, ...]
    deemed: tuple[str, int, str] | None
    """A deemed filing's words: the treatment place, the entry's number and its category."""
    emergency_days: int | None


@dataclass
class _Ctx:
    index: Any
    drug_ratio: int
    settings_illus: bool
    dl_illus: bool


def _dated_groups(std: Any) -> list[list[Any]]:
    out = [std.offsite, std.filing, std.assistance]
    for name in ("employee", "resident"):
        part = getattr(std, name)
        if part is not None:
            out += [part.inpatient, part.outpatient, part.chronic, part.tier2]
    return out


def _units(values: list[str], pattern: str, places: int, empty: int) -> np.ndarray:
    """:func:`_units_col` for a list of texts (the distinct values of a column)."""
    return _units_col(pl.Series(values, dtype=pl.String), pattern, places, empty)


def _fen_texts(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`fen_units` of Decimal texts, as columns: each one's fen and exponent, and whether it
    has more than two places (then its fen and exponent are 0). A plain text (digits, then at most
    two places) is read as columns; any other form by ``fen_units`` itself."""
    n = len(texts)
    if not n:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    s = pl.Series(texts, dtype=pl.String)
    plain = s.str.contains(r"^\d{1,15}(?:\.\d{1,2})?$").to_numpy()
    whole = s.str.extract(r"^(\d{1,15})", 1).cast(pl.Int64, strict=False).fill_null(0).to_numpy()
    frac = s.str.extract(r"\.(\d{1,2})$", 1).fill_null("")
    places = frac.str.len_chars().cast(pl.Int64).to_numpy()
    cents = frac.str.pad_end(2, "0").cast(pl.Int64, strict=False).fill_null(0).to_numpy()
    value = np.where(plain, whole * 100 + cents, 0)
    exp = np.where(plain, -places, 0)
    bad = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(~plain).tolist():
        u = fen_units(Decimal(texts[i]))
        if u is None:
            bad[i] = True
        else:
            value[i], exp[i] = u
    return value, exp, bad


def _units_col(u: pl.Series, pattern: str, places: int, empty: int) -> np.ndarray:
    """A text column as integers in 10^-places: -1 where the text does not match ``pattern`` (the case
    model then reads it), ``empty`` for an empty cell.

    The pattern is checked first: polars' cast to Decimal would silently cut "12.345" to 12.34.
    """
    return _units_cols([(u, pattern, places, empty)])[0]


def _units_cols(specs: list[tuple[pl.Series, str, int, int]]) -> list[np.ndarray]:
    """:func:`_units_col` of several columns (``(column, pattern, places, empty)`` each), in one
    polars query: the columns are parsed side by side, on as many threads as polars has."""
    frame = pl.DataFrame({f"u{k}": spec[0] for k, spec in enumerate(specs)})
    exprs = []
    for k, (_, pattern, places, _empty) in enumerate(specs):
        u = pl.col(f"u{k}")
        exprs += [
            u.cast(pl.Decimal(18, places), strict=False).to_physical().cast(pl.Int64).fill_null(-1).alias(f"v{k}"),
            u.str.contains(pattern).alias(f"ok{k}"),
            (u == "").alias(f"blank{k}"),
        ]
    got = frame.select(exprs)
    return [
        np.where(
            got[f"blank{k}"].to_numpy(), empty, np.where(got[f"ok{k}"].to_numpy(), got[f"v{k}"].to_numpy(), -1)
        ).astype(np.int64)
        for k, (_, _, _, empty) in enumerate(specs)
    ]


def _codes(s: pl.Series) -> tuple[np.ndarray, list[str]]:
    """Each value's number among the distinct values, and those values (in first-seen order).

    Values are told apart by a 64-bit hash; a second, independent hash must agree within every
    group (two values sharing both hashes has odds of about 2^-128). Should the second disagree,
    the values are numbered by a join instead.
    """
    if len(s) == 0:
        return np.zeros(0, dtype=np.int64), []
    h = s.hash(seed=0)
    first = h.arg_unique().to_numpy()
    hn = h.to_numpy()
    uh = hn[first]
    order = np.argsort(uh)
    inv = order[np.searchsorted(uh[order], hn)].astype(np.int64)
    check = s.hash(seed=0x5EED).to_numpy()
    if (check[first][inv] == check).all():
        return inv, s.gather(first).to_list()
    u = s.unique(maintain_order=True)
    m = pl.DataFrame({"v": u, "id": np.arange(len(u), dtype=np.int64)})
    ids = pl.DataFrame({"v": s}).join(m, on="v", how="left", maintain_order="left")["id"].to_numpy()
    return ids, u.to_list()


def _dec(fen: Any) -> Decimal:
    v = int(fen)
    return Decimal(f"{v // 100}.{v % 100:02d}")


def _reordered(key: np.ndarray, day: np.ndarray) -> int:
    """Keys whose bills are not in service-date order in the file."""
    n = len(key)
    if n < 2:
        return 0
    order = np.lexsort((np.arange(n), day, key))
    k = key[order]
    same = k[1:] == k[:-1]
    back = same & (order[1:] < order[:-1])
    return len(np.unique(k[1:][back]))


# ----------------------------------------------------------------------------- one partition as a table


def settle_table(
    bills: Any,
    items: Any = None,
    rules: Any = None,
    ytd: dict[Any, tuple[int, str, str]] | None = None,
    lang: str = "zh",
) -> pl.DataFrame:
    """Settle a table of bills holding whole persons; the partition function of a distributed engine.

    ``bills`` (and ``items``) are polars frames or Arrow tables with the columns of ``medins batch``
    (canonical or alias names, every cell text). ``rules`` is a rules folder (default: the shipped
    rules, ``--rules``/``MEDINS_RULES`` as the CLI reads them); ``ytd`` the year-to-date entries of
    ``--ytd-in`` as :func:`medins.batch.load_ytd` reads them. Every person's bills must be in the
    table: an engine beyond one machine maps this over partitions of persons.

    Returns one row per bill, in the input's order: the OUT columns of ``medins batch`` (empty for a
    rejected bill) and ``rejected``, the reason a bill was rejected (empty when it settled).
    """
    out, outcome, n = settle_partition(bills, items, rules, ytd, lang)
    rejected = [(r[1] - 2, r[5]) for r in outcome.rejects if r[0] == 0]
    reasons = pl.DataFrame(
        {"_row": [r for r, _ in rejected], "rejected": [x for _, x in rejected]},
        schema={"_row": pl.Int64, "rejected": pl.String},
    )
    every = pl.DataFrame({"_row": np.arange(n, dtype=np.int64)})
    table = every.join(out, on="_row", how="left").join(reasons, on="_row", how="left")
    return table.sort("_row").drop("_row").with_columns(pl.all().fill_null(""))


def settle_partition(
    bills: Any,
    items: Any = None,
    rules: Any = None,
    ytd: dict[Any, tuple[int, str, str]] | None = None,
    lang: str = "zh",
    want_state: bool = False,
    rows: np.ndarray | None = None,
    item_rows: np.ndarray | None = None,
) -> tuple[pl.DataFrame, Outcome, int]:
    """:func:`settle_table`'s work, as the batch's parts: the OUT rows of the settled bills (named as
    OUT's columns, with ``_row``, each bill's index in ``bills``), the :class:`Outcome` (rejects of
    bills and item lines, each key's final year-to-date state when ``want_state``, the counts and
    sums) and the number of bills.

    A reject's row, and the rows its reason names, are ``rows[index] + 2`` (``item_rows[index] + 2``
    for an item line): the record numbers of the file the table is a part of; by default the index."""
    from medins import batch as B
    from medins.loader import resolve_rules_dir

    bills_df = bills if isinstance(bills, pl.DataFrame) else pl.from_arrow(bills)
    items_df = None if items is None else items if isinstance(items, pl.DataFrame) else pl.from_arrow(items)
    assert isinstance(bills_df, pl.DataFrame)
    root = resolve_rules_dir(rules).resolve()
    bill_cols = B.map_columns(bills_df.columns, B.BILL_COLUMNS, "BILLS", B.bill_required(items_df is not None), "bills")
    item_cols = None
    if items_df is not None:
        assert isinstance(items_df, pl.DataFrame)
        item_cols = B.map_columns(items_df.columns, B.ITEM_COLUMNS, "ITEMS", B.ITEM_REQUIRED, "items")

    def texts(frame: pl.DataFrame, row: str, numbers: np.ndarray | None = None) -> pl.DataFrame:
        cells = frame.select(
            [
                pl.col(c).cast(pl.String).fill_null("").str.strip_chars(PY_SPACE).alias(f"c{i}")
                for i, c in enumerate(frame.columns)
            ]
        )
        return cells.with_columns(
            pl.Series(row, np.arange(frame.height, dtype=np.int64) if numbers is None else numbers, dtype=pl.Int64)
        )

    bills_t = texts(bills_df, "_row")
    cfg = B.WorkerConfig(
        root,
        B.Source(Path("bills"), "utf-8", ",", bill_cols),
        B.Source(Path("items"), "utf-8", ",", item_cols) if item_cols is not None else None,
        lang,  # type: ignore[arg-type]
        True,
    )
    settler = B.Settler(cfg)
    shared = Shared()
    lines = LinePass(settler.rules, shared)
    day_text = {
        c: bills_t[f"c{bill_cols.index[c]}"] for c in ("admitted", "date", "discharged") if c in bill_cols.index
    }
    day = {c: np.array([B.day_number(v) if v else 0 for v in t.to_list()], dtype=np.int64) for c, t in day_text.items()}
    zero = np.zeros(bills_t.height, dtype=np.int64)
    empty = pl.Series([""] * bills_t.height, dtype=pl.String)
    lines.bills(
        bills_t[f"c{bill_cols.index['insured_region']}"],
        bills_t[f"c{bill_cols.index['visit_region']}"] if "visit_region" in bill_cols.index else empty,
        _first_day(day.get("admitted", zero), day.get("date", zero), day.get("discharged", zero)),
    )
    lines.start_items()
    items_t = None
    if items_df is not None and item_cols is not None:
        items_t = texts(items_df, "_line", item_rows)
        ids = pl.DataFrame({"bill_id": bills_t[f"c{bill_cols.index['bill_id']}"], "_bill": bills_t["_row"]})
        items_t = items_t.join(
            ids, left_on=f"c{item_cols.index['bill_id']}", right_on="bill_id", how="left", maintain_order="left"
        )
        if items_t["_bill"].null_count():
            raise ValueError("settle_table: item lines whose bill_id is not in the bills table")
        for start in range(0, items_t.height, LINE_SLICE):
            chunk = items_t.slice(start, LINE_SLICE)
            lines.lines(chunk, item_cols, chunk["_bill"].to_numpy(), chunk["_line"].to_numpy())
    prepared = _prepare(bills_t, bill_cols, ytd or {})
    if prepared is None:
        raise ValueError("settle_table: a person_id with two names, or a bill older than the year-to-date entries")
    held = FrameLines(items_t) if items_t is not None else None
    run = _Run(bills_t, prepared.S, bill_cols, held, item_cols, settler, settler.rules, shared, lines.view())
    if rows is not None:
        run.shown = rows
    out, outcome = run.settle(prepared, ytd or {}, want_state)
    columns = list(B.OUT_HEAD)
    if "person_name" in bill_cols.index:
        columns.insert(2, "person_name")
    columns += [*B.OUT_AMOUNTS, "fund_ratio", *B.OUT_TAIL]
    return out.rename(dict(zip(out.columns[1:], columns, strict=True))), outcome, bills_t.height
