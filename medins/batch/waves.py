"""Settle one partition: the checks that need a person's bills together, then eligibility, rule cells
and the tiers in waves (:mod:`medins.engine.population`), OUT rows and sums.
:func:`settle_table` is one partition as a table, the function a distributed engine maps over
partitions of persons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medins import procs
from medins.batch.carry import _Carry
from medins.batch.eligibility import _Eligibility
from medins.batch.lines import NEVER, WARNING_CODES, FileLines, FrameLines, ItemLines, LinePass, LineView, Shared
from medins.batch.options import Outcome
from medins.batch.partition import Parts, Spill
from medins.batch.read import _AMOUNT, PY_SPACE, NotRegular, _codes, _first_day, _groups, _units, _years
from medins.batch.write import LINE_SLICE, OUT_STEP, _Rows, _spill_output
from medins.engine.columns import LIMIT, SCALE, half_up
from medins.engine.eligibility import visit_place
from medins.engine.population import (
    CHRONIC,
    NO_CELL,
    OUTPATIENT,
    VISIT_CODES,
    Cell,
    apply_wave,
    gather_cells,
    resolve_cell,
    settle_wave,
    waves,
)
from medins.errors import SettlementBug
from medins.loader import RuleSet


@dataclass
class Prepared:
    """One partition's bills, checked, with their year-to-date keys and days."""

    S: dict[str, pl.Series]
    key: np.ndarray
    key_tuples: list[Any]
    service: np.ndarray
    settle_day: np.ndarray
    years: np.ndarray
    scheme: np.ndarray
    day_of: dict[str, np.ndarray]


