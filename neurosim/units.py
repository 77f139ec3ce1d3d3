"""The one internal unit system and the parsing of quantities such as ``"20 ms"``.

Internal units: ms, mV, pA, pF, nS, Hz (and MOhm, which follows: mV / nA).
A bare number in a network file means the internal unit of the field.
Parsing uses pint, a maintained units library, so users may write any unit
pint knows (``"1 s"``, ``"20 kHz"``, ``"0.25 nF"``); the dimension is checked
against what the field needs.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import tempfile

#: Internal unit of each dimension a field can have.
INTERNAL = {
    "time": "ms",
    "voltage": "mV",
    "current": "pA",
    "capacitance": "pF",
    "conductance": "nS",
    "frequency": "Hz",
    "resistance": "Mohm",  # pint's spelling of MOhm
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
UNIT_DIMENSION["MOhm"] = "resistance"

_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


class UnitError(ValueError):
    """A quantity has the wrong dimension or cannot be parsed."""


@functools.lru_cache(maxsize=1)
def _registry():
    import pint

    return pint.UnitRegistry(autoconvert_offset_to_baseunit=False)


class _KnownQuantities:
    """Values pint gave before, kept in the user's cache folder between processes.

    Importing pint and reading its unit definitions takes about half a second, on
    every command, while a network file repeats the same few strings run after run.
    A string pint has parsed is stored with its value in the internal unit
    (``~/.cache/neurosim/quantities-<pint version>.json``; JSON floats read back to
    the same bits), so later processes need not start pint at all.  Only successful
    parses are stored: an error always comes from pint itself.  The file is an
    optimisation: a missing, unreadable or damaged one is ignored, writes are atomic
    (several ranks may write at once), and ``NEUROSIM_UNIT_CACHE=0`` turns it off.
    """

    def __init__(self):
        self.path = None
        self.values = {}
        if os.environ.get("NEUROSIM_UNIT_CACHE", "1") == "0":
            return
        try:
            from importlib.metadata import version

            tag = f"pint{version('pint')}-" + ",".join(f"{k}={v}" for k, v in INTERNAL.items())
        except Exception:
            return
        root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        self.path = os.path.join(root, "neurosim", f"quantities-{_tag_hash(tag)}.json")
        try:
            with open(self.path, encoding="utf-8") as fh:
                data = json.load(fh)
            if data.get("tag") == tag and isinstance(data.get("values"), dict):
                self.values = {
                    k: float(v) for k, v in data["values"].items() if isinstance(v, (int, float))
                }
        except (OSError, ValueError, TypeError):
            pass
        self.tag = tag

    def get(self, text, dimension):
        return self.values.get(f"{dimension}|{text}")

    def add(self, text, dimension, value):
        self.values[f"{dimension}|{text}"] = value
        if self.path is None:
            return
        try:
            folder = os.path.dirname(self.path)
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"tag": self.tag, "values": self.values}, fh)
            os.replace(tmp, self.path)
        except OSError:
            self.path = None  # a folder we cannot write: parse with pint from now on


def _tag_hash(tag):
    import hashlib

    return hashlib.sha256(tag.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def _known():
    return _KnownQuantities()


@functools.lru_cache(maxsize=4096)
def _parse_string(text: str, dimension: str) -> float:
    known = _known()
    value = known.get(text, dimension)
    if value is None:
        value = _parse_with_pint(text, dimension)
        known.add(text, dimension, value)
    return value


def _parse_with_pint(text: str, dimension: str) -> float:
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
