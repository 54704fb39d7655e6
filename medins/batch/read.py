"""Read, over columns: BILLS and ITEMS by chunks of whole records, each a frame of text cells; the
cells' forms checked and parsed a column at a time (amounts in fen, codes, day numbers).
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import BinaryIO

import numpy as np
import polars as pl

from medins.engine.columns import fen_units
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


_SCIENTIFIC_PATTERN = r"^[+-]?\d(?:\.\d+)?[eE][+-]\d+$"


_AMOUNT = r"^\d{1,8}(?:\.\d{1,2})?$"


_PRICE = r"^\d{1,5}(?:\.\d{1,4})?$"


_QUANTITY = r"^\d{1,5}(?:\.\d{1,4})?$"


CHUNK_BYTES = 4 << 20
"""BILLS is read this many bytes at a time (whole records); the next chunk is read while this one is
partitioned (``procs.ahead``), so two are held at once."""


ITEM_CHUNK_BYTES = 4 << 20
"""ITEMS is read this many bytes at a time: its lines are split by their catalogues chunk by chunk,
the next chunk read meanwhile. (6 MB, when chunks were read in turn, shared each step's cost among
more lines; read ahead, two such chunks made the peak of the run.)"""


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


TAIL_BYTES = 1 << 16
"""How far back from a file's end :func:`content_end` looks for the blank lines it may end with."""


def content_end(table: CsvTable) -> int:
    """Where a file's records end: before the blank lines it may end with (lines of nothing but
    delimiters, an empty one included), which the careful reader skips as it skips every record of
    empty cells; so a file that ends with an empty line is read over columns as one that does not. A
    blank line with a record after it still sends the file to the careful reader, which numbers the
    rows after it."""
    size = table.path.stat().st_size
    base = max(table.start, size - TAIL_BYTES)
    with table.path.open("rb") as f:
        f.seek(base)
        tail = f.read()
    sep = table.delimiter.encode()
    end = len(tail)
    while end:
        body = end - 1 if tail[end - 1] == 10 else end  # the last line, without its line end
        start = tail.rfind(b"\n", 0, body) + 1
        if start == 0 and base > table.start:
            break  # the line may begin before the bytes looked at
        line = tail[start:body]
        if line.endswith(b"\r"):
            line = line[:-1]
        if line.strip(sep):
            break
        end = start
    return base + end


def require_plain(table: CsvTable) -> None:
    """Raise :class:`NotRegular` unless the columns reader can read the table: a CSV file of its own
    (not a workbook's spooled copy) in UTF-8 or GB18030, with a one-character delimiter and LF or
    CRLF line ends."""
    if table.spooled or table.encoding not in ("utf-8", "gb18030") or len(table.delimiter) != 1:
        raise NotRegular
    if table.newline not in (b"\n", b"\r\n"):
        raise NotRegular


def record_chunks(
    table: CsvTable, size: int = CHUNK_BYTES, copy: BinaryIO | None = None, span: tuple[int, int] | None = None
) -> Iterator[Chunk]:
    """The records after the header as chunks of whole records; raises :class:`NotRegular` when a
    record is not plainly regular. A GB18030 table's chunks are transcoded to UTF-8 and, given
    ``copy``, written to it: the chunks' ``base`` are then offsets in the copy. Every chunk must be
    read by :func:`read_chunk`, which finishes the check of the cell counts.

    ``span`` (UTF-8 only): the records between two byte offsets of the file, the first where a record
    starts, the second taken as the end of the file (a quote still open there raises
    :class:`NotRegular`); records are then numbered from 0 at the first offset. Blank lines the file
    ends with are not read (:func:`content_end`).

    Read with numpy and ``bytes.count``: line ends and quotes are found as arrays; a record is one
    line unless a quote left open at a line's end continues it. A record with a quote is read by the
    csv module, as the careful path reads it, must have the header's cell count, and the polars
    reading of it must come out the same (see :func:`read_chunk`). The records without a quote must
    hold, together, the header's cell count less one delimiters each: when one of them has more,
    polars refuses it in :func:`read_chunk`, so none has fewer.
    """
    require_plain(table)
    # GB18030 never uses the bytes of a line end, a quote or a delimiter inside a character: a chunk
    # cut at a line end is whole characters, transcoded to UTF-8 as it is read
    gb = table.encoding == "gb18030"
    width = len(table.header)
    records = 0
    end = content_end(table)
    with table.path.open("rb") as f:
        if span is None:
            f.seek(table.start)
            header = f.readline()
            if b'"' in header or not header.endswith(b"\n"):
                raise NotRegular
            at = table.start + len(header)  # where ``carry`` starts in the file
            left = max(end - at, 0)  # the bytes left to read
        else:
            if gb:
                raise NotRegular
            at, left = span[0], max(min(span[1], end) - span[0], 0)
            f.seek(at)
        carry = b""
        while True:
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
            if b'"' in data:
                keep = _closed_end(data)
                if keep < len(data):  # a quote left open: the record goes on in the next chunk
                    if not more:
                        raise NotRegular
                    tail = data[keep:]
                    carry = (tail.decode("utf-8").encode("gb18030") if gb else tail) + carry
                    if keep == 0:
                        continue
                    data = data[:keep]
            count, quoted, starts, padded = whole_records(data, table.delimiter, width)
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


