"""The command line: parse, call the library, render. Errors become one clear line and an exit code.

Exit codes: 0 ok; 1 a data or rule error; 2 a usage error; 3 a batch finished but rejected rows.
Output falls back to what the console can encode (``!`` for ⚠, ``#=-.`` for the share bar) instead
of failing on a GBK or ASCII console.
"""

from __future__ import annotations

import codecs
import difflib
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import click

from medins import __version__
from medins.codes import ASSISTANCE_CATEGORIES, CATEGORIES, VISIT_TYPES
from medins.errors import CaseError, MedinsError, RuleError, UsageError, t
from medins.i18n import Lang, Text, default_lang
from medins.launch import imports_done
from medins.messages import (
    clear_lang,
    current_lang,
    help_zh,
    install,
    lang_chosen,
    lang_on_command_line,
    option_zh,
    set_lang,
    unknown_env_lang,
)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_REJECTS = 0, 1, 2, 3

# What a glyph becomes on a console that cannot show it (a GBK or ASCII one); anything else is "?".
FALLBACK = {
    "⚠": "!",
    "█": "#",
    "▓": "=",
    "▒": "-",
    "░": ".",
    "✗": "x",
    "✓": "v",
    "−": "-",
    "–": "-",
    "—": "-",
    "×": "x",
    "·": "*",
    "→": "->",
    "…": "...",
    "≤": "<=",
    "≥": ">=",
    "∞": "inf",
    "¥": "CNY ",
    "￥": "CNY ",
}
ERRORS_HANDLER = "medins-fallback"


def _fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return "".join(FALLBACK.get(ch, "?") for ch in exc.object[exc.start : exc.end]), exc.end


codecs.register_error(ERRORS_HANDLER, _fallback)
install()


def _console_fallback() -> None:
    """Let stdout and stderr replace what their encoding cannot hold, instead of raising."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and (getattr(stream, "errors", None) or "strict") == "strict":
            reconfigure(errors=ERRORS_HANDLER)


def can_show(text: str, stream: Any = None) -> bool:
    """Whether the stream's encoding holds every character of ``text``."""
    encoding = getattr(stream or sys.stdout, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _path(ctx: click.Context) -> str:
    """A command's path without the program name: ``""`` for medins itself, ``"rules list"``."""
    return " ".join(ctx.command_path.split()[1:])


# Commands that settle or look up one case: they end with the collector still off (medins.launch).
QUICK = {"estimate", "check", "filing requirements", "case new", "completion"}
QUICK |= {f"rules {name}" for name in ("list", "show", "schema", "sources")}


class Translated(click.Command):
    """A command whose help follows the chosen language: Chinese from ``medins.messages`` by default."""

    def invoke(self, ctx: click.Context) -> Any:
        if not isinstance(self, click.Group) and _path(ctx) not in QUICK:
            imports_done()  # a command that may run long: the collector on, what the imports made set aside
        return super().invoke(ctx)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        zh = current_lang() == "zh"
        path = _path(ctx)
        saved = [(self, self.help)] + [(p, getattr(p, "help", None)) for p in self.get_params(ctx)]
        # click words the help option's help when it first makes it, in that run's language
        helper = self.get_help_option(ctx)
        try:
            if helper is not None:
                helper.help = "Show this message and exit."
            if zh:
                self.help = help_zh(path) or self.help
                for param in self.get_params(ctx):
                    if getattr(param, "help", None) and param.name:
                        name = "help" if param is helper else param.name
                        param.help = option_zh(path, name) or param.help  # type: ignore[attr-defined]
            super().format_help(ctx, formatter)
        finally:
            for obj, text in saved:
                obj.help = text  # type: ignore[attr-defined]

    def get_short_help_str(self, limit: int = 45) -> str:
        parent = click.get_current_context(silent=True)
        if current_lang() == "zh" and parent is not None and self.name:
            text = help_zh(" ".join([_path(parent), self.name]).strip())
            if text:
                first = text.split("\n", 1)[0].strip()
                return first if len(first) <= limit else first[: max(limit - 1, 0)] + "…"
        return super().get_short_help_str(limit)


class MedinsGroup(Translated, click.Group):
    """Turns a MedinsError into a message on stderr and exit code 1, in the chosen language."""

    command_class = Translated
    group_class = type

    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        given = lang_on_command_line(argv)
        set_lang(given or default_lang())
        odd = unknown_env_lang()
        if odd is not None and given is None:
            click.echo(
                t(
                    f"medins: 警告: 无法识别 MEDINS_LANG={odd!r}，可用 zh 或 en；使用{'中文' if current_lang() == 'zh' else '英文'}",
                    f"medins: warning: MEDINS_LANG={odd!r} is not zh or en; using "
                    + ("Chinese" if current_lang() == "zh" else "English"),
                )(current_lang()),
                err=True,
            )
        try:
            return super().main(args=argv, prog_name=prog_name, **extra)
        finally:
            clear_lang()

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
        except MedinsError as exc:
            _notices(ctx)  # what a flag was mapped to, said even when the command then fails
            lang = ctx.meta.get("medins.lang") or current_lang()
            prefix = "medins: 错误: " if lang == "zh" else "medins: error: "
            click.echo(prefix + exc.render(lang), err=True)
            ctx.exit(exc.exit_code)
        _notices(ctx)  # for a command that did not say them itself
        return result


def _set_lang(ctx: click.Context, _param: click.Parameter, value: str | None) -> Lang:
    """--lang, given after the subcommand or before it (``medins --lang en rules list``)."""
    lang: Lang = value or ctx.find_root().meta.get("medins.lang") or current_lang()  # type: ignore[assignment]
    root = ctx.find_root()
    if not lang_chosen():  # a command invoked without medins' main: forget the choice when it ends
        root.call_on_close(clear_lang)
    root.meta["medins.lang"] = lang
    set_lang(lang)
    return lang


def _flag(param: click.Parameter) -> str:
    return param.opts[0] if param.opts else str(param.name)


def _parse_date(_ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    """A date flag's value as a date (2025-03-10, 2025/3/10, 20250310); a usage error quoting it otherwise."""
    if value is None:
        return None
    from medins.vocab import DATE_FORMS, parse_date

    day = parse_date(value)
    if day is None:
        raise UsageError(t(f"{value!r} 不是日期", f"{value!r} is not a date"), _flag(param), DATE_FORMS)
    return day


def _refuse_choice(kind: str, value: str, param: click.Parameter) -> UsageError:
    """A usage error for a value that names nothing of its kind: the nearest one, and what is accepted."""
    from medins.vocab import KIND_NAMES, ids_with_names, suggest

    close = suggest(kind, value)
    hint = t(f"是否应为 '{close}'？", f"did you mean '{close}'? ") if close else t("", "")
    return UsageError(
        t(f"{KIND_NAMES[kind].zh} {value!r} 无效", f"invalid value {value!r}"),
        _flag(param),
        hint + t(f"可选：{ids_with_names(kind, 'zh')}", f"one of {ids_with_names(kind, 'en')}"),
    )


def _named(kind: str) -> Callable[[click.Context, click.Parameter, str | None], str | None]:
    """A callback taking a value by id or name (``referral``, ``异地转诊``); a usage error with the nearest one."""

    def check(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        from medins.vocab import choice, known

        if value is None:
            return None
        if not known(kind, value):
            raise _refuse_choice(kind, value, param)
        return choice(kind, value)

    return check


def _named_list(
    kind: str, strict: bool = True
) -> Callable[[click.Context, click.Parameter, str | None], list[str] | None]:
    """A callback taking a comma-separated list of ids or names (unless ``strict``, other values are
    left for the rules to judge: an insured place's own material names)."""

    def check(_ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
        from medins.vocab import choice, known

        if value is None:
            return None
        found = []
        for part in (p.strip() for p in re.split(r"[,，、;；]", value)):
            if strict and part and not known(kind, part):
                raise _refuse_choice(kind, part, param)
            if part:
                found.append(choice(kind, part))
        return found

    return check


def _named_loosely(kind: str) -> Callable[[click.Context, click.Parameter, str | None], str | None]:
    """A callback taking an id or name of ``kind``; any other value is left for the rules to judge
    (a region's own diseases and resident groups)."""

    def check(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
        from medins.vocab import choice

        return None if value is None else choice(kind, value)

    return check


_named_disease = _named_loosely("disease")


PLACE_OF_FLAG = {"--insured": t("参保地", "insured place"), "--treated-in": t("就医地", "treatment place")}


def _region(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A region flag by code or name; a district or county code becomes its pooling region, with a notice."""
    if value is None:
        return None
    from medins.vocab import RegionProblem, region

    flag = _flag(param)
    what = PLACE_OF_FLAG.get(flag, t("地区", "region")) + t(f" {flag}", f" {flag}")
    try:
        code, notice = region(value, what)
    except RegionProblem as exc:
        raise UsageError(exc.text, flag, exc.fix) from None
    if notice is not None:
        ctx.find_root().meta.setdefault("medins.notices", []).append(notice)
    return code


def _notices(ctx: click.Context, notices: list[Text] | None = None) -> None:
    """Say on stderr what medins assumed or mapped (a district code to its city, a default date)."""
    lang = ctx.find_root().meta.get("medins.lang") or current_lang()
    for notice in [*ctx.find_root().meta.pop("medins.notices", []), *(notices or [])]:
        click.echo(("提示：" if lang == "zh" else "note: ") + notice(lang), err=True)


def rules_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--rules",
        "rules_dir",
        type=click.Path(path_type=Path),
        default=None,
        envvar="MEDINS_RULES",
        show_envvar=True,
        help="Rules directory (one folder per region code). Default: the shipped rules.",
    )(f)


def formats(*choices: str, help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--format`` with these choices (``table`` the default), as ``fmt``."""
    return click.option(
        "--format", "fmt", type=click.Choice(list(choices)), default="table", show_default=True, help=help
    )


def format_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return formats("table", "json", help="table for people, json for scripts.")(f)


def lang_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--lang",
        type=click.Choice(["zh", "en"]),
        default=None,
        callback=_set_lang,
        is_eager=True,
        expose_value=True,
        help="Language of labels and messages (default: MEDINS_LANG or the locale, else zh).",
    )(f)


def as_of_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--as-of",
        "as_of",
        callback=_parse_date,
        default=None,
        metavar="DATE",
        help="Choose rule values in force on this date (YYYY-MM-DD) instead of the service date.",
    )(f)


def common(*decorators: Callable[..., Any]) -> Callable[..., Any]:
    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        for d in reversed(decorators):
            f = d(f)
        return functools.wraps(f)(f)

    return wrap


@contextmanager
def about_case(path: Path | None) -> Iterator[None]:
    """Name the case file (or, for a quick estimate, the flag) in errors raised after the case was read."""
    try:
        yield
    except CaseError as exc:
        if path is None:
            from medins.quick import FLAG_OF_KEY, flag_error

            exc.where = FLAG_OF_KEY.get(exc.where, exc.where)
            fixed = flag_error(exc)
            exc.text, exc.fix = fixed.text, fixed.fix
        elif not exc.where.startswith(str(path)):
            exc.where = f"{path}: {exc.where}" if exc.where else str(path)
        raise


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@click.group(cls=MedinsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="medins", help="Show the version and exit.")
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default=None,
    callback=_set_lang,
    is_eager=True,
    expose_value=False,
    help="Language of labels, messages and help (default: MEDINS_LANG or the locale, else zh).",
)
def cli() -> None:
    """Estimate what China's medical insurance pays for treatment in another province.

    \b
    Examples:
      medins rules list
      medins estimate examples/shijiazhuang-resident-beijing.toml --explain
      medins check examples/hegang-long-term-resident.toml --lang en
      medins filing requirements --insured 130100 --category referral
      medins batch bills.csv --items items.csv -o settled.csv
    """


# ----------------------------------------------------------------------------- rules


@cli.group()
def rules() -> None:
    """List, show, validate and convert rule files."""


@rules.command("list")
@common(rules_option, lang_option)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "markdown"]),
    default="table",
    show_default=True,
    help="table for people, json for scripts, markdown for documentation.",
)
def rules_list(rules_dir: Path | None, fmt: str, lang: Lang) -> None:
    """List the regions with rule packs: code, name, schemes, effective periods, confidence.

    \b
    Example:
      medins rules list --format json
    """
    from medins.api import load_rules
    from medins.report import pack_summary, pack_table

    rows = [pack_summary(p) for p in load_rules(rules_dir).packs.values()]
    if fmt == "json":
        echo_json(rows)
    else:
        click.echo(pack_table(rows, lang, "github" if fmt == "markdown" else "simple"))


