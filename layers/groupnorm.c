// GroupNorm(+ReLU): argument checks, the statistics, the tape entry, the
// recompute of the output and the backward. The loops are kernels chosen by
// the input's device (groupnorm_kernels.h: groupnorm_cpu.c), channels-last;
// NCDHW tensors go through a channels-last copy in scratch, so both layouts
// give the same numbers.
#include "layers/groupnorm.h"

#include <math.h>

#include "core/backend.h"
#include "layers/groupnorm_kernels.h"
#include "layers/op_common.h"

static const char *const op_name = "groupnorm";

static const segc_gn_kernels *const kernels_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&segc_gn_cpu_kernels, NULL);

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
                               int64_t channels) {
  if (!p) return SEGC_OK;
  if (!p->value.data || p->value.dtype != SEGC_F32)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: %s must be an f32 tensor with data",
                     op_name, what);
  SEGC_TRY(segc_backend_require(op_name, p->value.device, p->value.dtype));
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
  SEGC_TRY(check_param(layer->gamma, "gamma (weight)", channels));
  return check_param(layer->beta, "beta (bias)", channels);
}

static float param_at(const segc_param *p, int64_t c, float absent) {
  return p ? ((const float *)p->value.data)[c] : absent;
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

// Mean and 1/sqrt(var + eps) per (sample, group) from the chunk sums, and the
// per-channel affine map they give. Chunks are combined in chunk order, the
// channels of a chunk in channel order: the same sums for any thread count.
static void finish_statistics(const double *partial, segc_shape s,
                              const segc_groupnorm *layer, gn_saved *st) {
  const int64_t chunks = segc_gn_chunk_count(s);
  const int64_t per_group = s.c / layer->groups;
  const double count = (double)(per_group * segc_shape_spatial(s));
  for (int64_t n = 0; n < s.n; ++n) {
    for (int64_t g = 0; g < layer->groups; ++g) {
      double sum = 0.0, sumsq = 0.0;
      for (int64_t k = 0; k < chunks; ++k) {
        double chunk_sum = 0.0, chunk_sumsq = 0.0;
        for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
          const double *p = partial + ((n * s.c + c) * chunks + k) * 2;
          chunk_sum += p[0];
          chunk_sumsq += p[1];
        }
        sum += chunk_sum;
        sumsq += chunk_sumsq;
      }
      const double mean = sum / count;
      double var = sumsq / count - mean * mean;  // population variance
      if (var < 0.0) var = 0.0;                  // rounding on a constant group
      const double rstd = 1.0 / sqrt(var + (double)layer->eps);
      st->mean[n * layer->groups + g] = mean;
      st->rstd[n * layer->groups + g] = rstd;
      for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
        const double scale = param_at(layer->gamma, c, 1.0f) * rstd;
        st->scale[n * s.c + c] = (float)scale;
        st->shift[n * s.c + c] =
            (float)(param_at(layer->beta, c, 0.0f) - mean * scale);
      }
    }
  }
}

static segc_gn_affine affine_of(const gn_saved *st) {
  segc_gn_affine a = {st->scale, st->shift, st->relu};
  return a;
}

// y = [relu](x * scale + shift) in y's layout, from x (any layout).
static segc_status apply_affine(segc_op_scratch *scratch, const gn_saved *st,
                                const segc_tensor *x, segc_tensor *y) {
  const bool bf16 = x->dtype == SEGC_BF16;
  if (x->layout == SEGC_LAYOUT_NDHWC) {
    st->kernels->apply(x->data, y->data, bf16, x->shape, affine_of(st));
    return SEGC_OK;
  }
  segc_tensor xt;
  SEGC_TRY(channels_last(scratch, x, &xt));
  st->kernels->apply(xt.data, xt.data, bf16, x->shape, affine_of(st));
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
  segc_op_scratch_init(&scratch, graph->scratch);
  segc_status status = apply_affine(&scratch, st, &st->x->data, &out->data);
  segc_op_scratch_release(&scratch);
  return status;
}

