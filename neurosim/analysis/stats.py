"""Statistics on arrays: rates, CV of ISIs, Welch spectra, the two-sample KS test.

The functions on recordings (read in chunks) are in :mod:`neurosim.analysis.spikes`
and :mod:`neurosim.analysis.traces`; :func:`population_summary` serves ``neurosim info``.
"""

from __future__ import annotations

import numpy as np


def mean_rate(n_spikes, n_neurons, duration_ms):
    """Mean firing rate (Hz) of a population: spikes / (neurons * duration)."""
    if n_neurons <= 0 or duration_ms <= 0:
        return 0.0
    return float(n_spikes) / (n_neurons * duration_ms * 1e-3)


def cv_isi(times, ids, min_spikes=3):
    """Mean over neurons of std(ISI) / mean(ISI) (ddof 0).

    Parameters
    ----------
    times : ndarray, shape (n,)
        Spike times (ms).
    ids : ndarray of int, shape (n,)
        Neuron ids.
    min_spikes : int
        Neurons with fewer spikes are left out.  3 (two intervals at least) is the
        default here and in the peer reference data; Elephant's ``cv(isi(train))``
        gives 0 for a train of 2 spikes, so pass 2 for its numbers.

    Returns
    -------
    cv : float
        NaN when no neuron qualifies.
    n_used : int
        Neurons that entered the mean.
    """
    times = np.asarray(times, np.float64)
    ids = np.asarray(ids, np.int64)
    if not len(times):
        return float("nan"), 0
    order = np.lexsort((times, ids))
    t, i = times[order], ids[order]
    starts = np.flatnonzero(np.r_[True, i[1:] != i[:-1]])
    counts = np.diff(np.r_[starts, len(i)])
    isi = np.diff(t)
    same = i[1:] == i[:-1]
    isi_id = np.searchsorted(starts, np.arange(1, len(t)), side="right") - 1
    isi, isi_id = isi[same], isi_id[same]
    keep = counts >= max(2, min_spikes)  # one spike has no interval
    if not keep.any():
        return float("nan"), 0
    n = np.bincount(isi_id, minlength=len(starts)).astype(np.float64)
    s1 = np.bincount(isi_id, weights=isi, minlength=len(starts))
    mean_all = s1 / np.maximum(n, 1.0)
    # two passes (deviations from each neuron's mean), as np.std: E[x^2] - E[x]^2 loses
    # every digit for a regular neuron
    dev = isi - mean_all[isi_id]
    s2 = np.bincount(isi_id, weights=dev * dev, minlength=len(starts))
    mean = mean_all[keep]
    var = s2[keep] / n[keep]
    return float(np.mean(np.sqrt(var) / mean)), int(keep.sum())


def population_summary(recording, population, size=None, t_start=0.0, t_stop=None):
    """Spike count, mean rate and CV of ISI of one population of a recording.

    Reads the spikes in chunks (bounded memory).  ``size`` defaults to the population
    size stored in the recording; ``t_stop`` to the simulated time.  Spikes count in
    ``(t_start, t_stop]``, a window checked as the API checks it (a RecordingError for
    one the recording does not cover).

    Returns
    -------
    dict
        ``neurons``, ``spikes``, ``rate_hz`` (Hz), ``cv_isi`` (mean over neurons with at
        least 3 spikes, NaN if none), ``cv_neurons`` (how many).
    """
    from ._common import CHUNK, window
    from .spikes import _counts, _isi_cv

    # checked as the API checks it (--t-start on the command line)
    t_start, t_stop = window(recording, t_start, t_stop, names=("--t-start", "--t-stop"))
    n = _population_size(recording, population)
    counts = _counts(recording, population, n, t_start, t_stop, CHUNK)
    cv = _isi_cv(recording, population, n, t_start, t_stop, 3, CHUNK)
    used = int((~np.isnan(cv)).sum())
    return {
        "neurons": n if size is None else size,
        "spikes": int(counts.sum()),
        "rate_hz": mean_rate(counts.sum(), n if size is None else size, t_stop - t_start),
        "cv_isi": float(np.nanmean(cv)) if used else float("nan"),
        "cv_neurons": used,
    }


