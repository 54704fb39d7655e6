"""Settle one partition: the checks that need a person's bills together, then eligibility, rule cells
and the tiers in waves (:mod:`medins.engine.population`), OUT rows and sums.
:func:`settle_table` is one partition as a table, the function a distributed engine maps over
partitions of persons.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medins import regions
from medins.batch.lines import NEVER, WARNING_CODES, FileLines, FrameLines, ItemLines, LinePass, LineView, Shared
from medins.batch.options import Outcome
from medins.batch.partition import Parts, Spill
from medins.batch.read import _AMOUNT, PY_SPACE, NotRegular, _codes, _fen_texts, _first_day, _groups, _units, _years
from medins.batch.write import LINE_SLICE, OUT_STEP, _spill_output
from medins.engine.columns import LIMIT, SCALE, decimal_text, fen_units, half_up
from medins.engine.eligibility import LOCAL_STANDARD, visit_place
from medins.engine.population import (
    CHRONIC,
    INPATIENT,
    NO_CELL,
    OUTPATIENT,
    VISIT_CODES,
    Cell,
    State,
    Static,
    apply_wave,
    gather_cells,
    resolve_cell,
    settle_wave,
    static_eligibility,
    waves,
)
from medins.errors import MedinsError, SettlementBug
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


def _index(values: list[str], value: str) -> int:
    return values.index(value) if value in values else -1


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


class _Run:
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
        sig_of = self._sections(insured, service)

        # -- eligibility, then cells
        elig = self._eligibility(combo_info, combo_of, service, settle_day, place, scheme, d, sig_of)
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

    def _sections(self, insured: np.ndarray, service: np.ndarray) -> np.ndarray:
        """Each bill's signature of dated sections in force (offsite, filing, assistance, and each
        scheme's benefits, chronic and tier 2), numbered the same across partitions."""
        grp, first = _groups(self.code["insured_region"], service)
        sigs = self.shared.__dict__.setdefault("sigs", {})
        g_sig = np.zeros(len(first), dtype=np.int64)
        for gi, i in enumerate(first.tolist()):
            pack = self.rules.packs.get(insured[i])
            if pack is None or pack.standards is None:
                continue  # such a bill is refused by the per-bill engine, which says why
            on = date.fromordinal(int(service[i]))
            sig = tuple(next((id(x) for x in group if x.in_force(on)), None) for group in _dated_groups(pack.standards))
            g_sig[gi] = sigs.setdefault(sig, len(sigs))
        return g_sig[grp]

    def _state(self, key, key_tuples, visit_code, disease_of, ytd_in):  # type: ignore[no-untyped-def]
        """The year-to-date arrays (from ``--ytd-in``) and each bill's slot in them: inpatient and
        outpatient per key, and one per key and chronic disease."""
        nkeys = len(key_tuples)
        slot = np.where(visit_code == INPATIENT, 2 * key, 2 * key + 1)
        chronic_slots: dict[tuple[int, str], int] = {}
        for i in np.nonzero(visit_code == CHRONIC)[0].tolist():
            kd = (int(key[i]), disease_of[i])
            sl = chronic_slots.get(kd)
            if sl is None:
                sl = chronic_slots[kd] = 2 * nkeys + len(chronic_slots)
            slot[i] = sl
        # the keys --ytd-in has amounts for, and a slot for each chronic disease they name (a disease
        # none of this run's bills is for is carried to --ytd-out as it came)
        found = [(k, ytd_in[kt][2]) for k, kt in enumerate(key_tuples) if kt in ytd_in] if ytd_in else []
        # as _load_ytd wrote them from the checked model (trusted), read in one go
        datas = json.loads("[" + ",".join(text for _, text in found) + "]")
        for (k, _), data in zip(found, datas, strict=True):
            for d in data["chronic"]:
                if (k, d) not in chronic_slots:
                    chronic_slots[(k, d)] = 2 * nkeys + len(chronic_slots)
        state = State(nkeys, 2 * nkeys + len(chronic_slots))
        self.chronic_order: dict[int, list[str]] = {}
        self.chronic_slots = chronic_slots
        self.loaded: set[int] = set()
        self.key_alone: dict[int, str | None] = {}  # keys kept as JSON, settled one bill at a time
        kept = self._load_states(state, [k for k, _ in found], key_tuples, datas)
        for (k, text), ok in zip(found, kept, strict=True):
            if not ok:
                self.key_alone[k] = text
        return state, slot

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

    def _check_fields(self, day_of: dict[str, np.ndarray], has_lines: np.ndarray) -> tuple[list[Any], np.ndarray]:
        """The case model's verdict on each bill's fields, checked once per distinct person, filing and
        visit (dates stand in by whether they are given; their order is checked over the arrays).

        Returns the information the next steps need per distinct combination of the three parts, and
        each bill's combination; a bill whose fields the case model refuses is left to one-at-a-time.
        """
        from medins.batch.schema import DATE_COLUMNS
        from medins.case_model import Filing, Person, Visit

        C, U = self.code, self.uniq

        def part_codes(cols: tuple[str, ...]) -> list[np.ndarray]:
            return [(day_of[c] > 0).astype(np.int64) if c in DATE_COLUMNS else C[c] for c in cols]

        def values(cols: tuple[str, ...], i: int) -> dict[str, str]:
            v = {c: ("2025-01-01" if day_of[c][i] > 0 else "") if c in DATE_COLUMNS else U[c][C[c][i]] for c in cols}
            return {c: x for c, x in v.items() if x}

        def check(model: Any, cols: tuple[str, ...], section: str) -> tuple[np.ndarray, list[Any]]:
            grp, first = _groups(*part_codes(cols))
            out = []
            cache = self.shared.parts
            for i in first.tolist():
                v = values(cols, i)
                if section == "visit":
                    v["scheme"], v["insured_region"] = (
                        U["scheme"][C["scheme"][i]],
                        U["insured_region"][C["insured_region"][i]],
                    )
                k = (section, *sorted(v.items()))
                if k in cache:
                    out.append(cache[k])
                    continue
                try:
                    data = self.settler._case_data(v).get(section)
                    got = None if data is None else model.model_validate(data)
                except (MedinsError, ValueError):
                    got = False
                except Exception:  # a pydantic refusal
                    got = False
                cache[k] = got
                out.append(got)
            return grp, out

        p_grp, persons = check(Person, self.PERSON, "person")
        f_grp, filings = check(Filing, self.FILING, "filing")
        v_grp, visits = check(Visit, self.VISIT, "visit")
        self.p_grp, self.f_grp, self.v_grp = p_grp, f_grp, v_grp
        self.models = (persons, filings, visits)
        combo_of, first = _groups(
            p_grp, f_grp, v_grp, has_lines.astype(np.int64), (C["total"] != _index(U["total"], "")).astype(np.int64)
        )
        info: list[Any] = []
        combos: dict[tuple, Any] = {}  # a partition's own: most combinations hold one person's values
        for i in first.tolist():
            person, filing, visit = persons[p_grp[i]], filings[f_grp[i]], visits[v_grp[i]]
            billed = bool(has_lines[i]) or U["total"][C["total"][i]] != ""
            k = (id(person), id(filing), id(visit), billed)
            if k not in combos:
                combos[k] = self._combine(person, filing, visit, billed)
            info.append(combos[k])
        self.alone |= ~np.array([x is not None for x in info], dtype=bool)[combo_of]
        return info, combo_of

    def _combine(self, person: Any, filing: Any, visit: Any, billed: bool) -> dict[str, Any] | None:
        """One combination's information, or None when the case model or the pack would refuse it."""
        if person is None or person is False or filing is False or visit is None or visit is False or not billed:
            return None
        try:
            regions.require(person.insured_region, "", MedinsError)
            regions.require(visit.region, "", MedinsError)
            std = self.rules.standards(person.insured_region)
        except MedinsError:
            return None
        part = getattr(std, person.scheme)
        if part is None:
            return None
        status = person.status
        if status is None:
            if len(part.groups) != 1:
                return None
            status = part.groups[0]
        elif status not in part.groups:
            return None
        if visit.type == "chronic_outpatient":
            known = {d for section in part.chronic for d in section.diseases}
            if visit.disease not in known or any(c not in known for c in person.chronic_diseases):
                return None
        return {
            "group": status,
            "chronic": tuple(person.chronic_diseases),
            "assistance": person.assistance,
            "filing": None
            if filing is None
            else (
                filing.category,
                filing.destination,
                tuple(filing.materials) if filing.materials is not None else None,
            ),
            "level": visit.hospital_level,
            "hospital": visit.hospital,
            "disease": visit.disease,
            "visit_type": visit.type,
        }

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

    def _eligibility(self, combo_info, combo_of, service, settle_day, place, scheme, d, sig_of):  # type: ignore[no-untyped-def]
        """Eligibility per bill: once per distinct fields and sections in force, then the filing's dates."""
        from medins.engine.eligibility import validity_end

        has_start = (d["filing_start"] > 0) | (d["filing_filed_on"] > 0)
        statics, sgrp = self._statics(combo_info, combo_of, service, place, scheme, has_start, sig_of)
        ok_static = np.array([s is not None for s in statics], dtype=bool)
        self.alone |= ~ok_static[sgrp]

        def field(get: Callable[[Static], Any], dtype: Any) -> np.ndarray:
            return np.array([get(s) if s is not None else 0 for s in statics], dtype=dtype)[sgrp]

        local = field(lambda s: s.place == "local", bool)
        has_filing = field(lambda s: s.has_filing, bool)
        date_checks = field(lambda s: s.date_checks, bool)
        months = field(lambda s: s.validity_months or 0, np.int64)
        retro = field(lambda s: s.retroactive, bool)
        has_deemed = field(lambda s: s.deemed_category is not None, bool)
        # the filing's dates, as day numbers
        start = np.where(d["filing_start"] > 0, d["filing_start"], d["filing_filed_on"])
        until = d["filing_end"].copy()
        need = date_checks & (until == 0) & (months > 0)
        if need.any():
            pairs, pfirst = _groups(start[need], months[need])
            ends = np.array(
                [
                    validity_end(date.fromordinal(int(start[need][j])), int(months[need][j])).toordinal()
                    for j in pfirst.tolist()
                ],
                dtype=np.int64,
            )
            until[need] = ends[pairs]
        fail = field(lambda s: s.filing_static_fail, bool) | (~local & ~has_filing)
        not_yet = date_checks & (service < start) & ~(retro & (start <= settle_day))
        expired = date_checks & (until > 0) & (service > until)
        fail |= not_yet | expired
        fail &= ~local
        deemed = has_deemed & (~has_filing | fail)
        other = field(lambda s: s.other_blocking, bool)
        eligible = ~other & ~(fail & ~deemed)
        # the benefit category and its adjustment: local, deemed, unfiled or the filed category
        choice = np.where(local, 0, np.where(deemed, 1, np.where(~has_filing | fail, 2, 3)))
        options = [
            [
                ("local", LOCAL_STANDARD),
                (s.deemed_category, s.deemed_adjustment),
                ("unfiled", s.unfiled_adjustment),
                (s.category, s.filed_adjustment),
            ]
            if s is not None
            else [("", None)] * 4
            for s in statics
        ]
        cat_ids: dict[Any, int] = {}
        cat_names: list[str] = []
        adj_ids: dict[int, int] = {}
        adjustments: list[Any] = []
        table_cat = np.zeros((len(statics), 4), dtype=np.int64)
        table_adj = np.zeros((len(statics), 4), dtype=np.int64)
        for si, opts in enumerate(options):
            for j, (cat, adj) in enumerate(opts):
                c = cat_ids.setdefault(cat, len(cat_names))
                if c == len(cat_names):
                    cat_names.append(cat or "")
                a = adj_ids.get(id(adj))
                if a is None:
                    a = adj_ids[id(adj)] = len(adjustments)
                    adjustments.append(adj)
                table_cat[si, j], table_adj[si, j] = c, a
        cat = table_cat[sgrp, choice]
        adj = table_adj[sgrp, choice]
        self.alone |= np.array([a is None for a in adjustments], dtype=bool)[adj]
        illus = field(lambda s: s.illustrative, bool) | (deemed & field(lambda s: s.deemed_illustrative, bool))
        return {
            "static": statics,
            "static_of": sgrp,
            "eligible": eligible,
            "category": cat,
            "category_names": cat_names,
            "adjustment": adj,
            "adjustments": adjustments,
            "local": local,
            "illustrative": illus,
            "chronic_ok": field(lambda s: s.chronic_ok, bool),
            "matched": field(lambda s: s.matched_level, np.int64),
            "cross": field(lambda s: s.cross, bool),
            # what the reasons' words need: the filing's dates and what they decided
            "emergency": has_filing & ~date_checks & ~local,
            "retro_ok": date_checks & (service < start) & retro & (start <= settle_day),
            "not_yet": not_yet,
            "expired": expired,
            "start": start,
            "until": until,
            "deemed": deemed,
        }

    def _statics(self, combo_info, combo_of, service, place, scheme, has_start, sig_of):  # type: ignore[no-untyped-def]
        """What eligibility decides without the dates, once per distinct insured place, scheme, filing,
        visit, approved diseases (for a chronic visit) and sections in force: a :class:`Static` (None
        where the per-bill engine must decide), and each bill's number among them."""
        rules, C = self.rules, self.code
        # the offsite and filing sections in force, per insured place and day
        grp, first = _groups(C["insured_region"], service)
        sec = np.zeros((len(first), 2), dtype=np.int64)
        sections: list[Any] = [None]
        section_no: dict[int, int] = {id(None): 0}
        for gi, i in enumerate(first.tolist()):
            pack = rules.packs.get(self.uniq["insured_region"][C["insured_region"][i]])
            if pack is None or pack.standards is None:
                continue
            std = pack.standards
            on = date.fromordinal(int(service[i]))
            for j, group in enumerate((std.offsite, std.filing)):
                s = next((x for x in group if x.in_force(on)), None)
                k = section_no.get(id(s))
                if k is None:
                    k = section_no[id(s)] = len(sections)
                    sections.append(s)
                sec[gi, j] = k
        sec_of = sec[grp]
        # what eligibility reads: the insured place and scheme, the approved diseases (for a chronic
        # visit), the filing and the visit; not the person's group or assistance category
        chronic_visit = np.array(
            [bool(ci) and ci["visit_type"] == "chronic_outpatient" for ci in combo_info], dtype=bool
        )[combo_of]
        sgrp, sfirst = _groups(
            C["insured_region"],
            C["scheme"],
            np.where(chronic_visit, C["chronic_diseases"], -1),
            self.f_grp,
            self.v_grp,
            sig_of,
            has_start.astype(np.int64),
            self.alone.astype(np.int64),
        )
        statics: list[Any] = []
        for i in sfirst.tolist():
            info = combo_info[combo_of[i]]
            offsite, filing_rules = sections[sec_of[i, 0]], sections[sec_of[i, 1]]
            s = None
            if info is not None and offsite is not None and filing_rules is not None:
                insured = self.uniq["insured_region"][C["insured_region"][i]]
                treated = self.uniq["visit_region"][C["visit_region"][i]]
                pack = rules.packs.get(insured if place[i] == "local" else treated)
                f = info["filing"]
                # what eligibility reads, the approved diseases only for a chronic visit
                reads = (
                    insured,
                    scheme[i],
                    info["chronic"] if chronic_visit[i] else (),
                    None if f is None else (*f, bool(has_start[i])),
                    treated,
                    info["hospital"],
                    info["level"],
                    info["visit_type"],
                    info["disease"],
                )
                sk = (*reads, int(sig_of[i]))
                if sk in self.shared.statics:
                    statics.append(self.shared.statics[sk])
                    continue
                try:
                    on = date.fromordinal(int(service[i]))
                    s = static_eligibility(
                        rules.standards(insured), pack.catalogue if pack else None, offsite, filing_rules, *reads, on
                    )
                    if s is not None:
                        s = (s, self._reason_parts(i, rules.standards(insured), pack, filing_rules, on))
                except (MedinsError, KeyError):
                    s = None
                self.shared.statics[sk] = s
            statics.append(s)
        self.reason_parts = [None if s is None else s[1] for s in statics]
        return [None if s is None else s[0] for s in statics], sgrp

    def _reason_columns(
        self, elig: dict[str, Any], service: np.ndarray, settle_day: np.ndarray, v: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each bill's eligibility reasons, as OUT writes them: the codes, and their words in the run's
        language; the same as the check of one visit gives, in its order. Written once per distinct
        static group, dated reasons and deemed filing."""
        from medins.engine.eligibility import (
            days_after,
            deemed_reason,
            emergency_reason,
            expired_reason,
            not_yet_reason,
            retroactive_reason,
        )

        lang = self.settler.lang
        sep = "；" if lang == "zh" else "; "
        sgrp = elig["static_of"]
        emergency, retro_ok, not_yet, expired = elig["emergency"], elig["retro_ok"], elig["not_yet"], elig["expired"]
        early = retro_ok | not_yet
        # most bills have no reason at all: only the others are grouped and written
        static_any = np.array([bool(p and (p.before or p.after or p.last)) for p in self.reason_parts], dtype=bool)
        some = v & (static_any[sgrp] | emergency | early | expired | elig["deemed"])
        codes_of = np.full(self.n, "", dtype=object)
        words_of = np.full(self.n, "", dtype=object)
        if not some.any():
            return codes_of, words_of
        at = np.flatnonzero(some)
        grp, first = _groups(
            sgrp[at],
            np.where(emergency, 1, np.where(retro_ok, 2, np.where(not_yet, 3, 0)))[at],
            np.where(early, elig["start"], 0)[at],
            np.where(emergency | not_yet, settle_day, 0)[at],
            np.where(expired, elig["until"], 0)[at],
            np.where(expired, service, 0)[at],
            elig["deemed"][at].astype(np.int64),
        )
        codes: list[str] = []
        words: list[str] = []
        for i in at[first].tolist():
            parts = self.reason_parts[sgrp[i]]
            if parts is None:  # settled one at a time: the engine's own
                codes.append("")
                words.append("")
                continue
            dated = []
            if emergency[i]:
                days = parts.emergency_days
                day = date.fromordinal(int(settle_day[i]))
                dated.append(emergency_reason(days_after(day, days) if days is not None else None))
            elif retro_ok[i]:
                dated.append(retroactive_reason(date.fromordinal(int(elig["start"][i]))))
            elif not_yet[i]:
                dated.append(
                    not_yet_reason(date.fromordinal(int(elig["start"][i])), date.fromordinal(int(settle_day[i])))
                )
            if expired[i]:
                dated.append(expired_reason(date.fromordinal(int(elig["until"][i])), date.fromordinal(int(service[i]))))
            deemed = [deemed_reason(*parts.deemed)] if elig["deemed"][i] and parts.deemed is not None else []
            reasons = [*parts.before, *dated, *parts.after, *deemed, *parts.last]
            codes.append(";".join(r.code for r in reasons))
            words.append(sep.join(r.text(lang) for r in reasons))
        codes_of[at] = np.array(codes, dtype=object)[grp]
        words_of[at] = np.array(words, dtype=object)[grp]
        return codes_of, words_of

    def _reason_parts(self, i: int, std: Any, pack: Any, filing_rules: Any, on: date) -> ReasonParts:
        """The eligibility reasons a bill's fields decide, from the check of one visit run on the first
        bill of a static group (whose dates stand in by their presence): those before the filing's
        dated reasons, those after them, and those after a deemed filing's."""
        from types import SimpleNamespace

        from medins.engine.eligibility import DATED_REASONS, PLACE_REASONS, check_eligibility, deemed_entry

        persons, filings, visits = self.models
        visit = visits[self.v_grp[i]]
        case = SimpleNamespace(person=persons[self.p_grp[i]], filing=filings[self.f_grp[i]], visit=visit)
        found = check_eligibility(case, std, pack.catalogue if pack else None, on)  # type: ignore[arg-type]
        before, after, last = [], [], []
        for r in found.reasons:
            if r.code in DATED_REASONS or r.code == "DEEMED_FILED":
                continue
            if r.code in PLACE_REASONS or r.code == "FILING_MISSING":
                before.append(r)
            elif r.code in ("DESTINATION_MISMATCH", "PROOF_MISSING"):
                after.append(r)
            else:
                last.append(r)
        deemed = deemed_entry(filing_rules, visit.region, visit.type)
        treated = f"{visit.region} {regions.name(visit.region)}"
        return ReasonParts(
            tuple(before),
            tuple(after),
            tuple(last),
            None if deemed is None else (treated, deemed[0], deemed[1].category),
            filing_rules.emergency_filing_days,
        )

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

    def _rows(self, v, visit_type, service, total, fully, over, pre, in_scope, results, elig, g, line_warn, ctx_illus):  # type: ignore[no-untyped-def]
        """The OUT rows of the bills settled over columns (None for the others), formatted as columns."""
        basic, t2, assist = results["basic"], results["tier2"], results["assist"]
        fund = basic + t2 + assist
        kind = g["tier2_critical"]
        eligible = elig["eligible"]
        deferred_assist = eligible & g["assist"] & ~g["assist_direct"] & (assist > 0)
        later = np.where(~eligible, fund, np.where(deferred_assist, assist, 0))
        chronic_as_outpatient = (visit_type == "chronic_outpatient") & ~elig["chronic_ok"]
        illus = g["illustrative"] | elig["illustrative"] | ctx_illus
        money = {
            "total": total,
            "fully": fully,
            "over": over,
            "pre": pre,
            "offsite": results["offsite"],
            "in_scope": in_scope,
            "deductible": results["deductible"],
            "basic": basic,
            "critical": np.where(kind, t2, 0),
            "large": np.where(kind, 0, t2),
            "assist": assist,
            "fund": fund,
            "personal": results["personal"],
            "at_discharge": results["personal"] + later,
        }
        frame = pl.DataFrame({k: x for k, x in money.items()}).select(
            [
                ((pl.col(k) // 100).cast(pl.String) + "." + (pl.col(k) % 100).cast(pl.String).str.zfill(2)).alias(k)
                for k in money
            ]
        )
        safe_total = np.where(total > 0, total, 1)
        q = (fund * 10**4 * 2 + safe_total) // (2 * safe_total)
        ratio = pl.select(
            pl.when(pl.Series(total) > 0)
            .then((pl.Series(q) // 10**4).cast(pl.String) + "." + (pl.Series(q) % 10**4).cast(pl.String).str.zfill(4))
            .otherwise(pl.lit("0.0000"))
        ).to_series()
        days = pl.Series(service).cast(pl.Int32) - 719163  # day numbers from 1970-01-01
        service_text = days.cast(pl.Date).dt.to_string("%Y-%m-%d")
        deferred_text = np.where(
            ~eligible, "basic;tier2;medical_assistance", np.where(deferred_assist, "medical_assistance", "")
        )
        cat_names = np.array(elig["category_names"], dtype=object)[elig["category"]]
        with_name = "person_name" in self.bill_cols.index
        head = [self.S["bill_id"], self.S["person_id"]] + ([self.S["person_name"]] if with_name else [])
        cols = [
            *head,
            self.S["insured_region"],
            self.S["visit_region"],
            pl.Series(visit_type.tolist(), dtype=pl.String),
            service_text,
            *frame.get_columns(),
            ratio,
            pl.Series(np.where(eligible, "true", "false").tolist(), dtype=pl.String),
            pl.Series(np.where(eligible, "direct", "reimburse_at_home").tolist(), dtype=pl.String),
            pl.Series(cat_names.tolist(), dtype=pl.String),
            pl.Series(deferred_text.tolist(), dtype=pl.String),
        ]
        # the warnings: the lines' (in their order), then the bill's own, each code once
        own = (
            np.where(chronic_as_outpatient, 1, 0)
            + np.where(~eligible, 2, np.where(deferred_assist, 4, 0))
            + np.where(illus, 8, 0)
        )
        names = ("CHRONIC_AS_OUTPATIENT", "REIMBURSE_AT_HOME", "ASSISTANCE_AT_HOME", "ILLUSTRATIVE_VALUES")
        table = [[names[b] for b in range(4) if m >> b & 1] for m in range(16)]
        text = np.array([";".join(t) for t in table], dtype=object)[own]
        for i, warned in line_warn.items():
            if v[i]:
                text[i] = ";".join(dict.fromkeys(warned + table[own[i]]))
        cols.append(pl.Series(text.tolist(), dtype=pl.String))
        cols.append(pl.Series(elig["reason_codes"].tolist(), dtype=pl.String))
        cols.append(pl.Series(elig["reason_words"].tolist(), dtype=pl.String))
        names_out = [f"_{k}" for k in range(len(cols))]
        frame = pl.DataFrame(dict(zip(names_out, cols, strict=True)))
        frame = frame.with_columns(pl.Series("_row", self.row)).filter(pl.Series(v))
        return frame.select(["_row", *names_out])

    def _aggregate(self, agg, v, visit_type, insured, treated, settle_day, total, results, elig, g) -> None:  # type: ignore[no-untyped-def]
        """Add the column-settled bills to the summary's groups and the clearing statement's sums."""
        from medins.batch.bill import GROUP_AMOUNTS

        basic, t2, assist = results["basic"], results["tier2"], results["assist"]
        kind = g["tier2_critical"]
        eligible = elig["eligible"]
        frame = pl.DataFrame(
            {
                "visit_type": visit_type[v].tolist(),
                "benefit_category": np.array(elig["category_names"], dtype=object)[elig["category"]][v].tolist(),
                "insured_region": insured[v].tolist(),
                "direct": eligible[v].astype(np.int64),
                "total": total[v],
                "basic_fund": basic[v],
                "critical_illness_fund": np.where(kind, t2, 0)[v],
                "large_amount_fund": np.where(kind, 0, t2)[v],
                "medical_assistance_fund": assist[v],
                "fund_total": (basic + t2 + assist)[v],
                "personal_total": results["personal"][v],
            }
        )
        sums = [pl.len().alias("count"), pl.col("direct").sum(), *[pl.col(a).sum() for a in GROUP_AMOUNTS]]
        for dim, by in (
            ("all", None),
            ("visit_type", "visit_type"),
            ("benefit_category", "benefit_category"),
            ("insured_region", "insured_region"),
        ):
            out = (
                frame.select(sums).with_columns(pl.lit("").alias("k"))
                if by is None
                else frame.group_by(by).agg(sums).rename({by: "k"})
            )
            for r in out.iter_rows(named=True):
                if r["count"] == 0:
                    continue
                part = type(agg)()
                part.groups[(dim, r["k"])] = [r["count"], r["direct"], *[_dec(r[a]) for a in GROUP_AMOUNTS]]
                agg.merge(part)
        # clearing: direct bills between places, by insured place × treatment place × settlement month
        clear = v & eligible & ~elig["local"]
        if clear.any():
            deferred_assist = g["assist"] & ~g["assist_direct"] & (assist > 0)
            a = np.where(deferred_assist, 0, assist)
            months = (pl.Series(settle_day[clear]).cast(pl.Int32) - 719163).cast(pl.Date).dt.to_string("%Y-%m")
            cf = pl.DataFrame(
                {
                    "i": insured[clear].tolist(),
                    "t": treated[clear].tolist(),
                    "m": months,
                    "total": total[clear],
                    "basic": basic[clear],
                    "tier2": t2[clear],
                    "assist": a[clear],
                    "fund": (basic + t2 + a)[clear],
                }
            )
            out = cf.group_by("i", "t", "m").agg(
                pl.len().alias("count"), *[pl.col(c).sum() for c in ("total", "basic", "tier2", "assist", "fund")]
            )
            for r in out.iter_rows(named=True):
                part = type(agg)()
                part.clearing[(r["i"], r["t"], r["m"])] = [
                    r["count"],
                    *[_dec(r[c]) for c in ("total", "basic", "tier2", "assist", "fund")],
                ]
                agg.merge(part)

    # -- year-to-date state as the case file's JSON
    def _states_json(self, state: State, keys: np.ndarray) -> list[str | None]:
        """:meth:`_state_json` of these keys, the same texts, formatted as columns."""
        if not len(keys):
            return []

        def amount(v: np.ndarray, e: np.ndarray) -> pl.Expr:  # decimal_text over columns
            whole = pl.lit(pl.Series(v // 100)).cast(pl.String)
            part = pl.lit(pl.Series(v % 100))
            exp = pl.lit(pl.Series(e.astype(np.int64)))
            return (
                pl.when(exp >= 0)
                .then(whole)
                .when(exp == -1)
                .then(pl.concat_str([whole, pl.lit("."), (part // 10).cast(pl.String)]))
                .otherwise(pl.concat_str([whole, pl.lit("."), part.cast(pl.String).str.zfill(2)]))
            )

        def accum(slots: np.ndarray) -> pl.Expr:
            pieces: list[pl.Expr] = []
            for j, f in enumerate(State.SLOT_FIELDS):
                pieces += [pl.lit(("{" if j == 0 else ",") + f'"{f}":"'), amount(state.s[f][slots], state.se[f][slots])]
                pieces.append(pl.lit('"'))
            return pl.concat_str([*pieces, pl.lit("}")])

        slot_text = pl.select(accum(np.arange(len(state.s["fund"])))).to_series().to_list()
        chronic = []
        for k in keys.tolist():
            order = self.chronic_order.get(k, [])
            chronic.append(
                ",".join(f"{json.dumps(d, ensure_ascii=False)}:{slot_text[self.chronic_slots[(k, d)]]}" for d in order)
            )
        year = state.year[keys]
        pieces = [
            pl.lit('{"year":'),
            pl.when(pl.lit(pl.Series(year >= 0)))
            .then(pl.lit(pl.Series(year)).cast(pl.String))
            .otherwise(pl.lit("null")),
            pl.lit(',"admissions":'),
            pl.lit(pl.Series(state.admissions[keys])).cast(pl.String),
            pl.lit(',"inpatient":'),
            pl.lit(pl.Series([slot_text[s] for s in (2 * keys).tolist()], dtype=pl.String)),
            pl.lit(',"outpatient":'),
            pl.lit(pl.Series([slot_text[s] for s in (2 * keys + 1).tolist()], dtype=pl.String)),
            pl.lit(',"chronic":{'),
            pl.lit(pl.Series(chronic, dtype=pl.String)),
            pl.lit("}"),
        ]
        for f in State.KEY_FIELDS:
            pieces += [pl.lit(f',"{f}":"'), amount(state.k[f][keys], state.ke[f][keys]), pl.lit('"')]
        texts = pl.select(pl.concat_str([*pieces, pl.lit("}")])).to_series().to_list()
        none = (year < 0) & np.array(
            [not self.chronic_order.get(k) and k not in self.loaded for k in keys.tolist()], dtype=bool
        )
        return [None if n else t for n, t in zip(none.tolist(), texts, strict=True)]

    def _state_json(self, state: State, k: int) -> str | None:
        if state.year[k] < 0 and not self.chronic_order.get(k) and k not in self.loaded:
            return None
        parts = [
            f'"year":{int(state.year[k]) if state.year[k] >= 0 else "null"}',
            f'"admissions":{int(state.admissions[k])}',
        ]

        def accum(s: int) -> str:
            return (
                "{"
                + ",".join(
                    f'"{f}":"{decimal_text(int(state.s[f][s]), int(state.se[f][s]))}"' for f in State.SLOT_FIELDS
                )
                + "}"
            )

        parts.append(f'"inpatient":{accum(2 * k)}')
        parts.append(f'"outpatient":{accum(2 * k + 1)}')
        chronic = ",".join(
            f"{json.dumps(d, ensure_ascii=False)}:{accum(self.chronic_slots[(k, d)])}"
            for d in self.chronic_order.get(k, [])
        )
        parts.append('"chronic":{' + chronic + "}")
        for f in State.KEY_FIELDS:
            parts.append(f'"{f}":"{decimal_text(int(state.k[f][k]), int(state.ke[f][k]))}"')
        return "{" + ",".join(parts) + "}"

    def _load_states(self, state: State, keys: list[int], key_tuples: list[Any], datas: list[Any]) -> list[bool]:
        """Put the keys' year-to-date records (``datas``: the JSON of a checked :class:`YearToDate`
        each, as ``_load_ytd`` writes it, every amount a Decimal's text) into the arrays, as columns;
        per key, False (nothing stored) when the arrays cannot hold its record exactly, or it is
        another year's."""
        ok = [
            (d["year"] is None or d["year"] == key_tuples[k][3])
            and not d.get("assistance_stage_base")
            and not d.get("assistance_stage_fund")
            for k, d in zip(keys, datas, strict=True)
        ]
        # every amount, field by field: the key fields' per key, the accumulators' per slot
        good = [j for j in range(len(keys)) if ok[j]]
        key_of = np.array([keys[j] for j in good], dtype=np.int64)
        slots: list[int] = []
        owners: list[int] = []
        accs: list[dict[str, str]] = []
        for g, j in enumerate(good):
            k, d = keys[j], datas[j]
            slots += [2 * k, 2 * k + 1]
            accs += [d["inpatient"], d["outpatient"]]
            for name, acc in d["chronic"].items():
                slots.append(self.chronic_slots[(k, name)])
                accs.append(acc)
            owners += [g] * (len(accs) - len(owners))
        slot_of, owner_of = np.array(slots, dtype=np.int64), np.array(owners, dtype=np.int64)
        read = {}
        fails = np.zeros(len(good), dtype=bool)
        for f in State.KEY_FIELDS:
            value, exp, bad = _fen_texts([datas[j][f] for j in good])
            read[("k", f)] = (value, exp)
            fails |= bad
        for f in State.SLOT_FIELDS:
            value, exp, bad = _fen_texts([acc[f] for acc in accs])
            read[("s", f)] = (value, exp)
            fails[owner_of[bad]] = True
        stored = ~fails
        for f in State.KEY_FIELDS:
            value, exp = read[("k", f)]
            state.k[f][key_of[stored]], state.ke[f][key_of[stored]] = value[stored], exp[stored]
        in_stored = stored[owner_of] if len(owner_of) else np.zeros(0, dtype=bool)
        for f in State.SLOT_FIELDS:
            value, exp = read[("s", f)]
            state.s[f][slot_of[in_stored]], state.se[f][slot_of[in_stored]] = value[in_stored], exp[in_stored]
        for g, j in enumerate(good):
            if fails[g]:
                ok[j] = False
                continue
            k, d = keys[j], datas[j]
            state.admissions[k] = d["admissions"]
            state.year[k] = d["year"] if d["year"] is not None else -1
            self.chronic_order[k] = list(d["chronic"])
            self.loaded.add(k)
        return ok

    def _store(self, state: State, k: int, ytd: Any) -> bool:
        """Put a year-to-date record (a :class:`YearToDate` the per-bill engine gave) into the arrays;
        False when they cannot hold it exactly."""
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
        for i in done[visit[done] == CHRONIC].tolist():
            order = self.chronic_order.setdefault(int(key[i]), [])
            if disease[i] not in order:
                order.append(disease[i])


@dataclass(frozen=True)
class ReasonParts:
    """The eligibility reasons of a static group: the parts its fields decide, around the dated ones."""

    before: tuple[Any, ...]
    after: tuple[Any, ...]
    last: tuple[Any, ...]
    deemed: tuple[str, int, str] | None
    """A deemed filing's words: the treatment place, the entry's number and its category."""
    emergency_days: int | None


def _dated_groups(std: Any) -> list[list[Any]]:
    out = [std.offsite, std.filing, std.assistance]
    for name in ("employee", "resident"):
        part = getattr(std, name)
        if part is not None:
            out += [part.inpatient, part.outpatient, part.chronic, part.tier2]
    return out


def _dec(fen: Any) -> Decimal:
    v = int(fen)
    return Decimal(f"{v // 100}.{v % 100:02d}")


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
    return out


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
    from medins.batch.values import day_number
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
    shared = Shared()
    lines = LinePass(settler.rules, shared)
    day_text = {
        c: bills_t[f"c{bill_cols.index[c]}"] for c in ("admitted", "date", "discharged") if c in bill_cols.index
    }
    day = {c: np.array([day_number(v) if v else 0 for v in t.to_list()], dtype=np.int64) for c, t in day_text.items()}
    zero = np.zeros(bills_t.height, dtype=np.int64)
    empty = pl.Series([""] * bills_t.height, dtype=pl.String)
    lines.bills(
        bills_t[f"c{bill_cols.index['insured_region']}"],
        bills_t[f"c{bill_cols.index['visit_region']}"] if "visit_region" in bill_cols.index else empty,
        _first_day(day.get("admitted", zero), day.get("date", zero), day.get("discharged", zero)),
    )
    lines.start_items()
    items_t = None
    if items_df is not None and item_cols is not None:
        items_t = texts(items_df, "_line", item_rows)
        ids = pl.DataFrame({"bill_id": bills_t[f"c{bill_cols.index['bill_id']}"], "_bill": bills_t["_row"]})
        items_t = items_t.join(
            ids, left_on=f"c{item_cols.index['bill_id']}", right_on="bill_id", how="left", maintain_order="left"
        )
        if items_t["_bill"].null_count():
            raise ValueError("settle_table: item lines whose bill_id is not in the bills table")
        for start in range(0, items_t.height, LINE_SLICE):
            chunk = items_t.slice(start, LINE_SLICE)
            lines.lines(chunk, item_cols, chunk["_bill"].to_numpy(), chunk["_line"].to_numpy())
    prepared = _prepare(bills_t, bill_cols, ytd or {})
    if prepared is None:
        raise ValueError("settle_table: a person_id with two names, or a bill older than the year-to-date entries")
    held = FrameLines(items_t) if items_t is not None else None
    run = _Run(bills_t, prepared.S, bill_cols, held, item_cols, settler, settler.rules, shared, lines.view())
    if rows is not None:
        run.shown = rows
    out, outcome = run.settle(prepared, ytd or {}, want_state)
    columns = list(OUT_HEAD)
    if "person_name" in bill_cols.index:
        columns.insert(2, "person_name")
    columns += [*OUT_AMOUNTS, "fund_ratio", *OUT_TAIL]
    return out.rename(dict(zip(out.columns[1:], columns, strict=True))), outcome, bills_t.height
