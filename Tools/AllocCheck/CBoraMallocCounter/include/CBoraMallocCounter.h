#ifndef CBORA_MALLOC_COUNTER_H
#define CBORA_MALLOC_COUNTER_H

#include <stdint.h>

/// Starts counting the calls to malloc, calloc, realloc and the aligned allocators of every thread.
void bora_malloc_counter_start(void);
/// Stops counting and returns the calls since the start.
uint64_t bora_malloc_counter_stop(void);
/// Writes the call stacks of the first 8 counted calls to `fd`.
void bora_malloc_counter_print_stacks(int fd);
/// 1 where the allocator functions are replaced (Linux with glibc); elsewhere the counter stays 0.
int bora_malloc_counter_available(void);

#endif
