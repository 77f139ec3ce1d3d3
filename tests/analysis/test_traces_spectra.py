"""State statistics, synchrony, spectra and the KS test against plain numpy and scipy."""

import numpy as np
import pytest
from scipy import signal, stats

import neurosim
from neurosim import analysis as A
from neurosim.analysis import stats as nstats


def test_trace_stats_and_chi(brunel_h5):
    with neurosim.open(brunel_h5) as rec:
        times, v, ids = rec.report("E", "V_m")
        s = A.trace_stats(rec, "E", "V_m", 30.0, 170.0, rows=50)
        chi = A.synchrony_chi(rec, "E", "V_m", 30.0, 170.0)
    sel = (times > 30.0 + 1e-9) & (times <= 170.0 + 1e-9)
    x = v[sel]
    assert x.shape == (1400, 40) and s["n_samples"] == 1400 and s["units"] == "mV"
    np.testing.assert_allclose(s["mean"], x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(s["std"], x.std(axis=0), rtol=1e-10)
    assert np.array_equal(s["min"], x.min(axis=0)) and np.array_equal(s["max"], x.max(axis=0))
    assert np.array_equal(s["node_ids"], ids)
    assert s["population_mean"] == pytest.approx(x.mean(), rel=1e-12)
    assert s["population_std"] == pytest.approx(x.std(), rel=1e-10)
    golomb = np.sqrt(x.mean(axis=1).var() / x.var(axis=0).mean())
    assert chi == pytest.approx(golomb, rel=1e-10)
    assert s["chi"] == pytest.approx(chi, rel=1e-12)  # other blocks, other rounding
    assert 0 < chi < 1


def test_spike_chi_and_population_fano(brunel_h5):
    with neurosim.open(brunel_h5) as rec:
        _edges, c = A.binned_counts(rec, "E", 2.0)
        chi = A.spike_synchrony_chi(rec, "E", 2.0)
        fano = A.population_fano_factor(rec, "E", 2.0)
    c = c.astype(np.float64)
    assert chi == pytest.approx(np.sqrt(c.mean(axis=0).var() / c.var(axis=1).mean()), rel=1e-12)
    pop = c.sum(axis=0)
    assert fano == pytest.approx(pop.var() / pop.mean(), rel=1e-12)


def test_ltc_summary(celegans_h5):
    with neurosim.open(celegans_h5) as rec:
        times, v, _ids = rec.report("neurons", "v")
        s = A.ltc_summary(rec, "neurons", "v", rows=7)
        t2, m2, sd2 = A.mean_trace(rec, "neurons", "v")
    assert v.shape == (400, 302)
    assert np.array_equal(s["initial"], v[0]) and np.array_equal(s["final"], v[-1])
    np.testing.assert_allclose(s["mean"], v.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(s["std"], v.std(axis=0), rtol=1e-9, atol=1e-15)
    assert np.array_equal(s["t_max"], times[np.argmax(v, axis=0)])
    assert np.array_equal(s["t_min"], times[np.argmin(v, axis=0)])
    slope = np.abs(np.diff(v, axis=0)).sum(axis=0) / (times[-1] - times[0])
    np.testing.assert_allclose(s["mean_abs_slope"], slope, rtol=1e-12)
    tol = 0.01 * (v.max(axis=0) - v.min(axis=0))
    away = np.abs(v - v[-1]) > tol
    settle = np.where(away.any(axis=0), times[len(v) - 1 - np.argmax(away[::-1], axis=0)], times[0])
    assert np.array_equal(s["settle_time"], settle)
    np.testing.assert_allclose(m2, v.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(sd2, v.std(axis=1), rtol=1e-12)
    assert np.array_equal(t2, times) and np.array_equal(s["times"], times)


@pytest.mark.parametrize("n,nperseg", [(1000, 256), (999, 100), (50, 256), (300, 33)])
def test_power_spectrum_equals_scipy_welch(n, nperseg):
    x = np.random.default_rng(n).normal(3.0, 2.0, n) + np.sin(np.arange(n) * 0.7)
    f, p = A.power_spectrum(x, 2000.0, nperseg)
    f_ref, p_ref = signal.welch(x, fs=2000.0, nperseg=min(nperseg, n))
    assert np.array_equal(f, f_ref)
    np.testing.assert_allclose(p, p_ref, rtol=1e-10, atol=1e-15 * p_ref.max())


def test_rate_and_trace_spectra(brunel_h5):
    with neurosim.open(brunel_h5) as rec:
        f, p = A.rate_spectrum(rec, "E", 0.5, nperseg=128)
        _e, rate = A.population_rate(rec, "E", 0.5)
        f2, p2 = A.trace_spectrum(rec, "E", "V_m", nperseg=512)
        _t, mean, _sd = A.mean_trace(rec, "E", "V_m")
    assert f[-1] == 1000.0
    np.testing.assert_allclose(p, signal.welch(rate, fs=2000.0, nperseg=128)[1], rtol=1e-10)
    np.testing.assert_allclose(p2, signal.welch(mean, fs=10000.0, nperseg=512)[1], rtol=1e-10)
    assert f2[1] == pytest.approx(10000.0 / 512)


def test_ks_2samp(monkeypatch):
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 300), rng.normal(0.3, 1, 200)
    d, p, how = A.ks_2samp(a, b)
    ref = stats.ks_2samp(a, b)
    assert how == "scipy" and d == ref.statistic and p == ref.pvalue
    # without scipy: the same statistic, and the asymptotic p-value close to scipy's
    monkeypatch.setitem(__import__("sys").modules, "scipy", None)
    for b2 in (b, rng.normal(0.0, 1, 200), rng.normal(1.0, 1, 50)):
        ref = stats.ks_2samp(a, b2, method="asymp")
        d, p, how = nstats.ks_2samp(a, b2)
        assert how == "asymptotic" and d == pytest.approx(ref.statistic, abs=1e-15)
        assert p == pytest.approx(ref.pvalue, abs=0.01)
