// The bundle's validation during training (configs/train.json "validate"):
// each validation case through the deterministic transforms plus
// CenterSpatialCrop(val_roi), the sliding window with the config's settings
// (MONAI's SlidingWindowInferer defaults there: constant blending, zero
// padding), argmax, and Dice without background per case (classes absent
// from the case's label skipped); the mean over cases of each case's mean.
//
// Data parallel: rank r of W validates cases r, r + W, ... (MONAI's
// DistributedSampler(shuffle=False, even_divisible=False): every case once),
// and the ranks' sums and counts are added, so every rank gets the mean over
// all cases.
#ifndef SEGC_TRAIN_VALIDATE_H
#define SEGC_TRAIN_VALIDATE_H

#include "config/config.h"
#include "data/datalist.h"
#include "dist/comm.h"
#include "layers/segresnet.h"

typedef struct {
  double mean_dice;     // NaN when no case had a foreground class
  int cases;
  double seconds;
} segc_validation_result;

// `compute`: the trainer's activation dtype (f32 or bf16). `comm` NULL:
// every case in this process. Otherwise collective: a failure on any rank
// fails every rank (the others with a line saying so).
segc_status segc_validate(segc_segresnet *net, const segc_config *config,
                          segc_dtype compute, const segc_datalist *list,
                          segc_comm *comm, segc_validation_result *result);

#endif
