"""A built network is a pure function of (spec, seed): building only some targets (the
``targets_of`` hook the MPI partition uses) or in other chunk sizes gives exactly the
synapses of those targets in the full build -- sources, weights, delays, and the order
of the synapses of one (source, target) pair."""

from pathlib import Path

import numpy as np
import pytest

import neurosim
from neurosim.network import rules
from neurosim.network.build import build

from ..conftest import network

BRUNEL_SMALL = [
    "populations.E.size=400",
    "populations.I.size=100",
    "projections.0.rule.fixed_indegree.k=40",
    "projections.1.rule.fixed_indegree.k=10",
]
CUBA_SMALL = ["populations.E.size=400", "populations.I.size=100"]

RULES_NET = """
name: rules
simulation: {dt: 0.1 ms, duration: 10 ms, seed: 11}
populations:
  E: {size: 150, model: iaf_psc_exp}
  I: {size: 50, model: iaf_cond_exp}
  ext: {size: 2, model: poisson_generator, params: {rate: 5 kHz}}
  sg: {model: spike_generator, params: {spike_times: [1 ms, 2 ms]}}
  noise: {model: noise_generator, params: {mean: 10 pA, std: 50 pA, tau: 3 ms}}
projections:
  - {pre: E, post: [E, I], rule: {fixed_indegree: {k: 12}}, allow_autapses: false,
     allow_multapses: false, weight: {normal: {mean: 20, std: 5}},
     delay: {uniform: [1 ms, 3 ms]}}
  - {pre: I, post: [E, I], rule: {pairwise_bernoulli: {p: 0.2}}, allow_autapses: false,
     weight: {lognormal: {mean: 2, std: 1}},
     delay: {normal: {mean: 2 ms, std: 0.5 ms, min: 0.5 ms, max: 4 ms}}}
  - {pre: E, post: E, rule: {fixed_outdegree: {k: 9}}, allow_autapses: false,
     allow_multapses: false, weight: {uniform: [-3, 5]},
     delay: {normal: {mean: 1 ms, std: 1 ms, min: 0.1 ms, max: 3 ms, clip: true}}}
  - {pre: I, post: [I, E], rule: {fixed_total_number: {n: 700}}, allow_autapses: false,
     weight: -4, delay: 0.5 ms}
  - {pre: E, post: E, rule: one_to_one, weight: 3, delay: 0.2 ms}
  - {pre: I, post: I, rule: all_to_all, allow_autapses: false, weight: 1, receptor: in}
  - {pre: ext, post: [E, I], rule: {fixed_indegree: {k: 3}}, weight: {uniform: [1, 2]}}
  - {pre: sg, post: E, rule: {pairwise_bernoulli: {p: 0.5}}, weight: 100, delay: 2 ms}
  - {pre: noise, post: E, rule: {fixed_indegree: {k: 1}}, weight: {uniform: [0.5, 1]}}
  - {pre: E, post: I, rule: {from_file: {path: conn.npz}}}
  - {pre: I, post: E, rule: {from_file: {path: plain.npz}}, weight: {uniform: [-2, -1]},
     delay: {uniform: [0.5 ms, 1 ms]}}
"""


@pytest.fixture(scope="module")
def rules_net(tmp_path_factory):
    d = tmp_path_factory.mktemp("net")
    r = np.random.default_rng(0)
    pre, post = r.integers(0, 150, 400), r.integers(0, 50, 400)
    np.savez(
        d / "conn.npz",
        pre=pre,
        post=post,
        weight=r.uniform(1, 2, 400),
        delay=r.choice([0.5, 1.0, 2.5], 400),
    )
    np.savez(d / "plain.npz", pre=r.integers(0, 50, 300), post=r.integers(0, 150, 300))
    (d / "rules.yaml").write_text(RULES_NET)
    return str(d / "rules.yaml")


def _local_index(b, neuron):
    """Population-local index and population size of each neuron index."""
    local, size = np.empty_like(neuron), np.empty_like(neuron)
    for lay in b.layouts.values():
        if lay.n0 >= 0:
            m = (neuron >= lay.n0) & (neuron < lay.n0 + lay.size)
            local[m] = neuron[m] - lay.n0
            size[m] = lay.size
    return local, size


def _recurrent(b):
    """(target slot, source gid, weight, delay), by target then source, CSR order kept."""
    src = np.repeat(b.src_gids, np.diff(b.row_ptr))
    tgt = b.target.astype(np.int64)
    o = np.lexsort((src, tgt))  # stable: CSR order among equal (target, source)
    return tgt[o], src[o], b.weight[o], b.delay[o].astype(np.int64)


def _devices(b, kind):
    t, w, d, g = (getattr(b, f"{kind}_{x}") for x in ("target", "weight", "delay", "gen"))
    k = b.pois_key if kind == "pois" else b.noise_key
    o = np.lexsort((k, g, t))
    return t[o].astype(np.int64), w[o], d[o], g[o], k[o]


def _select(b, arrays, keep_local):
    """The rows of ``arrays`` (first: target slot) whose target neuron is kept."""
    m = keep_local(*_local_index(b, arrays[0] % b.n_neurons))
    return tuple(a[m] for a in arrays)


