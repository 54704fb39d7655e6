"""Issue 14, "speak the user's language": help and click's words in Chinese by default, one vocabulary
for flags and case files, errors naming what the user typed, assumptions said out loud, a clerk's
check from flags, JSON where scripts need it.

Amounts are worked out by hand from the shipped 130100 (Shijiazhuang) resident standards:
level-3 inpatient deductible 1,000 for the 1st admission and 500 for later ones, ratio 60 %, lowered
by 10 points for a referral (50 %) and by 30 points unfiled (30 %); critical-illness insurance on the
year's personal burden above 15,000 at 60 % (to 100,000), class-B pre-self-pay not in its base.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from medins.cli import cli

ROOT = Path(__file__).parent.parent
STORY = ROOT / "examples" / "shijiazhuang-resident-beijing.toml"
QUICK = ["estimate", "--scheme", "resident", "--level", "3", "--type", "inpatient", "--date", "2025-03-10"]


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env=env, input=stdin, prog_name="medins")


def amounts(output: str) -> dict[str, str]:
    """The label → amount rows of an estimate table."""
    return {
        m.group(1).strip(): m.group(2) for m in re.finditer(r"^(\S.*?|\s+\S.*?)\s{2,}([\d,]+\.\d\d%?)$", output, re.M)
    }


# ----------------------------------------------------------------------------- item 5: help and click in Chinese


def test_help_is_chinese_by_default_and_english_on_request() -> None:
    zh = run("--help")
    assert zh.exit_code == 0
    assert zh.stdout.startswith("用法: medins [OPTIONS] COMMAND [ARGS]...\n")
    assert "命令:" in zh.stdout and "估算一张账单各项基金支付多少" in zh.stdout
    assert "Show this message" not in zh.stdout and "显示本帮助并退出。" in zh.stdout
    en = run("--lang", "en", "--help")
    assert en.stdout.startswith("Usage: medins [OPTIONS] COMMAND [ARGS]...\n")
    assert "Estimate what each tier pays" in en.stdout and "估算" not in en.stdout


def test_help_in_one_language_after_the_other_keeps_each_language() -> None:
    # click words its --help option once, in the language of the run that first needs it
    for args in (["--help"], ["rules", "list", "--help"]):
        first = run("--lang", "en", *args).stdout
        second = run(*args).stdout
        third = run("--lang", "en", *args).stdout
        assert "-h, --help" in first and "Show this message and exit." in first and "显示" not in first
        assert "显示本帮助并退出。" in second and "Show this message" not in second
        assert third == first


def test_a_command_help_follows_the_language_of_the_option_and_of_medins_lang() -> None:
    zh = run("estimate", "--help")
    assert "--total YUAN" in zh.stdout and "医疗费总额（元）。" in zh.stdout
    assert "[默认：" in zh.stdout and "[环境变量：MEDINS_RULES]" in zh.stdout
    for en in (run("estimate", "--help", "--lang", "en"), run("estimate", "--help", env={"MEDINS_LANG": "en"})):
        assert "Bill total (yuan)." in en.stdout and "医疗费总额" not in en.stdout


def test_clicks_usage_errors_are_chinese_by_default() -> None:
    zh = run("estimate", "--bogus")
    assert zh.exit_code == 2
    assert zh.stderr == (
        "用法: medins estimate [OPTIONS] [CASE_FILE]\n运行 'medins estimate --help' 查看帮助。\n\n"
        "错误：没有选项 '--bogus'。\n"
    )
    en = run("estimate", "--bogus", "--lang", "en")
    assert en.exit_code == 2
    assert en.stderr.endswith("Error: No such option '--bogus'.\n")


def test_lang_before_the_subcommand() -> None:
    result = run("--lang", "en", "rules", "list")
    assert result.exit_code == 0
    assert result.stdout.startswith("code ")
    assert run("--lang", "en", "estimate", "--bogus").stderr.endswith("Error: No such option '--bogus'.\n")


def test_an_unknown_medins_lang_warns_and_falls_back_to_chinese() -> None:
    result = run("rules", "list", env={"MEDINS_LANG": "fr"})
    assert result.exit_code == 0
    assert result.stderr == "medins: 警告: 无法识别 MEDINS_LANG='fr'，可用 zh 或 en；使用中文\n"
    assert result.stdout.startswith("代码 ")


def test_deferred_tiers_are_named_in_the_language() -> None:
    # no filing: reimbursed at home, every tier deferred
    result = run(*QUICK, "--insured", "130100", "--treated-in", "110000", "--total", "1000")
    assert "回参保地报销：基本医保统筹支付、大病保险支付、医疗救助支付\n" in result.stdout
    en = run(*QUICK, "--insured", "130100", "--treated-in", "110000", "--total", "1000", "--lang", "en")
    assert (
        "claimed later at home: basic medical insurance, critical-illness insurance, medical assistance\n" in en.stdout
    )


def test_rules_show_in_chinese_has_no_english_words() -> None:
    result = run("rules", "show", "130100", "--as-of", "2025-06-01")
    assert result.exit_code == 0
    assert "pre-self-pay in base" not in result.stdout and "(fund)" not in result.stdout
    assert "基数：政策范围内个人负担；起付线 15000.00；" in result.stdout
    assert "乙类先行自付计入基数：否" in result.stdout
    # what English is left is ids of sources, in brackets, and the drug list's edition
    words = set(re.findall(r"[A-Za-z][A-Za-z_]+", re.sub(r"\[[^\]]*\]|\([^)]*\)", "", result.stdout)))
    assert words == set(), words


def test_import_speaks_the_language(tmp_path: Path) -> None:
    out = tmp_path / "regions.csv"
    src = tmp_path / "areacodes.csv"
    src.write_text(
        "code,name,level,pid,status,year_start,year_end,successors\n110000,北京市,1,,0,1980,,\n",
        encoding="utf-8",
    )
    result = run("rules", "import-areacodes", str(src), str(out))
    if result.exit_code == 0:
        assert "个地区代码 → " in result.stdout
        as_json = run("rules", "import-areacodes", str(src), str(out), "--format", "json")
        assert json.loads(as_json.stdout)["out"] == str(out)


# ----------------------------------------------------------------------------- items 1 and 2: one vocabulary


def test_chinese_names_aliases_and_date_forms_give_the_same_estimate_as_ids() -> None:
    ids = run(*QUICK, "--insured", "130100", "--treated-in", "110000", "--total", "50000", "--category", "referral")
    named = run(
        "estimate",
        "--insured",
        "石家庄市",
        "--treated-in",
        "北京市",
        "--scheme",
        "居民",
        "--level",
        "三级",
        "--type",
        "住院",
        "--date",
        "2025/3/10",
        "--total",
        "50000",
        "--category",
        "异地转诊",
    )
    compact = run(
        *QUICK[:-2], "--date", "20250310", "--insured", "石家庄", "--treated-in", "北京", "--total", "50000",
        "--category", "转诊",
    )  # fmt: skip
    assert ids.exit_code == named.exit_code == compact.exit_code == 0, named.stdout + named.stderr
    # 50,000 all in scope; deductible 1,000; referral: 60 % − 10 points = 50 %
    # basic = (50,000 − 1,000) × 50 % = 24,500; burden 25,500; tier 2 = (25,500 − 15,000) × 60 % = 6,300
    assert amounts(ids.stdout)["基本医保统筹支付"] == "24,500.00"
    assert amounts(ids.stdout)["大病保险支付"] == "6,300.00"
    assert amounts(named.stdout) == amounts(ids.stdout) == amounts(compact.stdout)


def test_a_district_code_is_settled_as_its_pooling_region_with_a_notice() -> None:
    result = run(*QUICK, "--insured", "130125", "--treated-in", "110105", "--total", "50000", "--category", "referral")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        "提示：参保地 --insured 130125（行唐县）按所属统筹地区 130100（石家庄市）计算\n"
        "提示：就医地 --treated-in 110105（朝阳区）按所属统筹地区 110000（北京市）计算\n"
    )
    assert amounts(result.stdout)["基本医保统筹支付"] == "24,500.00"  # as for 130100 → 110000 above


def test_a_case_file_takes_the_same_vocabulary(tmp_path: Path) -> None:
    text = STORY.read_text(encoding="utf-8")
    text = text.replace('insured_region = "130100"', 'insured_region = "130125"')
    text = text.replace('scheme = "resident"', 'scheme = "城乡居民"')
    text = text.replace('category = "referral"', 'category = "异地转诊"')
    text = re.sub(r"admitted = 2025-03-10", 'admitted = "2025/3/10"', text)
    text = re.sub(r'type = "inpatient"', 'type = "住院"', text)
    case = tmp_path / "case.toml"
    case.write_text(text, encoding="utf-8")
    mine = run("estimate", str(case))
    story = run("estimate", str(STORY))
    assert mine.exit_code == 0, mine.stderr
    assert mine.stdout == story.stdout
    assert "person.insured_region 130125（行唐县）按所属统筹地区 130100（石家庄市）计算" in mine.stderr


def test_a_misspelt_value_gets_did_you_mean_in_the_users_language() -> None:
    result = run(*QUICK, "--insured", "130100", "--treated-in", "110000", "--total", "1", "--category", "refferal")
    assert result.exit_code == 2
    assert result.stderr.startswith("medins: 错误: --category: 备案类别 'refferal' 无效；是否应为 'referral'？可选：")
    assert "referral（异地转诊人员）" in result.stderr
    chronic = run(
        "estimate", "--insured", "130100", "--treated-in", "110000", "--scheme", "resident", "--level", "3",
        "--type", "门诊慢特病", "--date", "2025-03-10", "--total", "100", "--disease", "diabetis",
    )  # fmt: skip
    assert chronic.exit_code == 1
    assert chronic.stderr.startswith("medins: 错误: --disease: 未知的病种 'diabetis'；是否应为 'diabetes'？")
    bad_region = run(*QUICK, "--insured", "石家装市", "--treated-in", "110000", "--total", "1")
    assert bad_region.exit_code == 2
    assert bad_region.stderr.startswith("medins: 错误: --insured: 未知的地区名称 '石家装市'")


def test_errors_name_the_flag_not_the_case_key() -> None:
    result = run("estimate", "--insured", "130100", "--treated-in", "110000", "--scheme", "employee", "--level", "3",
                 "--total", "5000", "--date", "2025-03-10")  # fmt: skip
    assert result.exit_code == 1
    assert (
        result.stderr
        == "medins: 错误: --status: 缺少 --status（人员类别）；可选：in_service（在职）、retired（退休）\n"
    )
    negative = run(*QUICK, "--insured", "130100", "--treated-in", "110000", "--total", "-5")
    assert negative.stderr == "medins: 错误: --total: 金额 '-5' 为负数；金额不能小于 0\n"
    bad_day = run(*QUICK[:-2], "--date", "2025/2/30", "--insured", "130100", "--treated-in", "110000", "--total", "1")
    assert bad_day.exit_code == 2
    assert bad_day.stderr == "medins: 错误: --date: '2025/2/30' 不是日期；写成 2025-03-10、2025/3/10 或 20250310\n"


def test_a_bad_date_in_a_case_file_names_file_and_key_in_chinese(tmp_path: Path) -> None:
    case = tmp_path / "case.toml"
    case.write_text(STORY.read_text(encoding="utf-8").replace("start = 2025-03-01", 'start = "3月1日"'), "utf-8")
    result = run("estimate", str(case))
    assert result.exit_code == 1
    assert result.stderr == (
        f"medins: 错误: {case}: filing.start: '3月1日' 不是日期；写成 2025-03-10、2025/3/10 或 20250310\n"
    )


# ----------------------------------------------------------------------------- item 4: assumptions and flags


def test_a_quick_estimate_says_what_it_assumed() -> None:
    result = run("estimate", "--insured", "130100", "--treated-in", "110000", "--scheme", "resident", "--level", "3",
                 "--total", "1000", "--category", "referral")  # fmt: skip
    first = result.stdout.splitlines()[0]
    assert first.startswith("假设：就诊日期按今天 ")
    assert "就诊类型按住院计算（未给 --type）" in first
    assert "备案未给出的部分按：自就诊日期起有效、备案地为就医地、材料齐全" in first
    args = ["estimate", "--insured", "130100", "--treated-in", "110000", "--scheme", "resident", "--level", "3",
            "--total", "1000", "--format", "json", "--lang", "en"]  # fmt: skip
    as_json = json.loads(run(*args).stdout)
    assert "visit type taken as inpatient (no --type)" in as_json["assumptions"]
    assert "no --category: settled as not filed" in as_json["assumptions"]


def test_year_to_date_pre_self_pay_and_admission_flags() -> None:
    base = [*QUICK, "--insured", "130100", "--treated-in", "110000", "--category", "referral"]
    # 2nd admission: deductible 500; basic = (50,000 − 500) × 50 % = 24,750; burden 25,250;
    # tier 2 = (25,250 − 15,000) × 60 % = 6,150
    second = amounts(run(*base, "--total", "50000", "--admissions", "1").stdout)
    assert (second["起付线"], second["基本医保统筹支付"], second["大病保险支付"]) == ("500.00", "24,750.00", "6,150.00")
    # pre-self-pay 1,000 given: in scope 49,000; basic = (49,000 − 1,000) × 50 % = 24,000;
    # burden 25,000 (pre-self-pay not in the tier-2 base); tier 2 = (25,000 − 15,000) × 60 % = 6,000
    pre = amounts(run(*base, "--total", "50000", "--class-b", "8000", "--pre-self-pay", "1000").stdout)
    assert (pre["乙类先行自付"], pre["基本医保统筹支付"], pre["大病保险支付"]) == ("1,000.00", "24,000.00", "6,000.00")
    # tier-2 base of 20,000 earlier this year: its deductible is used up; tier 2 = 25,500 × 60 % = 15,300
    ytd = amounts(run(*base, "--total", "50000", "--ytd-tier2-base", "20000").stdout)
    assert ytd["大病保险支付"] == "15,300.00"


def test_the_deductible_sits_under_in_scope_and_the_legend_adds_to_100() -> None:
    result = run("estimate", str(STORY))
    assert "  符合政策范围    63,800.00\n    起付线         1,000.00\n" in result.stdout
    # shares of 68,000: basic 31,400 = 46.18 %, tier 2 10,440 = 15.35 %, assistance 16,470 = 24.22 %,
    # patient 9,690 = 14.25 %: rounded down 46 + 15 + 24 + 14 = 99, the one point left to the largest
    # remainder (tier 2, .35) → 46 + 16 + 24 + 14 = 100
    assert "█ 基本医保统筹支付 46%  ▓ 大病保险支付 16%  ▒ 医疗救助支付 24%  ░ 个人负担 14%\n" in result.stdout


# ----------------------------------------------------------------------------- item 3: the clerk's check


def test_check_from_flags_with_materials_by_chinese_name() -> None:
    args = ["check", "--insured", "130100", "--treated-in", "北京市", "--scheme", "resident", "--level", "3",
            "--type", "住院", "--category", "异地转诊", "--filed-from", "2025-03-01", "--date", "2025-03-10"]  # fmt: skip
    full = run(*args, "--materials", "社保卡,跨省异地就医备案表,转诊转院证明")
    assert full.exit_code == 0
    assert "石家庄市 → 北京市: 可以直接结算\n" in full.stdout
    short = run(*args, "--materials", "转诊转院证明、备案表")
    assert "石家庄市 → 北京市: 不能直接结算\n" in short.stdout
    assert "按未备案标准结算（支付比例降低 30 个百分点），原因：备案材料不全" in short.stdout
    own = run(*args, "--materials", "参保地定点医疗机构转诊转院证明,跨省异地就医备案表,社保卡")  # the pack's names
    assert own.stdout == full.stdout
    bad = run(*args, "--materials", "转诊正明")
    assert bad.exit_code == 1  # the insured place's list decides: a data error
    assert bad.stderr.startswith(
        "medins: 错误: --materials: 参保地不认识的材料：转诊正明；是否应为 'referral_certificate'？可用："
    )


def test_check_says_why_the_unfiled_rate_applies() -> None:
    result = run("check", "--insured", "130100", "--treated-in", "110000", "--category", "referral",
                 "--filed-from", "2024-03-01", "--date", "2025-03-10", "--lang", "en")  # fmt: skip
    assert result.exit_code == 0
    assert (
        "settled at the unfiled rate (ratio lowered by 30 percentage points), because: the filing expired on "
        "2024-08-31, before the visit on 2025-03-10\n" in result.stdout
    )


def test_check_refuses_flags_beside_a_case_file() -> None:
    result = run("check", str(STORY), "--category", "referral")
    assert result.exit_code == 2
    assert "--category" in result.stderr


# ----------------------------------------------------------------------------- item 7: JSON


def test_rules_validate_and_list_give_json_with_numbers() -> None:
    result = run("rules", "validate", "--format", "json")
    data = json.loads(result.stdout)
    assert result.exit_code == 0
    assert data["errors"] == 0 and isinstance(data["files"], int) and data["problems"] == []
    packs = json.loads(run("rules", "list", "--format", "json").stdout)
    assert all(isinstance(p["primary_share"], int) for p in packs)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_zh_and_en_estimates_keep_to_their_language(lang: str) -> None:
    result = run("estimate", str(STORY), "--lang", lang)
    body = "\n".join(
        line for line in result.stdout.splitlines() if not line.startswith(("提示 ", "warning ", "· ", "✗ "))
    )
    if lang == "zh":
        assert not re.search(r"[A-Za-z]{3,}", body.replace("--explain", "")), body
    else:
        assert not re.search(r"[\u4e00-\u9fff]", body.replace("石家庄市", "").replace("北京市", "")), body


# ----------------------------------------------------------------------------- one vocabulary, one catalogue


def test_batch_value_aliases_mean_what_the_shared_vocabulary_says() -> None:
    from medins import vocab
    from medins.batch.values import VALUE_ALIASES

    kinds = {"scheme": "scheme", "status": "status", "assistance": "assistance", "filing_category": "category"}
    kinds |= {"visit_type": "visit_type", "disease": "disease", "chronic_diseases": "disease"}
    for column, kind in kinds.items():
        for name, wanted in VALUE_ALIASES[column].items():
            assert vocab.choice(kind, name) == wanted, (column, name)


def test_every_command_and_option_has_chinese_help() -> None:
    import click

    from medins.messages import help_zh, option_zh

    def walk(cmd: click.Command, path: str):
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, f"{path} {name}".strip())

    missing = []
    for path, cmd in walk(cli, ""):
        if help_zh(path) is None:
            missing.append(path or "medins")
        missing += [f"{path} {p.name}" for p in cmd.params if getattr(p, "help", None) and not option_zh(path, p.name)]
    assert missing == []


def test_a_wrong_value_in_a_case_file_lists_the_names_in_chinese(tmp_path: Path) -> None:
    case = tmp_path / "case.toml"
    case.write_text(STORY.read_text(encoding="utf-8").replace('scheme = "resident"', 'scheme = "farmer"'), "utf-8")
    result = run("estimate", str(case))
    assert result.exit_code == 1
    assert result.stderr == (
        f"medins: 错误: {case}: person.scheme: 取值 'farmer' 无效；可选：employee（职工医保）、resident（城乡居民医保）\n"
    )


def test_help_says_what_a_quick_estimate_assumes() -> None:
    en = run("estimate", "--help", "--lang", "en").stdout
    assert "the date is today without --date, the visit inpatient without --type" in " ".join(en.split())
    zh = run("estimate", "--help").stdout
    assert "不给--date时按今天计算；不给--type时按住院计算" in "".join(zh.split())


def test_rules_show_and_filing_requirements_take_names() -> None:
    by_name = run("rules", "show", "石家庄市", "--as-of", "2025-06-01")
    assert by_name.exit_code == 0
    assert by_name.stdout == run("rules", "show", "130100", "--as-of", "2025-06-01").stdout
    county = run("rules", "show", "130125", "--as-of", "2025-06-01")
    assert county.stderr == "提示：地区 CODE 130125（行唐县）按所属统筹地区 130100（石家庄市）计算\n"
    named = run("filing", "requirements", "--insured", "石家庄", "--category", "转诊", "--as-of", "2025-06-01")
    ids = run("filing", "requirements", "--insured", "130100", "--category", "referral", "--as-of", "2025-06-01")
    assert named.exit_code == 0 and named.stdout == ids.stdout


def test_person_groups_by_chinese_name_or_the_regions_own_label() -> None:
    base = ["estimate", "--treated-in", "110000", "--level", "3", "--total", "10000", "--date", "2025-03-10"]
    shanghai = [*base, "--insured", "310000", "--scheme", "居民", "--category", "异地长期居住"]
    by_label = run(*shanghai, "--status", "60–69岁")
    assert by_label.exit_code == 0, by_label.stderr
    assert by_label.stdout == run(*shanghai, "--status", "aged_60_69").stdout
    assert by_label.stdout != run(*shanghai, "--status", "minor").stdout  # the group matters
    employee = [*base, "--insured", "130100", "--scheme", "职工"]
    assert run(*employee, "--status", "退休").stdout == run(*employee, "--status", "retired").stdout


def test_a_mapped_region_is_said_by_every_command_even_when_it_then_fails() -> None:
    notice = "提示：参保地 --insured 130125（行唐县）按所属统筹地区 130100（石家庄市）计算\n"
    compare = run("compare", "--insured", "130125", "--treated-in", "110000", "--scheme", "resident", "--level", "3",
                  "--total", "50000", "--date", "2025-03-10", "--vary", "category=none,referral")  # fmt: skip
    assert compare.exit_code == 0 and compare.stderr == notice
    failing = run("estimate", "--insured", "130125", "--treated-in", "110000", "--scheme", "employee", "--level", "3",
                  "--total", "5000", "--date", "2025-03-10")  # fmt: skip
    assert failing.exit_code == 1
    assert (
        failing.stderr
        == notice + "medins: 错误: --status: 缺少 --status（人员类别）；可选：in_service（在职）、retired（退休）\n"
    )
