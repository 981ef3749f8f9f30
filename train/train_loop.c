#include "train/train_loop.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/parallel.h"
#include "data/datalist.h"
#include "data/loader.h"
#include "data/training_case.h"
#include "io/model_io.h"
#include "train/metric_log.h"
#include "train/plot.h"
#include "train/tensorboard.h"
#include "train/train_logs.h"
#include "train/train_start.h"
#include "train/train_state.h"
#include "train/trainer.h"
#include "train/validate.h"

typedef struct {
  const segc_datalist *list;
  segc_training_transforms transforms;
} case_source;

static segc_status prepare_case(void *context, int index, segc_volume *image,
                                segc_volume *label) {
  const case_source *src = context;
  const segc_datalist_item *item = &src->list->items[SEGC_DATALIST_TRAINING][index];
  return segc_prepare_training_case(item->image, item->label, &src->transforms,
                                    image, label);
}

static segc_status make_dir(const char *path) {
  char buf[SEGC_CONFIG_TEXT_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; ++p) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return SEGC_FAIL(SEGC_ERR_IO, "cannot create folder %s: %s", buf,
                       strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0777) != 0 && errno != EEXIST)
    return SEGC_FAIL(SEGC_ERR_IO, "cannot create folder %s: %s", buf,
                     strerror(errno));
  return SEGC_OK;
}

segc_status segc_train_state_path(const segc_config *config, char *path,
                                  size_t size) {
  const int n = config->resume[0]
                    ? snprintf(path, size, "%s", config->resume)
                    : snprintf(path, size, "%s/training_state.segc", config->ckpt_dir);
  if (n < 0 || (size_t)n >= size)
    return SEGC_FAIL(SEGC_ERR_INVALID, "training state path too long");
  return SEGC_OK;
}

