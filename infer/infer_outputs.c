#include "infer/infer_outputs.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/json_file.h"
#include "io/atomic_file.h"

segc_status segc_label_keep(segc_volume *label, const bool *selected,
                            int classes) {
  if (label->dtype != SEGC_U8)
    return SEGC_FAIL(SEGC_ERR_INVALID, "label: expected u8, got %s",
                     segc_dtype_name(label->dtype));
  uint8_t keep[256];
  for (int v = 0; v < 256; ++v) keep[v] = v < classes && selected[v];
  uint8_t *l = label->data;
  const int64_t n = segc_volume_numel(label);
  int64_t bad = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (l[i] >= classes) bad = i;
    if (!keep[l[i]]) l[i] = 0;
  }
  if (bad >= 0)
    return SEGC_FAIL(SEGC_ERR_INVALID, "label: value at voxel %lld is not "
                     "below %d classes", (long long)bad, classes);
  return SEGC_OK;
}

static double ct_value(const segc_volume *ct, int64_t i) {
  switch (ct->dtype) {
    case SEGC_U8: return ((const uint8_t *)ct->data)[i];
    case SEGC_I16: return ((const int16_t *)ct->data)[i];
    case SEGC_I32: return ((const int32_t *)ct->data)[i];
    case SEGC_F32: return ((const float *)ct->data)[i];
    default: return NAN;
  }
}

void segc_structure_stats_free(segc_structure_stats *stats) {
  free(stats->voxels);
  free(stats->mean_hu);
  free(stats->std_hu);
  memset(stats, 0, sizeof *stats);
}

segc_status segc_structure_stats_compute(const segc_volume *label,
                                         const segc_volume *ct, int classes,
                                         segc_structure_stats *out) {
  memset(out, 0, sizeof *out);
  if (label->dtype != SEGC_U8 || classes < 1 || classes > 256)
    return SEGC_FAIL(SEGC_ERR_INVALID, "stats: need a u8 label and 1..256 "
                     "classes");
  if (ct) {
    if (memcmp(ct->dim, label->dim, sizeof ct->dim) != 0)
      return SEGC_FAIL(SEGC_ERR_INVALID, "stats: the CT is %lldx%lldx%lld, "
                       "the label %lldx%lldx%lld", (long long)ct->dim[0],
                       (long long)ct->dim[1], (long long)ct->dim[2],
                       (long long)label->dim[0], (long long)label->dim[1],
                       (long long)label->dim[2]);
    if (ct->dtype != SEGC_U8 && ct->dtype != SEGC_I16 &&
        ct->dtype != SEGC_I32 && ct->dtype != SEGC_F32)
      return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "stats: CT dtype %s",
                       segc_dtype_name(ct->dtype));
  }
  out->classes = classes;
  out->voxels = calloc((size_t)classes, sizeof *out->voxels);
  out->mean_hu = calloc((size_t)classes, sizeof *out->mean_hu);
  out->std_hu = calloc((size_t)classes, sizeof *out->std_hu);
  double *sum = calloc((size_t)classes, sizeof *sum);
  double *sum_sq = calloc((size_t)classes, sizeof *sum_sq);
  if (!out->voxels || !out->mean_hu || !out->std_hu || !sum || !sum_sq) {
    free(sum);
    free(sum_sq);
    segc_structure_stats_free(out);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "stats: out of memory");
  }
  const double (*a)[4] = label->affine;
  const double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
                     a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
                     a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
  out->voxel_ml = fabs(det) / 1000.0;
  const uint8_t *l = label->data;
  const int64_t n = segc_volume_numel(label);
  int64_t bad = -1;
  for (int64_t i = 0; i < n; ++i) {
    const int c = l[i];
    if (c >= classes) {
      bad = i;
      continue;
    }
    out->voxels[c]++;
    if (ct) {
      const double v = ct_value(ct, i);
      sum[c] += v;
      sum_sq[c] += v * v;
    }
  }
  for (int c = 0; c < classes; ++c) {
    if (!ct || out->voxels[c] == 0) {
      out->mean_hu[c] = out->std_hu[c] = NAN;
      continue;
    }
    const double count = (double)out->voxels[c];
    const double mean = sum[c] / count;
    const double variance = sum_sq[c] / count - mean * mean;
    out->mean_hu[c] = mean;
    out->std_hu[c] = variance > 0.0 ? sqrt(variance) : 0.0;
  }
  free(sum);
  free(sum_sq);
  if (bad >= 0) {
    segc_structure_stats_free(out);
    return SEGC_FAIL(SEGC_ERR_INVALID, "stats: label value at voxel %lld is "
                     "not below %d classes", (long long)bad, classes);
  }
  return SEGC_OK;
}

