// segeval: Dice (and NSD) of predictions against labels with MONAI's rules,
// from files or by running the bundle's evaluation (configs/evaluate.json).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "data/datalist.h"
#include "data/file_list.h"
#include "data/nifti_io.h"
#include "dist/comm.h"
#include "infer/eval_cases.h"
#include "infer/eval_shards.h"
#include "infer/eval_table.h"
#include "infer/infer_options.h"
#include "infer/infer_report.h"
#include "infer/output_stage.h"
#include "infer/structures.h"

static void usage(FILE *out) {
  fprintf(out,
      "usage: segeval [FILE.json ...] --pred FILE_OR_DIR... --label FILE_OR_DIR...\n"
      "               [options]\n"
      "       segeval [FILE.json ...] --weights W.pt (--datalist FILE |\n"
      "               --dataset-dir DIR) [options]\n"
      "Per-class Dice with MONAI's DiceMetric rules (background excluded, a\n"
      "class absent from a case's label is NaN and left out of the means) and\n"
      "the normalized surface distance, written as MONAI's MetricsSaver does.\n"
      "Mode 1 pairs prediction and label files by case name (a trailing\n"
      "_<output_postfix> is ignored). Mode 2 runs the bundle's evaluation on\n"
      "the validation cases: validation preprocessing (CenterSpatialCrop\n"
      "val_roi), sliding window with sw_mode/sw_padding_mode (without a\n"
      "config file: configs/evaluate.json's constant/constant), prediction and\n"
      "label mapped back to the label's grid, then the metrics.\n"
      "Under mpirun with distributed true (configs/multi_cpu_evaluate.json)\n"
      "the cases are dealt over the processes (case i to rank i mod N) and\n"
      "rank 0 writes the CSVs, identical to one process's.\n"
      "Predictions and labels are given only with --pred and --label: an\n"
      "argument on its own is a config file and must end in .json.\n"
      "  --pred P / --label L   files or folders (repeatable)\n"
      "  --weights FILE         checkpoint; default ckpt_dir/model.pt\n"
      "  --datalist FILE        its \"validation\" cases (an image may be a\n"
      "                         folder holding a DICOM CT series)\n"
      "  --series UID           the DICOM series to read where such a folder\n"
      "                         holds several (SeriesInstanceUID)\n"
      "  --dataset-dir DIR      imagesTr/labelsTr, the last val_cases cases\n"
      "  --lowres | --highres   3.0 mm or 1.5 mm\n"
      "  --dtype auto|f32|bf16 --threads N --overlap F --sw-batch-size N\n"
      "                         auto (the default unless the config sets amp):\n"
      "                         bf16 where this CPU's bf16 convolutions\n"
      "                         measure clearly faster, else f32; f32: exact\n"
      "                         parity with MONAI\n"
      "  --classes K            classes incl. background (default: the\n"
      "                         network's out_channels, 105)\n"
      "  --nsd-tolerance MM     NSD tolerance (default 3; 0: no NSD)\n"
      "  --output-dir DIR       CSVs (default: output_dir of the config, eval)\n"
      "  --save-pred DIR        mode 2: <case>_pred.nii.gz and <case>_label.nii.gz\n"
      "                         (the label as mapped back, as the Dice sees it)\n"
      SEGC_CONFIG_FILE_USAGE
      SEGC_CONFIG_ARGS_USAGE);
}

static int fail(const char *message) {
  fprintf(stderr, "segeval: error: %s\n", message);
  return 1;
}

typedef struct {
  const char **items;
  int count;
} arg_list;

static int push(arg_list *list, int capacity, const char *value) {
  if (list->count >= capacity) return 0;
  list->items[list->count++] = value;
  return 1;
}

typedef struct {
  const char *dir;
  const char *raw[2], *summary[2], *overall;
  segc_output_stage stage;
} outputs;

