"""Spike-train statistics of a recording, read in chunks of bounded size.

Every function takes a recording (:func:`neurosim.open`) or a :class:`SpikeArrays` and a
population name, and reads the spikes ``chunk`` at a time (``chunk=None`` reads them
whole: the in-memory path, which gives the same numbers).  Chunked reading needs the
spikes sorted by time, as neurosim writes them (SONATA ``sorting = by_time``); an
unsorted file is refused with a message saying to pass ``chunk=None``.

Conventions
-----------
Times are in ms, rates in Hz.  The analysis window is ``(t_start, t_stop]``: a spike
is stamped at the end of the step in which it happened, so the window ``(0, T]`` holds
every spike of a run of length ``T`` (as ``neurosim info`` counts them).  Binned
statistics take ``closed="right"`` (bins ``(a, b]``, the same convention; on the dt
grid every bin then holds the same number of steps) or ``closed="left"`` (bins
``[a, b)`` with Elephant's rounding tolerance: the numbers of Elephant's
``BinnedSpikeTrain``, ``time_histogram`` and ``correlation_coefficient``, bit for bit
up to the last rounding).  A last partial bin is dropped, as Elephant does.
"""

from __future__ import annotations

import numpy as np

from ..io.chunked import RecordingError, where
from ._common import CHUNK, bin_index, in_window, n_bins, spike_population, window
from .stats import power_spectrum

#: Cells of the dense (neuron x occupied bin) blocks multiplied for correlations.
BLOCK_CELLS = 1 << 22


def _stream(rec, population, t_stop, chunk):
    """Time-sorted ``(times, ids)`` chunks of a population; stops past ``t_stop``."""
    if chunk is None:
        t, ids = rec.spikes(population)
        if len(t) > 1 and np.any(t[1:] < t[:-1]):
            order = np.argsort(t, kind="stable")
            t, ids = t[order], ids[order]
        yield t, ids
        return
    if int(chunk) < 1:
        raise ValueError(f"chunk: expected an integer >= 1 or None, got {chunk!r}")
    # a spike within the bin tolerance of t_stop still counts; later ones never do
    cutoff = t_stop + 1e-6 * max(1.0, abs(t_stop))
    last = -np.inf
    for t, ids in rec.spike_chunks(population, int(chunk)):
        if not len(t):
            continue
        if t[0] < last or np.any(t[1:] < t[:-1]):
            raise RecordingError(
                f"{where(rec)}: /spikes/{population}: spikes are not sorted by time; "
                "read them whole with chunk=None"
            )
        last = t[-1]
        yield t, ids
        if last > cutoff:
            break


def _check_ids(rec, population, ids, n):
    if len(ids) and (ids.min() < 0 or ids.max() >= n):
        raise RecordingError(
            f"{where(rec)}: /spikes/{population}/node_ids: id {int(ids.max())} outside "
            f"the population's {n} neurons"
        )


def _selection(rec, population, n, neurons):
    """Row of each population-local id in the selection (-1: not selected), and ids."""
    if neurons is None:
        return np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64)
    sel = np.asarray(neurons, np.int64).ravel()
    if len(sel) == 0:
        raise RecordingError(f"{where(rec)}: neurons: the selection is empty")
    if sel.min() < 0 or sel.max() >= n:
        raise RecordingError(
            f"{where(rec)}: neurons: ids must lie in 0..{n - 1} for population {population!r}"
        )
    if len(np.unique(sel)) != len(sel):
        raise RecordingError(f"{where(rec)}: neurons: ids repeat")
    rows = np.full(n, -1, np.int64)
    rows[sel] = np.arange(len(sel))
    return rows, sel


# --------------------------------------------------------------------------- rates


def spike_counts(rec, population, t_start=None, t_stop=None, chunk=CHUNK):
    """Spikes of each neuron in the window ``(t_start, t_stop]``.

    Parameters
    ----------
    rec : Recording or SpikeArrays
    population : str
    t_start, t_stop : float, optional
        Window (ms); default: the whole recording.
    chunk : int or None
        Spikes read at once; None reads them whole.

    Returns
    -------
    ndarray of int64, shape (n_neurons,)
    """
    n = spike_population(rec, population)
    a, b = window(rec, t_start, t_stop)
    return _counts(rec, population, n, a, b, chunk)


