// Loading a checkpoint as a network: NaN and infinite weights are refused
// with the tensor's name (checkpoints and resumable training states); a
// checkpoint whose output count differs from the labels' is refused naming
// the checkpoint and the labels, with what to do; norm_groups comes from
// the segc_config.json beside the checkpoint, and one note line says which
// setting came from where.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "infer/infer_pipeline.h"
#include "io/model_io.h"
#include "train/train_state.h"
#include "util/test_util.h"

static const char *g_dir;

// A random SegResNet with `init_filters` filters and `outputs` classes.
static segc_status make_net_for(segc_segresnet *net, int init_filters,
                                int64_t outputs, int norm_groups,
                                bool training) {
  segc_segresnet_config config = segc_segresnet_bundle_config();
  config.init_filters = init_filters;
  config.out_channels = outputs;
  config.norm_groups = norm_groups;
  SEGC_TRY(segc_segresnet_create(net, &config, training, SEGC_DEVICE_CPU));
  CHECK_OK(segc_segresnet_init_weights(net, 7));
  return SEGC_OK;
}

static segc_status make_net(segc_segresnet *net, int init_filters,
                            int64_t outputs, int norm_groups) {
  return make_net_for(net, init_filters, outputs, norm_groups, false);
}

static segc_status save_checkpoint(const char *path, int init_filters,
                                   int64_t outputs) {
  segc_segresnet net;
  SEGC_TRY(make_net(&net, init_filters, outputs, 8));
  const segc_status status = segc_segresnet_save_checkpoint(&net, path);
  segc_segresnet_destroy(&net);
  return status;
}

static float *param_values(segc_segresnet *net, const char *name) {
  return segc_segresnet_find(net, name)->value.data;
}

static bool all_zero(const segc_segresnet *net) {
  for (int64_t i = 0; i < net->weight_count; ++i)
    if (net->weights[i] != 0.0f) return false;
  return true;
}

static int test_non_finite_checkpoint(void) {
  segc_segresnet net, fresh;
  CHECK_OK(make_net(&net, 8, 105, 8));
  float *init = param_values(&net, "convInit.conv.weight");
  init[0] = init[5] = init[9] = NAN;
  const char *path = test_path(g_dir, "nan.pt");
  CHECK_OK(segc_segresnet_save_checkpoint(&net, path));
  init[0] = init[5] = init[9] = 0.5f;
  param_values(&net, "conv_final.2.conv.bias")[1] = -INFINITY;
  const char *inf_path = test_path(g_dir, "inf.pt");
  CHECK_OK(segc_segresnet_save_checkpoint(&net, inf_path));

  CHECK_OK(make_net(&fresh, 8, 105, 8));
  memset(fresh.weights, 0, sizeof(float) * (size_t)fresh.weight_count);
  CHECK_FAILS(segc_segresnet_load_checkpoint(&fresh, path), SEGC_ERR_INVALID,
              "nan.pt: tensor 'convInit.conv.weight' has 3 NaN values");
  CHECK_FAILS(segc_segresnet_load_checkpoint(&fresh, inf_path),
              SEGC_ERR_INVALID,
              "inf.pt: tensor 'conv_final.2.conv.bias' has 1 infinite value");
  CHECK(all_zero(&fresh), "a refused checkpoint changes no weight");

  // f16 and bf16 tensors are checked in their own bits.
  segc_pt_state_dict view;
  CHECK_OK(segc_segresnet_state_dict(&net, &view));
  param_values(&net, "conv_final.2.conv.bias")[1] = 0.25f;
  segc_pt_tensor *bias = NULL;
  for (int i = 0; i < view.count; ++i)
    if (!strcmp(view.tensors[i].name, "down_layers.0.1.norm1.bias")) bias = &view.tensors[i];
  const int64_t channels = bias->shape[0];
  uint16_t halves[64] = {0};
  halves[2] = 0x7c00;  // f16 +inf
  halves[3] = 0x7e00;  // f16 NaN
  bias->data = halves;
  bias->dtype = SEGC_F16;
  CHECK_FAILS(segc_segresnet_load_state_dict(&fresh, &view, "half.pt"),
              SEGC_ERR_INVALID,
              "half.pt: tensor 'down_layers.0.1.norm1.bias' has 1 NaN value and 1 "
              "infinite value");
  halves[2] = halves[3] = 0;
  halves[channels - 1] = 0xff80;  // bf16 -inf
  bias->dtype = SEGC_BF16;
  CHECK_FAILS(segc_segresnet_load_state_dict(&fresh, &view, "bf16.pt"),
              SEGC_ERR_INVALID, "1 infinite value");
  halves[channels - 1] = 0x3f80;  // bf16 1.0
  CHECK_OK(segc_segresnet_load_state_dict(&fresh, &view, "bf16.pt"));
  segc_segresnet_state_dict_free(&view);

  // seginfer's and segeval's loader refuses it too.
  segc_config config;
  segc_config_defaults(&config);
  segc_infer_settings settings;
  CHECK_OK(segc_infer_settings_from_config(&config, 105, &settings));
  settings.notes = settings.warnings = NULL;
  for (int a = 0; a < 3; ++a) settings.sw.roi[a] = 16;
  segc_infer_model model;
  CHECK_FAILS(segc_infer_model_load(&model, path, &config, &settings),
              SEGC_ERR_INVALID, "tensor 'convInit.conv.weight' has 3 NaN");
  segc_segresnet_destroy(&fresh);
  segc_segresnet_destroy(&net);
  return 0;
}

