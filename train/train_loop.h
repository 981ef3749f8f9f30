// segtrain's loop: the bundle's training (configs/train.json) run from a
// segc_config. Data from dataset_dir or a datalist; deterministic transforms
// cached at cache_rate; random crops per step; DiceCE + AdamW with the
// config's AMP; validation every val_interval epochs with the best model
// saved as ckpt_dir/model.pt (or model_lowres.pt) in PyTorch's format; the
// resumable state saved every save_interval epochs and at the end; metrics
// as JSON lines, CSV and TensorBoard events in output_dir, and a PNG of the
// curves. The run holds both folders for itself (train_start.h).
//
// Data parallel (config distributed, under mpirun): every rank builds the
// network, rank 0's weights (and, on resume, its saved state: AdamW moments,
// step, loss scale, progress) are broadcast, each rank trains on its shard
// of every epoch (data/loader.h) with the gradients summed across ranks
// while backward runs (train/grad_buckets.h), validation is split between
// the ranks and its sums added (train/validate.h), and only rank 0 takes the
// folders, logs, draws, saves checkpoints and the state.
#ifndef SEGC_TRAIN_TRAIN_LOOP_H
#define SEGC_TRAIN_TRAIN_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"
#include "dist/comm.h"

typedef struct {
  bool resume;          // continue from the state file (config.resume or
                        // ckpt_dir/training_state.segc); none saved yet:
                        // start from scratch
  bool overwrite;       // start a new run over an earlier one's logs and
                        // state (without it or resume, such a run is refused)
  int64_t max_steps;    // stop after this many steps in this run (0: none)
  FILE *log;            // progress and messages (stderr)
  bool terminal;        // draw a progress bar instead of plain lines
  segc_comm *comm;      // the processes of a distributed run; NULL: one
} segc_train_options;

typedef struct {
  int64_t steps;            // steps taken in this run
  int64_t total_steps;      // steps taken since the start of training
  int64_t epochs;           // epochs completed (all runs)
  double last_loss;
  double best_dice;
  int64_t best_epoch;
  double seconds;
  double loader_wait_seconds;
  size_t peak_rss_bytes;
  size_t cache_bytes;
  double crops_per_second;  // trainer throughput
} segc_train_summary;

// The state file this config resumes from.
segc_status segc_train_state_path(const segc_config *config, char *path,
                                  size_t size);

segc_status segc_train_run(const segc_config *config,
                           const segc_train_options *options,
                           segc_train_summary *summary);

#endif
