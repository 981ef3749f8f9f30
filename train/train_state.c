#include "train/train_state.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/device_memory.h"
#include "io/model_io.h"
#include "io/state_file.h"

segc_status segc_train_progress_init(segc_train_progress *p) {
  memset(p, 0, sizeof *p);
  p->best_dice = NAN;
  p->best_epoch = -1;
  for (int i = 0; i < SEGC_TRAIN_METRIC_LOGS; ++i) p->logs.metric_bytes[i] = -1;
  return SEGC_OK;
}

static const char *const kLogKeys[SEGC_TRAIN_METRIC_LOGS] = {
    "logs.train.csv", "logs.train.jsonl", "logs.validation.csv",
    "logs.validation.jsonl"};

static segc_status add_log_marks(segc_state_builder *b,
                                 const segc_train_log_marks *logs) {
  for (int i = 0; i < SEGC_TRAIN_METRIC_LOGS; ++i)
    if (logs->metric_bytes[i] >= 0)
      SEGC_TRY(segc_state_add_i64(b, kLogKeys[i], logs->metric_bytes[i]));
  if (!logs->events_name[0]) return SEGC_OK;
  SEGC_TRY(segc_state_add_string(b, "logs.events", logs->events_name));
  return segc_state_add_i64(b, "logs.events.bytes", logs->events_bytes);
}

// Absent entries (older states) leave the marks unknown. The event file's
// name must be a plain name in output_dir: a state file is input, and the
// name is a file that resuming cuts short.
static segc_status get_log_marks(const segc_state_file *f, const char *path,
                                 segc_train_log_marks *logs) {
  for (int i = 0; i < SEGC_TRAIN_METRIC_LOGS; ++i) {
    logs->metric_bytes[i] = -1;
    if (segc_state_find(f, kLogKeys[i]))
      SEGC_TRY(segc_state_get_i64(f, kLogKeys[i], &logs->metric_bytes[i]));
  }
  logs->events_name[0] = '\0';
  logs->events_bytes = -1;
  if (!segc_state_find(f, "logs.events")) return SEGC_OK;
  const char *name;
  SEGC_TRY(segc_state_get_string(f, "logs.events", &name));
  SEGC_TRY(segc_state_get_i64(f, "logs.events.bytes", &logs->events_bytes));
  if (strncmp(name, "events.out.tfevents.", 20) != 0 || strchr(name, '/') ||
      strlen(name) >= sizeof logs->events_name)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: logs.events '%.80s' is not the name "
                     "of a TensorBoard event file", path, name);
  snprintf(logs->events_name, sizeof logs->events_name, "%s", name);
  return SEGC_OK;
}

void segc_train_progress_free(segc_train_progress *p) {
  free(p->epoch_loss);
  free(p->epoch_dice);
  memset(p, 0, sizeof *p);
}

segc_status segc_train_progress_append(segc_train_progress *p, float loss,
                                       float dice) {
  if (p->history == p->capacity) {
    const int64_t grown = p->capacity ? 2 * p->capacity : 256;
    float *l = realloc(p->epoch_loss, sizeof(float) * (size_t)grown);
    if (!l) return SEGC_FAIL(SEGC_ERR_NOMEM, "training history: out of memory");
    p->epoch_loss = l;
    float *d = realloc(p->epoch_dice, sizeof(float) * (size_t)grown);
    if (!d) return SEGC_FAIL(SEGC_ERR_NOMEM, "training history: out of memory");
    p->epoch_dice = d;
    p->capacity = grown;
  }
  p->epoch_loss[p->history] = loss;
  p->epoch_dice[p->history] = dice;
  p->history++;
  return SEGC_OK;
}

