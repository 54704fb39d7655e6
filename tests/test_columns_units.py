"""The array arithmetic of the columns engine against the Decimal arithmetic it replaces.

Each helper is checked against Python's own Decimal operations on random values (hypothesis): the
arrays must give the same amounts and, where a value reaches the year-to-date file, the same text.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medins.batch.read import _codes, _groups
from medins.engine.columns import (
    SCALE,
    Bands,
    band_rows,
    decimal_text,
    dmax,
    dmin,
    fen_units,
    half_up,
    pay,
    ratio_units,
)
from medins.engine.population import waves
from medins.engine.tiers import pay_through_bands
from medins.rules_model import Band

FEN = Decimal("0.01")


def _dec(fen: int, exp: int) -> Decimal:
    """A fen amount as the Decimal the per-bill engine would hold, with exponent ``exp``."""
    return Decimal(decimal_text(fen, exp))


@given(st.integers(0, 10**17), st.sampled_from([2, 10, 100, 10**6, SCALE]))
def test_half_up_rounds_as_decimal_quantize(num: int, den: int) -> None:
    expected = (Decimal(num) / Decimal(den)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert int(half_up(np.array([num], dtype=np.int64), den)[0]) == int(expected)


@given(st.integers(0, 10**9), st.sampled_from([0, -1, -2]))
def test_decimal_text_is_str_of_decimal(units: int, exp: int) -> None:
    # a value held at exponent 0 is whole yuan, at -1 whole jiao: build such a value
    fen = units - units % (100 if exp == 0 else 10 if exp == -1 else 1)
    value = Decimal(fen).scaleb(-2).quantize(Decimal(1).scaleb(exp))
    assert decimal_text(fen, exp) == str(value)


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.sampled_from([0, -2]), st.sampled_from([0, -2]))
def test_dmin_dmax_pick_as_python_does(a: int, b: int, ea: int, eb: int) -> None:
    a -= a % (100 if ea == 0 else 1)
    b -= b % (100 if eb == 0 else 1)
    da, db = _dec(a, ea), _dec(b, eb)
    arr = lambda x: np.array([x], dtype=np.int64)  # noqa: E731
    exp = lambda x: np.array([x], dtype=np.int8)  # noqa: E731
    v, e = dmin(arr(a), exp(ea), arr(b), exp(eb))
    assert decimal_text(int(v[0]), int(e[0])) == str(min(da, db))
    v, e = dmax(arr(a), exp(ea), arr(b), exp(eb))
    assert decimal_text(int(v[0]), int(e[0])) == str(max(da, db))


def test_units_are_refused_when_not_exact() -> None:
    assert ratio_units(Decimal("0.85")) == 85_000_000
    assert ratio_units(Decimal("0.765")) == 76_500_000
    assert ratio_units(Decimal("0.123456789")) is None
    assert fen_units(Decimal("1300")) == (130_000, 0)
    assert fen_units(Decimal("12.5")) == (1_250, -1)
    assert fen_units(Decimal("0.005")) is None


ratios = st.sampled_from(["0.5", "0.6", "0.75", "0.85", "0.9", "0.95", "0.765", "0.1"])
money = st.integers(0, 2_000_000)  # fen


@st.composite
def bands_and_case(draw):  # type: ignore[no-untyped-def]
    tops = sorted(draw(st.lists(st.integers(1, 400_000), min_size=0, max_size=3, unique=True)))
    rows = [Band(to=Decimal(t), ratio=Decimal(draw(ratios))) for t in tops]
    rows.append(Band(ratio=Decimal(draw(ratios))))
    return (
        rows,
        draw(money),  # amount
        draw(st.integers(0, 200_000)),  # deductible
        draw(st.sampled_from([0, -2])),  # its exponent
        draw(money),  # deductible used
        draw(st.booleans()),  # annual
        draw(st.booleans()),  # bands on the year
        draw(st.one_of(st.none(), st.integers(1, 3_000_000))),  # cap
        draw(st.sampled_from(["fund", "base"])),
        draw(money),  # fund used
        draw(money),  # base used
    )


@settings(max_examples=300, deadline=None)
@given(bands_and_case())
def test_pay_is_pay_through_bands(case) -> None:  # type: ignore[no-untyped-def]
    bands, amount, ded, ded_e, used, annual, on_year, cap, mode, fund_used, base_used = case
    ded -= ded % (100 if ded_e == 0 else 1)
    cap_d = None if cap is None else Decimal(cap - cap % 100) / 100
    d_used = _dec(used, -2) if annual else Decimal("0.00")
    start = _dec(base_used, -2) if on_year else Decimal("0.00")
    expected = pay_through_bands(
        _dec(amount, -2),
        deductible=_dec(ded, ded_e),
        deductible_used=d_used,
        bands=bands,
        band_start=start,
        cap=cap_d,
        cap_mode=mode,
        fund_used=_dec(min(fund_used, base_used), -2),
        base_used=_dec(base_used, -2),
    )
    rows = band_rows(bands)
    assert rows is not None
    a = lambda x: np.array([x], dtype=np.int64)  # noqa: E731
    e = lambda x: np.array([x], dtype=np.int8)  # noqa: E731
    got = pay(
        a(amount),
        deductible=a(ded),
        deductible_e=e(ded_e),
        used=a(used if annual else 0),
        used_e=e(-2),
        bands=Bands(*(np.array([[r[k] for r in rows]], dtype=np.int64) for k in range(3))),
        band_start=a(base_used if on_year else 0),
        cap=a(0 if cap_d is None else int(cap_d * 100)),
        cap_e=e(0),
        has_cap=np.array([cap_d is not None]),
        base_cap=np.array([mode == "base"]),
        fund_used=a(min(fund_used, base_used)),
        base_used=a(base_used),
        base_used_e=e(-2),
    )
    assert decimal_text(int(got.deductible[0]), int(got.deductible_e[0])) == str(expected.deductible)
    assert int(got.paid[0]) == int(expected.paid * 100)
    assert int(got.above_cap[0]) == int(expected.above_cap.quantize(FEN) * 100)


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(-3, 3), st.integers(0, 2)), min_size=1, max_size=60))
def test_groups_number_distinct_rows(rows: list[tuple[int, int, int]]) -> None:
    cols = [np.array(c, dtype=np.int64) for c in zip(*rows, strict=True)]
    group, first = _groups(*cols)
    for i, r in enumerate(rows):
        assert rows[int(first[group[i]])] == r
    assert len(first) == len(set(rows))


@given(st.lists(st.sampled_from(["", "a", "b", "中文", "a,b", "1.00", "1.0"]), min_size=1, max_size=50))
def test_codes_number_distinct_texts(values: list[str]) -> None:
    codes, texts = _codes(pl.Series(values, dtype=pl.String))
    assert [texts[c] for c in codes] == values
    assert sorted(texts) == sorted(set(values))


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3)), min_size=1, max_size=40))
def test_waves_take_each_key_once_in_date_then_file_order(bills: list[tuple[int, int]]) -> None:
    key = np.array([k for k, _ in bills], dtype=np.int64)
    day = np.array([d for _, d in bills], dtype=np.int64)
    seen: dict[int, list[int]] = {}
    for w in waves(key, day):
        assert len(set(key[w].tolist())) == len(w)
        for i in w.tolist():
            seen.setdefault(int(key[i]), []).append(i)
    for k, order in seen.items():
        assert order == sorted((i for i in range(len(bills)) if key[i] == k), key=lambda i: (day[i], i))


_SPACES = "\t\x0b\x0c\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000"
_CELL_CHARS = st.sampled_from(list(_SPACES) + list("ab1.片剂\u2030\u200b\u00a9\u3001"))


@settings(max_examples=600, deadline=None)
@given(
    st.lists(st.lists(st.text(_CELL_CHARS, max_size=4), min_size=3, max_size=3), min_size=1, max_size=6),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from([",", "\t"]),
)
def test_a_chunk_is_stripped_exactly_when_a_cell_has_space_at_an_end(
    rows: list[list[str]], newline: str, delimiter: str
) -> None:
    """The byte scan says yes exactly when a cell has a character ``str.strip`` removes at an end
    (cells of white space, look-alike characters such as U+2030 and U+200B, Chinese around them; a
    tab that separates cells is not white space of a cell)."""
    from medins.batch.read import _spaced

    if delimiter == "\t":
        rows = [[c.replace("\t", " ") for c in r] for r in rows]
    text = "".join(delimiter.join(r) + newline for r in rows).encode()
    assert _spaced(text, ord(delimiter)) == any(c != c.strip() for r in rows for c in r)


def test_ranges_of_a_file_read_the_same_records_as_the_whole(tmp_path: Path) -> None:
    """``--jobs`` splits ITEMS in byte ranges at line ends: the ranges' records, one after another, are
    the whole file's; a range that ends inside a quoted cell holding a line break is refused (the run
    then reads the file in one pass), and so is one that begins inside it."""
    from medins.batch.read import NotRegular, _spans, read_chunk, record_chunks
    from medins.tabular import open_csv

    rows = [["a", "b", "c"]] + [[f"x{k}", f'"q{k}"' if k % 5 == 0 else "", str(k)] for k in range(400)]
    path = tmp_path / "t.csv"
    path.write_text("".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    table, _ = open_csv(path, "auto", lambda h: 3)
    whole = pl.concat([read_chunk(table, c, "_r") for c in record_chunks(table, 256)])
    spans = _spans(table, 7)
    assert len(spans) == 7 and spans[0][0] == len("a,b,c\n") and spans[-1][1] == path.stat().st_size
    pieces = [pl.concat([read_chunk(table, c, "_r") for c in record_chunks(table, 256, span=s)]) for s in spans]
    assert pl.concat([p.drop("_r") for p in pieces]).equals(whole.drop("_r"))
    assert all(p["_r"].to_list() == list(range(p.height)) for p in pieces)  # numbered from each range's start

    broken = tmp_path / "broken.csv"
    broken.write_text('a,b,c\nx,"one\ntwo",1\ny,z,2\n', encoding="utf-8")
    table, _ = open_csv(broken, "auto", lambda h: 3)
    cut = len('a,b,c\nx,"one\n')
    for span in ((len("a,b,c\n"), cut), (cut, broken.stat().st_size)):
        with pytest.raises(NotRegular):
            for chunk in record_chunks(table, span=span):
                read_chunk(table, chunk, "_r")


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("a,b\n1,2\n\n", "a,b\n1,2\n"),  # an empty last line
        ("a,b\n1,2\n,\n\r\n\n", "a,b\n1,2\n"),  # several: of delimiters only, with a carriage return
        ("a,b\r\n1,2\r\n,\r\n", "a,b\r\n1,2\r\n"),  # CRLF lines
        ("a,b\n1,2\n,,", "a,b\n1,2\n"),  # a last line of delimiters with no line end
        ("a,b\n1,2", "a,b\n1,2"),  # nothing blank: the end of the file
        ("a,b\n1,2\n\n3,4\n", "a,b\n1,2\n\n3,4\n"),  # a blank line with a record after it stays
        ("a,b\n1,2\n \n", "a,b\n1,2\n \n"),  # white space is a cell, not a blank record
        ('a,b\n1,2\n""\n', 'a,b\n1,2\n""\n'),  # nor is a quoted empty cell
        ("a,b\n\n\n", "a,b\n"),  # no record at all: the careful reader says so
    ],
)
def test_a_file_is_read_up_to_the_blank_lines_it_ends_with(tmp_path: Path, text: str, kept: str) -> None:
    """The careful reader skips a record of empty cells wherever it stands; the columns reader leaves
    out those the file ends with, and only those (a later record would need its row numbers)."""
    from medins.batch.read import content_end
    from medins.tabular import open_csv

    path = tmp_path / "t.csv"
    path.write_bytes(text.encode())
    table, _ = open_csv(path, "auto", lambda h: 2)
    assert content_end(table) == len(kept.encode())


def test_blank_lines_a_file_ends_with_are_looked_for_in_its_tail_only(tmp_path: Path) -> None:
    """A blank tail longer than :data:`TAIL_BYTES` is left to the careful reader (the last line looked
    at may begin before the bytes read), and the bytes before the tail are never read for it."""
    from medins.batch import read
    from medins.tabular import open_csv

    body = "a,b\n" + "".join(f"{k},{k}\n" for k in range(50))
    path = tmp_path / "t.csv"
    path.write_bytes((body + ",\n" * 10).encode())
    table, _ = open_csv(path, "auto", lambda h: 2)
    assert read.content_end(table) == len(body)
    path.write_bytes((body + "," * (read.TAIL_BYTES + 10) + "\n").encode())
    table, _ = open_csv(path, "auto", lambda h: 2)
    assert read.content_end(table) == path.stat().st_size


# ----------------------------------------------------------------------------- year-to-date texts


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_year_to_date_texts_formatted_as_columns_are_the_per_key_texts(data: st.DataObject) -> None:
    """``_states_json`` (every key of a partition at once) gives, key for key, ``_state_json``'s text."""
    from medins.batch.waves import _Run
    from medins.engine.population import State

    keys = data.draw(st.integers(1, 6))
    diseases = ["hypertension", "糖尿病", 'a "quoted" one']
    chronic = {
        (k, d)
        for k in range(keys)
        for d in diseases
        if data.draw(st.booleans())  # which keys have a chronic slot for which disease
    }
    state = State(keys, 2 * keys + len(chronic))
    amount = st.integers(0, 10**12)
    exponent = st.sampled_from([0, -1, -2])
    for f in State.SLOT_FIELDS:
        for s in range(len(state.s[f])):
            state.s[f][s], state.se[f][s] = data.draw(amount), data.draw(exponent)
    for f in State.KEY_FIELDS:
        for k in range(keys):
            state.k[f][k], state.ke[f][k] = data.draw(amount), data.draw(exponent)
    for k in range(keys):
        state.year[k] = data.draw(st.sampled_from([-1, 2025]))
        state.admissions[k] = data.draw(st.integers(0, 99))
    run = _Run.__new__(_Run)
    run.chronic_slots = {kd: 2 * keys + j for j, kd in enumerate(sorted(chronic))}
    run.chronic_order = {}
    for k, d in sorted(chronic):
        run.chronic_order.setdefault(k, []).append(d)
    run.loaded = {k for k in range(keys) if data.draw(st.booleans())}
    chosen = np.array(sorted(data.draw(st.sets(st.integers(0, keys - 1), min_size=1))), dtype=np.int64)
    assert run._states_json(state, chosen) == [run._state_json(state, int(k)) for k in chosen]


