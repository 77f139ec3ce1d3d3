"""The network build in parallel blocks (one per numba thread) makes the same network,
bit for bit, on any number of threads: the same CSR rows in the same order, the same
weights and delays, the same device synapses."""

import importlib

import numba
import numpy as np
import pytest

import neurosim
from neurosim.network import _build_kernels
from neurosim.network.build import build

from ..conftest import network
from .test_build_partition import rules_net  # noqa: F401  (fixture)

build_mod = importlib.import_module("neurosim.network.build")

ARRAYS = (
    "src_gids",
    "row_ptr",
    "target",
    "weight",
    "delay",
    "pois_target",
    "pois_weight",
    "pois_delay",
    "pois_key",
    "cur_target",
    "cur_weight",
    "noise_key",
)


def _build_on(spec, threads, monkeypatch):
    """``build(spec)`` with ``threads`` numba threads (blocks of every projection)."""
    if threads <= numba.config.NUMBA_NUM_THREADS:
        # numba's own count (undoing a stand-in set for an earlier call of the test)
        monkeypatch.setattr(_build_kernels, "n_threads", numba.get_num_threads)
        numba.set_num_threads(threads)
        assert _build_kernels.n_threads() == threads
    else:  # more blocks than this machine has threads: the same code, in Python threads
        monkeypatch.setattr(_build_kernels, "n_threads", lambda: threads)
    try:
        return build(spec)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def _assert_same(a, b):
    assert a.n_synapses == b.n_synapses > 0
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    assert (a.min_delay, a.max_delay) == (b.min_delay, b.max_delay)
    assert a.projection_info == b.projection_info


@pytest.fixture
def small_blocks(monkeypatch):
    """Split every projection, however small, and keep chunk buffers short."""
    monkeypatch.setattr(build_mod, "PAR_MIN_SYNAPSES", 0)
    monkeypatch.setattr(build_mod, "PAR_CHUNK", 64)


@pytest.mark.parametrize("case", ["rules", "microcircuit"])
def test_one_and_two_threads_build_the_same_network(case, rules_net, small_blocks, monkeypatch):  # noqa: F811
    spec = (
        neurosim.load(rules_net)
        if case == "rules"
        else neurosim.load(network("microcircuit"), ["scale.N=0.03", "scale.K=0.03"])
    )
    one = _build_on(spec, 1, monkeypatch)
    for threads in (2, 3):
        _assert_same(one, _build_on(spec, threads, monkeypatch))


def test_counting_again_equals_keeping_the_counts(rules_net, small_blocks, monkeypatch):  # noqa: F811
    spec = neurosim.load(rules_net)
    kept = _build_on(spec, 2, monkeypatch)
    monkeypatch.setattr(build_mod, "KEEP_COUNTS_BYTES", 0)
    _assert_same(kept, _build_on(spec, 2, monkeypatch))


BAD = """
name: bad
simulation: {dt: 0.1 ms, duration: 10 ms, seed: 3}
populations:
  E: {size: 40, model: iaf_psc_exp}
projections:
  - {pre: E, post: E, rule: {fixed_total_number: {n: 9000}}, delay: 1 ms,
     weight: {normal: {mean: 0 pA, std: 1 pA, min: 2.55 pA}}}
"""


def test_an_error_in_a_block_is_raised(tmp_path, small_blocks, monkeypatch):
    """A block that fails (here: bounds that keep 0.54 % of the draws, so that 1000
    redraws fail for about 1 synapse in 230) ends the build with the serial build's
    error, not with a half-filled network."""
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    with pytest.raises(neurosim.SpecError, match="bounded normal weight found no value"):
        _build_on(neurosim.load(str(path)), 2, monkeypatch)
