// A malloc counter: the executable defines the allocation functions, so every call in the process
// (Swift runtime, Foundation, Bora) comes here first; each forwards to glibc's own and, while
// counting is on, adds one to the count (except in libdispatch's worker threads). Linux with glibc only.
#define _GNU_SOURCE
#include "CBoraMallocCounter.h"
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

static atomic_int counting;
static atomic_uint_fast64_t calls;

#if defined(__linux__) && defined(__GLIBC__)
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

// Stacks of the first counted calls, for bora_malloc_counter_print_stacks.
#include <dlfcn.h>
#include <execinfo.h>
#include <string.h>
static void *stacks[8][24];
static int depths[8];
static _Thread_local int inside;

/// Whether a stack runs in one of libdispatch's worker threads (they set themselves up with calloc
/// when they start, e.g. after the weights were repacked with concurrentPerform): not Bora's work.
static int in_dispatch(void **frames, int n) {
    Dl_info info;
    for (int i = 0; i < n; i++) {
        if (dladdr(frames[i], &info) && info.dli_fname && strstr(info.dli_fname, "libdispatch")) return 1;
    }
    return 0;
}

static inline void count(void) {
    if (!atomic_load_explicit(&counting, memory_order_relaxed) || inside) return;
    inside = 1;
    void *frames[24];
    int n = backtrace(frames, 24);
    if (!in_dispatch(frames, n)) {
        uint64_t i = atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
        if (i < 8) {
            memcpy(stacks[i], frames, sizeof frames);
            depths[i] = n;
        }
    }
    inside = 0;
}

void bora_malloc_counter_print_stacks(int fd) {
    for (int i = 0; i < 8 && i < (int)atomic_load(&calls); i++) {
        dprintf(fd, "allocation %d:\n", i);
        backtrace_symbols_fd(stacks[i], depths[i], fd);
    }
}

void *malloc(size_t n) { count(); return __libc_malloc(n); }
void *calloc(size_t n, size_t size) { count(); return __libc_calloc(n, size); }
void *realloc(void *p, size_t n) { count(); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t alignment, size_t n) { count(); return __libc_memalign(alignment, n); }
void *aligned_alloc(size_t alignment, size_t n) { count(); return __libc_memalign(alignment, n); }
int posix_memalign(void **out, size_t alignment, size_t n) {
    count();
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return 22;  // EINVAL
    void *p = __libc_memalign(alignment, n);
    if (!p && n) return 12;  // ENOMEM
    *out = p;
    return 0;
}

int bora_malloc_counter_available(void) { return 1; }
#else
int bora_malloc_counter_available(void) { return 0; }
void bora_malloc_counter_print_stacks(int fd) { (void)fd; }
#endif

void bora_malloc_counter_start(void) {
#if defined(__linux__) && defined(__GLIBC__)
    void *warm[2];
    backtrace(warm, 2);  // loads the unwinder now, not inside a counted call
#endif
    atomic_store(&calls, 0);
    atomic_store(&counting, 1);
}

uint64_t bora_malloc_counter_stop(void) {
    atomic_store(&counting, 0);
    return atomic_load(&calls);
}
