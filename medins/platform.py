"""The national medical insurance platform's codes, as medins' vocabulary: one table, each with its source.

``medins audit`` reads the platform's settlement table (``setl_d``): its insurance type
(``insutype``), medical type (``med_type``), person type (``psn_type``) and hospital level
(``hosp_lv``) are codes of the platform's dictionaries. Each code medins maps is one row of
:data:`CODES`, with the text it rests on. None rests on the issuer's own text (国家医疗保障局,
《医疗保障信息平台定点医药机构接口规范》 and the 医疗保障信息业务编码标准 it uses): no copy of it was
at hand. Every row is therefore ``illustrative``; where a public extract in the platform's field
names shows the code beside its name, that is cited.

A code that is not in the table is not guessed: the record is rejected, naming the column and the
value. For residents, ``psn_type`` is a code each region sets for its own groups (the cited extract
has ``16`` = 居民(老)); medins reads a resident's ``psn_type`` cell as the pack's group, by its id or
its Chinese label (``general``, ``城乡居民``), so an extract of residents needs that column rewritten
to the pack's groups, or left empty where the pack has one group.
"""

from __future__ import annotations

from dataclasses import dataclass

from medins.i18n import Text


@dataclass(frozen=True)
class Source:
    """Where a mapping was read."""

    id: str
    title: str
    issuer: str
    address: str
    note: str


SOURCES: dict[str, Source] = {
    "extract-sample": Source(
        "extract-sample",
        "t_open_copy: a settlement table with the platform's field names and one sample record "
        "(sql/t_open_copy.sql, commit a918825c8d90c9774099bc893e496132f92a9f80)",
        "CH00SE1/demo-go (a public repository, not the issuer)",
        "https://github.com/CH00SE1/demo-go/blob/a918825c8d90c9774099bc893e496132f92a9f80/sql/t_open_copy.sql",
        "shows insutype 390 beside 城乡居民基本医疗保险, med_type 14 beside 门诊慢特病, refd_setl_flag 0 "
        "beside 否, and the field names setl_id, mdtrt_id, psn_no, psn_type, begndate, enddate, setl_time, "
        "medfee_sumamt, fulamt_ownpay_amt, preselfpay_amt, inscp_amt, act_pay_dedc, hifp_pay, cvlserv_pay, "
        "hifes_pay, hifmi_pay, hifob_pay, maf_pay, othfund_pay, fund_pay_sumamt, psn_pay, acct_pay, "
        "cash_payamt, insu_admdvs, fixmedins_code, hosp_lv, refd_setl_flag",
    ),
    "unconfirmed": Source(
        "unconfirmed",
        "医疗保障信息业务编码标准 / 医疗保障信息平台定点医药机构接口规范 (not read)",
        "国家医疗保障局",
        "",
        "the code is the one public hospital-system integration code commonly uses; no text at hand confirms it",
    ),
}

# (column, code, medins id, the platform's name of the code, source)
CODES: tuple[tuple[str, str, str, str, str], ...] = (
    ("insutype", "310", "employee", "职工基本医疗保险", "unconfirmed"),
    ("insutype", "390", "resident", "城乡居民基本医疗保险", "extract-sample"),
    ("med_type", "11", "outpatient", "普通门诊", "unconfirmed"),
    ("med_type", "14", "chronic_outpatient", "门诊慢特病", "extract-sample"),
    ("med_type", "21", "inpatient", "普通住院", "unconfirmed"),
    ("psn_type", "11", "in_service", "在职", "unconfirmed"),
    ("psn_type", "21", "retired", "退休", "unconfirmed"),
    ("hosp_lv", "01", "3", "三级特等", "unconfirmed"),
    ("hosp_lv", "02", "3", "三级甲等", "unconfirmed"),
    ("hosp_lv", "03", "3", "三级乙等", "unconfirmed"),
    ("hosp_lv", "04", "3", "三级丙等", "unconfirmed"),
    ("hosp_lv", "05", "2", "二级甲等", "unconfirmed"),
    ("hosp_lv", "06", "2", "二级乙等", "unconfirmed"),
    ("hosp_lv", "07", "2", "二级丙等", "unconfirmed"),
    ("hosp_lv", "08", "1", "一级甲等", "unconfirmed"),
    ("hosp_lv", "09", "1", "一级乙等", "unconfirmed"),
    ("hosp_lv", "10", "1", "一级丙等", "unconfirmed"),
    ("refd_setl_flag", "0", "original", "否", "extract-sample"),
    ("refd_setl_flag", "1", "refund", "是", "unconfirmed"),
)
"""Every platform code medins maps, with its source; all illustrative (see the module's docstring)."""

ILLUSTRATIVE = True
"""No mapping of :data:`CODES` rests on the issuer's own text."""

_BY_COLUMN: dict[str, dict[str, str]] = {}
for _column, _code, _id, _name, _source in CODES:
    _BY_COLUMN.setdefault(_column, {})[_code] = _id


def _key(column: str, value: str) -> str:
    """A code as looked up: ``hosp_lv`` may come as an integer column (``1`` for ``01``)."""
    value = value.strip()
    if column == "hosp_lv" and value.isdigit() and len(value) == 1:
        return "0" + value
    return value


def mapped(column: str, value: str) -> str | None:
    """The medins id of a platform code, or None when the table does not map it."""
    return _BY_COLUMN.get(column, {}).get(_key(column, value))


def unmapped(column: str, value: str) -> Text:
    """Why a code cannot be used: the table's codes for that column, to fix the cell or the table."""
    codes = "、".join(f"{c}（{n}）" for col, c, _, n, _ in CODES if col == column)
    codes_en = ", ".join(f"{c} ({n})" for col, c, _, n, _ in CODES if col == column)
    return Text(
        f"{column} 的代码 “{value}” 没有对应的 medins 取值（已对应：{codes}）",
        f"{column} code '{value}' has no medins value (mapped: {codes_en})",
    )
