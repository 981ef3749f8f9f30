#include "train/trainer.h"

#include <math.h>
#include <string.h>

#include "core/device_memory.h"
#include "core/dnnl_context.h"
#include "core/parallel.h"
#include "core/tensor_ops.h"

enum { kScaleGrowthInterval = 2000 };

segc_status segc_trainer_init(segc_trainer *t, segc_segresnet *net,
                              const segc_adamw_config *adamw, segc_amp_mode amp,
                              int max_batch, const int64_t roi[3],
                              uint64_t seed) {
  memset(t, 0, sizeof *t);
  if (!net->grads)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "trainer: the network was created without gradients");
  if (max_batch < 1)
    return SEGC_FAIL(SEGC_ERR_INVALID, "trainer: batch size %d", max_batch);
  // The arenas below are created on the network's device.
  SEGC_TRY(segc_segresnet_require_device(net->device));
  t->net = net;
  t->amp = amp;
  t->compute = amp == SEGC_AMP_BF16 || amp == SEGC_AMP_FP16 ? SEGC_BF16 : SEGC_F32;
  // oneDNN's bf16 is a question for the CPU only.
  if (net->device == SEGC_DEVICE_CPU)
    SEGC_TRY(segc_dnnl_require_compute(t->compute));
  t->loss = segc_dice_ce_default();
  t->max_batch = max_batch;
  memcpy(t->roi, roi, sizeof t->roi);
  t->seed = seed;
  t->loss_scale = amp == SEGC_AMP_FP16 ? 65536.0 : 1.0;
  const size_t moments = sizeof(float) * (size_t)net->weight_count;
  const segc_shape input = segc_shape5(max_batch, net->config.in_channels,
                                       roi[0], roi[1], roi[2]);
  const size_t activation_bytes = segc_segresnet_activation_bound(
      &net->config, input, t->compute, true);
  float *m = NULL, *v = NULL;
  segc_status status = segc_arena_init(&t->optimizer_arena, "optimizer state",
                                       2 * moments + 2 * SEGC_ARENA_ALIGN,
                                       net->device);
  if (status == SEGC_OK)
    status = segc_arena_alloc(&t->optimizer_arena, moments, (void **)&m);
  if (status == SEGC_OK)
    status = segc_arena_alloc(&t->optimizer_arena, moments, (void **)&v);
  if (status == SEGC_OK)
    status = segc_adamw_init_on(&t->optimizer, adamw, m, v, net->weight_count,
                                t->optimizer_arena.device);
  if (status == SEGC_OK)
    status = segc_arena_init(&t->activations, "training activations",
                             activation_bytes, net->device);
  if (status == SEGC_OK)
    status = segc_arena_init(&t->scratch, "training scratch",
                             activation_bytes / 2 + (256u << 20),
                             net->device);
  // The loader's batch is host memory; on a GPU it is copied in per step.
  const size_t voxels = (size_t)max_batch * (size_t)(roi[0] * roi[1] * roi[2]);
  if (status == SEGC_OK && net->device != SEGC_DEVICE_CPU)
    status = segc_arena_init(&t->batch_arena, "training batch",
                             voxels * (sizeof(float) + 1) +
                                 2 * SEGC_ARENA_ALIGN,
                             net->device);
  if (status == SEGC_OK && net->device != SEGC_DEVICE_CPU)
    status = segc_arena_alloc(&t->batch_arena, voxels * sizeof(float),
                              (void **)&t->device_images);
  if (status == SEGC_OK && net->device != SEGC_DEVICE_CPU)
    status = segc_arena_alloc(&t->batch_arena, voxels,
                              (void **)&t->device_labels);
  if (status == SEGC_OK)
    status = segc_backend_context_init(&t->backend, t->scratch.device,
                                       &t->scratch);
  if (status == SEGC_OK)
    status = segc_graph_init(&t->graph, &t->backend, &t->activations, 8u << 20);
  if (status != SEGC_OK) segc_trainer_destroy(t);
  return status;
}

