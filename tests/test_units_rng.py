"""Units parsing, counter-based streams and the portable exp."""

import math

import numpy as np
import pytest

from neurosim import rng
from neurosim.backends import numba_backend, numpy_backend
from neurosim.units import UnitError, parse_quantity


def test_units():
    assert parse_quantity("1 s", "time") == 1000.0
    assert parse_quantity("20 kHz", "frequency") == 20000.0
    assert parse_quantity(5, "voltage") == 5.0
    assert parse_quantity("-0.5 mV", "voltage") == -0.5
    assert math.isclose(parse_quantity("0.25 nF", "capacitance"), 250.0, rel_tol=1e-15)
    assert math.isclose(parse_quantity("2 uS", "conductance"), 2000.0, rel_tol=1e-15)
    for bad, dim in [("20 mV", "time"), ("abc", "time"), (True, "time"), ("nan", "time")]:
        with pytest.raises(UnitError):
            parse_quantity(bad, dim)


def test_streams_are_keyed_not_ordered():
    key = rng.stream_key(1, rng.CONNECT, 0)
    sub = rng.id_keys(key, np.arange(1000))
    a = rng.uniform(sub, 5)
    b = rng.uniform(sub[::-1], 5)[::-1]  # any order of evaluation gives the same numbers
    assert np.array_equal(a, b)
    assert 0.0 <= a.min() and a.max() < 1.0
    u = rng.uniform(sub[:, None], np.arange(200)[None, :]).ravel()
    # uniformity: Kolmogorov-Smirnov distance for 2e5 draws well below 1.63 / sqrt(n)
    u.sort()
    d = np.max(np.abs(u - np.arange(1, len(u) + 1) / len(u)))
    assert d < 1.63 / math.sqrt(len(u))
    assert rng.stream_key(1, rng.CONNECT, 0) != rng.stream_key(2, rng.CONNECT, 0)
    assert rng.stream_key(1, rng.CONNECT, 0) != rng.stream_key(1, rng.WEIGHT, 0)


def test_poisson_table_counts():
    lam = 2.0
    cdf = rng.poisson_table(lam)
    sub = rng.id_keys(rng.stream_key(3, rng.POISSON, 0), np.arange(100))
    u = rng.uniform(sub[:, None], np.arange(2000)[None, :]).ravel()
    k = (cdf[None, :] < u[:, None]).sum(axis=1)
    n = len(k)
    assert abs(k.mean() - lam) < 4 * math.sqrt(lam / n)
    assert abs(k.var() - lam) < 0.05
    # probability of zero matches exp(-lam)
    assert abs((k == 0).mean() - math.exp(-lam)) < 4 * math.sqrt(math.exp(-lam) / n)


def test_portable_exp_bitwise_and_accurate():
    x = np.concatenate(
        [
            -np.logspace(-12, np.log10(699.9), 4000),
            np.logspace(-12, np.log10(700), 4000),
            np.linspace(-5, 5, 4001),
            [0.0, -0.0, -700.0, -1e-300],
        ]
    )
    a = numpy_backend.pexp(x)
    b = np.array([numba_backend.pexp(v) for v in x])
    assert np.array_equal(a, b)
    ok = x >= -700.0  # below, the result is flushed to 0 on purpose (no denormals)
    ref = np.exp(x[ok])
    ulp = np.abs(a[ok] - ref) / np.spacing(ref)
    assert ulp.max() <= 2.0
    assert numpy_backend.pexp(np.array([-800.0]))[0] == 0.0


QUANTITIES = [
    ("20 ms", "time"),
    ("1 s", "time"),
    ("0.25 nF", "capacitance"),
    ("20 kHz", "frequency"),
    ("-0.5 mV", "voltage"),
    ("1 uS", "conductance"),
    ("3.3 Gohm", "resistance"),
    ("2 pA/ms", "current/time"),
]


@pytest.fixture
def fresh_unit_cache(tmp_path, monkeypatch):
    from neurosim import units

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("NEUROSIM_UNIT_CACHE", raising=False)
    for f in (units._known, units._parse_string):
        f.cache_clear()
    yield units
    for f in (units._known, units._parse_string):
        f.cache_clear()


def test_quantities_pint_parsed_are_kept_with_their_bits(fresh_unit_cache):
    units = fresh_unit_cache
    first = [parse_quantity(t, d) for t, d in QUANTITIES]
    assert first == [units._parse_with_pint(t, d) for t, d in QUANTITIES]
    assert math.isclose(first[2], 250.0) and first[1] == 1000.0
    with pytest.raises(UnitError, match="expected a time"):
        parse_quantity("20 mV", "time")
    # a new process reads the file: the same values, and no entry for the error
    units._known.cache_clear()
    units._parse_string.cache_clear()
    known = units._known()
    assert [known.get(t, d) for t, d in QUANTITIES] == first
    assert known.get("20 mV", "time") is None
    with pytest.raises(UnitError, match="expected a time"):
        parse_quantity("20 mV", "time")


def test_a_damaged_unit_cache_is_ignored_and_rewritten(fresh_unit_cache, tmp_path):
    units = fresh_unit_cache
    parse_quantity("20 ms", "time")
    path = units._known().path
    with open(path, "w") as fh:
        fh.write('{"tag": "pint0", "values": {"time|20 ms": 99.0')  # cut off mid-write
    units._known.cache_clear()
    units._parse_string.cache_clear()
    assert parse_quantity("20 ms", "time") == 20.0
    units._known.cache_clear()
    assert units._known().get("20 ms", "time") == 20.0


def test_a_second_process_does_not_start_pint(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import network

    code = "import sys, neurosim; neurosim.load(sys.argv[1]); print('pint' in sys.modules)"
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    env.pop("NEUROSIM_UNIT_CACHE", None)
    runs = [
        subprocess.run(
            [sys.executable, "-c", code, network("coba")], env=env, capture_output=True, text=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert runs == ["True", "False"]
