#!/usr/bin/env python3
"""Bora against llama.cpp on the same GGUF files, same machine, alternating in one run.

    python3 Benchmarks/compare-llamacpp.py [-t 2] [-p 512] [-n 128] [-r 3] [--rounds 2] MODEL.gguf [MODEL.gguf ...]

llama.cpp is PyPI's `llama-cpp-python`, built from source by pip with native CPU flags
(`CMAKE_ARGS="-DGGML_NATIVE=ON" pip install llama-cpp-python`); it is timed through its Python API
exactly as llama-bench times its tests: pp = one batch of P prompt tokens from an empty context
(logits of the last token), tg = N single-token decodes from an empty context. The Python overhead
per call is microseconds against milliseconds of work. Bora runs `bora bench` (release build) with
the same P, N and threads. Each round runs llama.cpp then Bora on every file; the table reports the
mean over all repetitions of all rounds, and Bora / llama.cpp.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BORA = os.path.join(ROOT, ".build", "release", "bora")


def llama_cpp_bench(path, threads, prompt, generate, reps):
    from llama_cpp import Llama

    llm = Llama(model_path=path, n_threads=threads, n_threads_batch=threads, n_ctx=max(prompt, generate) + 16,
                n_batch=max(prompt, 1), n_ubatch=max(prompt, 1), verbose=False)
    vocab = llm.n_vocab()
    rng = random.Random(0)
    tokens = [rng.randrange(3, vocab) for _ in range(max(prompt, generate))]
    pp, tg = [], []
    for rep in range(reps + 1):  # the first repetition warms up and is not counted
        if prompt:
            llm.reset()
            start = time.perf_counter()
            llm.eval(tokens[:prompt])
            if rep:
                pp.append(prompt / (time.perf_counter() - start))
        if generate:
            llm.reset()
            start = time.perf_counter()
            for t in tokens[:generate]:
                llm.eval([t])
            if rep:
                tg.append(generate / (time.perf_counter() - start))
    del llm
    return pp, tg


def bora_bench(path, threads, prompt, generate, reps):
    out = subprocess.run([BORA, "bench", path, "-p", str(prompt), "-n", str(generate), "-t", str(threads),
                          "-r", str(reps), "--json"], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    tests = {t["name"][:2]: t["samples"] for t in result["tests"]}
    return tests.get("pp", []), tests.get("tg", []), result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+")
    parser.add_argument("-t", "--threads", type=int, default=2)
    parser.add_argument("-p", "--prompt", type=int, default=512)
    parser.add_argument("-n", "--generate", type=int, default=128)
    parser.add_argument("-r", "--reps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not os.path.exists(BORA):
        sys.exit("build Bora first: swift build -c release")

    samples = {m: {"llama.cpp": ([], []), "bora": ([], [])} for m in args.models}
    info = {}
    for round_ in range(args.rounds):
        for model in args.models:
            pp, tg = llama_cpp_bench(model, args.threads, args.prompt, args.generate, args.reps)
            samples[model]["llama.cpp"][0].extend(pp)
            samples[model]["llama.cpp"][1].extend(tg)
            pp, tg, info[model] = bora_bench(model, args.threads, args.prompt, args.generate, args.reps)
            samples[model]["bora"][0].extend(pp)
            samples[model]["bora"][1].extend(tg)
            print(f"round {round_ + 1}: {os.path.basename(model)} done", file=sys.stderr)

    def fmt(values):
        return f"{statistics.mean(values):8.2f} ± {statistics.stdev(values) if len(values) > 1 else 0:5.2f}"

    print(f"threads {args.threads}, {args.rounds} rounds × {args.reps} repetitions, tokens/s (mean ± stddev)\n")
    print(f"| model | test | llama.cpp | Bora | Bora / llama.cpp |")
    print(f"|---|---|---|---|---|")
    for model in args.models:
        for i, test in enumerate([f"pp{args.prompt}", f"tg{args.generate}"]):
            ours, theirs = samples[model]["bora"][i], samples[model]["llama.cpp"][i]
            if not ours or not theirs:
                continue
            ratio = statistics.mean(ours) / statistics.mean(theirs)
            print(f"| {os.path.basename(model)} | {test} | {fmt(theirs)} | {fmt(ours)} | {ratio:.2f}× |")
    print()
    for model in args.models:
        r = info[model]
        tg = samples[model]["bora"][1]
        if tg and "memory_bytes_per_second" in r:
            decode = statistics.mean(tg) * r["weight_bytes_per_token"]
            print(f"{os.path.basename(model)}: Bora decode streams {decode / 1e9:.1f} GB/s of weights, "
                  f"{100 * decode / r['memory_bytes_per_second']:.0f}% of the {r['memory_bytes_per_second'] / 1e9:.1f} GB/s probe")


if __name__ == "__main__":
    main()
