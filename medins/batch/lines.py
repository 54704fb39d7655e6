"""Step 1 over columns, at the treatment place: every item line split by its catalogue as ITEMS is
read, chunk by chunk; the four parts summed per bill.
"""

from __future__ import annotations

import csv
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medins.batch.read import _AMOUNT, _PRICE, _QUANTITY, NotRegular, _codes, _groups, _units_cols
from medins.engine.columns import SCALE, half_up, ratio_units
from medins.engine.eligibility import visit_place
from medins.engine.lines import catalogue_index, resolve_item
from medins.engine.population import Cell
from medins.errors import MedinsError, SettlementBug
from medins.loader import RuleSet

LOCATION = np.dtype([("pos", "<i8"), ("len", "<i4"), ("bill", "<i4"), ("line", "<i8")])
"""Where an item line is: its record's offset and length in the UTF-8 text of ITEMS, its bill's
record number in BILLS and its own in ITEMS."""


@dataclass
class Variant:
    """A set of rules every bill of the run is settled under: the rules, or a reform's. Each has its
    settler (the per-bill engine and the run's sums), OUT writer, caches and line pass."""

    settler: Any
    rules: RuleSet
    writer: Any
    want_state: bool = False
    shared: Shared = field(default_factory=lambda: Shared())
    lines: Any = None
    view: Any = None


class Shared:
    """What one run learns once and every partition reuses: the case model's verdicts on distinct
    persons, filings and visits, catalogue contexts and lookups, eligibility without dates, rule cells,
    the sections in force on each day."""

    def __init__(self) -> None:
        self.parts: dict[tuple, Any] = {}
        self.terms: dict[int, Any] = {}
        """Per person verdict of ``parts`` (by identity): what their scheme says of them."""
        self.regions: dict[str, bool] = {}
        """Per treatment place code: whether it is a region code in use."""
        self.resolved: dict[tuple, Any] = {}
        self.statics: dict[tuple, Any] = {}
        self.cells: dict[tuple, Cell] = {}
        self.contexts: dict[tuple, Any] = {}
        self.dated: dict[tuple[str, int], tuple[int, Any, Any]] = {}
        """Per insured place and day: its dated sections' signature number, offsite and filing section."""
        self.sigs: dict[tuple, int] = {}
        """The signatures of dated sections in force, numbered."""


@dataclass(frozen=True, slots=True)
class _ItemName:
    """What :func:`medins.engine.lines.resolve_item` reads of an item."""

    code: str | None
    name: str | None
    dosage_form: str | None
    spec: str | None


WARNING_CODES = ("ITEM_NOT_IN_CATALOGUE", "RESTRICTION_NOT_MET", "RESTRICTION_ASSUMED_MET", "CEILING_SPEC_UNKNOWN")


NEVER = np.iinfo(np.int32).max
"""No such warning on the bill's lines. Line positions are held in int32: ITEMS may have up to 10^9 lines."""


