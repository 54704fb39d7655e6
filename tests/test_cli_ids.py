"""Output for people speaks the user's language (issue 14): no internal ids in Chinese, no Chinese in English.

Every table or text output of ``estimate`` (with and without ``--explain``), ``check``, ``rules show``
(every shipped region), ``rules list``, ``compare``, ``year`` and ``batch``'s summary (on stderr) is
run in both languages, over the example cases and the golden cases (the golden JSON files give
the rules directory, the ``--vary`` values and ``--as-of``).

- **zh**: no reason or warning code (``[A-Z][A-Z0-9_]{3,}``), no snake id (``referral_certificate``,
  ``aged_60_69``), no source id or drug-list edition of the rule files (``illustrative-hebei``,
  ``nrdl-2024``), no ``True``/``False``/``true``/``false``. Region codes, amounts, dates, file paths,
  URLs, hospital codes, the item codes and names of the case's own lines and the sources' own words
  (an English title) are not ids.
- **en**: no CJK character, except in names of places (every region name of the region table),
  names of documents and the text of sources (``document``, ``issuer``, ``title``, ``note``,
  ``quote`` of every source), the packs' own Chinese-only labels (person groups, local diseases and
  material names a pack gives no English for), drug and item names, and a reform's own name.

``--format json`` is not checked: its codes are the documented interface for scripts.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from medins.cli import cli
from medins.i18n import LABELS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
SHIPPED = ("110000", "130100", "230400", "310000", "330400")

# ASCII word boundaries: \b would take a Chinese character for part of the word (提示CODE)
_A, _Z = r"(?<![A-Za-z0-9_])", r"(?![A-Za-z0-9_])"
CODE = re.compile(_A + r"[A-Z][A-Z0-9_]{3,}" + _Z)
SNAKE = re.compile(_A + r"[a-z]+(?:_[a-z0-9]+)+" + _Z)
BOOL = re.compile(_A + r"(?:[Tt]rue|[Ff]alse)" + _Z)
CJK = re.compile(r"[\u2e80-\u2fff\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
# one-word ids of the domain (categories, schemes, visit types, settlements, confidence …), outside flags
WORD_IDS = re.compile(
    r"(?<![A-Za-z0-9_-])(?:" + "|".join(k for k in LABELS if k.isalpha() and k.islower()) + r")(?![A-Za-z0-9_-])"
)
# not ids: URLs, file paths, hospital codes (H + 11 digits)
NOT_IDS = re.compile(r"https?://\S+|\S*[/\\]\S*\.(?:toml|csv|json|xlsx)\b|\bH\d{11}\b")


def _rule_files() -> list[Path]:
    dirs = [ROOT / "rules", *(p for p in GOLDEN.rglob("rules*") if p.is_dir())]
    return [f for d in dirs for f in d.rglob("*.toml")]


@cache
def _sources() -> tuple[frozenset[str], tuple[str, ...]]:
    """Source ids and drug-list editions of every rule file; the texts of sources and Chinese-only labels."""
    ids: set[str] = set()
    texts: set[str] = set()
    for f in _rule_files():
        data = tomllib.loads(f.read_text(encoding="utf-8"))
        for sid, src in data.get("sources", {}).items():
            ids.add(sid)
            texts.update(str(src[k]) for k in ("document", "issuer", "title", "note", "quote") if src.get(k))
        if data.get("drug_list"):
            ids.add(data["drug_list"])
        texts.update(_chinese_only_labels(data))
        # a catalogue's items: names and restrictions as the treatment place publishes them
        texts.update(str(i[k]) for i in data.get("items", []) for k in ("name", "restriction") if i.get(k))
    for d in [ROOT / "rules", *(p for p in GOLDEN.rglob("rules*") if p.is_dir())]:
        for f in d.glob("drug-lists/*.json"):
            ids.add(f.stem)
            data = json.loads(f.read_text(encoding="utf-8"))
            src = data.get("source", {})
            texts.update(str(src[k]) for k in ("document", "issuer", "title", "note", "quote") if src.get(k))
            # drug names, restrictions and payment standards: the drug list's own words
            texts.update(
                str(drug[k])
                for drug in data.get("drugs", [])
                for k in ("name", "restriction", "ceiling_text")
                if drug.get(k)
            )
    return frozenset(ids), tuple(sorted(texts, key=len, reverse=True))


def _chinese_only_labels(data: dict[str, Any]) -> set[str]:
    """Labels a pack gives only in Chinese: person groups, local disease names, the name of the pack."""
    out: set[str] = set()
    for scheme in ("employee", "resident"):
        out.update((data.get(scheme) or {}).get("group_labels", {}).values())
        for section in (data.get(scheme) or {}).get("chronic", []):
            out.update(section.get("labels", {}).values())
    for section in data.get("filing", []):
        en = section.get("materials_en", {})
        out.update(v for k, v in section.get("materials", {}).items() if k not in en)
    return out


@cache
def _place_names() -> tuple[str, ...]:
    text = (ROOT / "medins" / "data" / "regions.csv").read_text(encoding="utf-8")
    names = {row[1] for row in csv.reader(text.splitlines()[1:]) if len(row) > 1}
    return tuple(sorted(names, key=len, reverse=True))


def _case_words(path: Path | None) -> set[str]:
    """The case's own item names and codes (what the user wrote, echoed in a warning)."""
    if path is None or path.suffix != ".toml":
        return set()
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    bills = [data, *data.get("visits", [])]
    for bill in bills:
        for item in bill.get("items", []):
            out.update(str(item[k]) for k in ("name", "code") if item.get(k))
    return out


