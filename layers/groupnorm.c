// GroupNorm(+ReLU): argument checks, the tape entry, the recompute of the
// output and the backward's bookkeeping. All arithmetic (the passes, the
// statistics, the gradient maps, the parameter gradients) is in kernels
// chosen by the input's device (groupnorm_kernels.h: groupnorm_cpu.c,
// groupnorm_cuda.cu),
// channels-last; NCDHW tensors go through a channels-last copy in scratch,
// so both layouts give the same numbers.
#include "layers/groupnorm.h"

#include <math.h>

#include "core/backend.h"
#include "layers/groupnorm_kernels.h"
#include "layers/op_common.h"

static const char *const op_name = "groupnorm";

#ifdef SEGC_HAVE_CUDA
static const segc_gn_kernels *const kernels_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&segc_gn_cpu_kernels, &segc_gn_cuda_kernels);
#else
static const segc_gn_kernels *const kernels_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&segc_gn_cpu_kernels, NULL);
#endif

// What backward and recompute need; lives in the graph's metadata arena.
typedef struct {
  segc_value *x, *y;
  segc_param *gamma, *beta;  // NULL when not affine
  int groups;
  bool relu;
  double *mean, *rstd;   // (N, G)
  float *scale, *shift;  // (N, C): y = [relu](x * scale + shift)
  const segc_gn_kernels *kernels;  // x's device
} gn_saved;

static segc_status check_param(const segc_param *p, const char *what,
                               int64_t channels, segc_device device) {
  if (!p) return SEGC_OK;
  if (!p->value.data || p->value.dtype != SEGC_F32)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: %s must be an f32 tensor with data",
                     op_name, what);
  SEGC_TRY(segc_backend_require(op_name, p->value.device, p->value.dtype));
  // The kernels of x's device read the parameters and write their gradients.
  if (p->value.device != device || (p->grad.data && p->grad.device != device))
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: %s is not on x's device (%s)",
                     op_name, what, segc_device_name(device));
  char got[96];
  if (segc_tensor_numel(&p->value) != channels)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s: %s has shape %s, expected %lld channels", op_name,
                     what, segc_shape_str(p->value.shape, got, sizeof got),
                     (long long)channels);
  if (p->grad.data &&
      (p->grad.dtype != SEGC_F32 || segc_tensor_numel(&p->grad) != channels))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s: %s's gradient must be f32 with %lld values", op_name,
                     what, (long long)channels);
  return SEGC_OK;
}

static segc_status check_layer(const segc_groupnorm *layer,
                               const segc_value *x) {
  if (!layer) return SEGC_FAIL(SEGC_ERR_INVALID, "%s: layer is NULL", op_name);
  const int64_t channels = x->data.shape.c;
  if (layer->groups <= 0 || channels % layer->groups != 0)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s: %lld channels do not split into %d groups", op_name,
                     (long long)channels, layer->groups);
  if (!(layer->eps >= 0.0f) || isinf(layer->eps))
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: eps %g must be finite and >= 0",
                     op_name, (double)layer->eps);
  const segc_device device = x->data.device;
  SEGC_TRY(check_param(layer->gamma, "gamma (weight)", channels, device));
  return check_param(layer->beta, "beta (bias)", channels, device);
}

// The parameter's values and gradient (NULL when absent, or not trained).
static const float *param_values(const segc_param *p) {
  return p ? p->value.data : NULL;
}
static float *param_grad(const segc_param *p) {
  return p && p->grad.data ? p->grad.data : NULL;
}

static bool param_trains(const segc_param *p) { return p && p->grad.data; }

// A channels-last view of t: t itself, or a transposed copy in scratch.
static segc_status channels_last(segc_op_scratch *scratch, const segc_tensor *t,
                                 segc_tensor *out) {
  if (t->layout == SEGC_LAYOUT_NDHWC) {
    *out = *t;
    return SEGC_OK;
  }
  SEGC_TRY(segc_op_scratch_tensor(scratch, t->shape, t->dtype,
                                  SEGC_LAYOUT_NDHWC, out));
  return segc_tensor_copy(t, out);
}

static segc_gn_affine affine_of(const gn_saved *st) {
  segc_gn_affine a = {st->scale, st->shift, st->relu};
  return a;
}

// y = [relu](x * scale + shift) in y's layout, from x (any layout).
static segc_status apply_affine(segc_op_scratch *scratch, const gn_saved *st,
                                const segc_tensor *x, segc_tensor *y) {
  const bool bf16 = x->dtype == SEGC_BF16;
  if (x->layout == SEGC_LAYOUT_NDHWC)
    return st->kernels->apply(x->data, y->data, bf16, x->shape,
                              affine_of(st));
  segc_tensor xt;
  SEGC_TRY(channels_last(scratch, x, &xt));
  SEGC_TRY(
      st->kernels->apply(xt.data, xt.data, bf16, x->shape, affine_of(st)));
  return segc_tensor_copy(&xt, y);
}

