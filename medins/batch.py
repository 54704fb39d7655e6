"""Settle many bills at once: each person's bills in service-date order, year-to-date amounts carried.

BILLS holds one row per bill, columns named like the case file, flattened (``person_id``,
``visit_region``, ``admitted`` …); ITEMS, optionally, one row per bill line referring to ``bill_id``.
Every row ends up either settled in OUT or listed in REJECTS with its row number, column and reason:
input rows = accepted + rejected, for bills and for item lines.

The run has three phases:

1. *scan* (main process): read both files once, remembering each record's byte range, not its
   values; map headers through one alias table; reject duplicate bill ids and orphan item lines;
2. *settle* (in-process, or in ``--jobs`` worker processes that each own a share of the year-to-date
   keys below):
   re-read a bill's records by range, build the case with :func:`medins.api.parse_case`, settle it
   with :func:`medins.api.estimate` and its person's year-to-date amounts;
3. *write* (main process): OUT in input order as results arrive, then REJECTS, SUMMARY, CLEARING
   and the year-to-date state — all to temporary files moved into place only when the run succeeds.

The scan checks every record once, for both ways of settling (in-process and ``--jobs``): a row
whose cell count differs from the header's, a quote that swallowed the rows after it, an ID in
scientific notation, a date cell that is not a date, one ``person_id`` with two names. A rejected
row is never sent to be settled.

Year-to-date amounts belong to a person *in one insured place, under one scheme, in one year*: the
key is ``(person_id, insured_region, scheme, year)``, the year the service date's. The bills of one
key settle in service-date order, each from the amounts the one before left; a bill of another key
(a person insured in 330400, then in 130100) starts from zero. ``--ytd-out`` writes and ``--ytd-in``
reads one entry per key, sorted by key (format version 2)::

    {"format": "medins-ytd", "version": 2, "entries": [
      {"person_id": "P01", "insured_region": "130100", "scheme": "resident", "year": 2025,
       "last_service_date": "2025-03-20", "ytd": {"year": 2025, "admissions": 2, ...}}
    ]}

``ytd`` is the case file's ``[ytd]`` table. A version-1 file (keyed by person only) is refused: it
does not say which insured place and scheme its amounts belong to.
"""

from __future__ import annotations

import difflib
import json
import multiprocessing
import os
import pickle
import queue
import re
import traceback
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from medins import procs, regions, vocab
from medins.api import estimate, load_rules, parse_case
from medins.case_model import YearToDate
from medins.codes import ASSISTANCE_CATEGORIES, CATEGORIES, NATIONAL_CHRONIC, VISIT_TYPES
from medins.engine.eligibility import add_months
from medins.errors import MedinsError, SettlementBug, UsageError, t
from medins.i18n import LABELS, Lang, Text, label
from medins.loader import parse_model, resolve_rules_dir
from medins.money import FEN, RATIO_PLACES, ZERO, show
from medins.tabular import (
    MARK,
    CsvTable,
    Outputs,
    RangeReader,
    TableError,
    TableWriter,
    cell_problem,
    open_csv,
    spool_xlsx,
    table_kind,
    xlsx_header,
)
from medins.types import MAX_ADMISSIONS

# ----------------------------------------------------------------------------- columns

BILL_COLUMNS: dict[str, tuple[str, ...]] = {
    "bill_id": ("单据号", "结算号", "setl_id", "mdtrt_id"),
    "person_id": ("人员编号", "身份证号", "psn_no"),
    "person_name": ("姓名", "psn_name"),
    "insured_region": ("参保地", "insu_admdvs"),
    "scheme": ("险种",),
    "status": ("人员类别",),
    "assistance": ("救助类别",),
    "chronic_diseases": ("认定病种",),
    "filing_category": ("备案类别",),
    "filing_destination": ("备案就医地",),
    "filing_start": ("备案开始",),
    "filing_end": ("备案结束",),
    "filing_filed_on": ("备案日期",),
    "filing_materials": ("备案材料",),
    "visit_region": ("就医地", "mdtrtarea_admvs"),
    "hospital_level": ("医院等级",),
    "hospital": ("医院编码", "fixmedins_code"),
    "visit_type": ("就诊类型",),
    "disease": ("病种",),
    "admitted": ("入院日期",),
    "discharged": ("出院日期",),
    "date": ("就诊日期",),
    "total": ("医疗费总额", "medfee_sumamt"),
    "fully_self_paid": ("全自费", "fulamt_ownpay_amt"),
    "over_ceiling": ("超限价", "overlmt_selfpay"),
    "class_b": ("乙类金额",),
    "pre_self_pay": ("先行自付", "preselfpay_amt"),
}
"""The bills file's columns: canonical name → accepted aliases (Chinese headers, national names)."""

ITEM_COLUMNS: dict[str, tuple[str, ...]] = {
    "bill_id": BILL_COLUMNS["bill_id"],
    "code": ("项目编码",),
    "name": ("项目名称",),
    "dosage_form": ("剂型",),
    "spec": ("规格",),
    "kind": ("项目类别",),
    "quantity": ("数量",),
    "unit_price": ("单价",),
    "amount": ("金额",),
    "restriction_met": ("符合限定支付",),
}
"""The items file's columns: canonical name → accepted aliases."""

ID_COLUMNS = frozenset({"bill_id", "person_id", "hospital", "code", "insured_region", "visit_region"})
DATE_COLUMNS = frozenset({"filing_start", "filing_end", "filing_filed_on", "admitted", "discharged", "date"})
SUMMARY_COLUMNS = ("total", "fully_self_paid", "over_ceiling", "class_b", "pre_self_pay")

# Section and field of the case file each bill column fills.
BILL_FIELDS: dict[str, tuple[str, str]] = {
    "person_id": ("person", "id"),
    "insured_region": ("person", "insured_region"),
    "scheme": ("person", "scheme"),
    "status": ("person", "status"),
    "assistance": ("person", "assistance"),
    "chronic_diseases": ("person", "chronic_diseases"),
    "filing_category": ("filing", "category"),
    "filing_destination": ("filing", "destination"),
    "filing_start": ("filing", "start"),
    "filing_end": ("filing", "end"),
    "filing_filed_on": ("filing", "filed_on"),
    "filing_materials": ("filing", "materials"),
    "visit_region": ("visit", "region"),
    "hospital_level": ("visit", "hospital_level"),
    "hospital": ("visit", "hospital"),
    "visit_type": ("visit", "type"),
    "disease": ("visit", "disease"),
    "admitted": ("visit", "admitted"),
    "discharged": ("visit", "discharged"),
    "date": ("visit", "date"),
    **{name: ("summary", name) for name in SUMMARY_COLUMNS},
}
FIELD_COLUMNS: dict[str, str] = {f"{sec}.{key}": col for col, (sec, key) in BILL_FIELDS.items()}
SECTION_FIELDS: dict[str, dict[str, str]] = {}
for _col, (_sec, _key) in BILL_FIELDS.items():
    SECTION_FIELDS.setdefault(_sec, {})[_key] = _col
SECTION_FIELDS["items"] = {c: c for c in ITEM_COLUMNS if c != "bill_id"}

OUT_AMOUNTS = (
    "total",
    "fully_self_paid",
    "over_ceiling",
    "pre_self_pay",
    "offsite_self_pay",
    "in_scope",
    "deductible",
    "basic_fund",
    "critical_illness_fund",
    "large_amount_fund",
    "medical_assistance_fund",
    "fund_total",
    "personal_total",
    "paid_at_discharge",
)
OUT_HEAD = ("bill_id", "person_id", "insured_region", "visit_region", "visit_type", "service_date")
OUT_TAIL = ("eligible", "settlement", "benefit_category", "deferred", "warnings", "reasons", "reason_text")
REJECT_COLUMNS = ("row", "file", "bill_id", "column", "reason")
CLEARING_COLUMNS = (
    "insured_region",
    "visit_region",
    "month",
    "count",
    "total",
    "basic_fund",
    "tier2_fund",
    "medical_assistance_fund",
    "fund_total",
    "declaration_due",
    "clearing_due",
)

YTD_FORMAT = "medins-ytd"
YTD_VERSION = 2
EMPTY_YTD = YearToDate()

YtdKey = tuple[str, str, str, int]
"""Whose year-to-date amounts: ``(person_id, insured_region, scheme, year)``."""
BATCH_SIZE = 128
WORKER_POLL = 0.5  # seconds the main process waits for a result before it checks its workers are alive


def header_key(text: str) -> str:
    """A header as compared: trimmed, a trailing unit in brackets dropped, lower case, spaces → ``_``."""
    key = re.sub(r"\s*[（(][^)）]*[)）]\s*$", "", text.strip().lstrip("\ufeff"))
    return re.sub(r"[\s\-]+", "_", key.strip()).lower()


def _alias_index(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    index: dict[str, str] = {}
    for name, aliases in table.items():
        for alias in (name, *aliases):
            index[header_key(alias)] = name
    return index


@dataclass(frozen=True)
class ColumnMap:
    """Which column of a file holds each canonical column, and the header as written there."""

    role: str
    index: dict[str, int]
    names: dict[str, str]
    ignored: tuple[str, ...]

    def kinds(self, width: int, ids: frozenset[str] = ID_COLUMNS) -> list[str]:
        """Per input column, how an XLSX cell is read: id (the columns ``ids``), date or text."""
        kinds = ["text"] * width
        for name, i in self.index.items():
            kinds[i] = "id" if name in ids else "date" if name in DATE_COLUMNS else "text"
        return kinds

    def shown(self, name: str) -> str:
        return self.names.get(name, name)


def map_columns(
    header: list[str], table: dict[str, tuple[str, ...]], role: str, required: list[tuple[str, ...]], where: str
) -> ColumnMap:
    """Map a header row to canonical columns; exit 1 naming missing columns and the nearest headers."""
    aliases = _alias_index(table)
    index: dict[str, int] = {}
    names: dict[str, str] = {}
    ignored: list[str] = []
    for i, cell in enumerate(header):
        name = aliases.get(header_key(cell))
        if name is None:
            if cell:
                ignored.append(cell)
            continue
        if name in index:
            raise TableError(
                t(
                    f"列 “{names[name]}” 和 “{cell}” 都表示 {name}",
                    f"columns '{names[name]}' and '{cell}' both mean {name}",
                ),
                where,
                t("请删除或改名其中一列", "remove or rename one of them"),
            )
        index[name] = i
        names[name] = cell
    missing = [group for group in required if not any(n in index for n in group)]
    if missing:
        parts_zh, parts_en = [], []
        for group in missing:
            wanted = " 或 ".join(group), " or ".join(group)
            near = nearest_header(ignored, [a for n in group for a in (n, *table[n])])
            hint = f"（最接近的列：“{near}”）" if near else ""
            hint_en = f" (nearest header: '{near}')" if near else ""
            parts_zh.append(wanted[0] + hint)
            parts_en.append(wanted[1] + hint_en)
        error = _MissingColumns(
            t(f"{role}缺少必需的列：{'；'.join(parts_zh)}", f"{role} lacks required columns: {'; '.join(parts_en)}"),
            where,
            t(
                "列名见 README 的 Batch 一节（可用中文列名或国家平台字段名）",
                "see README, Batch, for column names and aliases",
            ),
        )
        error.known = len(index)
        raise error
    return ColumnMap(role, index, names, tuple(ignored))


def nearest_header(headers: list[str], names: list[str]) -> str | None:
    """The header (of those not recognised) most like one of ``names``, if any is alike at all."""
    best, score = None, 0.0
    for header in headers:
        for name in names:
            ratio = difflib.SequenceMatcher(None, header_key(header), header_key(name)).ratio()
            if ratio > score:
                best, score = header, ratio
    return best if score >= 0.5 else None


class _MissingColumns(TableError):
    known = 0


# ----------------------------------------------------------------------------- values


def _labels_for(ids: Iterable[str]) -> dict[str, str]:
    return {LABELS[i][0]: i for i in ids if i in LABELS}


_VALUE_IDS: dict[str, tuple[tuple[str, ...], str]] = {
    "scheme": (("employee", "resident"), "scheme"),
    "status": (("in_service", "retired"), "status"),
    "assistance": (ASSISTANCE_CATEGORIES, "assistance"),
    "filing_category": (CATEGORIES, "category"),
    "visit_type": (VISIT_TYPES, "visit_type"),
    "disease": (NATIONAL_CHRONIC, "disease"),
}
"""Each coded column's ids, and its kind in the shared vocabulary (:data:`medins.vocab.ALIASES`)."""
VALUE_ALIASES: dict[str, dict[str, str]] = {
    # one vocabulary for flags, case files and batch cells: the ids' labels and the shared names
    **{column: {**_labels_for(ids), **vocab.ALIASES[kind]} for column, (ids, kind) in _VALUE_IDS.items()},
    "kind": {
        "药品": "drug",
        "西药": "drug",
        "中成药": "drug",
        "中药饮片": "drug",
        "诊疗项目": "service",
        "医疗服务项目": "service",
        "服务项目": "service",
        "医用耗材": "consumable",
        "耗材": "consumable",
    },
}
VALUE_ALIASES["chronic_diseases"] = VALUE_ALIASES["disease"]

_DATE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)
_DATE8 = re.compile(r"(\d{4})(\d{2})(\d{2})(?:\d{6})?")
_LEVEL = re.compile(r"([123一二三])\s*(?:级|甲|乙|丙|\.0*$|$)")
_TRUE = frozenset({"true", "t", "1", "yes", "y", "是", "符合"})
_FALSE = frozenset({"false", "f", "0", "no", "n", "否", "不符合"})


