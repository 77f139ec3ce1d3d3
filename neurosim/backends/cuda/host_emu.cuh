// Host emulation of the little of CUDA that the neurosim kernels use, so that the same
// .cu source compiles with g++ (-O2 -ffp-contract=off) into a shared library whose
// kernels the CPU tests launch (tests/gpu/emulate.py) and compare bit for bit with the
// numpy backend.  A launch is a loop over blocks and threads in order, one thread at a
// time.  That is a valid schedule of the GPU's for kernels without barriers; kernels
// that share data within a block (shared memory, __syncthreads) are written for any
// block size and launched here with one thread per block, so that their barriers are
// no-ops and their shared arrays hold one block's data at a time.  Never included by
// NVRTC or nvcc.
#pragma once
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#error "host_emu.cuh is for host compilers only"
#endif

#include <cmath>
#include <cstring>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
inline void __syncthreads() {}

struct ns_emu_uint3 {
  unsigned int x, y, z;
};
static ns_emu_uint3 threadIdx, blockIdx, blockDim, gridDim;

using std::fabs;
using std::floor;

inline double __longlong_as_double(long long x) {
  double d;
  std::memcpy(&d, &x, sizeof d);
  return d;
}

inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) {
  unsigned long long old = *a;
  *a = old + v;
  return old;
}

inline int atomicAdd(int* a, int v) {
  int old = *a;
  *a = old + v;
  return old;
}

// Set by the generated launch wrappers before every call of a kernel body.
inline void ns_emu_set(unsigned int grid, unsigned int block, unsigned int b, unsigned int t) {
  gridDim.x = grid;
  gridDim.y = gridDim.z = 1;
  blockDim.x = block;
  blockDim.y = blockDim.z = 1;
  blockIdx.x = b;
  blockIdx.y = blockIdx.z = 0;
  threadIdx.x = t;
  threadIdx.y = threadIdx.z = 0;
}
