// The device of a run: resolved once from the config (segc_config_device),
// then a parameter down to every arena: the network's weights and
// gradients, the predictor's and the trainer's arenas follow the network's
// device, and a device without kernels is refused with the backend table's
// message (naming the first op without a kernel there: conv3d in a build
// without CUDA, another op while the CUDA backend lacks some).
#include <string.h>

#include "config/config.h"
#include "core/backend.h"
#include "infer/infer_pipeline.h"
#include "infer/segresnet_predictor.h"
#include "layers/segresnet.h"
#include "train/trainer.h"
#include "util/test_util.h"

static segc_segresnet_config small_network(void) {
  segc_segresnet_config c = segc_segresnet_bundle_config();
  c.out_channels = 3;
  c.init_filters = 4;
  c.norm_groups = 2;
  c.levels = 2;
  c.blocks_down[0] = c.blocks_down[1] = 1;
  c.blocks_up[0] = 1;
  return c;
}

static int check_resolution(void) {
  segc_config config;
  segc_config_defaults(&config);
  segc_device device = SEGC_DEVICE_CUDA;
  CHECK(config.device == SEGC_RUN_ON_AUTO, "the default device is auto");
  CHECK_OK(segc_config_device(&config, &device));
  CHECK(device == SEGC_DEVICE_CPU, "auto is the CPU while only the CPU has "
        "kernels (got %s)", segc_device_name(device));
  config.device = SEGC_RUN_ON_CPU;
  device = SEGC_DEVICE_CUDA;
  CHECK_OK(segc_config_device(&config, &device));
  CHECK(device == SEGC_DEVICE_CPU, "cpu is the CPU (got %s)",
        segc_device_name(device));
  // "cuda" stays refused by validation, and the resolution names the op.
  config.device = SEGC_RUN_ON_CUDA;
  CHECK_FAILS(segc_config_validate(&config), SEGC_ERR_UNSUPPORTED,
              "device: \"cuda\" is not implemented yet");
  CHECK_FAILS(segc_config_device(&config, &device), SEGC_ERR_UNSUPPORTED,
              "config: device \"cuda\": ");
  CHECK(test_contains(segc_error_message(), ": no cuda kernel in this build"),
        "names the op without a kernel: %s", segc_error_message());

  // The inference settings carry the resolved device.
  segc_infer_settings settings;
  config.device = SEGC_RUN_ON_AUTO;
  settings.device = SEGC_DEVICE_CUDA;
  CHECK_OK(segc_infer_settings_from_config(&config, 3, &settings));
  CHECK(settings.device == SEGC_DEVICE_CPU, "inference settings: device %s",
        segc_device_name(settings.device));
  config.device = SEGC_RUN_ON_CUDA;
  CHECK_FAILS(segc_infer_settings_from_config(&config, 3, &settings),
              SEGC_ERR_UNSUPPORTED, "no cuda kernel in this build");
  return 0;
}

static int check_arenas(void) {
  const segc_segresnet_config config = small_network();
  segc_segresnet net;
  CHECK_FAILS(segc_segresnet_create(&net, &config, false, SEGC_DEVICE_CUDA),
              SEGC_ERR_UNSUPPORTED,
              "no cuda kernel in this build");
  CHECK(net.weights == NULL && net.params == NULL,
        "nothing is left of a refused network");

  CHECK_OK(segc_segresnet_create(&net, &config, true, SEGC_DEVICE_CPU));
  CHECK(net.device == SEGC_DEVICE_CPU && net.weight_arena.device == SEGC_DEVICE_CPU &&
            net.grad_arena.device == SEGC_DEVICE_CPU,
        "the network's arenas are on its device");
  int wrong = 0;
  for (int i = 0; i < net.param_count; ++i)
    wrong += net.params[i].value.device != net.device ||
             net.params[i].grad.device != net.device;
  CHECK(wrong == 0, "%d parameters are not on the network's device", wrong);

  const segc_shape window = segc_shape5(1, 1, 8, 8, 8);
  segc_segresnet_predictor predictor;
  CHECK_OK(segc_segresnet_predictor_init(&predictor, &net, window, SEGC_F32));
  CHECK(predictor.activations.device == net.device &&
            predictor.scratch.device == net.device,
        "the predictor's arenas are on the network's device");
  segc_segresnet_predictor_destroy(&predictor);

  // The predictor and the trainer take the device from the network: one
  // claiming a device without kernels is refused by the table before any
  // arena is made there.
  net.device = SEGC_DEVICE_CUDA;
  CHECK_FAILS(segc_segresnet_predictor_init(&predictor, &net, window, SEGC_F32),
              SEGC_ERR_UNSUPPORTED,
              "no cuda kernel in this build");
  segc_trainer trainer;
  const segc_adamw_config adamw = segc_adamw_default();
  const int64_t roi[3] = {8, 8, 8};
  CHECK_FAILS(segc_trainer_init(&trainer, &net, &adamw, SEGC_AMP_OFF, 1, roi, 1),
              SEGC_ERR_UNSUPPORTED,
              "no cuda kernel in this build");
  net.device = SEGC_DEVICE_CPU;

  CHECK_OK(segc_trainer_init(&trainer, &net, &adamw, SEGC_AMP_OFF, 1, roi, 1));
  CHECK(trainer.activations.device == net.device &&
            trainer.scratch.device == net.device &&
            trainer.optimizer_arena.device == net.device,
        "the trainer's arenas are on the network's device");
  segc_trainer_destroy(&trainer);
  segc_segresnet_destroy(&net);
  return 0;
}

int main(void) {
  check_resolution();
  check_arenas();
  return test_finish("device");
}
