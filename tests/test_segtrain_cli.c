// segtrain's command line: bad configs and overrides fail with one line
// naming the key, a missing dataset names the path, --help works; the
// bundle's own train.json is accepted (it fails later only for its dataset).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "util/test_util.h"

static char segtrain[4096];
static char temp[2048];
static char err_text[1 << 16];

static int run(const char *args) {
  char command[16384];
  snprintf(command, sizeof command, "cd %s && %s %s >/dev/null 2>err.txt", temp,
           segtrain, args);
  const int status = system(command);
  char path[4200];
  snprintf(path, sizeof path, "%s/err.txt", temp);
  err_text[0] = '\0';
  FILE *f = fopen(path, "r");
  if (f) {
    const size_t n = fread(err_text, 1, sizeof err_text - 1, f);
    err_text[n] = '\0';
    fclose(f);
  }
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void expect_error(const char *args, const char *needle) {
  const int rc = run(args);
  // The last line is the error (notes may come first).
  const char *last = err_text;
  for (const char *p = err_text; *p; ++p)
    if (*p == '\n' && p[1]) last = p + 1;
  CHECK(rc > 0, "'%s' exits %d", args, rc);
  CHECK(strncmp(last, "segtrain: error: ", 17) == 0 && test_contains(last, needle),
        "'%s': last line '%s' lacks '%s'", args, last, needle);
}

int main(void) {
  const char *build = getenv("SEGC_BUILD_DIR");
  if (!build) build = "build";
  snprintf(segtrain, sizeof segtrain, "%s/bin/segtrain", build);
  snprintf(temp, sizeof temp, "%s", test_temp_dir("segtrain_cli"));
  char path[4200];
  snprintf(path, sizeof path, "%s/bad.json", temp);
  FILE *f = fopen(path, "w");
  fputs("{\"init_lr\": 0.001}\n", f);
  fclose(f);

  snprintf(path, sizeof path, "%s/data_a.json", temp);
  f = fopen(path, "w");
  fputs("{\"dataset_dir\": \"nowhere_a\", \"batch_size\": 2}\n", f);
  fclose(f);
  snprintf(path, sizeof path, "%s/data_b.json", temp);
  f = fopen(path, "w");
  fputs("{\"dataset_dir\": \"nowhere_b\"}\n", f);
  fclose(f);

  CHECK(run("--help") == 0, "--help exits 0");
  // Config files as positional arguments, merged in order with --config.
  expect_error("data_a.json", "nowhere_a");
  expect_error("data_a.json data_b.json", "nowhere_b");
  expect_error("data_b.json --config data_a.json", "nowhere_a");
  expect_error("--quiet data_a.json --max-steps 1", "nowhere_a");
  expect_error("data_a.yaml", "data_a.yaml");
  expect_error("data_a.yaml", ".json");
  expect_error("absent.json", "absent.json");
  // One batch_size limit, the loader's, checked with the config.
  expect_error("--set batch_size=65", "[1, 64]");
  // Settings this build does not implement are refused, never ignored.
  expect_error("data_a.json --set device=cuda", "device");
  // (no CUDA kernels for an op in this build, or no GPU here).
  expect_error("data_a.json --set device=cuda", "config: device \"cuda\": ");
  // Distributed and backend mpi are read and run (segtrain_mpi); a single
  // process with them still reaches the dataset check.
  expect_error("data_a.json --set distributed=true --set backend=mpi",
               "nowhere_a");
  expect_error("data_a.json --set device=cpu", "nowhere_a");
  expect_error("--config bad.json", "init_lr");
  expect_error("--config bad.json", "init_LR");  // the suggestion
  expect_error("--set batch_size=0", "batch_size");
  expect_error("--set roi=12", "roi");
  expect_error("--set network_def.init_filters=12", "init_filters");
  expect_error("--set dataset_dir=nowhere", "nowhere");
  expect_error("--config missing.json", "missing.json");
  expect_error("--frobnicate", "--frobnicate");
  const char *shared = test_shared_dir("segtrain_cli");
  if (shared) {
    char args[8192];
    snprintf(args, sizeof args,
             "--config %s/bundle/configs/train.json --set max_epochs=1", shared);
    // The bundle's file is read; its dataset_dir "sampledata" is absent here.
    expect_error(args, "sampledata");
    CHECK(test_contains(err_text, "note:"), "ignored bundle keys are listed");
    // The mission's command line: the bundle's file as a positional argument;
    // its "cuda if available" device runs on the CPU here, with a note.
    snprintf(args, sizeof args, "%s/bundle/configs/train.json", shared);
    expect_error(args, "sampledata");
    CHECK(test_contains(err_text, "note:") &&
              test_contains(err_text, "runs on the CPU"),
          "device note for the bundle's train.json: %s", err_text);
    // The bundle's multi-GPU training asks for cuda:LOCAL_RANK: refused
    // without CUDA kernels or a GPU.
    snprintf(args, sizeof args,
             "%s/bundle/configs/train.json %s/bundle/configs/multi_gpu_train.json",
             shared, shared);
    expect_error(args, "config: device \"cuda\": ");
  }
  return test_finish("segtrain_cli");
}
