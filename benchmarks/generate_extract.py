"""A synthetic extract of the national platform's settlement tables, paid as medins pays it.

    python benchmarks/generate_extract.py --bills 200000 --seed 1 --out /tmp/extract

writes ``setl_d.csv`` (one record per settlement, the platform's field names and codes) and
``fee_list_d.csv`` (one row per bill line, by ``setl_id``) to ``--out``. The bills are
``generate.py``'s; each is settled by ``medins batch`` and the platform's amounts are medins' own
(``hifp_pay`` its basic fund, ``hifmi_pay`` its critical-illness fund …), so that ``medins audit``
of the extract matches every record to the fen. Bills medins rejects are left out, as the platform
would not have settled them. With ``--refunds R`` a share R of the settlements is preceded by a
first settlement of the same visit and its refund (``refd_setl_flag`` 1, the amounts negated): the
pair nets to zero. With ``--civil-servant C`` a share C of the employees' settlements has a
civil-servant subsidy (``cvlserv_pay``) that the platform takes from the personal share.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402

from medins.audit import AMOUNTS  # noqa: E402

SETL = [
    "setl_id",
    "mdtrt_id",
    "psn_no",
    "insutype",
    "psn_type",
    "insu_admdvs",
    "mdtrtarea_admvs",
    "fixmedins_code",
    "hosp_lv",
    "begndate",
    "enddate",
    "setl_time",
    "med_type",
    *AMOUNTS,  # the amounts the audit compares, in its order
    "refd_setl_flag",
    "assistance",
    "chronic_diseases",
    "disease",
    "filing_category",
    "filing_destination",
    "filing_start",
    "filing_end",
    "filing_materials",
]
FEE = ["setl_id", "mdtrt_id", "hilist_code", "hilist_name", "dosage_form", "spec", "cnt", "pric"]
FEE += ["det_item_fee_sumamt", "restriction_met"]

INSUTYPE = {"employee": "310", "resident": "390"}
MED_TYPE = {"outpatient": "11", "chronic_outpatient": "14", "inpatient": "21"}
PSN_TYPE = {"in_service": "11", "retired": "21"}
HOSP_LV = {"1": "08", "2": "05", "3": "02"}
HOSPITALS = 200  # designated hospitals of a treatment place that its visitors use
# medins OUT amount → the platform's field
PAID = {
    "total": "medfee_sumamt",
    "fully_self_paid": "fulamt_ownpay_amt",
    "over_ceiling": "overlmt_selfpay",
    "pre_self_pay": "preselfpay_amt",
    "in_scope": "inscp_amt",
    "deductible": "act_pay_dedc",
    "basic_fund": "hifp_pay",
    "critical_illness_fund": "hifmi_pay",
    "large_amount_fund": "hifob_pay",
    "medical_assistance_fund": "maf_pay",
    "fund_total": "fund_pay_sumamt",
    "personal_total": "psn_pay",
}


def _negated(value: str) -> str:
    d = -Decimal(value or "0")
    return f"{d:.2f}"


def extract(bills: int, items_per_bill: int, seed: int, out: Path, refunds: float, civil: float) -> tuple[int, int]:
    """Write setl_d.csv and fee_list_d.csv; return (settlement records, fee lines)."""
    from medins.batch import BatchOptions, run_batch

    rng = random.Random(seed + 1000)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="medins-extract-") as folder:
        work = Path(folder)
        generate(bills, items_per_bill, seed, work)
        items = work / "items.csv" if items_per_bill > 0 else None
        run_batch(BatchOptions(work / "bills.csv", work / "settled.csv", items, work / "rejects.csv"))
        with (work / "settled.csv").open(encoding="utf-8-sig", newline="") as f:
            settled = {r["bill_id"]: r for r in csv.DictReader(f)}
        records = lines = 0
        with (
            (work / "bills.csv").open(encoding="utf-8", newline="") as fb,
            (out / "setl_d.csv").open("w", encoding="utf-8", newline="") as fs,
        ):
            writer = csv.DictWriter(fs, SETL)
            writer.writeheader()
            on_day: dict[str, int] = {}
            for n, bill in enumerate(csv.DictReader(fb)):
                paid = settled.get(bill["bill_id"])
                if paid is None:
                    continue
                begin = bill["admitted"] or bill["date"]
                end = bill["discharged"] or bill["date"]
                k = on_day[end] = on_day.get(end, 0) + 1  # the file's order within a day: settlement time
                row = {
                    "setl_id": bill["bill_id"],
                    "mdtrt_id": "M" + bill["bill_id"],
                    "psn_no": bill["person_id"],
                    "insutype": INSUTYPE[bill["scheme"]],
                    "psn_type": PSN_TYPE.get(bill["status"], bill["status"]),
                    "insu_admdvs": bill["insured_region"],
                    "mdtrtarea_admvs": bill["visit_region"],
                    "fixmedins_code": f"H{bill['visit_region']}{n % HOSPITALS:05d}",
                    "hosp_lv": HOSP_LV[bill["hospital_level"]],
                    "begndate": begin,
                    "enddate": end,
                    "setl_time": f"{end} {k // 3600:02d}:{k // 60 % 60:02d}:{k % 60:02d}",
                    "med_type": MED_TYPE[bill["visit_type"]],
                    **{PAID[k]: paid[k] for k in PAID},
                    "cvlserv_pay": "0.00",
                    "hifes_pay": "0.00",
                    "othfund_pay": "0.00",
                    "acct_pay": "0.00",
                    "refd_setl_flag": "0",
                    **{k: bill.get(k, "") for k in SETL[31:]},
                }
                if bill["scheme"] == "employee" and rng.random() < civil:
                    personal = Decimal(row["psn_pay"])
                    subsidy = (personal * Decimal("0.3")).quantize(Decimal("0.01"))
                    row["cvlserv_pay"] = f"{subsidy:.2f}"
                    row["fund_pay_sumamt"] = f"{Decimal(row['fund_pay_sumamt']) + subsidy:.2f}"
                    row["psn_pay"] = f"{personal - subsidy:.2f}"
                row["cash_payamt"] = row["psn_pay"]
                if rng.random() < refunds:  # settled first, refunded, settled again as above
                    first = dict(row, setl_id="F" + row["setl_id"], setl_time=row["setl_time"][:11] + "00:00:00")
                    back = {
                        k: _negated(v)
                        if k in PAID.values()
                        or k in ("cvlserv_pay", "hifes_pay", "othfund_pay", "acct_pay", "cash_payamt")
                        else v
                        for k, v in first.items()
                    }
                    back.update(setl_id="R" + row["setl_id"], refd_setl_flag="1")
                    writer.writerow(first)
                    writer.writerow(back)
                    records += 2
                writer.writerow(row)
                records += 1
        if items is None:
            (out / "fee_list_d.csv").write_text(",".join(FEE) + "\n", encoding="utf-8")
            return records, 0
        with (
            items.open(encoding="utf-8", newline="") as fi,
            (out / "fee_list_d.csv").open("w", encoding="utf-8", newline="") as fl,
        ):
            writer_l = csv.writer(fl)
            writer_l.writerow(FEE)
            for line in csv.DictReader(fi):
                if line["bill_id"] not in settled:
                    continue
                writer_l.writerow(
                    [
                        line["bill_id"],
                        "M" + line["bill_id"],
                        line["code"],
                        line["name"],
                        line["dosage_form"],
                        line["spec"],
                        line["quantity"],
                        line["unit_price"],
                        line["amount"],
                        line["restriction_met"],
                    ]
                )
                lines += 1
    return records, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bills", type=int, default=200_000)
    parser.add_argument("--items-per-bill", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--refunds", type=float, default=0.0, help="share of settlements refunded once first")
    parser.add_argument("--civil-servant", type=float, default=0.0, help="share of employees' with cvlserv_pay")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    records, lines = extract(args.bills, args.items_per_bill, args.seed, args.out, args.refunds, args.civil_servant)
    print(f"{records} settlement records, {lines} fee lines -> {args.out}")


if __name__ == "__main__":
    main()
