// conv3d backward-weights on the CPU, independent of the thread count.
//
// oneDNN's backward-weights splits the sum over the batch and space between
// its threads and adds the per-thread partial sums, so with bf16 and 1x1
// kernels the bits change with the thread count. Here the sum is cut into
// pieces fixed by the shape alone (samples, or slabs of output depth rows),
// each piece runs as its own single-threaded oneDNN call (fixed order
// inside), the pieces run in parallel, and their partial gradients are added
// in piece order.
#include <omp.h>
#include <string.h>

#include "core/parallel.h"
#include "layers/conv3d_cpu.h"

// Most pieces (enough to keep 16 threads busy) and the most bytes their
// partial weight gradients may take together. A slab has at least 2 output
// rows: oneDNN 2.6's f32 jit backward-weights refuses a single output row
// with front padding and falls back to a slow gemm.
enum {
  MAX_PIECES = 16,
  MAX_PLANNED = 2 * MAX_PIECES,
  MIN_SLAB_ROWS = 2
};
static const size_t partial_budget = (size_t)32 << 20;

static bool deterministic = true;

void segc_conv3d_set_deterministic(bool on) { deterministic = on; }
bool segc_conv3d_deterministic(void) { return deterministic; }

typedef struct {
  int64_t n_begin;             // first sample
  int64_t out_begin, out_end;  // output depth rows
  int64_t src_begin;           // first input depth row read
  conv3d_key key;              // single-threaded backward-weights
} grad_piece;

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A piece of `samples` samples from n_begin, output rows [out_begin,
// out_end); false when its input window lies entirely in the padding.
static bool make_piece(const segc_conv3d_config *c, segc_shape x,
                       dnnl_data_type_t dtype, int64_t n_begin,
                       int64_t samples, int64_t out_begin, int64_t out_end,
                       grad_piece *piece) {
  const int64_t first = out_begin * c->stride - c->padding;
  const int64_t last = (out_end - 1) * c->stride - c->padding + c->kernel;
  const int64_t src_begin = first > 0 ? first : 0;
  const int64_t src_end = last < x.d ? last : x.d;
  if (src_end <= src_begin) return false;
  const segc_shape part = segc_shape5(samples, x.c, src_end - src_begin, x.h,
                                      x.w);
  piece->n_begin = n_begin;
  piece->out_begin = out_begin;
  piece->out_end = out_end;
  piece->src_begin = src_begin;
  piece->key = conv3d_make_key(CONV3D_BACKWARD_WEIGHTS, c, part, dtype, dtype);
  piece->key.threads = 1;
  piece->key.pad_front = src_begin - first;
  piece->key.pad_back = last - src_end;
  return true;
}

// Cuts the sum into pieces; the plan depends on the shapes only.
static int plan_pieces(const segc_conv3d_config *c, segc_shape x,
                       dnnl_data_type_t dtype, grad_piece *pieces) {
  const int64_t k = c->kernel;
  const size_t grad_bytes =
      sizeof(float) * (size_t)(c->out_channels * (c->in_channels * k * k * k + 1));
  int64_t target = MAX_PIECES;
  while (target > 1 && (size_t)target * grad_bytes > partial_budget)
    target /= 2;
  const int64_t out_depth = (x.d + 2 * c->padding - k) / c->stride + 1;
  int count = 0;
  if (target < x.n) {  // whole samples, several per piece
    const int64_t per = ceil_div(x.n, target);
    for (int64_t n = 0; n < x.n; n += per)
      make_piece(c, x, dtype, n, per < x.n - n ? per : x.n - n, 0, out_depth,
                 &pieces[count++]);
    return count;
  }
  int64_t slabs = ceil_div(target, x.n);
  if (slabs > out_depth / MIN_SLAB_ROWS) slabs = out_depth / MIN_SLAB_ROWS;
  if (slabs < 1) slabs = 1;
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool all_real = true;
    count = 0;
    for (int64_t n = 0; n < x.n; ++n)
      for (int64_t j = 0; j < slabs; ++j)
        all_real &= make_piece(c, x, dtype, n, 1, j * out_depth / slabs,
                               (j + 1) * out_depth / slabs, &pieces[count++]);
    if (all_real) break;
    slabs = 1;  // padding wider than a slab: whole samples always read data
  }
  return count;
}

conv3d_key conv3d_weight_grad_key(const segc_conv3d_config *config,
                                  segc_shape input, dnnl_data_type_t dtype) {
  if (!deterministic)
    return conv3d_make_key(CONV3D_BACKWARD_WEIGHTS, config, input, dtype,
                           dtype);
  grad_piece pieces[MAX_PLANNED];
  plan_pieces(config, input, dtype, pieces);
  return pieces[0].key;
}