def _quote_lines(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each line of ``data`` (whole lines, UTF-8) ends, how many quotes it holds, and whether a
    quote is left open at its end (the record then goes on into the next line)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(arr == 10)
    q_line = np.bincount(np.searchsorted(ends, np.flatnonzero(arr == 34)), minlength=len(ends))
    return ends, q_line, np.cumsum(q_line) % 2 == 1


def _closed_end(data: bytes) -> int:
    """Where the last record of ``data`` (whole lines) whose quotes are all closed ends: ``len(data)``
    unless a quote is left open at its end."""
    if not _count(data, b'"') % 2:  # every quote closed at the end (the data ends with a line end)
        return len(data)
    ends, _, open_at_end = _quote_lines(data)
    if not len(ends) or not open_at_end[-1]:
        return len(data)
    closed = np.flatnonzero(~open_at_end)
    return int(ends[closed[-1]]) + 1 if len(closed) else 0


def whole_records(data: bytes, delimiter: str, width: int) -> tuple[int, dict[int, list[str]], np.ndarray, bool]:
    """The records of ``data`` (whole lines, UTF-8, every quote closed) as :class:`Chunk` holds them:
    how many, those with a quote as the csv module reads them, where each starts (and ``len(data)``
    last), and whether a cell may begin or end with white space; raises :class:`NotRegular` when a
    record is not plainly regular (see :func:`record_chunks`)."""
    sep = delimiter.encode()
    quoted: dict[int, list[str]] = {}
    arr = np.frombuffer(data, dtype=np.uint8)
    if b'"' not in data:
        ends = np.flatnonzero(arr == 10)
        _line_ends_only(data, arr, ends)
        count, plain_seps, starts = len(ends), _count(data, sep), np.r_[0, ends + 1]
    else:
        ends, q_line, open_at_end = _quote_lines(data)
        _line_ends_only(data, arr, ends)
        if len(ends) and open_at_end[-1]:
            raise NotRegular
        count, quoted, starts, plain_seps = _records(data, ends, open_at_end, q_line, delimiter, width)
    if plain_seps != (count - len(quoted)) * (width - 1):
        raise NotRegular  # a record without a quote has another cell count than the header
    # a record with a quote is checked by its cells as the csv module reads them, the others
    # by the bytes around their delimiters
    padded = any(v != v.strip() for values in quoted.values() for v in values) or _spaced(data, ord(sep))
    return count, quoted, starts, padded


def _blank_line(data: bytes, seps: bytes) -> bool:
    """Whether a line of ``data`` is only delimiters: a record of empty cells. (It may say yes of
    such bytes inside a quoted cell, which only sends the file to the careful reader.)"""
    if data.startswith(seps + b"\n") or data.startswith(seps + b"\r\n"):
        return True
    probe = b"\n" + seps
    at = data.find(probe)
    while at >= 0:  # a line that begins with as many delimiters: blank if the line ends there
        after = at + len(probe)
        if data[after : after + 1] == b"\n" or data[after : after + 2] == b"\r\n":
            return True
        at = data.find(probe, after)
    return False


def _count(data: bytes, sub: bytes) -> int:
    """``data.count(sub)``; a single byte counted by numpy, several times faster on a chunk."""
    if len(sub) != 1:
        return data.count(sub)
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == sub[0]))


def _line_ends_only(data: bytes, arr: np.ndarray, ends: np.ndarray) -> None:
    """Raises :class:`NotRegular` when a carriage return of ``data`` is not the first half of a line
    end (``ends``: where its line feeds are)."""
    if b"\r" in data and _count(data, b"\r") != np.count_nonzero(arr[ends[ends > 0] - 1] == 13):
        raise NotRegular  # a carriage return inside a line


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
    plain_seps = _count(data, sep)
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
