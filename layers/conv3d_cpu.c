// conv3d kernels on the CPU (oneDNN): the layer's weight copies in oneDNN's
// formats, forward and backward-data. Backward-weights is in
// conv3d_cpu_weight_grad.c, primitive building in conv3d_cpu_primitives.c.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "core/tensor_ops.h"
#include "layers/conv3d_cpu.h"
#include "layers/conv3d_kernels.h"
#include "layers/conv3d_winograd.h"

// Weight copies in oneDNN's formats: forward and backward-data may each want
// their own format, in f32 and in bf16.
enum { PREPARED_SLOTS = 4 };

typedef struct {
  dnnl_memory_desc_t desc;  // format and dtype of the copy
  void *data;
  size_t bytes;             // allocated
  uint64_t version;         // param->version it was made from
  const void *source;       // param->value.data it was made from
  bool valid;
} weight_copy;

struct segc_conv3d_prepared {
  weight_copy copies[PREPARED_SLOTS];
  int next_evict;
  conv3d_winograd_weights winograd[2];  // forward, backward-data
};

static segc_status prepared_new(segc_conv3d_prepared **out) {
  *out = calloc(1, sizeof **out);
  if (!*out)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "no memory for the layer's weight copies");
  return SEGC_OK;
}

static void prepared_free(segc_conv3d_prepared *prepared) {
  for (int i = 0; i < PREPARED_SLOTS; ++i) free(prepared->copies[i].data);
  for (int i = 0; i < 2; ++i)
    conv3d_winograd_weights_free(&prepared->winograd[i]);
  free(prepared);
}

// The weights in the format (and dtype) `conv` wants, reordered from the
// f32 OIDHW master only when the parameter changed (version or storage).
// Contract: whoever changes param->value bumps param->version.
static segc_status prepared_weights(segc_backend_context *backend,
                                    segc_conv3d *layer,
                                    const segc_dnnl_cached *conv,
                                    const conv3d_key *conv_key, void **out) {
  const dnnl_memory_desc_t *want =
      dnnl_primitive_desc_query_md(conv->desc, dnnl_query_weights_md, 0);
  if (!want || want->ndims != 5)
    return SEGC_FAIL(SEGC_ERR_INTERNAL,
                     "conv3d: oneDNN reports no weights descriptor");
  segc_conv3d_prepared *prepared = layer->prepared;
  const segc_param *master = layer->weight;
  weight_copy *copy = NULL;
  for (int i = 0; i < PREPARED_SLOTS && !copy; ++i)
    if (prepared->copies[i].valid &&
        dnnl_memory_desc_equal(&prepared->copies[i].desc, want))
      copy = &prepared->copies[i];
  if (copy && copy->version == master->version &&
      copy->source == master->value.data) {
    *out = copy->data;
    return SEGC_OK;
  }
  if (!copy) {
    for (int i = 0; i < PREPARED_SLOTS && !copy; ++i)
      if (!prepared->copies[i].valid) copy = &prepared->copies[i];
    if (!copy) {
      copy = &prepared->copies[prepared->next_evict];
      prepared->next_evict = (prepared->next_evict + 1) % PREPARED_SLOTS;
    }
  }
  copy->valid = false;
  const size_t bytes = dnnl_memory_desc_get_size(want);
  if (copy->bytes < bytes) {
    free(copy->data);
    copy->data = NULL;
    copy->bytes = 0;
    // Once per layer and format: setup, not the hot loop.
    if (posix_memalign(&copy->data, SEGC_ARENA_ALIGN, bytes) != 0) {
      copy->data = NULL;
      return SEGC_FAIL(SEGC_ERR_NOMEM,
                       "conv3d: no memory for a %zu-byte weight copy", bytes);
    }
    copy->bytes = bytes;
  }
  conv3d_key reorder_key = *conv_key;
  reorder_key.kind = CONV3D_REORDER_WEIGHTS_IN;
  reorder_key.threads = segc_threads();
  reorder_key.of_kind = conv_key->kind;
  reorder_key.of_threads = conv_key->threads;
  segc_dnnl_cached *reorder;
  SEGC_TRY(conv3d_primitive(&backend->dnnl, &reorder_key, &reorder));
  const conv3d_arg args[2] = {{DNNL_ARG_FROM, master->value.data},
                              {DNNL_ARG_TO, copy->data}};
  SEGC_TRY(conv3d_run(backend, reorder, args, 2));
  copy->desc = *want;
  copy->version = master->version;
  copy->source = master->value.data;
  copy->valid = true;
  *out = copy->data;
  return SEGC_OK;
}

// oneDNN's direct convolution into y of the same dtype family (f32 into
// f32, bf16 into bf16 or f32).
static segc_status direct_forward(segc_backend_context *backend,
                                  segc_conv3d *layer, const segc_tensor *x,
                                  segc_tensor *y) {
  const conv3d_key key = conv3d_make_key(
      CONV3D_FORWARD, &layer->config, x->shape, conv3d_dnnl_dtype(x->dtype),
      conv3d_dnnl_dtype(y->dtype));
  segc_dnnl_cached *conv;
  SEGC_TRY(conv3d_primitive(&backend->dnnl, &key, &conv));
  void *weights;
  SEGC_TRY(prepared_weights(backend, layer, conv, &key, &weights));
  conv3d_arg args[4] = {{DNNL_ARG_SRC, x->data},
                        {DNNL_ARG_WEIGHTS, weights},
                        {DNNL_ARG_DST, y->data},
                        {DNNL_ARG_BIAS, NULL}};
  int count = 3;
  if (layer->bias) args[count++].data = layer->bias->value.data;
  return conv3d_run(backend, conv, args, count);
}

