// SegResNet forward (and, through the tape, backward). Every local value
// owns one data reference and releases it after its last use, so inference
// keeps only live activations and training keeps what the tape holds.
#include <string.h>

#include "layers/dropout3d.h"
#include "layers/elementwise.h"
#include "core/parallel.h"
#include "layers/segresnet.h"

// Forward timing per op kind when the graph has a profile (benchmarks).
static double tic(const segc_graph *graph) {
  return graph->profile ? segc_now() : 0.0;
}
static void toc(segc_graph *graph, const char *op, double started) {
  if (graph->profile)
    segc_profile_add(graph->profile, op, false, segc_now() - started);
}

static segc_status conv(segc_graph *graph, segc_conv3d *layer, segc_value *x,
                        segc_dtype out_dtype, segc_value **y) {
  const double started = tic(graph);
  const segc_status s = segc_conv3d_forward(graph, layer, x, out_dtype, y);
  toc(graph, "conv3d", started);
  return s;
}

static segc_status norm(segc_graph *graph, const segc_groupnorm *layer,
                        segc_value *x, segc_value **y) {
  const double started = tic(graph);
  const segc_status s = segc_groupnorm_forward(graph, layer, x, y);
  toc(graph, "groupnorm_relu", started);
  return s;
}

static segc_status add(segc_graph *graph, segc_value *a, segc_value *b,
                       segc_value **y) {
  const double started = tic(graph);
  const segc_status s = segc_add_forward(graph, a, b, y);
  toc(graph, "add", started);
  return s;
}

static segc_status upsample(segc_graph *graph, segc_value *x, segc_value **y) {
  const double started = tic(graph);
  const segc_status s = segc_upsample2x_forward(graph, x, y);
  toc(graph, "upsample2x", started);
  return s;
}

static segc_status dropout(segc_graph *graph, segc_value *x, float p,
                           segc_value **y) {
  const double started = tic(graph);
  const segc_status s = segc_dropout3d_forward(graph, x, p, y);
  toc(graph, "dropout3d", started);
  return s;
}

static segc_status resblock_forward(segc_graph *graph, segc_resblock *block,
                                    segc_value *x, segc_dtype compute,
                                    segc_value **y) {
  segc_value *h, *c;
  SEGC_TRY(norm(graph, &block->norm1, x, &h));
  segc_status status = conv(graph, &block->conv1, h, compute, &c);
  segc_value_release(graph, h);
  SEGC_TRY(status);
  status = norm(graph, &block->norm2, c, &h);
  segc_value_release(graph, c);
  SEGC_TRY(status);
  status = conv(graph, &block->conv2, h, compute, &c);
  segc_value_release(graph, h);
  SEGC_TRY(status);
  status = add(graph, c, x, y);
  segc_value_release(graph, c);
  return status;
}

static segc_status check_input(const segc_segresnet *net, const segc_value *x,
                               segc_dtype compute) {
  const segc_tensor *t = &x->data;
  const int64_t m = segc_segresnet_size_multiple(&net->config);
  char buf[96];
  if (t->shape.c != net->config.in_channels)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "SegResNet: input %s has %lld channels, the network "
                     "takes %lld",
                     segc_shape_str(t->shape, buf, sizeof buf),
                     (long long)t->shape.c, (long long)net->config.in_channels);
  if (t->shape.d % m || t->shape.h % m || t->shape.w % m)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "SegResNet: input %s: spatial sizes must be multiples "
                     "of %lld",
                     segc_shape_str(t->shape, buf, sizeof buf), (long long)m);
  if (t->layout != SEGC_LAYOUT_NDHWC)
    return SEGC_FAIL(SEGC_ERR_INVALID, "SegResNet: input must be NDHWC");
  if (compute != SEGC_F32 && compute != SEGC_BF16)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "SegResNet: compute dtype %s (f32 or bf16)",
                     segc_dtype_name(compute));
  return SEGC_OK;
}

