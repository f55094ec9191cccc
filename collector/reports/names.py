"""Dimensions that are another dimension's labels, named for people: Plausible's
``visit:country_name`` and ``visit:region_name`` (ISO 3166 names from pycountry, a maintained
copy of the ISO tables, not a hand-written list) and ``visit:screen`` (Plausible's screen classes,
from the device class spii keeps). Reports group and filter by the stored code; the labels are
named after counting, and a filter on names is a filter on their codes."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

__all__ = ["NAMED", "name_of", "codes_of"]

# named dimension -> the stored dimension it names
NAMED = {"visit:country_name": "visit:country", "visit:region_name": "visit:region", "visit:screen": "visit:device"}
# Plausible's screen sizes, from the device class (a laptop is not told apart from a desktop here)
SCREENS = {"mobile": "Mobile", "tablet": "Tablet", "desktop": "Desktop"}


@lru_cache(maxsize=4096)
def _country(code: str) -> str:
    import pycountry

    found = pycountry.countries.get(alpha_2=code) if len(code) == 2 else None
    return found.name if found is not None else code


@lru_cache(maxsize=4096)
def _region(code: str) -> str:
    import pycountry

    found = pycountry.subdivisions.get(code=code) if "-" in code else None
    return found.name if found is not None else code


_NAMERS: dict[str, Callable[[str], str]] = {"visit:country_name": _country, "visit:region_name": _region,
                                            "visit:screen": lambda device: SCREENS.get(device, device)}


def name_of(dimension: str, code: str) -> str:
    """A stored label of ``NAMED[dimension]`` as its name ('' stays '')."""
    return _NAMERS[dimension](code) if code else code


@lru_cache(maxsize=4)
def _table(dimension: str) -> tuple[tuple[str, str], ...]:
    """Every (code, name) a named dimension can have."""
    import pycountry

    if dimension == "visit:country_name":
        return tuple((c.alpha_2, c.name) for c in pycountry.countries)
    if dimension == "visit:region_name":
        return tuple((s.code, s.name) for s in pycountry.subdivisions)
    return tuple(SCREENS.items())


def codes_of(dimension: str, matches: Callable[[str], bool]) -> list[str]:
    """The stored labels of ``NAMED[dimension]`` whose names ``matches`` accepts (a filter on
    names is a filter on these codes)."""
    return [code for code, name in _table(dimension) if matches(name)]
