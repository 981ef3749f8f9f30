// Private parts of conv3d's CPU kernels (oneDNN) shared by conv3d_cpu.c
// (weight copies, forward, backward-data), conv3d_cpu_weight_grad.c
// (backward-weights) and conv3d_cpu_primitives.c (building, caching and
// running primitives in the backend context).
#ifndef SEGC_LAYERS_CONV3D_CPU_H
#define SEGC_LAYERS_CONV3D_CPU_H

#include <oneapi/dnnl/dnnl.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/backend_context.h"
#include "core/dnnl_context.h"
#include "layers/conv3d.h"

typedef enum {
  CONV3D_FORWARD = 1,
  CONV3D_BACKWARD_DATA,
  CONV3D_BACKWARD_WEIGHTS,
  // Reorders belong to one convolution (of_kind and the rest of the key):
  // the f32 OIDHW master into that convolution's weights format, and that
  // convolution's diff weights added into the f32 OIDHW gradient.
  CONV3D_REORDER_WEIGHTS_IN,
  CONV3D_REORDER_GRAD_OUT
} conv3d_kind;

// Everything a primitive depends on. All fields are int64_t so the struct has
// no padding bytes (it is compared with memcmp by the primitive cache).
typedef struct {
  int64_t kind;         // conv3d_kind
  int64_t threads;      // oneDNN fixes its work split when it is created
  int64_t n, cin, cout, d, h, w;  // input (N, C, D, H, W)
  int64_t kernel, stride, padding;
  int64_t pad_front, pad_back;    // depth padding (pieces of a batch differ)
  int64_t bias;
  int64_t src_dtype, dst_dtype;   // dnnl_data_type_t of src/weights and dst
  int64_t of_kind, of_threads;    // reorders: the convolution they serve
} conv3d_key;

// The key of a whole-tensor convolution run with the current thread count.
conv3d_key conv3d_make_key(conv3d_kind kind, const segc_conv3d_config *config,
                           segc_shape input, dnnl_data_type_t src_dtype,
                           dnnl_data_type_t dst_dtype);
// Output depth of a key (its depth padding may be uneven).
int64_t conv3d_key_out_depth(const conv3d_key *key);

// The primitive for `key` from the context's cache, built on first use
// (with key->threads OpenMP threads, whatever the current setting).
segc_status conv3d_primitive(segc_dnnl_state *dnnl, const conv3d_key *key,
                             segc_dnnl_cached **out);

// Bytes of oneDNN scratchpad the primitive wants (user-managed scratchpad).
size_t conv3d_scratchpad_bytes(const segc_dnnl_cached *cached);

// Memory descriptor of one execution argument (DNNL_ARG_*).
const dnnl_memory_desc_t *conv3d_arg_desc(const segc_dnnl_cached *cached,
                                          int arg);

typedef struct {
  int arg;     // DNNL_ARG_*
  void *data;  // buffer laid out as the primitive's descriptor for `arg`
} conv3d_arg;

// Runs the primitive on `stream` with the given buffers and scratchpad and
// waits. Returns oneDNN's status (callers wrap it in SEGC_DNNL_CHECK); it
// records no message, so worker threads may call it.
dnnl_status_t conv3d_execute(const segc_dnnl_cached *cached,
                             dnnl_stream_t stream, const conv3d_arg *args,
                             int count, void *scratchpad);

// Runs a primitive on the context's stream with a scratchpad from its
// scratch arena.
segc_status conv3d_run(segc_backend_context *backend,
                       const segc_dnnl_cached *cached, const conv3d_arg *args,
                       int count);

// The key of the primitive backward-weights uses (its first piece when the
// deterministic split is on), for reporting the implementation.
conv3d_key conv3d_weight_grad_key(const segc_conv3d_config *config,
                                  segc_shape input, dnnl_data_type_t dtype);

dnnl_data_type_t conv3d_dnnl_dtype(segc_dtype dtype);

// SEGC_DNNL_CHECK for code that must clean up before returning: the failure
// is recorded with the same message and returned instead of leaving.
static inline segc_status conv3d_dnnl_result(dnnl_status_t status,
                                             const char *call,
                                             const char *file, int line) {
  if (status == dnnl_success) return SEGC_OK;
  return segc_fail(SEGC_ERR_BACKEND, "oneDNN %s failed: %s (%s:%d)", call,
                   segc_dnnl_status_name(status), file, line);
}
#define CONV3D_DNNL(call) conv3d_dnnl_result((call), #call, __FILE__, __LINE__)

// The CPU kernel of conv3d_kernels.backward_weights.
segc_status conv3d_cpu_backward_weights(segc_backend_context *backend,
                                        segc_conv3d *layer,
                                        const segc_tensor *x,
                                        const segc_tensor *dy);

// A layer's Winograd weights for one pass (conv3d_cpu_winograd.c).
typedef struct {
  float *data;       // conv3d_winograd_transform_weights' panels, or NULL
  uint64_t version;  // param->version they were made from
  const void *source;
} conv3d_winograd_weights;

void conv3d_winograd_weights_free(conv3d_winograd_weights *slot);

// The direct (oneDNN) pass the plan times Winograd against: forward
// (src x, dst y) or backward-data (src dy, dst dx), dst overwritten.
typedef segc_status (*conv3d_direct_fn)(segc_backend_context *backend,
                                        segc_conv3d *layer,
                                        const segc_tensor *src,
                                        segc_tensor *dst);

// Runs the pass by Winograd when the algorithm setting and the plan say so
// (*done true); otherwise leaves it to the caller (*done false). The first
// call for a shape under the auto setting makes its plan.
segc_status conv3d_cpu_winograd_try(segc_backend_context *backend,
                                    segc_conv3d *layer,
                                    conv3d_winograd_weights *slot,
                                    segc_conv3d_pass pass,
                                    const segc_tensor *src, segc_tensor *dst,
                                    bool accumulate, conv3d_direct_fn direct,
                                    bool *done);

// The same for backward-weights (weight->grad and bias->grad +=), timed
// against `direct` (conv3d_cpu_backward_weights).
typedef segc_status (*conv3d_weights_fn)(segc_backend_context *backend,
                                         segc_conv3d *layer,
                                         const segc_tensor *x,
                                         const segc_tensor *dy);
segc_status conv3d_cpu_winograd_weights_try(segc_backend_context *backend,
                                            segc_conv3d *layer,
                                            const segc_tensor *x,
                                            const segc_tensor *dy,
                                            conv3d_weights_fn direct,
                                            bool *done);

// Whether the pass of this shape runs by Winograd (by the setting, or by a
// plan already made).
bool conv3d_cpu_winograd_planned(const segc_conv3d_config *config,
                                 segc_shape input, segc_dtype dtype,
                                 segc_conv3d_pass pass);

#endif