static void format_duration(double seconds, char *buf, size_t size) {
  if (!(seconds >= 0) || seconds > 1e9) {
    snprintf(buf, size, "?");
    return;
  }
  const long s = (long)seconds;
  if (s >= 3600) snprintf(buf, size, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else if (s >= 60) snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
  else snprintf(buf, size, "%lds", s);
}

// Everything one run holds; freed in one place.
typedef struct {
  segc_datalist list;
  segc_segresnet net;
  segc_trainer trainer;
  segc_train_progress progress;
  segc_loader *loader;
  segc_metric_log *train_log, *val_log;
  segc_tensorboard *tensorboard;
  char *config_json;
  bool have_net, have_trainer;
  segc_train_start start;  // the folders' locks; whether to load the state
  segc_comm *comm;         // NULL: one process
  bool lead;               // rank 0 (or the only process): files and logs
} run_state;

static void run_free(run_state *r) {
  segc_loader_destroy(r->loader);
  segc_metric_log_close(r->train_log);
  segc_metric_log_close(r->val_log);
  segc_tensorboard_close(r->tensorboard);
  if (r->have_trainer) segc_trainer_destroy(&r->trainer);
  if (r->have_net) segc_segresnet_destroy(&r->net);
  segc_train_progress_free(&r->progress);
  segc_datalist_free(&r->list);
  free(r->config_json);
  segc_train_start_release(&r->start);  // last: the logs are closed
}

static segc_status write_curves(const segc_config *config,
                                const segc_train_progress *p) {
  double *x = malloc(sizeof(double) * (size_t)(p->history + 1));
  double *loss = malloc(sizeof(double) * (size_t)(p->history + 1));
  double *dx = malloc(sizeof(double) * (size_t)(p->history + 1));
  double *dice = malloc(sizeof(double) * (size_t)(p->history + 1));
  segc_status s = SEGC_OK;
  if (!x || !loss || !dx || !dice) {
    s = SEGC_FAIL(SEGC_ERR_NOMEM, "curves: out of memory");
  } else {
    int64_t dices = 0;
    for (int64_t i = 0; i < p->history; ++i) {
      x[i] = (double)(i + 1);
      loss[i] = p->epoch_loss[i];
      if (!isnan(p->epoch_dice[i])) {
        dx[dices] = (double)(i + 1);
        dice[dices++] = p->epoch_dice[i];
      }
    }
    segc_plot_series loss_series = {x, loss, p->history};
    segc_plot_series dice_series = {dx, dice, dices};
    char path[SEGC_CONFIG_TEXT_MAX + 32];
    snprintf(path, sizeof path, "%s/training_curves.png", config->output_dir);
    s = segc_plot_curves(path, "segtrain: mean loss per epoch, validation Dice",
                         &loss_series, &dice_series);
  }
  free(x);
  free(loss);
  free(dx);
  free(dice);
  return s;
}

// A resumed run goes on in the event file of the run it continues (already
// cut back to the saved state), so it has one file as an uninterrupted run.
static segc_status open_logs(const segc_config *config, run_state *r) {
  SEGC_TRY(segc_metric_log_open(config->output_dir, "train", &r->train_log));
  SEGC_TRY(segc_metric_log_open(config->output_dir, "validation", &r->val_log));
  const char *events = r->progress.logs.events_name;
  if (r->start.load_state && events[0]) {
    char path[SEGC_CONFIG_TEXT_MAX + SEGC_TRAIN_EVENT_NAME_MAX + 2];
    snprintf(path, sizeof path, "%s/%s", config->output_dir, events);
    if (access(path, F_OK) == 0) return segc_tensorboard_reopen(path, &r->tensorboard);
  }
  return segc_tensorboard_open(config->output_dir, &r->tensorboard);
}

// Rank 0's weights, and what a resumed run loaded there (AdamW's moments and
// step, the loss scale, the progress), copied to every rank, so all ranks
// start identical (as DistributedDataParallel's broadcast at wrap time).
static segc_status share_lead_state(run_state *r) {
  segc_trainer *t = &r->trainer;
  SEGC_TRY(segc_comm_broadcast(r->comm, r->net.weights,
                               sizeof(float) * (size_t)r->net.weight_count));
  SEGC_TRY(segc_comm_broadcast(r->comm, t->optimizer.m,
                               sizeof(float) * (size_t)t->optimizer.count));
  SEGC_TRY(segc_comm_broadcast(r->comm, t->optimizer.v,
                               sizeof(float) * (size_t)t->optimizer.count));
  double scalars[7] = {(double)t->step, (double)t->optimizer.step,
                       t->loss_scale, (double)t->good_steps,
                       (double)t->skipped_steps, (double)r->progress.epoch,
                       r->progress.best_dice};
  SEGC_TRY(segc_comm_broadcast(r->comm, scalars, sizeof scalars));
  t->step = (int64_t)scalars[0];
  t->optimizer.step = (int64_t)scalars[1];
  t->loss_scale = scalars[2];
  t->good_steps = (int)scalars[3];
  t->skipped_steps = (int64_t)scalars[4];
  r->progress.epoch = (int64_t)scalars[5];
  r->progress.best_dice = scalars[6];
  segc_segresnet_weights_changed(&r->net);
  return SEGC_OK;
}

// The trainer's amp: true is auto on the CPU (core/dtype_auto.h), the
// same on every rank; said once.
static segc_status training_amp(const segc_config *config, segc_device device,
                                run_state *r, const segc_train_options *options,
                                segc_amp_mode *amp) {
  segc_dtype_choice compute;
  SEGC_TRY(segc_config_choose_compute(config, device, &compute));
  if (r->comm) SEGC_TRY(segc_config_agree_compute(r->comm, &compute));
  *amp = config->amp;
  if (config->amp == SEGC_AMP_ON && compute.dtype == SEGC_BF16)
    *amp = SEGC_AMP_BF16;
  if (r->lead)
    fprintf(options->log, "segtrain: compute dtype: %s\n",
            config->amp == SEGC_AMP_FP16
                ? "bf16 with a loss scaler (amp \"fp16\")"
                : compute.reason);
  return SEGC_OK;
}

static segc_status setup(const segc_config *config,
                         const segc_train_options *options, run_state *r,
                         case_source *source) {
  SEGC_TRY(segc_config_check_training(config));
  // The device and precision before any folder is made: a refusal (no
  // GPU, a bad SEGC_DTYPE_AUTO) leaves nothing behind.
  segc_device device;
  SEGC_TRY(segc_config_device(config, &device));
  segc_amp_mode amp;
  SEGC_TRY(training_amp(config, device, r, options, &amp));
  if (r->lead) {
    SEGC_TRY(make_dir(config->ckpt_dir));
    SEGC_TRY(make_dir(config->output_dir));
    SEGC_TRY(segc_train_start_prepare(config, options, &r->start));
  }
  if (r->comm) {  // rank 0 decided whether the run resumes
    int64_t load_state = r->start.load_state;
    SEGC_TRY(segc_comm_allreduce_i64(r->comm, &load_state, 1, SEGC_COMM_MAX));
    r->start.load_state = load_state != 0;
  }
  const char *data = config->datalist[0] ? config->datalist : config->dataset_dir;
  segc_datalist_init(&r->list);
  SEGC_TRY(segc_datalist_load(data, config->val_cases, true, &r->list));
  if (r->list.count[SEGC_DATALIST_TRAINING] == 0)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: no training cases", data);
  SEGC_TRY(segc_config_to_json(config, &r->config_json));
  char path[SEGC_CONFIG_TEXT_MAX + 64];
  snprintf(path, sizeof path, "%s/segc_config.json", config->ckpt_dir);
  if (r->lead) SEGC_TRY(segc_config_write_json(config, path));

  const segc_segresnet_config net_config = segc_config_network(config);
  // On GPUs each rank takes the GPU of its local rank before allocating,
  // and the gradients go through NCCL (MPI only starts it).
  if (r->comm && device == SEGC_DEVICE_CUDA) {
    if (config->backend == SEGC_BACKEND_MPI)
      return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                       "config: backend \"mpi\" cannot all-reduce GPU "
                       "gradients in this build: use \"nccl\" or \"auto\"");
    SEGC_TRY(segc_comm_use_nccl(r->comm, segc_comm_local_rank(r->comm)));
  }
  SEGC_TRY(segc_segresnet_create(&r->net, &net_config, true, device));
  r->have_net = true;
  SEGC_TRY(segc_segresnet_init_weights(&r->net, config->seed));
  segc_adamw_config adamw = segc_adamw_default();
  adamw.lr = config->init_LR;
  adamw.weight_decay = config->weight_decay;
  const int64_t roi[3] = {config->roi[0], config->roi[1], config->roi[2]};
  SEGC_TRY(segc_trainer_init(&r->trainer, &r->net, &adamw, amp,
                             config->batch_size, roi, config->seed));
  r->have_trainer = true;
  if (r->comm) SEGC_TRY(segc_trainer_distribute(&r->trainer, r->comm));
  SEGC_TRY(segc_train_progress_init(&r->progress));
  if (r->start.load_state && r->lead) {
    SEGC_TRY(segc_train_state_path(config, path, sizeof path));
    char *saved_json = NULL;
    SEGC_TRY(segc_train_state_load(path, &r->trainer, &r->progress, &saved_json));
    const bool same = strcmp(saved_json, r->config_json) == 0;
    free(saved_json);
    fprintf(options->log,
            "segtrain: resuming from %s at epoch %lld, step %lld%s\n", path,
            (long long)r->progress.epoch, (long long)r->trainer.step,
            same ? "" : " (note: the config differs from the saved one)");
    // What was logged after the saved state is logged again from here on.
    SEGC_TRY(segc_train_logs_rewind(config->output_dir, &r->progress.logs,
                                    options->log));
  }
  if (r->comm) SEGC_TRY(share_lead_state(r));

  double pixdim[3];
  segc_config_pixdim(config, pixdim);
  source->list = &r->list;
  source->transforms = segc_training_transforms_bundle(pixdim, roi);
  source->transforms.classes = config->network_def.out_channels;
  segc_loader_config lc = {0};
  lc.cases = (int)r->list.count[SEGC_DATALIST_TRAINING];
  lc.prepare = prepare_case;
  lc.prepare_context = source;
  lc.cache_rate = config->cache_rate;
  lc.batch_size = config->batch_size;
  for (int a = 0; a < 3; ++a) lc.roi[a] = roi[a];
  lc.workers = config->num_workers;
  lc.seed = config->seed;
  if (r->comm) {
    lc.sharded = true;
    lc.rank = segc_comm_rank(r->comm);
    lc.world_size = segc_comm_world_size(r->comm);
  }
  const double t0 = segc_now();
  SEGC_TRY(segc_loader_create(&r->loader, &lc, r->trainer.step));
  fprintf(options->log,
          "segtrain: %lld training and %lld validation cases; %d cached "
          "(%.1f MB) in %.1f s; %d steps per epoch\n",
          (long long)r->list.count[SEGC_DATALIST_TRAINING],
          (long long)r->list.count[SEGC_DATALIST_VALIDATION],
          segc_loader_cached_cases(r->loader),
          (double)segc_loader_cache_bytes(r->loader) / 1e6, segc_now() - t0,
          segc_loader_steps_per_epoch(r->loader));
  return r->lead ? open_logs(config, r) : SEGC_OK;
}

