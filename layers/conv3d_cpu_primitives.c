// Building, caching (in the backend context) and running the oneDNN
// primitives of conv3d.
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "core/parallel.h"
#include "layers/conv3d_cpu.h"

dnnl_data_type_t conv3d_dnnl_dtype(segc_dtype dtype) {
  return dtype == SEGC_BF16 ? dnnl_bf16 : dnnl_f32;
}

conv3d_key conv3d_make_key(conv3d_kind kind, const segc_conv3d_config *config,
                           segc_shape input, dnnl_data_type_t src_dtype,
                           dnnl_data_type_t dst_dtype) {
  conv3d_key key;
  memset(&key, 0, sizeof key);
  key.kind = kind;
  key.threads = segc_threads();
  key.n = input.n;
  key.cin = config->in_channels;
  key.cout = config->out_channels;
  key.d = input.d;
  key.h = input.h;
  key.w = input.w;
  key.kernel = config->kernel;
  key.stride = config->stride;
  key.padding = config->padding;
  key.pad_front = config->padding;
  key.pad_back = config->padding;
  key.bias = config->bias;
  key.src_dtype = src_dtype;
  key.dst_dtype = dst_dtype;
  return key;
}

int64_t conv3d_key_out_depth(const conv3d_key *key) {
  return (key->d + key->pad_front + key->pad_back - key->kernel) /
             key->stride + 1;
}

static int64_t out_size(const conv3d_key *key, int64_t size) {
  return (size + 2 * key->padding - key->kernel) / key->stride + 1;
}

// The descriptors of a convolution key: activations NDHWC in their dtypes,
// weights in whatever format oneDNN prefers, f32 bias and weight gradient.
typedef struct {
  dnnl_memory_desc_t src, weights, diff_weights, bias, dst;
  dnnl_dims_t strides, pad_l, pad_r;
} conv_descs;

static segc_status init_descs(const conv3d_key *key, conv_descs *d) {
  const dnnl_dims_t src_dims = {key->n, key->cin, key->d, key->h, key->w};
  const dnnl_dims_t dst_dims = {key->n, key->cout, conv3d_key_out_depth(key),
                                out_size(key, key->h), out_size(key, key->w)};
  const dnnl_dims_t weight_dims = {key->cout, key->cin, key->kernel,
                                   key->kernel, key->kernel};
  const dnnl_dims_t bias_dims = {key->cout};
  SEGC_DNNL_CHECK(dnnl_memory_desc_init_by_tag(
      &d->src, 5, src_dims, (dnnl_data_type_t)key->src_dtype, dnnl_ndhwc));
  SEGC_DNNL_CHECK(dnnl_memory_desc_init_by_tag(
      &d->dst, 5, dst_dims, (dnnl_data_type_t)key->dst_dtype, dnnl_ndhwc));
  SEGC_DNNL_CHECK(dnnl_memory_desc_init_by_tag(
      &d->weights, 5, weight_dims, (dnnl_data_type_t)key->src_dtype,
      dnnl_format_tag_any));
  SEGC_DNNL_CHECK(dnnl_memory_desc_init_by_tag(
      &d->diff_weights, 5, weight_dims, dnnl_f32, dnnl_format_tag_any));
  SEGC_DNNL_CHECK(
      dnnl_memory_desc_init_by_tag(&d->bias, 1, bias_dims, dnnl_f32, dnnl_a));
  for (int i = 0; i < 3; ++i) {
    d->strides[i] = key->stride;
    d->pad_l[i] = i == 0 ? key->pad_front : key->padding;
    d->pad_r[i] = i == 0 ? key->pad_back : key->padding;
  }
  return SEGC_OK;
}

static segc_status new_attr(dnnl_primitive_attr_t *attr, bool add_into_dst) {
  SEGC_DNNL_CHECK(dnnl_primitive_attr_create(attr));
  segc_status status = CONV3D_DNNL(
      dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user));
  if (status == SEGC_OK && add_into_dst) {
    // dst = reorder(src) + dst: accumulates a gradient in one pass.
    dnnl_post_ops_t post_ops;
    status = CONV3D_DNNL(dnnl_post_ops_create(&post_ops));
    if (status == SEGC_OK) {
      status = CONV3D_DNNL(dnnl_post_ops_append_sum(post_ops, 1.0f));
      if (status == SEGC_OK)
        status = CONV3D_DNNL(dnnl_primitive_attr_set_post_ops(*attr, post_ops));
      dnnl_post_ops_destroy(post_ops);
    }
  }
  if (status != SEGC_OK) dnnl_primitive_attr_destroy(*attr);
  return status;
}

