#include "infer/infer_case.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/parallel.h"
#include "data/dicom_seg_write.h"
#include "data/image_read.h"
#include "include/segc.h"
#include "infer/infer_outputs.h"
#include "infer/output_stage.h"
#include "infer/preview.h"

enum { kPathMax = 4096 };

// The temporary names every output is written to before the commit.
typedef struct {
  segc_output_stage stage;
  const char *folder;  // temporary folder, or NULL
  char label[kPathMax], sidecar[kPathMax], stats_json[kPathMax],
      stats_csv[kPathMax], dicom_seg[kPathMax];
  const char *preview, *preprocessed;
} staged_paths;

static segc_status inside(const char *folder, const char *name, char *out) {
  if (!name) {
    out[0] = '\0';
    return SEGC_OK;
  }
  const int n = snprintf(out, kPathMax, "%s/%s", folder, name);
  if (n < 0 || n >= kPathMax)
    return SEGC_FAIL(SEGC_ERR_INVALID, "output path too long: %s/%s", folder,
                     name);
  return SEGC_OK;
}

static segc_status stage_one(segc_output_stage *stage, const char *final_path,
                             char *out) {
  out[0] = '\0';
  if (!final_path) return SEGC_OK;
  const char *temp;
  SEGC_TRY(segc_output_stage_file(stage, final_path, &temp));
  snprintf(out, kPathMax, "%s", temp);
  return SEGC_OK;
}

static segc_status stage_paths(const segc_case_paths *paths, staged_paths *s) {
  memset(s, 0, sizeof *s);
  segc_output_stage_init(&s->stage);
  if (paths->folder) {
    SEGC_TRY(segc_output_stage_folder(&s->stage, paths->folder, &s->folder));
    SEGC_TRY(inside(s->folder, paths->label, s->label));
    SEGC_TRY(inside(s->folder, paths->sidecar, s->sidecar));
    SEGC_TRY(inside(s->folder, paths->stats_json, s->stats_json));
    SEGC_TRY(inside(s->folder, paths->stats_csv, s->stats_csv));
    SEGC_TRY(inside(s->folder, paths->dicom_seg, s->dicom_seg));
  } else {
    SEGC_TRY(stage_one(&s->stage, paths->label, s->label));
    SEGC_TRY(stage_one(&s->stage, paths->sidecar, s->sidecar));
    SEGC_TRY(stage_one(&s->stage, paths->stats_json, s->stats_json));
    SEGC_TRY(stage_one(&s->stage, paths->stats_csv, s->stats_csv));
    SEGC_TRY(stage_one(&s->stage, paths->dicom_seg, s->dicom_seg));
  }
  if (paths->preview)
    SEGC_TRY(segc_output_stage_file(&s->stage, paths->preview, &s->preview));
  if (paths->preprocessed)
    SEGC_TRY(segc_output_stage_file(&s->stage, paths->preprocessed,
                                    &s->preprocessed));
  return SEGC_OK;
}

static const char *or_null(const char *path) { return path[0] ? path : NULL; }

static bool starts_with(const char *text, const char *prefix) {
  return strncmp(text, prefix, strlen(prefix)) == 0;
}

// Replaces the CT by an int16 copy when its values are integers that fit,
// so that it can be kept for HU statistics at half (or a quarter) the size.
// Returns false when it does not fit (the caller re-reads the file later).
static segc_status shrink_to_i16(segc_volume *ct, bool *fits) {
  *fits = false;
  if (ct->dtype == SEGC_I16) {
    *fits = true;
    return SEGC_OK;
  }
  const int64_t n = segc_volume_numel(ct);
  for (int64_t i = 0; i < n; ++i) {
    double v;
    if (ct->dtype == SEGC_U8) v = ((const uint8_t *)ct->data)[i];
    else if (ct->dtype == SEGC_I32) v = ((const int32_t *)ct->data)[i];
    else if (ct->dtype == SEGC_F32) v = ((const float *)ct->data)[i];
    else return SEGC_OK;
    if (v != floor(v) || v < -32768.0 || v > 32767.0) return SEGC_OK;
  }
  segc_volume small;
  SEGC_TRY(segc_volume_copy(ct, SEGC_I16, &small));
  segc_volume_free(ct);
  *ct = small;
  *fits = true;
  return SEGC_OK;
}

