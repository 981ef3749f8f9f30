// The public interface (include/segc.h) over the programs' own code: the
// model and the volume pipeline of seginfer (infer/infer_pipeline.h), the
// configuration reader and segtrain's loop (train/). Only the functions
// declared in include/segc.h are exported from libsegc.so.
#include "include/segc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/parallel.h"
#include "infer/infer_pipeline.h"
#include "config/config.h"
#include "train/train_loop.h"

struct segc_model {
  segc_infer_settings settings;
  segc_infer_model model;
};

const char *segc_version(void) { return SEGC_VERSION_STRING; }

const char *segc_last_error(void) { return segc_error_message(); }

// The configuration a config file and "key=value" overrides give, read as
// the programs' --config FILE --set KEY=VALUE ... read them. Notes about
// ignored bundle keys go to `notes_out` (NULL: dropped).
static segc_status read_config(const char *config_path,
                               const char *const *overrides, int override_count,
                               FILE *notes_out, segc_config *config) {
  if (override_count < 0 || (override_count > 0 && !overrides))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "overrides: %d given but the list is %s", override_count,
                     overrides ? "there" : "NULL");
  segc_config_notes notes = {0};
  segc_config_defaults(config);
  segc_status status = SEGC_OK;
  if (config_path) status = segc_config_load_file(config, config_path, &notes);
  if (status == SEGC_OK && notes_out) segc_config_notes_print(&notes, notes_out);
  segc_config_notes_free(&notes);
  for (int i = 0; i < override_count && status == SEGC_OK; ++i) {
    if (!overrides[i])
      status = SEGC_FAIL(SEGC_ERR_INVALID, "override %d is NULL", i);
    else
      status = segc_config_apply_set(config, overrides[i]);
  }
  if (status == SEGC_OK) status = segc_config_validate(config);
  return status;
}

// As seginfer: a config file or a network_def override names the network,
// and the checkpoint is then checked against it.
static bool names_network(const char *config_path,
                          const char *const *overrides, int override_count) {
  if (config_path) return true;
  for (int i = 0; i < override_count; ++i)
    if (strncmp(overrides[i], "network_def", 11) == 0) return true;
  return false;
}

segc_model *segc_model_load(const char *weights, const char *config_path,
                            const char *const *overrides, int override_count) {
  segc_clear_error();
  if (!weights) {
    segc_fail(SEGC_ERR_INVALID, "segc_model_load: no weights file (NULL)");
    return NULL;
  }
  segc_config config;
  if (read_config(config_path, overrides, override_count, NULL, &config) !=
      SEGC_OK)
    return NULL;
  segc_model *model = calloc(1, sizeof *model);
  if (!model) {
    segc_fail(SEGC_ERR_NOMEM, "segc_model_load: out of memory");
    return NULL;
  }
  segc_set_threads(config.threads);
  segc_status status = segc_infer_settings_from_config(
      &config, config.network_def.out_channels, &model->settings);
  // A library prints nothing of its own: where settings came from is
  // dropped; warnings (a saved config that does not fit) stay on stderr.
  model->settings.notes = NULL;
  model->settings.check_network =
      names_network(config_path, overrides, override_count);
  if (status == SEGC_OK)
    status = segc_infer_model_load(&model->model, weights, &config,
                                   &model->settings);
  if (status != SEGC_OK) {
    free(model);
    return NULL;
  }
  return model;
}

void segc_model_free(segc_model *model) {
  if (!model) return;
  segc_infer_model_destroy(&model->model);
  free(model);
}

int segc_model_classes(const segc_model *model) {
  return model ? (int)model->model.net.config.out_channels : 0;
}

static segc_status check_affine(const double affine[4][4]) {
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c)
      if (!isfinite(affine[r][c]))
        return SEGC_FAIL(SEGC_ERR_INVALID,
                         "segc_segment: affine[%d][%d] is not finite", r, c);
  if (affine[3][0] != 0.0 || affine[3][1] != 0.0 || affine[3][2] != 0.0 ||
      affine[3][3] != 1.0)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "segc_segment: the affine's bottom row is %g %g %g %g, "
                     "not 0 0 0 1", affine[3][0], affine[3][1], affine[3][2],
                     affine[3][3]);
  const double (*m)[4] = affine;
  const double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                     m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                     m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  if (det == 0.0)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "segc_segment: the affine's 3x3 part is singular");
  return SEGC_OK;
}