// The input in the compute dtype (a copy when it differs; the input never
// requires a gradient).
static segc_status input_in_dtype(segc_graph *graph, segc_value *x,
                                  segc_dtype compute, segc_value **out) {
  if (x->data.dtype == compute) {
    segc_value_retain(x);
    *out = x;
    return SEGC_OK;
  }
  if (x->requires_grad)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "SegResNet: a gradient for a %s input in %s compute",
                     segc_dtype_name(x->data.dtype), segc_dtype_name(compute));
  SEGC_TRY(segc_graph_new_value(graph, x->data.shape, compute, x->data.layout,
                                false, out));
  segc_convert(x->data.data, x->data.dtype, (*out)->data.data, compute,
               (size_t)segc_tensor_numel(&x->data));
  return SEGC_OK;
}

segc_status segc_segresnet_forward(segc_segresnet *net, segc_graph *graph,
                                   segc_value *input, segc_dtype compute,
                                   segc_value **logits) {
  SEGC_TRY(check_input(net, input, compute));
  const segc_segresnet_config *c = &net->config;
  segc_value *skips[SEGC_SEGRESNET_MAX_LEVELS] = {0};
  segc_value *x = NULL, *in = NULL;
  segc_status status = input_in_dtype(graph, input, compute, &in);
  if (status != SEGC_OK) return status;
  status = conv(graph, &net->conv_init, in, compute, &x);
  segc_value_release(graph, in);
  SEGC_TRY(status);

#define FWD_OR_FAIL(call)                       \
  do {                                          \
    segc_value *next_ = NULL;                   \
    status = (call);                            \
    segc_value_release(graph, x);               \
    x = next_;                                  \
    if (status != SEGC_OK) goto fail;           \
  } while (0)

  FWD_OR_FAIL(dropout(graph, x, c->dropout_prob, &next_));
  for (int i = 0; i < c->levels; ++i) {
    if (i > 0)
      FWD_OR_FAIL(conv(graph, &net->down_conv[i], x, compute,
                                      &next_));
    for (int k = 0; k < c->blocks_down[i]; ++k)
      FWD_OR_FAIL(resblock_forward(graph, &net->down_blocks[i][k], x, compute,
                                   &next_));
    segc_value_retain(x);
    skips[i] = x;
  }
  const int ups = c->levels - 1;
  for (int i = 0; i < ups; ++i) {
    FWD_OR_FAIL(conv(graph, &net->up_conv[i], x, compute,
                                    &next_));
    FWD_OR_FAIL(upsample(graph, x, &next_));
    const int skip_level = ups - 1 - i;
    FWD_OR_FAIL(add(graph, x, skips[skip_level], &next_));
    for (int k = 0; k < c->blocks_up[i]; ++k)
      FWD_OR_FAIL(resblock_forward(graph, &net->up_blocks[i][k], x, compute,
                                   &next_));
  }
  for (int i = 0; i < c->levels; ++i) {
    segc_value_release(graph, skips[i]);
    skips[i] = NULL;
  }
  FWD_OR_FAIL(norm(graph, &net->final_norm, x, &next_));
  FWD_OR_FAIL(conv(graph, &net->final_conv, x, SEGC_F32,
                                  &next_));
#undef FWD_OR_FAIL
  *logits = x;
  return SEGC_OK;
fail:
  for (int i = 0; i < c->levels; ++i) segc_value_release(graph, skips[i]);
  segc_value_release(graph, x);
  return status;
}

static size_t activation_bytes(int64_t n, int64_t channels, int64_t d,
                               int64_t h, int64_t w, size_t elem) {
  return (size_t)(n * channels * d * h * w) * elem;
}

