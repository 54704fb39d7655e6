"""The batch over columns against the batch bill by bill: the same bytes in every output.

The record-by-record path (``BatchOptions(engine="records")``) settles each bill with
:func:`medins.api.estimate` and carries each person's year-to-date amounts from one bill to the
next; it is the oracle. The columns path settles the same month in partitions, waves and rule cells,
and must write the same OUT, REJECTS, SUMMARY, CLEARING and YTD, byte for byte:

- 20,000 generated bills (every shipped pack, filing category, visit type and level, tier 2,
  assistance, chronic diseases, itemised and summary bills, chains of up to a dozen bills a person),
  with a share of cells made bad or unusual so that some bills go to the per-bill engine and are
  rejected or accepted there, in their person's order;
- one partition, and many partitions settled by two worker processes;
- a month split in two halves, the second read with the first's ``--ytd-out``.

``MEDINS_PROPERTY_SEED`` chooses another generated month.
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from medins import settle_table
from medins.batch import BatchOptions, run_batch

ROOT = Path(__file__).parent.parent
SEED = int(os.environ.get("MEDINS_PROPERTY_SEED", "2026"))
BILLS = 20_000
OUTPUTS = ("out.csv", "out.rejects.csv", "summary.json", "clearing.csv", "ytd.json")

# Cells made bad or unusual, each in a share of bills: (column, value, file)
CHANGES = [
    ("hospital_level", "7", "bills"),  # refused by the case model: rejected
    ("visit_region", "119999", "bills"),  # no such region: rejected
    ("insured_region", "999999", "bills"),  # no pack: rejected
    ("hospital_level", "三级甲等", "bills"),  # a level the per-bill engine reads: accepted
    ("admitted", "2025/3/10", "bills"),  # another date form, read as a date
    ("unit_price", "1,234.50", "items"),  # a grouped amount: the per-bill engine reads it
    ("unit_price", "12,34", "items"),  # a decimal comma: rejected
    ("quantity", "0", "items"),  # refused: rejected
    ("restriction_met", "是", "items"),  # Chinese yes
    ("amount", "99999999.99", "items"),  # too large for the line: rejected or capped
    ("filing_start", "2025-01-20", "bills"),  # after some visits: not yet valid, or filed before discharge
    ("filing_destination", "310000", "bills"),  # another destination: a mismatch unless treated there
]


def _change(folder: Path, rng: random.Random, share: float) -> None:
    """Make a share of cells bad or unusual (as CHANGES lists), without quotes or delimiters."""
    for name in ("bills", "items"):
        path = folder / f"{name}.csv"
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        header = rows[0]
        for row in rows[1:]:
            for column, value, where in CHANGES:
                if where == name and column in header and rng.random() < share:
                    row[header.index(column)] = value
        with path.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(rows)


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory, generate_month: Any) -> Path:
    folder = tmp_path_factory.mktemp("month")
    generate_month(BILLS, 4, SEED, folder)
    _change(folder, random.Random(SEED), 0.003)
    return folder


def _run(bills: Path, items: Path | None, out: Path, **options: object) -> dict[str, bytes]:
    out.mkdir(parents=True, exist_ok=True)
    run_batch(
        BatchOptions(
            bills=bills,
            items=items,
            out=out / "out.csv",
            summary=out / "summary.json",
            clearing=out / "clearing.csv",
            ytd_out=out / "ytd.json",
            lang="en",
            **options,  # type: ignore[arg-type]
        )
    )
    return {name: (out / name).read_bytes() for name in OUTPUTS}


def _same(a: dict[str, bytes], b: dict[str, bytes]) -> None:
    for name in OUTPUTS:
        assert a[name] == b[name], f"{name} differs"


def _items_of(month: Path, keep: set[str], path: Path) -> Path:
    """The month's item lines of the bills ``keep``, every one of them (no orphan line), in ``path``."""
    with (month / "items.csv").open(encoding="utf-8", newline="") as f:
        lines = list(csv.reader(f))
    bill = lines[0].index("bill_id")
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([lines[0], *(r for r in lines[1:] if r[bill] in keep)])
    return path