static segc_status log_step(run_state *r, const segc_step_result *res,
                            int64_t epoch, double lr, double wait) {
  const segc_metric m[] = {
      {"step", (double)(r->trainer.step - 1)}, {"epoch", (double)epoch},
      {"loss", res->loss}, {"dice_loss", res->dice}, {"ce_loss", res->ce},
      {"lr", lr}, {"seconds", res->seconds}, {"loader_wait", wait},
      {"skipped", res->skipped ? 1.0 : 0.0}};
  SEGC_TRY(segc_metric_log_write(r->train_log, m, (int)(sizeof m / sizeof m[0])));
  // TensorBoard steps as MONAI's handler writes them: the engine's
  // iteration, which counts from 1 (the CSV keeps 0-based step numbers).
  return segc_tensorboard_scalar(r->tensorboard, SEGC_TB_TRAIN_LOSS,
                                 r->trainer.step, res->loss);
}

static segc_status validate_epoch(const segc_config *config,
                                  const segc_train_options *options,
                                  run_state *r, int64_t epoch, float *dice) {
  segc_validation_result v;
  SEGC_TRY(segc_validate(&r->net, config, r->trainer.compute, &r->list,
                         r->comm, &v));
  *dice = (float)v.mean_dice;
  if (!r->lead) return SEGC_OK;  // rank 0 alone decides, saves and logs
  const bool better = !isnan(v.mean_dice) &&
                      (isnan(r->progress.best_dice) || v.mean_dice > r->progress.best_dice);
  if (better) {
    r->progress.best_dice = v.mean_dice;
    r->progress.best_epoch = epoch + 1;
    char path[SEGC_CONFIG_TEXT_MAX + 64];
    SEGC_TRY(segc_config_model_path(config, path, sizeof path));
    SEGC_TRY(segc_segresnet_save_checkpoint(&r->net, path));
  }
  fprintf(options->log,
          "%sepoch %lld: validation mean Dice %.4f over %d cases (%.1f s)%s\n",
          options->terminal ? "\n" : "", (long long)(epoch + 1), v.mean_dice,
          v.cases, v.seconds, better ? ", best so far: model saved" : "");
  const segc_metric m[] = {{"epoch", (double)(epoch + 1)},
                           {"step", (double)r->trainer.step},
                           {"val_mean_dice", v.mean_dice},
                           {"seconds", v.seconds}};
  SEGC_TRY(segc_metric_log_write(r->val_log, m, 4));
  return segc_tensorboard_scalar(r->tensorboard, SEGC_TB_VAL_MEAN_DICE,
                                 epoch + 1, v.mean_dice);
}

