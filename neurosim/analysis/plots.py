"""Plots of recordings with matplotlib, imported here, lazily, when a plot is drawn.

Each function returns a :class:`matplotlib.figure.Figure` built without pyplot (no
GUI backend, no global state); :func:`save` writes it.  Spikes and reports are read in
chunks as the analysis functions read them.
"""

from __future__ import annotations

import numpy as np

from ..io.chunked import RecordingError, report_blocks, report_info, where
from ._common import CHUNK, in_window, report_variable, spike_population, window
from .spikes import _stream, firing_rates, isi_cv, population_rate, rate_spectrum
from .traces import mean_trace, trace_spectrum

#: Most columns (samples) and rows (neurons) of the heat map of a report.
HEATMAP_MAX = (2000, 400)


def _figure(height=4.0, width=8.0):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _colors(n):
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _spike_pops(rec, populations):
    pops = list(rec.spike_populations) if populations is None else list(populations)
    if not pops:
        raise RecordingError(f"{where(rec)}: /spikes: no spikes recorded in this file")
    for pop in pops:
        spike_population(rec, pop)
    return pops


def default_bin(rec, t_start, t_stop, bins=200):
    """A bin width (ms) giving about ``bins`` bins, a whole number of steps."""
    dt = float(rec.attrs.get("dt") or 0.1)
    return dt * max(1, round((t_stop - t_start) / bins / dt))


def save(fig, path, dpi=100):
    """Write ``fig`` to ``path`` (format from the extension: png, pdf, svg ...)."""
    fig.savefig(path, dpi=dpi)


