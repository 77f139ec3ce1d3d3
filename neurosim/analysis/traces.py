"""Statistics of recorded state (membrane potentials, LTC potentials), read by blocks.

Every function takes a recording, a population and a variable (``V_m``, ``v`` ...), and
reads the report ``/report/<population>/<variable>`` a block of rows at a time
(:func:`neurosim.io.chunked.report_blocks`; ``rows`` sets the block, ``rows=None`` about
16 MB), so a report larger than memory is fine.  A sample stamped ``t`` is the state at
the end of the step ``(t - dt, t]``; the window ``(t_start, t_stop]`` keeps the samples
stamped inside it.  Means and variances are over time per neuron unless said
otherwise, with ``ddof=0``.
"""

from __future__ import annotations

import numpy as np

from ..io.chunked import RecordingError, report_blocks, report_info, where
from ._common import in_window, report_variable, window
from .stats import power_spectrum


def _rows(rec, population, variable, t_start, t_stop):
    report_variable(rec, population, variable)
    a, b = window(rec, t_start, t_stop)
    info = report_info(rec, population, variable)
    inside = np.flatnonzero(in_window(info["times"], a, b))
    if not len(inside):
        raise RecordingError(
            f"{where(rec)}: t_start/t_stop: no sample of {population}/{variable} in "
            f"({a:g}, {b:g}] ms"
        )
    return info, int(inside[0]), int(inside[-1]) + 1


def _pass(rec, population, variable, t_start, t_stop, rows):
    """One pass over the rows in the window: per-neuron and per-time sums."""
    info, r0, r1 = _rows(rec, population, variable, t_start, t_stop)
    n = info["shape"][1]
    shift = None  # the first row: sums of x - shift keep the variance accurate
    s1, s2 = np.zeros(n), np.zeros(n)
    lo, hi = np.full(n, np.inf), np.full(n, -np.inf)
    t_lo, t_hi = np.zeros(n), np.zeros(n)
    mean_t = np.empty(r1 - r0)
    std_t = np.empty(r1 - r0)
    path = np.zeros(n)  # sum of |x[k+1] - x[k]|
    prev = None
    times = info["times"]
    for first, block in report_blocks(rec, population, variable, r0, r1, rows):
        x = np.asarray(block, np.float64)
        if shift is None:
            shift = x[0].copy()
        d = x - shift
        s1 += d.sum(axis=0)
        s2 += (d * d).sum(axis=0)
        k = np.argmin(x, axis=0)
        v = x[k, np.arange(n)]
        better = v < lo
        lo[better], t_lo[better] = v[better], times[first + k[better]]
        k = np.argmax(x, axis=0)
        v = x[k, np.arange(n)]
        better = v > hi
        hi[better], t_hi[better] = v[better], times[first + k[better]]
        mean_t[first - r0 : first - r0 + len(x)] = x.mean(axis=1)
        std_t[first - r0 : first - r0 + len(x)] = x.std(axis=1)
        steps = np.abs(np.diff(x, axis=0)).sum(axis=0)
        if prev is not None:
            steps += np.abs(x[0] - prev)
        path += steps
        prev = x[-1]
    m = r1 - r0
    mean = shift + s1 / m
    var = np.maximum(s2 - s1 * s1 / m, 0.0) / m
    return {
        "info": info,
        "rows": (r0, r1),
        "times": times[r0:r1],
        "node_ids": info["node_ids"],
        "units": info["units"],
        "mean": mean,
        "var": var,
        "min": lo,
        "max": hi,
        "t_min": t_lo,
        "t_max": t_hi,
        "first": shift,
        "last": prev,
        "path": path,
        "mean_trace": mean_t,
        "std_trace": std_t,
    }


def trace_stats(rec, population, variable, t_start=None, t_stop=None, rows=None):
    """Mean, standard deviation and range of a recorded variable, per neuron and pooled.

    Parameters
    ----------
    rec : Recording
    population, variable : str
        The report ``/report/<population>/<variable>``.
    t_start, t_stop : float, optional
        Window (ms); default: the whole recording.
    rows : int, optional
        Rows (samples) read at once.

    Returns
    -------
    dict
        ``node_ids`` (n,), ``mean``, ``std``, ``min``, ``max`` (n,: over time, in the
        variable's ``units``); ``population_mean`` and ``population_std`` (floats: over
        every neuron and sample), ``mean_trace_std`` (float: std over time of the
        population-average trace), ``chi`` (float: :func:`synchrony_chi`),
        ``n_samples`` (int), ``units`` (str).
    """
    p = _pass(rec, population, variable, t_start, t_stop, rows)
    pooled_var = p["var"].mean() + p["mean"].var()
    return {
        "node_ids": p["node_ids"],
        "mean": p["mean"],
        "std": np.sqrt(p["var"]),
        "min": p["min"],
        "max": p["max"],
        "population_mean": float(p["mean"].mean()),
        "population_std": float(np.sqrt(pooled_var)),
        "mean_trace_std": float(p["mean_trace"].std()),
        "chi": _chi(p),
        "n_samples": int(len(p["times"])),
        "units": p["units"],
    }


