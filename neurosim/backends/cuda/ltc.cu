// Graded (LTC) networks on the GPU: the coefficient sums and elementwise updates of
// neurosim/backends/ltc_numba.py, one thread per target neuron, each sum one chain in
// the build's summation order (blocks in population order, tiles, then the synapses of
// the target in the tile), so the results are the numpy reference's bits.
//
//   k_ltc_table  one thread per presynaptic value: an activation table entry,
//                sigma(gamma (x - mu)), times w where the table folds w in;
//   k_ltc_stage  one thread per target of a population: chemical sums (a gather from a
//                table, or the per-synapse sigmoid), gap junctions, then the update op
//                (0 closed form, 1 right-hand side, 2 ncps's fused step);
//   k_ltc_axpy, k_ltc_rk4  the elementwise combinations of Euler and RK4.
//
// Block table rows (int64, LTC_BCOLS columns, built by neurosim/backends/ltc_cupy.py
// from LtcBuilt.blk): activation table or -1 (per-synapse block), the block's offsets
// into idx, wp, Ep and gp/mp (-1: a constant), the base of a tile's values (the table's
// offset in S, or the pre population's first index in X), the tile count, and the
// offset of the block's positions in pos: pos[off + t * n + i] .. pos[off + t * n + i + 1]
// are the positions (block-relative) of target i's synapses in tile t.
#include "common.cuh"

#define LTC_TILE 65536
#define LB_TAB 0
#define LB_IDX 1
#define LB_W 2
#define LB_E 3
#define LB_P 4
#define LB_BASE 5
#define LB_NT 6
#define LB_POS 7
#define LTC_BCOLS 8
#define EPS_FUSED 1e-8

extern "C" __global__ void k_ltc_table(
    const i64 n,
    const double* __restrict__ X,
    double* __restrict__ S,
    const i64 x0,
    const i64 off,
    const double gamma,
    const double mu,
    const double w,
    const i64 fold) {
  i64 x = ns_tid();
  if (x >= n) return;
  double s = ns_sigmoid(gamma * (X[x0 + x] - mu));
  S[off + x] = fold ? w * s : s;
}

extern "C" __global__ void k_ltc_stage(
    const i64 n,
    const i64 op,
    const i64 i0,
    const double hh,
    const double* __restrict__ v,
    double* __restrict__ out,
    const double* __restrict__ X,
    const double* __restrict__ S,
    const i64 nb,
    const i64* __restrict__ blocks,
    const double* __restrict__ blk_E,
    const i32* __restrict__ pos,
    const u16* __restrict__ idx,
    const void* __restrict__ wp,
    const i64 w_f32,
    const double* __restrict__ Ep,
    const double* __restrict__ gp,
    const double* __restrict__ mp,
    const i64* __restrict__ gptr,
    const i32* __restrict__ gsrc,
    const double* __restrict__ g,
    const double* __restrict__ c_m,
    const double* __restrict__ g_leak,
    const double* __restrict__ v_leak,
    const double* __restrict__ I_ext) {
  i64 a = ns_tid();  // target, local to the population [i0, i0 + n)
  if (a >= n) return;
  const float* w32 = (const float*)wp;
  const double* w64 = (const double*)wp;
  double G = 0.0;
  double GE = 0.0;
  for (i64 b = 0; b < nb; ++b) {
    const i64* r = blocks + b * LTC_BCOLS;
    i64 tab = r[LB_TAB];
    i64 io = r[LB_IDX];
    i64 wo = r[LB_W];
    i64 eo = r[LB_E];
    i64 po = r[LB_P];
    double E = blk_E[b];
    for (i64 t = 0; t < r[LB_NT]; ++t) {
      const i32* pt = pos + r[LB_POS] + t * n + a;
      i64 j0 = pt[0];
      i64 j1 = pt[1];
      i64 tb = r[LB_BASE] + t * LTC_TILE;
      for (i64 q = j0; q < j1; ++q) {
        double wa;
        if (tab >= 0) {
          double s = S[tb + (i64)idx[io + q]];
          wa = wo < 0 ? s : (w_f32 ? (double)w32[wo + q] : w64[wo + q]) * s;
        } else {
          double x = X[tb + (i64)idx[io + q]];
          double w = w_f32 ? (double)w32[wo + q] : w64[wo + q];
          wa = w * ns_sigmoid(gp[po + q] * (x - mp[po + q]));
        }
        G = G + wa;
        GE = GE + wa * (eo < 0 ? E : Ep[eo + q]);
      }
    }
  }
  i64 i = i0 + a;
  double gg = 0.0;
  double geg = 0.0;
  for (i64 j = gptr[i]; j < gptr[i + 1]; ++j) {
    gg = gg + g[j];
    geg = geg + g[j] * X[gsrc[j]];
  }
  G = G + gg;
  GE = GE + geg;
  double gl = g_leak[i];
  if (op == 0) {  // closed form (ltc_numpy._closed)
    double B = gl + G;
    double A = gl * v_leak[i] + GE + I_ext[i];
    double res;
    if (B > 0.0) {
      double vinf = A / B;
      res = vinf + (v[a] - vinf) * ns_pexp(-hh * B / c_m[i]);
    } else {
      res = v[a] + hh * A / c_m[i];
    }
    out[a] = res;
  } else if (op == 1) {  // right-hand side at the current values X
    double B = gl + G;
    double A = gl * v_leak[i] + GE + I_ext[i];
    out[a] = (A - B * X[i]) / c_m[i];
  } else {  // ncps's fused solver
    double cm_t = c_m[i] / hh;
    double num = cm_t * v[a] + gl * v_leak[i] + GE + I_ext[i];
    double den = cm_t + gl + G;
    out[a] = num / (den + EPS_FUSED);
  }
}

extern "C" __global__ void k_ltc_axpy(
    const i64 n,
    double* out,
    const double* x,
    const double c,
    const double* y) {
  // out = x + c * y (Euler's step, where y is out; RK4's stage values, c = 0.5 hs or hs)
  i64 a = ns_tid();
  if (a >= n) return;
  out[a] = x[a] + c * y[a];
}

extern "C" __global__ void k_ltc_rk4(
    const i64 n,
    double* out,
    const double* v,
    const double c,
    const double* __restrict__ k1,
    const double* __restrict__ k2,
    const double* __restrict__ k3) {
  // out = v + (hs / 6) (k1 + 2 k2 + 2 k3 + k4), k4 read from out itself
  i64 a = ns_tid();
  if (a >= n) return;
  out[a] = v[a] + c * (k1[a] + 2.0 * k2[a] + 2.0 * k3[a] + out[a]);
}
