"""The tiers over arrays: deductible, ratio bands and cap for a whole wave of bills at once.

Money is int64 fen; a ratio is an integer in parts of ``SCALE`` (10^-8), so a band's payment
``(high - low) × ratio`` is an exact integer in 10^-8 fen and the sum is rounded half-up to the fen
once, as :func:`medins.engine.tiers.pay_through_bands` does with Decimal. Amounts are bounded by
the caller (:data:`LIMIT`) so every product stays inside int64.

A value that reaches the year-to-date amounts keeps its Decimal exponent beside it (``e``: 0 for a
rule value written ``1300``, -2 for one rounded to the fen): the year-to-date file writes Decimals as
they are, ``"1300"`` or ``"1300.00"``, and the arrays must write the same text. ``dmin``/``dmax``
pick operands as Python's ``min``/``max`` do (the first of equals), sums take the smaller exponent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

SCALE = 10**8
"""Ratios are integers in parts of 10^-8."""

LIMIT = 10**10
"""The largest amount in fen (10^8 yuan) the arrays settle; a bill above it settles one at a time."""

OPEN = np.int64(2**62)
"""An open band's upper end."""


def ratio_units(value: Decimal) -> int | None:
    """A ratio as parts of 10^-8, or None when it has more places than that."""
    scaled = value * SCALE
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)


def fen_units(value: Decimal) -> tuple[int, int] | None:
    """A rule amount as (fen, exponent), or None when it has more than two places."""
    scaled = value * 100
    if scaled != scaled.to_integral_value():
        return None
    exp = value.as_tuple().exponent
    return int(scaled), max(-2, min(0, exp if isinstance(exp, int) else 0))


