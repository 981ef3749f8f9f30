// seginfer: the bundle's inference (configs/inference.json) on CT volumes.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/parallel.h"
#include "data/datalist.h"
#include "data/dicom.h"
#include "data/file_list.h"
#include "infer/case_plan.h"
#include "infer/infer_case.h"
#include "infer/infer_options.h"
#include "infer/infer_report.h"
#include "infer/output_check.h"
#include "infer/structures.h"
#include "io/run_folder.h"

static void usage(FILE *out) {
  fprintf(out,
      "usage: seginfer [options] -i CT.nii.gz|DICOM_DIR -o LABEL.nii.gz\n"
      "       seginfer [options] -i A.nii.gz -i B.nii.gz ... -o FOLDER\n"
      "       seginfer [options] --datalist FILE | --dataset-dir DIR -o FOLDER\n"
      "Segments CT volumes as the MONAI bundle's inference does: Orientation\n"
      "RAS, Spacing 1.5 mm (3.0 mm with --lowres, bilinear), NormalizeIntensity\n"
      "(nonzero), ScaleIntensity(-1, 1), sliding window 96^3 (overlap 0.25,\n"
      "gaussian, replicate padding), argmax, back to the input grid (nearest),\n"
      "saved with the input's qform and sform plus a JSON sidecar naming the\n"
      "labels. No output may replace an input; every output folder is checked\n"
      "before the work starts.\n"
      "  --weights FILE        checkpoint (.pt); default: ckpt_dir/model.pt\n"
      "                        (model_lowres.pt with --lowres)\n"
      "  -i FILE|DIR           input CT (repeatable): NIfTI, or a folder\n"
      "                        holding a DICOM CT series (the label is NIfTI\n"
      "                        on the series' grid, as dcm2niix places it)\n"
      "  --series UID          the DICOM series to read where a folder holds\n"
      "                        several (SeriesInstanceUID)\n"
      "  --datalist FILE       inputs: its \"testing\" images, or every image\n"
      "                        when it has no testing entries\n"
      "  --dataset-dir DIR     inputs: DIR/imagesTs/*.nii.gz\n"
      "  -o PATH               label file (one input), else a folder; with\n"
      "                        --split always a folder. Several inputs go to\n"
      "                        FOLDER/<case>/<case>_trans.nii.gz as the bundle\n"
      "                        writes them (output_postfix, separate_folder)\n"
      "  --lowres | --highres  3.0 mm or 1.5 mm network grid\n"
      "  --overlap F  --sw-batch-size N  --threads N\n"
      "  --dtype auto|f32|bf16 compute dtype. auto (the default unless the\n"
      "                        config sets amp): bf16 where this CPU's bf16\n"
      "                        convolutions measure clearly faster, else f32;\n"
      "                        f32: exact parity with MONAI (amp false too)\n"
      "  --output-dtype u8|f32 label file dtype (default u8; f32 is the bundle's)\n"
      "  --output-type T[,T]   nifti (default), dicom-seg, or nifti,dicom-seg.\n"
      "                        dicom-seg (DICOM series inputs only) writes a\n"
      "                        DICOM Segmentation object: one segment per\n"
      "                        structure found, SNOMED CT codes, referencing\n"
      "                        the series' slices; -o LABEL.nii.gz or SEG.dcm\n"
      "                        puts it at <stem>.dcm (several inputs:\n"
      "                        FOLDER/<case>_<postfix>.dcm; --split:\n"
      "                        DIR/segmentation.dcm). With dicom-seg alone no\n"
      "                        NIfTI label (nor masks) is written\n"
      "  --split               one u8 0/1 mask per structure in the folder\n"
      "  --roi NAME,...        only these structures\n"
      "  --stats               per structure: voxels, ml, mean/std HU (JSON, CSV)\n"
      "  --preview PATH        PNG preview (a folder for several inputs)\n"
      "  --save-preprocessed PATH  network input as NIfTI (folder for several)\n"
      "  --report FILE         latency/memory report as JSON\n"
      "  --list-structures     print the class names and exit\n"
      "  --quiet               no progress line\n"
      SEGC_CONFIG_ARGS_USAGE
      "Exit status: 0 done, 1 error (one line 'seginfer: error: ...'), 2 usage.\n");
}

static int fail(const char *message) {
  fprintf(stderr, "seginfer: error: %s\n", message);
  return 1;
}

typedef struct {
  int case_index, case_count;
  int first_done, last_done;  // windows done at the first and last call
  double start;
} progress_state;

