/* skew.c: an LD_PRELOAD library that moves the wall clock of a process by
 * PHPSESS_CLOCK_SKEW seconds (time, gettimeofday, clock_gettime with
 * CLOCK_REALTIME*), for the clock-skew tests of package reliability: PHP
 * runs with a clock ahead of or behind the store's and phpsess's. Built by
 * the test with the system's cc (libfaketime does the same, and more). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <sys/time.h>
static long skew(void) { const char *s = getenv("PHPSESS_CLOCK_SKEW"); return s ? atol(s) : 0; }
time_t time(time_t *t) { struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts); if (t) *t = ts.tv_sec; return ts.tv_sec; }
int clock_gettime(clockid_t id, struct timespec *ts) {
  static int (*real)(clockid_t, struct timespec *);
  if (!real) real = dlsym(RTLD_NEXT, "clock_gettime");
  int r = real(id, ts);
  if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec += skew();
  return r;
}
int gettimeofday(struct timeval *tv, void *tz) {
  struct timespec ts; int r = clock_gettime(CLOCK_REALTIME, &ts);
  if (tv) { tv->tv_sec = ts.tv_sec; tv->tv_usec = ts.tv_nsec / 1000; }
  return r;
}
