#include "layers/segresnet.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/device_memory.h"
#include "core/rng.h"
#include "layers/dropout3d.h"
#include "layers/elementwise.h"

segc_segresnet_config segc_segresnet_bundle_config(void) {
  segc_segresnet_config c = {0};
  c.in_channels = 1;
  c.out_channels = 105;
  c.init_filters = 32;
  c.levels = 4;
  const int down[4] = {1, 2, 2, 4};
  const int up[3] = {1, 1, 1};
  memcpy(c.blocks_down, down, sizeof down);
  memcpy(c.blocks_up, up, sizeof up);
  c.dropout_prob = 0.2f;
  c.norm_groups = 8;
  return c;
}

segc_status segc_segresnet_config_check(const segc_segresnet_config *c) {
  if (c->in_channels < 1 || c->out_channels < 1)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "SegResNet: in_channels and out_channels must be >= 1 "
                     "(got %lld, %lld)",
                     (long long)c->in_channels, (long long)c->out_channels);
  if (c->levels < 1 || c->levels > SEGC_SEGRESNET_MAX_LEVELS)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "SegResNet: blocks_down needs 1 to %d entries, got %d",
                     SEGC_SEGRESNET_MAX_LEVELS, c->levels);
  if (c->norm_groups < 1 || c->init_filters < 1 ||
      c->init_filters % c->norm_groups != 0)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "SegResNet: init_filters (%lld) must be a positive "
                     "multiple of the GroupNorm groups (%d)",
                     (long long)c->init_filters, c->norm_groups);
  for (int i = 0; i < c->levels; ++i)
    if (c->blocks_down[i] < 0 || c->blocks_down[i] > 64)
      return SEGC_FAIL(SEGC_ERR_INVALID, "SegResNet: blocks_down[%d] = %d", i,
                       c->blocks_down[i]);
  for (int i = 0; i + 1 < c->levels; ++i)
    if (c->blocks_up[i] < 0 || c->blocks_up[i] > 64)
      return SEGC_FAIL(SEGC_ERR_INVALID, "SegResNet: blocks_up[%d] = %d", i,
                       c->blocks_up[i]);
  if (!(c->dropout_prob >= 0.0f && c->dropout_prob < 1.0f))
    return SEGC_FAIL(SEGC_ERR_INVALID, "SegResNet: dropout_prob %g not in [0, 1)",
                     (double)c->dropout_prob);
  return SEGC_OK;
}

int64_t segc_segresnet_size_multiple(const segc_segresnet_config *config) {
  return (int64_t)1 << (config->levels - 1);
}

// ---------------------------------------------------------------------------
// The parameter table, in MONAI's state-dict order.

typedef struct {
  segc_segresnet *net;
  int count;
  int64_t offset;
  bool fill;  // second pass: point params at the arenas
} param_builder;

