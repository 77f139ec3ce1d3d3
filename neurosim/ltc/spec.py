"""Network files of graded (LTC) networks -> a validated spec.

An LTC network has ``ltc_neuron`` populations, ``cfc`` populations (CfC cells,
:mod:`neurosim.models.cfc`, weights from a file, driven by the populations named in
their ``input``), ``time_series`` input populations and projections with a
``synapse:`` (``ltc_synapse`` or ``gap_junction``); it cannot mix with spiking
populations in one file.  Parameters take a constant, a distribution or
an array from a file (``{file: params.npz, key: w}``); connection files of the
``from_file`` rule may carry the synapse parameters as columns (w, gamma, mu, E_rev, g).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from ..models import cfc as CFC
from ..models import ltc_neuron as M
from ..network.spec import (
    PopulationSpec,
    SpecError,
    StateRecordSpec,
    _bool,
    _check_keys,
    _int,
    _join,
    _mapping,
    _parse_rule,
    _quantity,
    _show,
    _suggest,
    make_spec,
    parse_state_record,
    parse_value,
)
from ..units import dimension_of_unit

LTC_MODELS = ("ltc_neuron", "cfc", "time_series")
#: The default integrator: the accuracy-per-cost table (benchmarks/RESULTS.md, LTC
#: section) shows the exponential midpoint ahead of the frozen closed form at equal
#: cost on ncp19, C. elegans and a 1,000-neuron network (e.g. C. elegans, one substep:
#: error 0.022 against 0.18 for about 10 % more time), and stable at every step.
DEFAULT_INTEGRATOR = "exp_midpoint"
SYNAPSES = {"ltc_synapse": M.SYNAPSE, "gap_junction": M.GAP}


@dataclass(frozen=True)
class FileArray:
    """Values read from a file: one per neuron or per synapse (internal units)."""

    path: str
    key: str
    values: np.ndarray


@dataclass
class LtcProjectionSpec:
    index: int
    name: str
    pre: str
    post: str
    rule: str
    rule_args: dict
    synapse: str
    params: dict  # name -> Value | FileArray | None (take the connection file's column)
    allow_autapses: bool
    allow_multapses: bool
    field: str


def is_ltc(doc) -> bool:
    pops = doc.get("populations") if isinstance(doc, dict) else None
    if not isinstance(pops, dict):
        return False
    return any(isinstance(p, dict) and p.get("model") in LTC_MODELS for p in pops.values())


def _resolve(ctx, path):
    if os.path.isabs(path):
        return path
    return os.path.join(os.path.dirname(os.path.abspath(str(ctx.file))), path)


def _file_array(ctx, spec, path):
    _check_keys(ctx, spec, path, ("file", "key", "scale"), ("file", "key"))
    from ..io.connections import read_table

    fpath = _resolve(ctx, spec["file"])
    if not os.path.isfile(fpath):
        raise ctx.err(_join(path, "file"), f"file not found: {fpath}")
    cols = read_table(fpath, ctx.file, path)
    if spec["key"] not in cols:
        raise ctx.err(
            _join(path, "key"),
            f"{fpath} has no array {spec['key']!r}" + _suggest(spec["key"], cols),
        )
    arr = np.asarray(cols[spec["key"]])
    if arr.dtype.kind not in "fiu":
        raise ctx.err(path, f"{fpath}:{spec['key']} must be numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ctx.err(path, f"{fpath}:{spec['key']} has NaN or infinite values")
    if "scale" in spec:
        arr = arr * _quantity(ctx, spec["scale"], "dimensionless", _join(path, "scale"))
    return FileArray(fpath, spec["key"], arr)


def _param(ctx, value, dimension, path):
    if isinstance(value, dict) and "file" in value:
        return _file_array(ctx, value, path)
    return parse_value(ctx, value, dimension, path)


def _check_len(ctx, v, n, what, path):
    if isinstance(v, FileArray) and v.values.shape != (n,):
        raise ctx.err(
            path, f"{v.path}:{v.key} has shape {v.values.shape}, expected ({n},) (one per {what})"
        )


def parse_population(ctx, name, obj, path):
    _mapping(ctx, obj, path)
    model = obj.get("model")
    if model == "time_series":
        _check_keys(ctx, obj, path, ("model", "params", "size"))
        p = _mapping(ctx, obj.get("params", {}) or {}, _join(path, "params"))
        pp = _join(path, "params")
        _check_keys(
            ctx,
            p,
            pp,
            ("file", "key", "elapsed_key", "scale", "offset", "interval"),
            ("file", "key"),
        )
        fa = _file_array(ctx, {"file": p["file"], "key": p["key"]}, pp)
        values = fa.values
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2 or values.shape[0] < 1:
            raise ctx.err(
                _join(pp, "key"), f"expected an array [time, channel], got shape {fa.values.shape}"
            )
        size = values.shape[1]
        if "size" in obj and _int(ctx, obj["size"], _join(path, "size"), 1) != size:
            raise ctx.err(_join(path, "size"), f"the series has {size} channels")
        elapsed = None
        if "elapsed_key" in p:
            ea = _file_array(ctx, {"file": p["file"], "key": p["elapsed_key"]}, pp)
            elapsed = ea.values.reshape(-1)
            if elapsed.shape[0] != values.shape[0] or np.any(elapsed <= 0):
                raise ctx.err(
                    _join(pp, "elapsed_key"),
                    "expected one positive elapsed time per row of the series",
                )
        params = {"values": values, "elapsed": elapsed}
        for key in ("scale", "offset"):
            raw = p.get(key, 1.0 if key == "scale" else 0.0)
            if isinstance(raw, dict):
                arr = _file_array(ctx, raw, _join(pp, key)).values.reshape(-1)
            elif isinstance(raw, list):
                arr = np.array([_quantity(ctx, x, "dimensionless", _join(pp, key)) for x in raw])
            else:
                arr = np.full(size, _quantity(ctx, raw, "dimensionless", _join(pp, key)))
            if arr.shape != (size,):
                raise ctx.err(_join(pp, key), f"expected {size} values (one per channel)")
            params[key] = arr
        params["interval"] = (
            None
            if "interval" not in p
            else _quantity(ctx, p["interval"], "time", _join(pp, "interval"))
        )
        return PopulationSpec(name, size, model, "series", params, {}, path)
    if model == "cfc":
        return parse_cfc(ctx, name, obj, path)
    if model != "ltc_neuron":
        raise ctx.err(
            _join(path, "model"),
            f"a graded (LTC) network takes ltc_neuron, cfc and "
            f"time_series populations, got {model!r}" + _suggest(model, LTC_MODELS),
        )
    _check_keys(
        ctx, obj, path, ("size", "model", "params", "initial", "integrator"), ("size", "model")
    )
    size = _int(ctx, obj["size"], _join(path, "size"), 1)
    params = {}
    raw = _mapping(ctx, obj.get("params", {}) or {}, _join(path, "params"))
    for k, v in raw.items():
        pp = _join(_join(path, "params"), k)
        if k not in M.PARAMS:
            raise ctx.err(pp, "unknown parameter of ltc_neuron" + _suggest(k, M.PARAMS))
        params[k] = _param(ctx, v, dimension_of_unit(M.PARAMS[k].unit), pp)
        _check_len(ctx, params[k], size, "neuron", pp)
        if k in ("c_m",) and min(_values_min(params[k])) <= 0:
            raise ctx.err(pp, "expected a positive capacitance")
        if k == "g_leak" and min(_values_min(params[k])) < 0:
            raise ctx.err(pp, "expected a leak conductance >= 0")
    initial = {}
    raw = _mapping(ctx, obj.get("initial", {}) or {}, _join(path, "initial"))
    for k, v in raw.items():
        pp = _join(_join(path, "initial"), k)
        if k not in M.STATE:
            raise ctx.err(pp, "unknown state of ltc_neuron" + _suggest(k, M.STATE))
        initial[k] = _param(ctx, v, "voltage", pp)
        _check_len(ctx, initial[k], size, "neuron", pp)
    integ = obj.get("integrator", DEFAULT_INTEGRATOR)
    ip = _join(path, "integrator")
    if isinstance(integ, str):
        integ = {"method": integ}
    _mapping(ctx, integ, ip)
    _check_keys(
        ctx, integ, ip, ("method", "substeps", "ode_unfolds", "rtol", "atol", "dtype"), ("method",)
    )
    dtype = integ.get("dtype", "float64")
    if dtype not in ("float64", "float32"):
        raise ctx.err(_join(ip, "dtype"), f"expected float64 or float32, got {_show(dtype)}")
    if integ["method"] not in M.INTEGRATORS:
        raise ctx.err(
            _join(ip, "method"),
            f"unknown integrator {integ['method']!r}" + _suggest(integ["method"], M.INTEGRATORS),
        )
    sub = integ.get(
        "substeps", integ.get("ode_unfolds", 6 if integ["method"] == "ltc_fused" else 1)
    )
    integrator = {
        "method": integ["method"],
        "substeps": _int(ctx, sub, _join(ip, "substeps"), 1, 100000),
        "rtol": _quantity(ctx, integ.get("rtol", 1e-10), "dimensionless", _join(ip, "rtol")),
        "atol": _quantity(ctx, integ.get("atol", 1e-12), "dimensionless", _join(ip, "atol")),
        # float32: synapse parameters rounded to float32, dense blocks summed in float32
        "dtype": dtype,
    }
    params["__integrator__"] = integrator
    return PopulationSpec(name, size, model, "ltc", params, initial, path)


def parse_cfc(ctx, name, obj, path):
    """A ``cfc`` population: a CfC cell whose weights come from ``params.file``."""
    _check_keys(
        ctx,
        obj,
        path,
        ("size", "model", "params", "initial", "input"),
        ("model", "params", "input"),
    )
    pp = _join(path, "params")
    p = _mapping(ctx, obj["params"] or {}, pp)
    _check_keys(ctx, p, pp, ("file", "mode", "activation", "dtype"), ("file",))
    fp = _join(pp, "file")
    if not isinstance(p["file"], str):
        raise ctx.err(fp, f"expected the path of a weight file, got {_show(p['file'])}")
    fpath = _resolve(ctx, p["file"])
    if not os.path.isfile(fpath):
        raise ctx.err(fp, f"file not found: {fpath}")
    weights = _read_weights(ctx, fpath, fp)
    choices = {"mode": CFC.MODES, "activation": CFC.ACTIVATIONS, "dtype": CFC.DTYPES}
    for key, options in choices.items():
        if key in p and p[key] not in options:
            raise ctx.err(
                _join(pp, key), f"unknown {key} {_show(p[key])}" + _suggest(p[key], options)
            )
    mode = p.get("mode")
    if mode is None:  # not in a state dict; pure cells are recognisable by their keys
        keys = {k.split("rnn_cell.", 1)[-1] for k in weights}
        pure = any(k.endswith("w_tau") for k in keys) and not any("ff2." in k for k in keys)
        mode = "pure" if pure else "default"
    try:
        cell = CFC.cell_from_state_dict(weights, mode, p.get("activation", "lecun_tanh"))
    except CFC.CfcWeightError as exc:
        raise ctx.err(fp, f"{fpath}: {exc} (mode {mode})") from None
    size = cell.size
    if "size" in obj and _int(ctx, obj["size"], _join(path, "size"), 1) != size:
        raise ctx.err(_join(path, "size"), f"the cell in {fpath} has {size} units")
    inputs = obj["input"] if isinstance(obj["input"], list) else [obj["input"]]
    if not inputs or not all(isinstance(x, str) for x in inputs):
        raise ctx.err(_join(path, "input"), "expected a population name or a list of them")
    initial = {}
    raw = _mapping(ctx, obj.get("initial", {}) or {}, _join(path, "initial"))
    for k, v in raw.items():
        ip = _join(_join(path, "initial"), k)
        if k not in CFC.STATE:
            raise ctx.err(ip, "unknown state of cfc" + _suggest(k, CFC.STATE))
        initial[k] = _param(ctx, v, "dimensionless", ip)
        _check_len(ctx, initial[k], size, "unit", ip)
    params = {
        "file": fpath,
        "cell": cell,
        "mode": mode,
        "activation": cell.activation,
        "dtype": p.get("dtype", "float64"),
        "input": inputs,
    }
    return PopulationSpec(name, size, "cfc", "cfc", params, initial, path)


def _read_weights(ctx, fpath, field):
    """A weight file's arrays: a state dict as .pt (weights only) or .npz / .h5."""
    if os.path.splitext(fpath)[1].lower() in (".pt", ".pth"):
        from ..io.ncps import load_state_dict

        try:
            return load_state_dict(fpath)
        except SpecError as exc:
            raise ctx.err(field, f"{fpath}: {exc.message}") from None
    from ..io.connections import read_table

    return read_table(fpath, ctx.file, field)


