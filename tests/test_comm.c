// The communicator without mpirun (dist/comm.h): the single-process
// implementation, the environment it reads (launcher sizes, the watchdog's
// SEGC_COMM_TIMEOUT_S), the argument checks, abort's message and exit code,
// and the watchdog itself with a small bound. The multi-process checks are
// test_comm_mpi.c (label mpi).
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/cuda_runtime.h"
#include "dist/comm.h"
#include "dist/comm_internal.h"
#include "dist/comm_watchdog.h"
#include "util/test_util.h"

static void clear_launcher_environment(void) {
  unsetenv("OMPI_COMM_WORLD_SIZE");
  unsetenv("PMI_SIZE");
  unsetenv("PMIX_RANK");
  unsetenv("SEGC_COMM_TIMEOUT_S");
}

static void sleep_seconds(double seconds) {
  struct timespec pause = {.tv_sec = (time_t)seconds,
                           .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
  while (nanosleep(&pause, &pause) != 0) {
  }
}

static int check_single_collectives(void) {
  segc_comm *comm = NULL;
  CHECK_OK(segc_comm_create(&comm));
  CHECK(segc_comm_get_kind(comm) == SEGC_COMM_SINGLE, "single without mpirun");
  CHECK(segc_comm_rank(comm) == 0 && segc_comm_world_size(comm) == 1,
        "rank %d of %d", segc_comm_rank(comm), segc_comm_world_size(comm));
  CHECK(segc_comm_local_rank(comm) == 0 && segc_comm_local_size(comm) == 1,
        "local rank %d of %d", segc_comm_local_rank(comm),
        segc_comm_local_size(comm));
  CHECK(segc_comm_timeout_s(comm) == SEGC_COMM_DEFAULT_TIMEOUT_S,
        "default timeout %g", segc_comm_timeout_s(comm));

  unsigned char bytes[5] = {1, 2, 3, 4, 5};
  CHECK_OK(segc_comm_broadcast(comm, bytes, sizeof bytes));
  CHECK(bytes[0] == 1 && bytes[4] == 5, "broadcast keeps rank 0's bytes");
  float grads[3] = {0.5f, -1.25f, 3.0f};
  CHECK_OK(segc_comm_allreduce_sum_f32(comm, grads, 3));
  CHECK(grads[0] == 0.5f && grads[1] == -1.25f && grads[2] == 3.0f,
        "the sum over one rank is the value");
  double metrics[2] = {0.75, 2.0};
  CHECK_OK(segc_comm_allreduce_f64(comm, metrics, 2, SEGC_COMM_MAX));
  CHECK(metrics[0] == 0.75 && metrics[1] == 2.0, "f64 max over one rank");
  int64_t flags[1] = {1};
  CHECK_OK(segc_comm_allreduce_i64(comm, flags, 1, SEGC_COMM_MIN));
  CHECK(flags[0] == 1, "i64 min over one rank");

  segc_comm_request *first = NULL, *second = NULL;
  CHECK_OK(segc_comm_allreduce_sum_f32_start(comm, grads, 2, &first));
  CHECK_OK(segc_comm_allreduce_sum_f32_start(comm, grads + 2, 1, &second));
  int done = 0;
  CHECK_OK(segc_comm_test(second, &done));
  CHECK(done == 1, "a single-process request is done at once");
  CHECK_OK(segc_comm_wait(&second));
  CHECK(second == NULL, "wait clears the request");
  CHECK_OK(segc_comm_wait(&second));  // NULL is accepted
  CHECK_OK(segc_comm_barrier(comm));
  CHECK(grads[0] == 0.5f && grads[2] == 3.0f, "buckets unchanged");

  CHECK_FAILS(segc_comm_broadcast(comm, NULL, 4), SEGC_ERR_INVALID,
              "segc_comm_broadcast: the buffer is NULL for 4");
  CHECK_FAILS(segc_comm_allreduce_sum_f32(comm, NULL, 2), SEGC_ERR_INVALID,
              "segc_comm_allreduce_sum_f32: the buffer is NULL");
  CHECK_FAILS(segc_comm_allreduce_f64(comm, metrics, 2, (segc_comm_op)7),
              SEGC_ERR_INVALID, "unknown reduction 7");
  segc_comm_request *never = NULL;
  CHECK_FAILS(segc_comm_allreduce_sum_f32_start(comm, NULL, 3, &never),
              SEGC_ERR_INVALID, "the buffer is NULL");
  CHECK(never == NULL, "no request on failure");
  CHECK_OK(segc_comm_broadcast(comm, NULL, 0));  // empty is fine

  // `first` is still outstanding: free waits for it (and says so).
  segc_comm_free(comm);
  segc_comm_free(NULL);
  (void)first;
  return 0;
}

static int check_environment(void) {
  segc_comm *comm = NULL;
  setenv("SEGC_COMM_TIMEOUT_S", "2.5", 1);
  CHECK_OK(segc_comm_create(&comm));
  CHECK(segc_comm_timeout_s(comm) == 2.5, "timeout %g", segc_comm_timeout_s(comm));
  segc_comm_free(comm);
  setenv("SEGC_COMM_TIMEOUT_S", "0", 1);
  CHECK_OK(segc_comm_create_single(&comm));
  CHECK(segc_comm_timeout_s(comm) == 0, "0 turns the watchdog off");
  segc_comm_free(comm);
  const char *bad_timeouts[] = {"abc", "-1", "", "5s", "nan", "1e9"};
  for (size_t i = 0; i < sizeof bad_timeouts / sizeof *bad_timeouts; i++) {
    setenv("SEGC_COMM_TIMEOUT_S", bad_timeouts[i], 1);
    comm = (segc_comm *)&comm;  // must be reset to NULL
    CHECK_FAILS(segc_comm_create(&comm), SEGC_ERR_INVALID,
                "SEGC_COMM_TIMEOUT_S=");
    CHECK(comm == NULL, "no communicator for '%s'", bad_timeouts[i]);
  }
  unsetenv("SEGC_COMM_TIMEOUT_S");

  int size = 99;
  CHECK_OK(segc_comm_launched_size(&size));
  CHECK(size == 0, "no launcher: %d", size);
  setenv("PMI_SIZE", "4", 1);
  CHECK_OK(segc_comm_launched_size(&size));
  CHECK(size == 4, "PMI_SIZE: %d", size);
  unsetenv("PMI_SIZE");
  setenv("PMIX_RANK", "0", 1);
  CHECK_OK(segc_comm_launched_size(&size));
  CHECK(size == -1, "PMIX_RANK alone: size unknown (%d)", size);
  unsetenv("PMIX_RANK");
  setenv("OMPI_COMM_WORLD_SIZE", "two", 1);
  CHECK_FAILS(segc_comm_launched_size(&size), SEGC_ERR_INVALID,
              "OMPI_COMM_WORLD_SIZE=two");
  CHECK_FAILS(segc_comm_create(&comm), SEGC_ERR_INVALID,
              "OMPI_COMM_WORLD_SIZE=two");
  setenv("OMPI_COMM_WORLD_SIZE", "0", 1);
  CHECK_FAILS(segc_comm_launched_size(&size), SEGC_ERR_INVALID,
              "OMPI_COMM_WORLD_SIZE=0");
#ifndef SEGC_HAVE_MPI
  // Without MPI a launch of several processes is refused; one is fine.
  setenv("OMPI_COMM_WORLD_SIZE", "3", 1);
  CHECK_FAILS(segc_comm_create(&comm), SEGC_ERR_UNSUPPORTED,
              "this build has no MPI");
  setenv("OMPI_COMM_WORLD_SIZE", "1", 1);
  CHECK_OK(segc_comm_create(&comm));
  CHECK(segc_comm_world_size(comm) == 1, "mpirun -np 1 without MPI");
  segc_comm_free(comm);
  unsetenv("OMPI_COMM_WORLD_SIZE");
  setenv("PMIX_RANK", "0", 1);
  CHECK_FAILS(segc_comm_create(&comm), SEGC_ERR_UNSUPPORTED,
              "this build has no MPI");
  unsetenv("PMIX_RANK");
#else
  printf("comm: built with MPI: the no-MPI refusal is checked in a build "
         "with -DSEGC_MPI=OFF\n");
#endif
  unsetenv("OMPI_COMM_WORLD_SIZE");
  return 0;
}

typedef struct {
  atomic_int fired;
  const char *_Atomic call;
  _Atomic double waited_s;
} expiry_record;

static void record_expiry(void *context, const char *call, double waited_s) {
  expiry_record *record = context;
  atomic_store(&record->call, call);
  atomic_store(&record->waited_s, waited_s);
  atomic_fetch_add(&record->fired, 1);
}

static int check_watchdog(void) {
  expiry_record record;
  atomic_init(&record.fired, 0);
  atomic_init(&record.call, NULL);
  atomic_init(&record.waited_s, 0.0);
  segc_watchdog *dog = NULL;
  CHECK_FAILS(segc_watchdog_start(0, record_expiry, &record, &dog),
              SEGC_ERR_INVALID, "positive");
  const double timeout_s = 0.2;
  CHECK_OK(segc_watchdog_start(timeout_s, record_expiry, &record, &dog));

  // Short waits are never reported.
  for (int i = 0; i < 5; i++) {
    segc_watchdog_enter(dog, "short wait");
    sleep_seconds(0.02);
    segc_watchdog_leave(dog);
  }
  sleep_seconds(0.4);
  CHECK(atomic_load(&record.fired) == 0, "short waits reported %d times",
        atomic_load(&record.fired));

  // A long wait is reported once, soon after the timeout.
  segc_watchdog_enter(dog, "long wait");
  for (int i = 0; i < 500 && atomic_load(&record.fired) == 0; i++)
    sleep_seconds(0.01);
  sleep_seconds(0.3);  // more polls: still reported only once
  segc_watchdog_leave(dog);
  CHECK(atomic_load(&record.fired) == 1, "the long wait reported %d times",
        atomic_load(&record.fired));
  const char *call = atomic_load(&record.call);
  CHECK(call != NULL && strcmp(call, "long wait") == 0, "names the call: %s",
        call ? call : "(none)");
  double waited = atomic_load(&record.waited_s);
  CHECK(waited >= timeout_s && waited < timeout_s + 4.0,
        "reported after %.3f s for a %.1f s bound", waited, timeout_s);

  // The next long wait is a new one: reported again.
  segc_watchdog_enter(dog, "second long wait");
  for (int i = 0; i < 500 && atomic_load(&record.fired) == 1; i++)
    sleep_seconds(0.01);
  segc_watchdog_leave(dog);
  CHECK(atomic_load(&record.fired) == 2, "the second wait reported (%d)",
        atomic_load(&record.fired));
  segc_watchdog_stop(dog);
  segc_watchdog_stop(NULL);
  segc_watchdog_enter(NULL, "nothing");
  segc_watchdog_leave(NULL);
  return 0;
}

// segc_comm_abort prints the rank and the message and exits with the code.
static int check_abort(void) {
  int pipe_ends[2];
  CHECK(pipe(pipe_ends) == 0, "pipe");
  fflush(stdout);  // the child's exit must not print this buffer again
  pid_t child = fork();
  CHECK(child >= 0, "fork");
  if (child < 0)
    return 0;
  if (child == 0) {
    close(pipe_ends[0]);
    if (dup2(pipe_ends[1], STDERR_FILENO) < 0)
      _exit(100);
    segc_comm *comm = NULL;
    if (segc_comm_create_single(&comm) != SEGC_OK)
      _exit(101);
    segc_comm_abort(comm, 5, "checkpoint folder vanished");
  }
  close(pipe_ends[1]);
  char text[512] = {0};
  size_t used = 0;
  ssize_t got;
  while (used < sizeof text - 1 &&
         (got = read(pipe_ends[0], text + used, sizeof text - 1 - used)) > 0)
    used += (size_t)got;
  close(pipe_ends[0]);
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child, "waitpid");
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 5,
        "abort exits with its code (status %d)", status);
  CHECK(test_contains(text, "segc: rank 0 of 1: checkpoint folder vanished; "
                            "aborting all ranks"),
        "abort's message: '%s'", text);
  return 0;
}

