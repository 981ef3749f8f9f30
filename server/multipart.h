// A streaming parser for multipart/form-data request bodies (RFC 7578):
// file parts go straight to temporary files in a given folder, small fields
// are kept in memory. The body arrives in chunks of any size; a body that
// ends before its closing boundary is an error (a truncated upload).
#ifndef SEGC_SERVER_MULTIPART_H
#define SEGC_SERVER_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { MULTIPART_MAX_PARTS = 8, MULTIPART_PATH_MAX = 4096 };

typedef struct {
  char name[64];
  char filename[256];
  bool is_file;
  char path[MULTIPART_PATH_MAX];  // the temporary file (file parts)
  int64_t size;
  char *value;                    // NUL-terminated contents (fields)
} multipart_part;

typedef struct {
  char delimiter[96];   // "\r\n--" + boundary
  size_t delimiter_len;
  int state;
  char *pending;        // bytes not yet handed to a part
  size_t pending_len, pending_cap;
  const char *file_dir; // where file parts are written
  int fd;               // the open file part, or -1
  multipart_part parts[MULTIPART_MAX_PARTS];
  int part_count;
  int error_status;     // HTTP status of the first error, 0 when none
  char error[256];
} multipart_parser;

// Reads the boundary from a Content-Type value; false when the value is not
// multipart/form-data with a usable boundary.
bool multipart_boundary(const char *content_type, char *out, size_t size);

void multipart_init(multipart_parser *p, const char *boundary,
                    const char *file_dir);
// Feeds the next chunk; false after an error (p->error, p->error_status).
bool multipart_feed(multipart_parser *p, const char *data, size_t size);
// The body is complete: false when it ended before the closing boundary.
bool multipart_finish(multipart_parser *p);
// The part named `name`, or NULL.
multipart_part *multipart_find(multipart_parser *p, const char *name);
// Closes files, frees memory and removes every temporary file left (a part
// whose path was cleared by its taker is not removed).
void multipart_free(multipart_parser *p);

#endif
