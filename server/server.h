// segserve's shared state and the helpers its routes use: the MONAI Label
// REST API (GET /info/, /session/, /infer/{model}, /datastore/) over
// libmicrohttpd, one connection per thread, inference on one worker thread.
#ifndef SEGC_SERVER_SERVER_H
#define SEGC_SERVER_SERVER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "data/labels.h"
#include "server/infer_job.h"
#include "server/multipart.h"
#include "server/sessions.h"

enum { SERVER_PATH_MAX = 4096 };

typedef struct {
  const char *model_name;     // the one model /info/ lists and /infer/ runs
  const char *studies;        // --studies folder, or NULL
  char temp_root[SERVER_PATH_MAX];    // this run's temporary folder
  char uploads_dir[SERVER_PATH_MAX + 16];  // temp_root/uploads
  char token[256];            // bearer token, "" when none
  int64_t max_upload_bytes;
  const segc_label_table *names;
  server_sessions sessions;
  infer_queue *queue;
  pthread_mutex_t lock;       // guards active_requests
  pthread_cond_t idle;        // signalled when active_requests drops to 0
  int active_requests;
  _Atomic bool stopping;      // set by the main thread on SIGTERM/SIGINT
} server_state;

typedef enum { BODY_NONE, BODY_MULTIPART, BODY_URLENCODED, BODY_REJECTED } body_kind;

// One request, from its first call to its completion callback.
typedef struct {
  server_state *server;
  struct MHD_Connection *connection;
  const char *method, *url;
  body_kind body;
  multipart_parser form;
  bool form_ready;
  bool answered;              // a response is queued (bodiless methods)
  char small_body[4096];      // an application/x-www-form-urlencoded body
  size_t small_body_len;
  int64_t body_bytes;
  int error_status;           // an error found while reading the body
  char error[256];
} server_request;

// Replies (each queues the response and returns what MHD_queue_response
// returned).
enum MHD_Result server_reply_json(server_request *r, unsigned status, cJSON *body);
enum MHD_Result server_reply_error(server_request *r, unsigned status,
                                   const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
// Sends an open file (taken: closed by MHD) as application/octet-stream.
enum MHD_Result server_reply_fd(server_request *r, int fd, const char *filename);
enum MHD_Result server_reply_buffer(server_request *r, unsigned status,
                                    void *data, size_t size,
                                    const char *content_type);

// Whether `given` equals `secret`, in a time that does not depend on where
// they differ (the token must not leak by timing).
bool server_same_secret(const char *given, const char *secret);
// A query argument, or NULL.
const char *server_arg(server_request *r, const char *key);

// Ids (session ids, image ids): 1 to 128 of [A-Za-z0-9._-], not starting
// with '.', so that an id never names a path outside its folder.
bool server_valid_id(const char *id);
// 32 random hex characters (getrandom).
bool server_random_hex(char out[33]);
// Whether the file starts like a NIfTI-1/2 header (plain or gzip).
bool server_looks_like_nifti(const char *path, char *why, size_t size);

// Routes: each answers the request (after the body was read).
enum MHD_Result route_info(server_request *r);
enum MHD_Result route_auth(server_request *r, const char *rest);
// Requests that need no token: /info/ and the login (/auth/, /auth/token).
bool route_is_public(const char *method, const char *url);
enum MHD_Result route_session(server_request *r, const char *rest);
enum MHD_Result route_infer(server_request *r, const char *model);
enum MHD_Result route_datastore(server_request *r, const char *rest);
// The studies folder's images (<id>.nii.gz, <id>.nii, or a DICOM series
// folder <id>/).
cJSON *datastore_status(server_state *s);
// The file (or series folder) of image `id` in the studies folder; false
// when there is none.
bool datastore_image_path(server_state *s, const char *id, char *out, size_t size);
// Where a route wants its uploaded files (NULL: it takes no upload).
const char *route_upload_dir(server_state *s, const char *method, const char *url);

// The MHD daemon for `s` on host:port (port 0 picks one; *bound_port gets it).
struct MHD_Daemon *server_start(server_state *s, const char *host, int port,
                                int *bound_port, char *error, size_t size);

#endif
