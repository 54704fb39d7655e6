"""Audit: settle the national platform's settlement extract again with medins, and compare tier by tier.

The step after a batch. An extract of the platform's settlement table (``setl_d``: one record per
settlement, with what each fund paid) and, optionally, its fee-detail table (``fee_list_d``: one
row per bill line) is

1. *read* as ``medins batch`` reads its files (CSV or XLSX, the same encodings, strict rows),
   every cell checked: IDs, dates, amounts to the fen, the platform's codes through the one table
   of :mod:`medins.platform`; a bad record is rejected naming its row, column and value;
2. *paired*: a refund (``refd_setl_flag`` 1, or negative amounts) is matched to the settlement it
   reverses (same person and visit, the opposite total); the pair nets to zero and is not settled;
3. *settled* by the batch engine over columns (:func:`medins.batch.run_batch`), the records
   written as a bills file in settlement-time order, the fee lines read where they are;
4. *compared*: each record's medins amounts beside the platform's, field by field (tier 1
   ``hifp_pay``, tier 2 ``hifmi_pay``/``hifob_pay``, tier 3 ``maf_pay``, the funds, the personal
   share, the line parts), and for the largest differences the step of the per-bill trail
   (:func:`medins.api.estimate`) that decided medins' amount.

Funds medins does not model (civil-servant subsidy ``cvlserv_pay``, enterprise supplement
``hifes_pay``, other funds ``othfund_pay``) are summed apart; the fund total is compared without
them and the personal share with them added back, as if they had not paid.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medins import audit_compare as C
from medins import platform, procs
from medins.audit_compare import amounts
from medins.batch import BILL_COLUMNS, BatchOptions, explain_bill, run_batch
from medins.batch.read import PY_SPACE, NotRegular, read_chunk, record_chunks
from medins.batch.schema import ColumnMap
from medins.batch.tables import _check_paths, _open_table
from medins.batch.values import day_number, id_problem
from medins.errors import MedinsError, t
from medins.i18n import Lang, Text
from medins.tabular import (
    FORMULA_NO_VALUE,
    LOST_DIGITS,
    MARK,
    MAX_CELL,
    CsvTable,
    Outputs,
    TableError,
    TableWriter,
)

# ----------------------------------------------------------------------------- columns

_PASSED = ("assistance", "chronic_diseases", "disease", "filing_category", "filing_destination")
_PASSED += ("filing_start", "filing_end", "filing_filed_on", "filing_materials")

SETL_COLUMNS: dict[str, tuple[str, ...]] = {
    "setl_id": ("结算ID", "结算编号"),
    "mdtrt_id": ("就诊ID",),
    "psn_no": ("人员编号",),
    "insutype": ("险种类型", "险种"),
    "psn_type": ("人员类别",),
    "insu_admdvs": ("参保地医保区划", "参保地"),
    "mdtrtarea_admvs": ("就医地医保区划", "就医地"),
    "fixmedins_code": ("定点医药机构编号", "医疗机构编码"),
    "hosp_lv": ("医院等级",),
    "med_type": ("医疗类别",),
    "begndate": ("开始日期", "入院日期"),
    "enddate": ("结束日期", "出院日期"),
    "setl_time": ("结算时间",),
    "medfee_sumamt": ("医疗费总额",),
    "fulamt_ownpay_amt": ("全自费金额",),
    "overlmt_selfpay": ("超限价自费费用", "超限价金额"),
    "preselfpay_amt": ("先行自付金额",),
    "inscp_amt": ("符合政策范围金额", "inscp_scp_amt"),
    "act_pay_dedc": ("实际支付起付线",),
    "hifp_pay": ("基本医疗保险统筹基金支出", "统筹基金支出"),
    "hifmi_pay": ("居民大病保险资金支出",),
    "hifob_pay": ("职工大额医疗费用补助基金支出",),
    "maf_pay": ("医疗救助基金支出",),
    "cvlserv_pay": ("公务员医疗补助资金支出",),
    "hifes_pay": ("企业补充医疗保险基金支出",),
    "othfund_pay": ("其他基金支出", "oth_pay"),
    "fund_pay_sumamt": ("基金支付总额",),
    "psn_pay": ("个人支付金额", "psn_part_amt"),
    "acct_pay": ("个人账户支出",),
    "cash_payamt": ("现金支付金额", "psn_cash_pay"),
    "cal_ipt_cnt": ("计入住院次数",),
    "refd_setl_flag": ("退费结算标志",),
    **{name: BILL_COLUMNS[name] for name in _PASSED},
}
"""The settlement extract's columns: the platform's names → Chinese headers and other names; then
medins' own columns an extract may carry beside them (a filing, an assistance category, a disease)."""

