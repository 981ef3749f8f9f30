#include "server/sessions.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/server.h"

static int64_t now_seconds(void) { return (int64_t)time(NULL); }

bool sessions_init(server_sessions *s, const char *root) {
  memset(s, 0, sizeof *s);
  snprintf(s->root, sizeof s->root, "%s", root);
  if (mkdir(root, 0700) != 0 && errno != EEXIST) return false;
  return pthread_mutex_init(&s->lock, NULL) == 0;
}

// Removes the session's file and folder; lock held.
static void drop(server_session *item) {
  if (item->image[0] && unlink(item->image) != 0 && errno != ENOENT)
    fprintf(stderr, "segserve: cannot remove %s: %s\n", item->image, strerror(errno));
  if (item->folder[0] && rmdir(item->folder) != 0 && errno != ENOENT)
    fprintf(stderr, "segserve: cannot remove %s: %s\n", item->folder, strerror(errno));
  memset(item, 0, sizeof *item);
}

static void drop_expired(server_sessions *s) {
  const int64_t now = now_seconds();
  for (int i = 0; i < SESSIONS_MAX; ++i)
    if (s->items[i].used && s->items[i].last_access_ts + s->items[i].expiry < now)
      drop(&s->items[i]);
}

static server_session *find(server_sessions *s, const char *id) {
  drop_expired(s);
  for (int i = 0; i < SESSIONS_MAX; ++i)
    if (s->items[i].used && !strcmp(s->items[i].id, id)) return &s->items[i];
  return NULL;
}

void sessions_destroy(server_sessions *s) {
  pthread_mutex_lock(&s->lock);
  for (int i = 0; i < SESSIONS_MAX; ++i)
    if (s->items[i].used) drop(&s->items[i]);
  pthread_mutex_unlock(&s->lock);
  pthread_mutex_destroy(&s->lock);
  if (rmdir(s->root) != 0 && errno != ENOENT)
    fprintf(stderr, "segserve: cannot remove %s: %s\n", s->root, strerror(errno));
}

// The file name the session keeps: the upload's own when it is a safe id,
// else "image" with the upload's NIfTI extension.
static void session_file_name(const char *filename, char *out, size_t size) {
  const char *base = strrchr(filename, '/');
  base = base ? base + 1 : filename;
  if (server_valid_id(base)) {
    snprintf(out, size, "%s", base);
    return;
  }
  const size_t n = strlen(base);
  snprintf(out, size, "image%s",
           n > 4 && !strcmp(base + n - 4, ".nii") ? ".nii" : ".nii.gz");
}

int sessions_add(server_sessions *s, const char *upload, const char *filename,
                 int64_t expiry, char id_out[33], char *error, size_t size) {
  pthread_mutex_lock(&s->lock);
  drop_expired(s);
  server_session *slot = NULL;
  for (int i = 0; i < SESSIONS_MAX && !slot; ++i)
    if (!s->items[i].used) slot = &s->items[i];
  int status = 0;
  if (!slot) {
    snprintf(error, size, "too many sessions (%d): delete one first", SESSIONS_MAX);
    status = 503;
    goto done;
  }
  server_session item = {.used = true};
  char name[300];
  session_file_name(filename, name, sizeof name);
  if (!server_random_hex(item.id)) {
    snprintf(error, size, "cannot make a session id");
    status = 500;
    goto done;
  }
  snprintf(item.folder, sizeof item.folder, "%s/%s", s->root, item.id);
  snprintf(item.image, sizeof item.image, "%s/%s", item.folder, name);
  if (mkdir(item.folder, 0700) != 0) {
    snprintf(error, size, "cannot create the session folder: %s", strerror(errno));
    status = 500;
    goto done;
  }
  if (rename(upload, item.image) != 0) {
    snprintf(error, size, "cannot keep the upload: %s", strerror(errno));
    rmdir(item.folder);
    status = 500;
    goto done;
  }
  item.create_ts = item.last_access_ts = now_seconds();
  item.expiry = expiry > 0 && expiry < SESSION_DEFAULT_EXPIRY ? expiry
                                                              : SESSION_DEFAULT_EXPIRY;
  *slot = item;
  memcpy(id_out, item.id, 33);
done:
  pthread_mutex_unlock(&s->lock);
  return status;
}

cJSON *sessions_describe(server_sessions *s, const char *id) {
  pthread_mutex_lock(&s->lock);
  server_session *item = find(s, id);
  cJSON *out = NULL;
  if (item) {
    item->last_access_ts = now_seconds();
    out = cJSON_CreateObject();
    if (out) {
      cJSON_AddStringToObject(out, "name", item->id);
      cJSON_AddStringToObject(out, "path", item->folder);
      cJSON_AddStringToObject(out, "image", item->image);
      cJSON_AddItemToObject(out, "meta", cJSON_CreateObject());
      cJSON_AddNumberToObject(out, "create_ts", (double)item->create_ts);
      cJSON_AddNumberToObject(out, "last_access_ts", (double)item->last_access_ts);
      cJSON_AddNumberToObject(out, "expiry", (double)item->expiry);
    }
  }
  pthread_mutex_unlock(&s->lock);
  return out;
}

bool sessions_link_image(server_sessions *s, const char *id,
                         const char *link_path, char *error, size_t size) {
  pthread_mutex_lock(&s->lock);
  server_session *item = find(s, id);
  bool ok = false;
  if (!item) {
    snprintf(error, size, "Session (%s) Not Found", id);
  } else if (link(item->image, link_path) != 0) {
    snprintf(error, size, "cannot use the session's image: %s", strerror(errno));
  } else {
    item->last_access_ts = now_seconds();
    ok = true;
  }
  pthread_mutex_unlock(&s->lock);
  return ok;
}

bool sessions_remove(server_sessions *s, const char *id) {
  pthread_mutex_lock(&s->lock);
  server_session *item = find(s, id);
  if (item) drop(item);
  pthread_mutex_unlock(&s->lock);
  return item != NULL;
}
