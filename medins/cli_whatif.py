"""The what-if commands: ``medins compare`` (one case under several choices) and ``medins year``.

Importing this module registers both on the ``medins`` group. Parse → call :mod:`medins.whatif` →
render; the library is imported inside the commands, so ``medins --help`` stays quick.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import click

from medins.cli import about_case, as_of_option, cli, common, flags, formats, lang_option, rules_option
from medins.errors import MedinsError
from medins.i18n import Lang

_formats = formats(
    "table", "json", "csv", help="table for people, json for scripts (amounts as numbers), csv for spreadsheets."
)


@cli.command()
@click.argument("case_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--vary",
    "vary",
    multiple=True,
    metavar="NAME=V1,V2,…",
    help="A choice to vary, repeatable: category (a filing category or none), level, treated-in, "
    "hospital, scheme, group, as-of. Every combination is settled (at most 200).",
)
@flags
@_formats
@common(rules_option, lang_option, as_of_option)
def compare(
    case_file: Path | None,
    vary: tuple[str, ...],
    fmt: str,
    rules_dir: Path | None,
    lang: Lang,
    as_of: date | None,
    **quick: Any,
) -> None:
    """Compare choices for one bill: file or not and as what, hospital level, treatment place, … .

    Settles the case as given and every combination of the --vary values, one row each: settlement,
    what each tier pays, what the patient pays and its difference from the case as given, and what
    the patient must do for it (the filing and its materials, a claim at home). The cheapest is
    marked. Give a case file or the quick-estimate flags of `medins estimate`, not both.

    \b
    Examples:
      medins compare examples/shijiazhuang-resident-beijing.toml --vary category=none,referral,long_term_resident
      medins compare case.toml --vary level=1,2,3 --vary treated-in=110000,310000 --format csv
      medins compare --insured 130100 --treated-in 110000 --scheme resident --level 3 \\
          --total 50000 --category referral --vary category=none,referral,other_temporary
    """
    from medins import whatif
    from medins.api import load_case, load_rules
    from medins.cli import _one_source

    _one_source(case_file, click.get_current_context())
    variations = whatif.parse_vary(vary)
    case = load_case(case_file) if case_file else _quick_case(quick)
    with about_case(case_file):
        result = whatif.compare(case, variations, load_rules(rules_dir), as_of)
    if fmt == "json":
        click.echo(whatif.json_text(whatif.comparison_json(result, lang)))
    elif fmt == "csv":
        click.echo(whatif.comparison_csv(result, lang), nl=False)
    else:
        click.echo(whatif.comparison_table(result, lang))


def _quick_case(quick: dict[str, Any]) -> Any:
    """The case of the quick-estimate flags; errors name ``medins compare`` rather than ``medins estimate``."""
    from medins.quick import case_from_flags

    try:
        return case_from_flags(quick)
    except MedinsError as exc:
        exc.where = exc.where.replace("medins estimate", "medins compare")
        raise


@cli.command()
@click.argument("year_file", type=click.Path(dir_okay=False, path_type=Path))
@_formats
@common(rules_option, lang_option, as_of_option)
def year(year_file: Path, fmt: str, rules_dir: Path | None, lang: Lang, as_of: date | None) -> None:
    """Settle a person's year: the [[visits]] of YEAR_FILE in service-date order, year to date carried.

    Prints each bill, the year's totals, and where a deductible was met, a band boundary passed or
    an annual cap reached. YEAR_FILE holds [person], an optional [filing] and [ytd] (what was used
    before the first visit), and one [[visits]] per bill: the keys of a case's [visit] with its
    summary = {…} or [[visits.items]], and optionally its own filing and a label.

    \b
    Example:
      medins year my-year.toml --format json
    """
    from medins import whatif
    from medins.api import load_rules

    with about_case(year_file):
        result = whatif.estimate_year(year_file, load_rules(rules_dir), as_of)
    if fmt == "json":
        click.echo(whatif.json_text(whatif.year_json(result, lang)))
    elif fmt == "csv":
        click.echo(whatif.year_csv(result, lang), nl=False)
    else:
        click.echo(whatif.year_table(result, lang))
