"""Write: each partition's OUT rows spilled as they are settled, then merged in input order."""

from __future__ import annotations

from dataclasses import dataclass
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
