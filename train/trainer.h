// One training step of SegResNet: forward on a batch of crops, DiceCE,
// backward through the tape, AdamW. Owns the training arenas (activations
// sized from the shapes, the optimizer moments) and the mixed-precision
// policy: master weights, gradients and AdamW state stay f32; with "bf16"
// the activations and convolutions are bf16; amp true (the bundle's) is f32
// on the CPU, as in MONAI. With "fp16" a dynamic loss scale multiplies the
// loss gradient, a step whose gradients are not finite is skipped and the
// scale halves, and the scale doubles after 2000 good steps
// (torch.cuda.amp.GradScaler's defaults); oneDNN 2.6 has no f16
// convolutions on the CPU, so fp16 runs its activations in bf16 there.
#ifndef SEGC_TRAIN_TRAINER_H
#define SEGC_TRAIN_TRAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/graph.h"
#include "dist/comm.h"
#include "config/config.h"
#include "core/arena.h"
#include "layers/segresnet.h"
#include "losses/dice_ce.h"
#include "train/adamw.h"
#include "train/grad_buckets.h"

typedef struct {
  segc_segresnet *net;          // with a gradient arena
  segc_amp_mode amp;            // see config/config.h
  segc_dtype compute;           // activations: f32 or bf16
  segc_dice_ce_config loss;
  segc_adamw optimizer;
  segc_arena optimizer_arena;   // AdamW m and v
  segc_arena activations;
  segc_arena scratch;
  // On a GPU: the batch copied in each step (empty on the CPU).
  segc_arena batch_arena;
  float *device_images;         // (max_batch, 1, D, H, W) NDHWC
  uint8_t *device_labels;       // (max_batch, 1, D, H, W) NDHWC
  segc_backend_context backend;  // device, oneDNN state, scratch
  segc_graph graph;
  int max_batch;
  int64_t roi[3];
  uint64_t seed;
  int64_t step;                 // steps taken (also the dropout stream)
  // Dynamic loss scaling (fp16).
  double loss_scale;
  int good_steps;
  int64_t skipped_steps;
  // Data parallel (segc_trainer_distribute): NULL for one process.
  segc_comm *comm;
  segc_grad_buckets buckets;
} segc_trainer;

typedef struct {
  double loss, dice, ce;
  bool skipped;      // fp16: gradients were not finite, no update
  double seconds;
} segc_step_result;

// The trainer's arenas (optimizer moments, activations, scratch) are
// created on the network's device (segc_segresnet_create's `device`).
segc_status segc_trainer_init(segc_trainer *t, segc_segresnet *net,
                              const segc_adamw_config *adamw, segc_amp_mode amp,
                              int max_batch, const int64_t roi[3],
                              uint64_t seed);
void segc_trainer_destroy(segc_trainer *t);

// Makes the steps data parallel over `comm`'s processes: the gradients are
// summed while backward runs (in buckets, train/grad_buckets.h) and divided
// by the world size with the loss scale; skipping an fp16 step is decided
// from every rank's finite check; the step's loss, Dice and CE terms are the
// means over the ranks. Each rank passes its own crops to segc_trainer_step.
segc_status segc_trainer_distribute(segc_trainer *t, segc_comm *comm);

// One step on `count` crops: images (count, 1, r0, r1, r2) f32 and labels
// (count, 1, r0, r1, r2) u8. `lr` overrides the configured learning rate
// (schedules). A non-finite loss is an error naming the step and the term.
segc_status segc_trainer_step(segc_trainer *t, const float *images,
                              const uint8_t *labels, int count, double lr,
                              segc_step_result *result);

// Peak bytes of the activation arena so far.
size_t segc_trainer_peak_activation_bytes(const segc_trainer *t);

#endif
