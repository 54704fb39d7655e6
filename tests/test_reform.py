"""Issue 13, reforms: a partial rule file merged into the packs, validated like one, its errors at its keys.

Expected values are read off ``rules/130100/standards.toml`` and the reform files written here, and
worked by hand in the comments; none is pasted from the program's output.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from medins.api import estimate, load_case, load_rules
from medins.errors import RuleError
from medins.reform import Reform, load_reform

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "reforms" / "reform-referral-5-points.toml"
STORY = ROOT / "examples" / "shijiazhuang-resident-beijing.toml"
BASE = load_rules(None)
SJZ_FILE = BASE.packs["130100"].folder / "standards.toml"

HEAD = 'name = "试验"\nnote = "假设的改革，仅供测试。"\n'

# The [[offsite]] section of rules/130100/standards.toml as it ships (a reform replaces a list whole).
SJZ_OFFSITE = """
[[regions.130100.standards.offsite]]
effective = 2024-01-01
source = ["national-offsite-guide", "illustrative-hebei-offsite"]
level_map = { "1" = 1, "2" = 2, "3" = 3 }

[regions.130100.standards.offsite.categories]
relocated_retiree = { mode = "none" }
long_term_resident = { mode = "none" }
stationed_worker = { mode = "none" }
referral = { mode = "points", value = 0.10 }
emergency = { mode = "points", value = 0.10 }
other_temporary = { mode = "points", value = 0.20 }
unfiled = { mode = "points", value = 0.30 }
"""


def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, head: str = HEAD) -> str:
    """The reform written as ``reform.toml`` in the working directory, so that errors say ``reform.toml``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reform.toml").write_text(head + body, encoding="utf-8")
    return "reform.toml"


def refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, head: str = HEAD) -> RuleError:
    with pytest.raises(RuleError) as info:
        load_reform(write(tmp_path, monkeypatch, body, head), BASE)
    assert info.value.exit_code == 1
    return info.value


def dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="python")


# ------------------------------------------------------------------ reforms that load


def test_the_example_lowers_the_referral_reduction_and_nothing_else() -> None:
    reform = load_reform(EXAMPLE, BASE)
    assert isinstance(reform, Reform)
    assert reform.name == "异地转诊降幅 10→5 个百分点"
    assert reform.note.startswith("假设的改革，不是现行政策") and "Hypothetical" in reform.note
    assert reform.path == EXAMPLE
    assert reform.changed == {"130100": ("standards",)}
    # other packs, and the drug lists, are the base's own objects
    assert reform.rules.root == BASE.root
    assert reform.rules.packs.keys() == BASE.packs.keys()
    for code in ("110000", "230400", "310000", "330400"):
        assert reform.rules.packs[code] is BASE.packs[code]
    assert reform.rules._drug_lists is BASE._drug_lists
    assert reform.rules.packs["130100"] is not BASE.packs["130100"]
    assert reform.rules.packs["130100"].catalogue is None and reform.rules.packs["130100"].folder == SJZ_FILE.parent
    # rules/130100/standards.toml: [offsite.categories] referral = { mode = "points", value = 0.10 };
    # the reform writes 0.05, and adds its own illustrative source to the section's sources
    reformed = reform.rules.standards("130100")
    assert reformed.offsite[0].categories["referral"].mode == "points"
    assert reformed.offsite[0].categories["referral"].value == Decimal("0.05")
    assert reformed.offsite[0].source == [
        "national-offsite-guide",
        "illustrative-hebei-offsite",
        "reform-referral-5-points",
    ]
    assert reformed.sources["reform-referral-5-points"].confidence == "illustrative"
    # everything else is the shipped pack's: the base dump with exactly those three edits
    expected = copy.deepcopy(dump(BASE.standards("130100")))
    expected["offsite"][0]["categories"]["referral"]["value"] = Decimal("0.05")
    expected["offsite"][0]["source"] = [*expected["offsite"][0]["source"], "reform-referral-5-points"]
    expected["sources"]["reform-referral-5-points"] = {
        "confidence": "illustrative",
        "document": None,
        "issuer": None,
        "title": None,
        "url": None,
        "effective": None,
        "verified": None,
        "quote": None,
        "note": "假设的改革：转诊降幅 5 个百分点，不是任何政策文件的规定（医保发〔2022〕22号只设上限：不超过10个百分点）。",
        "to_confirm": False,
    }
    assert dump(reformed) == expected
    # and the base rules are untouched
    assert BASE.standards("130100").offsite[0].categories["referral"].value == Decimal("0.10")
    assert "reform-referral-5-points" not in BASE.standards("130100").sources


