"""What a run is asked (:class:`BatchOptions`) and what it reports (:class:`BatchReport`,
:class:`Outcome`); how many partitions its input is settled in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medins.batch.bill import Aggregates, WorkerConfig
from medins.batch.schema import Reject
from medins.i18n import Lang
from medins.tabular import TableWriter

WORKER_POLL = 0.5  # seconds the main process waits for a result before it checks its workers are alive


@dataclass
class BatchOptions:
    """What ``medins batch`` was asked to do."""

    bills: Path
    out: Path
    items: Path | None = None
    rejects: Path | None = None
    summary: Path | None = None
    clearing: Path | None = None
    ytd_in: Path | None = None
    ytd_out: Path | None = None
    encoding: str = "auto"
    jobs: int = 1
    rules_dir: Path | None = None
    lang: Lang = "zh"
    engine: str = "columns"  # "records": the record-by-record path, bill by bill
    memory: int = 256 * 2**20  # bytes the columns may take before persons are split into partitions
    reform: Path | None = None  # a reform file: every bill settled as the rules are and as reformed
    item_columns: dict[str, tuple[str, ...]] | None = None  # ITEMS' names and aliases, if not ITEM_COLUMNS

    @property
    def rejects_path(self) -> Path:
        """``--rejects``, else OUT with ``.rejects`` before the extension."""
        return self.rejects or self.out.with_name(f"{self.out.stem}.rejects{self.out.suffix}")


@dataclass
class BatchReport:
    """Counts and sums of a finished run; ``summary`` is what ``--summary`` writes."""

    bills_input: int
    bills_rejected: int
    items_input: int
    items_rejected: int
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return self.bills_rejected + self.items_rejected


@dataclass
class Outcome:
    """What settling every bill of a run gives the reports (OUT rows already written): the sums, each
    person's final year-to-date state, the counts, and the rejects the columns found."""

    agg: Aggregates
    finals: list[tuple[Any, str, str]]
    bills: int
    items_input: int
    accepted: int
    items_ok: int
    persons: int
    settled_persons: int
    reordered: int
    rejects: list[Any]
    final_files: list[Path] = field(default_factory=list)
    """More final states, in spool files (:func:`write_finals`): a partition's, sorted by key."""


@dataclass
class ReformRun:
    """What a reform's settlement of the run needs and gives: its config, OUT and rejects."""

    cfg: WorkerConfig
    writer: TableWriter
    rejects: list[Reject] = field(default_factory=list)


BYTES_PER_INPUT_BYTE = 10
"""Memory a partition takes per byte of its input text, measured (the frames, their codes and the
engine's arrays): the number of partitions is the input's size times this over ``--memory``."""


PARTS_PER_JOB = 3
"""With ``--jobs N``, at least this many partitions per process."""


def partitions(size: int, memory: int, jobs: int) -> int:
    """How many partitions an input of ``size`` bytes is settled in, within ``memory`` bytes for
    all ``jobs`` processes together (each holds a partition at a time)."""
    parts = max(1, -(-size * BYTES_PER_INPUT_BYTE * jobs // memory))
    if parts > 1 and jobs > 1:
        parts = max(parts, PARTS_PER_JOB * jobs)  # smaller partitions share out more evenly
    return parts
