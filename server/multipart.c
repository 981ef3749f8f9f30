#include "server/multipart.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum { kHeadersMax = 8192, kFieldMax = 1 << 20 };
enum { STATE_BODY, STATE_AFTER_BOUNDARY, STATE_HEADERS, STATE_DONE, STATE_ERROR };

static bool fail(multipart_parser *p, int status, const char *message) {
  if (p->state != STATE_ERROR) {
    p->state = STATE_ERROR;
    p->error_status = status;
    snprintf(p->error, sizeof p->error, "%s", message);
  }
  return false;
}

bool multipart_boundary(const char *content_type, char *out, size_t size) {
  if (!content_type || strncasecmp(content_type, "multipart/form-data", 19) != 0)
    return false;
  const char *b = strcasestr(content_type, "boundary=");
  if (!b) return false;
  b += 9;
  const bool quoted = *b == '"';
  if (quoted) ++b;
  size_t n = 0;
  while (b[n] && (quoted ? b[n] != '"' : (b[n] != ';' && !isspace((unsigned char)b[n]))))
    ++n;
  // RFC 2046: 1 to 70 characters.
  if (n == 0 || n > 70 || n + 1 > size) return false;
  memcpy(out, b, n);
  out[n] = '\0';
  return true;
}

void multipart_init(multipart_parser *p, const char *boundary,
                    const char *file_dir) {
  memset(p, 0, sizeof *p);
  p->delimiter_len = (size_t)snprintf(p->delimiter, sizeof p->delimiter,
                                      "\r\n--%s", boundary);
  p->file_dir = file_dir;
  p->fd = -1;
  // The first boundary has no CRLF before it: pretend it had one, and
  // discard what comes before it (the preamble) as a part nobody keeps.
  p->state = STATE_BODY;
  p->part_count = -1;
  p->pending = malloc(64);
  if (!p->pending) {
    fail(p, 500, "out of memory");
    return;
  }
  p->pending_cap = 64;
  memcpy(p->pending, "\r\n", 2);
  p->pending_len = 2;
}

static multipart_part *current(multipart_parser *p) {
  return p->part_count >= 0 ? &p->parts[p->part_count] : NULL;
}

// Hands body bytes to the current part (none while in the preamble).
static bool emit(multipart_parser *p, const char *data, size_t size) {
  multipart_part *part = current(p);
  if (!part || size == 0) return true;
  if (part->is_file) {
    size_t done = 0;
    while (done < size) {
      const ssize_t n = write(p->fd, data + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        char message[256];
        snprintf(message, sizeof message, "cannot write the upload: %s",
                 strerror(n < 0 ? errno : EIO));
        return fail(p, 500, message);
      }
      done += (size_t)n;
    }
    part->size += (int64_t)size;
    return true;
  }
  if (part->size + (int64_t)size > kFieldMax)
    return fail(p, 413, "a form field is larger than 1 MiB");
  char *grown = realloc(part->value, (size_t)part->size + size + 1);
  if (!grown) return fail(p, 500, "out of memory");
  part->value = grown;
  memcpy(part->value + part->size, data, size);
  part->size += (int64_t)size;
  part->value[part->size] = '\0';
  return true;
}

static bool close_part(multipart_parser *p) {
  if (p->fd >= 0) {
    const int rc = close(p->fd);
    p->fd = -1;
    if (rc != 0) return fail(p, 500, "cannot close the uploaded file");
  }
  return true;
}

// Copies the value of `key="..."` from a Content-Disposition line.
static bool disposition_value(const char *line, const char *key, char *out,
                              size_t size) {
  char pattern[32];
  snprintf(pattern, sizeof pattern, "%s=\"", key);
  const char *at = line;
  while ((at = strcasestr(at, pattern)) != NULL) {
    // A whole parameter name: "name" must not match the end of "filename".
    if (at == line || at[-1] == ' ' || at[-1] == ';') break;
    at += strlen(pattern);
  }
  if (!at) return false;
  at += strlen(pattern);
  const char *end = strchr(at, '"');
  if (!end || (size_t)(end - at) >= size) return false;
  memcpy(out, at, (size_t)(end - at));
  out[end - at] = '\0';
  return true;
}

static bool open_part(multipart_parser *p, char *headers) {
  if (p->part_count + 1 >= MULTIPART_MAX_PARTS)
    return fail(p, 400, "too many parts in the multipart body");
  multipart_part *part = &p->parts[++p->part_count];
  memset(part, 0, sizeof *part);
  bool disposition = false;
  for (char *line = strtok(headers, "\r\n"); line; line = strtok(NULL, "\r\n")) {
    if (strncasecmp(line, "Content-Disposition:", 20) != 0) continue;
    disposition = true;
    if (!disposition_value(line, "name", part->name, sizeof part->name))
      return fail(p, 400, "a multipart part has no name (or a name over 63 bytes)");
    part->is_file = disposition_value(line, "filename", part->filename,
                                      sizeof part->filename);
  }
  if (!disposition)
    return fail(p, 400, "a multipart part has no Content-Disposition header");
  if (!part->is_file) return true;
  // The process id in the name lets a later segserve remove the files of
  // a killed one (apps/segserve.c).
  const int n = snprintf(part->path, sizeof part->path, "%s/upload-%ld-XXXXXX",
                         p->file_dir, (long)getpid());
  if (n < 0 || (size_t)n >= sizeof part->path)
    return fail(p, 500, "upload folder path too long");
  p->fd = mkstemp(part->path);
  if (p->fd < 0) {
    part->path[0] = '\0';
    char message[256];
    snprintf(message, sizeof message, "cannot create an upload file: %s",
             strerror(errno));
    return fail(p, 500, message);
  }
  return true;
}