@rules.command("show")
@click.argument("code")
@common(rules_option, format_option, lang_option, as_of_option)
def rules_show(code: str, rules_dir: Path | None, fmt: str, lang: Lang, as_of: date | None) -> None:
    """Show the standards and catalogue settings of region CODE in force on a date (default today).

    CODE is a region code or name (130100, 石家庄市); a district or county stands for its pooling region.

    \b
    Example:
      medins rules show 130100 --as-of 2025-06-01
      medins rules show 石家庄市
    """
    from medins.api import load_rules
    from medins.report import show_pack
    from medins.vocab import RegionProblem, region

    try:
        code, notice = region(code, t("地区 CODE", "region CODE"))
    except RegionProblem as exc:
        raise UsageError(exc.text, "CODE", exc.fix) from None
    _notices(click.get_current_context(), [notice] if notice else [])
    data, text = show_pack(load_rules(rules_dir), code, as_of or date.today(), lang)
    if fmt == "json":
        echo_json(data)
    else:
        click.echo(text)


@rules.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@common(rules_option, format_option, lang_option)
def rules_validate(paths: tuple[Path, ...], rules_dir: Path | None, fmt: str, lang: Lang) -> None:
    """Check rule files: schema, then bands, dates, caps, sources and the unusual; settle worked examples.

    With no PATH, checks the rules directory. Lists each value whose source is marked to_confirm, and
    settles each pack's examples.toml (a wrong amount is an error). Exit 0 when there is no error
    (warnings and values to confirm allowed), 1 otherwise.

    \b
    Example:
      medins rules validate rules/130100
      medins rules validate --format json
    """
    from medins.loader import resolve_rules_dir
    from medins.validate import rule_files, validate_file

    root = resolve_rules_dir(rules_dir)
    files = rule_files(list(paths) or [root])
    errors = warnings = explained = unconfirmed = 0
    found = []
    seen = set()  # a problem of a province pack's section is found again through each city extending it
    for f in files:
        for problem in validate_file(f, root if not paths else f.parent.parent):
            if (problem.level, problem.code, problem.file, problem.path, problem.text.en) in seen:
                continue
            seen.add((problem.level, problem.code, problem.file, problem.path, problem.text.en))
            if fmt == "json":
                found.append(
                    {
                        "level": problem.level,
                        "code": problem.code,
                        "file": problem.file,
                        "path": problem.path,
                        "message": problem.text(lang),
                        "explained": problem.explained,
                    }
                )
            else:
                click.echo(problem.render(lang), err=problem.level == "error")
            if problem.level == "error":
                errors += 1
            elif problem.level == "to_confirm":
                unconfirmed += 1
            elif problem.explained:
                explained += 1
            else:
                warnings += 1
    if fmt == "json":
        counts = {"files": len(files), "errors": errors, "warnings": warnings, "explained_warnings": explained}
        echo_json({**counts, "to_confirm": unconfirmed, "problems": found})
    else:
        click.echo(
            (
                f"{len(files)} 个文件，{errors} 个错误，{warnings} 个未说明的警告，{explained} 个已说明的警告"
                + (f"，{unconfirmed} 项待核实" if unconfirmed else "")
            )
            if lang == "zh"
            else f"{len(files)} files, {errors} errors, {warnings} unexplained warnings, {explained} explained warnings"
            + (f", {unconfirmed} to confirm" if unconfirmed else "")
        )
    sys.exit(EXIT_ERROR if errors else EXIT_OK)


