// The single-process communicator: one rank, every collective the identity.
#include <stdlib.h>

#include "dist/comm_internal.h"

static segc_status single_broadcast(segc_comm *comm, void *data,
                                    size_t bytes) {
  (void)comm;
  (void)data;
  (void)bytes;
  return SEGC_OK;
}

static segc_status single_allreduce(segc_comm *comm, void *data, size_t count,
                                    segc_comm_dtype dtype, segc_comm_op op) {
  (void)comm;
  (void)data;
  (void)count;
  (void)dtype;
  (void)op;
  return SEGC_OK;
}

static segc_status single_allreduce_start(segc_comm *comm, float *data,
                                          size_t count,
                                          segc_comm_request *request) {
  (void)comm;
  (void)data;
  (void)count;
  request->impl = NULL;
  return SEGC_OK;
}

static segc_status single_test(segc_comm_request *request, int *done) {
  (void)request;
  *done = 1;
  return SEGC_OK;
}

static segc_status single_wait(segc_comm_request *request) {
  (void)request;
  return SEGC_OK;
}

static segc_status single_barrier(segc_comm *comm) {
  (void)comm;
  return SEGC_OK;
}

static _Noreturn void single_abort(segc_comm *comm, int exit_code) {
  (void)comm;
  exit(exit_code);
}

static void single_destroy(segc_comm *comm) { (void)comm; }

const segc_comm_ops segc_comm_single_ops = {
    .broadcast = single_broadcast,
    .allreduce = single_allreduce,
    .allreduce_start = single_allreduce_start,
    .test = single_test,
    .wait = single_wait,
    .barrier = single_barrier,
    .abort = single_abort,
    .destroy = single_destroy,
};
