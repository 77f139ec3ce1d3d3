"""Raster plot of a recording, with the population rate below it.

    neurosim run networks/brunel2000.yaml --duration "200 ms" -o b.h5
    python analysis/raster.py b.h5 -o raster.png --t-start 50 --t-stop 150

A starting point to copy and edit: the plot is neurosim.analysis.plots.raster, a
matplotlib Figure you can change before it is saved.
"""

import argparse
import sys

from neurosim import analysis
from neurosim.analysis import plots


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recording")
    p.add_argument("-o", "--output", default="raster.png")
    p.add_argument("--populations", help="comma-separated (default: all with spikes)")
    p.add_argument("--t-start", type=float, help="ms")
    p.add_argument("--t-stop", type=float, help="ms")
    p.add_argument("--bin", type=float, help="bin of the rate histogram (ms)")
    p.add_argument("--neurons", type=int, default=200, help="neurons shown per population")
    args = p.parse_args(argv)
    pops = args.populations.split(",") if args.populations else None
    try:
        with analysis.open_recording(args.recording) as rec:
            fig = plots.raster(rec, pops, args.t_start, args.t_stop, args.bin, args.neurons)
    except analysis.RecordingError as exc:
        print(f"raster.py: error: {exc}", file=sys.stderr)
        return 2
    fig.axes[0].set_title(f"{args.recording}")  # edit freely: it is a matplotlib Figure
    plots.save(fig, args.output, dpi=120)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
