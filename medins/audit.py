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

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medins import platform, procs
from medins.batch import (
    BILL_COLUMNS,
    BatchOptions,
    ColumnMap,
    Source,
    WorkerConfig,
    _open_table,
    day_number,
    id_problem,
    map_columns,
    run_batch,
)
from medins.errors import MedinsError, t
from medins.i18n import Lang, Text
from medins.loader import resolve_rules_dir
from medins.tabular import MARK, Outputs, TableError, TableWriter

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
UNMODELLED = ("cvlserv_pay", "hifes_pay", "othfund_pay")
"""Funds medins does not model: reported apart, outside the comparison of funds and personal share."""

# What is compared: medins' OUT column, the platform's column; fund_total and personal_total are
# the platform's without, and with, the funds medins does not model (see the module's docstring).
COMPARED: tuple[tuple[str, str], ...] = (
    ("total", "medfee_sumamt"),
    ("fully_self_paid", "fulamt_ownpay_amt"),
    ("over_ceiling", "overlmt_selfpay"),
    ("pre_self_pay", "preselfpay_amt"),
    ("in_scope", "inscp_amt"),
    ("deductible", "act_pay_dedc"),
    ("basic_fund", "hifp_pay"),
    ("critical_illness_fund", "hifmi_pay"),
    ("large_amount_fund", "hifob_pay"),
    ("medical_assistance_fund", "maf_pay"),
    ("fund_total", "fund_pay_sumamt"),
    ("personal_total", "psn_pay"),
)
TIER = {
    "basic_fund": "tier1",
    "critical_illness_fund": "tier2",
    "large_amount_fund": "tier2",
    "medical_assistance_fund": "tier3",
}

# The trail's steps that decide each compared amount, in the order the engine takes them.
STEPS: dict[str, tuple[str, ...]] = {
    "total": ("lines", "items"),
    "fully_self_paid": ("lines", "items"),
    "over_ceiling": ("lines", "items"),
    "pre_self_pay": ("lines", "items"),
    "in_scope": ("lines", "items"),
    "deductible": ("deductible_admission", "offsite_deductible", "deductible", "deductible_year_cap"),
    "basic_fund": ("deductible", "offsite_adjustment", "band", "cap", "deductible_year_cap"),
    "critical_illness_fund": ("tier2_base", "tier2_deductible", "tier2_band", "tier2_cap"),
    "large_amount_fund": ("tier2_base", "tier2_deductible", "tier2_band", "tier2_cap"),
    "medical_assistance_fund": (
        "assistance_base",
        "assistance_deductible",
        "assistance_terms",
        "assistance_band",
        "assistance_stage_base",
        "assistance_stage_paid",
        "assistance_cap",
        "assistance_limit",
    ),
    "fund_total": ("band", "cap", "tier2_band", "tier2_cap", "assistance_band", "assistance_cap"),
    "personal_total": ("personal",),
}

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
WITHIN = 100  # fen: "within 1 yuan"
LARGEST = 10  # the differences the report explains with the trail
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