static cJSON *number_or_null(double v) {
  return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static bool is_selected(const bool *selected, int c) {
  return c > 0 && (!selected || selected[c]);
}

static segc_status write_stats_csv(const segc_structure_stats *stats,
                                   const segc_label_table *names,
                                   const bool *selected, const char *path) {
  segc_atomic_file file;
  SEGC_TRY(segc_atomic_file_open(&file, path));
  char line[512];
  int n = snprintf(line, sizeof line,
                   "index,name,voxels,volume_ml,mean_hu,std_hu\n");
  segc_status status = segc_atomic_file_write(&file, line, (size_t)n);
  for (int c = 1; c < stats->classes && status == SEGC_OK; ++c) {
    if (!is_selected(selected, c)) continue;
    char mean[64] = "", std[64] = "";
    if (isfinite(stats->mean_hu[c]))
      snprintf(mean, sizeof mean, "%.6g", stats->mean_hu[c]);
    if (isfinite(stats->std_hu[c]))
      snprintf(std, sizeof std, "%.6g", stats->std_hu[c]);
    n = snprintf(line, sizeof line, "%d,%s,%lld,%.6f,%s,%s\n", c,
                 names->names[c], (long long)stats->voxels[c],
                 (double)stats->voxels[c] * stats->voxel_ml, mean, std);
    status = segc_atomic_file_write(&file, line, (size_t)n);
  }
  if (status == SEGC_OK) return segc_atomic_file_commit(&file);
  segc_atomic_file_abort(&file);
  return status;
}

segc_status segc_structure_stats_write(const segc_structure_stats *stats,
                                       const segc_label_table *names,
                                       const bool *selected,
                                       const char *json_path,
                                       const char *csv_path) {
  if (names->count < stats->classes)
    return SEGC_FAIL(SEGC_ERR_INVALID, "stats: %d names for %d classes",
                     names->count, stats->classes);
  if (json_path) {
    cJSON *root = cJSON_CreateObject();
    cJSON *structures = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "voxel_ml", stats->voxel_ml);
    cJSON_AddItemToObject(root, "structures", structures);
    for (int c = 1; c < stats->classes; ++c) {
      if (!is_selected(selected, c)) continue;
      cJSON *s = cJSON_CreateObject();
      cJSON_AddNumberToObject(s, "index", c);
      cJSON_AddNumberToObject(s, "voxels", (double)stats->voxels[c]);
      cJSON_AddNumberToObject(s, "volume_ml",
                              (double)stats->voxels[c] * stats->voxel_ml);
      cJSON_AddItemToObject(s, "mean_hu", number_or_null(stats->mean_hu[c]));
      cJSON_AddItemToObject(s, "std_hu", number_or_null(stats->std_hu[c]));
      cJSON_AddItemToObject(structures, names->names[c], s);
    }
    const segc_status status = segc_data_json_save(root, json_path);
    cJSON_Delete(root);
    SEGC_TRY(status);
  }
  if (csv_path) SEGC_TRY(write_stats_csv(stats, names, selected, csv_path));
  return SEGC_OK;
}

segc_status segc_write_structure_masks(const segc_volume *label,
                                       const segc_label_table *names,
                                       const bool *selected,
                                       const char *folder,
                                       const segc_nifti_info *like) {
  segc_volume mask;
  SEGC_TRY(segc_volume_alloc(&mask, SEGC_U8, label->dim));
  memcpy(mask.affine, label->affine, sizeof mask.affine);
  const uint8_t *l = label->data;
  uint8_t *m = mask.data;
  const int64_t n = segc_volume_numel(label);
  segc_status status = SEGC_OK;
  for (int c = 1; c < names->count && status == SEGC_OK; ++c) {
    if (!is_selected(selected, c)) continue;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) m[i] = l[i] == c;
    char path[4096];
    const int len = snprintf(path, sizeof path, "%s/%s.nii.gz", folder,
                             names->names[c]);
    if (len < 0 || (size_t)len >= sizeof path)
      status = SEGC_FAIL(SEGC_ERR_INVALID, "mask path too long in %s", folder);
    else
      status = segc_nifti_write(path, &mask, like);
  }
  segc_volume_free(&mask);
  return status;
}

