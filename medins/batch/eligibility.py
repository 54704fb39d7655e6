"""Eligibility over columns: each bill's person, filing and visit checked by the case model once per
distinct value; what does not depend on the dates decided once per distinct combination, the
filing's dates compared as day numbers; the reasons' codes and words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from medins import regions
from medins.batch.read import _groups
from medins.engine.eligibility import LOCAL_STANDARD
from medins.engine.population import Static, static_eligibility
from medins.errors import MedinsError


def _index(values: list[str], value: str) -> int:
    return values.index(value) if value in values else -1


@dataclass(frozen=True)
class ReasonParts:
    """The eligibility reasons of a static group: the parts its fields decide, around the dated ones."""

    before: tuple[Any, ...]
    after: tuple[Any, ...]
    last: tuple[Any, ...]
    deemed: tuple[str, int, str] | None
    """A deemed filing's words: the treatment place, the entry's number and its category."""
    emergency_days: int | None


class _Eligibility:
    """The eligibility steps of :class:`medins.batch.waves._Run`."""

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
        terms = self._person_terms(person)
        if terms is None or not self._region_known(visit.region):
            return None
        status, known, chronic_known = terms
        if visit.type == "chronic_outpatient" and (visit.disease not in known or not chronic_known):
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

    def _person_terms(self, person: Any) -> tuple[str, frozenset[str], bool] | None:
        """What a person's scheme says of them, found once a run (the verdicts in ``shared.parts`` live
        as long as the run): their group, the diseases a chronic visit may be for, and whether the
        person's approved diseases are all among them; None when the pack refuses the person."""
        terms = self.shared.terms
        if id(person) in terms:
            return terms[id(person)]  # type: ignore[no-any-return]
        found = None
        try:
            regions.require(person.insured_region, "", MedinsError)
            std = self.rules.standards(person.insured_region)
        except MedinsError:
            std = None
        part = None if std is None else getattr(std, person.scheme)
        status = None if part is None else person.status
        if part is not None and status is None and len(part.groups) == 1:
            status = part.groups[0]
        if part is not None and status in part.groups:
            known = frozenset(d for section in part.chronic for d in section.diseases)
            found = (status, known, all(c in known for c in person.chronic_diseases))
        terms[id(person)] = found
        return found

    def _region_known(self, region: str) -> bool:
        """Whether a treatment place is a region code in use, asked once a run per code."""
        known = self.shared.regions
        if region not in known:
            try:
                regions.require(region, "", MedinsError)
                known[region] = True
            except MedinsError:
                known[region] = False
        return known[region]

    def _eligibility(self, combo_info, combo_of, service, settle_day, place, scheme, d, sig_of, in_force):  # type: ignore[no-untyped-def]
        """Eligibility per bill: once per distinct fields and sections in force, then the filing's dates."""
        from medins.engine.eligibility import validity_end

        has_start = (d["filing_start"] > 0) | (d["filing_filed_on"] > 0)
        statics, sgrp = self._statics(combo_info, combo_of, service, place, scheme, has_start, sig_of, in_force)
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
            s_need, m_need = start[need], months[need]
            pairs, pfirst = _groups(s_need, m_need)
            ends = np.array(
                [
                    validity_end(date.fromordinal(s), m).toordinal()
                    for s, m in zip(s_need[pfirst].tolist(), m_need[pfirst].tolist(), strict=True)
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

    def _statics(self, combo_info, combo_of, service, place, scheme, has_start, sig_of, in_force):  # type: ignore[no-untyped-def]
        """What eligibility decides without the dates, once per distinct insured place, scheme, filing,
        visit, approved diseases (for a chronic visit) and sections in force: a :class:`Static` (None
        where the per-bill engine must decide), and each bill's number among them."""
        rules, C = self.rules, self.code
        # the offsite and filing sections in force, per insured place and day (found with the signatures)
        day_group, dated = in_force
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
            _, offsite, filing_rules = dated[day_group[i]]
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
        from medins.engine.eligibility import deemed_reason

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
        said = _Said(lang)
        for i in at[first].tolist():
            parts = self.reason_parts[sgrp[i]]
            if parts is None:  # settled one at a time: the engine's own
                codes.append("")
                words.append("")
                continue
            dated = []
            settle, start = int(settle_day[i]), int(elig["start"][i])
            if emergency[i]:
                dated.append(said.once(_emergency_on, settle, parts.emergency_days))
            elif retro_ok[i]:
                dated.append(said.once(_retroactive_on, start))
            elif not_yet[i]:
                dated.append(said.once(_not_yet_on, start, settle))
            if expired[i]:
                dated.append(said.once(_expired_on, int(elig["until"][i]), int(service[i])))
            deemed = [said.once(deemed_reason, *parts.deemed)] if elig["deemed"][i] and parts.deemed is not None else []
            reasons = [*parts.before, *dated, *parts.after, *deemed, *parts.last]
            codes.append(";".join(r.code for r in reasons))
            words.append(sep.join(said.words(r) for r in reasons))
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


class _Said:
    """A partition's reasons, each made once: a dated one by its days (most recur in a partition), a
    deemed filing's by its entry, and each one's words in the run's language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.made: dict[tuple, Any] = {}
        self.said: dict[int, str] = {}  # by the reason, each held in ``made`` or a static group's parts

    def once(self, make: Callable[..., Any], *args: Any) -> Any:
        found = self.made.get((make, *args))
        if found is None:
            found = self.made[(make, *args)] = make(*args)
        return found

    def words(self, reason: Any) -> str:
        found = self.said.get(id(reason))
        if found is None:
            found = self.said[id(reason)] = reason.text(self.lang)
        return found


def _emergency_on(settle: int, days: int | None) -> Any:
    from medins.engine.eligibility import days_after, emergency_reason

    day = date.fromordinal(settle)
    return emergency_reason(days_after(day, days) if days is not None else None)


def _retroactive_on(start: int) -> Any:
    from medins.engine.eligibility import retroactive_reason

    return retroactive_reason(date.fromordinal(start))


def _not_yet_on(start: int, settle: int) -> Any:
    from medins.engine.eligibility import not_yet_reason

    return not_yet_reason(date.fromordinal(start), date.fromordinal(settle))


def _expired_on(until: int, visit: int) -> Any:
    from medins.engine.eligibility import expired_reason

    return expired_reason(date.fromordinal(until), date.fromordinal(visit))