static segc_status stage_outputs(outputs *o, bool nsd) {
  segc_output_stage_init(&o->stage);
  SEGC_TRY(segc_data_make_dirs(o->dir));
  const char *names[5] = {"mean_dice_raw.csv", "mean_dice_summary.csv",
                          "nsd_raw.csv", "nsd_summary.csv", "metrics.csv"};
  const char **slots[5] = {&o->raw[0], &o->summary[0], &o->raw[1],
                           &o->summary[1], &o->overall};
  for (int i = 0; i < 5; ++i) {
    if (!nsd && (i == 2 || i == 3)) continue;
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", o->dir, names[i]);
    SEGC_TRY(segc_output_stage_file(&o->stage, path, slots[i]));
  }
  return SEGC_OK;
}

static segc_status write_outputs(outputs *o, const segc_eval_table *table,
                                 const segc_label_table *names) {
  segc_status status = segc_eval_write_metric(table, false, names, o->raw[0],
                                              o->summary[0]);
  if (status == SEGC_OK && table->with_nsd)
    status = segc_eval_write_metric(table, true, names, o->raw[1], o->summary[1]);
  if (status == SEGC_OK) status = segc_eval_write_overall(table, o->overall);
  if (status == SEGC_OK) return segc_output_stage_commit(&o->stage);
  segc_output_stage_abort(&o->stage);
  return status;
}

// `pred_source` and `label_source` name where each map came from, so that a
// value beyond the class count is blamed on the right file.
static segc_status add_case(segc_eval_shards *rows, int index,
                            const char *name, const char *pred_source,
                            const char *label_source, const segc_volume *pred,
                            const segc_volume *label, double tolerance) {
  SEGC_TRY(segc_metrics_check_classes(pred, rows->classes, pred_source));
  SEGC_TRY(segc_metrics_check_classes(label, rows->classes, label_source));
  segc_case_metrics m;
  segc_status status =
      segc_metrics_compute(pred, label, rows->classes, tolerance, &m);
  if (status != SEGC_OK) return segc_fail_context(status, "%s", name);
  status = segc_eval_shards_put(rows, index, &m);
  segc_metrics_free(&m);
  return status;
}

static segc_status save_pair(const char *dir, const char *image,
                             const segc_volume *pred, const segc_volume *label) {
  char name[256], path[8192];
  segc_case_name(image, name, sizeof name);
  snprintf(path, sizeof path, "%s/%s_pred.nii.gz", dir, name);
  SEGC_TRY(segc_nifti_write(path, pred, NULL));
  snprintf(path, sizeof path, "%s/%s_label.nii.gz", dir, name);
  return segc_nifti_write(path, label, NULL);
}

typedef struct {
  arg_list preds, labels;
  const char *weights, *datalist, *dataset_dir, *output_dir, *save_pred;
  const char *series;  // --series: the DICOM series of image folders
  double tolerance;
  int classes;
  bool check_network;  // a config or network_def override was given
} eval_args;

// Reads the options left after --config/--set; returns 0, or the exit code
// after printing the error.
static int parse_args(int argc, char **argv, segc_config *config,
                      eval_args *e) {
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (segc_infer_flag_parse(a, config)) continue;
    if (i + 1 >= argc || a[0] != '-') {
      fprintf(stderr, "segeval: error: %s %s\n", a,
              a[0] == '-' ? "needs a value"
                          : "is not an option (config files end in .json; "
                            "predictions and labels go with --pred, --label)");
      return 2;
    }
    const char *v = argv[++i];
    const segc_option_result shared = segc_infer_option_parse(a, v, config);
    if (shared == SEGC_OPTION_BAD) return fail(segc_error_message());
    if (shared == SEGC_OPTION_TAKEN) continue;
    char *end = NULL;
    if (!strcmp(a, "--pred")) push(&e->preds, argc, v);
    else if (!strcmp(a, "--label")) push(&e->labels, argc, v);
    else if (!strcmp(a, "--weights")) e->weights = v;
    else if (!strcmp(a, "--datalist")) e->datalist = v;
    else if (!strcmp(a, "--dataset-dir")) e->dataset_dir = v;
    else if (!strcmp(a, "--output-dir")) e->output_dir = v;
    else if (!strcmp(a, "--save-pred")) e->save_pred = v;
    else if (!strcmp(a, "--series")) e->series = v;
    else if (!strcmp(a, "--nsd-tolerance")) {
      e->tolerance = strtod(v, &end);
      if (*end || !(e->tolerance >= 0.0 && e->tolerance < 1e4))
        return fail("--nsd-tolerance must be a number of mm >= 0");
    } else if (!strcmp(a, "--classes")) {
      e->classes = (int)strtol(v, &end, 10);
      if (*end || e->classes < 2 || e->classes > 256)
        return fail("--classes must be an integer in 2..256");
    } else {
      fprintf(stderr, "segeval: error: unknown option %s\n", a);
      usage(stderr);
      return 2;
    }
  }
  const bool mode_files = e->preds.count > 0 || e->labels.count > 0;
  const bool mode_network = e->datalist || e->dataset_dir || e->weights;
  if (mode_files == mode_network ||
      (mode_files && (!e->preds.count || !e->labels.count)) ||
      (mode_network && !!e->datalist == !!e->dataset_dir)) {
    fprintf(stderr, "segeval: error: give --pred and --label, or --weights with "
            "one of --datalist and --dataset-dir\n");
    return 2;
  }
  return 0;
}

