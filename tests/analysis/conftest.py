"""Short runs of shipped networks, made once per test session.

``brunel2000.yaml`` is shrunk (1000 neurons, in-degrees and weights scaled to keep it
firing irregularly) and ``celegans.yaml`` shortened, both on the numpy backend, so the
whole analysis suite needs no numba compilation and stays within seconds.
"""

import pytest

import neurosim
from tests.conftest import network

BRUNEL_SMALL = [
    "populations.E.size=800",
    "populations.I.size=200",
    "projections.0.rule.fixed_indegree.k=80",
    "projections.1.rule.fixed_indegree.k=20",
    "projections.0.weight=1.0 mV",
    "projections.1.weight=-5 mV",
    "record.state.0.neurons=0:40",
]


def run(name, out, duration, overrides=()):
    spec = neurosim.load(network(name), list(overrides))
    sim = neurosim.Simulation(spec, output=str(out), backend="numpy")
    sim.run(duration)
    return str(out)


@pytest.fixture(scope="session")
def brunel_h5(tmp_path_factory):
    """brunel2000.yaml, shrunk, 200 ms: ~6000 E spikes, V_m of 40 E neurons."""
    return run("brunel2000", tmp_path_factory.mktemp("rec") / "brunel.h5", "200 ms", BRUNEL_SMALL)


@pytest.fixture(scope="session")
def brunel_h5_b(tmp_path_factory):
    """The same network with another seed, for comparisons of two runs."""
    overrides = [*BRUNEL_SMALL, "simulation.seed=2"]
    return run("brunel2000", tmp_path_factory.mktemp("rec") / "brunel_b.h5", "200 ms", overrides)


@pytest.fixture(scope="session")
def celegans_h5(tmp_path_factory):
    """celegans.yaml (302 LTC neurons), 40 ms: /report/neurons/v."""
    return run("celegans", tmp_path_factory.mktemp("rec") / "celegans.h5", "40 ms")
