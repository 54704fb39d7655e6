"""Year-to-date amounts carried between runs: ``--ytd-in`` read (a line at a time where the file is
laid out as ``--ytd-out`` writes it), ``--ytd-out`` written, one entry per key, sorted by key.
"""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from medins.batch.schema import YtdKey
from medins.batch.values import day_number
from medins.case_model import YearToDate
from medins.errors import MedinsError, t
from medins.loader import parse_model
from medins.tabular import TableError
from medins.types import MAX_ADMISSIONS

YTD_FORMAT = "medins-ytd"


YTD_VERSION = 2


EMPTY_YTD = YearToDate()


def _load_ytd(path: Path) -> dict[YtdKey, tuple[int, str, str]]:
    """``--ytd-in``: (person, insured region, scheme, year) → (last service day, its ISO date, YTD JSON).

    A file laid out as ``--ytd-out`` writes it (:func:`_write_ytd`: one entry a line) is read a line
    at a time, so the whole file's JSON is never held at once (56,936 entries: about 130 MB of Python
    objects; a run's peak 371 → 306 MB); any other file, or one whose reading so finds a fault, is
    read whole, and the messages are that reading's."""
    try:
        found = _ytd_by_lines(path)
    except (MedinsError, OSError, ValueError, RecursionError):
        found = None
    return found if found is not None else _ytd_whole(path)


def _ytd_by_lines(path: Path) -> dict[YtdKey, tuple[int, str, str]] | None:
    """:func:`_load_ytd` of a file laid out as ``--ytd-out`` writes it; None for any other layout."""
    state: dict[YtdKey, tuple[int, str, str]] = {}
    shared: dict[Any, Any] = {}  # one object for each region, scheme and year the keys repeat
    decoder = json.JSONDecoder(parse_float=Decimal)  # as json.loads builds for each call
    with path.open(encoding="utf-8", newline="") as f:
        if f.readline() != f'{{"format": "{YTD_FORMAT}", "version": {YTD_VERSION}, "entries": [\n':
            return None
        for k, line in enumerate(f):
            if line == "]}\n" and k == 0:  # no entries
                return None if f.readline() else state
            if not line.startswith("  {") or not line.endswith(("}\n", "},\n")):
                return None
            more = line.endswith(",\n")
            if not _plain_ytd_line(state, line, shared):
                entry = decoder.decode(line[2 : -2 if more else -1])
                _ytd_entry(state, entry, f"{path}: entries[{k}]", shared)
            if not more:  # the last entry
                return None if f.readline() != "]}\n" or f.readline() else state
    return None


_PLAIN_AMOUNT = re.compile(r"(?:0|[1-9][0-9]{0,9})(?:\.[0-9]{1,2})?")
"""An amount as ``--ytd-out`` writes one: below 10^10 yuan (``MAX_AMOUNT``), at most two decimals, no
leading zero, no exponent; its Decimal's text is the text itself."""


_TEXT = r'"([^"\\\x00-\x1f]+)"'  # a JSON string with nothing escaped


_SUM = f'"({_PLAIN_AMOUNT.pattern})"'  # an amount as plain_ytd_json takes it


_ACCUM_TEXT = r'\{"in_scope":' + _SUM + r',"deductible":' + _SUM + r',"fund":' + _SUM + r',"above_cap":' + _SUM + r"\}"


_YTD_LINE = re.compile(
    r'  \{"person_id": '
    + _TEXT
    + r', "insured_region": '
    + _TEXT
    + r', "scheme": '
    + _TEXT
    + r', "year": ([1-9][0-9]{3}), "last_service_date": "([0-9]{4}-[0-9]{2}-[0-9]{2})", "ytd": '
    + r'(\{"year":(null|[1-9][0-9]{3}),"admissions":(0|[1-9][0-9]{0,2}),"inpatient":'
    + _ACCUM_TEXT
    + r',"outpatient":'
    + _ACCUM_TEXT
    + r',"chronic":\{\},"tier2_base":'
    + _SUM
    + r',"tier2_fund":'
    + _SUM
    + r',"assistance_base":'
    + _SUM
    + r',"assistance_fund":'
    + _SUM
    + r"\})\},?\n"
)
"""An entry's line as :func:`_write_ytd` writes one whose record :func:`plain_ytd_json` takes and that
names no chronic disease (ids with nothing escaped): its groups are the values, the record's text
is one of them."""


