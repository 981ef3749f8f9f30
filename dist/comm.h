// The communicator data-parallel training and evaluation go through: one
// process per device, ranks 0..world_size-1, collectives over host buffers.
//
// Two implementations behind one interface:
// - single process (world size 1): no MPI at run time, every collective is
//   the identity; used when the program was not started by a launcher.
// - MPI: when started by mpirun (or another PMI/PMIx launcher) in a build
//   with SEGC_MPI. A build without MPI refuses a launch of more than one
//   process with "this build has no MPI".
// On GPUs, segc_comm_use_nccl adds NCCL for buffers in GPU memory (the
// gradients, the weights and optimizer state broadcast at start); host
// buffers (metrics, flags) still go through MPI. Same calls either way: the
// buffer's memory decides.
//
// Every call is collective unless it says otherwise: all ranks make the same
// calls in the same order with the same counts. Only the thread that created
// the communicator calls it. Failures return a segc_status with the message
// naming the call, the rank and MPI's own error text.
//
// Failure bound: a rank that dies or hangs must not leave the others waiting
// for ever. Every call that can wait for other ranks (the collectives,
// segc_comm_wait, segc_comm_barrier) is watched: when one has been waiting
// longer than the timeout, a watchdog thread prints
//   segc: rank R of N: <call> has waited T s for the other ranks ...
// and aborts the whole job (MPI_Abort, exit code 3). The timeout is
// SEGC_COMM_TIMEOUT_S seconds (default 300, a positive number, fractions
// allowed; 0 turns the watchdog off). So the surviving ranks stop at most
// timeout + 1 s after they next communicate (the watchdog looks every
// min(timeout / 8, 1 s)); in training that is within one step (a step's
// gradient all-reduce) plus the timeout. A rank killed outright is usually
// noticed sooner by mpirun itself, which then ends the job.
// The timeout counts only time spent waiting inside these calls, never the
// computation between segc_comm_allreduce_sum_f32_start and segc_comm_wait,
// so it need not exceed a training step, only the longest time a rank can
// wait for the slowest one (e.g. a rank still loading its first batch).
#ifndef SEGC_DIST_COMM_H
#define SEGC_DIST_COMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct segc_comm segc_comm;
typedef struct segc_comm_request segc_comm_request;

typedef enum {
  SEGC_COMM_SINGLE,  // one process, no MPI
  SEGC_COMM_MPI
} segc_comm_kind;

typedef enum { SEGC_COMM_SUM, SEGC_COMM_MIN, SEGC_COMM_MAX } segc_comm_op;

// The default of SEGC_COMM_TIMEOUT_S.
#define SEGC_COMM_DEFAULT_TIMEOUT_S 300.0
// The exit code of a job the watchdog or segc_comm_abort ends.
#define SEGC_COMM_ABORT_CODE 3

// Whether this build has MPI (SEGC_MPI): without it only one process runs.
bool segc_comm_have_mpi(void);

// Creates the communicator from the environment: MPI when a launcher started
// this process (OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE set), initialising
// MPI unless the program already did (then it is left initialised at free);
// otherwise a single process. Reads SEGC_COMM_TIMEOUT_S. Not collective for
// the single process; collective over all launched processes for MPI.
segc_status segc_comm_create(segc_comm **out);
// A single-process communicator whatever the environment says.
segc_status segc_comm_create_single(segc_comm **out);
// Frees the communicator (MPI_Finalize when it initialised MPI). NULL is
// accepted. Requests still outstanding are a bug: they are waited for first.
void segc_comm_free(segc_comm *comm);

// Not collective.
segc_comm_kind segc_comm_get_kind(const segc_comm *comm);
int segc_comm_rank(const segc_comm *comm);
int segc_comm_world_size(const segc_comm *comm);
// The rank among the processes of this machine (the device index on GPUs)
// and how many there are (MPI_Comm_split_type, MPI_COMM_TYPE_SHARED).
int segc_comm_local_rank(const segc_comm *comm);
int segc_comm_local_size(const segc_comm *comm);
// The watchdog's timeout in seconds (0: off).
double segc_comm_timeout_s(const segc_comm *comm);

// Copies `bytes` bytes of rank 0's buffer into every rank's buffer.
segc_status segc_comm_broadcast(segc_comm *comm, void *data, size_t bytes);

// In place: every rank ends with the element-wise sum over ranks. Sums are
// computed by MPI in an order that is the same on every rank, so all ranks
// hold identical results.
segc_status segc_comm_allreduce_sum_f32(segc_comm *comm, float *data,
                                        size_t count);
// In place, element-wise sum, min or max of small arrays (metrics, flags).
segc_status segc_comm_allreduce_f64(segc_comm *comm, double *data,
                                    size_t count, segc_comm_op op);
segc_status segc_comm_allreduce_i64(segc_comm *comm, int64_t *data,
                                    size_t count, segc_comm_op op);

// Non-blocking in-place sum of a f32 bucket: starts it and returns a request;
// `data` must stay untouched until segc_comm_wait returns. Several may be in
// flight; every rank starts them in the same order. OpenMPI moves a
// non-blocking collective forward only inside MPI calls: call segc_comm_test
// now and then (e.g. between backward ops) for the transfer to overlap work.
segc_status segc_comm_allreduce_sum_f32_start(segc_comm *comm, float *data,
                                              size_t count,
                                              segc_comm_request **out);
// Not collective: *done = 1 when the request has completed (it still needs
// segc_comm_wait), 0 otherwise.
segc_status segc_comm_test(segc_comm_request *request, int *done);
// Waits for the request, frees it and sets *request to NULL (also on
// failure). A NULL *request is accepted.
segc_status segc_comm_wait(segc_comm_request **request);

segc_status segc_comm_barrier(segc_comm *comm);

// GPU buffers (dist/comm_nccl.c). Whether this build has NCCL (a CUDA build
// with MPI).
bool segc_comm_have_nccl(void);
// Collective: selects this rank's GPU (cudaSetDevice(cuda_device), so call
// it before any device memory is allocated; on GPUs the device is the local
// rank) and, for several processes, starts NCCL: rank 0 makes the unique id,
// MPI broadcasts it, every rank joins. From then on segc_comm_broadcast,
// segc_comm_allreduce_sum_f32 and segc_comm_allreduce_sum_f32_start on
// buffers in GPU memory are NCCL collectives on cudaStreamPerThread (they
// follow the kernels queued before them; a wait returns when the result is
// in memory); host buffers still go through MPI. Waits are bounded by
// SEGC_COMM_TIMEOUT_S as above, and NCCL's asynchronous errors are checked
// while waiting. Fails with a clear message without a GPU, with a local rank
// that has no GPU of its own, or in a build without NCCL.
segc_status segc_comm_use_nccl(segc_comm *comm, int cuda_device);

// Not collective: prints "segc: rank R of N: <message>; aborting all ranks"
// to stderr and ends every rank of the job with `exit_code` (MPI_Abort; exit
// for the single process).
_Noreturn void segc_comm_abort(segc_comm *comm, int exit_code,
                               const char *message);

#endif
