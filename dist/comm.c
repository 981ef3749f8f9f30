// The communicator's public calls: the choice of implementation from the
// environment, argument checks, the list of outstanding requests.
#include "dist/comm.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dist/comm_internal.h"

// Longer than any sensible wait; keeps the nanosecond count in range.
static const double kMaxTimeoutS = 1e6;

static segc_status parse_size_variable(const char *name, int *size) {
  const char *text = getenv(name);
  if (text == NULL)
    return SEGC_OK;
  char *end = NULL;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < 1 ||
      value > INT_MAX)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s=%s: not a number of processes (the launcher sets "
                     "it; a positive integer)",
                     name, text);
  *size = (int)value;
  return SEGC_OK;
}

segc_status segc_comm_launched_size(int *size) {
  *size = 0;
  // OpenMPI's mpirun, then Hydra (MPICH, Intel MPI) and Slurm's PMI-2.
  SEGC_TRY(parse_size_variable("OMPI_COMM_WORLD_SIZE", size));
  if (*size == 0)
    SEGC_TRY(parse_size_variable("PMI_SIZE", size));
  if (*size == 0 && getenv("PMIX_RANK") != NULL)
    *size = -1;
  return SEGC_OK;
}

segc_status segc_comm_timeout_from_env(double *timeout_s) {
  *timeout_s = SEGC_COMM_DEFAULT_TIMEOUT_S;
  const char *text = getenv("SEGC_COMM_TIMEOUT_S");
  if (text == NULL)
    return SEGC_OK;
  char *end = NULL;
  errno = 0;
  double value = strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !isfinite(value) ||
      value < 0 || value > kMaxTimeoutS)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "SEGC_COMM_TIMEOUT_S=%s: not a number of seconds (the "
                     "longest a rank waits for the others before the job is "
                     "aborted: a number from 0, which turns the watchdog off, "
                     "to %g)",
                     text, kMaxTimeoutS);
  *timeout_s = value;
  return SEGC_OK;
}

static segc_status new_comm(segc_comm **out, segc_comm **comm) {
  *out = NULL;
  *comm = calloc(1, sizeof **comm);
  if (*comm == NULL)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "communicator: out of memory");
  return SEGC_OK;
}

static segc_status create_single(double timeout_s, segc_comm **out) {
  segc_comm *comm;
  SEGC_TRY(new_comm(out, &comm));
  comm->ops = &segc_comm_single_ops;
  comm->kind = SEGC_COMM_SINGLE;
  comm->rank = 0;
  comm->world_size = 1;
  comm->local_rank = 0;
  comm->local_size = 1;
  comm->timeout_s = timeout_s;
  *out = comm;
  return SEGC_OK;
}

bool segc_comm_have_mpi(void) {
#ifdef SEGC_HAVE_MPI
  return true;
#else
  return false;
#endif
}

segc_status segc_comm_create_single(segc_comm **out) {
  *out = NULL;
  double timeout_s;
  SEGC_TRY(segc_comm_timeout_from_env(&timeout_s));
  return create_single(timeout_s, out);
}

segc_status segc_comm_create(segc_comm **out) {
  *out = NULL;
  double timeout_s;
  SEGC_TRY(segc_comm_timeout_from_env(&timeout_s));
  int launched;
  SEGC_TRY(segc_comm_launched_size(&launched));
  if (launched == 0)
    return create_single(timeout_s, out);
#ifdef SEGC_HAVE_MPI
  segc_comm *comm;
  SEGC_TRY(new_comm(out, &comm));
  comm->timeout_s = timeout_s;
  segc_status status = segc_comm_mpi_init(comm);
  if (status != SEGC_OK) {
    free(comm);
    return status;
  }
  *out = comm;
  return SEGC_OK;
#else
  if (launched == 1)
    return create_single(timeout_s, out);
  if (launched > 1)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "started as one of %d processes, but this build has no "
                     "MPI (configure with -DSEGC_MPI=ON where "
                     "libopenmpi-dev is installed)",
                     launched);
  return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                   "started by a PMIx launcher (PMIX_RANK is set), but this "
                   "build has no MPI (configure with -DSEGC_MPI=ON where "
                   "libopenmpi-dev is installed)");
#endif
}

void segc_comm_free(segc_comm *comm) {
  if (comm == NULL)
    return;
  while (comm->outstanding != NULL) {
    segc_comm_request *request = comm->outstanding;
    fprintf(stderr,
            "segc: rank %d: a non-blocking all-reduce was never waited for; "
            "waiting for it before freeing the communicator\n",
            comm->rank);
    if (segc_comm_wait(&request) != SEGC_OK)
      fprintf(stderr, "segc: rank %d: %s\n", comm->rank, segc_error_message());
  }
  if (comm->device_ops != NULL) comm->device_ops->destroy(comm);
  comm->ops->destroy(comm);
  free(comm);
}

