// segserve: the MONAI Label REST API (the part 3D Slicer's MONAILabel module
// and MONAI Label's client use for auto-segmentation), served by segc with
// the network loaded once.
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "infer/infer_options.h"
#include "infer/structures.h"
#include "server/server.h"

static const char kModelName[] = "wholeBody_ct_segmentation";

static void usage(FILE *out) {
  fprintf(out,
      "usage: segserve --weights model.pt [options]\n"
      "Serves MONAI Label's REST API for 3D Slicer's MONAILabel module and\n"
      "MONAI Label's client: GET /info/, PUT /session/, GET and DELETE\n"
      "/session/{id}, POST /infer/wholeBody_ct_segmentation, GET and PUT\n"
      "/datastore/, GET /datastore/image. The network is loaded once; one\n"
      "inference runs at a time, the label identical to seginfer's with the\n"
      "same options. SIGTERM or SIGINT stops it after the requests in flight.\n"
      "  --weights FILE        checkpoint (.pt), required\n"
      "  --lowres | --highres  3.0 mm or 1.5 mm network grid\n"
      "  --overlap F  --sw-batch-size N  --threads N\n"
      "  --dtype auto|f32|bf16 compute dtype. auto (the default unless the\n"
      "                        config sets amp): bf16 where this CPU's bf16\n"
      "                        convolutions measure clearly faster, else f32;\n"
      "                        f32: exact parity with MONAI (amp false too)\n"
      "  --host ADDR           address to listen on (default 127.0.0.1)\n"
      "  --port N              port (default 8000; 0 picks a free one)\n"
      "  --studies DIR         the datastore: DIR/<id>.nii.gz images\n"
      "  --token-file FILE     require 'Authorization: Bearer <token>' (the\n"
      "                        file's first line) on every request but /info/\n"
      "  --max-upload-mb N     largest request body (default 2048)\n"
      "  --queue N             inferences that may wait behind the running one\n"
      "                        (default 4); more get 503 with Retry-After\n"
      SEGC_CONFIG_ARGS_USAGE
      "Prints 'segserve: listening on http://HOST:PORT' when ready.\n"
      "Exit status: 0 stopped by a signal, 1 error, 2 usage.\n");
}

static int fail(const char *message) {
  fprintf(stderr, "segserve: error: %s\n", message);
  return 1;
}

typedef struct {
  const char *weights, *host, *studies, *token_file;
  int port, queue;
  bool check_network;  // --config or --set network_def named a network
  long long max_upload_mb;
} serve_args;

static int parse_int(const char *option, const char *value, long long low,
                     long long high, long long *out) {
  char *end = NULL;
  errno = 0;
  const long long v = strtoll(value, &end, 10);
  if (errno || end == value || *end || v < low || v > high) {
    fprintf(stderr, "segserve: error: %s must be an integer from %lld to %lld, "
            "not '%s'\n", option, low, high, value);
    return 2;
  }
  *out = v;
  return 0;
}

static int parse_args(int argc, char **argv, segc_config *config, serve_args *a) {
  for (int i = 1; i < argc; ++i) {
    const char *o = argv[i];
    if (segc_infer_flag_parse(o, config)) continue;
    if (i + 1 >= argc || o[0] != '-') {
      fprintf(stderr, "segserve: error: %s %s\n", o,
              o[0] == '-' ? "needs a value" : "is not an option");
      return 2;
    }
    const char *v = argv[++i];
    const segc_option_result shared = segc_infer_option_parse(o, v, config);
    if (shared == SEGC_OPTION_BAD) return fail(segc_error_message());
    if (shared == SEGC_OPTION_TAKEN) continue;
    long long n = 0;
    int rc = 0;
    if (!strcmp(o, "--weights")) a->weights = v;
    else if (!strcmp(o, "--host")) a->host = v;
    else if (!strcmp(o, "--studies")) a->studies = v;
    else if (!strcmp(o, "--token-file")) a->token_file = v;
    else if (!strcmp(o, "--port")) {
      if ((rc = parse_int(o, v, 0, 65535, &n))) return rc;
      a->port = (int)n;
    } else if (!strcmp(o, "--queue")) {
      if ((rc = parse_int(o, v, 1, 1024, &n))) return rc;
      a->queue = (int)n;
    } else if (!strcmp(o, "--max-upload-mb")) {
      if ((rc = parse_int(o, v, 1, 1 << 20, &n))) return rc;
      a->max_upload_mb = n;
    } else {
      fprintf(stderr, "segserve: error: unknown option %s\n", o);
      usage(stderr);
      return 2;
    }
  }
  if (!a->weights) {
    fprintf(stderr, "segserve: error: --weights is required\n");
    return 2;
  }
  // Checked before the model loads (server_start takes the same forms).
  struct in6_addr any;
  if (inet_pton(AF_INET, a->host, &any) != 1 && inet_pton(AF_INET6, a->host, &any) != 1) {
    fprintf(stderr, "segserve: error: --host %s is not an IPv4 or IPv6 address\n", a->host);
    return 1;
  }
  return 0;
}

