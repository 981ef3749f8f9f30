// segc's run configuration: one typed schema (key, type, default, one-line
// description) for segtrain, segeval, seginfer and segforward.
//
// A configuration starts from the schema's defaults; `--config FILE` files
// (for segtrain and segeval also FILE.json given alone) apply in order
// (later wins, key by key), then `--set key=value` overrides apply in order.
// Validation then refuses the settings this build reads but does not
// implement yet (device "cuda", distributed true, backend "mpi"). Two file
// formats are read:
//   - segc's own: a JSON object whose keys are in the schema (network_def is
//     the one nested object); unknown keys, wrong types and out-of-range
//     values are errors naming the file and the key.
//   - the MONAI bundle's own configs (train.json, evaluate.json, ...):
//     recognised by their syntax ("_target_", "$" expressions, "@"
//     references, "a#b" keys); the settings segc can honour are taken and
//     every other key is listed in the notes as ignored. Bundle files given
//     one after another merge as MONAI merges a list of files.
// Derived values (pixel spacing, model file name, compute dtype, the network's
// hyper-parameters) come from the functions below, never stored twice.
#ifndef SEGC_CONFIG_CONFIG_H
#define SEGC_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/dtype.h"
#include "core/dtype_auto.h"
#include "core/status.h"
#include "core/tensor.h"
#include "dist/comm.h"
#include "layers/segresnet.h"

enum { SEGC_CONFIG_TEXT_MAX = 1024 };  // bytes of a string value, with NUL

typedef enum {
  SEGC_AMP_OFF = 0,  // false: f32 everywhere
  SEGC_AMP_ON,       // true: the bundle's setting, --dtype auto. MONAI's
                     // amp is CUDA autocast and does nothing on a CPU; segc
                     // takes bf16 on a CPU only where it measured bf16
                     // convolutions clearly faster (core/dtype_auto.h), f32
                     // elsewhere and on GPUs
  SEGC_AMP_BF16,     // "bf16"
  SEGC_AMP_FP16      // "fp16": MONAI's GPU autocast dtype, with a loss scaler
} segc_amp_mode;

typedef enum { SEGC_LR_CONSTANT = 0, SEGC_LR_COSINE } segc_lr_schedule;
typedef enum { SEGC_CONFIG_SW_GAUSSIAN = 0, SEGC_CONFIG_SW_CONSTANT } segc_config_sw_mode;
typedef enum { SEGC_CONFIG_PAD_REPLICATE = 0, SEGC_CONFIG_PAD_CONSTANT } segc_config_pad_mode;
typedef enum { SEGC_EXT_NII_GZ = 0, SEGC_EXT_NII } segc_output_ext;
// Where to run (core/tensor.h's segc_device names a tensor's memory).
typedef enum {
  SEGC_RUN_ON_AUTO = 0,  // the GPU where the build has CUDA kernels and
                         // one is present, else the CPU
  SEGC_RUN_ON_CPU,
  SEGC_RUN_ON_CUDA       // refused without CUDA kernels or a GPU
} segc_run_device;
// The gradient all-reduce of a distributed run: auto is MPI on the CPU and
// NCCL on GPUs (dist/comm_nccl.c); nccl on the CPU goes through
// MPI with a note.
typedef enum {
  SEGC_BACKEND_AUTO = 0,
  SEGC_BACKEND_NCCL,
  SEGC_BACKEND_MPI
} segc_dist_backend;

// MONAI SegResNet's arguments (the bundle's "network_def").
typedef struct {
  int spatial_dims;  // only 3
  int in_channels;
  int out_channels;
  int init_filters;
  int blocks_down[SEGC_SEGRESNET_MAX_LEVELS];
  int blocks_down_count;
  int blocks_up[SEGC_SEGRESNET_MAX_LEVELS];
  int blocks_up_count;
  double dropout_prob;
  int norm_groups;
} segc_network_def;

