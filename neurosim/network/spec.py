"""Network files (YAML with units) -> a validated :class:`NetworkSpec` in internal units.

The reader never evaluates anything: YAML is read with the safe loader (no tags that
construct Python objects), quantities are parsed by :mod:`neurosim.units`, and every
problem is reported as a :class:`SpecError` naming the file, the field and what was
expected.  The schema is checked by hand rather than by a schema library because the
allowed keys depend on the model a population names, and because the messages must
say "did you mean" for misspelt names.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import re
from dataclasses import dataclass, field

import yaml

from ..models import MODEL_NAMES, get_model
from ..models.devices import DEVICES
from ..plasticity.spec import (
    NEURON_EXTRA_PARAMS,
    SynapseSpec,
    check_weight_files,
    parse_synapse,
    parse_weight_file,
    parse_weight_records,
)
from ..units import UnitError, describe, dimension_of_unit, parse_quantity
from . import scaling
from .timing import delay_steps

MAX_SIZE = 2_000_000_000
MAX_DEPTH = 64

RULES = {
    "all_to_all": {},
    "one_to_one": {},
    "pairwise_bernoulli": {"p": "dimensionless"},
    "fixed_indegree": {"k": "int"},
    "fixed_outdegree": {"k": "int"},
    "fixed_total_number": {"n": "int"},
    "from_file": {"path": "str"},
}
RULE_FLAGS = ("allow_autapses", "allow_multapses")
#: NEST's conn_spec argument names, for the error that says what they are here
NEST_RULE_ARGS = {"indegree": "k", "outdegree": "k", "N": "n"}


class SpecError(Exception):
    """A network file is invalid: names the file, the field and what was expected."""

    def __init__(self, file, field_path, message):
        self.file = str(file) if file else "<network>"
        self.field = field_path
        self.message = message
        super().__init__(str(self))

    def __str__(self):
        if self.field:
            return f"{self.file}: {self.field}: {self.message}"
        return f"{self.file}: {self.message}"


# ----------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Value:
    """A constant or a distribution, in internal units.

    ``kind`` is ``const`` (args: value), ``uniform`` (low, high), ``normal``
    (mean, std, low, high; values outside the bounds redrawn, as NEST does),
    ``normal_clipped`` (the same, values outside clipped to the bounds, as
    ``max(0, N(m, s))`` in Brian2 scripts) or ``lognormal`` (mu, sigma of
    the underlying normal; the value is ``exp(N(mu, sigma))`` in the internal unit).
    """

    kind: str
    args: tuple

    @property
    def is_const(self) -> bool:
        return self.kind == "const"

    def min_possible(self) -> float:
        if self.kind == "const":
            return self.args[0]
        if self.kind == "uniform":
            return self.args[0]
        if self.kind in ("normal", "normal_clipped"):
            return self.args[2]
        return 0.0

    def max_possible(self) -> float:
        if self.kind == "const":
            return self.args[0]
        if self.kind == "uniform":
            return self.args[1]
        if self.kind in ("normal", "normal_clipped"):
            return self.args[3]
        return math.inf


@dataclass
class PopulationSpec:
    """One population: neurons of one model, or a device."""

    name: str
    size: int
    model: str
    kind: str  # "neuron", "poisson", "spikes", "current"
    params: dict  # name -> Value (neurons) or float / list (devices)
    initial: dict  # state name -> Value
    field: str


@dataclass
class ProjectionSpec:
    """One projection from one population to one population."""

    index: int
    name: str
    pre: str
    post: str
    rule: str
    rule_args: dict
    weight: Value
    delay: Value
    receptor: str | None
    allow_autapses: bool
    allow_multapses: bool
    field: str
    synapse: SynapseSpec | None = None  # plastic synapse model (neurosim.plasticity)


@dataclass
class StateRecordSpec:
    population: str
    variables: list
    neurons: object  # numpy int array of population-local ids
    interval: float
    dtype: str
    field: str
    start: float = 0.0  # ms: samples stamped start < t <= stop (NEST's multimeter)
    stop: float = math.inf


@dataclass
class NetworkSpec:
    """A validated network, all quantities in internal units (ms, mV, pA, pF, nS, Hz)."""

    name: str
    dt: float
    duration: float
    seed: int
    populations: dict
    projections: list
    record_spikes: list
    record_state: list
    source_text: str = ""
    path: str = ""
    base_dir: str = "."
    warnings: list = field(default_factory=list)
    kind: str = "spiking"  # or "ltc" (graded networks, neurosim.ltc)
    scale: dict = field(default_factory=dict)  # what a `scale` section did (network.scaling)
    record_weights: list = field(default_factory=list)  # plasticity.spec.WeightRecordSpec
    dtype: str = "float64"  # of the spiking state and ring buffer (simulation.dtype)

    @property
    def neuron_populations(self):
        return [p for p in self.populations.values() if p.kind == "neuron"]


# ----------------------------------------------------------------------------- helpers


def _suggest(name, options):
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    opts = ", ".join(sorted(str(o) for o in options))
    return f"{hint}; expected one of: {opts}" if opts else hint


class _Ctx:
    def __init__(self, file):
        self.file = file
        self.warnings = []

    def err(self, path, message):
        return SpecError(self.file, path, message)


def _mapping(ctx, obj, path, what="a mapping"):
    if not isinstance(obj, dict):
        raise ctx.err(path, f"expected {what}, got {_show(obj)}")
    for k in obj:
        if not isinstance(k, str):
            raise ctx.err(path, f"keys must be names (strings), got {_show(k)}")
    return obj


def _show(obj):
    if obj is None:
        return "nothing (null)"
    text = repr(obj)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(obj).__name__} {text}"


def _check_keys(ctx, obj, path, allowed, required=()):
    for k in obj:
        if k not in allowed:
            raise ctx.err(_join(path, k), "unknown key" + _suggest(k, allowed))
    for k in required:
        if k not in obj:
            raise ctx.err(_join(path, k), "required key is missing")


def _join(path, key):
    return f"{path}.{key}" if path else str(key)


def _quantity(ctx, value, dimension, path):
    if isinstance(value, (dict, list)):
        raise ctx.err(path, f"expected {describe(dimension)}, got {_show(value)}")
    try:
        out = parse_quantity(value, dimension)
    except UnitError as exc:
        raise ctx.err(path, str(exc)) from None
    return out


def _finite(ctx, x, path):
    if not math.isfinite(x):
        raise ctx.err(path, f"expected a finite value, got {x}")
    return x


def _int(ctx, value, path, minimum=0, maximum=MAX_SIZE):
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ctx.err(path, f"expected an integer, got {_show(value)}")
    if isinstance(value, str):
        try:
            value = float(value) if re.search(r"[.eE]", value) else int(value)
        except ValueError:
            raise ctx.err(path, f"expected an integer, got {_show(value)}") from None
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise ctx.err(path, f"expected an integer, got {value!r}")
        value = int(value)
    if value < minimum:
        raise ctx.err(path, f"expected an integer >= {minimum}, got {value}")
    if value > maximum:
        raise ctx.err(path, f"expected an integer <= {maximum}, got {value}")
    return value


def _bool(ctx, value, path):
    if not isinstance(value, bool):
        raise ctx.err(path, f"expected true or false, got {_show(value)}")
    return value


def parse_value(ctx, value, dimension, path) -> Value:
    """A constant or a distribution of a quantity with ``dimension``."""
    if isinstance(value, dict):
        if len(value) != 1:
            raise ctx.err(path, "a distribution is one key: uniform, normal or lognormal")
        kind, args = next(iter(value.items()))
        p = _join(path, kind)
        if kind == "uniform":
            if isinstance(args, list) and len(args) == 2:
                lo, hi = args
            elif isinstance(args, dict):
                _check_keys(ctx, args, p, ("low", "high"), ("low", "high"))
                lo, hi = args["low"], args["high"]
            else:
                raise ctx.err(p, f"expected [low, high], got {_show(args)}")
            lo = _finite(ctx, _quantity(ctx, lo, dimension, p), p)
            hi = _finite(ctx, _quantity(ctx, hi, dimension, p), p)
            if not lo <= hi:
                raise ctx.err(p, f"expected low <= high, got [{lo}, {hi}]")
            return Value("uniform", (lo, hi))
        if kind == "normal":
            if isinstance(args, list) and len(args) == 2:
                args = {"mean": args[0], "std": args[1]}
            if not isinstance(args, dict):
                raise ctx.err(p, f"expected {{mean, std[, min, max]}}, got {_show(args)}")
            _check_keys(ctx, args, p, ("mean", "std", "min", "max", "clip"), ("mean", "std"))
            mean = _finite(ctx, _quantity(ctx, args["mean"], dimension, _join(p, "mean")), p)
            std = _finite(ctx, _quantity(ctx, args["std"], dimension, _join(p, "std")), p)
            if std < 0:
                raise ctx.err(_join(p, "std"), f"expected std >= 0, got {std}")
            lo = _quantity(ctx, args.get("min", -math.inf), dimension, _join(p, "min"))
            hi = _quantity(ctx, args.get("max", math.inf), dimension, _join(p, "max"))
            if not lo < hi:
                raise ctx.err(p, f"expected min < max, got {lo}, {hi}")
            if _bool(ctx, args.get("clip", False), _join(p, "clip")):
                return Value("normal_clipped", (mean, std, lo, hi))
            keep = _normal_mass(mean, std, lo, hi)
            if keep < 0.005:
                # values out of bounds are redrawn, at most 1000 times (as NEST's redraw):
                # below this share nearly every network of a few hundred draws fails
                raise ctx.err(
                    p,
                    f"min and max keep {keep:.2%} of normal({mean:g}, {std:g})'s values; "
                    "out-of-bounds values are redrawn at most 1000 times (as NEST's redraw): "
                    "widen the bounds, or use clip: true",
                )
            return Value("normal", (mean, std, lo, hi))
        if kind == "lognormal":
            if not isinstance(args, dict):
                raise ctx.err(p, f"expected {{mean, std}} or {{mu, sigma}}, got {_show(args)}")
            if "mu" in args:
                _check_keys(ctx, args, p, ("mu", "sigma"), ("mu", "sigma"))
                mu = _finite(ctx, _quantity(ctx, args["mu"], "dimensionless", p), p)
                sigma = _finite(ctx, _quantity(ctx, args["sigma"], "dimensionless", p), p)
            else:
                _check_keys(ctx, args, p, ("mean", "std"), ("mean", "std"))
                m = _finite(ctx, _quantity(ctx, args["mean"], dimension, _join(p, "mean")), p)
                s = _finite(ctx, _quantity(ctx, args["std"], dimension, _join(p, "std")), p)
                if m <= 0:
                    raise ctx.err(_join(p, "mean"), f"expected a positive mean, got {m}")
                sigma = math.sqrt(math.log1p((s / m) ** 2))
                mu = math.log(m) - 0.5 * sigma * sigma
            if sigma < 0:
                raise ctx.err(p, f"expected sigma >= 0, got {sigma}")
            return Value("lognormal", (mu, sigma))
        raise ctx.err(
            p, "unknown distribution" + _suggest(kind, ("uniform", "normal", "lognormal"))
        )
    return Value("const", (_quantity(ctx, value, dimension, path),))


# ----------------------------------------------------------------------------- reading


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The safe loader: no tag can construct a Python object."""


