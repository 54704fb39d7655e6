"""OUT says why a bill settles as it does: the eligibility reason codes and their words (issue 14).

An expired referral once showed only REIMBURSE_AT_HOME (a warning) in OUT; the reason is FILING_EXPIRED.
"""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner

from medins.cli import cli

HEAD = (
    "bill_id,person_id,insured_region,scheme,status,filing_category,filing_destination,filing_start,"
    "filing_materials,visit_region,hospital_level,visit_type,admitted,discharged,total,fully_self_paid,class_b"
)
# a referral filed 2024-06-01 for six months (130100: validity_months = 6): valid to 2024-11-30;
# the stay on 2025-03-10 is after it
EXPIRED = (
    "E1,130102199001010011,130100,resident,general,referral,110000,2024-06-01,"
    "insurance_credential;filing_form;referral_certificate,110000,3,inpatient,2025-03-10,2025-03-20,11000.00,0,0"
)


def _out(tmp_path: Path, lang: str) -> dict[str, str]:
    bills = tmp_path / "bills.csv"
    bills.write_text(HEAD + "\n" + EXPIRED + "\n", encoding="utf-8")
    out = tmp_path / f"out-{lang}.csv"
    result = CliRunner().invoke(cli, ["batch", str(bills), "-o", str(out), "--quiet", "--lang", lang])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8-sig", newline="") as f:
        (row,) = list(csv.DictReader(f))
    return row


def test_an_expired_referral_says_so(tmp_path: Path) -> None:
    row = _out(tmp_path, "en")
    assert row["settlement"] == "reimburse_at_home" and row["benefit_category"] == "unfiled"
    assert row["reasons"] == "FILING_EXPIRED"
    assert row["reason_text"] == "the filing expired on 2024-11-30, before the visit on 2025-03-10"
    zh = _out(tmp_path, "zh")
    assert zh["reason_text"] == "备案有效期至 2024-11-30，就医日 2025-03-10 已过期"
