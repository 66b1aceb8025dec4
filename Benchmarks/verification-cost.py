#!/usr/bin/env python3
"""The cost side of speculative decoding: one step of k rows (the token fed and k − 1 drafts, which
can give up to k tokens) against k decode steps, at a depth, from one `bora bench` run.

    python3 Benchmarks/verification-cost.py [MODEL] [--depth 512] [--rounds 3] [--threads 2] [-k 2,3,4,6,8,12,16]

`bora bench -p K… -n 16 -d DEPTH --json`: each pp-K test is the step of K rows on top of DEPTH
cached tokens, tg16 the decode steps at the same depth. A step of k rows pays when it keeps more than
(step time / decode time) − 1 drafts; the table gives that break-even. Needs no acceptance: random-
weight files (the 7B-shaped ones) measure this side only.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--bora", default=os.path.join(ROOT, ".build", "release", "bora"))
    parser.add_argument("--depth", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("-k", default="2,3,4,6,8,12,16")
    args = parser.parse_args()
    ks = [int(k) for k in args.k.split(",")]
    cmd = [args.bora, "bench"] + ([args.model] if args.model else []) + [
        "-p", ",".join(map(str, ks)), "-n", "16", "-d", str(args.depth), "-r", str(args.rounds), "-t", str(args.threads), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bora bench failed:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout)
    tests = {t["name"]: t for t in result["tests"]}
    decode = next(t for name, t in tests.items() if name.split()[0] == "tg16")
    decode_ms = 1000 / decode["mean"]
    print(f"model {os.path.basename(args.model or 'default')} | {args.threads} threads | depth {args.depth} | "
          f"{args.rounds} rounds | decode {decode['mean']:.2f} ± {decode['stddev']:.2f} tokens/s = {decode_ms:.1f} ms/token")
    share = result.get("decode_bytes_per_second", 0) / max(result.get("memory_bytes_per_second", 1), 1)
    print(f"decode at {share:.0%} of the bandwidth probe ({result.get('memory_bytes_per_second', 0) / 1e9:.1f} GB/s)")
    print("| k rows | step ms | k decode steps ms | step / k decodes | step / one decode | drafts to keep to break even |")
    print("|---|---|---|---|---|---|")
    for k in ks:
        t = next(t for name, t in tests.items() if name.split()[0] == f"pp{k}")
        step_ms = 1000 * k / t["mean"]
        ratio = step_ms / decode_ms
        print(f"| {k} | {step_ms:.1f} | {k * decode_ms:.1f} | {step_ms / (k * decode_ms):.2f} | {ratio:.2f} | {max(ratio - 1, 0):.2f} of {k - 1} |")


if __name__ == "__main__":
    main()
