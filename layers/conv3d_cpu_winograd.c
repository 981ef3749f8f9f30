// When conv3d's CPU kernels take the Winograd path (conv3d_winograd.c)
// instead of oneDNN's direct convolution, and the layer's transformed
// weights for it.
//
// The plan: for each f32 3x3x3 stride-1 padding-1 shape and pass (forward,
// backward-data, backward-weights), the first call times both algorithms once
// on a piece of the real input (the first sample's first PLAN_DEPTH planes,
// best of two runs each) and keeps Winograd only where it is clearly faster (by
// PLAN_MARGIN), as cuDNN's algorithm find does. Plans are process-wide (they
// describe the machine and the shape, not a context) and independent of the
// thread count, so a process computes every shape the same way whatever its
// thread count. Two processes may plan a borderline shape differently;
// SEGC_CONV_ALGO=direct or winograd (or segc_conv3d_set_algorithm) fixes
// the choice for bit-for-bit reproducible runs.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "layers/conv3d_cpu.h"
#include "layers/conv3d_winograd.h"

enum { PLAN_DEPTH = 16, MAX_PLANS = 256 };
static const double PLAN_MARGIN = 0.9;  // Winograd's time / direct's, at most

typedef struct {
  int64_t pass;              // segc_conv3d_pass
  int64_t in, out, d, h, w;  // one sample; no padding bytes (memcmp)
} plan_key;

typedef struct {
  plan_key key;
  bool winograd;
  double direct_s, winograd_s;  // the timed piece
  int64_t piece_d;
} plan_entry;

static pthread_mutex_t plans_lock = PTHREAD_MUTEX_INITIALIZER;
static plan_entry plans[MAX_PLANS];
static int plan_count;

static pthread_once_t algorithm_once = PTHREAD_ONCE_INIT;
static segc_conv3d_algorithm algorithm = SEGC_CONV3D_ALGO_AUTO;
static bool algorithm_set;
static char bad_env[64];  // an SEGC_CONV_ALGO that is none of the three

static void read_algorithm_env(void) {
  const char *env = getenv("SEGC_CONV_ALGO");
  if (!env || algorithm_set) return;
  if (!strcmp(env, "direct"))
    algorithm = SEGC_CONV3D_ALGO_DIRECT;
  else if (!strcmp(env, "winograd"))
    algorithm = SEGC_CONV3D_ALGO_WINOGRAD;
  else if (strcmp(env, "auto"))
    snprintf(bad_env, sizeof bad_env, "%s", env);
}

// A misspelt SEGC_CONV_ALGO fails the first convolution that could use it
// (one line), rather than silently timing plans the user meant to avoid.
static segc_status check_algorithm_env(void) {
  pthread_once(&algorithm_once, read_algorithm_env);
  if (bad_env[0] && !algorithm_set)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "SEGC_CONV_ALGO must be auto, direct or winograd, got "
                     "\"%s\"",
                     bad_env);
  return SEGC_OK;
}

segc_conv3d_algorithm segc_conv3d_get_algorithm(void) {
  pthread_once(&algorithm_once, read_algorithm_env);
  return algorithm;
}

void segc_conv3d_set_algorithm(segc_conv3d_algorithm chosen) {
  pthread_once(&algorithm_once, read_algorithm_env);
  algorithm = chosen;
  algorithm_set = true;
}

// One plan per sample shape, whatever the batch: a window's logits must not
// depend on how many windows share its batch (the sliding window's reuse of
// constant windows relies on it), and the plan is timed on one sample.
static plan_key make_plan_key(segc_conv3d_pass pass,
                              const segc_conv3d_config *config,
                              segc_shape input) {
  plan_key key = {
      pass,   config->in_channels, config->out_channels, input.d, input.h,
      input.w};
  return key;
}

