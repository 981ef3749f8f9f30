// build/bin/seginfer with checkpoints that do not fit: another output count
// than the labels (one error line naming the checkpoint and the labels, and
// what to do), NaN weights (refused with the tensor's name instead of an
// all-background label), and a checkpoint with segtrain's segc_config.json
// beside it (norm_groups taken from it, and a note line on stdout saying
// which setting came from where).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/config.h"
#include "data/nifti_io.h"
#include "seginfer_test_support.h"
#include "util/test_util.h"

static char temp[1024], seginfer[2048];

static int run(const char *args) {
  char command[16384];
  snprintf(command, sizeof command, "%s %s", seginfer, args);
  return support_run(temp, command);
}

static segc_status save_net(const char *path, int64_t outputs, bool nan) {
  segc_segresnet_config config = segc_segresnet_bundle_config();
  config.init_filters = 8;
  config.out_channels = outputs;
  segc_segresnet net;
  SEGC_TRY(segc_segresnet_create(&net, &config, false, SEGC_DEVICE_CPU));
  CHECK_OK(segc_segresnet_init_weights(&net, 3));
  if (nan)
    ((float *)segc_segresnet_find(&net, "up_layers.1.0.conv1.conv.weight")
         ->value.data)[0] = NAN;
  const segc_status status = segc_segresnet_save_checkpoint(&net, path);
  segc_segresnet_destroy(&net);
  return status;
}

// A small CT: 24^3 voxels of 1.5 mm, a brighter cube in the middle.
static segc_status write_ct(const char *path) {
  segc_volume ct;
  const int64_t dim[3] = {24, 24, 24};
  SEGC_TRY(segc_volume_alloc(&ct, SEGC_I16, dim));
  for (int a = 0; a < 3; ++a) ct.affine[a][a] = 1.5;
  int16_t *v = ct.data;
  for (int64_t i = 0; i < segc_volume_numel(&ct); ++i) v[i] = (int16_t)(i % 7 * 40 - 100);
  const segc_status status = segc_nifti_write(path, &ct, NULL);
  segc_volume_free(&ct);
  return status;
}

// One error line on stderr, status 1, no output file.
static void expect_error(const char *what, const char *args, const char *needle) {
  const int rc = run(args);
  const char *newline = strchr(support_err, '\n');
  CHECK(rc == 1 && !strncmp(support_err, "seginfer: error: ", 17) &&
            newline && newline[1] == '\0' && test_contains(support_err, needle),
        "%s: exit %d, stderr '%s', wanted one error line with '%s'", what, rc,
        support_err, needle);
  CHECK(!support_exists(test_path(temp, "out.nii.gz")), "%s: output written",
        what);
}

int main(void) {
  snprintf(temp, sizeof temp, "%s", test_temp_dir("seginfer_checkpoint_cli"));
  const char *b = getenv("SEGC_BUILD_DIR");
  snprintf(seginfer, sizeof seginfer, "%s/bin/seginfer", b && *b ? b : "build");
  char fourteen[2048], nan[2048], run_dir[1536], trained[2048], saved[2048];
  char args[16384];
  snprintf(fourteen, sizeof fourteen, "%s/fourteen.pt", temp);
  snprintf(nan, sizeof nan, "%s/nan.pt", temp);
  snprintf(run_dir, sizeof run_dir, "%s/models", temp);
  snprintf(trained, sizeof trained, "%s/model.pt", run_dir);
  snprintf(saved, sizeof saved, "%s/segc_config.json", run_dir);
  CHECK_OK(save_net(fourteen, 14, false));
  CHECK_OK(save_net(nan, 105, true));
  CHECK(mkdir(run_dir, 0755) == 0, "mkdir %s", run_dir);
  CHECK_OK(save_net(trained, 105, false));
  char ct[2048];
  snprintf(ct, sizeof ct, "%s/ct.nii.gz", temp);
  CHECK_OK(write_ct(ct));

  snprintf(args, sizeof args, "--weights %s -i %s/ct.nii.gz -o %s/out.nii.gz",
           fourteen, temp, temp);
  expect_error("14 outputs, the bundle's labels", args,
               "fourteen.pt has 14 output channels, but the labels "
               "(configs/labels_104.json, the bundle's) name 105 classes: for "
               "this checkpoint run with --set network_def.out_channels=14");

  snprintf(args, sizeof args, "--weights %s -i %s/ct.nii.gz -o %s/out.nii.gz",
           nan, temp, temp);
  expect_error("NaN weights", args,
               "nan.pt: tensor 'up_layers.1.0.conv1.conv.weight' has 1 NaN "
               "value");

  // segtrain's saved config says norm_groups 4 (8 filters / 4 groups).
  segc_config config;
  segc_config_defaults(&config);
  config.network_def.init_filters = 8;
  config.network_def.norm_groups = 4;
  CHECK_OK(segc_config_write_json(&config, saved));
  snprintf(args, sizeof args,
           "--weights %s -i %s -o %s/out.nii.gz --quiet --threads 2", trained,
           ct, temp);
  int rc = run(args);
  CHECK(rc == 0, "seginfer with a saved config: exit %d, %s", rc, support_err);
  char want[8192];
  snprintf(want, sizeof want,
           "note: network of %s: in_channels 1, out_channels 105, "
           "init_filters 8, blocks_down [1,2,2,4], blocks_up [1,1,1] from its "
           "tensor shapes; norm_groups 4 from %s\n", trained, saved);
  CHECK(test_contains(support_out, want), "stdout '%s', want '%s'", support_out,
        want);
  snprintf(args, sizeof args,
           "--weights %s --set network_def.init_filters=8 -i %s -o "
           "%s/out2.nii.gz --quiet --threads 2", trained, ct, temp);
  rc = run(args);
  CHECK(rc == 0, "seginfer with a conflicting config: exit %d, %s", rc,
        support_err);
  snprintf(want, sizeof want,
           "warning: norm_groups: the config says 8, %s (saved with these "
           "weights) says 4; using 4\n", saved);
  CHECK(!strncmp(support_err, want, strlen(want)),
        "a config that disagrees is a warning naming both values: '%s'",
        support_err);

  if (test_failures == 0) {
    snprintf(args, sizeof args, "rm -rf %s", temp);
    if (system(args) != 0) fprintf(stderr, "could not remove %s\n", temp);
  }
  return test_finish("seginfer_checkpoint_cli");
}
