"""Shared checks of names and time windows, bin indices, and the in-memory source."""

from __future__ import annotations

import numpy as np

from ..io.chunked import RecordingError, where

#: Spikes read at once by the chunked analysis (about 16 MB of times and ids).
CHUNK = 1 << 20

#: Relative tolerance of bin edges, in units of the bin width (Elephant's default).
TOLERANCE = 1e-8


def spike_population(rec, population):
    """Check that ``population`` has recorded spikes; return its size (neurons)."""
    if population not in rec.spike_populations:
        have = ", ".join(rec.spike_populations) or "none"
        raise RecordingError(
            f"{where(rec)}: population {population!r}: no spikes recorded for it "
            f"(spike populations: {have})"
        )
    try:
        return int(rec.population_size(population))
    except KeyError:  # a file without n_nodes: the ids seen must do
        n = 0
        for _t, ids in rec.spike_chunks(population, CHUNK):
            if len(ids):
                n = max(n, int(ids.max()) + 1)
        return n


def report_variable(rec, population, variable):
    """Check that ``population``/``variable`` was recorded as a report."""
    if population not in rec.report_populations:
        have = ", ".join(rec.report_populations) or "none"
        raise RecordingError(
            f"{where(rec)}: population {population!r}: no state recorded for it "
            f"(report populations: {have})"
        )
    names = rec.variables(population)
    if variable not in names:
        raise RecordingError(
            f"{where(rec)}: variable {variable!r}: not recorded for population "
            f"{population!r} (recorded: {', '.join(names) or 'none'})"
        )


def recording_end(rec):
    """The simulated time of a recording (ms): its root attribute ``t_stop``, or, in a
    spike file from elsewhere that has none, the latest spike of any population."""
    if rec.attrs.get("t_stop") is not None:
        return float(rec.attrs["t_stop"])
    end = 0.0
    for pop in rec.spike_populations:
        for t, _ids in rec.spike_chunks(pop):
            if len(t):
                end = max(end, float(np.max(t)))
    return end


def window(rec, t_start=None, t_stop=None, names=("t_start", "t_stop")):
    """The analysis window ``(t_start, t_stop]`` (ms), checked against the recording.

    Parameters
    ----------
    rec : Recording or SpikeArrays
    t_start, t_stop : float or None
        ms; None: 0 and the simulated time (root attribute ``t_stop``).
    names : (str, str)
        How messages call the two fields (the command line says ``--t-start``).

    Returns
    -------
    (float, float)
    """
    end = recording_end(rec)
    a = 0.0 if t_start is None else float(t_start)
    b = end if t_stop is None else float(t_stop)
    slack = 1e-9 * max(1.0, abs(end))
    if not np.isfinite(a) or a < -slack:
        raise RecordingError(f"{where(rec)}: {names[0]}: expected a time >= 0 ms, got {a:g} ms")
    if not np.isfinite(b) or b > end + slack:
        raise RecordingError(
            f"{where(rec)}: {names[1]}: {b:g} ms is past the end of the recording ({end:g} ms)"
        )
    if not b > a:
        raise RecordingError(
            f"{where(rec)}: {names[0]}: {a:g} ms is not before {names[1]} ({b:g} ms; "
            f"the recording covers 0 to {end:g} ms)"
        )
    return a, b


def n_bins(t_start, t_stop, width, rec=None, name="bin size"):
    """Whole bins of ``width`` in the window (a last partial bin is dropped, as Elephant)."""
    if not (np.isfinite(width) and width > 0):
        raise RecordingError(f"{where(rec)}: {name}: expected a time > 0 ms, got {width:g} ms")
    x = (t_stop - t_start) / width
    n = int(x + 0.5) if 1 - TOLERANCE <= x % 1 else int(x)
    if n < 1:
        raise RecordingError(
            f"{where(rec)}: {name}: {width:g} ms is longer than the window "
            f"({t_start:g} to {t_stop:g} ms)"
        )
    return n


def bin_index(t, t_start, t_stop, width, nb, closed):
    """Bin of each spike time and whether it falls inside the ``nb`` bins.

    Parameters
    ----------
    t : ndarray, shape (s,)
        Spike times (ms).
    t_start, t_stop, width : float
        Window and bin width (ms).
    nb : int
        Number of bins.
    closed : {"right", "left"}
        ``"right"``: bins ``(a, b]``, the recording's own convention (a spike stamped
        ``t`` happened in the step ``(t - dt, t]``, so a bin on the dt grid holds whole
        steps).  ``"left"``: bins ``[a, b)``, exactly Elephant's ``BinnedSpikeTrain``
        (times within ``TOLERANCE`` bins below an edge move up to the next bin; a spike
        at ``t_stop`` is dropped).

    Returns
    -------
    k : ndarray of int64, shape (s,)
    inside : ndarray of bool, shape (s,)
    """
    # the reciprocal, not a division: Elephant's rounding, bit for bit
    x = (t - t_start) * (1.0 / width)
    if closed == "left":
        x = x.copy()
        x[1 - TOLERANCE <= x % 1] += 0.5
        k = x.astype(np.int64)  # truncation; negative x are dropped by `inside`
        inside = (t >= t_start) & (t <= t_stop) & (k < nb)
    elif closed == "right":
        frac = x % 1
        x = np.where(frac <= TOLERANCE, np.floor(x), np.ceil(x))
        k = x.astype(np.int64) - 1
        inside = (k >= 0) & (k < nb)
    else:
        raise ValueError(f"closed: expected 'right' or 'left', got {closed!r}")
    return k, inside


def in_window(t, t_start, t_stop):
    """Spikes inside ``(t_start, t_stop]``, up to float rounding: a tolerance of 1e-12
    of the larger end (1e-5 ms at 10^7 ms), far below any step, so that a spike stamped
    at a window's end counts whatever rounding its time carries."""
    tol = 1e-12 * max(1.0, abs(t_start), abs(t_stop))
    t = np.asarray(t)
    return (t > t_start + tol) & (t <= t_stop + tol)


class SpikeArrays:
    """Spike trains held in memory, usable wherever a recording is.

    Parameters
    ----------
    populations : dict
        ``name -> (times, ids, size)``: spike times (ms, shape (s,)), population-local
        neuron ids (int, shape (s,)) and the number of neurons.
    t_stop : float
        End of the recorded time (ms); the recording starts at 0.
    dt : float, optional
        Resolution (ms), kept for reference.

    Examples
    --------
    >>> src = SpikeArrays({"E": (times, ids, 100)}, t_stop=1000.0)
    >>> firing_rates(src, "E")
    """

    path = None

    def __init__(self, populations, t_stop, dt=None):
        self._pops = {}
        for name, (times, ids, size) in populations.items():
            t = np.asarray(times, np.float64)
            i = np.asarray(ids, np.int64)
            if t.shape != i.shape or t.ndim != 1:
                raise ValueError(f"population {name!r}: times and ids must be 1-D, same length")
            order = np.argsort(t, kind="stable")
            self._pops[name] = (t[order], i[order], int(size))
        self.attrs = {"t_stop": float(t_stop), "dt": dt}
        self.spike_populations = list(self._pops)
        self.report_populations = []

    def spikes(self, population):
        t, i, _n = self._pops[population]
        return t.copy(), i.copy()

    def spike_chunks(self, population, chunk=CHUNK):
        t, i, _n = self._pops[population]
        for a in range(0, len(t), chunk):
            yield t[a : a + chunk], i[a : a + chunk]

    def population_size(self, population):
        return self._pops[population][2]

    def n_spikes(self, population):
        return len(self._pops[population][0])

    def variables(self, population):
        raise KeyError(population)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass
