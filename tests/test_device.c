// The device of a run: resolved once from the config (segc_config_device),
// then a parameter down to every arena: the network's weights and
// gradients, the predictor's and the trainer's arenas follow the network's
// device. "cuda" is refused at once, naming what is missing: in a build
// without CUDA kernels for every op a run uses, the first op without one
// (the backend table's message); in a CUDA build on a machine without a GPU,
// the missing device (CUDA's reason). With a GPU it resolves to it and the
// arenas are made there.
#include <string.h>

#include "config/config.h"
#include "core/backend.h"
#include "core/cuda_runtime.h"
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

// Which of the three situations this test runs in.
static bool cuda_kernels(void) {
  static const char *const ops[] = {"conv3d", "groupnorm", "add", "upsample2x",
                                    "dropout3d", "dice_ce", "sliding window"};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; ++i)
    if (!segc_backend_supports(ops[i], SEGC_DEVICE_CUDA, SEGC_F32)) return false;
  return true;
}

static bool have_gpu(void) {
  int gpus = 0;
  const bool ok = segc_cuda_device_count(&gpus) == SEGC_OK && gpus > 0;
  segc_clear_error();
  return ok;
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
  // "cuda": refused by validation and by the resolution, naming what is
  // missing, or the GPU.
  config.device = SEGC_RUN_ON_CUDA;
  const char *missing = !cuda_kernels() ? ": no cuda kernel in this build"
                        : !have_gpu()   ? "no CUDA device found here"
                                        : NULL;
  printf("device: cuda kernels %s, GPU %s\n", cuda_kernels() ? "yes" : "no",
         have_gpu() ? "yes" : "no");
  if (missing) {
    CHECK_FAILS(segc_config_validate(&config), SEGC_ERR_UNSUPPORTED,
                "config: device \"cuda\": ");
    CHECK(test_contains(segc_error_message(), missing), "validation names %s: %s",
          missing, segc_error_message());
    CHECK_FAILS(segc_config_device(&config, &device), SEGC_ERR_UNSUPPORTED,
                "config: device \"cuda\": ");
    CHECK(test_contains(segc_error_message(), missing), "names %s: %s", missing,
          segc_error_message());
  } else {
    CHECK_OK(segc_config_validate(&config));
    CHECK_OK(segc_config_device(&config, &device));
    CHECK(device == SEGC_DEVICE_CUDA, "cuda is the GPU (got %s)",
          segc_device_name(device));
  }

  // The inference settings carry the resolved device.
  segc_infer_settings settings;
  config.device = SEGC_RUN_ON_AUTO;
  settings.device = SEGC_DEVICE_CUDA;
  CHECK_OK(segc_infer_settings_from_config(&config, 3, &settings));
  CHECK(settings.device == SEGC_DEVICE_CPU, "inference settings: device %s",
        segc_device_name(settings.device));
  config.device = SEGC_RUN_ON_CUDA;
  if (missing)
    CHECK_FAILS(segc_infer_settings_from_config(&config, 3, &settings),
                SEGC_ERR_UNSUPPORTED, missing[0] == ':' ? missing + 2 : missing);
  else
    CHECK_OK(segc_infer_settings_from_config(&config, 3, &settings));
  return 0;
}

// A network on the GPU where there is one: its arenas and its predictor's
// and trainer's are device memory.
static int check_gpu_arenas(const segc_segresnet_config *config) {
  segc_segresnet net;
  CHECK_OK(segc_segresnet_create(&net, config, true, SEGC_DEVICE_CUDA));
  CHECK_OK(segc_segresnet_init_weights(&net, 1));
  CHECK(net.weight_arena.device == SEGC_DEVICE_CUDA &&
            net.grad_arena.device == SEGC_DEVICE_CUDA && net.host_weights,
        "GPU network: arenas on the GPU, a host copy of the weights");
  segc_segresnet_predictor predictor;
  CHECK_OK(segc_segresnet_predictor_init(&predictor, &net,
                                         segc_shape5(1, 1, 8, 8, 8), SEGC_F32));
  CHECK(predictor.activations.device == SEGC_DEVICE_CUDA,
        "GPU predictor's arenas");
  segc_segresnet_predictor_destroy(&predictor);
  segc_segresnet_destroy(&net);
  return 0;
}

static int check_arenas(void) {
  const segc_segresnet_config config = small_network();
  segc_segresnet net;
  const bool kernels = cuda_kernels(), gpu = have_gpu();
  if (kernels && gpu) {
    check_gpu_arenas(&config);
  } else {
    // Refused by the table without kernels, by CUDA without a GPU.
    const segc_status refused =
        segc_segresnet_create(&net, &config, false, SEGC_DEVICE_CUDA);
    CHECK(refused != SEGC_OK, "a network on cuda is refused here");
    if (!kernels)
      CHECK(test_contains(segc_error_message(), "no cuda kernel in this build"),
            "names the op: %s", segc_error_message());
    CHECK(net.weights == NULL && net.params == NULL,
          "nothing is left of a refused network");
  }

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
  segc_trainer trainer;
  const segc_adamw_config adamw = segc_adamw_default();
  const int64_t roi[3] = {8, 8, 8};
  if (!kernels) {
    net.device = SEGC_DEVICE_CUDA;
    CHECK_FAILS(segc_segresnet_predictor_init(&predictor, &net, window, SEGC_F32),
                SEGC_ERR_UNSUPPORTED, "no cuda kernel in this build");
    CHECK_FAILS(segc_trainer_init(&trainer, &net, &adamw, SEGC_AMP_OFF, 1, roi, 1),
                SEGC_ERR_UNSUPPORTED, "no cuda kernel in this build");
    net.device = SEGC_DEVICE_CPU;
  }

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