static cJSON *int3(const int64_t *v) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < 3; ++i) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
  return a;
}

static cJSON *pipeline_json(const segc_sidecar_info *info) {
  const segc_infer_settings *s = info->settings;
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "weights", info->weights ? info->weights : "");
  cJSON *net = cJSON_AddObjectToObject(p, "network");
  cJSON_AddNumberToObject(net, "in_channels", (double)info->network->in_channels);
  cJSON_AddNumberToObject(net, "out_channels", (double)info->network->out_channels);
  cJSON_AddNumberToObject(net, "init_filters", (double)info->network->init_filters);
  cJSON_AddItemToObject(net, "blocks_down",
                        cJSON_CreateIntArray(info->network->blocks_down,
                                             info->network->levels));
  cJSON_AddItemToObject(net, "blocks_up",
                        cJSON_CreateIntArray(info->network->blocks_up,
                                             info->network->levels - 1));
  cJSON_AddNumberToObject(net, "norm_groups", info->network->norm_groups);
  cJSON_AddStringToObject(p, "orientation", "RAS");
  cJSON_AddItemToObject(p, "pixdim", cJSON_CreateDoubleArray(s->pixdim, 3));
  cJSON_AddStringToObject(p, "spacing_mode", "bilinear");
  cJSON_AddStringToObject(p, "normalize", "NormalizeIntensity(nonzero=True)");
  cJSON_AddStringToObject(p, "scale", "ScaleIntensity(minv=-1, maxv=1)");
  cJSON *sw = cJSON_AddObjectToObject(p, "sliding_window");
  cJSON_AddItemToObject(sw, "roi_size", int3(s->sw.roi));
  cJSON_AddNumberToObject(sw, "overlap", s->sw.overlap);
  cJSON_AddStringToObject(sw, "mode",
                          s->sw.blend == SEGC_SW_GAUSSIAN ? "gaussian" : "constant");
  cJSON_AddNumberToObject(sw, "sigma_scale", s->sw.sigma_scale);
  cJSON_AddStringToObject(sw, "padding_mode",
                          s->sw.padding == SEGC_SW_PAD_REPLICATE ? "replicate"
                                                                  : "constant");
  cJSON_AddNumberToObject(sw, "sw_batch_size", s->sw.sw_batch_size);
  if (info->sw) {  // constant windows blended again rather than computed
    cJSON_AddNumberToObject(sw, "windows", info->sw->windows);
    cJSON_AddNumberToObject(sw, "windows_computed",
                            info->sw->windows - info->sw->windows_reused);
    cJSON_AddNumberToObject(sw, "windows_reused", info->sw->windows_reused);
  }
  cJSON_AddStringToObject(p, "postprocessing", "argmax, inverse to the input "
                          "grid (nearest)");
  cJSON_AddStringToObject(p, "compute_dtype", segc_dtype_name(s->compute));
  cJSON_AddStringToObject(p, "compute_dtype_reason", s->compute_reason);
  cJSON_AddStringToObject(p, "output_dtype", info->output_dtype);
  if (info->input_dim) cJSON_AddItemToObject(p, "input_shape", int3(info->input_dim));
  if (info->net_dim) cJSON_AddItemToObject(p, "network_grid", int3(info->net_dim));
  return p;
}

segc_status segc_write_sidecar(const char *path, const segc_label_table *names,
                               const bool *selected,
                               const segc_sidecar_info *info) {
  cJSON *root = cJSON_CreateObject();
  cJSON *labels = cJSON_AddObjectToObject(root, "labels");
  for (int c = 0; c < names->count; ++c) {
    if (c > 0 && !is_selected(selected, c)) continue;
    char key[16];
    snprintf(key, sizeof key, "%d", c);
    cJSON_AddStringToObject(labels, key, names->names[c]);
  }
  if (info->input) cJSON_AddStringToObject(root, "input", info->input);
  if (info->output) cJSON_AddStringToObject(root, "output", info->output);
  cJSON_AddItemToObject(root, "pipeline", pipeline_json(info));
  const segc_status status = segc_data_json_save(root, path);
  cJSON_Delete(root);
  return status;
}