def test_year_to_date_file_merges_partition_files_and_ytd_in(tmp_path: Path) -> None:
    """The partitions' final states, each file sorted by key, merged with --ytd-in's entries: the
    same file as when every state was held in one dict (a settled key's state replaces its
    --ytd-in entry; keys in order)."""
    from medins.batch.ytd import _write_ytd, write_finals

    def key(p: str) -> tuple[str, str, str, int]:
        return (p, "110000", "employee", 2025)

    ytd_in = {key(p): (0, "2025-01-31", '{"from":"in-' + p + '"}') for p in ("a", "c", "e", "g")}
    held = [(key("f"), "2025-03-01", '{"held":"f"}')]
    first = [(key("e"), "2025-03-02", '{"settled":"e"}'), (key("b"), "2025-03-03", '{"settled":"b"}')]
    second = [(key(p), "2025-03-04", '{"settled":"' + p + '"}') for p in ("d", "a", "h")]
    write_finals(first, tmp_path / "one.pickle")
    write_finals(second, tmp_path / "two.pickle")
    _write_ytd(tmp_path / "merged.json", ytd_in, held, [tmp_path / "one.pickle", tmp_path / "two.pickle"])
    text = (tmp_path / "merged.json").read_text("utf-8")
    entries = [line for line in text.splitlines() if '"person_id"' in line]
    # a, b, … h in key order; a and e as settled (not as --ytd-in had them), c and g as --ytd-in had them
    assert [line.split('"person_id": "')[1][0] for line in entries] == list("abcdefgh")
    states = [line.split('"ytd": ')[1].rstrip(",").removesuffix("}") for line in entries]
    assert states == [
        '{"settled":"a"}',
        '{"settled":"b"}',
        '{"from":"in-c"}',
        '{"settled":"d"}',
        '{"settled":"e"}',
        '{"held":"f"}',
        '{"from":"in-g"}',
        '{"settled":"h"}',
    ]
    assert '"last_service_date": "2025-01-31"' in entries[2] and '"last_service_date": "2025-03-04"' in entries[0]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.decimals(min_value=0, max_value=10**10, places=2, allow_nan=False).map(str),
            st.decimals(min_value=0, max_value=10**6, places=1, allow_nan=False).map(str),
            st.integers(0, 10**15).map(str),
            st.decimals(min_value=-(10**6), max_value=10**6, places=4, allow_nan=False).map(str),
            st.sampled_from(["1E+2", "5E-1", "0E-2", "0.000", "7.10", "007", "1E+1"]),
        ),
        max_size=30,
    )
)
def test_amount_texts_read_as_columns_are_fen_units(texts: list[str]) -> None:
    """``_fen_texts`` (a --ytd-in record's amounts, all at once) reads each text as ``fen_units`` of
    its Decimal does: the same fen and exponent, or more than two places."""
    from medins.batch.read import _fen_texts

    value, exp, bad = _fen_texts(texts)
    for i, text in enumerate(texts):
        want = fen_units(Decimal(text))
        assert bool(bad[i]) == (want is None), text
        if want is not None:
            assert (int(value[i]), int(exp[i])) == want, text


