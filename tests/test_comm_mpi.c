// The MPI communicator (dist/comm.h) under mpirun, label mpi. Run by ctest
// without arguments, this program starts itself under
//   mpirun -np 2 and -np 3: rank, world size, local rank, broadcast, the
//     all-reduces (sums of small integers in f32, compared bit for bit;
//     random f32 sums identical on every rank; f64/i64 sum, min, max), and
//     several non-blocking bucket all-reduces in flight at once;
//   an MPI error (ranks disagreeing about a broadcast's size) returned as a
//     status with MPI's text, naming the rank;
//   the failure bound: with SEGC_COMM_TIMEOUT_S=2 one rank sleeps (or is
//     killed) before an all-reduce, and the job must end non-zero within the
//     bound plus a margin, the watchdog's message naming the waiting rank.
// Skipped (exit 77) without MPI in the build or without mpirun on PATH.
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/parallel.h"
#include "dist/comm.h"
#include "util/test_util.h"

// The watchdog's bound in the failure runs, and what the job may take
// beyond it (starting 3 ranks on a busy 2-core machine, MPI_Abort).
static const double kTestTimeoutS = 2.0;
static const double kMarginS = 20.0;
// A rank that hangs sleeps much longer than bound + margin.
static const unsigned kHangS = 90;

// ---- the ranks' side ----

static int rank_failures(int rank, int size) {
  if (test_failures > 0)
    fprintf(stderr, "comm_mpi worker: rank %d of %d: %d checks failed\n", rank,
            size, test_failures);
  return test_failures > 0;
}

static void check_broadcast(segc_comm *comm, int rank) {
  enum { kBytes = 1000 };
  unsigned char bytes[kBytes];
  for (int i = 0; i < kBytes; i++)
    bytes[i] = rank == 0 ? (unsigned char)(i * 7 + 3) : 0xAA;
  segc_status status = segc_comm_broadcast(comm, bytes, kBytes);
  CHECK(status == SEGC_OK, "rank %d: broadcast: %s", rank, segc_error_message());
  int wrong = 0;
  for (int i = 0; i < kBytes; i++)
    wrong += bytes[i] != (unsigned char)(i * 7 + 3);
  CHECK(wrong == 0, "rank %d: %d bytes differ from rank 0's", rank, wrong);
  CHECK(segc_comm_broadcast(comm, bytes, 0) == SEGC_OK, "rank %d: empty", rank);
}

// Sums of small integers are exact in f32 whatever the order: the result
// must equal the expected value bit for bit.
static float small_integer(int rank, size_t i) {
  return (float)((rank + 1) * (int)(i % 11)) - (float)(i % 5);
}

static float small_integer_sum(int size, size_t i) {
  return (float)((int)(i % 11) * size * (size + 1) / 2) -
         (float)(size * (int)(i % 5));
}

static int count_unexpected_sums(const float *x, size_t from, size_t n,
                                 int size) {
  int wrong = 0;
  for (size_t i = from; i < from + n; i++) {
    float expected = small_integer_sum(size, i);
    wrong += memcmp(&x[i], &expected, sizeof expected) != 0;
  }
  return wrong;
}