// The cases of a run and the rounds that deal them over the ranks. Every
// rank takes every step (the collectives in segc_eval_shards_agree), and
// stops after the first round in which any rank failed.
typedef struct {
  segc_eval_shards rows;
  int failed_rank;  // -1: none
} eval_run;

// Collective: the end of one step; false when this or another rank failed.
// A failure to exchange ends the job: the other ranks cannot be told.
static bool round_ok(eval_run *r, segc_status local) {
  if (segc_eval_shards_agree(&r->rows, local, &r->failed_rank) != SEGC_OK)
    segc_comm_abort(r->rows.comm, 1, segc_error_message());
  return r->failed_rank < 0;
}

// A rank's own failure, said by that rank (prefixed with it under mpirun).
static void report(const eval_run *r, segc_status status) {
  if (status == SEGC_OK) return;
  if (r->rows.world_size > 1)
    fprintf(stderr, "segeval: error: rank %d of %d: %s\n", r->rows.rank,
            r->rows.world_size, segc_error_message());
  else
    fprintf(stderr, "segeval: error: %s\n", segc_error_message());
}

static void print_case(const eval_run *r, int index, const char *name,
                       double seconds) {
  fprintf(stderr, "segeval: case %d/%d %s: Dice %.4f (%.1f s)\n", index + 1,
          r->rows.cases, name,
          segc_metrics_mean(r->rows.dice + (size_t)index * (size_t)r->rows.classes,
                            r->rows.classes),
          seconds);
}

// Mode 1: prediction files against label files (the table's case names
// are pairs->label).
static void evaluate_files(const segc_config *config, const eval_args *e,
                           segc_eval_pairs *pairs, eval_run *r) {
  segc_status status = segc_eval_pair_files(
      e->preds.items, e->preds.count, e->labels.items, e->labels.count,
      config->output_postfix, pairs);
  if (status == SEGC_OK && pairs->unpaired_predictions && r->rows.rank == 0)
    fprintf(stderr, "note: %d prediction files have no label and are skipped\n",
            pairs->unpaired_predictions);
  if (status == SEGC_OK)
    status = segc_eval_shards_init(&r->rows, r->rows.comm, pairs->count,
                                   r->rows.classes, r->rows.with_nsd);
  report(r, status);
  const int rounds = round_ok(r, status) ? segc_eval_shards_rounds(&r->rows) : 0;
  for (int round = 0; round < rounds; ++round) {
    const int i = segc_eval_shards_case(&r->rows, round);
    if (i >= 0) {
      segc_volume p, l;
      status = segc_read_label_map(pairs->pred[i], "prediction", &p);
      if (status == SEGC_OK) {
        status = segc_read_label_map(pairs->label[i], "label", &l);
        if (status == SEGC_OK) {
          status = add_case(&r->rows, i, pairs->label[i], pairs->pred[i],
                            pairs->label[i], &p, &l, e->tolerance);
          segc_volume_free(&l);
        }
        segc_volume_free(&p);
      }
      report(r, status);
    }
    if (!round_ok(r, status)) break;
  }
}