def test_ytd_in_as_ytd_out_writes_it_is_read_line_by_line_and_the_same(tmp_path: Path) -> None:
    """A file --ytd-out wrote is read a line at a time: the same keys, days and texts as reading it
    whole. A file laid out otherwise (pretty-printed, CRLF, text after the end) is read whole, with the
    same result; a fault in an entry gets the message reading the file whole gives."""
    from datetime import date

    from medins.batch.ytd import _load_ytd, _write_ytd, _ytd_by_lines, _ytd_whole
    from medins.case_model import YearToDate
    from medins.tabular import TableError

    def entry(day: str, **amounts: Any) -> tuple[int, str, str]:
        d = date.fromisoformat(day)
        return (d.toordinal(), day, YearToDate(year=d.year, **amounts).model_dump_json())

    ytd_in = {
        ("110101199001011234", "110000", "employee", 2025): entry("2025-03-01", admissions=1),
        ('id "quoted" 张三', "130100", "resident", 2025): entry(
            "2025-02-01", chronic={"高血压": {"in_scope": "12.50", "fund": "10"}}, tier2_base="99.9"
        ),
        ("3", "310000", "employee", 2025): entry(
            "2025-01-02", assistance_base="5", assistance_stage_base=["1.00"], assistance_stage_fund=["0.50"]
        ),
    }
    path = tmp_path / "ytd.json"
    _write_ytd(path, ytd_in, [])
    assert _ytd_by_lines(path) == _ytd_whole(path) == _load_ytd(path) == ytd_in
    assert list(_ytd_by_lines(path) or {}) == sorted(ytd_in)  # in the file's order

    empty = tmp_path / "empty.json"
    _write_ytd(empty, {}, [])
    assert _ytd_by_lines(empty) == {} and _load_ytd(empty) == {}

    text = path.read_text("utf-8")
    for other in (
        json.dumps(json.loads(text), indent=2, ensure_ascii=False),
        text.replace("\n", "\r\n"),
        text + "\n",
    ):
        path.write_text(other, "utf-8", newline="")
        assert _ytd_by_lines(path) is None
        assert _load_ytd(path) == ytd_in

    path.write_text(
        text.replace(
            '"year": 2025, "last_service_date": "2025-02-01"', '"year": "2025", "last_service_date": "2025-02-01"'
        ),
        "utf-8",
    )
    with pytest.raises(TableError) as by_lines:
        _load_ytd(path)
    with pytest.raises(TableError) as whole:
        _ytd_whole(path)
    assert str(by_lines.value) == str(whole.value) and "entries[2].year" in str(whole.value)  # the third in key order