// Rebuilds the output from x and the saved statistics: the same kernel on the
// same numbers, so the result equals the forward output bit for bit.
static segc_status gn_recompute(segc_graph *graph, void *saved,
                                segc_value *out) {
  const gn_saved *st = saved;
  if (!st->x->data.data)
    return SEGC_FAIL(SEGC_ERR_INTERNAL,
                     "%s recompute: the input's data was freed", op_name);
  segc_op_scratch scratch;
  segc_op_scratch_init(&scratch, graph->backend->scratch);
  segc_status status = apply_affine(&scratch, st, &st->x->data, &out->data);
  segc_op_scratch_release(&scratch);
  return status;
}

static segc_status backward_with(segc_graph *graph, segc_op_scratch *scratch,
                                 const gn_saved *st) {
  const segc_tensor *dy = &st->y->grad;
  const segc_shape s = st->x->data.shape;
  const bool bf16 = st->x->data.dtype == SEGC_BF16;
  if (!dy->data || dy->dtype != st->x->data.dtype ||
      dy->layout != st->x->data.layout)
    return SEGC_FAIL(SEGC_ERR_INTERNAL,
                     "%s backward: missing or mismatched output gradient",
                     op_name);
  segc_tensor xt, dyt;
  SEGC_TRY(channels_last(scratch, &st->x->data, &xt));
  SEGC_TRY(channels_last(scratch, dy, &dyt));

  // Per (sample, channel) sums, the input-gradient map and the parameter
  // gradients, all computed by the kernels of x's device.
  const int64_t nc = s.n * s.c, chunks = segc_gn_chunk_count(s);
  double *partial, *sums;
  float *coefs;
  SEGC_TRY(segc_op_scratch_take(
      scratch, sizeof(double) * (size_t)(nc * chunks * 2), (void **)&partial));
  SEGC_TRY(segc_op_scratch_take(scratch, sizeof(double) * (size_t)nc * 2,
                                (void **)&sums));
  SEGC_TRY(segc_op_scratch_take(scratch, sizeof(float) * (size_t)nc * 4,
                                (void **)&coefs));
  SEGC_TRY(st->kernels->grad_sums(xt.data, dyt.data, bf16, s, affine_of(st),
                                  st->groups, st->mean, partial));
  SEGC_TRY(st->kernels->grad_finish(partial, s, st->groups, st->mean,
                                    st->rstd, param_values(st->gamma), sums,
                                    coefs, param_grad(st->gamma),
                                    param_grad(st->beta)));
  const segc_gn_grad_map map = {coefs, coefs + nc, coefs + 2 * nc,
                                coefs + 3 * nc};
  if (!st->x->requires_grad) return SEGC_OK;

  if (st->x->data.layout == SEGC_LAYOUT_NDHWC) {
    segc_tensor dx;
    bool accumulate;
    SEGC_TRY(segc_value_grad_target(graph, st->x, &dx, &accumulate));
    return st->kernels->grad_input(xt.data, dyt.data, dx.data, bf16, s,
                                   affine_of(st), map, accumulate);
  }
  // NCDHW: dx channels-last over the transposed copy of x (each element is
  // read before it is overwritten), then back to NCDHW and into the gradient.
  SEGC_TRY(st->kernels->grad_input(xt.data, dyt.data, xt.data, bf16, s,
                                   affine_of(st), map, false));
  segc_tensor contribution;
  SEGC_TRY(segc_op_scratch_tensor(scratch, s, xt.dtype, SEGC_LAYOUT_NCDHW,
                                  &contribution));
  SEGC_TRY(segc_tensor_copy(&xt, &contribution));
  return segc_value_grad_add(graph, st->x, &contribution);
}

static segc_status gn_backward(segc_graph *graph, void *saved) {
  segc_op_scratch scratch;
  segc_op_scratch_init(&scratch, graph->backend->scratch);
  segc_status status = backward_with(graph, &scratch, saved);
  segc_op_scratch_release(&scratch);
  return status;
}

