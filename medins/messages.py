"""One message catalogue for the command line: click's own words and medins' help, in Chinese.

click looks every word it prints up through gettext (``_("Usage:")``, ``_("Error: {message}")``);
:func:`install` points those look-ups at :func:`gettext` here, which answers from ``CLICK_ZH`` while
the language is Chinese and gives the English message id back otherwise. medins' own help (command
descriptions and option help) is keyed by command path and option name in ``HELP_ZH`` and
``OPTION_ZH``, so that an English help text may change without losing its Chinese one.

The language is chosen once per run, before the command line is parsed (``--lang`` anywhere on it,
else ``MEDINS_LANG``, else the locale), so that ``--help`` and click's usage errors follow it too.
"""

from __future__ import annotations

import os
import re
import sys

from medins.i18n import Lang, default_lang

_current: list[Lang] = []


def set_lang(lang: Lang) -> None:
    """Choose the language of this run's help and messages."""
    _current[:] = [lang]


def lang_chosen() -> bool:
    """Whether this run's language is chosen already (by :meth:`MedinsGroup.main`, before parsing)."""
    return bool(_current)


def clear_lang() -> None:
    """Forget this run's choice (at the end of a run, so that the next one in the process starts afresh)."""
    _current.clear()


def current_lang() -> Lang:
    """The language chosen for this run, else the default (``MEDINS_LANG``, the locale, Chinese)."""
    return _current[0] if _current else default_lang()


def lang_on_command_line(args: list[str]) -> Lang | None:
    """The value of ``--lang`` wherever it stands on the command line (before or after the subcommand)."""
    found: Lang | None = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        value = args[i + 1] if arg == "--lang" and i + 1 < len(args) else arg.removeprefix("--lang=")
        if (arg == "--lang" or arg.startswith("--lang=")) and value in ("zh", "en"):
            found = value  # type: ignore[assignment]
    return found


def unknown_env_lang() -> str | None:
    """``MEDINS_LANG`` when it is set to something other than zh or en (which falls back), else None."""
    value = os.environ.get("MEDINS_LANG", "")
    return value if value.strip() and value.strip().lower() not in ("zh", "en") else None


def gettext(message: str) -> str:
    """click's message in the chosen language (the English id itself when no Chinese is known)."""
    if current_lang() == "zh":
        return CLICK_ZH.get(message, message)
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """click's plural message in the chosen language (Chinese has one form)."""
    return gettext(singular if n == 1 else plural)


def install() -> None:
    """Route click's gettext look-ups (module-level ``_`` and ``ngettext``) through this catalogue."""
    import click.formatting

    global _click_wrap_original
    if click.formatting.wrap_text is not wrap_text:
        _click_wrap_original = click.formatting.wrap_text
        click.formatting.wrap_text = wrap_text  # type: ignore[assignment]

    for name in (
        "click.core",
        "click.decorators",
        "click.exceptions",
        "click.formatting",
        "click.parser",
        "click.types",
        "click.termui",
        "click.utils",
        "click.shell_completion",
    ):
        module = sys.modules.get(name)
        if module is None:
            continue
        if hasattr(module, "_"):
            module._ = gettext  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext  # type: ignore[attr-defined]


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


_TOKENS = re.compile(r"\s+|[\x21-\x7e]+|.")
_NO_LINE_START = frozenset("，。；：、）》」』！？")


def _fill(paragraph: str, width: int, first: str, rest: str) -> list[str]:
    """A paragraph wrapped by the columns its characters take (two for a Chinese one)."""
    lines: list[str] = []
    line = first
    for token in _TOKENS.findall(paragraph):
        if token.isspace():
            token = " "
            if line.strip() == "":
                continue
        if _width(line) + _width(token) > width and line.strip() and token[0] not in _NO_LINE_START:
            lines.append(line.rstrip())
            line = rest
            if token == " ":
                continue
        line += token
    if line.strip():
        lines.append(line.rstrip())
    return lines