static segc_status write_label(const char *path, const segc_volume *label,
                               segc_dtype dtype, const segc_nifti_info *like) {
  if (dtype == SEGC_U8) return segc_nifti_write(path, label, like);
  segc_volume as_float;
  SEGC_TRY(segc_volume_copy(label, dtype, &as_float));
  const segc_status status = segc_nifti_write(path, &as_float, like);
  segc_volume_free(&as_float);
  return status;
}

// The DICOM SEG of the label; says on stderr which of the source's missing
// UIDs it had to make.
static segc_status write_dicom_seg(const char *path, const segc_volume *label,
                                   const segc_case_options *o,
                                   const segc_dicom_source *source) {
  const segc_dicom_seg_options options = {
      .source = source,
      .names = (const char *const *)o->names->names,
      .name_count = o->names->count,
      .algorithm_name = "segc SegResNet (MONAI wholeBody_ct_segmentation)",
      .software_version = "segc " SEGC_VERSION_STRING};
  segc_dicom_seg_summary summary;
  SEGC_TRY(segc_dicom_seg_write(path, label, &options, &summary));
  if (summary.new_study_uid || summary.new_series_reference ||
      summary.new_frame_of_reference)
    fprintf(stderr, "seginfer: note: the DICOM series has no%s%s%s; the DICOM "
            "SEG uses new UIDs in their place\n",
            summary.new_study_uid ? " StudyInstanceUID" : "",
            summary.new_series_reference ? " SeriesInstanceUID" : "",
            summary.new_frame_of_reference ? " FrameOfReferenceUID" : "");
  return SEGC_OK;
}

// Everything after the network: structures kept, statistics, preview, the
// files (into their temporary names).
static segc_status derive_and_write(const segc_infer_model *model,
                                    const segc_infer_settings *settings,
                                    const segc_case_options *o,
                                    const segc_case_paths *paths,
                                    const staged_paths *s, segc_volume *ct,
                                    const segc_nifti_info *info,
                                    const segc_dicom_source *source,
                                    segc_volume *label, segc_infer_timings *t) {
  const double post_start = segc_now();
  const int classes = (int)model->net.config.out_channels;
  if (o->selected) SEGC_TRY(segc_label_keep(label, o->selected, classes));
  if ((o->stats || paths->preview) && !ct->data)
    SEGC_TRY(segc_image_read(paths->input, settings->dicom_series, ct, NULL));
  segc_structure_stats stats = {0};
  if (o->stats)
    SEGC_TRY(segc_structure_stats_compute(label, ct, classes, &stats));
  segc_status status = SEGC_OK;
  if (paths->preview) {
    status = segc_preview_write(s->preview, ct, label,
                                (const char *const *)o->names->names,
                                o->names->count, NULL);
    if (status != SEGC_OK) segc_fail_context(status, "writing %s", paths->preview);
  }
  segc_volume_free(ct);
  const double write_start = segc_now();
  t->post = write_start - post_start;
  char final_output[kPathMax];
  if (paths->folder)
    snprintf(final_output, sizeof final_output, "%s%s%s", paths->folder,
             paths->label ? "/" : "", paths->label ? paths->label : "");
  else
    snprintf(final_output, sizeof final_output, "%s",
             paths->label ? paths->label : paths->dicom_seg);
  if (status == SEGC_OK && or_null(s->dicom_seg))
    status = write_dicom_seg(s->dicom_seg, label, o, source);
  if (status == SEGC_OK && o->split && !o->no_nifti)
    status = segc_write_structure_masks(label, o->names, o->selected,
                                        s->folder, info);
  else if (status == SEGC_OK && or_null(s->label))
    status = write_label(s->label, label, o->output_dtype, info);
  if (status == SEGC_OK && or_null(s->sidecar)) {
    const segc_sidecar_info sidecar = {
        .input = paths->input,
        .output = final_output,
        .weights = o->weights,
        .settings = settings,
        .network = &model->net.config,
        .output_dtype = o->split ? "u8" : segc_dtype_name(o->output_dtype),
        .input_dim = t->input_dim,
        .net_dim = t->net_dim,
        .sw = &t->sw};
    status = segc_write_sidecar(s->sidecar, o->names, o->selected, &sidecar);
  }
  if (status == SEGC_OK && o->stats)
    status = segc_structure_stats_write(&stats, o->names, o->selected,
                                        or_null(s->stats_json),
                                        or_null(s->stats_csv));
  // Messages name the temporary file; say which output it was for.
  if (status != SEGC_OK && !starts_with(segc_error_message(), "writing "))
    segc_fail_context(status, "writing the outputs of %s", final_output);
  segc_structure_stats_free(&stats);
  t->write += segc_now() - write_start;
  return status;
}

