#!/usr/bin/env python3
"""Bora against llama.cpp's own llama-bench on the same GGUF files, alternating in one run.

    python3 Benchmarks/compare-llamabench.py [-t 2] [-p 512] [-n 128] [-d 0] [-r 3] [--rounds 2] MODEL.gguf ...
    python3 Benchmarks/compare-llamabench.py -p 0 -n 32 -d 4096,16384 mistral-7b-shaped-Q4_0.gguf

llama-bench is built by Tools/make_bench_files.py (llama.cpp vendored in PyPI's llama-cpp-python
0.3.36, native CPU flags) into CACHE/llama.cpp/build/bin; pass --llama-bench to use another. Both run
the same tests: pp P (P prompt tokens at once), tg N (N single-token decodes), each after D tokens
already in the cache (-d, evaluated once and restored before every repetition by both tools), with
their defaults otherwise (llama.cpp: F16 KV cache, flash attention auto, batch 2048 / ubatch 512;
Bora: F16 KV cache, sliding-window models in chunks of at most W). Each round runs llama-bench then
`bora bench` on every file; the table reports mean ± stddev over all repetitions of all rounds, and
Bora's decode as a share of the memory bandwidth `bora bench` measured in the same round.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

from benchcommon import BORA, llama_tool



def test_name(p, n, d):
    name = f"pp{p}" if p else f"tg{n}"
    return name + (f" @ d{d}" if d else "")


def llama_bench(tool, path, args):
    cmd = [tool, "-m", path, "-t", str(args.threads), "-p", args.prompt, "-n", args.generate, "-d", args.depth,
           "-r", str(args.reps), "-o", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"llama-bench failed on {path}:\n{out.stderr[-2000:]}")
    return {test_name(t["n_prompt"], t["n_gen"], t["n_depth"]): t["samples_ts"] for t in json.loads(out.stdout)}


def bora_bench(path, args, binary=BORA):
    cmd = [binary, "bench", path, "-t", str(args.threads), "-p", args.prompt, "-n", args.generate,
           "-r", str(args.reps), "--json"] + (["-d", args.depth] if args.depth != "0" else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bora bench failed on {path}:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout)
    # (Builds before -d named their tests pp<P> / tg<N> only.)
    tests = {test_name(t.get("n_prompt", 0), t.get("n_gen", 0), t.get("n_depth", 0)) if "n_gen" in t else t["name"]: t["samples"]
             for t in result["tests"]}
    return tests, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("-t", "--threads", type=int, default=2)
    parser.add_argument("-p", "--prompt", default="512", help="comma-separated prompt sizes (0: none)")
    parser.add_argument("-n", "--generate", default="128", help="comma-separated generation lengths (0: none)")
    parser.add_argument("-d", "--depth", default="0", help="comma-separated depths")
    parser.add_argument("-r", "--reps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--llama-bench", default=llama_tool("llama-bench"))
    parser.add_argument("--baseline", help="another bora binary (an earlier build) to run in the same rounds")
    args = parser.parse_args()
    if not os.path.exists(BORA):
        sys.exit("build Bora first: swift build -c release")
    if not os.path.exists(args.llama_bench):
        sys.exit(f"no llama-bench at {args.llama_bench}: run Tools/make_bench_files.py first")

    samples = {m: {"llama.cpp": {}, "bora": {}, "baseline": {}} for m in args.models}
    shares = {m: [] for m in args.models}
    for round_ in range(args.rounds):
        for model in args.models:
            for name, s in llama_bench(args.llama_bench, model, args).items():
                samples[model]["llama.cpp"].setdefault(name, []).extend(s)
            tests, info = bora_bench(model, args)
            for name, s in tests.items():
                samples[model]["bora"].setdefault(name, []).extend(s)
            if args.baseline:
                try:
                    for name, s in bora_bench(model, args, args.baseline)[0].items():
                        samples[model]["baseline"].setdefault(name, []).extend(s)
                except SystemExit as failure:  # e.g. a format the earlier build cannot read
                    print(f"baseline: {str(failure).splitlines()[-1]}", file=sys.stderr)
            tg = [t for t in info["tests"] if t["name"].startswith("tg") and not t.get("n_depth")]
            if tg and tg[0].get("memory_samples"):
                # The probe read beside each decode sample (builds since 2026-12-07): the share per
                # sample, on a host whose bandwidth moves within seconds.
                bytes_ = info["weight_bytes_per_token"]
                beside = tg[0]["memory_samples"]
                share = statistics.mean(s * bytes_ / m for s, m in zip(tg[0]["samples"], beside))
                shares[model].append((tg[0]["mean"] * bytes_, statistics.mean(beside), share))
            elif tg and "memory_bytes_per_second" in info:
                decode = tg[0]["mean"] * info["weight_bytes_per_token"]
                shares[model].append((decode, info["memory_bytes_per_second"], decode / info["memory_bytes_per_second"]))
            print(f"round {round_ + 1}: {os.path.basename(model)} done", file=sys.stderr)

    def fmt(values):
        return f"{statistics.mean(values):.2f} ± {statistics.stdev(values) if len(values) > 1 else 0:.2f}"

    print(f"threads {args.threads}, {args.rounds} rounds × {args.reps} repetitions, tokens/s (mean ± stddev)\n")
    extra = " baseline | Bora / baseline |" if args.baseline else ""
    print("| model | test | llama.cpp | Bora | Bora / llama.cpp |" + extra)
    print("|---|---|---|---|---|" + ("---|---|" if args.baseline else ""))
    for model in args.models:
        for name, ours in samples[model]["bora"].items():
            theirs = samples[model]["llama.cpp"].get(name)
            if not theirs:
                continue
            ratio = statistics.mean(ours) / statistics.mean(theirs)
            row = f"| {os.path.basename(model)} | {name} | {fmt(theirs)} | {fmt(ours)} | {ratio:.2f}× |"
            base = samples[model]["baseline"].get(name)
            if base:
                row += f" {fmt(base)} | {statistics.mean(ours) / statistics.mean(base):.2f}× |"
            print(row)
    print()
    for model in args.models:
        if shares[model]:
            decode = statistics.mean(d for d, _, _ in shares[model])
            probe = statistics.mean(p for _, p, _ in shares[model])
            share = statistics.mean(r for _, _, r in shares[model])
            each = ", ".join(f"{100 * r:.0f}%" for _, _, r in shares[model])
            print(f"{os.path.basename(model)}: Bora decode streams {decode / 1e9:.1f} GB/s of weights, "
                  f"{100 * share:.0f}% of the probe ({probe / 1e9:.1f} GB/s on average; per round: {each})")


if __name__ == "__main__":
    main()