def _check_cfc_inputs(ctx, pops):
    """Every cfc population's ``input`` names populations with as many values as the
    cell has inputs (their values at the start of each step, in the order given)."""
    for p in pops.values():
        if p.kind != "cfc":
            continue
        ip = _join(p.field, "input")
        n = 0
        for src in p.params["input"]:
            if src not in pops or src == p.name:
                others = [q for q in pops if q != p.name]
                raise ctx.err(ip, f"unknown input population {src!r}" + _suggest(src, others))
            n += pops[src].size
        K = p.params["cell"].n_inputs
        if n != K:
            raise ctx.err(
                ip,
                f"{' + '.join(p.params['input'])} give {n} values; the cell in "
                f"{p.params['file']} takes {K} inputs",
            )


def _values_min(v):
    if isinstance(v, FileArray):
        return [float(v.values.min())] if v.values.size else [1.0]
    return [v.min_possible()]


def parse_projections(ctx, doc, pops):
    raw = doc.get("projections", []) or []
    if not isinstance(raw, list):
        raise ctx.err("projections", f"expected a list of projections, got {_show(raw)}")
    out = []
    allowed = ("name", "pre", "post", "rule", "synapse", "allow_autapses", "allow_multapses")
    for i, obj in enumerate(raw):
        path = f"projections[{i}]"
        _mapping(ctx, obj, path)
        _check_keys(ctx, obj, path, allowed, ("pre", "post", "rule"))
        pre = obj["pre"]
        if not isinstance(pre, str) or pre not in pops:
            raise ctx.err(_join(path, "pre"), f"unknown population {pre!r}" + _suggest(pre, pops))
        posts = obj["post"] if isinstance(obj["post"], list) else [obj["post"]]
        rule, rule_args, flags = _parse_rule(ctx, obj["rule"], path)
        for k in ("allow_autapses", "allow_multapses"):
            if k in obj:
                flags[k] = _bool(ctx, obj[k], _join(path, k))
        syn = obj.get("synapse", {"model": "ltc_synapse"})
        sp = _join(path, "synapse")
        if isinstance(syn, str):
            syn = {"model": syn}
        _mapping(ctx, syn, sp)
        _check_keys(ctx, syn, sp, ("model", "params"), ("model",))
        if not isinstance(syn["model"], str):
            raise ctx.err(_join(sp, "model"), f"expected a synapse name, got {syn['model']!r}")
        if syn["model"] not in SYNAPSES:
            raise ctx.err(
                _join(sp, "model"),
                f"unknown synapse {syn['model']!r}" + _suggest(syn["model"], SYNAPSES),
            )
        table = SYNAPSES[syn["model"]]
        if syn["model"] == "gap_junction" and pops[pre].kind != "ltc":
            raise ctx.err(_join(path, "pre"), "gap junctions connect ltc_neuron populations")
        rawp = _mapping(ctx, syn.get("params", {}) or {}, _join(sp, "params"))
        params = {}
        for k in table:
            pp = _join(_join(sp, "params"), k)
            if k in rawp:
                params[k] = _param(ctx, rawp[k], dimension_of_unit(table[k].unit), pp)
                # a negative conductance makes the coefficient of v positive: the
                # closed form would grow without bound (ncps keeps w >= 0 by softplus)
                if k in ("w", "g") and min(_values_min(params[k])) < 0:
                    raise ctx.err(pp, "expected a conductance >= 0")
            else:
                params[k] = None
        for k in rawp:
            if k not in table:
                raise ctx.err(
                    _join(_join(sp, "params"), k),
                    f"unknown parameter of {syn['model']}" + _suggest(k, table),
                )
        if rule == "from_file":
            fpath = _resolve(ctx, rule_args["path"])
            if not os.path.isfile(fpath):
                raise ctx.err(_join(path, "rule.from_file.path"), f"file not found: {fpath}")
            rule_args = dict(rule_args, path=fpath)
        for post in posts:
            if not isinstance(post, str) or post not in pops or pops[post].kind != "ltc":
                raise ctx.err(
                    _join(path, "post"),
                    f"expected an ltc_neuron population, got "
                    f"{post!r}" + _suggest(post, [p for p in pops if pops[p].kind == "ltc"]),
                )
            name = obj.get("name") or f"{pre}->{post}"
            out.append(
                LtcProjectionSpec(
                    index=len(out),
                    name=str(name),
                    pre=pre,
                    post=post,
                    rule=rule,
                    rule_args=rule_args,
                    synapse=syn["model"],
                    params=params,
                    allow_autapses=flags.get("allow_autapses", True),
                    allow_multapses=flags.get("allow_multapses", True),
                    field=path,
                )
            )
    return out