@rules.command("sources")
@click.argument("codes", nargs=-1, metavar="[CODE]...")
@common(rules_option, lang_option)
@formats("table", "json", "csv", help="table for people, json for scripts (numbers as numbers), csv for spreadsheets.")
@click.option(
    "--as-of",
    "as_of",
    callback=_parse_date,
    default=None,
    metavar="DATE",
    help="Flag sources verified more than 12 months before this date (default today).",
)
def rules_sources(codes: tuple[str, ...], rules_dir: Path | None, fmt: str, lang: Lang, as_of: date | None) -> None:
    """List every value of the rule packs (default: all) with its section's dates, sources and confidence.

    Flags sources without an address, primary sources without a quote and sources verified more than
    12 months ago; ends with the number of values of each confidence. Exit 0.

    \b
    Example:
      medins rules sources 130100
      medins rules sources --format json > sources.json
    """
    from medins.api import load_rules
    from medins.report import sources_table
    from medins.sources import row_record, rule_set_values, summary

    rules_set = load_rules(rules_dir)
    chosen = [_pack_code(c, rules_set, "CODE") for c in codes]
    rows = list(rule_set_values(rules_set, list(dict.fromkeys(chosen)) or None))
    today = as_of or date.today()
    if fmt == "table":
        click.echo(sources_table(rows, today, lang))
        return
    records = [row_record(r, today) for r in rows]
    if fmt == "json":
        from medins.whatif import json_text

        click.echo(json_text({"as_of": today.isoformat(), **summary(records), "rows": records}))
        return
    _sources_csv(records)


def _sources_csv(records: list[dict[str, Any]]) -> None:
    """One line per value; a value's several sources joined by `` | `` in each source column."""
    import csv
    import io

    from medins.sources import written

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    cols = ["document", "title", "url", "verified", "confidence"]
    w.writerow(
        ["region", "name", "file", "path", "value", "effective", "until", "confidence", "sources"]
        + [f"source_{c}" for c in cols]
        + ["flags", "from"]
    )
    for r in records:
        src = r["sources"]
        w.writerow(
            [r["region"], r["name"], r["file"], r["path"], written(r["value"]), r["effective"] or "", r["until"] or ""]
            + [r["confidence"], " | ".join(s["id"] for s in src)]
            + [" | ".join(s[c] or "" for s in src) for c in cols]
            + [" ".join(r["flags"]), r["from"]]
        )
    click.echo(out.getvalue(), nl=False)


def _pack_code(value: str, rules_set: Any, arg: str) -> str:
    """A region code or name of a pack in the rules; a usage error naming ``arg`` and the packs there."""
    from medins.vocab import RegionProblem, region

    try:
        code, notice = region(value, t(f"地区 {arg}", f"region {arg}"))
    except RegionProblem as exc:
        raise UsageError(exc.text, arg, exc.fix) from None
    _notices(click.get_current_context(), [notice] if notice else [])
    if code not in rules_set.packs:
        available = ", ".join(f"{c} {p.name}" for c, p in sorted(rules_set.packs.items()))
        raise UsageError(
            t(f"规则目录中没有地区 {code} 的规则包", f"no rule pack for region {code} in the rules directory"),
            arg,
            t(f"可用：{available}", f"available: {available}"),
        )
    return code


def _diff_side(value: str, arg: str, rules_dir: Path | None) -> tuple[Any, str | None, date | None]:
    """A side of ``rules diff``: a rules directory, or CODE@DATE (a pack of --rules on a date)."""
    from medins.api import load_rules
    from medins.loader import resolve_rules_dir

    if "@" in value:
        code, _, day_text = value.rpartition("@")
        from medins.vocab import DATE_FORMS, parse_date

        day = parse_date(day_text.strip())
        if day is None:
            raise UsageError(t(f"{day_text!r} 不是日期", f"{day_text!r} is not a date"), arg, DATE_FORMS)
        rules_set = load_rules(resolve_rules_dir(rules_dir))
        return rules_set, _pack_code(code.strip(), rules_set, arg), day
    if not Path(value).is_dir():
        raise UsageError(
            t(f"{value!r} 不是规则目录", f"{value!r} is not a rules directory"),
            arg,
            t(
                "应为规则目录，或 地区代码@日期（如 130100@2025-06-01）",
                "give a rules directory or CODE@DATE (e.g. 130100@2025-06-01)",
            ),
        )
    return load_rules(resolve_rules_dir(value)), None, None


@rules.command("diff")
@click.argument("a")
@click.argument("b")
@common(rules_option, format_option, lang_option)
def rules_diff(a: str, b: str, rules_dir: Path | None, fmt: str, lang: Lang) -> None:
    """Show the values that differ between two rules directories, or one pack on two dates (CODE@DATE).

    Each value added, removed or changed, by key path, old -> new, with the sources of each side. With
    CODE@DATE, the sections in force on each date are compared (key paths then leave out the section's
    place in its list). Exit 0 whether or not anything differs: the output says which.

    \b
    Example:
      medins rules diff 130100@2024-06-01 130100@2025-06-01
      medins rules diff rules/ my-rules/ --format json
    """
    from medins.report import diff_table
    from medins.sources import diff_record, diff_values, rule_set_values

    set_a, code_a, day_a = _diff_side(a, "A", rules_dir)
    set_b, code_b, day_b = _diff_side(b, "B", rules_dir)
    if (day_a is None) != (day_b is None):
        raise UsageError(
            t("A 和 B 须同为规则目录，或同为 地区代码@日期", "A and B must both be directories or both CODE@DATE"),
            "A B",
            t("如 130100@2024-06-01 130100@2025-06-01", "e.g. 130100@2024-06-01 130100@2025-06-01"),
        )
    if code_a != code_b:
        raise UsageError(
            t(f"A 和 B 须为同一地区（{code_a}、{code_b}）", f"A and B must be the same region ({code_a}, {code_b})"),
            "A B",
            t(f"如 {code_a}@2024-06-01 {code_a}@2025-06-01", f"e.g. {code_a}@2024-06-01 {code_a}@2025-06-01"),
        )
    codes = [code_a] if code_a else None
    if code_a:
        from medins.sources import not_in_force

        for rules_set, day in ((set_a, day_a), (set_b, day_b)):
            empty = not_in_force(rules_set.packs[code_a], day)
            if empty:
                names = ", ".join(empty)
                _notices(
                    click.get_current_context(),
                    [
                        t(
                            f"{code_a} 在 {day} 没有生效的段：{names}",
                            f"{code_a} has no section in force on {day}: {names}",
                        )
                    ],
                )
    old = list(rule_set_values(set_a, codes, day_a))
    new = list(rule_set_values(set_b, codes, day_b))
    changes = diff_values(old, new, dateless=day_a is not None)
    if fmt == "json":
        from collections import Counter

        from medins.whatif import json_text

        n = Counter(c["change"] for c in changes)
        today = date.today()
        records = [diff_record(c, today) for c in changes]
        counts = {k: n.get(k, 0) for k in ("added", "removed", "changed")}
        click.echo(json_text({"a": a, "b": b, "differs": bool(changes), **counts, "changes": records}))
    else:
        click.echo(diff_table(changes, (a, b), lang))


@rules.command("new")
@click.argument("code")
@click.option("--from", "from_code", metavar="CODE", default=None, help="Copy the values of this region's pack.")
@click.option(
    "--dir",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Rules directory to write the pack into (as DIR/CODE/).",
)
@click.option(
    "--files",
    "which",
    type=click.Choice(["both", "standards", "catalogue"]),
    default=None,
    help="standards: insured-place standards (with examples.toml); catalogue: treatment-place settings. "
    "Default: both, or with --from the files that pack has.",
)
@common(rules_option, lang_option)
def rules_new(
    code: str, from_code: str | None, out_dir: Path, which: str | None, rules_dir: Path | None, lang: Lang
) -> None:
    """Write a new rule pack for region CODE to fill in: every section present, every value to confirm.

    The values are placeholders, or with --from those of an existing pack of the rules directory; every
    section cites the source to-confirm, so that medins rules validate lists each value still to confirm.
    Refuses to overwrite a pack's files. Exit 0 when written.

    \b
    Example:
      medins rules new 320100
      medins rules new 320100 --from 130100 --dir my-rules
    """
    from medins.scaffold import new_pack, pack_files, write_pack

    code, name = _new_region(code, "CODE")
    src = None
    if from_code is not None:
        from medins.api import load_rules

        rules_set = load_rules(rules_dir)
        src = rules_set.packs[_pack_code(from_code, rules_set, "--from")]
    folder = out_dir / code
    kinds = pack_files(folder, which, src)
    origin = (src.code, src.name) if src is not None else None
    models = {k: getattr(src, k) for k in kinds} if src is not None else None
    drug_list = src.catalogue.drug_list if src is not None and src.catalogue is not None else "nrdl-2024"
    files = new_pack(code, name, kinds, lang, date.today(), origin, models, drug_list)  # type: ignore[arg-type]
    written = write_pack(folder, files)
    if "catalogue" in kinds:
        copied = _drug_list_beside(out_dir, drug_list, rules_dir)
        written += [copied] if copied is not None else []
    for path in written:
        click.echo(str(path))
    click.echo(
        f"下一步：按本地区政策原文核实各数值，运行 medins rules validate {folder} 查看待核实的项"
        if lang == "zh"
        else f"next: confirm each value from the region's policy texts; medins rules validate {folder} lists "
        "what is still to confirm",
        err=True,
    )


