"""Synapse models of projections (``synapse: {model: ..., params: {...}}``), initial
weights from a recording (``weight: {from_file: ...}``) and ``record.weights``.

A spiking projection may name its synapse model, with NEST's model and parameter
names::

    projections:
      - pre: E
        post: E
        rule: {fixed_indegree: {k: 100}}
        weight: 20 pA
        delay: 1.5 ms
        synapse: {model: stdp_synapse, params: {tau_plus: 20 ms, lambda: 0.01, Wmax: 100 pA}}

``tau_minus`` (ms) of ``stdp_synapse`` is a parameter of the postsynaptic population
(``populations.<name>.params.tau_minus``, default 20 ms), as in NEST.  Parameters are
constants per projection (internal units: ms for times, the target's weight unit for
``Wmax``, dimensionless otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Parameters every neuron population accepts besides its model's: name ->
#: (default, dimension).  ``tau_minus``: time constant of the postsynaptic STDP trace.
NEURON_EXTRA_PARAMS = {"tau_minus": (20.0, "time")}

_STDP_NN = {
    "tau_plus": (20.0, "time"),
    "lambda": (0.01, "dimensionless"),
    "alpha": (1.0, "dimensionless"),
    "mu_plus": (1.0, "dimensionless"),
    "mu_minus": (1.0, "dimensionless"),
    "Wmax": (100.0, "weight"),
}

#: model -> {parameter: (default, dimension)}; ``weight`` means the target's weight unit.
SYNAPSE_MODELS = {
    "static_synapse": {},
    "stdp_synapse": {
        "tau_plus": (20.0, "time"),
        "lambda": (0.01, "dimensionless"),
        "alpha": (1.0, "dimensionless"),
        "mu_plus": (1.0, "dimensionless"),
        "mu_minus": (1.0, "dimensionless"),
        "Wmax": (100.0, "weight"),
        "Kplus": (0.0, "dimensionless"),
    },
    # nearest-neighbour pairing (NEST's models of the same names)
    "stdp_nn_symm_synapse": dict(_STDP_NN),
    "stdp_nn_restr_synapse": dict(_STDP_NN),
    "stdp_nn_pre_centered_synapse": dict(_STDP_NN, Kplus=(0.0, "dimensionless")),
    "tsodyks_synapse": {
        "U": (0.5, "dimensionless"),
        "tau_psc": (3.0, "time"),
        "tau_rec": (800.0, "time"),
        "tau_fac": (0.0, "time"),
        "x": (1.0, "dimensionless"),
        "y": (0.0, "dimensionless"),
        "u": (0.0, "dimensionless"),
    },
}


def is_stdp(model):
    """Whether a synapse model is one of the STDP ones (traces and a post history)."""
    return model.startswith("stdp_")


@dataclass
class SynapseSpec:
    """A projection's synapse model and its parameters (internal units)."""

    model: str
    params: dict = field(default_factory=dict)
    #: initial weights from a recording (``weight: {from_file: ...}``):
    #: ``{"path": absolute path, "projection": name in that file, "field": ...}``
    weight_file: dict | None = None

    @property
    def plastic(self) -> bool:
        return self.model != "static_synapse"