def zh_ids(text: str, case: Path | None = None) -> list[str]:
    """The internal ids in a Chinese output."""
    _, quotes = _sources()
    for word in sorted({*_case_words(case), *quotes}, key=len, reverse=True):
        text = text.replace(word, " ")  # what the user wrote, and the sources' own words
    text = NOT_IDS.sub(" ", text)
    found = CODE.findall(text) + SNAKE.findall(text) + BOOL.findall(text) + WORD_IDS.findall(text)
    ids, _ = _sources()
    found += [i for i in ids if re.search(rf"(?<![A-Za-z0-9_-]){re.escape(i)}(?![A-Za-z0-9_-])", text)]
    return found


def en_chinese(text: str, case: Path | None = None, allowed: tuple[str, ...] = ()) -> list[str]:
    """The lines of an English output with Chinese outside the names and quotes it may hold (those
    taken out)."""
    _, texts = _sources()
    words = sorted({*texts, *_place_names(), *_case_words(case), *allowed}, key=len, reverse=True)
    rest = text
    for w in words:
        if w in rest:
            rest = rest.replace(w, " ")
    return [line for line in rest.splitlines() if CJK.search(line)]


# ----------------------------------------------------------------------------- the runs


def _rules_dir(expected: dict[str, Any], json_file: Path) -> list[str]:
    if "rules" not in expected:
        return []
    for base in (json_file.parent, GOLDEN):
        if (base / expected["rules"]).is_dir():
            return ["--rules", str(base / expected["rules"])]
    raise AssertionError(f"{json_file}: no rules directory {expected['rules']}")


def _golden(kind: str) -> Iterator[tuple[Path, dict[str, Any]]]:
    for case in sorted((GOLDEN / kind).glob("*.toml")):
        json_file = case.with_suffix(".json")
        yield case, json.loads(json_file.read_text(encoding="utf-8")) if json_file.exists() else {}


def _as_of(expected: dict[str, Any]) -> list[str]:
    return ["--as-of", expected["as_of"]] if expected.get("as_of") else []


def runs() -> list[tuple[str, list[str], Path | None]]:
    out: list[tuple[str, list[str], Path | None]] = []
    for case in EXAMPLES:
        for explain in ([], ["--explain"]):
            out.append((f"estimate {case.name} {' '.join(explain)}", ["estimate", str(case), *explain], case))
    for case, expected in _golden("estimate"):
        # the golden estimates are settled against tests/golden/rules unless they name another
        expected.setdefault("rules", "rules")
        args = [*_rules_dir(expected, case.with_suffix(".json")), *_as_of(expected)]
        out.append((f"estimate golden {case.name}", ["estimate", str(case), "--explain", *args], case))
    for case, expected in _golden("check"):
        args = [*_rules_dir(expected, case.with_suffix(".json")), *_as_of(expected)]
        out.append((f"check golden {case.name}", ["check", str(case), *args], case))
    out.append(
        (
            "check flags",
            [
                "check",
                "--insured",
                "130100",
                "--treated-in",
                "110000",
                "--category",
                "referral",
                "--filed-from",
                "2025-03-01",
                "--date",
                "2025-03-10",
                "--materials",
                "社保卡",
            ],
            None,
        )
    )
    out.append(
        (
            "estimate quick",
            [
                "estimate",
                "--insured",
                "130125",
                "--treated-in",
                "110105",
                "--scheme",
                "resident",
                "--level",
                "3",
                "--total",
                "50000",
                "--class-b",
                "8000",
                "--category",
                "referral",
                "--explain",
            ],
            None,
        )
    )
    for code in SHIPPED:
        out.append((f"rules show {code}", ["rules", "show", code], None))
        out.append((f"rules show {code} 2024", ["rules", "show", code, "--as-of", "2024-06-01"], None))
    out.append(("rules list", ["rules", "list"], None))
    story = ROOT / "examples" / "shijiazhuang-resident-beijing.toml"
    for vary in (
        "category=none,relocated_retiree,long_term_resident,stationed_worker,referral,emergency,other_temporary",
        "level=1,2,3",
        "treated-in=110000,310000",
        "group=in_service,retired",
    ):
        out.append((f"compare story {vary}", ["compare", str(story), "--vary", vary], story))
    for case, expected in _golden("compare"):
        varies = [f"{k}={','.join(map(str, v))}" for k, v in expected["vary"].items()]
        args = [*_rules_dir(expected, case.with_suffix(".json")), *_as_of(expected)]
        out.append(
            (
                f"compare golden {case.name}",
                ["compare", str(case), *(a for v in varies for a in ("--vary", v)), *args],
                case,
            )
        )
    for case, expected in _golden("year"):
        args = [*_rules_dir(expected, case.with_suffix(".json")), *_as_of(expected)]
        out.append((f"year golden {case.name}", ["year", str(case), *args], case))
    return out