def test_the_month_was_made_to_use_both_engines(month: Path, tmp_path: Path) -> None:
    """The changed cells send bills to the per-bill engine, which rejects some and accepts others."""
    got = _run(month / "bills.csv", month / "items.csv", tmp_path / "o")
    rejects = got["out.rejects.csv"].decode("utf-8-sig")
    assert len(rejects.splitlines()) > 100
    for value in ("12,34", "999999", "119999", "'7'"):
        assert value in rejects, value
    assert got["out.csv"].decode("utf-8-sig").count("\n") > BILLS * 0.9


def test_columns_settle_every_output_as_bill_by_bill(month: Path, tmp_path: Path) -> None:
    records = _run(month / "bills.csv", month / "items.csv", tmp_path / "records", engine="records")
    columns = _run(month / "bills.csv", month / "items.csv", tmp_path / "columns")
    _same(records, columns)


def test_many_partitions_in_two_processes_settle_the_same(month: Path, tmp_path: Path) -> None:
    one = _run(month / "bills.csv", month / "items.csv", tmp_path / "one")
    parts = _run(month / "bills.csv", month / "items.csv", tmp_path / "parts", memory=16 * 2**20, jobs=2)
    _same(one, parts)


def month_halves(month: Path, folder: Path) -> Path:
    """The month's bills split at the median service day into ``first.csv`` and ``second.csv`` in
    ``folder`` (returned)."""
    frame = pl.read_csv(month / "bills.csv", infer_schema=False).fill_null("")
    day = pl.coalesce(
        [pl.col(c).replace("", None).str.replace_all("/", "-").str.to_date(strict=False) for c in ("admitted", "date")]
    )
    frame = frame.with_columns(day.alias("_day"))
    cut = frame["_day"].drop_nulls().sort()[frame.height // 2]
    folder.mkdir()
    frame.filter(pl.col("_day") < cut).drop("_day").write_csv(folder / "first.csv")
    frame.filter(pl.col("_day") >= cut).drop("_day").write_csv(folder / "second.csv")
    items = pl.read_csv(month / "items.csv", infer_schema=False)
    for half in ("first", "second"):  # each half's own item lines
        ids = pl.read_csv(folder / f"{half}.csv", infer_schema=False)["bill_id"]
        items.filter(pl.col("bill_id").is_in(ids.implode())).write_csv(folder / f"{half}-items.csv")
    return folder


def test_a_month_in_two_halves_carries_the_year_to_date(month: Path, tmp_path: Path) -> None:
    """The first half's --ytd-out read by the second half, on both paths."""
    halves = month_halves(month, tmp_path / "halves")
    for engine in ("records", "columns"):
        _run(halves / "first.csv", halves / "first-items.csv", tmp_path / engine / "1", engine=engine)
    outs = {}
    for engine in ("records", "columns"):
        outs[engine] = _run(
            halves / "second.csv",
            halves / "second-items.csv",
            tmp_path / engine / "2",
            engine=engine,
            ytd_in=tmp_path / engine / "1" / "ytd.json",
        )
    _same(outs["records"], outs["columns"])


def test_partitions_read_their_own_persons_year_to_date(month: Path, tmp_path: Path) -> None:
    """In partitions, each of which reads only its own persons' --ytd-in entries (here and in a
    worker), the second half settles as bill by bill does. The first half's amounts are raised so
    that what is carried changes what the second half pays (the test fails if an entry is read in
    another partition than its person's bills)."""
    halves = month_halves(month, tmp_path / "halves")
    _run(halves / "first.csv", halves / "first-items.csv", tmp_path / "1")
    ytd = json.loads((tmp_path / "1" / "ytd.json").read_text("utf-8"))
    spent = {"in_scope": "30000.00", "deductible": "1800.00", "fund": "20000.00", "above_cap": "0.00"}
    for entry in ytd["entries"]:
        entry["ytd"].update(inpatient=spent, outpatient=spent, tier2_base="30000.00")
    carried = tmp_path / "carried.json"
    carried.write_text(json.dumps(ytd, ensure_ascii=False), "utf-8")
    second, items = halves / "second.csv", halves / "second-items.csv"
    records = _run(second, items, tmp_path / "records", engine="records", ytd_in=carried)
    fresh = _run(second, items, tmp_path / "fresh", engine="records")
    assert records["out.csv"].count(b"\n") > BILLS * 0.4, "the second half is settled, not rejected"
    assert records["out.csv"] != fresh["out.csv"], "the carried amounts change what is paid"
    for jobs in (1, 2):
        _same(records, _run(second, items, tmp_path / f"parts-{jobs}", memory=2**20, jobs=jobs, ytd_in=carried))


def test_carried_chronic_amounts_stay_on_the_columns(
    month: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person whose --ytd-in record names a chronic disease that none of the run's bills is for is
    still settled over columns, that disease's amounts carried to --ytd-out as they came: only what
    the arrays cannot hold (assistance stages, another year's record) is left to the per-bill engine."""
    from medins.batch import waves

    halves = month_halves(month, tmp_path / "halves")
    _run(halves / "first.csv", halves / "first-items.csv", tmp_path / "1")
    ytd = json.loads((tmp_path / "1" / "ytd.json").read_text("utf-8"))
    carried = {e["person_id"] for e in ytd["entries"] if e["ytd"]["chronic"]}
    second = pl.read_csv(halves / "second.csv", infer_schema=False).fill_null("")
    chronic_now = set(second.filter(pl.col("visit_type") == "chronic_outpatient")["person_id"].to_list())
    assert carried - chronic_now, "the month has persons whose chronic amounts are only carried"
    unheld = sum(
        1 for e in ytd["entries"] if e["ytd"].get("assistance_stage_base") or e["ytd"].get("assistance_stage_fund")
    )
    alone: list[int] = []
    state = waves._Run._state

    def counted(self, *args):  # type: ignore[no-untyped-def]
        got = state(self, *args)
        alone.append(len(self.key_alone))
        return got

    monkeypatch.setattr(waves._Run, "_state", counted)
    _run(halves / "second.csv", halves / "second-items.csv", tmp_path / "2", ytd_in=tmp_path / "1" / "ytd.json")
    assert alone and sum(alone) <= unheld


def test_settle_table_gives_the_batch_rows(month: Path, tmp_path: Path) -> None:
    got = _run(month / "bills.csv", month / "items.csv", tmp_path / "o", engine="records")
    bills = pl.read_csv(month / "bills.csv", infer_schema=False)
    items = pl.read_csv(month / "items.csv", infer_schema=False)
    table = settle_table(bills, items, lang="en")
    assert table.height == bills.height
    settled = table.filter(pl.col("rejected") == "").drop("rejected")
    out = pl.read_csv(tmp_path / "o" / "out.csv", infer_schema=False).fill_null("")
    assert settled.equals(out)
    rejected = table.with_row_index("row").filter(pl.col("rejected") != "")
    rejects = pl.read_csv(tmp_path / "o" / "out.rejects.csv", infer_schema=False).fill_null("")
    bill_rejects = rejects.filter(pl.col("file") == "bills")
    assert [r + 2 for r in rejected["row"].to_list()] == [int(r) for r in bill_rejects["row"].to_list()]
    assert rejected["rejected"].to_list() == bill_rejects["reason"].to_list()
    assert got["out.csv"]


@pytest.mark.parametrize(
    ("encoding", "every", "added"),
    [("gb18030", 7, '，"说明"\n第二行'), ("utf-8", 7, '，"说明"'), ("utf-8", 1, '，"说明"\n第二行')],
    ids=["gb18030-line-breaks", "utf8-quotes", "utf8-line-breaks-everywhere"],
)
def test_lines_read_back_from_a_file_in_partitions(
    month: Path, tmp_path: Path, encoding: str, every: int, added: str
) -> None:
    """Bills settled one at a time read their item lines back from where the line pass noted them:
    in a GB18030 file (from its UTF-8 copy in the spool), across partitions, with records that hold
    quotes and line breaks. With ``--jobs 2`` a UTF-8 ITEMS is split in ranges by both processes
    (line numbers, warnings' first lines and the lines read back made the file's); where every line
    holds a line break inside a quoted cell, the ranges' cuts fall inside records and the run reads
    ITEMS again in one pass: the same outputs either way."""
    src = tmp_path / "src"
    src.mkdir()
    with (month / "bills.csv").open(encoding="utf-8", newline="") as f:
        bills = list(csv.reader(f))[:1501]
    keep = {row[bills[0].index("bill_id")] for row in bills[1:]}
    with (month / "items.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    head, lines = rows[0], [r for r in rows[1:] if r[rows[0].index("bill_id")] in keep]
    name, price, amount = head.index("name"), head.index("unit_price"), head.index("amount")
    for k, row in enumerate(lines):
        if k % every == 0:
            row[name] = f"{row[name]}{added}"  # a quote (and a line break) inside a cell
        if k % 11 == 0:
            row[price], row[amount] = "1,234.50", ""  # the per-bill engine reads this: its bill reads its lines back
    for file, table in (("bills.csv", bills), ("items.csv", [head, *lines])):
        with (src / file).open("w", encoding=encoding, newline="") as f:
            csv.writer(f, lineterminator="\r\n").writerows(table)
    records = _run(src / "bills.csv", src / "items.csv", tmp_path / "records", engine="records")
    for memory, jobs in ((2**20, 1), (2**20, 2)):
        columns = _run(src / "bills.csv", src / "items.csv", tmp_path / f"columns-{jobs}", memory=memory, jobs=jobs)
        _same(records, columns)
    assert "'1,234.50'" not in records["out.rejects.csv"].decode("utf-8-sig")  # those bills settled


def test_a_person_with_two_names_in_a_partition_sends_the_run_to_the_careful_path(month: Path, tmp_path: Path) -> None:
    """One person's bills carry two names: the partition that holds them finds it as it is settled
    (here in a worker), and the whole run is read again by the careful path, which rejects both
    bills naming the person; nothing the partitions settled before is written."""
    with (month / "bills.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[:3001]
    head = rows[0]
    person = head.index("person_id")
    count = Counter(row[person] for row in rows[1:])
    first = next(row[person] for row in rows[1:] if count[row[person]] >= 2)  # a person with several bills
    twice = [k for k, row in enumerate(rows[1:], 1) if row[person] == first]
    head.append("person_name")
    for k, row in enumerate(rows[1:], 1):
        row.append("乙" if k == twice[-1] else "甲")
    src = tmp_path / "bills.csv"
    with src.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    keep = {row[head.index("bill_id")] for row in rows[1:]}
    items = _items_of(month, keep, tmp_path / "items.csv")
    records = _run(src, items, tmp_path / "records", engine="records")
    columns = _run(src, items, tmp_path / "columns", memory=2**20, jobs=2)
    _same(records, columns)
    rejects = records["out.rejects.csv"].decode("utf-8-sig")
    assert rejects.count(f"person_id '{first}' carries different names") == len(twice)


def test_bills_with_line_breaks_in_cells_read_in_ranges_settle_the_same(month: Path, tmp_path: Path) -> None:
    """With ``--jobs 2`` BILLS is read in byte ranges by both processes. Every bill here holds a cell of
    white space with a line break (stripped to empty, as the careful path strips it), so the ranges'
    cuts fall inside records and BILLS is read again in one pass; the outputs are the careful path's."""
    with (month / "bills.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[:2001]
    disease = rows[0].index("disease")
    for row in rows[1:]:
        row[disease] = row[disease] or " \n "
    keep = {row[rows[0].index("bill_id")] for row in rows[1:]}
    src = tmp_path / "bills.csv"
    with src.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    items = _items_of(month, keep, tmp_path / "items.csv")
    records = _run(src, items, tmp_path / "records", engine="records")
    _same(records, _run(src, items, tmp_path / "columns", memory=2**20, jobs=2))
    assert records["out.csv"].decode("utf-8-sig").count("\n") > 1500


def _made_irregular(month: Path, folder: Path, bills_kept: int = 3000) -> tuple[Path, Path]:
    """Part of the month written so that only the careful reading reads it: cells with spaces at their
    edges, an item name holding the delimiter in quotes, a blank record; and rows that reading rejects
    (a second bill with a bill id already used, an admission date that is not a date, a person id in
    scientific notation, an item line whose bill is not in BILLS)."""
    rng = random.Random(SEED + 1)
    with (month / "bills.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[: bills_kept + 1]
    head = rows[0]
    keep = {row[head.index("bill_id")] for row in rows[1:]}
    for row in rows[1:]:
        if rng.random() < 0.05:
            k = rng.randrange(len(row))
            row[k] = f" {row[k]} "
    rows.append(list(rows[5]))  # the bill id of row 6 again
    rows[40][head.index("admitted")] = "2025-02-30"
    rows[41][head.index("person_id")] = "1.3E+17"
    with (month / "items.csv").open(encoding="utf-8", newline="") as f:
        lines = list(csv.reader(f))
    ihead = lines[0]
    kept = [r for r in lines[1:] if r[ihead.index("bill_id")] in keep]
    for line in kept[::97]:
        line[ihead.index("name")] += ", 另注"
    orphan = list(kept[3])
    orphan[ihead.index("bill_id")] = "NO-SUCH-BILL"
    kept.insert(10, orphan)
    folder.mkdir()
    with (folder / "bills.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerows(rows[:100])
        f.write("\n")  # a blank record
        w.writerows(rows[100:])
    with (folder / "items.csv").open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([ihead, *kept])
    return folder / "bills.csv", folder / "items.csv"


def test_files_ending_with_blank_lines_are_read_over_columns(
    month: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BILLS and ITEMS that end with blank lines (empty, of delimiters only, CRLF) are read by the
    columns reader, not the careful one, which skips those lines too: every output is the bill-by-bill
    path's, in one pass and in ranges with --jobs 2."""
    from medins.batch import records as careful

    with (month / "bills.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[:2001]
    src = tmp_path / "bills.csv"
    with src.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
        f.write("\n" + "," * (len(rows[0]) - 1) + "\n\r\n")
    items = _items_of(month, {row[rows[0].index("bill_id")] for row in rows[1:]}, tmp_path / "items.csv")
    with items.open("a", encoding="utf-8", newline="") as f:
        f.write("\r\n,,\r\n")
    records = _run(src, items, tmp_path / "records", engine="records")
    scans: list[Any] = []
    real = careful._scan_bills
    monkeypatch.setattr(careful, "_scan_bills", lambda *a, **k: scans.append(1) or real(*a, **k))
    _same(records, _run(src, items, tmp_path / "columns"))
    _same(records, _run(src, items, tmp_path / "ranges", memory=2**20, jobs=2))
    assert not scans  # the careful reading never ran
    assert records["out.csv"].decode("utf-8-sig").count("\n") > 1900


def _careful_outcomes(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What each run's settlement over columns of a carefully read file gives, as the runs go: an
    outcome, or None where the bill-by-bill path took over."""
    from medins.batch import scanned

    settled: list[Any] = []
    real = scanned.settle_scanned

    def spy(*args: Any, **kwargs: Any) -> Any:
        settled.append(real(*args, **kwargs))
        return settled[-1]

    monkeypatch.setattr(scanned, "settle_scanned", spy)
    return settled


def test_a_file_only_the_careful_reading_reads_is_settled_over_columns(
    month: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The careful reading rejects what it rejects, with its words; the bills it accepts are settled
    over columns (in one partition, in several, with --jobs 2), and every output is the bytes the
    bill-by-bill path writes."""
    bills, items = _made_irregular(month, tmp_path / "src")
    records = _run(bills, items, tmp_path / "records", engine="records")
    rejects = records["out.rejects.csv"].decode("utf-8-sig")
    for reason in ("is shared by rows 6, 3003", "2025-02-30", "1.3E+17", "NO-SUCH-BILL"):
        assert reason in rejects, reason
    settled = _careful_outcomes(monkeypatch)
    for k, options in enumerate(({}, {"memory": 2**20}, {"memory": 2**20, "jobs": 2})):
        _same(records, _run(bills, items, tmp_path / f"columns-{k}", **options))
    assert len(settled) == 3 and all(o is not None for o in settled)
    assert settled[0].accepted == records["out.csv"].count(b"\n") - 1 > 2500


def test_a_careful_files_bills_are_read_back_by_polars_or_else_record_by_record(
    month: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The records of the bills the careful reading accepted are joined and read back by polars, as a
    regular file's chunks are; a partition holding a record that reading would not take as the csv
    module does (here a carriage return inside a quoted cell) is read back record by record. Every
    output is the bill-by-bill path's either way."""
    from medins.batch import scanned

    bills, items = _made_irregular(month, tmp_path / "src", bills_kept=1500)
    routes: list[str] = []
    by_columns, by_records = scanned._frames_by_columns, scanned._frames_by_records

    def columns(*args: Any) -> Any:
        got = by_columns(*args)  # raises NotRegular when it cannot: the route is then the records'
        routes.append("columns")
        return got

    def records(*args: Any) -> Any:
        routes.append("records")
        return by_records(*args)

    monkeypatch.setattr(scanned, "_frames_by_columns", columns)
    monkeypatch.setattr(scanned, "_frames_by_records", records)
    oracle = _run(bills, items, tmp_path / "oracle", engine="records")
    _same(oracle, _run(bills, items, tmp_path / "columns", memory=2**19))
    assert len(routes) > 3 and set(routes) == {"columns"}

    with items.open(encoding="utf-8", newline="") as f:
        lines = list(csv.reader(f))
    lines[30][lines[0].index("name")] += "\r（续）"
    cr = tmp_path / "cr.csv"
    with cr.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(lines)
    routes.clear()
    oracle = _run(bills, cr, tmp_path / "oracle-cr", engine="records")
    _same(oracle, _run(bills, cr, tmp_path / "columns-cr", memory=2**19))
    assert routes.count("records") == 1 and routes.count("columns") == len(routes) - 1 > 3


def test_a_careful_file_whose_partition_the_arrays_refuse_is_settled_bill_by_bill(
    month: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the arrays refuse a partition of a carefully read file (after others were settled),
    nothing they settled is written: the bills are settled one at a time, as before."""
    from medins.batch import scanned

    bills, items = _made_irregular(month, tmp_path / "src", bills_kept=1500)
    records = _run(bills, items, tmp_path / "records", engine="records")
    calls: list[int] = []
    real = scanned.settle_frames

    def refuse_the_second(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return None if len(calls) == 2 else real(*args, **kwargs)

    monkeypatch.setattr(scanned, "settle_frames", refuse_the_second)
    _same(records, _run(bills, items, tmp_path / "columns", memory=2**19))
    assert len(calls) == 2


def test_a_workbook_is_settled_over_columns_its_lost_cells_rejected(
    month: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An XLSX of bills, read by the careful reading: a bill whose workbook lost a cell (a formula
    saved without its value; a person id stored as a number, past 15 digits) is rejected with the
    words the bill-by-bill path gives; the others are settled over columns, every output the same."""
    from openpyxl import Workbook

    with (month / "bills.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[:801]
    head = rows[0]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(head)
    for k, row in enumerate(rows[1:]):
        cells: list[Any] = list(row)
        if k == 10:
            cells[head.index("hospital_level")] = "=1+2"  # a formula: openpyxl saves no value for it
        if k == 20:
            cells[head.index("person_id")] = 330477194807255022  # a number: digits past 15 are lost
        sheet.append(cells)
    bills = tmp_path / "bills.xlsx"
    book.save(bills)
    keep = {row[head.index("bill_id")] for row in rows[1:]}
    items = _items_of(month, keep, tmp_path / "items.csv")
    records = _run(bills, items, tmp_path / "records", engine="records")
    rejects = records["out.rejects.csv"].decode("utf-8-sig")
    assert "without a cached value" in rejects and "digits beyond 15 are lost" in rejects
    settled = _careful_outcomes(monkeypatch)
    _same(records, _run(bills, items, tmp_path / "columns"))
    assert settled and settled[0] is not None
