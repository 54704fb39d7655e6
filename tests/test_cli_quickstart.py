"""Issue 14, items 10 and 11: README's quick start runs as written on a clean copy, with only python3 and
its venv module (as on a fresh Debian or Ubuntu with python3-venv), and README shows no hospital code
that medins cannot look up."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _quick_start() -> tuple[str, str]:
    """The first command of README's quick start and the output README says it prints."""
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.search(r"```sh\n(.*?)```", section, re.S)
    output = re.search(r"```text\n(.*?)```", section, re.S)
    assert commands and output, "README's quick start has a ```sh block and a ```text block"
    return commands.group(1).splitlines()[0], output.group(1)


def _python3() -> str | None:
    """A python3 that can make a virtual environment with pip (venv and ensurepip both present)."""
    python = shutil.which("python3")
    if python is None:
        return None
    probe = subprocess.run([python, "-c", "import venv, ensurepip"], capture_output=True)
    return python if probe.returncode == 0 else None


def test_readme_quick_start_runs_as_written_in_a_clean_directory(tmp_path: Path) -> None:
    python = _python3()
    if python is None:
        pytest.skip("python3 -m venv is not available here (apt install python3-venv)")
    command, expected = _quick_start()
    assert command.startswith("python3 -m venv .venv && ")  # no pip install outside a virtual environment
    checkout = tmp_path / "medins"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".venv")
    for part in ("medins", "rules", "examples"):
        shutil.copytree(ROOT / part, checkout / part, ignore=ignore)
    for part in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / part, checkout / part)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "MEDINS_"))}
    # only the directory of the python3 found and the system's: no other environment's tools
    env["PATH"] = os.pathsep.join(dict.fromkeys([str(Path(python).parent), "/usr/bin", "/bin"]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["MEDINS_LANG"] = "zh"
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # a fresh user's cache, not this one's
    done = subprocess.run(
        ["sh", "-c", command], cwd=checkout, env=env, capture_output=True, text=True, encoding="utf-8", timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.endswith("\n" + expected)  # pip's own lines come first


def test_readme_shows_no_hospital_code_the_shipped_catalogues_lack() -> None:
    from medins.api import load_rules

    listed = load_rules().institutions
    codes = set(re.findall(r"\bH\d{11}\b", README))
    assert not codes - set(listed), f"README shows institution codes no shipped catalogue lists: {codes - set(listed)}"
