"""A table of firing statistics per population (and state statistics per report).

    neurosim run networks/brunel2000.yaml --duration "200 ms" -o b.h5
    python analysis/rates_table.py b.h5 [--csv stats.csv]

Columns: neurons, spikes, mean and sd of per-neuron rates (Hz), mean CV of ISI
(neurons with >= 3 spikes), mean per-neuron Fano factor of counts in --window bins,
Fano factor of the population count in --bin bins, Golomb's synchrony chi of the
binned counts, and the peak of the rate spectrum (Hz).
"""

import argparse
import csv
import sys

import numpy as np

from neurosim import analysis as A


def spike_rows(rec, t_start, t_stop, bin_ms, window_ms):
    rows = []
    for pop in rec.spike_populations:
        rates = A.firing_rates(rec, pop, t_start, t_stop)
        cv = A.isi_cv(rec, pop, t_start, t_stop)
        fano = A.fano_factor(rec, pop, window_ms, t_start, t_stop)
        freqs, psd = A.rate_spectrum(rec, pop, bin_ms, t_start, t_stop)
        rows.append(
            {
                "population": pop,
                "neurons": len(rates),
                "spikes": int(A.spike_counts(rec, pop, t_start, t_stop).sum()),
                "rate_hz": rates.mean(),
                "rate_sd_hz": rates.std(),
                "cv_isi": np.nanmean(cv) if (~np.isnan(cv)).any() else np.nan,
                "fano": np.nanmean(fano) if (~np.isnan(fano)).any() else np.nan,
                "pop_fano": A.population_fano_factor(rec, pop, bin_ms, t_start, t_stop),
                "chi": A.spike_synchrony_chi(rec, pop, bin_ms, t_start, t_stop),
                "peak_hz": freqs[1:][np.argmax(psd[1:])] if len(psd) > 1 else np.nan,
            }
        )
    return rows


def report_rows(rec, t_start, t_stop):
    rows = []
    for pop in rec.report_populations:
        for var in rec.variables(pop):
            s = A.trace_stats(rec, pop, var, t_start, t_stop)
            rows.append(
                {
                    "report": f"{pop}/{var}",
                    "neurons": len(s["node_ids"]),
                    "samples": s["n_samples"],
                    "mean": s["population_mean"],
                    "sd": s["population_std"],
                    "sd_of_mean_trace": s["mean_trace_std"],
                    "chi": s["chi"],
                    "units": s["units"],
                }
            )
    return rows


def show(rows):
    if not rows:
        return
    keys = list(rows[0])
    print("  ".join(f"{k:>12}" for k in keys))
    for r in rows:
        cells = [f"{v:>12.4g}" if isinstance(v, float) else f"{v!s:>12}" for v in r.values()]
        print("  ".join(cells))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recording")
    p.add_argument("--t-start", type=float, help="ms (default 0)")
    p.add_argument("--t-stop", type=float, help="ms (default: the end)")
    p.add_argument("--bin", type=float, default=1.0, help="bin of counts and rates (ms)")
    p.add_argument("--window", type=float, default=50.0, help="Fano counting window (ms)")
    p.add_argument("--csv", help="also write the spike table to this CSV file")
    args = p.parse_args(argv)
    try:
        with A.open_recording(args.recording) as rec:
            spikes = spike_rows(rec, args.t_start, args.t_stop, args.bin, args.window)
            reports = report_rows(rec, args.t_start, args.t_stop)
    except A.RecordingError as exc:
        print(f"rates_table.py: error: {exc}", file=sys.stderr)
        return 2
    show(spikes)
    show(reports)
    if args.csv and spikes:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(spikes[0]))
            w.writeheader()
            w.writerows(spikes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