// One stream per worker thread (pieces run concurrently), made per call:
// small handles, and no state outlives the call.
static segc_status make_streams(dnnl_engine_t engine, dnnl_stream_t *streams,
                                int count) {
  for (int i = 0; i < count; ++i) {
    const segc_status status = CONV3D_DNNL(
        dnnl_stream_create(&streams[i], engine, dnnl_stream_default_flags));
    if (status != SEGC_OK) {
      while (i-- > 0) dnnl_stream_destroy(streams[i]);
      return status;
    }
  }
  return SEGC_OK;
}

// grad (f32 OIDHW) += partial (in the convolution's diff-weights format).
static segc_status add_to_master(segc_backend_context *backend,
                                 const conv3d_key *conv_key, void *partial,
                                 void *grad) {
  conv3d_key key = *conv_key;
  key.kind = CONV3D_REORDER_GRAD_OUT;
  key.threads = segc_threads();
  key.of_kind = conv_key->kind;
  key.of_threads = conv_key->threads;
  segc_dnnl_cached *reorder;
  SEGC_TRY(conv3d_primitive(&backend->dnnl, &key, &reorder));
  const conv3d_arg args[2] = {{DNNL_ARG_FROM, partial}, {DNNL_ARG_TO, grad}};
  return conv3d_run(backend, reorder, args, 2);
}

static size_t round_up(size_t bytes) {
  return (bytes + SEGC_ARENA_ALIGN - 1) / SEGC_ARENA_ALIGN * SEGC_ARENA_ALIGN;
}

// Partial gradients of every piece, one slot each: diff weights in oneDNN's
// format, then the diff bias.
typedef struct {
  unsigned char *base;
  size_t slot_bytes, weight_bytes;
  int count;
} partials;

static float *partial_weights(const partials *p, int i) {
  return (float *)(p->base + (size_t)i * p->slot_bytes);
}
static float *partial_bias(const partials *p, int i) {
  return (float *)(p->base + (size_t)i * p->slot_bytes + p->weight_bytes);
}

static segc_status run_pieces(const segc_conv3d *layer, const segc_tensor *x,
                              const segc_tensor *dy, const grad_piece *pieces,
                              segc_dnnl_cached *const *convs,
                              const partials *parts,
                              segc_backend_context *backend) {
  segc_arena *scratch = backend->scratch;
  size_t pad_bytes = 0;
  for (int i = 0; i < parts->count; ++i) {
    const size_t b = round_up(conv3d_scratchpad_bytes(convs[i]));
    if (b > pad_bytes) pad_bytes = b;
  }
  int workers = segc_threads();
  if (workers > parts->count) workers = parts->count;
  unsigned char *pads = NULL;
  if (pad_bytes)
    SEGC_TRY(segc_arena_alloc(scratch, pad_bytes * (size_t)workers,
                              (void **)&pads));
  dnnl_stream_t streams[MAX_PLANNED];
  const segc_status made =
      make_streams(backend->dnnl.engine, streams, workers);
  if (made != SEGC_OK) {
    if (pads) segc_arena_free(scratch, pads, pad_bytes * (size_t)workers);
    return made;
  }
  const segc_shape xs = x->shape, ys = dy->shape;
  const size_t x_elem = segc_dtype_size(x->dtype);
  const size_t y_elem = segc_dtype_size(dy->dtype);
  const bool bias = layer->config.bias;
  dnnl_status_t results[MAX_PLANNED];
  // Each piece writes its own slot, so the schedule does not matter.
#pragma omp parallel for schedule(dynamic, 1) num_threads(workers)
  for (int i = 0; i < parts->count; ++i) {
    const grad_piece *p = &pieces[i];
    const int worker = omp_get_thread_num();
    const size_t x_offset =
        (size_t)(((p->n_begin * xs.d + p->src_begin) * xs.h * xs.w) * xs.c);
    const size_t y_offset =
        (size_t)(((p->n_begin * ys.d + p->out_begin) * ys.h * ys.w) * ys.c);
    const conv3d_arg args[4] = {
        {DNNL_ARG_SRC, (unsigned char *)x->data + x_offset * x_elem},
        {DNNL_ARG_DIFF_DST, (unsigned char *)dy->data + y_offset * y_elem},
        {DNNL_ARG_DIFF_WEIGHTS, partial_weights(parts, i)},
        {DNNL_ARG_DIFF_BIAS, partial_bias(parts, i)}};
    results[i] = conv3d_execute(convs[i], streams[worker], args,
                                bias ? 4 : 3,
                                pads ? pads + (size_t)worker * pad_bytes : NULL);
  }
  for (int i = 0; i < workers; ++i) dnnl_stream_destroy(streams[i]);
  if (pads) segc_arena_free(scratch, pads, pad_bytes * (size_t)workers);
  for (int i = 0; i < parts->count; ++i) SEGC_DNNL_CHECK(results[i]);
  return SEGC_OK;
}

