// Runs the walk-throughs in examples/ (ctest label "examples"), one per
// argument:
//   segment_ct_sh    examples/segment_ct.sh with random weights
//   train_phantom_sh examples/train_phantom.sh (two epochs), then the
//                    segment and evaluate scripts on the weights it wrote
//   evaluate_sh      examples/evaluate.sh with random weights
//   segment_ct_c     cmake --install into a temporary prefix, segment_ct.c
//                    built there through pkg-config (and through
//                    find_package(segc)), its label compared voxel by voxel
//                    with the installed seginfer's for the same input
//   api              include/segc.h's calls: bad input refused, a model
//                    loaded and run, two training steps
// Weights are random SegResNets of the examples' size (examples/
// phantom.json), so the labels are arbitrary but deterministic.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../seginfer_test_support.h"
#include "data/nifti_io.h"
#include "phantom/phantom.h"
#include "include/segc.h"
#include "config/config.h"
#include "util/test_util.h"

static char temp[1024], source[1024], build[1024];
static char command[16384];

static segc_status make_example_weights(const char *path, uint64_t seed) {
  segc_config config;
  segc_config_defaults(&config);
  char config_path[1200];
  snprintf(config_path, sizeof config_path, "%s/examples/phantom.json", source);
  SEGC_TRY(segc_config_load_file(&config, config_path, NULL));
  const segc_segresnet_config net_config = segc_config_network(&config);
  segc_segresnet net;
  SEGC_TRY(segc_segresnet_create(&net, &net_config, false, SEGC_DEVICE_CPU));
  segc_status status = segc_segresnet_init_weights(&net, seed);
  if (status == SEGC_OK) status = segc_segresnet_save_checkpoint(&net, path);
  segc_segresnet_destroy(&net);
  return status;
}

// Runs an example script with the build's programs; 0 when it succeeded.
static int run_script(const char *script, const char *arguments) {
  snprintf(command, sizeof command, "SEGC_BIN=%s/bin sh %s/examples/%s %s",
           build, source, script, arguments);
  const int rc = support_run(temp, command);
  CHECK(rc == 0, "%s %s exited %d:\n%s\n%s", script, arguments, rc, support_out,
        support_err);
  return rc;
}

// The label a script wrote lies on the phantom CT's grid.
static void check_label_on_ct_grid(const char *label_path, const char *ct_path) {
  segc_volume label = {0}, ct = {0};
  if (segc_nifti_read(label_path, &label, NULL) != SEGC_OK ||
      segc_nifti_read(ct_path, &ct, NULL) != SEGC_OK) {
    CHECK(false, "reading %s / %s: %s", label_path, ct_path, segc_error_message());
  } else {
    CHECK(label.dtype == SEGC_U8, "%s is %s", label_path, segc_dtype_name(label.dtype));
    for (int a = 0; a < 3; ++a)
      CHECK(label.dim[a] == ct.dim[a], "dim %d: %lld vs %lld", a,
            (long long)label.dim[a], (long long)ct.dim[a]);
  }
  segc_volume_free(&label);
  segc_volume_free(&ct);
}

static int segment_ct_sh(void) {
  const char *weights = test_path(temp, "random.pt");
  CHECK_OK(make_example_weights(weights, 11));
  char arguments[4096];
  snprintf(arguments, sizeof arguments, "%s/work %s", temp, weights);
  if (run_script("segment_ct.sh", arguments) != 0) return test_finish_failed();
  check_label_on_ct_grid(test_path(temp, "work/case_0000_label.nii.gz"),
                         test_path(temp, "work/phantom/imagesTr/case_0000.nii.gz"));
  CHECK(support_exists(test_path(temp, "work/case_0000.png")), "no preview");
  CHECK(support_exists(test_path(temp, "work/case_0000_label.json")), "no sidecar");
  // Without weights and before training, the script says what to do.
  snprintf(arguments, sizeof arguments, "%s/work", temp);
  snprintf(command, sizeof command, "SEGC_BIN=%s/bin sh %s/examples/segment_ct.sh %s",
           build, source, arguments);
  CHECK(support_run(temp, command) == 1 && strstr(support_err, "train_phantom.sh"),
        "no weights: %s", support_err);
  return 0;
}