static void show_progress(void *context, int done, int total) {
  progress_state *p = context;
  if (done <= p->last_done || p->last_done == 0) {  // a new case
    p->first_done = done;
    p->start = segc_now();
  }
  p->last_done = done == total ? 0 : done;
  const double elapsed = segc_now() - p->start;
  const double eta = done > p->first_done
                         ? elapsed / (done - p->first_done) * (total - done)
                         : 0.0;
  fprintf(stderr, "\rseginfer: case %d/%d: windows %d/%d, ETA %.0f s   ",
          p->case_index, p->case_count, done, total, eta);
  if (done == total) fputc('\n', stderr);
  fflush(stderr);
}

typedef struct {
  const char **items;
  int count, capacity;
  segc_datalist list;        // owns strings from --datalist
  segc_name_list names;      // from --dataset-dir
  char **owned;
  int owned_count;
} input_list;

static int add_input(input_list *in, const char *path) {
  if (in->count == in->capacity) {
    in->capacity = in->capacity ? 2 * in->capacity : 16;
    const char **grown = realloc(in->items, sizeof *grown * (size_t)in->capacity);
    if (!grown) return 0;
    in->items = grown;
  }
  in->items[in->count++] = path;
  return 1;
}

static segc_status add_datalist(input_list *in, const char *path) {
  SEGC_TRY(segc_datalist_read_json(path, true, &in->list));
  const bool has_testing = in->list.count[SEGC_DATALIST_TESTING] > 0;
  for (int s = 0; s < SEGC_DATALIST_SPLITS; ++s) {
    if (has_testing && s != SEGC_DATALIST_TESTING) continue;
    for (int64_t i = 0; i < in->list.count[s]; ++i)
      if (!add_input(in, in->list.items[s][i].image))
        return SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
  }
  return SEGC_OK;
}

static segc_status add_dataset_dir(input_list *in, const char *dir) {
  char folder[4096];
  snprintf(folder, sizeof folder, "%s/imagesTs", dir);
  SEGC_TRY(segc_data_list_dir(folder, SEGC_LIST_FILES, ".nii.gz", &in->names));
  in->owned = calloc((size_t)in->names.count + 1, sizeof *in->owned);
  if (!in->owned) return SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
  for (int64_t i = 0; i < in->names.count; ++i) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", folder, in->names.names[i]);
    in->owned[in->owned_count] = strdup(path);
    if (!in->owned[in->owned_count] || !add_input(in, in->owned[in->owned_count]))
      return SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
    in->owned_count++;
  }
  return SEGC_OK;
}

typedef struct {
  const char *weights, *output, *roi, *preview, *preprocessed, *report_path;
  const char *series;  // --series: the DICOM series of input folders
  bool split, stats, list_structures, quiet;
  bool nifti, dicom_seg;  // --output-type
  int output_dtype;
  long long cell;
  bool check_network;  // a config or network_def override was given
} run_args;

// A killed seginfer leaves its staged outputs (".segc-tmp.<pid>.*") beside
// the final ones: those of dead processes are removed from the output's
// folder (and from the -o folder itself with several inputs), and said.
static segc_status remove_stale_outputs(const char *output, bool several) {
  char path[4096], folder[4096];
  snprintf(path, sizeof path, "%s", output);
  for (size_t n = strlen(path); n > 1 && path[n - 1] == '/'; --n) path[n - 1] = '\0';
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(folder, sizeof folder, ".");
  else snprintf(folder, sizeof folder, "%.*s", slash == path ? 1 : (int)(slash - path), path);
  segc_stale_temp_report report = {0};
  SEGC_TRY(segc_remove_stale_temp_files(folder, &report));
  if (several) SEGC_TRY(segc_remove_stale_temp_files(output, &report));
  if (report.count > 0)
    fprintf(stderr, "seginfer: removed %d temporary files that killed runs left "
            "(%.1f MB): %s\n", report.count, (double)report.bytes / 1e6,
            report.names);
  return SEGC_OK;
}

