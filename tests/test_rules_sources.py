"""``rules sources`` (every value of a pack with its sources and flags) and ``rules diff`` (the values
that changed between two rules directories or two dates of one pack)."""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from medins.cli import cli
from medins.loader import shipped_rules_dir
from medins.rules_model import Source
from medins.sources import source_flags

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SHIPPED = shipped_rules_dir()
SHIPPED_CODES = ["110000", "130000", "130100", "230000", "230400", "310000", "330000", "330400"]
NEW_DISEASES = ["copd", "rheumatoid_arthritis", "coronary_heart_disease", "viral_hepatitis", "ankylosing_spondylitis"]


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def sources_json(*args: str) -> dict[str, Any]:
    result = run("rules", "sources", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout, parse_float=Decimal)


# ------------------------------------------------------------ an independent count of the values

SKIPPED = {"effective", "until", "source", "note", "income_note"}


def _leaves(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        found = []
        for k, v in value.items():
            if k not in SKIPPED:
                found += _leaves(v, f"{path}.{k}" if path else k)
        return found
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, value)]


def _section_lists(data: dict[str, Any]) -> list[str]:
    if data["kind"] == "catalogue":
        return ["settings", "items", "institutions"]
    lists = [f"{s}.{n}" for s in ("employee", "resident") for n in ("inpatient", "outpatient", "chronic", "tier2")]
    return [*lists, "offsite", "filing", "assistance"]


def _table(data: dict[str, Any], name: str) -> Any:
    table: Any = data
    for part in name.split("."):
        table = table.get(part) if isinstance(table, dict) else None
    return table