// The plan of `key` into *out; false when there is none. A process that
// has made MAX_PLANS plans makes no more: later shapes stay direct instead
// of being timed on every call (*out says direct then, and true).
static bool find_plan(const plan_key *key, plan_entry *out) {
  bool found = false;
  pthread_mutex_lock(&plans_lock);
  for (int i = 0; i < plan_count && !found; ++i)
    if (!memcmp(&plans[i].key, key, sizeof *key)) {
      *out = plans[i];
      found = true;
    }
  if (!found && plan_count == MAX_PLANS) {
    memset(out, 0, sizeof *out);
    out->key = *key;
    found = true;
  }
  pthread_mutex_unlock(&plans_lock);
  return found;
}

static void store_plan(const plan_entry *entry) {
  pthread_mutex_lock(&plans_lock);
  if (plan_count < MAX_PLANS) plans[plan_count++] = *entry;
  pthread_mutex_unlock(&plans_lock);
}

// The transformed weights of one pass, made again when the parameter
// changes (version or storage), as the oneDNN copies are.
static segc_status pass_weights(const segc_conv3d *layer,
                                conv3d_winograd_weights *slot,
                                bool backward_data, const float **out) {
  const segc_param *master = layer->weight;
  const int64_t cin = layer->config.in_channels;
  const int64_t cout = layer->config.out_channels;
  if (slot->data && slot->version == master->version &&
      slot->source == master->value.data) {
    *out = slot->data;
    return SEGC_OK;
  }
  const int64_t floats = backward_data
                             ? conv3d_winograd_weight_floats(cout, cin)
                             : conv3d_winograd_weight_floats(cin, cout);
  if (!slot->data) {
    // Once per layer and pass: setup, not the hot loop.
    if (posix_memalign((void **)&slot->data, SEGC_ARENA_ALIGN,
                       sizeof(float) * (size_t)floats) != 0) {
      slot->data = NULL;
      return SEGC_FAIL(SEGC_ERR_NOMEM,
                       "conv3d: no memory for %lld Winograd weights",
                       (long long)floats);
    }
  }
  conv3d_winograd_transform_weights(master->value.data, cout, cin,
                                    backward_data, slot->data);
  slot->version = master->version;
  slot->source = master->value.data;
  *out = slot->data;
  return SEGC_OK;
}

void conv3d_winograd_weights_free(conv3d_winograd_weights *slot) {
  free(slot->data);
  slot->data = NULL;
}

// Runs one pass by Winograd: forward (x -> y) or backward-data (dy -> dx).
static segc_status run_winograd(segc_backend_context *backend,
                                segc_conv3d *layer,
                                conv3d_winograd_weights *slot,
                                segc_conv3d_pass pass, const segc_tensor *src,
                                segc_tensor *dst, bool accumulate) {
  const bool backward = pass == SEGC_CONV3D_BACKWARD_DATA;
  const float *u = NULL;
  SEGC_TRY(pass_weights(layer, slot, backward, &u));
  const float *bias =
      !backward && layer->bias ? (const float *)layer->bias->value.data : NULL;
  return conv3d_winograd_run(backend->scratch, u, src->shape.c, dst->shape.c,
                             src->shape, src->data, bias, dst->data,
                             accumulate);
}

// One timed run of a pass on a piece: Winograd or direct.
typedef segc_status (*piece_run)(void *context, bool winograd);

// The first sample's first PLAN_DEPTH planes: what a plan is timed on.
static segc_shape piece_of(segc_shape s) {
  s.n = 1;
  s.d = s.d < PLAN_DEPTH ? s.d : PLAN_DEPTH;
  return s;
}

// Best of two runs of each algorithm, alternating, into the plan.
static segc_status time_both(piece_run run, void *context, int64_t depth,
                             plan_entry *entry) {
  segc_status status = SEGC_OK;
  double best[2] = {1e300, 1e300};  // direct, Winograd
  for (int r = 0; r < 4 && status == SEGC_OK; ++r) {
    const int which = r % 2;
    const double start = segc_now();
    status = run(context, which);
    const double seconds = segc_now() - start;
    if (seconds < best[which]) best[which] = seconds;
  }
  entry->direct_s = best[0];
  entry->winograd_s = best[1];
  entry->piece_d = depth;
  entry->winograd = best[1] < PLAN_MARGIN * best[0];
  return status;
}

