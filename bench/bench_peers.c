// segbench peers: segc's whole forward (one window of the bundle's SegResNet,
// batch 1) beside PyTorch 2 (eager NCDHW and channels_last_3d, f32 and bf16
// autocast) and OpenVINO (f32, bf16 precision hint), on the same checkpoint
// and the same window, with the same thread count, in one run. Each row runs
// in its own process (segbench's worker for segc, tools/peers_forward.py for
// the peers, from the venv tools/setup_peers.sh makes), so that its peak RSS
// (its VmHWM, which it reports) is its own. Agreement is the share of voxels whose
// argmax equals segc f32's. Rows that cannot run here say why ("skipped:")
// and the command still succeeds; only segc's own f32 row failing is an
// error.
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/bench_harness.h"
#include "bench/bench_peers.h"
#include "core/dnnl_context.h"
#include "core/parallel.h"
#include "data/file_list.h"

extern char **environ;

typedef struct {
  int size, repeat, threads, init_filters, out_channels, timeout_s;
  const char *python, *tools, *peers, *dtypes, *workdir;
} peers_options;

typedef struct {
  const char *name;     // peers_forward.py --run, or "segc"
  const char *title;    // the table's run column
} peer_kind;

static const peer_kind kKinds[] = {
    {"segc", "segc"},
    {"torch-eager", "PyTorch eager NCDHW"},
    {"torch-channels-last", "PyTorch eager channels_last_3d"},
    {"openvino", "OpenVINO"},
};
enum { kKindCount = sizeof kKinds / sizeof kKinds[0] };

typedef struct {
  bool ok;
  double seconds, peak_rss_gb;
  char note[512];  // "skipped: ..." when !ok; the versions when ok
} row_result;

static void usage(void) {
  fprintf(stderr,
          "usage: segbench peers [--size N (96)] [--repeat N (3)] [--threads N]\n"
          "         [--python PATH (build/peers_venv/bin/python)] [--tools DIR (tools)]\n"
          "         [--peers torch-eager,torch-channels-last,openvino]\n"
          "         [--dtype f32,bf16] [--init-filters 32] [--out-channels 105]\n"
          "         [--timeout S per row (1800)] [--workdir DIR (a new temporary one)]\n");
}

// snprintf for file names under the work folder, whose length is checked
// once (kMaxDir) so that every name built from it fits kPath.
enum { kMaxDir = 3800, kPath = 4200 };
__attribute__((format(printf, 3, 4))) static void path_printf(char *out, size_t size,
                                                            const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(out, size, format, args);
  va_end(args);
}

// The first non-empty line of `path` that starts with `prefix` (with prefix
// NULL, the last non-empty line), without its newline; "" when none.
// A library's banner or warning on stdout does not hide the result line.
static void file_line(const char *path, const char *prefix, char *line,
                      size_t size) {
  line[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f) return;
  char buffer[1024];
  while (fgets(buffer, sizeof buffer, f)) {
    buffer[strcspn(buffer, "\r\n")] = '\0';
    if (!buffer[0] || (prefix && strncmp(buffer, prefix, strlen(prefix)) != 0))
      continue;
    path_printf(line, size, "%s", buffer);
    if (prefix) break;
  }
  fclose(f);
}