static segc_status build_convolution(dnnl_engine_t engine,
                                     const conv3d_key *key,
                                     dnnl_primitive_desc_t *pd) {
  conv_descs d;
  SEGC_TRY(init_descs(key, &d));
  const dnnl_memory_desc_t *bias = key->bias ? &d.bias : NULL;
  dnnl_convolution_desc_t forward, backward;
  SEGC_DNNL_CHECK(dnnl_convolution_forward_desc_init(
      &forward, dnnl_forward_training, dnnl_convolution_direct, &d.src,
      &d.weights, bias, &d.dst, d.strides, d.pad_l, d.pad_r));
  dnnl_primitive_attr_t attr;
  SEGC_TRY(new_attr(&attr, false));
  segc_status status = SEGC_OK;
  if (key->kind == CONV3D_FORWARD) {
    status = CONV3D_DNNL(
        dnnl_primitive_desc_create(pd, &forward, attr, engine, NULL));
    dnnl_primitive_attr_destroy(attr);
    return status;
  }
  // Backward passes need the forward primitive descriptor as a hint.
  dnnl_primitive_desc_t hint;
  status = CONV3D_DNNL(
      dnnl_primitive_desc_create(&hint, &forward, NULL, engine, NULL));
  if (status == SEGC_OK) {
    if (key->kind == CONV3D_BACKWARD_DATA)
      status = CONV3D_DNNL(dnnl_convolution_backward_data_desc_init(
          &backward, dnnl_convolution_direct, &d.src, &d.weights, &d.dst,
          d.strides, d.pad_l, d.pad_r));
    else
      status = CONV3D_DNNL(dnnl_convolution_backward_weights_desc_init(
          &backward, dnnl_convolution_direct, &d.src, &d.diff_weights, bias,
          &d.dst, d.strides, d.pad_l, d.pad_r));
    if (status == SEGC_OK)
      status = CONV3D_DNNL(
          dnnl_primitive_desc_create(pd, &backward, attr, engine, hint));
    dnnl_primitive_desc_destroy(hint);
  }
  dnnl_primitive_attr_destroy(attr);
  return status;
}

static segc_status build_reorder(segc_dnnl_state *dnnl, const conv3d_key *key,
                                 dnnl_primitive_desc_t *pd) {
  conv3d_key conv_key = *key;
  conv_key.kind = key->of_kind;
  conv_key.threads = key->of_threads;
  conv_key.of_kind = conv_key.of_threads = 0;
  segc_dnnl_cached *conv;
  SEGC_TRY(conv3d_primitive(dnnl, &conv_key, &conv));
  dnnl_engine_t engine = dnnl->engine;
  const dnnl_dims_t weight_dims = {key->cout, key->cin, key->kernel,
                                   key->kernel, key->kernel};
  dnnl_memory_desc_t master;  // f32 OIDHW, the parameter and its gradient
  SEGC_DNNL_CHECK(dnnl_memory_desc_init_by_tag(&master, 5, weight_dims,
                                               dnnl_f32, dnnl_oidhw));
  const bool to_master = key->kind == CONV3D_REORDER_GRAD_OUT;
  const dnnl_memory_desc_t *conv_weights = dnnl_primitive_desc_query_md(
      conv->desc,
      to_master ? dnnl_query_diff_weights_md : dnnl_query_weights_md, 0);
  if (!conv_weights || conv_weights->ndims != 5)
    return SEGC_FAIL(SEGC_ERR_INTERNAL,
                     "conv3d: oneDNN reports no weights descriptor");
  dnnl_primitive_attr_t attr;
  SEGC_TRY(new_attr(&attr, to_master));
  segc_status status = CONV3D_DNNL(dnnl_reorder_primitive_desc_create(
      pd, to_master ? conv_weights : &master, engine,
      to_master ? &master : conv_weights, engine, attr));
  dnnl_primitive_attr_destroy(attr);
  return status;
}

