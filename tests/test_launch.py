"""The command's process holds the garbage collector off while it imports (medins.launch).

A quick command ends with the collector still off; any other gets it back before it runs, with what
the imports made set aside (``gc.freeze``). A process the launcher did not start (this one, a
program using the library) keeps its collector as it was."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

import medins
from medins import launch

PROBE = textwrap.dedent(
    """
    import gc, sys
    import click
    import medins.cli as cli_mod
    from medins import launch

    during = []

    @cli_mod.cli.command("probe-{kind}")
    def probe():
        during.append(gc.isenabled())
        click.echo(f"{{gc.isenabled()}} {{gc.get_freeze_count() > 0}}")

    cli_mod.QUICK.add("probe-quick")
    sys.argv = ["medins", "probe-{kind}"]
    print("before", gc.isenabled(), flush=True)
    launch.main()
    """
)


def _probe(kind: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(kind=kind)], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.split("\n")


def test_a_command_that_may_run_long_collects_with_the_imports_set_aside() -> None:
    before, inside, _ = _probe("long")
    assert before == "before True"
    assert inside == "True True"  # collector on; objects of the imports frozen


def test_a_quick_command_ends_with_the_collector_off() -> None:
    _before, inside, _ = _probe("quick")
    assert inside == "False False"


def test_in_a_process_the_launcher_did_not_start_nothing_changes() -> None:
    frozen = gc.get_freeze_count()
    assert gc.isenabled()
    launch.imports_done()
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


def test_python_dash_m_medins_runs_through_the_launcher() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "medins", "--version"], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip().endswith(medins.__version__)