static int train_phantom_sh(void) {
  char arguments[4096];
  snprintf(arguments, sizeof arguments,
           "%s/work --set max_epochs=2 --set val_interval=1", temp);
  if (run_script("train_phantom.sh", arguments) != 0) return test_finish_failed();
  CHECK(support_exists(test_path(temp, "work/models/model_lowres.pt")), "no model");
  CHECK(support_exists(test_path(temp, "work/logs/train.csv")), "no train.csv");
  CHECK(support_exists(test_path(temp, "work/logs/validation.csv")),
        "no validation.csv");
  // The walk-through goes on with the trained weights by default.
  snprintf(arguments, sizeof arguments, "%s/work", temp);
  if (run_script("segment_ct.sh", arguments) != 0) return test_finish_failed();
  check_label_on_ct_grid(test_path(temp, "work/case_0000_label.nii.gz"),
                         test_path(temp, "work/phantom/imagesTr/case_0000.nii.gz"));
  if (run_script("evaluate.sh", arguments) != 0) return test_finish_failed();
  CHECK(support_exists(test_path(temp, "work/metrics/mean_dice_raw.csv")),
        "no metrics");
  return 0;
}

static int evaluate_sh(void) {
  const char *weights = test_path(temp, "random.pt");
  CHECK_OK(make_example_weights(weights, 12));
  char arguments[4096];
  snprintf(arguments, sizeof arguments, "%s/work %s", temp, weights);
  if (run_script("evaluate.sh", arguments) != 0) return test_finish_failed();
  char table[1 << 16];
  support_read_all(test_path(temp, "work/metrics/mean_dice_raw.csv"), table,
                   sizeof table);
  CHECK(test_contains(table, "case_0003"), "the validation case is not in "
        "mean_dice_raw.csv:\n%s", table);
  return 0;
}

// The symbols libsegc.so exports: exactly include/segc.h's functions.
static void check_exported_symbols(const char *library) {
  snprintf(command, sizeof command,
           "nm -D --defined-only %s | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | "
           "grep -v -x -e _init -e _fini | sort | tr '\\n' ' '", library);
  CHECK(support_run(temp, command) == 0, "nm failed: %s", support_err);
  CHECK(strcmp(support_out, "segc_last_error segc_model_classes segc_model_free "
               "segc_model_load segc_segment segc_train segc_version ") == 0,
        "libsegc.so exports other symbols than segc.h's: %s", support_out);
}