// Per (sample, channel) sums of dz and dz * (x - mean) combined over chunks
// in chunk order; then the parameter gradients (summed over samples in order)
// and the input-gradient map.
// `coefs` receives the map's four (N, C) arrays one after the other.
static void finish_gradient(const double *partial, const gn_saved *st,
                            segc_shape s, double *sum_dz, double *sum_dz_xc,
                            float *coefs) {
  const int64_t chunks = segc_gn_chunk_count(s);
  for (int64_t nc = 0; nc < s.n * s.c; ++nc) {
    double a = 0.0, b = 0.0;
    for (int64_t k = 0; k < chunks; ++k) {
      a += partial[(nc * chunks + k) * 2];
      b += partial[(nc * chunks + k) * 2 + 1];
    }
    sum_dz[nc] = a;
    sum_dz_xc[nc] = b;
  }
  const int64_t per_group = s.c / st->groups;
  const double count = (double)(per_group * segc_shape_spatial(s));
  const int64_t nc_count = s.n * s.c;
  float *dz_scale = coefs, *x_scale = coefs + nc_count;
  float *center = coefs + 2 * nc_count, *offset = coefs + 3 * nc_count;
  for (int64_t n = 0; n < s.n; ++n) {
    for (int64_t g = 0; g < st->groups; ++g) {
      const double mean = st->mean[n * st->groups + g];
      const double rstd = st->rstd[n * st->groups + g];
      // sum(gamma * dz) and sum(gamma * dz * xhat) over the group.
      double gdz = 0.0, gdz_xhat = 0.0;
      for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
        const double gamma = param_at(st->gamma, c, 1.0f);
        gdz += gamma * sum_dz[n * s.c + c];
        gdz_xhat += gamma * sum_dz_xc[n * s.c + c] * rstd;
      }
      // dx = rstd * (gamma dz - mean(gamma dz) - xhat mean(gamma dz xhat)).
      for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
        const int64_t nc = n * s.c + c;
        dz_scale[nc] = (float)(param_at(st->gamma, c, 1.0f) * rstd);
        x_scale[nc] = (float)(-rstd * rstd * gdz_xhat / count);
        center[nc] = (float)mean;
        offset[nc] = (float)(-rstd * gdz / count);
      }
    }
  }
}

static void accumulate_param_grads(const gn_saved *st, segc_shape s,
                                   const double *sum_dz,
                                   const double *sum_dz_xc) {
  for (int64_t c = 0; c < s.c; ++c) {
    double dgamma = 0.0, dbeta = 0.0;
    for (int64_t n = 0; n < s.n; ++n) {
      const double rstd = st->rstd[n * st->groups + c / (s.c / st->groups)];
      dgamma += sum_dz_xc[n * s.c + c] * rstd;
      dbeta += sum_dz[n * s.c + c];
    }
    if (param_trains(st->gamma))
      ((float *)st->gamma->grad.data)[c] += (float)dgamma;
    if (param_trains(st->beta))
      ((float *)st->beta->grad.data)[c] += (float)dbeta;
  }
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

  const int64_t nc = s.n * s.c, chunks = segc_gn_chunk_count(s);
  double *partial, *mean_c, *sums;
  float *coefs;
  SEGC_TRY(segc_op_scratch_take(
      scratch, sizeof(double) * (size_t)(nc * chunks * 2), (void **)&partial));
  SEGC_TRY(segc_op_scratch_take(scratch, sizeof(double) * (size_t)nc * 3,
                                (void **)&mean_c));
  SEGC_TRY(segc_op_scratch_take(scratch, sizeof(float) * (size_t)nc * 4,
                                (void **)&coefs));
  sums = mean_c + nc;
  const int64_t per_group = s.c / st->groups;
  for (int64_t i = 0; i < nc; ++i)  // each channel's group mean
    mean_c[i] = st->mean[(i / s.c) * st->groups + (i % s.c) / per_group];

  st->kernels->grad_sums(xt.data, dyt.data, bf16, s, affine_of(st), mean_c,
                         partial);
  finish_gradient(partial, st, s, sums, sums + nc, coefs);
  const segc_gn_grad_map map = {coefs, coefs + nc, coefs + 2 * nc,
                                coefs + 3 * nc};
  accumulate_param_grads(st, s, sums, sums + nc);
  if (!st->x->requires_grad) return SEGC_OK;

  if (st->x->data.layout == SEGC_LAYOUT_NDHWC) {
    segc_tensor dx;
    bool accumulate;
    SEGC_TRY(segc_value_grad_target(graph, st->x, &dx, &accumulate));
    st->kernels->grad_input(xt.data, dyt.data, dx.data, bf16, s, affine_of(st),
                            map, accumulate);
    return SEGC_OK;
  }
  // NCDHW: dx channels-last over the transposed copy of x (each element is
  // read before it is overwritten), then back to NCDHW and into the gradient.
  st->kernels->grad_input(xt.data, dyt.data, xt.data, bf16, s, affine_of(st),
                          map, false);
  segc_tensor contribution;
  SEGC_TRY(segc_op_scratch_tensor(scratch, s, xt.dtype, SEGC_LAYOUT_NCDHW,
                                  &contribution));
  SEGC_TRY(segc_tensor_copy(&xt, &contribution));
  return segc_value_grad_add(graph, st->x, &contribution);
}