typedef struct {
  segc_backend_context *backend;
  segc_conv3d *layer;
  conv3d_winograd_weights *slot;
  segc_conv3d_pass pass;
  segc_tensor src, dst;  // the pieces
  conv3d_direct_fn direct;
} pass_piece;

static segc_status run_pass_piece(void *context, bool winograd) {
  pass_piece *p = context;
  return winograd ? run_winograd(p->backend, p->layer, p->slot, p->pass,
                                 &p->src, &p->dst, false)
                  : p->direct(p->backend, p->layer, &p->src, &p->dst);
}

// Times both algorithms of forward or backward-data on a piece of the real
// tensors, into a scratch output.
static segc_status measure(segc_backend_context *backend, segc_conv3d *layer,
                           conv3d_winograd_weights *slot, segc_conv3d_pass pass,
                           const segc_tensor *src, const segc_tensor *dst,
                           conv3d_direct_fn direct, plan_entry *entry) {
  pass_piece p = {backend, layer, slot, pass, *src, *dst, direct};
  p.src.shape = piece_of(src->shape);
  segc_arena *scratch = backend->scratch;
  SEGC_TRY(segc_arena_tensor(scratch, piece_of(dst->shape), SEGC_F32,
                             SEGC_LAYOUT_NDHWC, &p.dst));
  const segc_status status =
      time_both(run_pass_piece, &p, p.src.shape.d, entry);
  segc_arena_free_tensor(scratch, &p.dst);
  return status;
}

static bool eligible(const segc_conv3d *layer, const segc_tensor *src,
                     const segc_tensor *dst) {
  return conv3d_winograd_fits(&layer->config) && src->dtype == SEGC_F32 &&
         dst->dtype == SEGC_F32;
}

segc_status conv3d_cpu_winograd_try(segc_backend_context *backend,
                                    segc_conv3d *layer,
                                    conv3d_winograd_weights *slot,
                                    segc_conv3d_pass pass,
                                    const segc_tensor *src, segc_tensor *dst,
                                    bool accumulate, conv3d_direct_fn direct,
                                    bool *done) {
  *done = false;
  SEGC_TRY(check_algorithm_env());
  const segc_conv3d_algorithm chosen = segc_conv3d_get_algorithm();
  if (chosen == SEGC_CONV3D_ALGO_DIRECT || !eligible(layer, src, dst))
    return SEGC_OK;
  if (chosen == SEGC_CONV3D_ALGO_AUTO) {
    const segc_shape input =
        pass == SEGC_CONV3D_FORWARD ? src->shape : dst->shape;
    plan_entry entry = {.key = make_plan_key(pass, &layer->config, input)};
    if (!find_plan(&entry.key, &entry)) {
      SEGC_TRY(measure(backend, layer, slot, pass, src, dst, direct, &entry));
      store_plan(&entry);
    }
    if (!entry.winograd) return SEGC_OK;
  }
  SEGC_TRY(run_winograd(backend, layer, slot, pass, src, dst, accumulate));
  *done = true;
  return SEGC_OK;
}

typedef struct {
  segc_backend_context *backend;
  segc_conv3d *layer;
  segc_tensor x, dy;  // the pieces
  conv3d_weights_fn direct;
} weights_piece;

static segc_status run_weights_piece(void *context, bool winograd) {
  weights_piece *p = context;
  const segc_conv3d *layer = p->layer;
  return winograd ? conv3d_winograd_weight_grad(
                        p->backend->scratch, p->x.shape, p->x.data,
                        layer->config.out_channels, p->dy.data,
                        layer->weight->grad.data,
                        layer->bias ? layer->bias->grad.data : NULL)
                  : p->direct(p->backend, p->layer, &p->x, &p->dy);
}

