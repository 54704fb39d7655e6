"""Audit, the comparison: medins' amounts beside the platform's, record by record, and the report.

The step after :mod:`medins.audit` has settled the extract. Each settled record's OUT amounts are set
beside the platform's fields (:data:`COMPARED`); a refund pair's net beside nothing settled. A record
*matches* when every compared field is equal to the fen, is *within 1 yuan* when no field differs by
more, else *beyond*. The report counts them by insured place, treatment place, visit type, hospital
and hospital level, sums each field, and explains the largest differences with the step of the
per-bill trail that decided medins' amount (:data:`STEPS`), so that a clerk sees which rule value
to check.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medins.batch.compare import _fen_of
from medins.errors import t
from medins.i18n import Lang
from medins.tabular import TableWriter

UNMODELLED = ("cvlserv_pay", "hifes_pay", "othfund_pay")
"""Funds medins does not model: reported apart, outside the comparison of funds and personal share."""

# What is compared: medins' OUT column, the platform's column; fund_total and personal_total are
# the platform's without, and with, the funds medins does not model (see the module's docstring).
COMPARED: tuple[tuple[str, str], ...] = (
    ("total", "medfee_sumamt"),
    ("fully_self_paid", "fulamt_ownpay_amt"),
    ("over_ceiling", "overlmt_selfpay"),
    ("pre_self_pay", "preselfpay_amt"),
    ("in_scope", "inscp_amt"),
    ("deductible", "act_pay_dedc"),
    ("basic_fund", "hifp_pay"),
    ("critical_illness_fund", "hifmi_pay"),
    ("large_amount_fund", "hifob_pay"),
    ("medical_assistance_fund", "maf_pay"),
    ("fund_total", "fund_pay_sumamt"),
    ("personal_total", "psn_pay"),
)
TIER = {
    "basic_fund": "tier1",
    "critical_illness_fund": "tier2",
    "large_amount_fund": "tier2",
    "medical_assistance_fund": "tier3",
}

# The trail's steps that decide each compared amount, in the order the engine takes them.
STEPS: dict[str, tuple[str, ...]] = {
    "total": ("lines", "items"),
    "fully_self_paid": ("lines", "items"),
    "over_ceiling": ("lines", "items"),
    "pre_self_pay": ("lines", "items"),
    "in_scope": ("lines", "items"),
    "deductible": ("deductible_admission", "offsite_deductible", "deductible", "deductible_year_cap"),
    "basic_fund": ("deductible", "offsite_adjustment", "band", "cap", "deductible_year_cap"),
    "critical_illness_fund": ("tier2_base", "tier2_deductible", "tier2_band", "tier2_cap"),
    "large_amount_fund": ("tier2_base", "tier2_deductible", "tier2_band", "tier2_cap"),
    "medical_assistance_fund": (
        "assistance_base",
        "assistance_deductible",
        "assistance_terms",
        "assistance_band",
        "assistance_stage_base",
        "assistance_stage_paid",
        "assistance_cap",
        "assistance_limit",
    ),
    "fund_total": ("band", "cap", "tier2_band", "tier2_cap", "assistance_band", "assistance_cap"),
    "personal_total": ("personal",),
}

CENT = Decimal("0.01")
DIFF_ROWS = 50_000  # DIFF is formatted and written this many rows at a time
WITHIN = 100  # fen: "within 1 yuan"
LARGEST = 10  # the differences the report explains with the trail
STATUSES = ("matched", "within_1_yuan", "beyond")


_AMOUNT = r"^([+-]?)([0-9]{1,15})(?:\.([0-9]+))?$"  # ASCII digits only (the regex's \d takes any script's)
_PLAIN = r"^(?:-?[0-9]{1,15}\.[0-9]{2})?$"


def amounts(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Amount columns as integer fen (empty is 0), and ``{column}_bad``: whether a cell is not an amount.

    ``12``, ``12.3``, ``-12.30`` and ``12.3000`` are amounts; ``12.345`` (finer than the fen), ``1,200``
    and ``12元`` are not: a cell is read exactly or refused, never rounded.
    """
    cells = frame.select(pl.col(c).cast(pl.String).fill_null("").str.strip_chars() for c in columns)
    plain = dict(zip(columns, cells.select(pl.all().str.contains(_PLAIN).all()).row(0), strict=True))
    parts = cells.with_columns(
        pl.col(c).str.extract_groups(_AMOUNT).alias(f"{c}_parts") for c in columns if not plain[c]
    )
    out = []
    for c in columns:
        if plain[c]:  # every cell is empty or yuan to the fen, as the platform writes them: read at once
            fen = pl.col(c).str.replace(".", "", literal=True).cast(pl.Int64, strict=False).fill_null(0)
            out += [fen.alias(c), pl.lit(False).alias(f"{c}_bad")]
            continue
        part = pl.col(f"{c}_parts").struct
        frac = part.field("3").fill_null("")
        fen = part.field("2").cast(pl.Int64, strict=False).fill_null(0) * 100
        fen = fen + frac.str.slice(0, 2).str.pad_end(2, "0").cast(pl.Int64, strict=False).fill_null(0)
        bad = (part.field("2").is_null() & (pl.col(c) != "")) | frac.str.slice(2).str.contains("[^0]")
        out += [
            pl.when(part.field("1") == "-").then(-fen).otherwise(fen).alias(c),
            bad.fill_null(False).alias(f"{c}_bad"),
        ]
    return parts.select(out)


