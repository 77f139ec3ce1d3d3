"""Shared fixtures of the interop tests: one small recording and its network."""

import textwrap

import pytest

NETWORK = textwrap.dedent(
    """\
    name: interop
    simulation: {dt: 0.1 ms, duration: 60 ms, seed: 5}
    populations:
      E: {size: 40,model: iaf_psc_exp, params: {I_e: 360}, initial: &v {V_m: {uniform: [-70,-55]}}}
      I: {size: 10, model: iaf_cond_exp, params: {I_e: 300 pA}, initial: *v}
      ext: {size: 2, model: poisson_generator, params: {rate: 2 kHz}}
      sg: {size: 3, model: spike_generator, params: {spike_times: [[5 ms], [7 ms, 9 ms], []]}}
      dc: {model: dc_generator, params: {amplitude: 50 pA, start: 10 ms, stop: 40 ms}}
    projections:
      - {pre: E, post: [E, I], rule: {fixed_indegree: {k: 8}}, weight: {normal: {mean: 20, std: 5}},
         delay: {uniform: [1 ms, 3 ms]}}
      - {pre: I, post: E, rule: {pairwise_bernoulli: {p: 0.3}}, weight: -40 pA, delay: 1 ms}
      - {pre: I, post: I, rule: {pairwise_bernoulli: {p: 0.3}}, weight: -4 nS, delay: 1.2 ms}
      - {pre: ext, post: E, rule: all_to_all, weight: 10 pA, delay: 1.5 ms}
      - {pre: ext, post: I, rule: all_to_all, weight: {uniform: [-2 nS, 2 nS]}, delay: 1.5 ms}
      - {pre: sg, post: E, rule: {fixed_outdegree: {k: 4}}, weight: 100 pA, delay: 2 ms}
      - {pre: dc, post: E, rule: {fixed_outdegree: {k: 10}}, weight: 0.5, delay: 1 ms}
    record:
      spikes: [E, I]
      state:
        - {population: E, variables: [V_m, I_syn_ex], neurons: "0:5", interval: 0.1 ms}
        - {population: I, variables: [g_ex], neurons: [0, 3], interval: 0.5 ms}
    """
)


@pytest.fixture(scope="session")
def network_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "interop.yaml"
    path.write_text(NETWORK)
    return path


@pytest.fixture(scope="session")
def recording(network_file, tmp_path_factory):
    """A finished recording of the network (numpy backend, 60 ms)."""
    import neurosim

    out = tmp_path_factory.mktemp("rec") / "interop.h5"
    with neurosim.Simulation(neurosim.load(network_file), output=out, backend="numpy") as sim:
        sim.run(60.0)
    return out


@pytest.fixture(scope="session")
def built(network_file):
    import neurosim
    from neurosim.network.build import build

    return build(neurosim.load(network_file))