size_t segc_segresnet_activation_bound(const segc_segresnet_config *config,
                                       segc_shape input, segc_dtype compute,
                                       bool training) {
  const size_t elem = segc_dtype_size(compute);
  size_t per_level[SEGC_SEGRESNET_MAX_LEVELS];
  size_t total_levels = 0;
  for (int i = 0; i < config->levels; ++i) {
    per_level[i] = activation_bytes(input.n, config->init_filters << i,
                                    input.d >> i, input.h >> i, input.w >> i,
                                    elem);
    total_levels += per_level[i];
  }
  const size_t logits = activation_bytes(input.n, config->out_channels,
                                         input.d, input.h, input.w, 4);
  const size_t in = activation_bytes(input.n, config->in_channels, input.d,
                                     input.h, input.w, 4);
  if (!training) {
    // Live at once: the skips of every level, a block's input, two
    // temporaries and the upsampled tensor at the finest level, the logits.
    return in + 2 * total_levels + 4 * per_level[0] + logits + (64u << 20);
  }
  // Training keeps, per ResBlock, its input and the first conv's output, plus
  // the pre-activation tensors of the decoder, the skips, and gradients of a
  // few tensors per level at once.
  size_t blocks = 0;
  for (int i = 0; i < config->levels; ++i) {
    blocks += (size_t)(2 * config->blocks_down[i] + 2) * per_level[i];
    if (i + 1 < config->levels)
      blocks += (size_t)(2 * config->blocks_up[i] + 4) * per_level[i];
  }
  return in + blocks + 6 * total_levels + 3 * logits + (64u << 20);
}

static void add_use(segc_segresnet_conv_use *uses, int max, int *count,
                    segc_conv3d *layer, segc_shape input) {
  if (*count < max) {
    uses[*count].layer = layer;
    uses[*count].input = input;
  }
  (*count)++;
}

int segc_segresnet_conv_uses(segc_segresnet *net, segc_shape input,
                             segc_segresnet_conv_use *uses, int max) {
  const segc_segresnet_config *c = &net->config;
  int n = 0;
  add_use(uses, max, &n, &net->conv_init, input);
  for (int i = 0; i < c->levels; ++i) {
    const segc_shape at = segc_shape5(input.n, c->init_filters << i,
                                      input.d >> i, input.h >> i, input.w >> i);
    if (i > 0)
      add_use(uses, max, &n, &net->down_conv[i],
              segc_shape5(input.n, (c->init_filters << i) / 2,
                          input.d >> (i - 1), input.h >> (i - 1),
                          input.w >> (i - 1)));
    for (int k = 0; k < c->blocks_down[i]; ++k) {
      add_use(uses, max, &n, &net->down_blocks[i][k].conv1, at);
      add_use(uses, max, &n, &net->down_blocks[i][k].conv2, at);
    }
  }
  const int ups = c->levels - 1;
  for (int i = 0; i < ups; ++i) {
    const int level = ups - i;
    add_use(uses, max, &n, &net->up_conv[i],
            segc_shape5(input.n, c->init_filters << level, input.d >> level,
                        input.h >> level, input.w >> level));
    const segc_shape high = segc_shape5(input.n, (c->init_filters << level) / 2,
                                        input.d >> (level - 1),
                                        input.h >> (level - 1),
                                        input.w >> (level - 1));
    for (int k = 0; k < c->blocks_up[i]; ++k) {
      add_use(uses, max, &n, &net->up_blocks[i][k].conv1, high);
      add_use(uses, max, &n, &net->up_blocks[i][k].conv2, high);
    }
  }
  add_use(uses, max, &n, &net->final_conv,
          segc_shape5(input.n, c->init_filters, input.d, input.h, input.w));
  return n;
}

double segc_segresnet_forward_flops(const segc_segresnet *net,
                                    segc_shape input) {
  segc_segresnet_conv_use uses[512];
  const int n = segc_segresnet_conv_uses((segc_segresnet *)net, input, uses, 512);
  double flops = 0.0;
  for (int i = 0; i < n && i < 512; ++i)
    flops += segc_conv3d_flops(&uses[i].layer->config, uses[i].input);
  return flops;
}