def norm_date(value: str) -> str:
    """``2025/3/10``, ``2025年3月10日``, ``20250310``, ``2025-03-10 08:30`` → ``2025-03-10``; else as given."""
    m = _DATE.fullmatch(value) or _DATE8.fullmatch(value)
    if m is None:
        return value
    return f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"


def day_number(value: str) -> int:
    """The ordinal of a date written as ``norm_date`` accepts; 0 when it is not a date."""
    try:
        return date.fromisoformat(norm_date(value)).toordinal()
    except ValueError:
        return 0


def norm_level(value: str) -> str:
    """``3``, ``3.0``, ``3级``, ``三级甲等``, ``三甲`` → ``3``; else as given."""
    m = _LEVEL.match(value)
    return str("123一二三".index(m.group(1)) % 3 + 1) if m else value


def norm_bool(value: str) -> bool | str:
    low = value.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    return value


def norm_choice(column: str, value: str) -> str:
    aliases = VALUE_ALIASES.get(column)
    if aliases is None:
        return value
    return aliases.get(value) or (value.lower() if value.isascii() else value)


def split_list(column: str, value: str) -> list[str]:
    return [norm_choice(column, v.strip()) for v in re.split(r"[;；]", value) if v.strip()]


# ----------------------------------------------------------------------------- rejects


def _reason(exc: MedinsError, lang: Lang, keep_where: bool) -> str:
    text = exc.render(lang) if keep_where else exc.text(lang)
    if not keep_where and exc.fix is not None:
        fix = exc.fix(lang)
        if fix:
            text += ("；" if lang == "zh" else "; ") + fix
    return text


_ITEM_PATH = re.compile(r"items\[(\d+)\](?:\.(\w+))?")
_WORD = re.compile(r"[a-z_]+")


def error_column(path: str, message: str) -> tuple[str | None, int | None, bool]:
    """Map a case key path to ``(column, item index, known)``: ``visit.admitted`` → ``admitted``.

    A section-level error (``visit``) is mapped by the first field its message (fix first) names.
    """
    m = _ITEM_PATH.fullmatch(path)
    if m is not None:
        column = m.group(2)
        if column is None or column not in SECTION_FIELDS["items"]:
            column = next((w for w in _WORD.findall(message) if w in SECTION_FIELDS["items"]), None)
        return column, int(m.group(1)), True
    path = re.sub(r"\[\d+\]$", "", path)
    if path in FIELD_COLUMNS:
        return FIELD_COLUMNS[path], None, True
    if path in SECTION_FIELDS:
        fields = SECTION_FIELDS[path]
        word = next((w for w in _WORD.findall(message) if w in fields), None)
        return (fields[word] if word else None), None, True
    if path in ("", "person", "ytd"):
        return None, None, True
    return None, None, False


# ----------------------------------------------------------------------------- settling (workers)


@dataclass(frozen=True)
class Source:
    """How a worker re-reads a table: the (possibly spooled) CSV, its encoding and delimiter."""

    path: Path
    encoding: str
    delimiter: str
    columns: ColumnMap
    spooled: bool = False


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a settling process needs (picklable, for ``--jobs``)."""

    rules_dir: Path
    bills: Source
    items: Source | None
    lang: Lang
    want_state: bool
    reform: Path | None = None
    """A reform file applied to the rules (``--reform``): the run settles under the reformed rules."""
    check_only: bool = False
    """``--check``: each bill is read and its case checked by the case model, not settled."""
    explain_row: int | None = None
    """``--explain``: the BILLS row whose bill is settled with its trail (kept as ``Settler.explained``)."""


def worker_rules(cfg: WorkerConfig) -> Any:
    """The rules a settling process uses: those of ``cfg.rules_dir``, with ``cfg.reform`` applied."""
    rules = load_rules(cfg.rules_dir)
    if cfg.reform is None:
        return rules
    from medins.reform import load_reform

    return load_reform(cfg.reform, rules).rules


# A task: (bill, row, start, end, item runs ((start, end, first row, count), ...), year-to-date key,
#          first bill of the key, last bill of the key, year-to-date state to start from)
Task = tuple[int, int, int, int, tuple[tuple[int, int, int, int], ...], YtdKey, bool, bool, str | None]
# A reject: (file order 0 bills / 1 items, row, file, bill id, column, reason)
Reject = tuple[int, int, str, str, str, str]


class Aggregates:
    """Sums for the summary (by dimension) and for clearing (by insured × visit region × month)."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str], list[Any]] = {}
        self.clearing: dict[tuple[str, str, str], list[Any]] = {}

    def add(self, keys: tuple[tuple[str, str], ...], amounts: tuple[Decimal, ...], direct: bool) -> None:
        for key in keys:
            acc = self.groups.get(key)
            if acc is None:
                acc = self.groups[key] = [0, 0] + [ZERO] * len(amounts)
            acc[0] += 1
            acc[1] += direct
            for i, v in enumerate(amounts, 2):
                acc[i] += v

    def clear(self, key: tuple[str, str, str], amounts: tuple[Decimal, ...]) -> None:
        acc = self.clearing.get(key)
        if acc is None:
            acc = self.clearing[key] = [0] + [ZERO] * len(amounts)
        acc[0] += 1
        for i, v in enumerate(amounts, 1):
            acc[i] += v

    def merge(self, other: Aggregates) -> None:
        for target, source in ((self.groups, other.groups), (self.clearing, other.clearing)):
            for key, acc in source.items():
                mine = target.get(key)
                if mine is None:
                    target[key] = list(acc)
                else:
                    for i, v in enumerate(acc):
                        mine[i] += v


GROUP_AMOUNTS = (
    "total",
    "basic_fund",
    "critical_illness_fund",
    "large_amount_fund",
    "medical_assistance_fund",
    "fund_total",
    "personal_total",
)


