"""Tables in and out: CSV (UTF-8, UTF-8 with BOM, GB18030/GBK) and XLSX, read by record offsets.

Reading keeps no row in memory: a scan yields each record with its byte range in the file, and a
worker re-reads a bill's records by range when it settles the bill. An XLSX sheet is first copied
("spooled") into a temporary UTF-8 CSV, with cells a spreadsheet damaged (a formula without a
cached value, an ID stored as a number with lost digits) marked, so both formats share one path.

Writing goes to a temporary file beside the target, moved into place only when the whole run
succeeds (``Outputs``); text cells a spreadsheet would run as a formula are neutralised.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import errno
import io
import os
import re
import tempfile
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from medins.errors import MedinsError, t
from medins.i18n import Text
from medins.procs import cannot_write, checkpoint, critical, writable_target

SUFFIXES = (".csv", ".xlsx")
UTF8_BOM = codecs.BOM_UTF8
CHUNK = 1 << 20

# Markers a spooled XLSX cell carries when the spreadsheet lost its value: they start with a
# private-use character, which no input text carries.
MARK = "\ue000"
FORMULA_NO_VALUE = MARK + "formula"
LOST_DIGITS = MARK + "digits:"

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet run a text cell as a formula (CSV/formula injection)."""


class TableError(MedinsError):
    """An input or output table cannot be used at all: the run stops with exit code 1."""


# ----------------------------------------------------------------------------- kinds of file


def table_kind(path: Path, role: str) -> str:
    """``csv`` or ``xlsx`` by the file's extension; any other extension is an error naming the file."""
    suffix = path.suffix.lower()
    if suffix in SUFFIXES:
        return suffix[1:]
    hint = (
        t("旧版 .xls 请另存为 .xlsx 或 CSV", "save an old .xls workbook as .xlsx or CSV")
        if suffix == ".xls"
        else t("请使用 .csv 或 .xlsx 文件", "use a .csv or .xlsx file")
    )
    if not suffix:
        raise TableError(
            t(f"{role}：文件名没有扩展名", f"{role}: the file name has no extension"),
            str(path),
            t("请用 .csv 或 .xlsx 结尾的文件名", "name a file ending in .csv or .xlsx"),
        )
    raise TableError(
        t(f"{role}：不支持的文件类型 “{suffix}”", f"{role}: unsupported file type '{suffix}'"),
        str(path),
        hint,
    )


# ----------------------------------------------------------------------------- cell problems


def cell_problem(value: str) -> Text | None:
    """The reason a spooled XLSX cell cannot be used, or None for an ordinary value."""
    if not value.startswith(MARK):
        return None
    if value.startswith(FORMULA_NO_VALUE):
        formula = value[len(FORMULA_NO_VALUE) :]
        zh, en = (f" {quoted(formula)}", f" {quoted(formula)}") if formula else ("", "")
        return t(
            f"单元格是公式{zh}但没有计算结果（文件未在 Excel 中保存过计算值）",
            f"the cell is a formula{en} without a cached value (the workbook was never recalculated and saved)",
        ) + t("：请在 Excel 中打开并保存，或粘贴为数值", ": open and save it in Excel, or paste the values")
    if value.startswith(LOST_DIGITS):
        shown = value[len(LOST_DIGITS) :]
        return t(
            f"编号存成了数字 {shown}，超过 15 位的数字已丢失末尾数字：请把该列设为文本格式后重新填写",
            f"the ID is stored as the number {shown}; digits beyond 15 are lost: format the column as text and enter it again",
        )
    return t("单元格无法读取", "the cell cannot be read")


