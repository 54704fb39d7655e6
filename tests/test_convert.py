"""Converters from raw government data: the national drug list and the division-code history."""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from medins.convert import (
    convert_areacodes,
    convert_nrdl,
    edition_prefix,
    parse_ceiling,
    parse_payment_standards,
    split_payment_standards,
    write_drug_list,
    write_regions,
)
from medins.rules_model import DrugCeiling, DrugList

FIXTURES = Path(__file__).parent / "fixtures"
NRDL = FIXTURES / "nrdl-sample.json"
AREACODES = FIXTURES / "areacodes-sample.csv"

BLANK = {
    "class": None,
    "dosage_form": "",
    "category": "",
    "category_name": "",
    "herbal": None,
    "restriction": "",
    "ceilings": [],
    "ceiling_text": "",
    "agreement_period": "",
}
PPI = "消化道和代谢方面的药物 > 治疗胃酸相关类疾病的药物 > 治疗消化性溃疡病和胃食道反流病的药物"
CEFOXITIN = "粉体室：按头孢西丁(C16H17N3O7S2)计{}g；液体室：氯化钠注射液100ml：0.9g/袋"
SITAGLIPTIN = "磷酸西格列汀{}mg(以C16H15F6N5O计)和盐酸二甲双胍{}mg/片"
CLOPAVIR_NOTE = "(协议有效期内,谈判企业负责向购买盐酸可洛派韦胶囊的患者免费提供同疗程的索磷布韦片)"


def drug(code: str, name: str, section: str, **fields: object) -> dict[str, object]:
    """An expected drug: the blank defaults with the given fields."""
    return {"code": code, "name": name, "section": section, **BLANK, **fields}


def price(spec: str, amount: str) -> dict[str, object]:
    """An expected ceiling."""
    return {"spec": spec, "price": Decimal(amount)}


EXPECTED_DRUGS = [
    drug(
        "NRDL2024-0001",
        "复方硼砂",
        "西药部分",
        **{"class": "A"},
        dosage_form="外用液体剂",
        category="XA01",
        category_name="消化道和代谢方面的药物 > 口腔科制剂",
    ),
    drug(
        "NRDL2024-0009",
        "枸橼酸铋钾",
        "西药部分",
        **{"class": "A"},
        dosage_form="颗粒剂",
        category="XA02A",
        category_name="消化道和代谢方面的药物 > 治疗胃酸相关类疾病的药物 > 抗酸药",
    ),
    drug(
        "NRDL2024-1956",
        "九味羌活丸(颗粒)",
        "中成药部分",
        **{"class": "A"},
        category="ZA01A",
        category_name="内科用药 > 解表剂 > 辛温解表剂",
    ),
    drug(
        "NRDL2024-3400",
        "注射用艾普拉唑钠",
        "西药",
        **{"class": "B"},
        category="XA02BC",
        category_name=PPI + " > 质子泵抑制剂",
        restriction="限：1.预防重症患者应激性溃疡出血；2.消化性溃疡出血。",
        ceilings=[price("10mg/支", "63.00")],
        ceiling_text="63.00元(10mg/支)",
        agreement_period="2024年1月1日至2025年12月31日",
    ),
    drug(
        "NRDL2024-3402",
        "安奈拉唑钠肠溶片",
        "西药",
        **{"class": "B"},
        category="XA02BC",
        category_name=PPI + " > 质子泵抑制剂",
        restriction="限十二指肠溃疡。",
        ceiling_text="企业申请价格保密",
        agreement_period="2024年1月1日至2025年12月31日",
    ),
    drug(
        "NRDL2024-3404",
        "盐酸凯普拉生片",
        "西药",
        **{"class": "B"},
        category="XA02BX",
        category_name=PPI + " > 其他治疗消化性溃疡病和胃食道反流病的药物",
        restriction="限：1.十二指肠溃疡；2.反流性食管炎。",
        ceilings=[price("10mg/片(按C22H25FN2O4S计)", "5.68")],
        ceiling_text="5.68元(10mg/片(按C22H25FN2O4S计))",
        agreement_period="2024年1月1日至2025年12月31日",
    ),
    drug(
        "NRDL2024-3405",
        "甲磺酸多拉司琼注射液",
        "西药",
        **{"class": "B"},
        category="XA04",
        category_name="消化道和代谢方面的药物 > 止吐药和止恶心药",
        ceilings=[price("1ml:12.5mg/支", "13.60"), price("5ml:100mg/支", "66.82")],
        ceiling_text="13.60元(1ml:12.5mg/支)；\n66.82元(5ml:100mg/支)",
        agreement_period="2025年1月1日至2026年12月31日",
    ),
    drug(
        "NRDL2024-3503",
        "注射用头孢西丁钠/氯化钠注射液",
        "西药",
        **{"class": "B"},
        category="XJ01DC",
        category_name="全身用抗感染药 > 全身用抗菌药 > 其他β-内酰胺类抗菌药 > 第二代头孢菌素",
        ceilings=[price(CEFOXITIN.format("1.0"), "21.50"), price(CEFOXITIN.format("2.0"), "26.05")],
        ceiling_text=f"21.50元({CEFOXITIN.format('1.0')})；\n26.05元({CEFOXITIN.format('2.0')})",
        agreement_period="2024年1月1日至2025年12月31日",
    ),
    drug(
        "NRDL2024-3524",
        "盐酸可洛派韦胶囊",
        "西药",
        **{"class": "B"},
        category="XJ05AP",
        category_name=("全身用抗感染药 > 全身用抗病毒药 > 直接作用的抗病毒药 > 用于治疗HCV感染的抗病毒药物"),
        restriction="限基因 1、2、3、6 型成人慢性丙型肝炎。",
        ceilings=[price("60mg/粒", "113.53")],
        ceiling_text="113.53元(60mg/粒)" + CLOPAVIR_NOTE,
        agreement_period="2025年1月1日至2026年12月31日",
    ),
    drug(
        "NRDL2024-3806",
        "西格列汀二甲双胍缓释片",
        "竞价药品部分",
        **{"class": "B"},
        category="XA10BD",
        category_name=("消化道和代谢方面的药物 > 糖尿病用药 > 降血糖药物，不含胰岛素 > 口服复方降糖药"),
        ceilings=[
            price(SITAGLIPTIN.format(50, 500), "3.49"),
            price(SITAGLIPTIN.format(100, 1000), "5.93"),
        ],
        ceiling_text=(f"3.49元({SITAGLIPTIN.format(50, 500)})；\n5.93元({SITAGLIPTIN.format(100, 1000)})"),
        agreement_period="2024年1月1日至2025年12月31日",
    ),
    drug(
        "NRDL2024-3828",
        "小茴香",
        "基金予以支付的中药饮片",
        herbal="paid",
        restriction="单独使用时不予支付，且全部由这些饮片组成的处方也不予支付。",
    ),
    drug(
        "NRDL2024-4719",
        "阿胶",
        "不得纳入基金支付范围的中药饮片",
        herbal="excluded",
        restriction="“不得纳入基金支付范围的中药饮片”包括药材及炮制后的饮片。",
    ),
]


