"""The rules commands: list, show, validate (shipped and broken files), schema, import, errors."""

from __future__ import annotations

import json
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from medins import __version__
from medins.cli import cli
from medins.loader import shipped_rules_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).parent
BROKEN = HERE / "fixtures" / "broken"
SHIPPED = shipped_rules_dir()
SHIPPED_CODES = ["110000", "130000", "130100", "230000", "230400", "310000", "330000", "330400"]


def run(*args: str, **kw: Any):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kw)


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.output == f"medins, version {__version__}\n"


def test_list_from_another_directory_names_every_shipped_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MEDINS_RULES", raising=False)
    result = run("rules", "list", "--format", "json")
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert [r["code"] for r in rows] == SHIPPED_CODES
    by_code = {r["code"]: r for r in rows}
    assert by_code["110000"]["roles"] == ["catalogue", "standards"]
    assert by_code["130100"]["schemes"] == ["employee", "resident"]
    # every value counted once under the confidence of its section
    assert all(set(r["values"]) <= {"primary", "secondary", "illustrative"} for r in rows)


def test_list_table_in_english() -> None:
    result = run("rules", "list", "--lang", "en")
    assert result.exit_code == 0
    first = result.output.splitlines()[0].split()
    assert first[:3] == ["code", "name", "roles"]
    assert "130100" in result.output and "石家庄市" in result.output


def test_shipped_rules_validate_clean() -> None:
    result = run("rules", "validate", "--lang", "en")
    assert result.exit_code == 0, result.output
    # 10 standards and catalogues (3 of them province packs), 5 examples files (their 15 examples
    # settled), 1 drug list
    assert result.stdout.splitlines()[-1] == "16 files, 0 errors, 0 unexplained warnings, 0 explained warnings"


def test_rules_option_and_environment_point_at_other_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    valid = BROKEN / "valid"
    result = run("rules", "list", "--format", "json", "--rules", str(valid))
    assert [r["code"] for r in json.loads(result.output)] == ["130100"]
    monkeypatch.setenv("MEDINS_RULES", str(valid))
    result = run("rules", "list", "--format", "json")
    assert [r["code"] for r in json.loads(result.output)] == ["130100"]


def test_missing_rules_directory_is_a_clear_error(tmp_path: Path) -> None:
    result = run("rules", "list", "--rules", str(tmp_path / "nope"), "--lang", "en")
    assert result.exit_code == 1
    assert result.stderr == (
        f"medins: error: {tmp_path / 'nope'}: rules directory does not exist; "
        "point --rules or MEDINS_RULES at a folder of region folders\n"
    )


def test_usage_error_exits_2() -> None:
    result = run("rules", "show")
    assert result.exit_code == 2
    assert "缺少参数 'CODE'" in result.stderr  # click's words in Chinese by default (issue 14)
    result = run("rules", "show", "--lang", "en")
    assert result.exit_code == 2
    assert "Missing argument 'CODE'" in result.stderr


# One broken pack per kind of mistake: the exact line `rules validate` prints, and exit 1.
BROKEN_CASES = {
    "malformed-toml": (
        "130100",
        ":3:13: invalid TOML: Illegal character '\\n'; check the quotes, brackets and = on that line [SCHEMA]",
    ),
    "unknown-key": (
        "130100",
        ": resident.inpatient[0].rates[0].bands[1].ratoi: unknown key 'ratoi'; did you mean 'ratio'? [SCHEMA]",
    ),
    "wrong-type": ("130100", ": resident.inpatient[0].cap: should be a number (got 'lots') [SCHEMA]"),
    "ratio-above-one": (
        "130100",
        ": resident.inpatient[0].rates[0].bands[1].ratio: must be at most 1 (got 70); write ratios as 0-1, e.g. 0.85 [SCHEMA]",
    ),
    "negative-amount": (
        "130100",
        ": resident.inpatient[0].rates[0].deductible: must be at least 0 (got -1000) [SCHEMA]",
    ),
    "nan-ratio": (
        "130100",
        ": resident.outpatient[0].rates[0].bands[0].ratio: nan and inf are not valid amounts or ratios (got nan) [SCHEMA]",
    ),
    "inf-amount": (
        "130100",
        ": resident.inpatient[0].cap: nan and inf are not valid amounts or ratios (got inf) [SCHEMA]",
    ),
    "unknown-region": ("999999", ": region: unknown region code 999999; check the GB/T 2260 code [REGION_CODE]"),
    "retired-region": (
        "110103",
        ": region: region code 110103 (崇文区) is retired; use 110101 东城区 instead [REGION_CODE]",
    ),
    "folder-mismatch": ("130200", ': region: folder 130200 disagrees with region = "130100" [FOLDER_MISMATCH]'),
    "overlapping-dates": (
        "130100",
        ": resident.inpatient[1].effective: effective period overlaps resident.inpatient[0] (2024-01-01–… and from 2024-06-01) [PERIODS_OVERLAP]",
    ),
    "missing-source": (
        "130100",
        ": resident.outpatient[0].source: source 'policy-2024' is not in [sources] [SOURCE_UNKNOWN]",
    ),
    "bands-gap": (
        "130100",
        ": resident.inpatient[0].rates[0].bands[1].from: bands not contiguous: from = 40000 but the previous band ends at 30000 [BANDS_NOT_CONTIGUOUS]",
    ),
    "bands-descending": (
        "130100",
        ": resident.inpatient[0].rates[0].bands[1].to: bands not ascending: to = 20000 is not above 30000 [BANDS_NOT_ASCENDING]",
    ),
    "source-incomplete": ("130100", ": sources.test: a source marked secondary needs issuer, url, verified [SCHEMA]"),
    "missing-key": ("130100", ": resident.inpatient[0].deductible_basis: required key missing [SCHEMA]"),
}


