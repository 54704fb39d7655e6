"""Pack inheritance (``extends``): a province pack plus a city pack that extends it are the city's pack.

The proof that matters: every golden case (estimate, check, compare, year) settles to the same output,
key for key, against its rules directory as written and against the same directory with each city's
province-wide sections (off-site, filing, assistance, tier 2) moved into a province pack that the
city extends. The batch goldens run against the shipped rules, whose Heilongjiang pack is split so.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fuzz_targets import dump_toml

from medins import api
from medins.cli import cli
from medins.errors import CaseError, MedinsError, RuleError
from medins.loader import read_toml, shipped_rules_dir
from medins.render import eligibility_json, settlement_json
from medins.whatif import compare, comparison_json, estimate_year, year_json

GOLDEN = Path(__file__).parent / "golden"
PROVINCE_SECTIONS = ("offsite", "filing", "assistance")
PROVINCE_SCHEME_SECTIONS = ("tier2",)


def _cited(section: Any) -> set[str]:
    """The source ids a section (or list of sections) cites, [[filing.deemed]] entries included."""
    found: set[str] = set()
    if isinstance(section, dict):
        source = section.get("source")
        if isinstance(source, str):
            found.add(source)
        elif isinstance(source, list):
            found.update(source)
        for value in section.values():
            found |= _cited(value)
    elif isinstance(section, list):
        for value in section:
            found |= _cited(value)
    return found


def split_pack(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A city's standards as (province pack, city pack that extends it): the province gets the
    province-wide sections and the sources they cite; the city keeps the rest and every source."""
    province_code = data["region"][:2] + "0000"
    province: dict[str, Any] = {"kind": "standards", "region": province_code, "name": "省级规则包"}
    city = {k: v for k, v in data.items() if k not in PROVINCE_SECTIONS}
    city = {"extends": province_code, **city}
    moved: dict[str, Any] = {k: data[k] for k in PROVINCE_SECTIONS if k in data}
    for scheme in ("employee", "resident"):
        if scheme not in data:
            continue
        taken = {k: v for k, v in data[scheme].items() if k in PROVINCE_SCHEME_SECTIONS}
        if taken:
            moved[scheme] = taken
            city[scheme] = {k: v for k, v in data[scheme].items() if k not in PROVINCE_SCHEME_SECTIONS}
    province["sources"] = {sid: data["sources"][sid] for sid in sorted(_cited(moved)) if sid in data["sources"]}
    province.update(moved)
    return province, city


def split_rules(src: Path, dst: Path) -> Path:
    """A copy of a rules directory with each city's standards split into a province pack and the city."""
    shutil.copytree(src, dst)
    for file in sorted(dst.glob("*/standards.toml")):
        code = file.parent.name
        if code.endswith("0000") or (dst / f"{code[:2]}0000").exists():
            continue  # a province-level region, or a province that already has a pack
        province, city = split_pack(read_toml(file))
        (dst / province["region"]).mkdir()
        (dst / province["region"] / "standards.toml").write_text(dump_toml(province), encoding="utf-8")
        file.write_text(dump_toml(city), encoding="utf-8")
    return dst


def _cases() -> list[tuple[str, Path, Path]]:
    """(kind, case file, its rules directory) for every golden case."""
    out = []
    for kind, default, base in (
        ("estimate", GOLDEN / "rules", GOLDEN),
        ("check", shipped_rules_dir(), GOLDEN / "check"),
        ("compare", shipped_rules_dir(), GOLDEN),
        ("year", shipped_rules_dir(), GOLDEN),
    ):
        for case in sorted((GOLDEN / kind).glob("*.toml")):
            expected = json.loads(case.with_suffix(".json").read_text(encoding="utf-8"))
            out.append((kind, case, base / expected["rules"] if "rules" in expected else default))
    return out


CASES = _cases()


def _output(kind: str, case: Path, rules_dir: Path) -> Any:
    expected = json.loads(case.with_suffix(".json").read_text(encoding="utf-8"))
    rules = api.load_rules(rules_dir)
    if kind == "estimate":
        as_of = date.fromisoformat(expected["as_of"]) if "as_of" in expected else None
        return settlement_json(api.estimate(api.load_case(case), rules, as_of), "en")
    if kind == "check":
        return eligibility_json(api.check(api.load_case(case), rules), "en")
    if kind == "compare":
        return comparison_json(compare(api.load_case(case), expected["vary"], rules), "en")
    return year_json(estimate_year(case, rules), "en")


