// Spiking networks on the GPU: the step of neurosim/backends/numpy_backend.py, one
// thread per neuron (or per input target, or per ring slot), in the numpy reference's
// arithmetic order so that the spike trains are the same bits.
//
// Per step k (launched from neurosim/backends/cupy_backend.py), with no host
// synchronisation between steps:
//   k_poisson   one thread per ring target with Poisson synapses: the counts arriving
//               in step k, added to ring slot k in synapse order;
//   k_currents  one thread per neuron with current synapses: I_stim in synapse order;
//   k_neurons   one thread per neuron: the closed-form update of numpy_backend._neurons
//               over the padded propagator rows; each block lists its spikes in
//               neuron order;
//   k_gather    one block: the blocks' lists joined into the chunk's spike buffer
//               (sorted by step then gid, since local indices ascend with gid) and,
//               merged with the spike generators' events of step k, into the step's
//               list, with each spike's CSR row;
//   k_deliver_step  one block per range of ring targets: the step's spikes in list
//               order, each synapse reaching the range added to its slot by the thread
//               that owns the target, so every slot receives its input in the CPU's
//               order -- (step, source gid, CSR position) -- with no floating-point
//               atomics (the device CSR rows are sorted by target, stably, which keeps
//               that order for synapses that share a slot);
//   k_record    (common.cuh) the samples due at the end of step k.
// Spikes gathered from other ranks (neurosim/mpi) are delivered in one batch, sorted
// by (step, gid):
//   k_deliver_rows    one thread per spike: its CSR row and row length;
//   k_deliver_expand  one thread per synapse reached: key = ring slot * M + c, where c
//                     is the synapse's position in (step, gid, CSR) order, and weight;
//   (the keys are sorted: cupy.sort, or numpy.sort in the emulation tests)
//   k_deliver_add     one thread per ring slot reached: adds its weights in c order.
// k_neurons, k_gather and k_deliver_step share data within a block (shared memory and
// barriers); they are correct for any block size, and the CPU emulation runs them with
// one thread per block.
#include "common.cuh"

// Columns of the double parameter table P [row, NPAR] (one row per propagator row).
#define P_EL 0
#define P_IE 1
#define P_VV 2
#define P_VI 3
#define P_VMIN 4
#define P_VTH 5
#define P_VRESET 6
#define P_GL 7
#define P_CM 8
#define P_GAIN 9
#define P_EREV 11
#define P_PV 13
#define P_PS 17
#define P_GA 33
#define NPAR 41
// Columns of the integer table Q [row, NQ].
#define Q_MEMBRANE 0
#define Q_REC 1
#define Q_REF 3
#define NQ 4
// Padded sizes (neurosim/network/build.py: S_MAX, C_MAX, R).
#define S_MAX 4
#define C_MAX 2
// Largest block of the kernels that share data within a block, and the synapses one
// block of k_deliver_step stages at a time.
#define COOP_BLOCK 256
#define ITEM_CAP 2048

// Inclusive sum over the block of one value per thread (Hillis-Steele in shared
// memory); every thread must call it.  s holds blockDim.x entries afterwards.
__device__ __forceinline__ i64 ns_block_scan(i64 v, i64* s) {
  unsigned int t = threadIdx.x;
  s[t] = v;
  __syncthreads();
  for (unsigned int off = 1; off < blockDim.x; off <<= 1) {
    i64 add = t >= off ? s[t - off] : 0;
    __syncthreads();
    s[t] = s[t] + add;
    __syncthreads();
  }
  return s[t];
}