static int segment_ct_c(void) {
  if (support_run(temp, "pkg-config --version") != 0) {
    fprintf(stderr, "examples_segment_ct_c: skipped: pkg-config is not installed\n");
    return TEST_SKIP;
  }
  const char *nifti_env = getenv("SEGC_NIFTI_INCLUDE");
  const char *nifti = nifti_env && *nifti_env ? nifti_env : "/usr/include/nifti";
  const char *prefix = test_path(temp, "prefix");
  snprintf(command, sizeof command, "cmake --install %s --prefix %s", build, prefix);
  if (support_run(temp, command) != 0) {
    CHECK(false, "cmake --install failed: %s%s", support_out, support_err);
    return test_finish_failed();
  }
  static const char *const installed[] = {
      "include/segc.h", "lib/libsegc.so", "lib/libsegc.a", "lib/pkgconfig/segc.pc",
      "lib/cmake/segc/segcConfig.cmake", "lib/cmake/segc/segcConfigVersion.cmake",
      "bin/seginfer", "bin/segtrain", "share/segc/examples/segment_ct.sh"};
  for (size_t i = 0; i < sizeof installed / sizeof *installed; ++i) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", prefix, installed[i]);
    CHECK(support_exists(path), "not installed: %s", installed[i]);
  }
  check_exported_symbols(test_path(prefix, "lib/libsegc.so"));
  // The example as its comment says to build it, against the install only
  // (the sanitizer build's library needs the sanitizer runtime too).
  const char *compiler = getenv("SEGC_C_COMPILER");
  const char *sanitize = getenv("SEGC_SANITIZE");
  const bool sanitized = sanitize && strcmp(sanitize, "1") == 0;
  const char *program = test_path(temp, "segment_ct");
  snprintf(command, sizeof command,
           "PKG_CONFIG_PATH=%s/lib/pkgconfig %s -std=c11 -pedantic -Wall -Wextra -Werror %s "
           "%s/examples/segment_ct.c $(PKG_CONFIG_PATH=%s/lib/pkgconfig pkg-config "
           "--cflags --libs segc) -I%s -lnifti2 -lznz -o %s",
           prefix, compiler && *compiler ? compiler : "cc",
           sanitized ? "-fsanitize=address,undefined" : "", source, prefix, nifti,
           program);
  if (support_run(temp, command) != 0) {
    CHECK(false, "building segment_ct.c failed:\n%s\n%s", command, support_err);
    return test_finish_failed();
  }
  snprintf(command, sizeof command, "LD_LIBRARY_PATH=%s/lib ldd %s", prefix, program);
  CHECK(support_run(temp, command) == 0 && strstr(support_out, prefix),
        "segment_ct does not load the installed libsegc.so:\n%s", support_out);
  // Linked with libsegc.a and segc.pc's Libs.private.
  char static_program[1200];
  snprintf(static_program, sizeof static_program, "%s_static", program);
  snprintf(command, sizeof command,
           "%s -std=c11 -Wall -Wextra -Werror %s %s/examples/segment_ct.c "
           "$(PKG_CONFIG_PATH=%s/lib/pkgconfig pkg-config --static --cflags --libs "
           "segc | sed 's/-lsegc /-l:libsegc.a /') -I%s -lnifti2 "
           "-lznz -o %s", compiler && *compiler ? compiler : "cc",
           sanitized ? "-fsanitize=address,undefined" : "", source, prefix, nifti,
           static_program);
  if (support_run(temp, command) != 0) {
    CHECK(false, "linking segment_ct.c statically failed:\n%s\n%s", command,
          support_err);
    return test_finish_failed();
  }
  snprintf(command, sizeof command, "ldd %s", static_program);
  CHECK(support_run(temp, command) == 0 && !strstr(support_out, "libsegc"),
        "the static segment_ct loads libsegc.so:\n%s", support_out);
  const char *const programs[2] = {program, static_program};
  // One phantom CT (int16) and a permuted, flipped copy of it as float32.
  const char *phantom = test_path(temp, "phantom");
  snprintf(command, sizeof command,
           "%s/bin/segprep phantom --out %s --cases 1 --size 32,32,32 --spacing 6 --val 0",
           prefix, phantom);
  CHECK(support_run(temp, command) == 0, "segprep: %s", support_err);
  const char *weights = test_path(temp, "random.pt");
  CHECK_OK(make_example_weights(weights, 13));
  const char *inputs[2] = {test_path(phantom, "imagesTr/case_0000.nii.gz"),
                           test_path(temp, "lps_f32.nii.gz")};
  segc_volume ct = {0}, lps = {0}, lps_f32 = {0};
  CHECK_OK(segc_nifti_read(inputs[0], &ct, NULL));
  const support_reorientation to_lps = {"YX-Z flipped", {1, 0, 2}, {1, 1, 0}};
  CHECK_OK(support_reorient(&ct, &to_lps, &lps));
  CHECK_OK(segc_volume_copy(&lps, SEGC_F32, &lps_f32));
  CHECK_OK(segc_nifti_write(inputs[1], &lps_f32, NULL));
  segc_volume_free(&ct);
  segc_volume_free(&lps);
  segc_volume_free(&lps_f32);
  // Each input through each build of the example (n: input * 2 + build).
  for (int n = 0; n < 4; ++n) {
    char mine[1200], theirs[1200];
    snprintf(mine, sizeof mine, "%s/example_%d.nii.gz", temp, n);
    snprintf(theirs, sizeof theirs, "%s/seginfer_%d.nii.gz", temp, n / 2);
    snprintf(command, sizeof command,
             "LD_LIBRARY_PATH=%s/lib %s %s %s %s %s/examples/phantom.json", prefix,
             programs[n % 2], weights, inputs[n / 2], mine, source);
    CHECK(support_run(temp, command) == 0 && strstr(support_out, "voxels labelled"),
          "segment_ct: %s%s", support_out, support_err);
    snprintf(command, sizeof command,
             "%s/bin/seginfer --quiet --config %s/examples/phantom.json --weights %s "
             "-i %s -o %s", prefix, source, weights, inputs[n / 2], theirs);
    if (n % 2 == 0)
      CHECK(support_run(temp, command) == 0, "seginfer: %s", support_err);
    const char *what = programs[n % 2], *input = inputs[n / 2];
    segc_volume a = {0}, b = {0};
    CHECK_OK(segc_nifti_read(mine, &a, NULL));
    CHECK_OK(segc_nifti_read(theirs, &b, NULL));
    const bool same_shape = a.dtype == SEGC_U8 && b.dtype == SEGC_U8 &&
                            !memcmp(a.dim, b.dim, sizeof a.dim);
    CHECK(same_shape, "%s %s: the example's label is not seginfer's shape", what,
          input);
    int64_t differ = 0, labelled = 0;
    for (int64_t v = 0; same_shape && v < segc_volume_numel(&a); ++v) {
      differ += ((uint8_t *)a.data)[v] != ((uint8_t *)b.data)[v];
      labelled += ((uint8_t *)b.data)[v] != 0;
    }
    CHECK(differ == 0, "%s %s: %lld voxels differ from seginfer's label", what,
          input, (long long)differ);
    CHECK(labelled > 0, "%s %s: seginfer labelled nothing (a useless comparison)",
          what, input);
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 4; ++c)
        CHECK(a.affine[r][c] == b.affine[r][c], "%s %s: affine[%d][%d] %g vs %g",
              what, input, r, c, a.affine[r][c], b.affine[r][c]);
    segc_volume_free(&a);
    segc_volume_free(&b);
  }
  // find_package(segc) builds the same program against the installed tree.
  const char *project = test_path(temp, "cmake_project");
  snprintf(command, sizeof command,
           "mkdir -p %s && printf '%%s\\n' 'cmake_minimum_required(VERSION 3.20)' "
           "'project(use_segc C)' 'find_package(segc 0.10 REQUIRED)' "
           "'add_executable(segment_ct %s/examples/segment_ct.c)' "
           "'target_include_directories(segment_ct PRIVATE %s)' "
           "'target_link_libraries(segment_ct segc::segc nifti2 znz)' "
           "'add_executable(segment_ct_static %s/examples/segment_ct.c)' "
           "'target_include_directories(segment_ct_static PRIVATE %s)' "
           "'target_link_libraries(segment_ct_static segc::segc_static nifti2 znz)' "
           "> %s/CMakeLists.txt && "
           "cmake -S %s -B %s/build -DCMAKE_PREFIX_PATH=%s %s && cmake --build %s/build",
           project, source, nifti, source, nifti, project, project, project, prefix,
           sanitized ? "-DCMAKE_C_FLAGS=-fsanitize=address,undefined" : "", project);
  CHECK(support_run(temp, command) == 0, "find_package(segc) project:\n%s\n%s",
        support_out, support_err);
  return 0;
}

