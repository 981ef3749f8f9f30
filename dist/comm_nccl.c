// GPU buffers through NCCL (comm.h, segc_comm_use_nccl): rank 0 makes the
// NCCL unique id, MPI broadcasts it, every rank joins with
// ncclCommInitRank on its GPU. From then on the f32 sums and the broadcasts
// of buffers in CUDA device memory run as NCCL collectives on
// cudaStreamPerThread (the stream every segc kernel uses, so they follow
// the backward kernels that wrote the gradients without a host wait); host
// buffers keep going through MPI.
//
// Failure bound, as for MPI: a wait polls the collective's event and NCCL's
// asynchronous error (ncclCommGetAsyncError) every 100 us; an NCCL error
// aborts the NCCL communicator and is returned (the caller ends the job);
// a wait longer than SEGC_COMM_TIMEOUT_S aborts NCCL and then the job with
// the rank named, like the MPI watchdog.
//
// Never run here (no GPU on the development machines): compiled and linked
// in every CUDA build with MPI; without a GPU segc_comm_use_nccl fails with
// the CUDA runtime's message.
#include "dist/comm_internal.h"

#if defined(SEGC_HAVE_NCCL) && defined(SEGC_HAVE_MPI)

#include <cuda_runtime_api.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/parallel.h"

typedef struct {
  ncclComm_t nccl;
  int device;
} nccl_state;

static nccl_state *nccl_of(const segc_comm *comm) { return comm->device_impl; }

static segc_status cuda_failed(const segc_comm *comm, const char *call,
                               cudaError_t error) {
  return SEGC_FAIL(SEGC_ERR_BACKEND, "CUDA rank %d of %d: %s failed: %s",
                   comm->rank, comm->world_size, call,
                   cudaGetErrorString(error));
}

static segc_status nccl_failed(const segc_comm *comm, const char *call,
                               ncclResult_t result) {
  return SEGC_FAIL(SEGC_ERR_BACKEND, "NCCL rank %d of %d: %s failed: %s",
                   comm->rank, comm->world_size, call,
                   ncclGetErrorString(result));
}

#define CHECK_CUDA(comm, name, call)                            \
  do {                                                          \
    cudaError_t error_ = (call);                                \
    if (error_ != cudaSuccess) return cuda_failed((comm), (name), error_); \
  } while (0)

#define CHECK_NCCL(comm, name, call)                            \
  do {                                                          \
    ncclResult_t result_ = (call);                              \
    if (result_ != ncclSuccess) return nccl_failed((comm), (name), result_); \
  } while (0)

bool segc_comm_device_buffer(const void *data) {
  struct cudaPointerAttributes attributes;
  if (cudaPointerGetAttributes(&attributes, data) != cudaSuccess) {
    (void)cudaGetLastError();  // a plain host pointer on old runtimes
    return false;
  }
  return attributes.type == cudaMemoryTypeDevice;
}

// Waits for `event` (recorded after a collective), watching NCCL's errors
// and the timeout; destroys the event.
static segc_status finish(segc_comm *comm, cudaEvent_t event,
                          const char *call) {
  nccl_state *state = nccl_of(comm);
  const double start = segc_now();
  segc_status status = SEGC_OK;
  for (;;) {
    const cudaError_t done = cudaEventQuery(event);
    if (done == cudaSuccess) break;
    if (done != cudaErrorNotReady) {
      status = cuda_failed(comm, "cudaEventQuery", done);
      break;
    }
    ncclResult_t async = ncclSuccess;
    const ncclResult_t asked = ncclCommGetAsyncError(state->nccl, &async);
    if (asked != ncclSuccess || (async != ncclSuccess && async != ncclInProgress)) {
      status = nccl_failed(comm, call, asked != ncclSuccess ? asked : async);
      ncclCommAbort(state->nccl);
      state->nccl = NULL;
      break;
    }
    const double waited = segc_now() - start;
    if (comm->timeout_s > 0.0 && waited > comm->timeout_s) {
      char message[256];
      snprintf(message, sizeof message,
               "%s has waited %.1f s for the other ranks "
               "(SEGC_COMM_TIMEOUT_S=%g): another rank has died or hangs",
               call, waited, comm->timeout_s);
      ncclCommAbort(state->nccl);
      state->nccl = NULL;
      segc_comm_abort(comm, SEGC_COMM_ABORT_CODE, message);
    }
    const struct timespec pause = {0, 100 * 1000};
    nanosleep(&pause, NULL);
  }
  const cudaError_t destroyed = cudaEventDestroy(event);
  if (status == SEGC_OK && destroyed != cudaSuccess)
    status = cuda_failed(comm, "cudaEventDestroy", destroyed);
  return status;
}

static segc_status record(segc_comm *comm, cudaEvent_t *event) {
  CHECK_CUDA(comm, "cudaEventCreateWithFlags",
             cudaEventCreateWithFlags(event, cudaEventDisableTiming));
  const cudaError_t error = cudaEventRecord(*event, cudaStreamPerThread);
  if (error != cudaSuccess) {
    cudaEventDestroy(*event);
    return cuda_failed(comm, "cudaEventRecord", error);
  }
  return SEGC_OK;
}

static segc_status usable(const segc_comm *comm) {
  if (nccl_of(comm)->nccl == NULL)
    return SEGC_FAIL(SEGC_ERR_BACKEND,
                     "NCCL rank %d of %d: the communicator was aborted after "
                     "an earlier error",
                     comm->rank, comm->world_size);
  return SEGC_OK;
}

