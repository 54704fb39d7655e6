"""The three protection tiers at the insured place (domain §4.2–4.4).

One mechanism serves all three: a deductible taken from the start of a cumulative amount, ratio
bands written on that cumulative amount, and a cap either on the fund's payment or on the base.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from medins.money import ZERO, fen, pct, show
from medins.rules_model import Adjustment, Band


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of the cumulative amount paid at one ratio."""

    low: Decimal
    high: Decimal
    ratio: Decimal

    @property
    def pay(self) -> Decimal:
        return (self.high - self.low) * self.ratio

    def formula(self) -> str:
        return f"({show(self.high)} − {show(self.low)}) × {pct(self.ratio)} = {show(self.pay)}"


@dataclass(frozen=True, slots=True)
class Banded:
    """The result of paying an amount through deductible, bands and cap."""

    amount: Decimal  # the amount considered this time
    deductible: Decimal  # part of it the person pays as deductible
    segments: tuple[Segment, ...]
    paid: Decimal  # the fund's payment, rounded to the fen
    above_cap: Decimal  # part of the amount beyond the cap
    capped: bool

    @property
    def burden(self) -> Decimal:
        """What the person carries of the amount: deductible, co-payment and the part above the cap."""
        return self.amount - self.paid


def adjust_bands(bands: Sequence[Band], adjustment: Adjustment | None) -> list[Band]:
    """Lower each band's ratio for an off-site adjustment in points or as a multiplier."""
    if adjustment is None or adjustment.mode in ("none", "extra_pre_self_pay"):
        return list(bands)
    out = []
    for b in bands:
        ratio = max(ZERO, b.ratio - adjustment.value) if adjustment.mode == "points" else b.ratio * adjustment.value
        out.append(b.model_copy(update={"ratio": ratio}))
    return out


def pay_through_bands(
    amount: Decimal,
    *,
    deductible: Decimal,
    deductible_used: Decimal,
    bands: Sequence[Band],
    band_start: Decimal,
    cap: Decimal | None,
    cap_mode: str,
    fund_used: Decimal,
    base_used: Decimal,
) -> Banded:
    """Pay ``amount`` through a deductible, ratio bands and a cap.

    ``band_start`` is where this amount starts on the cumulative scale the bands are written on;
    ``deductible_used`` is what was already paid of the deductible; ``fund_used`` and ``base_used``
    are the fund's payment and the cumulative base so far this year (for the cap).
    The first band starts at the deductible, so band boundaries are read on the cumulative amount.
    """
    remaining_deductible = max(ZERO, deductible - deductible_used)
    ded = min(amount, remaining_deductible)
    low, high = band_start + ded, band_start + amount
    above_cap = ZERO
    if cap is not None and cap_mode == "base":
        # the base cap counts the year's cumulative amount; what lies beyond it is the bill's last part
        year_low, year_high = base_used + ded, base_used + amount
        above_cap = max(ZERO, year_high - max(cap, year_low))
        high -= above_cap
    segments: list[Segment] = []
    start = ZERO
    for band in bands:
        b_low = band.from_ if band.from_ is not None else start
        b_high = band.to
        lo = max(low, b_low)
        hi = high if b_high is None else min(high, b_high)
        if hi > lo:
            segments.append(Segment(lo, hi, band.ratio))
        start = b_high if b_high is not None else start
    raw = sum((s.pay for s in segments), ZERO)
    capped = above_cap > 0
    if cap is not None and cap_mode == "fund":
        room = max(ZERO, cap - fund_used)
        if raw > room:
            capped = True
            # find where the fund reaches the cap; the expense past that point is above the cap
            left = room
            kept: list[Segment] = []
            for s in segments:
                if left <= 0:
                    above_cap += s.high - s.low
                elif s.pay <= left:
                    kept.append(s)
                    left -= s.pay
                else:
                    covered = left / s.ratio
                    kept.append(Segment(s.low, s.low + covered, s.ratio))
                    above_cap += s.high - s.low - covered
                    left = ZERO
            segments = kept
            above_cap = fen(above_cap)
            return Banded(amount, ded, tuple(segments), fen(room), above_cap, capped)
    return Banded(amount, ded, tuple(segments), fen(raw), above_cap, capped)