# ---------------------------------------------------------------- the national drug list


def test_nrdl_sample_converts_to_the_expected_drugs() -> None:
    data = convert_nrdl(NRDL)
    assert data["kind"] == "drug_list"
    assert data["edition"] == "nrdl-2024"
    assert data["effective"] == date(2025, 1, 1)
    assert data["drugs"] == EXPECTED_DRUGS


def test_nrdl_sample_spot_checks() -> None:
    drugs = {d["name"]: d for d in convert_nrdl(NRDL)["drugs"]}
    borax = drugs["复方硼砂"]
    assert (borax["class"], borax["dosage_form"]) == ("A", "外用液体剂")
    ilaprazole = drugs["注射用艾普拉唑钠"]
    assert ilaprazole["class"] == "B"
    assert ilaprazole["ceilings"] == [{"spec": "10mg/支", "price": Decimal("63.00")}]
    assert ilaprazole["restriction"].startswith("限：")
    assert len(drugs["甲磺酸多拉司琼注射液"]["ceilings"]) == 2
    confidential = drugs["安奈拉唑钠肠溶片"]
    assert confidential["ceilings"] == []
    assert confidential["ceiling_text"] == "企业申请价格保密"
    assert (drugs["小茴香"]["herbal"], drugs["阿胶"]["herbal"]) == ("paid", "excluded")
    assert drugs["小茴香"]["class"] is None
    for d in drugs.values():
        for ceiling in d["ceilings"]:
            assert isinstance(ceiling["price"], Decimal)


def test_nrdl_output_validates_with_the_source() -> None:
    model = DrugList.model_validate(convert_nrdl(NRDL))
    assert model.source.confidence == "primary"
    assert model.source.document == "医保发〔2024〕33号"
    assert model.source.issuer == "国家医疗保障局 人力资源社会保障部"
    assert model.source.title == "国家基本医疗保险、工伤保险和生育保险药品目录（2024年）"
    assert model.source.url.endswith("/4750.json")
    assert model.source.effective == date(2025, 1, 1)
    assert model.source.verified == date(2026, 11, 23)
    assert "(12)" in (model.source.note or "")
    assert model.drugs[3].ceilings == [DrugCeiling(spec="10mg/支", price=Decimal("63.00"))]
    assert model.drugs[0].drug_class == "A"


