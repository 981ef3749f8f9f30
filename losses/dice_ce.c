// Fused DiceCE: the argument checks, the loss from the per-(sample, class)
// sums, and the tape entry. The passes over the logits are kernels chosen by
// the logits' device (dice_ce_cpu.c, dice_ce_cuda.cu; see dice_ce_kernels.h).
#include "losses/dice_ce.h"

#include <stdlib.h>

#include "core/backend.h"
#include "core/tensor_ops.h"
#include "losses/dice_ce_kernels.h"

#ifdef SEGC_HAVE_CUDA
static const segc_dice_ce_kernels *const kernels_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&segc_dice_ce_cpu_kernels,
                         &segc_dice_ce_cuda_kernels);
#else
static const segc_dice_ce_kernels *const kernels_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&segc_dice_ce_cpu_kernels, NULL);
#endif

// The kernels for a device the backend table has accepted.
static const segc_dice_ce_kernels *kernels_on(segc_device device) {
  return kernels_by_device[device];
}

segc_dice_ce_config segc_dice_ce_default(void) {
  segc_dice_ce_config config = {
      .smooth_nr = 1e-5,
      .smooth_dr = 1e-5,
      .lambda_dice = 1.0,
      .lambda_ce = 1.0,
      .include_background = true,
  };
  return config;
}

static segc_status check_inputs(const segc_dice_ce_config *config,
                                const segc_value *logits,
                                const segc_tensor *labels) {
  if (!config || !logits || !labels)
    return SEGC_FAIL(SEGC_ERR_INVALID, "dice_ce: NULL config/logits/labels");
  const segc_tensor *x = &logits->data;
  if (!x->data)
    return SEGC_FAIL(SEGC_ERR_INVALID, "dice_ce: the logits have no data");
  if (x->dtype != SEGC_F32 && x->dtype != SEGC_BF16)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "dice_ce: logits must be f32 or bf16, not %s",
                     segc_dtype_name(x->dtype));
  if (labels->dtype != SEGC_U8)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "dice_ce: labels must be u8 class indices, not %s",
                     segc_dtype_name(labels->dtype));
  SEGC_TRY(segc_backend_require("dice_ce", x->device, x->dtype));
  SEGC_TRY(segc_backend_require("dice_ce", labels->device, labels->dtype));
  if (labels->device != x->device)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "dice_ce: the labels are on %s, the logits on %s",
                     segc_device_name(labels->device),
                     segc_device_name(x->device));
  char have[64], logits_shape[64], want[64];
  if (x->shape.c < 2)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "dice_ce: logits %s have %lld channel(s); the softmax "
                     "Dice needs at least 2 classes",
                     segc_shape_str(x->shape, have, sizeof have),
                     (long long)x->shape.c);
  if (segc_shape_numel(x->shape) <= 0)
    return SEGC_FAIL(SEGC_ERR_INVALID, "dice_ce: logits %s are empty",
                     segc_shape_str(x->shape, have, sizeof have));
  segc_shape expected = x->shape;
  expected.c = 1;
  if (!segc_shape_equal(labels->shape, expected))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "dice_ce: labels have shape %s but logits %s need %s",
                     segc_shape_str(labels->shape, have, sizeof have),
                     segc_shape_str(x->shape, logits_shape, sizeof logits_shape),
                     segc_shape_str(expected, want, sizeof want));
  if (!labels->data)
    return SEGC_FAIL(SEGC_ERR_INVALID, "dice_ce: the labels have no data");
  return SEGC_OK;
}

// What the backward needs: the configuration, the logits (held), the labels
// (the caller keeps them alive until backward) and the (N, K) sums.
typedef struct {
  segc_dice_ce_config config;
  segc_value *logits, *loss;
  segc_tensor labels;
  double *intersection, *pred_sum, *label_count;  // (N, K) each
} dice_ce_saved;