// Statistics, output and (in training) the tape entry; `scratch` holds the
// temporaries, released by the caller, and so is *stats_value (a value the
// tape holds, when there is one).
static segc_status forward_with(segc_graph *graph, segc_op_scratch *scratch,
                                const segc_groupnorm *layer, segc_value *x,
                                segc_value **y, segc_value **stats_value) {
  const segc_shape s = x->data.shape;
  const bool record =
      graph->training && (x->requires_grad || param_trains(layer->gamma) ||
                          param_trains(layer->beta));
  // The statistics live with the tape entry in training (host memory on the
  // CPU; on a device, a value in the activation arena that the tape holds),
  // else in scratch.
  gn_saved local = {0}, *st = &local;
  const size_t stat_bytes = sizeof(double) * (size_t)(s.n * layer->groups) * 2 +
                            sizeof(float) * (size_t)(s.n * s.c) * 2;
  void *stats;
  if (record && x->data.device != SEGC_DEVICE_CPU) {
    SEGC_TRY(segc_graph_alloc_saved(graph, sizeof *st, (void **)&st));
    const int64_t floats = (int64_t)((stat_bytes + 3) / 4);
    SEGC_TRY(segc_graph_new_value(graph, segc_shape5(1, 1, 1, 1, floats),
                                  SEGC_F32, SEGC_LAYOUT_NCDHW, false,
                                  stats_value));
    stats = (*stats_value)->data.data;
  } else if (record) {
    SEGC_TRY(segc_graph_alloc_saved(graph, sizeof *st, (void **)&st));
    SEGC_TRY(segc_graph_alloc_saved(graph, stat_bytes, &stats));
  } else {
    SEGC_TRY(segc_op_scratch_take(scratch, stat_bytes, &stats));
  }
  st->x = x;
  st->gamma = layer->gamma;
  st->beta = layer->beta;
  st->groups = layer->groups;
  st->relu = layer->relu;
  st->kernels = kernels_by_device[x->data.device];
  st->mean = stats;
  st->rstd = st->mean + s.n * layer->groups;
  st->scale = (float *)(st->rstd + s.n * layer->groups);
  st->shift = st->scale + s.n * s.c;

  segc_tensor xt;
  SEGC_TRY(channels_last(scratch, &x->data, &xt));
  double *partial;
  SEGC_TRY(segc_op_scratch_take(
      scratch,
      sizeof(double) * (size_t)(s.n * s.c * segc_gn_chunk_count(s)) * 2,
      (void **)&partial));
  SEGC_TRY(st->kernels->sums(xt.data, x->data.dtype == SEGC_BF16, s, partial));
  SEGC_TRY(st->kernels->statistics(
      partial, s, layer->groups, layer->eps, param_values(layer->gamma),
      param_values(layer->beta), st->mean, st->rstd, st->scale, st->shift));

  SEGC_TRY(
      segc_graph_new_value(graph, s, x->data.dtype, x->data.layout, record, y));
  SEGC_TRY(apply_affine(scratch, st, &x->data, &(*y)->data));
  if (!record) return SEGC_OK;
  // Its backward writes the parameters' gradients (data-parallel buckets
  // start once they are final).
  const segc_param *const params[2] = {layer->gamma, layer->beta};
  for (int i = 0; i < 2; ++i)
    if (param_trains(params[i]))
      SEGC_TRY(segc_graph_use_param(graph, params[i]->grad.data,
                                    segc_tensor_bytes(&params[i]->grad)));

  // The tape holds x only; y is rebuilt from x when a backward needs it.
  // Not when x is itself rebuilt on demand: x may be gone when y is needed.
  st->y = *y;
  if (!x->recompute) {
    (*y)->recompute = gn_recompute;
    (*y)->recompute_saved = st;
  }
  segc_value *held[2] = {x, *stats_value};
  return segc_graph_record(graph, op_name, gn_backward, st, y, 1, held,
                           *stats_value ? 2 : 1);
}

segc_status segc_groupnorm_forward(segc_graph *graph,
                                   const segc_groupnorm *layer, segc_value *x,
                                   segc_value **y) {
  *y = NULL;
  SEGC_TRY(segc_op_check_graph(op_name, graph));
  SEGC_TRY(segc_op_check_input(op_name, "x", x));
  SEGC_TRY(segc_op_check_on_graph(op_name, "x", graph, x));
  SEGC_TRY(check_layer(layer, x));
  segc_op_scratch scratch;
  segc_op_scratch_init(&scratch, graph->backend->scratch);
  segc_value *stats_value = NULL;
  segc_status status = forward_with(graph, &scratch, layer, x, y, &stats_value);
  segc_op_scratch_release(&scratch);
  if (stats_value) segc_value_release(graph, stats_value);  // the tape's now
  if (status != SEGC_OK && *y) {
    segc_value_release(graph, *y);
    *y = NULL;
  }
  return status;
}
