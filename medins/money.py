"""Money is Decimal yuan, rounded half-up to the fen by one helper. Never a float.

Amount text is read strictly: digits with an optional decimal point, a thousands separator only in
well-formed groups of three (``1,234.50``, ``1,234,567``; the full-width ``，`` counts as a comma),
an optional ``¥``/``￥`` in front or ``元`` behind. ``5000,50``, ``1,23`` and ``12,,3`` are refused:
a comma there may be a decimal comma, and reading it as a separator would multiply the amount.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
RATIO_PLACES = Decimal("0.0001")

MAX_AMOUNT = Decimal("10000000000")
"""The ceiling of any amount in a case (one bill's total, its parts and lines, year-to-date sums):
10^10 yuan. No real bill comes near it (a year of all cross-province inpatient settlements in China
is about 10^11 yuan); beyond it an amount is a typo or a unit mistake, and refused."""

MAX_QUANTITY = Decimal("100000000")
"""The ceiling of a bill line's quantity: 10^8 units."""

_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")
_PLAIN = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def fen(value: Decimal) -> Decimal:
    """Round yuan half-up to the fen (四舍五入到分)."""
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def parse_money(text: str) -> Decimal:
    """Parse a decimal amount from text such as ``1,234.50``, ``¥12`` or ``12元``; raise ValueError if it is not one.

    A comma is a thousands separator only between well-formed groups of three digits; NaN and
    infinities are not amounts.
    """
    cleaned = text.strip().replace("，", ",")
    cleaned = cleaned.removesuffix("元").rstrip()
    if cleaned[:1] in ("¥", "￥"):
        cleaned = cleaned[1:].lstrip()
    if not cleaned:
        raise ValueError(text)
    if "," in cleaned:
        if not _GROUPED.fullmatch(cleaned):
            raise ValueError(text)
        cleaned = cleaned.replace(",", "")
    elif not _PLAIN.fullmatch(cleaned):
        raise ValueError(text)
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:  # pragma: no cover - the patterns admit only decimal text
        raise ValueError(text) from exc
    if not value.is_finite():  # pragma: no cover - the patterns admit no nan or inf
        raise ValueError(text)
    return value


def show(value: Decimal) -> str:
    """Two decimals, no exponent: the form amounts take in output."""
    return f"{fen(value):.2f}"


def pct(ratio: Decimal) -> str:
    """A ratio as a percentage without needless zeros: 0.85 -> '85%', 0.875 -> '87.5%'."""
    text = f"{(ratio * 100).normalize():f}"
    return f"{text}%"
