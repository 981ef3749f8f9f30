// The network a checkpoint holds, for the programs that run one (seginfer,
// segeval, segforward), and where each of its settings came from.
//
// The shapes (in/out channels, init_filters, blocks_down, blocks_up) are the
// tensors' own. norm_groups and dropout_prob change no tensor shape, so they
// come from the segc_config.json that segtrain saves beside its checkpoints
// when there is one (it describes how these weights were trained), else from
// the config the user gave, else from the defaults. One note line says which
// came from where (programs print it on stdout, so that an error stays the
// one line on stderr).
#ifndef SEGC_INFER_CHECKPOINT_NETWORK_H
#define SEGC_INFER_CHECKPOINT_NETWORK_H

#include <stdbool.h>
#include <stdio.h>

#include "config/config.h"
#include "io/checkpoint_pt.h"

typedef struct {
  const segc_config *config;
  // The user named a network (a config file or --set network_def...): the
  // checkpoint's shapes must match its network_def (an error naming both),
  // and its norm_groups is compared with the saved one.
  bool config_named;
  // Output classes the caller's labels or metrics expect (0: any). A
  // checkpoint with another count is an error naming the checkpoint and the
  // labels, with what to do.
  int64_t expected_classes;
  FILE *notes;     // the line saying where settings came from; NULL: none
  FILE *warnings;  // "warning: ..." lines; NULL: none
} segc_checkpoint_network_options;

// `path` names the checkpoint read into `dict`; its folder is searched for
// segc_config.json. A saved config that describes other shapes than the
// checkpoint's (a copied checkpoint) is not used (with a warning); one that
// cannot be read or parsed is an error naming it.
segc_status segc_checkpoint_network(const char *path,
                                    const segc_pt_state_dict *dict,
                                    const segc_checkpoint_network_options *options,
                                    segc_segresnet_config *out);

// "in_channels 1, out_channels 105, init_filters 32, blocks_down [1,2,2,4],
// blocks_up [1,1,1]".
void segc_describe_network_shape(const segc_segresnet_config *config,
                                 char *text, size_t size);

#endif