def parse_synapse(ctx, raw, path, prepop, wdim):
    """Validate ``synapse`` of one projection.

    Parameters
    ----------
    ctx : neurosim.network.spec._Ctx
        Error context (file name).
    raw : object
        The YAML value: a model name or ``{model: name, params: {...}}``.
    path : str
        Field path of ``synapse`` for messages.
    prepop : PopulationSpec
        The source population (plastic synapses need spiking sources).
    wdim : str
        Dimension of the target's weights (for ``Wmax``).

    Returns
    -------
    SynapseSpec or None
        None for ``static_synapse`` (the projection stays in the static CSR).
    """
    from ..network.spec import _check_keys, _join, _mapping, _quantity, _show, _suggest

    if isinstance(raw, str):
        raw = {"model": raw}
    _mapping(ctx, raw, path)
    _check_keys(ctx, raw, path, ("model", "params"), ("model",))
    model = raw["model"]
    if not isinstance(model, str) or model not in SYNAPSE_MODELS:
        raise ctx.err(
            _join(path, "model"),
            f"unknown synapse model {_show(model)}" + _suggest(str(model), SYNAPSE_MODELS),
        )
    table = SYNAPSE_MODELS[model]
    params = _mapping(ctx, raw.get("params", {}) or {}, _join(path, "params"))
    _check_keys(ctx, params, _join(path, "params"), tuple(table))
    if model == "static_synapse":
        return None
    if prepop.kind not in ("neuron", "spikes"):
        raise ctx.err(
            _join(path, "model"),
            f"{model} needs spiking sources (neurons or spike generators), not a {prepop.model}",
        )
    out = {}
    for name, (default, dim) in table.items():
        ppath = _join(_join(path, "params"), name)
        v = params.get(name, default)
        out[name] = float(_quantity(ctx, v, wdim if dim == "weight" else dim, ppath))
    _check_values(ctx, model, out, _join(path, "params"))
    return SynapseSpec(model, out)


def _check_values(ctx, model, p, path):
    from ..network.spec import _join

    def need(ok, name, what):
        if not ok:
            raise ctx.err(_join(path, name), f"expected {what}, got {p[name]}")

    if is_stdp(model):
        need(p["tau_plus"] > 0, "tau_plus", "a positive time")
        need(p["Wmax"] != 0, "Wmax", "a nonzero weight")
        if "Kplus" in p:
            need(p["Kplus"] >= 0, "Kplus", "a value >= 0")
    else:
        need(0 <= p["U"] <= 1, "U", "a value in [0, 1]")
        need(p["tau_psc"] > 0, "tau_psc", "a positive time")
        need(p["tau_rec"] > 0, "tau_rec", "a positive time")
        need(p["tau_fac"] >= 0, "tau_fac", "a time >= 0")
        need(p["tau_psc"] != p["tau_rec"], "tau_psc", "tau_psc != tau_rec")
        need(p["x"] + p["y"] <= 1, "x", "x + y <= 1")


@dataclass
class WeightRecordSpec:
    """One ``record.weights`` entry: synapses of a plastic projection sampled every
    ``interval`` (ms).  ``synapses`` is ``(start, stop or None, step)`` or a sorted
    int64 array of synapse indices (the (target, source) order of
    :mod:`neurosim.plasticity.record`)."""

    projection: str
    synapses: object
    interval: float
    field: str


def parse_weight_records(ctx, raw, projections, dt):
    """Validate ``record.weights`` (a list of ``{projection, synapses, interval}``).

    ``synapses``: ``all`` (default), ``start:stop[:step]`` or a list of indices;
    ``interval``: a multiple of dt (default dt).  A projection is recorded once.
    Bounds are checked against the number of synapses once they are built.
    """
    from ..network.spec import _check_keys, _join, _mapping, _quantity, _show, _suggest

    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ctx.err("record.weights", f"expected a list of entries, got {_show(raw)}")
    plastic = {p.name: p for p in projections if p.synapse is not None}
    out, seen = [], {}
    for i, entry in enumerate(raw):
        path = f"record.weights[{i}]"
        _mapping(ctx, entry, path)
        _check_keys(ctx, entry, path, ("projection", "synapses", "interval"), ("projection",))
        name = entry["projection"]
        if not isinstance(name, str) or name not in plastic:
            if not plastic:
                raise ctx.err(
                    _join(path, "projection"),
                    "the network has no plastic projection (synapse: {model: stdp_synapse, ...})",
                )
            raise ctx.err(
                _join(path, "projection"),
                f"no plastic projection {_show(name) if not isinstance(name, str) else repr(name)}"
                + _suggest(str(name), plastic),
            )
        if name in seen:
            raise ctx.err(
                _join(path, "projection"), f"{name!r} is already recorded by {seen[name]}"
            )
        seen[name] = path
        sel = _synapses(ctx, entry.get("synapses", "all"), _join(path, "synapses"))
        interval = _quantity(ctx, entry.get("interval", dt), "time", _join(path, "interval"))
        k = round(interval / dt)
        if k < 1 or abs(interval / dt - k) > 1e-9:
            raise ctx.err(
                _join(path, "interval"), f"expected a multiple of dt ({dt} ms), got {interval} ms"
            )
        out.append(WeightRecordSpec(name, sel, k * dt, path))
    return out