segc_status segc_infer_case(segc_infer_model *model,
                            const segc_infer_settings *settings,
                            const segc_case_options *options,
                            const segc_case_paths *paths,
                            segc_infer_report_row *row) {
  if (options->split && !paths->folder)
    return SEGC_FAIL(SEGC_ERR_INVALID, "split masks need an output folder");
  if (options->names->count != model->net.config.out_channels)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%d label names for %lld outputs",
                     options->names->count,
                     (long long)model->net.config.out_channels);
  const double start = segc_now();
  staged_paths s;
  segc_status status = stage_paths(paths, &s);
  segc_volume ct = {0}, label = {0};
  segc_nifti_info info;
  segc_dicom_source source = {0};
  if (status == SEGC_OK && paths->dicom_seg)
    status = segc_image_read_dicom_source(paths->input, settings->dicom_series,
                                          &ct, &info, &source);
  else if (status == SEGC_OK)
    status = segc_image_read(paths->input, settings->dicom_series, &ct, &info);
  if (status == SEGC_OK) status = segc_infer_check_input(&ct, paths->input);
  bool keep = false;
  if (status == SEGC_OK && (options->stats || paths->preview))
    status = shrink_to_i16(&ct, &keep);
  segc_infer_timings t;
  memset(&t, 0, sizeof t);
  const double read_seconds = segc_now() - start;
  if (status == SEGC_OK)
    status = segc_infer_volume(model, settings, &ct, keep, s.preprocessed,
                               &label, &t);
  if (status == SEGC_OK)
    status = derive_and_write(model, settings, options, paths, &s, &ct, &info,
                              &source, &label, &t);
  segc_dicom_source_free(&source);
  segc_volume_free(&ct);
  segc_volume_free(&label);
  if (status == SEGC_OK) {
    const double commit_start = segc_now();
    status = segc_output_stage_commit(&s.stage);
    t.write += segc_now() - commit_start;
  } else {
    segc_output_stage_abort(&s.stage);
  }
  if (status != SEGC_OK) return status;
  // The bundle's "Pre" includes loading the image (LoadImaged).
  t.pre += read_seconds;
  t.total = segc_now() - start;
  if (row) {
    memset(row, 0, sizeof *row);
    segc_case_name(paths->input, row->name, sizeof row->name);
    snprintf(row->input, sizeof row->input, "%s", paths->input);
    if (paths->folder)
      snprintf(row->output, sizeof row->output, "%s", paths->folder);
    else
      snprintf(row->output, sizeof row->output, "%s",
               paths->label ? paths->label : "");
    row->timings = t;
    row->peak_rss_bytes = segc_peak_rss_bytes();
  }
  return SEGC_OK;
}
