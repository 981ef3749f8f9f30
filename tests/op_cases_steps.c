// The op table's runners for the two steps around the network: AdamW over
// a flat f32 arena, and the sliding window's blend and argmax. Each runs on
// the case's backend and is compared with the CPU computing the same thing
// from the same host values: the kernels share their formulas
// (segc_adamw_element; segc_sw_pool_offset and segc_sw_argmax), so a
// backend agrees with the CPU to the bit (AdamW within a few ulp is
// accepted, reported in ulp; the labels must be equal).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor_ops.h"
#include "infer/sliding_window.h"
#include "op_cases.h"
#include "train/adamw.h"
#include "util/test_util.h"

static void note(op_report *r, const char *what, double value) {
  if (r->length < (int)sizeof r->text - 64)
    r->length += snprintf(r->text + r->length, sizeof r->text - r->length,
                          " %s %.3g", what, value);
}

// Distance in units in the last place of b.
static double ulps(float a, float b) {
  if (a == b) return 0.0;
  const double ulp = fmax(fabs(nextafterf(b, INFINITY) - b), 1e-45);
  return fabs((double)a - b) / ulp;
}

// ---- AdamW ---------------------------------------------------------------

enum { ADAMW_STEPS = 3 };

// On the backend: params, grads, m and v in its memory; three steps.
static segc_status adamw_on_backend(op_env *env, int64_t n, const float *p0,
                                    const float *const grads[ADAMW_STEPS],
                                    float *p, float *m, float *v) {
  const segc_shape flat = segc_shape5(1, 1, 1, 1, n);
  segc_tensor tp, tg, tm, tv;
  SEGC_TRY(op_env_tensor(env, p0, flat, SEGC_F32, SEGC_LAYOUT_NCDHW, &tp));
  SEGC_TRY(op_env_tensor(env, p0, flat, SEGC_F32, SEGC_LAYOUT_NCDHW, &tg));
  SEGC_TRY(op_env_tensor(env, p0, flat, SEGC_F32, SEGC_LAYOUT_NCDHW, &tm));
  SEGC_TRY(op_env_tensor(env, p0, flat, SEGC_F32, SEGC_LAYOUT_NCDHW, &tv));
  const segc_adamw_config config = segc_adamw_default();
  segc_adamw opt;
  SEGC_TRY(segc_adamw_init_on(&opt, &config, tm.data, tv.data, n,
                              env->backend->device));
  for (int t = 0; t < ADAMW_STEPS; ++t) {
    SEGC_TRY(op_copy(tg.data, grads[t], sizeof(float) * (size_t)n,
                     tg.device));
    SEGC_TRY(segc_adamw_step(&opt, tp.data, tg.data));
  }
  SEGC_TRY(op_read_f32(&tp, p));
  SEGC_TRY(op_read_f32(&tm, m));
  return op_read_f32(&tv, v);
}

segc_status op_run_adamw(op_env *env, const op_case *c, const char *label,
                         op_report *rep) {
  const int64_t n = segc_shape_numel(c->shape);
  float *p0 = op_f32(n);
  test_fill_uniform(p0, n, -2.0f, 2.0f, 51);
  const float *grads[ADAMW_STEPS];
  for (int t = 0; t < ADAMW_STEPS; ++t) {
    float *g = op_f32(n);
    test_fill_uniform(g, n, -1.0f, 1.0f, 52 + (uint64_t)t);
    grads[t] = g;
  }
  float *p = op_f32(n), *m = op_f32(n), *v = op_f32(n);
  SEGC_TRY(adamw_on_backend(env, n, p0, grads, p, m, v));
  // The CPU on host copies.
  float *cp = op_f32(n), *cm = op_f32(n), *cv = op_f32(n);
  memcpy(cp, p0, sizeof(float) * (size_t)n);
  const segc_adamw_config config = segc_adamw_default();
  segc_adamw cpu;
  SEGC_TRY(segc_adamw_init(&cpu, &config, cm, cv, n));
  for (int t = 0; t < ADAMW_STEPS; ++t)
    SEGC_TRY(segc_adamw_step(&cpu, cp, grads[t]));
  double worst = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    worst = fmax(worst, ulps(p[i], cp[i]));
    worst = fmax(worst, ulps(m[i], cm[i]));
    worst = fmax(worst, ulps(v[i], cv[i]));
  }
  CHECK(worst <= 4.0, "%s: params/m/v %.3g ulp from the CPU's", label, worst);
  note(rep, "ulp vs cpu", worst);
  return SEGC_OK;
}

// ---- sliding window ------------------------------------------------------

