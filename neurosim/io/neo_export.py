"""Export a recording as a Neo ``Block`` (for Elephant and the other Neo tools).

The block holds one ``Segment`` (the run) with

- a ``SpikeTrain`` per neuron of every recorded spike population (ms, ``t_start`` 0,
  ``t_stop`` the simulated time), annotated ``population`` and ``node_id``;
- an ``AnalogSignal`` per recorded state variable, ``[time, recorded neuron]`` in the
  recorded unit, ``t_start`` the stamp of the first sample, ``sampling_period`` the
  report interval, ``array_annotations["node_id"]`` per column, annotated
  ``population`` and ``variable``;

and one ``Group`` per population gathering its spike trains and signals (Neo's
replacement of the old ``Unit``/``ChannelIndex``).

On disk the block is written with Neo's ``NixIO`` (``.nix``, an HDF5 file in the NIX
format; needs ``nixio``).  Pickle files are refused: loading one runs arbitrary code.
NixIO writes every spike train as an object of its own (about 20 ms each here), so
for very large populations build the block in Python with :func:`to_neo` instead.

neo and quantities are imported only inside the functions.
"""

from __future__ import annotations

import os

import numpy as np

from .chunked import report_info

#: Output suffixes and the Neo IO that writes them.
NEO_SUFFIXES = {".nix": "NixIO", ".h5": "NixIO"}


def to_neo(rec, spike_populations=None, reports=None):
    """Build a Neo ``Block`` from a recording.

    Parameters
    ----------
    rec : neurosim.io.hdf5.Recording
        An open recording.
    spike_populations : list of str, optional
        Populations whose spikes become spike trains (default: all recorded).
    reports : list of (population, variable), optional
        State reports that become analog signals (default: all).

    Returns
    -------
    neo.Block
    """
    import neo
    import quantities as pq

    a = rec.attrs
    if spike_populations is None:
        spike_populations = list(rec.spike_populations)
    if reports is None:
        reports = [(p, v) for p in rec.report_populations for v in rec.variables(p)]
    name = str(a.get("network_name", "network"))
    t_stop = float(a.get("t_stop", 0.0))
    block = neo.Block(
        name=name,
        description=f"neurosim recording of network '{name}'",
        file_origin=getattr(rec, "path", None),
        neurosim_version=str(a.get("neurosim_version", "")),
        dt_ms=float(a.get("dt", 0.0)),
        seed=int(a.get("seed", 0)),
        backend=str(a.get("backend", "")),
        complete=bool(a.get("complete", False)),
    )
    seg = neo.Segment(name="run", index=0)
    block.segments.append(seg)
    groups = {}

    def group(p):
        if p not in groups:
            groups[p] = neo.Group(name=p, description=f"population {p}")
            block.groups.append(groups[p])
        return groups[p]

    for p in spike_populations:
        t, ids = rec.spikes(p)
        n = rec.population_size(p)
        o = np.lexsort((t, ids))
        t, ids = t[o], ids[o]
        bounds = np.searchsorted(ids, np.arange(n + 1), side="left")
        stop = max(t_stop, float(t.max()) if len(t) else 0.0)
        g = group(p)
        for i in range(n):
            st = neo.SpikeTrain(
                t[bounds[i] : bounds[i + 1]],
                units="ms",
                t_start=0.0 * pq.ms,
                t_stop=stop * pq.ms,
                name=f"{p}#{i}",
                population=p,
                node_id=i,
            )
            seg.spiketrains.append(st)
            g.add(st)
    for p, v in reports:
        times, data, ids = rec.report(p, v)
        unit = rec.units(p, v) or "dimensionless"
        try:
            units = pq.Quantity(1.0, unit).units
        except (LookupError, ValueError, TypeError, AttributeError):
            units = pq.dimensionless
        step = report_info(rec, p, v)["interval"]  # the stored one (also for one sample)
        start = float(times[0]) if len(times) else step
        sig = neo.AnalogSignal(
            np.asarray(data),
            units=units,
            sampling_period=step * pq.ms,
            t_start=start * pq.ms,
            name=f"{p}/{v}",
            array_annotations={"node_id": np.asarray(ids, np.int64)},
            population=p,
            variable=v,
            recorded_unit=unit,
        )
        seg.analogsignals.append(sig)
        group(p).add(sig)
    block.check_relationships()
    return block


def export_neo(rec, out_path, spike_populations=None, reports=None):
    """Write a recording as a Neo block with ``NixIO``.

    Parameters
    ----------
    rec : neurosim.io.hdf5.Recording
    out_path : str
        ``.nix`` (or ``.h5``) file to write; an existing file is replaced (callers
        check first).
    spike_populations, reports : optional
        As :func:`to_neo`.
    """
    from neo.io import NixIO

    out_path = os.fspath(out_path)
    block = to_neo(rec, spike_populations, reports)
    if os.path.exists(out_path):
        os.remove(out_path)
    with NixIO(out_path, mode="ow") as io:
        io.write_block(block)