// First index in [lo, hi) with a[index] >= x (a ascending), else hi.
__device__ __forceinline__ i64 ns_lower_bound_i64(const i64* a, i64 lo, i64 hi, i64 x) {
  while (lo < hi) {
    i64 mid = lo + (hi - lo) / 2;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

__device__ __forceinline__ i64 ns_lower_bound_i32(const i32* a, i64 lo, i64 hi, i64 x) {
  while (lo < hi) {
    i64 mid = lo + (hi - lo) / 2;
    if ((i64)a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

extern "C" __global__ void k_poisson(
    const i64 n,
    const i64 k,
    const i64 base,
    const i64* __restrict__ ptr,
    const i64* __restrict__ tgt,
    const i32* __restrict__ delay,
    const i32* __restrict__ gen,
    const u64* __restrict__ key,
    const double* __restrict__ weight,
    const double* __restrict__ cdf,
    const i64 K,
    const i64* __restrict__ parts,
    const i64* __restrict__ start,
    const i64* __restrict__ stop,
    double* __restrict__ ring) {
  // Thread t owns ring target tgt[t] (receptor * N + neuron) and its Poisson synapses
  // ptr[t] .. ptr[t + 1], in synapse order (numpy_backend._poisson's np.add.at order).
  i64 t = ns_tid();
  if (t >= n) return;
  i64 slot = base + tgt[t];
  double acc = ring[slot];
  bool hit = false;
  for (i64 j = ptr[t]; j < ptr[t + 1]; ++j) {
    i64 g = gen[j];
    i64 e = k - (i64)delay[j];  // the step the count was emitted in
    if (e < start[g] || e >= stop[g]) continue;
    i64 m = parts[g];
    const double* c = cdf + g * K;
    i64 count = 0;
    for (i64 p = 0; p < m; ++p) {
      double u = ns_uniform(key[j], (u64)e * (u64)m + (u64)p);
      i64 q = 0;
      while (q < K - 1 && c[q] < u) ++q;
      count += q;
    }
    if (count) {
      acc = acc + (double)count * weight[j];
      hit = true;
    }
  }
  if (hit) ring[slot] = acc;
}

extern "C" __global__ void k_currents(
    const i64 n,
    const i64 k,
    const i64 amp_base,
    const i64 amp_width,
    const i64* __restrict__ ptr,
    const i64* __restrict__ tgt,
    const i32* __restrict__ delay,
    const i32* __restrict__ chan,
    const double* __restrict__ weight,
    const double* __restrict__ amp,
    double* __restrict__ istim) {
  // Thread t sums the current synapses of neuron tgt[t] in synapse order from 0.0.
  i64 t = ns_tid();
  if (t >= n) return;
  double acc = 0.0;
  for (i64 j = ptr[t]; j < ptr[t + 1]; ++j) {
    acc = acc + weight[j] * amp[(i64)chan[j] * amp_width + (k - (i64)delay[j] - amp_base)];
  }
  istim[tgt[t]] = acc;
}

// numpy_backend._neurons for neuron i (neurosim/models/base.py gives the order): the
// new state written back; true when the neuron fired.
__device__ __forceinline__ bool ns_neuron(
    const i64 i,
    const i64 n,
    const i64 k,
    const i64 base,
    const double dt,
    double* __restrict__ V,
    double* __restrict__ syn,
    i32* __restrict__ refr,
    double* __restrict__ ring,
    const double* __restrict__ istim,
    const i32* __restrict__ prow,
    const double* __restrict__ P,
    const i32* __restrict__ Q) {
  const double* p = P + (i64)prow[i] * NPAR;
  const i32* q = Q + (i64)prow[i] * NQ;
  double v = V[i];
  i32 rf = refr[i];
  bool is_free = rf == 0;
  double inp[2];
  inp[0] = ring[base + i];
  inp[1] = ring[base + n + i];
  ring[base + i] = 0.0;
  ring[base + n + i] = 0.0;
  double y[S_MAX];
  for (int s = 0; s < S_MAX; ++s) y[s] = syn[s * n + i];

  // membrane, current-based
  double acc = 0.0;
  for (int s = 0; s < S_MAX; ++s) acc = acc + p[P_PV + s] * y[s];
  double i_tot = p[P_IE] + istim[i];
  double el = p[P_EL];
  double vn = el + p[P_VV] * (v - el) + acc + p[P_VI] * i_tot;
  // membrane, conductance-based
  if (q[Q_MEMBRANE] == 1) {
    double gsum = 0.0;
    double ge = 0.0;
    for (int c = 0; c < C_MAX; ++c) {
      double gbar = 0.0;
      for (int s = 0; s < S_MAX; ++s) gbar = gbar + p[P_GA + c * S_MAX + s] * y[s];
      gsum = gsum + gbar;
      ge = ge + gbar * p[P_EREV + c];
    }
    double gtot = p[P_GL] + gsum;
    double vinf = (p[P_GL] * el + ge + i_tot) / gtot;
    vn = vinf + (v - vinf) * ns_pexp(gtot * (-dt / p[P_CM]));
  }
  if (!is_free) {
    // held (current-based); V_reset (conductance-based, as NEST's iaf_cond_*)
    vn = q[Q_MEMBRANE] == 1 ? p[P_VRESET] : v;
    rf = rf - 1;
  }

  // synaptic states: exact decay (flushed below 1e-300), then this step's input
  double nw[S_MAX];
  for (int s = 0; s < S_MAX; ++s) {
    double a = 0.0;
    for (int t = 0; t < S_MAX; ++t) a = a + p[P_PS + s * S_MAX + t] * y[t];
    nw[s] = fabs(a) < 1e-300 ? 0.0 : a;
  }
  for (int r = 0; r < 2; ++r) {
    double x = p[P_GAIN + r] * inp[r];
    int st = q[Q_REC + r];
    if (st < 0) {
      if (is_free) vn = vn + x;  // delta input: discarded while refractory
    } else {
      nw[st] = nw[st] + x;
    }
  }
  if (is_free) vn = vn < p[P_VMIN] ? p[P_VMIN] : vn;  // np.maximum (NaN kept), free steps
  bool fired = vn >= p[P_VTH];
  if (fired) {
    vn = p[P_VRESET];
    rf = q[Q_REF];
  }
  V[i] = vn;
  refr[i] = rf;
  for (int s = 0; s < S_MAX; ++s) syn[s * n + i] = nw[s];
  return fired;
}


extern "C" __global__ void k_neurons(
    const i64 n,
    const i64 k,
    const i64 base,
    const double dt,
    double* __restrict__ V,
    double* __restrict__ syn,
    i32* __restrict__ refr,
    double* __restrict__ ring,
    const double* __restrict__ istim,
    const i32* __restrict__ prow,
    const double* __restrict__ P,
    const i32* __restrict__ Q,
    i32* __restrict__ bcnt,
    i64* __restrict__ bspk) {
  // numpy_backend._neurons for neuron i (neurosim/models/base.py gives the order);
  // block b's spikes go to bspk[b * blockDim.x ...] in neuron order, their number to
  // bcnt[b].
  __shared__ i64 s_scan[COOP_BLOCK];
  i64 i = ns_tid();
  bool fired = i < n && ns_neuron(i, n, k, base, dt, V, syn, refr, ring, istim, prow, P, Q);
  i64 rank = ns_block_scan(fired ? 1 : 0, s_scan);
  if (fired) bspk[(i64)blockIdx.x * blockDim.x + rank - 1] = i;
  if (threadIdx.x == blockDim.x - 1) bcnt[blockIdx.x] = (i32)rank;
}

extern "C" __global__ void k_gather(
    const i64 n_nb,
    const i64 nb_size,
    const i32* __restrict__ bcnt,
    const i64* __restrict__ bspk,
    const i64* __restrict__ neuron_gid,
    const i64 k,
    const i64* __restrict__ sg_gids,
    const i64 sa,
    const i64 sz,
    const i32* __restrict__ row_of_gid,
    i64* __restrict__ counter,
    i64* __restrict__ sp_step,
    i64* __restrict__ sp_gid,
    i64* __restrict__ list_gid,
    i64* __restrict__ list_row,
    i64* __restrict__ list_n) {
  // One block.  The n_nb neuron blocks' spikes (k_neurons, blocks of nb_size) appended
  // to sp_step/sp_gid at counter[0] in block order, i.e. by gid; then the step's list:
  // those spikes merged by gid with the spike generators' events sg_gids[sa:sz] (sorted
  // by gid), each with its CSR row (row_of_gid; -1: no synapses here).
  __shared__ i64 s_scan[COOP_BLOCK];
  const unsigned int t = threadIdx.x;
  const i64 out0 = counter[0];
  i64 total = 0;
  for (i64 b0 = 0; b0 < n_nb; b0 += blockDim.x) {
    i64 b = b0 + t;
    i64 c = b < n_nb ? (i64)bcnt[b] : 0;
    i64 incl = ns_block_scan(c, s_scan);
    i64 at = out0 + total + incl - c;
    for (i64 r = 0; r < c; ++r) {
      sp_step[at + r] = k;
      sp_gid[at + r] = neuron_gid[bspk[b * nb_size + r]];
    }
    total = total + s_scan[blockDim.x - 1];
    __syncthreads();
  }
  const i64 n_sg = sz - sa;
  const i64* sp = sp_gid + out0;
  for (i64 q = t; q < total; q += blockDim.x)
    list_gid[q + ns_lower_bound_i64(sg_gids, sa, sz, sp[q]) - sa] = sp[q];
  for (i64 q = t; q < n_sg; q += blockDim.x)
    list_gid[q + ns_lower_bound_i64(sp, 0, total, sg_gids[sa + q])] = sg_gids[sa + q];
  __syncthreads();
  for (i64 q = t; q < total + n_sg; q += blockDim.x) list_row[q] = row_of_gid[list_gid[q]];
  if (t == 0) {
    counter[0] = out0 + total;
    list_n[0] = total + n_sg;
  }
}

extern "C" __global__ void k_seg(
    const i64 n,
    const i64 g1,
    const i64 tb,
    const i64* __restrict__ row_ptr,
    const i32* __restrict__ target,
    i32* __restrict__ seg) {
  // Thread (row, g), g < g1: where row's part for the ring targets from g * tb starts,
  // counted from the row's start (rows sorted by target).
  i64 x = ns_tid();
  if (x >= n) return;
  i64 row = x / g1;
  i64 g = x - row * g1;
  i64 lo = row_ptr[row];
  seg[x] = (i32)(ns_lower_bound_i32(target, lo, row_ptr[row + 1], g * tb) - lo);
}

extern "C" __global__ void k_deliver_step(
    const i64 k,
    const i64 L,
    const i64 NR,
    const i64 tb,
    const i64 g1,
    const i64* __restrict__ list_n,
    const i64* __restrict__ list_row,
    const i64* __restrict__ row_ptr,
    const i32* __restrict__ seg,
    const i32* __restrict__ target,
    const void* __restrict__ weight,
    const i64 weight_f64,
    const void* __restrict__ delay,
    const i64 delay_u16,
    double* __restrict__ ring) {
  // Block g owns the ring targets [t0, t0 + tb), t0 = g * tb; its thread t owns the
  // targets t0 + lt with lt % blockDim.x == t (blockDim.x a power of two).  The step's
  // spikes are taken in list order, a tile of blockDim.x at a time: each row's part in
  // the range comes from seg (k_seg).  The parts are staged in order, ITEM_CAP synapses
  // at a time, bucketed by owner, and each owner adds its synapses in staging order --
  // the CPU's order of additions into each slot.
  __shared__ i64 s_scan[COOP_BLOCK];
  __shared__ i64 s_a[COOP_BLOCK];
  __shared__ i32 s_cnt[COOP_BLOCK];
  __shared__ i32 s_fill[COOP_BLOCK];
  __shared__ i64 s_tmp[COOP_BLOCK];
  __shared__ i64 s_j[ITEM_CAP];
  __shared__ i32 s_lt[ITEM_CAP];
  __shared__ i32 s_ord[ITEM_CAP];
  const unsigned int t = threadIdx.x;
  const unsigned int own = blockDim.x - 1;
  const i64 g = blockIdx.x;
  const i64 t0 = g * tb;
  const i64 kk = k % L;
  const i64 ns = list_n[0];
  for (i64 s0 = 0; s0 < ns; s0 += blockDim.x) {
    i64 len = 0;
    i64 a = 0;
    if (s0 + t < ns) {
      i64 row = list_row[s0 + t];
      if (row >= 0) {
        const i32* sr = seg + row * g1 + g;
        a = row_ptr[row] + (i64)sr[0];
        len = (i64)(sr[1] - sr[0]);
      }
    }
    s_a[t] = a;
    ns_block_scan(len, s_scan);  // s_scan: inclusive ends of the parts
    const i64 m = ns - s0 < (i64)blockDim.x ? ns - s0 : (i64)blockDim.x;
    const i64 total = s_scan[m - 1];
    for (i64 e0 = 0; e0 < total; e0 += ITEM_CAP) {
      const i64 e1 = e0 + ITEM_CAP < total ? e0 + ITEM_CAP : total;
      s_cnt[t] = 0;
      s_fill[t] = 0;
      __syncthreads();
      for (i64 e = e0 + t; e < e1; e += blockDim.x) {
        i64 lo = 0;
        i64 hi = m;
        while (lo < hi) {  // the part holding item e: first with s_scan[u] > e
          i64 mid = lo + (hi - lo) / 2;
          if (s_scan[mid] <= e) lo = mid + 1;
          else hi = mid;
        }
        i64 first = lo > 0 ? s_scan[lo - 1] : 0;
        i64 j = s_a[lo] + (e - first);
        i32 lt = (i32)((i64)target[j] - t0);
        s_j[e - e0] = j;
        s_lt[e - e0] = lt;
        atomicAdd(&s_cnt[(unsigned int)lt & own], 1);
      }
      __syncthreads();
      i32 cnt = s_cnt[t];
      i32 start = (i32)ns_block_scan((i64)cnt, s_tmp) - cnt;
      s_cnt[t] = start;
      __syncthreads();
      for (i64 e = e0 + t; e < e1; e += blockDim.x) {
        unsigned int o = (unsigned int)s_lt[e - e0] & own;
        s_ord[s_cnt[o] + atomicAdd(&s_fill[o], 1)] = (i32)(e - e0);
      }
      __syncthreads();
      // this thread's bucket in staging order (atomics filled it in any order)
      for (i32 x = start + 1; x < start + cnt; ++x) {
        i32 v = s_ord[x];
        i32 y = x - 1;
        while (y >= start && s_ord[y] > v) {
          s_ord[y + 1] = s_ord[y];
          --y;
        }
        s_ord[y + 1] = v;
      }
      for (i32 x = start; x < start + cnt; ++x) {
        i32 q = s_ord[x];
        i64 j = s_j[q];
        i64 d = delay_u16 ? (i64)((const u16*)delay)[j] : (i64)((const u8*)delay)[j];
        i64 r = kk + d;  // d < L
        r = r < L ? r : r - L;
        i64 slot = r * NR + t0 + s_lt[q];
        double w = weight_f64 ? ((const double*)weight)[j] : (double)((const float*)weight)[j];
        ring[slot] = ring[slot] + w;
      }
      __syncthreads();
    }
    __syncthreads();  // s_scan and s_a are refilled by the next tile
  }
}

// ---------------------------------------------------------------- delivery

extern "C" __global__ void k_deliver_rows(
    const i64 n,
    const i64* __restrict__ codes,
    const i64 n_gids,
    const i64* __restrict__ src_gids,
    const i64 n_src,
    const i64* __restrict__ row_ptr,
    i64* __restrict__ rows,
    i64* __restrict__ lens) {
  // Spike q (code = (step - kb) * n_gids + gid): the CSR row of its gid, or none.
  i64 q = ns_tid();
  if (q >= n) return;
  i64 gid = codes[q] % n_gids;
  i64 lo = ns_lower_bound_i64(src_gids, 0, n_src, gid);
  bool found = lo < n_src && src_gids[lo] == gid;
  rows[q] = found ? lo : -1;
  lens[q] = found ? row_ptr[lo + 1] - row_ptr[lo] : 0;
}

extern "C" __global__ void k_deliver_expand(
    const i64 M,
    const i64 n,
    const i64* __restrict__ codes,
    const i64 kb,
    const i64 n_gids,
    const i64* __restrict__ rows,
    const i64* __restrict__ ends,
    const i64* __restrict__ row_ptr,
    const i32* __restrict__ target,
    const void* __restrict__ weight,
    const i64 weight_f64,
    const void* __restrict__ delay,
    const i64 delay_u16,
    const i64 L,
    const i64 NR,
    i64* __restrict__ keys,
    double* __restrict__ vals) {
  // Synapse c of the batch in (step, gid, CSR) order; ends = inclusive cumsum of the
  // row lengths of the spikes, in that order.
  i64 c = ns_tid();
  if (c >= M) return;
  i64 lo = 0;
  i64 hi = n;
  while (lo < hi) {  // the spike q: first with ends[q] > c
    i64 mid = lo + (hi - lo) / 2;
    if (ends[mid] <= c) lo = mid + 1;
    else hi = mid;
  }
  i64 q = lo;
  i64 first = q > 0 ? ends[q - 1] : 0;
  i64 j = row_ptr[rows[q]] + (c - first);
  i64 step = kb + codes[q] / n_gids;
  i64 d = delay_u16 ? (i64)((const u16*)delay)[j] : (i64)((const u8*)delay)[j];
  i64 slot = ((step + d) % L) * NR + (i64)target[j];
  keys[c] = slot * M + c;
  vals[c] = weight_f64 ? ((const double*)weight)[j] : (double)((const float*)weight)[j];
}

extern "C" __global__ void k_deliver_add(
    const i64 M,
    const i64* __restrict__ keys,
    const double* __restrict__ vals,
    double* __restrict__ ring) {
  // Sorted keys: the first thread of each run of one ring slot adds the run's weights
  // in order (c ascending), as the CPU's synapse-by-synapse loop does.
  i64 t = ns_tid();
  if (t >= M) return;
  i64 slot = keys[t] / M;
  if (t > 0 && keys[t - 1] / M == slot) return;
  double acc = ring[slot];
  for (i64 u = t; u < M && keys[u] / M == slot; ++u) acc = acc + vals[keys[u] % M];
  ring[slot] = acc;
}