static int api(void) {
  CHECK(strcmp(segc_version(), SEGC_VERSION_STRING) == 0, "version %s vs %s",
        segc_version(), SEGC_VERSION_STRING);
  CHECK(segc_model_load(NULL, NULL, NULL, 0) == NULL &&
            test_contains(segc_last_error(), "no weights"),
        "NULL weights: %s", segc_last_error());
  const char *missing = test_path(temp, "missing.pt");
  CHECK(segc_model_load(missing, NULL, NULL, 0) == NULL &&
            test_contains(segc_last_error(), "missing.pt"),
        "missing weights: %s", segc_last_error());
  const char *weights = test_path(temp, "random.pt");
  CHECK_OK(make_example_weights(weights, 14));
  const char *bad_set[] = {"no_such_key=1"};
  CHECK(segc_model_load(weights, NULL, bad_set, 1) == NULL &&
            test_contains(segc_last_error(), "no_such_key"),
        "bad override: %s", segc_last_error());
  CHECK(segc_model_load(weights, NULL, NULL, 1) == NULL &&
            test_contains(segc_last_error(), "overrides"),
        "NULL overrides: %s", segc_last_error());
  // A network_def override names the network: the checkpoint must match.
  const char *other_net[] = {"network_def.init_filters=16"};
  CHECK(segc_model_load(weights, NULL, other_net, 1) == NULL &&
            test_contains(segc_last_error(), "init_filters"),
        "mismatching network: %s", segc_last_error());
  char config[1200];
  snprintf(config, sizeof config, "%s/examples/phantom.json", source);
  segc_model *model = segc_model_load(weights, config, NULL, 0);
  CHECK(model != NULL, "load: %s", segc_last_error());
  if (!model) return test_finish_failed();
  CHECK(segc_model_classes(model) == 105, "classes %d", segc_model_classes(model));
  enum { kSide = 8, kCount = kSide * kSide * kSide };
  static float voxels[kCount];
  static uint8_t labels[kCount];
  for (int v = 0; v < kCount; ++v) voxels[v] = (float)(v % 97) * 10.0f - 300.0f;
  const int64_t dim[3] = {kSide, kSide, kSide}, flat[3] = {kSide, kSide, 1};
  double affine[16] = {6, 0, 0, 0, 0, 6, 0, 0, 0, 0, 6, 0, 0, 0, 0, 1};
  CHECK(segc_segment(model, voxels, SEGC_VOXELS_FLOAT32, dim, affine, labels) == 0,
        "segment: %s", segc_last_error());
  CHECK(strcmp(segc_last_error(), "no error recorded") == 0,
        "a success leaves a message: %s",
        segc_last_error());
  memset(labels, 0xEE, sizeof labels);
  CHECK(segc_segment(model, voxels, SEGC_VOXELS_FLOAT32, flat, affine, labels) != 0,
        "a single slice is segmented");
  CHECK(segc_segment(model, voxels, (segc_voxel_type)7, dim, affine, labels) != 0 &&
            test_contains(segc_last_error(), "voxel type"),
        "bad type: %s", segc_last_error());
  CHECK(segc_segment(model, NULL, SEGC_VOXELS_FLOAT32, dim, affine, labels) != 0 &&
            test_contains(segc_last_error(), "NULL"),
        "NULL voxels: %s", segc_last_error());
  affine[10] = 0.0;
  CHECK(segc_segment(model, voxels, SEGC_VOXELS_FLOAT32, dim, affine, labels) != 0 &&
            test_contains(segc_last_error(), "singular"),
        "singular affine: %s", segc_last_error());
  affine[10] = 6.0;
  affine[12] = 1.0;
  CHECK(segc_segment(model, voxels, SEGC_VOXELS_FLOAT32, dim, affine, labels) != 0 &&
            test_contains(segc_last_error(), "bottom row"),
        "bad bottom row: %s", segc_last_error());
  affine[12] = 0.0;
  voxels[5] = NAN;
  CHECK(segc_segment(model, voxels, SEGC_VOXELS_FLOAT32, dim, affine, labels) != 0 &&
            test_contains(segc_last_error(), "1 voxels are NaN"),
        "NaN voxel: %s", segc_last_error());
  bool untouched = true;
  for (int v = 0; v < kCount; ++v) untouched &= labels[v] == 0xEE;
  CHECK(untouched, "a failed segc_segment wrote labels");
  segc_model_free(model);
  segc_model_free(NULL);
  CHECK(segc_train(NULL, NULL, 0, 0, 0) != 0 &&
            test_contains(segc_last_error(), "no config"),
        "train without config: %s", segc_last_error());
  CHECK(segc_train(config, bad_set, 1, 0, 0) != 0 &&
            test_contains(segc_last_error(), "no_such_key"),
        "train with a bad override: %s", segc_last_error());
  CHECK(segc_train(config, NULL, 0, 64, 0) != 0 &&
            test_contains(segc_last_error(), "flags"),
        "train with bad flags: %s", segc_last_error());
  // Two steps of the examples' training on a small phantom.
  segc_phantom_options po;
  segc_phantom_default_options(&po);
  po.dim[0] = po.dim[1] = po.dim[2] = 32;
  po.spacing[0] = po.spacing[1] = po.spacing[2] = 6.0;
  const char *data = test_path(temp, "phantom");
  CHECK_OK(segc_phantom_write_dataset(data, &po, 3, 1));
  char sets[3][1200];
  snprintf(sets[0], sizeof sets[0], "dataset_dir=%s", data);
  snprintf(sets[1], sizeof sets[1], "ckpt_dir=%s/models", temp);
  snprintf(sets[2], sizeof sets[2], "output_dir=%s/logs", temp);
  const char *train_sets[] = {sets[0], sets[1], sets[2], "max_epochs=1"};
  CHECK(segc_train(config, train_sets, 4, SEGC_TRAIN_QUIET, 2) == 0,
        "segc_train: %s", segc_last_error());
  CHECK(support_exists(test_path(temp, "models/training_state.segc")),
        "segc_train saved no training state");
  CHECK(support_exists(test_path(temp, "logs/train.csv")), "no train.csv");
  // A second run in the same folders is refused without a flag, as segtrain.
  CHECK(segc_train(config, train_sets, 4, SEGC_TRAIN_QUIET, 2) != 0,
        "a second run over the first one's logs was not refused");
  return 0;
}