def xlsx_cell_text(value: Any, kind: str) -> str:
    """A cell value as input text. ``kind``: id, date, amount or text (anything else)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if kind == "date" or value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, float, Decimal)):
        if kind == "id" and abs(value) >= 10**15:
            shown = f"{Decimal(f'{value:.15g}'):f}" if isinstance(value, float) else str(value)
            return LOST_DIGITS + shown
        if isinstance(value, float):
            if value.is_integer() and abs(value) < 10**15:
                return str(int(value))
            return f"{Decimal(f'{value:.15g}'):f}"  # what the spreadsheet shows: 15 significant digits
        return str(value)
    return str(value)


# ----------------------------------------------------------------------------- reading CSV

FIELD_LIMIT = 1 << 20
"""Characters the csv module reads into one cell (its default, 131,072, aborted a whole file over one
long cell); a cell beyond it rejects its row and reading goes on with the next line."""

MAX_CELL = 10_000
"""Characters one cell may hold: no bill or item value comes near it; a longer cell rejects its row."""

DELIMITERS = (",", "\t", ";", "|")
"""Delimiters a header row is tried with, in order of preference when counts tie."""

SHOWN = 40
"""Characters of a cell quoted in a message before it is cut with '…'."""


def quoted(value: str, limit: int = SHOWN) -> str:
    """A cell as a message quotes it: in quotes, line breaks shown as ⏎, cut after ``limit`` characters."""
    text = re.sub(r"\r\n|\r|\n", "⏎", value)
    return f"'{text[:limit]}…'" if len(text) > limit else f"'{text}'"


def _sniff_binary(head: bytes, path: Path) -> None:
    if not head.strip(b" \t\r\n" + UTF8_BOM):
        raise TableError(
            t("文件是空的", "the file is empty"), str(path), t("需要标题行和数据行", "it needs a header row")
        )
    if head.startswith(b"PK\x03\x04"):
        raise TableError(
            t("这是 XLSX（压缩）文件，不是 CSV", "this is an XLSX (zip) file, not CSV"),
            str(path),
            t("请把扩展名改为 .xlsx", "name it .xlsx"),
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise TableError(
            t("这是旧版 Excel（.xls）文件，不是 CSV", "this is an old Excel (.xls) workbook, not CSV"),
            str(path),
            t("请另存为 .xlsx 或 CSV", "save it as .xlsx or CSV"),
        )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise TableError(
            t("这是 UTF-16 文本", "this is UTF-16 text"),
            str(path),
            t("请另存为 UTF-8 CSV", "save it as UTF-8 CSV"),
        )
    if b"\x00" in head:
        raise TableError(
            t("这不是文本 CSV 文件（含二进制数据）", "this is not a text CSV file (binary data)"),
            str(path),
            t("请使用 .csv 或 .xlsx 文件", "use a .csv or .xlsx file"),
        )


def line_end(head: bytes) -> bytes:
    """``b"\\r"`` when the first line ends with a bare CR (an old Mac or Excel export), else ``b"\\n"``."""
    m = re.search(rb"[\r\n]", head)
    if m is not None and head[m.start()] == 0x0D and m.start() + 1 < len(head) and head[m.start() + 1] != 0x0A:
        return b"\r"
    return b"\n"


def physical_lines(f: BinaryIO, newline: bytes) -> Iterator[bytes]:
    """The lines of a binary file from its position, each with its terminator; ``newline`` ends a line."""
    if newline == b"\n":
        yield from f
        return
    rest = b""
    while chunk := f.read(CHUNK):
        parts = (rest + chunk).split(newline)
        rest = parts.pop()
        for part in parts:
            yield part + newline
    if rest:
        yield rest


POLARS_ALLOCATOR = "dirty_decay_ms:100,muzzy_decay_ms:0"
"""polars' allocator keeps freed pages for ten seconds by default, so a batch's peak memory would
count every chunk it has read. Returned at once, each chunk's pages are faulted in again by the
next: 200,000 bills took about 600,000 page faults and 2.4–2.9 s of system time. Kept a tenth of a
second, they mostly serve the next chunk: 1.3–1.8 s, for 5–12 MB more at the peak (274–279 MB
against 267–269). Set (unless the user set it) before polars is first imported: the allocator reads
it once."""


def import_polars() -> Any:
    """polars, with :data:`POLARS_ALLOCATOR` set first."""
    os.environ.setdefault("_RJEM_MALLOC_CONF", POLARS_ALLOCATOR)
    import polars

    return polars


_NOT_ASCII = bytes(range(0x80, 0x100))
STRICT_BY_POLARS = 4 << 20
"""A UTF-8 file of at least this many bytes is checked by polars (Rust's validation, about six times
as fast as Python's decoder); a smaller one by Python's, sparing polars' import."""


def decodes_strictly(path: Path, encoding: str, start: int, size: int = CHUNK) -> bool:
    """Whether the whole file decodes in ``encoding`` without a single invalid byte."""
    if encoding == "utf-8":
        try:
            big = path.stat().st_size >= STRICT_BY_POLARS
        except OSError:
            big = False
        if big:
            return _utf8_by_polars(path, start, size)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with path.open("rb") as f:
            f.seek(start)
            while chunk := f.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _utf8_by_polars(path: Path, start: int, size: int) -> bool:
    """:func:`decodes_strictly` for UTF-8, by pieces that each end on an ASCII byte: such a byte is
    never part of a longer character, so the file is valid UTF-8 if and only if every piece is."""
    pl = import_polars()

    rest = b""
    with path.open("rb") as f:
        f.seek(start)
        while True:
            more = f.read(size)
            data = rest + more
            cut = len(data.rstrip(_NOT_ASCII)) if more else len(data)
            piece, rest = data[:cut], data[cut:]
            if piece:
                try:
                    pl.Series([piece], dtype=pl.Binary).cast(pl.String, strict=True)
                except pl.exceptions.ComputeError:  # polars' own words for a byte that is not UTF-8
                    return False
            if not more:
                return True


def utf8_kind(raw: bytes) -> int:
    """How surely a line is UTF-8 text: 2 sure, 1 perhaps, 0 not (ASCII only, or not UTF-8 at all).

    Chinese text in UTF-8 has letters of three bytes or more (U+0800 up), which a GBK line almost
    never forms by chance. A GBK line is, now and then, valid UTF-8 of two-byte letters: mostly
    U+0100–U+07FF (Greek, Cyrillic, Arabic …, which no bill holds: not UTF-8 text), sometimes
    U+0080–U+00FF, where UTF-8 bills do hold × ° µ ·: such a line is "perhaps".
    """
    if raw.isascii():
        return 0
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return 0
    if any(c >= "\u0800" for c in text):
        return 2
    return 1 if any("\u0080" <= c <= "\u00ff" for c in text) else 0


@dataclass(frozen=True)
class LineCensus:
    """Which lines of a file are not UTF-8 and which are UTF-8 text (line 1 is the header)."""

    not_utf8: list[int]
    not_utf8_count: int
    utf8: list[int]
    sample: bytes
    perhaps_utf8: list[int]
    perhaps_count: int

    @property
    def mixed(self) -> bool:
        """Whether the file holds UTF-8 text beside lines that are not UTF-8.

        Lines only perhaps UTF-8 count when they outnumber the lines that are not: in a GBK file the
        lines valid as UTF-8 by chance are few among many that are not.
        """
        if not self.not_utf8_count:
            return False
        return bool(self.utf8) or self.perhaps_count >= self.not_utf8_count

    @property
    def evidence(self) -> int:
        """The first line that is UTF-8 text (0: none)."""
        lines = self.utf8 or (self.perhaps_utf8 if self.perhaps_count >= self.not_utf8_count else [])
        return lines[0] if lines else 0


def utf8_census(path: Path, start: int, newline: bytes, keep: int = 5) -> LineCensus:
    """Count the lines that are not UTF-8 and those that are UTF-8 text; keep the first ``keep`` of each."""
    bad: list[int] = []
    good: list[int] = []
    perhaps: list[int] = []
    count = perhaps_count = 0
    sample = b""
    with path.open("rb") as f:
        f.seek(start)
        for line_no, raw in enumerate(physical_lines(f, newline), 1):
            if raw.isascii():
                continue
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                count += 1
                if len(bad) < keep:
                    bad.append(line_no)
                    sample = sample or raw
                continue
            kind = utf8_kind(raw)
            if kind == 2 and len(good) < keep:
                good.append(line_no)
            elif kind == 1:
                perhaps_count += 1
                if len(perhaps) < keep:
                    perhaps.append(line_no)
    return LineCensus(bad, count, good, sample, perhaps, perhaps_count)


def _line_list(lines: list[int], count: int) -> tuple[str, str]:
    shown = ", ".join(map(str, lines))
    more = count - len(lines)
    return (
        "、".join(map(str, lines)) + (f" 等 {count} 行" if more > 0 else ""),
        shown + (f" and {more} more" if more > 0 else ""),
    )


def _mixed_encoding(census: LineCensus, shown: Path, bom: bool) -> TableError:
    """The error for a file that is not wholly one encoding (or a UTF-8 mark before GBK text)."""
    bad_zh, bad_en = _line_list(census.not_utf8, census.not_utf8_count)
    plural = "s" if census.not_utf8_count > 1 else ""
    verb = "are" if census.not_utf8_count > 1 else "is"
    sample = quoted(census.sample.decode("gb18030", errors="replace").rstrip("\r\n"))
    if census.mixed:
        good = census.evidence
        return TableError(
            t(
                f"文件混用了两种编码：第 {bad_zh} 行不是 UTF-8（按 GBK 读作 {sample}），而第 {good} 行是 UTF-8",
                f"the file mixes encodings: line{plural} {bad_en} {verb} not UTF-8 (read as GBK: {sample}), "
                f"while line {good} is UTF-8 text",
            ),
            str(shown),
            t(
                "请把整个文件另存为 UTF-8（转换或重新输入这些行）后再运行",
                "save the whole file as UTF-8 (convert or re-type those lines), then run again",
            ),
        )
    assert bom
    return TableError(
        t(
            f"文件以 UTF-8 标记（BOM）开头，但第 {bad_zh} 行不是 UTF-8（按 GBK 读作 {sample}）",
            f"the file starts with a UTF-8 byte-order mark, but line{plural} {bad_en} {verb} not UTF-8 "
            f"(read as GBK: {sample})",
        ),
        str(shown),
        t(
            "请另存为 UTF-8 CSV；若整个文件是 GBK，请用 --encoding gb18030",
            "save it again as UTF-8 CSV, or pass --encoding gb18030 if the whole file is GBK",
        ),
    )


@dataclass(frozen=True)
class RowProblem:
    """Why a record cannot be read as a row: the cell's index in the header (None: the whole row)."""

    column: int | None
    reason: Text


def _swallowed(values: list[str], delimiter: str, width: int) -> int | None:
    """The cell whose quote swallowed the lines after it: a cell over several lines that holds
    delimiters enough for half a row (the rest of its own line and the start of the next)."""
    need = max(2, (width - 1) // 2)
    for i, value in enumerate(values):
        if ("\n" in value or "\r" in value) and value.count(delimiter) >= need:
            return i
    return None


class _Feed:
    """Decoded lines for the csv module, each kept (text, end offset, line number) until its record is
    done; the lines of a rejected record after its first can be put back to be read again."""

    def __init__(
        self,
        raw: Iterator[bytes],
        encoding: str,
        start: int,
        on_error: Callable[[int, UnicodeDecodeError], TableError],
    ) -> None:
        self.raw = raw
        self.encoding = encoding
        self.pos = start
        self.line_no = 0
        self.on_error = on_error
        self.taken: list[tuple[str, int, int]] = []
        self.replay: deque[tuple[str, int, int]] = deque()

    def lines(self) -> Iterator[str]:
        """The lines put back first, then the file's next lines."""
        taken, replay = self.taken, self.replay
        while replay:
            item = replay.popleft()
            taken.append(item)
            yield item[0]
        encoding = self.encoding
        for raw in self.raw:
            self.line_no += 1
            self.pos += len(raw)
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise self.on_error(self.line_no, exc) from None
            taken.append((text, self.pos, self.line_no))
            yield text

    def put_back(self) -> Iterator[str]:
        """Read again the lines of the current record after its first: the lines to read from now."""
        self.replay.extendleft(reversed(self.taken[1:]))
        self.taken.clear()
        return self.lines()


class CsvTable:
    """A CSV file read by records, each with its byte range, after the header row (row 1).

    Rows are numbered as a spreadsheet numbers them: the header is row 1, the first record row 2;
    blank records count as rows but are not yielded. Every record is checked for its shape here,
    once, for every way a batch is run: its cell count against the header's, a quote that runs on
    over the rows after it, a cell too long to be a value.
    """

    def __init__(
        self,
        path: Path,
        encoding: str,
        start: int,
        delimiter: str,
        header: list[str],
        shown: Path,
        newline: bytes = b"\n",
    ) -> None:
        self.path = path
        self.encoding = encoding
        self.start = start  # byte offset of the header (after any BOM)
        self.delimiter = delimiter
        self.header = header
        self.shown = shown  # the name to show in messages (the XLSX for a spool)
        self.spooled = shown != path
        self.newline = newline
        self.data_start = 0
        named = len(header)
        while named and not header[named - 1]:
            named -= 1
        self.named = named  # cells up to the last named header cell

    def column_name(self, index: int | None) -> str:
        """The header cell over a column, as written; empty beyond the header."""
        return self.header[index] if index is not None and index < len(self.header) else ""

    def column_label(self, index: int | None) -> str:
        """A column as a message names it: its header, else its number (1 the first)."""
        return self.column_name(index) or (f"#{index + 1}" if index is not None else "?")

    def _decode_error(self, line_no: int, exc: UnicodeDecodeError) -> TableError:
        return TableError(
            t(
                f"第 {line_no} 行不是有效的 {self.encoding} 编码（字节 {exc.start}）",
                f"line {line_no} is not valid {self.encoding} (byte {exc.start})",
            ),
            str(self.shown),
            t("请用 --encoding 指定文件的编码", "pass --encoding with the file's encoding"),
        )

    def shape_problem(self, row: int, values: list[str], long: bool = True) -> RowProblem | None:
        """Whether a record's cells fit the header: its cell count, and no cell longer than MAX_CELL.

        ``long=False`` says the record's text is no longer than MAX_CELL, so no cell can be.
        """
        n, width = len(values), len(self.header)
        if n != width and not (self.named <= n < width and not any(values[self.named :])):
            return self._width_problem(row, values)
        if not long or max(map(len, values), default=0) <= MAX_CELL:
            return None
        for i, value in enumerate(values):
            if len(value) > MAX_CELL:
                return RowProblem(
                    i,
                    t(
                        f"单元格有 {len(value):,} 个字符（{quoted(value, 20)}），一个单元格最多 {MAX_CELL:,} 个：引号不成对？",
                        f"the cell is {len(value):,} characters long ({quoted(value, 20)}); a cell holds at most "
                        f"{MAX_CELL:,}: an unbalanced quote?",
                    ),
                )
        return None

    def _width_problem(self, row: int, values: list[str]) -> RowProblem:
        n, width = len(values), len(self.header)
        d = "Tab" if self.delimiter == "\t" else self.delimiter
        if self.spooled:
            extra = next(i for i in range(width, n) if values[i])
            return RowProblem(
                extra,
                t(
                    f"第 {row} 行在标题行之外的第 {extra + 1} 列有值 {quoted(values[extra])}，标题行只有 {width} 列",
                    f"row {row} has a value in column {extra + 1} ({quoted(values[extra])}), beyond the header's "
                    f"{width} columns",
                ),
            )
        head_zh, head_en = (
            f"第 {row} 行有 {n} 个单元格，标题行有 {width} 个",
            f"row {row} has {n} cells, the header {width}",
        )
        if n > width:
            for i in range(n - 1):
                a, b = values[i].strip(), values[i + 1].strip()
                if re.fullmatch(r"[+-]?\d{1,3}", a) and re.fullmatch(r"\d{3}(?:[.,]\d*)?", b):
                    both = f"{a}{d}{b}"
                    return RowProblem(
                        i,
                        t(
                            f"{head_zh}：未加引号的逗号？列 {self.column_label(i)} 的 “{a}” 和下一格 “{b}” 像是一个数 “{both}” 被拆开了",
                            f"{head_en}: an unquoted comma? '{a}' in column {self.column_label(i)} and '{b}' after it "
                            f"look like one number '{both}' split in two",
                        )
                        + t(
                            f'；请给该单元格加引号（"{both}"）或去掉千位分隔符',
                            f'; put the cell in quotes ("{both}") or write it without the separator',
                        ),
                    )
            beyond = [v for v in values[width:] if v.strip()]
            if beyond:
                shown_zh = shown_en = ", ".join(quoted(v) for v in beyond[:3])
                shown_zh, shown_en = f"多出的单元格：{shown_zh}", f"the cells beyond the header: {shown_en}"
            else:
                row_text = quoted(self.delimiter.join(values), 80)
                shown_zh, shown_en = f"该行：{row_text}", f"the row: {row_text}"
            return RowProblem(
                width if beyond else None,
                t(
                    f"{head_zh}：某个单元格中有未加引号的 “{d}”？{shown_zh}",
                    f"{head_en}: an unquoted '{d}' inside a cell? {shown_en}",
                )
                + t(f"；含 “{d}” 的单元格须加引号", f"; put cells that contain '{d}' in quotes"),
            )
        last = quoted(values[-1]) if values else "''"
        return RowProblem(
            n,
            t(
                f"{head_zh}：最后一格是 {last}，从 {self.column_label(n)} 起的列缺少单元格（少了分隔符，或行被截断？）",
                f"{head_en}: the last cell is {last}; the cells from {self.column_label(n)} on are missing "
                f"(a lost '{d}', or a cut row?)",
            ),
        )

    def records(self) -> Iterator[tuple[int, int, int, list[str], RowProblem | None]]:
        """``(row, start, end, values, problem)`` of every non-blank record after the header.

        ``problem`` says why the record is not a row the header describes (a row to reject); a quote
        that swallowed the lines after it, or a cell the csv module cannot read, rejects the record's
        first line and reading goes on from the line after it.
        """
        csv.field_size_limit(FIELD_LIMIT)
        width = len(self.header)
        with self.path.open("rb") as f:
            f.seek(self.start)
            raw = iter(f) if self.newline == b"\n" else physical_lines(f, self.newline)
            feed = _Feed(raw, self.encoding, self.start, self._decode_error)
            taken = feed.taken
            reader = csv.reader(feed.lines(), delimiter=self.delimiter)
            try:
                next(reader)  # the header
            except csv.Error as exc:
                raise TableError(
                    t(f"标题行不是有效的 CSV：{exc}", f"the header row is not valid CSV: {exc}"), str(self.shown)
                ) from None
            self.data_start = start = taken[-1][1] if taken else feed.pos
            taken.clear()
            row = 1
            while True:
                error: str | None = None
                try:
                    values = next(reader, None)
                except csv.Error as exc:
                    values, error = [], str(exc)
                if values is None:
                    return
                row += 1
                if error is None and len(taken) == 1:  # the common case: a record on one line
                    text, end, _ = taken[0]
                    taken.clear()
                    if any(values):
                        yield row, start, end, values, self.shape_problem(row, values, len(text) > MAX_CELL)
                    start = end
                    continue
                problem: RowProblem | None = None
                if error is None and len(taken) > 1 and not self.spooled:
                    i = _swallowed(values, self.delimiter, width)
                    if i is None and self.shape_problem(row, values) is not None:
                        # a record over several lines that does not fit the header: a quote opened too early
                        i = next((k for k, v in enumerate(values) if "\n" in v or "\r" in v), None)
                        problem = self._unbalanced(row, i, values[i] if i is not None else "", taken)
                    elif i is not None:
                        problem = self._unbalanced(row, i, values[i], taken)
                elif error is not None and taken:
                    limit = "field larger than field limit" in error
                    problem = RowProblem(
                        None,
                        t(
                            f"第 {row} 行无法按 CSV 读取（{error}）"
                            + ("：有引号不成对，或单元格过长" if limit else ""),
                            f"row {row} cannot be read as CSV ({error})"
                            + (": an unbalanced quote, or a cell far too long" if limit else ""),
                        ),
                    )
                elif error is not None:
                    raise TableError(
                        t(f"CSV 格式错误（第 {row} 行附近）：{error}", f"malformed CSV (near row {row}): {error}"),
                        str(self.shown),
                    )
                if problem is not None:
                    # read on from the line after the record's first: the rows a quote swallowed
                    end = taken[0][1]
                    reader = csv.reader(feed.put_back(), delimiter=self.delimiter)
                    yield row, start, end, values, problem
                    start = end
                    continue
                end = taken[-1][1] if taken else feed.pos
                taken.clear()
                if any(values):
                    yield row, start, end, values, self.shape_problem(row, values)
                start = end

    def _unbalanced(self, row: int, index: int | None, cell: str, taken: list[tuple[str, int, int]]) -> RowProblem:
        first, last = taken[0][2], taken[-1][2]
        name = self.column_label(index)
        return RowProblem(
            index,
            t(
                f"第 {row} 行列 {name} 的引号不成对：单元格 {quoted(cell)} 从第 {first} 行一直延续到第 {last} 行，"
                "吞掉了其后的行；请补上或删去引号（其后的行照常读取）",
                f"an unbalanced quote in row {row}, column {name}: the cell {quoted(cell)} runs on from line "
                f"{first} to line {last}, taking in the rows after it; close the quote or remove it "
                "(the rows after it are read on their own)",
            ),
        )


def read_header(path: Path, encoding: str, start: int, newline: bytes = b"\n") -> tuple[list[str], str] | None:
    """The header row and its delimiter in ``encoding``, or None when it does not decode strictly.

    The delimiter is the one of ``DELIMITERS`` the header line holds most of (a comma when none).
    """
    with path.open("rb") as f:
        f.seek(start)
        raw = next(physical_lines(f, newline), b"")
    try:
        line = raw.decode(encoding)
    except UnicodeDecodeError:
        return None
    counts = [line.count(d) for d in DELIMITERS]
    delimiter = DELIMITERS[counts.index(max(counts))] if max(counts) else ","
    values = next(csv.reader([line], delimiter=delimiter), [])
    return [v.strip() for v in values], delimiter


def open_csv(
    path: Path, encoding: str, check: Callable[[list[str]], int], shown: Path | None = None
) -> tuple[CsvTable, Any]:
    """Open a CSV, choosing its encoding: ``auto`` reads UTF-8 (with or without BOM), else GB18030.

    ``auto`` takes GB18030 only when no line is UTF-8 text: a file with UTF-8 lines and lines that
    are not UTF-8 (one GBK line pasted into a UTF-8 file) is refused naming the lines, because
    reading it all as GB18030 would garble every UTF-8 name. ``check(header)`` returns how many
    header cells are known columns and raises a ``TableError`` when required columns are missing;
    an encoding is chosen when the whole file decodes strictly in it and its header passes ``check``.
    """
    shown = shown or path
    try:
        with path.open("rb") as f:
            head = f.read(CHUNK)
    except OSError as exc:
        raise TableError(t("无法读取文件", "cannot read file"), str(shown), t(str(exc), str(exc))) from None
    if shown == path:
        _sniff_binary(head, shown)
    bom = head.startswith(UTF8_BOM)
    start = len(UTF8_BOM) if bom else 0
    newline = line_end(head[start:])
    decodes: dict[str, bool] = {}  # what a whole-file decoding showed, each encoding decoded once
    if encoding == "auto":
        candidates = ["utf-8"]
        decodes["utf-8"] = decodes_strictly(path, "utf-8", start)
        if not decodes["utf-8"]:
            census = utf8_census(path, start, newline)
            if census.mixed or bom:
                raise _mixed_encoding(census, shown, bom)
            candidates = ["gb18030"]
    else:
        candidates = [encoding]
    first_error: TableError | None = None
    garbled: str | None = None
    for enc in candidates:
        if encoding == "auto" and not (decodes[enc] if enc in decodes else decodes_strictly(path, enc, start)):
            continue
        found = read_header(path, enc, start, newline)
        if found is None:
            if encoding != "auto":
                garbled = enc
            continue
        header, delimiter = found
        try:
            known = check(header)
        except TableError as exc:
            if getattr(exc, "known", 1) == 0:
                garbled = garbled or enc
            first_error = first_error or exc
            continue
        if known == 0:
            garbled = garbled or enc
            continue
        return CsvTable(path, enc, start, delimiter, header, shown, newline), None
    if garbled is not None:
        raise TableError(
            t(
                f"按 {garbled} 读出的标题行不是有效文本或没有一个认识的列名（编码可能不对）",
                f"read as {garbled}, the header row is not valid text or has no known column name (wrong encoding?)",
            ),
            str(shown),
            t(
                "请用 --encoding utf-8 或 --encoding gb18030 指定文件的编码",
                "pass --encoding utf-8 or --encoding gb18030 to say how the file is encoded",
            ),
        )
    if first_error is not None:
        raise first_error
    raise TableError(
        t("文件既不是有效的 UTF-8 也不是 GB18030 编码", "the file is neither valid UTF-8 nor GB18030"),
        str(shown),
        t(
            "请另存为 UTF-8 CSV，或用 --encoding 指定编码",
            "save it as UTF-8 CSV, or pass --encoding with its encoding",
        ),
    )


class RangeReader:
    """Re-reads records of a CSV by byte range (in a worker process)."""

    def __init__(self, path: Path, encoding: str, delimiter: str) -> None:
        csv.field_size_limit(FIELD_LIMIT)
        self.f = path.open("rb")
        self.encoding = encoding
        self.delimiter = delimiter

    def read(self, start: int, end: int) -> list[list[str]]:
        """The non-blank records between two offsets, in file order."""
        self.f.seek(start)
        text = self.f.read(end - start).decode(self.encoding)
        return [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter) if any(r)]

    def close(self) -> None:
        self.f.close()


# ----------------------------------------------------------------------------- reading XLSX

_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")


def _has_formulas(path: Path, sheet_path: str | None) -> bool:
    with zipfile.ZipFile(path) as z:
        names = [sheet_path.lstrip("/")] if sheet_path else [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        for name in names:
            with z.open(name) as f:
                tail = b""
                while chunk := f.read(CHUNK):
                    if _FORMULA_TAG.search(tail + chunk):
                        return True
                    tail = chunk[-16:]
    return False


def xlsx_header(path: Path, shown: Path) -> list[str]:
    """The first row of the first sheet, as text."""
    for row in _xlsx_rows(path, shown, with_formulas=False):
        return [xlsx_cell_text(v, "text").strip() for v in row]
    raise TableError(
        t("工作表是空的", "the sheet is empty"), str(shown), t("需要标题行和数据行", "it needs a header row")
    )


def _open_workbook(path: Path, shown: Path, data_only: bool) -> Any:
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=data_only)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise TableError(
            t("无法作为 XLSX 工作簿读取", "cannot be read as an XLSX workbook"),
            str(shown),
            t(f"文件可能已损坏或不是 .xlsx：{exc}", f"the file may be damaged or not .xlsx: {exc}"),
        ) from None


def _xlsx_rows(path: Path, shown: Path, with_formulas: bool) -> Iterator[tuple[Any, ...]]:
    """Rows of the first sheet from row 1; with_formulas marks formula cells without a cached value."""
    wb = _open_workbook(path, shown, data_only=True)
    try:
        ws = wb.worksheets[0]
        values = ws.iter_rows(min_row=1, values_only=True)
        if not with_formulas or not _has_formulas(path, getattr(ws, "_worksheet_path", None)):
            yield from values
            return
        wf = _open_workbook(path, shown, data_only=False)
        try:
            formulas = wf.worksheets[0].iter_rows(min_row=1, values_only=True)
            for row, frow in zip(values, formulas, strict=False):
                if any(v is None and f is not None for v, f in zip(row, frow, strict=False)):
                    row = (
                        tuple(
                            FORMULA_NO_VALUE + str(f) if v is None and f is not None else v
                            for v, f in zip(row, frow, strict=False)
                        )
                        + row[len(frow) :]
                    )
                yield row
        finally:
            wf.close()
    finally:
        wb.close()


def spool_xlsx(path: Path, shown: Path, kinds: list[str], folder: Path) -> Path:
    """Copy the first sheet into a UTF-8 CSV in ``folder``, row for row, cells as input text."""
    dest = folder / (path.stem + ".spool.csv")
    width = 0
    with dest.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        for i, row in enumerate(_xlsx_rows(path, shown, with_formulas=True)):
            if i == 0:
                header = [xlsx_cell_text(v, "text").strip() for v in row]
                while header and not header[-1]:
                    header.pop()  # a sheet's row is as wide as its widest row: the header ends at its last name
                w.writerow(header)
                width = len(header)
                continue
            out = [
                v
                if isinstance(v, str) and v.startswith(FORMULA_NO_VALUE)
                else xlsx_cell_text(v, kinds[j] if j < len(kinds) else "text")
                for j, v in enumerate(row)
            ]
            # a sheet's rows end where their last cell is: as wide as the header, unless a value lies beyond it
            if len(out) < width:
                out += [""] * (width - len(out))
            elif len(out) > width and not any(out[width:]):
                del out[width:]
            w.writerow(out if any(out) else [])
    return dest


# ----------------------------------------------------------------------------- writing


# write errors that name no file: about the file being written
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EROFS, getattr(errno, "EDQUOT", errno.ENOSPC)})