class Settler:
    """Settles tasks: reads a bill's records, builds the case, settles it, keeps persons' amounts."""

    def __init__(self, cfg: WorkerConfig) -> None:
        self.cfg = cfg
        self.lang = cfg.lang
        self.rules = worker_rules(cfg)
        self._readers: tuple[RangeReader, RangeReader | None] | None = None
        bcols = cfg.bills.columns
        self.bill_cols = sorted(bcols.index.items(), key=lambda kv: kv[1])
        self.bill_width = max(bcols.index.values()) + 1
        icols = cfg.items.columns.index if cfg.items else {}
        self.item_cols = sorted(((n, i) for n, i in icols.items() if n != "bill_id"), key=lambda kv: kv[1])
        self.item_width = max(icols.values(), default=0) + 1
        self.cells_checked = cfg.bills.spooled or bool(cfg.items and cfg.items.spooled)
        self.bill_names = bcols.names
        self.item_names = cfg.items.columns.names if cfg.items else {}
        self.with_name = "person_name" in bcols.index
        self.state: dict[YtdKey, tuple[str | None, str | None]] = {}
        self.agg = Aggregates()
        self._groups: dict[tuple[str, str], dict[str, str]] = {}
        self.explained: tuple[Any, Any] | None = None
        """The case and settlement, with its trail, of the row ``cfg.explain_row``."""

    @property
    def bills(self) -> RangeReader:
        return self._open()[0]

    @property
    def items(self) -> RangeReader | None:
        return self._open()[1]

    def _open(self) -> tuple[RangeReader, RangeReader | None]:
        """The files' readers, opened when a task first needs them (the columns path never does)."""
        if self._readers is None:
            cfg = self.cfg
            self._readers = (
                RangeReader(cfg.bills.path, cfg.bills.encoding, cfg.bills.delimiter),
                RangeReader(cfg.items.path, cfg.items.encoding, cfg.items.delimiter) if cfg.items else None,
            )
        return self._readers

    def close(self) -> None:
        if self._readers is not None:
            self._readers[0].close()
            if self._readers[1]:
                self._readers[1].close()

    # -- one batch of tasks
    def run(self, tasks: list[Task]) -> list[tuple[Any, ...]]:
        return [self.settle(task) for task in tasks]

    def settle(self, task: Task) -> tuple[Any, ...]:
        b, row, start, end, runs, key, first, last, ytd_in = task
        # a key's amounts wait between its bills as compact JSON: objects would hold far more memory
        ytd, last_day = (ytd_in, None) if first else self.state.pop(key)
        values = self.bills.read(start, end)[0]
        items: list[tuple[int, list[str]]] = []
        for r_start, r_end, r_row, count in runs:
            records = self.items.read(r_start, r_end)  # type: ignore[union-attr]
            if len(records) != count:
                raise TableError(
                    t("明细文件在运行中被修改", "the items file changed while it was being read"),
                    f"items rows {r_row}–{r_row + count - 1}",
                    t("请在文件不再变动时重新运行", "run again once the file no longer changes"),
                )
            items.extend(zip(range(r_row, r_row + count), records, strict=True))
        out, rejects, ytd_after, day = self._one(row, values, items, ytd)
        if out is not None:
            ytd, last_day = ytd_after.model_dump_json(), day  # type: ignore[union-attr]
        final = None
        if not last:
            self.state[key] = (ytd, last_day)
        elif self.cfg.want_state and last_day is not None:
            final = (key, last_day, ytd)
        return b, out, rejects, len(items) if out is not None else 0, final

    def _one(
        self, row: int, values: list[str], items: list[tuple[int, list[str]]], ytd_json: str | None
    ) -> tuple[list[str] | None, list[Reject], YearToDate | None, str | None]:
        lang = self.lang
        if len(values) < self.bill_width:
            values += [""] * (self.bill_width - len(values))
        v = {name: s for name, i in self.bill_cols if (s := values[i].strip())}
        bid = v.get("bill_id", "")

        def reject(column: str, reason: str, item_row: int | None = None, item_column: str = "") -> tuple:
            out: list[Reject] = []
            if item_row is not None:
                out.append((1, item_row, "items", bid, item_column, reason))
                reason = t(f"明细第 {item_row} 行：", f"items row {item_row}: ")(lang) + reason
            out.append((0, row, "bills", bid, column, reason))
            belongs = t(
                f"所属单据 {bid}（单据第 {row} 行）被拒绝", f"belongs to rejected bill {bid} (bills row {row})"
            )(lang)
            out.extend((1, r, "items", bid, "", belongs) for r, _ in items if r != item_row)
            return None, out, None, None

        if self.cells_checked:
            problem = self._cell_problem(v, items)
            if problem is not None:
                column, reason, item_row = problem
                return reject("" if item_row else column, reason, item_row, column if item_row else "")
        data = self._case_data(v)
        if items:
            data["items"] = [self._item_data(rec) for _, rec in items]
        elif "total" in v:
            data["summary"] = {k: v[k] for k in SUMMARY_COLUMNS if k in v}
        else:
            return reject(
                self.bill_names.get("total", "total"),
                t(
                    "没有费用明细（ITEMS 中没有此单据号的行）也没有医疗费总额",
                    "no item lines (ITEMS has no row with this bill_id) and no total",
                )(lang),
            )
        # an explicit empty state: the model's default would be deep-copied for every new person
        data["ytd"] = YearToDate.model_validate_json(ytd_json) if ytd_json is not None else EMPTY_YTD
        try:
            case = parse_case(data, "bill")
            if self.cfg.check_only:  # --check: the case holds; nothing is settled
                return [], [], case.ytd, case.visit.service_date.isoformat()
            explain = row == self.cfg.explain_row
            s = estimate(case, self.rules, explain=explain)  # the trail's text only where it is asked for
            if explain:
                self.explained = (case, s)
        except MedinsError as exc:
            where = exc.where[len("bill: ") :] if exc.where.startswith("bill: ") else exc.where
            where = "" if where == "bill" else where
            column, item, known = error_column(where, f"{exc.fix.en if exc.fix else ''} {exc.text.en}")
            reason = _reason(exc, lang, keep_where=not known)
            if item is not None and item < len(items):
                return reject("", reason, items[item][0], self.item_names.get(column or "", column or ""))
            return reject(self.bill_names.get(column or "", column or ""), reason)
        return self._out(bid, v, case, s), [], s.ytd_after, s.service_date.isoformat()

    def _cell_problem(
        self, v: dict[str, str], items: list[tuple[int, list[str]]]
    ) -> tuple[str, str, int | None] | None:
        """The first cell an XLSX lost (formula without value, ID with lost digits): column, reason, item row."""
        for name, s in v.items():
            if s[0] == MARK:
                return self.bill_names[name], cell_problem(s)(self.lang), None  # type: ignore[misc]
        for item_row, rec in items:
            for name, i in self.item_cols:
                if i < len(rec) and rec[i].startswith(MARK):
                    return self.item_names[name], cell_problem(rec[i])(self.lang), item_row  # type: ignore[misc]
        return None

    def _item_data(self, rec: list[str]) -> dict[str, Any]:
        """One item line as the case file's ``[[items]]`` entry."""
        if len(rec) < self.item_width:
            rec += [""] * (self.item_width - len(rec))
        item: dict[str, Any] = {name: s for name, i in self.item_cols if (s := rec[i].strip())}
        if "restriction_met" in item:
            item["restriction_met"] = norm_bool(item["restriction_met"])
        if "kind" in item:
            item["kind"] = norm_choice("kind", item["kind"])
        return item

    def _case_data(self, v: dict[str, str]) -> dict[str, Any]:
        data: dict[str, Any] = {"person": {}, "visit": {}}
        for name, s in v.items():
            target = BILL_FIELDS.get(name)
            if target is None:
                continue
            section, key = target
            if name in DATE_COLUMNS:
                value: Any = norm_date(s)
            elif name in ("chronic_diseases", "filing_materials"):
                value = split_list(name, s)
            elif name == "hospital_level":
                value = norm_level(s)
            elif name == "status":
                value = self._status(v, s)
            else:
                value = norm_choice(name, s)
            data.setdefault(section, {})[key] = value
        data.pop("summary", None)
        return data

    def _status(self, v: dict[str, str], s: str) -> str:
        """A person group by id or by its label (in_service/retired, or the pack's group labels)."""
        scheme = norm_choice("scheme", v.get("scheme", ""))
        key = (v.get("insured_region", ""), scheme)
        labels = self._groups.get(key)
        if labels is None:
            labels = dict(VALUE_ALIASES["status"])
            pack = self.rules.packs.get(key[0])
            part = getattr(pack.standards, scheme, None) if pack and pack.standards and scheme else None
            for gid, text in (getattr(part, "group_labels", None) or {}).items():
                labels.setdefault(text, gid)
            self._groups[key] = labels
        return labels.get(s, s)

    def _out(self, bid: str, v: dict[str, str], case: Any, s: Any) -> list[str]:
        amounts = (
            s.total,
            s.fully_self_paid,
            s.over_ceiling,
            s.pre_self_pay,
            s.offsite_self_pay,
            s.in_scope,
            s.deductible,
            s.basic_fund,
            s.critical_illness_fund,
            s.large_amount_fund,
            s.medical_assistance_fund,
            s.fund_total,
            s.personal_total,
            s.paid_at_discharge,
        )
        e = s.eligibility
        person, visit = case.person, case.visit
        head = [bid, person.id or ""]
        if self.with_name:
            head.append(v.get("person_name", ""))
        row = [
            *head,
            person.insured_region,
            visit.region,
            visit.type,
            s.service_date.isoformat(),
            *[f"{a:.2f}" for a in amounts],
            f"{s.fund_ratio:.4f}",
            "true" if e.eligible else "false",
            e.settlement,
            e.benefit_category,
            ";".join(s.deferred),
            ";".join(dict.fromkeys(w.code for w in s.warnings)),
            ";".join(r.code for r in e.reasons),
            ("；" if self.lang == "zh" else "; ").join(r.text(self.lang) for r in e.reasons),
        ]
        direct = e.settlement == "direct"
        self.agg.add(
            (
                ("all", ""),
                ("visit_type", visit.type),
                ("benefit_category", e.benefit_category),
                ("insured_region", person.insured_region),
            ),
            (
                s.total,
                s.basic_fund,
                s.critical_illness_fund,
                s.large_amount_fund,
                s.medical_assistance_fund,
                s.fund_total,
                s.personal_total,
            ),
            direct,
        )
        # clearing is between places: a local visit is paid by the insured place's own fund office
        if direct and e.place != "local":
            deferred = s.deferred
            basic = ZERO if "basic" in deferred else s.basic_fund
            tier2 = ZERO if "tier2" in deferred else s.tier2_fund
            assist = ZERO if "medical_assistance" in deferred else s.medical_assistance_fund
            day = visit.settlement_date
            self.agg.clear(
                (person.insured_region, visit.region, f"{day.year:04d}-{day.month:02d}"),
                (s.total, basic, tier2, assist, basic + tier2 + assist),
            )
        return row


def _worker_main(cfg: WorkerConfig, inbox: Any, outbox: Any, number: int, parent: int) -> None:
    """A ``--jobs`` process: settle the batches it is sent, then send its aggregates.

    It ends with its parent however the parent ends, leaves Ctrl-C to the parent, and dies on SIGTERM.
    """
    procs.worker_started(parent)
    try:
        settler = Settler(cfg)
        while (tasks := procs.receive(inbox, parent)) is not None:
            outbox.put(("results", settler.run(tasks)))
        settler.close()
        outbox.put(("done", (number, settler.agg)))
    except MedinsError as exc:  # a file problem: the main process stops the run with this message
        outbox.put(("medins", (exc.text, exc.where, exc.fix)))
    except BaseException as exc:  # a defect: sent to the main process, which stops the run
        outbox.put(("error", (type(exc).__name__, str(exc), traceback.format_exc())))


# ----------------------------------------------------------------------------- the run


@dataclass
class BatchOptions:
    """What ``medins batch`` was asked to do."""

    bills: Path
    out: Path
    items: Path | None = None
    rejects: Path | None = None
    summary: Path | None = None
    clearing: Path | None = None
    ytd_in: Path | None = None
    ytd_out: Path | None = None
    encoding: str = "auto"
    jobs: int = 1
    rules_dir: Path | None = None
    lang: Lang = "zh"
    engine: str = "columns"  # "records": the record-by-record path, bill by bill
    memory: int = 256 * 2**20  # bytes the columns may take before persons are split into partitions
    reform: Path | None = None  # a reform file: every bill settled as the rules are and as reformed
    item_columns: dict[str, tuple[str, ...]] | None = None  # ITEMS' names and aliases, if not ITEM_COLUMNS

    @property
    def rejects_path(self) -> Path:
        """``--rejects``, else OUT with ``.rejects`` before the extension."""
        return self.rejects or self.out.with_name(f"{self.out.stem}.rejects{self.out.suffix}")


@dataclass
class BatchReport:
    """Counts and sums of a finished run; ``summary`` is what ``--summary`` writes."""

    bills_input: int
    bills_rejected: int
    items_input: int
    items_rejected: int
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return self.bills_rejected + self.items_rejected


@dataclass
class _Scan:
    """What the scan keeps of the bills: per bill, byte range, row, person, day; ids to match items."""

    table: CsvTable
    rows: array = field(default_factory=lambda: array("i"))
    starts: array = field(default_factory=lambda: array("q"))
    ends: array = field(default_factory=lambda: array("q"))
    person: array = field(default_factory=lambda: array("i"))
    day: array = field(default_factory=lambda: array("i"))
    rejected: bytearray = field(default_factory=bytearray)
    ids: list[str] = field(default_factory=list)
    by_id: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, list[int]] = field(default_factory=dict)
    persons: list[str] = field(default_factory=list)
    chain: array = field(default_factory=lambda: array("i"))
    keys: list[YtdKey] = field(default_factory=list)


class _Runs:
    """Item lines grouped by bill as runs of consecutive rows, chained per bill."""

    def __init__(self, bills: int) -> None:
        self.start, self.end = array("q"), array("q")
        self.row, self.count, self.next = array("i"), array("i"), array("i")
        self.first = array("i", [-1]) * bills
        self.last = array("i", [-1]) * bills

    def add(self, bill: int, row: int, start: int, end: int) -> int:
        n = len(self.start)
        self.start.append(start)
        self.end.append(end)
        self.row.append(row)
        self.count.append(1)
        self.next.append(-1)
        if self.first[bill] < 0:
            self.first[bill] = n
        else:
            self.next[self.last[bill]] = n
        self.last[bill] = n
        return n

    def of(self, bill: int) -> tuple[tuple[int, int, int, int], ...]:
        out = []
        k = self.first[bill]
        while k >= 0:
            out.append((self.start[k], self.end[k], self.row[k], self.count[k]))
            k = self.next[k]
        return tuple(out)


def bill_required(has_items: bool) -> list[tuple[str, ...]]:
    req = [
        ("bill_id",),
        ("person_id",),
        ("insured_region",),
        ("scheme",),
        ("visit_region",),
        ("visit_type",),
        ("admitted", "date"),
        ("hospital_level", "hospital"),
    ]
    if not has_items:
        req.append(("total",))
    return req


ITEM_REQUIRED = [("bill_id",), ("code", "name"), ("unit_price", "amount")]


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


def _load_ytd(path: Path) -> dict[YtdKey, tuple[int, str, str]]:
    """``--ytd-in``: (person, insured region, scheme, year) → (last service day, its ISO date, YTD JSON).

    A file laid out as ``--ytd-out`` writes it (:func:`_write_ytd`: one entry a line) is read a line
    at a time, so the whole file's JSON is never held at once (56,936 entries: about 130 MB of Python
    objects; a run's peak 371 → 306 MB); any other file, or one whose reading so finds a fault, is
    read whole, and the messages are that reading's."""
    try:
        found = _ytd_by_lines(path)
    except (MedinsError, OSError, ValueError, RecursionError):
        found = None
    return found if found is not None else _ytd_whole(path)


def _ytd_by_lines(path: Path) -> dict[YtdKey, tuple[int, str, str]] | None:
    """:func:`_load_ytd` of a file laid out as ``--ytd-out`` writes it; None for any other layout."""
    state: dict[YtdKey, tuple[int, str, str]] = {}
    shared: dict[Any, Any] = {}  # one object for each region, scheme and year the keys repeat
    decoder = json.JSONDecoder(parse_float=Decimal)  # as json.loads builds for each call
    with path.open(encoding="utf-8", newline="") as f:
        if f.readline() != f'{{"format": "{YTD_FORMAT}", "version": {YTD_VERSION}, "entries": [\n':
            return None
        for k, line in enumerate(f):
            if line == "]}\n" and k == 0:  # no entries
                return None if f.readline() else state
            if not line.startswith("  {") or not line.endswith(("}\n", "},\n")):
                return None
            more = line.endswith(",\n")
            if not _plain_ytd_line(state, line, shared):
                entry = decoder.decode(line[2 : -2 if more else -1])
                _ytd_entry(state, entry, f"{path}: entries[{k}]", shared)
            if not more:  # the last entry
                return None if f.readline() != "]}\n" or f.readline() else state
    return None


