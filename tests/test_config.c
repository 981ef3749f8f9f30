// segc's own config format: defaults, merging files, --set for every type,
// nested keys, every error, the command-line helper, derived values, and the
// effective-config JSON round trip. The expected values are written out here
// (the bundle's numbers), not read back from the schema table.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
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

static void check_defaults(void) {
  segc_config c;
  segc_config_defaults(&c);
  CHECK(c.highres == true, "highres");
  double pixdim[3];
  segc_config_pixdim(&c, pixdim);
  CHECK(!c.pixdim_set && pixdim[0] == 1.5 && pixdim[1] == 1.5 &&
            pixdim[2] == 1.5,
        "pixdim %g", pixdim[0]);
  CHECK(strcmp(segc_config_model_name(&c), "model.pt") == 0, "model name");
  CHECK(c.init_LR == 1e-4 && c.weight_decay == 1e-5, "lr %g wd %g", c.init_LR,
        c.weight_decay);
  CHECK(c.batch_size == 4, "batch_size %d", c.batch_size);
  CHECK(c.roi[0] == 96 && c.roi[1] == 96 && c.roi[2] == 96, "roi");
  CHECK(c.val_roi_set && c.val_roi[0] == 160 && c.val_roi[2] == 160,
        "val_roi");
  CHECK(c.val_interval == 20 && c.max_epochs == 4000, "intervals");
  CHECK(c.val_cases == 10 && c.cache_rate == 0.4 && c.num_workers == 4,
        "data");
  CHECK(c.amp == SEGC_AMP_OFF && segc_config_compute_dtype(&c) == SEGC_F32,
        "amp");
  CHECK(c.seed == 123, "seed %llu", (unsigned long long)c.seed);
  CHECK(!strcmp(c.ckpt_dir, "models") && !strcmp(c.output_dir, "eval"),
        "dirs");
  CHECK(!strcmp(c.labels, "configs/labels_104.json"), "labels");
  CHECK(!c.dataset_dir[0] && !c.datalist[0], "no data by default");
  CHECK(c.sw_batch_size == 1 && c.sw_overlap == 0.25 &&
            c.sw_mode == SEGC_CONFIG_SW_GAUSSIAN &&
            c.sw_padding_mode == SEGC_CONFIG_PAD_REPLICATE,
        "sliding window");
  int sw_roi[3];
  segc_config_sw_roi(&c, sw_roi);
  CHECK(!c.sw_roi_set && sw_roi[0] == 96 && sw_roi[2] == 96, "sw_roi");
  CHECK(c.lr_schedule == SEGC_LR_CONSTANT && c.threads == 0, "schedule");
  CHECK(c.device == SEGC_RUN_ON_AUTO && !c.distributed, "device");
  CHECK(c.save_interval == 1 && !c.resume[0], "resume");
  CHECK(!strcmp(c.output_postfix, "trans") && c.separate_folder &&
            c.output_ext == SEGC_EXT_NII_GZ,
        "outputs");
  // The bundle's network: SegResNet(1 -> 105, 32 filters, [1,2,2,4],
  // [1,1,1], dropout 0.2, 8 groups).
  segc_segresnet_config n = segc_config_network(&c);
  const int down[4] = {1, 2, 2, 4};
  CHECK(n.in_channels == 1 && n.out_channels == 105 && n.init_filters == 32 &&
            n.levels == 4 && !memcmp(n.blocks_down, down, sizeof down) &&
            n.blocks_up[0] == 1 && n.blocks_up[1] == 1 &&
            n.blocks_up[2] == 1 && n.norm_groups == 8 &&
            n.dropout_prob == 0.2f,
        "network");
  CHECK(c.network_def.spatial_dims == 3 && c.network_def.blocks_up_count == 3,
        "network_def");
  CHECK(segc_config_validate(&c) == SEGC_OK, "defaults validate: %s",
        segc_error_message());
  char path[64];
  c.highres = false;
  segc_config_pixdim(&c, pixdim);
  CHECK(pixdim[0] == 3.0 && pixdim[2] == 3.0, "lowres pixdim");
  CHECK(segc_config_model_path(&c, path, sizeof path) == SEGC_OK &&
            !strcmp(path, "models/model_lowres.pt"),
        "lowres model path %s", path);
}

