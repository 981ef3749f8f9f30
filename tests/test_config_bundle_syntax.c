// MONAI bundle config syntax on small synthetic files (no ../shared needed):
// references ("@a#b", "@a::b", relative "@###x"), "+" merges, "a#b" keys,
// MONAI's and torch's defaults for absent arguments, and what segc must
// refuse (another loss, network or optimizer, a random-size crop, Python
// expressions where a value is needed).
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util/test_util.h"

static const char *temp_dir;

#define EXPECT_OK(expr) \
  CHECK((expr) == SEGC_OK, "%s", segc_error_message())

static const char *write_file(const char *name, const char *text) {
  const char *path = test_path(temp_dir, name);
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
  return path;
}

static void check_synthetic(void) {
  segc_config c;
  segc_config_notes notes = {0};
  // References (absolute, "::", relative "@#"), torch's AdamW default
  // weight_decay, MONAI's SegResNet defaults for absent arguments, an int
  // roi_size, "+" merge.
  const char *a = write_file(
      "syn_a.json",
      "{\"displayable_configs\": {\"lr\": 0.002},\n"
      " \"network_def\": {\"_target_\": \"SegResNet\", \"init_filters\": 16},\n"
      " \"optimizer\": {\"_target_\": \"torch.optim.AdamW\",\n"
      "   \"params\": \"$@network.parameters()\",\n"
      "   \"lr\": \"@displayable_configs::lr\"},\n"
      " \"train\": {\"size\": 64, \"random_transforms\": [{\"_target_\": "
      "\"RandSpatialCropd\", \"keys\": \"image\", \"roi_size\": \"@###size\"}],\n"
      "   \"dataloader\": {\"_target_\": \"DataLoader\", \"shuffle\": true},\n"
      "   \"extra\": {\"x\": 1}},\n"
      " \"init_LR\": 0.5}\n");
  const char *b = write_file(
      "syn_b.json", "{\"+train\": {\"more\": 2}, \"train#extra#x\": 3}\n");
  const char *ab[2] = {a, b};
  segc_config_defaults(&c);
  EXPECT_OK(segc_config_load_files(&c, ab, 2, &notes));
  segc_config_notes_print(&notes, stdout);
  CHECK(c.init_LR == 0.002, "lr through '::' reference: %g", c.init_LR);
  CHECK(c.weight_decay == 1e-2, "torch AdamW default weight_decay: %g",
        c.weight_decay);
  CHECK(c.network_def.init_filters == 16 && c.network_def.out_channels == 2 &&
            c.network_def.dropout_prob == 0.0,
        "SegResNet defaults: out %d", c.network_def.out_channels);
  CHECK(c.roi[0] == 64 && c.roi[1] == 64 && c.roi[2] == 64,
        "relative reference and int roi_size: %d", c.roi[0]);
  CHECK(c.batch_size == 1, "DataLoader default batch_size: %d", c.batch_size);
  CHECK(segc_config_notes_ignored(&notes, "init_LR"),
        "a top-level init_LR that the optimizer does not use is listed");
  CHECK(segc_config_notes_ignored(&notes, "train#extra") &&
            segc_config_notes_ignored(&notes, "train#more"),
        "merged keys listed");
  segc_config_notes_free(&notes);

  const struct {
    const char *text, *needle;
  } errors[] = {
      {"{\"loss\": {\"_target_\": \"DiceFocalLoss\"}}",
       "loss: segc trains with DiceCELoss(to_onehot_y=True, softmax=True) "
       "only"},
      {"{\"loss\": {\"_target_\": \"DiceCELoss\", \"to_onehot_y\": true}}",
       "needs to_onehot_y true and softmax true"},
      {"{\"loss\": {\"_target_\": \"DiceCELoss\", \"to_onehot_y\": true, "
       "\"softmax\": true, \"lambda_ce\": 0.5}}",
       "DiceCELoss argument 'lambda_ce'"},
      {"{\"network_def\": {\"_target_\": \"UNet\"}}",
       "network_def: _target_ 'UNet': segc builds MONAI's SegResNet only"},
      {"{\"network_def\": {\"_target_\": \"SegResNet\", \"act\": \"PRELU\"}}",
       "network_def#act: segc's SegResNet uses ReLU"},
      {"{\"network_def\": {\"_target_\": \"SegResNet\", \"foo\": 1}}",
       "SegResNet argument 'foo' is not known to segc"},
      {"{\"network_def\": {\"_target_\": \"SegResNet\", \"init_filters\": "
       "\"$8*2\"}}",
       "network_def#init_filters: '$8*2' is a Python expression"},
      {"{\"optimizer\": {\"_target_\": \"torch.optim.SGD\"}}",
       "optimizer: segc implements torch.optim.AdamW only"},
      {"{\"optimizer\": {\"_target_\": \"torch.optim.AdamW\", \"betas\": "
       "[0.5, 0.9]}}",
       "optimizer#betas: segc supports only [0.9, 0.999]"},
      {"{\"train\": {\"dataloader\": {\"_target_\": \"DataLoader\", "
       "\"batch_size\": \"$2*4\"}}}",
       "train#dataloader#batch_size: '$2*4' is a Python expression"},
      {"{\"train\": {\"random_transforms\": [{\"_target_\": "
       "\"RandSpatialCropd\", \"roi_size\": 96, \"random_size\": true}]}}",
       "random_size: segc supports only false"},
      {"{\"train\": {\"dataloader\": {\"_target_\": \"DataLoader\", "
       "\"batch_size\": 0}}}",
       "train#dataloader#batch_size: key 'batch_size': 0 is out of range"},
      {"{\"batch_size\": \"@nowhere\"}", "reference '@nowhere' does not "
                                          "resolve"},
      {"{\"validate\": {\"inferer\": {\"_target_\": \"SlidingWindowInferer\", "
       "\"roi_size\": 96, \"padding_mode\": \"reflect\"}}}",
       "key 'sw_padding_mode': expected one of"},
  };
  for (size_t i = 0; i < sizeof errors / sizeof errors[0]; ++i) {
    const char *p = write_file("syn_err.json", errors[i].text);
    segc_config_defaults(&c);
    segc_config before = c;
    CHECK_FAILS(segc_config_load_file(&c, p, NULL), SEGC_ERR_INVALID,
                errors[i].needle);
    CHECK(test_contains(segc_error_message(), "syn_err.json"),
          "names the file: %s", segc_error_message());
    CHECK(segc_config_equal(&c, &before), "unchanged after an error");
  }
  // A segc file after a bundle file wins key by key.
  const char *bundle = write_file(
      "syn_c.json", "{\"displayable_configs\": {\"highres\": false}}");
  const char *mine = write_file("syn_d.json", "{\"batch_size\": 2}");
  const char *both[2] = {bundle, mine};
  segc_config_defaults(&c);
  EXPECT_OK(segc_config_load_files(&c, both, 2, NULL));
  CHECK(!c.highres && c.batch_size == 2, "bundle then segc file");
}

int main(void) {
  temp_dir = test_temp_dir("config_bundle_syntax");
  check_synthetic();
  return test_finish("config_bundle_syntax");
}
