// How a segtrain run starts in its folders (ckpt_dir, output_dir): it locks
// them against a second live run, removes the temporary files killed runs
// left there, and decides between continuing the saved state (--resume),
// starting over (--resume with no state saved yet, or --overwrite: the
// earlier logs and state are removed) and refusing a new run that would mix
// its logs with an earlier run's.
#ifndef SEGC_TRAIN_TRAIN_START_H
#define SEGC_TRAIN_TRAIN_START_H

#include <stdbool.h>

#include "io/run_folder.h"
#include "train/train_loop.h"

typedef struct {
  segc_folder_lock ckpt_lock, output_lock;
  bool load_state;  // continue from the state file
} segc_train_start;

void segc_train_start_init(segc_train_start *start);
// The folders must exist. Messages (what was removed, how the run starts)
// go to options->log.
segc_status segc_train_start_prepare(const segc_config *config,
                                     const segc_train_options *options,
                                     segc_train_start *start);
// Releases the locks.
void segc_train_start_release(segc_train_start *start);

#endif
