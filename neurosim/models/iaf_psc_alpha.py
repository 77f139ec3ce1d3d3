"""Leaky integrate-and-fire neuron with alpha-shaped postsynaptic currents (NEST ``iaf_psc_alpha``).

Model equations
---------------
Between input spikes (``X`` is ``ex`` or ``in``)::

    dV_m/dt   = -(V_m - E_L) / tau_m + (I_syn_ex + I_syn_in + I_e + I_stim) / C_m
    d(dI_X)/dt = -dI_X / tau_syn_X
    dI_X/dt    = dI_X - I_X / tau_syn_X

A spike of weight ``w`` (pA) on receptor ``X`` adds ``w e / tau_syn_X`` to ``dI_X``
(NEST's ``EPSCInitialValue``), giving the current
``I_X(t) = w (e t / tau_syn_X) exp(-t / tau_syn_X)``, which peaks at ``w`` pA at
``t = tau_syn_X``.  ``I_syn_ex`` and ``I_syn_in`` carry the names of NEST's recordables;
``dI_syn_ex``, ``dI_syn_in`` (pA/ms) are NEST's internal ``dI_ex_``, ``dI_in_``.

Closed-form update
------------------
Step ``h = dt`` with ``a = 1/tau_m``, ``b = 1/tau_syn_X``; ``I_e + I_stim`` constant
within the step::

    P_VV = exp(-h a),   P_VI = -(tau_m / C_m) expm1(-h a)
    P_syn block X = [[exp(-h b),   0        ],       rows/cols (dI_X, I_X)
                     [h exp(-h b), exp(-h b)]]
    P_Vsyn[I_X]  = (1/C_m) int_0^h e^{-a(h-s)} e^{-b s} ds
                 = (h / C_m) exp(-h min(a, b)) psi(h |b - a|)
    P_Vsyn[dI_X] = (1/C_m) int_0^h e^{-a(h-s)} s e^{-b s} ds
                 = (h^2 / C_m) exp(-h a) psi_u(h (b - a))      if b >= a
                 = (h^2 / C_m) exp(-h b) psi_1mu(h (a - b))    if b <  a

with the bounded functions (``x >= 0``, all in ``(0, 1]``)::

    psi(x)     = int_0^1 e^{-x u} du       = -expm1(-x) / x                 psi(0) = 1
    psi_u(x)   = int_0^1 u e^{-x u} du     = (1 - (1 + x) e^{-x}) / x^2     psi_u(0) = 1/2
    psi_1mu(x) = int_0^1 (1-u) e^{-x u} du = (x - 1 + e^{-x}) / x^2         psi_1mu(0) = 1/2

evaluated by their Taylor series for ``x <= 1`` and in closed form above, so the
propagator is accurate to a few ulp for every ratio ``tau_m / tau_syn`` including the
singular case ``tau_m == tau_syn`` (``P_Vsyn[dI] = h^2 exp(-h a) / (2 C_m)``), unlike a
switch between a regular and a singular formula.

Arrays
------
``n`` neurons, ``S = 4`` synaptic states (``dI_syn_ex``, ``I_syn_ex``, ``dI_syn_in``, ``I_syn_in``),
``R = 2`` receptors (``ex`` -> state 0 ``dI_syn_ex``, ``in`` -> state 2 ``dI_syn_in``), gain
``e / tau_syn_X`` (n, 2).  ``P_syn`` (n, 4, 4), ``P_VV``, ``P_VI`` (n,), ``P_Vsyn`` (n, 4),
``G_avg`` (n, 0, 4), ``E_rev`` (n, 0).

References
----------
Rotter S, Diesmann M (1999). Exact digital simulation of time-invariant linear
systems with applications to neuronal modeling. Biol Cybern 81:381-402.
"""

from __future__ import annotations

import math

import numpy as np

from .base import Entry, NeuronModel, Propagator
from .iaf_psc_exp import as_params, conv_exp, rate_difference

_NTERMS = 20
# Taylor coefficients (in powers of -x): 1/(k! (k+2)) and 1/(k! (k+1) (k+2)).
_C_U = np.array([1.0 / (math.factorial(k) * (k + 2)) for k in range(_NTERMS)])
_C_1MU = np.array([1.0 / (math.factorial(k) * (k + 1) * (k + 2)) for k in range(_NTERMS)])


