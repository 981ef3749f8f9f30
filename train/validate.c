#include "train/validate.h"

#include <math.h>
#include <string.h>

#include "core/parallel.h"
#include "data/training_case.h"
#include "infer/metrics.h"
#include "infer/segresnet_predictor.h"
#include "infer/sliding_window.h"

static segc_sw_config window_settings(const segc_config *config) {
  segc_sw_config sw = segc_sw_default(config->network_def.out_channels);
  int roi[3];
  segc_config_sw_roi(config, roi);
  for (int a = 0; a < 3; ++a) sw.roi[a] = roi[a];
  sw.overlap = config->sw_overlap;
  sw.sw_batch_size = config->sw_batch_size;
  sw.blend = config->sw_mode == SEGC_CONFIG_SW_CONSTANT ? SEGC_SW_CONSTANT
                                                        : SEGC_SW_GAUSSIAN;
  sw.padding = config->sw_padding_mode == SEGC_CONFIG_PAD_CONSTANT
                   ? SEGC_SW_PAD_ZERO
                   : SEGC_SW_PAD_REPLICATE;
  return sw;
}

// Dice of one case: mean over the classes present in its label.
static segc_status case_dice(const segc_volume *pred, const segc_volume *label,
                             int classes, double *dice) {
  segc_case_metrics m;
  SEGC_TRY(segc_metrics_compute(pred, label, classes, 0.0, &m));
  *dice = segc_metrics_mean(m.dice, classes);
  segc_metrics_free(&m);
  return SEGC_OK;
}

// Validates this rank's cases (rank, rank + world, ...): sum of the cases'
// mean Dice and how many had one.
static segc_status validate_cases(segc_segresnet *net, const segc_config *config,
                                  segc_dtype compute,
                                  const segc_datalist *list, int rank,
                                  int world, double *sum_out, int *scored_out) {
  const int64_t count = list->count[SEGC_DATALIST_VALIDATION];
  double pixdim[3];
  segc_config_pixdim(config, pixdim);
  const int64_t roi[3] = {config->roi[0], config->roi[1], config->roi[2]};
  segc_training_transforms t = segc_training_transforms_bundle(pixdim, roi);
  t.classes = config->network_def.out_channels;
  t.center_crop = config->val_roi_set;
  for (int a = 0; a < 3; ++a) t.center_roi[a] = config->val_roi[a];
  const segc_sw_config sw = window_settings(config);
  const segc_shape window = segc_shape5(sw.sw_batch_size, 1, sw.roi[0],
                                        sw.roi[1], sw.roi[2]);
  segc_segresnet_predictor predictor;
  SEGC_TRY(segc_segresnet_predictor_init(&predictor, net, window, compute));
  double sum = 0.0;
  int scored = 0;
  segc_status status = SEGC_OK;
  for (int64_t i = rank; i < count && status == SEGC_OK; i += world) {
    const segc_datalist_item *item = &list->items[SEGC_DATALIST_VALIDATION][i];
    segc_volume image, label, pred;
    status = segc_prepare_training_case(item->image, item->label, &t, &image,
                                        &label);
    if (status != SEGC_OK) break;
    size_t bytes = 0;
    segc_arena scratch = {0};
    status = segc_sw_scratch_bytes(&sw, image.dim, &bytes);
    if (status == SEGC_OK)
      status = segc_arena_init(&scratch, "validation windows", bytes,
                               net->device);  // the predictor's device
    if (status == SEGC_OK)
      status = segc_sliding_window_argmax(&sw, segc_segresnet_predict,
                                          &predictor, &image, &scratch, &pred,
                                          NULL);
    if (scratch.base) segc_arena_destroy(&scratch);
    if (status == SEGC_OK) {
      double dice;
      status = case_dice(&pred, &label, t.classes, &dice);
      if (status == SEGC_OK && !isnan(dice)) {
        sum += dice;
        scored++;
      }
      segc_volume_free(&pred);
    }
    segc_volume_free(&image);
    segc_volume_free(&label);
    if (status != SEGC_OK)
      segc_fail_context(status, "validation case %s", item->image);
  }
  segc_segresnet_predictor_destroy(&predictor);
  *sum_out = sum;
  *scored_out = scored;
  return status;
}

segc_status segc_validate(segc_segresnet *net, const segc_config *config,
                          segc_dtype compute, const segc_datalist *list,
                          segc_comm *comm, segc_validation_result *result) {
  memset(result, 0, sizeof *result);
  result->mean_dice = NAN;
  const double t0 = segc_now();
  const int64_t count = list->count[SEGC_DATALIST_VALIDATION];
  if (count == 0) return SEGC_OK;
  const int rank = comm ? segc_comm_rank(comm) : 0;
  const int world = comm ? segc_comm_world_size(comm) : 1;
  double sum = 0.0;
  int scored = 0;
  segc_status status =
      validate_cases(net, config, compute, list, rank, world, &sum, &scored);
  if (comm && world > 1) {
    // One all-reduce carries the sums and whether a rank failed, so the
    // ranks stay in step whatever happened.
    double totals[3] = {sum, (double)scored, status == SEGC_OK ? 0.0 : 1.0};
    const segc_status reduced =
        segc_comm_allreduce_f64(comm, totals, 3, SEGC_COMM_SUM);
    if (status != SEGC_OK) return status;
    SEGC_TRY(reduced);
    if (totals[2] > 0.0)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "validation failed on %.0f other rank%s (its message "
                       "is in that rank's output)",
                       totals[2], totals[2] == 1.0 ? "" : "s");
    sum = totals[0];
    scored = (int)totals[1];
  }
  SEGC_TRY(status);
  result->cases = (int)count;
  result->mean_dice = scored ? sum / scored : NAN;
  result->seconds = segc_now() - t0;
  return SEGC_OK;
}
