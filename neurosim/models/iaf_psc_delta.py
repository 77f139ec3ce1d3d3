"""Leaky integrate-and-fire neuron with delta-shaped synaptic input (NEST ``iaf_psc_delta``).

Model equations
---------------
Between input spikes::

    dV_m/dt = -(V_m - E_L) / tau_m + (I_e + I_stim) / C_m

A spike of weight ``w`` (mV) on either receptor makes ``V_m`` jump by ``w`` at the
end of the step in which it arrives, so a single input gives the PSP
``w exp(-t / tau_m)``.  Inputs arriving while the neuron is refractory are
discarded (NEST's default ``refractory_input = False``; that option is not
modelled).

Closed-form update
------------------
Step ``h = dt``; ``I_e + I_stim`` constant within the step::

    V_m <- E_L + P_VV (V_m - E_L) + P_VI (I_e + I_stim) [+ w]
    P_VV = exp(-h / tau_m)
    P_VI = -(tau_m / C_m) expm1(-h / tau_m)

Arrays
------
``n`` neurons, no synaptic states (``S = 0``), ``R = 2`` receptors (``ex``, ``in``),
both with ``receptor_state = -1`` (add to ``V_m``) and gain 1.  ``P_syn`` (n, 0, 0),
``P_VV``, ``P_VI`` (n,), ``P_Vsyn`` (n, 0), ``G_avg`` (n, 0, 0), ``E_rev`` (n, 0).

References
----------
Rotter S, Diesmann M (1999). Exact digital simulation of time-invariant linear
systems with applications to neuronal modeling. Biol Cybern 81:381-402.
"""

from __future__ import annotations

import numpy as np

from .base import Entry, NeuronModel, Propagator
from .iaf_psc_exp import as_params


def propagator(params, dt):
    """Closed-form propagator of ``iaf_psc_delta`` for step ``dt`` (ms)."""
    p = as_params(params, ("C_m", "tau_m"))
    h = float(dt)
    C, tau_m = p["C_m"], p["tau_m"]
    n = C.shape[0]
    return Propagator(
        membrane="current",
        P_syn=np.zeros((n, 0, 0)),
        P_VV=np.exp(-h / tau_m),
        P_VI=-tau_m / C * np.expm1(-h / tau_m),
        P_Vsyn=np.zeros((n, 0)),
        G_avg=np.zeros((n, 0, 0)),
        E_rev=np.zeros((n, 0)),
        receptor_state=np.array([-1, -1], dtype=np.int64),
        receptor_gain=np.ones((n, 2)),
    )


MODEL = NeuronModel(
    name="iaf_psc_delta",
    params={
        "C_m": Entry(250.0, "pF", "Membrane capacitance"),
        "tau_m": Entry(10.0, "ms", "Membrane time constant"),
        "t_ref": Entry(
            2.0, "ms", "Duration of the absolute refractory period (rounded up to steps, as NEST)"
        ),
        "E_L": Entry(-70.0, "mV", "Resting (leak reversal) potential"),
        "V_reset": Entry(-70.0, "mV", "Reset potential after a spike"),
        "V_th": Entry(-55.0, "mV", "Spike threshold"),
        "V_min": Entry(-np.inf, "mV", "Lower bound of V_m in free steps (-inf: none)"),
        "I_e": Entry(0.0, "pA", "Constant external input current"),
    },
    state={
        "V_m": Entry(-70.0, "mV", "Membrane potential"),
    },
    receptors=("ex", "in"),
    weight_unit="mV",
    conductance_weights=False,
    propagator=propagator,
    doc=__doc__,
    aliases=("IF_curr_delta",),
)