def _prepare(bills: pl.DataFrame, cols: Any, ytd_in: dict[Any, tuple[int, str, str]]) -> Prepared | None:
    """The checks that need a person's bills together, and each bill's year-to-date key and days."""
    from medins.batch.schema import BILL_COLUMNS, DATE_COLUMNS
    from medins.batch.values import day_number, norm_choice

    n = bills.height
    empty = pl.Series([""] * n, dtype=pl.String)
    S = {c: bills[f"c{cols.index[c]}"] if c in cols.index else empty for c in BILL_COLUMNS}
    if "person_name" in cols.index:
        named = pl.DataFrame({"p": S["person_id"], "name": S["person_name"]}).filter(pl.col("name") != "")
        if named.height and named.group_by("p").agg(pl.col("name").n_unique().alias("k"))["k"].max() > 1:  # type: ignore[operator]
            return None
    day_of: dict[str, np.ndarray] = {}
    for c in DATE_COLUMNS:
        codes, texts = _codes(S[c])
        day_of[c] = np.array([day_number(v) if v else 0 for v in texts], dtype=np.int64)[codes]
    service = _first_day(day_of["admitted"], day_of["date"], day_of["discharged"])
    settle_day = _first_day(day_of["discharged"], day_of["date"], day_of["admitted"])
    years = _years(service)
    s_codes, s_texts = _codes(S["scheme"])
    scheme = np.array([norm_choice("scheme", x) for x in s_texts], dtype=object)[s_codes]
    key_text = pl.select(
        pl.concat_str(
            [
                S["person_id"],
                S["insured_region"],
                pl.Series(scheme.tolist(), dtype=pl.String),
                pl.Series(years).cast(pl.String),
            ],
            separator="\x00",
        )
    ).to_series()
    key, key_texts = _codes(key_text)
    key_tuples = [(a, b, c, int(d)) for a, b, c, d in (t.split("\x00") for t in key_texts)]
    if ytd_in:
        earliest = np.full(len(key_tuples), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(earliest, key, np.where(service > 0, service, np.iinfo(np.int64).max))
        for k, kt in enumerate(key_tuples):
            entry = ytd_in.get(kt)
            if entry is not None and earliest[k] < entry[0]:
                return None
    return Prepared(S, key, key_tuples, service, settle_day, years, scheme, day_of)


def _table(values: list[Any], codes: np.ndarray, dtype: Any = object) -> np.ndarray:
    return np.array(values, dtype=dtype)[codes]


class _Coded(dict):  # type: ignore[type-arg]
    """A partition's columns as :func:`_codes` gives them (``part`` 0: each bill's code, 1: the
    distinct values), each column's computed when first asked for: most runs never ask for some
    (the bill ids, the dates), whose codes would cost the most."""

    def __init__(self, S: dict[str, pl.Series], part: int, coded: dict[str, tuple[np.ndarray, list[str]]]) -> None:
        super().__init__()
        self.S, self.part, self.coded = S, part, coded

    def __missing__(self, c: str) -> Any:
        if c not in self.coded:
            self.coded[c] = _codes(self.S[c])
        value = self[c] = self.coded[c][self.part]
        return value


class _Run(_Eligibility, _Carry, _Rows):
    """One partition settled: the steps of :meth:`settle` in the policy's order; the eligibility
    columns, the year-to-date state and the OUT rows in mixins of their own modules."""

    def __init__(
        self,
        bills: pl.DataFrame,
        S: dict[str, pl.Series],
        bill_cols: Any,
        items: ItemLines | None,
        item_cols: Any,
        settler: Any,
        rules: RuleSet,
        shared: Shared,
        lines: LineView | None,
    ) -> None:
        """``items`` gives the item lines of a bill settled one at a time."""
        self.shared = shared
        self.S, self.bill_cols, self.item_cols = S, bill_cols, item_cols
        self.settler, self.rules = settler, rules
        self.n = n = bills.height
        self.row = bills["_row"].to_numpy()  # each bill's record number in BILLS (0 the first after the header)
        self.shown = self.row  # the record numbers messages name (a partition's own when it is a file's part)
        self.bills = bills.select([c for c in bills.columns if c != "_row"])
        self.items = items
        self.lines = lines
        self.line_of = lines.take(self.row) if lines is not None else None
        self.alone = np.zeros(n, dtype=bool)
        coded: dict[str, tuple[np.ndarray, list[str]]] = {}
        self.code: dict[str, np.ndarray] = _Coded(S, 0, coded)
        self.uniq: dict[str, list[str]] = _Coded(S, 1, coded)

    # -- one bill by the case model and the per-bill engine
    def one(self, i: int, ytd_json: str | None) -> tuple[Any, ...]:
        values = list(self.bills.row(i))
        rows: list[tuple[int, list[str]]] = []
        count = int(self.line_of["count"][i]) if self.line_of is not None else 0
        if count:
            if self.items is None:
                raise SettlementBug("a bill's item lines are missing from its partition")
            rows = self.items.of(int(self.row[i]))
            if len(rows) != count:
                raise SettlementBug(
                    f"bill row {int(self.row[i]) + 2}: {len(rows)} item lines read back, {count} counted"
                )
        return self.settler._one(int(self.shown[i]) + 2, values, rows, ytd_json)

    def settle(
        self, prepared: Prepared, ytd_in: dict[Any, tuple[int, str, str]], want_state: bool
    ) -> tuple[pl.DataFrame, Outcome]:
        """Settle the partition: its OUT rows (with ``_row``, the BILLS record number) and its outcome."""
        from medins.batch.values import norm_choice

        key, key_tuples, service, settle_day = prepared.key, prepared.key_tuples, prepared.service, prepared.settle_day
        years, scheme, day_of = prepared.years, prepared.scheme, prepared.day_of
        n, settler = self.n, self.settler
        line_count = self.line_of["count"] if self.line_of is not None else np.zeros(n, dtype=np.int64)
        has_lines = line_count > 0
        C, U = self.code, self.uniq
        insured = _table(U["insured_region"], C["insured_region"])
        treated = _table(U["visit_region"], C["visit_region"])
        visit_type = _table([norm_choice("visit_type", x) for x in U["visit_type"]], C["visit_type"])

        # -- the fields of each bill, checked by the case model once per distinct value of each part
        combo_info, combo_of = self._check_fields(day_of, has_lines)
        d = day_of
        self.alone |= (d["filing_end"] > 0) & (d["filing_start"] > 0) & (d["filing_end"] < d["filing_start"])
        both = (d["admitted"] > 0) & (d["discharged"] > 0)
        self.alone |= both & ((d["discharged"] < d["admitted"]) | (d["discharged"] - d["admitted"] > 366))

        # -- where the visit is, seen from the insured place
        pair, pair_first = _groups(C["insured_region"], C["visit_region"])
        places = [visit_place(insured[i], treated[i]) for i in pair_first]
        place = _table(places, pair)

        # -- lines and bill parts
        total, fully, over, pre, line_warn, ctx_illus = self._parts(has_lines)
        in_scope = total - fully - over - pre

        # -- the dated sections of each insured place's standards in force on each bill's day
        sig_of, in_force = self._sections(insured, service)

        # -- eligibility, then cells
        elig = self._eligibility(combo_info, combo_of, service, settle_day, place, scheme, d, sig_of, in_force)
        cells, cell_of, visit_code, disease_of = self._cells(elig, combo_info, combo_of, service, scheme, sig_of)
        g = gather_cells(cells, cell_of)
        self.alone |= ~np.array([c.ok for c in cells], dtype=bool)[cell_of]
        self.alone |= total > LIMIT

        # -- year-to-date state, then the waves
        state, slot = self._state(key, key_tuples, visit_code, disease_of, ytd_in)
        amounts = {"total": total, "pre": pre, "in_scope": in_scope}
        results, vector_done, from_one, last_bill, one_day = self._in_waves(
            g, key, service, years, slot, visit_code, disease_of, amounts, state
        )
        # -- the identities of domain §4.5, over the arrays
        v = vector_done
        fund = results["basic"] + results["tier2"] + results["assist"]
        if (
            (total[v] != fund[v] + results["personal"][v]).any()
            or (results["personal"][v] < 0).any()
            or (results["basic"][v] > (in_scope - results["offsite"])[v]).any()
            or (in_scope[v] < 0).any()
        ):
            raise SettlementBug("a bill settled over columns does not reconcile")

        # -- OUT rows in input order: the arrays' rows and the per-bill engine's, merged by row
        elig["reason_codes"], elig["reason_words"] = self._reason_columns(elig, service, settle_day, vector_done)
        frame = self._rows(
            v, visit_type, service, total, fully, over, pre, in_scope, results, elig, g, line_warn, ctx_illus
        )
        rejects: list[Any] = []
        singles: list[list[str]] = []
        single_rows: list[int] = []
        for i in sorted(from_one):
            res = from_one[i]
            if res[0] is None:
                rejects.extend(res[1])
            else:
                singles.append(res[0])
                single_rows.append(i)
        if singles:
            extra = (
                pl.DataFrame(singles, schema=frame.columns[1:], orient="row")
                .with_columns(pl.Series("_row", self.row[single_rows], dtype=pl.Int64))
                .select(frame.columns)
            )
            frame = pl.concat([frame, extra]).sort("_row")
        accepted = frame.height
        items_ok = int(line_count[v].sum()) + sum(int(line_count[i]) for i in single_rows)
        # -- aggregates: the per-bill engine added its bills to settler.agg; the arrays add theirs
        self._aggregate(settler.agg, v, visit_type, insured, treated, settle_day, total, results, elig, g)
        finals: list[tuple[Any, str, str]] = []
        if want_state:
            keys = np.nonzero(last_bill >= 0)[0]
            texts = self._states_json(state, keys)
            for k, text in zip(keys.tolist(), texts, strict=True):
                i = int(last_bill[k])
                day = one_day.get(i) or date.fromordinal(int(service[i])).isoformat()
                ytd = self.key_alone.get(k, text)
                finals.append((key_tuples[k], day, ytd))
        accepted_mask = vector_done.copy()
        for i, res in from_one.items():
            accepted_mask[i] = res[0] is not None
        persons = self.code["person_id"]
        return frame, Outcome(
            settler.agg,
            finals,
            self.n,
            int(line_count.sum()),
            accepted,
            items_ok,
            len(self.uniq["person_id"]),
            len(np.unique(persons[accepted_mask])),
            _reordered(key, service),
            rejects,
        )

    def _sections(self, insured: np.ndarray, service: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, list[Any]]]:
        """Each bill's signature of dated sections in force (offsite, filing, assistance, and each
        scheme's benefits, chronic and tier 2), numbered the same across partitions; and, for
        eligibility, each bill's insured place and day group with what :meth:`_dated` gives per group."""
        grp, first = _groups(self.code["insured_region"], service)
        dated = [self._dated(insured[i], int(service[i])) for i in first.tolist()]
        return np.array([sig for sig, _, _ in dated], dtype=np.int64)[grp], (grp, dated)

    def _dated(self, region: str, day: int) -> tuple[int, Any, Any]:
        """The number of the signature of ``region``'s dated sections in force on ``day``, and its
        offsite and filing sections then; found once in the run for each place and day (the days of
        a year recur in every partition). Without standards: 0 and None (the per-bill engine refuses
        such a bill, and says why)."""
        got = self.shared.dated.get((region, day))
        if got is None:
            pack = self.rules.packs.get(region)
            if pack is None or pack.standards is None:
                got = (0, None, None)
            else:
                on = date.fromordinal(day)
                found = [next((x for x in group if x.in_force(on)), None) for group in _dated_groups(pack.standards)]
                sig = tuple(None if x is None else id(x) for x in found)
                got = (self.shared.sigs.setdefault(sig, len(self.shared.sigs)), found[0], found[1])
            self.shared.dated[(region, day)] = got
        return got

    def _in_waves(self, g, key, service, years, slot, visit_code, disease_of, amounts, state):  # type: ignore[no-untyped-def]
        """Settle wave after wave: the arrays' bills together, then the wave's bills left to the per-bill
        engine, each from the year-to-date amounts the arrays carried to it."""
        n, nkeys = self.n, len(state.admissions)
        results = {
            f: np.zeros(n, dtype=np.int64) for f in ("offsite", "deductible", "basic", "tier2", "assist", "personal")
        }
        vector_done = np.zeros(n, dtype=bool)
        from_one: dict[int, tuple[Any, ...]] = {}
        last_bill = np.full(nkeys, -1, dtype=np.int64)
        one_day: dict[int, str] = {}
        alone_key = np.zeros(nkeys, dtype=bool)
        for k in self.key_alone:
            alone_key[k] = True
        for w in waves(key, service):
            alone_w = self.alone[w] | alone_key[key[w]]
            vec = w[~alone_w]
            late = w[alone_w]
            if len(vec):
                r = settle_wave(g, vec, slot, key, visit_code, amounts, state)
                over_ceiling = apply_wave(state, vec, slot, key, visit_code, years, r)
                ok = ~over_ceiling
                done = vec[ok]
                self._note_chronic(done, key, visit_code, disease_of)
                for f in results:
                    results[f][done] = getattr(r, f)[ok]
                vector_done[done] = True
                last_bill[key[done]] = done
                late = np.concatenate([late, vec[over_ceiling]])
            for i in late.tolist():
                k = int(key[i])
                ytd_json = self.key_alone[k] if k in self.key_alone else self._state_json(state, k)
                res = self.one(i, ytd_json)
                from_one[i] = res
                out, _rejects, ytd_after, day = res
                if out is not None:
                    last_bill[k] = i
                    one_day[i] = day
                    if k in self.key_alone or not self._store(state, k, ytd_after):
                        self.key_alone[k] = ytd_after.model_dump_json()
                        alone_key[k] = True
        if not (vector_done | np.isin(np.arange(n), list(from_one))).all():
            raise SettlementBug("a bill was neither settled nor rejected")
        return results, vector_done, from_one, last_bill, one_day

    # -- pieces
    PERSON = ("insured_region", "scheme", "status", "assistance", "chronic_diseases")
    FILING = (
        "filing_category",
        "filing_destination",
        "filing_materials",
        "filing_start",
        "filing_end",
        "filing_filed_on",
    )
    VISIT = ("visit_region", "hospital_level", "hospital", "visit_type", "disease", "admitted", "discharged", "date")

    def _parts(self, has_lines: np.ndarray):  # type: ignore[no-untyped-def]
        """Each bill's total and parts in fen (its lines' sums, or its summary amounts), the warnings its
        lines raise (in order), and whether its catalogue settings or drug list are illustrative."""
        from medins.batch.schema import SUMMARY_COLUMNS

        n = self.n
        L = self.line_of
        assert L is not None and self.lines is not None
        contexts = self.lines.contexts
        ctx_id = L["ctx"]
        self.alone |= ctx_id < 0
        self.alone |= has_lines & L["bad"]
        total = np.where(has_lines, L["total"], 0)
        fully = np.where(has_lines, L["fully"], 0)
        over = np.where(has_lines, L["over"], 0)
        pre = np.where(has_lines, L["pre"], 0)
        head_warn = np.zeros(n, dtype=np.int8)  # 1 DRUG_LIST_OUT_OF_DATE, 2 SUMMARY_PRE_SELF_PAY
        head_warn[has_lines & L["late"] & ~self.alone] = 1
        # summary bills
        summ = ~has_lines & ~self.alone
        if summ.any():
            idx = np.nonzero(summ)[0]
            f = {c: _units(self.uniq[c], _AMOUNT, 2, 0)[self.code[c][idx]] for c in SUMMARY_COLUMNS}
            given = {
                c: np.array([bool(x) for x in self.uniq[c]], dtype=bool)[self.code[c][idx]] for c in SUMMARY_COLUMNS
            }
            bad = np.zeros(len(idx), dtype=bool)
            for c in SUMMARY_COLUMNS:
                bad |= f[c] < 0
            tot, ful, ovr, clb = (np.maximum(f[c], 0) for c in ("total", "fully_self_paid", "over_ceiling", "class_b"))
            pre_given, has_pre, has_clb = np.maximum(f["pre_self_pay"], 0), given["pre_self_pay"], given["class_b"]
            fixed = ful + ovr
            bad |= fixed + clb > tot
            bad |= has_pre & (fixed + pre_given > tot)
            bad |= has_pre & has_clb & (pre_given > clb)
            drug = np.array([c[0] for c in contexts] + [0], dtype=np.int64)[ctx_id[idx]]
            p = np.where(has_pre, pre_given, half_up(clb * drug, SCALE))
            total[idx], fully[idx], over[idx], pre[idx] = tot, ful, ovr, p
            self.alone[idx[bad]] = True
            head_warn[idx[~bad & ~has_pre & (clb > 0)]] = 2
        # the lines' warnings by where each first appears
        line_warn: dict[int, list[str]] = {}
        first = L["first"]
        for i in np.nonzero((first < NEVER).any(axis=1) & has_lines)[0].tolist():
            seen = [(int(first[i, k]), WARNING_CODES[k]) for k in range(len(WARNING_CODES)) if first[i, k] < NEVER]
            line_warn[i] = [code for _, code in sorted(seen)]
        for i in np.nonzero(head_warn)[0].tolist():
            line_warn.setdefault(i, []).insert(0, ("", "DRUG_LIST_OUT_OF_DATE", "SUMMARY_PRE_SELF_PAY")[head_warn[i]])
        settings_illus = np.array([c[1] for c in contexts] + [False], dtype=bool)[ctx_id]
        dl_illus = np.array([c[2] for c in contexts] + [False], dtype=bool)[ctx_id]
        ctx_illus = (ctx_id >= 0) & (settings_illus | (has_lines & dl_illus))
        return total, fully, over, pre, line_warn, ctx_illus

    def _cells(self, elig, combo_info, combo_of, service, scheme, sig_of):  # type: ignore[no-untyped-def]
        """Each bill's rule cell, benefit visit type and (chronic) disease."""
        _n, rules, C = self.n, self.rules, self.code
        vt_u = [ci["visit_type"] if ci else "outpatient" for ci in combo_info]
        vt = np.array([VISIT_CODES[x] for x in vt_u], dtype=np.int64)[combo_of]
        # a chronic visit the insured place does not settle as such is a general outpatient visit
        vt = np.where((vt == CHRONIC) & ~elig["chronic_ok"], OUTPATIENT, vt)
        disease_u = [(ci["disease"] or "") if ci else "" for ci in combo_info]
        d_codes, d_names = _codes(pl.Series(disease_u, dtype=pl.String))
        disease = np.where(vt == CHRONIC, d_codes[combo_of], -1)
        group_u = [ci["group"] if ci else "" for ci in combo_info]
        assist_u = [ci["assistance"] or "" if ci else "" for ci in combo_info]
        gcodes, gnames = _codes(pl.Series(group_u, dtype=pl.String))
        acodes, anames = _codes(pl.Series(assist_u, dtype=pl.String))
        s_codes, _s_names = _codes(pl.Series(scheme.tolist(), dtype=pl.String))
        cgrp, cfirst = _groups(
            C["insured_region"],
            s_codes,
            sig_of,
            gcodes[combo_of],
            elig["matched"],
            vt,
            disease,
            elig["adjustment"],
            elig["cross"].astype(np.int64),
            elig["category"],
            acodes[combo_of],
            self.alone.astype(np.int64),
        )
        cells: list[Cell] = []
        known = self.shared.cells
        for i in cfirst.tolist():
            if self.alone[i]:
                cells.append(NO_CELL)
                continue
            adj = elig["adjustments"][elig["adjustment"][i]]
            ck = (
                self.uniq["insured_region"][C["insured_region"][i]],
                scheme[i],
                int(sig_of[i]),
                gnames[gcodes[combo_of[i]]],
                int(elig["matched"][i]),
                int(vt[i]),
                d_names[disease[i]] if disease[i] >= 0 else None,
                id(adj),
                bool(elig["cross"][i]),
                elig["category_names"][elig["category"][i]],
                anames[acodes[combo_of[i]]],
            )
            if ck in known:
                cells.append(known[ck])
                continue
            cells.append(
                resolve_cell(
                    rules,
                    self.uniq["insured_region"][C["insured_region"][i]],
                    scheme[i],
                    gnames[gcodes[combo_of[i]]],
                    int(elig["matched"][i]),
                    ("inpatient", "outpatient", "chronic_outpatient")[vt[i]],
                    d_names[disease[i]] if disease[i] >= 0 else None,
                    elig["adjustments"][elig["adjustment"][i]],
                    bool(elig["cross"][i]),
                    elig["category_names"][elig["category"][i]],
                    anames[acodes[combo_of[i]]] or None,
                    date.fromordinal(int(service[i])),
                )
            )
            known[ck] = cells[-1]
        disease_of = [d_names[x] if x >= 0 else "" for x in disease.tolist()]
        return cells, cgrp, vt, disease_of


