"""SUMMARY: the run's counts and amounts, in all and by group, and their table on the terminal."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from medins import regions
from medins.batch.bill import GROUP_AMOUNTS, Aggregates
from medins.batch.options import BatchOptions, BatchReport
from medins.batch.schema import ColumnMap
from medins.i18n import Lang, label
from medins.money import FEN, RATIO_PLACES, ZERO, show
from medins.tabular import CsvTable


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
