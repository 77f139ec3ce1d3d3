"""parrot_neuron relays each input spike in the step it arrives (weight ignored, port
``in`` ignored); the ``synapse`` key is validated; 14 bytes per plastic synapse."""

import numpy as np
import pytest

import neurosim
from neurosim.network.build import build
from neurosim.network.spec import SpecError, build_spec
from neurosim.plasticity import get_weights
from neurosim.plasticity.build import BYTES_PER_SYNAPSE


def _net(syn=None, receptor=None, weight=-3.0):
    proj = {"pre": "g", "post": "P", "rule": "all_to_all", "delay": 2.0, "weight": weight}
    if receptor:
        proj["receptor"] = receptor
    doc = {
        "simulation": {"dt": 0.1, "duration": 50.0},
        "populations": {
            "g": {"model": "spike_generator", "params": {"spike_times": [1.0, 5.5, 30.0]}},
            "P": {"model": "parrot_neuron", "size": 2},
            "Q": {"model": "iaf_psc_delta", "size": 1, "params": {"tau_minus": 15.0}},
        },
        "projections": [
            proj,
            {"pre": "P", "post": "Q", "rule": "all_to_all", "weight": 1.0, "synapse": syn},
        ],
    }
    if syn is None:
        doc["projections"][1].pop("synapse")
    return doc


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_parrot_relays_at_arrival(tmp_path, backend):
    spec = build_spec(_net(), path=str(tmp_path / "n.yaml"))
    sim = neurosim.Simulation(spec, output=str(tmp_path / "o.h5"), backend=backend)
    sim.run("50 ms")
    t, ids = neurosim.open(str(tmp_path / "o.h5")).spikes("P")
    # spike at t reaches the parrot at t + 2 ms; a negative weight is relayed (NEST)
    np.testing.assert_allclose(t, [3.0, 3.0, 7.5, 7.5, 32.0, 32.0])
    np.testing.assert_array_equal(ids, [0, 1, 0, 1, 0, 1])


def test_parrot_port_in_is_ignored(tmp_path):
    spec = build_spec(_net(receptor="in"), path=str(tmp_path / "n.yaml"))
    sim = neurosim.Simulation(spec, output=str(tmp_path / "o.h5"), backend="numpy")
    sim.run("50 ms")
    assert len(neurosim.open(str(tmp_path / "o.h5")).spikes("P")[0]) == 0


def test_synapse_key_validated(tmp_path):
    with pytest.raises(SpecError, match="Wmx"):
        build_spec(_net({"model": "stdp_synapse", "params": {"Wmx": 3}}), path="n.yaml")
    with pytest.raises(SpecError, match="synapse model"):
        build_spec(_net({"model": "stdp"}), path="n.yaml")
    with pytest.raises(SpecError, match="U"):
        build_spec(_net({"model": "tsodyks_synapse", "params": {"U": 1.5}}), path="n.yaml")


def test_plastic_arrays_and_weights(tmp_path):
    spec = build_spec(
        _net({"model": "stdp_synapse", "params": {"Wmax": 10.0}}), path=str(tmp_path / "n.yaml")
    )
    b = build(spec)
    (p,) = b.plastic
    per_syn = p.target.itemsize + p.delay.itemsize + p.weight.itemsize
    assert per_syn == BYTES_PER_SYNAPSE <= 16 and p.weight.dtype == np.float64
    q = b.layouts["Q"].n0  # per local neuron: the post population's tau_minus
    assert b.plastic_history.tau_minus_inv[q] == 1 / 15.0
    assert len(b.target) == 2  # g -> P stays static
    sim = neurosim.Simulation(spec, output=str(tmp_path / "o.h5"), backend="numba")
    sim.run("50 ms")
    pre, post, w = get_weights(sim, "P->Q")
    np.testing.assert_array_equal(pre, [0, 1])
    np.testing.assert_array_equal(post, [0, 0])
    np.testing.assert_array_equal(w, [1.0, 1.0])  # no post spike: K- = 0, no change
