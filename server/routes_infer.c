// POST /infer/{model}?image=ID&session_id=S&output=image|json|all|dicom_seg:
// the input is the uploaded "file" part, else the session's volume, else
// the studies image; "params" is a JSON object (accepted, echoed nowhere).
// The answer is MONAI Label's: output=image the label file, output=json the
// result params, output=dicom_seg a DICOM SEG of the label (the input must
// be a DICOM series folder of the studies), otherwise (all, or none given)
// a multipart/form-data body with "params" (JSON) and "image" (the label
// file).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/server.h"

typedef enum { OUTPUT_ALL, OUTPUT_IMAGE, OUTPUT_JSON, OUTPUT_DICOM_SEG } output_kind;

static cJSON *result_params(server_state *s, const infer_job *job) {
  cJSON *out = cJSON_CreateObject();
  cJSON *names = cJSON_CreateObject();
  cJSON *latencies = cJSON_CreateObject();
  if (!out || !names || !latencies) {
    cJSON_Delete(out);
    cJSON_Delete(names);
    cJSON_Delete(latencies);
    return NULL;
  }
  for (int c = 1; c < s->names->count; ++c)
    cJSON_AddNumberToObject(names, s->names->names[c], c);
  const segc_infer_timings *t = &job->row.timings;
  cJSON_AddNumberToObject(latencies, "pre", t->pre);
  cJSON_AddNumberToObject(latencies, "infer", t->inferer);
  cJSON_AddNumberToObject(latencies, "invert", t->invert);
  cJSON_AddNumberToObject(latencies, "post", t->post);
  cJSON_AddNumberToObject(latencies, "write", t->write);
  cJSON_AddNumberToObject(latencies, "total", t->total);
  cJSON_AddItemToObject(out, "label_names", names);
  cJSON_AddItemToObject(out, "latencies", latencies);
  cJSON_AddStringToObject(out, "model", s->model_name);
  return out;
}

static bool read_whole(int fd, char *buffer, size_t size) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = read(fd, buffer + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += (size_t)n;
  }
  return true;
}

// params and the label file as one multipart/form-data body.
static enum MHD_Result reply_multipart(server_request *r, cJSON *params, int fd,
                                       const char *filename) {
  char *json = cJSON_PrintUnformatted(params);
  cJSON_Delete(params);
  struct stat st;
  char boundary[33];
  if (!json || fstat(fd, &st) != 0 || !server_random_hex(boundary)) {
    free(json);
    close(fd);
    return server_reply_error(r, 500, "cannot build the answer");
  }
  char head[2048], middle[64];
  const int head_len = snprintf(head, sizeof head,
      "--%s\r\nContent-Disposition: form-data; name=\"params\"\r\n"
      "Content-Type: application/json\r\n\r\n", boundary);
  const int middle_len = snprintf(middle, sizeof middle, "\r\n--%s\r\n", boundary);
  const size_t json_len = strlen(json), file_len = (size_t)st.st_size;
  char file_head[512];
  const int file_head_len = snprintf(file_head, sizeof file_head,
      "Content-Disposition: form-data; name=\"image\"; filename=\"%s\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\n", filename);
  const size_t total = (size_t)head_len + json_len + (size_t)middle_len +
                       (size_t)file_head_len + file_len + 6 + strlen(boundary) + 2;
  char *body = malloc(total + 1);
  if (!body) {
    free(json);
    close(fd);
    return server_reply_error(r, 500, "out of memory");
  }
  size_t at = 0;
  memcpy(body + at, head, (size_t)head_len), at += (size_t)head_len;
  memcpy(body + at, json, json_len), at += json_len;
  memcpy(body + at, middle, (size_t)middle_len), at += (size_t)middle_len;
  memcpy(body + at, file_head, (size_t)file_head_len), at += (size_t)file_head_len;
  const bool read_ok = read_whole(fd, body + at, file_len);
  close(fd);
  free(json);
  if (!read_ok) {
    free(body);
    return server_reply_error(r, 500, "cannot read the label file");
  }
  at += file_len;
  at += (size_t)snprintf(body + at, total + 1 - at, "\r\n--%s--\r\n", boundary);
  char type[96];
  snprintf(type, sizeof type, "multipart/form-data; boundary=%s", boundary);
  return server_reply_buffer(r, 200, body, at, type);
}

