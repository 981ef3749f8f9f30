// /datastore/: the --studies folder as MONAI Label's local datastore.
// GET /datastore/?output=stats|all|train|ids, PUT /datastore/?image=ID and
// PUT /datastore/image?image=ID (multipart field "file"), GET or HEAD
// /datastore/image?image=ID. Images are <id>.nii.gz or <id>.nii, or a
// folder <id>/ holding a DICOM CT series: inferred on as seginfer reads it,
// and downloaded as the NIfTI of the series (what a viewer loads).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/image_read.h"
#include "server/server.h"

// The id of a studies file name, or false when it is not an image.
static bool image_id(const char *name, char *id, size_t size, const char **ext) {
  const size_t n = strlen(name);
  size_t cut = 0;
  if (n > 7 && !strcmp(name + n - 7, ".nii.gz")) cut = 7;
  else if (n > 4 && !strcmp(name + n - 4, ".nii")) cut = 4;
  if (!cut || n - cut >= size) return false;
  memcpy(id, name, n - cut);
  id[n - cut] = '\0';
  if (ext) *ext = name + n - cut;
  return server_valid_id(id);
}

// Calls `each` for every image in the studies folder (sorted by readdir
// order; callers do not rely on order).
static cJSON *list_ids(server_state *s) {
  cJSON *ids = cJSON_CreateArray();
  if (!ids || !s->studies) return ids;
  DIR *dir = opendir(s->studies);
  if (!dir) return ids;
  for (struct dirent *e; (e = readdir(dir)) != NULL;) {
    char id[256], path[SERVER_PATH_MAX + 300];
    snprintf(path, sizeof path, "%s/%s", s->studies, e->d_name);
    struct stat st;
    if (stat(path, &st) != 0) continue;
    if (S_ISREG(st.st_mode) && image_id(e->d_name, id, sizeof id, NULL))
      cJSON_AddItemToArray(ids, cJSON_CreateString(id));
    // A folder is a DICOM series (not hidden folders, odd names, or the
    // labels folder MONAI Label keeps beside the images).
    else if (S_ISDIR(st.st_mode) && e->d_name[0] != '.' &&
             strcmp(e->d_name, "labels") != 0 && server_valid_id(e->d_name))
      cJSON_AddItemToArray(ids, cJSON_CreateString(e->d_name));
  }
  closedir(dir);
  return ids;
}

cJSON *datastore_status(server_state *s) {
  cJSON *ids = list_ids(s);
  cJSON *out = cJSON_CreateObject();
  if (!ids || !out) {
    cJSON_Delete(ids);
    cJSON_Delete(out);
    return NULL;
  }
  cJSON_AddNumberToObject(out, "total", cJSON_GetArraySize(ids));
  cJSON_AddNumberToObject(out, "completed", 0);
  cJSON_AddItemToObject(out, "label_tags", cJSON_CreateObject());
  cJSON_Delete(ids);
  return out;
}