def with_parent(data: dict[str, Any], folder: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """A file's sections with those it inherits from the file it extends (each section list whole,
    the file's own first), and which folder each section list came from."""
    if "extends" not in data:
        return data, {n: folder.name for n in _section_lists(data)}
    with (folder.parent / data["extends"] / f"{data['kind']}.toml").open("rb") as f:
        parent, origin = with_parent(tomllib.load(f, parse_float=Decimal), folder.parent / data["extends"])
    merged: dict[str, Any] = {"kind": data["kind"]}
    for name in _section_lists(data):
        own = _table(data, name)
        value, origin[name] = (own, folder.name) if own is not None else (_table(parent, name), origin[name])
        if value is not None:
            head, _, tail = name.partition(".")
            if tail:
                merged.setdefault(head, {})[tail] = value
            else:
                merged[name] = value
    return merged, origin


def raw_values(data: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every scalar a rule file writes in its dated sections (and catalogue items and institutions),
    read from the TOML itself, not through medins' models."""
    found: list[tuple[str, Any]] = []
    if data["kind"] == "catalogue":
        lists = ["settings", "items", "institutions"]
    else:
        lists = [f"{s}.{n}" for s in ("employee", "resident") for n in ("inpatient", "outpatient", "chronic", "tier2")]
        lists += ["offsite", "filing", "assistance"]
    for name in lists:
        table: Any = data
        for part in name.split("."):
            table = table.get(part, {}) if isinstance(table, dict) else {}
        for i, section in enumerate(table or []):
            found += _leaves(section, f"{name}[{i}]")
    return found


def _one_deductible(path: str) -> str:
    # `deductible = 200` is the sequence [200]: medins names it deductible[0]
    return path if path.endswith("]") else f"{path}[0]"


def test_sources_json_lists_every_value_of_every_shipped_pack() -> None:
    data = sources_json()
    rows = data["rows"]
    assert data["values"] == len(rows)
    got = Counter((r["region"], r["file"], r["path"]) for r in rows)
    expected: Counter[tuple[str, str, str]] = Counter()
    froms: dict[tuple[str, str, str], str] = {}
    for code in SHIPPED_CODES:
        for kind in ("standards", "catalogue"):
            path = SHIPPED / code / f"{kind}.toml"
            if not path.exists():
                continue
            with path.open("rb") as f:
                raw, origin = with_parent(tomllib.load(f, parse_float=Decimal), path.parent)
            for key, _ in raw_values(raw):
                last = key.rsplit(".", 1)[-1]
                if last == "deductible" and ".rates[" in key:
                    key = _one_deductible(key)
                expected[(code, kind, key)] += 1
                # a city's value that its province pack gives names the province's file
                came = origin[next(n for n in origin if key.startswith((f"{n}[", f"{n}.")))]
                froms[(code, kind, key)] = f"{came}/{kind}.toml"
    assert sum(expected.values()) > 1500
    assert got == expected
    assert {(r["region"], r["file"], r["path"]): r["from"] for r in rows} == froms
    assert froms[("230400", "standards", "employee.outpatient[0].cap")] == "230000/standards.toml"
    # every pack with a value: the province packs of Hebei and Zhejiang hold none yet
    assert {r["region"] for r in rows} == set(SHIPPED_CODES) - {"130000", "330000"}
    # the confidence counts at the end cover every value
    assert sum(data["by_confidence"].values()) == len(rows)


def test_sources_json_values_are_exact_numbers_and_sources_named() -> None:
    data = sources_json("130100")
    by_path = {r["path"]: r for r in data["rows"]}
    ratio = by_path["resident.inpatient[0].rates[2].bands[0].ratio"]
    assert ratio["value"] == Decimal("0.60") and str(ratio["value"]) == "0.60"  # as written, never a float
    assert ratio["effective"] == "2024-01-01" and ratio["until"] is None
    assert [s["id"] for s in ratio["sources"]] == ["illustrative-hebei"]
    assert ratio["confidence"] == "illustrative"
    cap = by_path["employee.outpatient[0].rates[0].cap"]
    assert [s["id"] for s in cap["sources"]] == ["sjz-employee-2023", "illustrative-hebei"]
    assert cap["sources"][0]["url"] == "http://jintiankansha.me/t/wEOyD2Pss1"
    assert cap["sources"][0]["verified"] == "2026-11-23"
    assert {r["region"] for r in data["rows"]} == {"130100"}


# ------------------------------------------------------------ flags


def _flagged_pack(tmp_path: Path) -> Path:
    """130100 with a stale secondary source and a primary source without its quote."""
    root = tmp_path / "rules"
    shutil.copytree(SHIPPED / "130100", root / "130100")
    path = root / "130100" / "standards.toml"
    text = path.read_text(encoding="utf-8")
    head, sep, tail = text.partition("[sources.national-offsite-guide]")
    block, sep2, rest = tail.partition("[sources.national-filing-guide]")
    block = block.replace('confidence = "secondary"', 'confidence = "primary"')
    block = "".join(line for line in block.splitlines(keepends=True) if not line.startswith("quote ="))
    head = head.replace("verified = 2026-11-23", "verified = 2024-03-01")  # sjz-employee-2023
    path.write_text(head + sep + block + sep2 + rest, encoding="utf-8")
    return root


def test_sources_flags_each_problem(tmp_path: Path) -> None:
    root = _flagged_pack(tmp_path)
    data = sources_json("--rules", str(root), "--as-of", "2026-12-01")
    by_path = {r["path"]: r for r in data["rows"]}
    # sjz-employee-2023 (now stale) and illustrative-hebei (no address)
    outpatient = by_path["employee.outpatient[0].rates[0].cap"]
    assert outpatient["flags"] == ["verified_over_12_months", "no_url"]
    assert outpatient["sources"][0]["flags"] == ["verified_over_12_months"]
    assert outpatient["sources"][1]["flags"] == ["no_url"]
    offsite = next(r for p, r in by_path.items() if p.startswith("offsite[0]."))
    assert offsite["sources"][0]["id"] == "national-offsite-guide"
    assert offsite["sources"][0]["flags"] == ["primary_without_quote"]
    # a source checked within twelve months is not flagged
    chronic = by_path["employee.chronic[1].diseases.copd.cap"]
    assert chronic["sources"][0]["id"] == "sjz-employee-2023"
    recent = [s["flags"] for s in chronic["sources"] if s["id"].startswith("national-chronic-2024-")]
    assert recent == [[], [], []]
    assert data["flagged"]["primary_without_quote"] > 0
    assert data["flagged"]["verified_over_12_months"] > 0
    # the shipped pack on the same date has none of these
    shipped = sources_json("130100", "--as-of", "2026-12-01")
    assert shipped["flagged"]["primary_without_quote"] == 0
    assert shipped["flagged"]["verified_over_12_months"] == 0


def test_verified_exactly_twelve_months_ago_is_not_flagged() -> None:
    source = Source(
        confidence="secondary", issuer="i", title="t", url="https://example.org/a", verified=date(2025, 3, 1)
    )
    assert source_flags(source, date(2026, 3, 1)) == []
    assert source_flags(source, date(2026, 3, 2)) == ["verified_over_12_months"]


def test_sources_table_is_chinese_and_names_sources_not_ids(tmp_path: Path) -> None:
    result = run("rules", "sources", "--rules", str(_flagged_pack(tmp_path)), "--as-of", "2026-12-01")
    assert result.exit_code == 0
    out = result.stdout
    assert "键路径" in out and "示意值（石家庄市待遇）" in out and "医保发〔2022〕22号" in out
    assert "illustrative-hebei" not in out and "sjz-employee-2023" not in out
    assert "无网址" in out and "原文无引文" in out and "核实逾12个月" in out
    assert "共 371 个数值" in out


def test_sources_csv_has_one_line_per_value() -> None:
    result = run("rules", "sources", "130100", "--format", "csv")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("region,name,file,path,value,")
    assert len(lines) - 1 == sources_json("130100")["values"]


# ------------------------------------------------------------ diff


def diff_json(a: str, b: str, *args: str) -> dict[str, Any]:
    result = run("rules", "diff", a, b, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout, parse_float=Decimal)


def test_diff_of_a_pack_at_two_dates_shows_the_five_chronic_diseases_added() -> None:
    data = diff_json("130100@2024-06-01", "130100@2025-06-01")
    assert data["differs"] is True
    assert (data["removed"], data["changed"]) == (0, 0)
    expected = set()
    for scheme in ("employee", "resident"):
        expected |= {f"{scheme}.chronic.cross_province[{i}]" for i in range(5, 10)}
        levels = range(3) if scheme == "employee" else range(1)
        for d in NEW_DISEASES:
            base = f"{scheme}.chronic.diseases.{d}"
            expected |= {f"{base}.cap", f"{base}.deductible_basis"}
            for i in levels:
                expected |= {f"{base}.rates[{i}].bands[0].ratio", f"{base}.rates[{i}].deductible[0]"}
                if scheme == "employee":
                    expected.add(f"{base}.rates[{i}].level")
    assert {c["path"] for c in data["changes"]} == expected
    assert data["added"] == len(expected) == 85
    copd = next(c for c in data["changes"] if c["path"] == "employee.chronic.cross_province[5]")
    assert copd["old"] is None
    assert copd["new"]["value"] == "copd" and copd["new"]["effective"] == "2025-01-01"
    assert copd["new"]["path"] == "employee.chronic[1].cross_province[5]"
    assert "national-chronic-2024-xinhua" in [s["id"] for s in copd["new"]["sources"]]


def test_diff_of_the_same_date_finds_nothing() -> None:
    data = diff_json("130100@2025-06-01", "130100@2025-07-01")
    assert data == {"a": "130100@2025-06-01", "b": "130100@2025-07-01", "differs": False,
                    "added": 0, "removed": 0, "changed": 0, "changes": []}  # fmt: skip
    result = run("rules", "diff", "130100@2025-06-01", "130100@2025-07-01")
    assert result.exit_code == 0 and "数值相同" in result.stdout


def test_diff_of_two_directories_reports_exactly_the_edited_value(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        shutil.copytree(SHIPPED / "130100", root / "130100")
    path = b / "130100" / "standards.toml"
    text = path.read_text(encoding="utf-8")
    old = "{ level = 2, deductible = [500, 250], bands = [{ ratio = 0.75 }] }"
    assert text.count(old) == 1
    path.write_text(text.replace(old, old.replace("0.75", "0.72")), encoding="utf-8")
    data = diff_json(str(a), str(b))
    assert (data["added"], data["removed"], data["changed"]) == (0, 0, 1)
    [change] = data["changes"]
    assert change["path"] == "resident.inpatient[0].rates[1].bands[0].ratio"
    assert (change["old"]["value"], change["new"]["value"]) == (Decimal("0.75"), Decimal("0.72"))
    assert [s["id"] for s in change["new"]["sources"]] == ["illustrative-hebei"]
    table = run("rules", "diff", str(a), str(b)).stdout
    assert "0.75 → 0.72" in table and "修改" in table and "1 处不同" in table


# ------------------------------------------------------------ errors


def test_errors_name_the_argument_without_a_traceback(tmp_path: Path) -> None:
    cases = [
        (["rules", "sources", "999999"], "CODE"),
        (["rules", "sources", "--as-of", "2026-13-01"], "--as-of"),
        (["rules", "diff", str(tmp_path / "missing"), str(SHIPPED)], "A"),
        (["rules", "diff", "130100@2024-06-01", "130100@2025-13-01"], "B"),
        (["rules", "diff", "999999@2024-06-01", "130100@2025-06-01"], "A"),
        (["rules", "diff", "130100@2024-06-01", str(SHIPPED)], "A B"),
    ]
    for args, arg in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith(f"medins: 错误: {arg}: "), (args, result.stderr)
        assert "Traceback" not in result.output
        assert result.stdout == ""


def test_diff_before_a_pack_starts_says_no_section_is_in_force() -> None:
    result = run("rules", "diff", "130100@2023-06-01", "130100@2025-06-01", "--format", "json")
    assert result.exit_code == 0
    assert result.stderr.startswith("提示：130100 在 2023-06-01 没有生效的段：employee.inpatient, ")
    data = json.loads(result.stdout)
    assert data["removed"] == data["changed"] == 0
    assert data["added"] == len([r for r in sources_json("130100")["rows"] if r["until"] is None])