// A resumable state whose weights or moments hold a NaN is refused.
static int test_non_finite_state(void) {
  segc_segresnet net;
  CHECK_OK(make_net_for(&net, 8, 3, 8, true));
  segc_trainer trainer;
  const int64_t roi[3] = {16, 16, 16};
  segc_adamw_config adamw = segc_adamw_default();
  CHECK_OK(segc_trainer_init(&trainer, &net, &adamw, SEGC_AMP_OFF, 1, roi, 5));
  segc_train_progress progress;
  CHECK_OK(segc_train_progress_init(&progress));
  const char *good = test_path(g_dir, "good.state");
  CHECK_OK(segc_train_state_save(good, &trainer, &progress, "{}"));
  float *norm = param_values(&net, "down_layers.1.1.norm1.weight");
  const float kept = norm[2];
  norm[2] = NAN;
  const char *bad = test_path(g_dir, "nan.state");
  CHECK_OK(segc_train_state_save(bad, &trainer, &progress, "{}"));
  norm[2] = kept;
  const int64_t offset = segc_segresnet_find(&net, "up_layers.0.0.conv1.conv.weight")
                             ->value.data - (void *)net.weights;
  trainer.optimizer.v[offset / (int64_t)sizeof(float)] = INFINITY;
  const char *bad_v = test_path(g_dir, "inf_v.state");
  CHECK_OK(segc_train_state_save(bad_v, &trainer, &progress, "{}"));

  char *json = NULL;
  CHECK_FAILS(segc_train_state_load(bad, &trainer, &progress, &json),
              SEGC_ERR_INVALID,
              "nan.state: parameter 'down_layers.1.1.norm1.weight' has 1 NaN "
              "value");
  CHECK_FAILS(segc_train_state_load(bad_v, &trainer, &progress, &json),
              SEGC_ERR_INVALID,
              "inf_v.state: adamw.v of parameter "
              "'up_layers.0.0.conv1.conv.weight' has 1 infinite value");
  CHECK(json == NULL, "no config returned from a refused state");
  CHECK_OK(segc_train_state_load(good, &trainer, &progress, &json));
  free(json);
  segc_train_progress_free(&progress);
  segc_trainer_destroy(&trainer);
  segc_segresnet_destroy(&net);
  return 0;
}

// Loads `path` with the default config (or one naming a network with
// norm_groups `named_groups` when > 0), the log captured in `log`.
static segc_status load_logged(const char *path, int64_t classes,
                               int named_groups, segc_infer_model *model,
                               char *log, size_t log_size) {
  segc_config config;
  segc_config_defaults(&config);
  config.network_def.init_filters = 8;
  if (named_groups > 0) config.network_def.norm_groups = named_groups;
  segc_infer_settings settings;
  SEGC_TRY(segc_infer_settings_from_config(&config, classes, &settings));
  for (int a = 0; a < 3; ++a) settings.sw.roi[a] = 16;
  settings.check_network = named_groups > 0;
  FILE *f = tmpfile();
  if (!f) return SEGC_FAIL(SEGC_ERR_IO, "tmpfile failed");
  settings.notes = settings.warnings = f;
  const segc_status status = segc_infer_model_load(model, path, &config, &settings);
  rewind(f);
  const size_t n = fread(log, 1, log_size - 1, f);
  log[n] = '\0';
  fclose(f);
  return status;
}

static int test_wrong_class_count(void) {
  const char *path = test_path(g_dir, "fourteen.pt");
  CHECK_OK(save_checkpoint(path, 8, 14));
  segc_infer_model model;
  char log[4096];
  CHECK_FAILS(load_logged(path, 105, 0, &model, log, sizeof log),
              SEGC_ERR_INVALID,
              "fourteen.pt has 14 output channels, but the labels "
              "(configs/labels_104.json, the bundle's) name 105 classes: for "
              "this checkpoint run with --set network_def.out_channels=14 and "
              "--set labels=FILE with its 14 class names");
  CHECK(test_contains(segc_error_message(),
                      "or give the checkpoint trained for 105 classes"),
        "the message offers the other way: %s", segc_error_message());
  CHECK_FAILS(load_logged(path, 17, 0, &model, log, sizeof log),
              SEGC_ERR_INVALID, "17 classes were asked for (--classes)");
  CHECK_OK(load_logged(path, 14, 0, &model, log, sizeof log));
  segc_infer_model_destroy(&model);
  return 0;
}