def wrap_text(
    text: str,
    width: int = 78,
    initial_indent: str = "",
    subsequent_indent: str = "",
    preserve_paragraphs: bool = False,
) -> str:
    """click's ``wrap_text``, measuring a Chinese character as the two columns it takes.

    Text without wide characters goes to click's own wrapper unchanged.
    """
    if _width(text) == len(text):
        return _click_wrap(text, width, initial_indent, subsequent_indent, preserve_paragraphs)
    out: list[str] = []
    blocks = re.split(r"\n\s*\n", text.strip("\n")) if preserve_paragraphs else [text]
    for block in blocks:
        lines = block.splitlines()
        if lines and lines[0].strip() == "\b":
            out.append("\n".join(initial_indent + ln for ln in lines[1:]))
            continue
        indent = len(lines[0]) - len(lines[0].lstrip()) if lines else 0
        joined = ""
        for ln in (x.strip() for x in lines):
            punct = _NO_LINE_START | set("（《「『")
            if joined and ln and (joined[-1].isascii() or ln[0].isascii()) and not {joined[-1], ln[0]} & punct:
                joined += " "
            joined += ln
        lead = " " * indent
        out.append("\n".join(_fill(joined, width, initial_indent + lead, subsequent_indent + lead)))
    return "\n\n".join(out)


_click_wrap_original: object = None


def _click_wrap(*args: object) -> str:
    return _click_wrap_original(*args)  # type: ignore[operator]


def help_zh(path: str) -> str | None:
    """The Chinese description of the command at ``path`` (``""`` for medins itself, ``"rules list"``)."""
    return HELP_ZH.get(path)


def option_zh(path: str, name: str) -> str | None:
    """The Chinese help of option ``name`` of the command at ``path`` (a command's own, else the shared one)."""
    return OPTION_ZH.get(f"{path} {name}".strip()) or OPTION_ZH.get(name)


CLICK_ZH: dict[str, str] = {
    "Usage:": "用法:",
    "Options": "选项",
    "Commands": "命令",
    "Positional arguments": "位置参数",
    "Show the version and exit.": "显示版本并退出。",
    "Show this message and exit.": "显示本帮助并退出。",
    "Error: {message}": "错误：{message}",
    "Try '{command} {option}' for help.": "运行 '{command} {option}' 查看帮助。",
    "No such option {name!r}.": "没有选项 {name!r}。",
    "No such command {name!r}.": "没有命令 {name!r}。",
    "Did you mean {possibility}?": "是否应为 {possibility}？",
    "(Did you mean one of: {possibilities}?)": "（是否应为以下之一：{possibilities}？）",
    "Missing command.": "缺少命令。",
    "Missing argument": "缺少参数",
    "Missing option": "缺少选项",
    "Missing parameter": "缺少参数",
    "Missing parameter: {param_name}": "缺少参数：{param_name}",
    "Missing {param_type}": "缺少{param_type}",
    "Invalid value for {param_hint}: {message}": "{param_hint} 的值无效：{message}",
    "Invalid value: {message}": "值无效：{message}",
    "Option {name!r} requires an argument.": "选项 {name!r} 需要一个值。",
    "Option {name!r} requires {nargs} arguments.": "选项 {name!r} 需要 {nargs} 个值。",
    "Option {name!r} does not take a value.": "选项 {name!r} 不接受值。",
    "Argument {name!r} takes {nargs} values.": "参数 {name!r} 需要 {nargs} 个值。",
    "Got unexpected extra argument ({args})": "多余的参数（{args}）",
    "Got unexpected extra arguments ({args})": "多余的参数（{args}）",
    "Takes {nargs} values but 1 was given.": "需要 {nargs} 个值，只给了 1 个。",
    "Takes {nargs} values but {len} were given.": "需要 {nargs} 个值，给了 {len} 个。",
    "{value!r} is not {choice}.": "{value!r} 不是 {choice}。",
    "{value!r} is not one of {choices}.": "{value!r} 不是以下之一：{choices}。",
    "Choose from:\n\t{choices}": "可选：\n\t{choices}",
    "{value} is not in the range {range}.": "{value} 不在范围 {range} 内。",
    "{value!r} is not a valid {number_type}.": "{value!r} 不是有效的{number_type}。",
    "{value!r} is not a valid boolean. Recognized values: {states}": "{value!r} 不是有效的布尔值。可用的值：{states}",
    "{value!r} does not match the format {format}.": "{value!r} 不符合格式 {format}。",
    "{value!r} does not match the formats {formats}.": "{value!r} 不符合格式 {formats} 之一。",
    "{name} {filename!r} does not exist.": "{name} {filename!r} 不存在。",
    "{name} {filename!r} is a directory.": "{name} {filename!r} 是目录。",
    "{name} {filename!r} is a file.": "{name} {filename!r} 是文件。",
    "{name} {filename!r} is not readable.": "{name} {filename!r} 不可读。",
    "{name} {filename!r} is not writable.": "{name} {filename!r} 不可写。",
    "{name} {filename!r} is not executable.": "{name} {filename!r} 不可执行。",
    "Could not open file {filename!r}: {message}": "无法打开文件 {filename!r}：{message}",
    "env var: {var}": "环境变量：{var}",
    "default: {default}": "默认：{default}",
    "required": "必填",
    "(dynamic)": "（动态）",
    "deprecated": "已弃用",
    "Aborted!": "已中止！",
    "unknown error": "未知错误",
    "Value must be an iterable.": "值应为可迭代的。",
    "Do you want to continue?": "是否继续？",
    "Press any key to continue...": "按任意键继续……",
    "Repeat for confirmation": "再输入一次以确认",
    "Error: The two entered values do not match.": "错误：两次输入的值不一致。",
    "Error: invalid input": "错误：输入无效",
}
"""click's messages in Chinese, keyed by click's English message ids."""