bool datastore_image_path(server_state *s, const char *id, char *out, size_t size) {
  if (!s->studies) return false;
  static const char *const exts[2] = {".nii.gz", ".nii"};
  struct stat st;
  for (int i = 0; i < 2; ++i) {
    snprintf(out, size, "%s/%s%s", s->studies, id, exts[i]);
    if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) return true;
  }
  snprintf(out, size, "%s/%s", s->studies, id);
  return stat(out, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_folder(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static cJSON *everything(server_state *s) {
  cJSON *ids = list_ids(s);
  cJSON *out = cJSON_CreateObject();
  cJSON *objects = cJSON_CreateObject();
  if (!ids || !out || !objects) {
    cJSON_Delete(ids);
    cJSON_Delete(out);
    cJSON_Delete(objects);
    return NULL;
  }
  cJSON_AddStringToObject(out, "name", "studies");
  cJSON_AddStringToObject(out, "description", "segserve --studies folder");
  cJSON_AddStringToObject(out, "images_dir", ".");
  cJSON_AddStringToObject(out, "labels_dir", "labels");
  const cJSON *id;
  cJSON_ArrayForEach(id, ids) {
    char path[SERVER_PATH_MAX + 300];
    if (!datastore_image_path(s, id->valuestring, path, sizeof path)) continue;
    cJSON *object = cJSON_CreateObject();
    cJSON *image = cJSON_CreateObject();
    if (!object || !image) {
      cJSON_Delete(object);
      cJSON_Delete(image);
      continue;
    }
    const size_t n = strlen(path);
    cJSON_AddStringToObject(image, "ext",
                            is_folder(path) ? ""
                            : n > 7 && !strcmp(path + n - 7, ".nii.gz")
                                ? ".nii.gz"
                                : ".nii");
    cJSON_AddItemToObject(image, "info", cJSON_CreateObject());
    cJSON_AddItemToObject(object, "image", image);
    cJSON_AddItemToObject(object, "labels", cJSON_CreateObject());
    cJSON_AddItemToObject(objects, id->valuestring, object);
  }
  cJSON_AddItemToObject(out, "objects", objects);
  cJSON_Delete(ids);
  return out;
}

static bool gzip_file(const char *path) {
  unsigned char magic[2] = {0};
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  const size_t n = fread(magic, 1, 2, f);
  fclose(f);
  return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

static enum MHD_Result upload(server_request *r) {
  server_state *s = r->server;
  if (!s->studies)
    return server_reply_error(r, 403, "segserve was started without --studies: "
                              "the datastore takes no uploads");
  multipart_part *part = r->form_ready ? multipart_find(&r->form, "file") : NULL;
  if (!part || !part->is_file)
    return server_reply_error(r, 422, "field required: file (a multipart file upload)");
  char id[256];
  const char *given = server_arg(r, "image");
  if (given && given[0]) {
    snprintf(id, sizeof id, "%s", given);
    if (strlen(given) >= sizeof id || !server_valid_id(id))
      return server_reply_error(r, 400, "invalid image id");
  } else {
    const char *base = strrchr(part->filename, '/');
    base = base ? base + 1 : part->filename;
    if (!image_id(base, id, sizeof id, NULL))
      return server_reply_error(r, 400, "no image id: give ?image=ID or a file "
                                "named ID.nii.gz");
  }
  char why[256];
  if (!server_looks_like_nifti(part->path, why, sizeof why))
    return server_reply_error(r, 400, "%s: %s", part->filename, why);
  const bool gz = gzip_file(part->path);
  char target[SERVER_PATH_MAX + 300], other[SERVER_PATH_MAX + 300];
  snprintf(target, sizeof target, "%s/%s%s", s->studies, id, gz ? ".nii.gz" : ".nii");
  snprintf(other, sizeof other, "%s/%s%s", s->studies, id, gz ? ".nii" : ".nii.gz");
  const int fd = open(part->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) close(fd);
    return server_reply_error(r, 500, "cannot store the upload: %s", strerror(err));
  }
  if (close(fd) != 0 || chmod(part->path, 0644) != 0 || rename(part->path, target) != 0)
    return server_reply_error(r, 500, "cannot store %s: %s", target, strerror(errno));
  part->path[0] = '\0';  // now the datastore's
  if (unlink(other) != 0 && errno != ENOENT)
    fprintf(stderr, "segserve: cannot remove %s: %s\n", other, strerror(errno));
  cJSON *body = cJSON_CreateObject();
  if (body) cJSON_AddStringToObject(body, "image", id);
  return server_reply_json(r, 200, body);
}

// A DICOM series folder as one NIfTI file, written to the run's temporary
// folder and removed as soon as it is open.
static enum MHD_Result download_series(server_request *r, const char *id,
                                       const char *folder) {
  server_state *s = r->server;
  char hex[33], nifti[SERVER_PATH_MAX + 64], name[300];
  if (!server_random_hex(hex)) return server_reply_error(r, 500, "no random id");
  snprintf(nifti, sizeof nifti, "%s/series-%.12s.nii.gz", s->uploads_dir, hex);
  segc_volume volume = {0};
  segc_nifti_info info;
  segc_status status = segc_image_read(folder, NULL, &volume, &info);
  if (status == SEGC_OK) status = segc_nifti_write(nifti, &volume, &info);
  segc_volume_free(&volume);
  if (status != SEGC_OK) {
    unlink(nifti);
    return server_reply_error(r, 422, "image %s: %s", id, segc_error_message());
  }
  const int fd = open(nifti, O_RDONLY | O_CLOEXEC);
  const int open_errno = errno;
  if (unlink(nifti) != 0)
    fprintf(stderr, "segserve: cannot remove %s: %s\n", nifti, strerror(errno));
  if (fd < 0)
    return server_reply_error(r, 500, "cannot read %s: %s", nifti, strerror(open_errno));
  snprintf(name, sizeof name, "%s.nii.gz", id);
  return server_reply_fd(r, fd, name);
}

static enum MHD_Result download(server_request *r) {
  server_state *s = r->server;
  const char *id = server_arg(r, "image");
  if (!id || !id[0]) return server_reply_error(r, 422, "query parameter required: image");
  if (!server_valid_id(id)) return server_reply_error(r, 400, "invalid image id");
  char path[SERVER_PATH_MAX + 300];
  if (!datastore_image_path(s, id, path, sizeof path))
    return server_reply_error(r, 404, "Image NOT Found");
  if (is_folder(path)) return download_series(r, id, path);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return server_reply_error(r, 404, "Image NOT Found: %s", strerror(errno));
  const char *base = strrchr(path, '/');
  return server_reply_fd(r, fd, base ? base + 1 : path);
}

enum MHD_Result route_datastore(server_request *r, const char *rest) {
  server_state *s = r->server;
  const bool get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
  const bool put = !strcmp(r->method, "PUT");
  if (!rest[0] || !strcmp(rest, "/")) {
    if (put) return upload(r);
    if (!get) return server_reply_error(r, 405, "Method Not Allowed");
    const char *output = server_arg(r, "output");
    cJSON *body = NULL;
    if (!output || !strcmp(output, "stats")) body = datastore_status(s);
    else if (!strcmp(output, "all")) body = everything(s);
    else if (!strcmp(output, "ids")) body = list_ids(s);
    else if (!strcmp(output, "train")) body = cJSON_CreateArray();
    else return server_reply_error(r, 422, "output must be stats, all, train or ids");
    if (!body) return server_reply_error(r, 500, "out of memory");
    return server_reply_json(r, 200, body);
  }
  if (!strcmp(rest, "/image")) {
    if (put) return upload(r);
    if (get) return download(r);
    return server_reply_error(r, 405, "Method Not Allowed");
  }
  return server_reply_error(r, 404, "Not Found");
}

const char *route_upload_dir(server_state *s, const char *method, const char *url) {
  if (s->studies && !strcmp(method, "PUT") &&
      (!strcmp(url, "/datastore/") || !strcmp(url, "/datastore") ||
       !strcmp(url, "/datastore/image")))
    return s->studies;
  return s->uploads_dir;
}
