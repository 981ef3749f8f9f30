// Uploaded volumes kept for later /infer/ calls (MONAI Label's sessions):
// each is a folder temp_root/sessions/<id>/ holding the one file, with an
// expiry counted from its last use. Thread-safe.
#ifndef SEGC_SERVER_SESSIONS_H
#define SEGC_SERVER_SESSIONS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

enum { SESSIONS_MAX = 64, SESSION_DEFAULT_EXPIRY = 3600 };

typedef struct {
  char id[33];
  char folder[4200];
  char image[4500];
  int64_t create_ts, last_access_ts, expiry;
  bool used;
} server_session;

typedef struct {
  pthread_mutex_t lock;
  char root[4096];
  server_session items[SESSIONS_MAX];
} server_sessions;

bool sessions_init(server_sessions *s, const char *root);
void sessions_destroy(server_sessions *s);  // removes every session folder
// Moves `upload` (a file) into a new session named after `filename`.
// Returns 0, or an HTTP status with `error` set.
int sessions_add(server_sessions *s, const char *upload, const char *filename,
                 int64_t expiry, char id_out[33], char *error, size_t size);
// The session as MONAI Label describes it, or NULL when unknown/expired.
cJSON *sessions_describe(server_sessions *s, const char *id);
// Hard-links the session's file to `link_path` (the caller's own name for
// it, safe from a concurrent DELETE). False when unknown/expired or the link
// fails (errno-style reason in error).
bool sessions_link_image(server_sessions *s, const char *id,
                         const char *link_path, char *error, size_t size);
bool sessions_remove(server_sessions *s, const char *id);

#endif