@pytest.mark.parametrize("name", sorted(BROKEN_CASES))
def test_broken_file_gets_one_exact_error(name: str) -> None:
    folder, tail = BROKEN_CASES[name]
    path = BROKEN / name / folder / "standards.toml"
    result = run("rules", "validate", str(BROKEN / name), "--lang", "en")
    assert result.exit_code == 1
    assert result.stderr == f"error: {path}{tail}\n"
    assert result.stdout == "1 files, 1 errors, 0 unexplained warnings, 0 explained warnings\n"


def test_broken_file_message_in_chinese() -> None:
    path = BROKEN / "unknown-key" / "130100" / "standards.toml"
    result = run("rules", "validate", str(BROKEN / "unknown-key"), "--lang", "zh")
    assert (
        result.stderr
        == f"错误: {path}: resident.inpatient[0].rates[0].bands[1].ratoi: 未知的键 'ratoi'；是否应为 “ratio”？ [SCHEMA]\n"
    )


def test_valid_fixture_passes() -> None:
    result = run("rules", "validate", str(BROKEN / "valid"), "--lang", "en")
    assert result.exit_code == 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*/*.toml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_schema_validates_shipped_files(path: Path) -> None:
    schema = json.loads(run("rules", "schema").output)
    data = _jsonable(tomllib.loads(path.read_text(encoding="utf-8"), parse_float=Decimal))
    jsonschema.validate(data, schema)


def test_schema_rejects_an_unknown_key() -> None:
    schema = json.loads(run("rules", "schema", "--kind", "standards").output)
    path = BROKEN / "unknown-key" / "130100" / "standards.toml"
    data = _jsonable(tomllib.loads(path.read_text(encoding="utf-8"), parse_float=Decimal))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


@pytest.mark.parametrize("code", SHIPPED_CODES)
def test_show_each_region(code: str) -> None:
    result = run("rules", "show", code, "--as-of", "2025-06-01", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["code"] == code and data["as_of"] == "2025-06-01"


def test_show_text_names_bands_and_sources() -> None:
    result = run("rules", "show", "130100", "--as-of", "2025-06-01", "--lang", "en")
    assert result.exit_code == 0
    # 130100 resident inpatient level 3: deductible 1000 (later 500), 60 % from the deductible up
    assert "1000.00 / 500.00" in result.output
    assert "1000.00–… 60%" in result.output


def test_show_before_any_rules_is_a_clear_error() -> None:
    result = run("rules", "show", "130100", "--as-of", "2020-01-01", "--lang", "en")
    assert result.exit_code == 1
    assert result.stderr.startswith("medins: error: 130100 standards.toml: no inpatient rules in force on 2020-01-01")


def test_import_nrdl_on_the_fixture(tmp_path: Path) -> None:
    out = tmp_path / "nrdl.json"
    result = run("rules", "import-nrdl", str(HERE / "fixtures" / "nrdl-sample.json"), str(out))
    assert result.exit_code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert result.output == f"{len(data['drugs'])} 种药品 → {out}\n"  # Chinese by default (issue 14)
    result = run("rules", "import-nrdl", str(HERE / "fixtures" / "nrdl-sample.json"), str(out), "--lang", "en")
    assert result.output == f"{len(data['drugs'])} drugs -> {out}\n"
    assert data["until"] == "2025-12-31"


def test_import_nrdl_refuses_other_json(tmp_path: Path) -> None:
    src = tmp_path / "x.json"
    src.write_text('{"rows": []}', encoding="utf-8")
    result = run("rules", "import-nrdl", str(src), str(tmp_path / "out.json"))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"medins: 错误: {src}: data: 无法转换药品目录")
    assert not (tmp_path / "out.json").exists()


def test_import_areacodes_on_the_fixture(tmp_path: Path) -> None:
    out = tmp_path / "regions.csv"
    result = run("rules", "import-areacodes", str(HERE / "fixtures" / "areacodes-sample.csv"), str(out))
    assert result.exit_code == 0
    assert out.read_text(encoding="utf-8").splitlines()[0] == "code,name,level,parent,status,replacement"


def test_unusual_value_is_a_warning_not_an_error() -> None:
    path = BROKEN / "warning-ratio-rises" / "130100" / "standards.toml"
    result = run("rules", "validate", str(BROKEN / "warning-ratio-rises"), "--lang", "en")
    assert result.exit_code == 0
    assert result.stdout == (
        f"warning: {path}: resident.outpatient[0]: general: level-3 ratio 0.55 is above level-1 0.50 "
        "[RATIO_RISES_WITH_LEVEL]\n1 files, 0 errors, 1 unexplained warnings, 0 explained warnings\n"
    )


def test_a_pack_can_explain_a_deliberate_oddity() -> None:
    result = run("rules", "validate", str(BROKEN / "warning-explained"), "--lang", "en")
    assert result.exit_code == 0
    assert "(explained: test: level-3 outpatient pays more on purpose)" in result.stdout
    assert result.stdout.endswith("1 files, 0 errors, 0 unexplained warnings, 1 explained warnings\n")


def test_validate_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    result = run("rules", "validate", str(tmp_path), "--lang", "en")
    assert result.exit_code == 1
    assert result.stderr == (
        f"medins: error: {tmp_path}: no rule files to check; medins reads <region code>/catalogue.toml, "
        "<region code>/standards.toml and drug-lists/*.json, e.g. 130100/standards.toml\n"
    )


def test_validate_reads_the_drug_lists_as_estimate_does(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    (rules / "110000").mkdir(parents=True)
    (rules / "110000" / "catalogue.toml").write_bytes((SHIPPED / "110000" / "catalogue.toml").read_bytes())
    (rules / "drug-lists").mkdir()
    drug_list = rules / "drug-lists" / "nrdl-2024.json"
    drug_list.write_text('{"kind": "drug_list"}', encoding="utf-16")
    result = run("rules", "validate", str(rules), "--lang", "en")
    assert result.exit_code == 1
    assert result.stderr == f"error: {drug_list}: UTF-16 encoded, not UTF-8; save it as UTF-8 [DRUG_LIST]\n"
    assert result.stdout == "2 files, 1 errors, 0 unexplained warnings, 0 explained warnings\n"


def test_validate_warns_on_a_file_medins_does_not_read(tmp_path: Path) -> None:
    folder = tmp_path / "130100"
    folder.mkdir()
    (folder / "standards.toml").write_bytes((SHIPPED / "130100" / "standards.toml").read_bytes())
    (folder / "standard.toml").write_text("x = 1\n", encoding="utf-8")
    result = run("rules", "validate", str(folder), "--lang", "en")
    assert result.exit_code == 0
    assert result.stdout == (
        f"warning: {folder / 'standard.toml'}: medins does not read a file named 'standard.toml': medins reads only "
        "catalogue.toml, standards.toml and examples.toml in a region folder and drug-lists/*.json [UNREAD_FILE]\n"
        "2 files, 0 errors, 1 unexplained warnings, 0 explained warnings\n"
    )


def test_validate_a_dangling_symlink_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "130100"
    folder.mkdir()
    (folder / "standards.toml").symlink_to("nowhere.toml")
    result = run("rules", "validate", str(tmp_path), "--lang", "en")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {folder / 'standards.toml'}: symbolic link to a missing file 'nowhere.toml'; "
        "fix or remove the link [SCHEMA]\n"
    )