// Runs argv with stdout and stderr into out_path / err_path; kills it after
// timeout_s. Returns the exit status (-1: it did not exit by itself) and the
// child's peak RSS.
static int run_child(char *const *argv, const char *out_path,
                     const char *err_path, int timeout_s, double *peak_rss_gb,
                     bool *timed_out) {
  *peak_rss_gb = 0.0;
  *timed_out = false;
  posix_spawn_file_actions_t actions;
  if (posix_spawn_file_actions_init(&actions) != 0) return -1;
  posix_spawn_file_actions_addopen(&actions, 1, out_path,
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path,
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  const int spawned = posix_spawn(&pid, argv[0], &actions, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    FILE *err = fopen(err_path, "w");
    if (err) {
      fprintf(err, "cannot start %s: %s\n", argv[0], strerror(spawned));
      fclose(err);
    }
    return -1;
  }
  const double deadline = segc_now() + timeout_s;
  int status = 0;
  struct rusage usage;
  for (;;) {
    const pid_t done = wait4(pid, &status, WNOHANG, &usage);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) return -1;
    if (segc_now() > deadline && !*timed_out) {
      *timed_out = true;
      kill(pid, SIGKILL);
    }
    nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
  }
  *peak_rss_gb = (double)usage.ru_maxrss * 1024.0 / 1e9;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// One row: segc's worker or one peer configuration.
static void run_row(const peers_options *o, const char *self, const char *dir,
                    const peer_kind *kind, const char *dtype, row_result *r) {
  memset(r, 0, sizeof *r);
  char size[16], repeat[16], threads[16], out[4200], err[4200], labels[4200],
      weights[4200], input[4200], script[4200];
  snprintf(size, sizeof size, "%d", o->size);
  snprintf(repeat, sizeof repeat, "%d", o->repeat);
  snprintf(threads, sizeof threads, "%d", o->threads);
  path_printf(out, sizeof out, "%s/%s_%s.out", dir, kind->name, dtype);
  path_printf(err, sizeof err, "%s/%s_%s.err", dir, kind->name, dtype);
  path_printf(labels, sizeof labels, "%s/labels_%s_%s.u8", dir, kind->name, dtype);
  path_printf(weights, sizeof weights, "%s/weights.pt", dir);
  path_printf(input, sizeof input, "%s/input.f32", dir);
  path_printf(script, sizeof script, "%s/peers_forward.py", o->tools);
  char *segc_argv[] = {(char *)self, "peers-segc-worker", (char *)dir,
                       (char *)dtype, size, repeat, threads, NULL};
  char *peer_argv[] = {(char *)o->python, script, "--weights", weights,
                       "--input", input, "--size", size, "--run",
                       (char *)kind->name, "--precision", (char *)dtype,
                       "--threads", threads, "--repeat", repeat, "--labels",
                       labels, NULL};
  const bool segc = !strcmp(kind->name, "segc");
  bool timed_out;
  const int rc = run_child(segc ? segc_argv : peer_argv, out, err, o->timeout_s,
                           &r->peak_rss_gb, &timed_out);
  char line[512];
  double peak = 0.0;
  int versions = 0;
  file_line(out, "seconds ", line, sizeof line);
  if (!line[0]) file_line(out, "skipped: ", line, sizeof line);
  if (timed_out) {
    snprintf(r->note, sizeof r->note, "skipped: stopped after --timeout %d s",
             o->timeout_s);
  } else if (rc != 0) {
    char why[400];
    file_line(err, NULL, why, sizeof why);
    if (rc < 0)
      snprintf(r->note, sizeof r->note, "skipped: did not exit by itself: %s",
               why[0] ? why : "no message");
    else
      snprintf(r->note, sizeof r->note, "skipped: failed (exit %d): %s", rc,
               why[0] ? why : "no message");
  } else if (!strncmp(line, "skipped: ", 9)) {
    snprintf(r->note, sizeof r->note, "%s", line);
  } else if (sscanf(line, "seconds %lf peak_rss %lf %n", &r->seconds, &peak,
                    &versions) == 2 && r->seconds > 0) {
    // The child's own VmHWM: its ru_maxrss would include segbench's, which
    // Linux carries across the exec.
    if (peak > 0) r->peak_rss_gb = peak / 1e9;
    snprintf(r->note, sizeof r->note, "%s", versions > 0 ? line + versions : "");
    r->ok = true;
  } else {
    file_line(out, "", line, sizeof line);
    snprintf(r->note, sizeof r->note, "skipped: printed no result line (\"%.200s\")",
             line);
  }
}

// Share of equal bytes in two label files of `voxels` bytes; -1 if either
// cannot be read in full.
static double agreement(const char *a_path, const char *b_path, size_t voxels) {
  uint8_t *a = malloc(voxels), *b = malloc(voxels);
  FILE *fa = fopen(a_path, "rb"), *fb = fopen(b_path, "rb");
  double result = -1.0;
  if (a && b && fa && fb && fread(a, 1, voxels, fa) == voxels &&
      fread(b, 1, voxels, fb) == voxels) {
    size_t same = 0;
    for (size_t i = 0; i < voxels; ++i) same += a[i] == b[i];
    result = (double)same / (double)voxels;
  }
  if (fa) fclose(fa);
  if (fb) fclose(fb);
  free(a);
  free(b);
  return result;
}

static void remove_workdir(const char *dir) {
  static const char *const kFiles[] = {"weights.pt", "input.f32"};
  char path[4200];
  for (size_t i = 0; i < sizeof kFiles / sizeof kFiles[0]; ++i) {
    path_printf(path, sizeof path, "%s/%s", dir, kFiles[i]);
    unlink(path);
  }
  static const char *const kDtypes[] = {"f32", "bf16"};
  static const char *const kSuffixes[] = {"out", "err"};
  for (int k = 0; k < kKindCount; ++k)
    for (int d = 0; d < 2; ++d) {
      for (int s = 0; s < 2; ++s) {
        path_printf(path, sizeof path, "%s/%s_%s.%s", dir, kKinds[k].name,
                 kDtypes[d], kSuffixes[s]);
        unlink(path);
      }
      path_printf(path, sizeof path, "%s/labels_%s_%s.u8", dir, kKinds[k].name,
               kDtypes[d]);
      unlink(path);
    }
  rmdir(dir);
}

static int parse(int argc, char **argv, peers_options *o) {
  *o = (peers_options){96, 3, 0, 32, 105, 1800, "build/peers_venv/bin/python",
                       "tools", "torch-eager,torch-channels-last,openvino",
                       "f32,bf16", NULL};
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) {
      fprintf(stderr, "segbench peers: error: %s needs a value\n", a);
      usage();
      return 2;
    }
    ++i;
    if (!strcmp(a, "--size")) o->size = atoi(v);
    else if (!strcmp(a, "--repeat")) o->repeat = atoi(v);
    else if (!strcmp(a, "--threads")) o->threads = atoi(v);
    else if (!strcmp(a, "--python")) o->python = v;
    else if (!strcmp(a, "--tools")) o->tools = v;
    else if (!strcmp(a, "--peers")) o->peers = v;
    else if (!strcmp(a, "--dtype")) o->dtypes = v;
    else if (!strcmp(a, "--init-filters")) o->init_filters = atoi(v);
    else if (!strcmp(a, "--out-channels")) o->out_channels = atoi(v);
    else if (!strcmp(a, "--timeout")) o->timeout_s = atoi(v);
    else if (!strcmp(a, "--workdir")) o->workdir = v;
    else {
      fprintf(stderr, "segbench peers: error: unknown option %s\n", a);
      usage();
      return 2;
    }
  }
  if (o->size < 16 || o->size % 8 != 0) {
    fprintf(stderr, "segbench peers: error: --size %d: a multiple of 8, 16 or more\n",
            o->size);
    return 2;
  }
  if ((o->workdir && strlen(o->workdir) > kMaxDir) || strlen(o->tools) > kMaxDir) {
    fprintf(stderr, "segbench peers: error: --workdir and --tools: at most %d "
                    "characters\n", kMaxDir);
    return 2;
  }
  if (o->repeat < 1 || o->repeat > 32 || o->threads < 0 || o->timeout_s < 1 ||
      o->init_filters < 8 || o->init_filters % 8 != 0 || o->out_channels < 2 ||
      o->out_channels > 256) {
    fprintf(stderr, "segbench peers: error: --repeat 1..32, --threads >= 0, "
                    "--timeout >= 1, --init-filters a multiple of 8, "
                    "--out-channels 2..256\n");
    return 2;
  }
  return 0;
}

