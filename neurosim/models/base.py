"""What a model file declares, and the propagator arrays that backends consume.

A neuron model is *data*: parameter and state tables with units, the names of its
threshold / reset / refractory parameters, its receptor ports, and a function
``propagator(params, dt)`` that computes (once, in numpy) the closed-form update
of its linear part.  Backends are generic: they read :class:`Propagator` arrays
and never know which model they run.

One tick (step ``k``, from ``t_k`` to ``t_k + dt``) of every neuron model, in this
order (NEST's order for its iaf models)::

    if not refractory:
        V <- membrane update from (V, syn, I_e + I_stim) at the start of the step
    else:
        refractory counter -= 1
        V held (current-based: V_reset after a spike, or what Simulation.set wrote),
        V <- V_reset (conductance-based: NEST's iaf_cond_* reset V in every such step)
    syn <- P_syn @ syn                     (exact decay of synaptic states)
    syn[receptor_state[r]] += receptor_gain[r] * input[r]   for each receptor r
        (receptor_state[r] == -1 means "add to V", as iaf_psc_delta does; that input
         is discarded while refractory)
    if not refractory: V <- max(V, V_min)  (NEST clamps in free steps only)
    if V >= V_th: spike, V <- V_reset, refractory counter <- ceil(t_ref / dt)
        (V_reset < V_th is required, as in NEST, so a conductance-based neuron never
         fires while refractory)

Membrane update, ``membrane == "current"``::

    V' = E_L + P_VV (V - E_L) + sum_s P_Vsyn[s] syn[s] + P_VI (I_e + I_stim)

``membrane == "conductance"`` (conductances are synaptic states in nS)::

    gbar_c = sum_s G_avg[c, s] syn[s]           exact mean conductance over the step
    g_tot  = g_L + sum_c gbar_c
    V_inf  = (g_L E_L + sum_c gbar_c E_rev[c] + I_e + I_stim) / g_tot
    V'     = V_inf + (V - V_inf) exp(-dt g_tot / C_m)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Entry:
    """One row of a parameter or state table.

    Attributes
    ----------
    default : float
        Default value in the internal unit.
    unit : str
        Internal unit (``ms``, ``mV``, ``pA``, ``pF``, ``nS``, ``Hz`` or ``1``).
    doc : str
        One-line description.
    """

    default: float
    unit: str
    doc: str


@dataclass
class Propagator:
    """Closed-form update arrays for one group of neurons.

    Every array has a leading axis of length ``n`` (1 when parameters are shared by
    the group, else one row per neuron).  ``S`` is the number of synaptic states,
    ``R`` the number of receptor ports, ``C`` the number of conductances.

    Attributes
    ----------
    membrane : str
        ``"current"`` or ``"conductance"``.
    P_syn : ndarray, shape (n, S, S)
        ``syn(t + dt) = P_syn @ syn(t)`` between inputs.
    P_VV, P_VI : ndarray, shape (n,)
        Current-based membrane propagators (zeros for conductance models).
    P_Vsyn : ndarray, shape (n, S)
        Current-based coupling of synaptic states into V (mV per state unit).
    G_avg : ndarray, shape (n, C, S)
        Conductance models: mean of each conductance over the step as a linear
        map of the synaptic state at the start of the step (``C == 0`` otherwise).
    E_rev : ndarray, shape (n, C)
        Reversal potential of each conductance (mV).
    receptor_state : ndarray of int, shape (R,)
        Index into the synaptic states that receptor ``r`` adds to; -1 adds to V.
    receptor_gain : ndarray, shape (n, R)
        Factor applied to an incoming weight on receptor ``r`` (e.g. ``e / tau_syn``
        for alpha-shaped currents, 1 for exponential ones).
    """

    membrane: str
    P_syn: np.ndarray
    P_VV: np.ndarray
    P_VI: np.ndarray
    P_Vsyn: np.ndarray
    G_avg: np.ndarray
    E_rev: np.ndarray
    receptor_state: np.ndarray
    receptor_gain: np.ndarray


@dataclass(frozen=True)
class NeuronModel:
    """A neuron model declared as data.

    Attributes
    ----------
    name : str
        NEST's name where the model is NEST's.
    params : dict of str to Entry
        Parameter table (internal units).
    state : dict of str to Entry
        State table.  ``V_m`` first, then the synaptic states in the order of the
        rows of ``P_syn``.
    receptors : tuple of str
        Receptor port names in order (``("ex", "in")``); a negative weight goes to
        ``"in"`` unless a projection names its receptor.
    weight_unit : str
        Unit of a synaptic weight (``pA``, ``mV`` or ``nS``).
    conductance_weights : bool
        True when weights are conductances: the stored weight is ``abs(w)`` and
        the sign only selects the port (NEST's iaf_cond_* convention).
    propagator : callable
        ``propagator(params: dict[str, ndarray], dt: float) -> Propagator``;
        each params value has shape (n,), internal units, dt in ms.
    aliases : tuple of str
        Other names (PyNN's) accepted in network files.
    """

    name: str
    params: dict[str, Entry]
    state: dict[str, Entry]
    receptors: tuple[str, ...]
    weight_unit: str
    conductance_weights: bool
    propagator: object
    doc: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def syn_state(self) -> tuple[str, ...]:
        """Names of the synaptic states (all states but ``V_m``), in ``P_syn`` order."""
        return tuple(k for k in self.state if k != "V_m")


#: Parameters every spiking neuron model has (NEST names, internal units).
THRESHOLD_PARAMS = ("V_th", "V_reset", "t_ref", "E_L", "I_e", "V_min")
