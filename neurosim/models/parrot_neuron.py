"""Parrot neuron: repeats each input spike at once (NEST ``parrot_neuron``).

Model equations
---------------
No dynamics.  Every spike arriving on receptor ``ex`` (NEST's port 0) in a step makes
the neuron emit a spike in that same step (spike time = end of the step, i.e. the
presynaptic spike time plus the delay); the synaptic weight is ignored, as in NEST.
Spikes arriving on receptor ``in`` (NEST's port 1) are accepted and ignored, so that a
plastic synapse can connect two parrots whose spike times are imposed by spike
generators (the STDP protocols of NEST's tests).

Closed-form update
------------------
With the weight of every synapse onto a parrot set to 1 (done when the network is
built), ``x`` the number of spikes arriving on ``ex`` in the step::

    V_m <- 0 * V_m + x          (P_VV = 0, P_VI = 0, E_L = 0, gain of ex 1, of in 0)
    spike if V_m >= 0.5, then V_m <- 0     (V_th = 0.5, V_reset = 0, t_ref = 0)

so the parrot fires in every step in which at least one spike arrives.

Limitation: several spikes arriving in one step (NEST's multiplicity) give one output
spike here; NEST sends one event of that multiplicity.

Arrays
------
``n`` neurons, no synaptic states, ``R = 2`` receptors (``ex``, ``in``), both adding
to ``V_m`` (``receptor_state = -1``) with gains 1 and 0.
"""

from __future__ import annotations

import numpy as np

from .base import Entry, NeuronModel, Propagator


def propagator(params, dt):
    """Propagator of ``parrot_neuron``: nothing is kept from one step to the next."""
    n = len(next(iter(params.values())))
    gain = np.zeros((n, 2))
    gain[:, 0] = 1.0
    return Propagator(
        membrane="current",
        P_syn=np.zeros((n, 0, 0)),
        P_VV=np.zeros(n),
        P_VI=np.zeros(n),
        P_Vsyn=np.zeros((n, 0)),
        G_avg=np.zeros((n, 0, 0)),
        E_rev=np.zeros((n, 0)),
        receptor_state=np.array([-1, -1], dtype=np.int64),
        receptor_gain=gain,
    )


MODEL = NeuronModel(
    name="parrot_neuron",
    params={
        # fixed internals (not meant to be changed): the relay as a threshold unit
        "C_m": Entry(1.0, "pF", "Unused"),
        "t_ref": Entry(0.0, "ms", "Unused (no refractory period)"),
        "E_L": Entry(0.0, "mV", "Unused (internal 0)"),
        "V_reset": Entry(0.0, "mV", "Internal: input count after a spike"),
        "V_th": Entry(0.5, "mV", "Internal: fires on an input count >= 1"),
        "V_min": Entry(-np.inf, "mV", "Unused"),
        "I_e": Entry(0.0, "pA", "Unused"),
    },
    state={
        "V_m": Entry(0.0, "mV", "Input count of the last step (internal)"),
    },
    receptors=("ex", "in"),
    weight_unit="mV",
    conductance_weights=False,
    propagator=propagator,
    doc=__doc__,
)
