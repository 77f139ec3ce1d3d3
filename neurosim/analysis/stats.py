"""Firing statistics of spike trains: rates and the coefficient of variation of ISIs."""

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
        Neurons with fewer spikes are left out (Elephant's convention needs >= 3 for
        two intervals; the peer reference data uses the same).

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
    keep = counts >= min_spikes
    if not keep.any():
        return float("nan"), 0
    n = np.bincount(isi_id, minlength=len(starts)).astype(np.float64)
    s1 = np.bincount(isi_id, weights=isi, minlength=len(starts))
    s2 = np.bincount(isi_id, weights=isi * isi, minlength=len(starts))
    mean = s1[keep] / n[keep]
    var = np.maximum(s2[keep] / n[keep] - mean * mean, 0.0)
    return float(np.mean(np.sqrt(var) / mean)), int(keep.sum())


def population_summary(recording, population, size=None, t_start=0.0, t_stop=None):
    """Spike count, mean rate and CV of ISI of one population of a recording.

    ``size`` defaults to the population size stored in the network text when absent.
    """
    t, ids = recording.spikes(population)
    if t_stop is None:
        t_stop = float(recording.attrs.get("t_stop", t.max() if len(t) else 0.0))
    sel = (t > t_start) & (t <= t_stop)
    t, ids = t[sel], ids[sel]
    if size is None:
        size = _population_size(recording, population, ids)
    cv, used = cv_isi(t, ids)
    return {
        "neurons": size,
        "spikes": int(len(t)),
        "rate_hz": mean_rate(len(t), size, t_stop - t_start),
        "cv_isi": cv,
        "cv_neurons": used,
    }


def _population_size(recording, population, ids):
    try:
        return recording.population_size(population)
    except KeyError:  # a file without the attribute: fall back to the ids seen
        return int(ids.max()) + 1 if len(ids) else 0
