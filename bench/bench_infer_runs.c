#include "bench/bench_infer_runs.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/file_list.h"
#include "data/json_file.h"
#include "data/nifti_io.h"
#include "io/model_io.h"
#include "layers/segresnet.h"

segc_status bench_exe_dir(char *dir, size_t size) {
  const ssize_t n = readlink("/proc/self/exe", dir, size - 1);
  if (n <= 0) return SEGC_FAIL(SEGC_ERR_IO, "cannot read /proc/self/exe");
  dir[n] = '\0';
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  return SEGC_OK;
}

segc_status bench_ensure_weights(const char *path, uint64_t seed) {
  if (segc_data_is_file(path)) return SEGC_OK;
  const segc_segresnet_config config = segc_segresnet_bundle_config();
  segc_segresnet net;
  SEGC_TRY(segc_segresnet_create(&net, &config, false, SEGC_DEVICE_CPU));
  segc_status status = segc_segresnet_init_weights(&net, seed);
  if (status == SEGC_OK) status = segc_segresnet_save_checkpoint(&net, path);
  segc_segresnet_destroy(&net);
  return status;
}

// Runs a shell command line; returns its exit status (-1 if it did not exit).
static int shell(const char *command) {
  const int status = system(command);
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

segc_status bench_ensure_resampled(const bench_setup *setup, const char *source,
                                   const char *path) {
  if (segc_data_is_file(path)) return SEGC_OK;
  char command[16384];
  snprintf(command, sizeof command,
           // A typical abdominal CT grid: 512x512x397 at 0.84x0.84x1.5 mm
           // (430 mm across), whose 1.5 mm network grid is 287x287x397 as in
           // the bundle's latency table. example_ct spans less; the rest is
           // its border replicated.
           "'%s/segprep' resample '%s' '%s' --shape 512,512,397 "
           "--spacing 0.84,0.84,1.5 >/dev/null",
           setup->bin_dir, source, path);
  if (shell(command) != 0)
    return SEGC_FAIL(SEGC_ERR_IO, "segprep resample %s failed", source);
  return SEGC_OK;
}

static double number(const cJSON *object, const char *key) {
  const cJSON *item = cJSON_GetObjectItem(object, key);
  return cJSON_IsNumber(item) ? item->valuedouble : 0.0;
}

static void read_shape(const cJSON *object, const char *key, int64_t shape[3]) {
  const cJSON *array = cJSON_GetObjectItem(object, key);
  for (int a = 0; a < 3; ++a) {
    const cJSON *item = cJSON_GetArrayItem(array, a);
    shape[a] = cJSON_IsNumber(item) ? (int64_t)item->valuedouble : 0;
  }
}

static void read_seconds(const cJSON *seconds, bench_run *run) {
  run->total = number(seconds, "total");
  run->pre = number(seconds, "pre");
  run->inferer = number(seconds, "inferer");
  run->invert = number(seconds, "invert");
  run->post = number(seconds, "post");
  run->write = number(seconds, "write");
}

void bench_run_seginfer(const bench_setup *setup, const char *input,
                        const char *tag, bool lowres, const char *dtype,
                        bench_run *run) {
  memset(run, 0, sizeof *run);
  char report[8192], command[32768];
  snprintf(run->label_path, sizeof run->label_path, "%s/out/%s_%s_%s.nii.gz",
           setup->cache, tag, lowres ? "lowres" : "highres", dtype);
  // Not <label>.json: that is the label's sidecar, which seginfer refuses to
  // overwrite with the report.
  snprintf(report, sizeof report, "%s/out/%s_%s_%s.report.json",
           setup->cache, tag, lowres ? "lowres" : "highres", dtype);
  snprintf(command, sizeof command,
           "'%s/seginfer' --weights '%s' --%s --dtype %s --threads %d --quiet "
           "--set device=%s -i '%s' -o '%s' --report '%s' >/dev/null "
           "2>'%s/out/seginfer.err'",
           setup->bin_dir, setup->weights, lowres ? "lowres" : "highres", dtype,
           setup->threads, setup->device[0] ? setup->device : "cpu", input,
           run->label_path, report, setup->cache);
  if (shell(command) != 0) {
    snprintf(run->note, sizeof run->note, "seginfer failed (see %s/out/seginfer.err)",
             setup->cache);
    return;
  }
  cJSON *root;
  if (segc_data_json_load(report, &root) != SEGC_OK) {
    snprintf(run->note, sizeof run->note, "no report: %s", segc_error_message());
    return;
  }
  const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "cases"), 0);
  read_seconds(cJSON_GetObjectItem(c, "seconds"), run);
  run->windows = (int)number(c, "windows");
  run->peak_rss_bytes = number(root, "peak_rss_bytes");
  read_shape(c, "input_shape", run->input_shape);
  read_shape(c, "network_grid", run->network_grid);
  run->ok = c != NULL;
  cJSON_Delete(root);
}