def _plain_ytd_line(state: dict[YtdKey, tuple[int, str, str]], line: str, shared: dict[Any, Any]) -> bool:
    """Add the entry of ``line`` to ``state`` without decoding its JSON, when the line is of the form
    :data:`_YTD_LINE` matches and the entry is valid and new; False for any other line, which is then
    decoded and checked (:func:`_ytd_entry`), with its messages. A test holds the two to the same
    entries."""
    m = _YTD_LINE.fullmatch(line)
    if m is None:
        return False
    pid, region, scheme, year_text, last, text, ytd_year, admissions = m.group(1, 2, 3, 4, 5, 6, 7, 8)
    year = int(year_text)
    if year < 1900 or not (pid.strip() and region.strip() and scheme.strip()) or int(admissions) > MAX_ADMISSIONS:
        return False
    if ytd_year != "null" and int(ytd_year) != year:
        return False
    in_scope, fund = m.group(9, 11)
    out_scope, out_fund = m.group(13, 15)
    if Decimal(fund) > Decimal(in_scope) or Decimal(out_fund) > Decimal(out_scope):
        return False
    try:
        day = date.fromisoformat(last)
    except ValueError:
        return False
    if day.year != year:
        return False
    key = (pid, shared.setdefault(region, region), shared.setdefault(scheme, scheme), shared.setdefault(year, year))
    if key in state:
        return False  # a second entry: refused where it is decoded
    state[key] = (day.toordinal(), last, text)
    return True


