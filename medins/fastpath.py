"""The batch over columns: read both files with polars, check them as columns, settle by waves.

:func:`settle_columns` takes the tables :func:`medins.batch.run_batch` opened and either settles
the whole run or returns None *before writing anything*, leaving the run to the record-by-record
path. It returns None when a file is not plainly regular, that is when the careful reader could
find something to say about a row: a quote anywhere (quoted cells, unbalanced quotes), a row with
another cell count than the header, a blank record, a cell longer than ``MAX_CELL``, text that is
not UTF-8, an XLSX; or when a check of the scan would reject a row (a missing or scientific-notation
ID, a date cell that is not a date, a duplicate bill id, an item line without its bill, a person with
two names, a bill older than ``--ytd-in``). Such files keep every message the careful path gives.

Every bill of a regular file settles here. The arrays (:mod:`medins.engine.population`) settle the
bills they can; the others — a value the case model would refuse, a rule form the arrays leave
aside, a fund reaching its cap — settle one at a time through the same ``Settler`` as the careful
path, in their key's order, with the year-to-date amounts the arrays carried to them.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from medins import regions
from medins.api import _known_disease, parse_case
from medins.case_model import YearToDate
from medins.engine.columns import LIMIT, SCALE, ZERO_E, decimal_text, fen_units, half_up, ratio_units
from medins.engine.lines import catalogue_index, resolve_item
from medins.engine.population import (
    CHRONIC,
    INPATIENT,
    NO_CELL,
    VISIT_CODES,
    Cell,
    State,
    apply_wave,
    gather_cells,
    resolve_cell,
    settle_wave,
    static_eligibility,
    waves,
)
from medins.errors import MedinsError, SettlementBug
from medins.loader import RuleSet
from medins.tabular import MAX_CELL, CsvTable

# the characters Python's str.strip() removes (Rust's trim differs on \x1c-\x1f)
PY_SPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + (
    "\u2028\u2029\u202f\u205f\u3000"
)
_SCIENTIFIC = r"^[+-]?\d(?:\.\d+)?[eE][+-]\d+$"
_AMOUNT = r"^\d{1,8}(?:\.\d{1,2})?$"
_PRICE = r"^\d{1,5}(?:\.\d{1,4})?$"
_QUANTITY = r"^\d{1,5}(?:\.\d{1,4})?$"


# ----------------------------------------------------------------------------- read


def read_regular(table: CsvTable) -> pl.DataFrame | None:
    """The table as text columns ``c0, c1, …`` (cells stripped as the careful path strips them), or None
    when the file is not plainly regular (see the module's notes).

    Records that hold a quote are also read by the csv module, as the careful path reads them, and
    must come out the same; every other record must have the header's cell count.
    """
    if table.spooled or table.encoding != "utf-8" or len(table.delimiter) != 1:
        return None
    if table.newline not in (b"\n", b"\r\n"):
        return None
    width = len(table.header)
    sep = table.delimiter.encode()
    quoted: dict[int, list[str]] = {}
    records = 0  # records after the header
    with table.path.open("rb") as f:
        f.seek(table.start)
        header = f.readline()
        if b'"' in header:
            return None
        held: list[bytes] = []
        odd = False
        for line in f:
            if held or b'"' in line:
                held.append(line)
                odd ^= line.count(b'"') % 2 == 1
                if odd:
                    continue
                text = b"".join(held).decode("utf-8", errors="replace")
                held = []
                values = next(csv.reader([text], delimiter=table.delimiter), [])
                if len(values) != width:
                    return None
                quoted[records] = values
            elif line.count(sep) != width - 1:
                return None
            records += 1
        if held or not records:
            return None
    try:
        df = pl.read_csv(
            table.path,
            has_header=True,
            new_columns=[f"c{i}" for i in range(width)],
            separator=table.delimiter,
            quote_char='"',
            infer_schema=False,
            empty_string_is_null=False,
            encoding="utf8",
            raise_if_empty=False,
        )
    except Exception:  # anything polars cannot read the careful reader explains
        return None
    if df.height != records or df.width != width:
        return None
    df = df.with_columns(pl.all().fill_null(""))
    if quoted:
        rows = sorted(quoted)
        got = df[rows].rows()
        for r, values in zip(rows, got, strict=True):
            if [v.replace("\r\n", "\n") for v in values] != [v.replace("\r\n", "\n") for v in quoted[r]]:
                return None
    df = df.with_columns(pl.all().str.strip_chars(PY_SPACE))
    longest = df.select(pl.all().str.len_chars().max()).row(0)
    if any((x or 0) > MAX_CELL for x in longest):
        return None
    if df.select(pl.all_horizontal(pl.all() == "").any()).item():
        return None
    return df


# ----------------------------------------------------------------------------- the run


@dataclass
class Outcome:
    """What the run needs to finish its reports."""

    agg: Any
    finals: list[tuple[Any, str, str]]
    bills: int
    items_input: int
    accepted: int
    items_ok: int
    persons: int
    settled_persons: int
    reordered: int
    rejects: list[Any]


def settle_columns(
    bills_table: CsvTable,
    bill_cols: Any,
    items_table: CsvTable | None,
    item_cols: Any,
    ytd_in: dict[Any, tuple[int, str, str]],
    settler: Any,
    rules: RuleSet,
    write: Callable[[list[str]], None],
    want_state: bool,
) -> Outcome | None:
    """Settle the run over columns; None (nothing written) when the careful path must take it."""
    from medins import batch as B  # the column names, value aliases and checks of the careful path

    bills = read_regular(bills_table)
    if bills is None:
        return None
    items = None
    if items_table is not None:
        items = read_regular(items_table)
        if items is None:
            return None
    n = bills.height
    bcol = {name: f"c{i}" for name, i in bill_cols.index.items()}

    def col(name: str) -> pl.Expr:
        return pl.col(bcol[name]) if name in bcol else pl.lit("")

    # -- the scan's checks, as columns: any finding sends the run to the careful path
    b = bills.select(
        col("bill_id").alias("bill_id"),
        col("person_id").alias("person_id"),
        col("insured_region").alias("insured"),
        col("scheme").alias("scheme"),
        col("person_name").alias("name"),
        *[col(c).alias(c) for c in sorted(B.DATE_COLUMNS)],
    )
    if (
        b.select(
            (pl.col("bill_id") == "")
            | (pl.col("person_id") == "")
            | pl.col("bill_id").str.contains(_SCIENTIFIC)
            | pl.col("person_id").str.contains(_SCIENTIFIC)
        )
        .to_series()
        .any()
    ):
        return None
    if b["bill_id"].n_unique() != n:
        return None
    days: dict[str, int] = {"": 0}
    for c in B.DATE_COLUMNS:
        for v in b[c].unique().to_list():
            if v not in days:
                days[v] = B.day_number(v)
                if days[v] == 0:
                    return None
    if "person_name" in bcol:
        named = b.filter(pl.col("name") != "").group_by("person_id").agg(pl.col("name").n_unique().alias("k"))
        if named["k"].max() is not None and named["k"].max() > 1:  # type: ignore[operator]
            return None
    day_of = {c: b[c].replace_strict(days, return_dtype=pl.Int32).to_numpy() for c in B.DATE_COLUMNS}
    service = np.where(day_of["admitted"] > 0, day_of["admitted"], np.where(day_of["date"] > 0, day_of["date"], day_of["discharged"]))
    settle_day = np.where(day_of["discharged"] > 0, day_of["discharged"], np.where(day_of["date"] > 0, day_of["date"], day_of["admitted"]))
    years = np.array([date.fromordinal(int(d)).year if d else 0 for d in service], dtype=np.int64) if n < 50 else _years(service)
    schemes = {s: B.norm_choice("scheme", s) for s in b["scheme"].unique().to_list()}
    keys_frame = pl.DataFrame(
        {
            "person_id": b["person_id"],
            "insured": b["insured"],
            "scheme": b["scheme"].replace_strict(schemes, return_dtype=pl.String),
            "year": years,
        }
    )
    key_codes = keys_frame.select(pl.struct(pl.all()).rank("dense") - 1).to_series().to_numpy().astype(np.int64)
    nkeys = int(key_codes.max()) + 1 if n else 0
    first_of_key = np.full(nkeys, -1, dtype=np.int64)
    first_of_key[key_codes[::-1]] = np.arange(n)[::-1]
    key_tuples = [
        (r[0], r[1], r[2], int(r[3])) for r in keys_frame[first_of_key.tolist()].iter_rows()
    ]
    for k, kt in enumerate(key_tuples):
        entry = ytd_in.get(kt)
        if entry is not None:
            kd = service[key_codes == k]
            if (kd[kd > 0] < entry[0]).any():
                return None
    # item lines and their bills
    items_input = 0
    line_bill = np.zeros(0, dtype=np.int64)
    if items is not None:
        icol = {name: f"c{i}" for name, i in item_cols.index.items()}
        ib = items[icol["bill_id"]]
        if ((ib == "") | ib.str.contains(_SCIENTIFIC)).any():
            return None
        index_of = pl.DataFrame({"bill_id": b["bill_id"], "b": np.arange(n, dtype=np.int64)})
        joined = pl.DataFrame({"bill_id": ib}).join(index_of, on="bill_id", how="left", maintain_order="left")
        if joined["b"].null_count():
            return None
        line_bill = joined["b"].to_numpy()
        items_input = items.height

    # -- from here on every bill settles: in columns, or one at a time
    run = _Run(bills, bill_cols, items, item_cols, settler, rules, n, line_bill)
    return run.settle(
        key_codes, key_tuples, service, settle_day, years, ytd_in, write, want_state, items_input, schemes
    )


def _years(days: np.ndarray) -> np.ndarray:
    uniq, inv = np.unique(days, return_inverse=True)
    ys = np.array([date.fromordinal(int(d)).year if d else 0 for d in uniq], dtype=np.int64)
    return ys[inv]


class _Run:
    def __init__(
        self,
        bills: pl.DataFrame,
        bill_cols: Any,
        items: pl.DataFrame | None,
        item_cols: Any,
        settler: Any,
        rules: RuleSet,
        n: int,
        line_bill: np.ndarray,
    ) -> None:
        self.bills, self.bill_cols, self.items, self.item_cols = bills, bill_cols, items, item_cols
        self.settler, self.rules, self.n, self.line_bill = settler, rules, n, line_bill
        self.bcol = {name: f"c{i}" for name, i in bill_cols.index.items()}
        self.alone = np.zeros(n, dtype=bool)

    def text(self, name: str) -> list[str]:
        c = self.bcol.get(name)
        return self.bills[c].to_list() if c else [""] * self.n

    # -- one bill by the case model and the per-bill engine
    def one(self, i: int, ytd_json: str | None) -> tuple[Any, ...]:
        values = list(self.bills.row(i))
        rows: list[tuple[int, list[str]]] = []
        if self.items is not None:
            for j in self.lines_of[i]:
                rows.append((int(j) + 2, list(self.items.row(int(j)))))
        return self.settler._one(i + 2, values, rows, ytd_json)

    def settle(
        self,
        key: np.ndarray,
        key_tuples: list[Any],
        service: np.ndarray,
        settle_day: np.ndarray,
        years: np.ndarray,
        ytd_in: dict[Any, tuple[int, str, str]],
        write: Callable[[list[str]], None],
        want_state: bool,
        items_input: int,
        schemes: dict[str, str],
    ) -> Outcome:
        from medins import batch as B

        n, rules, settler = self.n, self.rules, self.settler
        if self.items is not None:
            order = np.argsort(self.line_bill, kind="stable")
            bounds = np.searchsorted(self.line_bill[order], np.arange(n + 1))
            self.lines_of = [order[bounds[i] : bounds[i + 1]] for i in range(n)]
            has_lines = bounds[1:] > bounds[:-1]
        else:
            self.lines_of = [np.zeros(0, dtype=np.int64)] * n
            has_lines = np.zeros(n, dtype=bool)
        T = {c: self.text(c) for c in B.BILL_COLUMNS if c in self.bcol}
        for c in B.BILL_COLUMNS:
            T.setdefault(c, [""] * n)
        insured, treated = T["insured_region"], T["visit_region"]
        scheme = [schemes[s] for s in T["scheme"]]
        visit_type = _mapped(T["visit_type"], lambda s: B.norm_choice("visit_type", s))
        # -- the fields of each bill, checked by the case model once per distinct combination
        # the person id differs on almost every bill and the case model only keeps it: left out
        static_cols = [
            c
            for c in B.BILL_COLUMNS
            if c not in B.DATE_COLUMNS and c not in B.SUMMARY_COLUMNS and c not in ("bill_id", "person_name", "person_id")
        ]
        present_dates = [c for c in sorted(B.DATE_COLUMNS)]
        combos: dict[tuple, int] = {}
        combo_of = np.zeros(n, dtype=np.int64)
        reps: list[int] = []
        sig_cols = [T[c] for c in static_cols] + [T[c] for c in present_dates] + [T[c] for c in B.SUMMARY_COLUMNS]
        for i, sig in enumerate(zip(*sig_cols, strict=True)):
            s = sig[: len(static_cols)] + tuple(bool(x) for x in sig[len(static_cols) :]) + (bool(has_lines[i]),)
            c = combos.get(s)
            if c is None:
                c = combos[s] = len(reps)
                reps.append(i)
            combo_of[i] = c
        combo_info: list[Any] = []
        for i in reps:
            combo_info.append(self._check_fields(i, T, has_lines[i]))
        info_ok = np.array([ci is not None for ci in combo_info], dtype=bool)
        self.alone |= ~info_ok[combo_of]
        # date order the case model checks beside the fields
        d = {c: _days(T[c]) for c in B.DATE_COLUMNS}
        self.alone |= (d["filing_end"] > 0) & (d["filing_start"] > 0) & (d["filing_end"] < d["filing_start"])
        both = (d["admitted"] > 0) & (d["discharged"] > 0)
        self.alone |= both & ((d["discharged"] < d["admitted"]) | (d["discharged"] - d["admitted"] > 366))

        # -- lines and bill parts
        parts = self._parts(T, combo_info, combo_of, service, has_lines, insured, treated)
        total, fully, over, pre, in_scope, line_warn = parts

        # -- eligibility, then cells
        elig = self._eligibility(T, combo_info, combo_of, service, settle_day, insured, treated, visit_type, scheme)
        cells, cell_of, visit_code, slot_disease = self._cells(elig, combo_info, combo_of, service, insured, scheme, visit_type)
        g = gather_cells(cells, cell_of)
        self.alone |= ~np.array([c.ok for c in cells], dtype=bool)[cell_of]
        self.alone |= total > LIMIT

        # -- year-to-date state: slots per key for inpatient, outpatient and each chronic disease
        nkeys = len(key_tuples)
        slot = np.where(visit_code == INPATIENT, 2 * key, 2 * key + 1)
        chronic_slots: dict[tuple[int, str], int] = {}
        for i in np.nonzero(visit_code == CHRONIC)[0]:
            kd = (int(key[i]), slot_disease[i])
            s = chronic_slots.get(kd)
            if s is None:
                s = chronic_slots[kd] = 2 * nkeys + len(chronic_slots)
            slot[i] = s
        state = State(nkeys, 2 * nkeys + len(chronic_slots))
        self.chronic_order: dict[int, list[str]] = {}
        self.chronic_slots = chronic_slots
        self.key_alone: dict[int, str | None] = {}  # keys kept as JSON, settled one bill at a time
        for k, kt in enumerate(key_tuples):
            entry = ytd_in.get(kt)
            if entry is not None and not self._load_state(state, k, kt, entry[2]):
                self.key_alone[k] = entry[2]
        rows: list[list[str] | None] = [None] * n
        results: dict[str, np.ndarray] = {
            f: np.zeros(n, dtype=np.int64)
            for f in ("offsite", "deductible", "basic", "tier2", "assist", "personal")
        }
        vector_done = np.zeros(n, dtype=bool)
        from_one: dict[int, tuple[Any, ...]] = {}
        last_day: dict[int, str] = {}
        amounts = {"total": total, "pre": pre, "in_scope": in_scope}
        for w in waves(key, service):
            keyed_alone = np.array([int(k) in self.key_alone for k in key[w]], dtype=bool) if self.key_alone else np.zeros(len(w), dtype=bool)
            alone_w = self.alone[w] | keyed_alone
            vec = w[~alone_w]
            if len(vec):
                r = settle_wave(g, vec, slot, key, visit_code, amounts, state)
                keep = ~r.alone
                over_ceiling = apply_wave(state, vec, slot, key, visit_code, years, r, keep)
                self._note_chronic(vec[keep & ~over_ceiling], key, visit_code, slot_disease)
                ok = vec[keep & ~over_ceiling]
                for f, arr in (("offsite", r.offsite), ("deductible", r.deductible), ("basic", r.basic), ("tier2", r.tier2), ("assist", r.assist), ("personal", r.personal)):
                    results[f][ok] = arr[keep & ~over_ceiling]
                vector_done[ok] = True
                for i in ok:
                    last_day[int(key[i])] = date.fromordinal(int(service[i])).isoformat()
                alone_now = vec[~(keep & ~over_ceiling)]
            else:
                alone_now = vec
            for i in [*w[alone_w].tolist(), *alone_now.tolist()]:
                k = int(key[i])
                ytd_json = self.key_alone[k] if k in self.key_alone else self._state_json(state, k, first=True)
                res = self.one(int(i), ytd_json)
                from_one[int(i)] = res
                out, _rejects, ytd_after, day = res
                if out is not None:
                    last_day[k] = day
                    if k in self.key_alone or not self._store(state, k, ytd_after):
                        self.key_alone[k] = ytd_after.model_dump_json()
        # -- OUT rows in input order, aggregates, final state
        agg = settler.agg
        eligible, settlement, category, place = elig["eligible"], elig["settlement"], elig["benefit_category"], elig["place"]
        kind = g["tier2_critical"]
        with_name = "person_name" in self.bcol
        accepted = items_ok = 0
        accepted_persons: set[str] = set()
        rejects: list[Any] = []
        for i in range(n):
            if i in from_one:
                out, rj, _, _ = from_one[i]
                if out is None:
                    rejects.extend(rj)
                    continue
                write(out)
                accepted += 1
                items_ok += len(self.lines_of[i])
                accepted_persons.add(T["person_id"][i])
                continue
            if not vector_done[i]:
                raise SettlementBug(f"bill {i + 2} was neither settled nor rejected")
            row, direct = self._row(i, T, with_name, visit_type, total, fully, over, pre, in_scope, results, elig, g, line_warn, kind, service)
            write(row)
            accepted += 1
            items_ok += len(self.lines_of[i])
            accepted_persons.add(T["person_id"][i])
            t2 = results["tier2"][i]
            amounts_g = (
                total[i],
                results["basic"][i],
                t2 if kind[i] else 0,
                0 if kind[i] else t2,
                results["assist"][i],
                results["basic"][i] + t2 + results["assist"][i],
                results["personal"][i],
            )
            agg.add(
                (
                    ("all", ""),
                    ("visit_type", visit_type[i]),
                    ("benefit_category", category[i]),
                    ("insured_region", insured[i]),
                ),
                tuple(_dec(a) for a in amounts_g),
                direct,
            )
            if direct and place[i] != "local":
                deferred_assist = g["assist"][i] and not g["assist_direct"][i] and results["assist"][i] > 0
                a = 0 if deferred_assist else results["assist"][i]
                day = date.fromordinal(int(settle_day[i]))
                agg.clear(
                    (insured[i], treated[i], f"{day.year:04d}-{day.month:02d}"),
                    tuple(_dec(x) for x in (total[i], results["basic"][i], t2, a, results["basic"][i] + t2 + a)),
                )
        finals: list[tuple[Any, str, str]] = []
        if want_state:
            for k, kt in enumerate(key_tuples):
                if k not in last_day:
                    continue
                ytd = self.key_alone[k] if k in self.key_alone else self._state_json(state, k)
                finals.append((kt, last_day[k], ytd))
        persons_in = len(set(T["person_id"]))
        reordered = _reordered(key, service)
        return Outcome(agg, finals, n, items_input if self.items is not None else 0, accepted, items_ok, persons_in, len(accepted_persons), reordered, rejects)

    # -- pieces
    def _check_fields(self, i: int, T: dict[str, list[str]], has_lines: bool) -> dict[str, Any] | None:
        """The case model's verdict on a bill's fields (dates and amounts stand in): None if it refuses them."""
        from medins import batch as B

        v = {c: T[c][i] for c in T if T[c][i] and c not in B.SUMMARY_COLUMNS}
        for c in B.DATE_COLUMNS:
            if c in v:
                v[c] = "2025-01-01"
        try:
            data = self.settler._case_data(v)
            if has_lines:
                data["items"] = [{"code": "X", "unit_price": "1"}]
            elif T["total"][i]:
                data["summary"] = {"total": "1"}
            else:
                return None
            case = parse_case(data, "bill")
            _known_disease(case, self.rules, date(2025, 1, 1))
            std = self.rules.standards(case.person.insured_region)
            part = getattr(std, case.person.scheme)
            if part is None:
                return None
            status = case.person.status
            if status is None:
                if len(part.groups) != 1:
                    return None
                status = part.groups[0]
            elif status not in part.groups:
                return None
        except MedinsError:
            return None
        f = case.filing
        return {
            "group": status,
            "chronic": tuple(case.person.chronic_diseases),
            "assistance": case.person.assistance,
            "filing": None
            if f is None
            else (f.category, f.destination, tuple(f.materials) if f.materials is not None else None),
            "level": case.visit.hospital_level,
            "hospital": case.visit.hospital,
            "disease": case.visit.disease,
            "visit_type": case.visit.type,
        }

    def _parts(self, T, combo_info, combo_of, service, has_lines, insured, treated):  # type: ignore[no-untyped-def]
        """Each bill's total and its four parts in fen, and the warnings its lines raise, in their order."""
        from medins import batch as B

        n, rules = self.n, self.rules
        total = np.zeros(n, dtype=np.int64)
        fully = np.zeros(n, dtype=np.int64)
        over = np.zeros(n, dtype=np.int64)
        pre = np.zeros(n, dtype=np.int64)
        head_warn = [""] * n  # DRUG_LIST_OUT_OF_DATE or SUMMARY_PRE_SELF_PAY, before the lines'
        # the treatment place's catalogue (the insured place's for a local visit) and its settings
        # (place, day) → (context number or -1, drug list out of date); a context per place and settings
        ctx_of: dict[tuple[str, int], tuple[int, bool]] = {}
        shared: dict[tuple[str, int], int] = {}
        ctx_id = np.full(n, -1, dtype=np.int64)
        self.out_of_date = np.zeros(n, dtype=bool)
        contexts: list[Any] = []
        for i in range(n):
            if self.alone[i]:
                continue
            place = insured[i] if regions.city(treated[i]) == regions.city(insured[i]) else treated[i]
            kk = (place, int(service[i]))
            found = ctx_of.get(kk)
            if found is None:
                got = self._context(place, date.fromordinal(int(service[i])))
                if got is None:
                    found = ctx_of[kk] = (-1, False)
                else:
                    ctx, section_id, late = got
                    c = shared.get((place, section_id))
                    if c is None:
                        c = shared[(place, section_id)] = len(contexts)
                        contexts.append(ctx)
                    found = ctx_of[kk] = (c, late)
            if found[0] < 0:
                self.alone[i] = True
            else:
                ctx_id[i], self.out_of_date[i] = found
        # summary bills
        summ = ~has_lines & ~self.alone
        if summ.any():
            idx = np.nonzero(summ)[0]
            vals = {c: [T[c][i] for i in idx] for c in B.SUMMARY_COLUMNS}
            f = {c: _fen_list(vals[c]) for c in B.SUMMARY_COLUMNS}
            bad = np.zeros(len(idx), dtype=bool)
            for c in B.SUMMARY_COLUMNS:
                bad |= f[c] < 0
            tot, ful, ovr, clb, pre_given = f["total"], np.maximum(f["fully_self_paid"], 0), np.maximum(f["over_ceiling"], 0), np.maximum(f["class_b"], 0), f["pre_self_pay"]
            has_pre = np.array([bool(x) for x in vals["pre_self_pay"]])
            has_clb = np.array([bool(x) for x in vals["class_b"]])
            fixed = ful + ovr
            bad |= fixed + clb > tot
            bad |= has_pre & (fixed + np.maximum(pre_given, 0) > tot)
            bad |= has_pre & has_clb & (pre_given > clb)
            drug = np.array([contexts[ctx_id[i]].drug_ratio if ctx_id[i] >= 0 else 0 for i in idx], dtype=np.int64)
            pre_est = half_up(clb * drug, SCALE)
            p = np.where(has_pre, np.maximum(pre_given, 0), pre_est)
            total[idx], fully[idx], over[idx], pre[idx] = tot, ful, ovr, p
            for j, i in enumerate(idx):
                if bad[j]:
                    self.alone[i] = True
                elif not has_pre[j] and clb[j]:
                    head_warn[i] = "SUMMARY_PRE_SELF_PAY"
        line_warn: dict[int, list[str]] = {}
        if self.items is not None:
            self._lines(ctx_id, contexts, total, fully, over, pre, head_warn, line_warn)
        self._ctx_illus = np.array(
            [
                ctx_id[i] >= 0
                and (contexts[ctx_id[i]].settings_illus or (bool(has_lines[i]) and contexts[ctx_id[i]].dl_illus))
                for i in range(n)
            ],
            dtype=bool,
        )
        for i in range(n):
            if head_warn[i]:
                line_warn.setdefault(i, [])
                line_warn[i].insert(0, head_warn[i])
        in_scope = total - fully - over - pre
        return total, fully, over, pre, in_scope, line_warn

    def _context(self, place: str, on: date) -> Any:
        pack = self.rules.packs.get(place)
        catalogue = pack.catalogue if pack else None
        if catalogue is None:
            return None
        section = next((s for s in catalogue.settings if s.in_force(on)), None)
        if section is None:
            return None
        drug = ratio_units(section.pre_self_pay.drug)
        if drug is None:
            return None
        index = self.rules.drugs(catalogue.drug_list)
        dl = index.drug_list
        out_of_date = on < dl.effective or (dl.until is not None and on > dl.until)
        cited = [catalogue.sources.get(i) for i in section.source_ids]
        illus = any(s is not None and s.confidence == "illustrative" for s in cited)
        ctx = _Ctx(
            catalogue_index(self.rules.cache, catalogue, section, index),
            drug,
            illus,
            dl.source.confidence == "illustrative",
        )
        return ctx, id(section), out_of_date

    def _lines(self, ctx_id, contexts, total, fully, over, pre, head_warn, line_warn) -> None:  # type: ignore[no-untyped-def]
        """Split every item line by its catalogue: each distinct item and each distinct number once."""
        from medins import batch as B
        from medins.case_model import Item

        items = self.items
        assert items is not None
        icol = {name: f"c{i}" for name, i in self.item_cols.index.items()}

        def ic(name: str) -> pl.Series:
            return items[icol[name]] if name in icol else pl.Series([""] * items.height)

        nb = self.line_bill
        m = items.height
        # numbers: parsed once per distinct text
        q_code, q_text = _codes(ic("quantity"))
        q_text = [x or "1" for x in q_text]
        q = _scaled(q_text, _QUANTITY, 4)[q_code]
        p_code, p_text = _codes(ic("unit_price"))
        p = _scaled(p_text, _PRICE, 4)[p_code]
        has_p = np.array([bool(x) for x in p_text], dtype=bool)[p_code]
        a_code, a_text = _codes(ic("amount"))
        a = _fen_list(a_text, strict=True)[a_code]
        has_a = np.array([bool(x) for x in a_text], dtype=bool)[a_code]
        bad = (q <= 0) | (has_p & (p < 0)) | (has_a & (a < 0)) | (~has_p & ~has_a)
        qp = np.where(has_p & ~bad, q * np.maximum(p, 0), 0)  # 10^-8 yuan: < 10^18 by the patterns
        amount = np.where(has_a, a, half_up(qp, 10**6))
        bad |= has_p & has_a & (np.abs(qp - a * 10**6) > 10**6)
        # each distinct item, looked up once in each catalogue
        ctx_line = ctx_id[nb]
        key = pl.select(
            pl.concat_str(
            [
                pl.Series(ctx_line).cast(pl.String),
                *[ic(c) for c in ("code", "name", "dosage_form", "spec", "kind", "restriction_met")],
            ],
            separator="\x00",
        )
        ).to_series()
        k_code, k_text = _codes(key)
        resolved = []
        for text in k_text:
            c, code, name, form, spec, kind, restr = text.split("\x00")
            if int(c) < 0:
                resolved.append(False)
                continue
            resolved.append(
                self._resolve(
                    contexts[int(c)],
                    code,
                    name,
                    form,
                    spec,
                    B.norm_choice("kind", kind) if kind else None,
                    B.norm_bool(restr) if restr else None,
                    Item,
                )
            )
        table = np.array([r if r is not False else (-1, 0, -1, False, False, False, False) for r in resolved], dtype=np.int64)
        per = table[k_code]
        line_class, line_pre, ceiling = per[:, 0], per[:, 1], per[:, 2]
        restricted, note, met, not_met = per[:, 3] > 0, per[:, 4] > 0, per[:, 5] > 0, per[:, 6] > 0
        bad |= line_class < 0
        bad |= self.alone[nb]
        bad_bill = np.zeros(self.n, dtype=bool)
        np.logical_or.at(bad_bill, nb, bad)
        full = (line_class <= 1) | (restricted & not_met)
        has_ceiling = ceiling >= 0
        with_p = ~full & has_ceiling & has_p & (p > ceiling)
        over_line = np.where(with_p, np.minimum(amount, half_up(np.maximum(p - ceiling, 0) * q, 10**6)), 0)
        # a ceiling without a unit price: the unit is amount / quantity, in Decimal as the engine does
        from medins.money import fen

        for j in np.nonzero(~full & has_ceiling & ~has_p & ~bad)[0]:
            qty = Decimal(q_text[q_code[j]])
            amt = Decimal(int(amount[j])) / 100
            unit = amt / qty
            c = Decimal(int(ceiling[j])) / 10**4
            if unit > c:
                over_line[j] = min(int(amount[j]), int(fen((unit - c) * qty) * 100))
        pre_line = np.where(~full & (line_class == 3), half_up((amount - over_line) * line_pre, SCALE), 0)
        fully_line = np.where(full, amount, 0)
        ok = ~bad_bill[nb]
        np.add.at(total, nb[ok], amount[ok])
        np.add.at(fully, nb[ok], fully_line[ok])
        np.add.at(over, nb[ok], over_line[ok])
        np.add.at(pre, nb[ok], pre_line[ok])
        self.alone |= bad_bill
        # warnings, in the order the lines raise them (lines_of keeps file order)
        w1 = np.where(
            line_class == 0,
            1,
            np.where((line_class > 1) & restricted & not_met, 2, np.where((line_class > 1) & restricted & ~met & ~not_met, 3, 0)),
        )
        w2 = ~full & ~has_ceiling & note
        codes = ("", "ITEM_NOT_IN_CATALOGUE", "RESTRICTION_NOT_MET", "RESTRICTION_ASSUMED_MET")
        for j in np.nonzero(ok & ((w1 > 0) | w2))[0]:
            lst = line_warn.setdefault(int(nb[j]), [])
            if w1[j]:
                lst.append(codes[w1[j]])
            if w2[j]:
                lst.append("CEILING_SPEC_UNKNOWN")
        for i in np.nonzero(~self.alone & (ctx_id >= 0))[0]:
            if self.out_of_date[i] and len(self.lines_of[i]):
                head_warn[i] = "DRUG_LIST_OUT_OF_DATE"

    def _resolve(self, ctx: Any, code: str, name: str, form: str, spec: str, kind: Any, restr: Any, Item: Any) -> Any:
        """``(class, pre-self-pay ratio, ceiling, restricted, ceiling note, met, not met)`` of an item; False
        when the case model refuses the item or its values are not exact in the arrays' units."""
        if restr is not None and not isinstance(restr, bool):
            return False
        if kind is not None and kind not in ("drug", "service", "consumable"):
            return False
        try:
            item = Item.model_validate(
                {k: v for k, v in (("code", code), ("name", name), ("dosage_form", form), ("spec", spec), ("kind", kind)) if v}
                | {"unit_price": "1"}
            )
            r = resolve_item(item, ctx.index, "items[0]")
        except MedinsError:
            return False
        except Exception:
            return False
        met, not_met = restr is True, restr is False
        if r is None:
            return (0, 0, -1, False, False, met, not_met)
        cls = {"C": 1, "A": 2, "B": 3}.get(r.item_class)
        if cls is None:
            return False
        ratio = ratio_units(r.pre_ratio) if cls == 3 else 0
        if ratio is None:
            return False
        ceiling = -1
        if r.ceiling is not None:
            scaled = r.ceiling * 10**4
            if scaled != scaled.to_integral_value() or scaled >= 2**32:
                return False
            ceiling = int(scaled)
        return (cls, ratio, ceiling, bool(r.restriction), r.ceiling_note is not None, met, not_met)

    def _eligibility(self, T, combo_info, combo_of, service, settle_day, insured, treated, visit_type, scheme):  # type: ignore[no-untyped-def]
        """Eligibility per bill: once per distinct fields and sections in force, then the filing's dates."""
        from medins.engine.eligibility import validity_end

        n, rules = self.n, self.rules
        statics: dict[tuple, Any] = {}
        static_of: list[Any] = [None] * n
        d_start = _days(T["filing_start"])
        d_filed = _days(T["filing_filed_on"])
        d_end = _days(T["filing_end"])
        for i in range(n):
            if self.alone[i]:
                continue
            info = combo_info[combo_of[i]]
            on = date.fromordinal(int(service[i]))
            std = rules.standards(insured[i])
            offsite = next((s for s in std.offsite if s.in_force(on)), None)
            filing_rules = next((s for s in std.filing if s.in_force(on)), None)
            if offsite is None or filing_rules is None:
                self.alone[i] = True
                continue
            f = info["filing"]
            has_start = bool(d_start[i] or d_filed[i])
            k = (combo_of[i], id(offsite), id(filing_rules), has_start)
            s = statics.get(k)
            if s is None:
                place = insured[i] if regions.city(treated[i]) == regions.city(insured[i]) else treated[i]
                pack = rules.packs.get(place)
                try:
                    s = static_eligibility(
                        std,
                        pack.catalogue if pack else None,
                        offsite,
                        filing_rules,
                        insured[i],
                        scheme[i],
                        info["chronic"],
                        None if f is None else (*f, has_start),
                        treated[i],
                        info["hospital"],
                        info["level"],
                        info["visit_type"],
                        info["disease"],
                        on,
                    )
                except (MedinsError, KeyError):
                    s = None
                statics[k] = s
            if s is None:
                self.alone[i] = True
            static_of[i] = s
        # the filing's dates
        eligible = np.zeros(n, dtype=bool)
        category: list[str] = [""] * n
        adjustment: list[Any] = [None] * n
        place_of: list[str] = [""] * n
        illus = np.zeros(n, dtype=bool)
        ends: dict[tuple[int, int], int] = {}
        for i in range(n):
            s = static_of[i]
            if s is None:
                continue
            fail = s.filing_static_fail or (s.place != "local" and not s.has_filing)
            if s.date_checks:
                start = int(d_start[i] or d_filed[i])
                until = int(d_end[i])
                if not until and s.validity_months is not None:
                    kk = (start, s.validity_months)
                    until = ends.get(kk, 0)
                    if not until:
                        until = ends[kk] = validity_end(date.fromordinal(start), s.validity_months).toordinal()
                sd = int(service[i])
                if sd < start and not (s.retroactive and start <= int(settle_day[i])):
                    fail = True
                if until and sd > until:
                    fail = True
            if s.place == "local":
                fail = False
            deemed = s.deemed_category is not None and (not s.has_filing or fail)
            eligible[i] = not s.other_blocking and not (fail and not deemed)
            if s.place == "local":
                cat, adj = "local", _LOCAL
            elif deemed:
                cat, adj = s.deemed_category, s.deemed_adjustment
            else:
                cat = "unfiled" if (not s.has_filing or fail) else s.category
                adj = s.unfiled_adjustment if cat == "unfiled" else s.filed_adjustment
            if adj is None:
                self.alone[i] = True
                continue
            category[i], adjustment[i], place_of[i] = cat, adj, s.place
            illus[i] = s.illustrative or (deemed and s.deemed_illustrative)
        return {
            "static": static_of,
            "eligible": eligible,
            "settlement": ["direct" if e else "reimburse_at_home" for e in eligible],
            "benefit_category": category,
            "adjustment": adjustment,
            "place": place_of,
            "illustrative": illus,
        }

    def _cells(self, elig, combo_info, combo_of, service, insured, scheme, visit_type):  # type: ignore[no-untyped-def]
        n, rules = self.n, self.rules
        cells: list[Cell] = [NO_CELL]
        cell_ids: dict[tuple, int] = {}
        cell_of = np.zeros(n, dtype=np.int64)
        visit_code = np.full(n, OUT, dtype=np.int64)
        slot_disease: list[str] = [""] * n
        sections: dict[tuple[str, int], tuple] = {}
        for i in range(n):
            if self.alone[i]:
                continue
            s = elig["static"][i]
            info = combo_info[combo_of[i]]
            vt = info["visit_type"]
            if vt == "chronic_outpatient" and not s.chronic_ok:
                vt = "outpatient"
            visit_code[i] = VISIT_CODES[vt]
            disease = info["disease"] if vt == "chronic_outpatient" else None
            slot_disease[i] = disease or ""
            day = int(service[i])
            sk = (insured[i], day)
            sec = sections.get(sk)
            if sec is None:
                std = rules.standards(insured[i])
                on = date.fromordinal(day)
                sec = sections[sk] = tuple(
                    next((id(s) for s in group if s.in_force(on)), None)
                    for group in _dated_groups(std)
                )
            adj = elig["adjustment"][i]
            k = (
                insured[i],
                scheme[i],
                sec,
                info["group"],
                s.matched_level,
                vt,
                disease,
                id(adj),
                s.cross,
                elig["benefit_category"][i],
                info["assistance"],
            )
            c = cell_ids.get(k)
            if c is None:
                c = cell_ids[k] = len(cells)
                cells.append(
                    resolve_cell(
                        rules,
                        insured[i],
                        scheme[i],
                        info["group"],
                        s.matched_level,
                        vt,
                        disease,
                        adj,
                        s.cross,
                        elig["benefit_category"][i],
                        info["assistance"],
                        date.fromordinal(day),
                    )
                )
            cell_of[i] = c
        return cells, cell_of, visit_code, slot_disease

    def _row(self, i, T, with_name, visit_type, total, fully, over, pre, in_scope, results, elig, g, line_warn, kind, service):  # type: ignore[no-untyped-def]
        basic, t2, assist = results["basic"][i], results["tier2"][i], results["assist"][i]
        fund = basic + t2 + assist
        eligible = bool(elig["eligible"][i])
        deferred: list[str] = []
        warnings = list(line_warn.get(i, ()))
        s = elig["static"][i]
        if visit_type[i] == "chronic_outpatient" and not s.chronic_ok:
            warnings.append("CHRONIC_AS_OUTPATIENT")
        later = 0
        if not eligible:
            deferred = ["basic", "tier2", "medical_assistance"]
            warnings.append("REIMBURSE_AT_HOME")
            later = fund
        elif g["assist"][i] and not g["assist_direct"][i] and assist > 0:
            deferred = ["medical_assistance"]
            warnings.append("ASSISTANCE_AT_HOME")
            later = assist
        if g["illustrative"][i] or elig["illustrative"][i] or self._ctx_illus[i]:
            warnings.append("ILLUSTRATIVE_VALUES")
        tot = int(total[i])
        ratio = "0.0000" if not tot else _ratio4(int(fund), tot)
        head = [T["bill_id"][i], T["person_id"][i]]
        if with_name:
            head.append(T["person_name"][i])
        row = [
            *head,
            T["insured_region"][i],
            T["visit_region"][i],
            visit_type[i],
            date.fromordinal(int(service[i])).isoformat(),
            *[
                _show(int(x))
                for x in (
                    tot,
                    fully[i],
                    over[i],
                    pre[i],
                    results["offsite"][i],
                    in_scope[i],
                    results["deductible"][i],
                    basic,
                    t2 if kind[i] else 0,
                    0 if kind[i] else t2,
                    assist,
                    fund,
                    results["personal"][i],
                    results["personal"][i] + later,
                )
            ],
            ratio,
            "true" if eligible else "false",
            elig["settlement"][i],
            elig["benefit_category"][i],
            ";".join(deferred),
            ";".join(dict.fromkeys(warnings)),
        ]
        return row, eligible

    # -- year-to-date state as the case file's JSON
    def _state_json(self, state: State, k: int, first: bool = False) -> str | None:
        if state.year[k] < 0 and not self.chronic_order.get(k) and not getattr(self, "_loaded", {}).get(k):
            return None
        parts = [f'"year":{int(state.year[k]) if state.year[k] >= 0 else "null"}', f'"admissions":{int(state.admissions[k])}']

        def accum(s: int) -> str:
            return "{" + ",".join(
                f'"{f}":"{decimal_text(int(state.s[f][s]), int(state.se[f][s]))}"' for f in State.SLOT_FIELDS
            ) + "}"

        parts.append(f'"inpatient":{accum(2 * k)}')
        parts.append(f'"outpatient":{accum(2 * k + 1)}')
        chronic = ",".join(
            f"{json.dumps(d, ensure_ascii=False)}:{accum(self.chronic_slots[(k, d)])}" for d in self.chronic_order.get(k, [])
        )
        parts.append('"chronic":{' + chronic + "}")
        for f in State.KEY_FIELDS:
            parts.append(f'"{f}":"{decimal_text(int(state.k[f][k]), int(state.ke[f][k]))}"')
        return "{" + ",".join(parts) + "}"

    def _load_state(self, state: State, k: int, kt: Any, ytd_json: str) -> bool:
        ytd = YearToDate.model_validate_json(ytd_json)
        if ytd.year is not None and ytd.year != kt[3]:
            return False
        if not self._store(state, k, ytd):
            return False
        if ytd.year is None:
            state.year[k] = -1
        self.__dict__.setdefault("_loaded", {})[k] = True
        return True

    def _store(self, state: State, k: int, ytd: YearToDate) -> bool:
        """Put a year-to-date record into the arrays; False when they cannot hold it exactly."""
        if ytd.assistance_stage_base or ytd.assistance_stage_fund:
            return False
        values: list[tuple[dict, dict, str, int, Decimal]] = []
        for f in State.KEY_FIELDS:
            values.append((state.k, state.ke, f, k, getattr(ytd, f)))
        slots = [(2 * k, ytd.inpatient), (2 * k + 1, ytd.outpatient)]
        for d, acc in ytd.chronic.items():
            s = self.chronic_slots.get((k, d))
            if s is None:
                return False
            slots.append((s, acc))
        for s, acc in slots:
            for f in State.SLOT_FIELDS:
                values.append((state.s, state.se, f, s, getattr(acc, f)))
        converted = []
        for arrays, exps, f, at, value in values:
            u = fen_units(value)
            if u is None:
                return False
            converted.append((arrays, exps, f, at, u))
        for arrays, exps, f, at, (v, e) in converted:
            arrays[f][at], exps[f][at] = v, e
        state.admissions[k] = ytd.admissions
        state.year[k] = ytd.year if ytd.year is not None else -1
        self.chronic_order[k] = list(ytd.chronic)
        return True

    def _note_chronic(self, done: np.ndarray, key: np.ndarray, visit: np.ndarray, disease: list[str]) -> None:
        for i in done[visit[done] == CHRONIC]:
            order = self.chronic_order.setdefault(int(key[i]), [])
            if disease[i] not in order:
                order.append(disease[i])


OUT = 1  # outpatient, for bills the arrays leave aside


@dataclass
class _Ctx:
    index: Any
    drug_ratio: int
    settings_illus: bool
    dl_illus: bool


class _Local:
    mode = "none"
    value = Decimal(0)
    visit_types = ("inpatient", "outpatient", "chronic_outpatient")


_LOCAL = _Local()


def _dated_groups(std: Any) -> list[list[Any]]:
    out = [std.offsite, std.filing, std.assistance]
    for name in ("employee", "resident"):
        part = getattr(std, name)
        if part is not None:
            out += [part.inpatient, part.outpatient, part.chronic, part.tier2]
    return out


def _mapped(values: list[str], fn: Callable[[str], str]) -> list[str]:
    memo: dict[str, str] = {}
    out = []
    for v in values:
        r = memo.get(v)
        if r is None:
            r = memo[v] = fn(v)
        out.append(r)
    return out


def _days(values: list[str]) -> np.ndarray:
    from medins.batch import day_number

    memo: dict[str, int] = {"": 0}
    out = np.zeros(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        d = memo.get(v)
        if d is None:
            d = memo[v] = day_number(v)
        out[i] = d
    return out


_AMOUNT_RE = re.compile(r"\d{1,8}(?:\.\d{1,2})?")


def _fen_list(values: list[str], strict: bool = False) -> np.ndarray:
    """Amount text in fen; -1 for text the arrays leave to the case model (empty is 0 unless ``strict``)."""
    out = np.zeros(len(values), dtype=np.int64)
    memo: dict[str, int] = {}
    for i, v in enumerate(values):
        r = memo.get(v)
        if r is None:
            if not v:
                r = -1 if strict else 0
            elif _AMOUNT_RE.fullmatch(v):
                whole, _, frac = v.partition(".")
                r = int(whole) * 100 + int((frac + "00")[:2])
            else:
                r = -1
            memo[v] = r
        out[i] = r
    return out


def _scaled(values: list[str], pattern: str, places: int) -> np.ndarray:
    """Decimal text as an integer in 10^-places; -1 where it does not match ``pattern``."""
    rx = re.compile(pattern)
    out = np.zeros(len(values), dtype=np.int64)
    memo: dict[str, int] = {}
    for i, v in enumerate(values):
        r = memo.get(v)
        if r is None:
            if v and rx.fullmatch(v):
                whole, _, frac = v.partition(".")
                r = int(whole) * 10**places + int((frac + "0" * places)[:places])
            else:
                r = -1
            memo[v] = r
        out[i] = r
    return out


def _codes(s: pl.Series) -> tuple[np.ndarray, list[str]]:
    """Each value's number among the distinct values, and those values (in first-seen order)."""
    u = s.unique(maintain_order=True)
    m = pl.DataFrame({"v": u, "id": np.arange(len(u), dtype=np.int64)})
    ids = pl.DataFrame({"v": s}).join(m, on="v", how="left", maintain_order="left")["id"].to_numpy()
    return ids, u.to_list()


def _show(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _dec(fen: Any) -> Decimal:
    v = int(fen)
    return Decimal(f"{v // 100}.{v % 100:02d}")


def _ratio4(part: int, whole: int) -> str:
    q = (part * 10**4 * 2 + whole) // (2 * whole)
    return f"{q // 10**4}.{q % 10**4:04d}"


def _reordered(key: np.ndarray, day: np.ndarray) -> int:
    """Keys whose bills are not in service-date order in the file."""
    n = len(key)
    if n < 2:
        return 0
    order = np.lexsort((np.arange(n), day, key))
    k = key[order]
    same = k[1:] == k[:-1]
    back = same & (order[1:] < order[:-1])
    return len(np.unique(k[1:][back]))
