#include "CBoraFuzz.h"

#ifdef BORA_FUZZ
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

int bora_fuzz_run(int *argc, char ***argv, bora_fuzz_callback callback) { return LLVMFuzzerRunDriver(argc, argv, callback); }
#else
int bora_fuzz_run(int *argc, char ***argv, bora_fuzz_callback callback) {
    (void)argc, (void)argv, (void)callback;
    return -1;
}
#endif
