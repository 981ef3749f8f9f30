// segtrain's logs in output_dir (train.{csv,jsonl}, validation.{csv,jsonl},
// a TensorBoard event file) seen as one whole that belongs to one run:
//  - measured when the training state is saved (each record is flushed as it
//    is written, so the sizes on disk are what the state has seen);
//  - cut back to those sizes on resume, so the steps a killed run logged
//    after its last saved state (and a torn last line) are dropped and the
//    logs end up as an uninterrupted run's;
//  - found and removed when a new run starts over an earlier one.
#ifndef SEGC_TRAIN_TRAIN_LOGS_H
#define SEGC_TRAIN_TRAIN_LOGS_H

#include <stddef.h>
#include <stdio.h>

#include "train/train_state.h"

// "train.csv", "train.jsonl", "validation.csv", "validation.jsonl".
const char *segc_train_metric_log_name(int index);

// The sizes of the logs now; events_path is the open TensorBoard file.
segc_status segc_train_logs_measure(const char *output_dir,
                                    const char *events_path,
                                    segc_train_log_marks *marks);

// Cuts each log down to its recorded size. A log that is shorter than that
// (deleted or edited since) is kept and named in a note on `log`; logs whose
// size was not recorded are left as they are.
segc_status segc_train_logs_rewind(const char *output_dir,
                                   const segc_train_log_marks *marks,
                                   FILE *log);

// Lists the logs of an earlier run in output_dir (non-empty metric logs,
// TensorBoard event files) into `found` ("" when none).
segc_status segc_train_logs_find(const char *output_dir, char *found,
                                 size_t size);

// Removes them (so the run starts new logs); lists what went into `removed`.
segc_status segc_train_logs_remove(const char *output_dir, char *removed,
                                   size_t size);

#endif
