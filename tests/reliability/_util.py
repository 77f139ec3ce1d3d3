"""Helpers of the reliability tests: read a whole recording, compare two bit for bit."""

import numpy as np

import neurosim


def contents(path):
    """Every spike train and trace of a recording, by population (and variable)."""
    out = {}
    with neurosim.open(path) as rec:
        for pop in rec.spike_populations:
            out[pop] = rec.spikes(pop)
        for pop in rec.report_populations:
            for var in rec.variables(pop):
                out[(pop, var)] = rec.report(pop, var)
        attrs = dict(rec.attrs)
    return out, attrs


def assert_same(a, b):
    """Spikes, sample times, traces and ids equal bit for bit (NaN-safe)."""
    ca, _ = contents(a) if not isinstance(a, dict) else (a, None)
    cb, _ = contents(b) if not isinstance(b, dict) else (b, None)
    assert sorted(map(str, ca)) == sorted(map(str, cb))
    for key, arrays in ca.items():
        for x, y in zip(arrays, cb[key], strict=True):
            assert x.dtype == y.dtype, key
            np.testing.assert_array_equal(x, y, err_msg=str(key))
    assert any(len(v[0]) for v in ca.values())
