"""The one internal unit system and the parsing of quantities such as ``"20 ms"``.

Internal units: ms, mV, pA, pF, nS, Hz (and MOhm, which follows: mV / nA).
A bare number in a network file means the internal unit of the field.
Parsing uses pint, a maintained units library, so users may write any unit
pint knows (``"1 s"``, ``"20 kHz"``, ``"0.25 nF"``); the dimension is checked
against what the field needs.
"""

from __future__ import annotations

import functools
import math
import re

#: Internal unit of each dimension a field can have.
INTERNAL = {
    "time": "ms",
    "voltage": "mV",
    "current": "pA",
    "capacitance": "pF",
    "conductance": "nS",
    "frequency": "Hz",
    "resistance": "MOhm",
    "dimensionless": "",
    "current/time": "pA/ms",
    "conductance/time": "nS/ms",
    "inverse_voltage": "1/mV",
}

#: Human words for error messages.
_WORDS = {
    "time": "a time",
    "voltage": "a voltage",
    "current": "a current",
    "capacitance": "a capacitance",
    "conductance": "a conductance",
    "frequency": "a frequency",
    "resistance": "a resistance",
    "dimensionless": "a number",
    "current/time": "a current per time",
    "conductance/time": "a conductance per time",
    "inverse_voltage": "an inverse voltage (1/mV)",
}

#: Map from internal unit string (as model tables write them) to dimension name.
UNIT_DIMENSION = {v: k for k, v in INTERNAL.items()}
UNIT_DIMENSION["1"] = "dimensionless"

_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


class UnitError(ValueError):
    """A quantity has the wrong dimension or cannot be parsed."""


@functools.lru_cache(maxsize=1)
def _registry():
    import pint

    return pint.UnitRegistry(autoconvert_offset_to_baseunit=False)


@functools.lru_cache(maxsize=4096)
def _parse_string(text: str, dimension: str) -> float:
    ureg = _registry()
    try:
        q = ureg.Quantity(text)
    except Exception as exc:  # pint raises many kinds; all mean "cannot parse"
        raise UnitError(f"cannot read {text!r} as a quantity") from exc
    unit = INTERNAL[dimension]
    if dimension == "dimensionless":
        if not q.dimensionless:
            raise UnitError(f"expected a number, got {text!r}")
        return float(q.to("").magnitude)
    try:
        return float(q.to(unit).magnitude)
    except Exception as exc:
        raise UnitError(f"expected {_WORDS[dimension]}, got {text!r}") from exc


def parse_quantity(value, dimension: str) -> float:
    """Convert a network-file value to a float in the internal unit.

    Parameters
    ----------
    value : str, int or float
        ``"20 ms"``, ``"-0.5 mV"``, ``"20 kHz"`` or a bare number (internal unit).
    dimension : str
        One of the keys of :data:`INTERNAL`.

    Returns
    -------
    float
        The value in the internal unit of ``dimension``.

    Raises
    ------
    UnitError
        When the value is not a number or quantity of that dimension.
    """
    if isinstance(value, bool):
        raise UnitError(f"expected {_WORDS[dimension]}, got {value!r}")
    if isinstance(value, (int, float)):
        out = float(value)
    elif isinstance(value, str):
        if _NUMBER.match(value):
            out = float(value)
        elif value.strip() in ("inf", "-inf", "+inf"):
            out = float(value.strip())
        else:
            out = _parse_string(value.strip(), dimension)
    else:
        raise UnitError(f"expected {_WORDS[dimension]}, got {type(value).__name__} {value!r}")
    if math.isnan(out):
        raise UnitError(f"expected {_WORDS[dimension]}, got NaN")
    return out


def dimension_of_unit(unit: str) -> str:
    """Dimension name of an internal unit string such as ``"mV"``."""
    return UNIT_DIMENSION[unit]


def describe(dimension: str) -> str:
    """Words for a dimension, for error messages (``"a time"``)."""
    return _WORDS[dimension]
