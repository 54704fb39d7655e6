"""Shared test setup: messages default to Chinese whatever the machine's locale, rules are the shipped
ones, validated rules are cached in the session's own folder (not the user's); ``generate_month``
writes generated bills as ``benchmarks/generate.py`` does."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

GENERATE = Path(__file__).parent.parent / "benchmarks" / "generate.py"


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The tests' rule sets (many made for one test) are cached in the session's folder, not in the
    cache of the user who runs them."""
    before = os.environ.get("MEDINS_CACHE")
    os.environ["MEDINS_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
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
