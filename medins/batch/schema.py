"""The files' columns: the names and aliases of BILLS' and ITEMS' columns, a header mapped to them,
and the columns of OUT, REJECTS and CLEARING.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from medins.errors import t
from medins.tabular import TableError

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


YtdKey = tuple[str, str, str, int]
"""Whose year-to-date amounts: ``(person_id, insured_region, scheme, year)``."""


# A task: (bill, row, start, end, item runs ((start, end, first row, count), ...), year-to-date key,
#          first bill of the key, last bill of the key, year-to-date state to start from)
Task = tuple[int, int, int, int, tuple[tuple[int, int, int, int], ...], YtdKey, bool, bool, str | None]


# A reject: (file order 0 bills / 1 items, row, file, bill id, column, reason)
Reject = tuple[int, int, str, str, str, str]


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