def _population_size(recording, population):
    try:
        return recording.population_size(population)
    except KeyError:  # a file without the attribute: fall back to the ids seen
        n = 0
        for _t, ids in recording.spike_chunks(population):
            if len(ids):
                n = max(n, int(ids.max()) + 1)
        return n


def power_spectrum(x, fs, nperseg=256):
    """One-sided power spectral density by Welch's method.

    Hann window (periodic), segments of ``nperseg`` samples overlapping by half, each
    with its mean removed, periodograms averaged: scipy's ``signal.welch`` defaults,
    written out so that the package needs no scipy.

    Parameters
    ----------
    x : array_like, shape (n,)
        The signal, uniformly sampled.
    fs : float
        Sampling rate (Hz).
    nperseg : int
        Samples per segment; ``n`` when larger than ``n``.

    Returns
    -------
    freqs : ndarray, shape (nperseg // 2 + 1,)
        Hz.
    psd : ndarray, shape (nperseg // 2 + 1,)
        Units of ``x`` squared per Hz.
    """
    x = np.asarray(x, np.float64).ravel()
    n = len(x)
    if n < 2:
        raise ValueError(f"power_spectrum: need at least 2 samples, got {n}")
    m = min(int(nperseg), n)
    if m < 2:
        raise ValueError(f"nperseg: expected an integer >= 2, got {nperseg!r}")
    step = m - m // 2
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(m) / m)
    scale = 1.0 / (fs * np.sum(w * w))
    psd = np.zeros(m // 2 + 1)
    starts = range(0, n - m + 1, step)
    for s in starts:
        seg = x[s : s + m]
        spec = np.fft.rfft((seg - seg.mean()) * w)
        psd += spec.real**2 + spec.imag**2
    psd *= scale / len(starts)
    # one-sided: every frequency but 0 and Nyquist stands for its negative twin too
    psd[1 : None if m % 2 else -1] *= 2.0
    return np.fft.rfftfreq(m, 1.0 / fs), psd


def ks_2samp(a, b):
    """Two-sample Kolmogorov-Smirnov test (two-sided), e.g. of per-neuron rates.

    scipy's ``stats.ks_2samp`` when scipy is installed; otherwise the same statistic
    with the asymptotic p-value of Stephens' corrected Kolmogorov distribution
    (Numerical Recipes 14.3), good to about 0.01 from 10 values per sample on.

    Parameters
    ----------
    a, b : array_like, shape (n1,) and (n2,)
        Samples; NaNs are left out.

    Returns
    -------
    statistic : float
        Largest distance between the empirical distribution functions.
    pvalue : float
    method : str
        ``"scipy"`` or ``"asymptotic"``.
    """
    a = np.sort(np.asarray(a, np.float64).ravel())
    b = np.sort(np.asarray(b, np.float64).ravel())
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if not len(a) or not len(b):
        raise ValueError("ks_2samp: both samples need at least one value")
    try:
        from scipy import stats
    except ImportError:
        pass
    else:
        res = stats.ks_2samp(a, b)
        return float(res.statistic), float(res.pvalue), "scipy"
    both = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, both, side="right") / len(a)
    cdf_b = np.searchsorted(b, both, side="right") / len(b)
    d = float(np.max(np.abs(cdf_a - cdf_b)))
    en = np.sqrt(len(a) * len(b) / (len(a) + len(b)))
    return d, _kolmogorov_sf((en + 0.12 + 0.11 / en) * d), "asymptotic"


def _kolmogorov_sf(lam):
    """P(K > lam) of the Kolmogorov distribution."""
    if lam <= 0:
        return 1.0
    k = np.arange(1, 101)
    if lam < 1.18:  # the alternating series converges slowly here; use its dual
        y = np.exp(-((2 * k - 1) ** 2) * np.pi**2 / (8 * lam * lam))
        return float(min(1.0, max(0.0, 1.0 - np.sqrt(2 * np.pi) / lam * y.sum())))
    terms = 2.0 * (-1.0) ** (k - 1) * np.exp(-2.0 * k * k * lam * lam)
    return float(min(1.0, max(0.0, terms.sum())))