segc_status conv3d_primitive(segc_dnnl_state *dnnl, const conv3d_key *key,
                             segc_dnnl_cached **out) {
  segc_dnnl_cached *found = segc_dnnl_cache_find(dnnl->primitives, key,
                                                 sizeof *key);
  if (found) {
    *out = found;
    return SEGC_OK;
  }
  if (key->src_dtype == dnnl_bf16 || key->dst_dtype == dnnl_bf16)
    SEGC_TRY(segc_dnnl_require_compute(SEGC_BF16));
  // oneDNN sizes its work split (and so the summation order) by the thread
  // count at creation: build with the count the key names.
  const int saved_threads = omp_get_max_threads();
  if (key->threads != saved_threads) omp_set_num_threads((int)key->threads);
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_t primitive = NULL;
  segc_status status = key->kind == CONV3D_REORDER_WEIGHTS_IN ||
                               key->kind == CONV3D_REORDER_GRAD_OUT
                           ? build_reorder(dnnl, key, &pd)
                           : build_convolution(dnnl->engine, key, &pd);
  if (status == SEGC_OK)
    status = CONV3D_DNNL(dnnl_primitive_create(&primitive, pd));
  if (key->threads != saved_threads) omp_set_num_threads(saved_threads);
  if (status == SEGC_OK)
    status = segc_dnnl_cache_insert(dnnl->primitives, key, sizeof *key, pd,
                                    primitive, out);
  if (status != SEGC_OK) {
    if (primitive) dnnl_primitive_destroy(primitive);
    if (pd) dnnl_primitive_desc_destroy(pd);
  }
  return status;
}

size_t conv3d_scratchpad_bytes(const segc_dnnl_cached *cached) {
  const dnnl_memory_desc_t *md =
      dnnl_primitive_desc_query_md(cached->desc, dnnl_query_scratchpad_md, 0);
  return md ? dnnl_memory_desc_get_size(md) : 0;
}

const dnnl_memory_desc_t *conv3d_arg_desc(const segc_dnnl_cached *cached,
                                          int arg) {
  return dnnl_primitive_desc_query_md(cached->desc, dnnl_query_exec_arg_md,
                                      arg);
}

enum { MAX_ARGS = 8 };

dnnl_status_t conv3d_execute(const segc_dnnl_cached *cached,
                             dnnl_stream_t stream, const conv3d_arg *args,
                             int count, void *scratchpad) {
  if (count + 1 > MAX_ARGS) return dnnl_invalid_arguments;
  dnnl_engine_t engine;
  dnnl_status_t status =
      dnnl_primitive_desc_query(cached->desc, dnnl_query_engine, 0, &engine);
  dnnl_exec_arg_t exec[MAX_ARGS];
  int made = 0;
  for (int i = 0; i <= count && status == dnnl_success; ++i) {
    const int arg = i < count ? args[i].arg : DNNL_ARG_SCRATCHPAD;
    void *data = i < count ? args[i].data : scratchpad;
    const dnnl_memory_desc_t *md = conv3d_arg_desc(cached, arg);
    if (!md || md->ndims == 0) {
      if (i < count) status = dnnl_invalid_arguments;  // not an argument
      continue;  // no scratchpad needed
    }
    if (!data) {
      status = dnnl_invalid_arguments;
      break;
    }
    status = dnnl_memory_create(&exec[made].memory, md, engine, data);
    if (status == dnnl_success) exec[made++].arg = arg;
  }
  if (status == dnnl_success)
    status = dnnl_primitive_execute(cached->primitive, stream, made, exec);
  if (status == dnnl_success) status = dnnl_stream_wait(stream);
  for (int i = 0; i < made; ++i) dnnl_memory_destroy(exec[i].memory);
  return status;
}

segc_status conv3d_run(segc_backend_context *backend,
                       const segc_dnnl_cached *cached, const conv3d_arg *args,
                       int count) {
  segc_arena *scratch = backend->scratch;
  dnnl_stream_t stream = backend->dnnl.stream;
  const size_t pad_bytes = conv3d_scratchpad_bytes(cached);
  void *pad = NULL;
  if (pad_bytes) SEGC_TRY(segc_arena_alloc(scratch, pad_bytes, &pad));
  const dnnl_status_t status =
      conv3d_execute(cached, stream, args, count, pad);
  if (pad) segc_arena_free(scratch, pad, pad_bytes);
  SEGC_DNNL_CHECK(status);
  return SEGC_OK;
}