static segc_param *add_param(param_builder *b, segc_shape shape, int torch_ndim,
                             const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static segc_param *add_param(param_builder *b, segc_shape shape, int torch_ndim,
                             const char *fmt, ...) {
  segc_param *p = NULL;
  if (b->fill) {
    p = &b->net->params[b->count];
    va_list args;
    va_start(args, fmt);
    vsnprintf(p->name, sizeof p->name, fmt, args);
    va_end(args);
    p->torch_ndim = torch_ndim;
    p->value = segc_tensor_view(b->net->weights + b->offset, shape, SEGC_F32,
                                SEGC_LAYOUT_NCDHW, b->net->device);
    if (b->net->grads) {
      p->grad = p->value;
      p->grad.data = b->net->grads + b->offset;
    }
  }
  b->count++;
  b->offset += segc_shape_numel(shape);
  return p;
}

static segc_shape conv_weight_shape(int64_t out, int64_t in, int k) {
  return segc_shape5(out, in, k, k, k);
}
static segc_shape vector_shape(int64_t c) { return segc_shape5(1, c, 1, 1, 1); }

static segc_status make_conv(param_builder *b, segc_conv3d *conv, int64_t in,
                             int64_t out, int kernel, int stride, bool bias,
                             const char *prefix) {
  segc_param *w = add_param(b, conv_weight_shape(out, in, kernel), 5,
                            "%s.conv.weight", prefix);
  segc_param *bias_param =
      bias ? add_param(b, vector_shape(out), 1, "%s.conv.bias", prefix) : NULL;
  if (!b->fill) return SEGC_OK;
  segc_conv3d_config cfg = {in, out, kernel, stride, kernel / 2, bias};
  return segc_conv3d_init(conv, &cfg, w, bias_param);
}

static void make_norm(param_builder *b, segc_groupnorm *norm, int64_t channels,
                      int groups, const char *prefix) {
  segc_param *gamma =
      add_param(b, vector_shape(channels), 1, "%s.weight", prefix);
  segc_param *beta = add_param(b, vector_shape(channels), 1, "%s.bias", prefix);
  if (!b->fill) return;
  norm->groups = groups;
  norm->eps = 1e-5f;
  norm->relu = true;
  norm->gamma = gamma;
  norm->beta = beta;
}

static segc_status make_resblock(param_builder *b, segc_resblock *block,
                                 int64_t channels, int groups,
                                 const char *prefix) {
  char name[SEGC_PARAM_NAME_BYTES];
  // MONAI registers norm1, norm2, conv1, conv2 in that order.
  snprintf(name, sizeof name, "%s.norm1", prefix);
  make_norm(b, block ? &block->norm1 : NULL, channels, groups, name);
  snprintf(name, sizeof name, "%s.norm2", prefix);
  make_norm(b, block ? &block->norm2 : NULL, channels, groups, name);
  snprintf(name, sizeof name, "%s.conv1", prefix);
  SEGC_TRY(make_conv(b, block ? &block->conv1 : NULL, channels, channels, 3, 1,
                     false, name));
  snprintf(name, sizeof name, "%s.conv2", prefix);
  return make_conv(b, block ? &block->conv2 : NULL, channels, channels, 3, 1,
                   false, name);
}

// Walks the network in MONAI's order; in the fill pass it also builds layers.
static segc_status build(param_builder *b) {
  segc_segresnet *net = b->net;
  const segc_segresnet_config *c = &net->config;
  const int groups = c->norm_groups;
  char name[SEGC_PARAM_NAME_BYTES];
  SEGC_TRY(make_conv(b, &net->conv_init, c->in_channels, c->init_filters, 3, 1,
                     false, "convInit"));
  for (int i = 0; i < c->levels; ++i) {
    const int64_t ch = c->init_filters << i;
    if (i > 0) {
      snprintf(name, sizeof name, "down_layers.%d.0", i);
      SEGC_TRY(make_conv(b, &net->down_conv[i], ch / 2, ch, 3, 2, false, name));
    }
    for (int k = 0; k < c->blocks_down[i]; ++k) {
      snprintf(name, sizeof name, "down_layers.%d.%d", i, k + 1);
      SEGC_TRY(make_resblock(b, b->fill ? &net->down_blocks[i][k] : NULL, ch,
                             groups, name));
    }
  }
  const int ups = c->levels - 1;
  for (int i = 0; i < ups; ++i) {
    const int64_t ch = (c->init_filters << (ups - i)) / 2;
    for (int k = 0; k < c->blocks_up[i]; ++k) {
      snprintf(name, sizeof name, "up_layers.%d.%d", i, k);
      SEGC_TRY(make_resblock(b, b->fill ? &net->up_blocks[i][k] : NULL, ch,
                             groups, name));
    }
  }
  for (int i = 0; i < ups; ++i) {
    const int64_t ch = c->init_filters << (ups - i);
    snprintf(name, sizeof name, "up_samples.%d.0", i);
    SEGC_TRY(make_conv(b, &net->up_conv[i], ch, ch / 2, 1, 1, false, name));
  }
  make_norm(b, &net->final_norm, c->init_filters, groups, "conv_final.0");
  return make_conv(b, &net->final_conv, c->init_filters, c->out_channels, 1, 1,
                   true, "conv_final.2");
}

// The ops a forward and backward run.
static const char *const network_ops[] = {"conv3d", "groupnorm", "add",
                                          "upsample2x", "dropout3d"};

segc_status segc_segresnet_require_device(segc_device device) {
  for (size_t i = 0; i < sizeof network_ops / sizeof network_ops[0]; ++i) {
    const segc_status status = segc_backend_require_device(network_ops[i], device);
    if (status != SEGC_OK) return segc_fail_context(status, "SegResNet");
  }
  return SEGC_OK;
}

segc_status segc_segresnet_create(segc_segresnet *net,
                                  const segc_segresnet_config *config,
                                  bool with_grads, segc_device device) {
  memset(net, 0, sizeof *net);
  SEGC_TRY(segc_segresnet_config_check(config));
  SEGC_TRY(segc_segresnet_require_device(device));
  net->config = *config;
  net->device = device;
  param_builder count_pass = {net, 0, 0, false};
  SEGC_TRY(build(&count_pass));
  net->param_count = count_pass.count;
  net->weight_count = count_pass.offset;
  const size_t bytes = sizeof(float) * (size_t)net->weight_count;

  segc_status status = SEGC_ERR_NOMEM;
  net->params = calloc((size_t)net->param_count, sizeof(segc_param));
  if (!net->params) {
    status = SEGC_FAIL(SEGC_ERR_NOMEM, "SegResNet: no memory for %d parameters",
                       net->param_count);
    goto fail;
  }
  for (int i = 0; i < config->levels; ++i) {
    net->down_blocks[i] = calloc((size_t)config->blocks_down[i] + 1,
                                 sizeof(segc_resblock));
    net->up_blocks[i] = calloc((size_t)(i + 1 < config->levels
                                            ? config->blocks_up[i] + 1 : 1),
                               sizeof(segc_resblock));
    if (!net->down_blocks[i] || !net->up_blocks[i]) {
      status = SEGC_FAIL(SEGC_ERR_NOMEM, "SegResNet: no memory for the blocks");
      goto fail;
    }
  }
  status = segc_arena_init(&net->weight_arena, "weights", bytes, device);
  if (status != SEGC_OK) goto fail;
  status = segc_arena_calloc(&net->weight_arena, bytes, (void **)&net->weights);
  if (status != SEGC_OK) goto fail;
  // Initialisation, checkpoints and training states reach GPU weights
  // through a host copy.
  if (device != SEGC_DEVICE_CPU) {
    net->host_weights = calloc(bytes, 1);
    if (!net->host_weights) {
      status = SEGC_FAIL(SEGC_ERR_NOMEM,
                         "SegResNet: no host memory for a copy of the weights");
      goto fail;
    }
  }
  if (with_grads) {
    status = segc_arena_init(&net->grad_arena, "gradients", bytes, device);
    if (status != SEGC_OK) goto fail;
    status = segc_arena_calloc(&net->grad_arena, bytes, (void **)&net->grads);
    if (status != SEGC_OK) goto fail;
  }
  param_builder fill_pass = {net, 0, 0, true};
  status = build(&fill_pass);
  if (status != SEGC_OK) goto fail;
  return SEGC_OK;
fail:
  segc_segresnet_destroy(net);
  return status;
}

static void destroy_resblock(segc_resblock *block) {
  segc_conv3d_destroy(&block->conv1);
  segc_conv3d_destroy(&block->conv2);
}

void segc_segresnet_destroy(segc_segresnet *net) {
  const segc_segresnet_config *c = &net->config;
  if (net->params) {  // layers exist only after the fill pass began
    segc_conv3d_destroy(&net->conv_init);
    segc_conv3d_destroy(&net->final_conv);
    for (int i = 0; i < c->levels; ++i) {
      segc_conv3d_destroy(&net->down_conv[i]);
      segc_conv3d_destroy(&net->up_conv[i]);
      if (net->down_blocks[i])
        for (int k = 0; k < c->blocks_down[i]; ++k)
          destroy_resblock(&net->down_blocks[i][k]);
      if (net->up_blocks[i] && i + 1 < c->levels)
        for (int k = 0; k < c->blocks_up[i]; ++k)
          destroy_resblock(&net->up_blocks[i][k]);
    }
  }
  for (int i = 0; i < SEGC_SEGRESNET_MAX_LEVELS; ++i) {
    free(net->down_blocks[i]);
    free(net->up_blocks[i]);
  }
  free(net->params);
  free(net->host_weights);
  if (net->weight_arena.base) segc_arena_destroy(&net->weight_arena);
  if (net->grad_arena.base) segc_arena_destroy(&net->grad_arena);
  memset(net, 0, sizeof *net);
}

segc_param *segc_segresnet_find(segc_segresnet *net, const char *name) {
  for (int i = 0; i < net->param_count; ++i)
    if (strcmp(net->params[i].name, name) == 0) return &net->params[i];
  return NULL;
}

void segc_segresnet_weights_changed(segc_segresnet *net) {
  for (int i = 0; i < net->param_count; ++i) net->params[i].version++;
}

float *segc_segresnet_host_buffer(const segc_segresnet *net) {
  return net->device == SEGC_DEVICE_CPU ? net->weights : net->host_weights;
}

segc_status segc_segresnet_weights_to_host(const segc_segresnet *net,
                                           float **host) {
  *host = segc_segresnet_host_buffer(net);
  if (net->device == SEGC_DEVICE_CPU) return SEGC_OK;
  return segc_device_copy(*host, SEGC_DEVICE_CPU, net->weights, net->device,
                          sizeof(float) * (size_t)net->weight_count);
}

segc_status segc_segresnet_weights_from_host(segc_segresnet *net) {
  if (net->device != SEGC_DEVICE_CPU)
    SEGC_TRY(segc_device_copy(net->weights, net->device, net->host_weights,
                              SEGC_DEVICE_CPU,
                              sizeof(float) * (size_t)net->weight_count));
  segc_segresnet_weights_changed(net);
  return SEGC_OK;
}

segc_status segc_segresnet_init_weights(segc_segresnet *net, uint64_t seed) {
  float *host = segc_segresnet_host_buffer(net);
  for (int i = 0; i < net->param_count; ++i) {
    segc_param *p = &net->params[i];
    float *w = segc_segresnet_param_in(net, host, p);
    const int64_t n = segc_tensor_numel(&p->value);
    const bool is_norm = strstr(p->name, "norm") != NULL ||
                         strncmp(p->name, "conv_final.0.", 13) == 0;
    if (is_norm) {
      const bool is_weight = strstr(p->name, ".weight") != NULL;
      for (int64_t k = 0; k < n; ++k) w[k] = is_weight ? 1.0f : 0.0f;
      continue;
    }
    // Conv weight (O, I, k, k, k) or its bias: the fan-in is I*k^3 of the
    // layer's weight, which for a bias is the parameter just before it.
    const segc_param *weight = p->torch_ndim == 5 ? p : &net->params[i - 1];
    const int64_t fan_in =
        weight->value.shape.c * weight->value.shape.d * weight->value.shape.h *
        weight->value.shape.w;
    const float bound = 1.0f / sqrtf((float)fan_in);
    const uint64_t stream = segc_rng_stream(SEGC_RNG_INIT, (uint64_t)i, 0);
    for (int64_t k = 0; k < n; ++k)
      w[k] = bound * (2.0f * segc_rng_uniform(seed, stream, (uint64_t)k) - 1.0f);
  }
  return segc_segresnet_weights_from_host(net);
}