def _ytd_whole(path: Path) -> dict[YtdKey, tuple[int, str, str]]:
    """:func:`_load_ytd` of any file, read whole."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as exc:
        raise TableError(t("无法读取文件", "cannot read file"), str(path), t(str(exc), str(exc))) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TableError(t(f"不是有效的 JSON：{exc}", f"not valid JSON: {exc}"), str(path)) from None
    except RecursionError:
        raise TableError(
            t(
                "JSON 嵌套过深，不是 medins 年度累计文件",
                "the JSON is nested too deeply: not a medins year-to-date file",
            ),
            str(path),
            t("请使用上一次运行 --ytd-out 写出的文件", "use the file a previous run wrote with --ytd-out"),
        ) from None
    if not isinstance(data, dict) or data.get("format") != YTD_FORMAT:
        raise TableError(
            t("不是 medins 年度累计文件", "not a medins year-to-date file"),
            str(path),
            t("请使用上一次运行 --ytd-out 写出的文件", "use the file a previous run wrote with --ytd-out"),
        )
    version = data.get("version")
    if version == 1 or (version is None and "persons" in data):
        raise TableError(
            t(
                "这是第 1 版年度累计文件（只按人员累计）；现在年度累计按人员、参保地、险种和年度分别记录（第 2 版）",
                "this is a version-1 year-to-date file, keyed by person only; amounts are now kept per person, "
                "insured region, scheme and year (version 2)",
            ),
            str(path),
            t(
                "第 1 版文件无法转换（它没有记录金额属于哪个参保地和险种）：请从本年第一批单据起依次重新运行，"
                "用 --ytd-out 写出第 2 版文件",
                "a version-1 file cannot be converted (it does not say which insured region and scheme its "
                "amounts belong to): run this year's batches again in order from the first, with --ytd-out, "
                "to write a version-2 file",
            ),
        )
    if version != YTD_VERSION or not isinstance(data.get("entries"), list):
        raise TableError(
            t(f"不支持的年度累计文件版本 {version!r}", f"unsupported year-to-date file version {version!r}"),
            str(path),
            t("请使用本版本 medins 的 --ytd-out 写出的文件", "use a file this version of medins wrote with --ytd-out"),
        )
    state: dict[YtdKey, tuple[int, str, str]] = {}
    shared: dict[Any, Any] = {}
    for k, entry in enumerate(data["entries"]):
        _ytd_entry(state, entry, f"{path}: entries[{k}]", shared)
    return state


def _ytd_entry(state: dict[YtdKey, tuple[int, str, str]], entry: Any, where: str, shared: dict[Any, Any]) -> None:
    """Check one ``--ytd-in`` entry and add it to ``state``."""
    if not isinstance(entry, dict):
        raise TableError(t("应为表", "should be an object"), where)
    for name in ("person_id", "insured_region", "scheme"):
        value = entry.get(name)
        if not isinstance(value, str) or not value.strip():
            raise TableError(
                t(f"{name} 缺少或不是文本：{value!r}", f"{name} missing or not text: {value!r}"), f"{where}.{name}"
            )
    year = entry.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 9999:
        raise TableError(t(f"year 应为年份：{year!r}", f"year should be a year: {year!r}"), f"{where}.year")
    last = str(entry.get("last_service_date", ""))
    day = day_number(last)
    if not day or date.fromordinal(day).year != year:
        raise TableError(
            t(
                f"last_service_date 缺少、无效或不在 {year} 年：{last!r}",
                f"last_service_date missing, invalid or not in {year}: {last!r}",
            ),
            f"{where}.last_service_date",
        )
    text = plain_ytd_json(entry.get("ytd"), year)
    if text is None:  # any other form: the case model checks it and says what is wrong
        ytd = parse_model(entry.get("ytd") or {}, YearToDate, f"{where}.ytd", TableError)
        if ytd.year is not None and ytd.year != year:
            raise TableError(
                t(f"ytd.year {ytd.year} 与 year {year} 不一致", f"ytd.year {ytd.year} differs from year {year}"),
                f"{where}.ytd.year",
            )
        text = ytd.model_dump_json()
    region, scheme = entry["insured_region"], entry["scheme"]
    key = (
        entry["person_id"],
        shared.setdefault(region, region),
        shared.setdefault(scheme, scheme),
        shared.setdefault(year, year),
    )
    if key in state:
        raise TableError(t(f"重复的条目：{key}", f"a second entry for {key}"), where)
    state[key] = (day, date.fromordinal(day).isoformat(), text)


_YTD_KEYS = (
    "year",
    "admissions",
    "inpatient",
    "outpatient",
    "chronic",
    "tier2_base",
    "tier2_fund",
    "assistance_base",
    "assistance_fund",
)


_ACCUM_KEYS = ("in_scope", "deductible", "fund", "above_cap")


def plain_ytd_json(ytd: Any, year: int) -> str | None:
    """``YearToDate.model_validate(ytd).model_dump_json()`` for a record of the year ``year`` written as
    ``--ytd-out`` writes one (every key, in its order; amounts as text, as :data:`_PLAIN_AMOUNT`;
    assistance paid in one stage; diseases named without quotes, backslashes or control characters),
    about twenty times as fast; None for any other record, valid or not, which the case model then
    reads. A test holds the two to the same text."""
    if type(ytd) is not dict or tuple(ytd) != _YTD_KEYS:
        return None
    y, admissions, chronic = ytd["year"], ytd["admissions"], ytd["chronic"]
    if y is not None and (type(y) is not int or y != year):
        return None
    if type(admissions) is not int or not 0 <= admissions <= MAX_ADMISSIONS or type(chronic) is not dict:
        return None
    inpatient, outpatient = _plain_accum(ytd["inpatient"]), _plain_accum(ytd["outpatient"])
    if inpatient is None or outpatient is None:
        return None
    diseases = []
    for disease, amounts in chronic.items():
        if type(disease) is not str or not disease.isprintable() or '"' in disease or "\\" in disease:
            return None
        accum = _plain_accum(amounts)
        if accum is None:
            return None
        diseases.append(f'"{disease}":{accum}')
    sums = []
    for name in _YTD_KEYS[5:]:
        value = ytd[name]
        if type(value) is not str or not _PLAIN_AMOUNT.fullmatch(value):
            return None
        sums.append(f',"{name}":"{value}"')
    return (
        f'{{"year":{"null" if y is None else y},"admissions":{admissions},"inpatient":{inpatient},'
        f'"outpatient":{outpatient},"chronic":{{{",".join(diseases)}}}{"".join(sums)}}}'
    )


def _plain_accum(accum: Any) -> str | None:
    """One benefit's amounts as ``Accum.model_dump_json()`` writes them; None where :func:`plain_ytd_json` is."""
    if type(accum) is not dict or tuple(accum) != _ACCUM_KEYS:
        return None
    values = tuple(accum.values())
    for value in values:
        if type(value) is not str or not _PLAIN_AMOUNT.fullmatch(value):
            return None
    in_scope, deductible, fund, above_cap = values
    if Decimal(fund) > Decimal(in_scope):
        return None  # refused by the case model, which says why
    return f'{{"in_scope":"{in_scope}","deductible":"{deductible}","fund":"{fund}","above_cap":"{above_cap}"}}'


