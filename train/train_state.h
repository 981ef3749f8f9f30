// The resumable training state, in segc's own file format (state_file.h):
// weights, AdamW moments and step, the training step and epoch, the best
// validation Dice so far, the fp16 loss scale, the per-epoch loss and
// validation history (for the curves), the size of each log when the state
// was saved (so a resume cuts off what was logged after it), and the
// effective config as JSON.
// Every random draw in training is a pure function of (seed, step), so these
// numbers are all it takes to continue exactly where the run stopped.
#ifndef SEGC_TRAIN_TRAIN_STATE_H
#define SEGC_TRAIN_TRAIN_STATE_H

#include <stdint.h>

#include "train/trainer.h"

enum { SEGC_TRAIN_STATE_VERSION = 1 };

// The logs in output_dir a state refers to (train_logs.h).
enum { SEGC_TRAIN_METRIC_LOGS = 4, SEGC_TRAIN_EVENT_NAME_MAX = 256 };

typedef struct {
  // Bytes of train.csv, train.jsonl, validation.csv, validation.jsonl; -1
  // when not recorded (a state from a segc before these were).
  int64_t metric_bytes[SEGC_TRAIN_METRIC_LOGS];
  char events_name[SEGC_TRAIN_EVENT_NAME_MAX];  // TensorBoard file; "" none
  int64_t events_bytes;
} segc_train_log_marks;

typedef struct {
  int64_t epoch;          // next epoch to run
  double best_dice;       // NaN when never validated
  int64_t best_epoch;     // -1 when never validated
  // Per-epoch history: mean training loss, and validation Dice (NaN for
  // epochs without validation).
  float *epoch_loss;
  float *epoch_dice;
  int64_t history;        // entries in both
  int64_t capacity;
  segc_train_log_marks logs;  // the logs as they were at this point
} segc_train_progress;

segc_status segc_train_progress_init(segc_train_progress *p);
void segc_train_progress_free(segc_train_progress *p);
segc_status segc_train_progress_append(segc_train_progress *p, float loss,
                                       float dice);

// Writes the state atomically (temporary file + rename).
segc_status segc_train_state_save(const char *path, const segc_trainer *t,
                                  const segc_train_progress *progress,
                                  const char *config_json);
// Restores into a trainer built for the same network; checks that the
// saved network matches (parameter count) and returns the saved config JSON
// in *config_json (malloc'd) for the caller to compare.
segc_status segc_train_state_load(const char *path, segc_trainer *t,
                                  segc_train_progress *progress,
                                  char **config_json);

#endif
