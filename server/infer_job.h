// One inference at a time: a worker thread owns the network (loaded once,
// in that thread, and kept warm) and runs jobs in arrival order; callers
// wait for their job. At most `capacity` jobs wait behind the running one;
// more are refused at once (the caller answers 503 with Retry-After).
#ifndef SEGC_SERVER_INFER_JOB_H
#define SEGC_SERVER_INFER_JOB_H

#include <stdbool.h>

#include "config/config.h"
#include "data/labels.h"
#include "infer/infer_report.h"

typedef struct infer_queue infer_queue;

typedef enum { JOB_DONE, JOB_FAILED, JOB_BUSY, JOB_STOPPING } job_outcome;

typedef struct {
  const char *input;   // NIfTI CT
  const char *output;  // where the u8 label goes (.nii.gz), or NULL with
  const char *dicom_seg;  // a DICOM SEG instead (the input is a series)
  // Filled by the worker:
  segc_infer_report_row row;
  int error_status;    // 400 for bad input, 500 otherwise
  char error[512];
} infer_job;

// Starts the worker, which loads `weights` with the settings `config`
// implies (as seginfer does; check_network: the command line named a
// network, which the checkpoint must match); waits until the model is loaded. NULL on
// failure with the reason in error.
infer_queue *infer_queue_start(const segc_config *config, const char *weights,
                               bool check_network,
                               const segc_label_table *names, int capacity,
                               char *error, size_t size);
// Runs the job (waits for its turn).
job_outcome infer_queue_run(infer_queue *q, infer_job *job);
// Refuses new jobs and the waiting ones; the running one finishes.
void infer_queue_stop(infer_queue *q);
// Joins the worker and frees the model (after infer_queue_stop).
void infer_queue_destroy(infer_queue *q);

#endif
