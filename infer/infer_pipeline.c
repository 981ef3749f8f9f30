#include "infer/infer_pipeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "data/nifti_io.h"
#include "data/transforms.h"
#include "infer/checkpoint_network.h"
#include "io/model_io.h"

segc_status segc_infer_settings_from_config(const segc_config *config,
                                            int64_t channels,
                                            segc_infer_settings *out) {
  memset(out, 0, sizeof *out);
  segc_config_pixdim(config, out->pixdim);
  out->sw = segc_sw_default(channels);
  int roi[3];
  segc_config_sw_roi(config, roi);
  for (int a = 0; a < 3; ++a) out->sw.roi[a] = roi[a];
  out->sw.overlap = config->sw_overlap;
  out->sw.sw_batch_size = config->sw_batch_size;
  out->sw.blend = config->sw_mode == SEGC_CONFIG_SW_CONSTANT ? SEGC_SW_CONSTANT
                                                             : SEGC_SW_GAUSSIAN;
  out->sw.padding = config->sw_padding_mode == SEGC_CONFIG_PAD_CONSTANT
                        ? SEGC_SW_PAD_ZERO
                        : SEGC_SW_PAD_REPLICATE;
  // SEGC_SW_REUSE=0 sends every window through the network, constant ones
  // too (the reuse is bitwise exact; the switch is for comparing times).
  const char *reuse = getenv("SEGC_SW_REUSE");
  if (reuse && !strcmp(reuse, "0")) {
    out->sw.reuse_constant = 0;
  } else if (reuse && strcmp(reuse, "1") != 0) {
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "SEGC_SW_REUSE must be 0 (compute every window) or 1, "
                     "got \"%s\"", reuse);
  }
  SEGC_TRY(segc_config_device(config, &out->device));
  segc_dtype_choice compute;
  SEGC_TRY(segc_config_choose_compute(config, out->device, &compute));
  out->compute = compute.dtype;
  memcpy(out->compute_reason, compute.reason, sizeof out->compute_reason);
  out->notes = stdout;
  out->warnings = stderr;
  if (out->compute == SEGC_F16)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "amp \"fp16\" is the GPU mode; on the CPU compute in f32 "
                     "or bf16 (--dtype)");
  return SEGC_OK;
}

segc_status segc_infer_model_load(segc_infer_model *model, const char *path,
                                  const segc_config *config,
                                  const segc_infer_settings *settings) {
  memset(model, 0, sizeof *model);
  segc_pt_state_dict dict;
  SEGC_TRY(segc_pt_read(path, &dict));
  const segc_checkpoint_network_options options = {
      .config = config, .config_named = settings->check_network,
      .expected_classes = settings->sw.channels,
      .notes = settings->notes, .warnings = settings->warnings};
  segc_segresnet_config found;
  segc_status status = segc_checkpoint_network(path, &dict, &options, &found);
  if (status == SEGC_OK)
    status = segc_segresnet_create(&model->net, &found, false, settings->device);
  if (status != SEGC_OK) {  // no network was made
    segc_pt_free(&dict);
    return status;
  }
  status = segc_segresnet_load_state_dict(&model->net, &dict, path);
  segc_pt_free(&dict);
  if (status == SEGC_OK) {
    const segc_sw_config *sw = &settings->sw;
    const segc_shape window =
        segc_shape5(sw->sw_batch_size, found.in_channels, sw->roi[0],
                    sw->roi[1], sw->roi[2]);
    status = segc_segresnet_predictor_init(&model->predictor, &model->net,
                                           window, settings->compute);
  }
  if (status != SEGC_OK) {
    segc_segresnet_destroy(&model->net);
    return status;
  }
  model->sw_batch_size = settings->sw.sw_batch_size;
  model->ready = true;
  return SEGC_OK;
}

void segc_infer_model_destroy(segc_infer_model *model) {
  if (!model->ready) return;
  segc_segresnet_predictor_destroy(&model->predictor);
  segc_segresnet_destroy(&model->net);
  memset(model, 0, sizeof *model);
}

