// The MPI communicator (built with SEGC_MPI): a duplicate of MPI_COMM_WORLD
// with MPI_ERRORS_RETURN, every call checked, and a watchdog thread that
// aborts the job when a call has waited longer than the timeout (comm.h).
#include <mpi.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dist/comm_internal.h"
#include "dist/comm_watchdog.h"

// MPI counts are int: longer buffers go in pieces of this many elements.
static const size_t kMaxPiece = (size_t)1 << 30;

typedef struct {
  segc_comm *comm;  // for the watchdog's message
  MPI_Comm mpi_comm;
  int owns_mpi;         // this communicator initialised MPI, so finalises it
  int thread_multiple;  // MPI_Abort may be called from the watchdog's thread
  atomic_int finalizing;
  segc_watchdog *watchdog;
} mpi_state;

typedef struct {
  int count;
  MPI_Request pieces[];
} mpi_request;

static mpi_state *state_of(const segc_comm *comm) { return comm->impl; }

static size_t piece_count(size_t count) {
  return count == 0 ? 1 : (count + kMaxPiece - 1) / kMaxPiece;
}

static segc_status mpi_failed(const segc_comm *comm, const char *call,
                              int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(rc, text, &length) != MPI_SUCCESS)
    snprintf(text, sizeof text, "MPI error code %d", rc);
  if (comm->world_size == 0)
    return SEGC_FAIL(SEGC_ERR_BACKEND, "MPI: %s failed: %s", call, text);
  return SEGC_FAIL(SEGC_ERR_BACKEND, "MPI rank %d of %d: %s failed: %s",
                   comm->rank, comm->world_size, call, text);
}

#define CHECK_MPI(comm, name, call)           \
  do {                                        \
    int rc_ = (call);                         \
    if (rc_ != MPI_SUCCESS)                   \
      return mpi_failed((comm), (name), rc_); \
  } while (0)

// A call that waits for other ranks, under the watchdog.
#define CHECK_MPI_WAIT(comm, name, call)                   \
  do {                                                     \
    segc_watchdog_enter(state_of(comm)->watchdog, (name)); \
    int rc_ = (call);                                      \
    segc_watchdog_leave(state_of(comm)->watchdog);         \
    if (rc_ != MPI_SUCCESS)                                \
      return mpi_failed((comm), (name), rc_);              \
  } while (0)

static void on_wait_expired(void *context, const char *call,
                            double waited_s) {
  mpi_state *state = context;
  fprintf(stderr,
          "segc: rank %d of %d: %s has waited %.1f s for the other ranks "
          "(SEGC_COMM_TIMEOUT_S=%g): another rank has died or hangs; "
          "aborting all ranks\n",
          state->comm->rank, state->comm->world_size, call, waited_s,
          state->comm->timeout_s);
  fflush(stderr);
  if (state->thread_multiple && !atomic_load(&state->finalizing))
    MPI_Abort(MPI_COMM_WORLD, SEGC_COMM_ABORT_CODE);
  // MPI may not be called from this thread (or is being finalised): a rank
  // that exits without MPI_Finalize makes the launcher end the job.
  _exit(SEGC_COMM_ABORT_CODE);
}

static MPI_Datatype mpi_type(segc_comm_dtype dtype) {
  switch (dtype) {
    case SEGC_COMM_F32: return MPI_FLOAT;
    case SEGC_COMM_F64: return MPI_DOUBLE;
    case SEGC_COMM_I64: return MPI_INT64_T;
  }
  return MPI_DATATYPE_NULL;
}

static size_t dtype_bytes(segc_comm_dtype dtype) {
  switch (dtype) {
    case SEGC_COMM_F32: return sizeof(float);
    case SEGC_COMM_F64: return sizeof(double);
    case SEGC_COMM_I64: return sizeof(int64_t);
  }
  return 0;
}

static MPI_Op mpi_op(segc_comm_op op) {
  switch (op) {
    case SEGC_COMM_SUM: return MPI_SUM;
    case SEGC_COMM_MIN: return MPI_MIN;
    case SEGC_COMM_MAX: return MPI_MAX;
  }
  return MPI_OP_NULL;
}

