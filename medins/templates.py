"""Case files to start from: a commented template in the user's language, and the shipped examples.

The examples travel inside the package (``medins/_examples`` in a wheel; the repository's
``examples/`` in a source checkout), so that ``medins case new --example NAME`` and the examples
that ``--help`` shows work wherever medins is installed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from medins.i18n import Lang


def examples_dir() -> Path:
    """The shipped examples: inside the package, or the repository's ``examples/`` in a checkout."""
    packaged = Path(str(resources.files("medins"))) / "_examples"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "examples"


def example_names() -> list[str]:
    """The names of the shipped examples (their file names without ``.toml``)."""
    folder = examples_dir()
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


def example(name: str) -> Path | None:
    """The shipped example called ``name`` (``shijiazhuang-resident-beijing``, with or without ``.toml``)."""
    path = examples_dir() / (name.removesuffix(".toml") + ".toml")
    return path if path.is_file() else None


def template(lang: Lang) -> str:
    """A case file to fill in, every key commented in the language; as it stands it is a valid case."""
    return TEMPLATE_ZH if lang == "zh" else TEMPLATE_EN


TEMPLATE_ZH = """\
# medins 案例文件：一个人的一次就医（一张账单）。填好后运行：medins estimate 本文件
# 取值可写代码或中文名称（如 scheme = "居民"、category = "异地转诊"）；日期写 2025-03-10。
# 各键的说明见 README 的“The case file”一节；JSON Schema：medins rules schema --kind case

[person]
id = "p-001"                    # 可选：人员编号
insured_region = "130100"       # 参保地：6 位地区代码或名称（石家庄市）；区县代码按所属统筹地区计算
scheme = "resident"             # 险种：employee/职工 或 resident/居民
# status = "in_service"         # 人员类别：职工为 in_service/在职 或 retired/退休；居民为参保地的分组
# assistance = "subsistence"    # 医疗救助类别：特困、低保、低保边缘、防返贫监测、因病致贫、孤儿
chronic_diseases = []           # 参保地认定的门诊慢特病病种，如 ["糖尿病"]

[filing]                        # 异地就医备案；删去整节表示未备案
category = "referral"           # 备案类别：异地安置退休、异地长期居住、常驻异地工作、异地转诊、急诊抢救、其他临时外出
destination = "110000"          # 备案就医地
start = 2025-03-01              # 备案生效日期（急诊抢救可不写：视同备案）
# end = 2025-08-31              # 备案结束日期；不写时长期类别长期有效，其他按参保地规定的有效期
filed_on = 2025-03-01           # 办理备案的日期
materials = ["insurance_credential", "filing_form", "referral_certificate"]  # 已提交的材料（可写中文名称）

[visit]
region = "110000"               # 就医地
hospital_level = 3              # 医院等级 1、2、3；或写 hospital = "H..."（在就医地目录中查找）
type = "inpatient"              # 就诊类型：住院、门诊、门诊慢特病
# disease = "diabetes"          # 门诊慢特病的病种
admitted = 2025-03-10           # 入院日期；门诊写 date = 2025-03-10
discharged = 2025-03-22         # 出院日期

[summary]                       # 费用汇总（出院结算单上的数）；或删去本节，改写 [[items]] 费用明细
total = 68000.00                # 医疗费总额（元）
fully_self_paid = 3000.00       # 全自费
class_b = 12000.00              # 乙类项目金额；乙类先行自付 = class_b × 药品比例
over_ceiling = 0                # 超限价部分
# pre_self_pay = 1200.00        # 已知乙类先行自付金额时直接给出

# [[items]]                     # 费用明细，每行一条（与 [summary] 二选一）
# name = "注射用艾普拉唑钠"      # 项目名称，或 code = "NRDL2024-3400"
# spec = "10mg/支"
# quantity = 6
# unit_price = 70.00

[ytd]                           # 本年度此前在参保地已发生的累计数（默认 0）
admissions = 0                  # 此前住院次数
# inpatient = { in_scope = 20000, deductible = 1000, fund = 11400 }
# tier2_base = 0                # 大病保险累计基数
"""

TEMPLATE_EN = """\
# A medins case file: one bill of one person. Fill it in, then run: medins estimate THIS_FILE
# Values may be ids or Chinese names (scheme = "居民", category = "异地转诊"); dates as 2025-03-10.
# README, "The case file", explains every key; JSON Schema: medins rules schema --kind case

[person]
id = "p-001"                    # optional: the person's id
insured_region = "130100"       # insured place: 6-digit region code or name; a district counts as its city
scheme = "resident"             # employee | resident
# status = "in_service"         # employees: in_service | retired; residents: the region's groups
# assistance = "subsistence"    # medical assistance: extreme_poverty, subsistence, marginal,
                                #   relapse_monitored, illness_poverty, orphan
chronic_diseases = []           # chronic diseases the insured place approved, e.g. ["diabetes"]

[filing]                        # the off-site filing; remove the whole table for "not filed"
category = "referral"           # relocated_retiree, long_term_resident, stationed_worker,
                                #   referral, emergency, other_temporary
destination = "110000"          # where the filing is for
start = 2025-03-01              # valid from (an emergency may omit it: deemed filed)
# end = 2025-08-31              # valid until; default open-ended for long-term, else the region's validity
filed_on = 2025-03-01           # the day it was filed
materials = ["insurance_credential", "filing_form", "referral_certificate"]  # materials on file

[visit]
region = "110000"               # treatment place
hospital_level = 3              # 1, 2 or 3; or hospital = "H..." (looked up in the catalogue)
type = "inpatient"              # inpatient | outpatient | chronic_outpatient
# disease = "diabetes"          # for chronic_outpatient
admitted = 2025-03-10           # inpatient; other visits: date = 2025-03-10
discharged = 2025-03-22

[summary]                       # the bill's totals; or remove this table and give [[items]] lines
total = 68000.00                # bill total (yuan)
fully_self_paid = 3000.00
class_b = 12000.00              # class-B lines' amount; pre-self-pay = class_b × the drug ratio
over_ceiling = 0
# pre_self_pay = 1200.00        # give it when known exactly

# [[items]]                     # bill lines, one table each (instead of [summary])
# name = "注射用艾普拉唑钠"      # or code = "NRDL2024-3400"
# spec = "10mg/支"
# quantity = 6
# unit_price = 70.00

[ytd]                           # amounts already used this year at the insured place (default 0)
admissions = 0                  # admissions earlier this year
# inpatient = { in_scope = 20000, deductible = 1000, fund = 11400 }
# tier2_base = 0
"""
