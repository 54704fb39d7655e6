"""Shared test setup: messages default to Chinese whatever the machine's locale, rules are the shipped ones."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _default_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDINS_LANG", "zh")
    monkeypatch.delenv("MEDINS_RULES", raising=False)
