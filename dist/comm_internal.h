// What the communicator's implementations (comm_single.c, comm_mpi.c) share
// with its public calls (comm.c). Not for use outside dist/ and its tests.
#ifndef SEGC_DIST_COMM_INTERNAL_H
#define SEGC_DIST_COMM_INTERNAL_H

#include "dist/comm.h"

typedef enum { SEGC_COMM_F32, SEGC_COMM_F64, SEGC_COMM_I64 } segc_comm_dtype;

// One implementation. Arguments are already checked by comm.c.
typedef struct {
  segc_status (*broadcast)(segc_comm *comm, void *data, size_t bytes);
  segc_status (*allreduce)(segc_comm *comm, void *data, size_t count,
                           segc_comm_dtype dtype, segc_comm_op op);
  // Fills request->impl.
  segc_status (*allreduce_start)(segc_comm *comm, float *data, size_t count,
                                 segc_comm_request *request);
  segc_status (*test)(segc_comm_request *request, int *done);
  // Completes the request and frees request->impl (also on failure).
  segc_status (*wait)(segc_comm_request *request);
  segc_status (*barrier)(segc_comm *comm);
  // Ends every rank (does not return); the message is already printed.
  void (*abort)(segc_comm *comm, int exit_code);
  // Frees comm->impl.
  void (*destroy)(segc_comm *comm);
} segc_comm_ops;

struct segc_comm {
  const segc_comm_ops *ops;
  segc_comm_kind kind;
  int rank;
  int world_size;
  int local_rank;
  int local_size;
  double timeout_s;
  segc_comm_request *outstanding;  // started, not yet waited for (a list)
  void *impl;
  // Buffers in GPU memory (comm_nccl.c): NULL until segc_comm_use_nccl.
  // Only broadcast, allreduce (f32 sums), allreduce_start, test, wait and
  // destroy are set.
  const segc_comm_ops *device_ops;
  void *device_impl;
};

struct segc_comm_request {
  segc_comm *comm;
  const segc_comm_ops *ops;  // the implementation that started it
  segc_comm_request *next;   // in comm->outstanding
  void *impl;
};

extern const segc_comm_ops segc_comm_single_ops;

// Whether `data` is CUDA device memory (false in a build without NCCL).
bool segc_comm_device_buffer(const void *data);

// The world size a launcher announced in the environment: 0 when this
// process was not started by one, -1 when it was but the size is not known
// (PMIX_RANK alone). Fails on a malformed value, naming the variable.
segc_status segc_comm_launched_size(int *size);

// SEGC_COMM_TIMEOUT_S, or the default when unset. Fails on a malformed value.
segc_status segc_comm_timeout_from_env(double *timeout_s);

#ifdef SEGC_HAVE_MPI
// Initialises MPI (unless the program did) and fills comm (all but ops'
// callers' fields: kind, ranks, sizes, impl). comm->timeout_s is set.
segc_status segc_comm_mpi_init(segc_comm *comm);
#endif

#endif