SETL_IDS = frozenset({"setl_id", "mdtrt_id", "psn_no", "insu_admdvs", "mdtrtarea_admvs", "fixmedins_code"})
"""The extract's ID columns: an XLSX number of more than 15 digits in them lost its last digits."""

FEE_COLUMNS: dict[str, tuple[str, ...]] = {
    "bill_id": ("setl_id", "结算ID"),
    "code": ("hilist_code", "医保目录编码", "med_list_codg"),
    "name": ("hilist_name", "医保目录名称", "med_list_name"),
    "quantity": ("cnt", "数量"),
    "unit_price": ("pric", "单价"),
    "amount": ("det_item_fee_sumamt", "明细项目费用总额"),
    "dosage_form": ("剂型",),
    "spec": ("规格",),
    "restriction_met": ("符合限定支付",),
}
"""The fee-detail extract's columns as ``medins batch`` items: a line belongs to its settlement by ``setl_id``."""

AMOUNTS = (
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_amt",
    "act_pay_dedc",
    "hifp_pay",
    "hifmi_pay",
    "hifob_pay",
    "maf_pay",
    "cvlserv_pay",
    "hifes_pay",
    "othfund_pay",
    "fund_pay_sumamt",
    "psn_pay",
    "acct_pay",
    "cash_payamt",
)
SETL_REQUIRED = [
    ("setl_id",),
    ("psn_no",),
    ("insutype",),
    ("insu_admdvs",),
    ("med_type",),
    ("begndate",),
    ("hosp_lv", "fixmedins_code"),
    ("hifp_pay",),
    ("fund_pay_sumamt",),
    ("psn_pay",),
]
REJECT_HEAD = ("row", "file", "setl_id", "column", "value", "reason")
EXIT_DIFFERS = 4


@dataclass
class AuditOptions:
    """What ``medins audit`` was asked to do."""

    setl: Path
    out: Path
    fee_list: Path | None = None
    rejects: Path | None = None
    summary: Path | None = None
    treated_in: str | None = None
    encoding: str = "auto"
    jobs: int = 1
    rules_dir: Path | None = None
    lang: Lang = "zh"
    memory: int = 256 * 2**20

    @property
    def rejects_path(self) -> Path:
        return self.rejects or self.out.with_name(f"{self.out.stem}.rejects{self.out.suffix}")


@dataclass
class AuditReport:
    """The report's figures (``summary``) and whether any record differs."""

    summary: dict[str, Any] = field(default_factory=dict)
    differing: int = 0
    rejected: int = 0


# ----------------------------------------------------------------------------- cells


@dataclass
class _Reject:
    row: int
    file: str
    setl_id: str
    column: str
    value: str
    reason: str


class _Extract:
    """The settlement records as read: text cells by the platform's names, each record's row."""

    def __init__(self, frame: pl.DataFrame, rows: np.ndarray, cols: ColumnMap, encoding: str) -> None:
        self.frame = frame
        self.rows = rows
        self.cols = cols
        self.encoding = encoding  # the bills written for the batch are in the extract's encoding

    def header(self, name: str) -> str:
        return self.cols.shown(name)

    def has(self, name: str) -> bool:
        return name in self.cols.index