def test_nrdl_edition_sets_the_code_prefix() -> None:
    source = {"confidence": "illustrative", "note": "a test edition"}
    data = convert_nrdl(NRDL, edition="nrdl-2025", effective=date(2026, 1, 1), until=date(2026, 12, 31), source=source)
    assert edition_prefix("nrdl-2025") == "NRDL2025"
    assert data["drugs"][0]["code"] == "NRDL2025-0001"
    assert data["effective"] == date(2026, 1, 1)
    assert DrugList.model_validate(data).source.note == "a test edition"


def _sample() -> dict:
    return json.loads(NRDL.read_text(encoding="utf-8"))


def test_nrdl_repeated_ids_are_refused(tmp_path: Path) -> None:
    raw = _sample()
    raw["data"]["list"].append(raw["data"]["list"][0])
    raw["data"]["total"] += 1
    src = tmp_path / "dup.json"
    src.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="repeated record ids"):
        convert_nrdl(src)


def test_nrdl_incomplete_page_is_refused(tmp_path: Path) -> None:
    raw = _sample()
    raw["data"]["total"] = 4750
    src = tmp_path / "partial.json"
    src.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="4750"):
        convert_nrdl(src)


def test_nrdl_unparseable_price_names_the_record(tmp_path: Path) -> None:
    raw = _sample()
    raw["data"]["list"][3]["paymentStandards"] = "63.00元10mg/支"
    src = tmp_path / "bad.json"
    src.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="record id 3400"):
        convert_nrdl(src)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("63.00元(10mg/支)", ("10mg/支", "63.00")),
        ("13.60元(1ml:12.5mg/支)", ("1ml:12.5mg/支", "13.60")),
        ("5.68元(10mg/片(按C22H25FN2O4S计))", ("10mg/片(按C22H25FN2O4S计)", "5.68")),
        ("63.00元（10mg/支）", ("10mg/支", "63.00")),
        ("275元(5mg/片)", ("5mg/片", "275.00")),
        ("31.03元(0.1ml/支 预灌封注射器）", ("0.1ml/支 预灌封注射器", "31.03")),
        (
            "479.00元/盒(先诺特韦片0.375g/利托那韦片0.1g,每盒30片)",
            ("先诺特韦片0.375g/利托那韦片0.1g,每盒30片", "479.00"),
        ),
        ("113.53元(60mg/粒)" + CLOPAVIR_NOTE, ("60mg/粒", "113.53")),
        ("企业申请价格保密", None),
        ("见备注2(每粒胶囊含碘[131I]的放射性活度为37-3700MBq)", None),
    ],
)
def test_parse_ceiling(entry: str, expected: tuple[str, str] | None) -> None:
    ceiling = parse_ceiling(entry)
    if expected is None:
        assert ceiling is None
    else:
        assert ceiling == {"spec": expected[0], "price": Decimal(expected[1])}
        assert str(ceiling["price"]) == expected[1]


