// The table-driven op harness's machinery (tests/test_ops.c holds the table):
// the backends an op case runs on, a graph whose arenas live on a backend's
// device with host <-> device copies, a seeding op that gives outputs the
// gradient r, host buffers freed together after each case, and the
// comparison against the double-precision references of op_reference.h.
// The per-op tests use the same pieces on the CPU (op_test_util.h).
//
// Tolerances (why each is what it is):
// - OP_F32_RTOL = 1e-5, relative to the largest |reference| of the tensor:
//   an f32 result sums at most a few hundred f32-rounded terms (~1e-7
//   relative each); 1e-5 leaves margin and still catches a wrong tap or a
//   missing term (1e-3 of the scale or more).
// - OP_BF16_RTOL = 2^-8, added per element for a bf16 result (and a bf16
//   gradient): bf16 keeps 7 mantissa bits, so rounding to nearest moves a
//   value by at most half a step, 2^-8 of itself (reached in practice: the
//   bf16 cases print errors near 1 of the tolerance). Inputs of bf16 cases
//   are bf16 values, so the reference sees what the backend sees.
// - Finite differences (central, in double, autograd/gradcheck.h): the step
//   h is chosen per op in test_ops.c: 1e-2 where the function is linear in
//   the perturbed block (conv3d, upsample, relu/add: exact but for double
//   rounding), 1e-3 for GroupNorm (smooth: truncation ~h^2 = 1e-6 of the
//   curvature, rounding ~1e-13), 1e-5 for DiceCE (the loss is a mean over
//   voxels, so its gradient entries are small: a smaller h keeps truncation
//   below 1e-9 of them).
#ifndef SEGC_TESTS_OP_HARNESS_H
#define SEGC_TESTS_OP_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

#include "autograd/graph.h"
#include "autograd/param.h"

#define OP_F32_RTOL 1e-5
#define OP_BF16_RTOL (1.0 / 256.0)
// f16 keeps 10 mantissa bits: one rounding moves a value by at most 2^-11
// of itself (the f16 conv3d cases, run where a backend has f16).
#define OP_F16_RTOL (1.0 / 2048.0)

// A backend: where the tensors of a case live. Adding one is a table entry
// in op_harness.c (its name, its device, and how to tell it is present).
typedef struct {
  const char *name;
  segc_device device;
  // True when the backend can run here; else `why` says what is missing.
  bool (*available)(char *why, size_t size);
} op_backend;

extern const op_backend op_backends[];
extern const int op_backend_count;
// The backend called `name`, or NULL.
const op_backend *op_backend_named(const char *name);

// A graph over arenas on the backend's device, and an arena for the case's
// parameters and labels (as large as the activations').
typedef struct {
  const op_backend *backend;
  segc_arena activations, scratch, inputs;
  segc_backend_context context;
  segc_graph graph;
} op_env;

segc_status op_env_open(op_env *env, const op_backend *backend,
                        size_t activation_mb, size_t scratch_mb);
void op_env_close(op_env *env);

// Copies between host memory and memory of `device` (either direction).
segc_status op_copy(void *dst, const void *src, size_t bytes,
                    segc_device device);

// A graph value holding `values` (f32, storage order) converted to `dtype`,
// on the device of the graph's activations.
segc_status op_value(segc_graph *graph, const float *values, segc_shape shape,
                     segc_dtype dtype, segc_layout layout, bool requires_grad,
                     segc_value **out);
// A tensor of the inputs arena holding `data` (already in `dtype`).
segc_status op_env_tensor(op_env *env, const void *data, segc_shape shape,
                          segc_dtype dtype, segc_layout layout,
                          segc_tensor *out);
// An f32 NCDHW parameter holding `values`, with a zeroed gradient.
segc_status op_env_param(op_env *env, const char *name, const float *values,
                         segc_shape shape, segc_param *out);
// Any tensor's values (on any device) as f32, storage order.
segc_status op_read_f32(const segc_tensor *t, float *out);

// Test-only op that drives backward from any op's outputs:
// loss = sum_k sum_i r_k[i] y_k[i] (r_k in y_k's storage order, at most
// OP_SEED_MAX outputs). Its backward gives each y_k the gradient dloss * r_k
// (added when y_k already has one). It records itself only when the graph
// needs a tape for the y_k.
enum { OP_SEED_MAX = 4 };
segc_status op_seed_losses(segc_graph *graph, int count, segc_value *const *y,
                           const float *const *r, segc_value **loss);
segc_status op_seed_loss(segc_graph *graph, segc_value *y, const float *r,
                         segc_value **loss);

// Host buffers of one case, freed together by op_free_all (exits when
// memory runs out: a test has nothing better to do).
float *op_f32(int64_t count);
double *op_f64(int64_t count);
void *op_bytes(size_t bytes);
void op_free_all(void);

// Largest |got - ref| as a fraction of the allowed error (<= 1 passes):
// OP_F32_RTOL * max|ref|, plus OP_BF16_RTOL * |ref[i]| for a bf16 result.
// NaN counts as a failure.
double op_forward_error(const float *got, const double *ref, int64_t count,
                        bool bf16_result);
// The same with the per-element part given: OP_BF16_RTOL or OP_F16_RTOL for
// a result in that dtype, 0 for f32.
double op_forward_error_rtol(const float *got, const double *ref,
                             int64_t count, double element_rtol);

#endif
