#!/usr/bin/env bash
# Fuzzes Bora's readers of untrusted bytes with libFuzzer and AddressSanitizer: builds bora-fuzz into
# .build-fuzz, then runs each target (all, or those named) for RUNS executions (default 1,000,000)
# from its seed corpus in Fuzz/Corpus/<target>/ (seeds: Tools/make_fuzz_corpus.py). New inputs go to
# .build-fuzz/corpus/<target>/; a crasher is written as Fuzz/Corpus/<target>/crash-*, where the tests'
# replay (bora-fuzz replay) keeps running it. Prints each target's executions and any error.
#
#   Tools/fuzz.sh                    # every target, 1,000,000 runs each
#   RUNS=20000 Tools/fuzz.sh gguf    # one target, briefly
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-1000000}"
swift build -c release --build-path .build-fuzz --product bora-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld -Xcc -DBORA_FUZZ >/dev/null
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(gguf safetensors index config params sentencepiece tokenizer-json chat)
status=0
for target in "${targets[@]}"; do
    work=".build-fuzz/corpus/$target"
    mkdir -p "$work"
    log=".build-fuzz/$target.log"
    if .build-fuzz/release/bora-fuzz "$target" -runs="$runs" -max_len=8192 -timeout=10 -rss_limit_mb=4096 \
        -artifact_prefix="Fuzz/Corpus/$target/crash-" -print_final_stats=1 "$work" "Fuzz/Corpus/$target" >"$log" 2>&1; then
        echo "$target: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$') executions, no crash"
    else
        status=1
        echo "$target: FAILED (log: $log)"
        grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -5
    fi
done
exit $status