def _synapses(ctx, raw, path):
    import re

    import numpy as np

    from ..network.spec import _int, _show

    if raw == "all":
        return (0, None, 1)
    if isinstance(raw, str):
        m = re.fullmatch(r"\s*(\d*)\s*:\s*(\d*)\s*(?::\s*(\d+)\s*)?", raw)
        if not m:
            raise ctx.err(path, f"expected 'all', 'start:stop[:step]' or a list, got {raw!r}")
        start = int(m.group(1) or 0)
        stop = int(m.group(2)) if m.group(2) else None
        step = int(m.group(3) or 1)
        if step < 1 or (stop is not None and start >= stop):
            raise ctx.err(path, f"expected a nonempty slice with step >= 1, got {raw!r}")
        return (start, stop, step)
    if isinstance(raw, list) and raw:
        ids = [_int(ctx, x, path, 0, 1 << 62) for x in raw]
        return np.unique(np.asarray(ids, np.int64))
    raise ctx.err(path, f"expected 'all', 'start:stop[:step]' or a list, got {_show(raw)}")


def parse_weight_file(ctx, raw, path):
    """``weight: {from_file: learned.h5}`` or ``{from_file: {path: learned.h5,
    projection: name}}``: the final weights of a projection of an earlier run.

    Returns ``{"path", "projection" (None: this projection's name), "field"}``; the
    path is made absolute (relative to the network file) and must exist.
    """
    import os

    from ..network.spec import _check_keys, _join, _mapping, _show

    _check_keys(ctx, raw, path, ("from_file",), ("from_file",))
    p = _join(path, "from_file")
    arg = raw["from_file"]
    if isinstance(arg, str):
        arg = {"path": arg}
    _mapping(ctx, arg, p, "a file name or {path, projection}")
    _check_keys(ctx, arg, p, ("path", "projection"), ("path",))
    fpath = arg["path"]
    if not isinstance(fpath, str) or not fpath:
        raise ctx.err(_join(p, "path"), f"expected a file name, got {_show(fpath)}")
    name = arg.get("projection")
    if name is not None and not isinstance(name, str):
        raise ctx.err(_join(p, "projection"), f"expected a projection name, got {_show(name)}")
    if not os.path.isabs(fpath):
        fpath = os.path.join(os.path.dirname(os.path.abspath(ctx.file)), fpath)
    if not os.path.isfile(fpath):
        raise ctx.err(_join(p, "path"), f"file not found: {fpath}")
    return {"path": fpath, "projection": name, "field": p}


def check_weight_files(ctx, projections):
    """Name the file's projection (default: the same name) and check that the file
    holds its final weights (the synapses themselves are compared at the build)."""
    from ..io.weights import final_projections

    for proj in projections:
        wf = proj.synapse.weight_file if proj.synapse is not None else None
        if wf is None:
            continue
        if wf["projection"] is None:
            wf["projection"] = proj.name
        try:
            names = final_projections(wf["path"])
        except OSError as exc:
            raise ctx.err(wf["field"], f"cannot read {wf['path']}: {exc}") from None
        if wf["projection"] not in names:
            raise ctx.err(
                wf["field"],
                f"{wf['path']} holds no final weights of {wf['projection']!r} "
                f"(it has: {', '.join(names) or 'none'}); name one with "
                "{from_file: {path: ..., projection: ...}}",
            )