segc_status segc_train_state_save(const char *path, const segc_trainer *t,
                                  const segc_train_progress *progress,
                                  const char *config_json) {
  const int64_t n = t->net->weight_count;
  const size_t bytes = sizeof(float) * (size_t)n;
  // Weights and moments as host memory: on a GPU, copies made here.
  float *weights;
  SEGC_TRY(segc_segresnet_weights_to_host(t->net, &weights));
  const float *m = t->optimizer.m, *v = t->optimizer.v;
  float *staged = NULL;
  if (t->net->device != SEGC_DEVICE_CPU) {
    staged = malloc(2 * bytes);
    if (!staged)
      return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: no host memory for the optimizer "
                       "state", path);
    segc_status copied = segc_device_copy(staged, SEGC_DEVICE_CPU, m,
                                          t->net->device, bytes);
    if (copied == SEGC_OK)
      copied = segc_device_copy(staged + n, SEGC_DEVICE_CPU, v, t->net->device,
                                bytes);
    if (copied != SEGC_OK) {
      free(staged);
      return copied;
    }
    m = staged;
    v = staged + n;
  }
  segc_state_builder *b;
  segc_status created = segc_state_builder_create(&b);
  if (created != SEGC_OK) {
    free(staged);
    return created;
  }
  const float best[2] = {(float)progress->best_dice, (float)t->loss_scale};
  const int64_t two = 2, history = progress->history;
  segc_status s = segc_state_add_string(b, "kind", "segc training state");
  if (s == SEGC_OK) s = segc_state_add_i64(b, "version", SEGC_TRAIN_STATE_VERSION);
  if (s == SEGC_OK) s = segc_state_add_f32(b, "weights", weights, 1, &n);
  if (s == SEGC_OK) s = segc_state_add_f32(b, "adamw.m", m, 1, &n);
  if (s == SEGC_OK) s = segc_state_add_f32(b, "adamw.v", v, 1, &n);
  if (s == SEGC_OK) s = segc_state_add_i64(b, "adamw.step", t->optimizer.step);
  if (s == SEGC_OK) s = segc_state_add_i64(b, "step", t->step);
  if (s == SEGC_OK) s = segc_state_add_i64(b, "seed", (int64_t)t->seed);
  if (s == SEGC_OK) s = segc_state_add_i64(b, "epoch", progress->epoch);
  if (s == SEGC_OK) s = segc_state_add_i64(b, "best_epoch", progress->best_epoch);
  if (s == SEGC_OK) s = segc_state_add_f32(b, "best_dice.loss_scale", best, 1, &two);
  if (s == SEGC_OK) s = segc_state_add_i64(b, "amp.good_steps", t->good_steps);
  if (s == SEGC_OK) s = segc_state_add_i64(b, "amp.skipped_steps", t->skipped_steps);
  if (s == SEGC_OK && history > 0)
    s = segc_state_add_f32(b, "history.loss", progress->epoch_loss, 1, &history);
  if (s == SEGC_OK && history > 0)
    s = segc_state_add_f32(b, "history.dice", progress->epoch_dice, 1, &history);
  if (s == SEGC_OK) s = add_log_marks(b, &progress->logs);
  if (s == SEGC_OK) s = segc_state_add_string(b, "config", config_json);
  if (s == SEGC_OK) s = segc_state_write(b, path);
  segc_state_builder_free(b);
  free(staged);
  return s;
}

