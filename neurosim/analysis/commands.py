"""Analysis subcommands of the ``neurosim`` command: ``neurosim plot``.

Bad input (a missing, foreign or truncated file, an unknown population or variable, a
window outside the recording, a bad option) raises :class:`neurosim.cli.BadInput`: one
line naming the file and the field, exit status 2.
"""

from __future__ import annotations

import os

KINDS = ("raster", "rates", "cv", "traces", "spectrum")
SPIKE_KINDS = ("raster", "rates", "cv")


def register(sub):
    """Add this module's subcommands to ``sub``; return ``{name: handler}``."""
    p = sub.add_parser(
        "plot",
        help="plot a recording (raster, rates, cv, traces, spectrum) to an image",
        description="Plot a recording to an image file (PNG, PDF, SVG ...).",
    )
    p.add_argument("recording", help="recording written by neurosim run (.h5)")
    p.add_argument("--kind", required=True, choices=KINDS, help="what to plot")
    p.add_argument(
        "-o",
        "--output",
        help="image to write (default: <recording>_<kind>.png); format from the extension",
    )
    p.add_argument("--populations", help="comma-separated populations (default: all)")
    p.add_argument("--variable", help="recorded variable for traces (default: the first)")
    p.add_argument("--t-start", help='start of the window, e.g. "100 ms" (default: 0)')
    p.add_argument("--t-stop", help="end of the window (default: the end of the recording)")
    p.add_argument("--bin", help='bin of population rates, e.g. "1 ms" (default: automatic)')
    p.add_argument(
        "--neurons",
        type=int,
        help="neurons shown: per population in a raster (default 200), lines in traces (default 5)",
    )
    p.add_argument("--nperseg", type=int, default=256, help="samples per Welch segment")
    p.add_argument("--dpi", type=int, default=100, help="dots per inch of bitmap images (png)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing image")
    return {"plot": _plot}


def _plot(args):
    from ..cli import BadInput
    from ..io.chunked import RecordingError
    from ..units import UnitError, parse_quantity

    out = args.output or f"{os.path.splitext(args.recording)[0]}_{args.kind}.png"
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise BadInput("neurosim plot needs matplotlib: pip install 'neurosim[plot]'") from None
    ext = os.path.splitext(out)[1].lstrip(".").lower()
    formats = FigureCanvasBase.get_supported_filetypes()
    if ext not in formats:
        raise BadInput(
            f"{out}: -o: unknown image format {ext!r} (expected one of {', '.join(formats)})"
        )
    if os.path.isdir(out):
        raise BadInput(f"{out}: -o: is a directory, expected an image file name")
    if os.path.exists(out) and not args.overwrite:
        raise BadInput(f"{out}: already exists; pass --overwrite to replace it")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise BadInput(f"{out}: -o: folder {folder} does not exist")
    times = {}
    for field in ("t_start", "t_stop", "bin"):
        text = getattr(args, field)
        try:
            times[field] = None if text is None else parse_quantity(text, "time")
        except UnitError as exc:
            raise BadInput(f"--{field.replace('_', '-')}: {exc}") from None
    for field in ("neurons", "nperseg", "dpi"):
        value = getattr(args, field)
        if value is not None and value < (2 if field == "nperseg" else 1):
            raise BadInput(f"--{field}: expected a positive integer, got {value}")

    from . import open_recording
    from ._common import n_bins, window

    try:
        rec = open_recording(args.recording)
    except RecordingError as exc:
        raise BadInput(str(exc)) from None
    with rec:
        try:
            a, b = window(rec, times["t_start"], times["t_stop"], ("--t-start", "--t-stop"))
            if times["bin"] is not None:
                n_bins(a, b, times["bin"], rec, "--bin")
            pops = _populations(rec, args)
            fig = _draw(rec, args, pops, a, b, times["bin"])
        except RecordingError as exc:
            raise BadInput(str(exc)) from None
        except (OSError, RuntimeError, KeyError) as exc:
            # h5py's errors reading a damaged file
            raise BadInput(f"{args.recording}: cannot read ({_line(exc)})") from None
    from .plots import save

    try:
        save(fig, out, dpi=args.dpi)
    except OSError as exc:
        raise BadInput(f"{out}: cannot write ({_line(exc)})") from None
    print(f"wrote {out}")
    return 0


def _populations(rec, args):
    from ..io.chunked import RecordingError

    if args.populations is None:
        return None
    pops = [p.strip() for p in args.populations.split(",") if p.strip()]
    if not pops:
        raise RecordingError(f"{rec.path}: --populations: expected names, got nothing")
    spikes = args.kind in SPIKE_KINDS or (args.kind == "spectrum" and rec.spike_populations)
    have = rec.spike_populations if spikes else rec.report_populations
    what = "spikes" if spikes else "state"
    for pop in pops:
        if pop not in have:
            raise RecordingError(
                f"{rec.path}: --populations: no {what} recorded for {pop!r} "
                f"(recorded: {', '.join(have) or 'none'})"
            )
    if args.variable is not None and not spikes:
        for pop in pops:
            if args.variable not in rec.variables(pop):
                raise RecordingError(
                    f"{rec.path}: --variable: {args.variable!r} not recorded for {pop!r} "
                    f"(recorded: {', '.join(rec.variables(pop))})"
                )
    return pops


def _draw(rec, args, pops, a, b, bin_size):
    from ..io.chunked import RecordingError
    from . import plots

    if args.kind == "raster":
        return plots.raster(rec, pops, a, b, bin_size, max_neurons=args.neurons or 200)
    if args.kind == "rates":
        return plots.rates(rec, pops, a, b)
    if args.kind == "cv":
        return plots.cv(rec, pops, a, b)
    if args.kind == "traces":
        if pops is not None and len(pops) > 1:
            raise RecordingError(f"{rec.path}: --populations: traces takes one population")
        pop = pops[0] if pops else None
        if args.variable is not None and pop is None:
            pop = _first_with(rec, args.variable)
        return plots.traces(rec, pop, args.variable, a, b, n_traces=args.neurons or 5)
    return plots.spectrum(rec, pops, a, b, bin_size, args.nperseg, args.variable)


def _first_with(rec, variable):
    from ..io.chunked import RecordingError

    for pop in rec.report_populations:
        if variable in rec.variables(pop):
            return pop
    have = [f"{p}/{v}" for p in rec.report_populations for v in rec.variables(p)]
    raise RecordingError(
        f"{rec.path}: --variable: {variable!r} not recorded for any population "
        f"(recorded: {', '.join(have) or 'none'})"
    )


def _line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
