"""ltc_1m: build time, ms per tick at 1 and 2 threads, bytes per synapse, and the bound.

    python benchmarks/ltc_1m.py [networks/ltc_1m.yaml] [--set overrides ...]

The bound (the LTC issue's definition), measured in the same run:
max(bytes that must stream per tick / STREAM bandwidth, presynaptic gathers per tick x
the random-gather time for an array of the activation table's size).  Also printed:
time / streaming-only bound, the tighter measure.  STREAM references 13.9 GB/s (1 thread)
and 25.8 GB/s (2 threads) are this machine's (shared/reference/peers.md); the triad
measured now is printed beside them.
"""

import sys
import time

import numba as nb
import numpy as np

import neurosim


def rss():
    d = {}
    for l in open("/proc/self/status"):
        if l.startswith(("VmRSS", "VmHWM")):
            d[l.split(":")[0]] = int(l.split()[1]) / 1024
    return d


path = sys.argv[1] if len(sys.argv) > 1 else "networks/ltc_1m.yaml"
ov = [a for a in sys.argv[2:] if a != "--set"]
nticks = 15
t0 = time.perf_counter()
spec = neurosim.load(path, ov)
sim = neurosim.Simulation(spec, backend="numba")
b = sim.built
print(
    "build_s",
    round(sim.build_time, 2),
    "load+build",
    round(time.perf_counter() - t0, 2),
    "synapses",
    b.n_synapses,
    "rss",
    rss(),
    flush=True,
)
syn_bytes = b.synapse_bytes()
N = b.n_neurons
neuron_bytes = (
    sum(a.nbytes for a in (b.c_m, b.g_leak, b.v_leak, b.I_ext)) + 2 * N * 8
)  # params, X read, V write
table_bytes = 2 * b.n_S * 8  # written, read
print(
    "bytes/syn synapses",
    round(syn_bytes / b.n_synapses, 3),
    "all engine arrays",
    round((syn_bytes + neuron_bytes + table_bytes + 2 * N * 8) / b.n_synapses, 3),
    flush=True,
)
be = sim.backend
t = time.perf_counter()
be.run(0, 1)
print("first tick (compile/load)", round(time.perf_counter() - t, 2), flush=True)
res = {}
k = 1
for th in (1, 2, 1, 2, 1, 2):
    nb.set_num_threads(th)
    be.run(k, 1)
    k += 1
    ts = []
    for _ in range(nticks):
        t = time.perf_counter()
        be.run(k, 1)
        ts.append(time.perf_counter() - t)
        k += 1
    res.setdefault(th, []).extend(ts)
    print(
        "threads",
        th,
        "median ms",
        round(np.median(ts) * 1e3, 1),
        "min",
        round(min(ts) * 1e3, 1),
        flush=True,
    )


# bound
@nb.njit(parallel=True)
def triad(a, b_, c):
    for i in nb.prange(a.shape[0]):
        a[i] = b_[i] + 1.5 * c[i]


A = np.zeros(2 * 10**7)
Bv = np.ones(2 * 10**7)
C = np.ones(2 * 10**7)
bw = {}
for th in (1, 2):
    nb.set_num_threads(th)
    triad(A, Bv, C)
    ts = []
    for _ in range(7):
        t = time.perf_counter()
        triad(A, Bv, C)
        ts.append(time.perf_counter() - t)
    bw[th] = 24 * 2e7 / np.median(ts) / 1e9
del A, Bv, C
S = np.random.default_rng(0).random(b.n_S)
idx = np.random.default_rng(1).integers(0, b.n_S, 10**7)
y = np.empty(10**7)
ts = []
for _ in range(7):
    t = time.perf_counter()
    np.take(S, idx, out=y)
    ts.append(time.perf_counter() - t)
g_ns = np.median(ts) / 1e7 * 1e9
stream = syn_bytes + neuron_bytes + table_bytes
print("stream bytes/tick", stream, "STREAM (measured now)", bw)
for th, ref in ((1, 13.9), (2, 25.8)):
    tb = stream / (ref * 1e9)
    tg = b.n_synapses * g_ns * 1e-9 / th
    bound = max(tb, tg)
    med = np.median(res[th])
    print(
        f"threads {th}: {med * 1e3:.1f} ms/tick; STREAM {ref} GB/s -> stream {tb * 1e3:.1f} ms; "
        f"gather {g_ns:.2f} ns x {b.n_synapses:.3g} / {th} -> {tg * 1e3:.1f} ms; "
        f"bound {bound * 1e3:.1f} ms; "
        f"time/bound {med / bound:.2f}; time/stream-bound {med / tb:.2f}",
        flush=True,
    )
print("rss", rss())