static segc_status dice_ce_backward(segc_graph *graph, void *context) {
  dice_ce_saved *s = context;
  const segc_tensor *loss_grad = &s->loss->grad;
  if (!loss_grad->data || loss_grad->dtype != SEGC_F32 ||
      loss_grad->device != s->logits->data.device)
    return SEGC_FAIL(SEGC_ERR_INTERNAL,
                     "dice_ce backward: missing or mismatched loss gradient");
  segc_tensor target;
  bool accumulate;
  SEGC_TRY(segc_value_grad_target(graph, s->logits, &target, &accumulate));
  if (target.dtype != SEGC_F32 && target.dtype != SEGC_BF16)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "dice_ce: logits gradient must be f32 or bf16, not %s",
                     segc_dtype_name(target.dtype));
  SEGC_TRY(segc_backend_require("dice_ce", target.device, target.dtype));
  const segc_dice_ce_sums sums = {s->intersection, s->pred_sum,
                                  s->label_count};
  return kernels_on(target.device)
      ->grad(graph->backend->scratch, &s->config, loss_grad, &s->logits->data,
             &s->labels, sums, &target, accumulate);
}

segc_status segc_dice_ce_forward(segc_graph *graph,
                                 const segc_dice_ce_config *config,
                                 segc_value *logits, const segc_tensor *labels,
                                 segc_value **loss, segc_dice_ce_parts *parts) {
  SEGC_TRY(check_inputs(config, logits, labels));
  const segc_tensor *x = &logits->data;
  const int64_t samples = x->shape.n, classes = x->shape.c;
  const int64_t voxels = segc_shape_spatial(x->shape);
  const segc_dice_ce_kernels *kernels = kernels_on(x->device);
  SEGC_TRY(kernels->check_labels(labels, classes));

  const bool record = segc_graph_needs_tape(graph, &logits, 1);
  dice_ce_saved *saved = NULL;
  double *sums;  // intersection, pred_sum, label_count: (N, K) each
  const size_t sum_bytes = sizeof(double) * (size_t)(3 * samples * classes);
  if (record) {
    SEGC_TRY(segc_graph_alloc_saved(graph, sizeof *saved, (void **)&saved));
    SEGC_TRY(segc_graph_alloc_saved(graph, sum_bytes, (void **)&sums));
  } else if (x->device == SEGC_DEVICE_CPU) {
    SEGC_TRY(segc_arena_alloc(graph->backend->scratch, sum_bytes, (void **)&sums));
  } else {  // the sums are host memory; scratch is the device's
    sums = malloc(sum_bytes);
    if (!sums) return SEGC_FAIL(SEGC_ERR_NOMEM, "dice_ce: out of memory");
  }
  double *intersection = sums, *pred_sum = sums + samples * classes;
  double *label_count = pred_sum + samples * classes;
  double ce_sum = 0.0;
  segc_status status =
      kernels->sums(graph->backend->scratch, x, labels, intersection, pred_sum,
                    label_count, &ce_sum);

  const int64_t first_class = segc_dice_ce_first_class(config);
  double dice_sum = 0.0;  // fixed order: sample-major, then class
  for (int64_t n = 0; n < samples; ++n)
    for (int64_t c = first_class; c < classes; ++c) {
      const int64_t i = n * classes + c;
      dice_sum += 1.0 - (2.0 * intersection[i] + config->smooth_nr) /
                            (label_count[i] + pred_sum[i] + config->smooth_dr);
    }
  const double dice = dice_sum / (double)(samples * (classes - first_class));
  const double ce = ce_sum / (double)(samples * voxels);
  if (!record && x->device == SEGC_DEVICE_CPU)
    segc_arena_free(graph->backend->scratch, sums, sum_bytes);
  else if (!record)
    free(sums);
  if (status != SEGC_OK) return segc_fail_context(status, "dice_ce forward");

  SEGC_TRY(segc_graph_new_value(graph, segc_shape5(1, 1, 1, 1, 1), SEGC_F32,
                                SEGC_LAYOUT_NCDHW, logits->requires_grad,
                                loss));
  status = segc_tensor_fill(
      &(*loss)->data,
      (float)(config->lambda_dice * dice + config->lambda_ce * ce));
  if (status != SEGC_OK) {
    segc_value_release(graph, *loss);
    *loss = NULL;
    return status;
  }
  if (parts) {
    parts->dice = dice;
    parts->ce = ce;
  }
  if (!record) return SEGC_OK;
  saved->config = *config;
  saved->logits = logits;
  saved->loss = *loss;
  saved->labels = *labels;
  saved->intersection = intersection;
  saved->pred_sum = pred_sum;
  saved->label_count = label_count;
  status = segc_graph_record(graph, "dice_ce", dice_ce_backward, saved, loss,
                             1, &logits, 1);
  if (status != SEGC_OK) {
    segc_value_release(graph, *loss);
    *loss = NULL;
  }
  return status;
}