static segc_status mpi_broadcast(segc_comm *comm, void *data, size_t bytes) {
  char *at = data;
  for (size_t done = 0; done < bytes; done += kMaxPiece) {
    size_t piece = bytes - done < kMaxPiece ? bytes - done : kMaxPiece;
    CHECK_MPI_WAIT(comm, "MPI_Bcast",
                    MPI_Bcast(at + done, (int)piece, MPI_BYTE, 0,
                              state_of(comm)->mpi_comm));
  }
  return SEGC_OK;
}

static segc_status mpi_allreduce(segc_comm *comm, void *data, size_t count,
                                 segc_comm_dtype dtype, segc_comm_op op) {
  char *at = data;
  size_t element = dtype_bytes(dtype);
  for (size_t done = 0; done < count; done += kMaxPiece) {
    size_t piece = count - done < kMaxPiece ? count - done : kMaxPiece;
    CHECK_MPI_WAIT(comm, "MPI_Allreduce",
                    MPI_Allreduce(MPI_IN_PLACE, at + done * element,
                                  (int)piece, mpi_type(dtype), mpi_op(op),
                                  state_of(comm)->mpi_comm));
  }
  return SEGC_OK;
}

static segc_status wait_pieces(segc_comm *comm, mpi_request *pending) {
  CHECK_MPI_WAIT(comm, "MPI_Waitall (a non-blocking all-reduce)",
                  MPI_Waitall(pending->count, pending->pieces,
                              MPI_STATUSES_IGNORE));
  return SEGC_OK;
}

static segc_status mpi_allreduce_start(segc_comm *comm, float *data,
                                       size_t count,
                                       segc_comm_request *request) {
  size_t pieces = piece_count(count);
  mpi_request *pending =
      malloc(sizeof *pending + pieces * sizeof pending->pieces[0]);
  if (pending == NULL)
    return SEGC_FAIL(SEGC_ERR_NOMEM,
                     "segc_comm_allreduce_sum_f32_start: out of memory");
  pending->count = 0;
  for (size_t i = 0; i < pieces; i++) {
    size_t done = i * kMaxPiece;
    size_t piece = count - done < kMaxPiece ? count - done : kMaxPiece;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, data + done, (int)piece, MPI_FLOAT,
                            MPI_SUM, state_of(comm)->mpi_comm,
                            &pending->pieces[i]);
    if (rc != MPI_SUCCESS) {
      // A started collective cannot be cancelled: finish those first.
      if (pending->count > 0)
        (void)wait_pieces(comm, pending);
      free(pending);
      return mpi_failed(comm, "MPI_Iallreduce", rc);
    }
    pending->count++;
  }
  request->impl = pending;
  return SEGC_OK;
}

static segc_status mpi_test(segc_comm_request *request, int *done) {
  mpi_request *pending = request->impl;
  CHECK_MPI(request->comm, "MPI_Testall (a non-blocking all-reduce)",
          MPI_Testall(pending->count, pending->pieces, done,
                      MPI_STATUSES_IGNORE));
  return SEGC_OK;
}

static segc_status mpi_wait(segc_comm_request *request) {
  mpi_request *pending = request->impl;
  request->impl = NULL;
  segc_status status = wait_pieces(request->comm, pending);
  free(pending);
  return status;
}

static segc_status mpi_barrier(segc_comm *comm) {
  CHECK_MPI_WAIT(comm, "MPI_Barrier", MPI_Barrier(state_of(comm)->mpi_comm));
  return SEGC_OK;
}

static void mpi_abort(segc_comm *comm, int exit_code) {
  (void)comm;
  MPI_Abort(MPI_COMM_WORLD, exit_code);
}

static void report(const segc_comm *comm, const char *call, int rc) {
  if (rc != MPI_SUCCESS) {
    mpi_failed(comm, call, rc);
    fprintf(stderr, "segc: %s\n", segc_error_message());
  }
}

static void mpi_destroy(segc_comm *comm) {
  mpi_state *state = state_of(comm);
  report(comm, "MPI_Comm_free", MPI_Comm_free(&state->mpi_comm));
  if (state->owns_mpi) {
    // MPI_Finalize waits for the other ranks: still under the watchdog.
    atomic_store(&state->finalizing, 1);
    segc_watchdog_enter(state->watchdog, "MPI_Finalize");
    int rc = MPI_Finalize();
    segc_watchdog_leave(state->watchdog);
    report(comm, "MPI_Finalize", rc);
  }
  segc_watchdog_stop(state->watchdog);
  free(state);
  comm->impl = NULL;
}

