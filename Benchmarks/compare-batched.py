#!/usr/bin/env python3
"""Bora's batched engine against llama.cpp's llama-batched-bench on the same GGUF files, alternating.

    python3 Benchmarks/compare-batched.py [-t 2] [--npp 128] [--ntg 64] [--npl 1,2,4,8] [--rounds 2] MODEL.gguf ...

llama-batched-bench is built by Tools/make_bench_files.py (llama.cpp vendored in PyPI's
llama-cpp-python 0.3.36, native CPU flags) into CACHE/llama.cpp/build/bin; pass --batched-bench to
use another. Both run the same test for each sequence count B: B prompts of NPP random tokens in
one batch (aggregate prefill tokens/s), then NTG decode steps of one token for each of the B
sequences (aggregate decode tokens/s = B·NTG / time). llama.cpp: its defaults (F16 KV cache, flash
attention auto, batch 2048, ubatch 512), a context of B·(NPP + NTG); Bora: `bora bench --parallel`
(F16 KV caches, one slot per sequence, the prompts in one step, greedy sampling of every token
included in the time). Each round runs llama-batched-bench then bora on every file; the table gives
mean ± stddev over the rounds.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

from benchcommon import BORA, llama_tool



def llama(tool, path, args, counts):
    context = max(counts) * (args.npp + args.ntg) + 16
    cmd = [tool, "-m", path, "-t", str(args.threads), "-tb", str(args.threads), "-npp", str(args.npp), "-ntg", str(args.ntg),
           "-npl", ",".join(map(str, counts)), "-c", str(context), "--output-format", "jsonl"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"llama-batched-bench failed on {path}:\n{out.stderr[-2000:]}")
    rows = [json.loads(line) for line in (out.stdout + out.stderr).splitlines() if line.startswith("{")]
    return {r["pl"]: (r["speed_pp"], r["speed_tg"]) for r in rows}


def bora(path, args, counts):
    cmd = [args.bora, "bench", path, "-t", str(args.threads), "-p", str(args.npp), "-n", str(args.ntg),
           "--parallel", ",".join(map(str, counts)), "-r", "1", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bora bench failed on {path}:\n{out.stderr[-2000:]}")
    return {r["parallel"]: (r["pp_tps"], r["tg_tps"]) for r in json.loads(out.stdout)["parallel"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("-t", "--threads", type=int, default=2)
    parser.add_argument("--npp", type=int, default=128)
    parser.add_argument("--ntg", type=int, default=64)
    parser.add_argument("--npl", default="1,2,4,8")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--bora", default=BORA)
    parser.add_argument("--batched-bench", default=llama_tool("llama-batched-bench"))
    args = parser.parse_args()
    counts = [int(c) for c in args.npl.split(",")]
    if not os.path.exists(args.batched_bench):
        sys.exit(f"no llama-batched-bench at {args.batched_bench}: run Tools/make_bench_files.py first")
    samples = {}   # (model, engine, count) -> ([pp], [tg])
    for _ in range(args.rounds):
        for path in args.models:
            for engine, run in (("llama.cpp", lambda: llama(args.batched_bench, path, args, counts)), ("bora", lambda: bora(path, args, counts))):
                for count, (pp, tg) in run().items():
                    entry = samples.setdefault((path, engine, count), ([], []))
                    entry[0].append(pp)
                    entry[1].append(tg)
                print(f"  {os.path.basename(path)}: {engine} done", file=sys.stderr, flush=True)

    def fmt(values):
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.2f} ± {sd:.2f}"

    print(f"threads {args.threads}, {args.rounds} rounds, -npp {args.npp} -ntg {args.ntg}, aggregate tokens/s (mean ± stddev)\n")
    print("| model | B | llama.cpp pp | Bora pp | Bora / llama.cpp | llama.cpp tg | Bora tg | Bora / llama.cpp | Bora tg / Bora tg at B=1 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in args.models:
        single = samples.get((path, "bora", counts[0]))
        for count in counts:
            l, b = samples.get((path, "llama.cpp", count)), samples.get((path, "bora", count))
            if not l or not b:
                continue
            scale = statistics.mean(b[1]) / statistics.mean(single[1]) if single and counts[0] == 1 else float("nan")
            print(f"| {os.path.basename(path)} | {count} | {fmt(l[0])} | {fmt(b[0])} | {statistics.mean(b[0]) / statistics.mean(l[0]):.2f}× "
                  f"| {fmt(l[1])} | {fmt(b[1])} | {statistics.mean(b[1]) / statistics.mean(l[1]):.2f}× | {scale:.2f}× |")


if __name__ == "__main__":
    main()
