"""Leaky integrate-and-fire neuron with exponential postsynaptic currents (NEST ``iaf_psc_exp``).

Model equations
---------------
Between input spikes (``X`` is ``ex`` or ``in``)::

    dV_m/dt       = -(V_m - E_L) / tau_m + (I_syn_ex + I_syn_in + I_e + I_stim) / C_m
    dI_syn_X/dt   = -I_syn_X / tau_syn_X

A spike of weight ``w`` (pA) on receptor ``X`` adds ``w`` to ``I_syn_X`` (gain 1), so
each input is a current ``w exp(-t / tau_syn_X)`` of peak ``w`` and charge
``w tau_syn_X``.  Inhibitory weights are negative and keep their sign.

Closed-form update
------------------
Step ``h = dt`` with ``a = 1/tau_m``, ``b_X = 1/tau_syn_X``; the input current
``I_e + I_stim`` is constant within the step::

    P_VV       = exp(-h a)
    P_VI       = -(tau_m / C_m) expm1(-h a)
    P_syn      = diag(exp(-h b_ex), exp(-h b_in))
    P_Vsyn[X]  = (1/C_m) int_0^h exp(-a (h - s)) exp(-b_X s) ds
               = (h / C_m) exp(-h min(a, b_X)) psi(h |b_X - a|),
    psi(x)     = -expm1(-x) / x,   psi(0) = 1.

``P_Vsyn[X]`` equals ``exp(-h a) (-expm1(-h d)) / (C_m d)`` with ``d = b_X - a``; the
``psi`` form is the same number, evaluated without cancellation for every ratio
``tau_m / tau_syn_X`` including 1 (where it is ``h exp(-h a) / C_m``), and without
overflow when ``tau_syn_X`` is much longer than ``tau_m``.

Arrays
------
``n`` neurons, ``S = 2`` synaptic states (``I_syn_ex``, ``I_syn_in``), ``R = 2``
receptors (``ex`` -> state 0, ``in`` -> state 1, gain 1).  ``P_syn`` (n, 2, 2),
``P_VV``, ``P_VI`` (n,), ``P_Vsyn`` (n, 2), ``G_avg`` (n, 0, 2), ``E_rev`` (n, 0).

NEST's escape-noise parameters ``rho`` and ``delta`` and its receptor-1 current
port are not modelled (``delta = 0``: hard threshold).  NEST has no ``V_min`` for
this model; the default ``-inf`` never clamps.

References
----------
Rotter S, Diesmann M (1999). Exact digital simulation of time-invariant linear
systems with applications to neuronal modeling. Biol Cybern 81:381-402.
"""

from __future__ import annotations

import numpy as np

from .base import Entry, NeuronModel, Propagator


def psi(x):
    """``(1 - exp(-x)) / x`` = ``int_0^1 exp(-x u) du``, with ``psi(0) = 1``.

    Accurate to a few ulp for every real ``x`` (expm1 keeps the small-``x``
    relative accuracy; no series needed).
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.ones_like(x)
    nz = x != 0.0
    out[nz] = -np.expm1(-x[nz]) / x[nz]
    return out


def rate_difference(tau_1, tau_2):
    """``1/tau_2 - 1/tau_1`` as ``(tau_1 - tau_2) / (tau_1 tau_2)``.

    The subtraction of nearby time constants is exact (Sterbenz), so the result
    keeps full relative accuracy when ``tau_1 ~ tau_2`` and is exactly 0 at equality.
    """
    return (tau_1 - tau_2) / (tau_1 * tau_2)


def conv_exp(tau_m, tau_s, h):
    """``int_0^h exp(-(h - s)/tau_m) exp(-s/tau_s) ds``, stable for all tau ratios."""
    d = rate_difference(tau_m, tau_s)  # 1/tau_s - 1/tau_m
    slow = np.minimum(1.0 / tau_m, 1.0 / tau_s)
    return h * np.exp(-h * slow) * psi(h * np.abs(d))


def as_params(params, names):
    """Float64 1-D arrays of the named parameters, broadcast to one length ``n``."""
    arrs = [np.atleast_1d(np.asarray(params[k], dtype=np.float64)) for k in names]
    arrs = np.broadcast_arrays(*arrs)
    if arrs[0].ndim != 1:
        raise ValueError(f"parameters must be 1-D arrays, got shape {arrs[0].shape}")
    return {k: np.array(a) for k, a in zip(names, arrs, strict=True)}


def propagator(params, dt):
    """Closed-form propagator of ``iaf_psc_exp`` for step ``dt`` (ms)."""
    p = as_params(params, ("C_m", "tau_m", "tau_syn_ex", "tau_syn_in"))
    h = float(dt)
    C, tau_m = p["C_m"], p["tau_m"]
    n = C.shape[0]
    P_syn = np.zeros((n, 2, 2))
    P_syn[:, 0, 0] = np.exp(-h / p["tau_syn_ex"])
    P_syn[:, 1, 1] = np.exp(-h / p["tau_syn_in"])
    P_Vsyn = np.stack(
        [conv_exp(tau_m, p["tau_syn_ex"], h) / C, conv_exp(tau_m, p["tau_syn_in"], h) / C],
        axis=1,
    )
    return Propagator(
        membrane="current",
        P_syn=P_syn,
        P_VV=np.exp(-h / tau_m),
        P_VI=-tau_m / C * np.expm1(-h / tau_m),
        P_Vsyn=P_Vsyn,
        G_avg=np.zeros((n, 0, 2)),
        E_rev=np.zeros((n, 0)),
        receptor_state=np.array([0, 1], dtype=np.int64),
        receptor_gain=np.ones((n, 2)),
    )


MODEL = NeuronModel(
    name="iaf_psc_exp",
    params={
        "C_m": Entry(250.0, "pF", "Membrane capacitance"),
        "tau_m": Entry(10.0, "ms", "Membrane time constant"),
        "t_ref": Entry(
            2.0, "ms", "Duration of the absolute refractory period (rounded up to steps, as NEST)"
        ),
        "E_L": Entry(-70.0, "mV", "Resting (leak reversal) potential"),
        "V_reset": Entry(-70.0, "mV", "Reset potential after a spike"),
        "V_th": Entry(-55.0, "mV", "Spike threshold"),
        "V_min": Entry(-np.inf, "mV", "Lower bound of V_m in free steps (-inf: none; not in NEST)"),
        "I_e": Entry(0.0, "pA", "Constant external input current"),
        "tau_syn_ex": Entry(2.0, "ms", "Decay time constant of excitatory PSCs"),
        "tau_syn_in": Entry(2.0, "ms", "Decay time constant of inhibitory PSCs"),
    },
    state={
        "V_m": Entry(-70.0, "mV", "Membrane potential"),
        "I_syn_ex": Entry(0.0, "pA", "Excitatory synaptic current"),
        "I_syn_in": Entry(0.0, "pA", "Inhibitory synaptic current (negative)"),
    },
    receptors=("ex", "in"),
    weight_unit="pA",
    conductance_weights=False,
    propagator=propagator,
    doc=__doc__,
    aliases=("IF_curr_exp",),
)