def _dated_groups(std: Any) -> list[list[Any]]:
    out = [std.offsite, std.filing, std.assistance]
    for name in ("employee", "resident"):
        part = getattr(std, name)
        if part is not None:
            out += [part.inpatient, part.outpatient, part.chronic, part.tier2]
    return out


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


def _file_lines(spill: Spill, p: int, delimiter: str | None) -> FileLines | None:
    """Partition ``p``'s item lines, read back from where :class:`Spill` noted them."""
    if delimiter is None or spill.text is None:
        return None
    return FileLines(spill.text, lambda: spill.locations(p), delimiter)


def _settle_part(job: Parts, p: int, variants: list[Any]) -> list[tuple[Any, Outcome]] | None:
    """Settle partition ``p`` from its spill files under each set of rules (``variants``: settler,
    rules, writer, want_state and shared caches); each set's OUT rows go to a file of their own."""
    bills = job.spill.get("bills", p)
    if bills is None:
        return None
    ytd_in = job.ytd_of(p)
    prepared = _prepare(bills, job.bill_cols, ytd_in)
    if prepared is None:  # the careful path reads the run and says what is wrong
        raise NotRegular
    out = []
    for k, v in enumerate(variants):
        read = _file_lines(job.spill, p, job.items_delimiter)
        view = job.lines[k].part(p)
        run = _Run(bills, prepared.S, job.bill_cols, read, job.item_cols, v.settler, v.rules, v.shared, view)
        rows, outcome = run.settle(prepared, ytd_in, v.want_state)
        del run
        if outcome.finals:  # the final states wait in a file, not in memory, until YTD is written
            from medins.batch.ytd import write_finals

            write_finals(outcome.finals, job.spool / f"ytd-{p}-{k}.pickle")
            outcome.finals, outcome.final_files = [], [job.spool / f"ytd-{p}-{k}.pickle"]
        path = job.spool / f"out-{p}-{k}.csv"
        out.append((_spill_output(v.writer, rows, path, max(2_000, OUT_STEP // job.parts)), outcome))
    procs.give_back_memory()
    return out


def settle_frames(
    bills: pl.DataFrame,
    items: pl.DataFrame | None,
    bill_cols: Any,
    item_cols: Any,
    settler: Any,
    shared: Shared,
    ytd: dict[Any, tuple[int, str, str]],
    want_state: bool,
    rows: np.ndarray | None = None,
) -> tuple[pl.DataFrame, Outcome] | None:
    """Settle bills held as text: ``bills`` has a column ``c{i}`` for the cell at position ``i`` of the
    header ``bill_cols`` maps (stripped) and ``_row``, each bill's index; ``items``, the same for the
    item lines, with ``_line`` (each line's row in ITEMS less 2) and ``_bill`` (its bill's ``_row``).
    The bills of a person must all be there. The OUT rows (with ``_row``) and the outcome; None when
    the bills fail the checks that need a person's bills together (:func:`_prepare`).

    ``rows``: each bill's record number in BILLS less 2, as messages name it (by default ``_row``)."""
    from medins.batch.values import day_number

    lines = LinePass(settler.rules, shared)
    day_text = {c: bills[f"c{bill_cols.index[c]}"] for c in ("admitted", "date", "discharged") if c in bill_cols.index}
    day = {c: np.array([day_number(v) if v else 0 for v in t.to_list()], dtype=np.int64) for c, t in day_text.items()}
    zero = np.zeros(bills.height, dtype=np.int64)
    empty = pl.Series([""] * bills.height, dtype=pl.String)
    lines.bills(
        bills[f"c{bill_cols.index['insured_region']}"],
        bills[f"c{bill_cols.index['visit_region']}"] if "visit_region" in bill_cols.index else empty,
        _first_day(day.get("admitted", zero), day.get("date", zero), day.get("discharged", zero)),
    )
    lines.start_items()
    if items is not None:
        for start in range(0, items.height, LINE_SLICE):
            chunk = items.slice(start, LINE_SLICE)
            lines.lines(chunk, item_cols, chunk["_bill"].to_numpy(), chunk["_line"].to_numpy())
    prepared = _prepare(bills, bill_cols, ytd)
    if prepared is None:
        return None
    held = FrameLines(items) if items is not None else None
    run = _Run(bills, prepared.S, bill_cols, held, item_cols, settler, settler.rules, shared, lines.view())
    if rows is not None:
        run.shown = rows
    return run.settle(prepared, ytd, want_state)


def settle_table(
    bills: Any,
    items: Any = None,
    rules: Any = None,
    ytd: dict[Any, tuple[int, str, str]] | None = None,
    lang: str = "zh",
) -> pl.DataFrame:
    """Settle a table of bills holding whole persons; the partition function of a distributed engine.

    ``bills`` (and ``items``) are polars frames or Arrow tables with the columns of ``medins batch``
    (canonical or alias names, every cell text). ``rules`` is a rules folder (default: the shipped
    rules, ``--rules``/``MEDINS_RULES`` as the CLI reads them); ``ytd`` the year-to-date entries of
    ``--ytd-in`` as :func:`medins.batch.ytd._load_ytd` reads them. Every person's bills must be in the
    table: an engine beyond one machine maps this over partitions of persons.

    Returns one row per bill, in the input's order: the OUT columns of ``medins batch`` (empty for a
    rejected bill) and ``rejected``, the reason a bill was rejected (empty when it settled).
    """
    out, outcome, n = settle_partition(bills, items, rules, ytd, lang)
    rejected = [(r[1] - 2, r[5]) for r in outcome.rejects if r[0] == 0]
    reasons = pl.DataFrame(
        {"_row": [r for r, _ in rejected], "rejected": [x for _, x in rejected]},
        schema={"_row": pl.Int64, "rejected": pl.String},
    )
    every = pl.DataFrame({"_row": np.arange(n, dtype=np.int64)})
    table = every.join(out, on="_row", how="left").join(reasons, on="_row", how="left")
    return table.sort("_row").drop("_row").with_columns(pl.all().fill_null(""))


def settle_partition(
    bills: Any,
    items: Any = None,
    rules: Any = None,
    ytd: dict[Any, tuple[int, str, str]] | None = None,
    lang: str = "zh",
    want_state: bool = False,
    rows: np.ndarray | None = None,
    item_rows: np.ndarray | None = None,
) -> tuple[pl.DataFrame, Outcome, int]:
    """:func:`settle_table`'s work, as the batch's parts: the OUT rows of the settled bills (named as
    OUT's columns, with ``_row``, each bill's index in ``bills``), the :class:`Outcome` (rejects of
    bills and item lines, each key's final year-to-date state when ``want_state``, the counts and
    sums) and the number of bills.

    A reject's row, and the rows its reason names, are ``rows[index] + 2`` (``item_rows[index] + 2``
    for an item line): the record numbers of the file the table is a part of; by default the index."""
    from medins.batch.bill import Settler, Source, WorkerConfig
    from medins.batch.schema import (
        BILL_COLUMNS,
        ITEM_COLUMNS,
        ITEM_REQUIRED,
        OUT_AMOUNTS,
        OUT_HEAD,
        OUT_TAIL,
        bill_required,
        map_columns,
    )
    from medins.loader import resolve_rules_dir

    bills_df = bills if isinstance(bills, pl.DataFrame) else pl.from_arrow(bills)
    items_df = None if items is None else items if isinstance(items, pl.DataFrame) else pl.from_arrow(items)
    assert isinstance(bills_df, pl.DataFrame)
    root = resolve_rules_dir(rules).resolve()
    bill_cols = map_columns(bills_df.columns, BILL_COLUMNS, "BILLS", bill_required(items_df is not None), "bills")
    item_cols = None
    if items_df is not None:
        assert isinstance(items_df, pl.DataFrame)
        item_cols = map_columns(items_df.columns, ITEM_COLUMNS, "ITEMS", ITEM_REQUIRED, "items")

    def texts(frame: pl.DataFrame, row: str, numbers: np.ndarray | None = None) -> pl.DataFrame:
        cells = frame.select(
            [
                pl.col(c).cast(pl.String).fill_null("").str.strip_chars(PY_SPACE).alias(f"c{i}")
                for i, c in enumerate(frame.columns)
            ]
        )
        return cells.with_columns(
            pl.Series(row, np.arange(frame.height, dtype=np.int64) if numbers is None else numbers, dtype=pl.Int64)
        )

    bills_t = texts(bills_df, "_row")
    cfg = WorkerConfig(
        root,
        Source(Path("bills"), "utf-8", ",", bill_cols),
        Source(Path("items"), "utf-8", ",", item_cols) if item_cols is not None else None,
        lang,  # type: ignore[arg-type]
        True,
    )
    settler = Settler(cfg)
    if items_df is not None and item_cols is not None:
        items_t = texts(items_df, "_line", item_rows)
        ids = pl.DataFrame({"bill_id": bills_t[f"c{bill_cols.index['bill_id']}"], "_bill": bills_t["_row"]})
        items_t = items_t.join(
            ids, left_on=f"c{item_cols.index['bill_id']}", right_on="bill_id", how="left", maintain_order="left"
        )
        if items_t["_bill"].null_count():
            raise ValueError("settle_table: item lines whose bill_id is not in the bills table")
    else:
        items_t = None
    settled = settle_frames(bills_t, items_t, bill_cols, item_cols, settler, Shared(), ytd or {}, want_state, rows)
    if settled is None:
        raise ValueError("settle_table: a person_id with two names, or a bill older than the year-to-date entries")
    out, outcome = settled
    columns = list(OUT_HEAD)
    if "person_name" in bill_cols.index:
        columns.insert(2, "person_name")
    columns += [*OUT_AMOUNTS, "fund_ratio", *OUT_TAIL]
    return out.rename(dict(zip(out.columns[1:], columns, strict=True))), outcome, bills_t.height