// Everything after the arguments; frees what it made on every path.
static int run(segc_config *config, const run_args *args, const input_list *inputs) {
  const int classes = config->network_def.out_channels;
  int rc = 1;
  segc_label_table names = {0};
  bool *selected = NULL;
  segc_infer_model model = {0};
  segc_infer_report_row *rows = NULL;
  // The default labels file names the bundle's 105 classes and may be
  // absent; a labels file the user names must be there.
  segc_config defaults;
  segc_config_defaults(&defaults);
  const bool default_labels = !strcmp(config->labels, defaults.labels);
  if (segc_structures_for_setting(config->labels, default_labels, classes,
                                  &names) != SEGC_OK)
    goto failed;
  if (args->list_structures) {
    for (int c = 0; c < names.count; ++c) printf("%d %s\n", c, names.names[c]);
    rc = 0;
    goto done;
  }
  if (args->roi) {
    selected = calloc((size_t)names.count, sizeof *selected);
    if (!selected) {
      segc_fail(SEGC_ERR_NOMEM, "out of memory");
      goto failed;
    }
    if (segc_structures_select(&names, args->roi, selected) != SEGC_OK) goto failed;
  }
  if (inputs->count == 0 || !args->output) {
    fprintf(stderr, "seginfer: error: %s\n", inputs->count == 0
            ? "no input (-i, --datalist or --dataset-dir)" : "no output (-o)");
    rc = 2;
    goto done;
  }
  const bool several = inputs->count > 1;
  const segc_output_layout layout = {
      .several = several, .split = args->split, .stats = args->stats,
      .output = args->output, .preview = args->preview,
      .preprocessed = args->preprocessed, .postfix = config->output_postfix,
      .ext = config->output_ext == SEGC_EXT_NII ? ".nii" : ".nii.gz",
      .separate_folder = config->separate_folder,
      .no_nifti = !args->nifti, .dicom_seg = args->dicom_seg};
  // Every output location, before any work: a bad one costs nothing.
  const segc_output_check check = {
      .layout = &layout, .inputs = inputs->items, .input_count = inputs->count,
      .report = args->report_path, .names = &names, .selected = selected};
  if (several && segc_plan_check_names(inputs->items, inputs->count) != SEGC_OK)
    goto failed;
  if (segc_check_outputs(&check) != SEGC_OK) goto failed;
  for (int c = 0; args->dicom_seg && c < inputs->count; ++c)
    if (!segc_dicom_is_series_path(inputs->items[c])) {
      segc_fail(SEGC_ERR_INVALID, "--output-type dicom-seg needs DICOM series "
                "inputs (folders); %s is not one", inputs->items[c]);
      goto failed;
    }
  if (several && (segc_data_make_dirs(args->output) != SEGC_OK ||
                  (args->preview && segc_data_make_dirs(args->preview) != SEGC_OK) ||
                  (args->preprocessed &&
                   segc_data_make_dirs(args->preprocessed) != SEGC_OK)))
    goto failed;
  if (remove_stale_outputs(args->output, several) != SEGC_OK) goto failed;

  segc_set_threads(config->threads);
  segc_infer_settings settings;
  if (segc_infer_settings_from_config(config, classes, &settings) != SEGC_OK)
    goto failed;
  for (int a = 0; a < 3; ++a) settings.sw.cell[a] = args->cell;
  settings.check_network = args->check_network;
  settings.dicom_series = args->series;
  char default_weights[4096];
  const char *weights = args->weights;
  if (!weights) {
    if (segc_config_model_path(config, default_weights, sizeof default_weights) != SEGC_OK)
      goto failed;
    weights = default_weights;
  }
  if (segc_infer_model_load(&model, weights, config, &settings) != SEGC_OK)
    goto failed;

  progress_state progress = {.case_count = inputs->count};
  if (!args->quiet && isatty(fileno(stderr))) {
    settings.sw.progress = show_progress;
    settings.sw.progress_context = &progress;
  }
  const segc_case_options options = {
      .names = &names, .selected = selected, .split = args->split,
      .stats = args->stats, .output_dtype = (segc_dtype)args->output_dtype,
      .weights = weights, .no_nifti = !args->nifti};
  rows = calloc((size_t)inputs->count, sizeof *rows);
  if (!rows) {
    segc_fail(SEGC_ERR_NOMEM, "out of memory");
    goto failed;
  }
  for (int c = 0; c < inputs->count; ++c) {
    segc_case_plan plan;
    progress.case_index = c + 1;
    if (segc_plan_case(&layout, inputs->items[c], &plan) != SEGC_OK ||
        segc_infer_case(&model, &settings, &options, &plan.paths, &rows[c]) != SEGC_OK) {
      if (several)
        segc_fail_context(SEGC_ERR_INVALID, "case %d of %d", c + 1, inputs->count);
      goto failed;
    }
  }
  const segc_infer_report report = {.threads = segc_threads(), .settings = &settings,
                                    .weights = weights, .rows = rows,
                                    .count = inputs->count};
  segc_infer_report_print(&report, stdout);
  if (args->report_path &&
      segc_infer_report_write_json(&report, args->report_path) != SEGC_OK)
    goto failed;
  rc = 0;
  goto done;
failed:
  fprintf(stderr, "seginfer: error: %s\n", segc_error_message());
  rc = 1;
done:
  free(rows);
  free(selected);
  segc_infer_model_destroy(&model);
  segc_labels_free(&names);
  return rc;
}