def test_the_story_settles_under_the_reform_as_worked_by_hand() -> None:
    # The quick-start story (tests/test_docs_and_examples.py): in scope 63800.00, resident level 3
    # ratio 0.60, deductible 1000. Referral reduction 0.05 instead of 0.10 -> ratio 0.55.
    # tier 1: (63800.00 − 1000.00) × 55% = 34540.00; burden = 63800.00 − 34540.00 = 29260.00
    # tier 2: (29260.00 − 15000.00) × 60% = 8556.00
    # tier 3 (subsistence, 75%): (29260.00 − 8556.00) × 75% = 20704.00 × 75% = 15528.00
    # patient: 68000.00 − 34540.00 − 8556.00 − 15528.00 = 9376.00 (as shipped: 9690.00)
    s = estimate(load_case(STORY), load_reform(EXAMPLE, BASE).rules)
    assert (s.basic_fund, s.critical_illness_fund, s.medical_assistance_fund, s.personal_total) == (
        Decimal("34540.00"),
        Decimal("8556.00"),
        Decimal("15528.00"),
        Decimal("9376.00"),
    )
    assert estimate(load_case(STORY), BASE).personal_total == Decimal("9690.00")


def test_a_reform_that_changes_nothing_gives_the_base_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the [[offsite]] section written out as shipped, a name as it is, a table merged into with its own value
    body = (
        SJZ_OFFSITE
        + '\n[regions.130100.standards.employee]\ngroups = ["in_service", "retired"]\n'
        + '\n[regions.110000.catalogue]\nkind = "catalogue"\nregion = "110000"\nname = "北京市"\n'
    )
    reform = load_reform(write(tmp_path, monkeypatch, body), BASE)
    assert reform.changed == {"110000": ("catalogue",), "130100": ("standards",)}
    assert reform.rules.packs["130100"] is not BASE.packs["130100"]
    for code, pack in BASE.packs.items():
        new = reform.rules.packs[code]
        assert new.code == code
        for kind in ("catalogue", "standards"):
            assert (getattr(new, kind) is None) == (getattr(pack, kind) is None)
            if getattr(pack, kind) is not None:
                assert dump(getattr(new, kind)) == dump(getattr(pack, kind)), (code, kind)
    assert reform.rules.packs["110000"].standards is BASE.packs["110000"].standards  # not reformed


def test_a_reform_adds_a_dated_version_and_changes_only_from_its_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the shipped section ends 2025-12-31; a second version from 2026-01-01 has referral 0.05
    reformed = SJZ_OFFSITE.replace("effective = 2024-01-01\n", "effective = 2024-01-01\nuntil = 2025-12-31\n")
    later = SJZ_OFFSITE.replace("2024-01-01", "2026-01-01").replace("referral = { mode = \"points\", value = 0.10 }", "referral = { mode = \"points\", value = 0.05 }")  # fmt: skip
    reform = load_reform(write(tmp_path, monkeypatch, reformed + later), BASE)
    offsite = reform.rules.standards("130100").offsite
    assert [(o.effective.isoformat(), o.categories["referral"].value) for o in offsite] == [
        ("2024-01-01", Decimal("0.10")),
        ("2026-01-01", Decimal("0.05")),
    ]


# ------------------------------------------------------------------ the reform file's own keys