def _check_union(full, parts):
    """Every part equals the full build restricted to its targets."""
    for name in ("_recurrent", "pois", "cur"):
        fa = _recurrent(full) if name == "_recurrent" else _devices(full, name)
        n_total = 0
        for b, keep in parts:
            pa = _recurrent(b) if name == "_recurrent" else _devices(b, name)
            ref = _select(full, fa, keep)
            assert len(pa[0]) == len(ref[0]), name
            for x, y in zip(pa, ref, strict=True):
                np.testing.assert_array_equal(x, y, err_msg=name)
            n_total += len(pa[0])
        assert n_total == len(fa[0]), name
    assert full.n_synapses == sum(b.n_synapses for b, _ in parts)


def _keep(sel):
    """Whether each (local index, population size) is among ``sel(arange(size))``."""

    def keep(local, size):
        m = np.zeros(len(local), bool)
        for n in np.unique(size):
            w = size == n
            m[w] = np.isin(local[w], sel(np.arange(n)))
        return m

    return keep


def _partitions(spec, splits):
    return [
        (build(spec, targets_of=lambda name, size, sel=sel: sel(np.arange(size))), _keep(sel))
        for sel in splits
    ]


EVEN_ODD = [lambda a: a[a % 2 == 0], lambda a: a[a % 2 == 1]]
THIRDS = [
    lambda a: a[: len(a) // 3],
    lambda a: a[len(a) // 3 : len(a) // 2],
    lambda a: a[len(a) // 2 :],
]


def _spec(path, overrides=None):
    return neurosim.load(path, overrides)


@pytest.mark.parametrize("case", ["brunel", "cuba", "rules"])
@pytest.mark.parametrize("splits", [EVEN_ODD, THIRDS], ids=["even_odd", "thirds"])
def test_partition_union_equals_full(case, splits, rules_net):
    spec = {
        "brunel": lambda: _spec(network("brunel2000"), BRUNEL_SMALL),
        "cuba": lambda: _spec(network("cuba"), CUBA_SMALL),
        "rules": lambda: _spec(rules_net),
    }[case]()
    full = build(spec)
    assert full.n_synapses > 0
    _check_union(full, _partitions(spec, splits))


@pytest.mark.parametrize("case", ["brunel", "rules"])
def test_chunking_does_not_matter(case, rules_net, monkeypatch):
    spec = _spec(network("brunel2000"), BRUNEL_SMALL) if case == "brunel" else _spec(rules_net)
    full = build(spec)
    monkeypatch.setattr(rules, "CHUNK", 7)
    small = build(spec)
    _check_union(full, [(small, lambda local, size: np.ones(len(local), bool))])
    np.testing.assert_array_equal(full.row_ptr, small.row_ptr)
    np.testing.assert_array_equal(full.src_gids, small.src_gids)
    np.testing.assert_array_equal(full.target, small.target)
    np.testing.assert_array_equal(full.weight, small.weight)
    np.testing.assert_array_equal(full.delay, small.delay)


def test_same_seed_same_network_other_seed_differs(rules_net):
    a, b = build(_spec(rules_net)), build(_spec(rules_net))
    for x in ("src_gids", "row_ptr", "target", "weight", "delay", "pois_key", "noise_key"):
        np.testing.assert_array_equal(getattr(a, x), getattr(b, x))
    c = build(_spec(rules_net, ["simulation.seed=12"]))
    assert not (len(c.target) == len(a.target) and np.array_equal(c.target, a.target))


def test_from_file_values(rules_net):
    b = build(_spec(rules_net))
    z = np.load(Path(rules_net).parent / "conn.npz")
    E, I = b.layouts["E"], b.layouts["I"]
    tgt, src, w, d = _recurrent(b)
    neuron = tgt % b.n_neurons
    m = (src < E.gid0 + E.size) & (neuron >= I.n0) & (w >= 1) & (w <= 2)
    got = np.lexsort((d[m], w[m], src[m], neuron[m] - I.n0))
    ref = np.lexsort(
        (np.round(z["delay"] / 0.1), z["weight"].astype(np.float32), z["pre"], z["post"])
    )
    np.testing.assert_array_equal((neuron[m] - I.n0)[got], z["post"][ref])
    np.testing.assert_array_equal(src[m][got], z["pre"][ref])
    np.testing.assert_array_equal(w[m][got], z["weight"].astype(np.float32)[ref])


def test_csr_layout(rules_net):
    b = build(_spec(rules_net))
    # compact rows: only sources with synapses, sorted
    assert b.row_ptr.dtype == np.int64 and len(b.row_ptr) == len(b.src_gids) + 1
    assert (np.diff(b.src_gids) > 0).all() and (np.diff(b.row_ptr) > 0).all()
    assert b.row_ptr[0] == 0 and b.row_ptr[-1] == b.n_synapses
    assert b.target.dtype == np.int32 and b.weight.dtype == np.float32
    assert b.delay.dtype == np.uint8
    assert b.min_delay == b.delay.min() and b.max_delay >= b.delay.max()
    # conductance targets store |w| and choose the port by sign
    info = {name: n for name, _, _, n in b.projection_info}
    assert sum(info.values()) >= b.n_synapses