def parse_record(ctx, doc, pops, dt):
    rec = doc.get("record", None)
    ltc = [p for p in pops if pops[p].kind in ("ltc", "cfc")]
    var = {p: ("h" if pops[p].kind == "cfc" else "v") for p in ltc}
    if rec is None:
        return [], [
            StateRecordSpec(p, [var[p]], np.arange(pops[p].size), dt, "float64", "record")
            for p in ltc
        ]
    _mapping(ctx, rec, "record")
    _check_keys(ctx, rec, "record", ("state", "spikes"))
    if rec.get("spikes"):
        raise ctx.err("record.spikes", "graded (LTC) neurons do not spike; record state: v")
    out, seen = [], {}
    model = SimpleNamespace(name="ltc_neuron", state=M.STATE)
    cfc = SimpleNamespace(name="cfc", state=CFC.STATE)
    for i, entry in enumerate(rec.get("state", []) or []):
        pop = entry.get("population") if isinstance(entry, dict) else None
        out.append(
            parse_state_record(
                ctx,
                entry,
                f"record.state[{i}]",
                pops,
                ltc,
                lambda p: cfc if pops[p].kind == "cfc" else model,
                dt,
                seen,
                default_variables=[var.get(pop, "v") if isinstance(pop, str) else "v"],
            )
        )
    return [], out


def build_ltc_spec(ctx, doc, name, dt, duration, seed, path, text):
    raw = doc["populations"]
    pops = {}
    for pname, obj in raw.items():
        pops[pname] = parse_population(ctx, pname, obj, f"populations.{pname}")
    if not any(p.kind in ("ltc", "cfc") for p in pops.values()):
        raise ctx.err("populations", "expected at least one ltc_neuron or cfc population")
    _check_cfc_inputs(ctx, pops)
    for p in pops.values():
        if p.kind == "series":
            iv = p.params["interval"] if p.params["interval"] is not None else dt
            if p.params["elapsed"] is not None and abs(iv - dt) > 1e-12:
                raise ctx.err(
                    f"{p.field}.params.interval",
                    "a series with elapsed times has one row per step: interval must equal dt",
                )
            p.params["interval"] = iv
    projections = parse_projections(ctx, doc, pops)
    spikes, states = parse_record(ctx, doc, pops, dt)
    return make_spec(
        ctx, name, dt, duration, seed, pops, projections, spikes, states, path, text, kind="ltc"
    )