def _counts(rec, population, n, a, b, chunk):
    counts = np.zeros(n, np.int64)
    if not b > a:
        return counts
    for t, ids in _stream(rec, population, b, chunk):
        _check_ids(rec, population, ids, n)
        counts += np.bincount(ids[in_window(t, a, b)], minlength=n)
    return counts


def firing_rates(rec, population, t_start=None, t_stop=None, chunk=CHUNK):
    """Firing rate of each neuron (Hz): its spikes in ``(t_start, t_stop]`` / duration.

    Elephant's ``mean_firing_rate`` of each neuron's train (silent neurons included).

    Parameters
    ----------
    rec : Recording or SpikeArrays
    population : str
    t_start, t_stop : float, optional
        Window (ms); default: the whole recording.
    chunk : int or None
        Spikes read at once; None reads them whole.

    Returns
    -------
    ndarray of float64, shape (n_neurons,)
        Hz.
    """
    a, b = window(rec, t_start, t_stop)
    return spike_counts(rec, population, a, b, chunk) / ((b - a) * 1e-3)


def population_rates(rec, populations=None, t_start=None, t_stop=None, chunk=CHUNK):
    """Mean firing rate of each population (Hz): spikes / (neurons x duration).

    Parameters
    ----------
    rec : Recording or SpikeArrays
    populations : list of str, optional
        Default: every population with recorded spikes.
    t_start, t_stop : float, optional
        Window (ms).
    chunk : int or None

    Returns
    -------
    dict of str -> float
        Hz; 0 for an empty population.
    """
    a, b = window(rec, t_start, t_stop)
    out = {}
    for pop in rec.spike_populations if populations is None else populations:
        counts = spike_counts(rec, pop, a, b, chunk)
        out[pop] = float(counts.sum()) / (len(counts) * (b - a) * 1e-3) if len(counts) else 0.0
    return out


# --------------------------------------------------------------------------- ISI


def isi_cv(rec, population, t_start=None, t_stop=None, min_spikes=3, chunk=CHUNK):
    """Coefficient of variation of the inter-spike intervals of each neuron.

    ``std(ISI) / mean(ISI)`` with ``ddof=0`` over the intervals between the neuron's
    spikes inside ``(t_start, t_stop]``: Elephant's ``cv(isi(train))``.

    Parameters
    ----------
    rec : Recording or SpikeArrays
    population : str
    t_start, t_stop : float, optional
        Window (ms).
    min_spikes : int
        Neurons with fewer spikes in the window get NaN (3 gives at least two
        intervals).
    chunk : int or None

    Returns
    -------
    ndarray of float64, shape (n_neurons,)
        Dimensionless; NaN where a neuron has fewer than ``min_spikes`` spikes.
    """
    n = spike_population(rec, population)
    a, b = window(rec, t_start, t_stop)
    return _isi_cv(rec, population, n, a, b, min_spikes, chunk)


def _isi_cv(rec, population, n, a, b, min_spikes, chunk):
    if not b > a:
        return np.full(n, np.nan)
    last = np.full(n, np.nan)  # the previous spike of each neuron, across chunks
    shift = np.full(n, np.nan)  # each neuron's first ISI: sums of ISI - shift stay accurate
    count = np.zeros(n, np.int64)
    s1 = np.zeros(n)
    s2 = np.zeros(n)
    for t, ids in _stream(rec, population, b, chunk):
        _check_ids(rec, population, ids, n)
        sel = in_window(t, a, b)
        t, ids = t[sel], ids[sel]
        if not len(t):
            continue
        order = np.argsort(ids, kind="stable")  # by neuron, in time within a neuron
        t, ids = t[order], ids[order]
        first = np.r_[True, ids[1:] != ids[:-1]]
        prev = np.empty_like(t)
        prev[1:] = t[:-1]
        prev[first] = last[ids[first]]
        followed = np.r_[~first[1:], False]  # False at each neuron's last spike here
        last[ids[~followed]] = t[~followed]
        isi = t - prev
        ok = ~np.isnan(isi)
        isi, iid = isi[ok], ids[ok]
        if not len(isi):
            continue
        new = np.isnan(shift[iid])
        if new.any():
            u, pos = np.unique(iid[new], return_index=True)
            shift[u] = isi[new][pos]
        d = isi - shift[iid]
        count += np.bincount(iid, minlength=n)
        s1 += np.bincount(iid, weights=d, minlength=n)
        s2 += np.bincount(iid, weights=d * d, minlength=n)
    cv = np.full(n, np.nan)
    keep = (count > 0) & (count + 1 >= min_spikes)  # spikes = intervals + 1
    m = count[keep].astype(np.float64)
    mean = shift[keep] + s1[keep] / m
    var = np.maximum(s2[keep] - s1[keep] * s1[keep] / m, 0.0) / m
    cv[keep] = np.sqrt(var) / mean
    return cv


