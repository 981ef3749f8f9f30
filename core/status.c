#include "core/status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { kMessageBytes = 1024 };
static _Thread_local char error_message[kMessageBytes];

segc_status segc_fail(segc_status code, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  vsnprintf(error_message, sizeof error_message, fmt, args);
  va_end(args);
  return code;
}

segc_status segc_fail_context(segc_status code, const char *fmt, ...) {
  char prefix[kMessageBytes];
  va_list args;
  va_start(args, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, args);
  va_end(args);
  // Truncation is acceptable for over-long messages; the start matters most.
  char joined[2 * kMessageBytes + 2];
  if (error_message[0] != '\0')
    snprintf(joined, sizeof joined, "%s: %s", prefix, error_message);
  else
    snprintf(joined, sizeof joined, "%s", prefix);
  joined[kMessageBytes - 1] = '\0';
  memcpy(error_message, joined, kMessageBytes);
  return code;
}

segc_status segc_fail_errno(segc_status code, const char *what,
                            const char *call, const char *file, int line) {
  int saved_errno = errno;
  return segc_fail(code, "%s: %s (%s at %s:%d)", what, strerror(saved_errno),
                   call, file, line);
}

const char *segc_error_message(void) {
  return error_message[0] ? error_message : "no error recorded";
}

void segc_clear_error(void) { error_message[0] = '\0'; }

const char *segc_status_name(segc_status code) {
  switch (code) {
    case SEGC_OK: return "ok";
    case SEGC_ERR_INVALID: return "invalid argument";
    case SEGC_ERR_NOMEM: return "out of memory";
    case SEGC_ERR_IO: return "i/o error";
    case SEGC_ERR_FORMAT: return "bad format";
    case SEGC_ERR_UNSUPPORTED: return "unsupported";
    case SEGC_ERR_BACKEND: return "backend failure";
    case SEGC_ERR_NONFINITE: return "non-finite value";
    case SEGC_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}