@pytest.fixture(scope="module")
def split_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Path]:
    root = tmp_path_factory.mktemp("split")
    dirs = sorted({rules for _, _, rules in CASES})
    return {d: split_rules(d, root / f"{i}-{d.name}") for i, d in enumerate(dirs)}


def test_every_golden_rules_directory_is_split(split_dirs: dict[Path, Path]) -> None:
    # the proof below would prove nothing for a directory whose cities were left whole
    assert len(CASES) >= 90
    for src, dst in split_dirs.items():
        cities = [f.parent.name for f in src.glob("*/standards.toml") if not f.parent.name.endswith("0000")]
        for code in cities:
            data = read_toml(dst / code / "standards.toml")
            if not (src / f"{code[:2]}0000").exists():
                assert data["extends"] == f"{code[:2]}0000" and "offsite" not in data, (src, code)


@pytest.mark.parametrize(("kind", "case", "rules_dir"), CASES, ids=[f"{k}/{c.stem}" for k, c, _ in CASES])
def test_split_packs_settle_as_the_single_pack(
    kind: str, case: Path, rules_dir: Path, split_dirs: dict[Path, Path]
) -> None:
    assert _output(kind, case, split_dirs[rules_dir]) == _output(kind, case, rules_dir)


# ----------------------------------------------------------------------------- the chain's errors


def _split_golden(tmp_path: Path) -> Path:
    """tests/golden/rules with Shijiazhuang split: 130000 (off-site, filing, assistance, tier 2) + 130100."""
    return split_rules(GOLDEN / "rules", tmp_path / "rules")


def _edit(path: Path, edit: Any) -> None:
    data = read_toml(path)
    edit(data)
    path.write_text(dump_toml(data), encoding="utf-8")


def _load_error(root: Path) -> MedinsError:
    api._CACHE.clear()
    with pytest.raises(MedinsError) as err:
        api.load_rules(root)
    return err.value


def test_a_missing_parent_names_the_file_and_extends(tmp_path: Path) -> None:
    root = _split_golden(tmp_path)
    shutil.rmtree(root / "130000")
    err = _load_error(root)
    assert isinstance(err, RuleError)
    assert err.where == f"{root / '130100' / 'standards.toml'}: extends"
    assert err.render("en") == (
        f"{err.where}: extends = '130000' but there is no 130000/standards.toml; "
        "add 130000/standards.toml to the rules directory, or correct extends"
    )


def test_a_parent_with_only_the_other_file_says_what_it_has(tmp_path: Path) -> None:
    from medins.loader import load_rule_file

    root = _split_golden(tmp_path)
    (root / "130000" / "standards.toml").rename(root / "130000" / "catalogue.toml")
    with pytest.raises(RuleError) as err:
        load_rule_file(root / "130100" / "standards.toml")
    assert err.value.where == f"{root / '130100' / 'standards.toml'}: extends"
    assert "(130000 has only catalogue.toml)" in err.value.render("en")


def test_a_parent_of_the_wrong_kind_is_refused(tmp_path: Path) -> None:
    root = _split_golden(tmp_path)
    parent = root / "130000" / "standards.toml"
    _edit(parent, lambda d: d.update(kind="catalogue"))
    # the file is read through its city first: the city's extends names the parent and its kind
    api._CACHE.clear()
    from medins.loader import load_rule_file

    with pytest.raises(RuleError) as err:
        load_rule_file(root / "130100" / "standards.toml")
    assert err.value.where == f"{root / '130100' / 'standards.toml'}: extends"
    assert err.value.render("en") == (
        f"{err.value.where}: extends = '130000': {parent} has kind = 'catalogue', not 'standards'; "
        "a file extends a file of its own kind"
    )


def test_a_cycle_is_refused_with_its_path(tmp_path: Path) -> None:
    root = _split_golden(tmp_path)
    _edit(root / "130000" / "standards.toml", lambda d: d.update(extends="130100"))
    err = _load_error(root)
    # read from 130000 (it sorts first), the loop 130000 → 130100 → 130000 closes at 130100's extends
    assert err.where == f"{root / '130100' / 'standards.toml'}: extends"
    assert err.render("zh").startswith(f"{err.where}: extends 形成循环：130000 → 130100 → 130000；")


