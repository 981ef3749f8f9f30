#include "dist/comm_watchdog.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const int64_t kNanosPerSecond = 1000000000;

struct segc_watchdog {
  int64_t timeout_ns;
  int64_t poll_ns;
  segc_watchdog_expired_fn expired;
  void *context;
  // Set by the waiting thread: when the current wait began (0: none) and
  // what waits. Read by the watchdog without a lock.
  _Atomic int64_t wait_started_ns;
  _Atomic(const char *) waiting_call;
  pthread_mutex_t lock;  // guards `stopping`, pairs with `wake`
  pthread_cond_t wake;
  int stopping;
  pthread_t thread;
};

static int64_t monotonic_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * kNanosPerSecond + now.tv_nsec;
}

static void *watch(void *arg) {
  segc_watchdog *dog = arg;
  int64_t reported_start = 0;  // the wait already reported, not again
  pthread_mutex_lock(&dog->lock);
  while (!dog->stopping) {
    int64_t deadline = monotonic_ns() + dog->poll_ns;
    struct timespec until = {.tv_sec = deadline / kNanosPerSecond,
                             .tv_nsec = deadline % kNanosPerSecond};
    int rc = 0;
    while (!dog->stopping && rc != ETIMEDOUT)
      rc = pthread_cond_timedwait(&dog->wake, &dog->lock, &until);
    if (dog->stopping)
      break;
    int64_t started = atomic_load(&dog->wait_started_ns);
    const char *call = atomic_load(&dog->waiting_call);
    int64_t waited = monotonic_ns() - started;
    if (started != 0 && started != reported_start &&
        waited > dog->timeout_ns) {
      reported_start = started;
      pthread_mutex_unlock(&dog->lock);
      dog->expired(dog->context, call ? call : "a call",
                   (double)waited / (double)kNanosPerSecond);
      pthread_mutex_lock(&dog->lock);
    }
  }
  pthread_mutex_unlock(&dog->lock);
  return NULL;
}

segc_status segc_watchdog_start(double timeout_s,
                                segc_watchdog_expired_fn expired,
                                void *context, segc_watchdog **out) {
  *out = NULL;
  if (!(timeout_s > 0) || expired == NULL)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "watchdog: the timeout must be positive (got %g s)",
                     timeout_s);
  segc_watchdog *dog = calloc(1, sizeof *dog);
  if (dog == NULL)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "watchdog: out of memory");
  dog->timeout_ns = (int64_t)(timeout_s * (double)kNanosPerSecond);
  dog->poll_ns = dog->timeout_ns / 8;
  if (dog->poll_ns > kNanosPerSecond)
    dog->poll_ns = kNanosPerSecond;
  if (dog->poll_ns < kNanosPerSecond / 100)
    dog->poll_ns = kNanosPerSecond / 100;
  dog->expired = expired;
  dog->context = context;
  atomic_init(&dog->wait_started_ns, 0);
  atomic_init(&dog->waiting_call, NULL);

  pthread_condattr_t attr;
  int rc = pthread_condattr_init(&attr);
  if (rc == 0) {
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
      rc = pthread_cond_init(&dog->wake, &attr);
    pthread_condattr_destroy(&attr);
  }
  if (rc != 0) {
    free(dog);
    return SEGC_FAIL(SEGC_ERR_INTERNAL, "watchdog: pthread_cond_init: %s",
                     strerror(rc));
  }
  rc = pthread_mutex_init(&dog->lock, NULL);
  if (rc != 0) {
    pthread_cond_destroy(&dog->wake);
    free(dog);
    return SEGC_FAIL(SEGC_ERR_INTERNAL, "watchdog: pthread_mutex_init: %s",
                     strerror(rc));
  }
  rc = pthread_create(&dog->thread, NULL, watch, dog);
  if (rc != 0) {
    pthread_mutex_destroy(&dog->lock);
    pthread_cond_destroy(&dog->wake);
    free(dog);
    return SEGC_FAIL(SEGC_ERR_INTERNAL,
                     "watchdog: could not start its thread: %s", strerror(rc));
  }
  *out = dog;
  return SEGC_OK;
}

void segc_watchdog_stop(segc_watchdog *dog) {
  if (dog == NULL)
    return;
  pthread_mutex_lock(&dog->lock);
  dog->stopping = 1;
  pthread_cond_signal(&dog->wake);
  pthread_mutex_unlock(&dog->lock);
  pthread_join(dog->thread, NULL);
  pthread_mutex_destroy(&dog->lock);
  pthread_cond_destroy(&dog->wake);
  free(dog);
}

void segc_watchdog_enter(segc_watchdog *dog, const char *call) {
  if (dog == NULL)
    return;
  atomic_store(&dog->waiting_call, call);
  atomic_store(&dog->wait_started_ns, monotonic_ns());
}

void segc_watchdog_leave(segc_watchdog *dog) {
  if (dog == NULL)
    return;
  atomic_store(&dog->wait_started_ns, 0);
}