static int read_token(const char *path, char *out, size_t size) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "segserve: error: --token-file %s: %s\n", path, strerror(errno));
    return 1;
  }
  const bool got = fgets(out, (int)size, f) != NULL;
  const bool read_error = ferror(f) != 0;
  fclose(f);
  out[got ? strcspn(out, "\r\n") : 0] = '\0';
  if (read_error || !out[0]) {
    fprintf(stderr, "segserve: error: --token-file %s: %s\n", path,
            read_error ? "cannot read it" : "the first line (the token) is empty");
    return 1;
  }
  return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  if (remove(path) != 0)
    fprintf(stderr, "segserve: cannot remove %s: %s\n", path, strerror(errno));
  return 0;
}

// Removes the run's temporary folder and whatever is still in it.
static void remove_tree(const char *path) {
  if (path[0] && nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
    fprintf(stderr, "segserve: cannot remove %s: %s\n", path, strerror(errno));
}

// Whether `name` is "<prefix><pid>-..." of a process that no longer runs.
static bool left_by_dead_process(const char *name, const char *prefix) {
  const size_t n = strlen(prefix);
  if (strncmp(name, prefix, n) != 0) return false;
  char *end = NULL;
  const long pid = strtol(name + n, &end, 10);
  return end != name + n && *end == '-' && pid > 0 && kill((pid_t)pid, 0) != 0 &&
         errno == ESRCH;
}

// Removes what killed segserve runs left: their temporary folders in
// TMPDIR and their half-received uploads in the studies folder.
static void remove_stale(const char *tmp, const char *studies) {
  const char *folders[2] = {tmp, studies};
  const char *prefixes[2] = {"segserve-", "upload-"};
  for (int f = 0; f < 2; ++f) {
    DIR *dir = folders[f] ? opendir(folders[f]) : NULL;
    if (!dir) continue;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
      if (!left_by_dead_process(e->d_name, prefixes[f])) continue;
      char path[8192];
      snprintf(path, sizeof path, "%s/%s", folders[f], e->d_name);
      fprintf(stderr, "segserve: removing %s (left by a segserve that was killed)\n", path);
      remove_tree(path);
    }
    closedir(dir);
  }
}

static int make_temp_root(server_state *s) {
  const char *tmp = getenv("TMPDIR");
  remove_stale(tmp && *tmp ? tmp : "/tmp", s->studies);
  const int n = snprintf(s->temp_root, sizeof s->temp_root, "%s/segserve-%ld-XXXXXX",
                         tmp && *tmp ? tmp : "/tmp", (long)getpid());
  if (n < 0 || (size_t)n >= sizeof s->temp_root) {
    fprintf(stderr, "segserve: error: TMPDIR is too long\n");
    s->temp_root[0] = '\0';
    return 1;
  }
  if (!mkdtemp(s->temp_root)) {
    fprintf(stderr, "segserve: error: cannot create a temporary folder in %s: %s\n",
            tmp && *tmp ? tmp : "/tmp", strerror(errno));
    s->temp_root[0] = '\0';
    return 1;
  }
  snprintf(s->uploads_dir, sizeof s->uploads_dir, "%s/uploads", s->temp_root);
  char sessions[SERVER_PATH_MAX + 16];
  snprintf(sessions, sizeof sessions, "%s/sessions", s->temp_root);
  if (mkdir(s->uploads_dir, 0700) != 0 || !sessions_init(&s->sessions, sessions)) {
    fprintf(stderr, "segserve: error: cannot create %s: %s\n", s->uploads_dir,
            strerror(errno));
    return 1;
  }
  return 0;
}

// SIGTERM and SIGINT write their number to a pipe the main thread reads:
// whichever thread the kernel hands the signal to (libraries may start
// threads with their own signal masks), the handler only writes a byte.
static int stop_pipe[2] = {-1, -1};

static void on_stop_signal(int number) {
  const int saved = errno;
  const unsigned char byte = (unsigned char)number;
  if (write(stop_pipe[1], &byte, 1) < 0) {
    // The pipe is full: a stop is already pending.
  }
  errno = saved;
}

static int catch_stop_signals(void) {
  if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    fprintf(stderr, "segserve: error: pipe: %s\n", strerror(errno));
    return 1;
  }
  struct sigaction action = {.sa_handler = on_stop_signal, .sa_flags = SA_RESTART};
  sigemptyset(&action.sa_mask);
  struct sigaction ignore = {.sa_handler = SIG_IGN};
  sigemptyset(&ignore.sa_mask);
  if (sigaction(SIGTERM, &action, NULL) != 0 || sigaction(SIGINT, &action, NULL) != 0 ||
      sigaction(SIGPIPE, &ignore, NULL) != 0) {
    fprintf(stderr, "segserve: error: sigaction: %s\n", strerror(errno));
    return 1;
  }
  return 0;
}