def neutralise(text: str) -> str:
    """Prefix ``'`` to a text cell a spreadsheet would run as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


class Outputs:
    """Output files written to temporaries beside their targets and moved into place together.

    ``commit()`` moves every temporary into place (``os.replace``), not interrupted by a signal; if
    one move fails, the files already moved are put back, so the outputs change all together or not
    at all. Leaving the block without a commit (an error, Ctrl-C) removes the temporaries, so no
    half-written file is ever left behind. A write error there becomes one line naming the output.
    """

    def __init__(self) -> None:
        # (temporary, file it replaces, path as the user gave it)
        self._pending: list[tuple[Path, Path, Path]] = []

    def temp_for(self, target: Path) -> Path:
        """A new empty temporary file beside ``target``, moved onto it by ``commit``."""
        real = writable_target(target)
        folder = real.parent if str(real.parent) else Path(".")
        if not folder.is_dir():
            raise TableError(t("输出目录不存在", "the output folder does not exist"), str(folder))
        with critical():
            try:
                fd, name = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=folder)
            except OSError as exc:
                raise cannot_write(target, exc) from None
            os.close(fd)
            temp = Path(name)
            self._pending.append((temp, real, target))
        return temp

    def commit(self) -> None:
        """Move every temporary onto its target; on a failure, put back the targets already moved."""
        checkpoint()
        with critical(written=True):
            done: list[tuple[Path, Path | None]] = []  # (target, its old content kept aside, if any)
            try:
                for k, (temp, real, shown) in enumerate(self._pending):
                    old = self._keep(real, k)
                    try:
                        os.replace(temp, real)
                    except OSError as exc:
                        if old is not None:
                            old.unlink(missing_ok=True)
                        raise cannot_write(shown, exc) from None
                    done.append((real, old))
            except BaseException:
                for real, old in reversed(done):
                    with contextlib.suppress(OSError):
                        if old is not None:
                            os.replace(old, real)
                        else:
                            real.unlink()
                raise
            for _, old in done:
                if old is not None:
                    old.unlink(missing_ok=True)
            self._pending.clear()

    @staticmethod
    def _keep(real: Path, k: int) -> Path | None:
        """A second name for ``real``'s current content (a hard link), to put it back if need be."""
        if not real.exists():
            return None
        old = real.with_name(f".{real.name}.{os.getpid()}-{k}.old")
        try:
            old.unlink(missing_ok=True)
            os.link(real, old)
        except OSError:
            return None  # a file system without hard links: this target cannot be put back
        return old

    def discard(self) -> None:
        """Remove the temporaries not yet moved."""
        with critical():
            for temp, _, _ in self._pending:
                temp.unlink(missing_ok=True)
            self._pending.clear()

    def culprit(self, exc: OSError) -> Path | None:
        """The output a write error is about: the file it names, else (disk full and the like, which
        name no file) the output written last, as outputs are written one after another."""
        names = {str(exc.filename), str(exc.filename2)} - {"None"}
        for temp, real, shown in self._pending:
            if names & {str(temp), str(real), str(shown)}:
                return shown
        if not names and exc.errno in _WRITE_ERRNOS and self._pending:
            return self._pending[-1][2]
        return None

    def __enter__(self) -> Outputs:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        target = self.culprit(exc) if isinstance(exc, OSError) and not isinstance(exc, MedinsError) else None
        self.discard()
        if target is not None:
            raise cannot_write(target, exc) from None  # type: ignore[arg-type]