// One case of mode 2: evaluated, saved when asked, its metrics stored.
static segc_status network_case(segc_infer_model *model,
                                const segc_infer_settings *settings,
                                const segc_training_transforms *transforms,
                                const eval_args *e,
                                const segc_datalist_item *item, int index,
                                eval_run *r) {
  segc_volume pred, label;
  const double t0 = segc_now();
  SEGC_TRY(segc_eval_case(model, settings, transforms, item->image, item->label,
                          &pred, &label));
  segc_status status = SEGC_OK;
  if (e->save_pred) status = save_pair(e->save_pred, item->image, &pred, &label);
  char pred_source[8192];
  snprintf(pred_source, sizeof pred_source, "the prediction for %s", item->image);
  if (status == SEGC_OK)
    status = add_case(&r->rows, index, item->image, pred_source, item->label,
                      &pred, &label, e->tolerance);
  if (status == SEGC_OK && r->rows.rank == 0)
    print_case(r, index, item->image, segc_now() - t0);
  segc_volume_free(&pred);
  segc_volume_free(&label);
  return status;
}

// Every rank computes in the same dtype (auto measures per process); rank
// 0 says which, once. Every rank calls it.
static void agree_compute(const eval_run *r, segc_infer_settings *settings) {
  segc_dtype_choice choice = {.dtype = settings->compute};
  memcpy(choice.reason, settings->compute_reason, sizeof choice.reason);
  if (segc_config_agree_compute(r->rows.comm, &choice) != SEGC_OK)
    segc_comm_abort(r->rows.comm, 1, segc_error_message());
  settings->compute = choice.dtype;
  memcpy(settings->compute_reason, choice.reason, sizeof choice.reason);
  if (r->rows.rank == 0 && choice.reason[0])
    fprintf(stderr, "segeval: compute dtype: %s\n", choice.reason);
}

// Mode 2: the bundle's evaluation of the validation cases with a network
// (the table's case names are the images). Every rank reads the datalist
// and loads the network, then evaluates its own cases.
static void evaluate_network(const segc_config *config, const eval_args *e,
                             segc_datalist *list, eval_run *r) {
  segc_status status =
      e->datalist ? segc_datalist_read_json(e->datalist, true, list)
                  : segc_datalist_from_dataset_dir(e->dataset_dir, config->val_cases,
                                                   list);
  const int64_t count = status == SEGC_OK ? list->count[SEGC_DATALIST_VALIDATION] : 0;
  if (status == SEGC_OK && count == 0)
    status = SEGC_FAIL(SEGC_ERR_INVALID, "%s has no validation cases",
                       e->datalist ? e->datalist : e->dataset_dir);
  if (status == SEGC_OK && count > INT32_MAX / 2)
    status = SEGC_FAIL(SEGC_ERR_INVALID, "%lld validation cases: too many",
                       (long long)count);
  if (status == SEGC_OK)
    status = segc_eval_shards_init(&r->rows, r->rows.comm, (int)count,
                                   r->rows.classes, r->rows.with_nsd);
  segc_infer_settings settings = {0};
  if (status == SEGC_OK)
    status = segc_infer_settings_from_config(config, e->classes, &settings);
  agree_compute(r, &settings);
  settings.check_network = e->check_network;
  settings.dicom_series = e->series;
  char default_weights[4096];
  const char *weights = e->weights;
  if (status == SEGC_OK && !weights) {
    status = segc_config_model_path(config, default_weights, sizeof default_weights);
    weights = default_weights;
  }
  if (status == SEGC_OK && e->save_pred) status = segc_data_make_dirs(e->save_pred);
  segc_infer_model model = {0};
  if (status == SEGC_OK)
    status = segc_infer_model_load(&model, weights, config, &settings);
  report(r, status);
  const int64_t roi[3] = {config->roi[0], config->roi[1], config->roi[2]};
  segc_training_transforms transforms =
      segc_training_transforms_bundle(settings.pixdim, roi);
  transforms.classes = e->classes;
  transforms.center_crop = config->val_roi_set;
  for (int a = 0; a < 3; ++a) transforms.center_roi[a] = config->val_roi[a];
  const int rounds = round_ok(r, status) ? segc_eval_shards_rounds(&r->rows) : 0;
  for (int round = 0; round < rounds; ++round) {
    const int i = segc_eval_shards_case(&r->rows, round);
    if (i >= 0) {
      status = network_case(&model, &settings, &transforms, e,
                            &list->items[SEGC_DATALIST_VALIDATION][i], i, r);
      report(r, status);
    }
    if (!round_ok(r, status)) break;
  }
  segc_infer_model_destroy(&model);
}

