"""Interop subcommands of the ``neurosim`` command.

``neurosim export out.h5 --to nwb -o out.nwb``      a recording as NWB (pynwb)
``neurosim export out.h5 --to neo -o out.nix``      a recording as a Neo block (NixIO)
``neurosim connections net.yaml -o edges.h5``      the built synapses as SONATA edges
``neurosim connections net.yaml -o edges.npz``     ... or as numpy tables
``neurosim import-sonata circuit_config.json -o net.yaml``   a SONATA circuit as a network file

Bad input ends with one line naming the file and the field, exit status 2
(:class:`neurosim.cli.BadInput`).
"""

from __future__ import annotations

import os
import re
import sys

FORMATS = {"nwb": (".nwb",), "neo": (".nix", ".h5"), "sonata": (".h5",)}


def register(sub):
    """Add this module's subcommands to ``sub``; return ``{name: handler}``."""
    e = sub.add_parser("export", help="export a recording to NWB, Neo or SONATA reports")
    e.add_argument("recording", help="a neurosim recording (.h5)")
    e.add_argument("--to", required=True, metavar="FORMAT", help="nwb, neo or sonata")
    e.add_argument(
        "-o",
        "--output",
        help="file to write (default: <recording>.nwb / .nix; sonata: <recording>_sonata.h5, "
        "which names one file per variable, <stem>.<variable>.h5)",
    )
    e.add_argument(
        "--populations", help="comma-separated populations to export (default: all recorded)"
    )
    e.add_argument("--overwrite", action="store_true", help="replace an existing output")

    c = sub.add_parser("connections", help="export the synapses of a network (SONATA edges, .npz)")
    c.add_argument("network", help="network file (YAML)")
    c.add_argument("-o", "--output", required=True, help="edges file: .h5 (SONATA) or .npz")
    c.add_argument("--pre", help="only projections from this population")
    c.add_argument("--post", help="only projections onto this population")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    c.add_argument("--overwrite", action="store_true", help="replace existing outputs")

    s = sub.add_parser("import-sonata", help="convert a SONATA circuit to a network file")
    s.add_argument("config", help="circuit_config.json or a simulation config")
    s.add_argument("-o", "--output", required=True, help="network file to write (.yaml)")
    s.add_argument("--dt", help='time step, e.g. "0.1 ms" (default: run.dt, else 0.1 ms)')
    s.add_argument("--duration", help="simulated time (default: run.tstop, else 1 s)")
    s.add_argument("--seed", default="1", help="random seed of the network file (default 1)")
    s.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    return {"export": _export, "connections": _connections, "import-sonata": _import_sonata}


def _bad(message):
    from ..cli import BadInput

    return BadInput(message)