def csv_lines(frame: Any, text: list[int]) -> bytes:
    """A polars frame of text cells as UTF-8 CSV lines, byte for byte what ``csv.writer`` writes for
    its rows after :func:`neutralise` of the columns ``text`` (cells quoted only when needed, CRLF line
    ends; polars quotes an empty cell, so empty cells are written as missing ones)."""
    import io

    pl = import_polars()
    names = frame.columns
    frame = frame.with_columns(
        [
            pl.when(pl.col(names[i]).str.contains(r"^[=+\-@\t\r]"))
            .then(pl.lit("'") + pl.col(names[i]))
            .otherwise(pl.col(names[i]))
            .alias(names[i])
            for i in text
        ]
    ).with_columns(pl.all().replace("", None))
    out = io.BytesIO()
    frame.write_csv(out, include_header=False, line_terminator="\r\n", quote_style="necessary")
    return out.getvalue()


class TableWriter:
    """Rows to a CSV (UTF-8 with BOM, so Excel reads Chinese) or an XLSX sheet.

    ``kinds`` per column: ``text`` (neutralised), ``money`` (2 decimals), ``ratio`` (4 decimals),
    ``int``, ``bool`` or ``date`` (``YYYY-MM-DD``). Values arrive as text; XLSX stores money, ratios
    and ints as numbers, dates as dates.
    """

    def __init__(self, temp: Path, target: Path, columns: list[str], kinds: list[str], sheet: str = "medins") -> None:
        self.kind = table_kind(target, str(target))
        self.temp = temp
        self.target = target
        self.kinds = kinds
        self._text = [i for i, k in enumerate(kinds) if k == "text"]
        try:
            if self.kind == "csv":
                self._f = temp.open("w", encoding="utf-8-sig", newline="")
                self._csv = csv.writer(self._f)
                self._csv.writerow(columns)
            else:
                from openpyxl import Workbook

                self._wb = Workbook(write_only=True)
                self._ws = self._wb.create_sheet(sheet)
                self._ws.append(columns)
        except OSError as exc:
            raise cannot_write(target, exc) from None

    def write(self, values: list[Any]) -> None:
        """One row: text cells neutralised, the rest as their kind says."""
        for i in self._text:
            v = values[i]
            if v and v[0] in "=+-@\t\r":
                values[i] = "'" + v
        try:
            if self.kind == "csv":
                self._csv.writerow(values)
            else:
                self._ws.append(self._xlsx_cells(values))
        except OSError as exc:
            raise cannot_write(self.target, exc) from None

    def write_frame(self, frame: Any) -> None:
        """Many rows at once from a polars frame of text columns, in this writer's column order: the
        same bytes as :meth:`write` row by row (text cells neutralised, cells quoted only when needed,
        CRLF line ends), formatted by polars for a CSV."""
        if self.kind != "csv":
            for row in frame.iter_rows():
                self.write(["" if v is None else v for v in row])
            return
        for start in range(0, frame.height, 100_000):
            self.write_lines(self.csv_lines(frame.slice(start, 100_000)))

    @property
    def text(self) -> list[int]:
        """The numbers of the text columns (the others are numbers, dates and flags)."""
        return self._text

    def csv_lines(self, frame: Any) -> bytes:
        """The CSV lines :meth:`write_frame` would write for ``frame`` (no header), as UTF-8."""
        return csv_lines(frame, self._text)

    def write_lines(self, lines: bytes) -> None:
        """CSV lines already formatted (by :meth:`csv_lines`), as UTF-8: written under the text the
        writer has written so far (the BOM and the header)."""
        try:
            self._f.flush()
            self._f.buffer.write(lines)
        except OSError as exc:
            raise cannot_write(self.target, exc) from None

    def _xlsx_cells(self, values: list[Any]) -> list[Any]:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        cells: list[Any] = []
        for v, kind in zip(values, self.kinds, strict=True):
            if kind == "text":
                cells.append(ILLEGAL_CHARACTERS_RE.sub("", v) if v else None)
            elif v == "" or v is None:
                cells.append(None)
            elif kind in ("money", "ratio"):
                cell = WriteOnlyCell(self._ws, value=Decimal(v))
                cell.number_format = "0.00" if kind == "money" else "0.0000"
                cells.append(cell)
            elif kind == "int":
                cells.append(int(v))
            elif kind == "date":
                cell = WriteOnlyCell(self._ws, value=date.fromisoformat(v))
                cell.number_format = "yyyy-mm-dd"
                cells.append(cell)
            elif kind == "bool":
                cells.append(v == "true" if isinstance(v, str) else bool(v))
            else:
                cells.append(v)
        return cells

    def close(self) -> None:
        """Finish the file (a full disk often shows only here, when the last block is written)."""
        try:
            if self.kind == "csv":
                self._f.close()
            else:
                self._wb.save(self.temp)
        except OSError as exc:
            raise cannot_write(self.target, exc) from None