segc_status segc_train_state_load(const char *path, segc_trainer *t,
                                  segc_train_progress *progress,
                                  char **config_json) {
  segc_state_file *f;
  SEGC_TRY(segc_state_read(path, &f));
  const int64_t n = t->net->weight_count;
  const float *weights, *m, *v, *pair, *loss_history = NULL, *dice_history = NULL;
  const char *kind, *config;
  int64_t version, adam_step, step, seed, epoch, best_epoch, good, skipped;
  segc_status s = segc_state_get_string(f, "kind", &kind);
  if (s == SEGC_OK && strcmp(kind, "segc training state") != 0)
    s = SEGC_FAIL(SEGC_ERR_FORMAT, "%s: not a segc training state (%s)", path, kind);
  if (s == SEGC_OK) s = segc_state_get_i64(f, "version", &version);
  if (s == SEGC_OK && version > SEGC_TRAIN_STATE_VERSION)
    s = SEGC_FAIL(SEGC_ERR_FORMAT,
                  "%s: training state version %lld is newer than this segc "
                  "reads (%d)",
                  path, (long long)version, SEGC_TRAIN_STATE_VERSION);
  if (s == SEGC_OK) {
    const segc_state_entry *e = segc_state_find(f, "weights");
    if (e && e->kind == SEGC_STATE_F32 && e->ndim == 1 && e->shape[0] != n)
      s = SEGC_FAIL(SEGC_ERR_INVALID,
                    "%s: the saved network has %lld parameters, this one %lld "
                    "(a different network_def?)",
                    path, (long long)e->shape[0], (long long)n);
  }
  if (s == SEGC_OK) s = segc_state_get_f32(f, "weights", n, &weights);
  if (s == SEGC_OK) s = segc_state_get_f32(f, "adamw.m", n, &m);
  if (s == SEGC_OK) s = segc_state_get_f32(f, "adamw.v", n, &v);
  if (s == SEGC_OK) s = segc_state_get_i64(f, "adamw.step", &adam_step);
  if (s == SEGC_OK) s = segc_state_get_i64(f, "step", &step);
  if (s == SEGC_OK) s = segc_state_get_i64(f, "seed", &seed);
  if (s == SEGC_OK) s = segc_state_get_i64(f, "epoch", &epoch);
  if (s == SEGC_OK) s = segc_state_get_i64(f, "best_epoch", &best_epoch);
  if (s == SEGC_OK) s = segc_state_get_f32(f, "best_dice.loss_scale", 2, &pair);
  if (s == SEGC_OK) s = segc_state_get_i64(f, "amp.good_steps", &good);
  if (s == SEGC_OK) s = segc_state_get_i64(f, "amp.skipped_steps", &skipped);
  if (s == SEGC_OK) s = segc_state_get_string(f, "config", &config);
  segc_train_log_marks logs;
  if (s == SEGC_OK) s = get_log_marks(f, path, &logs);
  int64_t history = 0;
  if (s == SEGC_OK && segc_state_find(f, "history.loss")) {
    const segc_state_entry *e = segc_state_find(f, "history.loss");
    history = e->ndim == 1 ? e->shape[0] : 0;
    s = segc_state_get_f32(f, "history.loss", history, &loss_history);
    if (s == SEGC_OK) s = segc_state_get_f32(f, "history.dice", history, &dice_history);
  }
  if (s == SEGC_OK && (uint64_t)seed != t->seed)
    s = SEGC_FAIL(SEGC_ERR_INVALID,
                  "%s: saved with seed %lld, this run uses %llu: resuming would "
                  "not continue the same run",
                  path, (long long)seed, (unsigned long long)t->seed);
  // A state saved after the training diverged would resume into NaN losses
  // (or, for the moments, into NaN weights one step later): refuse it here,
  // naming the parameter, before anything is changed.
  if (s == SEGC_OK)
    s = segc_segresnet_check_finite(t->net, weights, path, "parameter");
  if (s == SEGC_OK)
    s = segc_segresnet_check_finite(t->net, m, path, "adamw.m of parameter");
  if (s == SEGC_OK)
    s = segc_segresnet_check_finite(t->net, v, path, "adamw.v of parameter");
  const size_t bytes = sizeof(float) * (size_t)n;
  const segc_device device = t->net->device;
  if (s == SEGC_OK) {
    memcpy(segc_segresnet_host_buffer(t->net), weights, bytes);
    s = segc_segresnet_weights_from_host(t->net);
  }
  if (s == SEGC_OK)
    s = segc_device_copy(t->optimizer.m, device, m, SEGC_DEVICE_CPU, bytes);
  if (s == SEGC_OK)
    s = segc_device_copy(t->optimizer.v, device, v, SEGC_DEVICE_CPU, bytes);
  if (s == SEGC_OK) {
    t->optimizer.step = adam_step;
    t->step = step;
    t->loss_scale = pair[1];
    t->good_steps = (int)good;
    t->skipped_steps = skipped;
    segc_train_progress_free(progress);
    segc_train_progress_init(progress);
    progress->epoch = epoch;
    progress->best_epoch = best_epoch;
    progress->best_dice = pair[0];
    progress->logs = logs;
    for (int64_t i = 0; i < history && s == SEGC_OK; ++i)
      s = segc_train_progress_append(progress, loss_history[i], dice_history[i]);
    if (s == SEGC_OK && config_json) {
      *config_json = strdup(config);
      if (!*config_json) s = SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
    }
  }
  segc_state_free(f);
  return s;
}
