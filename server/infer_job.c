#include "server/infer_job.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "infer/infer_case.h"
#include "infer/infer_pipeline.h"

typedef struct job_slot {
  infer_job *job;
  job_outcome outcome;
  bool done;
  struct job_slot *next;
} job_slot;

struct infer_queue {
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t changed;  // a job arrived, finished, or the state changed
  job_slot *head, *tail;
  int waiting, capacity;
  bool stopping, loaded, load_failed, check_network;
  char load_error[512];
  // Owned by the worker thread:
  const segc_config *config;
  const char *weights;
  const segc_label_table *names;
  segc_infer_model model;
  segc_infer_settings settings;
};

// Input problems (the request's fault) versus the server's own failures.
static int status_for(segc_status code) {
  switch (code) {
    case SEGC_ERR_INVALID: case SEGC_ERR_FORMAT: case SEGC_ERR_UNSUPPORTED:
    case SEGC_ERR_NONFINITE:
      return 400;
    default:
      return 500;
  }
}

static void run_one(infer_queue *q, infer_job *job, job_outcome *outcome) {
  const segc_case_options options = {
      .names = q->names, .output_dtype = SEGC_U8, .weights = q->weights,
      .no_nifti = job->dicom_seg != NULL};
  const segc_case_paths paths = {
      .input = job->input,
      .label = job->dicom_seg ? NULL : job->output,
      .dicom_seg = job->dicom_seg};
  memset(&job->row, 0, sizeof job->row);
  segc_clear_error();
  const segc_status code = segc_infer_case(&q->model, &q->settings, &options,
                                           &paths, &job->row);
  if (code == SEGC_OK) {
    *outcome = JOB_DONE;
    return;
  }
  job->error_status = status_for(code);
  snprintf(job->error, sizeof job->error, "%s", segc_error_message());
  *outcome = JOB_FAILED;
}

static void *worker(void *arg) {
  infer_queue *q = arg;
  // The model is loaded here, in the thread that runs it: thread-local
  // state (the OpenMP team, the CUDA per-thread stream) stays the same.
  segc_set_threads(q->config->threads);
  const int classes = q->names->count;
  segc_status code = segc_infer_settings_from_config(q->config, classes, &q->settings);
  q->settings.check_network = q->check_network;
  q->settings.notes = stderr;  // stdout carries the "listening on" line alone
  if (code == SEGC_OK)  // said once: one model serves every request
    fprintf(stderr, "segserve: compute dtype: %s\n", q->settings.compute_reason);
  if (code == SEGC_OK)
    code = segc_infer_model_load(&q->model, q->weights, q->config, &q->settings);
  pthread_mutex_lock(&q->lock);
  if (code != SEGC_OK) {
    q->load_failed = true;
    snprintf(q->load_error, sizeof q->load_error, "%s", segc_error_message());
  }
  q->loaded = true;
  pthread_cond_broadcast(&q->changed);
  for (;;) {
    while (!q->head && !q->stopping) pthread_cond_wait(&q->changed, &q->lock);
    if (!q->head) break;  // stopping with nothing left
    job_slot *slot = q->head;
    q->head = slot->next;
    if (!q->head) q->tail = NULL;
    q->waiting--;
    if (q->stopping || q->load_failed) {
      slot->outcome = JOB_STOPPING;
    } else {
      pthread_mutex_unlock(&q->lock);
      run_one(q, slot->job, &slot->outcome);
      pthread_mutex_lock(&q->lock);
    }
    slot->done = true;
    pthread_cond_broadcast(&q->changed);
  }
  pthread_mutex_unlock(&q->lock);
  return NULL;
}

infer_queue *infer_queue_start(const segc_config *config, const char *weights,
                               bool check_network,
                               const segc_label_table *names, int capacity,
                               char *error, size_t size) {
  infer_queue *q = calloc(1, sizeof *q);
  if (!q) {
    snprintf(error, size, "out of memory");
    return NULL;
  }
  q->config = config;
  q->weights = weights;
  q->names = names;
  q->capacity = capacity;
  q->check_network = check_network;
  pthread_mutex_init(&q->lock, NULL);
  pthread_cond_init(&q->changed, NULL);
  if (pthread_create(&q->thread, NULL, worker, q) != 0) {
    snprintf(error, size, "cannot start the inference thread");
    pthread_cond_destroy(&q->changed);
    pthread_mutex_destroy(&q->lock);
    free(q);
    return NULL;
  }
  pthread_mutex_lock(&q->lock);
  while (!q->loaded) pthread_cond_wait(&q->changed, &q->lock);
  const bool failed = q->load_failed;
  if (failed) {
    snprintf(error, size, "%s", q->load_error);
    q->stopping = true;
    pthread_cond_broadcast(&q->changed);
  }
  pthread_mutex_unlock(&q->lock);
  if (failed) {
    infer_queue_destroy(q);
    return NULL;
  }
  return q;
}

job_outcome infer_queue_run(infer_queue *q, infer_job *job) {
  job_slot slot = {.job = job};
  pthread_mutex_lock(&q->lock);
  if (q->stopping) {
    pthread_mutex_unlock(&q->lock);
    return JOB_STOPPING;
  }
  if (q->waiting >= q->capacity) {
    pthread_mutex_unlock(&q->lock);
    return JOB_BUSY;
  }
  if (q->tail) q->tail->next = &slot;
  else q->head = &slot;
  q->tail = &slot;
  q->waiting++;
  pthread_cond_broadcast(&q->changed);
  while (!slot.done) pthread_cond_wait(&q->changed, &q->lock);
  pthread_mutex_unlock(&q->lock);
  return slot.outcome;
}

void infer_queue_stop(infer_queue *q) {
  pthread_mutex_lock(&q->lock);
  q->stopping = true;
  pthread_cond_broadcast(&q->changed);
  pthread_mutex_unlock(&q->lock);
}

void infer_queue_destroy(infer_queue *q) {
  if (!q) return;
  infer_queue_stop(q);
  pthread_join(q->thread, NULL);
  segc_infer_model_destroy(&q->model);
  pthread_cond_destroy(&q->changed);
  pthread_mutex_destroy(&q->lock);
  free(q);
}
