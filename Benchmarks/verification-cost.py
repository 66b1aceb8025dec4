#!/usr/bin/env python3
"""The cost side of speculative decoding: one step of k rows (the token fed and k − 1 drafts, which
can give up to k tokens) against a decode step, at a depth, from one `bora bench --verify` run.

    python3 Benchmarks/verification-cost.py [MODEL] [--depth 512] [--rounds 60] [--threads 2] [-k 2,3,4,6,8,12,16]

`bora bench -p 0 -n 0 --verify 1,K… -d DEPTH -r ROUNDS --json`: each vK sample is one step of K rows
on top of DEPTH cached tokens with the logits of every row (what a verification computes), cut back
to DEPTH after it as rejected drafts are; v1 is a decode step. The sizes run interleaved, one step of
each per round, so each step is divided by the decode step of its own round and the table gives the
median and quartiles of those ratios (a host whose bandwidth moves within seconds moves both). A
step of k rows pays when it keeps more than (step / decode) − 1 drafts; the table gives that
break-even. Needs no acceptance: random-weight files (the 7B-shaped ones) measure this side only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--bora", default=os.path.join(ROOT, ".build", "release", "bora"))
    parser.add_argument("--depth", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("-k", default="2,3,4,6,8,12,16")
    args = parser.parse_args()
    ks = [int(k) for k in args.k.split(",")]
    if any(k < 2 for k in ks) or args.rounds < 4:
        sys.exit("-k takes step sizes of at least 2 rows, --rounds at least 4")
    cmd = [args.bora, "bench"] + ([args.model] if args.model else []) + [
        "-p", "0", "-n", "0", "--verify", ",".join(map(str, [1] + ks)), "-d", str(args.depth), "-r", str(args.rounds),
        "-t", str(args.threads), "--json", "--no-memory-probe"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bora bench failed:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout)
    steps = {int(t["name"].split()[0][1:]): [t["n_prompt"] / s for s in t["samples"]] for t in result["tests"]}
    decode = steps[1]
    decode_ms = 1000 * statistics.median(decode)
    print(f"model {os.path.basename(args.model or 'default')} | {args.threads} threads | depth {args.depth} | "
          f"{args.rounds} rounds, the sizes interleaved | decode step median {decode_ms:.2f} ms")
    print("| k rows | step ms (median) | step / one decode (median of per-round ratios) | quartiles | step / k decodes | "
          "drafts to keep to break even |")
    print("|---|---|---|---|---|---|")
    for k in ks:
        ratios = [s / d for s, d in zip(steps[k], decode)]
        q1, median, q3 = statistics.quantiles(ratios, n=4)
        print(f"| {k} | {1000 * statistics.median(steps[k]):.2f} | {median:.2f} | {q1:.2f}–{q3:.2f} | {median / k:.2f} | "
              f"{max(median - 1, 0):.2f} of {k - 1} |")


if __name__ == "__main__":
    main()
