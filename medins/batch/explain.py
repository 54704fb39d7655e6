"""``--explain BILL``: how one bill of a file is settled, step by step, its person's earlier bills
settled first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from medins import procs
from medins.batch.bill import Settler
from medins.batch.check import _Runs, _scan_bills, _scan_items
from medins.batch.options import BatchOptions
from medins.batch.records import _chains, _tasks
from medins.batch.schema import Reject
from medins.batch.tables import _inputs
from medins.batch.ytd import _load_ytd
from medins.errors import SettlementBug, UsageError, t
from medins.loader import resolve_rules_dir


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
