// Training works: a small SegResNet (16 filters, 3 levels) overfits one
// phantom case (segprep phantom, 64^3 at 4.5 mm, 43 structures) with DiceCE
// and AdamW through segc's trainer, until the sliding-window prediction of
// the whole case reaches a mean Dice over 0.9 within a bounded number of
// steps. SEGC_OVERFIT_LR, SEGC_OVERFIT_FILTERS and SEGC_OVERFIT_VERBOSE
// (per-class Dice) are for experiments.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "core/rng.h"
#include "data/crop.h"
#include "data/training_case.h"
#include "infer/metrics.h"
#include "infer/segresnet_predictor.h"
#include "infer/sliding_window.h"
#include "phantom/phantom.h"
#include "train/trainer.h"
#include "util/test_util.h"

// 16 filters and lr 3e-3 reach a mean Dice of 0.9 after about 750 steps
// (the run is deterministic, so the bound below leaves room, not luck).
enum { kCrop = 64, kBatch = 1, kMaxSteps = 1200, kCheckEvery = 50 };

static segc_status mean_dice(segc_segresnet *net, const segc_volume *image,
                             const segc_volume *label, double *dice) {
  segc_sw_config sw = segc_sw_default(net->config.out_channels);
  for (int a = 0; a < 3; ++a) sw.roi[a] = kCrop;
  segc_segresnet_predictor p;
  SEGC_TRY(segc_segresnet_predictor_init(
      &p, net, segc_shape5(1, 1, kCrop, kCrop, kCrop), SEGC_F32));
  size_t bytes;
  SEGC_TRY(segc_sw_scratch_bytes(&sw, image->dim, &bytes));
  segc_arena scratch;
  SEGC_TRY(segc_arena_init(&scratch, "windows", bytes, SEGC_DEVICE_CPU));
  segc_volume pred;
  SEGC_TRY(segc_sliding_window_argmax(&sw, segc_segresnet_predict, &p, image,
                                      &scratch, &pred, NULL));
  segc_case_metrics m;
  SEGC_TRY(segc_metrics_compute(&pred, label, 105, 0.0, &m));
  *dice = segc_metrics_mean(m.dice, 105);
  if (getenv("SEGC_OVERFIT_VERBOSE"))
    for (int c = 1; c < 105; ++c)
      if (!isnan(m.dice[c]))
        printf("  class %d: dice %.3f (%lld voxels)\n", c, m.dice[c],
               (long long)m.ref_count[c]);
  segc_metrics_free(&m);
  segc_volume_free(&pred);
  segc_arena_destroy(&scratch);
  segc_segresnet_predictor_destroy(&p);
  return SEGC_OK;
}

int main(void) {
  const char *dir = test_temp_dir("train_overfit");
  segc_phantom_options po;
  segc_phantom_default_options(&po);
  po.dim[0] = po.dim[1] = po.dim[2] = 64;
  po.spacing[0] = po.spacing[1] = po.spacing[2] = 4.5;
  po.seed = 7;
  CHECK_OK(segc_phantom_write_dataset(dir, &po, 1, 0));
  const double pixdim[3] = {4.5, 4.5, 4.5};
  const int64_t roi[3] = {kCrop, kCrop, kCrop};
  segc_training_transforms t = segc_training_transforms_bundle(pixdim, roi);
  segc_volume image, label;
  CHECK_OK(segc_prepare_training_case(test_path(dir, "imagesTr/case_0000.nii.gz"),
                                      test_path(dir, "labelsTr/case_0000.nii.gz"),
                                      &t, &image, &label));

  segc_segresnet_config cfg = segc_segresnet_bundle_config();
  cfg.init_filters = getenv("SEGC_OVERFIT_FILTERS") ? atoi(getenv("SEGC_OVERFIT_FILTERS")) : 16;
  cfg.levels = 3;
  cfg.blocks_down[0] = cfg.blocks_down[1] = cfg.blocks_down[2] = 1;
  cfg.blocks_up[0] = cfg.blocks_up[1] = 1;
  cfg.dropout_prob = 0.0f;
  segc_segresnet net;
  CHECK_OK(segc_segresnet_create(&net, &cfg, true, SEGC_DEVICE_CPU));
  CHECK_OK(segc_segresnet_init_weights(&net, 3));
  segc_adamw_config adamw = segc_adamw_default();
  adamw.lr = getenv("SEGC_OVERFIT_LR") ? atof(getenv("SEGC_OVERFIT_LR")) : 3e-3;
  adamw.weight_decay = 1e-5;
  segc_trainer trainer;
  CHECK_OK(segc_trainer_init(&trainer, &net, &adamw, SEGC_AMP_OFF, kBatch, roi, 5));

  const int64_t voxels = (int64_t)kCrop * kCrop * kCrop;
  float *x = malloc(sizeof(float) * (size_t)(kBatch * voxels));
  uint8_t *y = malloc((size_t)(kBatch * voxels));
  double dice = 0.0, first_loss = 0.0, last_loss = 0.0;
  int step = 0;
  const double t0 = segc_now();
  while (step < kMaxSteps) {
    for (int b = 0; b < kBatch; ++b) {
      segc_box box;
      CHECK_OK(segc_rand_crop_box(image.dim, roi, 11,
                                  segc_rng_stream(SEGC_RNG_CROP, (uint64_t)step, (uint64_t)b),
                                  &box));
      segc_volume ci, cl;
      CHECK_OK(segc_crop_box(&image, &box, &ci));
      CHECK_OK(segc_crop_box(&label, &box, &cl));
      memcpy(x + b * voxels, ci.data, sizeof(float) * (size_t)voxels);
      memcpy(y + b * voxels, cl.data, (size_t)voxels);
      segc_volume_free(&ci);
      segc_volume_free(&cl);
    }
    segc_step_result r;
    CHECK_OK(segc_trainer_step(&trainer, x, y, kBatch, adamw.lr, &r));
    if (step == 0) first_loss = r.loss;
    last_loss = r.loss;
    ++step;
    if (step % kCheckEvery == 0) {
      CHECK_OK(mean_dice(&net, &image, &label, &dice));
      printf("step %d: loss %.4f, mean Dice %.4f (%.0f s)\n", step, r.loss, dice,
             segc_now() - t0);
      fflush(stdout);
      if (dice > 0.9) break;
    }
  }
  CHECK(dice > 0.9, "mean Dice %.4f after %d steps (loss %.4f -> %.4f)", dice,
        step, first_loss, last_loss);
  CHECK(last_loss < first_loss, "loss fell: %.4f -> %.4f", first_loss, last_loss);
  segc_trainer_destroy(&trainer);
  segc_segresnet_destroy(&net);
  segc_volume_free(&image);
  segc_volume_free(&label);
  free(x);
  free(y);
  return test_finish("train_overfit");
}
