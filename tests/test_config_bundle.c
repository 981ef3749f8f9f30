// Reading the MONAI bundle's own config files from ../shared/bundle (skipped
// when absent): the settings segc takes, the keys it lists as ignored, the
// merged ['train.json', 'evaluate.json'] and multi-GPU patterns, and that
// segc's configs/*.json say the same as the bundle's files.
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config/config.h"
#include "util/test_util.h"

// CHECK_OK stops main; these checks live in void helpers and keep going.
#define EXPECT_OK(expr) \
  CHECK((expr) == SEGC_OK, "%s", segc_error_message())

// A number from the bundle file itself, found by walking `keys`.
static double file_number(const char *path, const char *const *keys) {
  FILE *f = fopen(path, "rb");
  static char text[1 << 16];
  size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
  if (f) fclose(f);
  text[n] = '\0';
  cJSON *root = cJSON_Parse(text);
  const cJSON *node = root;
  for (int i = 0; keys[i] && node; ++i)
    node = cJSON_GetObjectItemCaseSensitive(node, keys[i]);
  double value = cJSON_IsNumber(node) ? node->valuedouble : -1.0;
  cJSON_Delete(root);
  return value;
}

// `runnable`: this build can run it (the multi-GPU layer asks for CUDA and
// several processes, which validation refuses until they are implemented).
static void check_train_settings(const segc_config *c, const char *label,
                                 bool runnable) {
  CHECK(c->highres, "%s highres", label);
  CHECK(c->init_LR == 1e-4 && c->weight_decay == 1e-5, "%s lr %g wd %g",
        label, c->init_LR, c->weight_decay);
  CHECK(c->batch_size == 4 && c->val_interval == 20, "%s batch %d interval %d",
        label, c->batch_size, c->val_interval);
  const segc_network_def *n = &c->network_def;
  CHECK(n->spatial_dims == 3 && n->in_channels == 1 && n->out_channels == 105 &&
            n->init_filters == 32 && n->blocks_down_count == 4 &&
            n->blocks_down[0] == 1 && n->blocks_down[1] == 2 &&
            n->blocks_down[2] == 2 && n->blocks_down[3] == 4 &&
            n->blocks_up_count == 3 && n->blocks_up[0] == 1 &&
            n->blocks_up[2] == 1 && n->dropout_prob == 0.2 &&
            n->norm_groups == 8,
        "%s network_def", label);
  CHECK(c->cache_rate == 0.4 && c->num_workers == 4, "%s cache %g workers %d",
        label, c->cache_rate, c->num_workers);
  CHECK(c->roi[0] == 96 && c->roi[1] == 96 && c->roi[2] == 96, "%s roi",
        label);
  CHECK(c->val_roi_set && c->val_roi[0] == 160 && c->val_roi[2] == 160,
        "%s val_roi", label);
  // train.json's validation inferer names no mode: MONAI's defaults
  // (constant blending, zero padding) apply.
  CHECK(c->sw_roi_set && c->sw_roi[0] == 96 && c->sw_batch_size == 1 &&
            c->sw_overlap == 0.25 && c->sw_mode == SEGC_CONFIG_SW_CONSTANT &&
            c->sw_padding_mode == SEGC_CONFIG_PAD_CONSTANT,
        "%s sliding window", label);
  CHECK(c->amp == SEGC_AMP_ON, "%s amp", label);
  CHECK(c->val_cases == 10, "%s val_cases %d", label, c->val_cases);
  CHECK(!strcmp(c->dataset_dir, "sampledata"), "%s dataset_dir", label);
  CHECK(!strcmp(c->ckpt_dir, "models") && !strcmp(c->output_dir, "eval"),
        "%s dirs %s %s", label, c->ckpt_dir, c->output_dir);
  CHECK(!c->pixdim_set, "%s pixdim", label);
  if (runnable)
    CHECK(segc_config_validate(c) == SEGC_OK, "%s validates: %s", label,
          segc_error_message());
  else if (segc_config_validate(c) == SEGC_OK)
    // The multi-GPU file asks for cuda:LOCAL_RANK: a GPU is here.
    CHECK(c->device == SEGC_RUN_ON_CUDA, "%s asks for cuda", label);
  else
    // Without CUDA kernels or a GPU, refused naming the device.
    CHECK(test_contains(segc_error_message(), "config: device \"cuda\": "),
          "%s refused for its device: %s", label, segc_error_message());
}