class LinePass:
    """What each bill's item lines add up to, found while ITEMS is read once, chunk by chunk.

    Indexed by the bill's record number in BILLS: the catalogue context of the bill (its treatment
    place's catalogue, or the insured place's for a local visit, with the settings in force on its
    day), the sum of its lines' amounts and of their four parts, how many lines it has, whether one
    of them is one the arrays leave to the case model, and where each line warning first appears
    (line number × 2, + 1 for the second warning a line may raise), so the warnings come out in the
    order the per-bill engine raises them.
    """

    ARRAYS = ("ctx", "late", "total", "fully", "over", "pre", "count", "bad", "first")

    def __init__(self, rules: RuleSet, shared: Shared) -> None:
        self.rules, self.shared = rules, shared
        self._ctx: list[np.ndarray] = []
        self._late: list[np.ndarray] = []
        self.contexts: list[_Ctx] = []
        self.keys: list[tuple[str, int]] = []
        """For each context, the place and day (a day number) it was first found for."""
        self._numbers: dict[int, int] = {}
        # the (context, item) pairs resolved so far, with what each resolved to
        self._known = pl.DataFrame(schema={"c": pl.Int64, "k": pl.String, **{r: pl.Int64 for r in self.RESOLVED}})

    def start_items(self) -> None:
        """After the last chunk of BILLS: the arrays the lines add up into."""
        self.ctx = np.concatenate(self._ctx) if self._ctx else np.zeros(0, dtype=np.int32)
        self.late = np.concatenate(self._late) if self._late else np.zeros(0, dtype=bool)
        self._ctx, self._late = [], []
        self._sums(len(self.ctx))

    def _sums(self, bills: int) -> None:
        self.total = np.zeros(bills, dtype=np.int64)
        self.fully = np.zeros(bills, dtype=np.int64)
        self.over = np.zeros(bills, dtype=np.int64)
        self.pre = np.zeros(bills, dtype=np.int64)
        self.count = np.zeros(bills, dtype=np.int32)
        self.bad = np.zeros(bills, dtype=bool)
        self.first = np.full((bills, len(WARNING_CODES)), NEVER, dtype=np.int32)

    SUMS = ("total", "fully", "over", "pre", "count", "bad", "first")

    def ranged(self, ctx: np.ndarray, keys: list[tuple[str, int]]) -> LinePass:
        """This pass, empty, ready to read a range of ITEMS for bills whose contexts another pass
        found: ``ctx`` each bill's context, ``keys`` each context's place and day."""
        self.ctx = ctx
        for place, day in keys:
            got = self._context(place, date.fromordinal(day))
            if got is None:
                raise SettlementBug(f"no catalogue context for {place} on day {day}")
            self.contexts.append(got[0])
        self._sums(len(ctx))
        return self

    def found(self) -> dict[str, np.ndarray]:
        """The sums of the bills that have lines here (``bills``: their record numbers): what a range
        of ITEMS sends, in proportion to its lines rather than to BILLS."""
        bills = np.flatnonzero(self.count)
        return {"bills": bills, **{name: getattr(self, name)[bills] for name in self.SUMS}}

    def add(self, sums: dict[str, np.ndarray], lines_before: int) -> None:
        """Add what a pass over a later range of ITEMS found (:meth:`found`; ``lines_before``: the lines
        before the range)."""
        at = sums["bills"]
        for name in ("total", "fully", "over", "pre", "count"):
            getattr(self, name)[at] += sums[name]
        self.bad[at] |= sums["bad"]
        first = sums["first"].astype(np.int64)
        seen = first != NEVER
        first[seen] += 2 * lines_before
        if (first[seen] >= NEVER).any():
            raise NotRegular  # past what the warnings' positions hold: the careful path reads it
        self.first[at] = np.minimum(self.first[at], first.astype(np.int32))

    def drop_sums(self) -> None:
        """Let the arrays go once a view of them has been split by partition."""
        for name in self.ARRAYS:
            setattr(self, name, None)

    def view(self) -> LineView:
        """What a partition reads: the arrays, and per context what the bills need of it."""
        return LineView(
            {a: getattr(self, a) for a in self.ARRAYS},
            [(c.drug_ratio, c.settings_illus, c.dl_illus) for c in self.contexts],
        )

    # -- bills: each one's catalogue context
    def bills(self, insured: pl.Series, treated: pl.Series, service: np.ndarray) -> None:
        """The next chunk of BILLS, in file order."""
        i_code, i_text = _codes(insured)
        t_code, t_text = _codes(treated)
        grp, first = _groups(i_code, t_code, service)
        ctx = np.full(len(first), -1, dtype=np.int32)
        late = np.zeros(len(first), dtype=bool)
        for g, i in enumerate(first.tolist()):
            ins, tre = i_text[i_code[i]], t_text[t_code[i]]
            if not service[i]:
                continue
            place = ins if visit_place(ins, tre) == "local" else tre
            key = ("day", place, int(service[i]))
            if key not in self.shared.contexts:
                self.shared.contexts[key] = self._context(place, date.fromordinal(int(service[i])))
            got = self.shared.contexts[key]
            if got is not None:
                c, ctx_late = got
                number = self._numbers.get(id(c))
                if number is None:
                    number = self._numbers[id(c)] = len(self.contexts)
                    self.contexts.append(c)
                    self.keys.append((place, int(service[i])))
                ctx[g], late[g] = number, ctx_late
        self._ctx.append(ctx[grp])
        self._late.append(late[grp])

    def adopt_bills(self, ctx: np.ndarray, late: np.ndarray, keys: list[tuple[str, int]]) -> None:
        """The next range of BILLS, read by another pass: its bills' contexts (numbered in that pass,
        ``keys`` each one's place and day) numbered in this one."""
        remap = np.full(len(keys) + 1, -1, dtype=np.int32)  # the last: no context
        for j, (place, day) in enumerate(keys):
            key = ("day", place, day)
            if key not in self.shared.contexts:
                self.shared.contexts[key] = self._context(place, date.fromordinal(day))
            got = self.shared.contexts[key]
            if got is None:
                raise SettlementBug(f"no catalogue context for {place} on day {day}")
            number = self._numbers.get(id(got[0]))
            if number is None:
                number = self._numbers[id(got[0])] = len(self.contexts)
                self.contexts.append(got[0])
                self.keys.append((place, day))
            remap[j] = number
        self._ctx.append(remap[np.where(ctx >= 0, ctx, len(keys))])
        self._late.append(late)

    def _context(self, place: str, on: date) -> tuple[_Ctx, bool] | None:
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
        known = self.shared.contexts.get((place, id(section)))
        if known is None:
            cited = [catalogue.sources.get(i) for i in section.source_ids]
            known = self.shared.contexts[(place, id(section))] = _Ctx(
                catalogue_index(self.rules.cache, catalogue, section, index),
                drug,
                any(s is not None and s.confidence == "illustrative" for s in cited),
                dl.source.confidence == "illustrative",
            )
        return known, out_of_date

    # -- item lines
    def lines(self, items: pl.DataFrame, item_cols: Any, nb: np.ndarray, line_no: np.ndarray) -> None:
        """Split the lines of a chunk of ITEMS (``nb``: each line's bill, ``line_no``: its record number)."""
        if len(line_no) and int(line_no[-1]) >= 10**9:
            raise NotRegular  # past what the warnings' positions hold: the careful path reads it
        from medins.batch.values import norm_bool
        from medins.case_model import Item

        icol = {name: f"c{i}" for name, i in item_cols.index.items()}

        def ic(name: str) -> pl.Series:
            return items[icol[name]] if name in icol else pl.Series([""] * items.height)

        # numbers, parsed as columns
        q_text, p_text, a_text = ic("quantity"), ic("unit_price"), ic("amount")
        q, p, a = _units_cols([(q_text, _QUANTITY, 4, 10**4), (p_text, _PRICE, 4, -1), (a_text, _AMOUNT, 2, -1)])
        has_p = (p_text != "").to_numpy()
        has_a = (a_text != "").to_numpy()
        bad = (q <= 0) | (has_p & (p < 0)) | (has_a & (a < 0)) | (~has_p & ~has_a)
        qp = np.where(has_p & ~bad, q * np.maximum(p, 0), 0)  # 10^-8 yuan: < 10^18 by the patterns
        amount = np.where(has_a, a, half_up(qp, 10**6))
        bad |= has_p & has_a & (np.abs(qp - a * 10**6) > 10**6)
        # an item names itself by code or name (the case model's one rule on its texts); whether its
        # restriction is met is read once per distinct text
        bad |= ~((ic("code") != "") | (ic("name") != "")).to_numpy()
        r_code, r_text = _codes(ic("restriction_met"))
        r_value = [norm_bool(x) if x else None for x in r_text]
        bad |= np.array([v is not None and not isinstance(v, bool) for v in r_value], dtype=bool)[r_code]
        met = np.array([v is True for v in r_value], dtype=bool)[r_code]
        not_met = np.array([v is False for v in r_value], dtype=bool)[r_code]
        # each distinct item looked up once in each catalogue
        key = pl.select(
            pl.concat_str([ic(c) for c in ("code", "name", "dosage_form", "spec")], separator="\x00")
        ).to_series()
        ctx_line = self.ctx[nb]
        per = self._resolved(ctx_line, key, Item)
        line_class, line_pre, ceiling = per[:, 0], per[:, 1], per[:, 2]
        restricted, note = per[:, 3] > 0, per[:, 4] > 0
        bad |= line_class < 0
        np.logical_or.at(self.bad, nb, bad)
        np.add.at(self.count, nb, 1)  # not a count of every bill per chunk: 12 MB a chunk at 1,000,000 bills
        full = (line_class <= 1) | (restricted & not_met)
        has_ceiling = ceiling >= 0
        with_p = ~full & has_ceiling & has_p & (p > ceiling)
        over_line = np.where(with_p, np.minimum(amount, half_up(np.maximum(p - ceiling, 0) * q, 10**6)), 0)
        # a ceiling without a unit price: the unit is amount / quantity, in Decimal as the engine does
        from medins.money import fen

        for j in np.nonzero(~full & has_ceiling & ~has_p & ~bad)[0]:
            qty = Decimal(q_text[int(j)] or "1")
            amt = Decimal(int(amount[j])) / 100
            unit = amt / qty
            c = Decimal(int(ceiling[j])) / 10**4
            if unit > c:
                over_line[j] = min(int(amount[j]), int(fen((unit - c) * qty) * 100))
        pre_line = np.where(~full & (line_class == 3), half_up((amount - over_line) * line_pre, SCALE), 0)
        fully_line = np.where(full, amount, 0)
        ok = ~bad
        np.add.at(self.total, nb[ok], amount[ok])
        np.add.at(self.fully, nb[ok], fully_line[ok])
        np.add.at(self.over, nb[ok], over_line[ok])
        np.add.at(self.pre, nb[ok], pre_line[ok])
        # where each warning first appears: a line's first warning, then its second
        w1 = np.where(
            line_class == 0,
            0,
            np.where(
                (line_class > 1) & restricted & not_met,
                1,
                np.where((line_class > 1) & restricted & ~met & ~not_met, 2, -1),
            ),
        )
        w2 = ~full & ~has_ceiling & note
        flat = self.first.reshape(-1)
        width = len(WARNING_CODES)
        one = ok & (w1 >= 0)
        np.minimum.at(flat, nb[one] * width + w1[one], (line_no[one] * 2).astype(np.int32))
        two = ok & w2
        np.minimum.at(flat, nb[two] * width + 3, (line_no[two] * 2 + 1).astype(np.int32))

    NONE = (-1, 0, -1, 0, 0)
    """What a line of no catalogue context resolves to: a class the arrays leave to the case model."""

    RESOLVED = ("r_class", "r_pre", "r_ceiling", "r_restricted", "r_note")

    def _resolved(self, ctx_line: np.ndarray, key: pl.Series, Item: Any) -> np.ndarray:
        """Each line's item as its context's catalogue resolves it: class, pre-self-pay share, ceiling,
        restricted, note (rows of int64). Each distinct (context, item) is resolved once in the run;
        the lines find the known ones by a join on the pair."""
        pairs = pl.DataFrame({"c": ctx_line.astype(np.int64, copy=False), "k": key})
        found = pairs.join(self._known, on=["c", "k"], how="left", maintain_order="left")
        new = (ctx_line >= 0) & found["r_class"].is_null().to_numpy()
        if new.any():
            fresh = pairs.filter(pl.Series(new)).unique(maintain_order=True)
            lookups = self.shared.resolved
            rows = []
            for c, text in fresh.iter_rows():
                context = self.contexts[c]
                got = lookups.get((id(context), text))
                if got is None:
                    got = lookups[(id(context), text)] = _resolve(context, *text.split("\x00"), Item)
                rows.append(got if got is not False else self.NONE)
            table = np.array(rows, dtype=np.int64).reshape(-1, 5)
            fresh = fresh.with_columns([pl.Series(r, table[:, j]) for j, r in enumerate(self.RESOLVED)])
            self._known = pl.concat([self._known, fresh])
            found = pairs.join(self._known, on=["c", "k"], how="left", maintain_order="left")
        # a line of no context (-1) is in no pair known
        return found.select([pl.col(r).fill_null(v) for r, v in zip(self.RESOLVED, self.NONE, strict=True)]).to_numpy()


