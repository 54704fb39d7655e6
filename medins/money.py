"""Money is Decimal yuan, rounded half-up to the fen by one helper. Never a float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
RATIO_PLACES = Decimal("0.0001")


def fen(value: Decimal) -> Decimal:
    """Round yuan half-up to the fen (四舍五入到分)."""
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def parse_money(text: str) -> Decimal:
    """Parse a decimal amount from text such as ``1,234.50`` or ``¥12``; raise ValueError if it is not one."""
    cleaned = text.strip().replace(",", "").replace("，", "").lstrip("¥￥").removesuffix("元")
    if not cleaned:
        raise ValueError("empty")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError(text) from exc
    if not value.is_finite():
        raise ValueError(text)
    return value


def show(value: Decimal) -> str:
    """Two decimals, no exponent: the form amounts take in output."""
    return f"{fen(value):.2f}"


def pct(ratio: Decimal) -> str:
    """A ratio as a percentage without needless zeros: 0.85 -> '85%', 0.875 -> '87.5%'."""
    text = f"{(ratio * 100).normalize():f}"
    return f"{text}%"
