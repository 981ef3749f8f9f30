// MONAI's SegResNet (monai/networks/nets/segresnet.py), built from its
// hyper-parameters, with parameters named as MONAI's state-dict keys in one
// flat weight arena (and one flat gradient arena when training).
//
//   convInit (3x3x3) -> Dropout3d -> down_layers[i]: [stride-2 conv for i>0]
//   + blocks_down[i] ResBlocks at init_filters*2^i channels
//   decoder i: up_samples[i] (1x1x1 conv c -> c/2, trilinear x2) + skip,
//   then blocks_up[i] ResBlocks; conv_final: GroupNorm -> ReLU -> 1x1x1 conv
//   with bias.
//   ResBlock: y = conv2(relu(norm2(conv1(relu(norm1(x)))))) + x.
#ifndef SEGC_LAYERS_SEGRESNET_H
#define SEGC_LAYERS_SEGRESNET_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/graph.h"
#include "autograd/param.h"
#include "core/arena.h"
#include "layers/conv3d.h"
#include "layers/groupnorm.h"

enum { SEGC_SEGRESNET_MAX_LEVELS = 8 };

typedef struct {
  int64_t in_channels;
  int64_t out_channels;
  int64_t init_filters;
  int blocks_down[SEGC_SEGRESNET_MAX_LEVELS];
  int levels;  // entries in blocks_down
  int blocks_up[SEGC_SEGRESNET_MAX_LEVELS];  // levels - 1 entries
  float dropout_prob;
  int norm_groups;
} segc_segresnet_config;

// The bundle's network: 1 -> 105 channels, 32 filters, [1,2,2,4], [1,1,1],
// dropout 0.2, 8 groups.
segc_segresnet_config segc_segresnet_bundle_config(void);
// Checks the hyper-parameters; the message names the bad one.
segc_status segc_segresnet_config_check(const segc_segresnet_config *config);

typedef struct {
  segc_groupnorm norm1, norm2;
  segc_conv3d conv1, conv2;
} segc_resblock;

typedef struct {
  segc_segresnet_config config;
  segc_device device;        // of the weights, gradients and every layer
  segc_arena weight_arena;   // every parameter, f32, MONAI's order
  segc_arena grad_arena;     // same layout; empty when not training
  float *weights;            // flat view of all parameters
  float *grads;              // flat view of all gradients, or NULL
  float *host_weights;       // on a GPU: a host copy of `weights` (else NULL)
  int64_t weight_count;      // parameters (18,799,401 for the bundle)
  segc_param *params;        // param_count entries, MONAI's order
  int param_count;

  segc_conv3d conv_init;
  segc_conv3d down_conv[SEGC_SEGRESNET_MAX_LEVELS];  // [0] unused
  segc_resblock *down_blocks[SEGC_SEGRESNET_MAX_LEVELS];
  segc_conv3d up_conv[SEGC_SEGRESNET_MAX_LEVELS];
  segc_resblock *up_blocks[SEGC_SEGRESNET_MAX_LEVELS];
  segc_groupnorm final_norm;
  segc_conv3d final_conv;
} segc_segresnet;

// Builds the parameter table and the layers on `device` (a run's device:
// segc_config_device). With `with_grads` a gradient arena of the same size
// is reserved. Weights start at zero: call segc_segresnet_init_weights or
// load a checkpoint. A device without kernels for the network's ops is
// refused with the backend table's message.
segc_status segc_segresnet_create(segc_segresnet *net,
                                  const segc_segresnet_config *config,
                                  bool with_grads, segc_device device);
void segc_segresnet_destroy(segc_segresnet *net);
// SEGC_OK when this build has kernels on `device` for every op of the
// network, else "SegResNet: conv3d: no cuda kernel in this build".
segc_status segc_segresnet_require_device(segc_device device);

// PyTorch's default initialisation, drawn from the counter RNG: conv weights
// and biases uniform in +-1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5)),
// GroupNorm weight 1 and bias 0. Fails only when a GPU upload does.
segc_status segc_segresnet_init_weights(segc_segresnet *net, uint64_t seed);

// The weights in host memory, in the flat arena's layout (a parameter at
// the same offset as in net->weights). On the CPU that is net->weights
// itself. On a GPU it is net->host_weights: segc_segresnet_weights_to_host
// fills it from the device first; after writing into it,
// segc_segresnet_weights_from_host uploads it and marks the weights changed.
float *segc_segresnet_host_buffer(const segc_segresnet *net);
segc_status segc_segresnet_weights_to_host(const segc_segresnet *net,
                                           float **host);
segc_status segc_segresnet_weights_from_host(segc_segresnet *net);
// Where parameter p lives in a host buffer of that layout.
static inline float *segc_segresnet_param_in(const segc_segresnet *net,
                                             float *host, const segc_param *p) {
  return host + ((const float *)p->value.data - net->weights);
}

// Finds a parameter by its MONAI key, NULL if absent.
segc_param *segc_segresnet_find(segc_segresnet *net, const char *name);

// Marks every parameter changed (after writing net->weights directly), so
// layers refresh their cached weight copies.
void segc_segresnet_weights_changed(segc_segresnet *net);

// Spatial sizes must be divisible by this (2^(levels-1)).
int64_t segc_segresnet_size_multiple(const segc_segresnet_config *config);

// logits = net(x). x: (N, in_channels, D, H, W) NDHWC f32 or bf16, D/H/W
// divisible by segc_segresnet_size_multiple. `compute` (f32 or bf16) is the
// dtype of the activations and convolutions; GroupNorm statistics and the
// logits are f32. In training mode (graph->training) dropout is active and
// the tape is recorded. logits: (N, out_channels, D, H, W) NDHWC f32.
segc_status segc_segresnet_forward(segc_segresnet *net, segc_graph *graph,
                                   segc_value *x, segc_dtype compute,
                                   segc_value **logits);

// Bytes the activation arena should reserve for a forward (and backward
// when training) at this input size: a safe upper bound from the shapes.
size_t segc_segresnet_activation_bound(const segc_segresnet_config *config,
                                       segc_shape input, segc_dtype compute,
                                       bool training);

// Convolution FLOPs of one forward at this input size.
double segc_segresnet_forward_flops(const segc_segresnet *net,
                                    segc_shape input);

// The convolutions one forward runs, with their input shapes, in order
// (benchmarks time them alone). Returns the count (at most `max`).
typedef struct {
  segc_conv3d *layer;
  segc_shape input;  // (N, Cin, D, H, W)
} segc_segresnet_conv_use;
int segc_segresnet_conv_uses(segc_segresnet *net, segc_shape input,
                             segc_segresnet_conv_use *uses, int max);

#endif