def _series(coef, x):
    y = -x
    out = np.zeros_like(x)
    for c in coef[::-1]:
        out = out * y + c
    return out


def psi_u(x):
    """``int_0^1 u exp(-x u) du = (1 - (1 + x) exp(-x)) / x**2`` for ``x >= 0``."""
    x = np.asarray(x, dtype=np.float64)
    small = np.abs(x) <= 1.0
    out = _series(_C_U, np.where(small, x, 0.0))
    xb = x[~small]
    out[~small] = (-np.expm1(-xb) / xb - np.exp(-xb)) / xb
    return out


def psi_1mu(x):
    """``int_0^1 (1 - u) exp(-x u) du = (x - 1 + exp(-x)) / x**2`` for ``x >= 0``."""
    x = np.asarray(x, dtype=np.float64)
    small = np.abs(x) <= 1.0
    out = _series(_C_1MU, np.where(small, x, 0.0))
    xb = x[~small]
    out[~small] = (1.0 + np.expm1(-xb) / xb) / xb
    return out


def conv_texp(tau_m, tau_s, h):
    """``int_0^h exp(-(h - s)/tau_m) s exp(-s/tau_s) ds``, stable for all tau ratios."""
    d = rate_difference(tau_m, tau_s)  # 1/tau_s - 1/tau_m
    up = d >= 0.0
    rise = np.exp(-h / tau_m) * psi_u(h * np.where(up, d, 0.0))
    fall = np.exp(-h / tau_s) * psi_1mu(h * np.where(up, 0.0, -d))
    return h * h * np.where(up, rise, fall)


def alpha_blocks(taus, h):
    """Block-diagonal ``P_syn`` (n, 2k, 2k) of k alpha kernels ``(d, g)`` pairs."""
    n = taus[0].shape[0]
    P = np.zeros((n, 2 * len(taus), 2 * len(taus)))
    for i, tau in enumerate(taus):
        e = np.exp(-h / tau)
        P[:, 2 * i, 2 * i] = e
        P[:, 2 * i + 1, 2 * i] = h * e
        P[:, 2 * i + 1, 2 * i + 1] = e
    return P


def propagator(params, dt):
    """Closed-form propagator of ``iaf_psc_alpha`` for step ``dt`` (ms)."""
    p = as_params(params, ("C_m", "tau_m", "tau_syn_ex", "tau_syn_in"))
    h = float(dt)
    C, tau_m = p["C_m"], p["tau_m"]
    taus = (p["tau_syn_ex"], p["tau_syn_in"])
    n = C.shape[0]
    P_Vsyn = np.stack([f(tau_m, tau, h) / C for tau in taus for f in (conv_texp, conv_exp)], axis=1)
    return Propagator(
        membrane="current",
        P_syn=alpha_blocks(taus, h),
        P_VV=np.exp(-h / tau_m),
        P_VI=-tau_m / C * np.expm1(-h / tau_m),
        P_Vsyn=P_Vsyn,
        G_avg=np.zeros((n, 0, 4)),
        E_rev=np.zeros((n, 0)),
        receptor_state=np.array([0, 2], dtype=np.int64),
        receptor_gain=np.stack([np.e / tau for tau in taus], axis=1),
    )


MODEL = NeuronModel(
    name="iaf_psc_alpha",
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
        "tau_syn_ex": Entry(2.0, "ms", "Rise time (peak time) of excitatory alpha PSCs"),
        "tau_syn_in": Entry(2.0, "ms", "Rise time (peak time) of inhibitory alpha PSCs"),
    },
    state={
        "V_m": Entry(-70.0, "mV", "Membrane potential"),
        "dI_syn_ex": Entry(0.0, "pA/ms", "Derivative state of the excitatory alpha current"),
        "I_syn_ex": Entry(0.0, "pA", "Excitatory synaptic current (NEST recordable I_syn_ex)"),
        "dI_syn_in": Entry(0.0, "pA/ms", "Derivative state of the inhibitory alpha current"),
        "I_syn_in": Entry(0.0, "pA", "Inhibitory synaptic current (NEST recordable I_syn_in)"),
    },
    receptors=("ex", "in"),
    weight_unit="pA",
    conductance_weights=False,
    propagator=propagator,
    doc=__doc__,
    aliases=("IF_curr_alpha",),
)