FINALS_CHUNK = 1_000
"""Final states are pickled this many at a time in a partition's file, and read back as many."""


def write_finals(finals: list[tuple[YtdKey, str, str]], path: Path) -> None:
    """A partition's final year-to-date states, sorted by key, to a file :func:`_write_ytd` merges."""
    finals = sorted(finals, key=lambda entry: entry[0])
    with path.open("wb") as f:
        for start in range(0, len(finals), FINALS_CHUNK):
            pickle.dump(finals[start : start + FINALS_CHUNK], f, protocol=pickle.HIGHEST_PROTOCOL)


def _read_finals(path: Path) -> Iterator[tuple[YtdKey, str, str]]:
    with path.open("rb") as f:
        while True:
            try:
                chunk = pickle.load(f)
            except EOFError:
                return
            yield from chunk


def _write_ytd(
    temp: Path,
    ytd_in: dict[YtdKey, tuple[int, str, str]],
    finals: list[tuple[YtdKey, str, str]],
    files: list[Path] | None = None,
) -> None:
    """The year-to-date state: per key the amounts after its last settled bill, and that bill's date;
    the keys of ``--ytd-in`` no bill settled as they came. ``files``: more final states, each file
    sorted by key, merged as they are read (the run never holds them all)."""
    import heapq

    runs: list[Iterable[tuple[YtdKey, int, str, str]]] = [
        sorted((key, 0, last, ytd) for key, (_, last, ytd) in ytd_in.items()),
        sorted(((key, 1, last, ytd) for key, last, ytd in finals), key=lambda e: e[0]),
        *(((key, 1, last, ytd) for key, last, ytd in _read_finals(path)) for path in files or []),
    ]
    merged = heapq.merge(*runs, key=lambda e: (e[0], e[1]))

    def latest() -> Iterator[tuple[YtdKey, str, str]]:  # a settled key's state, not --ytd-in's
        held = None
        for entry in merged:
            if held is not None and held[0] != entry[0]:
                yield held[0], held[2], held[3]
            held = entry
        if held is not None:
            yield held[0], held[2], held[3]

    with temp.open("w", encoding="utf-8") as f:
        f.write(f'{{"format": "{YTD_FORMAT}", "version": {YTD_VERSION}, "entries": [')
        for k, (key, last, ytd) in enumerate(latest()):
            pid, region, scheme, year = key
            names = ", ".join(
                f'"{n}": {json.dumps(v, ensure_ascii=False)}'
                for n, v in (("person_id", pid), ("insured_region", region), ("scheme", scheme))
            )
            f.write(("," if k else "") + f'\n  {{{names}, "year": {year}, ')
            f.write(f'"last_service_date": "{last}", "ytd": {ytd}}}')
        f.write("\n]}\n")
