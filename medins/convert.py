"""Converters from raw government data to the project's own files.

Two sources are converted: the national drug list as returned by the national healthcare security
administration's public drug-list service, and the history of administrative division codes
(GB/T 2260 style). Both converters read a raw file and return plain data; the writers put it on
disk atomically. Money stays ``Decimal`` throughout and is written as strings.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from medins.money import FEN

# ---------------------------------------------------------------- the national drug list

NRDL_2024_EDITION = "nrdl-2024"
NRDL_2024_EFFECTIVE = date(2025, 1, 1)
# Superseded on 2026-01-01 by the 2025 list (医保发〔2025〕33号, which repeals 医保发〔2024〕33号).
NRDL_2024_UNTIL = date(2025, 12, 31)
NRDL_2024_SOURCE: dict[str, Any] = {
    "confidence": "primary",
    "document": "医保发〔2024〕33号",
    "issuer": "国家医疗保障局 人力资源社会保障部",
    "title": "国家基本医疗保险、工伤保险和生育保险药品目录（2024年）",
    "url": "https://github.com/jellyqwq/goodyeah/blob/b2271572e8c4a6a5200d779f595a569f47b2f377/4750.json",
    "effective": date(2025, 1, 1),
    "verified": date(2026, 11, 23),
    "note": (
        "The national drug-list service's records ({count:,}) as copied in the repository named by url; "
        "class, dosage form, restriction (remark) and payment standards as published. In force "
        "2025-01-01 to 2025-12-31: the 2025 list (医保发〔2025〕33号) replaces it from 2026-01-01."
    ),
}

_CLASSES = {"医保甲类": "A", "医保乙类": "B"}
_HERBAL = {"基金予以支付的中药饮片": "paid", "不得纳入基金支付范围的中药饮片": "excluded"}

_OPEN = "(（[【"
_CLOSE = ")）]】"
_SEPARATORS = "；;\n\r"
# A price in yuan at the start of an entry, e.g. "63.00元", "275元" or "479.00元/盒".
_PRICE = re.compile(r"(\d+(?:\.\d+)?)元(?:/([^\s(（]+))?\s*")
# An entry that claims a price: it starts with a digit or has digits followed by 元.
_NUMERIC_LOOKING = re.compile(r"^\d|\d\s*元")


def edition_prefix(edition: str) -> str:
    """The code prefix of an edition's drugs.

    Letters upper-cased, hyphens dropped: ``nrdl-2024`` -> ``NRDL2024``.
    """
    return edition.upper().replace("-", "")


def split_payment_standards(text: str) -> list[str]:
    """Split a ``paymentStandards`` value into its entries.

    Entries are separated by ``；``, ``;`` or line breaks, but only outside brackets: specs such as
    ``(粉体室1.0g；液体室100ml:0.9g/袋)`` hold separators of their own. Empty entries are dropped.
    """
    entries: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(depth - 1, 0)
        elif ch in _SEPARATORS and depth == 0:
            entries.append(text[start:i])
            start = i + 1
    entries.append(text[start:])
    return [e.strip() for e in entries if e.strip()]


def _outermost(text: str) -> tuple[str, str]:
    """Split text that starts with an opening bracket into the group's content and what follows.

    Round and square brackets, half- and full-width, count alike, so ``(0.1ml/支 预灌封注射器）``
    closes; nested groups stay inside the content. Raise ValueError if the group never closes.
    """
    depth = 0
    for i, ch in enumerate(text):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
            if depth == 0:
                return text[1:i].strip(), text[i + 1 :].strip()
    raise ValueError(f"unbalanced brackets in {text!r}")


def parse_ceiling(entry: str) -> dict[str, Any] | None:
    """Parse one payment-standard entry into ``{"spec", "price"}``, or None if it has no price.

    The entry is ``price元(spec)`` (full-width brackets too, optionally ``元/unit`` and a trailing
    bracketed note); the spec is the text inside the outermost brackets, the price a Decimal with
    two decimals. Entries that claim no price (``企业申请价格保密``, ``见备注2(...)``) give None; an
    entry that looks numeric but does not parse raises ValueError.
    """
    match = _PRICE.match(entry)
    if match is None:
        if _NUMERIC_LOOKING.search(entry):
            raise ValueError(f"cannot parse payment standard {entry!r}")
        return None
    rest = entry[match.end() :]
    if not rest or rest[0] not in _OPEN:
        raise ValueError(f"payment standard {entry!r} has no bracketed specification")
    spec, tail = _outermost(rest)
    if tail and tail[0] not in _OPEN:
        raise ValueError(f"unexpected text {tail!r} after the specification in {entry!r}")
    if not spec:
        raise ValueError(f"payment standard {entry!r} has an empty specification")
    price = Decimal(match.group(1))
    if price != price.quantize(FEN):
        raise ValueError(f"payment standard {entry!r} has a price finer than the fen")
    return {"spec": spec, "price": price.quantize(FEN)}


def parse_payment_standards(text: str) -> list[dict[str, Any]]:
    """Parse a whole ``paymentStandards`` value into ceilings, in order.

    Each top-level entry is parsed by ``parse_ceiling``; entries without a price give nothing.
    """
    ceilings = []
    for entry in split_payment_standards(text):
        ceiling = parse_ceiling(entry)
        if ceiling is not None:
            ceilings.append(ceiling)
    return ceilings


class SourceError(ValueError):
    """A raw file that does not have the shape a converter expects; ``key`` is where, e.g. ``data.list[3].id``."""

    def __init__(self, key: str, problem: str, zh: str | None = None) -> None:
        self.key = key
        self.problem = problem
        self.zh = zh if zh is not None else problem
        super().__init__(f"{key}: {problem}" if key else problem)


def _shown(value: object, limit: int = 40) -> str:
    """A raw value as a message quotes it, cut when long."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(value: object) -> str:
    """A source field as stripped text: None becomes ""."""
    return "" if value is None else str(value).strip()


_TEXT_FIELDS = (
    "name",
    "kindName",
    "dosageForm",
    "drugTypeName",
    "categoryName",
    "remark",
    "paymentStandards",
    "agreementPeriod",
)
_MAX_ID = 10**9


def _check_record(record: object, key: str) -> None:
    """A service record has an integer ``id``, a ``name``, text fields and a ``category`` object."""
    if not isinstance(record, dict):
        raise SourceError(
            key, f"a record should be an object, got {_shown(record)}", f"记录应为对象，收到 {_shown(record)}"
        )
    if "id" not in record:
        raise SourceError(f"{key}.id", "missing", "缺少")
    rid = record["id"]
    if not isinstance(rid, int) or isinstance(rid, bool) or not 0 < rid < _MAX_ID:
        raise SourceError(
            f"{key}.id",
            f"should be a whole number from 1 to {_MAX_ID - 1}, got {_shown(rid)}",
            f"应为 1 到 {_MAX_ID - 1} 的整数，收到 {_shown(rid)}",
        )
    for name in _TEXT_FIELDS:
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            raise SourceError(
                f"{key}.{name}",
                f"should be text, got {_shown(value)} (record id {rid})",
                f"应为文本，收到 {_shown(value)}（记录 id {rid}）",
            )
    if not _text(record.get("name")):
        raise SourceError(f"{key}.name", f"missing or empty (record id {rid})", f"缺少或为空（记录 id {rid}）")
    kind = _text(record.get("kindName"))
    if kind and kind not in _CLASSES:
        raise SourceError(
            f"{key}.kindName",
            f"{_shown(kind)} is not a class: expected {' or '.join(_CLASSES)} (record id {rid})",
            f"{_shown(kind)} 不是甲乙分类：应为 {' 或 '.join(_CLASSES)}（记录 id {rid}）",
        )
    category = record.get("category")
    if category is not None:
        if not isinstance(category, dict):
            raise SourceError(
                f"{key}.category",
                f"should be an object, got {_shown(category)} (record id {rid})",
                f"应为对象，收到 {_shown(category)}（记录 id {rid}）",
            )
        code = category.get("code")
        if code is not None and not isinstance(code, str):
            raise SourceError(
                f"{key}.category.code",
                f"should be text, got {_shown(code)} (record id {rid})",
                f"应为文本，收到 {_shown(code)}（记录 id {rid}）",
            )


def _records(raw: object) -> list[dict[str, Any]]:
    """The records of a service page, its shape checked: ``{"data": {"list": [...], "total": n}}``."""
    if isinstance(raw, list):
        bare = bool(raw) and all(isinstance(r, dict) for r in raw)
        hint = ': a bare list of records? wrap it as {"data": {"list": [...]}}' if bare else ""
        hint_zh = '：若是记录列表，请包装为 {"data": {"list": [...]}}' if bare else ""
        raise SourceError(
            "",
            f"the top level is a list, not an object with data.list{hint}",
            f"顶层是列表，而不是含 data.list 的对象{hint_zh}",
        )
    if not isinstance(raw, dict):
        raise SourceError(
            "",
            f"the top level should be an object with data.list, got {_shown(raw)}",
            f"顶层应为含 data.list 的对象，收到 {_shown(raw)}",
        )
    if raw.get("success") is False:
        raise SourceError(
            "success", f"the service reported failure: {raw.get('msg')!r}", f"服务返回失败：{raw.get('msg')!r}"
        )
    if "data" not in raw:
        raise SourceError(
            "data", "missing: expected the service's page with data.list", "缺少：应为含 data.list 的服务页面"
        )
    data = raw["data"]
    if not isinstance(data, dict):
        raise SourceError(
            "data", f"should be an object with list, got {_shown(data)}", f"应为含 list 的对象，收到 {_shown(data)}"
        )
    if "list" not in data:
        raise SourceError("data.list", "missing", "缺少")
    records = data["list"]
    if not isinstance(records, list):
        raise SourceError(
            "data.list", f"should be a list of records, got {_shown(records)}", f"应为记录列表，收到 {_shown(records)}"
        )
    if not records:
        raise SourceError("data.list", "empty: the page holds no records (got [])", "为空：页面没有记录（收到 []）")
    for i, record in enumerate(records):
        _check_record(record, f"data.list[{i}]")
    total = data.get("total")
    if total is not None and (not isinstance(total, int) or isinstance(total, bool)):
        raise SourceError(
            "data.total", f"should be a whole number, got {_shown(total)}", f"应为整数，收到 {_shown(total)}"
        )
    if total is not None and total != len(records):
        raise SourceError(
            "data.total",
            f"{len(records)} records but the service reports {total}",
            f"有 {len(records)} 条记录，但服务报告共 {total} 条（页面不完整）",
        )
    ids = [record["id"] for record in records]
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        raise SourceError("data.list", f"repeated record ids {repeated}", f"记录 id 重复：{repeated}")
    return records


def _drug(record: Mapping[str, Any], prefix: str, key: str = "") -> dict[str, Any]:
    """One drug of the project's list from one service record.

    Fields map as documented in ``convert_nrdl``; a payment standard that cannot be parsed raises
    SourceError naming the record.
    """
    category = record.get("category") or {}
    ceiling_text = _text(record.get("paymentStandards"))
    try:
        ceilings = parse_payment_standards(ceiling_text)
    except ValueError as exc:
        raise SourceError(
            f"{key}.paymentStandards" if key else "",
            f"record id {record['id']}: {exc}",
            f"记录 id {record['id']}：支付标准无法解析：{ceiling_text!r}",
        ) from exc
    section = _text(record.get("drugTypeName"))
    return {
        "code": f"{prefix}-{record['id']:04d}",
        "name": _text(record.get("name")),
        "class": _CLASSES.get(_text(record.get("kindName"))),
        "dosage_form": _text(record.get("dosageForm")),
        "section": section,
        "category": _text(category.get("code")),
        "category_name": _text(record.get("categoryName")),
        "herbal": _HERBAL.get(section),
        "restriction": _text(record.get("remark")),
        "ceilings": ceilings,
        "ceiling_text": ceiling_text,
        "agreement_period": _text(record.get("agreementPeriod")),
    }


def convert_nrdl(
    src: Path,
    *,
    edition: str = NRDL_2024_EDITION,
    effective: date = NRDL_2024_EFFECTIVE,
    until: date | None = NRDL_2024_UNTIL,
    source: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Convert the national service's drug-list JSON into a dict that validates as ``DrugList``.

    One drug per record, in source order. ``code`` is the edition prefix and the record id
    (``NRDL2024-0001``); class comes from ``kindName`` (甲类 A, 乙类 B), ``herbal`` from the herbal
    pieces' sections; ceilings are parsed from ``paymentStandards``, whose text is kept. ``source``
    defaults to the 2024 edition's, its note counting the records converted. A file that cannot be
    read as JSON is a RuleError (``loader.read_json``); a SourceError (a ValueError) names the key
    when the service reports failure, the page is incomplete or not the service's shape, an id
    repeats or a price does not parse.
    """
    from medins.loader import read_json

    records = _records(read_json(Path(src)))
    prefix = edition_prefix(edition)
    if source is None:
        source = {**NRDL_2024_SOURCE, "note": NRDL_2024_SOURCE["note"].format(count=len(records))}
    return {
        "kind": "drug_list",
        "edition": edition,
        "effective": effective,
        "until": until,
        "source": dict(source),
        "drugs": [_drug(record, prefix, f"data.list[{i}]") for i, record in enumerate(records)],
    }


def _json_default(value: object) -> str:
    """Encode what json cannot: Decimal as its exact string, dates in ISO form."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _dumps(value: object) -> str:
    """One JSON value on one line, UTF-8 text kept readable."""
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def write_atomic(out: Path, write: Callable[[TextIO], None]) -> None:
    """Write a UTF-8 text file so that readers see the old file or the whole new one.

    The content goes to a temporary file in the same folder, is flushed to disk, then replaces
    ``out`` with ``os.replace``; on failure the temporary file is removed.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_drug_list(data: Mapping[str, Any], out: Path) -> None:
    """Write a converted drug list as JSON, atomically.

    Header keys first, one per line, then ``"drugs"`` with one drug per line so that diffs between
    editions stay readable; amounts are strings, dates ISO, text unescaped UTF-8.
    """

    def write(fh: TextIO) -> None:
        header = [f"{_dumps(k)}: {_dumps(v)}" for k, v in data.items() if k != "drugs"]
        drugs = ",\n".join(_dumps(drug) for drug in data.get("drugs", []))
        fh.write("{\n" + ",\n".join([*header, '"drugs": [']) + "\n")
        fh.write(drugs + ("\n" if drugs else "") + "]\n}\n")

    write_atomic(out, write)


# ---------------------------------------------------------------- administrative divisions

AREACODES_HEADER = [
    "代码",
    "一级行政区",
    "二级行政区",
    "名称",
    "级别",
    "状态",
    "启用时间",
    "变更/弃用时间",
    "新代码",
]
REGIONS_HEADER = ["code", "name", "level", "parent", "status", "replacement"]
_LEVELS = {"省级", "地级", "县级"}
_REPLACEMENT_SEPARATORS = re.compile(r"[;；,，、\s]+")


def _normalise_replacement(text: str) -> str:
    """A 新代码 field as ``;``-separated codes, each kept as given (with any ``[year]`` note).

    Any of ``;``, ``；``, commas, ``、`` or spaces separates; repeats are dropped, order is kept.
    """
    parts = [p for p in _REPLACEMENT_SEPARATORS.split(text.strip()) if p]
    return ";".join(dict.fromkeys(parts))


def _latest(entries: Iterable[Mapping[str, str]]) -> Mapping[str, str]:
    """The entry that ended last (an open end counts as latest), then the one that began last."""

    def key(entry: Mapping[str, str]) -> tuple[int, int]:
        end = entry["变更/弃用时间"].strip()
        return (int(end) if end else 10**6, int(entry["启用时间"].strip() or 0))

    return max(entries, key=key)


def convert_areacodes(src: Path) -> list[dict[str, str]]:
    """Convert the division-code history CSV into one row per distinct code, sorted by code.

    A code is ``in_use`` if any of its entries has 状态 在用, and takes that entry's name and
    level; otherwise it is ``retired`` and takes its latest entry's, with ``replacement`` from that
    entry's 新代码 (``;``-separated, ``[year]`` notes kept). Codes are reused over history, so
    older 变更 entries of a code in use are ignored. ``parent``: the province for 地级; for 县级 the
    city ``XXXX00`` if in use, else the province; "" for 省级. Raise ValueError on a wrong header,
    a malformed code or level, or a code in use twice.
    """
    from medins.loader import read_text

    reader = csv.reader(io.StringIO(read_text(Path(src), what="CSV"), newline=""))
    by_code: dict[str, list[dict[str, str]]] = {}
    line = 1
    try:
        header = next(reader, None)
        if header != AREACODES_HEADER:
            raise SourceError("line 1", f"unexpected header {header}", f"表头不符：{header}")
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(AREACODES_HEADER):
                raise SourceError(
                    f"line {line}",
                    f"{len(values)} fields, the header {len(AREACODES_HEADER)} (an unbalanced quote or comma?)",
                    f"{len(values)} 个字段，表头 {len(AREACODES_HEADER)} 个（引号或逗号不成对？）",
                )
            entry = dict(zip(AREACODES_HEADER, (v.strip() for v in values), strict=True))
            bad = next((k for k, v in entry.items() if "\x00" in v), None)
            if bad is not None:
                raise SourceError(f"line {line}, {bad}", f"a NUL byte in {entry[bad]!r}", f"{entry[bad]!r} 含 NUL 字节")
            code = entry["代码"]
            if not re.fullmatch(r"[0-9]{6}", code):
                raise SourceError(f"line {line}, 代码", f"bad code {code!r}", f"代码 {code!r} 无效")
            if entry["级别"] not in _LEVELS:
                raise SourceError(f"line {line}, 级别", f"bad level {entry['级别']!r}", f"级别 {entry['级别']!r} 无效")
            for column in ("启用时间", "变更/弃用时间"):
                if not re.fullmatch(r"([0-9]{4})?", entry[column]):
                    raise SourceError(
                        f"line {line}, {column}", f"{entry[column]!r} is not a year", f"{entry[column]!r} 不是年份"
                    )
            by_code.setdefault(code, []).append(entry)
    except csv.Error as exc:
        raise SourceError(f"line {reader.line_num}", str(exc)) from None

    chosen: dict[str, tuple[Mapping[str, str], bool]] = {}
    for code, entries in by_code.items():
        in_use = [e for e in entries if e["状态"] == "在用"]
        if len(in_use) > 1:
            raise SourceError(f"代码 {code}", "in use twice", "有两条在用记录")
        chosen[code] = (in_use[0], True) if in_use else (_latest(entries), False)
    codes_in_use = {code for code, (_, used) in chosen.items() if used}

    rows = []
    for code in sorted(chosen):
        entry, used = chosen[code]
        level = entry["级别"]
        province = code[:2] + "0000"
        if level == "省级":
            parent = ""
        elif level == "地级":
            parent = province
        else:
            city = code[:4] + "00"
            parent = city if city in codes_in_use else province
        rows.append(
            {
                "code": code,
                "name": entry["名称"],
                "level": level,
                "parent": parent,
                "status": "in_use" if used else "retired",
                "replacement": "" if used else _normalise_replacement(entry["新代码"]),
            }
        )
    return rows


def write_regions(rows: Iterable[Mapping[str, str]], out: Path) -> None:
    """Write region rows as CSV (UTF-8 without BOM, ``\\n`` line ends), atomically.

    Columns ``code,name,level,parent,status,replacement``; other keys are refused.
    """

    def write(fh: TextIO) -> None:
        writer = csv.DictWriter(fh, fieldnames=REGIONS_HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    write_atomic(out, write)


def _write_error(out: Path, exc: OSError) -> Exception:
    from medins.errors import RuleError, t

    detail = exc.strerror or str(exc)
    blocking = next((d for d in out.parents if d.exists() and not d.is_dir()), None)
    if blocking is not None:
        detail = f"{blocking} is a file, not a folder"
    return RuleError(
        t(f"无法写入：{detail}", f"cannot write: {detail}"),
        str(out),
        t("请选择可写的文件位置", "choose a place you can write to"),
    )


def convert_nrdl_file(src: Path, out: Path, edition: str = NRDL_2024_EDITION) -> int:
    """Convert and write a drug list; return the number of drugs.

    Bad input is a RuleError naming the file and the key (``data.list[3].id``) and quoting the value;
    an edition that is not a plain file name, and an output that cannot be written, too.
    """
    from medins.errors import RuleError, t
    from medins.loader import parse_model
    from medins.rules_model import DrugList, check_edition

    try:
        check_edition(edition)
    except ValueError:
        raise RuleError(
            t(f"{edition!r} 不是药品目录版本名", f"{edition!r} is not a drug-list edition name"),
            "--edition",
            t("用不含 /、\\ 或 .. 的名称，如 nrdl-2024", "give a name without /, \\ or .., e.g. nrdl-2024"),
        ) from None
    try:
        data = convert_nrdl(src, edition=edition)
    except SourceError as exc:
        raise RuleError(
            t(f"无法转换药品目录：{exc.zh}", f"cannot convert the drug list: {exc.problem}"),
            f"{src}: {exc.key}" if exc.key else str(src),
            t(
                '应为国家医保药品目录服务返回的 JSON：{"data": {"list": [记录…]}}',
                'expected the national service\'s JSON: {"data": {"list": [records…]}}',
            ),
        ) from None
    parse_model(data, DrugList, f"{src} -> {out}")
    try:
        write_drug_list(data, out)
    except OSError as exc:
        raise _write_error(out, exc) from None
    return len(data["drugs"])


def convert_areacodes_file(src: Path, out: Path) -> int:
    """Convert and write the region table; return the number of codes.

    Bad input is a RuleError naming the file and the line and column, quoting the value.
    """
    from medins.errors import RuleError, t

    try:
        rows = convert_areacodes(src)
    except SourceError as exc:
        raise RuleError(
            t(f"无法转换行政区划代码：{exc.zh}", f"cannot convert the area codes: {exc.problem}"),
            f"{src}: {exc.key}" if exc.key else str(src),
            t("应为含表头 代码,一级行政区,... 的 CSV", "expected the CSV with header 代码,一级行政区,..."),
        ) from None
    try:
        write_regions(rows, out)
    except OSError as exc:
        raise _write_error(out, exc) from None
    return len(rows)