# ----------------------------------------------------------------------------- the chunk scans

_BYTES = st.lists(st.sampled_from([b"a", b"1", b",", b'"', b"\n", b"\r", b"\r\n", b" ", "é".encode()]), max_size=40)


@settings(max_examples=300, deadline=None)
@given(parts=_BYTES)
def test_the_chunk_scans_say_what_bytes_count_says(parts: list[bytes]) -> None:
    """The faster scans of a chunk against their plain definitions in ``bytes`` operations: counts,
    a carriage return that is not part of a line end, a quote left open at the end, a blank line."""
    from medins.batch import read

    data = b"".join(parts) + b"\n"  # a chunk is whole lines
    for sub in (b",", b"\r", b'"', b"\r\n"):
        assert read._count(data, sub) == data.count(sub)
    arr = np.frombuffer(data, dtype=np.uint8)
    stray_cr = data.count(b"\r") != data.count(b"\r\n")
    try:
        read._line_ends_only(data, arr, np.flatnonzero(arr == 10))
        raised = False
    except read.NotRegular:
        raised = True
    assert raised == stray_cr
    ends, _, open_at_end = read._quote_lines(data)
    closed = np.flatnonzero(~open_at_end)
    expected = len(data) if not open_at_end[-1] else (int(ends[closed[-1]]) + 1 if len(closed) else 0)
    assert read._closed_end(data) == expected
    for seps in (b",", b",,"):
        plain = any(data.startswith(seps + end) or (b"\n" + seps + end) in data for end in (b"\n", b"\r\n"))
        assert read._blank_line(data, seps) == plain