@pytest.mark.parametrize("key", ["name", "note"])
def test_a_missing_name_or_note_is_refused(key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head = HEAD.replace(next(line for line in HEAD.splitlines() if line.startswith(key)) + "\n", "")
    exc = refused(tmp_path, monkeypatch, SJZ_OFFSITE, head)
    assert exc.where == f"reform.toml: {key}"
    assert exc.text.en == "required key missing" and exc.text.zh == "缺少必填项"
    fix = {"name": 'name the reform, e.g. name = "referral 10→5 points"', "note": "say in note what the reform"}
    assert exc.fix is not None and exc.fix.en.startswith(fix[key])


@pytest.mark.parametrize("key", ["name", "note"])
def test_an_empty_name_or_note_is_refused(key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head = 'name = "试验"\nnote = "假设。"\n'.replace('"试验"' if key == "name" else '"假设。"', '"  "')
    exc = refused(tmp_path, monkeypatch, SJZ_OFFSITE, head)
    assert exc.where == f"reform.toml: {key}"
    assert exc.text.en == "must not be empty (got '  ')" and exc.text.zh == "不能为空（收到 '  '）"


def test_a_name_that_is_not_text_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exc = refused(tmp_path, monkeypatch, SJZ_OFFSITE, 'name = 5\nnote = "假设。"\n')
    assert (exc.where, exc.text.en) == ("reform.toml: name", "should be text (got 5)")


def test_an_unknown_top_level_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exc = refused(tmp_path, monkeypatch, 'titel = "x"\n' + SJZ_OFFSITE)
    assert exc.render("en") == (
        "reform.toml: titel: unknown key 'titel'; "
        "a reform file has name, note and [regions.<code>.standards|catalogue] tables only"
    )
    assert exc.text.zh == "未知的键 'titel'"
    near = refused(tmp_path, monkeypatch, "regoins = 1\n" + SJZ_OFFSITE)
    assert near.render("en") == "reform.toml: regoins: unknown key 'regoins'; did you mean 'regions'?"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("", "reform.toml: regions"),
        ("regions = {}\n", "reform.toml: regions"),
    ],
)
def test_a_reform_without_regions_is_refused(
    body: str, where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exc = refused(tmp_path, monkeypatch, body)
    assert exc.where == where
    assert exc.text.en == (
        "the reform changes nothing: no [regions.<code>.standards] or [regions.<code>.catalogue] table"
    )
    assert (
        exc.fix is not None and exc.fix.en == "give the keys it changes, e.g. offsite under [regions.130100.standards]"
    )


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("[regions.130100]\n", "reform.toml: regions.130100"),
        ("[regions.130100.standards]\n", "reform.toml: regions.130100.standards"),
        ("[regions.130100.standards.resident]\n", "reform.toml: regions.130100.standards"),
    ],
)
def test_a_table_that_changes_no_key_is_refused(
    body: str, where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exc = refused(tmp_path, monkeypatch, body)
    assert exc.render("en") == (
        f"{where}: this table changes no key; give the keys it changes with their new values, or remove the table"
    )


def test_regions_that_is_not_a_table_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exc = refused(tmp_path, monkeypatch, "regions = 5\n")
    assert exc.render("en") == "reform.toml: regions: should be a table (got 5); write it as the table [regions]"


def test_a_region_code_of_five_digits_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exc = refused(tmp_path, monkeypatch, '[regions.13010.standards]\nname = "石家庄"\n')
    assert exc.render("en") == (
        "reform.toml: regions.13010: a region code has 6 digits (got '13010'); "
        "e.g. [regions.130100.standards] (Shijiazhuang)"
    )
    assert exc.render("zh") == (
        "reform.toml: regions.13010: 地区代码应为6位数字（收到 '13010'）；例如 [regions.130100.standards]（石家庄市）"
    )


def test_a_region_without_a_pack_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exc = refused(tmp_path, monkeypatch, '[regions.330100.standards]\nname = "杭州市"\n')
    assert exc.where == "reform.toml: regions.330100"
    assert exc.text.en == "the rules have no pack for region 330100"
    assert exc.fix is not None and exc.fix.en == (
        "a reform changes packs the rules have: 110000 北京市, 130000 河北省, 130100 石家庄市, 230000 黑龙江省, "
        "230400 鹤岗市, 310000 上海市, 330000 浙江省, 330400 嘉兴市"
    )


def test_a_file_the_pack_does_not_have_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exc = refused(tmp_path, monkeypatch, '[regions.130100.catalogue]\ndrug_list = "nrdl-2024"\n')
    assert exc.render("en") == (
        "reform.toml: regions.130100.catalogue: the pack of 130100 石家庄市 has no catalogue.toml; "
        "a reform changes the files the pack has: standards"
    )


@pytest.mark.parametrize(("kind", "fix"), [("standard", "did you mean 'standards'?"), ("benefits", "a region has standards (insured place) and catalogue (treatment place) only")])  # fmt: skip
def test_a_kind_other_than_standards_or_catalogue_is_refused(
    kind: str, fix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exc = refused(tmp_path, monkeypatch, f'[regions.130100.{kind}]\nname = "石家庄市"\n')
    assert exc.render("en") == f"reform.toml: regions.130100.{kind}: unknown key '{kind}'; {fix}"


@pytest.mark.parametrize(("key", "value", "own"), [("kind", "catalogue", "standards"), ("region", "110000", "130100")])
def test_changing_kind_or_region_is_refused(
    key: str, value: str, own: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exc = refused(tmp_path, monkeypatch, f'[regions.130100.standards]\n{key} = "{value}"\n')
    assert exc.render("en") == (
        f"reform.toml: regions.130100.standards.{key}: a reform cannot change {key} (got '{value}'; the file's is "
        f"'{own}'); remove {key}: the table [regions.130100.standards] already says which region and file it changes"
    )


# ------------------------------------------------------------------ the merged pack file, at the reform's keys


def test_an_unknown_key_in_a_merged_table_is_named_in_the_reform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exc = refused(tmp_path, monkeypatch, '[regions.130100.standards.resident]\ngropus = ["adult"]\n')
    assert exc.render("en") == "reform.toml: regions.130100.standards.resident.gropus: unknown key 'gropus'; did you mean 'groups'?"  # fmt: skip


def test_an_unknown_key_in_a_replaced_list_is_named_in_the_reform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = SJZ_OFFSITE.replace("level_map =", "levelmap =")
    exc = refused(tmp_path, monkeypatch, body)
    assert exc.where == "reform.toml: regions.130100.standards.offsite[0].levelmap"
    assert exc.text.en == "unknown key 'levelmap'" and exc.fix is not None and exc.fix.en == "did you mean 'level_map'?"


@pytest.mark.parametrize(
    ("value", "text", "fix"),
    [
        ("-0.05", "must be at least 0 (got -0.05)", "correct this value in the reform"),
        ("1.05", "must be at most 1 (got 1.05)", "write ratios as 0-1, e.g. 0.85"),
        ("true", "should be a number (got true)", "correct this value in the reform"),
    ],
)
def test_a_bad_value_is_named_in_the_reform_and_quoted(
    value: str, text: str, fix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = SJZ_OFFSITE.replace('referral = { mode = "points", value = 0.10 }', f'referral = {{ mode = "points", value = {value} }}')  # fmt: skip
    exc = refused(tmp_path, monkeypatch, body)
    assert exc.where == "reform.toml: regions.130100.standards.offsite[0].categories.referral.value"
    assert exc.text.en == text and exc.fix is not None and exc.fix.en == fix


def test_a_missing_key_of_a_replaced_section_is_named_in_the_reform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exc = refused(tmp_path, monkeypatch, SJZ_OFFSITE.replace("effective = 2024-01-01\n", ""))
    assert exc.render("en") == (
        "reform.toml: regions.130100.standards.offsite[0].effective: required key missing; give it in the reform"
    )


def test_a_table_written_for_a_list_of_sections_says_how_to_write_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the natural first try: change only referral, as if [[offsite]] were one table
    exc = refused(tmp_path, monkeypatch, '[regions.130100.standards.offsite.categories]\nreferral = { mode = "points", value = 0.05 }\n')  # fmt: skip
    assert exc.where == "reform.toml: regions.130100.standards.offsite"
    assert exc.text.en == f"should be a list, got a table: offsite is a list in {SJZ_FILE}"
    assert exc.fix is not None and exc.fix.en == (
        "a reform replaces a list whole: write every entry of it as in the pack, a list of tables as "
        "[[regions.130100.standards.offsite]] (a dated section with its effective, source and every key), "
        "then change the values it changes"
    )


def test_bands_out_of_order_are_refused_at_the_reform_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the resident tier-2 section of rules/130100/standards.toml, its second band starting at 90000
    # where the first ends at 100000
    body = """
[[regions.130100.standards.resident.tier2]]
effective = 2024-01-01
source = "illustrative-hebei"
kind = "critical_illness"
base = "personal_burden"
deductible = 15000
bands = [{ to = 100000, ratio = 0.60 }, { from = 90000, ratio = 0.70 }]
cap = 300000
"""
    exc = refused(tmp_path, monkeypatch, body)
    assert exc.where == "reform.toml: regions.130100.standards.resident.tier2[0].bands[1].from"
    assert "90000" in exc.text.en and "100000" in exc.text.en and exc.text.en.endswith("[BANDS_NOT_CONTIGUOUS]")
    assert exc.fix is not None and exc.fix.en == "correct this value in the reform"
    assert "rules validate" not in exc.render("en")  # validating the pack itself would find nothing


def test_a_source_id_the_file_lacks_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = SJZ_OFFSITE.replace('"illustrative-hebei-offsite"]', '"reform-5"]')
    exc = refused(tmp_path, monkeypatch, body)
    assert exc.where == "reform.toml: regions.130100.standards.offsite[0].source"
    assert "'reform-5'" in exc.text.en and exc.text.en.endswith("[SOURCE_UNKNOWN]")


def test_marking_a_source_primary_without_its_text_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = '[regions.130100.standards.sources.illustrative-hebei]\nconfidence = "primary"\n'
    exc = refused(tmp_path, monkeypatch, body)
    # the error is on the source's table (its fields together); the key the reform set is named
    assert exc.where == "reform.toml: regions.130100.standards.sources.illustrative-hebei"
    assert exc.text.en == (
        "a source marked primary needs issuer, title, url, effective, verified "
        "(the reform set regions.130100.standards.sources.illustrative-hebei.confidence)"
    )


def test_a_pack_value_the_reform_made_invalid_names_the_reform_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dropping the group "retired" leaves the pack's own rates for it (employee.inpatient[0].rates[3]
    # is the retired level-1 rate) without their group
    exc = refused(tmp_path, monkeypatch, '[regions.130100.standards.employee]\ngroups = ["in_service"]\n')
    assert exc.where == "reform.toml: regions.130100.standards.employee.groups"
    assert exc.text.en.startswith(
        f"the reform makes the pack's file invalid ({SJZ_FILE}: employee.inpatient[0].rates[3].group): "
        "group 'retired' is not declared in groups (in_service)"
    )
    assert exc.fix is not None and exc.fix.en == "change the reform so that the file it changes stays valid"


def test_a_pack_value_made_invalid_by_one_of_several_keys_names_the_pack_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two keys of [employee] set, each as near the invalid rate: the pack's file and key are named
    body = '[regions.130100.standards.employee]\ngroups = ["in_service"]\ngroup_labels = { in_service = "在职" }\n'
    exc = refused(tmp_path, monkeypatch, body)
    assert exc.where == f"{SJZ_FILE}: employee.inpatient[0].rates[3].group"
    assert exc.text.en.startswith("the reform reform.toml makes the file invalid: group 'retired' is not declared")
    assert exc.text.zh.startswith("改革 reform.toml 使规则文件失效：")


def test_a_catalogue_reform_naming_a_missing_drug_list_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exc = refused(tmp_path, monkeypatch, '[regions.110000.catalogue]\ndrug_list = "nrdl-2099"\n')
    assert exc.where == "reform.toml: regions.110000.catalogue.drug_list"
    assert "'nrdl-2099'" in exc.text.en and exc.text.en.endswith("[DRUG_LIST_MISSING]")


# ------------------------------------------------------------------ the README tells the truth


def test_the_readme_shows_the_example_whole_and_a_real_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Reforms over a month of bills") :]
    block = re.search(r"```toml\n(.*?)\n```", section, re.S)
    assert block is not None and block.group(1) + "\n" == EXAMPLE.read_text(encoding="utf-8")
    shown = re.search(r"```text\n\s*medins: error: (.*?)\n\s*```", section, re.S)
    body = SJZ_OFFSITE.replace('referral = { mode = "points", value = 0.10 }', 'referral = { mode = "points", value = -0.05 }')  # fmt: skip
    assert shown is not None and shown.group(1) == refused(tmp_path, monkeypatch, body).render("en")