static void print_summary(const segc_eval_table *table, double tolerance,
                          const char *output_dir) {
  const int classes = table->classes;
  int present = 0;
  for (int c = 1; c < classes; ++c) {
    bool any = false;
    for (int i = 0; i < table->cases; ++i)
      any |= !isnan(table->dice[(size_t)i * (size_t)classes + (size_t)c]);
    present += any;
  }
  printf("segeval: %d cases, mean Dice %.4f over %d classes present",
         table->cases, segc_eval_mean(table->dice, table->cases, classes), present);
  if (table->with_nsd)
    printf(", mean NSD (%g mm) %.4f", tolerance,
           segc_eval_mean(table->nsd, table->cases, classes));
  printf("; CSVs in %s\n", output_dir);
}

// Rank 0's table of every case in dataset order, from the gathered rows.
static segc_status build_table(const eval_run *r, const char *const *names,
                               segc_eval_table *table) {
  for (int i = 0; i < r->rows.cases; ++i) {
    const size_t offset = (size_t)i * (size_t)r->rows.classes;
    const segc_case_metrics m = {
        .classes = r->rows.classes,
        .dice = r->rows.dice + offset,
        .nsd = r->rows.with_nsd ? r->rows.nsd + offset : NULL};
    SEGC_TRY(segc_eval_table_add(table, names[i], &m));
  }
  return SEGC_OK;
}

// Evaluates this rank's cases; on rank 0 then writes the CSVs of all.
static int run(const segc_config *config, const eval_args *e,
               segc_comm *comm) {
  const bool lead = segc_comm_rank(comm) == 0;
  // The default labels file names the bundle's 105 classes (other class
  // counts get generic names) and may be absent; a labels file the user
  // names must be there, as for seginfer.
  segc_config defaults;
  segc_config_defaults(&defaults);
  const bool default_labels = !strcmp(config->labels, defaults.labels);
  segc_label_table names = {0};
  eval_run r = {.failed_rank = -1};
  r.rows.comm = comm;
  r.rows.rank = segc_comm_rank(comm);
  r.rows.world_size = segc_comm_world_size(comm);
  r.rows.classes = e->classes;
  r.rows.with_nsd = e->tolerance > 0.0;
  outputs out = {.dir = e->output_dir};
  segc_output_stage_init(&out.stage);
  segc_status status =
      segc_structures_for_setting(config->labels, default_labels, e->classes, &names);
  segc_set_threads(config->threads);
  // Only rank 0 writes; it finds out first whether it can.
  if (status == SEGC_OK && lead) status = stage_outputs(&out, r.rows.with_nsd);
  report(&r, status);
  segc_eval_pairs pairs = {0};
  segc_datalist list;
  segc_datalist_init(&list);
  const char **case_names = NULL;
  if (round_ok(&r, status)) {
    if (e->preds.count) {
      evaluate_files(config, e, &pairs, &r);
      case_names = (const char **)pairs.label;
    } else {
      evaluate_network(config, e, &list, &r);
      case_names = calloc((size_t)r.rows.cases + 1, sizeof *case_names);
      for (int i = 0; case_names && i < r.rows.cases; ++i)
        case_names[i] = list.items[SEGC_DATALIST_VALIDATION][i].image;
    }
  }
  int code = r.failed_rank < 0 ? 0 : 1;
  if (code == 0 && segc_eval_shards_gather(&r.rows) != SEGC_OK)
    segc_comm_abort(comm, 1, segc_error_message());
  if (lead && code == 0) {
    segc_eval_table table;
    segc_eval_table_init(&table, e->classes, r.rows.with_nsd);
    status = case_names ? build_table(&r, case_names, &table)
                        : SEGC_FAIL(SEGC_ERR_NOMEM, "segeval: out of memory");
    if (status == SEGC_OK) status = write_outputs(&out, &table, &names);
    if (status == SEGC_OK) print_summary(&table, e->tolerance, e->output_dir);
    else report(&r, status);
    code = status == SEGC_OK ? 0 : 1;
    segc_eval_table_free(&table);
  } else if (lead) {
    if (r.failed_rank > 0)
      fprintf(stderr, "segeval: error: rank %d failed (its message is above); "
              "no CSVs written\n", r.failed_rank);
  }
  if (lead && code != 0) segc_output_stage_abort(&out.stage);
  if (!e->preds.count) free(case_names);
  segc_eval_pairs_free(&pairs);
  segc_datalist_free(&list);
  segc_eval_shards_free(&r.rows);
  segc_labels_free(&names);
  return code;
}