def test_extends_must_be_a_region_code(tmp_path: Path) -> None:
    root = _split_golden(tmp_path)
    _edit(root / "130100" / "standards.toml", lambda d: d.update(extends=130000))
    err = _load_error(root)
    assert err.where == f"{root / '130100' / 'standards.toml'}: extends"
    assert "extends should be a 6-digit region code (got 130000)" in err.render("en")


def test_a_source_id_in_both_files_must_say_the_same(tmp_path: Path) -> None:
    root = _split_golden(tmp_path)
    _edit(root / "130100" / "standards.toml", lambda d: d["sources"]["test-130100"].update(note="另一个说明"))
    err = _load_error(root)
    assert err.where == f"{root / '130100' / 'standards.toml'}: sources.test-130100"
    assert f"differs from the source of that id in {root / '130000' / 'standards.toml'}" in err.render("en")


def test_an_error_in_an_inherited_section_names_the_file_it_is_in(tmp_path: Path) -> None:
    from medins.loader import load_resolved

    root = _split_golden(tmp_path)
    _edit(root / "130000" / "standards.toml", lambda d: d["offsite"][0]["categories"]["referral"].update(value=2))
    with pytest.raises(RuleError) as err:
        load_resolved(root / "130100" / "standards.toml")
    assert err.value.where == f"{root / '130000' / 'standards.toml'}: offsite[0].categories.referral.value"
    # and the CLI: exit 1, one line naming the province's file, whether the city alone is checked or
    # the whole directory (where the province's own file finds it too)
    line = f"{root / '130000' / 'standards.toml'}: offsite[0].categories.referral.value: must be at most 1"
    for target in (root / "130100", root):
        result = CliRunner().invoke(cli, ["rules", "validate", str(target), "--lang", "en"])
        assert result.exit_code == 1
        assert result.stderr.count(line) == 1, result.stderr