def fen_of(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """:func:`amounts` of one column of cells."""
    fen, bad = amounts(pl.DataFrame({"x": texts}), ["x"]).get_columns()
    return fen.to_numpy().astype(np.int64), bad.to_numpy()


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


@dataclass
class Comparison:
    """Per record of the extract (by index): medins' and the platform's amounts in fen, their
    difference, the largest one, and the record's status."""

    fields: list[str]
    mine: dict[str, np.ndarray]
    theirs: dict[str, np.ndarray]
    diff: dict[str, np.ndarray]
    worst: np.ndarray
    status: np.ndarray
    settled: np.ndarray  # settled by medins: compared
    paired: np.ndarray  # a refund pair: its net compared with nothing
    partner: dict[int, str]  # a refund pair's other record
    keys: dict[str, pl.Series]  # insured_region, visit_region, visit_type, hospital, hospital_level, service_date
    unmodelled: np.ndarray


def platform_amounts(fen: dict[str, np.ndarray], name: str, n: int) -> np.ndarray:
    """The platform's amount to set beside medins' ``name``: a column, or for the fund total and the
    personal share, the column without / with the funds medins does not model."""
    value = fen[dict(COMPARED)[name]].copy()
    unmodelled = sum((fen[c] for c in UNMODELLED if c in fen), np.zeros(n, dtype=np.int64))
    if name == "fund_total":
        value -= unmodelled
    elif name == "personal_total":
        value += unmodelled
    return value


def compare(
    ids: list[str],
    fen: dict[str, np.ndarray],
    bad: np.ndarray,
    refund: np.ndarray,
    pairs: list[tuple[int, int]],
    settled: pl.DataFrame,
    keys: dict[str, pl.Series],
) -> Comparison:
    """Each record's amounts, medins' (from OUT, by ``setl_id``) against the platform's ``fen``."""
    n = len(ids)
    fields = [m for m, p in COMPARED if p in fen]
    rows = settled.select(pl.col("bill_id").alias("id"), pl.int_range(pl.len(), dtype=pl.Int64).alias("at"))
    wanted = pl.DataFrame({"id": pl.Series(ids, dtype=pl.String)})
    at = wanted.join(rows.unique("id", keep="last"), on="id", how="left", maintain_order="left")["at"]
    row_of = np.where(bad, -1, at.fill_null(-1).to_numpy()).astype(np.int64)
    has = row_of >= 0
    paired = np.zeros(n, dtype=bool)
    for j, i in pairs:
        paired[[i, j]] = True
    mine, theirs, diff = {}, {}, {}
    worst = np.zeros(n, dtype=np.int64)
    out = settled.select([_fen_of(name).fill_null(0).alias(name) for name in fields])
    for name in fields:
        values = out[name].to_numpy()
        mine[name] = np.where(has, values[np.maximum(row_of, 0)] if len(values) else 0, 0)
        theirs[name] = platform_amounts(fen, name, n)
        for j, i in pairs:  # a refund pair: the platform's net, against nothing settled
            theirs[name][i] = theirs[name][j] = theirs[name][i] + theirs[name][j]
        diff[name] = np.where(has | paired, mine[name] - theirs[name], 0)
        worst = np.maximum(worst, np.abs(diff[name]))
    status = np.full(n, "not_settled", dtype=object)
    status[has & (worst == 0)] = "matched"
    status[has & (worst > 0) & (worst <= WITHIN)] = "within_1_yuan"
    status[has & (worst > WITHIN)] = "beyond"
    status[paired & (worst == 0)] = "refund_pair"
    status[paired & (worst > 0)] = "refund_pair_not_zero"
    status[refund & ~paired] = "refund_unmatched"
    status[bad] = "rejected"
    found = pl.Series(has)
    for name in ("visit_region", "visit_type", "service_date"):
        column = settled[name].gather(np.maximum(row_of, 0)) if settled.height else pl.Series([""] * n)
        keys[name] = pl.select(pl.when(found).then(column).otherwise(pl.lit(""))).to_series().alias(name)
    partner = {i: ids[j] for j, i in pairs} | {j: ids[i] for j, i in pairs}
    unmodelled = sum((fen[c] for c in UNMODELLED if c in fen), np.zeros(n, dtype=np.int64))
    return Comparison(fields, mine, theirs, diff, worst, status, has, paired, partner, keys, unmodelled)


def write_diff(
    path: Path,
    target: Path,
    c: Comparison,
    ids: list[str],
    visits: pl.Series,
    persons: pl.Series,
    largest: list[dict[str, Any]],
    notes: dict[int, str],
    lang: Lang,
) -> None:
    """DIFF: one row per record read (not the rejected), both amounts and their difference per field."""
    keep = np.flatnonzero(c.status != "rejected")
    steps = [""] * len(ids)
    for item in largest:
        if item.get("step"):
            steps[item["index"]] = step_text(item["step"], lang)
    noted = [""] * len(ids)
    for i, note in notes.items():
        noted[i] = note
    partner = np.full(len(ids), "", dtype=object)
    for i, other in c.partner.items():
        partner[i] = other
    k = c.keys
    texts = {
        "setl_id": ids,
        "mdtrt_id": visits,
        "psn_no": persons,
        **{name: k[name] for name in ("insured_region", "visit_region", "visit_type", "hospital", "service_date")},
        "status": c.status.tolist(),
        "refund_of": partner.tolist(),
        "trail_step": steps,
        "note": noted,
    }
    frame = pl.DataFrame([pl.Series(name, v, dtype=pl.String) for name, v in texts.items()])
    amounts = {"largest_difference": c.worst, "unmodelled_funds": c.unmodelled}
    for name in c.fields:
        amounts |= {f"platform_{name}": c.theirs[name], f"medins_{name}": c.mine[name], f"diff_{name}": c.diff[name]}
    frame = frame.with_columns(
        pl.Series("_shown", c.settled | c.paired),
        *(pl.Series(f"_{name}", values) for name, values in amounts.items()),
        *(pl.Series(f"_d{name}", c.diff[name] != 0) for name in c.fields),
    )
    if len(keep) < frame.height:
        frame = frame[keep]
    shown = pl.col("_shown")
    order = ["setl_id", "mdtrt_id", "psn_no", "insured_region", "visit_region", "visit_type", "hospital"]
    order += ["service_date", "status", "refund_of", "largest_difference", "differing"]
    for name in c.fields:
        order += [f"platform_{name}", f"medins_{name}", f"diff_{name}"]
    order += ["unmodelled_funds", "trail_step", "note"]
    money_of = {
        name: money_text(pl.col(f"_{name}"))
        if name.startswith(("platform_", "unmodelled"))
        else pl.when(shown).then(money_text(pl.col(f"_{name}"))).otherwise(pl.lit(""))
        for name in amounts
    }
    differing = pl.concat_str(
        [pl.when(pl.col(f"_d{name}")).then(pl.lit(name)) for name in c.fields], separator=";", ignore_nulls=True
    ).fill_null("")
    columns = {**money_of, "differing": differing}
    shown_columns = [columns[name].alias(name) if name in columns else pl.col(name) for name in order]
    kinds = ["text"] * 10 + ["money", "text"] + ["money"] * (3 * len(c.fields)) + ["money", "text", "text"]
    writer = TableWriter(path, target, order, kinds, "audit")
    for start in range(0, max(frame.height, 1), DIFF_ROWS):  # the text of a slice at a time
        writer.write_frame(frame.slice(start, DIFF_ROWS).select(shown_columns))
    writer.close()


def money_text(fen: pl.Expr) -> pl.Expr:
    """Integer fen as OUT writes money (two decimals, ``-`` before a negative): the fen as an exact
    decimal of two places, which polars writes so."""
    return (fen.cast(pl.Decimal(38, 0)) * pl.lit(CENT, dtype=pl.Decimal(38, 2))).cast(pl.String)


def largest(
    c: Comparison, ids: list[str], rows: np.ndarray, explain: Callable[[list[dict[str, Any]]], None]
) -> list[dict[str, Any]]:
    """The records of the largest differences (at most :data:`LARGEST`), each with the field that
    differs most; ``explain`` adds the step of the trail that decided medins' amount of it."""
    candidates = np.flatnonzero(c.settled & (c.worst > 0))
    top = sorted(candidates, key=lambda i: (-int(c.worst[i]), ids[i]))[:LARGEST]
    out = []
    for i in top:
        name = max(c.fields, key=lambda m: (abs(int(c.diff[m][i])), m in TIER))
        out.append(
            {
                "index": int(i),
                "row": int(rows[i]),
                "setl_id": ids[i],
                "field": name,
                "platform_field": dict(COMPARED)[name],
                "platform": yuan(int(c.theirs[name][i])),
                "medins": yuan(int(c.mine[name][i])),
                "difference": yuan(int(c.diff[name][i])),
            }
        )
    if out:
        explain(out)
    return out


def deciding(trail: Any, name: str) -> dict[str, Any] | None:
    """The last step of a trail among those that decide ``name``."""
    found = None
    for step in trail:
        if step.key in STEPS.get(name, ()):
            found = step
    if found is None:
        return None
    return {
        "key": found.key,
        "text": {"zh": found.text.zh, "en": found.text.en},
        "formula": found.formula,
        "sources": list(found.sources),
    }


def step_text(step: dict[str, Any], lang: Lang) -> str:
    sources = "; ".join(step["sources"])
    return f"{step['key']}: {step['text'][lang]}: {step['formula']}" + (f" [{sources}]" if sources else "")


def summary(c: Comparison, fen: dict[str, np.ndarray], largest: list[dict[str, Any]], lang: Lang) -> dict[str, Any]:
    """The report: counts, each field's sums, the same by place, visit type and hospital, the largest."""
    n = len(c.status)
    has = c.settled

    def count(status: str) -> int:
        return int(np.count_nonzero(c.status == status))

    status = pl.Series(c.status.astype(str)).filter(pl.Series(has))

    def by(keys: list[str]) -> dict[str, dict[str, int]]:
        frame = pl.DataFrame({"key": pl.Series(keys, dtype=pl.String).filter(pl.Series(has)), "status": status})
        counts = (
            frame.with_columns(pl.col("key").replace("", "-"))
            .group_by("key")
            .agg(pl.len().alias("records"), *((pl.col("status") == s).sum().alias(s) for s in STATUSES))
            .sort("key")
        )
        return {row.pop("key"): row for row in counts.to_dicts()}

    fields = {}
    for name in c.fields:
        d = c.diff[name][has]
        fields[name] = {
            "platform_field": dict(COMPARED)[name],
            "tier": TIER.get(name, ""),
            "differing": int(np.count_nonzero(d)),
            "platform": yuan(int(c.theirs[name][has].sum())),
            "medins": yuan(int(c.mine[name][has].sum())),
            "difference": yuan(int(d.sum())),
        }
    kept = c.status != "rejected"
    return {
        "records": {
            "input": n,
            "rejected": count("rejected"),
            "compared": int(np.count_nonzero(has)),
            "refund_pairs": len(c.partner) // 2,
            "refund_pairs_not_zero": count("refund_pair_not_zero") // 2,
            "refunds_unmatched": count("refund_unmatched"),
            "not_settled": count("not_settled"),
        },
        "compared": {s: count(s) for s in STATUSES},
        "by_field": fields,
        "by_insured_region": by(c.keys["insured_region"]),
        "by_visit_region": by(c.keys["visit_region"]),
        "by_visit_type": by(c.keys["visit_type"]),
        "by_hospital": by(c.keys["hospital"]),
        "by_hospital_level": by(c.keys["hospital_level"]),
        "unmodelled_funds": {
            **{f: yuan(int(fen[f][kept].sum())) for f in UNMODELLED if f in fen},
            "note": t(
                "公务员医疗补助、企业补充医疗保险和其他基金 medins 不计算：基金合计比较时不含它们，个人负担比较时加回它们",
                "civil-servant subsidy, enterprise supplement and other funds are not modelled by medins: the fund "
                "total is compared without them, the personal share with them added back",
            )(lang),
        },
        "largest": [{k: v for k, v in item.items() if k != "index"} for item in largest],
        "codes": t(
            "平台代码与 medins 取值的对应均为示意值（见 medins/platform.py 的来源）",
            "every mapping of the platform's codes is illustrative (see the sources in medins/platform.py)",
        )(lang),
    }


def summary_table(report: dict[str, Any], lang: Lang) -> str:
    """The report as a clerk reads it: counts, each field's sums, by place and visit type, the largest."""
    from tabulate import tabulate

    zh = lang == "zh"
    r, c = report["records"], report["compared"]
    out = io.StringIO()
    if zh:
        out.write(
            f"结算记录 {r['input']} 条：比较 {r['compared']} 条，拒绝 {r['rejected']} 条，退费配对 {r['refund_pairs']} 对，"
            f"未配对退费 {r['refunds_unmatched']} 条，未结算 {r['not_settled']} 条\n"
            f"一致到分 {c['matched']} 条，相差 1 元以内 {c['within_1_yuan']} 条，相差超过 1 元 {c['beyond']} 条\n"
        )
    else:
        out.write(
            f"settlement records {r['input']}: compared {r['compared']}, rejected {r['rejected']}, refund pairs "
            f"{r['refund_pairs']}, unmatched refunds {r['refunds_unmatched']}, not settled {r['not_settled']}\n"
            f"matched to the fen {c['matched']}, within 1 yuan {c['within_1_yuan']}, beyond {c['beyond']}\n"
        )
    head = ("字段", "平台字段", "不一致", "平台合计", "medins 合计", "差额")
    if not zh:
        head = ("field", "platform field", "differing", "platform", "medins", "difference")
    rows = [
        (name, v["platform_field"], v["differing"], v["platform"], v["medins"], v["difference"])
        for name, v in report["by_field"].items()
    ]
    align = ("left", "left", "right", "right", "right", "right")
    out.write(tabulate(rows, head, disable_numparse=True, colalign=align) + "\n")
    for key, title in (
        ("by_insured_region", ("参保地", "insured place")),
        ("by_visit_type", ("就诊类型", "visit type")),
    ):
        head2 = (title[0], "记录", "一致", "1 元以内", "超过 1 元") if zh else (title[1], "records", *STATUSES)
        rows2 = [(k, v["records"], *(v[s] for s in STATUSES)) for k, v in report[key].items()]
        out.write(tabulate(rows2, head2, disable_numparse=True) + "\n")
    unmodelled = report["unmodelled_funds"]
    parts = ", ".join(f"{k} {v}" for k, v in unmodelled.items() if k != "note")
    if parts:
        out.write(
            f"未计算的基金：{parts}（{unmodelled['note']}）\n"
            if zh
            else f"funds not modelled: {parts} ({unmodelled['note']})\n"
        )
    if report["largest"]:
        out.write("差额最大的记录（medins − 平台）：\n" if zh else "largest differences (medins − platform):\n")
        for item in report["largest"]:
            step = item.get("step")
            out.write(f"  row={item['row']}  setl_id={item['setl_id']}  {item['field']} ({item['platform_field']})  ")
            out.write(f"{item['platform']} → {item['medins']}  {item['difference']}")
            out.write(f"  {step_text(step, lang)}\n" if step else "\n")
    out.write(report["codes"] + "\n")
    return out.getvalue()