def _chi(p):
    each = p["var"].mean()
    return float(np.sqrt(p["mean_trace"].var() / each)) if each > 0 else float("nan")


def synchrony_chi(rec, population, variable="V_m", t_start=None, t_stop=None, rows=None):
    """Golomb's synchrony measure chi from recorded membrane potentials.

    ``chi**2 = var_t(V(t)) / mean_i var_t(V_i(t))`` with ``V(t) = mean_i V_i(t)`` over
    the recorded neurons (Golomb 2007, Scholarpedia 2:1347): 1 for identical traces,
    about ``1/sqrt(n)`` for independent ones.

    Parameters
    ----------
    rec : Recording
    population : str
    variable : str
        Recorded variable (``V_m`` for the spiking models, ``v`` for LTC).
    t_start, t_stop : float, optional
        Window (ms).
    rows : int, optional

    Returns
    -------
    float
        NaN when no trace varies.
    """
    return _chi(_pass(rec, population, variable, t_start, t_stop, rows))


def mean_trace(rec, population, variable, t_start=None, t_stop=None, rows=None):
    """Population-average trace and the spread across neurons at each sample.

    Returns
    -------
    times : ndarray, shape (T,)
        ms.
    mean : ndarray, shape (T,)
        Mean over the recorded neurons (variable's units).
    std : ndarray, shape (T,)
        Standard deviation over the recorded neurons.
    """
    p = _pass(rec, population, variable, t_start, t_stop, rows)
    return p["times"], p["mean_trace"], p["std_trace"]


def trace_spectrum(rec, population, variable, t_start=None, t_stop=None, nperseg=256, rows=None):
    """Power spectral density (Welch) of the population-average trace.

    Returns
    -------
    freqs : ndarray, shape (nperseg // 2 + 1,)
        Hz.
    psd : ndarray, shape (nperseg // 2 + 1,)
        Units of the variable squared per Hz.
    """
    p = _pass(rec, population, variable, t_start, t_stop, rows)
    times = p["times"]
    if len(times) < 2:
        raise RecordingError(f"{where(rec)}: t_start/t_stop: fewer than 2 samples")
    step = float(p["info"]["times"][1] - p["info"]["times"][0])
    return power_spectrum(p["mean_trace"], 1000.0 / step, nperseg)


def ltc_summary(
    rec, population="ltc", variable="v", t_start=None, t_stop=None, settle_tol=0.01, rows=None
):
    """Summary of graded (LTC) trajectories: where each neuron starts, goes and settles.

    Parameters
    ----------
    rec : Recording
    population, variable : str
        The report (``ltc``/``v`` for a converted ncps model, ``neurons``/``v`` for
        ``networks/celegans.yaml``).
    t_start, t_stop : float, optional
        Window (ms).
    settle_tol : float
        A neuron has settled once it stays within ``settle_tol`` x (its own
        ``max - min``) of its final value.
    rows : int, optional

    Returns
    -------
    dict
        Per neuron, shape (n,): ``node_ids``, ``initial`` and ``final`` (first and last
        sample), ``mean``, ``std``, ``min``, ``max``, ``t_min``, ``t_max`` (ms, first
        time of the extreme), ``mean_abs_slope`` (units/ms: path length / duration),
        ``settle_time`` (ms: the last time the neuron was further from its final value
        than the tolerance; the first sample's time if never).  Per sample, shape (T,):
        ``times`` (ms), ``mean_trace`` and ``std_trace`` (over neurons).  ``units``.
    """
    p = _pass(rec, population, variable, t_start, t_stop, rows)
    times = p["times"]
    r0, r1 = p["rows"]
    final = p["last"]
    tol = settle_tol * (p["max"] - p["min"])
    settle = np.full(len(final), times[0])
    for first, block in report_blocks(rec, population, variable, r0, r1, rows):
        x = np.asarray(block, np.float64)
        away = np.abs(x - final) > tol
        hit = away.any(axis=0)
        k = len(x) - 1 - np.argmax(away[::-1], axis=0)  # last row away from the end
        settle[hit] = times[first - r0 + k[hit]]
    duration = times[-1] - times[0]
    return {
        "node_ids": p["node_ids"],
        "initial": p["first"],
        "final": final,
        "mean": p["mean"],
        "std": np.sqrt(p["var"]),
        "min": p["min"],
        "max": p["max"],
        "t_min": p["t_min"],
        "t_max": p["t_max"],
        "mean_abs_slope": p["path"] / duration if duration > 0 else np.zeros_like(final),
        "settle_time": settle,
        "times": times,
        "mean_trace": p["mean_trace"],
        "std_trace": p["std_trace"],
        "units": p["units"],
    }