def read_yaml(path):
    """Read a YAML document safely; errors name the file and the line."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise SpecError(path, None, "file not found") from None
    except IsADirectoryError:
        raise SpecError(path, None, "is a directory, expected a network file") from None
    except UnicodeDecodeError as exc:
        raise SpecError(path, None, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise SpecError(path, None, f"cannot read: {exc.strerror}") from None
    return text, parse_yaml_text(text, path)


def parse_yaml_text(text, path="<network>"):
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        if "could not determine a constructor" in str(problem):
            problem = f"{problem} (tags that build Python objects are never accepted)"
        raise SpecError(path, None, f"YAML error at {where}{problem}") from None
    except yaml.YAMLError as exc:
        raise SpecError(path, None, f"YAML error: {exc}") from None
    except RecursionError:
        raise SpecError(path, None, "YAML nesting is too deep") from None
    if doc is None:
        raise SpecError(path, None, "the file is empty; expected a network (populations: ...)")
    if not isinstance(doc, dict):
        raise SpecError(path, None, f"expected a mapping at the top level, got {_show(doc)}")
    _check_depth(doc, path)
    return doc


def _check_depth(doc, path):
    stack = [(doc, 0)]
    seen = set()
    while stack:
        obj, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SpecError(path, None, f"nesting deeper than {MAX_DEPTH} levels")
        if isinstance(obj, (dict, list)):
            if id(obj) in seen:  # YAML aliases share objects: walk each once
                continue
            seen.add(id(obj))
            items = obj.values() if isinstance(obj, dict) else obj
            stack.extend((v, depth + 1) for v in items)


def apply_overrides(doc, overrides, path):
    """Apply ``--set a.b.c=value`` overrides (values read as YAML scalars) in place."""
    for item in overrides or ():
        if "=" not in item:
            raise SpecError(
                path, f"--set {item}", "expected KEY=VALUE, e.g. populations.E.size=800"
            )
        key, text = item.split("=", 1)
        value = parse_yaml_text(f"v: {text}" if text.strip() else "v: null", f"--set {key}")["v"]
        parts = key.strip().split(".")
        node = doc
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not re.fullmatch(r"\d+", part) or int(part) >= len(node):
                    raise SpecError(path, f"--set {where}", f"no list item {part!r}")
                part = int(part)
            elif not isinstance(node, dict):
                raise SpecError(path, f"--set {where}", "cannot set a key inside a value")
            if last:
                node[part] = value
            else:
                if isinstance(node, dict) and part not in node:
                    node[part] = {}
                node = node[part]


# ----------------------------------------------------------------------------- sections


def _parse_simulation(ctx, doc):
    sim = doc.get("simulation", {}) or {}
    _mapping(ctx, sim, "simulation")
    _check_keys(ctx, sim, "simulation", ("dt", "duration", "seed", "dtype"))
    dt = _quantity(ctx, sim.get("dt", 0.1), "time", "simulation.dt")
    if not (dt > 0 and math.isfinite(dt)):
        raise ctx.err("simulation.dt", f"expected a positive time, got {dt} ms")
    duration = _quantity(ctx, sim.get("duration", 1000.0), "time", "simulation.duration")
    if not (duration >= 0 and math.isfinite(duration)):
        raise ctx.err("simulation.duration", f"expected a time >= 0, got {duration} ms")
    seed = _int(ctx, sim.get("seed", 1), "simulation.seed", 0, 2**63 - 1)
    dtype = sim.get("dtype", "float64")
    if dtype not in ("float64", "float32"):
        raise ctx.err("simulation.dtype", f"expected float64 or float32, got {_show(dtype)}")
    return dt, duration, seed


def _parse_population(ctx, name, obj, path, dt):
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_./-]*", name):
        raise ctx.err(
            path, "a population name is letters, digits, _ . / - (not starting with a digit)"
        )
    _mapping(ctx, obj, path)
    _check_keys(ctx, obj, path, ("size", "model", "params", "initial"), ("model",))
    model = obj["model"]
    if not isinstance(model, str):
        raise ctx.err(_join(path, "model"), f"expected a model name, got {_show(model)}")
    size_default = 1 if model in DEVICES else None
    if "size" not in obj and size_default is None:
        raise ctx.err(_join(path, "size"), "required key is missing")
    size = _int(ctx, obj.get("size", size_default), _join(path, "size"), 1)
    params = _mapping(ctx, obj.get("params", {}) or {}, _join(path, "params"))
    initial = _mapping(ctx, obj.get("initial", {}) or {}, _join(path, "initial"))
    if model in DEVICES:
        dev = DEVICES[model]
        if initial:
            raise ctx.err(_join(path, "initial"), f"{model} has no state")
        out = {}
        nest_only = sorted(set(params) & {"std_mod", "frequency", "phase"})
        if model == "noise_generator" and nest_only:
            raise ctx.err(
                _join(_join(path, "params"), nest_only[0]),
                "unknown key: NEST's sinusoidal modulation of the noise is not supported",
            )
        if model == "noise_generator" and "dt" not in params and "tau" not in params:
            ctx.warnings.append(
                f"{_join(path, 'params')}: noise_generator without tau or dt is an "
                "Ornstein-Uhlenbeck current with tau = 1 ms, about twice the membrane "
                "variance of NEST's noise_generator (dt = 1 ms); give tau, or dt for NEST's "
                "process (docs/network-files.md)"
            )
        if model == "noise_generator" and "dt" in params and "tau" in params:
            raise ctx.err(
                _join(_join(path, "params"), "tau"),
                "give tau (an Ornstein-Uhlenbeck current) or dt (NEST's piecewise-constant "
                "noise), not both",
            )
        _check_keys(ctx, params, _join(path, "params"), dev.params)
        for pname, entry in dev.params.items():
            ppath = _join(_join(path, "params"), pname)
            raw = params.get(pname, entry.default)
            if entry.is_list:
                out[pname] = _parse_list_param(ctx, raw, entry.dimension, ppath, size)
            else:
                out[pname] = _quantity(ctx, raw, entry.dimension, ppath)
        _check_device(ctx, model, out, path, dt)
        return PopulationSpec(name, size, model, dev.kind, out, {}, path)
    try:
        m = get_model(model)
    except KeyError:
        raise ctx.err(
            _join(path, "model"),
            f"unknown model '{model}'" + _suggest(model, list(MODEL_NAMES) + list(DEVICES)),
        ) from None
    out = {}
    for pname, value in params.items():
        ppath = _join(_join(path, "params"), pname)
        if pname in NEURON_EXTRA_PARAMS and pname not in m.params:  # plasticity
            dim = NEURON_EXTRA_PARAMS[pname][1]
        elif pname not in m.params:
            raise ctx.err(ppath, f"unknown parameter of {m.name}" + _suggest(pname, m.params))
        else:
            dim = dimension_of_unit(m.params[pname].unit)
        out[pname] = parse_value(ctx, value, dim, ppath)
    _check_neuron_params(ctx, m, out, _join(path, "params"))
    init = {}
    for sname, value in initial.items():
        spath = _join(_join(path, "initial"), sname)
        if sname not in m.state:
            raise ctx.err(spath, f"unknown state variable of {m.name}" + _suggest(sname, m.state))
        init[sname] = parse_value(ctx, value, dimension_of_unit(m.state[sname].unit), spath)
    return PopulationSpec(name, size, m.name, "neuron", out, init, path)


def _parse_list_param(ctx, raw, dimension, path, size):
    if not isinstance(raw, list):
        raise ctx.err(path, f"expected a list, got {_show(raw)}")
    if raw and all(isinstance(x, list) for x in raw):
        if len(raw) != size:
            raise ctx.err(path, f"expected one list per generator ({size}), got {len(raw)}")
        return [
            [_finite(ctx, _quantity(ctx, x, dimension, f"{path}[{i}]"), path) for x in row]
            for i, row in enumerate(raw)
        ]
    return [
        _finite(ctx, _quantity(ctx, x, dimension, f"{path}[{i}]"), path) for i, x in enumerate(raw)
    ]


#: Latest device time (ms, about 32 years): steps stay exact in int64 and float64 down
#: to dt = 1e-4 ms.
MAX_TIME_MS = 1e12


def _check_device(ctx, model, p, path, dt):
    pp = _join(path, "params")
    _warn_off_grid(ctx, model, p, pp, dt)
    if model == "poisson_generator":
        if not (p["rate"] >= 0 and math.isfinite(p["rate"])):
            raise ctx.err(_join(pp, "rate"), f"expected a rate >= 0, got {p['rate']} Hz")
    if "start" in p and "stop" in p and not p["start"] <= p["stop"]:
        raise ctx.err(_join(pp, "stop"), "expected stop >= start")
    if model == "noise_generator":
        if p["std"] < 0:
            raise ctx.err(_join(pp, "std"), "expected std >= 0")
        if not p["tau"] > 0:
            raise ctx.err(_join(pp, "tau"), "expected tau > 0")
        if not (p["dt"] >= 0 and math.isfinite(p["dt"])):
            raise ctx.err(_join(pp, "dt"), "expected dt >= 0 (0: the OU current)")
        k = p["dt"] / dt
        if p["dt"] > 0 and (round(k) < 1 or abs(k - round(k)) > 1e-9):
            # NEST: "dt must be a multiple of the simulation resolution"
            raise ctx.err(
                _join(pp, "dt"), f"expected a whole number of steps of {dt:g} ms, got {p['dt']}"
            )
    if model == "step_current_generator":
        t, v = p["amplitude_times"], p["amplitude_values"]
        if len(t) != len(v):
            raise ctx.err(
                pp,
                f"amplitude_times ({len(t)}) and amplitude_values ({len(v)}) "
                "must have the same length",
            )
        if any(b <= a for a, b in zip(t, t[1:], strict=False)):
            raise ctx.err(_join(pp, "amplitude_times"), "expected strictly increasing times")
        if t and t[0] <= 0:
            # NEST: the amplitude can only change at strictly positive times
            raise ctx.err(_join(pp, "amplitude_times"), "expected times > 0 ms")
    if model == "spike_generator":
        rows = p["spike_times"]
        rows = rows if rows and isinstance(rows[0], list) else [rows]
        for row in rows:
            if any(b < a for a, b in zip(row, row[1:], strict=False)):
                raise ctx.err(_join(pp, "spike_times"), "expected non-decreasing times")
            if row and row[0] <= 0:
                raise ctx.err(_join(pp, "spike_times"), "expected times > 0 ms")
            if row and row[-1] > MAX_TIME_MS:
                raise ctx.err(_join(pp, "spike_times"), f"expected times <= {MAX_TIME_MS:g} ms")


def _warn_off_grid(ctx, model, p, pp, dt):
    """Device times off the dt grid are rounded up to it (NEST, which refuses them,
    rounds them so with ``allow_offgrid_times``): say so, once per field."""
    import numpy as np

    from .timing import ceil_steps, off_grid

    for key in ("spike_times", "amplitude_times", "start", "stop"):
        if key not in p:
            continue
        v = p[key]
        if isinstance(v, list):
            v = [x for row in v for x in row] if v and isinstance(v[0], list) else v
        t = np.atleast_1d(np.asarray(v, np.float64))
        bad = t[off_grid(t, dt)]
        if len(bad):
            first = float(bad[0])
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            ctx.warnings.append(
                f"{_join(pp, key)}: {first:g} ms{more} is not on the dt grid ({dt:g} ms); "
                f"rounded up to {ceil_steps(first, dt) * dt:g} ms, as NEST's "
                "allow_offgrid_times does"
            )


_POSITIVE = ("C_m", "tau_m", "tau_syn_ex", "tau_syn_in", "tau_syn", "g_L")


def _check_neuron_params(ctx, m, params, path):
    for name, v in params.items():
        if name in _POSITIVE and not v.min_possible() > 0:
            raise ctx.err(_join(path, name), f"expected a positive value, got {v.min_possible()}")
        if name in _POSITIVE and not math.isfinite(v.max_possible()):
            # an infinite time constant or capacitance turns the propagators into NaN
            raise ctx.err(_join(path, name), f"expected a finite value, got {v.max_possible()}")
        if name == "t_ref" and not v.min_possible() >= 0:
            raise ctx.err(_join(path, name), "expected t_ref >= 0")
    v_reset = params.get("V_reset", _default_value(m, "V_reset"))
    v_th = params.get("V_th", _default_value(m, "V_th"))
    known = v_reset is not None and v_th is not None
    if known and not v_reset.min_possible() < v_th.max_possible():
        # NEST: "Reset potential must be smaller than threshold" (drawn values are
        # checked neuron by neuron when they are drawn)
        raise ctx.err(
            _join(path, "V_reset"),
            f"expected V_reset < V_th (NEST's rule), got V_reset {v_reset.min_possible()} mV "
            f">= V_th {v_th.max_possible()} mV",
        )


def _normal_mass(mean, std, lo, hi):
    """The probability of [lo, hi] under normal(mean, std)."""
    if std == 0:
        return 1.0 if lo <= mean <= hi else 0.0

    def cdf(x):
        return 0.5 * math.erfc(-(x - mean) / (std * math.sqrt(2.0)))

    return cdf(hi) - cdf(lo)


def _default_value(m, name):
    if name not in m.params or m.params[name].default is None:
        return None
    return Value("const", (float(m.params[name].default),))


def _parse_rule(ctx, rule, path, total_from_p=False):
    """A rule and its arguments; ``total_from_p`` lets ``fixed_total_number`` take ``p``
    (the microcircuit's connection probability, turned into ``n`` per target population
    by :func:`_parse_projections`)."""
    p = _join(path, "rule")
    if isinstance(rule, str):
        name, args = rule, {}
    elif isinstance(rule, dict) and len(rule) == 1:
        name, args = next(iter(rule.items()))
        args = {} if args is None else args
        if not isinstance(args, dict):
            raise ctx.err(_join(p, name), f"expected a mapping of arguments, got {_show(args)}")
    else:
        raise ctx.err(p, f"expected a rule name or {{rule: {{args}}}}, got {_show(rule)}")
    if name not in RULES:
        raise ctx.err(p, f"unknown rule '{name}'" + _suggest(name, RULES))
    arg_kinds = RULES[name]
    if name == "fixed_total_number" and total_from_p and "p" in args:
        if "n" in args:
            raise ctx.err(_join(p, name), "give n (synapses) or p (probability), not both")
        arg_kinds = {"p": "dimensionless"}
    allowed = tuple(arg_kinds) + RULE_FLAGS + (("pre", "post") if name == "from_file" else ())
    for key in args:
        ours = NEST_RULE_ARGS.get(key)
        if ours is not None and key not in allowed and ours in arg_kinds:
            raise ctx.err(
                _join(_join(p, name), key), f"unknown key; NEST's {key!r} is {ours!r} here"
            )
    _check_keys(ctx, args, _join(p, name), allowed, tuple(arg_kinds))
    out = {}
    for key, kind in arg_kinds.items():
        ap = _join(_join(p, name), key)
        if kind == "int":
            out[key] = _int(ctx, args[key], ap, 0)
        elif kind == "str":
            if not isinstance(args[key], str):
                raise ctx.err(ap, f"expected a file path, got {_show(args[key])}")
            out[key] = args[key]
        else:
            x = _quantity(ctx, args[key], kind, ap)
            if not 0.0 <= x <= 1.0:
                raise ctx.err(ap, f"expected a probability in [0, 1], got {x}")
            out[key] = x
    for key in ("pre", "post"):  # from_file: the names of the id columns
        if key in args:
            if not isinstance(args[key], str):
                raise ctx.err(
                    _join(_join(p, name), key), f"expected a column name, got {_show(args[key])}"
                )
            out[f"{key}_column"] = args[key]
    flags = {k: _bool(ctx, args[k], _join(_join(p, name), k)) for k in RULE_FLAGS if k in args}
    return name, out, flags


def _parse_projections(ctx, doc, pops, dt):
    raw = doc.get("projections", []) or []
    if not isinstance(raw, list):
        raise ctx.err("projections", f"expected a list of projections, got {_show(raw)}")
    out = []
    allowed = ("name", "pre", "post", "rule", "weight", "delay", "receptor", "synapse") + RULE_FLAGS
    for i, obj in enumerate(raw):
        path = f"projections[{i}]"
        _mapping(ctx, obj, path)
        _check_keys(ctx, obj, path, allowed, ("pre", "post", "rule"))
        pre = obj["pre"]
        if not isinstance(pre, str) or pre not in pops:
            raise ctx.err(_join(path, "pre"), f"unknown population {pre!r}" + _suggest(pre, pops))
        posts = obj["post"] if isinstance(obj["post"], list) else [obj["post"]]
        if not posts:
            raise ctx.err(_join(path, "post"), "expected at least one population")
        rule, rule_args, flags = _parse_rule(ctx, obj["rule"], path, total_from_p=True)
        for k in RULE_FLAGS:
            if k in obj:
                v = _bool(ctx, obj[k], _join(path, k))
                if k in flags and flags[k] != v:
                    raise ctx.err(
                        _join(path, k), f"{k} is {v} here and {flags[k]} in the rule; give it once"
                    )
                flags[k] = v
        prepop = pops[pre]
        for post in posts:
            if not isinstance(post, str) or post not in pops:
                raise ctx.err(
                    _join(path, "post"), f"unknown population {post!r}" + _suggest(post, pops)
                )
            postpop = pops[post]
            if postpop.kind != "neuron":
                raise ctx.err(
                    _join(path, "post"),
                    f"'{post}' is a device ({postpop.model}); "
                    "projections end on neuron populations",
                )
            model = get_model(postpop.model)
            wdim = "current" if prepop.kind == "current" else dimension_of_unit(model.weight_unit)
            wdefault = 1.0
            raw_w, wfile = obj.get("weight", wdefault), None
            if isinstance(raw_w, dict) and "from_file" in raw_w:  # plasticity: learned weights
                wfile = parse_weight_file(ctx, raw_w, _join(path, "weight"))
                raw_w = 0.0
            weight = parse_value(ctx, raw_w, wdim, _join(path, "weight"))
            delay = parse_value(ctx, obj.get("delay", 1.0), "time", _join(path, "delay"))
            dmin = delay.min_possible()
            if delay.kind == "lognormal":
                raise ctx.err(
                    _join(path, "delay"),
                    "lognormal delays are not supported; use uniform or normal with min >= dt",
                )
            if not math.isfinite(delay.max_possible()):
                raise ctx.err(
                    _join(path, "delay"),
                    "expected a bounded delay: the ring buffer is sized by the largest delay "
                    "that can be drawn, so a normal delay needs max (and min >= dt)"
                    if delay.kind in ("normal", "normal_clipped")
                    else "expected a finite delay",
                )
            if not dmin >= dt * (1 - 1e-9):
                # the rule, before any rounding (NEST would take 0.05 ms at dt 0.1
                # as one step): a delay below dt is refused, not rounded up to it
                raise ctx.err(
                    _join(path, "delay"),
                    f"expected a delay >= dt ({dt} ms); got {dmin} ms"
                    + (
                        ", the smallest value the distribution can take"
                        if not delay.is_const
                        else ""
                    ),
                )
            if delay.is_const and abs(delay.args[0] / dt - round(delay.args[0] / dt)) > 1e-9:
                ctx.warnings.append(
                    f"{path}.delay: {delay.args[0]} ms is not a multiple of dt ({dt} ms); "
                    f"rounded to {delay_steps(delay.args[0], dt) * dt:g} ms (halves up, as NEST)"
                )
            receptor = obj.get("receptor")
            if receptor is not None and receptor not in model.receptors:
                raise ctx.err(
                    _join(path, "receptor"),
                    f"unknown receptor {receptor!r} of "
                    f"{model.name}" + _suggest(receptor, model.receptors),
                )
            conductance = prepop.kind != "current" and wdim == "conductance"
            if receptor is not None and conductance and weight.min_possible() < 0:
                # without a receptor the sign picks the port (NEST's rule); with one, a
                # negative conductance has no meaning
                raise ctx.err(
                    _join(path, "weight"),
                    f"expected a conductance >= 0 on the explicit receptor {receptor!r}, got "
                    f"{weight.min_possible()} nS",
                )
            if prepop.kind == "current" and rule not in ("all_to_all", "one_to_one"):
                pass  # any rule works: each synapse carries the generator's current
            if rule == "one_to_one" and prepop.size != postpop.size:
                raise ctx.err(
                    _join(path, "rule"),
                    f"one_to_one needs equal sizes, got "
                    f"{pre} ({prepop.size}) and {post} ({postpop.size})",
                )
            if rule == "fixed_total_number" and "p" in rule_args:
                rule_args = _total_from_p(ctx, rule_args, prepop, postpop, path)
            if rule == "fixed_total_number" and not flags.get("allow_multapses", True):
                raise ctx.err(
                    _join(path, "rule"),
                    "fixed_total_number draws with multapses; allow_multapses: false is not "
                    "supported for it",
                )
            self_loop = pre == post and not flags.get("allow_autapses", True)
            if rule in ("fixed_indegree", "fixed_outdegree"):
                other = prepop.size if rule == "fixed_indegree" else postpop.size
                avail = other - (1 if self_loop else 0)
                what = "sources" if rule == "fixed_indegree" else "targets"
                if not flags.get("allow_multapses", True) and rule_args["k"] > avail:
                    # NEST: "Indegree / Outdegree cannot be larger than population size"
                    raise ctx.err(
                        _join(path, "rule"),
                        f"k = {rule_args['k']} exceeds the {avail} distinct {what} without "
                        "multapses",
                    )
                if avail < 1 and rule_args["k"] > 0:
                    raise ctx.err(
                        _join(path, "rule"),
                        f"k = {rule_args['k']}, but no {what[:-1]} is allowed (a population of "
                        "one onto itself without autapses)",
                    )
            if rule == "from_file":
                fpath = rule_args["path"]
                if not os.path.isabs(fpath):
                    fpath = os.path.join(os.path.dirname(os.path.abspath(ctx.file)), fpath)
                if not os.path.isfile(fpath):
                    raise ctx.err(_join(path, "rule.from_file.path"), f"file not found: {fpath}")
                rule_args = dict(rule_args, path=fpath)
            synapse = None
            if obj.get("synapse") is not None:
                synapse = parse_synapse(ctx, obj["synapse"], _join(path, "synapse"), prepop, wdim)
                wmax = synapse.params.get("Wmax")
                if wmax is not None and wfile is None:
                    # NEST: "Weight and Wmax must have same sign" (0 counts as positive)
                    lo, hi = weight.min_possible(), weight.max_possible()
                    if (wmax >= 0 and lo < 0) or (wmax < 0 and hi >= 0):
                        raise ctx.err(
                            _join(path, "weight"),
                            f"expected weights of Wmax's sign ({wmax:g}), as NEST requires; "
                            f"the weight can be {lo if wmax >= 0 else hi:g}",
                        )
            if wfile is not None:
                if synapse is None:
                    raise ctx.err(
                        wfile["field"],
                        "weights from a file start a plastic projection from learned weights; "
                        "expected a plastic synapse (synapse: {model: stdp_synapse, ...})",
                    )
                synapse.weight_file = dict(wfile)
            name = obj.get("name") or f"{pre}->{post}"
            if not isinstance(name, str):
                raise ctx.err(_join(path, "name"), f"expected a name, got {_show(name)}")
            if len(posts) > 1 and obj.get("name"):
                name = f"{obj['name']}:{post}"
            out.append(
                ProjectionSpec(
                    index=len(out),
                    name=name,
                    pre=pre,
                    post=post,
                    rule=rule,
                    rule_args=rule_args,
                    weight=weight,
                    delay=delay,
                    receptor=receptor,
                    allow_autapses=flags.get("allow_autapses", True),
                    allow_multapses=flags.get("allow_multapses", True),
                    field=path,
                    synapse=synapse,
                )
            )
    names = [p.name for p in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        for p in out:
            if p.name in dup:
                p.name = f"{p.name}#{p.index}"
    check_weight_files(ctx, out)
    return out


def _total_from_p(ctx, args, prepop, postpop, path):
    """``{fixed_total_number: {p}}`` -> ``n`` (rounded) and ``n_full`` for one target."""
    p = args["p"]
    if p >= 1.0 or (p > 0.0 and prepop.size * postpop.size < 2):
        raise ctx.err(
            _join(path, "rule.fixed_total_number.p"),
            f"expected p < 1 and more than one pair of neurons, got p = {p} for "
            f"{prepop.size} x {postpop.size} neurons",
        )
    n_full = scaling.total_number_from_probability(p, prepop.size, postpop.size)
    return {"p": p, "n": round(n_full), "n_full": n_full}


def _parse_neurons(ctx, raw, size, path):
    import numpy as np

    if raw is None or raw == "all":
        return np.arange(size, dtype=np.int64)
    if isinstance(raw, str):
        m = re.fullmatch(r"\s*(\d*)\s*:\s*(\d*)\s*(?::\s*(\d+)\s*)?", raw)
        if not m:
            raise ctx.err(
                path, f"expected 'all', 'start:stop[:step]' or a list of ids, got {raw!r}"
            )
        start = int(m.group(1) or 0)
        stop = int(m.group(2) or size)
        step = int(m.group(3) or 1)
        if step < 1 or stop > size or start >= stop:
            raise ctx.err(path, f"slice {raw!r} is outside 0:{size} or empty")
        return np.arange(start, stop, step, dtype=np.int64)
    if isinstance(raw, list):
        ids = [_int(ctx, x, path, 0, size - 1) for x in raw]
        if not ids:
            raise ctx.err(path, "expected at least one neuron")
        return np.asarray(ids, dtype=np.int64)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return np.asarray([_int(ctx, raw, path, 0, size - 1)], dtype=np.int64)
    raise ctx.err(path, f"expected 'all', 'start:stop' or a list of ids, got {_show(raw)}")


def parse_state_record(ctx, entry, path, pops, allowed, model_of, dt, seen, default_variables=None):
    """One ``record.state`` entry (shared by spiking and graded networks).

    ``allowed`` lists the populations that may be recorded, ``model_of(pop)`` gives an
    object with ``name`` and ``state`` (the model's state table), ``seen`` maps
    (population, variable) to the entry that records it already.
    """
    _mapping(ctx, entry, path)
    _check_keys(
        ctx,
        entry,
        path,
        ("population", "variables", "neurons", "interval", "dtype", "start", "stop"),
        ("population",) if default_variables else ("population", "variables"),
    )
    pop = entry["population"]
    if pop not in allowed:
        raise ctx.err(
            _join(path, "population"), f"unknown neuron population {pop!r}" + _suggest(pop, allowed)
        )
    model = model_of(pop)
    variables = entry.get("variables", default_variables)
    if isinstance(variables, str):
        variables = [variables]
    if not isinstance(variables, list) or not variables:
        raise ctx.err(_join(path, "variables"), "expected a list of state variables")
    for v in variables:
        if not isinstance(v, str):
            raise ctx.err(_join(path, "variables"), f"expected variable names, got {_show(v)}")
        if v not in model.state:
            raise ctx.err(
                _join(path, "variables"),
                f"unknown state variable {v!r} of {model.name}" + _suggest(v, model.state),
            )
    ids = _parse_neurons(ctx, entry.get("neurons", "all"), pops[pop].size, _join(path, "neurons"))
    interval = _quantity(ctx, entry.get("interval", dt), "time", _join(path, "interval"))
    k = round(interval / dt)
    if k < 1 or abs(interval / dt - k) > 1e-9:
        raise ctx.err(
            _join(path, "interval"), f"expected a multiple of dt ({dt} ms), got {interval} ms"
        )
    dtype = entry.get("dtype", "float64")
    if dtype not in ("float64", "float32"):
        raise ctx.err(_join(path, "dtype"), f"expected float64 or float32, got {_show(dtype)}")
    start = _quantity(ctx, entry.get("start", 0.0), "time", _join(path, "start"))
    stop = _quantity(ctx, entry.get("stop", math.inf), "time", _join(path, "stop"))
    if not (start >= 0 and math.isfinite(start)):
        raise ctx.err(_join(path, "start"), f"expected a time >= 0, got {start} ms")
    if not stop >= start:
        raise ctx.err(_join(path, "stop"), f"expected stop >= start ({start} ms), got {stop} ms")
    for v in variables:
        if (pop, v) in seen:
            raise ctx.err(
                _join(path, "variables"),
                f"{pop}/{v} is already recorded by "
                f"{seen[(pop, v)]}; record it once (one report per variable)",
            )
        seen[(pop, v)] = path
    return StateRecordSpec(pop, list(variables), ids, k * dt, dtype, path, start, stop)


def _parse_record(ctx, doc, pops, dt, projections=()):
    """``record``: spikes, state and (plastic projections) weights; returns
    ``(spikes, states, weights)``."""
    neurons = [p.name for p in pops.values() if p.kind == "neuron"]
    if "record" not in doc:
        return list(neurons), [], []
    rec = doc["record"] or {}
    _mapping(ctx, rec, "record")
    _check_keys(ctx, rec, "record", ("spikes", "state", "weights"))
    spikes = rec.get("spikes", [])
    if spikes == "all":
        spikes = list(neurons)
    if isinstance(spikes, str):
        spikes = [spikes]
    if not isinstance(spikes, list):
        raise ctx.err(
            "record.spikes", f"expected a list of populations or 'all', got {_show(spikes)}"
        )
    for i, s in enumerate(spikes):
        if s not in pops:
            raise ctx.err(f"record.spikes[{i}]", f"unknown population {s!r}" + _suggest(s, neurons))
        if pops[s].kind == "poisson" or pops[s].kind == "current":
            raise ctx.err(
                f"record.spikes[{i}]", f"'{s}' ({pops[s].model}) emits no recordable spikes"
            )
    states = rec.get("state", []) or []
    if not isinstance(states, list):
        raise ctx.err("record.state", f"expected a list, got {_show(states)}")
    out = []
    seen = {}
    for i, entry in enumerate(states):
        out.append(
            parse_state_record(
                ctx,
                entry,
                f"record.state[{i}]",
                pops,
                neurons,
                lambda pop: get_model(pops[pop].model),
                dt,
                seen,
                default_variables=None,
            )
        )
    weights = parse_weight_records(ctx, rec.get("weights"), projections, dt)
    return list(dict.fromkeys(spikes)), out, weights


def make_spec(
    ctx, name, dt, duration, seed, pops, projections, spikes, states, path, text, kind="spiking"
):
    """The :class:`NetworkSpec` of a validated document (spiking or graded)."""
    return NetworkSpec(
        name=name,
        dt=dt,
        duration=duration,
        seed=seed,
        populations=pops,
        projections=projections,
        record_spikes=spikes,
        record_state=states,
        source_text=text,
        path=str(path),
        base_dir=os.path.dirname(os.path.abspath(str(path))),
        warnings=ctx.warnings,
        kind=kind,
    )


def build_spec(doc, path="<network>", text="") -> NetworkSpec:
    """Validate a parsed YAML document; every error is a :class:`SpecError`."""
    ctx = _Ctx(path)
    doc = copy.deepcopy(doc)
    _mapping(ctx, doc, "", "a mapping at the top level")
    _check_keys(
        ctx,
        doc,
        "",
        ("name", "simulation", "populations", "projections", "record", "description", "scale"),
        ("populations",),
    )
    name = doc.get("name", os.path.splitext(os.path.basename(str(path)))[0])
    if not isinstance(name, str):
        raise ctx.err("name", f"expected a name, got {_show(name)}")
    dt, duration, seed = _parse_simulation(ctx, doc)
    raw = doc["populations"]
    _mapping(ctx, raw, "populations")
    if not raw:
        raise ctx.err("populations", "expected at least one population")
    from ..ltc.spec import build_ltc_spec, is_ltc

    if is_ltc(doc):
        if "dtype" in (doc.get("simulation") or {}):
            raise ctx.err(
                "simulation.dtype",
                "ltc_neuron networks choose their precision with integrator.dtype",
            )
        if "scale" in doc:
            raise ctx.err("scale", "scale applies to spiking networks, not ltc_neuron ones")
        for pname in raw:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_./-]*", str(pname)):
                raise ctx.err(
                    f"populations.{pname}",
                    "a population name is letters, digits, _ . / - (not starting with a digit)",
                )
        return build_ltc_spec(ctx, doc, name, dt, duration, seed, path, text)
    pops = {}
    for pname, obj in raw.items():
        pops[pname] = _parse_population(ctx, pname, obj, f"populations.{pname}", dt)
    if not any(p.kind == "neuron" for p in pops.values()):
        raise ctx.err("populations", "expected at least one neuron population")
    projections = _parse_projections(ctx, doc, pops, dt)
    scale = {}
    if "scale" in doc:  # N and K scaling (NEST's microcircuit), network/scaling.py
        projections, scale = scaling.apply_scale(ctx, doc["scale"], pops, projections)
    spikes, states, weights = _parse_record(ctx, doc, pops, dt, projections)
    spec = make_spec(ctx, name, dt, duration, seed, pops, projections, spikes, states, path, text)
    spec.scale = scale
    spec.record_weights = weights
    spec.dtype = (doc.get("simulation") or {}).get("dtype", "float64")
    if spec.dtype == "float32":
        for proj in projections:
            if proj.synapse is not None:
                raise ctx.err(
                    f"{proj.field}.synapse",
                    "plastic synapses need simulation.dtype float64 (the default)",
                )
    return spec


def load(path, overrides=None) -> NetworkSpec:
    """Read, override and validate a network file.

    Parameters
    ----------
    path : str or os.PathLike
        The YAML network file.
    overrides : list of str, optional
        ``"a.b.c=value"`` items applied before validation (as ``--set`` does).
    """
    path = os.fspath(path)
    text, doc = read_yaml(path)
    apply_overrides(doc, overrides, path)
    if overrides:
        text = text + "\n# --set " + " --set ".join(overrides) + "\n"
    return build_spec(doc, path, text)