static segc_status bucket_start(void *comm, float *data, int64_t count,
                                void **request) {
  segc_comm_request *r;
  SEGC_TRY(segc_comm_allreduce_sum_f32_start(comm, data, (size_t)count, &r));
  *request = r;
  return SEGC_OK;
}

static segc_status bucket_wait(void *comm, void *request) {
  (void)comm;
  segc_comm_request *r = request;
  return segc_comm_wait(&r);
}

static segc_status bucket_poll(void *comm, void *request) {
  (void)comm;
  int done;
  return segc_comm_test(request, &done);
}

segc_status segc_trainer_distribute(segc_trainer *t, segc_comm *comm) {
  if (t->comm) return SEGC_FAIL(SEGC_ERR_INTERNAL, "trainer: distributed twice");
  const segc_allreduce_ops ops = {bucket_start, bucket_wait, bucket_poll, comm};
  SEGC_TRY(segc_grad_buckets_init(&t->buckets, t->net->grads,
                                  t->net->weight_count, 0, ops));
  t->comm = comm;
  return SEGC_OK;
}

void segc_trainer_destroy(segc_trainer *t) {
  if (t->comm) segc_grad_buckets_destroy(&t->buckets);
  if (t->graph.tape) segc_graph_destroy(&t->graph);
  segc_backend_context_destroy(&t->backend);
  if (t->activations.base) segc_arena_destroy(&t->activations);
  if (t->scratch.base) segc_arena_destroy(&t->scratch);
  if (t->optimizer_arena.base) segc_arena_destroy(&t->optimizer_arena);
  if (t->batch_arena.base) segc_arena_destroy(&t->batch_arena);
  memset(t, 0, sizeof *t);
}

size_t segc_trainer_peak_activation_bytes(const segc_trainer *t) {
  return t->activations.peak_bytes;
}

// The flat gradient arena as one tensor on its device.
static segc_tensor gradient_tensor(const segc_trainer *t) {
  return segc_tensor_view(t->net->grads,
                          segc_shape5(1, 1, 1, 1, t->net->weight_count),
                          SEGC_F32, SEGC_LAYOUT_NCDHW, t->net->grad_arena.device);
}

// Whether every gradient is finite; with a scale, also divides by it (one
// pass over the gradients either way).
static segc_status unscale_gradients(segc_tensor *grads, double scale,
                                     bool *finite) {
  if (scale == 1.0) return segc_tensors_all_finite(grads, 1, finite);
  return segc_tensor_scale_all_finite(grads, (float)(1.0 / scale), finite);
}

// Every rank skips or keeps the step alike (the sums are identical on all
// ranks, so their checks agree; the all-reduce makes it certain), and the
// step's loss terms become their means over the ranks.
static segc_status agree_across_ranks(segc_trainer *t, bool *finite,
                                      segc_step_result *result) {
  const int world = segc_comm_world_size(t->comm);
  double values[4] = {result->loss, result->dice, result->ce,
                      *finite ? 0.0 : 1.0};
  SEGC_TRY(segc_comm_allreduce_f64(t->comm, values, 4, SEGC_COMM_SUM));
  result->loss = values[0] / world;
  result->dice = values[1] / world;
  result->ce = values[2] / world;
  *finite = values[3] == 0.0;
  return SEGC_OK;
}

