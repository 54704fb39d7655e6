"""The careful reading: every record of BILLS and ITEMS scanned once, its byte range remembered,
not its values; a row that cannot be settled rejected with its row, column, value and reason.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from datetime import date

from medins.batch.schema import DATE_COLUMNS, ColumnMap, Reject, YtdKey
from medins.batch.tables import _no_rows, _rows_text
from medins.batch.values import date_problem, day_number, id_problem, norm_choice
from medins.errors import t
from medins.i18n import Lang, Text
from medins.tabular import CsvTable


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
