"""Issue 14, item 9: a case-file template in the user's language, the shipped examples, shell completion."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from medins.cli import cli

ROOT = Path(__file__).parent.parent
STORY = ROOT / "examples" / "shijiazhuang-resident-beijing.toml"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, prog_name="medins")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_case_new_prints_a_commented_template_that_estimates(lang: str, tmp_path: Path) -> None:
    result = run("case", "new", "--lang", lang)
    assert result.exit_code == 0
    comments = "\n".join(re.findall(r"#.*", result.stdout))
    if lang == "zh":
        assert "参保地" in comments and "备案类别" in comments
    else:
        assert "insured place" in comments and not re.search(r"[\u4e00-\u9fff]{2}", comments.replace("居民", "").replace("异地转诊", "").replace("注射用艾普拉唑钠", "").replace("10mg/支", ""))  # fmt: skip
    case = tmp_path / "case.toml"
    case.write_text(result.stdout, encoding="utf-8")
    # as it stands the template is the story's bill without assistance: 68,000 − 3,000 fully self-paid
    # − 12,000 × 10 % pre-self-pay = 63,800 in scope; basic (63,800 − 1,000) × 50 % = 31,400;
    # burden 32,400; tier 2 (32,400 − 15,000) × 60 % = 10,440; funds 41,840; patient 26,160
    data = json.loads(run("estimate", str(case), "--format", "json").stdout)
    got = [data[k] for k in ("in_scope", "basic_fund", "critical_illness_fund", "fund_total", "personal_total")]
    assert got == ["63800.00", "31400.00", "10440.00", "41840.00", "26160.00"]


def test_case_new_prints_and_lists_the_shipped_examples() -> None:
    listed = run("case", "new", "--list").stdout.split()
    assert listed == sorted(p.stem for p in (ROOT / "examples").glob("*.toml"))
    shown = run("case", "new", "--example", "shijiazhuang-resident-beijing")
    assert shown.stdout == STORY.read_text(encoding="utf-8")
    wrong = run("case", "new", "--example", "shijiazung")
    assert wrong.exit_code == 2
    assert wrong.stderr.startswith(
        "medins: 错误: --example: 没有示例 'shijiazung'；是否应为 'shijiazhuang-resident-beijing'？"
    )


def test_the_help_examples_work_outside_the_repository(tmp_path: Path) -> None:
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = run("estimate", "examples/shijiazhuang-resident-beijing.toml")
    finally:
        os.chdir(here)
    assert result.exit_code == 0
    assert result.stderr == "提示：examples/shijiazhuang-resident-beijing.toml 不在当前目录：使用随软件附带的示例\n"
    assert result.stdout == run("estimate", str(STORY)).stdout


@pytest.mark.parametrize(("shell", "marker"), [("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete")])
def test_completion_scripts(shell: str, marker: str) -> None:
    result = run("completion", shell)
    assert result.exit_code == 0
    assert "_MEDINS_COMPLETE" in result.stdout and marker in result.stdout
    assert run("completion", "powershell").exit_code == 2
