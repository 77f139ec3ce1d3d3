"""Two recordings side by side: rates and CV of ISI per population, with KS tests.

    neurosim run networks/brunel2000.yaml --duration "200 ms" -o a.h5
    neurosim run networks/brunel2000.yaml --duration "200 ms" --seed 2 -o b.h5
    python analysis/compare_runs.py a.h5 b.h5

For each population recorded in both: the mean (sd) of per-neuron rates and CVs, and
a two-sample Kolmogorov-Smirnov test of the per-neuron distributions (scipy's when
installed, else neurosim's asymptotic one).  A small p says the two runs differ.
"""

import argparse
import sys

import numpy as np

from neurosim import analysis as A


def per_neuron(rec, pop, t_start, t_stop):
    rates = A.firing_rates(rec, pop, t_start, t_stop)
    cv = A.isi_cv(rec, pop, t_start, t_stop)
    return rates, cv[~np.isnan(cv)]


def compare(a, b, t_start=None, t_stop=None):
    """Rows of (population, quantity, mean a, sd a, mean b, sd b, KS D, KS p, method)."""
    rows = []
    for pop in [p for p in a.spike_populations if p in b.spike_populations]:
        for name, x, y in zip(
            ("rate (Hz)", "CV ISI"),
            per_neuron(a, pop, t_start, t_stop),
            per_neuron(b, pop, t_start, t_stop),
            strict=True,
        ):
            if len(x) and len(y):
                d, p, how = A.ks_2samp(x, y)
            else:
                d, p, how = np.nan, np.nan, "-"
            rows.append((pop, name, x.mean(), x.std(), y.mean(), y.std(), d, p, how))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--t-start", type=float, help="ms")
    p.add_argument("--t-stop", type=float, help="ms")
    args = p.parse_args(argv)
    try:
        with A.open_recording(args.a) as a, A.open_recording(args.b) as b:
            rows = compare(a, b, args.t_start, args.t_stop)
    except A.RecordingError as exc:
        print(f"compare_runs.py: error: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print("no population has spikes in both recordings")
        return 0
    print(f"A = {args.a}, B = {args.b}")
    head = f"{'population':<11} {'quantity':<10} {'A mean':>9} {'A sd':>8} {'B mean':>9}"
    print(f"{head} {'B sd':>8} {'KS D':>7} {'KS p':>9}  test")
    for pop, name, ma, sa, mb, sb, d, pv, how in rows:
        print(
            f"{pop:<11} {name:<10} {ma:>9.4g} {sa:>8.3g} {mb:>9.4g} {sb:>8.3g} "
            f"{d:>7.3f} {pv:>9.3g}  {how}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
