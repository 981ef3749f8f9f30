// A thread that watches one waiting call at a time and reports one that has
// waited longer than a timeout (the communicator's failure bound, comm.h).
// The waiting thread marks its waits with enter/leave (two atomic stores);
// the watchdog looks every min(timeout / 8, 1 s) (but not more often than
// every 10 ms) and calls `expired` once per wait that has gone on too long. The
// callback runs on the watchdog's thread; the communicator's aborts the job.
#ifndef SEGC_DIST_COMM_WATCHDOG_H
#define SEGC_DIST_COMM_WATCHDOG_H

#include "core/status.h"

typedef struct segc_watchdog segc_watchdog;

// `call` names the waiting call (a string literal); waited_s is how long it
// had waited when the watchdog noticed.
typedef void (*segc_watchdog_expired_fn)(void *context, const char *call,
                                         double waited_s);

// timeout_s > 0.
segc_status segc_watchdog_start(double timeout_s,
                                segc_watchdog_expired_fn expired,
                                void *context, segc_watchdog **out);
// Stops and joins the thread; NULL is accepted.
void segc_watchdog_stop(segc_watchdog *watchdog);

// `call` must outlive the wait (a string literal). NULL watchdog: no-op.
void segc_watchdog_enter(segc_watchdog *watchdog, const char *call);
void segc_watchdog_leave(segc_watchdog *watchdog);

#endif