def raster(
    rec,
    populations=None,
    t_start=None,
    t_stop=None,
    bin_size=None,
    max_neurons=200,
    chunk=CHUNK,
):
    """Spike raster of each population above its population-rate histogram.

    Parameters
    ----------
    rec : Recording
    populations : list of str, optional
        Default: every population with spikes.
    t_start, t_stop : float, optional
        Window (ms).
    bin_size : float, optional
        Bin of the rate histogram (ms); default: about 200 bins.
    max_neurons : int
        Neurons shown per population, evenly spaced over its ids.
    chunk : int or None

    Returns
    -------
    matplotlib.figure.Figure
    """
    pops = _spike_pops(rec, populations)
    a, b = window(rec, t_start, t_stop)
    bin_size = default_bin(rec, a, b) if bin_size is None else bin_size
    fig = _figure(5.5)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    offset, ticks = 0, []
    for pop, color in zip(pops, _colors(len(pops)), strict=True):
        n = spike_population(rec, pop)
        shown = np.unique(np.linspace(0, n - 1, min(n, max_neurons)).round().astype(np.int64))
        row = np.full(n, -1, np.int64)
        row[shown] = np.arange(len(shown))
        xs, ys = [], []
        for t, ids in _stream(rec, pop, b, chunk):
            keep = in_window(t, a, b)
            r = row[ids[keep]]
            xs.append(t[keep][r >= 0])
            ys.append(r[r >= 0] + offset)
        x = np.concatenate(xs) if xs else np.zeros(0)
        y = np.concatenate(ys) if ys else np.zeros(0)
        top.scatter(x, y, s=5, marker="|", color=color, linewidths=0.7, rasterized=True)
        ticks.append((offset + len(shown) / 2, f"{pop}\n({len(shown)} of {n})"))
        offset += len(shown) + max(2, len(shown) // 20)
        edges, rate = population_rate(rec, pop, bin_size, a, b, chunk=chunk)
        bottom.stairs(rate, edges, color=color, label=pop)
    top.set_yticks([p for p, _ in ticks], [label for _, label in ticks])
    top.set_ylim(offset, -1)  # the first population on top
    top.set_title(f"{_title(rec)}: spikes")
    bottom.set_xlabel("time (ms)")
    bottom.set_ylabel(f"rate (Hz)\n{bin_size:g} ms bins")
    bottom.set_xlim(a, b)
    bottom.legend(loc="upper right", fontsize="small")
    return fig


def rates(rec, populations=None, t_start=None, t_stop=None, bins=40, chunk=CHUNK):
    """Distribution of per-neuron firing rates, one histogram per population.

    Returns
    -------
    matplotlib.figure.Figure
    """
    pops = _spike_pops(rec, populations)
    a, b = window(rec, t_start, t_stop)
    fig = _figure()
    ax = fig.subplots()
    values = {pop: firing_rates(rec, pop, a, b, chunk) for pop in pops}
    hi = max(float(v.max()) if len(v) else 0.0 for v in values.values())
    # rates are spike counts / duration: bins holding whole counts avoid empty stripes
    quantum = 1000.0 / (b - a)
    width = quantum * max(1, int(np.ceil(max(hi, 1.0) / quantum / bins)))
    edges = np.arange(0.0, hi + 1.5 * width, width) - quantum / 2
    for (pop, v), color in zip(values.items(), _colors(len(pops)), strict=True):
        label = f"{pop}: mean {v.mean():.2f} Hz, sd {v.std():.2f} ({len(v)} neurons)"
        ax.hist(v, edges, histtype="stepfilled", alpha=0.35, color=color)
        ax.hist(v, edges, histtype="step", color=color, label=label)
    ax.set_xlabel("firing rate (Hz)")
    ax.set_ylabel("neurons")
    ax.set_title(f"{_title(rec)}: rates in ({a:g}, {b:g}] ms")
    ax.legend(fontsize="small")
    return fig


def cv(rec, populations=None, t_start=None, t_stop=None, bins=40, chunk=CHUNK):
    """Distribution of per-neuron CV of ISI (neurons with >= 3 spikes).

    Returns
    -------
    matplotlib.figure.Figure
    """
    pops = _spike_pops(rec, populations)
    a, b = window(rec, t_start, t_stop)
    fig = _figure()
    ax = fig.subplots()
    values = {}
    for pop in pops:
        v = isi_cv(rec, pop, a, b, chunk=chunk)
        values[pop] = v[~np.isnan(v)]
    hi = max([float(v.max()) for v in values.values() if len(v)] or [1.0])
    edges = np.linspace(0, max(hi, 1.0) * 1.02, bins + 1)
    for (pop, v), color in zip(values.items(), _colors(len(pops)), strict=True):
        if not len(v):
            continue
        label = f"{pop}: mean {v.mean():.3f} ({len(v)} neurons)"
        ax.hist(v, edges, histtype="stepfilled", alpha=0.35, color=color)
        ax.hist(v, edges, histtype="step", color=color, label=label)
    ax.axvline(1.0, color="0.5", lw=0.8, ls="--")
    ax.set_xlabel("CV of ISI (1 = Poisson)")
    ax.set_ylabel("neurons")
    ax.set_title(f"{_title(rec)}: ISI variability in ({a:g}, {b:g}] ms")
    if any(len(v) for v in values.values()):
        ax.legend(fontsize="small")
    return fig


def traces(
    rec,
    population=None,
    variable=None,
    t_start=None,
    t_stop=None,
    n_traces=5,
    rows=None,
):
    """Recorded traces (membrane or LTC potentials): a few neurons, a heat map of all
    recorded neurons, and the population mean with its spread.

    Parameters
    ----------
    rec : Recording
    population, variable : str, optional
        Default: the first recorded report.
    t_start, t_stop : float, optional
        Window (ms).
    n_traces : int
        Neurons drawn as lines, evenly spaced over the recorded ones.
    rows : int, optional
        Samples read at once.

    Returns
    -------
    matplotlib.figure.Figure
    """
    population, variable = _report(rec, population, variable)
    a, b = window(rec, t_start, t_stop)
    info = report_info(rec, population, variable)
    inside = np.flatnonzero(in_window(info["times"], a, b))
    if not len(inside):
        raise RecordingError(
            f"{where(rec)}: t_start/t_stop: no sample of {population}/{variable} in "
            f"({a:g}, {b:g}] ms"
        )
    r0, r1 = int(inside[0]), int(inside[-1]) + 1
    n = info["shape"][1]
    lines = np.unique(np.linspace(0, n - 1, min(n, max(1, n_traces))).round().astype(int))
    cols = np.unique(np.linspace(0, n - 1, min(n, HEATMAP_MAX[1])).round().astype(int))
    every = max(1, -(-(r1 - r0) // HEATMAP_MAX[0]))
    line_data, heat, heat_t = [], [], []
    times = info["times"]
    for first, block in report_blocks(rec, population, variable, r0, r1, rows):
        x = np.asarray(block, np.float64)
        line_data.append(x[:, lines])
        pick = np.arange((-(first - r0)) % every, len(x), every)
        heat.append(x[pick][:, cols])
        heat_t.append(times[first + pick])
    t = times[r0:r1]
    y = np.concatenate(line_data)
    units = info["units"]
    show_heat = n >= 10
    fig = _figure(7.0 if show_heat else 5.0)
    axes = fig.subplots(3 if show_heat else 2, 1, sharex=True)
    ids = info["node_ids"]
    for j, color in zip(range(len(lines)), _colors(len(lines)), strict=True):
        axes[0].plot(t, y[:, j], lw=0.8, color=color, label=f"neuron {ids[lines[j]]}")
    axes[0].set_ylabel(f"{variable} ({units})")
    axes[0].legend(fontsize="x-small", ncol=min(5, len(lines)), loc="upper right")
    axes[0].set_title(f"{_title(rec)}: {population}/{variable}")
    if show_heat:
        h = np.concatenate(heat).T
        ht = np.concatenate(heat_t)
        img = axes[1].imshow(
            h,
            aspect="auto",
            origin="lower",
            interpolation="nearest",
            extent=(ht[0], ht[-1], -0.5, len(cols) - 0.5),
            cmap="viridis",
        )
        axes[1].set_ylabel(f"neuron\n({len(cols)} of {n})")
        fig.colorbar(img, ax=axes[1], label=units, pad=0.01)
    tm, mean, sd = mean_trace(rec, population, variable, a, b, rows)
    axes[-1].fill_between(tm, mean - sd, mean + sd, color="0.8", label="± sd over neurons")
    axes[-1].plot(tm, mean, color="k", lw=1, label=f"mean of {n} neurons")
    axes[-1].set_ylabel(f"{variable} ({units})")
    axes[-1].set_xlabel("time (ms)")
    axes[-1].legend(fontsize="x-small", loc="upper right")
    axes[-1].set_xlim(t[0], t[-1])
    return fig


def spectrum(
    rec,
    populations=None,
    t_start=None,
    t_stop=None,
    bin_size=None,
    nperseg=256,
    variable=None,
    chunk=CHUNK,
):
    """Power spectra of the population rates (Welch), or, in a recording without
    spikes (LTC), of the population-average trace of each report.

    Parameters
    ----------
    rec : Recording
    populations : list of str, optional
    t_start, t_stop : float, optional
    bin_size : float, optional
        Bin of the rate (ms); default: 0.5 ms rounded to whole steps (Nyquist 1 kHz).
    nperseg : int
        Samples per Welch segment.
    variable : str, optional
        Report variable for a recording without spikes.
    chunk : int or None

    Returns
    -------
    matplotlib.figure.Figure
    """
    a, b = window(rec, t_start, t_stop)
    fig = _figure()
    ax = fig.subplots()
    if rec.spike_populations:
        pops = _spike_pops(rec, populations)
        if bin_size is None:
            dt = float(rec.attrs.get("dt") or 0.1)
            bin_size = dt * max(1, round(0.5 / dt))
        for pop, color in zip(pops, _colors(len(pops)), strict=True):
            f, p = rate_spectrum(rec, pop, bin_size, a, b, nperseg, chunk=chunk)
            ax.semilogy(f[1:], p[1:], color=color, lw=1, label=pop)
        ax.set_ylabel("PSD of the population rate (Hz²/Hz)")
        ax.set_title(f"{_title(rec)}: rate spectra ({bin_size:g} ms bins)")
    else:
        pops = list(rec.report_populations) if populations is None else list(populations)
        if not pops:
            raise RecordingError(f"{where(rec)}: /: neither spikes nor reports recorded")
        for pop, color in zip(pops, _colors(len(pops)), strict=True):
            pop, var = _report(rec, pop, variable)
            f, p = trace_spectrum(rec, pop, var, a, b, nperseg)
            ax.semilogy(f[1:], p[1:], color=color, lw=1, label=f"{pop}/{var}")
        ax.set_ylabel(f"PSD of the mean trace ({rec.units(pop, var)}²/Hz)")
        ax.set_title(f"{_title(rec)}: spectra of the population-average state")
    ax.set_xlabel("frequency (Hz)")
    ax.legend(fontsize="small")
    return fig


def _report(rec, population, variable):
    if population is None:
        if not rec.report_populations:
            raise RecordingError(f"{where(rec)}: /report: no state recorded in this file")
        population = rec.report_populations[0]
    if variable is None:
        if population not in rec.report_populations:
            report_variable(rec, population, "")  # raises, naming the population
        names = rec.variables(population)
        if not names:
            raise RecordingError(f"{where(rec)}: /report/{population}: no variable recorded")
        variable = names[0]
    report_variable(rec, population, variable)
    return population, variable


def _title(rec):
    return str(rec.attrs.get("network_name") or where(rec))


#: ``neurosim plot --kind`` -> function.
KINDS = {"raster": raster, "rates": rates, "cv": cv, "traces": traces, "spectrum": spectrum}
