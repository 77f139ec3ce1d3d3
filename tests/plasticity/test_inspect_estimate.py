"""Plastic projections in ``get_connections`` (with the weights learned so far) and in
the memory estimate (14 bytes a synapse, 22 for stdp_nn_pre_centered_synapse), against
the arrays and a measured peak."""

import copy
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

import neurosim
from neurosim.network.estimate import estimate
from neurosim.network.spec import build_spec
from neurosim.plasticity import get_weights
from tests.conftest import ROOT

from .mpi_stdp import NET


def test_get_connections_includes_plastic_synapses(tmp_path):
    spec = build_spec(copy.deepcopy(NET), path=str(tmp_path / "net.yaml"))
    sim = neurosim.Simulation(spec, backend="numba")
    sim.run("100 ms")
    c = neurosim.get_connections(sim, "E", "E")
    pre, post, w = get_weights(sim, "E->E")
    assert len(c) == 80 * 12 and c.kind == "spikes" and c.weight_unit == "mV"
    np.testing.assert_array_equal(c.source, pre)
    np.testing.assert_array_equal(c.target, post)
    np.testing.assert_array_equal(c.weight, w)  # float64, as learned
    assert np.all(np.bincount(c.target, minlength=80) == 12)
    assert set(np.round(c.delay, 6)) <= set(np.round(np.arange(10, 26) * 0.1, 6))
    assert c.delay.min() >= 1.0 and c.delay.max() <= 2.5 and len(set(c.delay)) > 5
    assert np.any(np.abs(c.weight - 0.5) > 1e-3)
    # E->I is tsodyks (port ex, weight 300 pA), I->E static
    assert len(neurosim.get_connections(sim, "E", "I")) == 20 * 10
    assert np.all(neurosim.get_connections(sim, "I", "E").weight == -1.0)


@pytest.mark.parametrize("model, per_syn", [("stdp_synapse", 14), ("tsodyks_synapse", 14),
                                            ("stdp_nn_pre_centered_synapse", 22)])  # fmt: skip
def test_estimate_counts_plastic_synapses(tmp_path, model, per_syn):
    net = copy.deepcopy(NET)
    net["populations"]["E"]["size"] = 4000
    net["projections"][2]["rule"] = {"fixed_indegree": {"k": 200}}
    params = net["projections"][2]["synapse"]["params"] if model.startswith("stdp") else {}
    net["projections"][2]["synapse"] = {"model": model, "params": params}
    spec = build_spec(net, path=str(tmp_path / "net.yaml"))
    est = estimate(spec)
    n = 4000 * 200
    rows = 4000 * (16 + 16)  # every source reaches some target: id, pointer, state
    part = est.parts["plastic synapses"]
    assert n * per_syn + rows <= part <= n * per_syn + rows + 4000 * 600  # + histories
    assert est.synapses >= n + 20 * 10
    two = estimate(spec, 2)
    assert two.parts["plastic synapses"] < 0.6 * part


def test_estimate_within_25_percent_of_a_measured_peak(tmp_path):
    """A network with 2.4 M STDP synapses: the estimate against the peak RSS a run
    reports (VmHWM), kernels from numba's cache (the smaller of two runs)."""
    net = copy.deepcopy(NET)
    net["populations"]["E"]["size"] = 8000
    net["projections"][2]["rule"] = {"fixed_indegree": {"k": 300}}
    net["simulation"]["duration"] = 50.0
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(net))
    code = (
        "import sys\n"
        "from neurosim.cli import main\n"
        "c = main(sys.argv[1:])\n"
        "print([x for x in open('/proc/self/status') if x.startswith('VmHWM')][0])\n"
        "sys.exit(c)\n"
    )
    cmd = [sys.executable, "-c", code, "run", str(path), "-o", str(tmp_path / "o.h5")]
    cmd += ["--quiet", "--overwrite"]
    peaks = []
    for _ in range(2):
        p = subprocess.run(
            cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT)
        )
        assert p.returncode == 0, p.stderr
        peaks.append(int(p.stdout.split("VmHWM:")[1].split()[0]) * 1024)
    measured = min(peaks)
    est = estimate(neurosim.load(str(path))).total
    assert abs(est - measured) <= 0.25 * measured, (est / 2**20, [x / 2**20 for x in peaks])
