"""Rule packs a clerk can write and prove: worked examples inside a pack (``rules test``) and a new
pack's skeleton (``rules new``)."""

from __future__ import annotations

import json
import re
import shutil
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from test_rules_cli import _jsonable

from medins.cli import cli
from medins.loader import load_rule_file, shipped_rules_dir
from medins.worked import EXAMPLES_FILE, load_examples

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SHIPPED = shipped_rules_dir()
SHIPPED_CODES = ["110000", "130100", "230400", "310000", "330400"]


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _toml(path: Path) -> Any:
    return tomllib.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)


# ------------------------------------------------------------------ the shipped examples


def test_every_shipped_example_passes() -> None:
    result = run("rules", "test", "--lang", "en")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-1] == "16 examples: 16 passed, 0 failed"
    assert all(line.startswith("✓ ") for line in lines[:-1])


@pytest.mark.parametrize("code", SHIPPED_CODES)
def test_each_pack_has_three_examples_worked_by_hand_with_the_working(code: str) -> None:
    path = SHIPPED / code / EXAMPLES_FILE
    loaded = load_examples(path)
    assert loaded.problems == []
    assert len(loaded.examples) >= 3
    assert all(head.worked_by_hand and not head.source_ids for head, _ in loaded.examples)
    # the working stands in a comment above each example: tier 1 and the patient's share at least
    blocks = path.read_text(encoding="utf-8").split("[[examples]]")[:-1]
    for block in blocks:
        comment = block.rsplit("# ----", 1)[-1]
        assert "tier 1" in comment and "patient" in comment, comment
    # different visit types across the pack, and more than one filing category
    assert len({case.visit.type for _, case in loaded.examples}) >= 2
    assert len({case.filing.category for _, case in loaded.examples if case.filing}) >= 2


def test_the_examples_cover_every_visit_type_reduction_and_tier() -> None:
    cases = [c for code in SHIPPED_CODES for _, c in load_examples(SHIPPED / code / EXAMPLES_FILE).examples]
    heads = [h for code in SHIPPED_CODES for h, _ in load_examples(SHIPPED / code / EXAMPLES_FILE).examples]
    assert {c.visit.type for c in cases} == {"inpatient", "outpatient", "chronic_outpatient"}
    assert {c.person.scheme for c in cases} == {"employee", "resident"}
    assert {"referral", "other_temporary", "emergency", "long_term_resident"} <= {c.filing.category for c in cases}
    assert any(h.expected.critical_illness_fund for h in heads)
    assert any(h.expected.large_amount_fund for h in heads)
    assert any(h.expected.medical_assistance_fund for h in heads)
    assert any(c.items for c in cases) and any(c.summary for c in cases)


def test_rules_list_counts_the_examples() -> None:
    result = run("rules", "list", "--format", "json")
    assert result.exit_code == 0
    counts = {r["code"]: r["examples"] for r in json.loads(result.output)}
    # the province packs settle no bill of their own (no insured place): their cities' examples prove them
    provinces = dict.fromkeys(("130000", "230000", "330000"), 0)
    assert counts == {**dict.fromkeys(SHIPPED_CODES, 3), "330400": 4, **provinces}