typedef struct {
  char description[SEGC_CONFIG_TEXT_MAX];  // free text, carried to the logs

  // Resolution and optimisation.
  bool highres;            // 1.5 mm + model.pt, else 3 mm + model_lowres.pt
  bool pixdim_set;         // pixdim given explicitly (overrides highres)
  double pixdim[3];
  double init_LR;
  double weight_decay;
  segc_lr_schedule lr_schedule;
  int batch_size;
  int roi[3];              // training crop, in MONAI's roi_size axis order
  bool val_roi_set;        // false: validate on whole volumes
  int val_roi[3];          // validation CenterSpatialCrop
  int val_interval;        // epochs between validations
  int max_epochs;
  uint64_t seed;

  // Data.
  char dataset_dir[SEGC_CONFIG_TEXT_MAX];  // imagesTr/ + labelsTr/ layout
  char datalist[SEGC_CONFIG_TEXT_MAX];     // MONAI-style datalist JSON
  int val_cases;           // last N sorted cases validate
  double cache_rate;
  int num_workers;
  char labels[SEGC_CONFIG_TEXT_MAX];       // index -> structure name JSON

  // Precision, threads, devices.
  segc_amp_mode amp;
  bool amp_given;          // a config file or --set named amp (or --dtype
                           // did): else seginfer, segeval and segserve
                           // default to auto (segc_infer_dtype_default)
  int threads;             // 0: all cores
  segc_run_device device;
  bool distributed;        // one process per device under mpirun (dist/)
  segc_dist_backend backend;

  // Outputs and checkpoints.
  char ckpt_dir[SEGC_CONFIG_TEXT_MAX];
  char output_dir[SEGC_CONFIG_TEXT_MAX];
  int save_interval;       // epochs between resumable states (0: never)
  char resume[SEGC_CONFIG_TEXT_MAX];       // training state to resume from
  char output_postfix[SEGC_CONFIG_TEXT_MAX];
  segc_output_ext output_ext;
  bool separate_folder;

  // Network and sliding-window inference.
  segc_network_def network_def;
  bool sw_roi_set;         // false: windows of size roi
  int sw_roi[3];
  int sw_batch_size;
  double sw_overlap;
  segc_config_sw_mode sw_mode;
  segc_config_pad_mode sw_padding_mode;
} segc_config;

// Notes gathered while reading MONAI bundle files: the bundle keys segc did
// not use ("train#handlers", "validate#postprocessing", ...) and one line per
// group of bundle files saying so. Programs print them once.
typedef struct {
  char **ignored;
  int ignored_count;
  char **lines;
  int line_count;
} segc_config_notes;

void segc_config_notes_free(segc_config_notes *notes);
// Prints each line as "note: ..." to `out`.
void segc_config_notes_print(const segc_config_notes *notes, FILE *out);
bool segc_config_notes_ignored(const segc_config_notes *notes, const char *id);

// The schema's defaults (the bundle's values).
void segc_config_defaults(segc_config *config);

// Applies one file (segc format, a MONAI bundle config, or the bundle's
// metadata.json, which holds no run settings and is skipped with a note).
// `notes` may be NULL. On any failure `config` is left unchanged.
segc_status segc_config_load_file(segc_config *config, const char *path,
                                  segc_config_notes *notes);
// Applies files in order; consecutive bundle files merge as MONAI merges a
// list of files before they are read.
segc_status segc_config_load_files(segc_config *config,
                                   const char *const *paths, int count,
                                   segc_config_notes *notes);
// Applies "key=value" (dotted keys for network_def). The value is parsed as
// JSON when it parses, else taken as a bare string.
segc_status segc_config_apply_set(segc_config *config, const char *assignment);
// Applies a segc-format JSON object; `origin` names it in messages.
segc_status segc_config_apply_json_text(segc_config *config, const char *text,
                                        const char *origin);

// Cross-key checks (init_filters vs norm_groups, blocks_up count, roi
// divisible by the network's size multiple, ...). The loaders check each
// key's type and range; this checks how keys fit together, and refuses
// (SEGC_ERR_UNSUPPORTED, naming the key) device "cuda", which this build
// parses but cannot honour yet, and distributed true in a build without MPI.
segc_status segc_config_validate(const segc_config *config);
// segtrain's extra rule: exactly one of dataset_dir and datalist.
segc_status segc_config_check_training(const segc_config *config);

// The programs' shared command line: reads "--config FILE" (several, in
// order) and "--set KEY=VALUE" (applied after all files, in order) from
// argv[1..], removes them from argv (other arguments keep their order,
// *argc updated), starts from the defaults and validates the result.
segc_status segc_config_from_args(int *argc, char **argv, segc_config *config,
                                  segc_config_notes *notes);
