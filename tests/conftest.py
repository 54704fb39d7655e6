"""Shared test setup: messages default to Chinese whatever the machine's locale, rules are the shipped
ones, validated rules are cached in the session's own folder (not the user's); ``generate_month``
writes generated bills as ``benchmarks/generate.py`` does."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

GENERATE = Path(__file__).parent.parent / "benchmarks" / "generate.py"


_CACHE: dict[str, str | None] = {}  # the user's MEDINS_CACHE and the session's folder


def pytest_configure(config: pytest.Config) -> None:
    """The tests' rule sets (many made for one test) are cached in the session's own folder, not in
    the cache of the user who runs them; set before any test module is collected (some load the
    rules as they are imported)."""
    _CACHE["before"] = os.environ.get("MEDINS_CACHE")
    _CACHE["folder"] = os.environ["MEDINS_CACHE"] = tempfile.mkdtemp(prefix="medins-test-cache-")


def pytest_unconfigure(config: pytest.Config) -> None:
    folder, before = _CACHE.pop("folder", None), _CACHE.pop("before", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        if before is None:
            os.environ.pop("MEDINS_CACHE", None)
        else:
            os.environ["MEDINS_CACHE"] = before


@pytest.fixture(autouse=True)
def _default_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDINS_LANG", "zh")
    monkeypatch.delenv("MEDINS_RULES", raising=False)


@pytest.fixture(scope="session")
def generate_month() -> Callable[[int, int, int, Path], None]:
    """``generate(bills, items_per_bill, seed, folder)`` of ``benchmarks/generate.py``: bills.csv and
    items.csv in ``folder``."""
    spec = importlib.util.spec_from_file_location("generate", GENERATE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate  # type: ignore[no-any-return]
