"""Year-to-date state over columns: the amounts ``--ytd-in`` carries read into the state arrays, a
bill settled one at a time given and taking back its key's amounts, the final states written.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from medins.batch.read import _fen_texts
from medins.engine.columns import decimal_text, fen_units
from medins.engine.population import CHRONIC, INPATIENT, State


class _Carry:
    """The year-to-date steps of :class:`medins.batch.waves._Run`."""

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

    def _note_chronic(self, done: np.ndarray, key: np.ndarray, visit: np.ndarray, disease: list[str]) -> None:
        for i in done[visit[done] == CHRONIC].tolist():
            order = self.chronic_order.setdefault(int(key[i]), [])
            if disease[i] not in order:
                order.append(disease[i])