def test_schema_covers_examples() -> None:
    schema = json.loads(run("rules", "schema", "--kind", "examples").output)
    for code in SHIPPED_CODES:
        jsonschema.validate(_jsonable(_toml(SHIPPED / code / EXAMPLES_FILE)), schema)
    data = _jsonable(_toml(SHIPPED / "130100" / EXAMPLES_FILE))
    del data["examples"][0]["expected"]["basic_fund"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


# ------------------------------------------------------------------ a wrong expected amount


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(SHIPPED, target)
    return target


def _change(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_a_wrong_expected_amount_fails_naming_the_example_and_both_amounts(rules_copy: Path) -> None:
    # 130100's first example: tier 1 = (47,000 − 900) × 85 % = 39,185.00; one fen more is wrong
    path = rules_copy / "130100" / EXAMPLES_FILE
    _change(path, "basic_fund = 39185.00", "basic_fund = 39185.01")
    result = run("rules", "test", str(rules_copy), "--lang", "en")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-1] == "16 examples: 15 passed, 1 failed"
    failed = [line for line in lines if line.startswith("✗")]
    assert failed == [
        "✗ 130100 石家庄市  职工在职·异地长期居住·北京三级医院住院: basic_fund expected 39185.01, settled 39185.00"
        f"  ({path.resolve()}: examples[0])"
    ]
    result = run("rules", "validate", str(rules_copy / "130100"), "--lang", "en")
    assert result.exit_code == 1
    assert (
        f"error: {path}: examples[0]: example '职工在职·异地长期居住·北京三级医院住院' failed: "
        "basic_fund expected 39185.01, settled 39185.00 [EXAMPLE_FAILED]"
    ) in result.output


def test_rules_test_json_reports_each_example(rules_copy: Path) -> None:
    # 230400's third example: 28,800.55 above the cap × 90 % = 25,920.495 → 25,920.50; 25,920.49 is wrong
    _change(rules_copy / "230400" / EXAMPLES_FILE, "large_amount_fund = 25920.50", "large_amount_fund = 25920.49")
    result = run("rules", "test", str(rules_copy / "230400"), "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert (data["examples"], data["passed"], data["failed"]) == (3, 2, 1)
    assert data["results"][2]["mismatches"] == [
        {"key": "large_amount_fund", "expected": "25920.49", "settled": "25920.50"}
    ]


def test_a_value_changed_in_the_pack_is_caught_by_its_examples(rules_copy: Path) -> None:
    # Shijiazhuang's level-3 employee deductible 900 → 1,000: tier 1 = (47,000 − 1,000) × 85 % = 39,100.00
    _change(
        rules_copy / "130100" / "standards.toml",
        'group = "in_service"\nlevel = 3\ndeductible = [900,',
        'group = "in_service"\nlevel = 3\ndeductible = [1000,',
    )
    result = run("rules", "test", str(rules_copy / "130100"), "--lang", "en")
    assert result.exit_code == 1
    assert (
        "basic_fund expected 39185.00, settled 39100.00; personal_total expected 10815.00, settled 10900.00; "
        "deductible expected 900.00, settled 1000.00"
    ) in result.output


@pytest.mark.parametrize(
    ("old", "new", "code", "where"),
    [
        ("worked_by_hand = true\n", "", "EXAMPLE_ORIGIN", "examples[0].source"),
        (
            "worked_by_hand = true\n",
            'worked_by_hand = true\nsource = "illustrative-hebei"\n',
            "EXAMPLE_ORIGIN",
            "examples[0].source",
        ),
        (
            'name = "居民低保边缘·其他临时外出·北京二级医院第二次住院"',
            'name = "职工在职·异地长期居住·北京三级医院住院"',
            "EXAMPLE_NAME_REPEATED",
            "examples[1].name",
        ),
    ],
    ids=["no-origin", "two-origins", "name-repeated"],
)
def test_an_example_must_say_where_it_comes_from_and_have_its_own_name(
    rules_copy: Path, old: str, new: str, code: str, where: str
) -> None:
    path = rules_copy / "130100" / EXAMPLES_FILE
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = run("rules", "validate", str(path), "--lang", "en")
    assert result.exit_code == 1
    assert f"error: {path}: {where}: " in result.output and f"[{code}]" in result.output
    result = run("rules", "test", str(path), "--lang", "en")
    assert result.exit_code == 1
    assert f"{path}: {where}: " in result.stderr and f"[{code}]" in result.stderr
    assert "Traceback" not in result.output


def test_an_example_of_another_region_and_an_unknown_source_are_errors(rules_copy: Path) -> None:
    path = rules_copy / "130100" / EXAMPLES_FILE
    text = path.read_text(encoding="utf-8")
    text = text.replace('insured_region = "130100"', 'insured_region = "230400"', 1)
    text = text.replace("worked_by_hand = true\n", 'source = "notice-2025"\n', 1)
    path.write_text(text, encoding="utf-8")
    result = run("rules", "validate", str(path), "--lang", "en")
    assert result.exit_code == 1
    assert (
        "examples[0].person.insured_region: the example's insured place 230400 is not this file's region"
        in result.output
    )
    assert "examples[0].source: source 'notice-2025' is in neither this file's nor standards.toml's [sources]" in (
        result.output
    )


def test_a_bad_amount_in_an_example_names_its_key_path(rules_copy: Path) -> None:
    path = rules_copy / "130100" / EXAMPLES_FILE
    _change(path, "basic_fund = 39185.00", 'basic_fund = "about 39k"')
    result = run("rules", "test", str(path), "--lang", "en")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"medins: error: {path}: examples[0].expected.basic_fund: ")
    assert "'about 39k'" in result.stderr and "Traceback" not in result.output


# ------------------------------------------------------------------ rules new


def _leaves(value: Any) -> int:
    """The scalar values under a TOML table (list items each count)."""
    if isinstance(value, dict):
        return sum(_leaves(v) for v in value.values())
    if isinstance(value, list):
        return sum(_leaves(v) for v in value)
    return 1


SECTION_META = {"effective", "until", "source", "note", "income_note"}


def _section_values(data: dict[str, Any]) -> int:
    """Every value of a rule file's dated sections, counted from the TOML itself (meta keys left out)."""
    count = 0
    sections = [data.get(name, []) for name in ("offsite", "filing", "assistance", "settings")]
    for scheme in ("employee", "resident"):
        for name in ("inpatient", "outpatient", "chronic", "tier2"):
            sections.append(data.get(scheme, {}).get(name, []))
    for listed in sections:
        for section in listed:
            count += sum(_leaves(v) for k, v in section.items() if k not in SECTION_META)
    return count


def test_rules_new_writes_a_pack_that_validates_and_lists_every_value_to_confirm(tmp_path: Path) -> None:
    result = run("rules", "new", "320100", "--dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "320100"
    assert result.stdout.splitlines() == [
        str(folder / "standards.toml"),
        str(folder / "catalogue.toml"),
        str(folder / EXAMPLES_FILE),
        str(tmp_path / "drug-lists" / "nrdl-2024.json"),
    ]
    result = run("rules", "validate", str(folder), "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["errors"] == 0 and report["warnings"] == 0
    std, cat = _toml(folder / "standards.toml"), _toml(folder / "catalogue.toml")
    expected = _section_values(std) + _section_values(cat)
    assert report["to_confirm"] == expected + 1  # every value, and the examples still to write
    listed = {(p["file"].rsplit("/", 1)[-1], p["path"]) for p in report["problems"] if p["code"] == "TO_CONFIRM"}
    assert ("standards.toml", "employee.inpatient[0].rates[2].deductible[0]") in listed
    assert ("standards.toml", "offsite[0].categories.referral.value") in listed
    assert ("standards.toml", "assistance[0].income_reference") in listed
    assert ("catalogue.toml", "settings[0].pre_self_pay.consumable") in listed
    # in words: the summary line says how many
    text = run("rules", "validate", str(folder), "--lang", "en").output.splitlines()
    # standards, catalogue, examples and the drug list the catalogue names
    assert text[-1] == f"4 files, 0 errors, 0 unexplained warnings, 0 explained warnings, {expected + 1} to confirm"
    # the one source says it is to be confirmed; every section cites it
    assert std["sources"] == {
        "to-confirm": {"confidence": "illustrative", "to_confirm": True, "note": std["sources"]["to-confirm"]["note"]}
    }
    assert std["sources"]["to-confirm"]["note"].startswith("待核实")


def test_the_new_pack_passes_schema_validation(tmp_path: Path) -> None:
    assert run("rules", "new", "320100", "--dir", str(tmp_path)).exit_code == 0
    schema = json.loads(run("rules", "schema").output)
    for name in ("standards.toml", "catalogue.toml", EXAMPLES_FILE):
        jsonschema.validate(_jsonable(_toml(tmp_path / "320100" / name)), schema)


def test_the_new_pack_every_section_present_with_comments_in_the_language(tmp_path: Path) -> None:
    assert run("rules", "new", "320100", "--dir", str(tmp_path / "zh")).exit_code == 0
    assert run("rules", "new", "320100", "--dir", str(tmp_path / "en"), "--lang", "en").exit_code == 0
    zh = (tmp_path / "zh" / "320100" / "standards.toml").read_text(encoding="utf-8")
    en = (tmp_path / "en" / "320100" / "standards.toml").read_text(encoding="utf-8")
    for header in (
        "[[employee.inpatient]]",
        "[[employee.outpatient]]",
        "[[employee.chronic]]",
        "[[employee.tier2]]",
        "[[resident.inpatient]]",
        "[[resident.outpatient]]",
        "[[resident.chronic]]",
        "[[resident.tier2]]",
        "[[offsite]]",
        "[[filing]]",
        "[[assistance]]",
    ):
        assert header in zh and header in en
    assert "# 职工住院：起付线" in zh and "# employees' inpatient stays" in en
    en_comments = [line.replace("南京市", "") for line in en.splitlines() if line.startswith("#")]
    assert en_comments and not any(re.search(r"[\u4e00-\u9fff]", line) for line in en_comments)
    assert load_rule_file(tmp_path / "zh" / "320100" / "standards.toml") == load_rule_file(
        tmp_path / "en" / "320100" / "standards.toml"
    ).model_copy(update={"sources": load_rule_file(tmp_path / "zh" / "320100" / "standards.toml").sources})


def test_the_example_template_is_true_for_the_new_pack(tmp_path: Path) -> None:
    assert run("rules", "new", "320100", "--dir", str(tmp_path)).exit_code == 0
    path = tmp_path / "320100" / EXAMPLES_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line == "# [[examples]]")
    uncommented = [line[2:] if i >= start else line for i, line in enumerate(lines)]
    path.write_text("\n".join(uncommented) + "\n", encoding="utf-8")
    result = run("rules", "test", str(tmp_path / "320100"), "--lang", "en")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "1 examples: 1 passed, 0 failed"


def test_rules_new_from_a_pack_copies_its_values(tmp_path: Path) -> None:
    result = run("rules", "new", "320200", "--from", "130100", "--dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "320200"
    assert sorted(p.name for p in folder.iterdir()) == [EXAMPLES_FILE, "standards.toml"]  # 130100 has no catalogue
    new, old = load_rule_file(folder / "standards.toml"), load_rule_file(SHIPPED / "130100" / "standards.toml")
    assert (new.region, new.name) == ("320200", "无锡市")
    assert set(new.sources) == {"to-confirm"} and "130100 石家庄市" in new.sources["to-confirm"].note  # type: ignore[operator]
    assert new.employee == old.employee.model_copy(  # type: ignore[union-attr]
        update={
            "inpatient": [s.model_copy(update={"source": "to-confirm", "note": None}) for s in old.employee.inpatient],  # type: ignore[union-attr]
            "outpatient": [
                s.model_copy(update={"source": "to-confirm", "note": None}) for s in old.employee.outpatient
            ],  # type: ignore[union-attr]
            "chronic": [s.model_copy(update={"source": "to-confirm", "note": None}) for s in old.employee.chronic],  # type: ignore[union-attr]
            "tier2": [s.model_copy(update={"source": "to-confirm", "note": None}) for s in old.employee.tier2],  # type: ignore[union-attr]
        }
    )
    assert new.offsite[0].categories == old.offsite[0].categories
    assert new.assistance[0].categories == old.assistance[0].categories
    result = run("rules", "validate", str(folder), "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.output)["to_confirm"] == _section_values(_toml(folder / "standards.toml")) + 1


def test_rules_new_refuses_to_overwrite(tmp_path: Path) -> None:
    assert run("rules", "new", "320100", "--dir", str(tmp_path)).exit_code == 0
    before = (tmp_path / "320100" / "standards.toml").read_bytes()
    result = run("rules", "new", "320100", "--dir", str(tmp_path), "--files", "standards", "--lang", "en")
    assert result.exit_code == 1
    folder = tmp_path / "320100"
    assert result.stderr == (
        f"medins: error: {folder / 'standards.toml'}, {folder / EXAMPLES_FILE}: the pack's files exist already: "
        "not overwritten; choose another --dir, or move these files away first; edit an existing pack in place\n"
    )
    assert (tmp_path / "320100" / "standards.toml").read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["32010"], "medins: error: CODE: '32010' is not a 6-digit region code; e.g. 320100 Nanjing\n"),
        (["南京市"], "medins: error: CODE: '南京市' is not a 6-digit region code; e.g. 320100 Nanjing\n"),
        (["320100", "--from", "320200"], None),
        (["320100", "--from", "130100", "--files", "catalogue"], None),
    ],
    ids=["five-digits", "a-name", "from-no-pack", "from-no-catalogue"],
)
def test_rules_new_usage_errors(tmp_path: Path, args: list[str], message: str | None) -> None:
    result = run("rules", "new", *args, "--dir", str(tmp_path), "--lang", "en")
    assert result.exit_code == 2
    if message is not None:
        assert result.stderr == message
    assert "Traceback" not in result.output
    assert not (tmp_path / "320100").exists()


def test_rules_new_unknown_region_code_is_a_usage_error(tmp_path: Path) -> None:
    result = run("rules", "new", "999999", "--dir", str(tmp_path), "--lang", "en")
    assert result.exit_code == 2
    assert result.stderr.startswith("medins: error: CODE: ") and "999999" in result.stderr
