// Private parts of the conv3d op shared by conv3d.c (layer, forward,
// backward-data, the graph op) and conv3d_weight_grad.c (backward-weights).
#ifndef SEGC_LAYERS_CONV3D_INTERNAL_H
#define SEGC_LAYERS_CONV3D_INTERNAL_H

#include <oneapi/dnnl/dnnl.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
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

// The cached primitive for `key`, built on first use (with key->threads
// OpenMP threads, whatever the current setting).
segc_status conv3d_primitive(const conv3d_key *key, segc_dnnl_cached **out);

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

// Runs a primitive on the shared stream with a scratchpad from `scratch`.
segc_status conv3d_run(const segc_dnnl_cached *cached, const conv3d_arg *args,
                       int count, segc_arena *scratch);

// Checks an activation tensor (host, NDHWC, f32 or bf16, the given shape);
// callers add the layer and pass as context.
segc_status conv3d_check_activation(const segc_tensor *t, segc_shape want,
                                    const char *what);

// Output shape for an input shape, or a message when the input is smaller
// than the kernel.
segc_status conv3d_output_shape(const segc_conv3d_config *config,
                                segc_shape input, segc_shape *out);

// The key of the primitive backward-weights uses (its first piece when the
// deterministic split is on), for reporting the implementation.
conv3d_key conv3d_weight_grad_key(const segc_conv3d_config *config,
                                  segc_shape input, dnnl_data_type_t dtype);

// "conv3d 32->32 k3 s1 p1" (+ " +bias"), for messages.
const char *conv3d_describe(const segc_conv3d_config *config, char *buf,
                            int bytes);

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

// dy converted to `dtype` in scratch when it is in another dtype (oneDNN's
// backward passes want diff_dst in the compute dtype); else dy itself.
// *converted says whether scratch memory must be freed.
segc_status conv3d_dy_in(const segc_tensor *dy, segc_dtype dtype,
                         segc_arena *scratch, segc_tensor *out,
                         bool *converted);

#endif
