// The bundle's validation during training (configs/train.json "validate"):
// each validation case through the deterministic transforms plus
// CenterSpatialCrop(val_roi), the sliding window with the config's settings
// (MONAI's SlidingWindowInferer defaults there: constant blending, zero
// padding), argmax, and Dice without background per case (classes absent
// from the case's label skipped); the mean over cases of each case's mean.
#ifndef SEGC_TRAIN_VALIDATE_H
#define SEGC_TRAIN_VALIDATE_H

#include "config/config.h"
#include "data/datalist.h"
#include "layers/segresnet.h"

typedef struct {
  double mean_dice;     // NaN when no case had a foreground class
  int cases;
  double seconds;
} segc_validation_result;

segc_status segc_validate(segc_segresnet *net, const segc_config *config,
                          const segc_datalist *list,
                          segc_validation_result *result);

#endif
