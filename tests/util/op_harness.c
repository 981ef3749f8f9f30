#include "util/op_harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cuda_runtime.h"

static bool cpu_available(char *why, size_t size) {
  (void)why, (void)size;
  return true;
}

static bool cuda_available(char *why, size_t size) {
  int devices = 0;
  if (segc_cuda_device_count(&devices) != SEGC_OK) {
    snprintf(why, size, "%s", segc_error_message());
    return false;
  }
  if (devices == 0) {
    snprintf(why, size, "built with CUDA, but no CUDA device here");
    return false;
  }
  return true;
}

const op_backend op_backends[] = {
    {"cpu", SEGC_DEVICE_CPU, cpu_available},
    {"cuda", SEGC_DEVICE_CUDA, cuda_available},
};
const int op_backend_count = (int)(sizeof op_backends / sizeof op_backends[0]);

const op_backend *op_backend_named(const char *name) {
  for (int i = 0; i < op_backend_count; ++i)
    if (!strcmp(op_backends[i].name, name)) return &op_backends[i];
  return NULL;
}

segc_status op_env_open(op_env *env, const op_backend *backend,
                        size_t activation_mb, size_t scratch_mb) {
  memset(env, 0, sizeof *env);
  env->backend = backend;
  SEGC_TRY(segc_arena_init(&env->activations, "test activations",
                           activation_mb << 20, backend->device));
  SEGC_TRY(segc_arena_init(&env->scratch, "test scratch", scratch_mb << 20,
                           backend->device));
  SEGC_TRY(segc_arena_init(&env->inputs, "test inputs", activation_mb << 20,
                           backend->device));
  SEGC_TRY(segc_backend_context_init(&env->context, backend->device,
                                     &env->scratch));
  return segc_graph_init(&env->graph, &env->context, &env->activations,
                         1 << 20);
}

void op_env_close(op_env *env) {
  segc_graph_destroy(&env->graph);
  segc_backend_context_destroy(&env->context);
  segc_arena_destroy(&env->activations);
  segc_arena_destroy(&env->scratch);
  segc_arena_destroy(&env->inputs);
}

segc_status op_copy(void *dst, const void *src, size_t bytes,
                    segc_device device) {
  if (device == SEGC_DEVICE_CPU) {
    memcpy(dst, src, bytes);
    return SEGC_OK;
  }
  return segc_cuda_copy(dst, src, bytes);  // direction from the pointers
}

static void *host_buffer(size_t bytes) {
  void *p = malloc(bytes > 0 ? bytes : 1);
  if (!p) {
    fprintf(stderr, "op harness: out of memory\n");
    exit(1);
  }
  return p;
}

// `values` (f32) converted to `dtype` on the host, then copied to `dst`.
static segc_status upload_converted(void *dst, segc_device device,
                                    const float *values, segc_dtype dtype,
                                    int64_t count) {
  const size_t bytes = (size_t)count * segc_dtype_size(dtype);
  void *host = host_buffer(bytes);
  segc_convert(values, SEGC_F32, host, dtype, (size_t)count);
  const segc_status status = op_copy(dst, host, bytes, device);
  free(host);
  return status;
}

segc_status op_value(segc_graph *graph, const float *values, segc_shape shape,
                     segc_dtype dtype, segc_layout layout, bool requires_grad,
                     segc_value **out) {
  SEGC_TRY(segc_graph_new_value(graph, shape, dtype, layout, requires_grad,
                                out));
  return upload_converted((*out)->data.data, (*out)->data.device, values,
                          dtype, segc_shape_numel(shape));
}

segc_status op_env_tensor(op_env *env, const void *data, segc_shape shape,
                          segc_dtype dtype, segc_layout layout,
                          segc_tensor *out) {
  SEGC_TRY(segc_arena_tensor(&env->inputs, shape, dtype, layout, out));
  return op_copy(out->data, data, segc_tensor_bytes(out), out->device);
}

segc_status op_env_param(op_env *env, const char *name, const float *values,
                         segc_shape shape, segc_param *out) {
  memset(out, 0, sizeof *out);
  snprintf(out->name, sizeof out->name, "%s", name);
  SEGC_TRY(op_env_tensor(env, values, shape, SEGC_F32, SEGC_LAYOUT_NCDHW,
                         &out->value));
  float *zeros = op_f32(segc_shape_numel(shape));
  memset(zeros, 0, sizeof(float) * (size_t)segc_shape_numel(shape));
  return op_env_tensor(env, zeros, shape, SEGC_F32, SEGC_LAYOUT_NCDHW,
                       &out->grad);
}

segc_status op_read_f32(const segc_tensor *t, float *out) {
  const size_t bytes = segc_tensor_bytes(t);
  void *host = host_buffer(bytes);
  segc_status status = op_copy(host, t->data, bytes, t->device);
  if (status == SEGC_OK)
    segc_convert(host, t->dtype, out, SEGC_F32, (size_t)segc_tensor_numel(t));
  free(host);
  return status;
}

