// libFuzzer's entry for a program with its own main (bora-fuzz picks its target from argv first).
#ifndef CBORA_FUZZ_H
#define CBORA_FUZZ_H
#include <stddef.h>
#include <stdint.h>

typedef int (*bora_fuzz_callback)(const uint8_t *data, size_t size);

/// Runs libFuzzer's driver with `argc`/`argv` (its flags and corpus folders) on `callback`. Returns
/// -1 without running anything when bora-fuzz was built without `-sanitize=fuzzer` (BORA_FUZZ).
int bora_fuzz_run(int *argc, char ***argv, bora_fuzz_callback callback);

#endif