// segtrain's and segeval's command line: as segc_config_from_args, and a
// positional argument ending in ".json" is a config file too, read in
// command-line order with the --config files (`segtrain train.json
// multi_gpu_train.json`). `value_options` (NULL-terminated) are the
// program's own options that take a value: their values stay the program's
// ("--datalist list.json"). *file_count (may be NULL) is set to the number
// of config files given either way.
segc_status segc_config_from_command_line(int *argc, char **argv,
                                          const char *const *value_options,
                                          segc_config *config,
                                          segc_config_notes *notes,
                                          int *file_count);
// True when the command line names a network explicitly (any --config
// file, or --set network_def...): programs that read a checkpoint then
// check it against the config; otherwise the checkpoint defines the network.
bool segc_config_args_name_network(int argc, char *const *argv);

// For programs reading positional config files (the line before the
// --config one).
#define SEGC_CONFIG_FILE_USAGE                                               \
  "  FILE.json             a config file given without --config; several\n"   \
  "                        merge in order with the --config files\n"

#define SEGC_CONFIG_ARGS_USAGE                                               \
  "  --config FILE         segc or MONAI bundle config (repeatable, later\n" \
  "                        files win key by key)\n"                          \
  "  --set KEY=VALUE       override one key after the files (repeatable;\n"  \
  "                        network_def.init_filters=16, roi=[64,64,64])\n"   \
  "  --help-config         list every config key with type and default\n"

// Derived values.
void segc_config_pixdim(const segc_config *config, double pixdim[3]);
const char *segc_config_model_name(const segc_config *config);
segc_status segc_config_model_path(const segc_config *config, char *path,
                                   size_t size);
void segc_config_sw_roi(const segc_config *config, int roi[3]);
// The dtype amp names, before --dtype auto measures anything: false and
// true give f32, "bf16" bf16, "fp16" f16. Runs use
// segc_config_choose_compute, where true is auto on the CPU.
segc_dtype segc_config_compute_dtype(const segc_config *config);
// The compute dtype of a run on `device` and the line saying why
// (config/config_compute.c): amp false (--dtype f32) f32, the exact-parity
// mode; "bf16" (--dtype bf16) bf16, refused on a CPU without bf16
// convolutions; "fp16" f16 (callers map or refuse it); true (--dtype auto,
// the inference programs' default) on the CPU segc_dtype_auto's decision
// (core/dtype_auto.h), on a GPU f32 as before.
segc_status segc_config_choose_compute(const segc_config *config,
                                       segc_device device,
                                       segc_dtype_choice *out);
// Under mpirun each rank measures auto on its own: bf16 stays only where
// every rank chose it, so that all ranks compute alike. A collective: every
// rank calls it (one whose choice failed with a zeroed, f32, choice).
segc_status segc_config_agree_compute(segc_comm *comm,
                                      segc_dtype_choice *choice);
// The one place `device` becomes the segc_device every arena of a run is
// created on (core/tensor.h). "cpu": the CPU. "cuda": CUDA when this build
// has a CUDA kernel for every op a run needs (core/backend.h's table),
// otherwise SEGC_ERR_UNSUPPORTED with the table's message for the first op
// missing. "auto": CUDA when it would be accepted and the driver finds a
// GPU, otherwise the CPU; no backend but the CPU has kernels yet, so "auto"
// is the CPU in this build.
segc_status segc_config_device(const segc_config *config, segc_device *device);
segc_segresnet_config segc_config_network(const segc_config *config);
// Learning rate for an epoch in [0, max_epochs): init_LR, or cosine decay
// 0.5 * init_LR * (1 + cos(pi * epoch / max_epochs)).
double segc_config_learning_rate(const segc_config *config, int epoch);

// The effective configuration as segc-format JSON (malloc'd, caller frees),
// written atomically (temporary file, fsync, rename) by the _write_ form.
segc_status segc_config_to_json(const segc_config *config, char **json);
segc_status segc_config_write_json(const segc_config *config,
                                   const char *path);
// Every key with its type, default and description.
void segc_config_print_help(FILE *out);

// Answers --help/-h (the program's usage) or --help-config (the key table)
// anywhere on the command line, on stdout; false when neither is given.
bool segc_config_answer_help(int argc, char *const *argv,
                             void (*usage)(FILE *out));

// Key by key equality over the schema.
bool segc_config_equal(const segc_config *a, const segc_config *b);

#endif