def read_extract(opts: AuditOptions, spool_dir: Path, rejects: list[_Reject]) -> _Extract:
    """The settlement table read record by record as ``medins batch`` reads BILLS: a record whose
    cells do not fit the header is rejected with the reason, the others kept as text."""
    required = list(SETL_REQUIRED)
    if opts.fee_list is None:
        required.append(("medfee_sumamt",))
    if opts.treated_in is None:
        required.append(("mdtrtarea_admvs",))
    table, cols = _open_table(opts.setl, "SETL", SETL_COLUMNS, required, opts.encoding, spool_dir, SETL_IDS)
    names = sorted(cols.index, key=cols.index.__getitem__)
    where = [cols.index[n] for n in names]
    try:  # as the batch reads a plainly regular file: at once when plain, else by chunks, with polars
        whole = read_plain(table)
        if whole is None:
            chunks = [read_chunk(table, chunk, "_record") for chunk in record_chunks(table)]
            whole = pl.concat(chunks) if chunks else None
        if whole is not None:
            frame = whole.select([pl.col(f"c{i}").alias(n) for i, n in zip(where, names, strict=True)])
            rows = whole["_record"].to_numpy().astype(np.int64) + 2  # as a spreadsheet numbers them
            return _Extract(frame, rows, cols, table.encoding)
    except NotRegular:
        pass
    values: list[list[str]] = []
    numbers: list[int] = []
    for row, _start, _end, cells, problem in table.records():
        if problem is not None:
            column = table.column_name(problem.column)
            cell = cells[problem.column] if problem.column is not None and problem.column < len(cells) else ""
            id_ = cells[cols.index["setl_id"]] if cols.index["setl_id"] < len(cells) else ""
            rejects.append(_Reject(row, "setl", id_, column, cell, problem.reason(opts.lang)))
            continue
        values.append([cells[i].strip() if i < len(cells) else "" for i in where])
        numbers.append(row)
    if not numbers and not rejects:
        raise TableError(t("SETL 只有标题行，没有数据行", "SETL has a header row but no data rows"), str(opts.setl))
    frame = pl.DataFrame(values, schema=dict.fromkeys(names, pl.String), orient="row")
    return _Extract(frame, np.array(numbers, dtype=np.int64), cols, table.encoding)


