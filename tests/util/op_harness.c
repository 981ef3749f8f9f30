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
                        size_t megabytes) {
  memset(env, 0, sizeof *env);
  env->backend = backend;
  const size_t bytes = megabytes << 20;
  SEGC_TRY(segc_arena_init(&env->activations, "harness activations", bytes,
                           backend->device));
  SEGC_TRY(segc_arena_init(&env->scratch, "harness scratch", bytes,
                           backend->device));
  SEGC_TRY(segc_arena_init(&env->inputs, "harness inputs", bytes,
                           backend->device));
  return segc_graph_init(&env->graph, &env->activations, &env->scratch,
                         1 << 20);
}

void op_env_close(op_env *env) {
  segc_graph_destroy(&env->graph);
  segc_arena_destroy(&env->activations);
  segc_arena_destroy(&env->scratch);
  segc_arena_destroy(&env->inputs);
}

segc_status op_to_device(const op_env *env, void *dst, const void *src,
                         size_t bytes) {
  if (env->backend->device == SEGC_DEVICE_CPU) {
    memcpy(dst, src, bytes);
    return SEGC_OK;
  }
  return segc_cuda_copy(dst, src, bytes);
}

segc_status op_to_host(const op_env *env, void *dst, const void *src,
                       size_t bytes) {
  return op_to_device(env, dst, src, bytes);  // the copy works both ways
}

// `values` (f32) converted to `dtype` on the host, then copied to `dst`.
static segc_status upload_converted(const op_env *env, void *dst,
                                    const float *values, segc_dtype dtype,
                                    int64_t count) {
  const size_t bytes = (size_t)count * segc_dtype_size(dtype);
  void *host = op_bytes(bytes);
  segc_convert(values, SEGC_F32, host, dtype, (size_t)count);
  return op_to_device(env, dst, host, bytes);
}

segc_status op_env_value(op_env *env, const float *values, segc_shape shape,
                         segc_dtype dtype, segc_layout layout,
                         bool requires_grad, segc_value **out) {
  SEGC_TRY(segc_graph_new_value(&env->graph, shape, dtype, layout,
                                requires_grad, out));
  return upload_converted(env, (*out)->data.data, values, dtype,
                          segc_shape_numel(shape));
}

segc_status op_env_tensor(op_env *env, const void *data, segc_shape shape,
                          segc_dtype dtype, segc_layout layout,
                          segc_tensor *out) {
  SEGC_TRY(segc_arena_tensor(&env->inputs, shape, dtype, layout, out));
  return op_to_device(env, out->data, data, segc_tensor_bytes(out));
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

segc_status op_read_f32(const op_env *env, const segc_tensor *t, float *out) {
  const size_t bytes = segc_tensor_bytes(t);
  void *host = op_bytes(bytes);
  SEGC_TRY(op_to_host(env, host, t->data, bytes));
  segc_convert(host, t->dtype, out, SEGC_F32, (size_t)segc_tensor_numel(t));
  return SEGC_OK;
}

typedef struct {
  op_env *env;
  segc_value *y, *loss;
  const float *r;
} seed_saved;

static segc_status seed_backward(segc_graph *graph, void *saved) {
  seed_saved *s = saved;
  float dloss;
  SEGC_TRY(op_to_host(s->env, &dloss, s->loss->grad.data, sizeof dloss));
  segc_tensor gy;
  bool accumulate;
  SEGC_TRY(segc_value_grad_target(graph, s->y, &gy, &accumulate));
  const int64_t n = segc_tensor_numel(&gy);
  float *g = op_f32(n);
  if (accumulate) SEGC_TRY(op_read_f32(s->env, &gy, g));
  for (int64_t i = 0; i < n; ++i)
    g[i] = (accumulate ? g[i] : 0.0f) + s->r[i] * dloss;
  return upload_converted(s->env, gy.data, g, gy.dtype, n);
}

segc_status op_seed_loss(op_env *env, segc_value *y, const float *r,
                         segc_value **loss) {
  segc_graph *graph = &env->graph;
  SEGC_TRY(segc_graph_new_value(graph, segc_shape5(1, 1, 1, 1, 1), SEGC_F32,
                                SEGC_LAYOUT_NCDHW, true, loss));
  const float zero = 0.0f;
  SEGC_TRY(op_to_device(env, (*loss)->data.data, &zero, sizeof zero));
  seed_saved *s;
  SEGC_TRY(segc_graph_alloc_saved(graph, sizeof *s, (void **)&s));
  *s = (seed_saved){env, y, *loss, r};
  return segc_graph_record(graph, "seed", seed_backward, s, loss, 1, NULL, 0);
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
  double scale = 1e-30, worst = 0.0;
  for (int64_t i = 0; i < count; ++i) scale = fmax(scale, fabs(ref[i]));
  for (int64_t i = 0; i < count; ++i) {
    const double allowed = OP_F32_RTOL * scale +
                           (bf16_result ? OP_BF16_RTOL * fabs(ref[i]) : 0.0);
    const double e = fabs((double)got[i] - ref[i]) / allowed;
    if (isnan(e)) return INFINITY;
    if (e > worst) worst = e;
  }
  return worst;
}