def fen_of(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Amount cells as integer fen, and which cells are not amounts (empty is 0).

    ``12``, ``12.3``, ``-12.30`` and ``12.3000`` are amounts; ``12.345`` (finer than the fen), ``1,200``
    and ``12元`` are not: a cell is read exactly or refused, never rounded.
    """
    s = texts.cast(pl.String).fill_null("").str.strip_chars()
    parts = s.str.extract_groups(r"^([+-]?)(\d{1,15})(?:\.(\d+))?$")
    sign, whole, frac = parts.struct.field("1"), parts.struct.field("2"), parts.struct.field("3").fill_null("")
    bad = (whole.is_null() & (s != "")) | frac.str.slice(2).str.contains("[^0]")
    cents = frac.str.slice(0, 2).str.pad_end(2, "0")
    fen = whole.cast(pl.Int64, strict=False).fill_null(0) * 100 + cents.cast(pl.Int64, strict=False).fill_null(0)
    fen = pl.select(pl.when(sign == "-").then(-fen).otherwise(fen)).to_series()
    return fen.to_numpy().astype(np.int64), bad.fill_null(False).to_numpy()


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


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

    def __init__(self, frame: pl.DataFrame, rows: np.ndarray, cols: ColumnMap, shown: str) -> None:
        self.frame = frame
        self.rows = rows
        self.cols = cols
        self.shown = shown

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
    table, cols = _open_table(opts.setl, "SETL", SETL_COLUMNS, required, opts.encoding, spool_dir)
    names = sorted(cols.index, key=cols.index.__getitem__)
    where = [cols.index[n] for n in names]
    values: list[list[str]] = []
    rows: list[int] = []
    for row, _start, _end, cells, problem in table.records():
        if problem is not None:
            column = table.column_name(problem.column)
            cell = cells[problem.column] if problem.column is not None and problem.column < len(cells) else ""
            id_ = cells[cols.index["setl_id"]] if cols.index["setl_id"] < len(cells) else ""
            rejects.append(_Reject(row, "setl", id_, column, cell, problem.reason(opts.lang)))
            continue
        values.append([cells[i].strip() if i < len(cells) else "" for i in where])
        rows.append(row)
    if not rows and not rejects:
        raise TableError(t("SETL 只有标题行，没有数据行", "SETL has a header row but no data rows"), str(opts.setl))
    frame = pl.DataFrame(values, schema=dict.fromkeys(names, pl.String), orient="row")
    extract = _Extract(frame, np.array(rows, dtype=np.int64), cols, str(opts.setl))
    extract.encoding = table.encoding  # type: ignore[attr-defined]
    return extract


class _Checked:
    """Per record: kept or rejected (with the first reason), the platform's amounts in fen."""

    def __init__(self, n: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.fen: dict[str, np.ndarray] = {}


def check_records(ex: _Extract, opts: AuditOptions, rejects: list[_Reject]) -> _Checked:
    """Every cell medins uses, checked: IDs, dates, amounts, the platform's codes; duplicates of a
    settlement id. A record failing any is rejected (its first failure named), not settled."""
    f, n, lang = ex.frame, ex.frame.height, opts.lang
    checked = _Checked(n)
    ids = f["setl_id"].to_list()

    def reject(mask: np.ndarray, column: str, reason: Callable[[str], Text]) -> None:
        for i in np.flatnonzero(mask & ~checked.bad):
            value = f[column][int(i)]
            rejects.append(_Reject(int(ex.rows[i]), "setl", ids[i], ex.header(column), value, reason(value)(lang)))
        checked.bad |= mask

    for column in ("setl_id", "psn_no", "insu_admdvs", "mdtrt_id", "mdtrtarea_admvs"):
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
        days = {v: day_number(v) if v else 0 for v in s.unique().to_list()}
        empty_ok = column != "begndate"
        wrong = s.replace_strict({v: (d == 0 and not (empty_ok and v == "")) for v, d in days.items()})
        reject(
            wrong.to_numpy(),
            column,
            lambda v: t(f"“{v}” 不是有效日期（应为 YYYY-MM-DD）", f"'{v}' is not a valid date (write YYYY-MM-DD)"),
        )
    for column in AMOUNTS:
        if not ex.has(column):
            continue
        fen, bad = fen_of(f[column])
        checked.fen[column] = fen
        reject(
            bad,
            column,
            lambda v: t(
                f"“{v}” 不是金额（应为元，最多两位小数，如 1234.50）",
                f"'{v}' is not an amount (write yuan with at most two decimals, e.g. 1234.50)",
            ),
        )
    return checked


# ----------------------------------------------------------------------------- refunds


def pair_refunds(ex: _Extract, checked: _Checked) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Refunds and what they reverse: (is a refund, is paired, pairs (original, refund)).

    A refund (``refd_setl_flag`` 1 or a negative total) is paired with the earliest unpaired
    settlement of the same person and visit (``mdtrt_id``, when the extract has it) whose total is
    its opposite. Neither is settled again: the pair nets to zero, field by field, or is reported.
    """
    f, n = ex.frame, ex.frame.height
    total = checked.fen.get("medfee_sumamt", np.zeros(n, dtype=np.int64))
    flag = f["refd_setl_flag"].to_numpy() if ex.has("refd_setl_flag") else np.full(n, "", dtype=object)
    refund = np.array([platform.mapped("refd_setl_flag", v or "0") == "refund" for v in flag]) | (total < 0)
    refund &= ~checked.bad
    visit = f["mdtrt_id"].to_list() if ex.has("mdtrt_id") else [""] * n
    person = f["psn_no"].to_list()
    open_: dict[tuple[str, str, int], list[int]] = {}
    for i in np.flatnonzero(~refund & ~checked.bad):
        open_.setdefault((person[i], visit[i], int(total[i])), []).append(int(i))
    paired = np.zeros(n, dtype=bool)
    pairs = []
    for i in np.flatnonzero(refund):
        found = open_.get((person[i], visit[i], -int(total[i])))
        if found:
            j = found.pop(0)
            paired[[i, j]] = True
            pairs.append((j, int(i)))
    return refund, paired, pairs


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
    days = {v: day_number(v) if v else 0 for v in when.unique().to_list()}
    bills = bills.with_columns(
        when.replace_strict(days, return_dtype=pl.Int64).alias("_day"),
        when.str.extract(r"(\d{1,2}:\d{2}(?::\d{2})?)$").fill_null("").str.pad_start(8, "0").alias("_time"),
    )
    bills = bills.filter(pl.Series(settle)).sort(["_day", "_time", "_i"])
    return bills.drop(["_day", "_time", "_i"]), bills["_i"].to_numpy()


def _keep_lines(
    opts: AuditOptions, spool_dir: Path, settled_ids: set[str], rejects: list[_Reject], records: dict[str, str]
) -> tuple[Path | None, np.ndarray | None]:
    """The fee list as the batch reads it: the file itself when every line belongs to a record to
    settle, else a copy without the lines of refunds, rejected records and settlements not in SETL
    (each of those named), and each kept line's row in the original."""
    assert opts.fee_list is not None
    table, cols = _open_table(opts.fee_list, "FEE", FEE_COLUMNS, [("bill_id",)], opts.encoding, spool_dir)
    idx = cols.index["bill_id"]
    if table.encoding == "utf-8" and not table.spooled:
        try:
            ids = pl.read_csv(
                table.path, separator=table.delimiter, columns=[idx], infer_schema=False, encoding="utf8-lossy"
            ).to_series()
            if ids.str.strip_chars().is_in(list(settled_ids)).all():
                return opts.fee_list, None
        except pl.exceptions.PolarsError:  # the batch's reader names what is wrong
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
    """Settle every record of the extract with medins and compare; write DIFF, REJECTS, SUMMARY."""
    rejects: list[_Reject] = []
    lang = opts.lang
    targets = [p for p in (opts.out, opts.rejects_path, opts.summary) if p]
    with procs.output_lock(targets), procs.spool_folder("medins-audit-") as spool, Outputs() as outputs:
        spool_dir = Path(spool)
        ex = read_extract(opts, spool_dir, rejects)
        checked = check_records(ex, opts, rejects)
        refund, paired, pairs = pair_refunds(ex, checked)
        settle = ~checked.bad & ~paired & ~refund
        bills, order = as_bills(ex, settle, opts)
        enc = ex.encoding if ex.encoding != "utf-8" else "utf-8"  # type: ignore[attr-defined]
        bills_path = spool_dir / "bills.csv"
        bills_path.write_bytes(bills.write_csv().encode(enc))
        fee_path, fee_rows = None, None
        if opts.fee_list is not None:
            ids = ex.frame["setl_id"].to_list()
            why = {}
            for i in np.flatnonzero(~settle):
                why[ids[i]] = (
                    t("所属结算是退费或已被退费", "its settlement is a refund or was refunded")(lang)
                    if refund[i] or paired[i]
                    else t("所属结算被拒绝", "its settlement was rejected")(lang)
                )
            fee_path, fee_rows = _keep_lines(opts, spool_dir, set(bills["bill_id"].to_list()), rejects, why)
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
        except MedinsError as exc:
            exc.where = exc.where.replace(str(bills_path), str(opts.setl))
            if fee_path is not None and opts.fee_list is not None:
                exc.where = exc.where.replace(str(fee_path), str(opts.fee_list))
            raise
        _batch_rejects(spool_dir / "settled.rejects.csv", ex, order, fee_rows, rejects)
        settled = pl.read_csv(out_path, infer_schema=False)
        report = _compare(ex, checked, settled, refund, paired, pairs, order, opts, outputs)
        report.rejected = len(rejects)
        report.summary["records"]["rejected"] = sum(1 for r in rejects if r.file == "setl")
        report.summary["fee_lines_rejected"] = sum(1 for r in rejects if r.file == "fee_list")
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


def _batch_rejects(
    path: Path, ex: _Extract, order: np.ndarray, fee_rows: np.ndarray | None, rejects: list[_Reject]
) -> None:
    """The batch's rejects, told in the extract's rows, columns and values."""
    source = {b: s for b, s in _FROM.items()}
    with path.open(encoding="utf-8-sig", newline="") as f:
        for rec in csv.DictReader(f):
            row = int(rec["row"])
            if rec["file"] == "bills":
                i = int(order[row - 2])
                column = source.get(rec["column"], rec["column"]) if rec["column"] else ""
                value = ex.frame[column][i] if column in ex.frame.columns else ""
                shown = ex.header(column) if column in ex.cols.index else column
                rejects.append(_Reject(int(ex.rows[i]), "setl", rec["bill_id"], shown, value, rec["reason"]))
            else:
                original = int(fee_rows[row - 2]) if fee_rows is not None else row
                rejects.append(_Reject(original, "fee_list", rec["bill_id"], rec["column"], "", rec["reason"]))


# ----------------------------------------------------------------------------- comparing


def _platform(ex: _Extract, checked: _Checked, name: str) -> np.ndarray:
    """The platform's amount to set beside medins' ``name``: a column, or for the fund total and
    the personal share, the column without / with the funds medins does not model."""
    n = ex.frame.height
    plat = dict(COMPARED)[name]
    value = checked.fen[plat].copy()
    unmodelled = sum((checked.fen[c] for c in UNMODELLED if c in checked.fen), np.zeros(n, dtype=np.int64))
    if name == "fund_total":
        value -= unmodelled
    elif name == "personal_total":
        value += unmodelled
    return value


def _compare(
    ex: _Extract,
    checked: _Checked,
    settled: pl.DataFrame,
    refund: np.ndarray,
    paired: np.ndarray,
    pairs: list[tuple[int, int]],
    order: np.ndarray,
    opts: AuditOptions,
    outputs: Outputs,
) -> AuditReport:
    f, n, lang = ex.frame, ex.frame.height, opts.lang
    fields = [m for m, p in COMPARED if p in checked.fen]
    at = {b: k for k, b in enumerate(settled["bill_id"].to_list())}
    ids = f["setl_id"].to_list()
    row_of = np.array([at.get(ids[i], -1) if not checked.bad[i] else -1 for i in range(n)])
    has = row_of >= 0
    mine: dict[str, np.ndarray] = {}
    theirs: dict[str, np.ndarray] = {}
    for name in fields:
        fen, _ = fen_of(settled[name])
        m = np.zeros(n, dtype=np.int64)
        m[has] = fen[row_of[has]]
        mine[name] = m
        theirs[name] = _platform(ex, checked, name)
    for j, i in pairs:  # a refund pair: the platform's net, against nothing settled
        for name in fields:
            net = theirs[name][j] + theirs[name][i]
            theirs[name][j] = theirs[name][i] = net
    diff = {name: np.where(has | paired, mine[name] - theirs[name], 0) for name in fields}
    worst = np.zeros(n, dtype=np.int64)
    for name in fields:
        worst = np.maximum(worst, np.abs(diff[name]))
    status = np.full(n, "not_settled", dtype=object)
    compared = has
    status[has & (worst == 0)] = "matched"
    status[has & (worst > 0) & (worst <= WITHIN)] = "within_1_yuan"
    status[has & (worst > WITHIN)] = "beyond"
    status[paired & (worst == 0)] = "refund_pair"
    status[paired & (worst > 0)] = "refund_pair_not_zero"
    status[refund & ~paired] = "refund_unmatched"
    status[checked.bad] = "rejected"

    def col(name: str) -> list[str]:
        return [""] * n if name not in settled.columns else _settled_col(settled[name], row_of)

    service = col("service_date")
    visit = col("visit_type")
    insured = f["insu_admdvs"].to_list()
    treated = col("visit_region")
    hospital = f["fixmedins_code"].to_list() if ex.has("fixmedins_code") else [""] * n
    level = f["hosp_lv"].to_list() if ex.has("hosp_lv") else [""] * n
    unmodelled = sum((checked.fen[c] for c in UNMODELLED if c in checked.fen), np.zeros(n, dtype=np.int64))

    largest = _largest(ex, fields, diff, worst, compared, row_of, settled, opts)
    step_of = {item["row_index"]: item for item in largest}

    head = ["setl_id", "mdtrt_id", "psn_no", "insured_region", "visit_region", "visit_type", "hospital"]
    head += ["service_date", "status", "refund_of", "largest_difference", "differing"]
    for name in fields:
        head += [f"platform_{name}", f"medins_{name}", f"diff_{name}"]
    head += ["unmodelled_funds", "trail_step"]
    kinds = ["text"] * 10 + ["money", "text"] + ["money"] * (3 * len(fields)) + ["money", "text"]
    writer = TableWriter(outputs.temp_for(opts.out), opts.out, head, kinds, "audit")
    partner = {i: ids[j] for j, i in pairs} | {j: ids[i] for j, i in pairs}
    mdtrt = f["mdtrt_id"].to_list() if ex.has("mdtrt_id") else [""] * n
    persons = f["psn_no"].to_list()
    for i in range(n):
        if checked.bad[i]:
            continue
        shown_compared = compared[i] or paired[i]
        differing = [name for name in fields if diff[name][i] != 0]
        row = [ids[i], mdtrt[i], persons[i], insured[i], treated[i], visit[i], hospital[i], service[i], status[i]]
        row += [partner.get(i, ""), _yuan(int(worst[i])) if shown_compared else "", ";".join(differing)]
        for name in fields:
            if shown_compared:
                row += [_yuan(int(theirs[name][i])), _yuan(int(mine[name][i])), _yuan(int(diff[name][i]))]
            else:
                row += [_yuan(int(theirs[name][i])), "", ""]
        item = step_of.get(i)
        row += [_yuan(int(unmodelled[i])), _step_text(item["step"], lang) if item and item.get("step") else ""]
        writer.write(row)
    writer.close()

    summary = _summary(
        fields, status, diff, mine, theirs, compared, checked, insured, treated, visit, hospital, level, largest, pairs, opts
    )
    report = AuditReport(summary)
    report.differing = int(np.count_nonzero((compared | paired) & (worst > 0)))
    return report


def _settled_col(s: pl.Series, row_of: np.ndarray) -> list[str]:
    values = s.to_list()
    return [values[k] if k >= 0 else "" for k in row_of]


def _summary(  # type: ignore[no-untyped-def]
    fields, status, diff, mine, theirs, compared, checked, insured, treated, visit, hospital, level, largest, pairs, opts
) -> dict[str, Any]:
    n = len(status)
    counts = {s: int(np.count_nonzero(status == s)) for s in ("matched", "within_1_yuan", "beyond")}

    def by(keys: list[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for i in np.flatnonzero(compared):
            entry = out.setdefault(keys[i] or "-", {"records": 0, "matched": 0, "within_1_yuan": 0, "beyond": 0})
            entry["records"] += 1
            entry[status[i]] += 1
        return dict(sorted(out.items()))

    tiers = {}
    for name in fields:
        d = diff[name][compared]
        tiers[name] = {
            "platform_field": dict(COMPARED)[name],
            "differing": int(np.count_nonzero(d)),
            "platform": _yuan(int(theirs[name][compared].sum())),
            "medins": _yuan(int(mine[name][compared].sum())),
            "difference": _yuan(int(d.sum())),
        }
    unmodelled = {c: _yuan(int(checked.fen[c][~checked.bad].sum())) for c in UNMODELLED if c in checked.fen}
    return {
        "records": {
            "input": n,
            "rejected": 0,
            "compared": int(np.count_nonzero(compared)),
            "refund_pairs": len(pairs),
            "refund_pairs_not_zero": int(np.count_nonzero(status == "refund_pair_not_zero")) // 2,
            "refunds_unmatched": int(np.count_nonzero(status == "refund_unmatched")),
            "not_settled": int(np.count_nonzero(status == "not_settled")),
        },
        "compared": counts,
        "by_field": tiers,
        "by_insured_region": by(insured),
        "by_visit_region": by(treated),
        "by_visit_type": by(visit),
        "by_hospital": by(hospital),
        "by_hospital_level": by(level),
        "unmodelled_funds": {
            **unmodelled,
            "note": t(
                "公务员医疗补助、企业补充医疗保险和其他基金 medins 不计算：基金合计比较时不含它们，个人负担比较时加回它们",
                "civil-servant subsidy, enterprise supplement and other funds are not modelled by medins: the fund "
                "total is compared without them, the personal share with them added back",
            )(opts.lang),
        },
        "largest": [{k: v for k, v in item.items() if k != "row_index"} for item in largest],
        "codes": t(
            "平台代码与 medins 取值的对应均为示意值（见 medins/platform.py 的来源）",
            "every mapping of the platform's codes is illustrative (see the sources in medins/platform.py)",
        )(opts.lang),
    }


# ----------------------------------------------------------------------------- the trail


def _largest(  # type: ignore[no-untyped-def]
    ex: _Extract, fields, diff, worst, compared, row_of, settled, opts: AuditOptions
) -> list[dict[str, Any]]:
    """The records of the largest differences, each with the field that differs most and the step
    of the per-bill trail that decided medins' amount of it."""
    candidates = np.flatnonzero(compared & (worst > 0))
    if not len(candidates):
        return []
    ids = ex.frame["setl_id"].to_list()
    top = sorted(candidates, key=lambda i: (-int(worst[i]), ids[i]))[:LARGEST]
    out = []
    for i in top:
        name = max(fields, key=lambda m: (abs(int(diff[m][i])), m in TIER))
        out.append(
            {
                "row_index": int(i),
                "row": int(ex.rows[i]),
                "setl_id": ids[i],
                "field": name,
                "platform_field": dict(COMPARED)[name],
                "difference": _yuan(int(diff[name][i])),
            }
        )
    try:
        _trail_steps(ex, out, settled, opts)
    except MedinsError:  # the trail is an explanation: without it the figures still stand
        pass
    return out


def _trail_steps(ex: _Extract, items: list[dict[str, Any]], settled: pl.DataFrame, opts: AuditOptions) -> None:
    """Settle again, bill by bill with the trail, each person's bills of the year up to each of
    ``items``; note the step that decided the differing amount."""
    from medins.api import estimate, parse_case
    from medins.batch import Settler
    from medins.case_model import YearToDate

    f = ex.frame
    bills, order = as_bills(ex, np.ones(f.height, dtype=bool), opts)
    bill_cols = map_columns(bills.columns, BILL_COLUMNS, "BILLS", [], "bills")
    fee = _fee_lines(opts, {str(b) for b in bills["bill_id"].to_list()}) if opts.fee_list else None
    cfg = WorkerConfig(
        resolve_rules_dir(opts.rules_dir).resolve(),
        Source(Path("bills"), "utf-8", ",", bill_cols),
        Source(Path("items"), "utf-8", ",", fee[1]) if fee else None,
        opts.lang,
        False,
    )
    settler = Settler(cfg)
    service = dict(zip(settled["bill_id"].to_list(), settled["service_date"].to_list(), strict=True))
    rows = bills.to_dicts()
    position = {r["bill_id"]: k for k, r in enumerate(rows)}
    for item in items:
        me = rows[position[item["setl_id"]]]
        year = service[item["setl_id"]][:4]
        key = (me["person_id"], me["insured_region"], me["scheme"])
        same = [
            r
            for r in rows
            if (r["person_id"], r["insured_region"], r["scheme"]) == key
            and service.get(r["bill_id"], "")[:4] == year
            and r["bill_id"] in service
        ]
        same.sort(key=lambda r: (service[r["bill_id"]], position[r["bill_id"]]))
        ytd = YearToDate()
        for r in same:
            v = {k: str(x) for k, x in r.items() if x not in (None, "")}
            data = settler._case_data(v)
            lines = fee[0].get(r["bill_id"], []) if fee else []
            if lines:
                data["items"] = [settler._item_data(list(rec)) for rec in lines]
            else:
                data["summary"] = {k: v[k] for k in ("total", "fully_self_paid", "over_ceiling", "pre_self_pay") if k in v}
            data["ytd"] = ytd
            s = estimate(parse_case(data, "bill"), settler.rules, explain=r is me)
            ytd = s.ytd_after
            if r is me:
                item["medins"] = str(getattr(s, item["field"], "")) if hasattr(s, item["field"]) else ""
                item["step"] = _deciding(s.trail, item["field"])
                break


def _deciding(trail: Any, name: str) -> dict[str, Any] | None:
    """The last step of the trail among those that decide ``name``."""
    found = None
    for step in trail:
        if step.key in STEPS.get(name, ()):
            found = step
    if found is None:
        return None
    return {
        "key": found.key,
        "text": {"zh": found.text.zh, "en": found.text.en},
        "formula": found.formula,
        "sources": list(found.sources),
    }


def _step_text(step: dict[str, Any], lang: Lang) -> str:
    sources = "; ".join(step["sources"])
    return f"{step['key']}: {step['text'][lang]}: {step['formula']}" + (f" [{sources}]" if sources else "")


def _fee_lines(opts: AuditOptions, wanted: set[str]) -> tuple[dict[str, list[list[str]]], ColumnMap]:
    """The fee lines of a few settlements, by settlement id, in the fee list's column order."""
    assert opts.fee_list is not None
    with procs.spool_folder("medins-audit-") as spool:
        table, cols = _open_table(opts.fee_list, "FEE", FEE_COLUMNS, [("bill_id",)], opts.encoding, Path(spool))
        idx = cols.index["bill_id"]
        found: dict[str, list[list[str]]] = {}
        for _row, _s, _e, cells, problem in table.records():
            if problem is None and idx < len(cells) and cells[idx].strip() in wanted:
                found.setdefault(cells[idx].strip(), []).append(cells)
    return found, cols


# ----------------------------------------------------------------------------- the report


def summary_table(summary: dict[str, Any], lang: Lang) -> str:
    """The report as a clerk reads it: counts, each field's sums, the largest differences."""
    zh = lang == "zh"
    r, c = summary["records"], summary["compared"]
    out = io.StringIO()
    out.write(
        (
            f"结算记录 {r['input']} 条：比较 {r['compared']} 条，拒绝 {r['rejected']} 条，退费配对 {r['refund_pairs']} 对，"
            f"未配对退费 {r['refunds_unmatched']} 条，未结算 {r['not_settled']} 条\n"
            f"一致到分 {c['matched']} 条，相差 1 元以内 {c['within_1_yuan']} 条，相差超过 1 元 {c['beyond']} 条\n"
        )
        if zh
        else (
            f"settlement records {r['input']}: compared {r['compared']}, rejected {r['rejected']}, refund pairs "
            f"{r['refund_pairs']}, unmatched refunds {r['refunds_unmatched']}, not settled {r['not_settled']}\n"
            f"matched to the fen {c['matched']}, within 1 yuan {c['within_1_yuan']}, beyond {c['beyond']}\n"
        )
    )
    from tabulate import tabulate

    head = ("字段", "平台字段", "不一致", "平台合计", "medins 合计", "差额") if zh else (
        "field", "platform field", "differing", "platform", "medins", "difference"
    )
    rows = [
        (name, v["platform_field"], v["differing"], v["platform"], v["medins"], v["difference"])
        for name, v in summary["by_field"].items()
    ]
    out.write(tabulate(rows, head, disable_numparse=True, colalign=("left", "left", "right", "right", "right", "right")))
    out.write("\n")
    unmodelled = summary["unmodelled_funds"]
    parts = ", ".join(f"{k} {v}" for k, v in unmodelled.items() if k != "note")
    if parts:
        out.write(f"{'未计算的基金' if zh else 'funds not modelled'}: {parts}（{unmodelled['note']}）\n" if zh else f"funds not modelled: {parts} ({unmodelled['note']})\n")
    if summary["largest"]:
        out.write("差额最大的记录：\n" if zh else "largest differences:\n")
        for item in summary["largest"]:
            step = item.get("step")
            where = _step_text(step, lang) if step else ""
            out.write(f"  row={item['row']}  setl_id={item['setl_id']}  {item['field']} ({item['platform_field']})  ")
            out.write(f"{'差额' if zh else 'difference'} {item['difference']}  {where}\n")
    out.write(summary["codes"] + "\n")
    return out.getvalue()
