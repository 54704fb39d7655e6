"""A cell's value: dates, hospital levels, yes and no, choices by their Chinese or English names,
lists; the IDs and dates a row cannot have; the column a case error points at.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from medins import vocab
from medins.batch.schema import FIELD_COLUMNS, SECTION_FIELDS
from medins.codes import ASSISTANCE_CATEGORIES, CATEGORIES, NATIONAL_CHRONIC, VISIT_TYPES
from medins.errors import MedinsError, t
from medins.i18n import LABELS, Lang, Text
from medins.tabular import MARK, cell_problem


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