static void consume(multipart_parser *p, size_t n) {
  memmove(p->pending, p->pending + n, p->pending_len - n);
  p->pending_len -= n;
}

// Runs the state machine over the pending bytes as far as they go.
static bool advance(multipart_parser *p) {
  for (;;) {
    if (p->state == STATE_BODY) {
      const char *hit = memmem(p->pending, p->pending_len, p->delimiter,
                               p->delimiter_len);
      if (!hit) {
        // Keep a tail that could be the start of a delimiter.
        if (p->pending_len >= p->delimiter_len) {
          const size_t safe = p->pending_len - (p->delimiter_len - 1);
          if (!emit(p, p->pending, safe)) return false;
          consume(p, safe);
        }
        return true;
      }
      const size_t at = (size_t)(hit - p->pending);
      if (!emit(p, p->pending, at) || !close_part(p)) return false;
      consume(p, at + p->delimiter_len);
      p->state = STATE_AFTER_BOUNDARY;
    } else if (p->state == STATE_AFTER_BOUNDARY) {
      if (p->pending_len < 2) return true;
      if (!memcmp(p->pending, "--", 2)) {
        p->state = STATE_DONE;  // the epilogue, if any, is ignored
        p->pending_len = 0;
        return true;
      }
      if (memcmp(p->pending, "\r\n", 2) != 0)
        return fail(p, 400, "malformed multipart body (bad boundary line)");
      consume(p, 2);
      p->state = STATE_HEADERS;
    } else if (p->state == STATE_HEADERS) {
      const char *end = memmem(p->pending, p->pending_len, "\r\n\r\n", 4);
      if (!end) {
        if (p->pending_len > kHeadersMax)
          return fail(p, 400, "multipart part headers longer than 8 KiB");
        return true;
      }
      const size_t n = (size_t)(end - p->pending);
      char headers[kHeadersMax + 1];
      if (n > kHeadersMax)
        return fail(p, 400, "multipart part headers longer than 8 KiB");
      memcpy(headers, p->pending, n);
      headers[n] = '\0';
      consume(p, n + 4);
      if (!open_part(p, headers)) return false;
      p->state = STATE_BODY;
    } else {
      // Done: bytes after the closing boundary are ignored.
      p->pending_len = 0;
      return p->state == STATE_DONE;
    }
  }
}

bool multipart_feed(multipart_parser *p, const char *data, size_t size) {
  if (p->state == STATE_ERROR) return false;
  if (p->state == STATE_DONE) return true;
  if (p->pending_len + size > p->pending_cap) {
    size_t cap = p->pending_cap * 2;
    while (cap < p->pending_len + size) cap *= 2;
    char *grown = realloc(p->pending, cap);
    if (!grown) return fail(p, 500, "out of memory");
    p->pending = grown;
    p->pending_cap = cap;
  }
  memcpy(p->pending + p->pending_len, data, size);
  p->pending_len += size;
  return advance(p);
}

bool multipart_finish(multipart_parser *p) {
  if (p->state == STATE_ERROR) return false;
  if (p->state != STATE_DONE)
    return fail(p, 400, "truncated multipart body: it ends before its closing boundary");
  return true;
}

multipart_part *multipart_find(multipart_parser *p, const char *name) {
  for (int i = 0; i <= p->part_count && i < MULTIPART_MAX_PARTS; ++i)
    if (!strcmp(p->parts[i].name, name)) return &p->parts[i];
  return NULL;
}

void multipart_free(multipart_parser *p) {
  if (p->fd >= 0 && close(p->fd) != 0)
    fprintf(stderr, "segserve: closing an upload: %s\n", strerror(errno));
  p->fd = -1;
  for (int i = 0; i <= p->part_count && i < MULTIPART_MAX_PARTS; ++i) {
    free(p->parts[i].value);
    p->parts[i].value = NULL;
    if (p->parts[i].path[0] && unlink(p->parts[i].path) != 0 && errno != ENOENT)
      fprintf(stderr, "segserve: cannot remove %s: %s\n", p->parts[i].path,
              strerror(errno));
    p->parts[i].path[0] = '\0';
  }
  free(p->pending);
  p->pending = NULL;
  p->part_count = -1;
}
