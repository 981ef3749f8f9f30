// What the programs' command line makes of a configuration: config files as
// positional arguments (`segtrain train.json multi_gpu_train.json`), merged
// in order with --config while the programs' own option values stay theirs;
// settings this build parses but does not implement (device "cuda",
// distributed, backend "mpi") refused by validation, the values meaning what
// segc does today accepted; one batch_size limit, the loader's.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/cuda_runtime.h"
#include "dist/comm.h"
#include "util/test_util.h"

static const char *temp_dir;

static const char *write_file(const char *name, const char *text) {
  const char *path = test_path(temp_dir, name);
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
  return path;
}

// Defaults, then `assignment`, then validation.
static segc_status validate_with(const char *assignment) {
  segc_config c;
  segc_config_defaults(&c);
  segc_status status = segc_config_apply_set(&c, assignment);
  return status == SEGC_OK ? segc_config_validate(&c) : status;
}

static void check_unimplemented(void) {
  // What segc does today: the CPU (auto finds no GPU backend), one process
  // or several under mpirun (MPI builds).
  const char *accepted[] = {"device=cpu", "device=auto", "distributed=false",
                            "backend=nccl", "backend=mpi", "backend=auto",
                            NULL};
  for (int i = 0; accepted[i]; ++i)
    CHECK(validate_with(accepted[i]) == SEGC_OK, "%s: %s", accepted[i],
          segc_error_message());
  if (segc_comm_have_mpi())
    CHECK(validate_with("distributed=true") == SEGC_OK, "distributed: %s",
          segc_error_message());
  else
    CHECK_FAILS(validate_with("distributed=true"), SEGC_ERR_UNSUPPORTED,
                "distributed: true needs MPI, and this build has none");
  const struct {
    const char *set, *key;
  } refused[] = {{"device=cuda", "device"}};
  // (cuda: without CUDA kernels or without a GPU, as here and in CI.)
  int gpus = 0;
  const bool gpu = segc_cuda_device_count(&gpus) == SEGC_OK && gpus > 0;
  segc_clear_error();
  for (size_t i = 0; !gpu && i < sizeof refused / sizeof refused[0]; ++i) {
    CHECK_FAILS(validate_with(refused[i].set), SEGC_ERR_UNSUPPORTED,
                refused[i].key);
    CHECK_FAILS(validate_with(refused[i].set), SEGC_ERR_UNSUPPORTED,
                "config: device \"cuda\": ");
  }
  // The same through the command line, and a later --set can take it back.
  char *cuda[] = {"prog", "--set", "device=cuda", NULL};
  int argc = 3;
  segc_config c;
  CHECK_FAILS(segc_config_from_args(&argc, cuda, &c, NULL),
              SEGC_ERR_UNSUPPORTED, "device");
  char *back[] = {"prog", "--set", "device=cuda", "--set", "device=cpu", NULL};
  argc = 5;
  CHECK(segc_config_from_args(&argc, back, &c, NULL) == SEGC_OK &&
            c.device == SEGC_RUN_ON_CPU,
        "device cuda then cpu: %s", segc_error_message());
  // segc's own multi-GPU layer reads, but validation refuses its device
  // (cuda) without CUDA kernels or a GPU, as here.
  const char *source = getenv("SEGC_SOURCE_DIR");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/configs", source && *source ? source : ".");
  char train[4200], multi[4200];
  snprintf(train, sizeof train, "%s/train.json", dir);
  snprintf(multi, sizeof multi, "%s/multi_gpu_train.json", dir);
  char *layered[] = {"prog", "--config", train, "--config", multi, NULL};
  argc = 5;
  CHECK_FAILS(segc_config_from_args(&argc, layered, &c, NULL),
              SEGC_ERR_UNSUPPORTED, "config: device \"cuda\": ");
}

// The loader holds at most 64 crops a step; the config says so up front.
static void check_batch_size_limit(void) {
  CHECK(validate_with("batch_size=64") == SEGC_OK, "64: %s",
        segc_error_message());
  CHECK_FAILS(validate_with("batch_size=65"), SEGC_ERR_INVALID,
              "--set: key 'batch_size': 65 is out of range [1, 64]");
  const char *file = write_file("batch65.json", "{\"batch_size\": 65}");
  segc_config c;
  segc_config_defaults(&c);
  CHECK_FAILS(segc_config_load_file(&c, file, NULL), SEGC_ERR_INVALID,
              "batch65.json: key 'batch_size': 65 is out of range [1, 64]");
}