// Adds the partials into the parameters' gradients in piece order.
static segc_status combine(segc_conv3d *layer, const grad_piece *pieces,
                           segc_dnnl_cached *const *convs,
                           const partials *parts,
                           segc_backend_context *backend) {
  segc_arena *scratch = backend->scratch;
  bool same_format = true;
  const dnnl_memory_desc_t *first =
      conv3d_arg_desc(convs[0], DNNL_ARG_DIFF_WEIGHTS);
  for (int i = 1; i < parts->count; ++i)
    same_format &= dnnl_memory_desc_equal(
                       first, conv3d_arg_desc(convs[i],
                                              DNNL_ARG_DIFF_WEIGHTS)) != 0;
  float *grad = layer->weight->grad.data;
  if (grad && same_format) {
    // Sum every piece into the first, element by element in piece order,
    // then one reorder adds it to the master gradient.
    const int64_t n =
        (int64_t)(dnnl_memory_desc_get_size(first) / sizeof(float));
    float *sum = partial_weights(parts, 0);
#pragma omp parallel for schedule(static) if (n * parts->count > (1 << 16))
    for (int64_t e = 0; e < n; ++e) {
      float s = sum[e];
      for (int i = 1; i < parts->count; ++i) s += partial_weights(parts, i)[e];
      sum[e] = s;
    }
    SEGC_TRY(add_to_master(backend, &pieces[0].key, sum, grad));
  } else if (grad) {
    // Formats differ: reorder the pieces in order into one f32 OIDHW sum,
    // then add that once, as above.
    const int64_t n = segc_tensor_numel(&layer->weight->grad);
    float *sum;
    SEGC_TRY(segc_arena_calloc(scratch, sizeof(float) * (size_t)n,
                               (void **)&sum));
    segc_status status = SEGC_OK;
    for (int i = 0; i < parts->count && status == SEGC_OK; ++i)
      status = add_to_master(backend, &pieces[i].key, partial_weights(parts, i),
                             sum);
    if (status == SEGC_OK) {
#pragma omp parallel for schedule(static) if (n > (1 << 16))
      for (int64_t e = 0; e < n; ++e) grad[e] += sum[e];
    }
    segc_arena_free(scratch, sum, sizeof(float) * (size_t)n);
    SEGC_TRY(status);
  }
  if (layer->bias && layer->bias->grad.data) {
    float *bias_grad = layer->bias->grad.data;
    for (int64_t c = 0; c < layer->config.out_channels; ++c) {
      float s = partial_bias(parts, 0)[c];
      for (int i = 1; i < parts->count; ++i) s += partial_bias(parts, i)[c];
      bias_grad[c] += s;
    }
  }
  return SEGC_OK;
}

segc_status conv3d_cpu_backward_weights(segc_backend_context *backend,
                                        segc_conv3d *layer,
                                        const segc_tensor *x,
                                        const segc_tensor *dy) {
  segc_arena *scratch = backend->scratch;
  const dnnl_data_type_t dtype = conv3d_dnnl_dtype(x->dtype);
  grad_piece pieces[MAX_PLANNED];
  int count = 1;
  if (deterministic) {
    count = plan_pieces(&layer->config, x->shape, dtype, pieces);
  } else {  // one call with every thread, whose split depends on them
    memset(&pieces[0], 0, sizeof pieces[0]);
    pieces[0].key = conv3d_make_key(CONV3D_BACKWARD_WEIGHTS, &layer->config,
                                    x->shape, dtype, dtype);
  }
  segc_dnnl_cached *convs[MAX_PLANNED];
  partials parts = {NULL, 0, 0, count};
  for (int i = 0; i < count; ++i) {
    SEGC_TRY(conv3d_primitive(&backend->dnnl, &pieces[i].key, &convs[i]));
    const size_t b = dnnl_memory_desc_get_size(
        conv3d_arg_desc(convs[i], DNNL_ARG_DIFF_WEIGHTS));
    if (b > parts.weight_bytes) parts.weight_bytes = round_up(b);
  }
  parts.slot_bytes = round_up(
      parts.weight_bytes +
      (layer->config.bias ? sizeof(float) * (size_t)layer->config.out_channels
                          : 0));
  const size_t total = parts.slot_bytes * (size_t)count;
  // oneDNN writes every slot whole (its padding included).
  SEGC_TRY(segc_arena_alloc(scratch, total, (void **)&parts.base));
  segc_status status;
  if (deterministic) {
    status = run_pieces(layer, x, dy, pieces, convs, &parts, backend);
  } else {
    conv3d_arg args[4] = {{DNNL_ARG_SRC, x->data},
                          {DNNL_ARG_DIFF_DST, dy->data},
                          {DNNL_ARG_DIFF_WEIGHTS, partial_weights(&parts, 0)},
                          {DNNL_ARG_DIFF_BIAS, partial_bias(&parts, 0)}};
    status = conv3d_run(backend, convs[0], args, layer->config.bias ? 4 : 3);
  }
  if (status == SEGC_OK)
    status = combine(layer, pieces, convs, &parts, backend);
  segc_arena_free(scratch, parts.base, total);
  return status;
}
