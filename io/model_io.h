// SegResNet weights to and from PyTorch checkpoints (MONAI's state-dict
// keys), and the hyper-parameters a checkpoint implies.
#ifndef SEGC_IO_MODEL_IO_H
#define SEGC_IO_MODEL_IO_H

#include "io/checkpoint_pt.h"
#include "layers/segresnet.h"

// Copies every parameter from the state dict (f32, f16 or bf16, converted to
// f32). Every key, shape, dtype and value is checked first: a missing key,
// an extra key, a shape that differs or a NaN or infinite value is an error
// naming the key (nothing is changed then). `source` names the checkpoint in
// messages.
segc_status segc_segresnet_load_state_dict(segc_segresnet *net,
                                           const segc_pt_state_dict *dict,
                                           const char *source);
segc_status segc_segresnet_load_checkpoint(segc_segresnet *net,
                                           const char *path);

// Counts the NaN and the infinite values among `count` f32, f16 or bf16
// elements in one pass (other dtypes count none).
void segc_count_non_finite(const void *data, segc_dtype dtype, size_t count,
                           int64_t *nans, int64_t *infs);
// Refuses `values`, laid out as net->weights (the weights or an optimizer
// moment), when a parameter's slice holds a NaN or an infinity: the error
// names `source`, `what` ("tensor", "adamw.m of") and the first such
// parameter with its counts.
segc_status segc_segresnet_check_finite(const segc_segresnet *net,
                                        const float *values,
                                        const char *source, const char *what);

// A state dict viewing the network's weights in host memory (no copy on
// the CPU; on a GPU the network's host copy, refreshed by this call; valid
// while the network lives and its weights do not change). Free with
// segc_segresnet_state_dict_free.
segc_status segc_segresnet_state_dict(const segc_segresnet *net,
                                      segc_pt_state_dict *out);
void segc_segresnet_state_dict_free(segc_pt_state_dict *dict);
// Writes the weights as a checkpoint that MONAI's SegResNet loads (strict).
segc_status segc_segresnet_save_checkpoint(const segc_segresnet *net,
                                           const char *path);

// Reads the hyper-parameters from the shapes in a state dict (channels,
// init_filters, blocks per level); dropout_prob and norm_groups are not
// stored in checkpoints and are left as in `config` on entry.
segc_status segc_segresnet_config_from_state_dict(
    const segc_pt_state_dict *dict, segc_segresnet_config *config);

#endif