def test_a_broken_chain_is_exit_1_for_an_estimate(tmp_path: Path) -> None:
    root = _split_golden(tmp_path)
    shutil.rmtree(root / "130000")
    api._CACHE.clear()
    case = GOLDEN / "estimate" / "01-tier1-only.toml"
    result = CliRunner().invoke(cli, ["estimate", str(case), "--rules", str(root), "--lang", "en"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"medins: error: {root / '130100' / 'standards.toml'}: extends: ")
    assert "Traceback" not in result.output


# ----------------------------------------------------------------------------- what a section is


def test_a_section_replaces_the_parents_whole_and_schemes_merge_key_by_key(tmp_path: Path) -> None:
    root = _split_golden(tmp_path)
    province = root / "130000" / "standards.toml"
    city = root / "130100" / "standards.toml"
    offsite = read_toml(province)["offsite"][0]
    # the province has two dated versions of [[offsite]]; the city writes one, from 2025
    early = {**offsite, "until": date(2024, 12, 31)}
    late = {**offsite, "effective": date(2025, 1, 1)}
    _edit(province, lambda d: d.update(offsite=[early, late]))
    own = {
        **offsite,
        "effective": date(2024, 1, 1),
        "categories": {**offsite["categories"], "referral": {"mode": "points", "value": Decimal("0.05")}},
    }
    _edit(city, lambda d: d.update(offsite=[own]))
    api._CACHE.clear()
    rules = api.load_rules(root)
    std = rules.standards("130100")
    assert len(std.offsite) == 1 and std.offsite[0].categories["referral"].value == Decimal("0.05")
    # [resident]: the city's inpatient terms, the province's tier 2 (moved there by split_rules)
    origins = rules.packs["130100"].origins["standards"]
    assert origins.origin("resident.inpatient[0].cap") == city
    assert origins.origin("resident.tier2[0].bands[0].ratio") == province
    assert origins.origin("offsite[0].categories.referral.value") == city
    assert std.resident is not None and std.resident.tier2 == read_model_tier2(province)


def read_model_tier2(path: Path) -> Any:
    from medins.loader import load_resolved

    base, _ = load_resolved(path, partial=True)
    return base.resident.tier2  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- a province pack is no insured place


def test_a_province_pack_is_no_insured_place(tmp_path: Path) -> None:
    root = _split_golden(tmp_path)
    api._CACHE.clear()
    rules = api.load_rules(root)
    assert rules.packs["130000"].standards is None and rules.packs["130000"].base is not None
    case = api.load_case(GOLDEN / "estimate" / "01-tier1-only.toml")
    moved = case.model_copy(update={"person": case.person.model_copy(update={"insured_region": "130000"})})
    with pytest.raises(CaseError) as err:
        api.estimate(moved, rules)
    assert err.value.where == "person.insured_region"
    assert err.value.render("en") == (
        "person.insured_region: 130000 省级规则包 is a province pack that 130100 石家庄市（测试） extend, not an insured "
        "place; give the pooling region the person is insured in (e.g. 130100); if the province level pools on "
        "its own, write insured_place = true in 130000/standards.toml with its full standards"
    )


def test_insured_place_true_makes_a_complete_province_pack_settle(tmp_path: Path) -> None:
    root = _split_golden(tmp_path)
    city = read_toml(root / "130100" / "standards.toml")
    # the province pack made complete: the city's schemes copied in, and the province says it pools
    _edit(
        root / "130000" / "standards.toml",
        lambda d: d.update(
            insured_place=True,
            **{s: {**city[s], **d.get(s, {})} for s in ("employee", "resident") if s in city},
            sources={**city["sources"], **d["sources"]},
        ),
    )
    api._CACHE.clear()
    rules = api.load_rules(root)
    assert rules.packs["130000"].standards is not None
    case = api.load_case(GOLDEN / "estimate" / "01-tier1-only.toml")
    moved = case.model_copy(update={"person": case.person.model_copy(update={"insured_region": "130000"})})
    # the same terms as 130100's: the same amounts
    assert api.estimate(moved, rules).basic_fund == api.estimate(case, rules).basic_fund


# ----------------------------------------------------------------------------- rules show, list, sources


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_rules_show_says_where_each_section_came_from() -> None:
    result = _run("rules", "show", "230400", "--as-of", "2025-06-01", "--format", "json")
    assert result.exit_code == 0
    came = json.loads(result.stdout)["from"]["standards"]
    assert came["employee.outpatient"] == "230000/standards.toml"
    assert came["employee.inpatient"] == "230400/standards.toml"
    assert came["offsite"] == came["filing"] == came["resident.tier2"] == "230400/standards.toml"
    text = _run("rules", "show", "230400", "--as-of", "2025-06-01", "--lang", "en").stdout.splitlines()
    assert text[1] == (
        "standards [230400/standards.toml] extends 230000 黑龙江省 [230000/standards.toml]: sections marked <= "
        "come from the file extended, the others from this file"
    )
    marked = [line for line in text if "<=" in line and not line.startswith("standards")]
    # exactly the one inherited section is marked, and its illustrative source is the province's
    assert marked == [
        "employee scheme · general outpatient  [黑龙江职工医保普通门诊费用跨省直接结算告知, illustrative (黑龙江省 standards)]"
        "  <= 230000 黑龙江省"
    ]


def test_rules_show_of_a_province_pack_names_its_cities() -> None:
    result = _run("rules", "show", "230000", "--as-of", "2025-06-01")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1] == "省级规则包，不是参保地；继承它的：230400 鹤岗市"
    assert "职工医保 · 普通门诊" in result.stdout and "⇐" not in result.stdout


def test_rules_list_marks_province_packs_and_what_extends_them() -> None:
    rows = {r["code"]: r for r in json.loads(_run("rules", "list", "--format", "json").stdout)}
    assert (rows["230000"]["insured_place"], rows["230000"]["extends"]) == (False, None)
    assert (rows["230400"]["insured_place"], rows["230400"]["extends"]) == (True, "230000")
    assert (rows["130100"]["insured_place"], rows["130100"]["extends"]) == (True, None)
    # Hebei's and Zhejiang's province packs hold no section yet: no values, no period
    assert rows["130000"]["values"] == {} and rows["130000"]["effective_from"] is None


def test_rules_diff_of_a_split_lists_the_province_pack_only(tmp_path: Path) -> None:
    # the same rules, split: the city's values are where they were (only their file differs), and the
    # province pack's values are new
    root = _split_golden(tmp_path)
    data = json.loads(_run("rules", "diff", str(GOLDEN / "rules"), str(root), "--format", "json").stdout)
    added = {("130000", "added"), ("230000", "added"), ("330000", "added")}
    assert data["changes"] and {(c["region"], c["change"]) for c in data["changes"]} == added