def read_plain(table: CsvTable) -> pl.DataFrame | None:
    """A plain UTF-8 table read at once, as :func:`medins.batch.read.read_chunk` reads each chunk of it
    (text columns ``c0, c1, …``, cells stripped, the record number in ``_record``); None when the
    table is not that plain: a quote or a lone carriage return anywhere, a line without the header's cell
    count, a cell too long, a record of empty cells. Those are read by chunks, or record by record."""
    if table.spooled or table.encoding != "utf-8" or len(table.delimiter) != 1:
        return None
    with table.path.open("rb") as f:
        f.seek(table.start)
        header = f.readline()
        data = f.read()
    if not data or not header.endswith(b"\n") or b'"' in header or b'"' in data:
        return None
    if data.count(b"\r") != data.count(b"\r\n") or b"\r" in header.removesuffix(b"\r\n"):
        return None  # a carriage return only as part of a line end
    width = len(table.header)
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    if data.count(table.delimiter.encode()) != lines * (width - 1):
        return None  # no line has more cells than the header (polars refuses it): so none has fewer
    try:
        frame = pl.read_csv(
            data,
            has_header=False,
            new_columns=[f"c{i}" for i in range(width)],
            separator=table.delimiter,
            quote_char=None,
            infer_schema=False,
            encoding="utf8",
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError:
        return None
    del data
    if frame.width != width or frame.height != lines:
        return None
    frame = frame.with_columns(pl.all().fill_null("").str.strip_chars(PY_SPACE))
    if any((x or 0) > MAX_CELL for x in frame.select(pl.all().str.len_chars().max()).row(0)):
        return None
    if frame.select(pl.all_horizontal(pl.all() == "").any()).item():
        return None
    return frame.with_columns(pl.Series("_record", np.arange(lines, dtype=np.int64)))


def days_of(texts: pl.Series) -> pl.Series:
    """Date cells (with or without a time of day) as day numbers, 0 where a cell is not a date:
    each distinct date read once, as ``medins batch`` reads it."""
    dates = texts.str.replace(r"[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$", "")
    known = {v: day_number(v) if v else 0 for v in dates.unique().to_list()}
    return dates.replace_strict(known, return_dtype=pl.Int64)


class _Checked:
    """Per record: kept or rejected (with the first reason), the platform's amounts in fen."""

    def __init__(self, n: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.fen: dict[str, np.ndarray] = {}


def shown_cell(value: str) -> str:
    """A cell as REJECTS quotes it: an XLSX cell whose value was lost as the spreadsheet shows it
    (the number an ID became, the formula without a value), without the marker it was read with."""
    for marker in (LOST_DIGITS, FORMULA_NO_VALUE):
        if value.startswith(marker):
            return value[len(marker) :]
    return value


def check_records(ex: _Extract, opts: AuditOptions, rejects: list[_Reject]) -> _Checked:
    """Every cell medins uses, checked: IDs, dates, amounts, the platform's codes; duplicates of a
    settlement id. A record failing any is rejected (its first failure named), not settled."""
    f, n, lang = ex.frame, ex.frame.height, opts.lang
    checked = _Checked(n)
    ids = f["setl_id"].to_list()

    def reject(mask: np.ndarray, column: str, reason: Callable[[str], Text]) -> None:
        for i in np.flatnonzero(mask & ~checked.bad):
            value = f[column][int(i)]
            why = reason(value)(lang)
            rejects.append(_Reject(int(ex.rows[i]), "setl", ids[i], ex.header(column), shown_cell(value), why))
        checked.bad |= mask

    for column in ("setl_id", "psn_no", "insu_admdvs", "mdtrt_id", "mdtrtarea_admvs", "fixmedins_code"):
        if not ex.has(column):
            continue
        s = f[column]
        if column in ("setl_id", "psn_no", "insu_admdvs"):
            reject(
                (s == "").to_numpy(),
                column,
                lambda v, c=column: t(f"缺少 {c}", f"{c} is missing"),
            )
        odd = s.str.contains(r"^[+-]?\d(?:\.\d+)?[eE][+-]\d+$") | s.str.starts_with(MARK)
        reject(odd.fill_null(False).to_numpy(), column, lambda v: id_problem(v) or t("", ""))
    dup = f["setl_id"].is_duplicated().to_numpy() & (f["setl_id"] != "").to_numpy()
    reject(dup, "setl_id", lambda v: t(f"结算ID “{v}” 出现不止一次", f"setl_id '{v}' occurs more than once"))
    for column in ("insutype", "med_type", "hosp_lv", "refd_setl_flag"):
        if not ex.has(column):
            continue
        s = f[column]
        codes = s.unique().to_list()
        known = {c: platform.mapped(column, c) for c in codes}
        empty_ok = column in ("hosp_lv", "refd_setl_flag")
        missing = s.replace_strict(
            {c: (known[c] is None and not (empty_ok and c == "")) for c in codes}, return_dtype=pl.Boolean
        )
        reject(missing.to_numpy(), column, lambda v, c=column: platform.unmapped(c, v))
    for column in ("begndate", "enddate", "setl_time"):
        if not ex.has(column):
            continue
        s = f[column]
        wrong = (days_of(s) == 0) & ((s != "") | (column == "begndate"))
        reject(
            wrong.to_numpy(),
            column,
            lambda v: t(f"“{v}” 不是有效日期（应为 YYYY-MM-DD）", f"'{v}' is not a valid date (write YYYY-MM-DD)"),
        )
    present = [column for column in AMOUNTS if ex.has(column)]
    parsed = amounts(f, present)
    for column in present:
        checked.fen[column] = parsed[column].to_numpy().astype(np.int64)
        reject(
            parsed[f"{column}_bad"].to_numpy(),
            column,
            lambda v: t(
                f"“{v}” 不是金额（应为元，最多两位小数，如 1234.50）",
                f"'{v}' is not an amount (write yuan with at most two decimals, e.g. 1234.50)",
            ),
        )
    return checked


# ----------------------------------------------------------------------------- refunds


def pair_refunds(ex: _Extract, checked: _Checked) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Refunds and what they reverse: (is a refund, pairs (original, refund)) by record index.

    A refund (``refd_setl_flag`` 1 or a negative total) is paired with the earliest unpaired
    settlement of the same person and visit (``mdtrt_id``, when the extract has it) whose total is
    its opposite. Neither is settled again: the pair nets to zero, field by field, or is reported.
    """
    f, n = ex.frame, ex.frame.height
    total = checked.fen.get("medfee_sumamt", np.zeros(n, dtype=np.int64))
    refund = total < 0
    if ex.has("refd_setl_flag"):
        flag = f["refd_setl_flag"]
        is_refund = {v: platform.mapped("refd_setl_flag", v) == "refund" for v in flag.unique().to_list()}
        refund |= flag.replace_strict(is_refund, return_dtype=pl.Boolean).to_numpy()
    refund &= ~checked.bad
    if not refund.any():
        return refund, []
    records = pl.DataFrame(
        {
            "i": np.arange(n),
            "person": f["psn_no"],
            "visit": f["mdtrt_id"] if ex.has("mdtrt_id") else pl.Series([""] * n),
            "total": total,
        }
    )
    wanted = records.filter(pl.Series(refund)).with_columns(-pl.col("total"))
    candidates = records.filter(pl.Series(~refund & ~checked.bad)).join(
        wanted.select("person", "visit", "total").unique(), on=["person", "visit", "total"]
    )
    open_: dict[tuple[str, str, int], list[int]] = {}
    for i, person, visit, total_ in candidates.sort("i").iter_rows():
        open_.setdefault((person, visit, total_), []).append(i)
    pairs = []
    for i, person, visit, opposite in wanted.iter_rows():
        found = open_.get((person, visit, opposite))
        if found:
            pairs.append((found.pop(0), i))
    return refund, pairs


# ----------------------------------------------------------------------------- as a batch

# medins batch's bill column ← the extract's column it comes from
_FROM = {
    "bill_id": "setl_id",
    "person_id": "psn_no",
    "insured_region": "insu_admdvs",
    "scheme": "insutype",
    "status": "psn_type",
    "visit_region": "mdtrtarea_admvs",
    "hospital_level": "hosp_lv",
    "hospital": "fixmedins_code",
    "visit_type": "med_type",
    "admitted": "begndate",
    "date": "begndate",
    "discharged": "enddate",
    "total": "medfee_sumamt",
    "fully_self_paid": "fulamt_ownpay_amt",
    "over_ceiling": "overlmt_selfpay",
    "pre_self_pay": "preselfpay_amt",
    **{c: c for c in _PASSED},
}


def as_bills(ex: _Extract, settle: np.ndarray, opts: AuditOptions) -> tuple[pl.DataFrame, np.ndarray]:
    """The records to settle as ``medins batch`` bills, in settlement-time order; and, for each
    bill, its record's index in the extract."""
    f = ex.frame

    def code(column: str) -> pl.Series:
        s = f[column]
        return s.replace_strict({c: platform.mapped(column, c) or "" for c in s.unique().to_list()})

    scheme = code("insutype")
    visit = code("med_type")
    cols: dict[str, pl.Series] = {
        "bill_id": f["setl_id"],
        "person_id": f["psn_no"],
        "insured_region": f["insu_admdvs"],
        "scheme": scheme,
        "visit_region": f["mdtrtarea_admvs"] if ex.has("mdtrtarea_admvs") else pl.Series([opts.treated_in] * f.height),
        "visit_type": visit,
    }
    if ex.has("psn_type"):
        raw = f["psn_type"]
        mapped = raw.replace_strict({c: platform.mapped("psn_type", c) or c for c in raw.unique().to_list()})
        cols["status"] = pl.select(pl.when(scheme == "employee").then(mapped).otherwise(raw)).to_series()
    if ex.has("hosp_lv"):
        cols["hospital_level"] = code("hosp_lv")
    if ex.has("fixmedins_code") and not ex.has("hosp_lv"):
        cols["hospital"] = f["fixmedins_code"]
    stay = visit == "inpatient"
    empty = pl.Series([""] * f.height)
    cols["admitted"] = pl.select(pl.when(stay).then(f["begndate"]).otherwise(empty)).to_series()
    cols["date"] = pl.select(pl.when(stay).then(empty).otherwise(f["begndate"])).to_series()
    if ex.has("enddate"):
        cols["discharged"] = pl.select(pl.when(stay).then(f["enddate"]).otherwise(empty)).to_series()
    for name in ("total", "fully_self_paid", "over_ceiling", "pre_self_pay", *_PASSED):
        if ex.has(_FROM[name]):
            cols[name] = f[_FROM[name]]
    bills = pl.DataFrame(cols).with_columns(pl.Series("_i", np.arange(f.height)))
    when = f["setl_time"] if ex.has("setl_time") else empty
    bills = bills.with_columns(
        days_of(when).alias("_day"),
        when.str.extract(r"(\d{1,2}:\d{2}(?::\d{2})?)$").fill_null("").str.pad_start(8, "0").alias("_time"),
    )
    bills = bills.filter(pl.Series(settle)).sort(["_day", "_time", "_i"])
    return bills.drop(["_day", "_time", "_i"]), bills["_i"].to_numpy()


@dataclass
class _FeeList:
    """The fee list opened as the batch opens it, and its ``setl_id`` cells where polars reads them at
    once (a plain UTF-8 CSV): None when it cannot, ``unreadable`` when polars cannot read it."""

    table: CsvTable
    cols: ColumnMap
    ids: pl.Series | None
    unreadable: bool = False


def open_fee_list(opts: AuditOptions, spool_dir: Path) -> _FeeList:
    """The fee list, opened and its settlement ids read: done beside the reading of the extract."""
    assert opts.fee_list is not None
    table, cols = _open_table(opts.fee_list, "FEE", FEE_COLUMNS, [("bill_id",)], opts.encoding, spool_dir)
    if table.encoding != "utf-8" or table.spooled:
        return _FeeList(table, cols, None)
    try:
        ids = pl.read_csv(
            table.path,
            separator=table.delimiter,
            columns=[cols.index["bill_id"]],
            infer_schema=False,
            encoding="utf8-lossy",
        ).to_series()
    except pl.exceptions.PolarsError:  # the batch's reader names what is wrong
        return _FeeList(table, cols, None, unreadable=True)
    return _FeeList(table, cols, ids.str.strip_chars())


def _keep_lines(
    opts: AuditOptions,
    fee: _FeeList,
    spool_dir: Path,
    settled_ids: set[str],
    rejects: list[_Reject],
    records: dict[str, str],
) -> tuple[Path | None, np.ndarray | None]:
    """The fee list as the batch reads it: the file itself when every line belongs to a record to
    settle, else a copy without the lines of refunds, rejected records and settlements not in SETL
    (each of those named), and each kept line's row in the original."""
    assert opts.fee_list is not None
    table, cols = fee.table, fee.cols
    idx = cols.index["bill_id"]
    if fee.unreadable or (fee.ids is not None and fee.ids.unique().is_in(pl.Series(list(settled_ids)).implode()).all()):
        return opts.fee_list, None
    copy = spool_dir / "fee-list.csv"
    kept: list[int] = []
    with table.path.open("rb") as src, copy.open("wb") as dst:
        dst.write(src.read(table.data_start or 0) if table.data_start else b"")
        header_written = table.data_start != 0
        for row, start, end, cells, problem in table.records():
            if not header_written:
                src.seek(0)
                dst.write(src.read(table.data_start))
                header_written = True
            bid = cells[idx].strip() if idx < len(cells) else ""
            if problem is None and bid not in settled_ids:
                reason = records.get(bid) or t(
                    "SETL 中没有这条结算（结算ID 不在结算表中）", "no settlement in SETL has this setl_id"
                )(opts.lang)
                rejects.append(_Reject(row, "fee_list", bid, cols.shown("bill_id"), bid, reason))
                continue
            src.seek(start)
            chunk = src.read(end - start)
            dst.write(chunk if chunk.endswith(b"\n") else chunk + b"\n")
            kept.append(row)
    if not kept:  # no line belongs to a record to settle: each settles from its own amounts
        return None, None
    return copy, np.array(kept, dtype=np.int64)


# ----------------------------------------------------------------------------- the run


@procs.interruptible
def run_audit(opts: AuditOptions) -> AuditReport:
    """Settle every record of the extract with medins and compare; write DIFF, REJECTS, SUMMARY.

    A file that cannot be used raises a ``MedinsError`` (exit 1) and leaves no output behind; a bad
    record or fee line is rejected and the audit goes on."""
    rejects: list[_Reject] = []
    lang = opts.lang
    _check_paths(BatchOptions(opts.setl, opts.out, opts.fee_list, opts.rejects_path, opts.summary))
    targets = [p for p in (opts.out, opts.rejects_path, opts.summary) if p]
    with (
        procs.output_lock(targets),
        procs.spool_folder("medins-audit-") as spool,
        Outputs() as outputs,
        ThreadPoolExecutor(1) as beside,
    ):
        spool_dir = Path(spool)
        fee = beside.submit(open_fee_list, opts, spool_dir) if opts.fee_list is not None else None
        ex = read_extract(opts, spool_dir, rejects)
        checked = check_records(ex, opts, rejects)
        refund, pairs = pair_refunds(ex, checked)
        settle = ~checked.bad & ~refund
        for j, _ in pairs:
            settle[j] = False
        bills, order = as_bills(ex, settle, opts)
        ids = ex.frame["setl_id"].to_list()
        why = {
            ids[i]: (
                t("所属结算被拒绝", "its settlement was rejected")
                if checked.bad[i]
                else t("所属结算是退费或已被退费", "its settlement is a refund or was refunded")
            )(lang)
            for i in np.flatnonzero(~settle)
        }
        bills_path = spool_dir / "bills.csv"
        # an empty cell written empty, not as "": a record without a quote is read by the batch's fast reader
        bills = bills.with_columns(pl.all().replace("", None))
        if ex.encoding == "utf-8":
            bills.write_csv(bills_path)
        else:
            bills_path.write_bytes(bills.write_csv().encode(ex.encoding))
        to_settle = set(bills["bill_id"].to_list())
        del bills  # read back for the trail of the largest differences, if there are any
        told = {"mdtrt_id", "cal_ipt_cnt", *_FROM.values()}  # what DIFF and REJECTS tell after the batch
        ex.frame = ex.frame.select([name for name in ex.frame.columns if name in told])
        fee_list = fee.result() if fee is not None else None
        settled = _settle(opts, ex, fee_list, bills_path, to_settle, order, why, spool_dir, rejects)
        f = ex.frame
        empty = pl.Series([""] * f.height, dtype=pl.String)
        keys = {
            "insured_region": f["insu_admdvs"],
            "hospital": f["fixmedins_code"] if ex.has("fixmedins_code") else empty,
            "hospital_level": f["hosp_lv"] if ex.has("hosp_lv") else empty,
        }
        bad = checked.bad.copy()
        c = C.compare(ids, checked.fen, bad, refund, pairs, settled, keys)
        top = C.largest(c, ids, ex.rows, lambda items: _explain(opts, bills_path, ex.encoding, items))
        visits = f["mdtrt_id"] if ex.has("mdtrt_id") else empty
        C.write_diff(outputs.temp_for(opts.out), opts.out, c, ids, visits, f["psn_no"], top, _notes(ex, c, lang), lang)
        report = AuditReport(C.summary(c, checked.fen, top, lang))
        report.summary["records"]["rejected"] = sum(1 for r in rejects if r.file == "setl")
        report.summary["fee_lines_rejected"] = sum(1 for r in rejects if r.file == "fee_list")
        report.differing = int(np.count_nonzero((c.settled | c.paired) & (c.worst > 0)))
        report.rejected = len(rejects)
        rejects.sort(key=lambda r: (r.file != "setl", r.row))
        writer = TableWriter(
            outputs.temp_for(opts.rejects_path), opts.rejects_path, list(REJECT_HEAD), ["int"] + ["text"] * 5, "rejects"
        )
        for r in rejects:
            writer.write([str(r.row), r.file, r.setl_id, r.column, r.value, r.reason])
        writer.close()
        if opts.summary:
            temp = outputs.temp_for(opts.summary)
            temp.write_text(json.dumps(report.summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        outputs.commit()
    return report


def _settle(
    opts: AuditOptions,
    ex: _Extract,
    fee: _FeeList | None,
    bills_path: Path,
    to_settle: set[str],
    order: np.ndarray,
    why: dict[str, str],
    spool_dir: Path,
    rejects: list[_Reject],
) -> pl.DataFrame:
    """The records to settle, through ``medins batch`` over columns: its OUT rows, its rejects told
    in the extract's rows, columns and values."""
    lang = opts.lang
    fee_path, fee_rows = None, None
    if fee is not None:
        fee_path, fee_rows = _keep_lines(opts, fee, spool_dir, to_settle, rejects, why)
    out_path = spool_dir / "settled.csv"
    batch = BatchOptions(
        bills_path,
        out_path,
        fee_path,
        spool_dir / "settled.rejects.csv",
        encoding=opts.encoding,
        jobs=opts.jobs,
        rules_dir=opts.rules_dir,
        lang=lang,
        memory=opts.memory,
        item_columns=FEE_COLUMNS,
    )
    try:
        run_batch(batch)
    except MedinsError as exc:  # name the user's files, not the spooled ones
        exc.where = exc.where.replace(str(bills_path), str(opts.setl))
        if fee_path is not None and opts.fee_list is not None:
            exc.where = exc.where.replace(str(fee_path), str(opts.fee_list))
        raise
    _batch_rejects(spool_dir / "settled.rejects.csv", ex, order, fee_rows, rejects)
    wanted = ["bill_id", "visit_region", "visit_type", "service_date", *(name for name, _ in C.COMPARED)]
    return pl.read_csv(out_path, infer_schema=False, columns=wanted)


def _batch_rejects(
    path: Path, ex: _Extract, order: np.ndarray, fee_rows: np.ndarray | None, rejects: list[_Reject]
) -> None:
    """The batch's rejects, told in the extract's rows, columns and values."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        for rec in csv.DictReader(f):
            row = int(rec["row"])
            if rec["file"] == "bills":
                i = int(order[row - 2])
                column = _FROM.get(rec["column"], rec["column"]) if rec["column"] else ""
                value = ex.frame[column][i] if column in ex.frame.columns else ""
                shown = ex.header(column) if column in ex.cols.index else column
                rejects.append(_Reject(int(ex.rows[i]), "setl", rec["bill_id"], shown, value, rec["reason"]))
            else:
                original = int(fee_rows[row - 2]) if fee_rows is not None else row
                rejects.append(_Reject(original, "fee_list", rec["bill_id"], rec["column"], "", rec["reason"]))


def _notes(ex: _Extract, c: C.Comparison, lang: Lang) -> dict[int, str]:
    """What a clerk should know of a record beside its amounts: a stay the platform did not count
    as an admission (``cal_ipt_cnt`` 0), which medins counts as every stay."""
    if not ex.has("cal_ipt_cnt"):
        return {}
    counted = (ex.frame["cal_ipt_cnt"] == "0").fill_null(False).to_numpy()
    stay = (c.keys["visit_type"] == "inpatient").fill_null(False).to_numpy()
    note = t(
        "平台未把这次住院计入住院次数（cal_ipt_cnt 为 0），medins 每次住院都计入：此人以后住院的起付线可能不同",
        "the platform did not count this stay as an admission (cal_ipt_cnt 0); medins counts every stay: "
        "this person's later stays may have another deductible",
    )(lang)
    return {int(i): note for i in np.flatnonzero(c.settled & counted & stay)}


# ----------------------------------------------------------------------------- the trail of the largest


def _explain(opts: AuditOptions, bills_path: Path, encoding: str, items: list[dict[str, Any]]) -> None:
    """The step of the trail that decided each of ``items``' amounts: its bill settled again as
    ``medins batch --explain`` settles one (its person's earlier bills of the year first), from a
    bills file and a fee list holding only the persons concerned. The trail explains: when it cannot
    be had, the figures stand without it."""
    with contextlib.suppress(MedinsError), procs.spool_folder("medins-audit-") as spool:
        folder = Path(spool)
        text = bills_path.read_bytes().decode(encoding).encode("utf-8")
        bills = pl.read_csv(text, infer_schema=False).with_columns(pl.all().fill_null(""))
        persons = bills.filter(pl.col("bill_id").is_in([item["setl_id"] for item in items]))
        keys = ["person_id", "insured_region", "scheme"]
        concerned = bills.join(persons.select(keys).unique(), on=keys, how="semi")
        concerned.write_csv(folder / "bills.csv")
        fee = None
        if opts.fee_list is not None:
            found, header = _fee_lines(opts, set(concerned["bill_id"].to_list()))
            fee = folder / "fee_list.csv"
            with fee.open("w", encoding="utf-8", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(header)
                for bill in concerned["bill_id"].to_list():
                    writer.writerows(found.get(bill, []))
        batch = BatchOptions(
            folder / "bills.csv",
            folder / "unused.csv",
            fee,
            rules_dir=opts.rules_dir,
            lang=opts.lang,
            item_columns=FEE_COLUMNS,
        )
        for item in items:
            explained = explain_bill(batch, item["setl_id"])
            if explained.settlement is not None:
                item["step"] = C.deciding(explained.settlement.trail, item["field"])


def _fee_lines(opts: AuditOptions, wanted: set[str]) -> tuple[dict[str, list[list[str]]], list[str]]:
    """The fee lines of a few settlements, by settlement id, and the fee list's header."""
    assert opts.fee_list is not None
    with procs.spool_folder("medins-audit-") as spool:
        table, cols = _open_table(opts.fee_list, "FEE", FEE_COLUMNS, [("bill_id",)], opts.encoding, Path(spool))
        idx = cols.index["bill_id"]
        found: dict[str, list[list[str]]] = {}
        try:
            for chunk in record_chunks(table):
                lines = read_chunk(table, chunk, "_line").drop("_line")
                for cells in lines.filter(pl.col(f"c{idx}").is_in(list(wanted))).rows():
                    found.setdefault(cells[idx], []).append(list(cells))
            return found, table.header
        except NotRegular:
            found.clear()
        for _row, _s, _e, cells, problem in table.records():
            if problem is None and idx < len(cells) and cells[idx].strip() in wanted:
                found.setdefault(cells[idx].strip(), []).append(cells)
    return found, table.header