HELP_ZH: dict[str, str] = {
    "": """估算跨省异地就医时医保各项基金支付多少、个人负担多少。

默认中文输出；--lang en（放在子命令前后均可）或 MEDINS_LANG=en 输出英文。

\b
示例：
  medins rules list
  medins estimate --insured 石家庄市 --treated-in 北京市 --scheme 居民 --level 3 --total 50000
  medins estimate examples/shijiazhuang-resident-beijing.toml --explain
  medins check examples/hegang-long-term-resident.toml --lang en
  medins filing requirements --insured 130100 --category 异地转诊
  medins batch bills.csv --items items.csv -o settled.csv""",
    "rules": "列出、查看、校验和转换规则文件。",
    "rules list": """列出有规则包的地区：代码、名称、险种、生效期间、数值来源。

\b
示例：
  medins rules list --format json""",
    "rules show": """显示地区 CODE 在某日（默认今天）有效的待遇标准和目录设置。

CODE 可写地区代码或名称（130100、石家庄市）；区县按所属统筹地区显示。

\b
示例：
  medins rules show 130100 --as-of 2025-06-01
  medins rules show 石家庄市""",
    "rules validate": """校验规则文件：先校验结构，再校验分段、日期、封顶线、来源和异常值；结算例子。

不给 PATH 时校验规则目录。逐项列出来源标为 to_confirm 的待核实数值，并结算各规则包 examples.toml 中的例子
（金额不符即为错误）。没有错误（可以有警告和待核实项）时退出码 0，否则 1。

\b
示例：
  medins rules validate rules/130100
  medins rules validate --format json""",
    "rules sources": """列出规则包（默认全部）的每个数值：所在段的生效期间、来源和可信度。

提示没有网址的来源、没有引文的原文来源和核实已逾 12 个月的来源；最后给出各可信度的数值个数。退出码 0。

\b
示例：
  medins rules sources 130100
  medins rules sources --format json > sources.json""",
    "rules diff": """列出两个规则目录之间，或同一规则包两个日期（地区代码@日期）之间不同的数值。

逐项列出新增、删除或修改的数值：键路径、原值 → 新值，以及两边各自的来源。用 地区代码@日期 时比较各日期
有效的段（键路径不含段在列表中的序号）。不论有无不同，退出码均为 0：输出会说明是否不同。

\b
示例：
  medins rules diff 130100@2024-06-01 130100@2025-06-01
  medins rules diff rules/ my-rules/ --format json""",
    "rules new": """为地区 CODE 写出一个待填写的新规则包：各段齐全，每个数值都待核实。

数值为占位示意值，用 --from 时取规则目录中已有规则包的数值；各段都引用来源 to-confirm，medins rules validate
会逐项列出仍待核实的数值。不覆盖已有的规则包文件。写出后退出码 0。

\b
示例：
  medins rules new 320100
  medins rules new 320100 --from 130100 --dir my-rules""",
    "rules test": """结算规则包中的例子（examples.toml），逐项比较金额。

PATH 可以是规则目录、地区文件夹或 examples.toml；不给时检查规则目录中的每个规则包。逐个报告例子通过或未通过；
未通过的给出例子名称和每项金额的应有值与结算值。全部通过时退出码 0，否则 1。

\b
示例：
  medins rules test
  medins rules test rules/130100 --format json""",
    "rules schema": """输出规则文件（或案例文件）的 JSON Schema，供编辑器和检查使用。

\b
示例：
  medins rules schema > medins-rules.schema.json""",
    "rules import-nrdl": """把国家医保药品目录 JSON（国家服务平台返回的格式）转换为药品目录文件。

\b
示例：
  medins rules import-nrdl nrdl-2024.json rules/drug-lists/nrdl-2024.json""",
    "rules import-areacodes": """把行政区划代码 CSV 转换为 medins 校验代码所用的地区表。

\b
示例：
  medins rules import-areacodes areacodes.csv medins/data/regions.csv""",
    "estimate": """估算一张账单各项基金支付多少，来自案例文件或命令行选项。

给出案例文件（- 表示从标准输入读取），或给出选项（至少 --insured、--treated-in、--scheme、--level 和
--total），二者不能同时给出：与案例文件同时给出的账单选项会被拒绝（退出码 2），不会被悄悄忽略。
地区可写代码或名称（石家庄市、130100）；区县代码按所属统筹地区计算并给出提示。险种、类别、就诊类型、
病种可写中文名称（居民、异地转诊、住院、糖尿病）或英文代码；日期可写 2025-03-10、2025/3/10 或 20250310。
金额以元计，最多两位小数，最多 10,000,000,000；逗号只能按三位一组（1,234.50）。

快速估算的假设会在结果前列出：不给 --date 时按今天计算；不给 --type 时按住院计算；给出 --category
时视为备案完整有效（材料齐全，备案地为就医地）。

退出码：命令行有误（缺少选项、取值无效、日期有误）为 2，案例或金额被规则拒绝为 1。

\b
示例：
  medins estimate examples/shijiazhuang-resident-beijing.toml
  medins estimate case.toml --format json --explain
  medins estimate --insured 石家庄市 --treated-in 北京市 --scheme 居民 \\
      --level 3 --type 住院 --total 50000 --class-b 8000 --category 异地转诊""",
    "check": """检查案例中的就诊能否跨省直接结算。

无论能否直接结算，退出码都是 0：不能直接结算也是一个答案，不是错误。
也可以不用案例文件，直接给出 --insured、--treated-in、--category、--date 等选项，材料可写中文名称或代码。

\b
示例：
  medins check examples/hegang-long-term-resident.toml --format json
  medins check --insured 130100 --treated-in 北京市 --category 异地转诊 \\
      --filed-from 2025-03-01 --date 2025-03-10 --materials 社保卡,转诊转院证明,跨省异地就医备案表""",
    "filing": "参保地的备案规定。",
    "filing requirements": """经办人员交给参保人的清单：所需材料、有效期、备案渠道、未备案时的待遇。

\b
示例：
  medins filing requirements --insured 130100 --category 异地转诊""",
    "batch": """结算 BILLS 中的每张账单：同一人的账单按就诊日期顺序结算，并累计年度金额。

全部行都被接受时退出码 0，有行被拒绝时 3（见拒绝文件），无法运行时 1（此时不写输出文件）。
BILLS 为 - 时从标准输入读取 CSV；-o - 把结果 CSV 写到标准输出（此时未给 --rejects 的话，被拒绝的行以 CSV
写到标准错误输出）。--format json 以 JSON 输出汇总而不是汇总表。

\b
示例：
  medins batch bills.csv --items items.csv -o settled.csv --summary summary.json
  medins batch - -o - --quiet < bills.csv > settled.csv
  medins batch --columns
  medins batch march.xlsx -o march-settled.xlsx --clearing clearing.csv --ytd-out ytd.json
  medins batch april.csv -o april-settled.csv --ytd-in ytd.json --ytd-out ytd.json --jobs 2
  medins batch march.csv -o march-reform.csv --summary summary.json --reform reform.toml
  medins batch march.csv --items items.csv --explain S01000000129
  medins batch bills/ --items items/ -o settled.parquet --engine spark --master spark://head:7077""",
    "audit": """按 medins 重新结算国家医保信息平台的结算表抽取（setl_d），逐字段比较。

每条记录按 medins batch 结算账单的方式结算（按人、参保地、险种，按结算时间顺序累计年度金额）；统筹基金
与 hifp_pay、大病保险/大额补助与 hifmi_pay/hifob_pay、医疗救助与 maf_pay 比较，基金合计和个人负担与
fund_pay_sumamt 和 psn_pay 比较（不含 medins 不计算的基金），费用分项与抽取中的分项比较。退费与其冲销的结算
配对。全部记录一致到分时退出码 0，有不一致时 4，没有不一致但有行被拒绝时 3，无法运行时 1。

\b
示例：
  medins audit setl_d.csv --fee-list fee_list_d.csv -o diff.csv --summary report.json
  medins audit setl_d.xlsx --treated-in 110000 -o diff.xlsx --format json""",
    "compare": """比较一张账单的不同选择：是否备案、按什么类别备案、医院等级、就医地等。

按案例原样结算，并对 --vary 各取值的每种组合各结算一次，每种一行：结算方式、各项基金支付、个人负担及其与原样
相比的差额，以及为此需要做什么（备案及材料、回参保地报销）。标出个人负担最少的一种。给出案例文件或
medins estimate 的快速估算选项，二者不能同时给出。

\b
示例：
  medins compare examples/shijiazhuang-resident-beijing.toml --vary category=none,referral,long_term_resident
  medins compare case.toml --vary level=1,2,3 --vary treated-in=110000,310000 --format csv
  medins compare --insured 130100 --treated-in 110000 --scheme resident --level 3 \\
      --total 50000 --category referral --vary category=none,referral,other_temporary""",
    "year": """结算一个人一年的就医：YEAR_FILE 中的 [[visits]] 按就诊日期顺序结算，累计年度金额。

输出每张账单、全年合计，以及在哪一次达到起付线、跨过分段界限或达到年度封顶线。YEAR_FILE 包含 [person]、
可选的 [filing] 和 [ytd]（第一次就诊前已用的累计数），以及每张账单一个 [[visits]]：写法同案例的 [visit]，
加上 summary = {…} 或 [[visits.items]]，还可以有自己的 filing 和 label。

\b
示例：
  medins year my-year.toml --format json""",
    "case": "案例文件：生成带注释的模板。",
    "case new": """输出一个带注释的案例文件模板（注释使用所选语言），或随软件附带的示例。

\b
示例：
  medins case new > case.toml
  medins case new --example shijiazhuang-resident-beijing > story.toml
  medins case new --list""",
    "completion": """输出 shell 自动补全脚本（bash、zsh 或 fish）。

\b
示例：
  eval "$(medins completion bash)"          # 写入 ~/.bashrc
  medins completion zsh > ~/.zfunc/_medins
  medins completion fish > ~/.config/fish/completions/medins.fish""",
}
"""medins' command descriptions in Chinese, keyed by command path (``""`` is medins itself)."""


