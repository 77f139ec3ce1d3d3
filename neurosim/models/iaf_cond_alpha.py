"""Leaky integrate-and-fire neuron with alpha-shaped conductances (NEST ``iaf_cond_alpha``).

Model equations
---------------
Between input spikes (``X`` is ``ex`` or ``in``)::

    C_m dV_m/dt = -g_L (V_m - E_L) - g_ex (V_m - E_ex) - g_in (V_m - E_in) + I_e + I_stim
    d(dg_X)/dt  = -dg_X / tau_syn_X
    dg_X/dt     = dg_X - g_X / tau_syn_X

A spike of weight ``w`` (nS) adds ``|w| e / tau_syn_X`` to ``dg_ex`` if ``w > 0`` and
to ``dg_in`` otherwise (NEST's ``PSConInit``), giving the conductance
``g_X(t) = |w| (e t / tau_syn_X) exp(-t / tau_syn_X)`` that peaks at ``|w|`` nS at
``t = tau_syn_X``.

Closed-form update
------------------
Step ``h = dt``, ``b = 1/tau_syn_X``.  The conductance states are linear and
propagated exactly; with ``g(t_k + s) = (g + dg s) exp(-b s)``::

    P_syn block X = [[exp(-h b),   0        ],       rows/cols (dg_X, g_X)
                     [h exp(-h b), exp(-h b)]]

The membrane update is the exact solution of the membrane ODE with each
conductance replaced by its mean over the step (and ``I_stim`` constant)::

    gbar_X = (1/h) int_0^h (g_X + dg_X s) exp(-b s) ds
           = psi(h b) g_X + h psi_u(h b) dg_X          (row X of G_avg)
    g_tot  = g_L + gbar_ex + gbar_in
    V_inf  = (g_L E_L + gbar_ex E_ex + gbar_in E_in + I_e + I_stim) / g_tot
    V_m   <- V_inf + (V_m - V_inf) exp(-h g_tot / C_m)

with ``psi(x) = (1 - e^{-x}) / x`` and ``psi_u(x) = (1 - (1 + x) e^{-x}) / x^2``
(see ``iaf_psc_alpha``), both evaluated without cancellation.  The decay factor
``exp(-int g_tot / C_m)`` is exact and only the inhomogeneous term is approximated:
the scheme is second-order accurate (local error ``O(h^3)``, global error
``O(h^2)``, measured in ``tests/models/test_propagators.py``).  NEST integrates the
same ODE with an adaptive RKF45 solver instead.

Refractoriness as NEST's: ``V_m = V_reset`` in every step of the refractory period
(also when :meth:`neurosim.Simulation.set` wrote another value), the threshold not
tested; the conductances keep evolving and receiving input.

Arrays
------
``n`` neurons, ``S = 4`` synaptic states (``dg_ex``, ``g_ex``, ``dg_in``, ``g_in``),
``C = 2`` conductances, ``R = 2`` receptors (``ex`` -> state 0 ``dg_ex``, ``in`` ->
state 2 ``dg_in``), gain ``e / tau_syn_X`` (n, 2); weights are conductances
(``abs(w)``, sign selects the port).  ``P_syn`` (n, 4, 4), ``G_avg`` (n, 2, 4),
``E_rev`` (n, 2) = ``[E_ex, E_in]``; ``P_VV``, ``P_VI`` (n,) and ``P_Vsyn`` (n, 4) are
zero.

References
----------
Meffin H, Burkitt AN, Grayden DB (2004). An analytical model for the large,
fluctuating synaptic conductance state typical of neocortical neurons in vivo.
J Comput Neurosci 16:159-175.
"""

from __future__ import annotations

import numpy as np

from .base import Entry, NeuronModel, Propagator
from .iaf_psc_alpha import alpha_blocks, psi_u
from .iaf_psc_exp import as_params, psi


def propagator(params, dt):
    """Closed-form propagator of ``iaf_cond_alpha`` for step ``dt`` (ms)."""
    p = as_params(params, ("tau_syn_ex", "tau_syn_in", "E_ex", "E_in"))
    h = float(dt)
    taus = (p["tau_syn_ex"], p["tau_syn_in"])
    n = taus[0].shape[0]
    G_avg = np.zeros((n, 2, 4))
    for c, tau in enumerate(taus):
        G_avg[:, c, 2 * c] = h * psi_u(h / tau)
        G_avg[:, c, 2 * c + 1] = psi(h / tau)
    return Propagator(
        membrane="conductance",
        P_syn=alpha_blocks(taus, h),
        P_VV=np.zeros(n),
        P_VI=np.zeros(n),
        P_Vsyn=np.zeros((n, 4)),
        G_avg=G_avg,
        E_rev=np.stack([p["E_ex"], p["E_in"]], axis=1),
        receptor_state=np.array([0, 2], dtype=np.int64),
        receptor_gain=np.stack([np.e / tau for tau in taus], axis=1),
    )


MODEL = NeuronModel(
    name="iaf_cond_alpha",
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
        "tau_syn_ex": Entry(0.2, "ms", "Rise time (peak time) of excitatory alpha conductance"),
        "tau_syn_in": Entry(2.0, "ms", "Rise time (peak time) of inhibitory alpha conductance"),
    },
    state={
        "V_m": Entry(-70.0, "mV", "Membrane potential"),
        "dg_ex": Entry(0.0, "nS/ms", "Derivative state of the excitatory alpha conductance"),
        "g_ex": Entry(0.0, "nS", "Excitatory synaptic conductance"),
        "dg_in": Entry(0.0, "nS/ms", "Derivative state of the inhibitory alpha conductance"),
        "g_in": Entry(0.0, "nS", "Inhibitory synaptic conductance"),
    },
    receptors=("ex", "in"),
    weight_unit="nS",
    conductance_weights=True,
    propagator=propagator,
    doc=__doc__,
    aliases=("IF_cond_alpha",),
)