static void check_allreduce_f32(segc_comm *comm, int rank, int size) {
  const size_t n = 100003;
  float *x = malloc(n * sizeof *x);
  float *from_rank0 = malloc(n * sizeof *from_rank0);
  CHECK(x != NULL && from_rank0 != NULL, "memory");
  if (x == NULL || from_rank0 == NULL) {
    free(x);
    free(from_rank0);
    return;
  }
  for (size_t i = 0; i < n; i++)
    x[i] = small_integer(rank, i);
  CHECK(segc_comm_allreduce_sum_f32(comm, x, n) == SEGC_OK,
        "rank %d: all-reduce: %s", rank, segc_error_message());
  int wrong = count_unexpected_sums(x, 0, n, size);
  CHECK(wrong == 0, "rank %d: %d of %zu sums differ from the expected bits",
        rank, wrong, n);

  // Rounded sums: every rank must hold the same bits (one model on all).
  uint64_t state = 0x9E3779B97F4A7C15ull * (uint64_t)(rank + 1);
  for (size_t i = 0; i < n; i++) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = (float)((double)(state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
  }
  CHECK(segc_comm_allreduce_sum_f32(comm, x, n) == SEGC_OK,
        "rank %d: all-reduce: %s", rank, segc_error_message());
  memcpy(from_rank0, x, n * sizeof *x);
  CHECK(segc_comm_broadcast(comm, from_rank0, n * sizeof *x) == SEGC_OK,
        "rank %d: broadcast: %s", rank, segc_error_message());
  CHECK(memcmp(from_rank0, x, n * sizeof *x) == 0,
        "rank %d: the all-reduced sums differ from rank 0's", rank);
  free(x);
  free(from_rank0);
}

static void check_allreduce_small(segc_comm *comm, int rank, int size) {
  double sum[2] = {rank + 0.5, -rank}, lo[2] = {rank + 0.5, -rank},
         hi[2] = {rank + 0.5, -rank};
  CHECK(segc_comm_allreduce_f64(comm, sum, 2, SEGC_COMM_SUM) == SEGC_OK &&
            segc_comm_allreduce_f64(comm, lo, 2, SEGC_COMM_MIN) == SEGC_OK &&
            segc_comm_allreduce_f64(comm, hi, 2, SEGC_COMM_MAX) == SEGC_OK,
        "rank %d: f64 all-reduce: %s", rank, segc_error_message());
  double rank_sum = size * (size - 1) / 2.0;
  CHECK(sum[0] == rank_sum + 0.5 * size && sum[1] == -rank_sum,
        "rank %d: f64 sums %g %g", rank, sum[0], sum[1]);
  CHECK(lo[0] == 0.5 && lo[1] == -(size - 1), "rank %d: f64 min %g %g", rank,
        lo[0], lo[1]);
  CHECK(hi[0] == size - 0.5 && hi[1] == 0, "rank %d: f64 max %g %g", rank,
        hi[0], hi[1]);

  // A finite flag that is 0 on the last rank only: min says "skip" on all.
  int64_t finite[3] = {rank == size - 1 ? 0 : 1, rank, (int64_t)1 << 40};
  int64_t most[3], total[3];
  memcpy(most, finite, sizeof finite);
  memcpy(total, finite, sizeof finite);
  CHECK(segc_comm_allreduce_i64(comm, finite, 3, SEGC_COMM_MIN) == SEGC_OK &&
            segc_comm_allreduce_i64(comm, most, 3, SEGC_COMM_MAX) == SEGC_OK &&
            segc_comm_allreduce_i64(comm, total, 3, SEGC_COMM_SUM) == SEGC_OK,
        "rank %d: i64 all-reduce: %s", rank, segc_error_message());
  CHECK(finite[0] == 0 && finite[1] == 0, "rank %d: i64 min %lld %lld", rank,
        (long long)finite[0], (long long)finite[1]);
  CHECK(most[0] == 1 && most[1] == size - 1, "rank %d: i64 max", rank);
  CHECK(total[0] == size - 1 && total[1] == (int64_t)rank_sum &&
            total[2] == (int64_t)size << 40,
        "rank %d: i64 sums %lld %lld %lld", rank, (long long)total[0],
        (long long)total[1], (long long)total[2]);
}

// Buckets of one flat gradient buffer, all in flight, waited out of order.
static void check_buckets(segc_comm *comm, int rank, int size) {
  enum { kBuckets = 4 };
  const size_t lengths[kBuckets] = {1, 1000, 65537, 3};
  size_t total = 0;
  for (int b = 0; b < kBuckets; b++)
    total += lengths[b];
  float *grads = malloc(total * sizeof *grads);
  CHECK(grads != NULL, "memory");
  if (grads == NULL)
    return;
  for (int round = 0; round < 2; round++) {
    for (size_t i = 0; i < total; i++)
      grads[i] = small_integer(rank, i);
    segc_comm_request *requests[kBuckets] = {NULL};
    size_t offset = 0;
    for (int b = 0; b < kBuckets; b++) {
      CHECK(segc_comm_allreduce_sum_f32_start(comm, grads + offset, lengths[b],
                                              &requests[b]) == SEGC_OK,
            "rank %d: start bucket %d: %s", rank, b, segc_error_message());
      offset += lengths[b];
    }
    int done = 0;
    for (int poll = 0; poll < 100 && !done; poll++)
      CHECK(segc_comm_test(requests[0], &done) == SEGC_OK, "rank %d: test: %s",
            rank, segc_error_message());
    for (int b = kBuckets - 1; b >= 0; b--) {
      CHECK(segc_comm_wait(&requests[b]) == SEGC_OK,
            "rank %d: wait bucket %d: %s", rank, b, segc_error_message());
      CHECK(requests[b] == NULL, "rank %d: wait clears the request", rank);
    }
    int wrong = count_unexpected_sums(grads, 0, total, size);
    CHECK(wrong == 0, "rank %d round %d: %d bucket sums wrong", rank, round,
          wrong);
  }
  free(grads);
}

static int run_rank(const char *mode, int expected_size) {
  segc_comm *comm = NULL;
  if (segc_comm_create(&comm) != SEGC_OK) {
    fprintf(stderr, "comm_mpi worker: %s\n", segc_error_message());
    return 1;
  }
  int rank = segc_comm_rank(comm), size = segc_comm_world_size(comm);
  CHECK(segc_comm_get_kind(comm) == SEGC_COMM_MPI, "rank %d: MPI kind", rank);
  CHECK(size == expected_size, "world size %d, launched %d", size,
        expected_size);
  CHECK(rank >= 0 && rank < size, "rank %d of %d", rank, size);
  // One machine: every rank is local, in world order.
  CHECK(segc_comm_local_size(comm) == size && segc_comm_local_rank(comm) == rank,
        "rank %d: local rank %d of %d", rank, segc_comm_local_rank(comm),
        segc_comm_local_size(comm));
  const char *ompi_local = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  if (ompi_local != NULL)
    CHECK(atoi(ompi_local) == segc_comm_local_rank(comm),
          "rank %d: local rank %d, mpirun says %s", rank,
          segc_comm_local_rank(comm), ompi_local);

  if (strcmp(mode, "--hang") == 0 || strcmp(mode, "--die") == 0) {
    CHECK(segc_comm_timeout_s(comm) == kTestTimeoutS, "timeout %g",
          segc_comm_timeout_s(comm));
    CHECK(segc_comm_barrier(comm) == SEGC_OK, "rank %d: barrier", rank);
    if (rank == size - 1) {
      if (strcmp(mode, "--die") == 0)
        raise(SIGKILL);
      sleep(kHangS);
    }
    float grad = 1.0f;
    segc_status status = segc_comm_allreduce_sum_f32(comm, &grad, 1);
    fprintf(stderr,
            "comm_mpi worker: rank %d: the all-reduce returned (%s) although "
            "rank %d never joined\n",
            rank, status == SEGC_OK ? "ok" : segc_error_message(), size - 1);
    segc_comm_free(comm);
    return 1;
  }

  if (strcmp(mode, "--mismatch") == 0) {
    // Ranks that disagree about a size: MPI's error comes back as a status.
    unsigned char bytes[1000] = {0};
    size_t bytes_here = rank == 0 ? sizeof bytes : 10;
    segc_status status = segc_comm_broadcast(comm, bytes, bytes_here);
    if (rank != 0) {
      char expected[64];
      snprintf(expected, sizeof expected, "MPI rank %d of %d: MPI_Bcast failed",
               rank, size);
      CHECK(status == SEGC_ERR_BACKEND &&
                test_contains(segc_error_message(), expected),
            "rank %d: status %d, message '%s'", rank, (int)status,
            segc_error_message());
      printf("comm_mpi worker: rank %d reported: %s\n", rank,
             segc_error_message());
    }
    fflush(stdout);
    int failed = rank_failures(rank, size);
    segc_comm_free(comm);
    return failed;
  }

  check_broadcast(comm, rank);
  check_allreduce_f32(comm, rank, size);
  check_allreduce_small(comm, rank, size);
  check_buckets(comm, rank, size);
  CHECK(segc_comm_barrier(comm) == SEGC_OK, "rank %d: barrier: %s", rank,
        segc_error_message());
  int failed = rank_failures(rank, size);
  if (!failed)
    printf("comm_mpi worker: rank %d of %d ok\n", rank, size);
  fflush(stdout);
  segc_comm_free(comm);
  return failed;
}

// ---- the driver's side ----

typedef struct {
  int exited;     // 1 when mpirun ended by itself
  int exit_code;  // its exit code, or 128 + signal
  double seconds;
  char output[65536];
} job_result;

// Runs mpirun -np `ranks` on this program with `mode`; kills it (its whole
// process group) after `limit_s`. Output (stdout and stderr) is kept.
static void run_job(const char *mpirun, const char *self, int ranks,
                    const char *mode, const char *timeout, double limit_s,
                    const char *log_path, job_result *result) {
  memset(result, 0, sizeof *result);
  char np[16], size_arg[16];
  snprintf(np, sizeof np, "%d", ranks);
  snprintf(size_arg, sizeof size_arg, "%d", ranks);
  if (timeout != NULL)
    setenv("SEGC_COMM_TIMEOUT_S", timeout, 1);
  else
    unsetenv("SEGC_COMM_TIMEOUT_S");
  double start = segc_now();
  pid_t child = fork();
  if (child < 0) {
    CHECK(child >= 0, "fork: %s", strerror(errno));
    return;
  }
  if (child == 0) {
    setpgid(0, 0);
    FILE *log = freopen(log_path, "w", stdout);
    if (log == NULL || dup2(STDOUT_FILENO, STDERR_FILENO) < 0)
      _exit(126);
    char *argv[] = {(char *)mpirun, "-np", np, "--oversubscribe",
                    "-x", "SEGC_COMM_TIMEOUT_S", (char *)self, (char *)mode,
                    size_arg, NULL};
    if (timeout == NULL) {
      // No -x of an unset variable.
      argv[4] = (char *)self;
      argv[5] = (char *)mode;
      argv[6] = size_arg;
      argv[7] = NULL;
    }
    execv(mpirun, argv);
    _exit(127);
  }
  setpgid(child, child);
  int status = 0;
  for (;;) {
    pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child) {
      result->exited = 1;
      break;
    }
    if (segc_now() - start > limit_s) {
      kill(-child, SIGKILL);
      waitpid(child, &status, 0);
      break;
    }
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  result->seconds = segc_now() - start;
  // Ranks left behind (mpirun killed) die with the group.
  kill(-child, SIGKILL);
  result->exit_code = WIFEXITED(status) ? WEXITSTATUS(status)
                                        : 128 + WTERMSIG(status);
  FILE *log = fopen(log_path, "r");
  if (log != NULL) {
    size_t got = fread(result->output, 1, sizeof result->output - 1, log);
    result->output[got] = '\0';
    fclose(log);
  }
  printf("---- mpirun -np %d %s (SEGC_COMM_TIMEOUT_S=%s): exit %d after %.1f s%s\n%s",
         ranks, mode, timeout ? timeout : "unset", result->exit_code,
         result->seconds, result->exited ? "" : " (killed: over the limit)",
         result->output);
  fflush(stdout);
}

static void check_collectives_job(const char *mpirun, const char *self,
                                  int ranks, const char *log_path) {
  job_result *job = malloc(sizeof *job);
  CHECK(job != NULL, "memory");
  if (job == NULL)
    return;
  run_job(mpirun, self, ranks, "--worker", NULL, 180.0, log_path, job);
  CHECK(job->exited && job->exit_code == 0, "mpirun -np %d: exit %d", ranks,
        job->exit_code);
  for (int rank = 0; rank < ranks; rank++) {
    char line[64];
    snprintf(line, sizeof line, "rank %d of %d ok", rank, ranks);
    CHECK(test_contains(job->output, line), "-np %d: no '%s'", ranks, line);
  }
  free(job);
}

static void check_failure_job(const char *mpirun, const char *self,
                              const char *mode, const char *log_path) {
  job_result *job = malloc(sizeof *job);
  CHECK(job != NULL, "memory");
  if (job == NULL)
    return;
  char timeout[16];
  snprintf(timeout, sizeof timeout, "%g", kTestTimeoutS);
  double limit = kTestTimeoutS + kMarginS;
  run_job(mpirun, self, 3, mode, timeout, limit + 30.0, log_path, job);
  CHECK(job->exited && job->exit_code != 0,
        "%s: the job must end by itself, non-zero (exit %d)", mode,
        job->exit_code);
  CHECK(job->seconds < limit,
        "%s: the job took %.1f s, over the %.0f s bound plus %.0f s margin",
        mode, job->seconds, kTestTimeoutS, kMarginS);
  CHECK(!test_contains(job->output, "the all-reduce returned"),
        "%s: an all-reduce returned without the missing rank", mode);
  bool named = test_contains(job->output, "rank 0 of 3: MPI_Allreduce has waited") ||
               test_contains(job->output, "rank 1 of 3: MPI_Allreduce has waited");
  if (strcmp(mode, "--hang") == 0) {
    CHECK(named, "%s: no watchdog message naming a waiting rank", mode);
    CHECK(test_contains(job->output, "(SEGC_COMM_TIMEOUT_S=2)"),
          "%s: the message names the bound's variable", mode);
  } else {
    // A killed rank: mpirun may notice it first, or the watchdog fires.
    printf("comm_mpi: %s: ended by %s\n", mode,
           named ? "the watchdog" : "mpirun (it noticed the dead rank)");
  }
  free(job);
}

// Ranks that disagree about a broadcast's size: the receiving rank gets
// MPI's error (MPI_ERR_TRUNCATE in OpenMPI) as a status naming the rank and
// the call, and the job still ends cleanly.
static void check_error_job(const char *mpirun, const char *self,
                            const char *log_path) {
  job_result *job = malloc(sizeof *job);
  CHECK(job != NULL, "memory");
  if (job == NULL)
    return;
  // The watchdog ends the job if the mismatch makes a rank wait instead.
  run_job(mpirun, self, 2, "--mismatch", "10", 90.0, log_path, job);
  CHECK(job->exited && job->exit_code == 0, "--mismatch: exit %d",
        job->exit_code);
  CHECK(test_contains(job->output, "rank 1 reported: MPI rank 1 of 2: "
                                   "MPI_Bcast failed: MPI_ERR"),
        "--mismatch: no MPI error text for rank 1");
  free(job);
}

int main(int argc, char **argv) {
  if (argc == 3)
    return run_rank(argv[1], atoi(argv[2]));
#ifndef SEGC_HAVE_MPI
  printf("comm_mpi: SKIPPED: this build has no MPI (configure with "
         "-DSEGC_MPI=ON where libopenmpi-dev is installed)\n");
  return TEST_SKIP;
#endif
  char mpirun_path[4096];
  if (!test_find_on_path("mpirun", mpirun_path, sizeof mpirun_path)) {
    printf("comm_mpi: SKIPPED: mpirun is not on PATH (apt-get install "
           "openmpi-bin)\n");
    return TEST_SKIP;
  }
  char self[4096];
  ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
  CHECK(length > 0, "readlink /proc/self/exe");
  if (length <= 0)
    return test_finish("comm_mpi");
  self[length] = '\0';
  // CI runs as root: OpenMPI refuses that unless told it is intended.
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  test_use_mpi_leak_suppressions();
  const char *log_path = test_path(test_temp_dir("comm_mpi"), "mpirun.log");

  check_collectives_job(mpirun_path, self, 2, log_path);
  check_collectives_job(mpirun_path, self, 3, log_path);
  check_error_job(mpirun_path, self, log_path);
  check_failure_job(mpirun_path, self, "--hang", log_path);
  check_failure_job(mpirun_path, self, "--die", log_path);
  return test_finish("comm_mpi");
}
