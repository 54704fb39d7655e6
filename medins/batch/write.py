"""Write: a partition's OUT rows formatted and its sums added (:class:`_Rows`), the rows spilled to a
file as the partition is settled, then merged from all partitions in input order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medins.batch.options import Outcome
from medins.errors import SettlementBug


@dataclass(frozen=True)
class Lines:
    """How OUT's rows become CSV lines in a worker: the writer's kind and its text columns."""

    kind: str
    text: list[int]

    def csv_lines(self, frame: pl.DataFrame) -> bytes:
        from medins.tabular import csv_lines

        return csv_lines(frame, self.text)


LINE_SLICE = 100_000
"""Item lines are split this many at a time."""


OUT_STEP = 50_000
"""OUT is merged from the partitions this many input rows at a time."""


def _total(outcomes: list[Outcome], agg: Any) -> Outcome:
    """The partitions' outcomes as one (the aggregates are the run's, ``agg``)."""
    total = Outcome(agg, [], 0, 0, 0, 0, 0, 0, 0, [])
    for o in outcomes:
        total.finals += o.finals
        total.final_files += o.final_files
        total.rejects += o.rejects
        total.bills += o.bills
        total.items_input += o.items_input
        total.accepted += o.accepted
        total.items_ok += o.items_ok
        total.persons += o.persons
        total.settled_persons += o.settled_persons
        total.reordered += o.reordered
    return total


def _spill_output(writer: Any, out: pl.DataFrame, path: Path, size: int) -> tuple[np.ndarray, Path | list]:
    """A partition's OUT rows: formatted as the final CSV lines in a file, with their input rows, or
    (for an XLSX, or a cell holding a line break) as frames of ``size`` rows in IPC files."""
    rows = out["_row"].to_numpy()
    body = out.drop("_row")
    # only a text column can hold a line break: the others are numbers, dates and flags formatted here
    text = [body.columns[i] for i in writer.text]
    breaks = [pl.col(c).str.contains("\n", literal=True) | pl.col(c).str.contains("\r", literal=True) for c in text]
    if writer.kind == "csv" and not (text and body.select(pl.any_horizontal(breaks).any()).item()):
        with path.open("wb") as f:
            for start in range(0, body.height, 20_000):  # formatted a slice at a time: less held at once
                f.write(writer.csv_lines(body.slice(start, 20_000)))
        return rows, path
    files = []
    for k, start in enumerate(range(0, out.height, size)):
        piece = out.slice(start, size)
        piece_path = path.with_name(f"{path.stem}-{k}.arrow")
        piece.write_ipc(piece_path)
        files.append((int(piece["_row"][0]), int(piece["_row"][-1]), piece_path))
    return rows, files


def _write_in_order(writer: Any, outputs: list[Any], step: int = OUT_STEP) -> None:
    """OUT in input order. Each partition's rows are in input order; the merge takes one line at a
    time from the partition the next row belongs to, holding only a buffer of lines."""
    if len(outputs) == 1 and isinstance(outputs[0], pl.DataFrame):
        writer.write_frame(outputs[0].drop("_row"))
        return
    if all(isinstance(o[1], Path) for o in outputs):
        rows = np.concatenate([o[0] for o in outputs])
        part = np.concatenate([np.full(len(o[0]), p, dtype=np.int32) for p, o in enumerate(outputs)])
        sequence = part[np.argsort(rows, kind="stable")]
        readers = [o[1].open("rb") for o in outputs]
        try:
            for start in range(0, len(sequence), step):
                writer.write_lines(b"".join([readers[p].readline() for p in sequence[start : start + step].tolist()]))
        finally:
            for r in readers:
                r.close()
        return
    _merge_frames(writer, [o[1] if isinstance(o[1], list) else _as_frames(o) for o in outputs], step)


def _as_frames(output: tuple[np.ndarray, Path]) -> list:
    raise SettlementBug("partitions written in two forms")  # both forms come from one writer kind


def _merge_frames(writer: Any, outputs: list[list[tuple[int, int, Path]]], step: int) -> None:
    """OUT in input order from partitions kept as IPC files of a few thousand rows each."""
    queues = [list(files) for files in outputs]
    held: list[list[pl.DataFrame]] = [[] for _ in outputs]
    top = max((files[-1][1] for files in outputs if files), default=-1) + 1
    for start in range(0, top, step):
        end = start + step
        pieces = []
        for p, queue in enumerate(queues):
            while queue and queue[0][0] < end:
                held[p].append(pl.read_ipc(queue.pop(0)[2]))
            keep = []
            for frame in held[p]:
                rows = frame["_row"].to_numpy()
                lo, hi = np.searchsorted(rows, [start, end])
                if hi > lo:
                    pieces.append(frame.slice(int(lo), int(hi - lo)))
                if len(rows) and rows[-1] >= end:
                    keep.append(frame)
            held[p] = keep
        if pieces:
            writer.write_frame(pl.concat(pieces).sort("_row").drop("_row"))


def _dec(fen: Any) -> Decimal:
    v = int(fen)
    return Decimal(f"{v // 100}.{v % 100:02d}")


class _Rows:
    """The OUT rows and sums of :class:`medins.batch.waves._Run`."""

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