static segc_status write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) return SEGC_FAIL(SEGC_ERR_IO, "cannot write %s", path);
  const bool ok = fputs(text, f) >= 0;
  return fclose(f) == 0 && ok ? SEGC_OK : SEGC_FAIL(SEGC_ERR_IO, "write %s", path);
}

static int test_saved_config(void) {
  const char *run = test_path(g_dir, "run");
  CHECK(mkdir(run, 0755) == 0, "mkdir %s", run);
  char checkpoint[4096], saved[4096];
  snprintf(checkpoint, sizeof checkpoint, "%s/model.pt", run);
  snprintf(saved, sizeof saved, "%s/segc_config.json", run);
  CHECK_OK(save_checkpoint(checkpoint, 8, 105));
  segc_infer_model model;
  char log[4096], want[8192];

  // No saved config: the defaults, and the line says so.
  CHECK_OK(load_logged(checkpoint, 105, 0, &model, log, sizeof log));
  CHECK(model.net.config.norm_groups == 8, "default norm_groups");
  snprintf(want, sizeof want,
           "note: network of %s: in_channels 1, out_channels 105, "
           "init_filters 8, blocks_down [1,2,2,4], blocks_up [1,1,1] from its "
           "tensor shapes; norm_groups 8 from the defaults\n", checkpoint);
  CHECK(!strcmp(log, want), "log '%s', want '%s'", log, want);
  segc_infer_model_destroy(&model);

  // segtrain's segc_config.json with norm_groups 4: used, and named.
  segc_config trained;
  segc_config_defaults(&trained);
  trained.network_def.init_filters = 8;
  trained.network_def.norm_groups = 4;
  CHECK_OK(segc_config_write_json(&trained, saved));
  CHECK_OK(load_logged(checkpoint, 105, 0, &model, log, sizeof log));
  CHECK(model.net.config.norm_groups == 4, "norm_groups %d from the saved config",
        model.net.config.norm_groups);
  snprintf(want, sizeof want, "norm_groups 4 from %s\n", saved);
  CHECK(test_contains(log, want) && !test_contains(log, "warning"),
        "log '%s'", log);
  segc_infer_model_destroy(&model);

  // A config the user gave says 8: a warning with both values; 4 is used.
  CHECK_OK(load_logged(checkpoint, 105, 8, &model, log, sizeof log));
  snprintf(want, sizeof want,
           "warning: norm_groups: the config says 8, %s (saved with these "
           "weights) says 4; using 4\n", saved);
  CHECK(test_contains(log, want), "log '%s'", log);
  CHECK(model.net.config.norm_groups == 4, "the saved norm_groups wins");
  segc_infer_model_destroy(&model);

  // A saved config of another network (a copied checkpoint) is not used.
  trained.network_def.init_filters = 16;
  CHECK_OK(segc_config_write_json(&trained, saved));
  CHECK_OK(load_logged(checkpoint, 105, 0, &model, log, sizeof log));
  CHECK(model.net.config.norm_groups == 8 &&
            test_contains(log, "describes another network") &&
            test_contains(log, "norm_groups 8 from the defaults"),
        "log '%s'", log);
  segc_infer_model_destroy(&model);

  // A damaged one is an error naming it.
  CHECK_OK(write_text(saved, "{\"network_def\": {\"norm_groups\": \"four\"}}"));
  CHECK_FAILS(load_logged(checkpoint, 105, 0, &model, log, sizeof log),
              SEGC_ERR_INVALID, "segc_config.json");
  CHECK_OK(write_text(saved, "not json"));
  CHECK_FAILS(load_logged(checkpoint, 105, 0, &model, log, sizeof log),
              SEGC_ERR_FORMAT, "segc_config.json: not a JSON object");
  CHECK(remove(saved) == 0 && remove(checkpoint) == 0 && rmdir(run) == 0,
        "clean up %s", run);
  return 0;
}

int main(void) {
  g_dir = test_temp_dir("checkpoint_network");
  const int failed = test_non_finite_checkpoint() || test_non_finite_state() ||
                     test_wrong_class_count() || test_saved_config();
  if (!failed && test_failures == 0) {
    const char *names[] = {"nan.pt", "inf.pt", "good.state", "nan.state",
                           "inf_v.state", "fourteen.pt"};
    for (size_t i = 0; i < sizeof names / sizeof *names; ++i)
      remove(test_path(g_dir, names[i]));
    rmdir(g_dir);
  }
  return failed ? test_finish_failed() : test_finish("checkpoint_network");
}