bool bench_monai_available(void) {
  return shell("/usr/bin/python3 -c 'import monai' >/dev/null 2>&1") == 0;
}

static double available_memory_bytes(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return 0.0;
  char line[256];
  double kb = 0.0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
  fclose(f);
  return kb * 1024.0;
}

void bench_run_monai(const bench_setup *setup, const char *input,
                     const char *tag, bool lowres, const int64_t network_grid[3],
                     const int64_t input_shape[3], bench_run *run) {
  memset(run, 0, sizeof *run);
  // MONAI holds the 105-channel logits and their softmax on the network grid
  // and several float32 copies of the input: about 750 B per network voxel
  // plus 24 B per input voxel plus 1.6 GB (fitted to 2.6 GB at 3 mm and
  // 9.4 GB at 1.5 mm on example_ct, docs/PERFORMANCE.md).
  const double net_voxels = (double)network_grid[0] * (double)network_grid[1] *
                            (double)network_grid[2];
  const double in_voxels = (double)input_shape[0] * (double)input_shape[1] *
                           (double)input_shape[2];
  const double need = 1.6e9 + 750.0 * net_voxels + 24.0 * in_voxels;
  const double have = available_memory_bytes();
  if (need * 1.2 > have) {
    snprintf(run->note, sizeof run->note,
             "skipped: MONAI needs about %.1f GB here, %.1f GB is available",
             need / 1e9, have / 1e9);
    return;
  }
  snprintf(run->label_path, sizeof run->label_path, "%s/out/%s_%s_monai.nii.gz",
           setup->cache, tag, lowres ? "lowres" : "highres");
  char json_path[8192], command[32768];
  snprintf(json_path, sizeof json_path, "%s/out/%s_%s_monai.json", setup->cache,
           tag, lowres ? "lowres" : "highres");
  snprintf(command, sizeof command,
           "/usr/bin/python3 '%s/monai_infer.py' --weights '%s' --input '%s' "
           "--output '%s' --pixdim %s --threads %d >'%s' 2>'%s/out/monai.err'",
           setup->tools_dir, setup->weights, input, run->label_path,
           lowres ? "3.0" : "1.5", setup->threads, json_path, setup->cache);
  if (shell(command) != 0) {
    snprintf(run->note, sizeof run->note, "MONAI failed (see %s/out/monai.err)",
             setup->cache);
    return;
  }
  cJSON *root;
  if (segc_data_json_load(json_path, &root) != SEGC_OK) {
    snprintf(run->note, sizeof run->note, "MONAI printed no JSON");
    return;
  }
  read_seconds(cJSON_GetObjectItem(root, "seconds"), run);
  run->peak_rss_bytes = number(root, "peak_rss_bytes");
  read_shape(root, "input_shape", run->input_shape);
  read_shape(root, "network_grid", run->network_grid);
  run->ok = true;
  cJSON_Delete(root);
}

double bench_label_agreement(const char *a, const char *b) {
  segc_volume x, y;
  if (segc_nifti_read(a, &x, NULL) != SEGC_OK) return -1.0;
  if (segc_nifti_read(b, &y, NULL) != SEGC_OK) {
    segc_volume_free(&x);
    return -1.0;
  }
  double result = -1.0;
  if (memcmp(x.dim, y.dim, sizeof x.dim) == 0) {
    const int64_t n = segc_volume_numel(&x);
    int64_t same = 0;
    for (int64_t i = 0; i < n; ++i)
      same += segc_load_f32(x.data, x.dtype, (size_t)i) ==
              segc_load_f32(y.data, y.dtype, (size_t)i);
    result = (double)same / (double)n;
  }
  segc_volume_free(&x);
  segc_volume_free(&y);
  return result;
}
