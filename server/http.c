// libmicrohttpd glue: one thread per connection; each request is read (its
// body streamed through the multipart parser into temporary files, bounded
// by --max-upload-mb), checked (bearer token), routed and answered; its
// temporary files are removed when it completes, whatever happened.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/server.h"

static bool authorized(server_request *r) {
  if (!r->server->token[0] || route_is_public(r->method, r->url)) return true;
  const char *header = MHD_lookup_connection_value(r->connection, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_AUTHORIZATION);
  if (!header || strncasecmp(header, "Bearer ", 7) != 0) return false;
  return server_same_secret(header + 7, r->server->token);
}

static bool starts_with(const char *text, const char *prefix) {
  return !strncmp(text, prefix, strlen(prefix));
}

static enum MHD_Result dispatch(server_request *r) {
  const char *url = r->url;
  if (!strcmp(url, "/info/") || !strcmp(url, "/info")) {
    if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD"))
      return server_reply_error(r, 405, "Method Not Allowed");
    return route_info(r);
  }
  if (starts_with(url, "/auth")) return route_auth(r, url + 5);
  if (starts_with(url, "/session")) return route_session(r, url + 8);
  if (starts_with(url, "/infer/")) return route_infer(r, url + 7);
  if (starts_with(url, "/datastore")) return route_datastore(r, url + 10);
  return server_reply_error(r, 404, "Not Found");
}

// First call: the headers are in; nothing of the body yet.
static enum MHD_Result begin(server_request *r) {
  server_state *s = r->server;
  if (s->stopping) return server_reply_error(r, 503, "segserve is stopping");
  if (!authorized(r)) return server_reply_error(r, 401, "Not authenticated");
  const char *length = MHD_lookup_connection_value(r->connection, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (length && strtoll(length, NULL, 10) > s->max_upload_bytes)
    return server_reply_error(r, 413, "request body of %s bytes exceeds the limit of "
                              "%lld bytes (--max-upload-mb)", length,
                              (long long)s->max_upload_bytes);
  const char *type = MHD_lookup_connection_value(r->connection, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_TYPE);
  char boundary[80];
  if (type && multipart_boundary(type, boundary, sizeof boundary)) {
    const char *dir = route_upload_dir(s, r->method, r->url);
    multipart_init(&r->form, boundary, dir ? dir : s->uploads_dir);
    r->form_ready = true;
    r->body = BODY_MULTIPART;
  } else if (type && strncasecmp(type, "application/x-www-form-urlencoded", 33) == 0) {
    r->body = BODY_URLENCODED;
  } else if (type && strncasecmp(type, "multipart/", 10) == 0) {
    r->error_status = 400;
    snprintf(r->error, sizeof r->error, "multipart body without a usable boundary");
  }
  return MHD_YES;
}

static void take_body(server_request *r, const char *data, size_t size) {
  r->body_bytes += (int64_t)size;
  if (r->error_status) return;  // the rest is read and dropped
  if (r->body_bytes > r->server->max_upload_bytes) {
    r->error_status = 413;
    snprintf(r->error, sizeof r->error, "request body exceeds the limit of %lld "
             "bytes (--max-upload-mb)", (long long)r->server->max_upload_bytes);
    return;
  }
  if (r->body == BODY_MULTIPART) {
    if (!multipart_feed(&r->form, data, size)) {
      r->error_status = r->form.error_status;
      snprintf(r->error, sizeof r->error, "%s", r->form.error);
    }
  } else if (r->body == BODY_URLENCODED &&
             r->small_body_len + size < sizeof r->small_body) {
    memcpy(r->small_body + r->small_body_len, data, size);
    r->small_body_len += size;
    r->small_body[r->small_body_len] = '\0';
  } else {
    r->body = BODY_REJECTED;  // read and dropped; the route sees no form
  }
}

static bool takes_no_body(const char *method) {
  return !strcmp(method, "GET") || !strcmp(method, "HEAD") ||
         !strcmp(method, "DELETE");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  (void)version;
  server_state *s = cls;
  server_request *r = *con_cls;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r) return MHD_NO;
    r->server = s;
    r->connection = connection;
    r->method = method;
    r->url = url;
    *con_cls = r;
    pthread_mutex_lock(&s->lock);
    s->active_requests++;
    pthread_mutex_unlock(&s->lock);
    const enum MHD_Result begun = begin(r);
    // GET, HEAD and DELETE take no body. MONAI Label's client repeats the
    // last POST's Content-Length on the GETs after it (its headers dict is
    // shared); waiting for that body would hang the request, so such a
    // request is answered at once (libmicrohttpd then closes the
    // connection instead of reading the body; that client opens one per
    // request). Without a Content-Length the request goes the usual way.
    const char *length = MHD_lookup_connection_value(
        connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (begun != MHD_YES || !takes_no_body(method) || !length ||
        strtoll(length, NULL, 10) <= 0)
      return begun;
    r->answered = true;
    if (r->error_status)
      return server_reply_error(r, (unsigned)r->error_status, "%s", r->error);
    return dispatch(r);
  }
  if (r->answered) {  // a body nobody reads: dropped
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    take_body(r, upload_data, *upload_data_size);
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (!r->error_status && r->body == BODY_MULTIPART && !multipart_finish(&r->form)) {
    r->error_status = r->form.error_status;
    snprintf(r->error, sizeof r->error, "%s", r->form.error);
  }
  if (r->error_status) return server_reply_error(r, (unsigned)r->error_status, "%s", r->error);
  return dispatch(r);
}

static void on_completed(void *cls, struct MHD_Connection *connection,
                         void **con_cls, enum MHD_RequestTerminationCode code) {
  (void)connection;
  (void)code;
  server_state *s = cls;
  server_request *r = *con_cls;
  if (!r) return;
  if (r->form_ready) multipart_free(&r->form);
  free(r);
  *con_cls = NULL;
  pthread_mutex_lock(&s->lock);
  if (--s->active_requests == 0) pthread_cond_broadcast(&s->idle);
  pthread_mutex_unlock(&s->lock);
}

struct MHD_Daemon *server_start(server_state *s, const char *host, int port,
                                int *bound_port, char *error, size_t size) {
  struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
  const struct sockaddr *address = NULL;
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                   MHD_USE_ITC | MHD_USE_ERROR_LOG;
  if (inet_pton(AF_INET, host, &v4.sin_addr) == 1) {
    address = (const struct sockaddr *)&v4;
  } else if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1) {
    address = (const struct sockaddr *)&v6;
    flags |= MHD_USE_IPv6;
  } else {
    snprintf(error, size, "--host %s is not an IPv4 or IPv6 address", host);
    return NULL;
  }
  struct MHD_Daemon *daemon = MHD_start_daemon(
      flags, (uint16_t)port, NULL, NULL, on_request, s,
      MHD_OPTION_SOCK_ADDR, address,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
      MHD_OPTION_END);
  if (!daemon) {
    snprintf(error, size, "cannot listen on %s:%d (in use, or not an address of "
             "this machine)", host, port);
    return NULL;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
  *bound_port = info ? (int)info->port : port;
  return daemon;
}
