"""Model registry: one model per file.

``MODELS`` maps every accepted name -- NEST's model name and its PyNN aliases
(``IF_curr_exp`` -> ``iaf_psc_exp`` ...) -- to its :class:`NeuronModel`;
``MODEL_NAMES`` lists the canonical (NEST) names once each, in a fixed order.
"""

from __future__ import annotations

from . import (
    iaf_cond_alpha,
    iaf_cond_exp,
    iaf_psc_alpha,
    iaf_psc_delta,
    iaf_psc_exp,
    parrot_neuron,
)
from .base import THRESHOLD_PARAMS, Entry, NeuronModel, Propagator

_ALL = tuple(
    m.MODEL
    for m in (
        iaf_psc_delta,
        iaf_psc_exp,
        iaf_psc_alpha,
        iaf_cond_exp,
        iaf_cond_alpha,
    )
)
#: Relays without dynamics (registered by name, outside the propagator tests).
_RELAYS = (parrot_neuron.MODEL,)

#: Canonical model names, one per model.
MODEL_NAMES: tuple[str, ...] = tuple(m.name for m in _ALL)

#: Every accepted name (canonical and alias) -> model.
MODELS: dict[str, NeuronModel] = {}
for _m in _ALL + _RELAYS:
    for _name in (_m.name, *_m.aliases):
        if _name in MODELS:
            raise RuntimeError(f"duplicate model name {_name!r}")
        MODELS[_name] = _m
del _m, _name


def get_model(name: str) -> NeuronModel:
    """The model called ``name`` (NEST name or PyNN alias); KeyError if unknown."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(
            f"unknown neuron model {name!r}; known: {', '.join(sorted(MODELS))}"
        ) from None


__all__ = [
    "MODELS",
    "MODEL_NAMES",
    "THRESHOLD_PARAMS",
    "Entry",
    "NeuronModel",
    "Propagator",
    "get_model",
]
