"""Leaky integrate-and-fire neuron with exponential synaptic conductances (NEST ``iaf_cond_exp``).

Model equations
---------------
Between input spikes (``X`` is ``ex`` or ``in``)::

    C_m dV_m/dt = -g_L (V_m - E_L) - g_ex (V_m - E_ex) - g_in (V_m - E_in) + I_e + I_stim
    dg_X/dt     = -g_X / tau_syn_X

A spike of weight ``w`` (nS) adds ``|w|`` to ``g_ex`` if ``w > 0`` and to ``g_in``
otherwise (gain 1: a conductance ``|w| exp(-t / tau_syn_X)`` of peak ``|w|`` nS).

Closed-form update
------------------
Step ``h = dt``.  The conductances are linear and propagated exactly::

    P_syn = diag(exp(-h / tau_syn_ex), exp(-h / tau_syn_in))

The membrane update is the exact solution of the membrane ODE with each
conductance replaced by its mean over the step (and ``I_stim`` constant)::

    gbar_X = G_avg[X] g_X(t_k),     G_avg[X] = (tau_syn_X / h) (-expm1(-h / tau_syn_X))
    g_tot  = g_L + gbar_ex + gbar_in
    V_inf  = (g_L E_L + gbar_ex E_ex + gbar_in E_in + I_e + I_stim) / g_tot
    V_m   <- V_inf + (V_m - V_inf) exp(-h g_tot / C_m)

``G_avg`` is the exact mean of ``g_X(t) = g_X(t_k) exp(-(t - t_k) / tau_syn_X)`` over
``[t_k, t_k + h]`` (no input arrives inside a step).  The decay factor
``exp(-int g_tot / C_m)`` is thus exact and only the inhomogeneous term is
approximated: the scheme is second-order accurate (local error ``O(h^3)``, global
error ``O(h^2)``, measured in ``tests/models/test_propagators.py``).  NEST integrates
the same ODE with an adaptive RKF45 solver instead.

Refractoriness as NEST's: ``V_m = V_reset`` in every step of the refractory period
(also when :meth:`neurosim.Simulation.set` wrote another value), the threshold not
tested; the conductances keep evolving and receiving input.

Arrays
------
``n`` neurons, ``S = 2`` synaptic states (``g_ex``, ``g_in``), ``C = 2`` conductances,
``R = 2`` receptors (``ex`` -> state 0, ``in`` -> state 1, gain 1), weights are
conductances (``abs(w)``, sign selects the port).  ``P_syn`` (n, 2, 2),
``G_avg`` (n, 2, 2) diagonal, ``E_rev`` (n, 2) = ``[E_ex, E_in]``; ``P_VV``, ``P_VI``
(n,) and ``P_Vsyn`` (n, 2) are zero.

References
----------
Meffin H, Burkitt AN, Grayden DB (2004). An analytical model for the large,
fluctuating synaptic conductance state typical of neocortical neurons in vivo.
J Comput Neurosci 16:159-175.
"""

from __future__ import annotations

import numpy as np

from .base import Entry, NeuronModel, Propagator
from .iaf_psc_exp import as_params, psi


def propagator(params, dt):
    """Closed-form propagator of ``iaf_cond_exp`` for step ``dt`` (ms)."""
    p = as_params(params, ("tau_syn_ex", "tau_syn_in", "E_ex", "E_in"))
    h = float(dt)
    tex, tin = p["tau_syn_ex"], p["tau_syn_in"]
    n = tex.shape[0]
    P_syn = np.zeros((n, 2, 2))
    P_syn[:, 0, 0] = np.exp(-h / tex)
    P_syn[:, 1, 1] = np.exp(-h / tin)
    G_avg = np.zeros((n, 2, 2))
    G_avg[:, 0, 0] = psi(h / tex)
    G_avg[:, 1, 1] = psi(h / tin)
    return Propagator(
        membrane="conductance",
        P_syn=P_syn,
        P_VV=np.zeros(n),
        P_VI=np.zeros(n),
        P_Vsyn=np.zeros((n, 2)),
        G_avg=G_avg,
        E_rev=np.stack([p["E_ex"], p["E_in"]], axis=1),
        receptor_state=np.array([0, 1], dtype=np.int64),
        receptor_gain=np.ones((n, 2)),
    )


MODEL = NeuronModel(
    name="iaf_cond_exp",
    params={
        "C_m": Entry(250.0, "pF", "Membrane capacitance"),
        "g_L": Entry(16.6667, "nS", "Leak conductance"),
        "t_ref": Entry(
            2.0, "ms", "Duration of the absolute refractory period (rounded up to steps, as NEST)"
        ),
        "E_L": Entry(-70.0, "mV", "Leak reversal potential"),
        "V_reset": Entry(-60.0, "mV", "Reset potential after a spike"),
        "V_th": Entry(-55.0, "mV", "Spike threshold"),
        "V_min": Entry(-np.inf, "mV", "Lower bound of V_m in free steps (-inf: none; not in NEST)"),
        "I_e": Entry(0.0, "pA", "Constant external input current"),
        "E_ex": Entry(0.0, "mV", "Excitatory reversal potential"),
        "E_in": Entry(-85.0, "mV", "Inhibitory reversal potential"),
        "tau_syn_ex": Entry(0.2, "ms", "Decay time constant of excitatory conductance"),
        "tau_syn_in": Entry(2.0, "ms", "Decay time constant of inhibitory conductance"),
    },
    state={
        "V_m": Entry(-70.0, "mV", "Membrane potential"),
        "g_ex": Entry(0.0, "nS", "Excitatory synaptic conductance"),
        "g_in": Entry(0.0, "nS", "Inhibitory synaptic conductance"),
    },
    receptors=("ex", "in"),
    weight_unit="nS",
    conductance_weights=True,
    propagator=propagator,
    doc=__doc__,
    aliases=("IF_cond_exp",),
)
