"""GPU benchmarks of the cupy backend, one network per process (benchmarks/gpu_check.sh).

    python -m benchmarks.gpu.bench brunel2000 --out DIR
    python -m benchmarks.gpu.bench microcircuit --out DIR [--scale 1]
    python -m benchmarks.gpu.bench ltc_1m --out DIR [--ticks 20] [--set KEY=VALUE ...]
    python -m benchmarks.gpu.bench summary --out DIR

Each network appends one JSON line to ``DIR/results.jsonl``; ``summary`` prints them.

- brunel2000 (full scale): build, the first 100 ms (compared with the CPU reference
  ``benchmarks/gpu/reference/brunel2000.npz``: spike trains and V must be identical),
  then 900 ms more; real-time factor (wall time / biological time) of the 900 ms and of
  the whole second, rates.
- microcircuit (``--scale``: NEST's N and K scaling, 1 = full): build, 100 ms, 900 ms;
  real-time factor and rates per population.
- ltc_1m: build, then ticks of one ``run`` call (device-synchronised wall time per
  tick) against the LTC issue's bound, measured here: max(bytes that must stream per
  tick / the device's copy bandwidth, presynaptic gathers per tick x the time of one
  random gather from an array of the activation tables' size).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from benchmarks.gpu import cases as C


def _emit(out, result):
    print(json.dumps(result), flush=True)
    with open(os.path.join(out, "results.jsonl"), "a") as f:
        f.write(json.dumps(result) + "\n")


def _device_name():
    import cupy

    d = cupy.cuda.Device()
    name = cupy.cuda.runtime.getDeviceProperties(d.id)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def _sync():
    import cupy

    cupy.cuda.Device().synchronize()


def spiking(name, path, overrides, out, reference=None):
    import neurosim

    t0 = time.perf_counter()
    spec = neurosim.load(path, overrides)
    sim = neurosim.Simulation(spec, backend="cupy")
    setup = time.perf_counter() - t0
    b = sim.built
    res = {
        "network": name,
        "device": _device_name(),
        "neurons": int(b.n_neurons),
        "synapses": int(b.n_synapses),
        "build_s": round(sim.build_time, 2),
        "setup_s": round(setup, 2),
    }
    print(f"{name}: built {res['neurons']} neurons, {res['synapses']} synapses", flush=True)
    t = time.perf_counter()
    sim.run("100 ms")
    _sync()
    first = time.perf_counter() - t
    if reference is not None:
        diff = C.compare_spiking(sim, C.load_reference(reference))
        res["reference"] = reference
        res["identical_to_cpu"] = not diff
        res["differences"] = diff
        print(f"{name}: first 100 ms against the CPU reference: {diff or 'identical'}", flush=True)
    t = time.perf_counter()
    sim.run("900 ms")
    _sync()
    rest = time.perf_counter() - t
    res["first_100ms_s"] = round(first, 3)
    res["next_900ms_s"] = round(rest, 3)
    res["rtf_900ms"] = round(rest / 0.9, 3)
    res["rtf_1s"] = round(first + rest, 3)
    res["rates_hz"] = {p: round(v["rate_hz"], 3) for p, v in sim.summary().items()}
    return res


def bandwidth_and_gather(n_table):
    """Device copy bandwidth (bytes read + written per second) and the time of one
    random gather from a float64 array of ``n_table`` values."""
    import cupy

    a = cupy.ones(1 << 28, cupy.float64)  # 2 GiB
    b = cupy.empty_like(a)
    b[...] = a
    _sync()
    t = time.perf_counter()
    for _ in range(5):
        b[...] = a
    _sync()
    bw = 5 * 2 * a.nbytes / (time.perf_counter() - t)
    del a, b
    S = cupy.random.random(max(int(n_table), 1))
    idx = cupy.random.randint(0, S.shape[0], size=1 << 26, dtype=cupy.int32)
    cupy.take(S, idx)
    _sync()
    t = time.perf_counter()
    for _ in range(5):
        cupy.take(S, idx)
    _sync()
    t_gather = (time.perf_counter() - t) / (5 * idx.shape[0])
    return bw, t_gather


def ltc_1m(out, ticks, overrides=()):
    import neurosim

    t0 = time.perf_counter()
    spec = neurosim.load(os.path.join(C.ROOT, "networks/ltc_1m.yaml"), list(overrides))
    sim = neurosim.Simulation(spec, backend="cupy")
    setup = time.perf_counter() - t0
    b, be = sim.built, sim.backend
    be.run(0, 1)  # compile and first touch
    _sync()
    t = time.perf_counter()
    be.run(1, ticks)
    _sync()
    per_tick = (time.perf_counter() - t) / ticks
    pos_bytes = int(be.d_pos.nbytes)
    N = b.n_neurons
    # per tick: the synapses once, the positions, neuron parameters and values, tables
    neuron_bytes = sum(a.nbytes for a in (b.c_m, b.g_leak, b.v_leak, b.I_ext)) + 3 * N * 8
    table_bytes = 2 * b.n_S * 8
    stream = b.synapse_bytes() + pos_bytes + neuron_bytes + table_bytes
    bw, t_gather = bandwidth_and_gather(b.n_S)
    bound = max(stream / bw, b.n_synapses * t_gather)
    return {
        "network": "ltc_1m",
        "device": _device_name(),
        "neurons": int(N),
        "synapses": int(b.n_synapses),
        "build_s": round(sim.build_time, 2),
        "setup_s": round(setup, 2),
        "ticks": ticks,
        "ms_per_tick": round(per_tick * 1e3, 3),
        "stream_bytes_per_tick": int(stream),
        "copy_bandwidth_GBps": round(bw / 1e9, 1),
        "gather_ns": round(t_gather * 1e9, 3),
        "bound_ms": round(bound * 1e3, 3),
        "time_over_bound": round(per_tick / bound, 2),
    }


def summary(out):
    path = os.path.join(out, "results.jsonl")
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    for r in rows:
        net = r["network"]
        print(f"{net}: {r.get('neurons')} neurons, {r.get('synapses')} synapses, ", end="")
        print(f"build {r.get('build_s')} s")
        if "rtf_900ms" in r:
            rtf, whole = r["rtf_900ms"], r["rtf_1s"]
            print(f"  real-time factor {rtf} (900 ms after 100 ms), {whole} (whole 1 s)")
            print(f"  rates (Hz) {r['rates_hz']}")
        if "identical_to_cpu" in r:
            print(f"  first 100 ms identical to the CPU reference: {r['identical_to_cpu']}")
        if "ms_per_tick" in r:
            print(
                f"  {r['ms_per_tick']} ms per tick; bound {r['bound_ms']} ms "
                f"(copy {r['copy_bandwidth_GBps']} GB/s, gather {r['gather_ns']} ns): "
                f"time / bound = {r['time_over_bound']}"
            )
    if not rows:
        print("no results")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["brunel2000", "microcircuit", "ltc_1m", "summary"])
    p.add_argument("--out", required=True)
    p.add_argument("--scale", type=float, default=1.0, help="microcircuit N and K scale")
    p.add_argument("--ticks", type=int, default=20)
    p.add_argument("--set", action="append", default=[], help="override (ltc_1m, microcircuit)")
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    if a.what == "summary":
        return summary(a.out)
    if a.what == "brunel2000":
        res = spiking("brunel2000", C.case_path("brunel2000"), [], a.out, reference="brunel2000")
    elif a.what == "microcircuit":
        ov = [f"scale.N={a.scale}", f"scale.K={a.scale}"] if a.scale != 1.0 else []
        ov += a.set
        res = spiking("microcircuit", os.path.join(C.ROOT, "networks/microcircuit.yaml"), ov, a.out)
        res["scale"] = a.scale
    else:
        res = ltc_1m(a.out, a.ticks, a.set)
    _emit(a.out, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