def _one_line(exc):
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _check_output(path, overwrite):
    if os.path.isdir(path):
        raise _bad(f"{path}: is a directory, expected an output file name")
    if os.path.exists(path) and not overwrite:
        raise _bad(f"{path}: already exists; pass --overwrite to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise _bad(f"{path}: folder {folder} does not exist")


def _refuse_truncated(path):
    """Refuse a file shorter than its superblock says (cut off by a copy or a full disk).

    Checked with a plain open first: a killed writer's file fails that open for another
    reason (its SWMR flags) and is read by :func:`neurosim.open`; a truncated one would
    be opened in SWMR mode too, whose reader retries every metadata read past the end
    of the file for minutes.
    """
    import h5py

    try:
        h5py.File(path, "r", locking=False).close()
    except OSError as exc:
        text = str(exc)
        if "truncated file" in text:
            m = re.search(r"eof = (\d+).*stored_eof = (\d+)", text)
            size = f" ({m.group(1)} of {m.group(2)} bytes)" if m else ""
            raise _bad(f"{path}: truncated HDF5 file{size}") from None


def open_neurosim_recording(path):
    """Open a recording for the commands; bad files raise BadInput naming the file."""
    from .hdf5 import open_recording

    if not os.path.isfile(path):
        raise _bad(f"{path}: no such recording")
    _refuse_truncated(path)
    try:
        rec = open_recording(path)
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise _bad(f"{path}: not a readable HDF5 recording ({_one_line(exc)})") from None
    if "neurosim_version" not in rec.attrs:
        rec.close()
        raise _bad(f"{path}: not a neurosim recording (no root attribute neurosim_version)")
    try:  # the analysis commands' check: every stored chunk lies inside the file
        from .chunked import check_recording
    except ImportError:
        check_recording = None
    if check_recording is not None:
        try:
            check_recording(rec)
        except ValueError as exc:
            rec.close()
            raise _bad(_one_line(exc)) from None
    return rec


def _selection(rec, path, populations):
    spikes = list(rec.spike_populations)
    reports = [(p, v) for p in rec.report_populations for v in rec.variables(p)]
    if populations is None:
        return spikes, reports
    wanted = [p.strip() for p in populations.split(",") if p.strip()]
    known = list(dict.fromkeys(spikes + list(rec.report_populations)))
    for p in wanted:
        if p not in known:
            raise _bad(
                f"{path}: --populations: population {p!r} is not in the recording "
                f"(has {', '.join(known) or 'none'})"
            )
    return [p for p in spikes if p in wanted], [(p, v) for p, v in reports if p in wanted]


def _export(args):
    fmt = (args.to or "").lower()
    if fmt not in FORMATS:
        raise _bad(f"--to: unknown format {args.to!r}; expected one of: {', '.join(FORMATS)}")
    if fmt == "sonata":
        return _export_sonata(args)
    out = args.output or os.path.splitext(args.recording)[0] + FORMATS[fmt][0]
    ext = os.path.splitext(out)[1].lower()
    if fmt == "neo" and ext in (".pkl", ".pickle"):
        raise _bad(
            f"-o: {out}: pickle files run code when loaded; write .nix (Neo's NixIO) instead, "
            "or build the block in Python with neurosim.io.neo_export.to_neo"
        )
    if ext not in FORMATS[fmt]:
        raise _bad(f"-o: {out}: expected a {' or '.join(FORMATS[fmt])} file for --to {fmt}")
    module = {"nwb": "pynwb", "neo": "nixio"}[fmt]
    try:
        __import__(module)
        if fmt == "neo":
            __import__("neo")
    except ImportError:
        need = "pynwb" if fmt == "nwb" else "neo and nixio"
        raise _bad(f"--to {fmt}: needs {need} (pip install {need.replace(' and ', ' ')})") from None
    _check_output(out, args.overwrite)
    rec = open_neurosim_recording(args.recording)
    with rec:
        spikes, reports = _selection(rec, args.recording, args.populations)
        try:
            if fmt == "nwb":
                from .nwb import export_nwb

                export_nwb(rec, out, spikes, reports)
            else:
                from .neo_export import export_neo

                export_neo(rec, out, spikes, reports)
        except (OSError, KeyError) as exc:
            if os.path.exists(out):
                os.remove(out)
            raise _bad(f"{args.recording}: cannot read the recording ({_one_line(exc)})") from None
    n_rep = len(reports)
    print(f"wrote {out} ({fmt}: spikes of {len(spikes)} populations, {n_rep} state reports)")
    return 0


def _export_sonata(args):
    """State reports as SONATA report files (one per variable); the recording's own
    spikes are already SONATA's spike layout."""
    from .sonata import SonataError, export_reports

    out = args.output or os.path.splitext(args.recording)[0] + "_sonata.h5"
    if os.path.splitext(out)[1].lower() != ".h5":
        raise _bad(f"-o: {out}: expected a .h5 name for --to sonata")
    stem = os.path.splitext(out)[0]
    rec = open_neurosim_recording(args.recording)
    with rec:
        _spikes, reports = _selection(rec, args.recording, args.populations)
    if not reports:
        raise _bad(
            f"{args.recording}: no state reports to export (its spikes are SONATA's already)"
        )
    for var in {v for _p, v in reports}:
        _check_output(f"{stem}.{var}.h5", args.overwrite)
    try:
        paths = export_reports(args.recording, stem, reports, overwrite=args.overwrite)
    except SonataError as exc:
        raise _bad(str(exc)) from None
    except (OSError, KeyError) as exc:
        raise _bad(f"{args.recording}: cannot read the recording ({_one_line(exc)})") from None
    print(f"wrote {', '.join(paths)} (SONATA reports, float32: {len(reports)} reports)")
    return 0


def _connections(args):
    from ..network.inspect import iter_connections, projection_pairs
    from ..network.spec import SpecError, load
    from .sonata import SonataError, write_connections_npz, write_edges

    ext = os.path.splitext(args.output)[1].lower()
    if ext not in (".h5", ".hdf5", ".npz"):
        raise _bad(f"-o: {args.output}: expected a .h5 (SONATA edges) or .npz file")
    try:
        spec = load(args.network, args.set)
    except SpecError as exc:
        raise _bad(str(exc)) from None
    if spec.kind != "spiking":
        raise _bad(f"{args.network}: connections of {spec.kind} networks are not exported")
    for opt, name in (("--pre", args.pre), ("--post", args.post)):
        if name is not None and name not in spec.populations:
            raise _bad(
                f"{args.network}: {opt}: unknown population {name!r}; expected one of: "
                f"{', '.join(spec.populations)}"
            )
    _check_output(args.output, args.overwrite)
    pairs = [
        (p, q)
        for p, q in projection_pairs(spec)
        if (args.pre is None or p == args.pre) and (args.post is None or q == args.post)
    ]
    if args.pre is not None and args.post is not None and not pairs:
        pairs = [(args.pre, args.post)]
    from ..network.build import build

    try:
        built = build(spec)
    except SpecError as exc:
        raise _bad(str(exc)) from None
    rows = []

    def each():  # one pair in memory at a time for the SONATA file
        for key, c in iter_connections(built, pairs):
            rows.append((key, len(c), c.degree_stats(), c.weight_unit))
            yield key, c

    try:
        if ext == ".npz":
            plain = args.pre is not None and args.post is not None
            files = write_connections_npz(args.output, dict(each()), plain, args.overwrite)
        else:
            files = write_edges(args.output, each(), args.overwrite)
    except SonataError as exc:
        raise _bad(str(exc)) from None
    print(f"{'edge population':<24} {'synapses':>10} {'in-degree':>10} {'out-degree':>10}  weight")
    for (p, q), n, st, unit in rows:
        print(
            f"{p + ' -> ' + q:<24} {n:>10} {st['in']['mean']:>10.2f} "
            f"{st['out']['mean']:>10.2f}  {unit}"
        )
    print(f"wrote {', '.join(files)}")
    return 0


def _import_sonata(args):
    from ..network.spec import SpecError, load
    from ..units import UnitError, parse_quantity
    from .sonata import SonataError, import_sonata

    opts = {}
    for name, dim in (("dt", "time"), ("duration", "time")):
        raw = getattr(args, name)
        if raw is None:
            continue
        try:
            opts[name] = parse_quantity(raw, dim)
        except UnitError as exc:
            raise _bad(f"--{name}: {exc}") from None
    try:
        seed = int(args.seed)
        if seed < 0:
            raise ValueError
    except ValueError:
        raise _bad(f"--seed: expected an integer >= 0, got {args.seed!r}") from None
    if not os.path.isfile(args.config):
        raise _bad(f"{args.config}: file not found")
    try:
        res = import_sonata(args.config, args.output, args.overwrite, seed=seed, **opts)
    except SonataError as exc:
        raise _bad(str(exc)) from None
    for w in res.warnings:
        print(f"neurosim: warning: {args.config}: {w}", file=sys.stderr)
    try:
        spec = load(res.path)
    except SpecError as exc:
        raise _bad(f"{args.config}: the converted network is invalid: {exc}") from None
    n = sum(p.size for p in spec.neuron_populations)
    print(
        f"wrote {res.path} ({n} neurons in {len(spec.neuron_populations)} populations, "
        f"{len(spec.projections)} projections; tables and node ids in "
        f"{os.path.dirname(res.files[-1])})"
    )
    return 0