@settings(max_examples=200, deadline=None)
@given(
    known=st.lists(st.text("abc", min_size=1, max_size=3), min_size=1, max_size=12, unique=True),
    picks=st.lists(st.tuples(st.integers(0, 11), st.integers(1, 4)), max_size=12),
    stranger=st.sampled_from([None, "", "zz", "a\x00"]),
)
def test_each_run_of_a_bill_id_finds_the_row_and_partition_every_line_of_it_would(
    known: list[str], picks: list[tuple[int, int]], stranger: str | None
) -> None:
    """``BillIndex.find`` looks a run of equal ids up once: the rows and partitions are those of a
    lookup line by line, and an id not in BILLS (empty, null, unknown) anywhere in a run is refused."""
    from medins.batch.partition import BillIndex
    from medins.batch.read import NotRegular

    s = pl.Series(known, dtype=pl.String)
    rows = np.arange(len(known), dtype=np.int32) * 7
    parts = (np.arange(len(known)) % 3).astype(np.int32)
    index = BillIndex(s.hash(seed=0).to_numpy(), s.hash(seed=0x5EED).to_numpy(), rows, parts)
    ids = [known[i % len(known)] for i, times in picks for _ in range(times)]
    got_rows, got_parts = index.find(pl.Series(ids, dtype=pl.String))
    at = [known.index(x) for x in ids]
    assert got_rows.tolist() == rows[at].tolist() and got_parts.tolist() == parts[at].tolist()
    if ids:
        spoiled = [*ids[: len(ids) // 2], stranger, *ids[len(ids) // 2 :]]
        with pytest.raises(NotRegular):
            index.find(pl.Series(spoiled, dtype=pl.String))


def _above_fund_cap_walk(room: int, widths: list[int], ratios: list[int]) -> int:
    """The Decimal walk ``pay_through_bands`` makes (and the arrays made bill by bill until they did
    it over columns): the oracle of :func:`medins.engine.columns.above_fund_cap`."""
    left = Decimal(room) / 100
    above = Decimal(0)
    for w, r in zip(widths, ratios, strict=True):
        if w <= 0:
            continue
        width = Decimal(w) / 100
        rate = Decimal(r) / SCALE
        part = width * rate
        if left <= 0:
            above += width
        elif part <= left:
            left -= part
        else:
            covered = left / rate
            above += width - covered
            left = Decimal(0)
    return int((above * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


_RATIO_UNITS = st.one_of(
    st.sampled_from([0, 1, 3, 7, 50_000_000, 85_000_000, 76_500_000, 33_333_333, 100_000_000]),
    st.integers(0, SCALE),
)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**10),  # room, fen
            st.lists(st.tuples(st.integers(0, 10**10), _RATIO_UNITS), min_size=1, max_size=5),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_the_expense_above_a_fund_cap_is_the_decimal_walks(bills: list[tuple[int, list[tuple[int, int]]]]) -> None:
    """Over columns, to the fen, whatever the room, widths and ratios (a ratio of 0, a room of 0, a
    quotient a half or a hair off one), as the Decimal walk finds it bill by bill."""
    from medins.engine.columns import above_fund_cap

    width = max(len(b) for _, b in bills)
    widths = np.zeros((len(bills), width), dtype=np.int64)
    ratios = np.zeros((len(bills), width), dtype=np.int64)
    for i, (_, bands) in enumerate(bills):
        for j, (w, r) in enumerate(bands):
            widths[i, j], ratios[i, j] = w, r
    got = above_fund_cap(np.array([room for room, _ in bills], dtype=np.int64), widths, ratios)
    expected = [_above_fund_cap_walk(room, widths[i].tolist(), ratios[i].tolist()) for i, (room, _) in enumerate(bills)]
    assert got.tolist() == expected


def test_the_expense_above_a_fund_cap_rounds_a_half_fen_up() -> None:
    """Room 1 fen, a band of 10 fen at 0.4: it covers 2.5 fen of it; 7.5 fen above, 8 to the fen."""
    from medins.engine.columns import above_fund_cap

    got = above_fund_cap(np.array([1]), np.array([[10]]), np.array([[40_000_000]]))
    assert got.tolist() == [8] == [_above_fund_cap_walk(1, [10], [40_000_000])]