def half_up(num: np.ndarray, den: int) -> np.ndarray:
    """``num / den`` rounded half-up, for ``num >= 0``."""
    return (num + den // 2) // den


def dmin(a: np.ndarray, ea: np.ndarray, b: np.ndarray, eb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Python's ``min(a, b)`` on Decimals: ``a`` when ``a <= b``."""
    take_a = a <= b
    return np.where(take_a, a, b), np.where(take_a, ea, eb)


def dmax(a: np.ndarray, ea: np.ndarray, b: np.ndarray, eb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Python's ``max(a, b)`` on Decimals: ``a`` when ``a >= b``."""
    take_a = a >= b
    return np.where(take_a, a, b), np.where(take_a, ea, eb)


def decimal_text(value: int, exp: int) -> str:
    """The text ``str(Decimal)`` gives a non-negative amount of ``value`` fen held at exponent ``exp``."""
    whole, part = divmod(value, 100)
    if exp >= 0:
        return str(whole)
    if exp == -1:
        return f"{whole}.{part // 10}"
    return f"{whole}.{part:02d}"


def decimal_value(value: int, exp: int) -> Decimal:
    return Decimal(decimal_text(value, exp))


@dataclass
class Bands:
    """Per bill: the bands (n × B arrays of lower end, upper end, ratio) a wave pays through."""

    low: np.ndarray
    high: np.ndarray
    ratio: np.ndarray


@dataclass
class Paid:
    """What :func:`pay` found for each bill."""

    deductible: np.ndarray
    deductible_e: np.ndarray
    paid: np.ndarray
    above_cap: np.ndarray
    above_cap_e: np.ndarray
    capped: np.ndarray  # the fund reached its cap


ZERO_E = -2  # the exponent of Decimal("0.00")


def pay(
    amount: np.ndarray,
    *,
    deductible: np.ndarray,
    deductible_e: np.ndarray,
    used: np.ndarray,
    used_e: np.ndarray,
    bands: Bands,
    band_start: np.ndarray,
    cap: np.ndarray,
    cap_e: np.ndarray,
    has_cap: np.ndarray,
    base_cap: np.ndarray,
    fund_used: np.ndarray,
    base_used: np.ndarray,
    base_used_e: np.ndarray,
) -> Paid:
    """:func:`medins.engine.tiers.pay_through_bands` for arrays of bills (amounts are ``-2`` exponent).

    ``base_cap`` marks bills whose cap is on the cumulative base; otherwise a cap is on the fund's
    payment, and a bill whose fund would pass it is marked ``capped`` (settled one at a time).
    """
    n = len(amount)
    zero = np.zeros(n, dtype=np.int64)
    ze = np.full(n, ZERO_E, dtype=np.int8)
    # remaining = max(ZERO, deductible - used); ded = min(amount, remaining)
    diff = deductible - used
    diff_e = np.minimum(deductible_e, used_e)
    remaining, remaining_e = dmax(zero, ze, diff, diff_e)
    ded, ded_e = dmin(amount, ze, remaining, remaining_e)
    low = band_start + ded
    high = band_start + amount
    above = zero.copy()
    above_e = ze.copy()
    with_base_cap = has_cap & base_cap
    if with_base_cap.any():
        year_low = base_used + ded
        year_high = base_used + amount
        year_high_e = np.minimum(base_used_e, ZERO_E).astype(np.int8)
        year_low_e = np.minimum(base_used_e, ded_e).astype(np.int8)
        top, top_e = dmax(cap, cap_e, year_low, year_low_e)
        beyond = year_high - top
        a, a_e = dmax(zero, ze, beyond, np.minimum(year_high_e, top_e).astype(np.int8))
        above = np.where(with_base_cap, a, 0)
        above_e = np.where(with_base_cap, a_e, ze).astype(np.int8)
        high = high - above
    lo = np.maximum(low[:, None], bands.low)
    hi = np.minimum(high[:, None], bands.high)
    width = np.maximum(hi - lo, 0)
    raw = (width * bands.ratio).sum(axis=1)
    paid = half_up(raw, SCALE)
    room = np.maximum(cap - fund_used, 0)
    capped = has_cap & ~base_cap & (raw > room * SCALE)
    if capped.any():
        rows = np.nonzero(capped)[0]
        paid[rows] = room[rows]
        above[rows] = above_fund_cap(room[rows], width[rows], bands.ratio[rows])
        above_e[rows] = ZERO_E
    return Paid(ded, ded_e.astype(np.int8), paid, above, above_e, capped)


def above_fund_cap(room: np.ndarray, width: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """The expense past the point where the fund reaches its cap, in fen, for bills whose fund would
    pass it (``room``: what the cap leaves; ``width``: each band's part of the bill, in fen).

    ``pay_through_bands`` walks the segments: each pays in full while the room lasts, and in the one
    where it runs out the part covered is ``left / ratio``; the rest of it and every later segment
    are above the cap, rounded half-up to the fen at the end. In units of 10^-8 fen the room left
    before each band is ``room × SCALE`` less the bands before it, an exact integer; the covered
    part is ``left / ratio`` fen, whose rounding is the integer division's, half-down (the expense
    above it is rounded half-up). Decimal's 28 digits round the quotient by far less than the
    1 / (2 × ratio) by which a quotient that is not a half stands off one, so the fen are the same."""
    parts = width * ratio
    left = room[:, None] * SCALE - (np.cumsum(parts, axis=1) - parts)  # before each band
    runs_out = (left > 0) & (parts > left)  # at most one band a bill: after it ``left`` < 0
    r = np.where(runs_out, ratio, 1)
    covered = np.where(runs_out, left, 0) // r
    covered += 2 * (np.where(runs_out, left, 0) - covered * r) > r  # half-down
    above = np.where(left <= 0, width, 0) + np.where(runs_out, width - covered, 0)
    return above.sum(axis=1)


def band_matrix(rows: list[list[tuple[int, int, int]]]) -> Bands:
    """Stack per-bill band lists ``[(low, high, ratio), ...]`` into padded arrays (padding pays nothing)."""
    width = max((len(r) for r in rows), default=1) or 1
    n = len(rows)
    low = np.zeros((n, width), dtype=np.int64)
    high = np.zeros((n, width), dtype=np.int64)
    ratio = np.zeros((n, width), dtype=np.int64)
    for i, r in enumerate(rows):
        for j, (lo, hi, ra) in enumerate(r):
            low[i, j], high[i, j], ratio[i, j] = lo, hi, ra
    return Bands(low, high, ratio)


def band_rows(bands: list) -> list[tuple[int, int, int]] | None:
    """A rule's bands as ``(low, high, ratio)`` in fen and 10^-8, the way ``pay_through_bands`` reads
    them (``from`` defaults to the previous band's ``to``, the first to 0); None if not exact."""
    out = []
    start = 0
    for band in bands:
        ratio = ratio_units(band.ratio)
        if ratio is None:
            return None
        lo = start
        if band.from_ is not None:
            f = fen_units(band.from_)
            if f is None:
                return None
            lo = f[0]
        hi = int(OPEN)
        if band.to is not None:
            h = fen_units(band.to)
            if h is None:
                return None
            hi = h[0]
            start = hi
        out.append((lo, hi, ratio))
    return out