static segc_status nccl_broadcast(segc_comm *comm, void *data, size_t bytes) {
  SEGC_TRY(usable(comm));
  CHECK_NCCL(comm, "ncclBroadcast",
             ncclBroadcast(data, data, bytes, ncclUint8, 0, nccl_of(comm)->nccl,
                           cudaStreamPerThread));
  cudaEvent_t event;
  SEGC_TRY(record(comm, &event));
  return finish(comm, event, "ncclBroadcast");
}

static segc_status start_sum(segc_comm *comm, float *data, size_t count,
                             cudaEvent_t *event) {
  SEGC_TRY(usable(comm));
  CHECK_NCCL(comm, "ncclAllReduce",
             ncclAllReduce(data, data, count, ncclFloat32, ncclSum,
                           nccl_of(comm)->nccl, cudaStreamPerThread));
  return record(comm, event);
}

static segc_status nccl_allreduce(segc_comm *comm, void *data, size_t count,
                                  segc_comm_dtype dtype, segc_comm_op op) {
  if (dtype != SEGC_COMM_F32 || op != SEGC_COMM_SUM)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "NCCL rank %d: only f32 sums of GPU buffers are "
                     "all-reduced (metrics and flags go through host memory)",
                     comm->rank);
  cudaEvent_t event;
  SEGC_TRY(start_sum(comm, data, count, &event));
  return finish(comm, event, "ncclAllReduce");
}

static segc_status nccl_allreduce_start(segc_comm *comm, float *data,
                                        size_t count,
                                        segc_comm_request *request) {
  cudaEvent_t event;
  SEGC_TRY(start_sum(comm, data, count, &event));
  request->impl = event;
  return SEGC_OK;
}

static segc_status nccl_test(segc_comm_request *request, int *done) {
  const cudaError_t state = cudaEventQuery((cudaEvent_t)request->impl);
  if (state == cudaSuccess) *done = 1;
  else if (state != cudaErrorNotReady)
    return cuda_failed(request->comm, "cudaEventQuery", state);
  return SEGC_OK;
}

static segc_status nccl_wait(segc_comm_request *request) {
  return finish(request->comm, (cudaEvent_t)request->impl, "ncclAllReduce");
}

static void nccl_destroy(segc_comm *comm) {
  nccl_state *state = nccl_of(comm);
  if (state && state->nccl) {
    const ncclResult_t result = ncclCommDestroy(state->nccl);
    if (result != ncclSuccess)
      fprintf(stderr, "segc: rank %d: ncclCommDestroy: %s\n", comm->rank,
              ncclGetErrorString(result));
  }
  free(state);
  comm->device_impl = NULL;
}

static const segc_comm_ops nccl_ops = {
    .broadcast = nccl_broadcast,
    .allreduce = nccl_allreduce,
    .allreduce_start = nccl_allreduce_start,
    .test = nccl_test,
    .wait = nccl_wait,
    .destroy = nccl_destroy,
};

bool segc_comm_have_nccl(void) { return true; }

segc_status segc_comm_use_nccl(segc_comm *comm, int cuda_device) {
  if (comm->device_ops != NULL)
    return SEGC_FAIL(SEGC_ERR_INVALID, "segc_comm_use_nccl: called twice");
  int devices = 0;
  CHECK_CUDA(comm, "cudaGetDeviceCount", cudaGetDeviceCount(&devices));
  if (cuda_device < 0 || cuda_device >= devices)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "rank %d of %d: local rank %d has no GPU of its own (this "
                     "machine has %d): start at most one process per GPU",
                     comm->rank, comm->world_size, cuda_device, devices);
  CHECK_CUDA(comm, "cudaSetDevice", cudaSetDevice(cuda_device));
  // One process: nothing to exchange (the single ops are the identity).
  if (comm->kind == SEGC_COMM_SINGLE) return SEGC_OK;
  ncclUniqueId id;
  segc_status status = SEGC_OK;
  if (comm->rank == 0) {
    const ncclResult_t result = ncclGetUniqueId(&id);
    if (result != ncclSuccess) status = nccl_failed(comm, "ncclGetUniqueId", result);
  }
  // Every rank learns whether rank 0 has an id before waiting for it.
  int64_t failed = status != SEGC_OK;
  const segc_status agreed =
      comm->ops->allreduce(comm, &failed, 1, SEGC_COMM_I64, SEGC_COMM_MAX);
  if (agreed != SEGC_OK) return agreed;
  if (failed)
    return status != SEGC_OK
               ? status
               : SEGC_FAIL(SEGC_ERR_BACKEND, "NCCL: rank 0 could not make the "
                                             "unique id");
  SEGC_TRY(comm->ops->broadcast(comm, &id, sizeof id));
  nccl_state *state = calloc(1, sizeof *state);
  if (state == NULL)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "segc_comm_use_nccl: out of memory");
  state->device = cuda_device;
  const ncclResult_t joined =
      ncclCommInitRank(&state->nccl, comm->world_size, id, comm->rank);
  if (joined != ncclSuccess) {
    free(state);
    return nccl_failed(comm, "ncclCommInitRank", joined);
  }
  comm->device_impl = state;
  comm->device_ops = &nccl_ops;
  return SEGC_OK;
}

#else

bool segc_comm_device_buffer(const void *data) {
  (void)data;
  return false;
}

bool segc_comm_have_nccl(void) { return false; }

segc_status segc_comm_use_nccl(segc_comm *comm, int cuda_device) {
  (void)cuda_device;
  if (comm->kind == SEGC_COMM_SINGLE)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "GPU collectives: this build has no CUDA (SEGC_CUDA=OFF)");
  return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                   "GPU collectives: this build has no NCCL (a CUDA build "
                   "with MPI has it)");
}

#endif
