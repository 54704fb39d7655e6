"""Region codes: look-up, checks with bilingual fixes, province and city of a code."""

from __future__ import annotations

import pytest

from medins import regions
from medins.errors import CaseError, MedinsError, RuleError


def test_require_accepts_a_code_in_use() -> None:
    region = regions.require("130100", "case.visit.region")
    assert region == regions.Region("130100", "石家庄市", "地级", "130000", "in_use", "")
    assert region.in_use


def test_require_refuses_a_code_that_is_not_six_digits() -> None:
    with pytest.raises(RuleError) as info:
        regions.require("12345", "standards.region")
    err = info.value
    assert err.where == "standards.region"
    assert "a region code has 6 digits" in err.render("en")
    assert "地区代码应为6位数字" in err.render("zh")
    assert err.render("en").startswith("standards.region: ")


@pytest.mark.parametrize("code", ["1100001", "11000a", "１１００００", ""])
def test_require_refuses_other_malformed_codes(code: str) -> None:
    with pytest.raises(RuleError, match="6 digits"):
        regions.require(code, "here")


def test_require_refuses_an_unknown_code() -> None:
    with pytest.raises(RuleError) as info:
        regions.require("999999", "here")
    assert "unknown region code 999999" in info.value.render("en")
    assert "未知的地区代码 999999" in info.value.render("zh")
    assert "GB/T 2260" in info.value.render("en")


def test_require_refuses_a_retired_code_naming_its_replacement() -> None:
    with pytest.raises(RuleError) as info:
        regions.require("110103", "person.insured_region")
    en, zh = info.value.render("en"), info.value.render("zh")
    assert "region code 110103 (崇文区) is retired" in en
    assert "use 110101 东城区 instead" in en
    assert "地区代码 110103（崇文区）已停用" in zh
    assert "请改用 110101 东城区" in zh


def test_require_raises_the_error_type_asked_for() -> None:
    with pytest.raises(CaseError):
        regions.require("110103", "visit.region", CaseError)
    with pytest.raises(MedinsError):
        regions.require("999999", "visit.region", CaseError)


def test_retired_replacements_are_followed_to_codes_in_use() -> None:
    # 130122 获鹿县 -> 130185 鹿泉市 (itself retired in 2014) -> 130110 鹿泉区
    assert regions.lookup("130122").replacements == ("130185",)
    assert regions.successors("130122") == ("130110",)
    with pytest.raises(RuleError) as info:
        regions.require("130122", "here")
    assert "use 130110 鹿泉区 instead" in info.value.render("en")


def test_a_split_code_names_all_its_successors() -> None:
    # 130103 桥东区 was divided between 130102 长安区 and 130104 桥西区 in 2014
    assert regions.successors("130103") == ("130102", "130104")
    with pytest.raises(RuleError) as info:
        regions.require("130103", "here")
    assert "130102 长安区" in info.value.render("zh")
    assert "130104 桥西区" in info.value.render("zh")


def test_earlier_partial_transfers_are_not_successors() -> None:
    # 130124 栾城县: part went to 130108 裕华区 in 2001, the rest became 130111 栾城区 in 2014
    assert regions.lookup("130124").replacements == ("130108", "130111")
    assert regions.successors("130124") == ("130111",)


def test_a_retired_code_without_replacement() -> None:
    assert regions.successors("132100") == ()
    with pytest.raises(RuleError) as info:
        regions.require("132100", "here")
    assert "邯郸地区" in info.value.render("en")
    assert "no replacement" in info.value.render("en")


def test_lookup() -> None:
    assert regions.lookup("999999") is None
    assert regions.lookup("110103").status == "retired"
    assert regions.lookup("511400").name == "眉山市"  # reused: 涪陵市 1995-1997


def test_province_city_and_name() -> None:
    assert regions.province("130125") == "130000"
    assert regions.city("130125") == "130100"
    assert regions.city("110105") == "110000"
    assert regions.city("120101") == "120000"
    assert regions.city("310104") == "310000"
    assert regions.city("500101") == "500000"
    assert regions.city("330421") == "330400"
    assert regions.name("130125") == "行唐县"
    assert regions.name("999999") == "999999"
