"""Export a recording to NWB (Neurodata Without Borders) with pynwb.

Layout of the NWB file:

- ``units``: one row per neuron of every recorded spike population (zero-spike
  neurons included), columns ``spike_times`` (s, NWB's unit), ``population`` and
  ``node_id`` (population-local id, as in the recording);
- ``acquisition/<population>_<variable>``: a ``TimeSeries`` per recorded state
  variable, data ``[time, recorded neuron]`` as recorded (mV, pA, nS ...), with NWB's
  SI ``unit`` and ``conversion`` (``volts`` and 1e-3 for mV), ``starting_time`` (s,
  the time stamp of the first sample) and ``rate`` (Hz);
- ``processing/neurosim/report_columns``: which node id each column of each
  ``TimeSeries`` is (columns ``timeseries``, ``column``, ``population``, ``node_id``);
- ``notes``: the network file text; ``session_start_time``: the recording file's
  modification time (UTC).

pynwb is imported only inside :func:`to_nwb` / :func:`export_nwb`.
"""

from __future__ import annotations

import datetime
import os
import uuid

import numpy as np

from .chunked import report_info

#: Recording units -> (NWB SI unit, conversion factor to it).
SI_UNITS = {
    "mV": ("volts", 1e-3),
    "V": ("volts", 1.0),
    "pA": ("amperes", 1e-12),
    "nA": ("amperes", 1e-9),
    "nS": ("siemens", 1e-9),
    "uS": ("siemens", 1e-6),
    "ms": ("seconds", 1e-3),
}


def _spike_units(rec, populations):
    """Ragged spike-time arrays of every neuron, grouped by population.

    Returns
    -------
    times_s : ndarray of float64, shape (n_spikes,)
        Spike times (s), by unit then time.
    index : ndarray of int64, shape (n_units,)
        End of each unit's spikes in ``times_s`` (NWB's ``spike_times_index``).
    pop : list of str, length n_units
    node : ndarray of int64, shape (n_units,)
    """
    times, index, pop, node = [], [], [], []
    end = 0
    for p in populations:
        t, ids = rec.spikes(p)
        n = rec.population_size(p)
        o = np.lexsort((t, ids))
        t, ids = t[o], ids[o]
        ends = np.searchsorted(ids, np.arange(n), side="right") + end
        times.append(t * 1e-3)
        index.append(ends)
        pop.extend([p] * n)
        node.append(np.arange(n, dtype=np.int64))
        end += len(t)
    cat = np.concatenate
    return (
        cat(times) if times else np.zeros(0),
        cat(index).astype(np.int64) if index else np.zeros(0, np.int64),
        pop,
        cat(node) if node else np.zeros(0, np.int64),
    )


def to_nwb(rec, spike_populations=None, reports=None, source_path=None):
    """Build an in-memory ``pynwb.NWBFile`` from a recording.

    Parameters
    ----------
    rec : neurosim.io.hdf5.Recording
        An open recording.
    spike_populations : list of str, optional
        Populations whose spikes go to the units table (default: all recorded).
    reports : list of (population, variable), optional
        State reports exported as ``TimeSeries`` (default: all).
    source_path : str, optional
        The recording's path (its modification time becomes ``session_start_time``).

    Returns
    -------
    pynwb.NWBFile
    """
    from hdmf.common import DynamicTable, VectorData, VectorIndex
    from pynwb import NWBFile, TimeSeries
    from pynwb.misc import Units

    a = rec.attrs
    if spike_populations is None:
        spike_populations = list(rec.spike_populations)
    if reports is None:
        reports = [(p, v) for p in rec.report_populations for v in rec.variables(p)]
    path = source_path or getattr(rec, "path", None)
    stamp = os.path.getmtime(path) if path and os.path.exists(path) else 0.0
    name = str(a.get("network_name", "network"))
    nwb = NWBFile(
        session_description=f"neurosim recording of network '{name}' "
        f"({a.get('t_stop', 0):g} ms simulated, dt {a.get('dt')} ms, seed {a.get('seed')}, "
        f"backend {a.get('backend')}, complete {bool(a.get('complete'))})",
        identifier=str(uuid.uuid4()),
        session_start_time=datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc),
        notes=str(a.get("network", "")),
    )
    if spike_populations:
        times, index, pop, node = _spike_units(rec, spike_populations)
        st = VectorData(name="spike_times", description="spike times (s)", data=times)
        si = VectorIndex(name="spike_times_index", data=index, target=st)
        nwb.units = Units(
            name="units",
            id=np.arange(len(node)),
            columns=[
                st,
                si,
                VectorData(name="population", description="neurosim population", data=pop),
                VectorData(name="node_id", description="population-local node id", data=node),
            ],
            description="spikes of every neuron of the recorded populations (neurosim)",
            resolution=float(a["dt"]) * 1e-3,  # s: spikes lie on the step grid
        )
    cols = {"timeseries": [], "column": [], "population": [], "node_id": []}
    for p, v in reports:
        times, data, ids = rec.report(p, v)
        unit = rec.units(p, v) or "n/a"
        si_unit, conv = SI_UNITS.get(unit, (unit, 1.0))
        sname = f"{p}_{v}"
        step = report_info(rec, p, v)["interval"]  # the stored one (also for one sample)
        start = float(times[0]) if len(times) else step
        nwb.add_acquisition(
            TimeSeries(
                name=sname,
                data=data,
                unit=si_unit,
                conversion=conv,
                starting_time=start * 1e-3,
                rate=1e3 / step,
                description=f"{v} of population {p} in {unit}, one column per recorded "
                "neuron (node ids: processing/neurosim/report_columns)",
            )
        )
        cols["timeseries"].extend([sname] * len(ids))
        cols["column"].append(np.arange(len(ids), dtype=np.int64))
        cols["population"].extend([p] * len(ids))
        cols["node_id"].append(np.asarray(ids, np.int64))
    if reports:
        mod = nwb.create_processing_module("neurosim", "neurosim report metadata")
        col = np.concatenate(cols["column"])
        mod.add(
            DynamicTable(
                name="report_columns",
                description="node id of each column of each acquisition TimeSeries",
                id=np.arange(len(col)),
                columns=[
                    VectorData(name="timeseries", description="name", data=cols["timeseries"]),
                    VectorData(name="column", description="column index", data=col),
                    VectorData(
                        name="population", description="population", data=cols["population"]
                    ),
                    VectorData(
                        name="node_id",
                        description="population-local node id",
                        data=np.concatenate(cols["node_id"]),
                    ),
                ],
            )
        )
    return nwb


def export_nwb(rec, out_path, spike_populations=None, reports=None):
    """Write a recording as an NWB file (see the module docstring for the layout).

    Parameters
    ----------
    rec : neurosim.io.hdf5.Recording
    out_path : str
        The ``.nwb`` file to write (replaced if it exists; callers check first).
    spike_populations, reports : optional
        As :func:`to_nwb`.
    """
    from pynwb import NWBHDF5IO

    nwb = to_nwb(rec, spike_populations, reports)
    with NWBHDF5IO(os.fspath(out_path), "w") as io:
        io.write(nwb)