// Runs the job and answers; the caller removes input_link afterwards.
static enum MHD_Result run_and_answer(server_request *r, const char *input,
                                      output_kind output) {
  server_state *s = r->server;
  char hex[33], output_path[SERVER_PATH_MAX + 64];
  if (!server_random_hex(hex)) return server_reply_error(r, 500, "no random id");
  const bool seg = output == OUTPUT_DICOM_SEG;
  snprintf(output_path, sizeof output_path, "%s/%s-%.12s.%s", s->uploads_dir,
           seg ? "seg" : "label", hex, seg ? "dcm" : "nii.gz");
  infer_job job = {.input = input, .output = seg ? NULL : output_path,
                   .dicom_seg = seg ? output_path : NULL};
  const job_outcome outcome = infer_queue_run(s->queue, &job);
  if (outcome == JOB_BUSY)
    return server_reply_error(r, 503, "inference queue is full: retry later");
  if (outcome == JOB_STOPPING)
    return server_reply_error(r, 503, "segserve is stopping");
  if (outcome == JOB_FAILED)
    return server_reply_error(r, (unsigned)job.error_status, "%s", job.error);
  // The label is sent from its open descriptor; its name goes at once.
  const int fd = open(output_path, O_RDONLY | O_CLOEXEC);
  const int open_errno = errno;
  if (unlink(output_path) != 0 && errno != ENOENT)
    fprintf(stderr, "segserve: cannot remove %s: %s\n", output_path, strerror(errno));
  if (fd < 0)
    return server_reply_error(r, 500, "cannot read the label: %s", strerror(open_errno));
  const char *filename = strrchr(output_path, '/') + 1;
  cJSON *params = result_params(s, &job);
  if (!params) {
    close(fd);
    return server_reply_error(r, 500, "out of memory");
  }
  if (output == OUTPUT_JSON) {
    close(fd);
    return server_reply_json(r, 200, params);
  }
  if (output == OUTPUT_IMAGE || output == OUTPUT_DICOM_SEG) {
    cJSON_Delete(params);
    return server_reply_fd(r, fd, filename);
  }
  return reply_multipart(r, params, fd, filename);
}

enum MHD_Result route_infer(server_request *r, const char *model) {
  server_state *s = r->server;
  if (strcmp(r->method, "POST") != 0)
    return server_reply_error(r, 405, "Method Not Allowed");
  if (strcmp(model, s->model_name) != 0)
    return server_reply_error(r, 404, "Model '%.100s' Not Found (this server has '%s')",
                              model, s->model_name);
  const char *output_text = server_arg(r, "output");
  output_kind output = OUTPUT_ALL;
  if (output_text && !strcmp(output_text, "image")) output = OUTPUT_IMAGE;
  else if (output_text && !strcmp(output_text, "json")) output = OUTPUT_JSON;
  else if (output_text && !strcmp(output_text, "dicom_seg")) output = OUTPUT_DICOM_SEG;
  else if (output_text && strcmp(output_text, "all") != 0)
    return server_reply_error(r, 422, "output must be image, json, all or dicom_seg");
  multipart_part *params = r->form_ready ? multipart_find(&r->form, "params") : NULL;
  if (params) {
    cJSON *parsed = params->value ? cJSON_Parse(params->value) : NULL;
    const bool object = cJSON_IsObject(parsed);
    cJSON_Delete(parsed);
    if (!object) return server_reply_error(r, 400, "params is not a JSON object");
  }
  multipart_part *file = r->form_ready ? multipart_find(&r->form, "file") : NULL;
  const char *session_id = server_arg(r, "session_id");
  const char *image = server_arg(r, "image");
  if (file && file->is_file) {
    char why[256];
    if (!server_looks_like_nifti(file->path, why, sizeof why))
      return server_reply_error(r, 400, "%s: %s", file->filename, why);
    return run_and_answer(r, file->path, output);
  }
  if (session_id && session_id[0]) {
    if (!server_valid_id(session_id))
      return server_reply_error(r, 400, "invalid session id");
    char hex[33], link_path[SERVER_PATH_MAX + 64], error[512];
    if (!server_random_hex(hex)) return server_reply_error(r, 500, "no random id");
    snprintf(link_path, sizeof link_path, "%s/input-%.12s", s->uploads_dir, hex);
    if (!sessions_link_image(&s->sessions, session_id, link_path, error, sizeof error))
      return server_reply_error(r, 404, "%s", error);
    const enum MHD_Result result = run_and_answer(r, link_path, output);
    if (unlink(link_path) != 0)
      fprintf(stderr, "segserve: cannot remove %s: %s\n", link_path, strerror(errno));
    return result;
  }
  if (image && image[0]) {
    if (!server_valid_id(image)) return server_reply_error(r, 400, "invalid image id");
    char path[SERVER_PATH_MAX + 300];
    if (!datastore_image_path(s, image, path, sizeof path))
      return server_reply_error(r, 404, "Image (%s) Not Found", image);
    return run_and_answer(r, path, output);
  }
  return server_reply_error(r, 422, "Neither image nor file nor session_id is given");
}