int main(int argc, char **argv) {
  static const struct {
    const char *name;
    int (*run)(void);
  } examples[] = {{"segment_ct_sh", segment_ct_sh},
                  {"train_phantom_sh", train_phantom_sh},
                  {"evaluate_sh", evaluate_sh},
                  {"segment_ct_c", segment_ct_c},
                  {"api", api}};
  const char *s = getenv("SEGC_SOURCE_DIR"), *b = getenv("SEGC_BUILD_DIR");
  snprintf(source, sizeof source, "%s", s && *s ? s : ".");
  snprintf(build, sizeof build, "%s", b && *b ? b : "build");
  for (size_t i = 0; argc == 2 && i < sizeof examples / sizeof *examples; ++i) {
    if (strcmp(argv[1], examples[i].name) != 0) continue;
    char name[128];
    snprintf(name, sizeof name, "examples_%s", examples[i].name);
    snprintf(temp, sizeof temp, "%s", test_temp_dir(name));
    const int failed = examples[i].run();
    if (failed) return failed;
    if (test_failures == 0) {
      snprintf(command, sizeof command, "rm -rf %s", temp);
      if (system(command) != 0) fprintf(stderr, "could not remove %s\n", temp);
    }
    return test_finish(name);
  }
  fprintf(stderr, "usage: check_examples segment_ct_sh|train_phantom_sh|"
          "evaluate_sh|segment_ct_c|api\n");
  return 2;
}
