// Small helpers the routes share: replies, query arguments, ids, the NIfTI
// sniff.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "server/server.h"

enum MHD_Result server_reply_buffer(server_request *r, unsigned status,
                                    void *data, size_t size,
                                    const char *content_type) {
  struct MHD_Response *response =
      MHD_create_response_from_buffer(size, data, MHD_RESPMEM_MUST_FREE);
  if (!response) {
    free(data);
    return MHD_NO;
  }
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  if (status == MHD_HTTP_UNAUTHORIZED)
    MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
  if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
    MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, "5");
  const enum MHD_Result result = MHD_queue_response(r->connection, status, response);
  MHD_destroy_response(response);
  return result;
}

enum MHD_Result server_reply_json(server_request *r, unsigned status, cJSON *body) {
  char *text = body ? cJSON_PrintUnformatted(body) : NULL;
  cJSON_Delete(body);
  if (!text) {
    static const char fallback[] = "{\"detail\": \"out of memory\"}";
    struct MHD_Response *response = MHD_create_response_from_buffer(
        sizeof fallback - 1, (void *)fallback, MHD_RESPMEM_PERSISTENT);
    if (!response) return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    const enum MHD_Result result = MHD_queue_response(r->connection, 500, response);
    MHD_destroy_response(response);
    return result;
  }
  return server_reply_buffer(r, status, text, strlen(text), "application/json");
}

enum MHD_Result server_reply_error(server_request *r, unsigned status,
                                   const char *fmt, ...) {
  char detail[1024];
  va_list args;
  va_start(args, fmt);
  vsnprintf(detail, sizeof detail, fmt, args);
  va_end(args);
  cJSON *body = cJSON_CreateObject();
  if (body) cJSON_AddStringToObject(body, "detail", detail);
  return server_reply_json(r, status, body);
}

enum MHD_Result server_reply_fd(server_request *r, int fd, const char *filename) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return server_reply_error(r, 500, "cannot read the file: %s", strerror(errno));
  }
  struct MHD_Response *response =
      MHD_create_response_from_fd((uint64_t)st.st_size, fd);
  if (!response) {
    close(fd);
    return MHD_NO;
  }
  char disposition[512];
  snprintf(disposition, sizeof disposition, "attachment; filename=\"%s\"", filename);
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                          "application/octet-stream");
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disposition);
  const enum MHD_Result result = MHD_queue_response(r->connection, 200, response);
  MHD_destroy_response(response);
  return result;
}

bool server_same_secret(const char *given, const char *secret) {
  const size_t ng = strlen(given), ns = strlen(secret);
  unsigned char diff = (unsigned char)(ng != ns);
  for (size_t i = 0; i < ng; ++i)
    diff |= (unsigned char)(given[i] ^ secret[i % (ns ? ns : 1)]);
  return diff == 0;
}

const char *server_arg(server_request *r, const char *key) {
  return MHD_lookup_connection_value(r->connection, MHD_GET_ARGUMENT_KIND, key);
}

bool server_valid_id(const char *id) {
  const size_t n = strlen(id);
  if (n == 0 || n > 128 || id[0] == '.') return false;
  for (size_t i = 0; i < n; ++i) {
    const char c = id[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

bool server_random_hex(char out[33]) {
  unsigned char bytes[16];
  size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += (size_t)n;
  }
  for (int i = 0; i < 16; ++i) snprintf(out + 2 * i, 3, "%02x", bytes[i]);
  return true;
}

static uint32_t swap32(uint32_t v) {
  return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

bool server_looks_like_nifti(const char *path, char *why, size_t size) {
  gzFile f = gzopen(path, "rb");  // reads plain files as they are, too
  if (!f) {
    snprintf(why, size, "cannot open the upload: %s", strerror(errno));
    return false;
  }
  unsigned char header[544];
  const int n = gzread(f, header, sizeof header);
  gzclose(f);
  uint32_t sizeof_hdr = 0;
  if (n >= 4) memcpy(&sizeof_hdr, header, 4);
  if (sizeof_hdr != 348 && sizeof_hdr != 540) sizeof_hdr = swap32(sizeof_hdr);
  const bool nifti1 = sizeof_hdr == 348 && n >= 348 &&
                      (!memcmp(header + 344, "n+1", 4) || !memcmp(header + 344, "ni1", 4));
  const bool nifti2 = sizeof_hdr == 540 && n >= 540 &&
                      (!memcmp(header + 4, "n+2", 3) || !memcmp(header + 4, "ni2", 3));
  if (nifti1 || nifti2) return true;
  snprintf(why, size, "the upload is not a NIfTI file (.nii or .nii.gz)");
  return false;
}
