// Status codes and error messages.
//
// Library functions return a segc_status and, on failure, record one message
// that names what was wrong (the file, the field, the value). Only programs
// decide to print it and exit. The message is per thread.
#ifndef SEGC_CORE_STATUS_H
#define SEGC_CORE_STATUS_H

#include <stddef.h>

typedef enum {
  SEGC_OK = 0,
  SEGC_ERR_INVALID,      // bad argument or bad input value
  SEGC_ERR_NOMEM,        // an allocation or an arena ran out
  SEGC_ERR_IO,           // open/read/write/rename failed
  SEGC_ERR_FORMAT,       // a file is malformed or of the wrong kind
  SEGC_ERR_UNSUPPORTED,  // valid but not handled (dtype, device, shape)
  SEGC_ERR_BACKEND,      // oneDNN, CUDA, cuDNN, NCCL or MPI reported failure
  SEGC_ERR_NONFINITE,    // NaN or Inf where a finite number is required
  SEGC_ERR_INTERNAL      // a broken invariant: a bug in segc
} segc_status;

// Records the message (printf-style) for this thread and returns `code`.
segc_status segc_fail(segc_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// Prepends "context: " to the current message (e.g. a file name) and
// returns `code` unchanged, so callers can add what they know.
segc_status segc_fail_context(segc_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const char *segc_error_message(void);
const char *segc_status_name(segc_status code);
void segc_clear_error(void);

#define SEGC_FAIL(code, ...) segc_fail((code), __VA_ARGS__)

// Propagates a failure from a call that already recorded its message.
#define SEGC_TRY(expr)                 \
  do {                                 \
    segc_status try_status_ = (expr);  \
    if (try_status_ != SEGC_OK)        \
      return try_status_;              \
  } while (0)

// Checks a libc call that returns non-zero (or -1) on failure and sets errno.
#define SEGC_CHECK_LIBC(call, what)                                         \
  do {                                                                      \
    if ((call) != 0)                                                        \
      return segc_fail_errno(SEGC_ERR_IO, (what), #call, __FILE__, __LINE__); \
  } while (0)

segc_status segc_fail_errno(segc_status code, const char *what,
                            const char *call, const char *file, int line);

#endif