static void check_positional_files(void) {
  const char *a = write_file("pos_a.json", "{\"batch_size\": 2, \"seed\": 5}");
  const char *b = write_file("pos_b.json", "{\"batch_size\": 3}");
  const char *c_path = write_file("pos_c.JSON", "{\"seed\": 6}");
  const char *list = write_file("list.json", "{\"training\": []}");
  static const char *const value_options[] = {"--datalist", "--threads",
                                              NULL};
  // Positional files and --config files apply in command-line order; the
  // program's own option values, flags and other words stay its own.
  char *argv[] = {"prog",       (char *)a,   "--datalist", (char *)list,
                  "--config",   (char *)b,   "--resume",   (char *)c_path,
                  "--threads",  "2",         "stray.txt",  "--set",
                  "seed=7",     NULL};
  int argc = 13;
  segc_config c;
  int files = -1;
  segc_config_notes notes = {0};
  CHECK(segc_config_from_command_line(&argc, argv, value_options, &c, &notes,
                                      &files) == SEGC_OK,
        "%s", segc_error_message());
  CHECK(c.batch_size == 3 && c.seed == 7 && files == 3,
        "batch %d seed %llu files %d", c.batch_size,
        (unsigned long long)c.seed, files);
  CHECK(argc == 7 && !strcmp(argv[1], "--datalist") && argv[2] == list &&
            !strcmp(argv[3], "--resume") && !strcmp(argv[4], "--threads") &&
            !strcmp(argv[5], "2") && !strcmp(argv[6], "stray.txt") &&
            argv[7] == NULL,
        "the program's arguments kept in order (argc %d)", argc);
  segc_config_notes_free(&notes);

  // Later files win: a then c (seed 6), no --set.
  char *order[] = {"prog", (char *)b, (char *)a, (char *)c_path, NULL};
  argc = 4;
  CHECK(segc_config_from_command_line(&argc, order, NULL, &c, NULL, NULL) ==
                SEGC_OK &&
            c.batch_size == 2 && c.seed == 6 && argc == 1,
        "positional order: batch %d seed %llu argc %d", c.batch_size,
        (unsigned long long)c.seed, argc);

  // Errors name the file; segc_config_from_args keeps positional arguments.
  char *missing[] = {"prog", "absent.json", NULL};
  argc = 2;
  CHECK_FAILS(segc_config_from_command_line(&argc, missing, NULL, &c, NULL,
                                            NULL),
              SEGC_ERR_IO, "absent.json");
  char *plain[] = {"prog", (char *)a, NULL};
  argc = 2;
  CHECK(segc_config_from_args(&argc, plain, &c, NULL) == SEGC_OK &&
            argc == 2 && c.batch_size == 4,
        "segc_config_from_args reads no positional files");

  // The mission's layering, positional: segc's multi-GPU layer is refused
  // (device cuda).
  const char *source = getenv("SEGC_SOURCE_DIR");
  char train[4200], multi[4200];
  snprintf(train, sizeof train, "%s/configs/train.json",
           source && *source ? source : ".");
  snprintf(multi, sizeof multi, "%s/configs/multi_gpu_train.json",
           source && *source ? source : ".");
  char *layered[] = {"prog", train, multi, NULL};
  argc = 3;
  CHECK_FAILS(segc_config_from_command_line(&argc, layered, NULL, &c, NULL,
                                            NULL),
              SEGC_ERR_UNSUPPORTED, "config: device \"cuda\": ");
  char *single[] = {"prog", train, NULL};
  argc = 2;
  CHECK(segc_config_from_command_line(&argc, single, NULL, &c, NULL, NULL) ==
                SEGC_OK &&
            c.max_epochs == 4000 && argc == 1,
        "configs/train.json alone: %s", segc_error_message());
}

int main(void) {
  temp_dir = test_temp_dir("config_args");
  check_positional_files();
  check_unimplemented();
  check_batch_size_limit();
  return test_finish("config_args");
}