# --------------------------------------------------------------------------- binned


def _pairs(rec, population, width, a, b, nb, closed, rows, chunk):
    """Complete ``(bin, row, count)`` triples, each (bin, row) once over all yields."""
    n = len(rows)
    n_rows = int(rows.max()) + 1
    carry_k = carry_r = np.zeros(0, np.int64)
    for t, ids in _stream(rec, population, b, chunk):
        _check_ids(rec, population, ids, n)
        k, inside = bin_index(t, a, b, width, nb, closed)
        r = rows[ids[inside]]
        k = k[inside]
        chosen = r >= 0
        k = np.concatenate([carry_k, k[chosen]])
        r = np.concatenate([carry_r, r[chosen]])
        if not len(k):
            continue
        # the last bin may go on in the next chunk: hold it back
        done = k < k[-1]
        carry_k, carry_r = k[~done], r[~done]
        yield _aggregate(k[done], r[done], n_rows)
    yield _aggregate(carry_k, carry_r, n_rows)


def _aggregate(k, r, n_rows):
    key, c = np.unique(k * n_rows + r, return_counts=True)
    return key // n_rows, key % n_rows, c.astype(np.int64)


class _Binned:
    """Sums over bins of one population's binned counts (exact integers)."""

    def __init__(self, rec, population, bin_size, t_start, t_stop, closed, neurons, chunk, gram):
        n = spike_population(rec, population)
        a, b = window(rec, t_start, t_stop)
        self.nb = nb = n_bins(a, b, bin_size, rec)
        rows, self.ids = _selection(rec, population, n, neurons)
        m = len(self.ids)
        self.edges = a + bin_size * np.arange(nb + 1)
        self.s1 = np.zeros(m, np.int64)  # spikes per neuron
        self.s2 = np.zeros(m, np.int64)  # sum over bins of count^2 per neuron
        self.pop = np.zeros(nb, np.int64)  # spikes of the selection per bin
        self.gram = np.zeros((m, m)) if gram else None  # sum over bins of c_i c_j
        cols = max(1, BLOCK_CELLS // m)
        for k, r, c in _pairs(rec, population, bin_size, a, b, nb, closed, rows, chunk):
            if not len(k):
                continue
            self.s1 += np.bincount(r, weights=c, minlength=m).astype(np.int64)
            self.s2 += np.bincount(r, weights=c * c, minlength=m).astype(np.int64)
            self.pop += np.bincount(k, weights=c, minlength=nb).astype(np.int64)
            if gram:
                occupied, col = np.unique(k, return_inverse=True)
                for lo in range(0, len(occupied), cols):
                    sel = (col >= lo) & (col < lo + cols)
                    block = np.zeros((m, min(cols, len(occupied) - lo)))
                    block[r[sel], col[sel] - lo] = c[sel]
                    # integer-valued float products and sums are exact below 2**53
                    self.gram += block @ block.T


def binned_counts(
    rec,
    population,
    bin_size,
    t_start=None,
    t_stop=None,
    neurons=None,
    closed="right",
    chunk=CHUNK,
):
    """Spike counts of selected neurons in bins (a dense matrix: for small selections).

    Parameters
    ----------
    rec : Recording or SpikeArrays
    population : str
    bin_size : float
        Bin width (ms).
    t_start, t_stop : float, optional
        Window (ms).
    neurons : array of int, optional
        Population-local ids, in the order of the rows; default: every neuron.
    closed : {"right", "left"}
        Bins ``(a, b]`` or ``[a, b)`` (Elephant's); see the module notes.
    chunk : int or None

    Returns
    -------
    edges : ndarray, shape (n_bins + 1,)
        Bin edges (ms).
    counts : ndarray of int64, shape (n_selected, n_bins)
    """
    n = spike_population(rec, population)
    a, b = window(rec, t_start, t_stop)
    nb = n_bins(a, b, bin_size, rec)
    rows, ids = _selection(rec, population, n, neurons)
    out = np.zeros((len(ids), nb), np.int64)
    for k, r, c in _pairs(rec, population, bin_size, a, b, nb, closed, rows, chunk):
        out[r, k] += c
    return a + bin_size * np.arange(nb + 1), out


def _population_counts(rec, population, bin_size, t_start, t_stop, closed, chunk):
    """Population size, bin edges (ms) and spikes per bin (int64) of a population."""
    n = spike_population(rec, population)
    a, b = window(rec, t_start, t_stop)
    nb = n_bins(a, b, bin_size, rec)
    hist = np.zeros(nb, np.int64)
    for t, ids in _stream(rec, population, b, chunk):
        _check_ids(rec, population, ids, n)
        k, inside = bin_index(t, a, b, bin_size, nb, closed)
        hist += np.bincount(k[inside], minlength=nb)
    return n, a + bin_size * np.arange(nb + 1), hist


def population_rate(
    rec, population, bin_size, t_start=None, t_stop=None, closed="right", chunk=CHUNK
):
    """Time-resolved population rate: spikes per bin / (neurons x bin width).

    Elephant's ``time_histogram(trains, bin_size, output="rate")`` over every neuron of
    the population (silent ones included).

    Parameters
    ----------
    rec : Recording or SpikeArrays
    population : str
    bin_size : float
        Bin width (ms).
    t_start, t_stop : float, optional
        Window (ms).
    closed : {"right", "left"}
    chunk : int or None

    Returns
    -------
    edges : ndarray, shape (n_bins + 1,)
        Bin edges (ms).
    rate : ndarray, shape (n_bins,)
        Hz (per neuron).
    """
    n, edges, hist = _population_counts(rec, population, bin_size, t_start, t_stop, closed, chunk)
    return edges, hist / (max(n, 1) * bin_size * 1e-3)


def fano_factor(
    rec,
    population,
    window_size,
    t_start=None,
    t_stop=None,
    neurons=None,
    closed="right",
    chunk=CHUNK,
):
    """Fano factor of each neuron: var / mean of its spike counts in consecutive windows.

    The windows play the part of trials: Elephant's ``fanofactor`` of one neuron's
    trains cut into windows (``ddof=0``).

    Parameters
    ----------
    rec : Recording or SpikeArrays
    population : str
    window_size : float
        Counting window (ms).
    t_start, t_stop : float, optional
        Analysis window (ms), cut into whole counting windows.
    neurons : array of int, optional
        Population-local ids; default: every neuron.
    closed : {"right", "left"}
    chunk : int or None

    Returns
    -------
    ndarray, shape (n_selected,)
        Dimensionless; NaN for a neuron without spikes.
    """
    s = _Binned(rec, population, window_size, t_start, t_stop, closed, neurons, chunk, False)
    return _fano(s.s1, s.s2, s.nb)


def population_fano_factor(
    rec, population, bin_size, t_start=None, t_stop=None, closed="right", chunk=CHUNK
):
    """Fano factor of the population spike count per bin (var / mean over bins).

    Parameters
    ----------
    rec : Recording or SpikeArrays
    population : str
    bin_size : float
        Bin width (ms).
    t_start, t_stop : float, optional
    closed : {"right", "left"}
    chunk : int or None

    Returns
    -------
    float
        Dimensionless; 1 for a Poisson population, larger when neurons fire together;
        NaN without spikes.
    """
    _n, _edges, c = _population_counts(rec, population, bin_size, t_start, t_stop, closed, chunk)
    return float(_fano(np.array([c.sum()]), np.array([(c * c).sum()]), len(c))[0])


def _fano(s1, s2, nb):
    """var / mean of counts from their sums over ``nb`` bins (ddof 0)."""
    out = np.full(len(s1), np.nan)
    ok = s1 > 0
    num = (nb * s2[ok] - s1[ok] * s1[ok]).astype(np.float64)  # exact in int64
    out[ok] = num / (nb * s1[ok].astype(np.float64))
    return out


def correlation_matrix(
    rec,
    population,
    bin_size,
    t_start=None,
    t_stop=None,
    neurons=None,
    closed="right",
    chunk=CHUNK,
):
    """Pearson correlation coefficients of binned spike counts between neurons.

    Elephant's ``correlation_coefficient(BinnedSpikeTrain(trains, bin_size))``
    (``binary=False``); a neuron without spikes gives NaN in its row and column.
    Memory: ``n_selected**2`` floats, whatever the number of spikes.

    Parameters
    ----------
    rec : Recording or SpikeArrays
    population : str
    bin_size : float
        Bin width (ms).
    t_start, t_stop : float, optional
        Window (ms).
    neurons : array of int, optional
        Population-local ids (rows and columns, in this order); default: every neuron.
    closed : {"right", "left"}
    chunk : int or None

    Returns
    -------
    ndarray, shape (n_selected, n_selected)
    """
    s = _Binned(rec, population, bin_size, t_start, t_stop, closed, neurons, chunk, True)
    n1 = s.s1.astype(np.float64)[:, None]
    res = s.gram - n1 * n1.T / s.nb
    std = np.sqrt(res.diagonal())[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        res /= std.T * std
    return res


def spike_synchrony_chi(
    rec,
    population,
    bin_size,
    t_start=None,
    t_stop=None,
    neurons=None,
    closed="right",
    chunk=CHUNK,
):
    """Golomb's synchrony measure chi from binned spike counts.

    ``chi**2 = var_t(mean_i c_i(t)) / mean_i var_t(c_i(t))`` over the bins ``t`` and the
    selected neurons ``i`` (Golomb 2007, Scholarpedia 2:1347), with the spike counts
    ``c_i`` in place of membrane potentials.  0: asynchronous (tends to
    ``1/sqrt(n)``), 1: all neurons fire in the same bins.

    Parameters
    ----------
    rec : Recording or SpikeArrays
    population : str
    bin_size : float
        Bin width (ms).
    t_start, t_stop : float, optional
    neurons : array of int, optional
        Population-local ids; default: every neuron.
    closed : {"right", "left"}
    chunk : int or None

    Returns
    -------
    float
        NaN when no selected neuron fires.
    """
    s = _Binned(rec, population, bin_size, t_start, t_stop, closed, neurons, chunk, False)
    m = len(s.ids)
    tot = float(s.pop.sum())
    var_pop = (s.nb * float((s.pop * s.pop).sum()) - tot * tot) / (m * m)
    var_each = (s.nb * s.s2 - s.s1 * s.s1).astype(np.float64).mean()
    if var_each <= 0:
        return float("nan")
    return float(np.sqrt(var_pop / var_each))


def rate_spectrum(
    rec,
    population,
    bin_size=1.0,
    t_start=None,
    t_stop=None,
    nperseg=256,
    closed="right",
    chunk=CHUNK,
):
    """Power spectral density of the population rate (Welch, Hann window, 50 % overlap).

    Parameters
    ----------
    rec : Recording or SpikeArrays
    population : str
    bin_size : float
        Bin width of the rate (ms): the sampling rate is ``1000 / bin_size`` Hz.
    t_start, t_stop : float, optional
    nperseg : int
        Bins per Welch segment (fewer if the rate is shorter).
    closed : {"right", "left"}
    chunk : int or None

    Returns
    -------
    freqs : ndarray, shape (nperseg // 2 + 1,)
        Hz.
    psd : ndarray, shape (nperseg // 2 + 1,)
        Hz**2 / Hz, one-sided, of the rate with its mean removed.
    """
    _edges, rate = population_rate(rec, population, bin_size, t_start, t_stop, closed, chunk)
    return power_spectrum(rate, 1000.0 / bin_size, nperseg)