def _new_region(value: str, arg: str) -> tuple[str, str]:
    """A region code for a new pack: 6 digits, a code in use; its name."""
    from medins import regions
    from medins.loader import is_region_code

    if not is_region_code(value):
        raise UsageError(
            t(f"{value!r} 不是6位地区代码", f"{value!r} is not a 6-digit region code"),
            arg,
            t("例如 320100 南京市", "e.g. 320100 Nanjing"),
        )
    try:
        region = regions.require(value, arg, UsageError)
    except MedinsError as exc:
        raise UsageError(exc.text, arg, exc.fix) from None
    return region.code, region.name


def _drug_list_beside(out_dir: Path, edition: str, rules_dir: Path | None) -> Path | None:
    """Copy the drug list a new catalogue names into DIR/drug-lists/ when it is not there yet."""
    import shutil

    from medins.loader import DRUG_LIST_DIR, resolve_rules_dir

    target = out_dir / DRUG_LIST_DIR / f"{edition}.json"
    if target.exists():
        return None
    for root in (resolve_rules_dir(rules_dir), resolve_rules_dir(None)):
        found = root / DRUG_LIST_DIR / f"{edition}.json"
        if found.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(found, target)
            return target
    return None


@rules.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@common(rules_option, format_option, lang_option)
def rules_test(paths: tuple[Path, ...], rules_dir: Path | None, fmt: str, lang: Lang) -> None:
    """Settle the worked examples of rule packs (examples.toml) and compare every amount.

    PATH is a rules directory, a region folder or an examples.toml; with none, every pack of the rules
    directory. Each example is reported pass or fail; a failure names the example and each amount as
    expected and as settled. Exit 0 when all pass, 1 otherwise.

    \b
    Example:
      medins rules test
      medins rules test rules/130100 --format json
    """
    from medins.loader import resolve_rules_dir
    from medins.worked import example_files, settle_file

    root = resolve_rules_dir(rules_dir)
    for p in paths:
        if not p.exists():
            raise UsageError(
                t("路径不存在", "no such file or folder"),
                str(p),
                t(
                    "请给出规则目录、地区文件夹或 examples.toml",
                    "give a rules directory, a region folder or examples.toml",
                ),
            )
    outcomes = []
    files = list(example_files(list(paths), root))
    if not files:
        _notices(
            click.get_current_context(),
            [t("没有找到 examples.toml：没有可结算的例子", "no examples.toml found: no example to settle")],
        )
    for f in files:
        loaded, found = settle_file(f, None if paths else root)
        for code, key, text in loaded.problems:
            raise RuleError(text + t(f" [{code}]", f" [{code}]"), f"{f}: {key}")
        outcomes += found
    passed = sum(o.passed for o in outcomes)
    if fmt == "json":
        echo_json(
            {
                "examples": len(outcomes),
                "passed": passed,
                "failed": len(outcomes) - passed,
                "results": [
                    {
                        "region": o.region,
                        "file": o.file,
                        "index": o.index,
                        "name": o.name,
                        "passed": o.passed,
                        "mismatches": [
                            {"key": m.key, "expected": str(m.expected), "settled": str(m.got)} for m in o.mismatches
                        ],
                        "error": o.error(lang) if o.error else None,
                    }
                    for o in outcomes
                ],
            }
        )
    else:
        from medins.report import example_lines

        click.echo(example_lines(outcomes, lang))
    sys.exit(EXIT_ERROR if passed < len(outcomes) else EXIT_OK)


@rules.command("schema")
@click.option(
    "--kind",
    type=click.Choice(["rules", "catalogue", "standards", "examples", "case"]),
    default="rules",
    show_default=True,
    help="rules: any rule file (catalogue, standards or examples); or one kind, or the case file.",
)
def rules_schema(kind: str) -> None:
    """Print the JSON Schema of rule files (or of case files), for editors and checks.

    \b
    Example:
      medins rules schema > medins-rules.schema.json
    """
    from medins.report import json_schema

    echo_json(json_schema(kind))


@rules.command("import-nrdl")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--edition", default="nrdl-2024", show_default=True, help="Edition id the catalogues refer to.")
@common(format_option, lang_option)
def rules_import_nrdl(src: Path, out: Path, edition: str, fmt: str, lang: Lang) -> None:
    """Convert the national drug list JSON (as the national service returns it) into a drug-list file.

    \b
    Example:
      medins rules import-nrdl nrdl-2024.json rules/drug-lists/nrdl-2024.json
    """
    from medins.convert import convert_nrdl_file

    count = convert_nrdl_file(src, out, edition)
    _converted(fmt, count, out, t(f"{count} 种药品 → {out}", f"{count} drugs -> {out}"))


@rules.command("import-areacodes")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@common(format_option, lang_option)
def rules_import_areacodes(src: Path, out: Path, fmt: str, lang: Lang) -> None:
    """Convert the administrative division codes CSV into the region table medins checks codes against.

    \b
    Example:
      medins rules import-areacodes areacodes.csv medins/data/regions.csv
    """
    from medins.convert import convert_areacodes_file

    count = convert_areacodes_file(src, out)
    _converted(fmt, count, out, t(f"{count} 个地区代码 → {out}", f"{count} region codes -> {out}"))


def _converted(fmt: str, count: int, out: Path, text: Text) -> None:
    """What an import wrote: one line for people, or JSON for scripts."""
    if fmt == "json":
        echo_json({"count": count, "out": str(out)})
    else:
        click.echo(text(current_lang()))


# ----------------------------------------------------------------------------- estimate and check