// --output-type: a comma-separated list of nifti and dicom-seg.
static bool parse_output_type(const char *value, run_args *args) {
  args->nifti = args->dicom_seg = false;
  char copy[64];
  if (snprintf(copy, sizeof copy, "%s", value) >= (int)sizeof copy) copy[0] = 0;
  char *save = NULL;
  bool unknown = false;
  for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (!strcmp(t, "nifti")) args->nifti = true;
    else if (!strcmp(t, "dicom-seg")) args->dicom_seg = true;
    else unknown = true;
  }
  if (unknown || (!args->nifti && !args->dicom_seg)) {
    fprintf(stderr, "seginfer: error: --output-type %s: expected nifti, "
            "dicom-seg or nifti,dicom-seg\n", value);
    return false;
  }
  return true;
}

// Reads the options left after --config/--set; returns 0, or the exit code
// after printing the error.
static int parse_args(int argc, char **argv, segc_config *config,
                      run_args *args, input_list *inputs) {
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (!strcmp(a, "--split")) { args->split = true; continue; }
    if (!strcmp(a, "--stats")) { args->stats = true; continue; }
    if (segc_infer_flag_parse(a, config)) continue;
    if (!strcmp(a, "--list-structures")) { args->list_structures = true; continue; }
    if (!strcmp(a, "--quiet")) { args->quiet = true; continue; }
    if (i + 1 >= argc || a[0] != '-') {
      fprintf(stderr, "seginfer: error: %s %s\n", a,
              a[0] == '-' ? "needs a value" : "is not an option");
      return 2;
    }
    const char *v = argv[++i];
    const segc_option_result shared = segc_infer_option_parse(a, v, config);
    if (shared == SEGC_OPTION_BAD) return fail(segc_error_message());
    if (shared == SEGC_OPTION_TAKEN) continue;
    char *end = NULL;
    if (!strcmp(a, "--weights")) args->weights = v;
    else if (!strcmp(a, "-i")) { if (!add_input(inputs, v)) return fail("out of memory"); }
    else if (!strcmp(a, "--datalist")) { if (add_datalist(inputs, v) != SEGC_OK) return fail(segc_error_message()); }
    else if (!strcmp(a, "--dataset-dir")) { if (add_dataset_dir(inputs, v) != SEGC_OK) return fail(segc_error_message()); }
    else if (!strcmp(a, "-o")) args->output = v;
    else if (!strcmp(a, "--roi")) args->roi = v;
    else if (!strcmp(a, "--preview")) args->preview = v;
    else if (!strcmp(a, "--save-preprocessed")) args->preprocessed = v;
    else if (!strcmp(a, "--report")) args->report_path = v;
    else if (!strcmp(a, "--series")) args->series = v;
    else if (!strcmp(a, "--output-type")) {
      if (!parse_output_type(v, args)) return 2;
    }
    else if (!strcmp(a, "--sw-cell")) {  // hidden: accumulator cell size
      args->cell = strtoll(v, &end, 10);
      if (*end || args->cell < 1) return fail("--sw-cell must be a positive integer");
    } else if (!strcmp(a, "--output-dtype")) {
      args->output_dtype = segc_dtype_parse(v);
      if (args->output_dtype != SEGC_U8 && args->output_dtype != SEGC_F32)
        return fail("--output-dtype must be u8 or f32");
    } else {
      fprintf(stderr, "seginfer: error: unknown option %s\n", a);
      usage(stderr);
      return 2;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (segc_config_answer_help(argc, argv, usage)) return 0;
  segc_config config;
  segc_config_notes notes = {0};
  const bool check_network = segc_config_args_name_network(argc, argv);
  if (segc_config_from_args(&argc, argv, &config, &notes) != SEGC_OK) {
    segc_config_notes_free(&notes);
    return fail(segc_error_message());
  }

  input_list inputs = {0};
  segc_datalist_init(&inputs.list);
  run_args args = {.output_dtype = SEGC_U8, .check_network = check_network,
                   .nifti = true};
  int rc = parse_args(argc, argv, &config, &args, &inputs);
  segc_infer_dtype_default(&config);
  segc_config_notes_print(&notes, stderr);
  segc_config_notes_free(&notes);
  if (rc == 0) rc = run(&config, &args, &inputs);
  segc_datalist_free(&inputs.list);
  segc_name_list_free(&inputs.names);
  for (int i = 0; i < inputs.owned_count; ++i) free(inputs.owned[i]);
  free(inputs.owned);
  free(inputs.items);
  return rc;
}
