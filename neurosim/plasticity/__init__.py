"""Plastic synapses: ``stdp_synapse`` and ``tsodyks_synapse`` (NEST's), event-driven.

See ``docs/plasticity.md``.  Modules: :mod:`.spec` (the ``synapse`` key of
projections), :mod:`.build` (arrays by source), :mod:`.kernels` (the updates, in
closed form at spikes), :mod:`.runtime` (what a backend adds).
"""

from __future__ import annotations

from .spec import SYNAPSE_MODELS, SynapseSpec

__all__ = ["SYNAPSE_MODELS", "SynapseSpec", "get_weights"]


def get_weights(sim, projection):
    """Current weights of a plastic projection (this rank's synapses).

    Parameters
    ----------
    sim : neurosim.Simulation
    projection : str
        The projection's name (``pre->post`` unless named in the file).

    Returns
    -------
    pre, post : ndarray of int64
        Population-local ids of the source and target of each synapse.
    weight : ndarray of float64
        Weights in the target model's weight unit (pA, mV or nS), signed as in the
        network file (conductance-based targets: negative on the ``in`` port); for
        ``tsodyks_synapse`` the static scale ``w`` (the delivered weight is ``u x w``).

    In storage order (by source); :func:`neurosim.open` ``(path).weights(projection)``
    gives every rank's synapses of a recording, in (target, source) order.
    """
    built = sim.built
    for p in getattr(built, "plastic", []):
        if p.name == projection:
            pre, post = p.ids()
            return pre, post, p.signed()
    names = [p.name for p in getattr(built, "plastic", [])]
    raise KeyError(f"no plastic projection {projection!r}; plastic projections: {names}")


def synapse_state(sim, projection):
    """Per-source state of a plastic projection: dict of arrays, and ``src`` (the
    population-local source id of each row)."""
    for p in getattr(sim.built, "plastic", []):
        if p.name == projection:
            out = {k: v.copy() for k, v in p.state.items()}
            out["src"] = p.src_gids - p.pre_gid0
            return out
    raise KeyError(f"no plastic projection {projection!r}")
