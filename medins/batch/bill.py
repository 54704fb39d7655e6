"""One bill at a time: the case built from a row of BILLS and its item lines, settled by
:func:`medins.api.estimate` with its person's year-to-date amounts, its OUT row and the run's sums
(:class:`Aggregates`). The record-by-record path settles every bill so; the columns, the bills
their arrays leave aside.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from medins.api import estimate, load_rules, parse_case
from medins.batch.schema import BILL_FIELDS, DATE_COLUMNS, SUMMARY_COLUMNS, ColumnMap, Reject, Task, YtdKey
from medins.batch.values import (
    VALUE_ALIASES,
    _reason,
    error_column,
    norm_bool,
    norm_choice,
    norm_date,
    norm_level,
    split_list,
)
from medins.batch.ytd import EMPTY_YTD
from medins.case_model import YearToDate
from medins.errors import MedinsError, t
from medins.i18n import Lang
from medins.money import ZERO
from medins.tabular import MARK, RangeReader, TableError, cell_problem


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
        items = self.item_records(runs)
        out, rejects, ytd_after, day = self._one(row, values, items, ytd)
        if out is not None:
            ytd, last_day = ytd_after.model_dump_json(), day  # type: ignore[union-attr]
        final = None
        if not last:
            self.state[key] = (ytd, last_day)
        elif self.cfg.want_state and last_day is not None:
            final = (key, last_day, ytd)
        return b, out, rejects, len(items) if out is not None else 0, final

    def item_records(self, runs: tuple[tuple[int, int, int, int], ...]) -> list[tuple[int, list[str]]]:
        """A bill's item lines, read back by their runs of records: each line's row and its cells."""
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
        return items

    def _one(
        self, row: int, values: list[str], items: list[tuple[int, list[str]]], ytd_json: str | None
    ) -> tuple[list[str] | None, list[Reject], YearToDate | None, str | None]:
        lang = self.lang
        if len(values) < self.bill_width:
            values += [""] * (self.bill_width - len(values))
        v = {name: s for name, i in self.bill_cols if (s := values[i].strip())}
        bid = v.get("bill_id", "")

        def reject(column: str, reason: str, item_row: int | None = None, item_column: str = "") -> tuple:
            return None, self._rejects(row, bid, items, column, reason, item_row, item_column), None, None

        lost = self.lost_cells(row, values, items)
        if lost is not None:
            return None, lost, None, None
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

    def _rejects(
        self,
        row: int,
        bid: str,
        items: list[tuple[int, list[str]]],
        column: str,
        reason: str,
        item_row: int | None = None,
        item_column: str = "",
    ) -> list[Reject]:
        """A rejected bill's rejects: its own (naming the item line at fault, if one is), then its lines'."""
        lang = self.lang
        out: list[Reject] = []
        if item_row is not None:
            out.append((1, item_row, "items", bid, item_column, reason))
            reason = t(f"明细第 {item_row} 行：", f"items row {item_row}: ")(lang) + reason
        out.append((0, row, "bills", bid, column, reason))
        belongs = t(f"所属单据 {bid}（单据第 {row} 行）被拒绝", f"belongs to rejected bill {bid} (bills row {row})")(
            lang
        )
        out.extend((1, r, "items", bid, "", belongs) for r, _ in items if r != item_row)
        return out

    def lost_cells(self, row: int, values: list[str], items: list[tuple[int, list[str]]]) -> list[Reject] | None:
        """The rejects of a bill one of whose cells, or of whose lines' cells, an XLSX lost (a formula
        without its value, an ID with lost digits); None for any other bill, and for a CSV."""
        if not self.cells_checked:
            return None
        v = {name: s for name, i in self.bill_cols if i < len(values) and (s := values[i].strip())}
        problem = self._cell_problem(v, items)
        if problem is None:
            return None
        column, reason, item_row = problem
        column, item_column = ("", column) if item_row else (column, "")
        return self._rejects(row, v.get("bill_id", ""), items, column, reason, item_row, item_column)

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