static void check_merge_order(void) {
  const char *a = write_file("a.json",
                             "{\"batch_size\": 2, \"roi\": [64, 64, 64],\n"
                             " \"network_def\": {\"init_filters\": 16}}\n");
  const char *b = write_file("b.json",
                             "{\"batch_size\": 3,\n"
                             " \"network_def\": {\"dropout_prob\": 0.1}}\n");
  segc_config c;
  segc_config_defaults(&c);
  const char *ab[2] = {a, b};
  CHECK(segc_config_load_files(&c, ab, 2, NULL) == SEGC_OK, "%s",
        segc_error_message());
  CHECK(c.batch_size == 3, "later file wins: %d", c.batch_size);
  CHECK(c.roi[0] == 64 && c.roi[1] == 64 && c.roi[2] == 64, "roi kept");
  CHECK(c.network_def.init_filters == 16 && c.network_def.dropout_prob == 0.1,
        "nested keys merge key by key: %d %g", c.network_def.init_filters,
        c.network_def.dropout_prob);
  CHECK(c.network_def.out_channels == 105 && c.max_epochs == 4000,
        "untouched keys keep defaults");
  const char *ba[2] = {b, a};
  segc_config_defaults(&c);
  CHECK(segc_config_load_files(&c, ba, 2, NULL) == SEGC_OK, "%s",
        segc_error_message());
  CHECK(c.batch_size == 2, "reverse order: %d", c.batch_size);
}

static void check_sets(void) {
  segc_config c;
  segc_config_defaults(&c);
  const char *sets[] = {
      "highres=false", "batch_size=8", "seed=4000000000", "init_LR=3e-4",
      "dataset_dir=/data/total seg", "output_dir=2024",
      "ckpt_dir=\"ck\"", "roi=[64,64,32]", "pixdim=[1.0, 2.0, 2.5]",
      "val_roi=null", "network_def.blocks_down=[1,2,2]",
      "network_def.blocks_up=[1,1]", "lr_schedule=cosine",
      "sw_mode=\"constant\"", "amp=bf16", "separate_folder=false",
      "network_def={\"init_filters\": 16, \"norm_groups\": 4}",
      "sw_roi=[32, 32, 32]", "datalist=", NULL};
  for (int i = 0; sets[i]; ++i)
    CHECK(segc_config_apply_set(&c, sets[i]) == SEGC_OK, "%s: %s", sets[i],
          segc_error_message());
  CHECK(!c.highres && c.batch_size == 8 && c.seed == 4000000000ull &&
            c.init_LR == 3e-4,
        "scalars");
  CHECK(!strcmp(c.dataset_dir, "/data/total seg"), "bare string");
  CHECK(!strcmp(c.output_dir, "2024"), "number text for a string key");
  CHECK(!strcmp(c.ckpt_dir, "ck"), "quoted string");
  CHECK(c.roi[0] == 64 && c.roi[2] == 32, "int3");
  CHECK(c.pixdim_set && c.pixdim[1] == 2.0 && c.pixdim[2] == 2.5, "float3");
  double pixdim[3];
  segc_config_pixdim(&c, pixdim);
  CHECK(pixdim[0] == 1.0, "explicit pixdim overrides highres");
  CHECK(!c.val_roi_set, "null clears an optional key");
  CHECK(c.network_def.blocks_down_count == 3 &&
            c.network_def.blocks_down[2] == 2 &&
            c.network_def.blocks_up_count == 2,
        "lists");
  CHECK(c.lr_schedule == SEGC_LR_COSINE && c.sw_mode == SEGC_CONFIG_SW_CONSTANT,
        "choices");
  CHECK(c.amp == SEGC_AMP_BF16 && segc_config_compute_dtype(&c) == SEGC_BF16,
        "amp bf16");
  CHECK(!c.separate_folder, "bool");
  CHECK(c.network_def.init_filters == 16 && c.network_def.norm_groups == 4 &&
            c.network_def.out_channels == 105,
        "nested object via --set");
  CHECK(segc_config_validate(&c) == SEGC_OK, "valid: %s",
        segc_error_message());
  CHECK(segc_config_apply_set(&c, "amp=true") == SEGC_OK &&
            c.amp == SEGC_AMP_ON && segc_config_compute_dtype(&c) == SEGC_F32,
        "amp true is f32 on the CPU (MONAI's amp is CUDA-only)");
  CHECK(segc_config_apply_set(&c, "amp=bf16") == SEGC_OK &&
            c.amp == SEGC_AMP_BF16 && segc_config_compute_dtype(&c) == SEGC_BF16,
        "amp bf16 is bf16");
  CHECK(segc_config_apply_set(&c, "amp=\"fp16\"") == SEGC_OK &&
            c.amp == SEGC_AMP_FP16 && segc_config_compute_dtype(&c) == SEGC_F16,
        "amp fp16");
  CHECK(segc_config_apply_set(&c, "pixdim=null") == SEGC_OK && !c.pixdim_set,
        "pixdim null");
  // Cosine: lr(e) = 0.5 lr0 (1 + cos(pi e / E)); E = 4000 here.
  double lr0 = c.init_LR;
  CHECK(segc_config_learning_rate(&c, 0) == lr0, "cosine start");
  CHECK(fabs(segc_config_learning_rate(&c, 2000) - 0.5 * lr0) < 1e-15,
        "cosine middle");
  CHECK(fabs(segc_config_learning_rate(&c, 1000) -
             0.5 * lr0 * (1.0 + cos(M_PI / 4.0))) < 1e-15,
        "cosine quarter");
  c.lr_schedule = SEGC_LR_CONSTANT;
  CHECK(segc_config_learning_rate(&c, 1234) == lr0, "constant");
}

