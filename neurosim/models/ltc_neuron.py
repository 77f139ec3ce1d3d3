"""Liquid time-constant (LTC) neuron: a graded potential with conductance synapses.

Model equation (Hasani et al., AAAI 2021), for neuron ``i``::

    c_m dv_i/dt = g_leak (v_leak - v_i)
                  + sum_j w_ij sigma(gamma_ij (v_j - mu_ij)) (E_ij - v_i)    chemical synapses
                  + sum_k g_ik (v_k - v_i)                                  gap junctions
                  + I_ext

``sigma`` is the logistic function; ``v_j`` is a presynaptic neuron's potential or a
sensory input value.  Units: ms, mV, pF, nS, pA, and ``gamma`` in 1/mV; ncps's
dimensionless parameters map one to one with one time unit = 1 ms (see docs/ltc.md).

Closed-form update (``closed_form``)
-------------------------------------------------
With every presynaptic value frozen over a (sub)step of length ``h`` the equation is
linear in ``v_i``: ``c_m dv/dt = A - B v`` with::

    G  = sum_j w_ij sigma_ij + sum_k g_ik                     (nS)
    GE = sum_j w_ij sigma_ij E_ij + sum_k g_ik v_k            (nS mV)
    B  = g_leak + G,   A = g_leak v_leak + GE + I_ext
    v(t + h) = v_inf + (v(t) - v_inf) exp(-h B / c_m),   v_inf = A / B

exact for the frozen problem and stable for every ``h`` (``v`` moves monotonically
towards ``v_inf``, the convex combination of ``v_leak``, the ``E_ij`` and neighbours).
It is first order in the coupling (presynaptic values lag by one substep).

``exp_midpoint`` (second order, the default): a half step of the closed form gives predicted values
``v(t + h/2)`` of every neuron; ``G`` and ``GE`` are evaluated there and the full step
is the closed form with those midpoint coefficients.  Still unconditionally stable.

Reference integrators (for measurement only): ``euler``, ``rk4``, ``ltc_fused`` (ncps's
semi-implicit solver: ``v <- (c_m/h' v + g_leak v_leak + GE) / (c_m/h' + g_leak + G +
eps)`` with ``h' = h / ode_unfolds``), and ``adaptive`` (scipy's solve_ivp, small
networks).

Precision: potentials and the update are float64.  ``integrator: {dtype: float32}``
rounds the synapse parameters to float32 and sums fully connected projections in
float32 (:mod:`neurosim.ltc.build`, docs/ltc.md), ncps's float32 counterpart.
"""

from __future__ import annotations

from .base import Entry

NAME = "ltc_neuron"

PARAMS = {
    "c_m": Entry(1.0, "pF", "Membrane capacitance"),
    "g_leak": Entry(1.0, "nS", "Leak conductance"),
    "v_leak": Entry(0.0, "mV", "Leak reversal potential"),
    "I_ext": Entry(0.0, "pA", "Constant external current"),
}

STATE = {
    "v": Entry(0.0, "mV", "Potential"),
}

#: Chemical synapse parameters (per synapse, per projection or from a file).
SYNAPSE = {
    "w": Entry(1.0, "nS", "Maximal conductance"),
    "gamma": Entry(1.0, "1/mV", "Slope of the sigmoid (ncps: sigma)"),
    "mu": Entry(0.0, "mV", "Midpoint of the sigmoid"),
    "E_rev": Entry(0.0, "mV", "Reversal potential"),
}

#: Electrical synapse (gap junction) parameters; stored in both directions.
GAP = {
    "g": Entry(1.0, "nS", "Gap-junction conductance"),
}

INTEGRATORS = ("closed_form", "exp_midpoint", "euler", "rk4", "ltc_fused", "adaptive")