_PLAIN_AMOUNT = re.compile(r"(?:0|[1-9][0-9]{0,9})(?:\.[0-9]{1,2})?")
"""An amount as ``--ytd-out`` writes one: below 10^10 yuan (``MAX_AMOUNT``), at most two decimals, no
leading zero, no exponent; its Decimal's text is the text itself."""
_TEXT = r'"([^"\\\x00-\x1f]+)"'  # a JSON string with nothing escaped
_SUM = f'"({_PLAIN_AMOUNT.pattern})"'  # an amount as plain_ytd_json takes it
_ACCUM_TEXT = r'\{"in_scope":' + _SUM + r',"deductible":' + _SUM + r',"fund":' + _SUM + r',"above_cap":' + _SUM + r"\}"
_YTD_LINE = re.compile(
    r'  \{"person_id": '
    + _TEXT
    + r', "insured_region": '
    + _TEXT
    + r', "scheme": '
    + _TEXT
    + r', "year": ([1-9][0-9]{3}), "last_service_date": "([0-9]{4}-[0-9]{2}-[0-9]{2})", "ytd": '
    + r'(\{"year":(null|[1-9][0-9]{3}),"admissions":(0|[1-9][0-9]{0,2}),"inpatient":'
    + _ACCUM_TEXT
    + r',"outpatient":'
    + _ACCUM_TEXT
    + r',"chronic":\{\},"tier2_base":'
    + _SUM
    + r',"tier2_fund":'
    + _SUM
    + r',"assistance_base":'
    + _SUM
    + r',"assistance_fund":'
    + _SUM
    + r"\})\},?\n"
)
"""An entry's line as :func:`_write_ytd` writes one whose record :func:`plain_ytd_json` takes and that
names no chronic disease (ids with nothing escaped): its groups are the values, the record's text
is one of them."""


def _plain_ytd_line(state: dict[YtdKey, tuple[int, str, str]], line: str, shared: dict[Any, Any]) -> bool:
    """Add the entry of ``line`` to ``state`` without decoding its JSON, when the line is of the form
    :data:`_YTD_LINE` matches and the entry is valid and new; False for any other line, which is then
    decoded and checked (:func:`_ytd_entry`), with its messages. A test holds the two to the same
    entries."""
    m = _YTD_LINE.fullmatch(line)
    if m is None:
        return False
    pid, region, scheme, year_text, last, text, ytd_year, admissions = m.group(1, 2, 3, 4, 5, 6, 7, 8)
    year = int(year_text)
    if year < 1900 or not (pid.strip() and region.strip() and scheme.strip()) or int(admissions) > MAX_ADMISSIONS:
        return False
    if ytd_year != "null" and int(ytd_year) != year:
        return False
    in_scope, fund = m.group(9, 11)
    out_scope, out_fund = m.group(13, 15)
    if Decimal(fund) > Decimal(in_scope) or Decimal(out_fund) > Decimal(out_scope):
        return False
    try:
        day = date.fromisoformat(last)
    except ValueError:
        return False
    if day.year != year:
        return False
    key = (pid, shared.setdefault(region, region), shared.setdefault(scheme, scheme), shared.setdefault(year, year))
    if key in state:
        return False  # a second entry: refused where it is decoded
    state[key] = (day.toordinal(), last, text)
    return True


def _ytd_whole(path: Path) -> dict[YtdKey, tuple[int, str, str]]:
    """:func:`_load_ytd` of any file, read whole."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as exc:
        raise TableError(t("无法读取文件", "cannot read file"), str(path), t(str(exc), str(exc))) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TableError(t(f"不是有效的 JSON：{exc}", f"not valid JSON: {exc}"), str(path)) from None
    except RecursionError:
        raise TableError(
            t(
                "JSON 嵌套过深，不是 medins 年度累计文件",
                "the JSON is nested too deeply: not a medins year-to-date file",
            ),
            str(path),
            t("请使用上一次运行 --ytd-out 写出的文件", "use the file a previous run wrote with --ytd-out"),
        ) from None
    if not isinstance(data, dict) or data.get("format") != YTD_FORMAT:
        raise TableError(
            t("不是 medins 年度累计文件", "not a medins year-to-date file"),
            str(path),
            t("请使用上一次运行 --ytd-out 写出的文件", "use the file a previous run wrote with --ytd-out"),
        )
    version = data.get("version")
    if version == 1 or (version is None and "persons" in data):
        raise TableError(
            t(
                "这是第 1 版年度累计文件（只按人员累计）；现在年度累计按人员、参保地、险种和年度分别记录（第 2 版）",
                "this is a version-1 year-to-date file, keyed by person only; amounts are now kept per person, "
                "insured region, scheme and year (version 2)",
            ),
            str(path),
            t(
                "第 1 版文件无法转换（它没有记录金额属于哪个参保地和险种）：请从本年第一批单据起依次重新运行，"
                "用 --ytd-out 写出第 2 版文件",
                "a version-1 file cannot be converted (it does not say which insured region and scheme its "
                "amounts belong to): run this year's batches again in order from the first, with --ytd-out, "
                "to write a version-2 file",
            ),
        )
    if version != YTD_VERSION or not isinstance(data.get("entries"), list):
        raise TableError(
            t(f"不支持的年度累计文件版本 {version!r}", f"unsupported year-to-date file version {version!r}"),
            str(path),
            t("请使用本版本 medins 的 --ytd-out 写出的文件", "use a file this version of medins wrote with --ytd-out"),
        )
    state: dict[YtdKey, tuple[int, str, str]] = {}
    shared: dict[Any, Any] = {}
    for k, entry in enumerate(data["entries"]):
        _ytd_entry(state, entry, f"{path}: entries[{k}]", shared)
    return state


def _ytd_entry(state: dict[YtdKey, tuple[int, str, str]], entry: Any, where: str, shared: dict[Any, Any]) -> None:
    """Check one ``--ytd-in`` entry and add it to ``state``."""
    if not isinstance(entry, dict):
        raise TableError(t("应为表", "should be an object"), where)
    for name in ("person_id", "insured_region", "scheme"):
        value = entry.get(name)
        if not isinstance(value, str) or not value.strip():
            raise TableError(
                t(f"{name} 缺少或不是文本：{value!r}", f"{name} missing or not text: {value!r}"), f"{where}.{name}"
            )
    year = entry.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 9999:
        raise TableError(t(f"year 应为年份：{year!r}", f"year should be a year: {year!r}"), f"{where}.year")
    last = str(entry.get("last_service_date", ""))
    day = day_number(last)
    if not day or date.fromordinal(day).year != year:
        raise TableError(
            t(
                f"last_service_date 缺少、无效或不在 {year} 年：{last!r}",
                f"last_service_date missing, invalid or not in {year}: {last!r}",
            ),
            f"{where}.last_service_date",
        )
    text = plain_ytd_json(entry.get("ytd"), year)
    if text is None:  # any other form: the case model checks it and says what is wrong
        ytd = parse_model(entry.get("ytd") or {}, YearToDate, f"{where}.ytd", TableError)
        if ytd.year is not None and ytd.year != year:
            raise TableError(
                t(f"ytd.year {ytd.year} 与 year {year} 不一致", f"ytd.year {ytd.year} differs from year {year}"),
                f"{where}.ytd.year",
            )
        text = ytd.model_dump_json()
    region, scheme = entry["insured_region"], entry["scheme"]
    key = (
        entry["person_id"],
        shared.setdefault(region, region),
        shared.setdefault(scheme, scheme),
        shared.setdefault(year, year),
    )
    if key in state:
        raise TableError(t(f"重复的条目：{key}", f"a second entry for {key}"), where)
    state[key] = (day, date.fromordinal(day).isoformat(), text)


_YTD_KEYS = (
    "year",
    "admissions",
    "inpatient",
    "outpatient",
    "chronic",
    "tier2_base",
    "tier2_fund",
    "assistance_base",
    "assistance_fund",
)
_ACCUM_KEYS = ("in_scope", "deductible", "fund", "above_cap")


def plain_ytd_json(ytd: Any, year: int) -> str | None:
    """``YearToDate.model_validate(ytd).model_dump_json()`` for a record of the year ``year`` written as
    ``--ytd-out`` writes one (every key, in its order; amounts as text, as :data:`_PLAIN_AMOUNT`;
    assistance paid in one stage; diseases named without quotes, backslashes or control characters),
    about twenty times as fast; None for any other record, valid or not, which the case model then
    reads. A test holds the two to the same text."""
    if type(ytd) is not dict or tuple(ytd) != _YTD_KEYS:
        return None
    y, admissions, chronic = ytd["year"], ytd["admissions"], ytd["chronic"]
    if y is not None and (type(y) is not int or y != year):
        return None
    if type(admissions) is not int or not 0 <= admissions <= MAX_ADMISSIONS or type(chronic) is not dict:
        return None
    inpatient, outpatient = _plain_accum(ytd["inpatient"]), _plain_accum(ytd["outpatient"])
    if inpatient is None or outpatient is None:
        return None
    diseases = []
    for disease, amounts in chronic.items():
        if type(disease) is not str or not disease.isprintable() or '"' in disease or "\\" in disease:
            return None
        accum = _plain_accum(amounts)
        if accum is None:
            return None
        diseases.append(f'"{disease}":{accum}')
    sums = []
    for name in _YTD_KEYS[5:]:
        value = ytd[name]
        if type(value) is not str or not _PLAIN_AMOUNT.fullmatch(value):
            return None
        sums.append(f',"{name}":"{value}"')
    return (
        f'{{"year":{"null" if y is None else y},"admissions":{admissions},"inpatient":{inpatient},'
        f'"outpatient":{outpatient},"chronic":{{{",".join(diseases)}}}{"".join(sums)}}}'
    )


def _plain_accum(accum: Any) -> str | None:
    """One benefit's amounts as ``Accum.model_dump_json()`` writes them; None where :func:`plain_ytd_json` is."""
    if type(accum) is not dict or tuple(accum) != _ACCUM_KEYS:
        return None
    values = tuple(accum.values())
    for value in values:
        if type(value) is not str or not _PLAIN_AMOUNT.fullmatch(value):
            return None
    in_scope, deductible, fund, above_cap = values
    if Decimal(fund) > Decimal(in_scope):
        return None  # refused by the case model, which says why
    return f'{{"in_scope":"{in_scope}","deductible":"{deductible}","fund":"{fund}","above_cap":"{above_cap}"}}'


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


@dataclass
class Outcome:
    """What settling every bill of a run gives the reports (OUT rows already written): the sums, each
    person's final year-to-date state, the counts, and the rejects the columns found."""

    agg: Aggregates
    finals: list[tuple[Any, str, str]]
    bills: int
    items_input: int
    accepted: int
    items_ok: int
    persons: int
    settled_persons: int
    reordered: int
    rejects: list[Any]
    final_files: list[Path] = field(default_factory=list)
    """More final states, in spool files (:func:`write_finals`): a partition's, sorted by key."""


@dataclass
class ReformRun:
    """What a reform's settlement of the run needs and gives: its config, OUT and rejects."""

    cfg: WorkerConfig
    writer: TableWriter
    rejects: list[Reject] = field(default_factory=list)