static void show_progress(const segc_train_options *options, const run_state *r,
                          int64_t epoch, int max_epochs, int step_in_epoch,
                          int steps_per_epoch, double loss, double crops_per_s,
                          double seconds_left) {
  char eta[32];
  format_duration(seconds_left, eta, sizeof eta);
  const double dice = r->progress.best_dice;
  if (options->terminal) {
    fprintf(options->log,
            "\repoch %lld/%d  step %d/%d  loss %.4f  best Dice %s%.4f  "
            "%.2f crops/s  ETA %s   ",
            (long long)epoch + 1, max_epochs, step_in_epoch, steps_per_epoch, loss,
            isnan(dice) ? "-" : "", isnan(dice) ? 0.0 : dice, crops_per_s, eta);
    fflush(options->log);
  }
}

static segc_status run_epochs(const segc_config *config,
                              const segc_train_options *options, run_state *r,
                              segc_train_summary *summary) {
  const int spe = segc_loader_steps_per_epoch(r->loader);
  const double t0 = segc_now();
  int64_t crops = 0;
  char state_path[SEGC_CONFIG_TEXT_MAX + 64];
  SEGC_TRY(segc_train_state_path(config, state_path, sizeof state_path));
  for (int64_t epoch = r->progress.epoch; epoch < config->max_epochs; ++epoch) {
    const double lr = segc_config_learning_rate(config, (int)epoch);
    double loss_sum = 0.0;
    int steps = 0;
    for (int s = 0; s < spe; ++s) {
      if (options->max_steps > 0 && summary->steps >= options->max_steps)
        return SEGC_OK;
      const segc_batch *batch;
      double wait;
      SEGC_TRY(segc_loader_next(r->loader, &batch, &wait));
      segc_step_result res;
      SEGC_TRY(segc_trainer_step(&r->trainer, batch->images, batch->labels,
                                 batch->count, lr, &res));
      summary->loader_wait_seconds += wait;
      summary->steps++;
      summary->last_loss = res.loss;
      crops += batch->count;
      loss_sum += res.loss;
      steps++;
      if (r->lead) SEGC_TRY(log_step(r, &res, epoch, lr, wait));
      const double elapsed = segc_now() - t0;
      const double per_step = elapsed / (double)summary->steps;
      const double left = per_step * (double)((config->max_epochs - epoch) * spe - s - 1);
      show_progress(options, r, epoch, config->max_epochs, s + 1, spe,
                    loss_sum / steps, (double)crops / elapsed, left);
      if (res.skipped)
        fprintf(options->log,
                "%sstep %lld: fp16 gradients overflowed; step skipped, loss "
                "scale now %g\n",
                options->terminal ? "\n" : "", (long long)(r->trainer.step - 1),
                r->trainer.loss_scale);
    }
    const double epoch_loss = loss_sum / (steps ? steps : 1);
    if (!options->terminal)
      fprintf(options->log, "epoch %lld/%d: mean loss %.5f, %.2f crops/s\n",
              (long long)epoch + 1, config->max_epochs, epoch_loss,
              (double)crops / (segc_now() - t0));
    float dice = NAN;
    const bool validate = config->val_interval > 0 &&
                          (epoch + 1) % config->val_interval == 0;
    if (validate) SEGC_TRY(validate_epoch(config, options, r, epoch, &dice));
    SEGC_TRY(segc_train_progress_append(&r->progress, (float)epoch_loss, dice));
    r->progress.epoch = epoch + 1;
    summary->epochs = epoch + 1;
    const bool last = epoch + 1 == config->max_epochs;
    if (r->lead && ((config->save_interval > 0 &&
                     (epoch + 1) % config->save_interval == 0) ||
                    last)) {
      SEGC_TRY(segc_train_logs_measure(config->output_dir,
                                       segc_tensorboard_path(r->tensorboard),
                                       &r->progress.logs));
      SEGC_TRY(segc_train_state_save(state_path, &r->trainer, &r->progress,
                                     r->config_json));
    }
    if (r->lead && (validate || last))
      SEGC_TRY(write_curves(config, &r->progress));
  }
  return SEGC_OK;
}

