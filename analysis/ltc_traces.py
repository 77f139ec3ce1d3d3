"""Trajectories of a graded (LTC) recording: a summary table and a plot.

    neurosim run networks/celegans.yaml -o c.h5
    python analysis/ltc_traces.py c.h5 -o ltc.png

Prints, for the whole population and for the --show neurons that move most, where
each neuron starts, ends and settles (neurosim.analysis.ltc_summary), then plots a
few traces, a heat map of all of them and the population mean.
"""

import argparse
import sys

import numpy as np

from neurosim import analysis as A
from neurosim.analysis import plots


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recording")
    p.add_argument("-o", "--output", default="ltc_traces.png")
    p.add_argument("--population", help="default: the first report (ltc, neurons ...)")
    p.add_argument("--variable", default="v")
    p.add_argument("--t-start", type=float, help="ms")
    p.add_argument("--t-stop", type=float, help="ms")
    p.add_argument("--show", type=int, default=8, help="neurons listed")
    args = p.parse_args(argv)
    try:
        with A.open_recording(args.recording) as rec:
            pop = args.population or (rec.report_populations or ["ltc"])[0]
            s = A.ltc_summary(rec, pop, args.variable, args.t_start, args.t_stop)
            fig = plots.traces(rec, pop, args.variable, args.t_start, args.t_stop)
    except A.RecordingError as exc:
        print(f"ltc_traces.py: error: {exc}", file=sys.stderr)
        return 2
    u = s["units"]
    n = len(s["node_ids"])
    print(f"{pop}/{args.variable}: {n} neurons, {len(s['times'])} samples")
    print(f"  initial {s['initial'].mean():.4g} {u} (sd {s['initial'].std():.3g})")
    print(f"  final   {s['final'].mean():.4g} {u} (sd {s['final'].std():.3g})")
    settle = s["settle_time"]
    print(f"  settled by {np.median(settle):.4g} ms (median), the last at {settle.max():.4g} ms")
    print(f"  mean |dv/dt| {s['mean_abs_slope'].mean():.4g} {u}/ms")
    order = np.argsort(s["max"] - s["min"])[::-1][: args.show]
    print(f"{'neuron':>7} {'initial':>9} {'final':>9} {'min':>9} {'max':>9} {'settle ms':>9}")
    for i in order:
        print(
            f"{s['node_ids'][i]:>7} {s['initial'][i]:>9.4f} {s['final'][i]:>9.4f} "
            f"{s['min'][i]:>9.4f} {s['max'][i]:>9.4f} {s['settle_time'][i]:>9.3g}"
        )
    plots.save(fig, args.output, dpi=110)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