RUNS = runs()


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("MEDINS_RULES", raising=False)
    monkeypatch.delenv("MEDINS_LANG", raising=False)
    return CliRunner()


def _run(runner: CliRunner, args: list[str], lang: str) -> str:
    result = runner.invoke(cli, [*args, "--lang", lang])
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.stdout + "\n" + result.stderr


@pytest.mark.parametrize(("name", "args", "case"), RUNS, ids=[r[0] for r in RUNS])
def test_zh_output_has_no_internal_ids(runner: CliRunner, name: str, args: list[str], case: Path | None) -> None:
    out = _run(runner, args, "zh")
    found = zh_ids(out, case)
    assert found == [], f"{found}\n{out}"


@pytest.mark.parametrize(("name", "args", "case"), RUNS, ids=[r[0] for r in RUNS])
def test_en_output_has_no_chinese_but_names_and_quotes(
    runner: CliRunner, name: str, args: list[str], case: Path | None
) -> None:
    out = _run(runner, args, "en")
    found = en_chinese(out, case)
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("reform", [False, True])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_batch_summary_speaks_the_language(
    runner: CliRunner, tmp_path: Path, lang: str, reform: bool, generate_month: Any
) -> None:
    folder = tmp_path / "bills"
    folder.mkdir()
    generate_month(60, 3, 7, folder)
    args = ["batch", str(folder / "bills.csv"), "--items", str(folder / "items.csv"), "-o", str(tmp_path / "out.csv")]
    allowed: tuple[str, ...] = ()
    if reform:
        path = ROOT / "examples" / "reforms" / "reform-referral-5-points.toml"
        args += ["--reform", str(path)]
        allowed = (tomllib.loads(path.read_text(encoding="utf-8"))["name"],)
    result = runner.invoke(cli, [*args, "--lang", lang])
    assert result.exit_code in (0, 3), result.output
    summary = result.stderr
    assert "30" in summary or "60" in summary  # the table is there
    if lang == "zh":
        assert zh_ids(summary) == [], summary
    else:
        assert en_chinese(summary, allowed=allowed) == [], summary


# ----------------------------------------------------------------------------- the checks can fail


def test_the_checks_find_what_they_look_for() -> None:
    assert zh_ids("提示 SUMMARY_PRE_SELF_PAY: 未给出 pre_self_pay") == ["SUMMARY_PRE_SELF_PAY", "pre_self_pay"]
    assert zh_ids("依据：[130100:illustrative-hebei]") == ["illustrative-hebei"]
    assert zh_ids("乙类先行自付计入基数：False") == ["False"]
    assert zh_ids("提示FILING_EXPIRED：类别referral，缺referral_certificate") == [
        "FILING_EXPIRED",
        "referral_certificate",
        "referral",
    ]
    assert zh_ids("参保地 130100 石家庄市，医疗费 68,000.00，2025-03-10，见 examples/a_b.toml、H11010500001") == []
    assert en_chinese("file as referral for 110000 (北京市); 医保发〔2022〕22号") == []
    assert en_chinese("warning: 乙类先行自付按药品比例估算") == ["warning: 乙类先行自付按药品比例估算"]
