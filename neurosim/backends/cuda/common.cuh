// Device code shared by the neurosim CUDA kernels: integer types, the portable exp
// (neurosim/backends/pexp.py), the counter-based random numbers (neurosim/rng.py) and
// the sampler of recorded states.
//
// Every translation unit that includes this file is compiled three ways: by NVRTC at
// run time (cupy.RawModule, with --fmad=false), by nvcc in the compile test, and by g++
// (-ffp-contract=off) through host_emu.cuh in the CPU emulation tests.  So: no standard
// headers here; shared memory and block-level synchronisation only in kernels written
// for any block size (the emulation runs those with one thread per block, see
// cupy_backend.COOP_KERNELS); and every kernel is
// `extern "C" __global__ void name(...)` with parameters of the types defined below, one
// name each (neurosim/backends/cupy_backend.py reads these signatures to type the
// launch arguments).  Floating-point expressions are written in the order of
// the numpy reference: with contraction off, the same IEEE operations in the same order
// give the same bits on the GPU and the CPU.
#pragma once

typedef long long i64;
typedef unsigned long long u64;
typedef int i32;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

// The global index of this thread in a one-dimensional launch.
__device__ __forceinline__ i64 ns_tid() { return (i64)blockIdx.x * (i64)blockDim.x + threadIdx.x; }

// ---------------------------------------------------------------- portable exp
// neurosim/backends/pexp.py: Cody-Waite reduction and a degree-13 Horner chain, 2**n
// from its exponent bits (the biased exponent clamped to [0, 2047]: inf above, and
// n >= -1010 since x >= X_MIN).  The constants are pexp.py's, checked by a test.
#define NS_INV_LN2 1.4426950408889634
#define NS_LN2_HI 0.6931471803691238
#define NS_LN2_LO 1.9082149292705877e-10
#define NS_X_MIN -700.0

__device__ __forceinline__ double ns_pexp(double x) {
  double n = floor(x * NS_INV_LN2 + 0.5);
  double r = (x - n * NS_LN2_HI) - n * NS_LN2_LO;
  double p = 1.6059043836821613e-10;
  p = p * r + 2.08767569878681e-09;
  p = p * r + 2.505210838544172e-08;
  p = p * r + 2.755731922398589e-07;
  p = p * r + 2.7557319223985893e-06;
  p = p * r + 2.48015873015873e-05;
  p = p * r + 0.0001984126984126984;
  p = p * r + 0.001388888888888889;
  p = p * r + 0.008333333333333333;
  p = p * r + 0.041666666666666664;
  p = p * r + 0.16666666666666666;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  double e = n + 1023.0;
  e = e < 2047.0 ? e : 2047.0;  // also NaN -> 2047 (p is NaN then), as in numba
  e = e > 0.0 ? e : 0.0;
  double out = p * __longlong_as_double(((i64)e) << 52);
  return x < NS_X_MIN ? 0.0 : out;
}

// sigmoid of the LTC synapses, neurosim.backends.ltc_numpy.sigmoid (clip, NaN kept)
__device__ __forceinline__ double ns_sigmoid(double z) {
  z = z > 700.0 ? 700.0 : z;
  z = z < -700.0 ? -700.0 : z;
  return 1.0 / (1.0 + ns_pexp(-z));
}

// ---------------------------------------------------------------- random numbers
// neurosim/rng.py: SplitMix64's finaliser; uniform(key, ctr) from state
// key + (ctr + 1) * GOLDEN, top 53 bits.
__device__ __forceinline__ u64 ns_mix64(u64 z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

__device__ __forceinline__ double ns_uniform(u64 key, u64 ctr) {
  u64 z = ns_mix64(key + (ctr + 1ULL) * 0x9E3779B97F4A7C15ULL);
  return (double)(z >> 11) * 1.1102230246251565e-16;  // 2**-53, exact
}

// ---------------------------------------------------------------- recording
// RecordPlan (neurosim/backends/base.py): entry e samples V (row < 0) or syn[row] of
// neuron nidx[e] at the end of step k when (k + 1) % every[e] == 0, into buf[r, e] with
// r = (k + 1) / every - k0 / every - 1 for a chunk that started at step k0 (k0 >= 0).
extern "C" __global__ void k_record(
    const i64 n,
    const i64 k,
    const i64 k0,
    const i64* __restrict__ nidx,
    const i64* __restrict__ row,
    const i64* __restrict__ every,
    const double* __restrict__ V,
    const double* __restrict__ syn,
    const i64 N,
    double* __restrict__ buf) {
  i64 e = ns_tid();
  if (e >= n) return;
  i64 ev = every[e];
  if ((k + 1) % ev != 0) return;
  i64 r = (k + 1) / ev - k0 / ev - 1;
  i64 s = row[e];
  buf[r * n + e] = s < 0 ? V[nidx[e]] : syn[s * N + nidx[e]];
}