def test_rules_diff_names_the_file_a_changed_value_came_from(tmp_path: Path) -> None:
    root = _split_golden(tmp_path)
    before = tmp_path / "before"
    shutil.copytree(root, before)
    _edit(
        root / "130000" / "standards.toml",
        lambda d: d["offsite"][0]["categories"]["referral"].update(value=Decimal("0.15")),
    )
    data = json.loads(_run("rules", "diff", str(before), str(root), "--format", "json").stdout)
    # the province pack's own value, and the same value as its city reads it
    assert [(c["region"], c["path"], c["change"]) for c in data["changes"]] == [
        ("130000", "offsite[0].categories.referral.value", "changed"),
        ("130100", "offsite[0].categories.referral.value", "changed"),
    ]
    assert {c[side]["from"] for c in data["changes"] for side in ("old", "new")} == {"130000/standards.toml"}
    text = _run("rules", "diff", str(before), str(root), "--lang", "en").stdout
    assert "standards <= 130000" in text  # the city's line says the value is inherited


# ----------------------------------------------------------------------------- the cache and reforms


def test_the_rules_cache_sees_a_change_of_the_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDINS_CACHE", str(tmp_path / "cache"))
    root = _split_golden(tmp_path)
    api._CACHE.clear()
    assert api.load_rules(root).standards("130100").offsite[0].categories["referral"].value == Decimal("0.10")
    assert len(list((tmp_path / "cache").glob("rules-*.pickle"))) == 1
    _edit(
        root / "130000" / "standards.toml",
        lambda d: d["offsite"][0]["categories"]["referral"].update(value=Decimal("0.15")),
    )
    api._CACHE.clear()  # a new run
    assert api.load_rules(root).standards("130100").offsite[0].categories["referral"].value == Decimal("0.15")
    assert len(list((tmp_path / "cache").glob("rules-*.pickle"))) == 2


