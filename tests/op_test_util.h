// Shared by the op tests (test_groupnorm, test_elementwise, test_upsample,
// test_dropout3d): the op harness's pieces on the CPU (util/op_harness.h: a
// graph over test arenas, input values filled from float arrays, and the
// test-only loss op op_seed_loss, loss = sum_i r[i] * y[i] over y's storage
// order, which drives backward from any op's output) and host helpers.
#ifndef SEGC_TESTS_OP_TEST_UTIL_H
#define SEGC_TESTS_OP_TEST_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "autograd/graph.h"
#include "util/op_harness.h"
#include "util/op_reference.h"
#include "util/test_util.h"

// The op harness's environment on the CPU backend.
typedef op_env op_test_env;

static inline segc_status op_env_init(op_test_env *env, size_t activation_mb,
                                      size_t scratch_mb) {
  return op_env_open(env, op_backend_named("cpu"), activation_mb, scratch_mb);
}

static inline void op_env_destroy(op_test_env *env) { op_env_close(env); }

// An activation holding `values` (storage order of `layout`) converted to
// `dtype`; it requires a gradient when the graph is training.
static inline segc_status op_input(segc_graph *graph, const float *values,
                                   segc_shape shape, segc_dtype dtype,
                                   segc_layout layout, segc_value **out) {
  return op_value(graph, values, shape, dtype, layout, true, out);
}

// Copies a tensor's values (any dtype) into a float array, storage order.
static inline void op_to_f32(const segc_tensor *t, float *out) {
  segc_convert(t->data, t->dtype, out, SEGC_F32, (size_t)segc_tensor_numel(t));
}

// Rounds floats through bf16 in place (what a bf16 tensor can hold).
static inline void op_round_bf16(float *x, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    x[i] = segc_bf16_to_f32(segc_f32_to_bf16(x[i]));
}

static inline float *op_alloc_f32(int64_t n) {
  float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  if (!p) {
    fprintf(stderr, "test: out of memory\n");
    exit(1);
  }
  return p;
}

static inline double *op_alloc_f64(int64_t n) {
  double *p = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
  if (!p) {
    fprintf(stderr, "test: out of memory\n");
    exit(1);
  }
  return p;
}

#endif