segc_status segc_infer_check_input(const segc_volume *ct, const char *name) {
  for (int a = 0; a < 3; ++a)
    if (ct->dim[a] < 2)
      return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                       "%s: %lldx%lldx%lld voxels: axis %d has a single "
                       "voxel (a 2D or 1D image); the 3D network needs at "
                       "least 2 voxels along every axis",
                       name, (long long)ct->dim[0], (long long)ct->dim[1],
                       (long long)ct->dim[2], a);
  return SEGC_OK;
}

// Runs the sliding window on the network input and frees it.
static segc_status infer_on_grid(segc_infer_model *model,
                                 const segc_infer_settings *settings,
                                 segc_volume *net_input, segc_volume *net_label,
                                 segc_infer_timings *t) {
  size_t scratch_bytes = 0;
  SEGC_TRY(segc_sw_scratch_bytes(&settings->sw, net_input->dim, &scratch_bytes));
  segc_arena scratch;
  // The accumulator lives where the predictor's logits are.
  SEGC_TRY(segc_arena_init(&scratch, "sliding window", scratch_bytes,
                           model->net.device));
  segc_sw_config sw = settings->sw;
  sw.channels = model->net.config.out_channels;
  const segc_status status = segc_sliding_window_argmax(
      &sw, segc_segresnet_predict, &model->predictor, net_input, &scratch,
      net_label, &t->sw);
  segc_arena_destroy(&scratch);
  return status;
}

segc_status segc_infer_volume(segc_infer_model *model,
                              const segc_infer_settings *settings,
                              segc_volume *ct, bool keep_ct,
                              const char *save_preprocessed,
                              segc_volume *label, segc_infer_timings *t) {
  memset(t, 0, sizeof *t);
  memset(label, 0, sizeof *label);
  if (!model->ready)
    return SEGC_FAIL(SEGC_ERR_INVALID, "inference: the model is not loaded");
  if (settings->sw.sw_batch_size != model->sw_batch_size)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "inference: sw_batch_size %d, the model was sized for %d",
                     settings->sw.sw_batch_size, model->sw_batch_size);
  const double start = segc_now();
  memcpy(t->input_dim, ct->dim, sizeof t->input_dim);
  double input_affine[4][4];
  memcpy(input_affine, ct->affine, sizeof input_affine);

  segc_volume net_input;
  segc_inference_record record;
  SEGC_TRY(segc_preprocess_inference(ct, settings->pixdim, &net_input, &record));
  if (!keep_ct) segc_volume_free(ct);
  memcpy(t->net_dim, net_input.dim, sizeof t->net_dim);
  const double preprocessed = segc_now();
  t->pre = preprocessed - start;
  segc_status status = SEGC_OK;
  if (save_preprocessed) {
    status = segc_nifti_write(save_preprocessed, &net_input, NULL);
    t->write += segc_now() - preprocessed;
  }

  const double inferer_start = segc_now();
  segc_volume net_label = {0};
  if (status == SEGC_OK)
    status = infer_on_grid(model, settings, &net_input, &net_label, t);
  segc_volume_free(&net_input);
  const double inferred = segc_now();
  t->inferer = inferred - inferer_start;
  if (status != SEGC_OK) return status;

  status = segc_invert_inference_label(&net_label, &record, label);
  segc_volume_free(&net_label);
  if (status != SEGC_OK) return status;
  // Invertd restores the input's own affine; segc's inverse computes it
  // through the recorded steps, equal up to rounding. Store the input's
  // bits so that the label overlays the CT exactly.
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c)
      if (fabs(label->affine[r][c] - input_affine[r][c]) > 1e-3) {
        segc_volume_free(label);
        return SEGC_FAIL(SEGC_ERR_INTERNAL,
                         "inference: the inverted label's affine [%d][%d] is "
                         "%g, the input's %g", r, c, label->affine[r][c],
                         input_affine[r][c]);
      }
  memcpy(label->affine, input_affine, sizeof input_affine);
  t->invert = segc_now() - inferred;
  t->total = segc_now() - start;
  return SEGC_OK;
}