segc_status segc_trainer_step(segc_trainer *t, const float *images,
                              const uint8_t *labels, int count, double lr,
                              segc_step_result *result) {
  memset(result, 0, sizeof *result);
  if (count < 1 || count > t->max_batch)
    return SEGC_FAIL(SEGC_ERR_INVALID, "trainer: batch of %d (1..%d)", count,
                     t->max_batch);
  const double t0 = segc_now();
  segc_graph *g = &t->graph;
  segc_graph_reset(g);
  g->training = true;
  g->seed = t->seed;
  g->step = (uint64_t)t->step;
  const segc_shape shape = segc_shape5(count, 1, t->roi[0], t->roi[1], t->roi[2]);
  // The loader's batch is host memory: the CPU reads it where it is, a GPU
  // gets a copy.
  const segc_device device = t->net->device;
  if (device != SEGC_DEVICE_CPU) {
    const size_t voxels = (size_t)segc_shape_numel(shape);
    SEGC_TRY(segc_device_copy(t->device_images, device, images, SEGC_DEVICE_CPU,
                              voxels * sizeof(float)));
    SEGC_TRY(segc_device_copy(t->device_labels, device, labels,
                              SEGC_DEVICE_CPU, voxels));
    images = t->device_images;
    labels = t->device_labels;
  }
  segc_tensor x = segc_tensor_view((void *)images, shape, SEGC_F32,
                                   SEGC_LAYOUT_NDHWC, device);
  segc_tensor y = segc_tensor_view((void *)labels, shape, SEGC_U8,
                                   SEGC_LAYOUT_NDHWC, device);
  segc_value *input, *logits, *loss;
  SEGC_TRY(segc_graph_wrap(g, x, NULL, false, "images", &input));
  SEGC_TRY(segc_segresnet_forward(t->net, g, input, t->compute, &logits));
  segc_dice_ce_parts parts;
  segc_status status = segc_dice_ce_forward(g, &t->loss, logits, &y, &loss, &parts);
  segc_value_release(g, logits);
  SEGC_TRY(status);
  float loss_value;
  SEGC_TRY(segc_tensor_read_f32(&loss->data, 0, &loss_value));
  result->loss = loss_value;
  result->dice = parts.dice;
  result->ce = parts.ce;
  if (!isfinite(result->loss))
    return SEGC_FAIL(SEGC_ERR_NONFINITE,
                     "step %lld: the loss is %g (Dice term %g, cross-entropy "
                     "term %g)",
                     (long long)t->step, result->loss, parts.dice, parts.ce);
  segc_tensor grads = gradient_tensor(t);
  SEGC_TRY(segc_tensor_zero(&grads));
  if (t->comm) SEGC_TRY(segc_grad_buckets_arm(&t->buckets, g));
  status = segc_graph_backward_seeded(g, loss, (float)t->loss_scale);
  // Every started bucket is waited for, even after a failure.
  if (t->comm) {
    const segc_status reduced = segc_grad_buckets_finish(&t->buckets, g);
    if (status == SEGC_OK) status = reduced;
  }
  SEGC_TRY(status);
  segc_value_release(g, loss);

  // The summed gradients become the mean over the ranks with the unscale.
  const int world = t->comm ? segc_comm_world_size(t->comm) : 1;
  bool finite;
  SEGC_TRY(unscale_gradients(&grads, t->loss_scale * world, &finite));
  if (t->comm) SEGC_TRY(agree_across_ranks(t, &finite, result));
  if (!finite) {
    if (t->amp != SEGC_AMP_FP16)
      return SEGC_FAIL(SEGC_ERR_NONFINITE,
                       "step %lld: a gradient is not finite (loss %g)",
                       (long long)t->step, result->loss);
    // fp16: skip the update and lower the scale, as GradScaler does.
    t->loss_scale *= 0.5;
    t->good_steps = 0;
    t->skipped_steps++;
    result->skipped = true;
  } else {
    t->optimizer.config.lr = lr;
    SEGC_TRY(segc_adamw_step(&t->optimizer, t->net->weights, t->net->grads));
    segc_segresnet_weights_changed(t->net);
    if (t->amp == SEGC_AMP_FP16 && ++t->good_steps >= kScaleGrowthInterval) {
      t->loss_scale *= 2.0;
      t->good_steps = 0;
    }
  }
  t->step++;
  result->seconds = segc_now() - t0;
  return SEGC_OK;
}
