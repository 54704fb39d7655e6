"""Settle many bills at once: each person's bills in service-date order, year-to-date amounts carried.

BILLS holds one row per bill, columns named like the case file, flattened (``person_id``,
``visit_region``, ``admitted`` …); ITEMS, optionally, one row per bill line referring to ``bill_id``.
Every row ends up either settled in OUT or listed in REJECTS with its row number, column and reason:
input rows = accepted + rejected, for bills and for item lines.

The package reads as the run goes:

- :mod:`~medins.batch.run` — a run from end to end; :mod:`~medins.batch.options` what it is asked
  and reports; :mod:`~medins.batch.tables` the inputs opened, headers mapped
  (:mod:`~medins.batch.schema`), cells read (:mod:`~medins.batch.values`);
- :mod:`~medins.batch.engines` — over columns when the files are plainly regular, else record by
  record;
- over columns: :mod:`~medins.batch.read` → :mod:`~medins.batch.lines` (each item line split by its
  catalogue as it is read) → :mod:`~medins.batch.partition` → :mod:`~medins.batch.waves` (each
  partition settled in waves) → :mod:`~medins.batch.write`; :mod:`~medins.batch.settle` drives them,
  :mod:`~medins.batch.pool` shares them among ``--jobs`` processes;
- record by record: :mod:`~medins.batch.check` (the scan) → :mod:`~medins.batch.records`, each bill
  by :mod:`~medins.batch.bill`;
- then :mod:`~medins.batch.summary`, :mod:`~medins.batch.clearing` and :mod:`~medins.batch.ytd`;
  ``--reform`` in :mod:`~medins.batch.compare`, ``--explain`` in :mod:`~medins.batch.explain`.

A file only the careful reading reads (not plainly regular, or with a row it rejects, or an XLSX)
has three phases:

1. *scan* (main process): read both files once, remembering each record's byte range, not its
   values; map headers through one alias table; reject duplicate bill ids and orphan item lines;
2. *settle*: the accepted bills' records re-read by range, and settled over columns by partitions
   of persons (:mod:`medins.batch.scanned`); where the arrays refuse a partition, or with
   ``engine="records"``: each bill's case built with :func:`medins.api.parse_case` and settled with
   :func:`medins.api.estimate` and its person's year-to-date amounts (in-process, or in ``--jobs``
   worker processes that each own a share of the year-to-date keys below);
3. *write* (main process): OUT in input order, then REJECTS, SUMMARY, CLEARING and the year-to-date
   state — all to temporary files moved into place only when the run succeeds.

The scan checks every record once, for both ways of settling (in-process and ``--jobs``): a row
whose cell count differs from the header's, a quote that swallowed the rows after it, an ID in
scientific notation, a date cell that is not a date, one ``person_id`` with two names. A rejected
row is never sent to be settled.

Year-to-date amounts belong to a person *in one insured place, under one scheme, in one year*: the
key is ``(person_id, insured_region, scheme, year)``, the year the service date's. The bills of one
key settle in service-date order, each from the amounts the one before left; a bill of another key
(a person insured in 330400, then in 130100) starts from zero. ``--ytd-out`` writes and ``--ytd-in``
reads one entry per key, sorted by key (format version 2)::

    {"format": "medins-ytd", "version": 2, "entries": [
      {"person_id": "P01", "insured_region": "130100", "scheme": "resident", "year": 2025,
       "last_service_date": "2025-03-20", "ytd": {"year": 2025, "admissions": 2, ...}}
    ]}

``ytd`` is the case file's ``[ytd]`` table. A version-1 file (keyed by person only) is refused: it
does not say which insured place and scheme its amounts belong to.
"""

import os

from medins.tabular import POLARS_ALLOCATOR

os.environ.setdefault("_RJEM_MALLOC_CONF", POLARS_ALLOCATOR)  # before polars is imported: see there

from medins.batch.explain import Explained, explain_bill
from medins.batch.options import BatchOptions, BatchReport
from medins.batch.run import CheckReport, check_tables, run_batch
from medins.batch.schema import BILL_COLUMNS, ITEM_COLUMNS, OUT_AMOUNTS, REJECT_COLUMNS
from medins.batch.summary import summary_table

__all__ = [
    "BILL_COLUMNS",
    "ITEM_COLUMNS",
    "OUT_AMOUNTS",
    "REJECT_COLUMNS",
    "BatchOptions",
    "BatchReport",
    "CheckReport",
    "Explained",
    "check_tables",
    "explain_bill",
    "run_batch",
    "summary_table",
]