// Backward-weights: both algorithms add into the layer's gradients, so
// those are saved before the timing and put back afterwards.
static segc_status measure_weights(segc_backend_context *backend,
                                   segc_conv3d *layer, const segc_tensor *x,
                                   const segc_tensor *dy,
                                   conv3d_weights_fn direct,
                                   plan_entry *entry) {
  weights_piece p = {backend, layer, *x, *dy, direct};
  p.x.shape = piece_of(x->shape);
  p.dy.shape = piece_of(dy->shape);
  float *weight_grad = layer->weight->grad.data;
  float *bias_grad = layer->bias ? layer->bias->grad.data : NULL;
  const int64_t cout = layer->config.out_channels;
  const size_t weight_bytes =
      sizeof(float) * (size_t)(cout * layer->config.in_channels * 27);
  const size_t bias_bytes = bias_grad ? sizeof(float) * (size_t)cout : 0;
  segc_arena *scratch = backend->scratch;
  char *saved;
  SEGC_TRY(
      segc_arena_alloc(scratch, weight_bytes + bias_bytes, (void **)&saved));
  memcpy(saved, weight_grad, weight_bytes);
  if (bias_grad) memcpy(saved + weight_bytes, bias_grad, bias_bytes);
  const segc_status status =
      time_both(run_weights_piece, &p, p.x.shape.d, entry);
  memcpy(weight_grad, saved, weight_bytes);
  if (bias_grad) memcpy(bias_grad, saved + weight_bytes, bias_bytes);
  segc_arena_free(scratch, saved, weight_bytes + bias_bytes);
  return status;
}

segc_status conv3d_cpu_winograd_weights_try(
    segc_backend_context *backend, segc_conv3d *layer, const segc_tensor *x,
    const segc_tensor *dy, conv3d_weights_fn direct, bool *done) {
  *done = false;
  SEGC_TRY(check_algorithm_env());
  const segc_conv3d_algorithm chosen = segc_conv3d_get_algorithm();
  if (chosen == SEGC_CONV3D_ALGO_DIRECT ||
      !conv3d_winograd_fits(&layer->config) || x->dtype != SEGC_F32 ||
      dy->dtype != SEGC_F32 || !layer->weight->grad.data)
    return SEGC_OK;
  if (chosen == SEGC_CONV3D_ALGO_AUTO) {
    plan_entry entry = {.key = make_plan_key(SEGC_CONV3D_BACKWARD_WEIGHTS,
                                             &layer->config, x->shape)};
    if (!find_plan(&entry.key, &entry)) {
      SEGC_TRY(measure_weights(backend, layer, x, dy, direct, &entry));
      store_plan(&entry);
    }
    if (!entry.winograd) return SEGC_OK;
  }
  float *bias_grad = layer->bias ? layer->bias->grad.data : NULL;
  SEGC_TRY(conv3d_winograd_weight_grad(backend->scratch, x->shape, x->data,
                                       layer->config.out_channels, dy->data,
                                       layer->weight->grad.data, bias_grad));
  *done = true;
  return SEGC_OK;
}

bool conv3d_cpu_winograd_planned(const segc_conv3d_config *config,
                                 segc_shape input, segc_dtype dtype,
                                 segc_conv3d_pass pass) {
  if (dtype != SEGC_F32 || !conv3d_winograd_fits(config)) return false;
  const segc_conv3d_algorithm chosen = segc_conv3d_get_algorithm();
  if (chosen != SEGC_CONV3D_ALGO_AUTO)
    return chosen == SEGC_CONV3D_ALGO_WINOGRAD;
  plan_entry entry;
  const plan_key key = make_plan_key(pass, config, input);
  return find_plan(&key, &entry) && entry.winograd;
}

int segc_conv3d_plan_describe(const segc_conv3d_config *config,
                              segc_shape input, segc_conv3d_pass pass,
                              char *text, size_t size) {
  plan_entry entry;
  const plan_key key = make_plan_key(pass, config, input);
  if (!find_plan(&key, &entry)) return 0;
  if (entry.direct_s == 0.0)
    return snprintf(text, size, "direct (no plan: %d shapes planned)",
                    MAX_PLANS);
  const double ratio = entry.direct_s / entry.winograd_s;
  return snprintf(text, size,
                  "%s (piece 1x%lldx%lldx%lld: direct %.1f ms, winograd %.1f "
                  "ms, %.2fx)",
                  entry.winograd ? "winograd" : "direct",
                  (long long)entry.piece_d, (long long)input.h,
                  (long long)input.w, entry.direct_s * 1e3,
                  entry.winograd_s * 1e3, ratio);
}