static segc_status gn_backward(segc_graph *graph, void *saved) {
  segc_op_scratch scratch;
  segc_op_scratch_init(&scratch, graph->scratch);
  segc_status status = backward_with(graph, &scratch, saved);
  segc_op_scratch_release(&scratch);
  return status;
}

// Statistics, output and (in training) the tape entry; `scratch` holds the
// temporaries, released by the caller.
static segc_status forward_with(segc_graph *graph, segc_op_scratch *scratch,
                                const segc_groupnorm *layer, segc_value *x,
                                segc_value **y) {
  const segc_shape s = x->data.shape;
  const bool record =
      graph->training && (x->requires_grad || param_trains(layer->gamma) ||
                          param_trains(layer->beta));
  // The statistics live with the tape entry in training, else in scratch.
  gn_saved local = {0}, *st = &local;
  const size_t stat_bytes = sizeof(double) * (size_t)(s.n * layer->groups) * 2 +
                            sizeof(float) * (size_t)(s.n * s.c) * 2;
  void *stats;
  if (record) {
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
  st->kernels->sums(xt.data, x->data.dtype == SEGC_BF16, s, partial);
  finish_statistics(partial, s, layer, st);

  SEGC_TRY(
      segc_graph_new_value(graph, s, x->data.dtype, x->data.layout, record, y));
  SEGC_TRY(apply_affine(scratch, st, &x->data, &(*y)->data));
  if (!record) return SEGC_OK;

  // The tape holds x only; y is rebuilt from x when a backward needs it.
  // Not when x is itself rebuilt on demand: x may be gone when y is needed.
  st->y = *y;
  if (!x->recompute) {
    (*y)->recompute = gn_recompute;
    (*y)->recompute_saved = st;
  }
  return segc_graph_record(graph, op_name, gn_backward, st, y, 1, &x, 1);
}

segc_status segc_groupnorm_forward(segc_graph *graph,
                                   const segc_groupnorm *layer, segc_value *x,
                                   segc_value **y) {
  *y = NULL;
  SEGC_TRY(segc_op_check_graph(op_name, graph));
  SEGC_TRY(segc_op_check_input(op_name, "x", x));
  SEGC_TRY(check_layer(layer, x));
  segc_op_scratch scratch;
  segc_op_scratch_init(&scratch, graph->scratch);
  segc_status status = forward_with(graph, &scratch, layer, x, y);
  segc_op_scratch_release(&scratch);
  if (status != SEGC_OK && *y) {
    segc_value_release(graph, *y);
    *y = NULL;
  }
  return status;
}
