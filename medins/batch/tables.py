"""Opening BILLS and ITEMS: the paths checked, each file's kind and encoding, its header mapped to
the columns, and the rules (and reform) the run settles under.
"""

from __future__ import annotations

from pathlib import Path

from medins.batch.bill import Source, WorkerConfig
from medins.batch.options import BatchOptions
from medins.batch.schema import (
    BILL_COLUMNS,
    ID_COLUMNS,
    ITEM_COLUMNS,
    ITEM_REQUIRED,
    ColumnMap,
    bill_required,
    map_columns,
)
from medins.errors import t
from medins.i18n import Lang
from medins.tabular import CsvTable, TableError, open_csv, spool_xlsx, table_kind, xlsx_header


def _open_table(
    path: Path,
    role: str,
    table: dict[str, tuple[str, ...]],
    required: list[tuple[str, ...]],
    encoding: str,
    spool_dir: Path,
    ids: frozenset[str] = ID_COLUMNS,
) -> tuple[CsvTable, ColumnMap]:
    kind = table_kind(path, role)
    if not path.is_file():
        raise TableError(t("找不到文件", "file not found"), str(path))
    found: list[ColumnMap] = []

    def check(header: list[str]) -> int:
        found.clear()
        found.append(map_columns(header, table, role, required, str(path)))
        return len(found[0].index)

    if kind == "xlsx":
        header = xlsx_header(path, path)
        check(header)
        spool = spool_xlsx(path, path, found[0].kinds(len(header), ids), spool_dir)
        csv_table, _ = open_csv(spool, "utf-8", check, shown=path)
    else:
        csv_table, _ = open_csv(path, encoding, check)
    return csv_table, found[0]


def _inputs(
    opts: BatchOptions, rules_root: Path, spool_dir: Path, check_only: bool = False
) -> tuple[tuple[CsvTable, ColumnMap, CsvTable | None, ColumnMap | None], WorkerConfig]:
    """BILLS and ITEMS opened (encoding chosen, headers mapped), and what a settling process needs."""
    bills_table, bill_cols = _open_table(
        opts.bills, "BILLS", BILL_COLUMNS, bill_required(opts.items is not None), opts.encoding, spool_dir
    )
    items_table = item_cols = None
    if opts.items:
        names = opts.item_columns or ITEM_COLUMNS
        items_table, item_cols = _open_table(opts.items, "ITEMS", names, ITEM_REQUIRED, opts.encoding, spool_dir)
    cfg = WorkerConfig(
        rules_root,
        Source(bills_table.path, bills_table.encoding, bills_table.delimiter, bill_cols, bills_table.spooled),
        Source(items_table.path, items_table.encoding, items_table.delimiter, item_cols, items_table.spooled)  # type: ignore[arg-type]
        if items_table
        else None,
        opts.lang,
        opts.ytd_out is not None and not check_only,
        check_only=check_only,
    )
    return (bills_table, bill_cols, items_table, item_cols), cfg


def _check_paths(opts: BatchOptions) -> list[Path]:
    table_kind(opts.out, "OUT")
    table_kind(opts.rejects_path, "--rejects")
    if opts.clearing:
        table_kind(opts.clearing, "--clearing")
    for p in (opts.out, opts.rejects_path, opts.summary, opts.clearing, opts.ytd_out):
        if p is None:
            continue
        parent = p.resolve().parent
        if parent.exists() and not parent.is_dir():
            raise TableError(
                t("输出路径中的这一段是文件，不是目录", "this part of the output path is a file, not a folder"),
                str(parent),
                t(f"请检查输出路径 “{p}”", f"check the output path '{p}'"),
            )
        if not parent.is_dir():
            raise TableError(
                t("输出目录不存在", "the output folder does not exist"),
                str(parent),
                t("请先创建该目录，或换一个输出路径", "create the folder first, or choose another output path"),
            )
    inputs = {p.resolve() for p in (opts.bills, opts.items) if p}
    state_in = opts.ytd_in.resolve() if opts.ytd_in else None
    outputs = [p for p in (opts.out, opts.rejects_path, opts.summary, opts.clearing, opts.ytd_out) if p]
    seen: set[Path] = set()
    for p in outputs:
        r = p.resolve()
        if r in inputs or (r == state_in and p is not opts.ytd_out):
            raise TableError(
                t("输出文件不能覆盖输入文件", "an output would overwrite an input"),
                str(p),
                t("请换一个输出文件名", "choose another output name"),
            )
        if r in seen:
            raise TableError(t("两个输出写到同一个文件", "two outputs name the same file"), str(p))
        seen.add(r)
    return outputs


def _no_rows(table: CsvTable, role: str) -> TableError:
    return TableError(
        t(f"{role}只有标题行，没有数据行", f"{role} has a header row but no data rows"),
        str(table.shown),
        t("请检查是不是选错了文件", "check that this is the right file"),
    )


def _rows_text(rows: list[int], lang: Lang) -> str:
    shown = rows[:5]
    more = len(rows) - len(shown)
    if lang == "zh":
        return f"第 {'、'.join(map(str, shown))}{' 等' if more else ''} 行"
    return f"row{'s' if len(rows) > 1 else ''} {', '.join(map(str, shown))}{f' and {more} more' if more else ''}"