// GPU collectives (dist/comm_nccl.c): present exactly in a CUDA build with
// MPI; a host buffer is never taken for a GPU one; without a GPU (or
// without NCCL) asking for them is a clear refusal, never a crash. On a
// machine with a GPU the single process selects it and needs no NCCL.
static int check_nccl(void) {
#if defined(SEGC_HAVE_CUDA) && defined(SEGC_HAVE_MPI)
  CHECK(segc_comm_have_nccl(), "a CUDA build with MPI has NCCL");
#else
  CHECK(!segc_comm_have_nccl(), "no NCCL without CUDA and MPI");
#endif
  float host[4] = {1, 2, 3, 4};
  segc_comm *comm = NULL;
  CHECK_OK(segc_comm_create_single(&comm));
  if (!comm) return 1;
  int gpus = 0;
  const bool have_gpu = segc_comm_have_nccl() &&
                        segc_cuda_device_count(&gpus) == SEGC_OK && gpus > 0;
  segc_clear_error();
  const segc_status status = segc_comm_use_nccl(comm, 0);
  if (have_gpu) {
    CHECK_OK(status);
  } else {
    CHECK(status != SEGC_OK, "GPU collectives refused without a GPU");
    printf("comm: without a GPU: %s\n", segc_error_message());
    CHECK(strstr(segc_error_message(), "CUDA") ||
              strstr(segc_error_message(), "NCCL") ||
              strstr(segc_error_message(), "GPU"),
          "the refusal names CUDA, NCCL or the GPU: %s", segc_error_message());
  }
  // Host memory keeps going through the host implementation.
  CHECK_OK(segc_comm_allreduce_sum_f32(comm, host, 4));
  CHECK(host[0] == 1 && host[3] == 4, "world 1 sum is the identity");
  segc_comm_free(comm);
  return test_failures != 0;
}

int main(void) {
  clear_launcher_environment();
  if (check_single_collectives() != 0 || check_environment() != 0 ||
      check_watchdog() != 0 || check_abort() != 0 || check_nccl() != 0)
    return test_finish_failed();
  return test_finish("comm");
}
