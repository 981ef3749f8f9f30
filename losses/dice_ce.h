// MONAI's DiceCELoss(to_onehot_y=True, softmax=True), fused: one pass over
// the logits computes the softmax, the cross-entropy and the per-(sample,
// class) sums the Dice needs, in f32 with double accumulators in fixed chunk
// order (thread-count independent).
//
// dice[n, c] = 1 - (2 I + smooth_nr) / (G + P + smooth_dr), with
// I = sum p*y, G = sum y, P = sum p over voxels; dice = mean over n and c
// (c from 0 unless include_background is false, then from 1).
// ce = mean over all voxels of -log softmax(logits)[label].
// loss = lambda_dice * dice + lambda_ce * ce.
#ifndef SEGC_LOSSES_DICE_CE_H
#define SEGC_LOSSES_DICE_CE_H

#include <stdbool.h>

#include "autograd/graph.h"
#include "core/tensor.h"

typedef struct {
  double smooth_nr, smooth_dr;     // 1e-5, 1e-5
  double lambda_dice, lambda_ce;   // 1, 1
  bool include_background;         // true
} segc_dice_ce_config;

// MONAI's defaults, as the bundle uses them.
segc_dice_ce_config segc_dice_ce_default(void);

typedef struct {
  double dice;  // the Dice term (before lambda)
  double ce;    // the cross-entropy term (before lambda)
} segc_dice_ce_parts;

// logits: (N, K, D, H, W), NDHWC or NCDHW, f32 or bf16.
// labels: (N, 1, D, H, W) u8 class indices in [0, K) (same spatial layout
// order as logits: NDHWC and NCDHW coincide for one channel). A label >= K is
// an error naming the value.
// loss: a new (1,1,1,1,1) f32 value; parts (optional) receives the two terms.
// Backward writes d loss / d logits in the logits' dtype.
segc_status segc_dice_ce_forward(segc_graph *graph,
                                 const segc_dice_ce_config *config,
                                 segc_value *logits, const segc_tensor *labels,
                                 segc_value **loss, segc_dice_ce_parts *parts);

#endif