OPTION_ZH: dict[str, str] = {
    "rules_dir": "规则目录（每个地区代码一个文件夹）。默认：随软件附带的规则。",
    "fmt": "table 供人阅读，json 供脚本使用。",
    "rules sources fmt": "table 供人阅读，json 供脚本使用（数值为数字），csv 供电子表格使用。",
    "rules sources as_of": "以该日期（默认今天）判断来源核实是否已逾 12 个月。",
    "rules new from_code": "复制该地区规则包的数值。",
    "rules new out_dir": "写入的规则目录（写为 DIR/CODE/）。",
    "rules new which": "standards：参保地待遇标准（连同 examples.toml）；catalogue：就医地目录设置。"
    "默认两者都写，用 --from 时写该规则包已有的文件。",
    "rules list fmt": "table 供人阅读，json 供脚本使用，markdown 供文档使用。",
    "compare fmt": "table 供人阅读，json 供脚本使用（金额为数字），csv 供电子表格使用。",
    "year fmt": "table 供人阅读，json 供脚本使用（金额为数字），csv 供电子表格使用。",
    "batch explain": "逐步显示一张单据如何结算（每一步的公式和每个规则值的来源），与 estimate --explain 相同："
    "BILL 为单据号（bill_id）或 BILLS 的行号（表头为第 1 行）。先结算同一人此前的单据；不写任何文件。",
    "batch fmt": "table：在标准错误输出显示汇总表；json：把汇总以 JSON 输出到标准输出（-o - 时到标准错误输出）。",
    "vary": "要变化的选择，可重复：category（备案类别或 none）、level、treated-in、hospital、scheme、group、"
    "as-of。每种组合各结算一次（最多 200 种）。",
    "lang": "标签和消息的语言（默认：MEDINS_LANG 或系统语言，否则中文）；放在子命令前后均可。",
    "as_of": "按该日期有效的规则取值（YYYY-MM-DD），而不是就诊日期。",
    "kind": "rules：任一规则文件（目录、待遇标准或例子）；或某一种，或案例文件。",
    "edition": "目录所引用的版本编号。",
    "insured": "参保地：6 位地区代码或名称（如 130100、石家庄市）；区县代码按所属统筹地区计算。",
    "treated_in": "就医地：6 位地区代码或名称（如 110000、北京市）；区县代码按所属统筹地区计算。",
    "scheme": "险种：employee/职工 或 resident/居民。",
    "status": "人员类别：职工为 in_service/在职 或 retired/退休；居民为参保地的分组。",
    "visit_type": "就诊类型：inpatient/住院、outpatient/门诊、chronic_outpatient/门诊慢特病（默认住院）。",
    "level": "医院等级 1-3（也可写 三级、三甲）。",
    "visit_date": "就诊日期（入院或门诊日期），如 2025-03-10、2025/3/10、20250310。默认：今天。",
    "discharged": "出院日期（住院），写法同 --date。",
    "total": "医疗费总额（元）。",
    "self_paid": "全自费部分（元）。",
    "class_b": "乙类项目金额（元）。",
    "over_ceiling": "超限价部分（元）。",
    "pre_self_pay": "乙类先行自付金额（元），已知时给出；否则按药品比例估算。",
    "category": "备案类别（不给表示未备案），中文名称或代码：异地安置退休、异地长期居住、常驻异地工作、"
    "异地转诊、急诊抢救、其他临时外出。",
    "filed_from": "备案开始日期；默认为就诊日期。",
    "filed_until": "备案结束日期；默认按参保地规定的有效期。",
    "destination": "备案就医地（地区代码或名称）；默认为 --treated-in。",
    "materials": "已提交的备案材料，中文名称或代码，以逗号分隔；不给表示材料齐全。",
    "assistance": "医疗救助类别，中文名称或代码：特困、低保、低保边缘、防返贫监测、因病致贫、孤儿。",
    "disease": "门诊慢特病病种（中文名称或代码，如 糖尿病、diabetes）。",
    "admissions": "本年度此前已住院次数（决定第几次住院的起付线）。",
    "ytd_in_scope": "本年度此前的政策范围内费用（元）。",
    "ytd_deductible": "本年度此前已付的起付线（元）。",
    "ytd_fund": "本年度此前基本医保统筹已支付（元）。",
    "ytd_tier2_base": "本年度此前的大病保险（或大额补助）累计基数（元）。",
    "ytd_tier2_fund": "本年度此前大病保险（或大额补助）已支付（元）。",
    "hospital": "定点医疗机构代码（H 加 11 位数字），在就医地目录中查找等级。",
    "explain": "列出每一步的公式和每个规则值的来源。",
    "items": "账单明细，每行一条明细，以 bill_id 关联账单（.csv 或 .xlsx）。",
    "out": "结算结果文件；- 表示写到标准输出（CSV）（除 --check 外必须给出）。",
    "rejects": "被拒绝的行（默认：OUT 的扩展名前加 .rejects）。",
    "summary": "汇总计数和金额，JSON 格式（全国统计口径）。",
    "clearing": "直接结算的基金支付，按参保地 × 就医地 × 月份汇总。",
    "ytd_in": "上次运行 --ytd-out 写出的年度累计状态。",
    "ytd_out": "写出本次运行后每人的年度累计状态。",
    "encoding": "CSV 编码；auto：UTF-8（带或不带 BOM），否则 GB18030（兼容 GBK）；也可写 Python 认识的任何编码，如 gbk。",
    "jobs": "工作进程数。",
    "memory": "同时保存账单和明细所用的内存，--jobs 的各进程合计（如 128M、2G；程序本身每个进程另需约 150 MB）："
    "更大的输入按人分区，存入临时文件，逐个分区结算。",
    "reform": "改革方案文件（只写所改键的部分规则文件，带 name 和 note）：每张账单再按改革后的规则结算一次；"
    "OUT 增加改革后的金额及其变化，汇总对比两者。",
    "check": "不结算，只按运行时的读法检查表头、每一行和每张账单的取值：列出会被拒绝的行（给出 --rejects 时也写入该文件；"
    "只有规则才会拒绝的留给正式运行）；没有时退出码 0，有时 3。",
    "quiet": "不在标准错误输出显示进度条和汇总表。",
    "engine": "local：在本机结算；spark：在 Apache Spark 上结算（pip install 'medins[spark]'），此时 BILLS 和 ITEMS "
    "可以是 CSV 或 Parquet 文件或文件夹，OUT 和 REJECTS 写成文件夹（OUT 以 .parquet 结尾时为 Parquet）。",
    "master": "与 --engine spark 一起用：集群地址（spark://HOST:7077、yarn、local[4]）；默认：正在运行的会话的"
    "（spark-submit），否则用本机的全部核心。",
    "columns": "列出账单和明细文件接受的列名及其别名，然后退出。",
    "audit fee_list": "平台的费用明细表（fee_list_d）：每行一条明细，以 setl_id 关联结算记录。",
    "audit out": "每条结算记录一行：平台的金额、medins 的金额及差额。",
    "audit rejects": "被拒绝的结算记录和费用明细（默认：OUT 的扩展名前加 .rejects）。",
    "audit summary": "JSON 格式的报告：计数、各字段合计，按地区、就诊类型和医院分组。",
    "audit treated_in": "抽取中没有 mdtrtarea_admvs 列时（医院自己的抽取），所有记录的就医地。",
    "audit encoding": "CSV 编码，同 batch。",
    "audit memory": "同 batch。",
    "audit quiet": "不在标准错误输出显示报告表。",
    "example": "输出随软件附带的示例 NAME，而不是空白模板。",
    "list_examples": "列出随软件附带的示例。",
    "shell": "shell 类型。",
    "version": "显示版本并退出。",
    "help": "显示本帮助并退出。",
}
"""medins' option help in Chinese, keyed by the option's name, or by command path and name for one
command's own."""