def _level(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """--level as 1, 2 or 3; a usage error quoting anything else."""
    if value is None:
        return None
    if value.strip() not in ("1", "2", "3"):
        raise UsageError(
            t(f"医院等级 {value!r} 无效", f"invalid hospital level {value!r}"),
            _flag(param),
            t("医院等级为 1、2 或 3", "hospital levels are 1, 2 or 3"),
        )
    return int(value)


def _level_named(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """--level as 1, 2 or 3 (三级, 三甲 too)."""
    from medins.vocab import norm_level

    return _level(ctx, param, None if value is None else norm_level(value))


def _date_help(en: str) -> dict[str, Any]:
    return {"callback": _parse_date, "metavar": "DATE", "help": en}


def _yuan(en: str, default: str | None = None) -> dict[str, Any]:
    return {"metavar": "YUAN", "help": en, **({"default": default} if default is not None else {})}


VISIT_FLAGS: list[tuple[str, str, dict[str, Any]]] = [
    ("--insured", "insured", {"callback": _region, "help": "Insured place: region code or name (130100, 石家庄市)."}),
    (
        "--treated-in",
        "treated_in",
        {"callback": _region, "help": "Treatment place: region code or name (110000, 北京市)."},
    ),
    (
        "--scheme",
        "scheme",
        {
            "callback": _named("scheme"),
            "metavar": "[employee|resident]",
            "help": "Scheme: employee (职工) or resident (居民).",
        },
    ),
    (
        "--type",
        "visit_type",
        {
            "callback": _named("visit_type"),
            "default": None,
            "metavar": "[" + "|".join(VISIT_TYPES) + "]",
            "help": "Visit type (default inpatient), by id or Chinese name (住院, 门诊, 门诊慢特病).",
        },
    ),
    ("--level", "level", {"callback": _level_named, "metavar": "1|2|3", "help": "Hospital level 1-3."}),
    ("--hospital", "hospital", {"help": "Designated institution code (H + 11 digits), looked up in the catalogue."}),
    (
        "--date",
        "visit_date",
        _date_help("Service date (admission or visit): 2025-03-10, 2025/3/10 or 20250310. Default: today."),
    ),
    ("--discharged", "discharged", _date_help("Discharge date (inpatient); written as --date.")),
    (
        "--category",
        "category",
        {
            "callback": _named("category"),
            "metavar": "CATEGORY",
            "help": "Filing category (omit for no filing), by id or Chinese name: " + ", ".join(CATEGORIES) + ".",
        },
    ),
    ("--filed-from", "filed_from", _date_help("Filing start date; default the service date.")),
]

ESTIMATE_FLAGS: list[tuple[str, str, dict[str, Any]]] = [
    *VISIT_FLAGS[:3],
    (
        "--status",
        "status",
        {
            "callback": _named_loosely("status"),
            "help": "in_service / retired (在职 / 退休) for employees, or the region's resident group (id or label).",
        },
    ),
    *VISIT_FLAGS[3:],
    ("--total", "total", _yuan("Bill total (yuan).")),
    ("--self-paid", "self_paid", _yuan("Fully self-paid part.", "0")),
    ("--class-b", "class_b", _yuan("Amount of class-B items.", "0")),
    ("--over-ceiling", "over_ceiling", _yuan("Part above price ceilings.", "0")),
    (
        "--pre-self-pay",
        "pre_self_pay",
        _yuan("Class-B pre-self-pay when known exactly (else estimated with the drug ratio)."),
    ),
    (
        "--assistance",
        "assistance",
        {
            "callback": _named("assistance"),
            "metavar": "CATEGORY",
            "help": "Medical-assistance category, by id or Chinese name: " + ", ".join(ASSISTANCE_CATEGORIES) + ".",
        },
    ),
    (
        "--disease",
        "disease",
        {"callback": _named_disease, "help": "Chronic disease (for chronic_outpatient), by id or name."},
    ),
    (
        "--admissions",
        "admissions",
        {"type": click.IntRange(0, 366), "help": "Admissions earlier this year (chooses the deductible)."},
    ),
    ("--ytd-in-scope", "ytd_in_scope", _yuan("In-scope expenses earlier this year, of this visit type.")),
    ("--ytd-deductible", "ytd_deductible", _yuan("Deductible paid earlier this year, of this visit type.")),
    ("--ytd-fund", "ytd_fund", _yuan("Basic fund paid earlier this year, of this visit type.")),
    ("--ytd-tier2-base", "ytd_tier2_base", _yuan("Tier-2 base accumulated earlier this year.")),
    ("--ytd-tier2-fund", "ytd_tier2_fund", _yuan("Tier 2 paid earlier this year.")),
]


def flags(f: Callable[..., Any]) -> Callable[..., Any]:
    for flag, name, kw in reversed(ESTIMATE_FLAGS):
        f = click.option(flag, name, **kw)(f)
    return f


@cli.command()
@click.argument("case_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@flags
@click.option("--explain", is_flag=True, help="Show every step with its formula and the source of each rule value.")
@common(rules_option, format_option, lang_option, as_of_option)
def estimate(
    case_file: Path | None,
    explain: bool,
    rules_dir: Path | None,
    fmt: str,
    lang: Lang,
    as_of: date | None,
    **quick: Any,
) -> None:
    """Estimate what each tier pays for one bill, from a case file or from flags.

    Give either a case file (- reads it from standard input) or the flags (--insured, --treated-in,
    --scheme, --level and --total at least), not both: bill flags next to a case file are refused
    (exit 2), never silently ignored. Regions by code or name (130100, 石家庄市; a district or county
    is settled as its pooling region, with a notice); schemes, categories, visit types and diseases
    by id or Chinese name (resident/居民, referral/异地转诊, inpatient/住院, diabetes/糖尿病); dates as
    2025-03-10, 2025/3/10 or 20250310.

    What the flags leave out is assumed, and the first line of the output says so: the date is today
    without --date, the visit inpatient without --type, and a --category filing valid from the
    service date, for the treatment place, with its materials complete.
    Amounts are yuan, at most 2 decimals and at most 10,000,000,000; a comma only between groups of
    three digits (1,234.50). Exit 2 for a wrong command line (missing flags, an unknown choice, a bad
    date), 1 for a case or amounts the rules refuse.

    \b
    Examples:
      medins estimate examples/shijiazhuang-resident-beijing.toml
      medins estimate case.toml --format json --explain
      medins estimate --insured 130100 --treated-in 110000 --scheme resident \\
          --level 3 --type inpatient --total 50000 --class-b 8000 --category referral
    """
    from medins.api import estimate as run
    from medins.api import load_rules
    from medins.quick import case_from_flags
    from medins.render import ASCII_BAR, BAR_GLYPHS, settlement_json, settlement_table

    ctx = click.get_current_context()
    _one_source(case_file, ctx)
    if case_file is not None and _a_year(case_file):
        from medins.cli_whatif import year

        ctx.invoke(year, year_file=case_file, fmt=fmt, rules_dir=rules_dir, lang=lang, as_of=as_of)
        return
    notices: list[Text] = []
    assumptions: list[Text] = []
    case = read_case(case_file, notices) if case_file else case_from_flags(quick, assumptions)
    _notices(ctx, notices)
    with about_case(case_file):
        result = run(case, load_rules(rules_dir), as_of)
    if fmt == "json":
        data = settlement_json(result, lang)
        if case_file is None:
            data["assumptions"] = [a(lang) for a in assumptions]
        echo_json(data)
    else:
        glyphs = BAR_GLYPHS if can_show(BAR_GLYPHS) else ASCII_BAR
        if assumptions:
            click.echo(_assumed(assumptions, lang))
        click.echo(settlement_table(result, lang, explain, glyphs))


def _a_year(case_file: Path) -> bool:
    """Whether a case file holds a year of visits (``[[visits]]``): ``medins year`` settles it."""
    import tomllib

    if str(case_file) == "-" or not case_file.is_file():
        return False
    try:
        return "visits" in tomllib.loads(case_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return False  # reading it as a case says what is wrong


def _assumed(assumptions: list[Text], lang: Lang) -> str:
    """One line listing what a quick estimate or check assumed."""
    sep = "；" if lang == "zh" else "; "
    return ("假设：" if lang == "zh" else "assumed: ") + sep.join(a(lang) for a in assumptions)


def _shipped(case_file: Path, notices: list[Text]) -> Path:
    """``examples/NAME.toml`` that is not here: the example of that name shipped with medins, said so."""
    if case_file.exists() or case_file.parent.name != "examples":
        return case_file
    from medins.templates import example

    found = example(case_file.name)
    if found is None:
        return case_file
    notices.append(
        t(f"{case_file} 不在当前目录：使用随软件附带的示例", f"{case_file} is not here: using the shipped example")
    )
    return found


def read_case(case_file: Path, notices: list[Text]) -> Any:
    """The case in a file, or on stdin when the file is ``-``."""
    from medins.api import load_case

    if str(case_file) != "-":
        return load_case(_shipped(case_file, notices), notices)
    import tempfile

    data = sys.stdin.buffer.read()
    with tempfile.TemporaryDirectory(prefix="medins-") as folder:
        path = Path(folder) / "stdin.toml"
        path.write_bytes(data)
        try:
            return load_case(path, notices)
        except MedinsError as exc:  # name standard input, not the temporary file
            exc.where = exc.where.replace(str(path), "-")
            raise


def _one_source(case_file: Path | None, ctx: click.Context, table: list[tuple[str, str, Any]] | None = None) -> None:
    """A bill comes from a case file or from flags: bill flags beside a case file are a usage error."""
    defaults = (click.core.ParameterSource.DEFAULT, click.core.ParameterSource.DEFAULT_MAP, None)
    table = ESTIMATE_FLAGS if table is None else table
    given = [flag for flag, name, _kw in table if ctx.get_parameter_source(name) not in defaults]
    if case_file is not None and given:
        raise UsageError(
            t(f"有案例文件时不能再给出 {' '.join(given)}", f"{' '.join(given)} cannot be given with a case file"),
            str(case_file),
            t("请在案例文件中修改，或不给案例文件只用选项", "change the case file, or give only the flags"),
        )


CHECK_FLAGS: list[tuple[str, str, dict[str, Any]]] = [
    *VISIT_FLAGS,
    ("--filed-until", "filed_until", _date_help("Filing end date; default the insured place's validity.")),
    (
        "--destination",
        "destination",
        {"callback": _region, "help": "Filing destination (code or name); default --treated-in."},
    ),
    (
        "--materials",
        "materials",
        {
            "callback": _named_list("material", strict=False),
            "metavar": "LIST",
            "help": "Materials on file, comma-separated, by Chinese name or id (omit: complete).",
        },
    ),
    ("--disease", "disease", {"callback": _named_disease, "help": "Chronic disease (for chronic_outpatient)."}),
]


def check_flags(f: Callable[..., Any]) -> Callable[..., Any]:
    for flag, name, kw in reversed(CHECK_FLAGS):
        f = click.option(flag, name, **kw)(f)
    return f


@cli.command()
@click.argument("case_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@check_flags
@common(rules_option, format_option, lang_option, as_of_option)
def check(
    case_file: Path | None, rules_dir: Path | None, fmt: str, lang: Lang, as_of: date | None, **quick: Any
) -> None:
    """Check whether a case's visit qualifies for cross-province direct settlement.

    Give a case file, or the flags a clerk has at the counter (--insured, --treated-in, --category,
    --filed-from, --date, --materials by Chinese name or id), not both.
    Exit code 0 whether or not the person is eligible: ineligibility is an answer, not an error.

    \b
    Examples:
      medins check examples/hegang-long-term-resident.toml --format json
      medins check --insured 130100 --treated-in 北京市 --category 异地转诊 \\
          --filed-from 2025-03-01 --date 2025-03-10 --materials 社保卡,转诊转院证明,跨省异地就医备案表
    """
    from medins.api import check as run
    from medins.api import load_rules
    from medins.quick import check_case_from_flags
    from medins.render import eligibility_json, eligibility_table

    ctx = click.get_current_context()
    _one_source(case_file, ctx, CHECK_FLAGS)
    notices: list[Text] = []
    assumptions: list[Text] = []
    case = read_case(case_file, notices) if case_file else check_case_from_flags(quick, assumptions)
    _notices(ctx, notices)
    with about_case(case_file):
        result = run(case, load_rules(rules_dir), as_of)
    if fmt == "json":
        data = eligibility_json(result, lang)
        if case_file is None:
            data["assumptions"] = [a(lang) for a in assumptions]
        echo_json(data)
    else:
        if assumptions:
            click.echo(_assumed(assumptions, lang))
        click.echo(eligibility_table(result, lang, case.person.insured_region, case.visit.region))


@cli.group()
def filing() -> None:
    """Filing (备案) rules of insured places."""


@filing.command("requirements")
@click.option(
    "--insured", required=True, callback=_region, help="Insured place: region code or name (130100, 石家庄市)."
)
@click.option(
    "--category",
    required=True,
    callback=_named("category"),
    metavar="[" + "|".join(CATEGORIES) + "]",
    help="Filing category, by id or Chinese name (referral, 异地转诊).",
)
@common(rules_option, format_option, lang_option, as_of_option)
def filing_requirements(
    insured: str, category: str, rules_dir: Path | None, fmt: str, lang: Lang, as_of: date | None
) -> None:
    """The checklist a clerk hands out: materials, validity, where to file, the reduction without it.

    \b
    Example:
      medins filing requirements --insured 130100 --category referral
    """
    from medins.api import load_rules
    from medins.report import filing_checklist

    data, text = filing_checklist(load_rules(rules_dir), insured, category, as_of or date.today(), lang)
    if fmt == "json":
        echo_json(data)
    else:
        click.echo(text)


# ----------------------------------------------------------------------------- batch


class MemorySize(click.ParamType):
    """A size in bytes written like 256M, 2G or 1.5G (K, M, G; a plain number is megabytes)."""

    name = "size"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("B")
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 0)
        number = text[:-1] if scale else text
        try:
            amount = float(number) * (scale or 2**20)
        except ValueError:
            self.fail(
                t(f"{value!r} 不是大小，应写成 256M 或 2G", f"{value!r} is not a size such as 256M or 2G")(
                    current_lang()
                ),
                param,
                ctx,
            )
        if amount < 16 * 2**20:
            self.fail(
                t(f"{value!r} 小于 16M，不够结算", f"{value!r} is less than 16M, too little to settle in")(
                    current_lang()
                ),
                param,
                ctx,
            )
        return int(amount)


class Encoding(click.ParamType):
    """``auto`` or any text encoding Python knows (``gbk``, ``GB18030``, ``utf-16``), by its canonical name."""

    name = "encoding"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        text = str(value).strip()
        if text.lower() == "auto":
            return "auto"
        import codecs

        try:
            info = codecs.lookup(text)
        except LookupError:
            self.fail(
                t(
                    f"{text!r} 不是 Python 认识的编码；可用 auto、utf-8、gb18030、gbk 等",
                    f"{text!r} is not an encoding Python knows; use auto, utf-8, gb18030, gbk, …",
                )(current_lang()),
                param,
                ctx,
            )
        if not getattr(info, "_is_text_encoding", True):
            self.fail(t(f"{text!r} 不是文本编码", f"{text!r} is not a text encoding")(current_lang()), param, ctx)
        return {"utf_8": "utf-8", "gb18030": "gb18030"}.get(info.name.replace("-", "_"), info.name)


def _show_columns(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``medins batch --columns``: the accepted columns of the bills and items files, then exit."""
    if not value or ctx.resilient_parsing:
        return
    from medins.batch import BILL_COLUMNS, ITEM_COLUMNS

    zh = current_lang() == "zh"
    files = [
        ("账单文件（BILLS）" if zh else "bills file (BILLS)", BILL_COLUMNS),
        ("明细文件（--items）" if zh else "items file (--items)", ITEM_COLUMNS),
    ]
    for title, table in files:
        click.echo(title)
        width = max(len(name) for name in table)
        for name, aliases in table.items():
            click.echo(f"  {name:<{width}}  {', '.join(aliases)}")
    click.echo(
        "列名不区分大小写，也可用上列中文名或国家平台字段名。"
        if zh
        else "Column names are case-insensitive; the Chinese or national platform names above work too."
    )
    ctx.exit(0)


def _table_path(help_text: str, *decls: str) -> Callable[..., Any]:
    return click.option(*decls, type=click.Path(dir_okay=False, path_type=Path), default=None, help=help_text)


@cli.command()
@click.argument("bills", type=click.Path(path_type=Path))
@click.option(
    "--columns",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_show_columns,
    help="List the columns the bills and items files accept, with their aliases, and exit.",
)
@_table_path("Bill lines, one row per line, referring to bill_id (.csv or .xlsx).", "--items")
@click.option(
    "-o",
    "--out",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settled bills; - writes CSV to standard output (required unless --check).",
)
@_table_path("Rejected rows (default: OUT with .rejects before the extension).", "--rejects")
@_table_path("Counts and sums as JSON (the national report figures).", "--summary")
@_table_path("Fund payments of direct settlements by insured × treatment region × month.", "--clearing")
@_table_path("Year-to-date state written by a previous run's --ytd-out.", "--ytd-in", "ytd_in")
@_table_path("Write each person's year-to-date state after this run.", "--ytd-out", "ytd_out")
@click.option(
    "--encoding",
    type=Encoding(),
    default="auto",
    show_default=True,
    help="CSV encoding; auto: UTF-8 (with or without BOM), else GB18030 (which reads GBK); "
    "or any encoding Python knows (gbk, big5, utf-16).",
)
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option(
    "--memory",
    type=MemorySize(),
    default="256M",
    show_default=True,
    help="Memory for the bills and lines held at once, by all --jobs processes together (e.g. 128M, 2G; "
    "the program itself takes about 150 MB more in each process): a larger input is split into "
    "partitions of persons, kept in temporary files and settled one at a time.",
)
@click.option(
    "--reform",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A reform file (a partial rule file with a name and a note): every bill is also settled under "
    "the reformed rules; OUT gains the reformed amounts and their changes, the summary compares the two.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Check the headers, every row and every bill's values as the run reads them, without settling: "
    "list the rows it would reject (also to --rejects if given; what only the rules refuse is left to "
    "the run); exit 0 when none, 3 when some.",
)
@click.option(
    "--explain",
    "explain",
    metavar="BILL",
    default=None,
    help="Show how one bill is settled, step by step with the source of each value, as estimate --explain "
    "shows a case: BILL is a bill_id or a BILLS row number (the header is row 1). The person's earlier "
    "bills are settled first; nothing is written.",
)
@click.option("--quiet", is_flag=True, help="No progress bar and no summary table on stderr.")
@click.option(
    "--engine",
    type=click.Choice(["local", "spark"]),
    default="local",
    show_default=True,
    help="local: this machine; spark: Apache Spark (pip install 'medins[spark]'), where BILLS and ITEMS may be "
    "CSV or Parquet files or folders, and OUT and REJECTS are folders (Parquet when OUT ends with .parquet).",
)
@click.option(
    "--master",
    default=None,
    metavar="URL",
    help="With --engine spark: the cluster (spark://HOST:7077, yarn, local[4]); default: the running "
    "session's (spark-submit), else this machine's cores.",
)
@common(rules_option, format_option, lang_option)
def batch(
    bills: Path,
    items: Path | None,
    out: Path | None,
    rejects: Path | None,
    summary: Path | None,
    clearing: Path | None,
    ytd_in: Path | None,
    ytd_out: Path | None,
    encoding: str,
    jobs: int,
    memory: int,
    reform: Path | None,
    check: bool,
    explain: str | None,
    quiet: bool,
    engine: str,
    master: str | None,
    rules_dir: Path | None,
    fmt: str,
    lang: Lang,
) -> None:
    """Settle every bill of BILLS, each person's bills in service-date order with year-to-date amounts.

    Exit code 0 when every row was accepted, 3 when some were rejected (see the rejects file),
    1 when the run could not proceed (then no output file is written).
    BILLS - reads CSV from standard input; -o - writes the settled CSV to standard output (the
    rejected rows then go to standard error as CSV unless --rejects names a file). --format json
    prints the summary as JSON instead of the table.

    \b
    Examples:
      medins batch bills.csv --items items.csv -o settled.csv --summary summary.json
      medins batch - -o - --quiet < bills.csv > settled.csv
      medins batch --columns
      medins batch march.xlsx -o march-settled.xlsx --clearing clearing.csv --ytd-out ytd.json
      medins batch april.csv -o april-settled.csv --ytd-in ytd.json --ytd-out ytd.json --jobs 2
      medins batch march.csv -o march-reform.csv --summary summary.json --reform reform.toml
      medins batch march.csv --items items.csv --explain S01000000129
      medins batch bills/ --items items/ -o settled.parquet --engine spark --master spark://head:7077
    """
    import tempfile

    from medins.batch import BatchOptions, run_batch, summary_table

    ctx = click.get_current_context()
    if engine == "spark":
        _spark_batch(ctx, bills, out)
        report = _spark_report(bills, items, out, rejects, summary, clearing, ytd_in, ytd_out, rules_dir, lang, master)
        if fmt == "json":
            click.echo(json.dumps(report.summary, ensure_ascii=False, indent=2, default=str))
        elif not quiet:
            click.echo(summary_table(report.summary, lang), err=True)
        sys.exit(EXIT_REJECTS if report.rejected else EXIT_OK)
    if master is not None:
        raise UsageError(t("--master 只用于 --engine spark", "--master goes with --engine spark"), "--master")
    if bills.is_dir():
        raise UsageError(
            t("是文件夹：本地引擎读取一个文件", "is a folder: the local engine reads one file"),
            str(bills),
            t("请给出文件，或加 --engine spark 读取文件夹", "give a file, or add --engine spark to read a folder"),
        )
    if explain is not None:
        _explain_bill(bills, items, ytd_in, encoding, rules_dir, explain, fmt, lang)
    if check:
        _check_batch(bills, items, rejects, ytd_in, encoding, fmt, lang)
    if out is None:
        raise click.MissingParameter(ctx=ctx, param=next(p for p in ctx.command.params if p.name == "out"))
    with tempfile.TemporaryDirectory(prefix="medins-") as folder:
        temp = Path(folder)
        if str(bills) == "-":
            bills = temp / "stdin.csv"
            bills.write_bytes(sys.stdin.buffer.read())
        to_stdout = str(out) == "-"
        if to_stdout:
            out = temp / "settled.csv"
            rejects = rejects or temp / "settled.rejects.csv"
        paths = (bills, out, items, rejects, summary, clearing, ytd_in, ytd_out)
        opts = BatchOptions(*paths, encoding, jobs, rules_dir, lang, memory=memory, reform=reform)
        label = "结算中" if lang == "zh" else "settling"
        show_bar = not quiet and sys.stderr.isatty()
        try:
            report = run_batch(
                opts, (lambda n: click.progressbar(length=n, label=label, file=sys.stderr)) if show_bar else None
            )
        except MedinsError as exc:  # name standard input and output, not the temporary files
            exc.where = exc.where.replace(str(temp / "stdin.csv"), "-").replace(str(temp / "settled.csv"), "-")
            raise
        if to_stdout:
            sys.stdout.buffer.write(out.read_bytes())
            if report.rejected and rejects.parent == temp and rejects.exists():  # type: ignore[union-attr]
                sys.stderr.buffer.write(rejects.read_bytes())  # type: ignore[union-attr]
        if fmt == "json":
            click.echo(json.dumps(report.summary, ensure_ascii=False, indent=2, default=str), err=to_stdout)
        elif not quiet:
            click.echo(summary_table(report.summary, lang), err=True)
    sys.exit(EXIT_REJECTS if report.rejected else EXIT_OK)


def _explain_bill(
    bills: Path,
    items: Path | None,
    ytd_in: Path | None,
    encoding: str,
    rules_dir: Path | None,
    wanted: str,
    fmt: str,
    lang: Lang,
) -> None:
    """``medins batch --explain BILL``: one bill's settlement with its trail, then exit (0, or 3 when
    the run rejects the bill)."""
    import tempfile

    from medins.batch import REJECT_COLUMNS, BatchOptions, explain_bill
    from medins.render import ASCII_BAR, BAR_GLYPHS, settlement_json, settlement_table

    with tempfile.TemporaryDirectory(prefix="medins-") as folder:
        if str(bills) == "-":
            bills = Path(folder) / "stdin.csv"
            bills.write_bytes(sys.stdin.buffer.read())
        opts = BatchOptions(
            bills,
            Path(folder) / "unused.csv",
            items,
            ytd_in=ytd_in,
            encoding=encoding,
            rules_dir=rules_dir,
            lang=lang,
            engine="records",
        )
        found = explain_bill(opts, wanted)
    zh = lang == "zh"
    if found.settlement is None:
        rows = [dict(zip(REJECT_COLUMNS, (str(r[1]), r[2], r[3], r[4], r[5]), strict=True)) for r in found.rejects]
        if fmt == "json":
            echo_json({"row": found.row, "bill_id": found.bill_id, "rejected": rows})
        else:
            click.echo(
                f"单据 {found.bill_id}（第 {found.row} 行）被拒绝，未结算："
                if zh
                else f"bill {found.bill_id} (row {found.row}) is rejected, not settled:"
            )
            for r in rows:
                click.echo(f"  {r['file']} {r['row']} {r['column']}: {r['reason']}")
        sys.exit(EXIT_REJECTS)
    if fmt == "json":
        data = settlement_json(found.settlement, lang)
        data["bill"] = {"row": found.row, "bill_id": found.bill_id, "earlier_bills": found.earlier}
        echo_json(data)
    else:
        click.echo(
            f"单据 {found.bill_id}（第 {found.row} 行）；同一人此前已结算 {found.earlier} 张单据，其累计额带入本单"
            if zh
            else f"bill {found.bill_id} (row {found.row}); {found.earlier} earlier bills of the person settled "
            "first, their year-to-date amounts carried to it"
        )
        glyphs = BAR_GLYPHS if can_show(BAR_GLYPHS) else ASCII_BAR
        click.echo(settlement_table(found.settlement, lang, True, glyphs))
    sys.exit(EXIT_OK)


def _spark_batch(ctx: click.Context, bills: Path, out: Path | None) -> None:
    """Refuse what ``--engine spark`` does not take: standard input or output, and the options of the local engine."""
    if out is None:
        raise click.MissingParameter(ctx=ctx, param=next(p for p in ctx.command.params if p.name == "out"))
    given = [
        name
        for name in ("check", "explain", "reform", "jobs", "memory", "encoding")
        if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)
    ]
    if str(bills) == "-" or str(out) == "-":
        given.insert(0, "-")
    if given:
        shown = "、".join(f"--{n}" if n != "-" else "-" for n in given)
        raise UsageError(
            t(f"--engine spark 不接受 {shown}", f"--engine spark does not take {shown.replace('、', ', ')}"),
            "--engine",
            t(
                "Spark 读写文件或文件夹（UTF-8 CSV 或 Parquet），并行度由集群决定；这些选项只用于本地引擎",
                "Spark reads and writes files or folders (UTF-8 CSV or Parquet) and the cluster sets the "
                "parallelism; these options are the local engine's",
            ),
        )


def _spark_report(
    bills: Path,
    items: Path | None,
    out: Path,
    rejects: Path | None,
    summary: Path | None,
    clearing: Path | None,
    ytd_in: Path | None,
    ytd_out: Path | None,
    rules_dir: Path | None,
    lang: Lang,
    master: str | None,
) -> Any:
    """``medins batch --engine spark``: settle on Spark (:func:`medins.spark.run`)."""
    from medins.spark import require_pyspark

    require_pyspark()
    from medins import spark

    return spark.run(
        str(bills),
        str(items) if items else None,
        str(out),
        rejects=str(rejects) if rejects else None,
        summary=summary,
        clearing=clearing,
        ytd_in=ytd_in,
        ytd_out=ytd_out,
        rules_dir=rules_dir,
        lang=lang,
        master=master,
    )


def _check_batch(
    bills: Path, items: Path | None, rejects: Path | None, ytd_in: Path | None, encoding: str, fmt: str, lang: Lang
) -> None:
    """``medins batch --check``: the rows a run would reject before settling, then exit (0 or 3)."""
    import tempfile

    from medins.batch import REJECT_COLUMNS, BatchOptions, check_tables
    from medins.tabular import TableWriter

    with tempfile.TemporaryDirectory(prefix="medins-") as folder:
        if str(bills) == "-":
            bills = Path(folder) / "stdin.csv"
            bills.write_bytes(sys.stdin.buffer.read())
        opts = BatchOptions(
            bills, Path(folder) / "unused.csv", items, rejects, ytd_in=ytd_in, encoding=encoding, lang=lang
        )
        report = check_tables(opts)
    rows = [[str(r[1]), r[2], r[3], r[4], r[5]] for r in report.rejects]
    if rejects is not None:
        writer = TableWriter(rejects, rejects, list(REJECT_COLUMNS), ["int", "text", "text", "text", "text"], "rejects")
        for row in rows:
            writer.write(list(row))
        writer.close()
    if fmt == "json":
        echo_json(
            {
                "bills": report.bills_input,
                "item_lines": report.items_input,
                "rejected": [dict(zip(REJECT_COLUMNS, row, strict=True)) for row in rows],
            }
        )
    else:
        zh = lang == "zh"
        click.echo(
            f"单据 {report.bills_input} 张，明细 {report.items_input} 行：{report.rejected} 行会被拒绝（未结算，只检查表头和各行）"
            if zh
            else f"bills {report.bills_input}, item lines {report.items_input}: {report.rejected} rows would be "
            "rejected (nothing settled: headers and rows checked)"
        )
        heads = ("行", "文件", "单据号", "列", "原因") if zh else REJECT_COLUMNS
        for row in rows:
            click.echo("  " + "  ".join(f"{h}={v}" for h, v in zip(heads, row, strict=True) if v))
    sys.exit(EXIT_REJECTS if report.rejected else EXIT_OK)


@cli.command()
@click.argument("setl", type=click.Path(dir_okay=False, path_type=Path))
@_table_path(
    "The platform's fee-detail table (fee_list_d): one row per bill line, by setl_id.", "--fee-list", "fee_list"
)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="One row per settlement record: the platform's amounts, medins' and the differences.",
)
@_table_path("Rejected records and fee lines (default: OUT with .rejects before the extension).", "--rejects")
@_table_path("The report as JSON: counts, sums per field, by place, visit type and hospital.", "--summary")
@click.option(
    "--treated-in",
    "treated_in",
    callback=_region,
    default=None,
    help="The treatment place of every record, when the extract has no mdtrtarea_admvs column "
    "(a hospital's own extract).",
)
@click.option("--encoding", type=Encoding(), default="auto", show_default=True, help="CSV encoding, as for batch.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option("--memory", type=MemorySize(), default="256M", show_default=True, help="As for batch.")
@click.option("--quiet", is_flag=True, help="No report table on stderr.")
@common(rules_option, format_option, lang_option)
def audit(
    setl: Path,
    fee_list: Path | None,
    out: Path,
    rejects: Path | None,
    summary: Path | None,
    treated_in: str | None,
    encoding: str,
    jobs: int,
    memory: int,
    quiet: bool,
    rules_dir: Path | None,
    fmt: str,
    lang: Lang,
) -> None:
    """Settle the national platform's settlement extract (setl_d) again and compare it field by field.

    Each record is settled as medins batch settles a bill (year-to-date amounts carried per person,
    insured place and scheme, in settlement-time order); its tiers are compared with hifp_pay,
    hifmi_pay/hifob_pay and maf_pay, its funds and personal share with fund_pay_sumamt and psn_pay
    (without the funds medins does not model), its line parts with the extract's. A refund is paired
    with the settlement it reverses. Exit code 0 when every record matches to the fen, 4 when some
    differ, 3 when none differ but some rows were rejected, 1 when the audit could not run.

    \b
    Examples:
      medins audit setl_d.csv --fee-list fee_list_d.csv -o diff.csv --summary report.json
      medins audit setl_d.xlsx --treated-in 110000 -o diff.xlsx --format json
    """
    from medins.audit import EXIT_DIFFERS, AuditOptions, run_audit
    from medins.audit_compare import summary_table

    opts = AuditOptions(setl, out, fee_list, rejects, summary, treated_in, encoding, jobs, rules_dir, lang, memory)
    report = run_audit(opts)
    if fmt == "json":
        echo_json(report.summary)
    elif not quiet:
        click.echo(summary_table(report.summary, lang), err=True)
    sys.exit(EXIT_DIFFERS if report.differing else EXIT_REJECTS if report.rejected else EXIT_OK)


# ----------------------------------------------------------------------------- discoverability


@cli.group("case")
def case_group() -> None:
    """Case files: a commented template to start from."""


@case_group.command("new")
@click.option("--example", "example", metavar="NAME", default=None, help="Print the shipped example NAME instead.")
@click.option("--list", "list_examples", is_flag=True, help="List the shipped examples.")
@common(lang_option)
def case_new(example: str | None, list_examples: bool, lang: Lang) -> None:
    """Print a case file to fill in, commented in the language, or one of the shipped examples.

    \b
    Examples:
      medins case new > case.toml
      medins case new --example shijiazhuang-resident-beijing > story.toml
      medins case new --list
    """
    from medins.templates import example as find
    from medins.templates import example_names, template

    if list_examples:
        for name in example_names():
            click.echo(name)
        return
    if example is None:
        click.echo(template(lang), nl=False)
        return
    path = find(example)
    if path is None:
        names = example_names()
        close = difflib.get_close_matches(example, names, n=1, cutoff=0.5)
        hint = t(f"是否应为 '{close[0]}'？", f"did you mean '{close[0]}'? ") if close else t("", "")
        raise UsageError(
            t(f"没有示例 {example!r}", f"no example {example!r}"),
            "--example",
            hint + t(f"可选：{', '.join(names)}", f"one of {', '.join(names)}"),
        )
    click.echo(path.read_text(encoding="utf-8"), nl=False)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish.

    \b
    Examples:
      eval "$(medins completion bash)"          # in ~/.bashrc
      medins completion zsh > ~/.zfunc/_medins
      medins completion fish > ~/.config/fish/completions/medins.fish
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    click.echo(cls(cli, {}, "medins", "_MEDINS_COMPLETE").source())  # type: ignore[misc]


import medins.cli_whatif  # noqa: E402, F401  registers `compare` and `year` on the group


def main() -> None:
    """Entry point of the ``medins`` console script (and ``python -m medins``).

    The process ends without Python's clean-up of every object it still holds: each output is
    closed and in its place by then, and a batch holds hundreds of MB of frames and arrays, whose
    freeing one by one takes a few tenths of a second before the shell gets its prompt back."""
    _console_fallback()
    try:
        cli.main(prog_name="medins")
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    if code is not None and not isinstance(code, int):  # SystemExit("message"): as Python prints it
        print(code, file=sys.stderr)
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe or stream: Python's own exit says so, as always
        raise SystemExit(code) from None
    os._exit(code or 0)