static void print_row(const char *title, const char *dtype, const row_result *r,
                      double gflop, double agree, double segc_seconds) {
  if (!r->ok) {
    printf("| %s | %s | %s | | | | |\n", title, dtype, r->note);
  } else {
    char agree_text[32] = "-", ratio_text[32] = "-";
    if (agree >= 0) snprintf(agree_text, sizeof agree_text, "%.3f%%", 100.0 * agree);
    if (segc_seconds > 0)
      snprintf(ratio_text, sizeof ratio_text, "%.2f", r->seconds / segc_seconds);
    printf("| %s | %s | %.3f | %.1f | %.2f | %s | %s |\n", title, dtype,
           r->seconds, gflop / r->seconds, r->peak_rss_gb, agree_text, ratio_text);
  }
  fflush(stdout);
}

int segc_bench_peers(int argc, char **argv) {
  peers_options o;
  const int bad = parse(argc, argv, &o);
  if (bad) return bad;
  segc_set_threads(o.threads);
  o.threads = segc_threads();
  char self[kPath], dir[kPath];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    fprintf(stderr, "segbench peers: error: cannot read /proc/self/exe\n");
    return 1;
  }
  self[n] = '\0';
  if (o.workdir) {
    snprintf(dir, sizeof dir, "%s", o.workdir);
    if (segc_data_make_dirs(dir) != SEGC_OK) {
      fprintf(stderr, "segbench peers: error: %s\n", segc_error_message());
      return 1;
    }
  } else {
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > kMaxDir) tmp = "/tmp";
    snprintf(dir, sizeof dir, "%s/segbench_peers.XXXXXX", tmp);
    if (!mkdtemp(dir)) {
      fprintf(stderr, "segbench peers: error: cannot make %s: %s\n", dir,
              strerror(errno));
      return 1;
    }
  }
  double gflop;
  if (bench_peers_write_inputs(dir, o.init_filters, o.out_channels, o.size,
                               &gflop) != SEGC_OK) {
    fprintf(stderr, "segbench peers: error: %s\n", segc_error_message());
    if (!o.workdir) remove_workdir(dir);
    return 1;
  }
  char script[4200], python_note[8400] = "";
  path_printf(script, sizeof script, "%s/peers_forward.py", o.tools);
  if (access(o.python, X_OK) != 0)
    snprintf(python_note, sizeof python_note,
             "no Python at %s: set the peers up with tools/setup_peers.sh "
             "(a venv in build/peers_venv with PyTorch 2, OpenVINO and MONAI "
             "from PyPI) or name one with --python PATH", o.python);
  else if (!segc_data_is_file(script))
    snprintf(python_note, sizeof python_note,
             "no %s: name the folder with --tools DIR", script);
  printf("segbench peers: SegResNet init_filters %d -> %d classes, one %d^3 "
         "window, batch 1 (%.1f GFLOP), %d threads, median of %d after a "
         "warm-up; same weights and input for every run (%s)\n",
         o.init_filters, o.out_channels, o.size, gflop, o.threads, o.repeat, dir);
  if (python_note[0]) printf("peers not run: %s\n", python_note);
  printf("| run | precision | median s | GFLOP/s | peak RSS GB | argmax agreement "
         "with segc f32 | time / segc's |\n|---|---|---|---|---|---|---|\n");
  fflush(stdout);

  const size_t voxels = (size_t)o.size * (size_t)o.size * (size_t)o.size;
  double segc_seconds[2] = {0, 0};
  const char *dtypes[2] = {"f32", "bf16"};
  int rc = 0;
  char versions[1024] = "";
  for (int k = 0; k < kKindCount; ++k) {
    const bool segc = k == 0;
    if (!segc && !bench_listed(o.peers, kKinds[k].name)) continue;
    for (int d = 0; d < 2; ++d) {
      if (!bench_listed(o.dtypes, dtypes[d])) continue;
      row_result r;
      if (!segc && python_note[0]) {
        memset(&r, 0, sizeof r);
        snprintf(r.note, sizeof r.note, "skipped: %s",
                 access(o.python, X_OK) != 0 ? "no Python (see above)"
                                              : "no peers_forward.py (see above)");
      } else if (segc && d == 1 && segc_dnnl_require_compute(SEGC_BF16) != SEGC_OK) {
        memset(&r, 0, sizeof r);
        snprintf(r.note, sizeof r.note, "skipped: %s", segc_error_message());
      } else {
        run_row(&o, self, dir, &kKinds[k], dtypes[d], &r);
      }
      if (segc && d == 0 && !r.ok) rc = 1;
      if (segc && r.ok) segc_seconds[d] = r.seconds;
      char mine[4200], reference[4200];
      path_printf(mine, sizeof mine, "%s/labels_%s_%s.u8", dir, kKinds[k].name, dtypes[d]);
      path_printf(reference, sizeof reference, "%s/labels_segc_f32.u8", dir);
      const double agree = r.ok ? agreement(reference, mine, voxels) : -1.0;
      print_row(kKinds[k].title, dtypes[d], &r, gflop, agree, segc_seconds[d]);
      if (!segc && r.ok && r.note[0] && !strstr(versions, r.note)) {
        const size_t used = strlen(versions);
        snprintf(versions + used, sizeof versions - used, "%s%s",
                 used ? ", " : "", r.note);
      }
    }
  }
  if (versions[0]) printf("peers: %s\n", versions);
  if (rc != 0)
    fprintf(stderr, "segbench peers: error: segc's own f32 forward failed "
                    "(its messages are in %s/segc_f32.err)\n", dir);
  else if (!o.workdir)
    remove_workdir(dir);
  return rc;
}