static void check_file_errors(void) {
  segc_config c;
  segc_config_defaults(&c);
  const char *p = write_file("bad1.json", "{\"init_lr\": 0.001}");
  CHECK_FAILS(segc_config_load_file(&c, p, NULL), SEGC_ERR_INVALID,
              "bad1.json: unknown key 'init_lr' (did you mean 'init_LR'?)");
  p = write_file("bad2.json", "{\"init_filters\": 16}");
  CHECK_FAILS(segc_config_load_file(&c, p, NULL), SEGC_ERR_INVALID,
              "did you mean 'network_def.init_filters'?");
  p = write_file("bad3.json", "{\"network_def\": {\"init_filter\": 16}}");
  CHECK_FAILS(segc_config_load_file(&c, p, NULL), SEGC_ERR_INVALID,
              "unknown key 'network_def.init_filter' (did you mean "
              "'network_def.init_filters'?)");
  p = write_file("bad4.json", "{\"zzqqxxww\": 1}");
  CHECK_FAILS(segc_config_load_file(&c, p, NULL), SEGC_ERR_INVALID,
              "unknown key 'zzqqxxww' (segc --help-config");
  const struct {
    const char *text, *needle;
  } cases[] = {
      {"{\"batch_size\": \"4\"}", "key 'batch_size': expected an integer"},
      {"{\"batch_size\": 2.5}", "key 'batch_size': expected an integer"},
      {"{\"highres\": 1}", "key 'highres': expected true or false"},
      {"{\"roi\": [96, 96]}", "key 'roi': expected 3 positive integers"},
      {"{\"network_def\": 5}", "key 'network_def': expected an object"},
      {"{\"network_def.init_filters\": 8}", "write nested keys as objects"},
      {"{\"amp\": \"fp8\"}", "key 'amp': expected false, true"},
      {"{\"sw_mode\": \"gauss\"}", "expected one of \"gaussian\""},
      {"{\"dataset_dir\": 3}", "key 'dataset_dir': expected a string"},
      {"{\"batch_size\": 0}", "key 'batch_size': 0 is out of range [1, 64]"},
      {"{\"sw_overlap\": 1.2}", "key 'sw_overlap': 1.2 is out of range [0, 1)"},
      {"{\"sw_overlap\": 1}", "key 'sw_overlap': 1 is out of range [0, 1)"},
      {"{\"roi\": [96, 0, 96]}", "key 'roi': 0 is out of range"},
      {"{\"roi\": [96, -96, 96]}", "key 'roi': -96 is out of range"},
      {"{\"pixdim\": [1.5, 0, 1.5]}", "key 'pixdim': 0 is out of range"},
      {"{\"network_def\": {\"dropout_prob\": 1.0}}",
       "key 'network_def.dropout_prob': 1 is out of range [0, 1)"},
      {"{\"network_def\": {\"spatial_dims\": 2}}",
       "key 'network_def.spatial_dims': 2 is out of range [3, 3]"},
      {"{\"network_def\": {\"blocks_down\": []}}",
       "expected a list of 1 to 8 integers"},
      {"{\"seed\": -1}", "key 'seed': -1 is out of range"},
      {"{\"batch_size\": 2, \"batch_size\": 3}", "duplicate key 'batch_size'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    p = write_file("bad_case.json", cases[i].text);
    CHECK_FAILS(segc_config_load_file(&c, p, NULL), SEGC_ERR_INVALID,
                cases[i].needle);
    CHECK(test_contains(segc_error_message(), "bad_case.json"),
          "names the file: %s", segc_error_message());
  }
  p = write_file("array.json", "[1, 2]");
  CHECK_FAILS(segc_config_load_file(&c, p, NULL), SEGC_ERR_FORMAT,
              "array.json: a config must be a JSON object");
  // Malformed JSON: the error is on line 3 (the doubled comma).
  p = write_file("broken.json", "{\n  \"batch_size\": 4,\n  ,\"roi\": 1\n}\n");
  CHECK_FAILS(segc_config_load_file(&c, p, NULL), SEGC_ERR_FORMAT,
              "broken.json: malformed JSON at line 3");
  CHECK_FAILS(segc_config_load_file(&c, test_path(temp_dir, "missing.json"),
                                    NULL),
              SEGC_ERR_IO, "missing.json");
  // A failed load leaves the config as it was.
  segc_config before = c;
  p = write_file("half.json", "{\"batch_size\": 2, \"roi\": 5}");
  CHECK(segc_config_load_file(&c, p, NULL) != SEGC_OK, "half file fails");
  CHECK(segc_config_equal(&c, &before) && c.batch_size == 4,
        "unchanged after a failure");
}

static void check_set_and_cross_errors(void) {
  segc_config c;
  segc_config_defaults(&c);
  CHECK_FAILS(segc_config_apply_set(&c, "batch_size"), SEGC_ERR_INVALID,
              "--set 'batch_size': expected KEY=VALUE");
  CHECK_FAILS(segc_config_apply_set(&c, "=4"), SEGC_ERR_INVALID,
              "expected KEY=VALUE");
  CHECK_FAILS(segc_config_apply_set(&c, "init_lr=1e-3"), SEGC_ERR_INVALID,
              "--set: unknown key 'init_lr' (did you mean 'init_LR'?)");
  CHECK_FAILS(segc_config_apply_set(&c, "batch_size=four"), SEGC_ERR_INVALID,
              "--set: key 'batch_size': expected an integer, got \"four\"");
  CHECK_FAILS(segc_config_apply_set(&c, "roi=64,64,64"), SEGC_ERR_INVALID,
              "key 'roi': expected 3 positive integers");
  CHECK_FAILS(segc_config_apply_set(&c, "network_def=3"), SEGC_ERR_INVALID,
              "expected an object of network_def.* keys");
  CHECK_FAILS(segc_config_apply_set(&c, "network_def={\"init_filtres\": 4}"),
              SEGC_ERR_INVALID, "did you mean 'network_def.init_filters'?");
  CHECK(c.batch_size == 4 && c.network_def.init_filters == 32,
        "failed sets change nothing");

  const struct {
    const char *set, *needle;
  } cross[] = {
      {"network_def.init_filters=12",
       "network_def.init_filters (12) must be a multiple of "
       "network_def.norm_groups (8)"},
      {"network_def.blocks_up=[1,1]",
       "network_def.blocks_up has 2 entries; network_def.blocks_down has 4 "
       "levels, so it needs 3"},
      {"roi=[96,100,96]", "must be multiples of 8"},
      {"sw_roi=[96,96,20]", "must be multiples of 8"},
      {"output_postfix=a/b", "output_postfix 'a/b' must not contain '/'"},
  };
  for (size_t i = 0; i < sizeof cross / sizeof cross[0]; ++i) {
    segc_config_defaults(&c);
    CHECK(segc_config_apply_set(&c, cross[i].set) == SEGC_OK, "%s",
          cross[i].set);
    CHECK_FAILS(segc_config_validate(&c), SEGC_ERR_INVALID, cross[i].needle);
  }
  segc_config_defaults(&c);
  CHECK_FAILS(segc_config_check_training(&c), SEGC_ERR_INVALID,
              "training needs dataset_dir");
  CHECK(segc_config_apply_set(&c, "dataset_dir=d") == SEGC_OK &&
            segc_config_check_training(&c) == SEGC_OK,
        "dataset_dir alone");
  CHECK(segc_config_apply_set(&c, "datalist=l.json") == SEGC_OK, "datalist");
  CHECK_FAILS(segc_config_check_training(&c), SEGC_ERR_INVALID,
              "both dataset_dir ('d') and datalist ('l.json') are set");
}

static void check_args(void) {
  const char *a = write_file("args_a.json", "{\"batch_size\": 2}");
  const char *b = write_file("args_b.json", "{\"batch_size\": 3, \"seed\": 9}");
  char *argv[] = {"prog",    "--weights", "w.pt",          "--config",
                  (char *)a, "--set",     "batch_size=5",  "--config",
                  (char *)b, "--threads", "2",             "--set",
                  "seed=10", NULL};
  int argc = 13;
  segc_config c;
  segc_config_notes notes = {0};
  CHECK(segc_config_from_args(&argc, argv, &c, &notes) == SEGC_OK, "%s",
        segc_error_message());
  // --set applies after every file, whatever its position.
  CHECK(c.batch_size == 5 && c.seed == 10, "sets win: %d %llu", c.batch_size,
        (unsigned long long)c.seed);
  CHECK(argc == 5 && !strcmp(argv[1], "--weights") &&
            !strcmp(argv[2], "w.pt") && !strcmp(argv[3], "--threads") &&
            !strcmp(argv[4], "2") && argv[5] == NULL,
        "other arguments kept in order (argc %d)", argc);
  CHECK(notes.line_count == 0, "no notes for segc files");
  segc_config_notes_free(&notes);

  char *missing[] = {"prog", "--config", NULL};
  argc = 2;
  CHECK_FAILS(segc_config_from_args(&argc, missing, &c, NULL),
              SEGC_ERR_INVALID, "--config needs a value");
  char *invalid[] = {"prog", "--set", "network_def.init_filters=12", NULL};
  argc = 3;
  CHECK_FAILS(segc_config_from_args(&argc, invalid, &c, NULL),
              SEGC_ERR_INVALID, "must be a multiple of");
}

static void check_round_trip(void) {
  segc_config c;
  segc_config_defaults(&c);
  const char *sets[] = {
      "description=run \"7\" \\ with µ", "highres=false",
      "pixdim=[0.8, 0.8, 2.0000000000000004]", "init_LR=0.00012345678901234",
      "val_roi=null", "amp=bf16", "lr_schedule=cosine",
      "network_def.blocks_down=[1,2,2,2,1]",
      "network_def.blocks_up=[1,1,1,1]", "network_def.dropout_prob=0.1",
      "sw_overlap=0.6", "seed=4294967295", "device=cpu", "backend=mpi",
      "output_ext=.nii", "separate_folder=false", "sw_roi=[32,64,96]", NULL};
  for (int i = 0; sets[i]; ++i)
    CHECK(segc_config_apply_set(&c, sets[i]) == SEGC_OK, "%s: %s", sets[i],
          segc_error_message());
  segc_config defaults;
  segc_config_defaults(&defaults);
  CHECK(!segc_config_equal(&c, &defaults), "the test config differs");
  const char *path = test_path(temp_dir, "effective.json");
  CHECK(segc_config_write_json(&c, path) == SEGC_OK, "%s",
        segc_error_message());
  segc_config back;
  segc_config_defaults(&back);
  CHECK(segc_config_load_file(&back, path, NULL) == SEGC_OK, "%s",
        segc_error_message());
  CHECK(segc_config_equal(&c, &back), "round trip equal");
  CHECK(back.pixdim[2] == 2.0000000000000004 &&
            back.init_LR == 0.00012345678901234,
        "doubles exact");
  CHECK(!strcmp(back.description, "run \"7\" \\ with µ"), "text escaped");
  CHECK(!back.val_roi_set && back.amp == SEGC_AMP_BF16 &&
            back.network_def.blocks_down_count == 5 && !back.separate_folder,
        "fields");
  char *tmp_probe = NULL;
  CHECK(segc_config_to_json(&c, &tmp_probe) == SEGC_OK &&
            test_contains(tmp_probe, "\"network_def\":"),
        "nested output");
  free(tmp_probe);
  char leftover[4096];
  snprintf(leftover, sizeof leftover, "%s.tmp.%ld", path, (long)getpid());
  CHECK(access(leftover, F_OK) != 0, "no temporary file left");
  CHECK_FAILS(segc_config_write_json(&c, test_path(temp_dir, "no/dir.json")),
              SEGC_ERR_IO, "no/dir.json");
}

static void check_help(void) {
  char *text = NULL;
  size_t size = 0;
  FILE *out = open_memstream(&text, &size);
  segc_config_print_help(out);
  fclose(out);
  const char *keys[] = {"highres", "pixdim", "init_LR", "batch_size", "roi",
                        "val_roi", "network_def.init_filters",
                        "network_def.norm_groups", "sw_overlap", "amp",
                        "labels", "threads", "save_interval", NULL};
  for (int i = 0; keys[i]; ++i) {
    char needle[64];
    snprintf(needle, sizeof needle, "  %s  (", keys[i]);
    CHECK(test_contains(text, needle), "help lists %s", keys[i]);
  }
  CHECK(test_contains(text, "default 1e-4"), "help shows defaults");
  free(text);
}

// The shipped configs load, validate and say what they should.
static void check_shipped_configs(void) {
  const char *source = getenv("SEGC_SOURCE_DIR");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/configs", source && *source ? source : ".");
  const char *names[] = {"train.json", "evaluate.json", "inference.json",
                         "demo_train.json", NULL};
  segc_config c;
  for (int i = 0; names[i]; ++i) {
    segc_config_defaults(&c);
    CHECK(segc_config_load_file(&c, test_path(dir, names[i]), NULL) ==
                  SEGC_OK &&
              segc_config_validate(&c) == SEGC_OK,
          "%s: %s", names[i], segc_error_message());
    CHECK(c.description[0] != '\0', "%s has a description", names[i]);
  }
  segc_config_defaults(&c);
  const char *multi[2] = {test_path(dir, "train.json"),
                          test_path(dir, "multi_gpu_train.json")};
  CHECK(segc_config_load_files(&c, multi, 2, NULL) == SEGC_OK &&
            c.distributed && c.backend == SEGC_BACKEND_NCCL &&
            c.device == SEGC_RUN_ON_CUDA && c.batch_size == 4,
        "multi_gpu_train.json on train.json: %s", segc_error_message());
  // The CPU's multi-process file: MPI, one process per CPU socket or node.
  segc_config_defaults(&c);
  multi[1] = test_path(dir, "multi_cpu_train.json");
  CHECK(segc_config_load_files(&c, multi, 2, NULL) == SEGC_OK &&
            c.distributed && c.backend == SEGC_BACKEND_MPI &&
            c.device == SEGC_RUN_ON_CPU && c.batch_size == 4,
        "multi_cpu_train.json on train.json: %s", segc_error_message());
  if (segc_comm_have_mpi())
    CHECK(segc_config_validate(&c) == SEGC_OK, "multi_cpu validates: %s",
          segc_error_message());
  else
    CHECK_FAILS(segc_config_validate(&c), SEGC_ERR_UNSUPPORTED,
                "distributed: true needs MPI, and this build has none");
  segc_config_defaults(&c);
  CHECK(segc_config_load_file(&c, test_path(dir, "demo_train.json"), NULL) ==
            SEGC_OK,
        "demo");
  double pixdim[3];
  segc_config_pixdim(&c, pixdim);
  CHECK(pixdim[0] == 3.0 && c.network_def.init_filters == 16 &&
            c.batch_size == 1 && c.roi[0] == 64 && c.amp == SEGC_AMP_OFF &&
            !strcmp(c.dataset_dir, "demo/data") &&
            !strcmp(segc_config_model_name(&c), "model_lowres.pt"),
        "demo settings");
}

int main(void) {
  temp_dir = test_temp_dir("config");
  check_defaults();
  check_merge_order();
  check_sets();
  check_file_errors();
  check_set_and_cross_errors();
  check_args();
  check_round_trip();
  check_help();
  check_shipped_configs();
  return test_finish("config");
}