typedef struct {
  segc_value *loss, *y[OP_SEED_MAX];
  const float *r[OP_SEED_MAX];
  int count;
} seed_saved;

// gy (+)= dloss * r, through a host copy of gy.
static segc_status seed_one(segc_graph *graph, segc_value *y, const float *r,
                            float dloss) {
  segc_tensor gy;
  bool accumulate;
  SEGC_TRY(segc_value_grad_target(graph, y, &gy, &accumulate));
  const int64_t n = segc_tensor_numel(&gy);
  float *g = host_buffer(sizeof(float) * (size_t)n);
  segc_status status = accumulate ? op_read_f32(&gy, g) : SEGC_OK;
  for (int64_t i = 0; i < n && status == SEGC_OK; ++i)
    g[i] = (accumulate ? g[i] : 0.0f) + r[i] * dloss;
  if (status == SEGC_OK)
    status = upload_converted(gy.data, gy.device, g, gy.dtype, n);
  free(g);
  return status;
}

static segc_status seed_backward(segc_graph *graph, void *saved) {
  seed_saved *s = saved;
  float dloss;
  SEGC_TRY(op_read_f32(&s->loss->grad, &dloss));
  for (int k = 0; k < s->count; ++k)
    SEGC_TRY(seed_one(graph, s->y[k], s->r[k], dloss));
  return SEGC_OK;
}

segc_status op_seed_losses(segc_graph *graph, int count, segc_value *const *y,
                           const float *const *r, segc_value **loss) {
  if (count < 1 || count > OP_SEED_MAX)
    return SEGC_FAIL(SEGC_ERR_INVALID, "op_seed_losses: %d outputs (1..%d)",
                     count, OP_SEED_MAX);
  bool requires_grad = false;
  double total = 0.0;
  for (int k = 0; k < count; ++k) {
    requires_grad |= y[k]->requires_grad;
    const int64_t n = segc_tensor_numel(&y[k]->data);
    float *v = host_buffer(sizeof(float) * (size_t)n);
    const segc_status status = op_read_f32(&y[k]->data, v);
    for (int64_t i = 0; i < n && status == SEGC_OK; ++i)
      total += (double)r[k][i] * v[i];
    free(v);
    SEGC_TRY(status);
  }
  SEGC_TRY(segc_graph_new_value(graph, segc_shape5(1, 1, 1, 1, 1), SEGC_F32,
                                SEGC_LAYOUT_NCDHW, requires_grad, loss));
  const float value = (float)total;
  SEGC_TRY(op_copy((*loss)->data.data, &value, sizeof value,
                   (*loss)->data.device));
  if (!segc_graph_needs_tape(graph, y, count)) return SEGC_OK;
  seed_saved *s;
  SEGC_TRY(segc_graph_alloc_saved(graph, sizeof *s, (void **)&s));
  memset(s, 0, sizeof *s);
  s->loss = *loss;
  s->count = count;
  for (int k = 0; k < count; ++k) {
    s->y[k] = y[k];
    s->r[k] = r[k];
  }
  return segc_graph_record(graph, "seed", seed_backward, s, loss, 1, NULL, 0);
}

segc_status op_seed_loss(segc_graph *graph, segc_value *y, const float *r,
                         segc_value **loss) {
  return op_seed_losses(graph, 1, &y, &r, loss);
}

enum { OP_MAX_BUFFERS = 256 };
static void *buffers[OP_MAX_BUFFERS];
static int buffer_count;

void *op_bytes(size_t bytes) {
  void *p = malloc(bytes > 0 ? bytes : 1);
  if (!p || buffer_count == OP_MAX_BUFFERS) {
    fprintf(stderr, "op harness: out of memory (or more than %d buffers in "
            "one case)\n", OP_MAX_BUFFERS);
    exit(1);
  }
  buffers[buffer_count++] = p;
  return p;
}

float *op_f32(int64_t count) {
  return op_bytes(sizeof(float) * (size_t)count);
}

double *op_f64(int64_t count) {
  return op_bytes(sizeof(double) * (size_t)count);
}

void op_free_all(void) {
  while (buffer_count > 0) free(buffers[--buffer_count]);
}

double op_forward_error(const float *got, const double *ref, int64_t count,
                        bool bf16_result) {
  return op_forward_error_rtol(got, ref, count,
                               bf16_result ? OP_BF16_RTOL : 0.0);
}

double op_forward_error_rtol(const float *got, const double *ref,
                             int64_t count, double element_rtol) {
  double scale = 1e-30, worst = 0.0;
  for (int64_t i = 0; i < count; ++i) scale = fmax(scale, fabs(ref[i]));
  for (int64_t i = 0; i < count; ++i) {
    const double allowed = OP_F32_RTOL * scale + element_rtol * fabs(ref[i]);
    const double e = fabs((double)got[i] - ref[i]) / allowed;
    if (isnan(e)) return INFINITY;
    if (e > worst) worst = e;
  }
  return worst;
}
