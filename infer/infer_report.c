#include "infer/infer_report.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "core/parallel.h"
#include "data/json_file.h"

void segc_case_name(const char *path, char *name, size_t size) {
  // A folder (a DICOM series) may be named with trailing slashes.
  size_t length = strlen(path);
  while (length > 1 && path[length - 1] == '/') --length;
  const char *slash = memrchr(path, '/', length);
  const char *base = slash ? slash + 1 : path;
  size_t n = length - (size_t)(base - path);
  const char *endings[] = {".nii.gz", ".nii"};
  for (int e = 0; e < 2; ++e) {
    const size_t len = strlen(endings[e]);
    if (n > len && !memcmp(base + n - len, endings[e], len)) {
      n -= len;
      break;
    }
  }
  if (n >= size) n = size - 1;
  memcpy(name, base, n);
  name[n] = '\0';
}

static double windows_per_second(const segc_infer_timings *t) {
  return t->inferer > 0.0 ? (double)t->sw.windows / t->inferer : 0.0;
}

void segc_infer_report_print(const segc_infer_report *report, FILE *out) {
  const segc_infer_settings *s = report->settings;
  fprintf(out,
          "Latency and memory (CPU, %d threads, %s compute, %.4g mm, "
          "sw_batch_size %d, overlap %.4g, %s blending)\n",
          report->threads, segc_dtype_name(s->compute), s->pixdim[0],
          s->sw.sw_batch_size, s->sw.overlap,
          s->sw.blend == SEGC_SW_GAUSSIAN ? "gaussian" : "constant");
  fprintf(out, "Compute dtype: %s\n", s->compute_reason);
  fprintf(out,
          "| Case | Total (s) | Pre | Inferer | Invert | Post | Write | "
          "Windows | Windows/s | Peak RSS (GB) |\n"
          "|---|---|---|---|---|---|---|---|---|---|\n");
  for (int i = 0; i < report->count; ++i) {
    const segc_infer_report_row *r = &report->rows[i];
    const segc_infer_timings *t = &r->timings;
    fprintf(out,
            "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %d | %.3f | "
            "%.2f |\n",
            r->name, t->total, t->pre, t->inferer, t->invert, t->post,
            t->write, t->sw.windows, windows_per_second(t),
            (double)r->peak_rss_bytes / 1e9);
  }
  for (int i = 0; i < report->count; ++i) {
    const segc_infer_report_row *r = &report->rows[i];
    const segc_infer_timings *t = &r->timings;
    fprintf(out,
            "%s: %lldx%lldx%lld -> network grid %lldx%lldx%lld; inferer = "
            "network %.2f s + blending %.2f s + argmax %.2f s; windows: %d "
            "computed, %d constant reused (kept logits %.2f GB); accumulator "
            "%.2f GB (%lld of %lld cells at peak)\n",
            r->name, (long long)t->input_dim[0], (long long)t->input_dim[1],
            (long long)t->input_dim[2], (long long)t->net_dim[0],
            (long long)t->net_dim[1], (long long)t->net_dim[2],
            t->sw.predict_seconds, t->sw.blend_seconds,
            t->sw.finalize_seconds, t->sw.windows - t->sw.windows_reused,
            t->sw.windows_reused, (double)t->sw.reuse_bytes / 1e9,
            (double)t->sw.accumulator_bytes / 1e9,
            (long long)t->sw.peak_cells, (long long)t->sw.total_cells);
  }
}

static cJSON *shape_json(const int64_t *d) {
  const double v[3] = {(double)d[0], (double)d[1], (double)d[2]};
  return cJSON_CreateDoubleArray(v, 3);
}

segc_status segc_infer_report_write_json(const segc_infer_report *report,
                                         const char *path) {
  const segc_infer_settings *s = report->settings;
  cJSON *root = cJSON_CreateObject();
  cJSON_AddNumberToObject(root, "threads", report->threads);
  cJSON_AddStringToObject(root, "compute_dtype", segc_dtype_name(s->compute));
  cJSON_AddStringToObject(root, "compute_dtype_reason", s->compute_reason);
  cJSON_AddItemToObject(root, "pixdim", cJSON_CreateDoubleArray(s->pixdim, 3));
  cJSON_AddNumberToObject(root, "sw_batch_size", s->sw.sw_batch_size);
  cJSON_AddNumberToObject(root, "overlap", s->sw.overlap);
  cJSON_AddStringToObject(root, "weights", report->weights ? report->weights : "");
  cJSON *cases = cJSON_AddArrayToObject(root, "cases");
  size_t peak = 0;
  for (int i = 0; i < report->count; ++i) {
    const segc_infer_report_row *r = &report->rows[i];
    const segc_infer_timings *t = &r->timings;
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "name", r->name);
    cJSON_AddStringToObject(c, "input", r->input);
    cJSON_AddStringToObject(c, "output", r->output);
    cJSON_AddItemToObject(c, "input_shape", shape_json(t->input_dim));
    cJSON_AddItemToObject(c, "network_grid", shape_json(t->net_dim));
    cJSON_AddNumberToObject(c, "windows", t->sw.windows);
    cJSON_AddNumberToObject(c, "windows_computed",
                            t->sw.windows - t->sw.windows_reused);
    cJSON_AddNumberToObject(c, "windows_reused", t->sw.windows_reused);
    cJSON_AddNumberToObject(c, "reuse_bytes", (double)t->sw.reuse_bytes);
    cJSON *sec = cJSON_AddObjectToObject(c, "seconds");
    cJSON_AddNumberToObject(sec, "total", t->total);
    cJSON_AddNumberToObject(sec, "pre", t->pre);
    cJSON_AddNumberToObject(sec, "inferer", t->inferer);
    cJSON_AddNumberToObject(sec, "invert", t->invert);
    cJSON_AddNumberToObject(sec, "post", t->post);
    cJSON_AddNumberToObject(sec, "write", t->write);
    cJSON_AddNumberToObject(sec, "predict", t->sw.predict_seconds);
    cJSON_AddNumberToObject(sec, "blend", t->sw.blend_seconds);
    cJSON_AddNumberToObject(sec, "argmax", t->sw.finalize_seconds);
    cJSON_AddNumberToObject(c, "windows_per_second", windows_per_second(t));
    cJSON_AddNumberToObject(c, "accumulator_bytes", (double)t->sw.accumulator_bytes);
    cJSON_AddNumberToObject(c, "peak_rss_bytes", (double)r->peak_rss_bytes);
    cJSON_AddItemToArray(cases, c);
    if (r->peak_rss_bytes > peak) peak = r->peak_rss_bytes;
  }
  const size_t now = segc_peak_rss_bytes();
  cJSON_AddNumberToObject(root, "peak_rss_bytes", (double)(now > peak ? now : peak));
  const segc_status status = segc_data_json_save(root, path);
  cJSON_Delete(root);
  return status;
}