@dataclass
class LineView:
    """The line pass as a partition reads it: arrays by bill, and per context its drug ratio and
    whether its settings and drug list are illustrative.

    The arrays are indexed by record number in BILLS; or, in a partition's view (:meth:`part`), they
    hold that partition's bills only, whose record numbers ``rows`` gives in ascending order. A view
    :meth:`split` by partition holds no arrays, only the files of each partition's (picklable: sent to
    ``--jobs`` workers)."""

    arrays: dict[str, np.ndarray]
    contexts: list[tuple[int, bool, bool]]
    rows: np.ndarray | None = None
    files: list[Path] | None = None

    def split(self, folder: Path, part_of: np.ndarray, parts: int, prefix: str = "") -> LineView:
        """The arrays cut by partition (``part_of``: each bill's), a file of the spool each."""
        order = np.argsort(part_of, kind="stable")  # by partition, then record number
        bounds = np.searchsorted(part_of[order], np.arange(parts + 1))
        files = []
        for p in range(parts):
            rows = order[bounds[p] : bounds[p + 1]]
            path = folder / f"lines{prefix}-{p}.pickle"
            with path.open("wb") as f:
                pickle.dump((rows, {k: v[rows] for k, v in self.arrays.items()}), f, protocol=pickle.HIGHEST_PROTOCOL)
            files.append(path)
        return LineView({}, self.contexts, files=files)

    def part(self, p: int) -> LineView:
        """What partition ``p`` reads: this view, or its file when the view was split."""
        if self.files is None:
            return self
        with self.files[p].open("rb") as f:
            rows, arrays = pickle.load(f)
        return LineView(arrays, self.contexts, rows=rows)

    def take(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The arrays for these bills (``rows``: record numbers in BILLS)."""
        if self.rows is None:
            return {k: np.asarray(v[rows]) for k, v in self.arrays.items()}
        at = np.searchsorted(self.rows, rows)
        if len(rows) and (
            (at >= len(self.rows)).any() or (self.rows[np.minimum(at, len(self.rows) - 1)] != rows).any()
        ):
            raise SettlementBug("a bill's line sums are not in its partition's file")
        return {k: v[at] for k, v in self.arrays.items()}


def _resolve(ctx: Any, code: str, name: str, form: str, spec: str, Item: Any) -> Any:
    """``(class, pre-self-pay ratio, ceiling, restricted, ceiling note)`` of an item in a catalogue; False
    when the lookup raises (an ambiguous name) or a value is not exact in the arrays' units."""
    item = _ItemName(code or None, name or None, form or None, spec or None)
    try:
        r = resolve_item(item, ctx.index, "items[0]")
    except MedinsError:
        return False
    if r is None:
        return (0, 0, -1, False, False)
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
    return (cls, ratio, ceiling, bool(r.restriction), r.ceiling_note is not None)


@dataclass
class _Ctx:
    index: Any
    drug_ratio: int
    settings_illus: bool
    dl_illus: bool


class ItemLines:
    """The item lines of a partition's bills, read back for a bill settled one at a time: each line's
    row number in ITEMS (as messages count them) and its cells, stripped, in input order."""

    def __init__(self) -> None:
        self._order: np.ndarray | None = None
        self._bills: np.ndarray = np.zeros(0, dtype=np.int64)
        self._start: np.ndarray = np.zeros(1, dtype=np.int64)

    def _index(self, bills: np.ndarray, lines: np.ndarray) -> None:
        self._order = np.lexsort((lines, bills))
        self._bills, counts = np.unique(bills[self._order], return_counts=True)
        self._start = np.r_[0, np.cumsum(counts)]

    def _at(self, bill: int) -> np.ndarray:
        assert self._order is not None
        k = int(np.searchsorted(self._bills, bill))
        if k == len(self._bills) or self._bills[k] != bill:
            return self._order[:0]
        return self._order[self._start[k] : self._start[k + 1]]

    def of(self, bill: int) -> list[tuple[int, list[str]]]:
        raise NotImplementedError


class FileLines(ItemLines):
    """Lines read back from the UTF-8 text of ITEMS, where the partition's locations say they are."""

    def __init__(self, text: Path, locations: Callable[[], np.ndarray], delimiter: str) -> None:
        super().__init__()
        self.text, self.locations, self.delimiter = text, locations, delimiter
        self.where = np.zeros(0, dtype=LOCATION)

    def of(self, bill: int) -> list[tuple[int, list[str]]]:
        if self._order is None:
            self.where = self.locations()
            self._index(self.where["bill"], self.where["line"])
        out = []
        with self.text.open("rb") as f:
            for j in self._at(bill).tolist():
                f.seek(int(self.where["pos"][j]))
                record = f.read(int(self.where["len"][j])).decode("utf-8")
                cells = next(csv.reader([record], delimiter=self.delimiter))
                out.append((int(self.where["line"][j]) + 2, [c.strip() for c in cells]))
        return out


class FrameLines(ItemLines):
    """Lines held in a frame of text columns with ``_bill`` and ``_line`` (:func:`settle_table`)."""

    def __init__(self, frame: pl.DataFrame) -> None:
        super().__init__()
        self.frame = frame
        self.cells = frame.select([c for c in frame.columns if c not in ("_line", "_bill")])

    def of(self, bill: int) -> list[tuple[int, list[str]]]:
        if self._order is None:
            self._index(self.frame["_bill"].to_numpy(), self.frame["_line"].to_numpy())
        line = self.frame["_line"]
        return [(int(line[j]) + 2, list(self.cells.row(j))) for j in self._at(bill).tolist()]


class _Fan:
    """The line passes of a run's sets of rules, fed the same chunks (one, unless a reform changes a
    catalogue)."""

    def __init__(self, passes: list[LinePass]) -> None:
        self.passes = passes
        self.ctx = passes[0]

    def bills(self, *args: Any) -> None:
        for lp in self.passes:
            lp.bills(*args)

    def start_items(self) -> None:
        for lp in self.passes:
            lp.start_items()

    def lines(self, *args: Any) -> None:
        for lp in self.passes:
            lp.lines(*args)