// A stand-in network: logits from the window's values (read to the host),
// written in the case's dtype to memory of the backend's device.
typedef struct {
  op_env *env;  // NULL: the CPU run (host memory)
  segc_dtype dtype;
  int64_t classes;
  void *logits;  // (B, K, roi) NDHWC on the device
  float *host_in, *host_out;
  void *converted;
} window_net;

static segc_status window_predict(void *context, const segc_tensor *windows,
                                  segc_tensor *logits) {
  window_net *net = context;
  const segc_shape s = windows->shape;
  const int64_t voxels = s.n * s.d * s.h * s.w, K = net->classes;
  SEGC_TRY(op_read_f32(windows, net->host_in));
  for (int64_t v = 0; v < voxels; ++v)
    for (int64_t k = 0; k < K; ++k) {
      const int64_t within = v % (s.d * s.h * s.w);
      net->host_out[v * K + k] =
          sinf(0.41f * (float)k + 0.013f * net->host_in[v]) +
          0.03f * (float)k * cosf(0.07f * (float)within);
    }
  const size_t count = (size_t)(voxels * K);
  segc_convert(net->host_out, SEGC_F32, net->converted, net->dtype, count);
  SEGC_TRY(op_copy(net->logits, net->converted,
                   count * segc_dtype_size(net->dtype), windows->device));
  *logits = segc_tensor_view(net->logits, segc_shape5(s.n, K, s.d, s.h, s.w),
                             net->dtype, SEGC_LAYOUT_NDHWC, windows->device);
  return SEGC_OK;
}

// Labels of `image` with the window net on `device` (env's arenas for a
// device other than the CPU).
static segc_status window_labels(op_env *env, const op_case *c,
                                 segc_device device, const segc_volume *image,
                                 segc_volume *labels) {
  segc_sw_config cfg = segc_sw_default(c->shape.c);
  cfg.roi[0] = cfg.roi[1] = cfg.roi[2] = c->roi;
  cfg.sw_batch_size = c->sw_batch;
  size_t bytes;
  SEGC_TRY(segc_sw_scratch_bytes(&cfg, image->dim, &bytes));
  const int64_t batch_voxels = (int64_t)c->sw_batch * c->roi * c->roi * c->roi;
  window_net net = {env, c->dtype, c->shape.c, NULL, op_f32(batch_voxels),
                    op_f32(batch_voxels * c->shape.c),
                    op_bytes(sizeof(float) * (size_t)(batch_voxels *
                                                      c->shape.c))};
  const segc_shape logits_shape =
      segc_shape5(c->sw_batch, c->shape.c, c->roi, c->roi, c->roi);
  memset(net.converted, 0, sizeof(float) * (size_t)(batch_voxels * c->shape.c));
  if (device == SEGC_DEVICE_CPU) {  // the reference: host memory throughout
    net.logits =
        op_bytes(sizeof(float) * (size_t)segc_shape_numel(logits_shape));
  } else {
    segc_tensor logits;
    SEGC_TRY(op_env_tensor(env, net.converted, logits_shape, c->dtype,
                           SEGC_LAYOUT_NDHWC, &logits));
    net.logits = logits.data;
  }
  segc_arena scratch;
  SEGC_TRY(segc_arena_init(&scratch, "window scratch", bytes + (1 << 20),
                           device));
  const segc_status status = segc_sliding_window_argmax(
      &cfg, window_predict, &net, image, &scratch, labels, NULL);
  segc_arena_destroy(&scratch);
  return status;
}

segc_status op_run_sliding_window(op_env *env, const op_case *c,
                                  const char *label, op_report *rep) {
  const int64_t dim[3] = {c->shape.d, c->shape.h, c->shape.w};
  const int64_t n = dim[0] * dim[1] * dim[2];
  segc_volume image, got, want;
  memset(&got, 0, sizeof got);
  memset(&want, 0, sizeof want);
  SEGC_TRY(segc_volume_alloc(&image, SEGC_F32, dim));
  test_fill_uniform(image.data, n, -100.0f, 100.0f, 61);
  segc_status status =
      window_labels(env, c, env->backend->device, &image, &got);
  if (status == SEGC_OK)
    status = window_labels(env, c, SEGC_DEVICE_CPU, &image, &want);
  if (status == SEGC_OK) {
    int64_t differ = 0;
    for (int64_t i = 0; i < n; ++i)
      differ += ((const uint8_t *)got.data)[i] !=
                ((const uint8_t *)want.data)[i];
    CHECK(differ == 0, "%s: %lld of %lld labels differ from the CPU's", label,
          (long long)differ, (long long)n);
    note(rep, "labels differing", (double)differ);
  }
  segc_volume_free(&got);
  segc_volume_free(&want);
  segc_volume_free(&image);
  return status;
}
