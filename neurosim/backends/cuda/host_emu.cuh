// Host emulation of the little of CUDA that the neurosim kernels use, so that the same
// .cu source compiles with g++ (-O2 -ffp-contract=off) into a shared library whose
// kernels the CPU tests launch (tests/gpu/emulate.py) and compare bit for bit with the
// numpy backend.  A launch is a loop over blocks and threads in order, one thread at a
// time.  That is a valid schedule of the GPU's for kernels without barriers.  Kernels
// that share data within a block (shared memory, __syncthreads) are written for any
// block size: the emulation tests run them with one thread per block (barriers are
// no-ops, shared arrays hold one block's data at a time), and with whole blocks as
// fibers (ns_emu_block): each barrier interval runs every thread of the block in turn,
// in ascending or, with ns_emu_order(1), descending thread order, so that a result that
// depends on the order within an interval (a race) differs between the two.  Never
// included by NVRTC or nvcc.
#pragma once
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#error "host_emu.cuh is for host compilers only"
#endif

#include <ucontext.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

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

// ---------------------------------------------------------------- blocks as fibers
struct NsEmuFibers {
  std::function<void()> body;
  std::vector<ucontext_t> ctx;
  std::vector<char> done;
  ucontext_t sched;
  unsigned int current = 0;
};
static NsEmuFibers* ns_emu_fibers = nullptr;
static std::vector<std::vector<char>> ns_emu_stacks;
static int ns_emu_descending = 0;
static int ns_emu_error = 0;  // 1: threads of a block reached different barriers

extern "C" void ns_emu_order(int descending) { ns_emu_descending = descending; }
extern "C" int ns_emu_take_error() {
  int e = ns_emu_error;
  ns_emu_error = 0;
  return e;
}

inline void __syncthreads() {
  NsEmuFibers* f = ns_emu_fibers;
  if (f) swapcontext(&f->ctx[f->current], &f->sched);
}

static void ns_emu_fiber_entry() {
  ns_emu_fibers->body();
  ns_emu_fibers->done[ns_emu_fibers->current] = 1;
}  // returns to uc_link, the scheduler

// Block b of a launch as `block` fibers running `body`, barrier interval by interval.
inline void ns_emu_block(unsigned int grid, unsigned int block, unsigned int b,
                         const std::function<void()>& body) {
  const size_t stack = 1 << 17;
  while (ns_emu_stacks.size() < block) ns_emu_stacks.emplace_back(stack);
  NsEmuFibers f;
  f.body = body;
  f.ctx.resize(block);
  f.done.assign(block, 0);
  for (unsigned int t = 0; t < block; ++t) {
    getcontext(&f.ctx[t]);
    f.ctx[t].uc_stack.ss_sp = ns_emu_stacks[t].data();
    f.ctx[t].uc_stack.ss_size = stack;
    f.ctx[t].uc_link = &f.sched;
    makecontext(&f.ctx[t], ns_emu_fiber_entry, 0);
  }
  ns_emu_fibers = &f;
  unsigned int live = block;
  while (live) {
    unsigned int finished = 0;
    for (unsigned int i = 0; i < block; ++i) {
      unsigned int t = ns_emu_descending ? block - 1 - i : i;
      if (f.done[t]) continue;
      f.current = t;
      ns_emu_set(grid, block, b, t);
      swapcontext(&f.sched, &f.ctx[t]);
      if (f.done[t]) ++finished;
    }
    // a thread that returned while others wait at a barrier: CUDA leaves that undefined
    if (finished && finished != live) ns_emu_error = 1;
    live -= finished;
  }
  ns_emu_fibers = nullptr;
}