// Every option parse_args reads with a value (a value ending in .json is
// then not a config file).
static const char *const kValueOptions[] = {
    "--pred", "--label", "--weights", "--datalist", "--dataset-dir",
    "--output-dir", "--save-pred", "--nsd-tolerance", "--classes",
    "--overlap", "--sw-batch-size", "--threads", "--dtype", NULL};

int main(int argc, char **argv) {
  bool sets_mode = false, sets_padding = false;
  if (segc_config_answer_help(argc, argv, usage)) return 0;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--set") && i + 1 < argc) {
      sets_mode |= !strncmp(argv[i + 1], "sw_mode=", 8);
      sets_padding |= !strncmp(argv[i + 1], "sw_padding_mode=", 16);
    }
  }
  segc_config config;
  segc_config_notes notes = {0};
  const bool sets_network = segc_config_args_name_network(argc, argv);
  int config_files = 0;
  if (segc_config_from_command_line(&argc, argv, kValueOptions, &config, &notes,
                                    &config_files) != SEGC_OK) {
    segc_config_notes_free(&notes);
    return fail(segc_error_message());
  }
  const bool has_config = config_files > 0;
  const bool check_network = sets_network || has_config;
  // Without a config file: evaluate.json's sliding window (MONAI's defaults).
  if (!has_config && !sets_mode) config.sw_mode = SEGC_CONFIG_SW_CONSTANT;
  if (!has_config && !sets_padding) config.sw_padding_mode = SEGC_CONFIG_PAD_CONSTANT;
  // Under mpirun every process reads the same command line; rank 0 speaks.
  segc_comm *comm = NULL;
  if (segc_comm_create(&comm) != SEGC_OK) {
    segc_config_notes_free(&notes);
    return fail(segc_error_message());
  }
  const bool lead = segc_comm_rank(comm) == 0;
  if (lead) segc_config_notes_print(&notes, stderr);
  segc_config_notes_free(&notes);
  if (!config.distributed && segc_comm_world_size(comm) > 1) {
    // Every rank would evaluate every case and write the same files.
    if (lead)
      fprintf(stderr, "segeval: error: started as one of %d processes, but the "
              "config has distributed false (add configs/multi_cpu_evaluate.json "
              "or --set distributed=true)\n", segc_comm_world_size(comm));
    segc_comm_free(comm);
    return 1;
  }
  eval_args e = {.output_dir = config.output_dir, .tolerance = 3.0,
                 .classes = config.network_def.out_channels,
                 .check_network = check_network};
  e.preds.items = calloc((size_t)argc, sizeof(char *));
  e.labels.items = calloc((size_t)argc, sizeof(char *));
  int rc = e.preds.items && e.labels.items ? parse_args(argc, argv, &config, &e)
                                           : fail("out of memory");
  segc_infer_dtype_default(&config);
  if (rc == 0) rc = run(&config, &e, comm);
  free(e.preds.items);
  free(e.labels.items);
  segc_comm_free(comm);
  return rc;
}