static void check_shared_bundle(const char *shared) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/bundle/configs", shared);
  const char *train = test_path(dir, "train.json");
  const char *evaluate = test_path(dir, "evaluate.json");
  segc_config c;
  segc_config_notes notes = {0};

  segc_config_defaults(&c);
  c.max_epochs = 1;  // so that reading the file must set it
  c.seed = 7;
  EXPECT_OK(segc_config_load_file(&c, train, &notes));
  segc_config_notes_print(&notes, stdout);
  check_train_settings(&c, "train.json", true);
  CHECK(c.device == SEGC_RUN_ON_AUTO, "cuda:0 if available else cpu");
  const char *epochs[] = {"train", "trainer", "max_epochs", NULL};
  CHECK(c.max_epochs == (int)file_number(train, epochs) && c.max_epochs > 1,
        "max_epochs %d", c.max_epochs);
  CHECK(c.seed == 123, "set_determinism(seed=123): %llu",
        (unsigned long long)c.seed);
  // The ignored keys, then the device: "cuda:0 if available" runs on the
  // CPU in this build.
  CHECK(notes.line_count == 2 && notes.ignored_count > 0, "two note lines");
  CHECK(notes.line_count == 2 &&
            test_contains(notes.lines[1], "train.json: device") &&
            test_contains(notes.lines[1], "runs on the CPU"),
        "device note");
  const char *ignored[] = {"train#deterministic_transforms",
                           "train#postprocessing", "train#key_metric",
                           "train#handlers#1..2", "validate#postprocessing",
                           "validate#handlers", "validate#key_metric",
                           "validate#additional_metrics",
                           "validate#preprocessing#transforms#0..8",
                           "initialize#1", NULL};
  for (int i = 0; ignored[i]; ++i)
    CHECK(segc_config_notes_ignored(&notes, ignored[i]), "ignored %s",
          ignored[i]);
  const char *used[] = {"network_def", "optimizer", "loss", "train#trainer",
                        "train#dataloader", "train#dataset",
                        "displayable_configs", "highres", "init_LR",
                        "validate#inferer", "imports", "initialize#0",
                        "train#handlers#0", "train#random_transforms", NULL};
  for (int i = 0; used[i]; ++i)
    CHECK(!segc_config_notes_ignored(&notes, used[i]), "%s is used", used[i]);
  segc_config_notes_free(&notes);

  // The merged ['train.json', 'evaluate.json'] pattern: evaluate.json's
  // "initialize" replaces train.json's, which held set_determinism.
  segc_config_defaults(&c);
  c.seed = 7;
  const char *pair[2] = {train, evaluate};
  EXPECT_OK(segc_config_load_files(&c, pair, 2, &notes));
  segc_config_notes_print(&notes, stdout);
  check_train_settings(&c, "train+evaluate", true);
  CHECK(c.seed == 7, "no set_determinism after the merge: %llu",
        (unsigned long long)c.seed);
  CHECK(segc_config_notes_ignored(&notes, "validate#handlers") &&
            segc_config_notes_ignored(&notes, "validate#postprocessing") &&
            notes.line_count == 2 &&
            test_contains(notes.lines[0], "train.json + ") &&
            test_contains(notes.lines[0], "evaluate.json: MONAI bundle"),
        "merged note");
  segc_config_notes_free(&notes);

  // evaluate.json alone: its "validate#..." keys have no parent (MONAI fails
  // as well).
  segc_config_defaults(&c);
  CHECK_FAILS(segc_config_load_file(&c, evaluate, NULL), SEGC_ERR_INVALID,
              "evaluate.json: key 'validate#postprocessing': 'validate' is "
              "not defined by an earlier bundle file");

  // Multi-GPU training.
  const char *multi[2] = {train, test_path(dir, "multi_gpu_train.json")};
  segc_config_defaults(&c);
  EXPECT_OK(segc_config_load_files(&c, multi, 2, &notes));
  check_train_settings(&c, "train+multi_gpu", false);
  CHECK(c.distributed && c.backend == SEGC_BACKEND_NCCL &&
            c.device == SEGC_RUN_ON_CUDA,
        "distributed nccl cuda");
  // Its samplers and per-rank handlers are what a distributed run does.
  static const char *const honoured[] = {
      "network", "train#sampler", "train#dataloader#sampler",
      "train#dataloader#shuffle", "validate#sampler",
      "validate#dataloader#sampler", "train#trainer#train_handlers",
      "validate#evaluator#val_handlers", NULL};
  for (int i = 0; honoured[i]; ++i)
    CHECK(!segc_config_notes_ignored(&notes, honoured[i]), "%s is honoured",
          honoured[i]);
  // Ranks above 0 log warnings only, as segc's do.
  CHECK(!segc_config_notes_ignored(&notes, "initialize#6") &&
            !segc_config_notes_ignored(&notes, "initialize#7"),
        "multi-gpu: the rank-0 logging is honoured");
  // What it sets beyond those is still listed (cudnn.benchmark).
  CHECK(segc_config_notes_ignored(&notes, "initialize#4"),
        "multi-gpu: initialize#4 listed");
  segc_config_notes_free(&notes);

  // Multi-GPU evaluation (train.json + evaluate.json +
  // multi_gpu_evaluate.json, as the bundle's README runs it).
  const char *multi_eval[3] = {test_path(dir, "train.json"),
                               test_path(dir, "evaluate.json"),
                               test_path(dir, "multi_gpu_evaluate.json")};
  segc_config_defaults(&c);
  EXPECT_OK(segc_config_load_files(&c, multi_eval, 3, &notes));
  CHECK(c.distributed && c.backend == SEGC_BACKEND_NCCL &&
            c.device == SEGC_RUN_ON_CUDA,
        "multi-gpu evaluation: distributed nccl cuda");
  static const char *const eval_honoured[] = {
      "network", "validate#sampler", "validate#dataloader#sampler",
      "initialize#2", "initialize#5", NULL};
  for (int i = 0; eval_honoured[i]; ++i)
    CHECK(!segc_config_notes_ignored(&notes, eval_honoured[i]),
          "multi-gpu evaluation: %s is honoured", eval_honoured[i]);
  CHECK(segc_config_notes_ignored(&notes, "initialize#3"),
        "multi-gpu evaluation: initialize#3 (cudnn.benchmark) listed");
  segc_config_notes_free(&notes);

  // inference.json: gaussian blending with replicate padding, and the
  // checkpoint folder from its loader's bundle_root + '/models/'.
  segc_config_defaults(&c);
  c.sw_mode = SEGC_CONFIG_SW_CONSTANT;
  strcpy(c.ckpt_dir, "elsewhere");
  EXPECT_OK(segc_config_load_file(&c, test_path(dir, "inference.json"),
                                 &notes));
  segc_config_notes_print(&notes, stdout);
  CHECK(c.highres && c.sw_overlap == 0.25 && c.sw_batch_size == 1 &&
            c.sw_mode == SEGC_CONFIG_SW_GAUSSIAN &&
            c.sw_padding_mode == SEGC_CONFIG_PAD_REPLICATE && c.sw_roi_set &&
            c.sw_roi[1] == 96,
        "inference sliding window");
  CHECK(!strcmp(c.ckpt_dir, "models") && !strcmp(c.output_dir, "eval") &&
            !strcmp(c.dataset_dir, "sampledata") &&
            !strcmp(c.output_postfix, "trans") && c.separate_folder &&
            c.output_ext == SEGC_EXT_NII_GZ && c.amp == SEGC_AMP_ON &&
            c.num_workers == 1,
        "inference settings (ckpt %s, workers %d)", c.ckpt_dir,
        c.num_workers);
  CHECK(segc_config_notes_ignored(&notes, "preprocessing") &&
            segc_config_notes_ignored(&notes, "postprocessing") &&
            !segc_config_notes_ignored(&notes, "checkpointloader"),
        "inference notes");
  segc_config_notes_free(&notes);

  // segc's own configs/*.json carry the bundle's settings: reading the
  // bundle's files gives the same configuration (segc's extras aside).
  const char *source = getenv("SEGC_SOURCE_DIR");
  char mine[4096];
  snprintf(mine, sizeof mine, "%s/configs", source && *source ? source : ".");
  const struct {
    const char *segc[2], *bundle[3];
  } pairs[] = {
      {{"train.json", NULL}, {"train.json", NULL}},
      {{"evaluate.json", NULL}, {"train.json", "evaluate.json"}},
      {{"inference.json", NULL}, {"inference.json", NULL}},
      {{"train.json", "multi_gpu_train.json"},
       {"train.json", "multi_gpu_train.json"}},
      {{"evaluate.json", "multi_gpu_evaluate.json"},
       {"train.json", "evaluate.json", "multi_gpu_evaluate.json"}},
  };
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; ++i) {
    const char *ours[2], *theirs[3];
    int n = pairs[i].segc[1] ? 2 : 1;
    int m = 1;
    while (m < 3 && pairs[i].bundle[m]) ++m;
    for (int k = 0; k < n; ++k) ours[k] = test_path(mine, pairs[i].segc[k]);
    for (int k = 0; k < m; ++k) theirs[k] = test_path(dir, pairs[i].bundle[k]);
    segc_config a, b2;
    segc_config_defaults(&a);
    segc_config_defaults(&b2);
    EXPECT_OK(segc_config_load_files(&a, ours, n, NULL));
    EXPECT_OK(segc_config_load_files(&b2, theirs, m, NULL));
    memcpy(b2.description, a.description, sizeof a.description);
    b2.save_interval = a.save_interval;
    CHECK(segc_config_equal(&a, &b2), "configs/%s matches the bundle's %s",
          pairs[i].segc[n - 1], pairs[i].bundle[m - 1]);
  }

  // metadata.json holds no run settings.
  segc_config before;
  segc_config_defaults(&c);
  before = c;
  EXPECT_OK(segc_config_load_file(&c, test_path(dir, "metadata.json"), &notes));
  CHECK(segc_config_equal(&c, &before) && notes.line_count == 1 &&
            test_contains(notes.lines[0], "metadata"),
        "metadata skipped with a note");
  segc_config_notes_free(&notes);
}

int main(void) {
  const char *shared = test_shared_dir("config_bundle");
  if (!shared) return TEST_SKIP;
  char probe[4096];
  snprintf(probe, sizeof probe, "%s/bundle/configs/train.json", shared);
  FILE *f = fopen(probe, "r");
  if (!f) {
    printf("config_bundle: SKIPPED: %s not found\n", probe);
    return TEST_SKIP;
  }
  fclose(f);
  check_shared_bundle(shared);
  return test_finish("config_bundle");
}