static segc_status forward(segc_backend_context *backend, segc_conv3d *layer,
                           const segc_tensor *x, segc_tensor *y) {
  segc_arena *scratch = backend->scratch;
  // oneDNN has no f32 convolution with a bf16 destination: go through f32.
  const bool through_f32 = x->dtype == SEGC_F32 && y->dtype == SEGC_BF16;
  segc_tensor dst = *y;
  if (through_f32)
    SEGC_TRY(segc_arena_tensor(scratch, y->shape, SEGC_F32, SEGC_LAYOUT_NDHWC,
                               &dst));
  bool done = false;
  segc_status status = conv3d_cpu_winograd_try(
      backend, layer, &layer->prepared->winograd[0], SEGC_CONV3D_FORWARD, x,
      &dst, false, direct_forward, &done);
  if (status == SEGC_OK && !done)
    status = direct_forward(backend, layer, x, &dst);
  if (through_f32) {
    if (status == SEGC_OK) status = segc_tensor_copy(&dst, y);
    segc_arena_free_tensor(scratch, &dst);
  }
  return status;
}

// oneDNN's direct backward-data, dx overwritten.
static segc_status direct_backward_data(segc_backend_context *backend,
                                        segc_conv3d *layer,
                                        const segc_tensor *dy,
                                        segc_tensor *dx) {
  const dnnl_data_type_t compute = conv3d_dnnl_dtype(dx->dtype);
  const conv3d_key key = conv3d_make_key(CONV3D_BACKWARD_DATA, &layer->config,
                                         dx->shape, compute, compute);
  segc_dnnl_cached *conv;
  SEGC_TRY(conv3d_primitive(&backend->dnnl, &key, &conv));
  void *weights;
  SEGC_TRY(prepared_weights(backend, layer, conv, &key, &weights));
  const conv3d_arg args[3] = {{DNNL_ARG_DIFF_DST, dy->data},
                              {DNNL_ARG_WEIGHTS, weights},
                              {DNNL_ARG_DIFF_SRC, dx->data}};
  return conv3d_run(backend, conv, args, 3);
}

static segc_status backward_data(segc_backend_context *backend,
                                 segc_conv3d *layer, const segc_tensor *dy,
                                 segc_tensor *dx, bool accumulate) {
  bool done = false;
  SEGC_TRY(conv3d_cpu_winograd_try(backend, layer,
                                   &layer->prepared->winograd[1],
                                   SEGC_CONV3D_BACKWARD_DATA, dy, dx,
                                   accumulate, direct_backward_data, &done));
  if (done) return SEGC_OK;  // Winograd adds into dx itself
  segc_arena *scratch = backend->scratch;
  // oneDNN overwrites diff_src: compute a contribution aside to add it.
  segc_tensor target = *dx;
  if (accumulate)
    SEGC_TRY(segc_arena_tensor(scratch, dx->shape, dx->dtype,
                               SEGC_LAYOUT_NDHWC, &target));
  segc_status status = direct_backward_data(backend, layer, dy, &target);
  if (accumulate) {
    if (status == SEGC_OK) status = segc_tensor_accumulate(dx, &target);
    segc_arena_free_tensor(scratch, &target);
  }
  return status;
}

static segc_status backward_weights(segc_backend_context *backend,
                                    segc_conv3d *layer, const segc_tensor *x,
                                    const segc_tensor *dy) {
  bool done = false;
  SEGC_TRY(conv3d_cpu_winograd_weights_try(
      backend, layer, x, dy, conv3d_cpu_backward_weights, &done));
  if (done) return SEGC_OK;
  return conv3d_cpu_backward_weights(backend, layer, x, dy);
}

// "winograd_f2x3:avx2": segc's own kernel and the GEMM kernel it runs.
static const char *winograd_name(void) {
  static char name[48];
  if (!name[0])
    snprintf(name, sizeof name, "winograd_f2x3:%s", conv3d_winograd_isa());
  return name;
}

static segc_status impl_name(segc_backend_context *backend,
                             const segc_conv3d_config *config,
                             segc_shape input, segc_dtype dtype,
                             segc_dtype out_dtype, segc_conv3d_pass pass,
                             const char **name) {
  if (conv3d_cpu_winograd_planned(config, input, dtype, pass)) {
    *name = winograd_name();
    return SEGC_OK;
  }
  const dnnl_data_type_t compute = conv3d_dnnl_dtype(dtype);
  conv3d_key key;
  if (pass == SEGC_CONV3D_BACKWARD_WEIGHTS) {
    key = conv3d_weight_grad_key(config, input, compute);
  } else {
    const bool through_f32 = dtype == SEGC_F32 && out_dtype == SEGC_BF16;
    key = conv3d_make_key(
        pass == SEGC_CONV3D_FORWARD ? CONV3D_FORWARD : CONV3D_BACKWARD_DATA,
        config, input, compute,
        pass == SEGC_CONV3D_FORWARD && !through_f32
            ? conv3d_dnnl_dtype(out_dtype)
            : compute);
  }
  segc_dnnl_cached *conv;
  SEGC_TRY(conv3d_primitive(&backend->dnnl, &key, &conv));
  SEGC_DNNL_CHECK(dnnl_primitive_desc_query(
      conv->desc, dnnl_query_impl_info_str, 0, (void *)name));
  return SEGC_OK;
}

const conv3d_kernels conv3d_cpu_kernels = {
    .prepared_new = prepared_new,
    .prepared_free = prepared_free,
    .forward = forward,
    .backward_data = backward_data,
    .backward_weights = backward_weights,
    .impl_name = impl_name,
};