// The caller's voxels (NIfTI order, i fastest) as a segc_volume (k fastest,
// data/volume.h), with the same element type the NIfTI reader gives
// seginfer for such a file, so that both run the same arithmetic.
static segc_status volume_from_caller(const void *voxels, segc_voxel_type type,
                                      const int64_t dim[3],
                                      const double *affine,
                                      segc_volume *ct) {
  if (type != SEGC_VOXELS_INT16 && type != SEGC_VOXELS_FLOAT32)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "segc_segment: unknown voxel type %d (SEGC_VOXELS_INT16 "
                     "or SEGC_VOXELS_FLOAT32)", (int)type);
  for (int a = 0; a < 3; ++a)
    if (dim[a] < 1 || dim[a] > (int64_t)1 << 20)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "segc_segment: dim[%d] = %lld is out of range (1 .. 2^20)",
                       a, (long long)dim[a]);
  double matrix[4][4];
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) matrix[r][c] = affine[4 * r + c];
  SEGC_TRY(check_affine(matrix));
  const segc_dtype dtype = type == SEGC_VOXELS_INT16 ? SEGC_I16 : SEGC_F32;
  SEGC_TRY(segc_volume_alloc(ct, dtype, dim));
  memcpy(ct->affine, matrix, sizeof ct->affine);
  int64_t nonfinite = 0;
  for (int64_t k = 0; k < dim[2]; ++k)
    for (int64_t j = 0; j < dim[1]; ++j)
      for (int64_t i = 0; i < dim[0]; ++i) {
        const int64_t from = i + dim[0] * (j + dim[1] * k);
        const int64_t to = segc_volume_offset(ct, i, j, k);
        if (dtype == SEGC_I16) {
          ((int16_t *)ct->data)[to] = ((const int16_t *)voxels)[from];
        } else {
          const float v = ((const float *)voxels)[from];
          nonfinite += !isfinite(v);
          ((float *)ct->data)[to] = v;
        }
      }
  if (nonfinite > 0) {
    segc_volume_free(ct);
    return SEGC_FAIL(SEGC_ERR_NONFINITE,
                     "segc_segment: %lld voxels are NaN or Inf",
                     (long long)nonfinite);
  }
  return SEGC_OK;
}

int segc_segment(segc_model *model, const void *voxels, segc_voxel_type type,
                 const int64_t dim[3], const double *affine,
                 uint8_t *labels) {
  segc_clear_error();
  if (!model || !voxels || !dim || !affine || !labels)
    return segc_fail(SEGC_ERR_INVALID,
                     "segc_segment: the model, voxels, dim, affine and labels "
                     "must not be NULL");
  segc_volume ct = {0}, label = {0};
  segc_infer_timings timings;
  segc_status status = volume_from_caller(voxels, type, dim, affine, &ct);
  if (status == SEGC_OK) status = segc_infer_check_input(&ct, "segc_segment");
  if (status == SEGC_OK)
    status = segc_infer_volume(&model->model, &model->settings, &ct, false,
                               NULL, &label, &timings);
  if (status == SEGC_OK && (label.dtype != SEGC_U8 || label.dim[0] != dim[0] ||
                            label.dim[1] != dim[1] || label.dim[2] != dim[2]))
    status = segc_fail(SEGC_ERR_INTERNAL,
                       "segc_segment: the pipeline's label is not a u8 map on "
                       "the input grid");
  if (status == SEGC_OK) {
    const uint8_t *from = label.data;
    for (int64_t k = 0; k < dim[2]; ++k)
      for (int64_t j = 0; j < dim[1]; ++j)
        for (int64_t i = 0; i < dim[0]; ++i)
          labels[i + dim[0] * (j + dim[1] * k)] =
              from[segc_volume_offset(&label, i, j, k)];
  }
  segc_volume_free(&ct);
  segc_volume_free(&label);
  return (int)status;
}

int segc_train(const char *config_path, const char *const *overrides,
               int override_count, unsigned flags, int64_t max_steps) {
  segc_clear_error();
  if (!config_path)
    return segc_fail(SEGC_ERR_INVALID, "segc_train: no config file (NULL)");
  if (flags & ~(SEGC_TRAIN_RESUME | SEGC_TRAIN_OVERWRITE | SEGC_TRAIN_QUIET))
    return segc_fail(SEGC_ERR_INVALID, "segc_train: unknown flags 0x%x", flags);
  if (max_steps < 0)
    return segc_fail(SEGC_ERR_INVALID, "segc_train: max_steps %lld < 0",
                     (long long)max_steps);
  segc_config config;
  SEGC_TRY(read_config(config_path, overrides, override_count, stderr, &config));
  segc_train_options options = {0};
  options.log = stderr;
  options.terminal =
      !(flags & SEGC_TRAIN_QUIET) && isatty(fileno(stderr));
  options.resume = (flags & SEGC_TRAIN_RESUME) || config.resume[0];
  options.overwrite = (flags & SEGC_TRAIN_OVERWRITE) != 0;
  options.max_steps = max_steps;
  segc_set_threads(config.threads);
  segc_train_summary summary;
  return (int)segc_train_run(&config, &options, &summary);
}
