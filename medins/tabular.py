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
import csv
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from medins.errors import MedinsError, t
from medins.i18n import Text

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
    raise TableError(
        t(f"{role}：不支持的文件类型 “{suffix or '无扩展名'}”", f"{role}: unsupported file type '{suffix or 'none'}'"),
        str(path),
        hint,
    )


# ----------------------------------------------------------------------------- cell problems


def cell_problem(value: str) -> Text | None:
    """The reason a spooled XLSX cell cannot be used, or None for an ordinary value."""
    if not value.startswith(MARK):
        return None
    if value == FORMULA_NO_VALUE:
        return t(
            "单元格是公式但没有计算结果（文件未在 Excel 中保存过计算值）",
            "the cell is a formula without a cached value (the workbook was never recalculated and saved)",
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


def decodes_strictly(path: Path, encoding: str, start: int) -> bool:
    """Whether the whole file decodes in ``encoding`` without a single invalid byte."""
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


class CsvTable:
    """A CSV file read by records, each with its byte range, after the header row (row 1).

    Rows are numbered as a spreadsheet numbers them: the header is row 1, the first record row 2;
    blank records count as rows but are not yielded.
    """

    def __init__(self, path: Path, encoding: str, start: int, delimiter: str, header: list[str], shown: Path) -> None:
        self.path = path
        self.encoding = encoding
        self.start = start  # byte offset of the header (after any BOM)
        self.delimiter = delimiter
        self.header = header
        self.shown = shown  # the name to show in messages (the XLSX for a spool)
        self.spooled = shown != path
        self.data_start = 0

    def _lines(self, f: BinaryIO, pos: list[int]) -> Iterator[str]:
        decode = codecs.getdecoder(self.encoding)
        for line_no, raw in enumerate(f, 1):
            pos[0] += len(raw)
            try:
                yield decode(raw)[0]
            except UnicodeDecodeError as exc:
                raise TableError(
                    t(
                        f"第 {line_no} 行不是有效的 {self.encoding} 编码（字节 {exc.start}）",
                        f"line {line_no} is not valid {self.encoding} (byte {exc.start})",
                    ),
                    str(self.shown),
                    t("请用 --encoding 指定文件的编码", "pass --encoding with the file's encoding"),
                ) from None

    def records(self) -> Iterator[tuple[int, int, int, list[str]]]:
        """``(row, start, end, values)`` of every non-blank record after the header."""
        with self.path.open("rb") as f:
            f.seek(self.start)
            pos = [self.start]
            row = 1
            reader = csv.reader(self._lines(f, pos), delimiter=self.delimiter)
            try:
                next(reader)  # the header
                self.data_start = pos[0]
                start = pos[0]
                for values in reader:
                    row += 1
                    end = pos[0]
                    if any(values):
                        yield row, start, end, values
                    start = end
            except csv.Error as exc:
                raise TableError(
                    t(f"CSV 格式错误（第 {row + 1} 行附近）：{exc}", f"malformed CSV (near row {row + 1}): {exc}"),
                    str(self.shown),
                ) from None


def read_header(path: Path, encoding: str, start: int) -> tuple[list[str], str] | None:
    """The header row and delimiter in ``encoding``, or None when it does not decode strictly."""
    with path.open("rb") as f:
        f.seek(start)
        raw = f.readline()
    try:
        line = raw.decode(encoding)
    except UnicodeDecodeError:
        return None
    delimiter = "\t" if "," not in line and "\t" in line else ","
    values = next(csv.reader([line], delimiter=delimiter), [])
    return [v.strip() for v in values], delimiter


def open_csv(
    path: Path, encoding: str, check: Callable[[list[str]], int], shown: Path | None = None
) -> tuple[CsvTable, Any]:
    """Open a CSV, choosing its encoding: ``auto`` tries UTF-8 (with or without BOM), then GB18030.

    ``check(header)`` returns how many header cells are known columns and raises a ``TableError``
    when required columns are missing; an encoding is chosen when the whole file decodes strictly
    in it and its header passes ``check``.
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
    if encoding == "auto":
        candidates = ["utf-8"] if bom else ["utf-8", "gb18030"]
    else:
        candidates = [encoding]
        if encoding != "utf-8":
            start = 0
    first_error: TableError | None = None
    garbled: str | None = None
    for enc in candidates:
        if encoding == "auto" and not decodes_strictly(path, enc, start):
            continue
        found = read_header(path, enc, start)
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
        return CsvTable(path, enc, start, delimiter, header, shown), None
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
                            FORMULA_NO_VALUE if v is None and f is not None else v
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
    with dest.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        for i, row in enumerate(_xlsx_rows(path, shown, with_formulas=True)):
            if i == 0:
                w.writerow(xlsx_cell_text(v, "text").strip() for v in row)
                continue
            out = [
                v if v == FORMULA_NO_VALUE else xlsx_cell_text(v, kinds[j] if j < len(kinds) else "text")
                for j, v in enumerate(row)
            ]
            w.writerow(out if any(out) else [])
    return dest


# ----------------------------------------------------------------------------- writing


def neutralise(text: str) -> str:
    """Prefix ``'`` to a text cell a spreadsheet would run as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


class Outputs:
    """Output files written to temporaries beside their targets and moved into place together.

    ``commit()`` moves every temporary into place (``os.replace``); leaving the block without a
    commit (an error, Ctrl-C) removes them, so no half-written file is ever left behind.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def temp_for(self, target: Path) -> Path:
        folder = target.parent if str(target.parent) else Path(".")
        if not folder.is_dir():
            raise TableError(t("输出目录不存在", "the output folder does not exist"), str(folder))
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        temp = Path(name)
        self._pending.append((temp, target))
        return temp

    def commit(self) -> None:
        for temp, target in self._pending:
            os.replace(temp, target)
        self._pending.clear()

    def discard(self) -> None:
        for temp, _ in self._pending:
            temp.unlink(missing_ok=True)
        self._pending.clear()

    def __enter__(self) -> Outputs:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.discard()


class TableWriter:
    """Rows to a CSV (UTF-8 with BOM, so Excel reads Chinese) or an XLSX sheet.

    ``kinds`` per column: ``text`` (neutralised), ``money`` (2 decimals), ``ratio`` (4 decimals),
    ``int`` or ``bool``. Values arrive as text; XLSX stores money, ratios and ints as numbers.
    """

    def __init__(self, temp: Path, target: Path, columns: list[str], kinds: list[str], sheet: str = "medins") -> None:
        self.kind = table_kind(target, str(target))
        self.temp = temp
        self.kinds = kinds
        self._text = [i for i, k in enumerate(kinds) if k == "text"]
        if self.kind == "csv":
            self._f = temp.open("w", encoding="utf-8-sig", newline="")
            self._csv = csv.writer(self._f)
            self._csv.writerow(columns)
        else:
            from openpyxl import Workbook

            self._wb = Workbook(write_only=True)
            self._ws = self._wb.create_sheet(sheet)
            self._ws.append(columns)

    def write(self, values: list[Any]) -> None:
        for i in self._text:
            v = values[i]
            if v and v[0] in "=+-@\t\r":
                values[i] = "'" + v
        if self.kind == "csv":
            self._csv.writerow(values)
        else:
            self._ws.append(self._xlsx_cells(values))

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
            elif kind == "bool":
                cells.append(v == "true" if isinstance(v, str) else bool(v))
            else:
                cells.append(v)
        return cells

    def close(self) -> None:
        if self.kind == "csv":
            self._f.close()
        else:
            self._wb.save(self.temp)