// Blocks until a stop signal arrives; returns its number.
static int wait_for_stop(void) {
  for (;;) {
    struct pollfd waiting = {.fd = stop_pipe[0], .events = POLLIN};
    if (poll(&waiting, 1, -1) < 0 && errno != EINTR) return SIGTERM;
    unsigned char byte = 0;
    if (read(stop_pipe[0], &byte, 1) == 1) return byte;
  }
}

// Waits for the requests in flight (their answers sent) or `seconds`.
static void wait_idle(server_state *s, int seconds) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += seconds;
  pthread_mutex_lock(&s->lock);
  while (s->active_requests > 0)
    if (pthread_cond_timedwait(&s->idle, &s->lock, &until) == ETIMEDOUT) break;
  if (s->active_requests > 0)
    fprintf(stderr, "segserve: %d requests still open after %d s: closing them\n",
            s->active_requests, seconds);
  pthread_mutex_unlock(&s->lock);
}

static int serve(const segc_config *config, const serve_args *a,
                 const segc_label_table *names) {
  server_state s = {.model_name = kModelName, .studies = a->studies, .names = names,
                    .max_upload_bytes = a->max_upload_mb * 1024 * 1024};
  pthread_mutex_init(&s.lock, NULL);
  pthread_cond_init(&s.idle, NULL);
  int rc = 1;
  bool sessions_ready = false;
  struct MHD_Daemon *daemon = NULL;
  if (a->token_file && read_token(a->token_file, s.token, sizeof s.token)) goto done;
  if (a->studies) {
    struct stat st;
    if (stat(a->studies, &st) != 0 || !S_ISDIR(st.st_mode)) {
      fprintf(stderr, "segserve: error: --studies %s: %s\n", a->studies,
              errno && stat(a->studies, &st) != 0 ? strerror(errno) : "not a folder");
      goto done;
    }
  }
  if (make_temp_root(&s)) goto done;
  sessions_ready = true;
  char error[1024];
  s.queue = infer_queue_start(config, a->weights, a->check_network, names, a->queue, error, sizeof error);
  if (!s.queue) {
    fprintf(stderr, "segserve: error: %s\n", error);
    goto done;
  }
  int port = 0;
  daemon = server_start(&s, a->host, a->port, &port, error, sizeof error);
  if (!daemon) {
    fprintf(stderr, "segserve: error: %s\n", error);
    goto done;
  }
  const bool ipv6 = strchr(a->host, ':') != NULL;  // URLs bracket IPv6 addresses
  printf("segserve: listening on http://%s%s%s:%d (model %s%s)\n", ipv6 ? "[" : "",
         a->host, ipv6 ? "]" : "", port,
         kModelName, s.token[0] ? ", bearer token required" : "");
  fflush(stdout);
  int signal_number = wait_for_stop();
  fprintf(stderr, "segserve: %s: finishing the requests in flight\n",
          signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  s.stopping = true;
  const MHD_socket listener = MHD_quiesce_daemon(daemon);
  if (listener != MHD_INVALID_SOCKET) close(listener);
  // Requests already begun finish whole (their inference included); new
  // ones on open connections get 503.
  wait_idle(&s, 600);
  rc = 0;
done:
  if (daemon) MHD_stop_daemon(daemon);
  infer_queue_destroy(s.queue);
  if (sessions_ready) sessions_destroy(&s.sessions);
  remove_tree(s.temp_root);
  pthread_cond_destroy(&s.idle);
  pthread_mutex_destroy(&s.lock);
  return rc;
}

int main(int argc, char **argv) {
  if (segc_config_answer_help(argc, argv, usage)) return 0;
  if (catch_stop_signals()) return 1;
  segc_config config;
  segc_config_notes notes = {0};
  const bool check_network = segc_config_args_name_network(argc, argv);
  if (segc_config_from_args(&argc, argv, &config, &notes) != SEGC_OK) {
    segc_config_notes_free(&notes);
    return fail(segc_error_message());
  }
  serve_args args = {.check_network = check_network, .host = "127.0.0.1", .port = 8000, .queue = 4,
                     .max_upload_mb = 2048};
  int rc = parse_args(argc, argv, &config, &args);
  segc_infer_dtype_default(&config);
  segc_config_notes_print(&notes, stderr);
  segc_config_notes_free(&notes);
  if (rc) return rc;
  segc_config defaults;
  segc_config_defaults(&defaults);
  segc_label_table names = {0};
  if (segc_structures_for_setting(config.labels, !strcmp(config.labels, defaults.labels),
                                  config.network_def.out_channels, &names) != SEGC_OK)
    return fail(segc_error_message());
  rc = serve(&config, &args, &names);
  segc_labels_free(&names);
  return rc;
}