segc_status segc_train_run(const segc_config *config,
                           const segc_train_options *options,
                           segc_train_summary *summary) {
  memset(summary, 0, sizeof *summary);
  const double t0 = segc_now();
  if (config->distributed && !options->comm)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "segtrain: distributed run without a communicator");
  if (!config->distributed && options->comm &&
      segc_comm_world_size(options->comm) > 1)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "started as one of %d processes, but the config has "
                     "distributed false (add configs/multi_cpu_train.json or "
                     "--set distributed=true)",
                     segc_comm_world_size(options->comm));
  // Ranks other than 0 say nothing: their progress is rank 0's.
  segc_train_options quiet = *options;
  FILE *devnull = NULL;
  const bool lead = !options->comm || segc_comm_rank(options->comm) == 0;
  if (!lead) {
    devnull = fopen("/dev/null", "w");
    if (!devnull)
      return SEGC_FAIL(SEGC_ERR_IO, "segtrain: cannot open /dev/null: %s",
                       strerror(errno));
    quiet.log = devnull;
    quiet.terminal = false;
    options = &quiet;
  }
  run_state *r = calloc(1, sizeof *r);
  if (!r) {
    if (devnull) fclose(devnull);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "segtrain: out of memory");
  }
  segc_train_start_init(&r->start);
  r->comm = config->distributed ? options->comm : NULL;
  r->lead = lead;
  segc_device run_device = SEGC_DEVICE_CPU;
  if (segc_config_device(config, &run_device) != SEGC_OK)
    segc_clear_error();  // said by setup below
  if (r->lead && r->comm && config->backend == SEGC_BACKEND_NCCL &&
      run_device == SEGC_DEVICE_CPU)
    fprintf(options->log, "segtrain: backend nccl: this run is on the CPU, "
            "where the gradients are all-reduced through MPI\n");
  case_source *source = calloc(1, sizeof *source);
  segc_status s = source ? setup(config, options, r, source)
                         : SEGC_FAIL(SEGC_ERR_NOMEM, "segtrain: out of memory");
  if (s == SEGC_OK) s = run_epochs(config, options, r, summary);
  if (options->terminal) fputc('\n', options->log);
  summary->seconds = segc_now() - t0;
  summary->total_steps = r->have_trainer ? r->trainer.step : 0;
  summary->epochs = r->progress.epoch;
  summary->best_dice = r->progress.best_dice;
  summary->best_epoch = r->progress.best_epoch;
  summary->peak_rss_bytes = segc_peak_rss_bytes();
  if (r->loader) summary->cache_bytes = segc_loader_cache_bytes(r->loader);
  run_free(r);
  free(r);
  free(source);
  // Checked like every close (the quiet ranks' messages went there).
  if (devnull && fclose(devnull) != 0 && s == SEGC_OK)
    s = SEGC_FAIL(SEGC_ERR_IO, "segtrain: closing /dev/null: %s",
                  strerror(errno));
  return s;
}
