"""medins: what China's medical insurance pays when a patient is treated away from home.

The library answers three questions for a bill settled across provinces:
is the person eligible for direct settlement, what does each protection tier pay,
and what is left for the patient.
"""

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medins.api import check, estimate, load_case, load_rules
    from medins.batch.waves import settle_table

__all__ = ["__version__", "check", "estimate", "load_case", "load_rules", "settle_table"]


def __getattr__(name: str) -> Any:
    """The API on first use: ``medins --help`` and ``medins --version`` need not load the engine."""
    if name in ("check", "estimate", "load_case", "load_rules"):
        from medins import api

        return getattr(api, name)
    if name == "settle_table":
        from medins.batch.waves import settle_table

        return settle_table
    raise AttributeError(f"module 'medins' has no attribute {name!r}")
