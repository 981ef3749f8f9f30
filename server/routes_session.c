// /session/: PUT uploads a volume (multipart field "files") and answers
// {"session_id", "session_info"}; GET /session/{id} describes it (with
// ?image=true: sends the file); DELETE /session/{id} removes it.
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "server/server.h"

static enum MHD_Result create(server_request *r) {
  server_state *s = r->server;
  multipart_part *part = r->form_ready ? multipart_find(&r->form, "files") : NULL;
  if (!part || !part->is_file)
    return server_reply_error(r, 422, "field required: files (a multipart file upload)");
  int count = 0;
  for (int i = 0; i <= r->form.part_count; ++i)
    count += !strcmp(r->form.parts[i].name, "files");
  if (count > 1)
    return server_reply_error(r, 400, "one volume per session: %d files were sent", count);
  char why[256];
  if (!server_looks_like_nifti(part->path, why, sizeof why))
    return server_reply_error(r, 400, "%s: %s", part->filename, why);
  const char *expiry_text = server_arg(r, "expiry");
  const int64_t expiry = expiry_text ? strtoll(expiry_text, NULL, 10) : 0;
  char id[33], error[512];
  const int status = sessions_add(&s->sessions, part->path, part->filename, expiry,
                                  id, error, sizeof error);
  if (status) return server_reply_error(r, (unsigned)status, "%s", error);
  part->path[0] = '\0';  // moved into the session
  cJSON *body = cJSON_CreateObject();
  cJSON *info = sessions_describe(&s->sessions, id);
  if (!body || !info) {
    cJSON_Delete(body);
    cJSON_Delete(info);
    return server_reply_error(r, 500, "out of memory");
  }
  cJSON_AddStringToObject(body, "session_id", id);
  cJSON_AddItemToObject(body, "session_info", info);
  return server_reply_json(r, 200, body);
}

static enum MHD_Result send_image(server_request *r, cJSON *info) {
  const cJSON *image = cJSON_GetObjectItemCaseSensitive(info, "image");
  const int fd = cJSON_IsString(image) ? open(image->valuestring, O_RDONLY | O_CLOEXEC) : -1;
  if (fd < 0) {
    cJSON_Delete(info);
    return server_reply_error(r, 404, "Session image Not Found");
  }
  const char *base = strrchr(image->valuestring, '/');
  char name[256];
  snprintf(name, sizeof name, "%s", base ? base + 1 : image->valuestring);
  cJSON_Delete(info);
  return server_reply_fd(r, fd, name);
}

enum MHD_Result route_session(server_request *r, const char *rest) {
  server_state *s = r->server;
  if (!strcmp(rest, "/") || !rest[0]) {
    if (!strcmp(r->method, "PUT") || !strcmp(r->method, "POST")) return create(r);
    return server_reply_error(r, 405, "Method Not Allowed");
  }
  if (rest[0] != '/') return server_reply_error(r, 404, "Not Found");
  const char *id = rest + 1;
  if (!server_valid_id(id)) return server_reply_error(r, 400, "invalid session id");
  if (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD")) {
    cJSON *info = sessions_describe(&s->sessions, id);
    if (!info) return server_reply_error(r, 404, "Session (%s) Not Found", id);
    const char *image = server_arg(r, "image");
    if (image && !strcasecmp(image, "true")) return send_image(r, info);
    return server_reply_json(r, 200, info);
  }
  if (!strcmp(r->method, "DELETE")) {
    cJSON *info = sessions_describe(&s->sessions, id);
    if (!info || !sessions_remove(&s->sessions, id)) {
      cJSON_Delete(info);
      return server_reply_error(r, 404, "Session Not Found");
    }
    return server_reply_json(r, 200, info);
  }
  return server_reply_error(r, 405, "Method Not Allowed");
}