@pytest.mark.parametrize("entry", ["63.00元10mg/支", "63.00元(10mg/支", "63.005元(10mg/支)", "63.00元()", "63元 每支"])
def test_parse_ceiling_refuses_numeric_entries_it_cannot_read(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_ceiling(entry)


def test_payment_standards_split_only_outside_brackets() -> None:
    text = (
        "90.00元(625ml/袋[中长链脂肪乳注射液125ml；复方氨基酸(16)注射液250ml；"
        "复方葡萄糖(36%)注射液250ml])；\n153.00元(1250ml/袋)"
    )
    assert len(split_payment_standards(text)) == 2
    ceilings = parse_payment_standards(text)
    assert [c["price"] for c in ceilings] == [Decimal("90.00"), Decimal("153.00")]
    assert ceilings[0]["spec"].startswith("625ml/袋[中长链脂肪乳注射液125ml；")
    assert parse_payment_standards("") == []


def test_drug_list_write_round_trips(tmp_path: Path) -> None:
    data = convert_nrdl(NRDL)
    out = tmp_path / "lists" / "nrdl-2024.json"
    write_drug_list(data, out)
    text = out.read_text(encoding="utf-8")
    assert "复方硼砂" in text  # not escaped
    assert '"price": "63.00"' in text  # amounts are strings
    lines = text.splitlines()
    assert lines[0] == "{"
    assert lines[1] == '"kind": "drug_list",'
    drug_lines = lines[lines.index('"drugs": [') + 1 : lines.index("]")]
    assert len(drug_lines) == len(EXPECTED_DRUGS)
    loaded = json.loads(text, parse_float=lambda s: pytest.fail(f"float {s} in the file"))
    assert DrugList.model_validate(loaded) == DrugList.model_validate(data)
    assert DrugList.model_validate(json.loads(text, parse_float=Decimal)).drugs[3].ceilings == [
        DrugCeiling(spec="10mg/支", price=Decimal("63.00"))
    ]
    assert sorted(p.name for p in out.parent.iterdir()) == ["nrdl-2024.json"]


def test_drug_list_write_is_atomic(tmp_path: Path) -> None:
    out = tmp_path / "nrdl.json"
    out.write_text("old", encoding="utf-8")
    broken = {**convert_nrdl(NRDL), "drugs": [{"code": object()}]}
    with pytest.raises(TypeError):
        write_drug_list(broken, out)
    assert out.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["nrdl.json"]
    write_drug_list(convert_nrdl(NRDL), out)
    assert len(DrugList.model_validate(json.loads(out.read_text("utf-8"))).drugs) == 12


# ---------------------------------------------------------------- administrative divisions


def row(code: str, name: str, level: str, parent: str, replacement: str | None = None) -> dict:
    """An expected region row: retired when a replacement (possibly "") is given."""
    status = "in_use" if replacement is None else "retired"
    return {
        "code": code,
        "name": name,
        "level": level,
        "parent": parent,
        "status": status,
        "replacement": replacement or "",
    }


EXPECTED_REGIONS = [
    row("110000", "北京市", "省级", ""),
    row("110101", "东城区", "县级", "110000"),
    row("110103", "崇文区", "县级", "110000", "110101"),
    row("110105", "朝阳区", "县级", "110000"),
    row("130000", "河北省", "省级", ""),
    row("130100", "石家庄市", "地级", "130000"),
    row("130102", "长安区", "县级", "130100"),
    row("130103", "桥东区", "县级", "130100", "130102;130104"),
    row("130104", "桥西区", "县级", "130100"),
    row("130107", "井陉矿区", "县级", "130100"),
    row("130108", "裕华区", "县级", "130100"),
    row("130110", "鹿泉区", "县级", "130100"),
    row("130111", "栾城区", "县级", "130100"),
    row("130122", "获鹿县", "县级", "130100", "130185"),
    row("130124", "栾城县", "县级", "130100", "130108[2001];130111"),
    row("130125", "行唐县", "县级", "130100"),
    row("130185", "鹿泉市", "县级", "130100", "130110"),
    row("230000", "黑龙江省", "省级", ""),
    row("230400", "鹤岗市", "地级", "230000"),
    row("310000", "上海市", "省级", ""),
    row("330000", "浙江省", "省级", ""),
    row("330400", "嘉兴市", "地级", "330000"),
    row("510000", "四川省", "省级", ""),
    row("511400", "眉山市", "地级", "510000"),
    row("511403", "彭山区", "县级", "511400"),
    row("511422", "彭山县", "县级", "511400", "511403"),
]


def test_areacodes_sample_converts_to_the_expected_rows() -> None:
    assert convert_areacodes(AREACODES) == EXPECTED_REGIONS


def test_areacodes_spot_checks() -> None:
    rows = {r["code"]: r for r in convert_areacodes(AREACODES)}
    assert rows["130125"]["parent"] == "130100"
    assert rows["110101"]["parent"] == "110000"  # no 110100: a municipality's district
    assert (rows["110103"]["status"], rows["110103"]["replacement"]) == ("retired", "110101")
    # reused codes: the entry in use wins over the older 变更 entry
    assert rows["511400"]["name"] == "眉山市"  # 涪陵市 1995-1997, 眉山市 since 2000
    assert rows["511422"]["name"] == "彭山县"  # 丰都县 1995-1997, 彭山县 2000-2014
    assert rows["130102"]["replacement"] == ""  # in use: 新代码 only records an area change


def test_areacodes_replacement_is_normalised(tmp_path: Path) -> None:
    header = AREACODES.read_text(encoding="utf-8-sig").splitlines()[0]
    src = tmp_path / "codes.csv"
    src.write_text(
        "\ufeff" + header + '\n130103,河北省,石家庄市,桥东区,县级,弃用,1983,2014,"130102, 130104；130102"\n',
        encoding="utf-8",
    )
    assert convert_areacodes(src)[0]["replacement"] == "130102;130104"


def test_areacodes_wrong_header_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "codes.csv"
    src.write_text("code,name\n110000,北京市\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header"):
        convert_areacodes(src)


def test_regions_write_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "regions.csv"
    write_regions(convert_areacodes(AREACODES), out)
    raw = out.read_bytes()
    assert raw.startswith(b"code,name,level,parent,status,replacement\n")
    assert b"\r" not in raw
    with out.open(encoding="utf-8", newline="") as fh:
        assert list(csv.DictReader(fh)) == EXPECTED_REGIONS
    assert [p.name for p in tmp_path.iterdir()] == ["regions.csv"]