def test_a_drug_list_is_validated_once_and_again_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The drug list a run reads is validated the first time and read back from the cache after;
    a changed list (another byte) is validated again; a missing one is still refused by name."""
    from medins import loader

    monkeypatch.setenv("MEDINS_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "rules"
    shutil.copytree(shipped_rules_dir(), root)
    edition = next((root / "drug-lists").glob("*.json")).stem
    validated: list[Path] = []
    load = loader.load_drug_list

    def counted(path: Path) -> Any:
        validated.append(path)
        return load(path)

    monkeypatch.setattr(loader, "load_drug_list", counted)
    api._CACHE.clear()
    first = api.load_rules(root).drugs(edition)
    api._CACHE.clear()  # a new run
    again = api.load_rules(root).drugs(edition)
    assert len(validated) == 1 and len(list((tmp_path / "cache").glob("drugs-*.pickle"))) == 1
    assert again.by_code.keys() == first.by_code.keys() and again.drug_list == first.drug_list
    path = root / "drug-lists" / f"{edition}.json"
    path.write_text(path.read_text("utf-8") + "\n", "utf-8")
    api._CACHE.clear()
    api.load_rules(root).drugs(edition)
    assert len(validated) == 2
    path.unlink()
    api._CACHE.clear()
    with pytest.raises(RuleError, match="drug list file not found"):
        api.load_rules(root).drugs(edition)


def test_a_reform_of_a_province_pack_reaches_its_cities(tmp_path: Path) -> None:
    from medins.reform import load_reform

    province = read_toml(shipped_rules_dir() / "230000" / "standards.toml")
    section = {**province["employee"]["outpatient"][0], "cap": 4000}
    reform = tmp_path / "reform.toml"
    reform.write_text(
        dump_toml(
            {
                "name": "黑龙江职工门诊限额4000元",
                "note": "示意",
                "regions": {"230000": {"standards": {"employee": {"outpatient": [section]}}}},
            }
        ),
        encoding="utf-8",
    )
    api._CACHE.clear()
    base = api.load_rules()
    loaded = load_reform(reform, base)
    assert loaded.changed == {"230000": ("standards",), "230400": ("standards",)}
    assert loaded.rules.standards("230400").employee.outpatient[0].cap == Decimal("4000")  # type: ignore[union-attr]
    assert base.standards("230400").employee.outpatient[0].cap == Decimal("3000")  # type: ignore[union-attr]


def test_the_schema_knows_extends_and_insured_place(tmp_path: Path) -> None:
    import jsonschema

    schema = json.loads(_run("rules", "schema", "--kind", "standards").stdout)
    assert {"extends", "insured_place"} <= set(schema["properties"])
    root = _split_golden(tmp_path)
    for path in (root / "130000" / "standards.toml", root / "130100" / "standards.toml"):
        jsonschema.validate(json.loads(json.dumps(read_toml(path), default=str)), schema)


def test_a_batch_rejects_a_province_packs_code_and_settles_its_city(tmp_path: Path) -> None:
    bills = tmp_path / "bills.csv"
    bills.write_text(
        "bill_id,person_id,insured_region,scheme,status,filing_category,filing_destination,filing_start,"
        "visit_region,hospital_level,visit_type,date,total,class_b\n"
        "B1,P1,230000,employee,in_service,other_temporary,110000,2025-01-01,110000,3,outpatient,2025-03-10,1000.00,0\n"
        "B2,P2,230400,employee,in_service,other_temporary,110000,2025-01-01,110000,3,outpatient,2025-03-10,1000.00,0\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(cli, ["batch", str(bills), "-o", str(out), "--quiet", "--lang", "en"])
    assert result.exit_code == 3, result.output  # finished, some rows rejected
    rejects = (tmp_path / "out.rejects.csv").read_text(encoding="utf-8-sig").splitlines()
    assert rejects[1].startswith(
        '2,bills,B1,insured_region,"230000 黑龙江省 is a province pack that 230400 鹤岗市 extend'
    )
    import csv

    (row,) = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    # 230400 employee outpatient, inherited from 230000: yearly deductible 400, level 3 ratio 50 %,
    # other temporary −20 points (230400 offsite): (1000.00 − 400.00) × (0.50 − 0.20) = 180.00
    assert (row["bill_id"], row["deductible"], row["basic_fund"]) == ("B2", "400.00", "180.00")


def test_a_catalogue_extends_a_complete_catalogue(tmp_path: Path) -> None:
    root = tmp_path / "rules"
    shutil.copytree(GOLDEN / "rules", root)
    beijing = read_toml(root / "110000" / "catalogue.toml")
    # 130100 as treatment place: Beijing's catalogue with its own dated settings
    own = {
        **beijing["settings"][0],
        "pre_self_pay": {"drug": Decimal("0.05"), "service": Decimal("0.10"), "consumable": Decimal("0.10")},
    }
    city = {"kind": "catalogue", "extends": "110000", "region": "130100", "name": "石家庄市", "settings": [own]}
    (root / "130100" / "catalogue.toml").write_text(dump_toml(city), encoding="utf-8")
    api._CACHE.clear()
    rules = api.load_rules(root)
    cat, parent = rules.catalogue("130100"), rules.catalogue("110000")
    assert cat.drug_list == parent.drug_list and cat.items == parent.items and cat.sources == parent.sources
    assert cat.settings[0].pre_self_pay.drug == Decimal("0.05") != parent.settings[0].pre_self_pay.drug
    # a catalogue extended stays a treatment place: Beijing's own catalogue still settles
    assert rules.packs["110000"].catalogue is not None
    came = json.loads(_run("rules", "show", "130100", "--rules", str(root), "--format", "json").stdout)["from"]
    assert came["catalogue"]["settings"] == "130100/catalogue.toml"
    assert came["catalogue"]["items"] == came["catalogue"]["drug_list"] == "110000/catalogue.toml"


def test_the_cache_keeps_the_newest_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each edit of a rules directory writes a new cached rule set; beyond ``CACHE_KEEP`` of a kind
    the oldest are removed, the other kind's left alone."""
    import hashlib
    import os

    from medins import loader

    monkeypatch.setenv("MEDINS_CACHE", str(tmp_path))
    monkeypatch.setattr(loader, "CACHE_KEEP", 3)
    (tmp_path / "drugs-old.pickle").write_bytes(b"")
    for k in range(5):
        assert loader.cached("rules", hashlib.sha256(bytes([k])), lambda k=k: k, lambda v: True) == k
        newest = max(tmp_path.glob("rules-*.pickle"), key=os.path.getmtime)
        os.utime(newest, (1000 + k, 1000 + k))  # made in this order
    kept = sorted(tmp_path.glob("rules-*.pickle"), key=os.path.getmtime)
    assert len(kept) == 3 and (tmp_path / "drugs-old.pickle").exists()
    assert [loader.cached("rules", hashlib.sha256(bytes([k])), lambda: "again", lambda v: True) for k in (2, 3, 4)] == [
        2,
        3,
        4,
    ]