static const segc_comm_ops mpi_ops = {
    .broadcast = mpi_broadcast,
    .allreduce = mpi_allreduce,
    .allreduce_start = mpi_allreduce_start,
    .test = mpi_test,
    .wait = mpi_wait,
    .barrier = mpi_barrier,
    .abort = mpi_abort,
    .destroy = mpi_destroy,
};

// Rank, size and the ranks on this machine; comm->impl is set.
static segc_status query_ranks(segc_comm *comm) {
  mpi_state *state = state_of(comm);
  int rank = 0, size = 0;
  CHECK_MPI(comm, "MPI_Comm_rank", MPI_Comm_rank(state->mpi_comm, &rank));
  CHECK_MPI(comm, "MPI_Comm_size", MPI_Comm_size(state->mpi_comm, &size));
  comm->rank = rank;
  comm->world_size = size;
  MPI_Comm local;
  CHECK_MPI_WAIT(comm, "MPI_Comm_split_type",
                  MPI_Comm_split_type(state->mpi_comm, MPI_COMM_TYPE_SHARED,
                                      rank, MPI_INFO_NULL, &local));
  int local_rank = 0, local_size = 0;
  int rc = MPI_Comm_rank(local, &local_rank);
  if (rc == MPI_SUCCESS)
    rc = MPI_Comm_size(local, &local_size);
  int free_rc = MPI_Comm_free(&local);
  CHECK_MPI(comm, "MPI_Comm_rank/MPI_Comm_size (this machine's ranks)", rc);
  CHECK_MPI(comm, "MPI_Comm_free", free_rc);
  comm->local_rank = local_rank;
  comm->local_size = local_size;
  return SEGC_OK;
}

// MPI is initialised; makes the duplicate communicator and the watchdog.
static segc_status set_up(segc_comm *comm, mpi_state *state) {
  if (state->owns_mpi)
    CHECK_MPI(comm, "MPI_Comm_set_errhandler(MPI_COMM_WORLD)",
            MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  CHECK_MPI(comm, "MPI_Comm_dup",
          MPI_Comm_dup(MPI_COMM_WORLD, &state->mpi_comm));
  int rc = MPI_Comm_set_errhandler(state->mpi_comm, MPI_ERRORS_RETURN);
  if (rc != MPI_SUCCESS) {
    MPI_Comm_free(&state->mpi_comm);
    return mpi_failed(comm, "MPI_Comm_set_errhandler", rc);
  }
  // The watchdog first, so that it already watches the first collective.
  if (comm->timeout_s > 0) {
    segc_status status = segc_watchdog_start(comm->timeout_s, on_wait_expired,
                                             state, &state->watchdog);
    if (status != SEGC_OK) {
      MPI_Comm_free(&state->mpi_comm);
      return status;
    }
  }
  segc_status status = query_ranks(comm);
  if (status != SEGC_OK) {
    segc_watchdog_stop(state->watchdog);
    MPI_Comm_free(&state->mpi_comm);
  }
  return status;
}

segc_status segc_comm_mpi_init(segc_comm *comm) {
  int initialized = 0, finalized = 0;
  CHECK_MPI(comm, "MPI_Initialized", MPI_Initialized(&initialized));
  CHECK_MPI(comm, "MPI_Finalized", MPI_Finalized(&finalized));
  if (finalized)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "MPI was already finalised in this process: no "
                     "communicator can be made");
  mpi_state *state = calloc(1, sizeof *state);
  if (state == NULL)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "communicator: out of memory");
  state->comm = comm;
  atomic_init(&state->finalizing, 0);
  int provided = MPI_THREAD_SINGLE;
  int rc = initialized
               ? MPI_Query_thread(&provided)
               : MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
  if (rc != MPI_SUCCESS) {
    free(state);
    return mpi_failed(comm, initialized ? "MPI_Query_thread"
                                        : "MPI_Init_thread",
                      rc);
  }
  state->owns_mpi = !initialized;
  state->thread_multiple = provided >= MPI_THREAD_MULTIPLE;
  comm->impl = state;
  comm->ops = &mpi_ops;
  comm->kind = SEGC_COMM_MPI;
  // On failure MPI stays initialised: MPI_Finalize would wait for ranks
  // that may never reach it, and the program is about to exit non-zero,
  // which makes the launcher end the job.
  segc_status status = set_up(comm, state);
  if (status != SEGC_OK) {
    free(state);
    comm->impl = NULL;
  }
  return status;
}