def _settle_all(
    opts: BatchOptions,
    cfg: WorkerConfig,
    rules: Any,
    tables: tuple[CsvTable, ColumnMap, CsvTable | None, ColumnMap | None],
    ytd_in: dict[YtdKey, tuple[int, str, str]],
    writer: TableWriter,
    spool_dir: Path,
    progress: Callable[[int], Any] | None,
    rejects: list[Reject],
    reform: ReformRun | None = None,
    pool: Any = None,
) -> list[Outcome]:
    """Settle every bill: over columns, or bill by bill where the input is not plainly regular; with
    ``reform``, under the reformed rules too (over columns in the same pass over the input).
    ``pool``: the ``--jobs`` workers :func:`_workers` started, if any (the columns take them over).

    OUT rows go to ``writer`` (not closed here), rejected rows to ``rejects``; the reform's to its
    own. One :class:`Outcome` per set of rules."""
    bills_table, bill_cols, items_table, item_cols = tables
    if opts.engine != "records":
        from medins import fastpath

        settlers = [Settler(cfg)] + ([Settler(reform.cfg)] if reform else [])
        for settler in settlers:  # the rules the settlers use (with a reform, the reformed rules)
            if items_table is not None:
                for edition in {p.catalogue.drug_list for p in settler.rules.packs.values() if p.catalogue}:
                    settler.rules.drugs(edition)
        try:
            fast = fastpath.settle_columns(
                bills_table,
                bill_cols,
                items_table,
                item_cols,
                ytd_in,
                settlers[0],
                settlers[0].rules,
                writer,
                opts.ytd_out is not None,
                spool_dir,
                opts.memory,
                opts.jobs,
                progress,
                (settlers[1], settlers[1].rules, reform.writer) if reform else None,
                pool,
            )
        finally:
            for settler in settlers:
                settler.close()
        if fast is not None:
            for outcome, mine in zip(fast, [rejects] + ([reform.rejects] if reform else []), strict=True):
                mine.extend(fastpath_rejects(outcome))
            return fast
    done = [_settle_bill_by_bill(opts, cfg, rules, tables, ytd_in, writer, progress, rejects)]
    if reform:
        mine = replace(opts, ytd_out=None)
        done.append(_settle_bill_by_bill(mine, reform.cfg, None, tables, ytd_in, reform.writer, None, reform.rejects))
    return done


def _settle_bill_by_bill(
    opts: BatchOptions,
    cfg: WorkerConfig,
    rules: Any,
    tables: tuple[CsvTable, ColumnMap, CsvTable | None, ColumnMap | None],
    ytd_in: dict[YtdKey, tuple[int, str, str]],
    writer: Any,
    progress: Callable[[int], Any] | None,
    rejects: list[Reject],
) -> Outcome:
    """The careful path: each bill read by its records and settled by the per-bill engine, in order."""
    bills_table, bill_cols, items_table, item_cols = tables
    lang = opts.lang
    scan = _scan_bills(bills_table, bill_cols, ytd_in, rejects, lang)
    n = len(scan.ids)
    runs = _Runs(n)
    items_input = _scan_items(items_table, item_cols, scan, runs, rejects, lang) if items_table else 0
    if items_table is not None and rules is not None:
        for edition in {p.catalogue.drug_list for p in rules.packs.values() if p.catalogue}:
            rules.drugs(edition)  # load once here, before worker processes fork
    order, person_start, person_end, reordered = _chains(scan)
    tasks = _tasks(scan, runs, order, person_start, person_end, ytd_in)
    sink = _Sink(scan, writer, rejects, progress)
    bar = progress(n) if progress else nullcontext()
    with bar as b:
        sink.bar = b
        if opts.jobs <= 1:
            agg, finals = _settle_here(cfg, tasks, sink)
        else:
            agg, finals = _settle_in_workers(cfg, tasks, sink, opts.jobs, scan)
    if sink.next < n:
        raise SettlementBug(f"only {sink.next} of {n} bills were finished")
    settled_persons = len({scan.person[b] for b in sink.accepted_bills})
    return Outcome(
        agg, finals, n, items_input, sink.accepted, sink.items_ok, len(scan.persons), settled_persons, reordered, []
    )


REFORM_AMOUNTS = (
    "basic_fund",
    "critical_illness_fund",
    "large_amount_fund",
    "medical_assistance_fund",
    "fund_total",
    "personal_total",
)
"""The amounts OUT shows again under a reform (``reform_…``), with their change (``change_…``)."""
REFORM_MONEY = re.compile(r"-?\d+\.\d\d")
"""Money as OUT writes it, the only form the reform's changes are computed from."""
REFORM_COLUMNS = (
    *(f"reform_{c}" for c in REFORM_AMOUNTS),
    *(f"change_{c}" for c in REFORM_AMOUNTS),
    "reform_settlement",
    "reform_rejected",
)


def _settle_with_reform(
    opts: BatchOptions,
    cfg: WorkerConfig,
    rules: Any,
    tables: tuple[CsvTable, ColumnMap, CsvTable | None, ColumnMap | None],
    ytd_in: dict[YtdKey, tuple[int, str, str]],
    writer: TableWriter,
    out_columns: list[str],
    kinds: list[str],
    spool_dir: Path,
    progress: Callable[[int], Any] | None,
    rejects: list[Reject],
    pool: Any = None,
) -> tuple[Outcome, dict[str, Any]]:
    """Settle every bill under the rules and under the reformed rules (in one pass over the input
    where the columns take the run), and write OUT with the reformed amounts and their changes beside
    each bill. The run's reports (rejects, summary, clearing, year-to-date) are the rules' own; the
    summary gains the comparison."""
    from medins.reform import load_reform

    assert opts.reform is not None
    reform = load_reform(opts.reform, rules)
    base_out, reform_out = spool_dir / "rules-out.csv", spool_dir / "reform-out.csv"
    own = TableWriter(base_out, base_out, out_columns, kinds, "settled")
    theirs = ReformRun(
        replace(cfg, reform=opts.reform, want_state=False),
        TableWriter(reform_out, reform_out, out_columns, kinds, "settled"),
    )
    base, changed = _settle_all(opts, cfg, rules, tables, ytd_in, own, spool_dir, progress, rejects, theirs, pool)
    own.close()
    theirs.writer.close()
    _write_with_reform(writer, base_out, reform_out, theirs.rejects)
    comparison = {
        "name": reform.name,
        "note": reform.note,
        "file": opts.reform.name,
        "changed": {code: list(kinds_) for code, kinds_ in reform.changed.items()},
        **_compare(base.agg, changed.agg),
    }
    return base, comparison


def _fen_of(column: Any) -> Any:
    """OUT's money text (``-12.30``) as integer fen, in polars; empty stays null."""
    import polars as pl

    text = pl.col(column)
    return pl.when(text == "").then(None).otherwise(text.str.replace(".", "", literal=True).cast(pl.Int64))


