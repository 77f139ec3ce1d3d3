"""Synapse models of projections (``synapse: {model: ..., params: {...}}``).

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


@dataclass
class SynapseSpec:
    """A projection's synapse model and its parameters (internal units)."""

    model: str
    params: dict = field(default_factory=dict)

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

    if model == "stdp_synapse":
        need(p["tau_plus"] > 0, "tau_plus", "a positive time")
        need(p["Wmax"] != 0, "Wmax", "a nonzero weight")
        need(p["Kplus"] >= 0, "Kplus", "a value >= 0")
    else:
        need(0 <= p["U"] <= 1, "U", "a value in [0, 1]")
        need(p["tau_psc"] > 0, "tau_psc", "a positive time")
        need(p["tau_rec"] > 0, "tau_rec", "a positive time")
        need(p["tau_fac"] >= 0, "tau_fac", "a time >= 0")
        need(p["tau_psc"] != p["tau_rec"], "tau_psc", "tau_psc != tau_rec")
        need(p["x"] + p["y"] <= 1, "x", "x + y <= 1")
