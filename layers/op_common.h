// Argument checks and scratch bookkeeping shared by the non-convolution ops
// (private to layers/).
//
// Each check fails with one line naming the op and what was wrong: a device
// and dtype the build has no kernel for (SEGC_ERR_UNSUPPORTED, from the
// backend table in core/backend.h), the dtype, the layout, or two shapes
// that should match (SEGC_ERR_INVALID).
#ifndef SEGC_LAYERS_OP_COMMON_H
#define SEGC_LAYERS_OP_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "autograd/graph.h"
#include "core/dtype.h"

// x is a live activation, f32 or bf16, in NCDHW or NDHWC, on a device the
// backend table gives `op` a kernel for.
segc_status segc_op_check_input(const char *op, const char *what,
                                const segc_value *x);

// b has a's shape, dtype, device and layout (both already checked as
// inputs).
segc_status segc_op_check_same(const char *op, const segc_value *a,
                               const segc_value *b);

// The graph has its arenas (activations, scratch), on a device `op` has
// kernels for.
segc_status segc_op_check_graph(const char *op, const segc_graph *graph);

// x lives on the graph's device: a device kernel must never be handed host
// memory (or the reverse). "groupnorm: x is on cuda, the graph on cpu".
segc_status segc_op_check_on_graph(const char *op, const char *what,
                                   const segc_graph *graph,
                                   const segc_value *x);

// Temporaries an op takes from graph->backend->scratch, all given back at once (in
// reverse order) before the op returns, on success or failure.
enum { SEGC_OP_SCRATCH_MAX = 8 };
typedef struct {
  segc_arena *arena;
  void *ptr[SEGC_OP_SCRATCH_MAX];
  size_t bytes[SEGC_OP_SCRATCH_MAX];
  int count;
} segc_op_scratch;

void segc_op_scratch_init(segc_op_scratch *scratch, segc_arena *arena);
segc_status segc_op_scratch_take(segc_op_scratch *scratch, size_t bytes,
                                 void **out);
// A dense tensor in the scratch arena (on the arena's device).
segc_status segc_op_scratch_tensor(segc_op_scratch *scratch, segc_shape shape,
                                   segc_dtype dtype, segc_layout layout,
                                   segc_tensor *out);
void segc_op_scratch_release(segc_op_scratch *scratch);

// Elementwise work below this many elements runs on one thread (the OpenMP
// start-up costs more than the work); results never depend on it.
enum { SEGC_OP_PARALLEL_MIN = 1 << 15 };

// Elementwise loops run over blocks of this many elements, one task each.
// The parallel loop calls a per-dtype kernel for each block: OpenMP outlines
// its loop body before inlining, so a dtype flag passed into the parallel
// region would stay a runtime branch inside the vector loop.
enum { SEGC_OP_BLOCK = 1 << 14 };

static inline int64_t segc_op_block_count(int64_t n) {
  return (n + SEGC_OP_BLOCK - 1) / SEGC_OP_BLOCK;
}

// End of block b of [0, n).
static inline int64_t segc_op_block_end(int64_t b, int64_t n) {
  return (b + 1) * SEGC_OP_BLOCK < n ? (b + 1) * SEGC_OP_BLOCK : n;
}

// Hot loops are compiled twice, for the portable baseline and for AVX-512
// (x86-64-v4), and the loader picks one by the CPU (an ifunc). The build
// never uses -march=native. Both versions round identically: C11 mode keeps
// floating-point contraction off, and no loop reassociates a sum, so the
// choice never changes a result.
#define SEGC_KERNEL_VARIANTS \
  __attribute__((target_clones("default", "arch=x86-64-v4")))

// Element i of an f32 or bf16 buffer. Kernels pass `bf16` as a constant and
// are compiled once per dtype with the branch folded away.
static inline __attribute__((always_inline)) float segc_op_load(const void *p,
                                                                int64_t i,
                                                                bool bf16) {
  return bf16 ? segc_bf16_to_f32(((const segc_bf16 *)p)[i])
              : ((const float *)p)[i];
}

static inline __attribute__((always_inline)) void segc_op_store(void *p,
                                                                int64_t i,
                                                                float v,
                                                                bool bf16) {
  if (bf16)
    ((segc_bf16 *)p)[i] = segc_f32_to_bf16(v);
  else
    ((float *)p)[i] = v;
}

// v, or +0 where `drop` is nonzero; a bit mask instead of a select, for
// the same reason as below.
static inline __attribute__((always_inline)) float segc_op_zero_where(
    float v, int32_t drop) {
  int32_t bits;
  memcpy(&bits, &v, sizeof bits);
  bits &= -(int32_t)(drop == 0);
  float out;
  memcpy(&out, &bits, sizeof out);
  return out;
}

// dy where the ReLU before it passed (z > 0), else +0. Decided on the bits
// with integer operations: GCC will not vectorize a float select whose
// float conversions it could move into a branch (they might trap), and
// this form has no branch. A NaN z with the sign bit clear passes dy.
static inline __attribute__((always_inline)) float segc_op_pass_if_positive(
    float dy, float z) {
  int32_t z_bits, dy_bits;
  memcpy(&z_bits, &z, sizeof z_bits);
  memcpy(&dy_bits, &dy, sizeof dy_bits);
  dy_bits &= -(int32_t)(z_bits > 0);
  float out;
  memcpy(&out, &dy_bits, sizeof out);
  return out;
}

#endif