segc_comm_kind segc_comm_get_kind(const segc_comm *comm) { return comm->kind; }
int segc_comm_rank(const segc_comm *comm) { return comm->rank; }
int segc_comm_world_size(const segc_comm *comm) { return comm->world_size; }
int segc_comm_local_rank(const segc_comm *comm) { return comm->local_rank; }
int segc_comm_local_size(const segc_comm *comm) { return comm->local_size; }
double segc_comm_timeout_s(const segc_comm *comm) { return comm->timeout_s; }

static segc_status check_buffer(const char *call, const void *data,
                                size_t count) {
  if (data == NULL && count > 0)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: the buffer is NULL for %zu elements",
                     call, count);
  return SEGC_OK;
}

static segc_status check_op(const char *call, segc_comm_op op) {
  if (op != SEGC_COMM_SUM && op != SEGC_COMM_MIN && op != SEGC_COMM_MAX)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: unknown reduction %d", call,
                     (int)op);
  return SEGC_OK;
}

// GPU buffers go to NCCL once the communicator has it, host buffers to the
// communicator's own implementation.
static const segc_comm_ops *ops_for(const segc_comm *comm, const void *data) {
  if (comm->device_ops != NULL && data != NULL && segc_comm_device_buffer(data))
    return comm->device_ops;
  return comm->ops;
}

segc_status segc_comm_broadcast(segc_comm *comm, void *data, size_t bytes) {
  SEGC_TRY(check_buffer("segc_comm_broadcast", data, bytes));
  return ops_for(comm, data)->broadcast(comm, data, bytes);
}

segc_status segc_comm_allreduce_sum_f32(segc_comm *comm, float *data,
                                        size_t count) {
  SEGC_TRY(check_buffer("segc_comm_allreduce_sum_f32", data, count));
  return ops_for(comm, data)->allreduce(comm, data, count, SEGC_COMM_F32,
                                        SEGC_COMM_SUM);
}

segc_status segc_comm_allreduce_f64(segc_comm *comm, double *data,
                                    size_t count, segc_comm_op op) {
  SEGC_TRY(check_buffer("segc_comm_allreduce_f64", data, count));
  SEGC_TRY(check_op("segc_comm_allreduce_f64", op));
  return comm->ops->allreduce(comm, data, count, SEGC_COMM_F64, op);
}

segc_status segc_comm_allreduce_i64(segc_comm *comm, int64_t *data,
                                    size_t count, segc_comm_op op) {
  SEGC_TRY(check_buffer("segc_comm_allreduce_i64", data, count));
  SEGC_TRY(check_op("segc_comm_allreduce_i64", op));
  return comm->ops->allreduce(comm, data, count, SEGC_COMM_I64, op);
}

segc_status segc_comm_allreduce_sum_f32_start(segc_comm *comm, float *data,
                                              size_t count,
                                              segc_comm_request **out) {
  *out = NULL;
  SEGC_TRY(check_buffer("segc_comm_allreduce_sum_f32_start", data, count));
  segc_comm_request *request = calloc(1, sizeof *request);
  if (request == NULL)
    return SEGC_FAIL(SEGC_ERR_NOMEM,
                     "segc_comm_allreduce_sum_f32_start: out of memory");
  request->comm = comm;
  request->ops = ops_for(comm, data);
  segc_status status = request->ops->allreduce_start(comm, data, count, request);
  if (status != SEGC_OK) {
    free(request);
    return status;
  }
  request->next = comm->outstanding;
  comm->outstanding = request;
  *out = request;
  return SEGC_OK;
}

segc_status segc_comm_test(segc_comm_request *request, int *done) {
  *done = 0;
  if (request == NULL)
    return SEGC_FAIL(SEGC_ERR_INVALID, "segc_comm_test: the request is NULL");
  return request->ops->test(request, done);
}

segc_status segc_comm_wait(segc_comm_request **request_ptr) {
  segc_comm_request *request = *request_ptr;
  if (request == NULL)
    return SEGC_OK;
  *request_ptr = NULL;
  segc_comm *comm = request->comm;
  for (segc_comm_request **link = &comm->outstanding; *link != NULL;
       link = &(*link)->next) {
    if (*link == request) {
      *link = request->next;
      break;
    }
  }
  segc_status status = request->ops->wait(request);
  free(request);
  return status;
}

segc_status segc_comm_barrier(segc_comm *comm) {
  return comm->ops->barrier(comm);
}

_Noreturn void segc_comm_abort(segc_comm *comm, int exit_code,
                               const char *message) {
  fprintf(stderr, "segc: rank %d of %d: %s; aborting all ranks\n", comm->rank,
          comm->world_size, message);
  fflush(stderr);
  comm->ops->abort(comm, exit_code);
  _exit(exit_code);  // not reached: abort ends the process
}