def _money_text(fen: Any) -> Any:
    """Integer fen as OUT writes money (two decimals, ``-`` before a negative), in polars."""
    import polars as pl

    size = fen.abs()
    sign = pl.when(fen < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str([sign, (size // 100).cast(pl.String), pl.lit("."), (size % 100).cast(pl.String).str.zfill(2)])


def _write_with_reform(writer: TableWriter, base_out: Path, reform_out: Path, reform_rejects: list[Reject]) -> None:
    """OUT: each settled bill's row, then its amounts under the reform and the change in each; a bill
    the reform run rejected has the reason instead (``reform_rejected``).

    The rules' OUT is streamed in batches beside the reform's amounts by bill id (the only part held
    whole: an id and seven short cells a bill)."""
    import polars as pl

    money = f"^{REFORM_MONEY.pattern}$"
    base = pl.scan_csv(base_out, infer_schema=False)
    columns = base.collect_schema().names()
    theirs = pl.scan_csv(reform_out, infer_schema=False).select(
        "bill_id",
        *(pl.col(c).fill_null("").alias(f"reform_{c}") for c in REFORM_AMOUNTS),
        pl.col("settlement").alias("reform_settlement"),
    )
    reasons = pl.LazyFrame(
        {
            "bill_id": [r[3] for r in reform_rejects if r[0] == 0],
            "reform_rejected": [r[5] for r in reform_rejects if r[0] == 0],
        },
        schema={"bill_id": pl.String, "reform_rejected": pl.String},
    ).unique("bill_id", keep="first", maintain_order=True)
    both = (
        base.with_columns(pl.col(c).fill_null("") for c in REFORM_AMOUNTS)
        .join(theirs, on="bill_id", how="left", maintain_order="left")
        .join(reasons, on="bill_id", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col(f"reform_{c}").is_null() | (pl.col(f"reform_{c}") == "") | (pl.col(c) == ""))
            .then(pl.lit(""))
            .otherwise(_money_text(_fen_of(f"reform_{c}") - _fen_of(c)))
            .alias(f"change_{c}")
            for c in REFORM_AMOUNTS
        )
        .select([*columns, *REFORM_COLUMNS])
    )
    for batch in both.collect_batches(chunk_size=50_000):
        batch = batch.fill_null("")
        for c in (*REFORM_AMOUNTS, *(f"reform_{c}" for c in REFORM_AMOUNTS)):
            bad = batch.filter((pl.col(c) != "") & ~pl.col(c).str.contains(money))
            if bad.height:
                raise SettlementBug(f"OUT holds {c} = {bad[c][0]!r}, not money")
        writer.write_frame(batch)


def _compare(base: Aggregates, reform: Aggregates) -> dict[str, Any]:
    """The summary's comparison: overall and by insured place, benefit category and visit type, each
    tier's payment, the patient's and the fund ratio under the rules and the reform, and the change."""

    def one(key: tuple[str, str]) -> dict[str, Any]:
        a, b = group_stats(base.groups.get(key)), group_stats(reform.groups.get(key))
        keep = ("count", "total", *REFORM_AMOUNTS, "fund_ratio")
        change = {c: show(Decimal(b[c]) - Decimal(a[c])) for c in ("total", *REFORM_AMOUNTS)}
        return {"rules": {c: a[c] for c in keep}, "reform": {c: b[c] for c in keep}, "change": change}

    out: dict[str, Any] = {"overall": one(("all", ""))}
    for dim, name in (
        ("insured_region", "by_insured_region"),
        ("benefit_category", "by_benefit_category"),
        ("visit_type", "by_visit_type"),
    ):
        keys = sorted({k for d, k in base.groups if d == dim} | {k for d, k in reform.groups if d == dim})
        out[name] = {k: one((dim, k)) for k in keys}
    return out


@dataclass
class CheckReport:
    """What ``medins batch --check`` found: the rows the run would reject before settling any bill."""

    bills_input: int
    items_input: int
    rejects: list[Reject]

    @property
    def rejected(self) -> int:
        return len(self.rejects)


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


def check_tables(opts: BatchOptions) -> CheckReport:
    """Check BILLS (and ITEMS) without settling: the headers (required columns, aliases), then every
    row as the run reads it (cell count, IDs, dates, duplicate bills, item lines without a bill,
    year-to-date entries) and every bill's case by the case model (values, amounts, dates in order).
    A header the run cannot use raises; a bad row becomes a reject, with the run's words."""
    rules_root = resolve_rules_dir(opts.rules_dir).resolve()
    ytd_in = _load_ytd(opts.ytd_in) if opts.ytd_in else {}
    rejects: list[Reject] = []
    with procs.spool_folder("medins-check-") as spool:
        spool_dir = Path(spool)
        tables, cfg = _inputs(opts, rules_root, spool_dir, check_only=True)
        checking = replace(opts, engine="records", jobs=1, ytd_out=None, reform=None)
        (done,) = _settle_all(checking, cfg, None, tables, ytd_in, _Nowhere(), spool_dir, None, rejects)  # type: ignore[arg-type]
    rejects.sort(key=lambda r: (r[0], r[1]))
    return CheckReport(done.bills, done.items_input, rejects)


@dataclass
class Explained:
    """``medins batch --explain``: one bill settled as the run settles it, with its trail."""

    row: int
    bill_id: str
    earlier: int
    """Bills of the same year-to-date key settled before it (their amounts carried to it)."""
    case: Any | None
    settlement: Any | None
    """None when the run rejects the bill: ``rejects`` says why."""
    rejects: list[Reject]


def explain_bill(opts: BatchOptions, wanted: str) -> Explained:
    """One bill of BILLS settled with its trail, as ``medins estimate --explain`` shows a case: the
    bills of its person, insured place, scheme and year dated before it are settled first, from
    ``--ytd-in``, in the order the run settles them. ``wanted`` is a bill id, or a BILLS row number
    as REJECTS numbers rows (the header is row 1) when no bill has that id."""
    rules_root = resolve_rules_dir(opts.rules_dir).resolve()
    ytd_in = _load_ytd(opts.ytd_in) if opts.ytd_in else {}
    rejects: list[Reject] = []
    lang = opts.lang
    with procs.spool_folder("medins-explain-") as spool:
        tables, cfg = _inputs(opts, rules_root, Path(spool))
        bills_table, bill_cols, items_table, item_cols = tables
        scan = _scan_bills(bills_table, bill_cols, ytd_in, rejects, lang)
        runs = _Runs(len(scan.ids))
        if items_table is not None:
            _scan_items(items_table, item_cols, scan, runs, rejects, lang)
        target = scan.by_id.get(wanted)
        if target is None and wanted.isdigit():
            target = next((b for b, r in enumerate(scan.rows) if r == int(wanted)), None)
        if target is None:
            raise UsageError(
                t(f"BILLS 中没有单据号或行号为 {wanted!r} 的单据", f"BILLS has no bill with id or row {wanted!r}"),
                str(opts.bills),
                t(
                    "--explain 给单据号（bill_id）或行号（表头为第 1 行，与拒绝文件一致）",
                    "give --explain a bill_id, or a row number as the rejects file numbers rows (the header is row 1)",
                ),
            )
        row = scan.rows[target]
        mine = [r for r in rejects if r[0] == 0 and r[1] == row]
        if scan.rejected[target]:
            lines = [r for r in rejects if r[0] == 1 and r[3] == scan.ids[target]]
            return Explained(row, scan.ids[target], 0, None, None, mine + lines)
        order, start, end, _ = _chains(scan)
        settler = Settler(replace(cfg, explain_row=row))
        earlier = 0
        try:
            for c, task in _tasks(scan, runs, order, start, end, ytd_in):
                if c != scan.chain[target]:
                    continue
                _, _, found, *_ = settler.settle(task)
                if task[0] == target:
                    if settler.explained is None:
                        return Explained(row, scan.ids[target], earlier, None, None, list(found))
                    case, settlement = settler.explained
                    return Explained(row, scan.ids[target], earlier, case, settlement, [])
                earlier += 1
        finally:
            settler.close()
    raise SettlementBug(f"bill {scan.ids[target]} was never settled")


class _Nowhere:
    """Where ``--check`` writes the rows of the bills it accepts: nowhere."""

    def write(self, values: list[Any]) -> None:
        pass


BYTES_PER_INPUT_BYTE = 10
"""Memory a partition takes per byte of its input text, measured (the frames, their codes and the
engine's arrays): the number of partitions is the input's size times this over ``--memory``."""

PARTS_PER_JOB = 3
"""With ``--jobs N``, at least this many partitions per process."""


def partitions(size: int, memory: int, jobs: int) -> int:
    """How many partitions an input of ``size`` bytes is settled in, within ``memory`` bytes for
    all ``jobs`` processes together (each holds a partition at a time)."""
    parts = max(1, -(-size * BYTES_PER_INPUT_BYTE * jobs // memory))
    if parts > 1 and jobs > 1:
        parts = max(parts, PARTS_PER_JOB * jobs)  # smaller partitions share out more evenly
    return parts


def start_pool_workers(jobs: int, spool: Path) -> Any:
    """The ``--jobs`` processes of a columns run whose spool is ``spool`` (:func:`procs.start_workers`:
    the columns engine is imported by them, not needed here). They take ranges and partitions from
    the counter file ``next`` of the spool, once the run's ``_Pool`` has made it and told them."""
    return procs.start_workers(jobs, "medins.fastpath:_pool_worker", str(spool / "next"))


@contextmanager
def _workers(opts: BatchOptions, spool: Path) -> Iterator[Any]:
    """``--jobs N``: the workers, started before the inputs are opened and before this process
    imports the columns engine (their start-up overlaps this process's), when the inputs' size says
    the run is settled in partitions; stopped on leaving if the run ended before the columns took
    them over."""
    pool = None
    if opts.jobs > 1 and opts.engine != "records":
        try:
            size = sum(p.stat().st_size for p in (opts.bills, opts.items) if p is not None)
        except OSError:  # not a file whose size is known: the columns start them if need be
            size = 0
        if partitions(size, opts.memory, opts.jobs) > 1:
            started = start_pool_workers(opts.jobs, spool)
            try:
                from medins import fastpath

                pool = fastpath._Pool(opts.jobs, spool, started)
            except BaseException:
                with procs.critical():
                    _stop_workers(list(started.workers.values()), [])
                raise
    try:
        yield pool
    finally:
        if pool is not None:
            pool.close(False)


@procs.interruptible
def run_batch(opts: BatchOptions, progress: Callable[[int], Any] | None = None) -> BatchReport:
    """Settle every bill of BILLS (with ITEMS) and write OUT, REJECTS and the asked-for reports.

    A file that cannot be used raises a ``MedinsError`` (exit 1) and leaves no output behind; a bad
    row is rejected and the run goes on. SIGINT and SIGTERM stop the run the same way (``Interrupted``,
    exit 130 or 143); while it writes, the run holds a lock on its outputs (``procs.output_lock``).
    """
    _check_paths(opts)
    rules_root = resolve_rules_dir(opts.rules_dir).resolve()
    rules = load_rules(rules_root)
    ytd_in = _load_ytd(opts.ytd_in) if opts.ytd_in else {}
    rejects: list[Reject] = []
    targets = [p for p in (opts.out, opts.rejects_path, opts.summary, opts.clearing, opts.ytd_out) if p]
    with (
        procs.output_lock(targets),
        procs.spool_folder("medins-batch-") as spool,
        Outputs() as outputs,
        _workers(opts, Path(spool)) as pool,
    ):
        spool_dir = Path(spool)
        tables, cfg = _inputs(opts, rules_root, spool_dir)
        bills_table, bill_cols, items_table, item_cols = tables
        out_columns = list(OUT_HEAD)
        if "person_name" in bill_cols.index:
            out_columns.insert(2, "person_name")
        out_columns += [*OUT_AMOUNTS, "fund_ratio", *OUT_TAIL]
        kinds = ["text"] * len(out_columns)
        for i, c in enumerate(out_columns):
            kinds[i] = "money" if c in OUT_AMOUNTS else "ratio" if c == "fund_ratio" else kinds[i]
        kinds[out_columns.index("eligible")] = "bool"
        kinds[out_columns.index("service_date")] = "date"
        columns, column_kinds = out_columns, kinds
        if opts.reform is not None:
            columns = [*out_columns, *REFORM_COLUMNS]
            column_kinds = [*kinds, *(["money"] * 2 * len(REFORM_AMOUNTS)), "text", "text"]
        writer = TableWriter(outputs.temp_for(opts.out), opts.out, columns, column_kinds, "settled")
        comparison = None
        if opts.reform is None:
            (done,) = _settle_all(opts, cfg, rules, tables, ytd_in, writer, spool_dir, progress, rejects, None, pool)
        else:
            done, comparison = _settle_with_reform(
                opts, cfg, rules, tables, ytd_in, writer, out_columns, kinds, spool_dir, progress, rejects, pool
            )
        n, items_input, persons_input, reordered = done.bills, done.items_input, done.persons, done.reordered
        agg, finals, accepted, items_ok, settled_persons = (
            done.agg,
            done.finals,
            done.accepted,
            done.items_ok,
            done.settled_persons,
        )
        writer.close()

        rejects.sort(key=lambda r: (r[0], r[1]))
        bills_rejected = sum(1 for r in rejects if r[0] == 0)
        items_rejected = len(rejects) - bills_rejected
        if n - bills_rejected != accepted or items_input - items_rejected != items_ok:
            raise SettlementBug("input rows do not equal accepted + rejected rows")
        rw = TableWriter(
            outputs.temp_for(opts.rejects_path),
            opts.rejects_path,
            list(REJECT_COLUMNS),
            ["int", "text", "text", "text", "text"],
            "rejects",
        )
        for r in rejects:
            rw.write([str(r[1]), r[2], r[3], r[4], r[5]])
        rw.close()
        report = BatchReport(n, bills_rejected, items_input, items_rejected)
        report.summary = _summary(
            opts, report, agg, persons_input, reordered, settled_persons, bill_cols, item_cols, bills_table, items_table
        )
        if comparison is not None:
            report.summary["reform"] = comparison
        if opts.clearing:
            _write_clearing(outputs, opts.clearing, agg)
        if opts.summary:
            temp = outputs.temp_for(opts.summary)
            temp.write_text(json.dumps(report.summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        if opts.ytd_out:
            _write_ytd(outputs.temp_for(opts.ytd_out), ytd_in, finals, done.final_files)
        outputs.commit()
    return report


_SCIENTIFIC = re.compile(r"[+-]?\d(?:\.\d+)?[eE][+-]\d+")
"""How a spreadsheet shows a long number it took an ID for: ``1.30102E+17``."""


def id_problem(value: str) -> Text | None:
    """Why an ID cell cannot be used: digits an XLSX lost, or (in CSV) a number in scientific notation."""
    if value[0] == MARK:
        return cell_problem(value)
    if _SCIENTIFIC.fullmatch(value):
        return t(
            f"编号 “{value}” 是科学计数法：电子表格把它当成了数字，末尾数字已丢失（不同的人会变成同一个编号）；"
            "请把该列设为文本格式后重新填写",
            f"the ID '{value}' is in scientific notation: a spreadsheet took it for a number and lost its last "
            "digits (different people would share it); format the column as text and enter the IDs again",
        )
    return None


def date_problem(value: str) -> Text | None:
    """Why a date cell is not a date (``norm_date``'s forms), quoting it; None for a date."""
    if day_number(value):
        return None
    if value.isdigit() and 4 <= len(value) <= 6:
        return t(
            f"“{value}” 不是日期：像是电子表格的日期序号；请把该列设为日期或文本 YYYY-MM-DD",
            f"'{value}' is not a date: it looks like a spreadsheet's date serial number; "
            "format the column as dates or as text YYYY-MM-DD",
        )
    return t(f"“{value}” 不是有效日期（应为 YYYY-MM-DD）", f"'{value}' is not a valid date (write YYYY-MM-DD)")


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


def _scan_bills(
    table: CsvTable, cols: ColumnMap, ytd_in: dict[YtdKey, tuple[int, str, str]], rejects: list[Reject], lang: Lang
) -> _Scan:
    scan = _Scan(table)
    ib, ip = cols.index["bill_id"], cols.index["person_id"]
    ir, isch, iname = (cols.index.get(c, -1) for c in ("insured_region", "scheme", "person_name"))
    dates = [(cols.index[c], c) for c in ("admitted", "date", "discharged") if c in cols.index]
    all_dates = sorted((cols.index[c], c) for c in DATE_COLUMNS if c in cols.index)
    person_no: dict[str, int] = {}
    chain_no: dict[YtdKey, int] = {}
    names: dict[str, int] = {}
    bill_name = array("i")
    person_name: list[int] = []
    two_names: set[int] = set()
    for row, start, end, values, problem in table.records():

        def cell(i: int, values: list[str] = values) -> str:
            return values[i].strip() if 0 <= i < len(values) else ""

        bid, pid = cell(ib), cell(ip)
        day = 0
        day_col = ""
        for i, name in dates:
            if s := cell(i):
                day = day_number(s)
                day_col = name
                break
        b = len(scan.ids)
        scan.rows.append(row)
        scan.starts.append(start)
        scan.ends.append(end)
        scan.day.append(day)
        scan.ids.append(bid)
        p = person_no.get(pid)
        if p is None:
            p = person_no[pid] = len(scan.persons)
            scan.persons.append(pid)
            person_name.append(-1)
        scan.person.append(p)
        key = (pid, cell(ir), norm_choice("scheme", cell(isch)), date.fromordinal(day).year if day else 0)
        c = chain_no.get(key)
        if c is None:
            c = chain_no[key] = len(scan.keys)
            scan.keys.append(key)
        scan.chain.append(c)
        reason: Text | None = None
        column = "bill_id"
        bad_id = id_problem(bid) if bid else None
        if problem is not None:
            reason, column = problem.reason, ""
        elif not bid:
            reason = t("缺少单据号", "bill_id missing")
        elif bad_id is not None:
            reason = bad_id
        elif not pid:
            reason, column = (
                t("缺少人员编号（用于累计年度金额）", "person_id missing (needed to carry year-to-date amounts)"),
                "person_id",
            )
        elif (bad_pid := id_problem(pid)) is not None:
            reason, column = bad_pid, "person_id"
        elif (
            bad_date := next(((n, s) for i, n in all_dates if (s := cell(i)) and not day_number(s)), None)
        ) is not None:
            reason, column = date_problem(bad_date[1]), bad_date[0]
        elif key in ytd_in and day and day < ytd_in[key][0]:
            last = ytd_in[key][1]
            shown = date.fromordinal(day).isoformat()
            reason, column = (
                t(
                    f"就医日期 {shown} 早于年度累计文件中此人（参保地 {key[1]}、{key[2]}、{key[3]} 年）的最后就医日期 {last}："
                    "属于已结算的月份",
                    f"dated {shown}, before this person's last service date {last} in --ytd-in (insured in "
                    f"{key[1]}, {key[2]}, {key[3]}): it belongs to a month already settled",
                ),
                day_col,
            )
        nid = -1
        if problem is None and iname >= 0 and (name := cell(iname)):
            nid = names.setdefault(name, len(names))
            if person_name[p] < 0:
                person_name[p] = nid
            elif person_name[p] != nid and pid:
                two_names.add(p)
        bill_name.append(nid)
        if bid and bad_id is None:
            if bid in scan.duplicates:
                scan.duplicates[bid].append(b)
            elif bid in scan.by_id:
                scan.duplicates[bid] = [scan.by_id.pop(bid), b]
            else:
                scan.by_id[bid] = b
        if reason is not None:
            shown_column = table.column_name(problem.column) if problem is not None else cols.shown(column)
            rejects.append((0, row, "bills", bid, shown_column, reason(lang)))
            scan.rejected.append(1)
        else:
            scan.rejected.append(0)
    if not scan.ids:
        raise _no_rows(table, "BILLS")
    for bid, dups in scan.duplicates.items():
        rows = [scan.rows[b] for b in dups]
        text = t(
            f"单据号 {bid} 重复：第 {'、'.join(map(str, rows))} 行",
            f"bill_id {bid} is shared by rows {', '.join(map(str, rows))}",
        )(lang)
        for b in dups:
            if not scan.rejected[b]:
                scan.rejected[b] = 1
                rejects.append((0, scan.rows[b], "bills", bid, cols.shown("bill_id"), text))
    if two_names:
        _reject_two_names(scan, cols, two_names, names, bill_name, rejects, lang)
    return scan


def _reject_two_names(
    scan: _Scan,
    cols: ColumnMap,
    two_names: set[int],
    names: dict[str, int],
    bill_name: array,
    rejects: list[Reject],
    lang: Lang,
) -> None:
    """Reject every bill of a ``person_id`` written with two different names: the ID may be mangled."""
    wanted = {bill_name[b] for b in range(len(scan.ids)) if scan.person[b] in two_names}
    name_of = {i: name for name, i in names.items() if i in wanted}
    groups: dict[int, dict[int, list[int]]] = {}
    for b in range(len(scan.ids)):
        p = scan.person[b]
        if p in two_names:
            groups.setdefault(p, {}).setdefault(bill_name[b], []).append(b)
    for p, by_name in groups.items():
        pid = scan.persons[p]
        listed = [(name_of[n], [scan.rows[b] for b in bills]) for n, bills in by_name.items() if n >= 0]
        zh = "、".join(f"“{name}”（{_rows_text(rows, 'zh')}）" for name, rows in listed)
        en = ", ".join(f"'{name}' ({_rows_text(rows, 'en')})" for name, rows in listed)
        text = t(
            f"人员编号 “{pid}” 对应不同的姓名：{zh}；编号可能被电子表格改坏，或姓名有误：请改正编号或姓名",
            f"person_id '{pid}' carries different names: {en}; a spreadsheet may have mangled the ID, or a name "
            "is mistyped: correct the ID or the name",
        )(lang)
        for bills in by_name.values():
            for b in bills:
                if not scan.rejected[b]:
                    scan.rejected[b] = 1
                    rejects.append((0, scan.rows[b], "bills", scan.ids[b], cols.shown("person_name"), text))


def _scan_items(table: CsvTable, cols: ColumnMap, scan: _Scan, runs: _Runs, rejects: list[Reject], lang: Lang) -> int:
    ib = cols.index["bill_id"]
    by_id, rejected = scan.by_id, scan.rejected
    column = cols.shown("bill_id")
    last_bill = last_row = -1
    current = -1
    count = 0
    for row, start, end, values, problem in table.records():
        count += 1
        bid = values[ib].strip() if ib < len(values) else ""
        b = by_id.get(bid, -1)
        bad_id = id_problem(bid) if bid else None
        if problem is not None or bad_id is not None:
            # a line that cannot be read rejects its bill: the bill would settle without it
            reason = (problem.reason if problem is not None else bad_id)(lang)  # type: ignore[misc]
            shown = table.column_name(problem.column) if problem is not None else column
            rejects.append((1, row, "items", bid, shown, reason))
            if b >= 0 and not rejected[b]:
                _reject_for_item(scan, runs, b, row, reason, rejects, lang)
            last_bill = -1
            continue
        if b >= 0 and not rejected[b]:
            if b == last_bill and row == last_row + 1:
                runs.end[current] = end
                runs.count[current] += 1
            else:
                current = runs.add(b, row, start, end)
            last_bill, last_row = b, row
            continue
        last_bill = -1
        if not bid:
            reason = t("缺少单据号", "bill_id missing")(lang)
        elif bid in scan.duplicates:
            rows = "、".join(str(scan.rows[x]) for x in scan.duplicates[bid])
            reason = t(
                f"所属单据号 {bid} 重复（单据第 {rows} 行）",
                f"its bill_id {bid} is duplicated (bills rows {rows.replace('、', ', ')})",
            )(lang)
        elif b >= 0:
            reason = t(
                f"所属单据 {bid}（单据第 {scan.rows[b]} 行）被拒绝",
                f"belongs to rejected bill {bid} (bills row {scan.rows[b]})",
            )(lang)
        else:
            reason = t(f"单据文件中没有单据号 {bid}", f"no bill with bill_id {bid} in BILLS")(lang)
        rejects.append((1, row, "items", bid, column if not bid or b < 0 else "", reason))
    if not count:
        raise _no_rows(table, "ITEMS")
    return count


def _reject_for_item(
    scan: _Scan, runs: _Runs, b: int, item_row: int, reason: str, rejects: list[Reject], lang: Lang
) -> None:
    """Reject bill ``b`` for its unreadable item line, and the lines of it already taken."""
    bid, row = scan.ids[b], scan.rows[b]
    scan.rejected[b] = 1
    rejects.append((0, row, "bills", bid, "", t(f"明细第 {item_row} 行：", f"items row {item_row}: ")(lang) + reason))
    belongs = t(f"所属单据 {bid}（单据第 {row} 行）被拒绝", f"belongs to rejected bill {bid} (bills row {row})")(lang)
    for _, _, first, count in runs.of(b):
        rejects.extend((1, r, "items", bid, "", belongs) for r in range(first, first + count))
    runs.first[b] = -1


def _chains(scan: _Scan) -> tuple[array, array, array, int]:
    """Each year-to-date key's bills to settle, in service-date order (ties: file order), as one array."""
    todo = [b for b in range(len(scan.ids)) if not scan.rejected[b]]
    chain, day = scan.chain, scan.day
    todo.sort(key=lambda b: (chain[b], day[b], b))
    order = array("i", todo)
    keys = len(scan.keys)
    start = array("i", [0]) * keys
    end = array("i", [0]) * keys
    reordered = 0
    k = 0
    while k < len(order):
        c = chain[order[k]]
        j = k
        while j + 1 < len(order) and chain[order[j + 1]] == c:
            j += 1
        start[c], end[c] = k, j + 1
        if any(order[x] > order[x + 1] for x in range(k, j)):
            reordered += 1
        k = j + 1
    return order, start, end, reordered


def _tasks(
    scan: _Scan,
    runs: _Runs,
    order: array,
    chain_start: array,
    chain_end: array,
    ytd_in: dict[YtdKey, tuple[int, str, str]],
) -> Iterator[tuple[int, Task]]:
    """Tasks in input order; a bill whose key has earlier-dated bills further down brings them first.

    Each task comes with its key's number, which decides the worker that settles it.
    """
    pos = array("i", chain_start)
    queued = bytearray(scan.rejected)
    chain = scan.chain
    for b in range(len(scan.ids)):
        if queued[b]:
            continue
        c = chain[b]
        while True:
            k = pos[c]
            j = order[k]
            pos[c] = k + 1
            queued[j] = 1
            key = scan.keys[c]
            first = k == chain_start[c]
            entry = ytd_in.get(key) if first else None
            yield (
                c,
                (
                    j,
                    scan.rows[j],
                    scan.starts[j],
                    scan.ends[j],
                    runs.of(j),
                    key,
                    first,
                    k + 1 == chain_end[c],
                    entry[2] if entry else None,
                ),
            )
            if j == b:
                break


class _Sink:
    """Takes results: OUT rows in input order, rejects, counts, the progress bar."""

    def __init__(self, scan: _Scan, writer: TableWriter, rejects: list[Reject], progress: Any) -> None:
        self.done = bytearray(scan.rejected)
        self.pending: dict[int, list[str]] = {}
        self.writer = writer
        self.rejects = rejects
        self.next = 0
        self.accepted = 0
        self.accepted_bills = array("i")
        self.items_ok = 0
        self.finals: list[tuple[str, str, str]] = []
        self.bar: Any = None
        self._skip = 0

    def take(self, results: list[tuple[Any, ...]]) -> None:
        for b, out, rejects, items_ok, final in results:
            self.done[b] = 1
            if out is not None:
                self.pending[b] = out
                self.accepted_bills.append(b)
                self.accepted += 1
                self.items_ok += items_ok
            elif rejects:
                self.rejects.extend(rejects)
            if final is not None:
                self.finals.append(final)
        before = self.next
        done, pending, n = self.done, self.pending, len(self.done)
        while self.next < n and done[self.next]:
            row = pending.pop(self.next, None)
            if row is not None:
                self.writer.write(row)
            self.next += 1
        if self.bar is not None and hasattr(self.bar, "update"):
            self.bar.update(self.next - before)


def _settle_here(cfg: WorkerConfig, tasks: Iterator[tuple[int, Task]], sink: _Sink) -> tuple[Aggregates, list]:
    settler = Settler(cfg)
    try:
        batch: list[Task] = []
        sink.take([])
        for _, task in tasks:
            batch.append(task)
            if len(batch) >= BATCH_SIZE:
                sink.take(settler.run(batch))
                batch = []
        sink.take(settler.run(batch))
    finally:
        settler.close()
    return settler.agg, sink.finals


def _settle_in_workers(
    cfg: WorkerConfig, tasks: Iterator[tuple[int, Task]], sink: _Sink, jobs: int, scan: _Scan
) -> tuple[Aggregates, list]:
    """Year-to-date keys (person, insured region, scheme, year) are shared out to ``jobs`` processes
    (key number modulo jobs); each keeps its keys' amounts, so a key's bills settle in order in one process.

    However this ends (an error, a signal, a worker that died), no worker outlives it.
    """
    ctx = multiprocessing.get_context()
    outbox = ctx.Queue()
    inboxes = [ctx.Queue() for _ in range(jobs)]
    parent = os.getpid()
    workers = [
        ctx.Process(target=_worker_main, args=(cfg, inboxes[k], outbox, k, parent), daemon=True) for k in range(jobs)
    ]
    agg = Aggregates()
    outstanding = 0
    limit = BATCH_SIZE * jobs * 8
    finished = bytearray(jobs)

    def receive() -> None:
        nonlocal outstanding
        for w in workers:
            if w.exitcode not in (None, 0):  # killed or crashed: it sent no message, and never will
                raise procs.worker_died(w.exitcode)
        silent = 0
        while True:
            try:
                kind, payload = outbox.get(timeout=WORKER_POLL)
                break
            except queue.Empty:
                dead = [w for k, w in enumerate(workers) if not finished[k] and w.exitcode is not None]
                if dead:
                    silent += 1
                    if silent > 1:  # an ended worker's last messages, if any, have been read
                        raise procs.worker_died(dead[0].exitcode) from None
        if kind == "results":
            outstanding -= len(payload)
            sink.take(payload)
        elif kind == "done":
            number, part = payload
            agg.merge(part)
            finished[number] = 1
        elif kind == "medins":
            raise TableError(*payload)
        else:
            name, message, tb = payload
            if name == "SettlementBug":
                raise SettlementBug(f"{message}\n{tb}")
            raise RuntimeError(f"a batch worker failed: {name}: {message}\n{tb}")

    ended = False
    try:
        with procs.signals_blocked():
            for worker in workers:
                worker.start()
        buffers: list[list[Task]] = [[] for _ in range(jobs)]
        sink.take([])
        for p, task in tasks:
            w = p % jobs
            buffers[w].append(task)
            if len(buffers[w]) >= BATCH_SIZE:
                inboxes[w].put(buffers[w])
                outstanding += len(buffers[w])
                buffers[w] = []
                while outstanding > limit:
                    receive()
                if len(sink.pending) > limit:
                    for k in range(jobs):
                        if buffers[k]:
                            inboxes[k].put(buffers[k])
                            outstanding += len(buffers[k])
                            buffers[k] = []
        for k in range(jobs):
            if buffers[k]:
                inboxes[k].put(buffers[k])
                outstanding += len(buffers[k])
            inboxes[k].put(None)
        while not all(finished):
            receive()
        for worker in workers:
            worker.join()
        ended = True
    finally:
        if not ended:
            with procs.critical():
                _stop_workers(workers, [outbox, *inboxes])
    return agg, sink.finals


def _stop_workers(workers: list[Any], queues: list[Any]) -> None:
    """End the workers of a run that stops early, and never wait at exit for data nobody reads."""
    for q in queues:
        q.cancel_join_thread()
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    for worker in workers:
        if worker.pid is None:
            continue
        worker.join(2)
        if worker.is_alive():
            worker.kill()
            worker.join(2)


# ----------------------------------------------------------------------------- reports


def _ratio(part: Decimal, whole: Decimal) -> str:
    if not whole:
        return "0.0000"
    return f"{(part / whole).quantize(RATIO_PLACES, rounding=ROUND_HALF_UP)}"


def _average(total: Decimal, count: int) -> str:
    if not count:
        return "0.00"
    return f"{(total / count).quantize(FEN, rounding=ROUND_HALF_UP)}"


def group_stats(acc: list[Any] | None) -> dict[str, Any]:
    """Count, expenses, each tier's fund payment, fund total, fund ratio and averages of a group."""
    acc = acc or [0, 0] + [ZERO] * len(GROUP_AMOUNTS)
    count, direct = acc[0], acc[1]
    sums = dict(zip(GROUP_AMOUNTS, acc[2:], strict=True))
    stats: dict[str, Any] = {"count": count, "direct": direct}
    stats.update({k: show(v) for k, v in sums.items()})
    stats["fund_ratio"] = _ratio(sums["fund_total"], sums["total"])
    stats["average_total"] = _average(sums["total"], count)
    stats["average_fund"] = _average(sums["fund_total"], count)
    return stats


def _summary(
    opts: BatchOptions,
    report: BatchReport,
    agg: Aggregates,
    persons_input: int,
    reordered: int,
    settled_persons: int,
    bill_cols: ColumnMap,
    item_cols: ColumnMap | None,
    bills_table: CsvTable,
    items_table: CsvTable | None,
) -> dict[str, Any]:
    def by(dim: str) -> dict[str, Any]:
        keys = sorted(k for d, k in agg.groups if d == dim)
        return {k: group_stats(agg.groups[(dim, k)]) for k in keys}

    def cols(c: ColumnMap | None) -> dict[str, Any] | None:
        return None if c is None else {"used": dict(c.names), "ignored": list(c.ignored)}

    spooled = "utf-8 (xlsx)"
    return {
        "inputs": {
            "bills": opts.bills.name,
            "items": opts.items.name if opts.items else None,
            "encoding": {
                "bills": spooled if opts.bills.suffix.lower() == ".xlsx" else bills_table.encoding,
                "items": None
                if items_table is None
                else spooled
                if opts.items and opts.items.suffix.lower() == ".xlsx"
                else items_table.encoding,
            },
            "columns": {"bills": cols(bill_cols), "items": cols(item_cols)},
        },
        "bills": {
            "input": report.bills_input,
            "accepted": report.bills_input - report.bills_rejected,
            "rejected": report.bills_rejected,
        },
        "item_lines": {
            "input": report.items_input,
            "accepted": report.items_input - report.items_rejected,
            "rejected": report.items_rejected,
        },
        "persons": {"input": persons_input, "settled": settled_persons, "reordered": reordered},
        "overall": group_stats(agg.groups.get(("all", ""))),
        "by_visit_type": by("visit_type"),
        "by_benefit_category": by("benefit_category"),
        "by_insured_region": by("insured_region"),
    }


def summary_table(summary: dict[str, Any], lang: Lang) -> str:
    """The short table printed on stderr: counts, then expenses and funds by group."""
    from tabulate import tabulate

    b, i = summary["bills"], summary["item_lines"]
    zh = lang == "zh"
    lines = [
        (
            f"单据 {b['input']} 张：通过 {b['accepted']}，拒绝 {b['rejected']}；"
            f"明细 {i['input']} 行：通过 {i['accepted']}，拒绝 {i['rejected']}；"
            f"{summary['persons']['reordered']} 人的单据按就医日期重新排序"
        )
        if zh
        else (
            f"bills {b['input']}: {b['accepted']} accepted, {b['rejected']} rejected; "
            f"item lines {i['input']}: {i['accepted']} accepted, {i['rejected']} rejected; "
            f"{summary['persons']['reordered']} persons' bills settled in service-date order, not file order"
        )
    ]
    head = (
        ["", "单据数", "医疗费总额", "基金支付合计", "基金支付比例", "次均费用"]
        if zh
        else ["", "bills", "total", "funds", "fund ratio", "average"]
    )
    rows = []

    def add(name: str, s: dict[str, Any]) -> None:
        rows.append([name, s["count"], s["total"], s["fund_total"], s["fund_ratio"], s["average_total"]])

    add("全部" if zh else "all", summary["overall"])
    for dim, name in (("by_visit_type", ("就诊类型", "visit")), ("by_benefit_category", ("待遇类别", "benefit"))):
        for key, s in summary[dim].items():
            add(f"{name[0 if zh else 1]}: {label(key, lang)}", s)
    for key, s in summary["by_insured_region"].items():
        add(f"{'参保地' if zh else 'insured'}: {key} {regions.name(key)}", s)
    lines.append(
        tabulate(rows, headers=head, tablefmt="simple", colalign=("left",) + ("right",) * 5, disable_numparse=True)
    )
    reform = summary.get("reform")
    if reform:
        lines.append(("改革方案：" if zh else "reform: ") + reform["name"])
        head = (
            ["", "单据数", "基金支付（现行）", "基金支付（改革）", "基金变化", "个人负担变化"]
            if zh
            else ["", "bills", "funds (rules)", "funds (reform)", "funds change", "patients change"]
        )
        places = [
            (f"{'参保地' if zh else 'insured'}: {key} {regions.name(key)}", c)
            for key, c in reform["by_insured_region"].items()
        ]
        rows = [
            [
                name,
                c["rules"]["count"],
                c["rules"]["fund_total"],
                c["reform"]["fund_total"],
                c["change"]["fund_total"],
                c["change"]["personal_total"],
            ]
            for name, c in [("全部" if zh else "all", reform["overall"]), *places]
        ]
        lines.append(
            tabulate(rows, headers=head, tablefmt="simple", colalign=("left",) + ("right",) * 5, disable_numparse=True)
        )
    return "\n".join(lines)


def clearing_dates(month: str) -> tuple[date, date]:
    """Declaration due (the 20th of the following month) and clearing due (two months after that)."""
    year, mon = int(month[:4]), int(month[5:7])
    declaration = add_months(date(year, mon, 20), 1)
    return declaration, add_months(declaration, 2)


def fastpath_rejects(outcome: Any) -> list[Reject]:
    return list(outcome.rejects)


def _write_clearing(outputs: Outputs, path: Path, agg: Aggregates) -> None:
    kinds = ["text", "text", "text", "int", "money", "money", "money", "money", "money", "text", "text"]
    w = TableWriter(outputs.temp_for(path), path, list(CLEARING_COLUMNS), kinds, "clearing")
    for (insured, treated, month), acc in sorted(agg.clearing.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
        declaration, clearing = clearing_dates(month)
        w.write(
            [
                insured,
                treated,
                month,
                str(acc[0]),
                *[f"{v:.2f}" for v in acc[1:]],
                declaration.isoformat(),
                clearing.isoformat(),
            ]
        )
    w.close()


FINALS_CHUNK = 1_000
"""Final states are pickled this many at a time in a partition's file, and read back as many."""


def write_finals(finals: list[tuple[YtdKey, str, str]], path: Path) -> None:
    """A partition's final year-to-date states, sorted by key, to a file :func:`_write_ytd` merges."""
    finals = sorted(finals, key=lambda entry: entry[0])
    with path.open("wb") as f:
        for start in range(0, len(finals), FINALS_CHUNK):
            pickle.dump(finals[start : start + FINALS_CHUNK], f, protocol=pickle.HIGHEST_PROTOCOL)


def _read_finals(path: Path) -> Iterator[tuple[YtdKey, str, str]]:
    with path.open("rb") as f:
        while True:
            try:
                chunk = pickle.load(f)
            except EOFError:
                return
            yield from chunk


def _write_ytd(
    temp: Path,
    ytd_in: dict[YtdKey, tuple[int, str, str]],
    finals: list[tuple[YtdKey, str, str]],
    files: list[Path] | None = None,
) -> None:
    """The year-to-date state: per key the amounts after its last settled bill, and that bill's date;
    the keys of ``--ytd-in`` no bill settled as they came. ``files``: more final states, each file
    sorted by key, merged as they are read (the run never holds them all)."""
    import heapq

    runs: list[Iterable[tuple[YtdKey, int, str, str]]] = [
        sorted((key, 0, last, ytd) for key, (_, last, ytd) in ytd_in.items()),
        sorted(((key, 1, last, ytd) for key, last, ytd in finals), key=lambda e: e[0]),
        *(((key, 1, last, ytd) for key, last, ytd in _read_finals(path)) for path in files or []),
    ]
    merged = heapq.merge(*runs, key=lambda e: (e[0], e[1]))

    def latest() -> Iterator[tuple[YtdKey, str, str]]:  # a settled key's state, not --ytd-in's
        held = None
        for entry in merged:
            if held is not None and held[0] != entry[0]:
                yield held[0], held[2], held[3]
            held = entry
        if held is not None:
            yield held[0], held[2], held[3]

    with temp.open("w", encoding="utf-8") as f:
        f.write(f'{{"format": "{YTD_FORMAT}", "version": {YTD_VERSION}, "entries": [')
        for k, (key, last, ytd) in enumerate(latest()):
            pid, region, scheme, year = key
            names = ", ".join(
                f'"{n}": {json.dumps(v, ensure_ascii=False)}'
                for n, v in (("person_id", pid), ("insured_region", region), ("scheme", scheme))
            )
            f.write(("," if k else "") + f'\n  {{{names}, "year": {year}, ')
            f.write(f'"last_service_date": "{last}", "ytd": {ytd}}}')
        f.write("\n]}\n")


__all__ = [
    "BILL_COLUMNS",
    "ITEM_COLUMNS",
    "BatchOptions",
    "BatchReport",
    "run_batch",
    "summary_table",
]
