#!/usr/bin/env python3
"""Replays prompt lookup's drafting over recorded answers: what a drafting rule would give, free of timing noise.

For each workload of Benchmarks/speculative.py, records the prompt's ids (`bora tokenize`) and the
greedy answer (`bora run --json --temp 0`), then walks the answer step by step as Bora's
SequenceGeneration does with `--lookup`: a Python copy of PromptLookup (the longest recurring suffix
of 4 down to 2 tokens, else copying on along the text the last drafts came from) and DraftSchedule
(the draft length from the decayed kept share per kind and the step costs). A step's drafts are
kept up to the first that differs from the answer. Each step of k + 1 rows is charged its cost
against a decode step, measured by `bora bench --verify 1,2,…,9` at --depth (or given with --costs),
and the modelled speed-up is tokens / Σ cost. Real runs also pay per-step overheads, attention at
the answer's own depth and the host's noise, so they come out lower; the replay compares rules.

Rules: `match` (the suffix match only, Bora before 2026-12-08), `follow` (Bora's: copying goes on
past a substitution until a draft that fell short is followed by one that keeps nothing), and
`follow-0` / `follow-2` (stop after any draft that falls short / after two more that keep nothing).
Two bounds that know the answer: `best source` drafts from wherever in the text so far the answer's
next tokens run longest (the rule's lengths), and `oracle` also drafts exactly the tokens that will
be kept (up to 8, never a row wasted) — what no lookup rule can beat with one draft per step.

  python3 Benchmarks/lookup-replay.py [MODEL] [--tokens 192] [--depth 300] [--costs 1.17,1.32,…]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import speculative  # noqa: E402  (the workloads)

MAX_DRAFT = 8


class Schedule:
    """DraftSchedule with fixed costs."""
    def __init__(self, cost, kinds):
        self.cost, self.current = cost, 0
        self.kinds = [dict(tried=0.0, kept=0.0, pause=0, length=8, probing=False) for _ in range(kinds)]

    def next(self, kind):
        self.current, k = kind, self.kinds[kind]
        if k["pause"] > 0:
            k["pause"] -= 1
            k["probing"] = k["pause"] == 0
            return 0
        a = (k["kept"] + 1) / (k["tried"] + 2)
        best, best_value, gain, term = 0, 1.0, 1.0, 1.0
        for n in range(1, MAX_DRAFT + 1):
            term *= a
            gain += term
            if gain / self.cost[n + 1] > best_value:
                best, best_value = n, gain / self.cost[n + 1]
        if k["probing"]:
            return max(best, 2)
        if best == 0:
            k["pause"], k["length"] = k["length"], min(256, 2 * k["length"])
        return best

    def record(self, drafted, kept):
        k = self.kinds[self.current]
        k["tried"] = 0.8 * k["tried"] + kept + (1 if kept < drafted else 0)
        k["kept"] = 0.8 * k["kept"] + kept
        if k["probing"]:
            k["probing"] = False
            if kept > 0:
                k["length"] = 8


def match(tokens, low=2, high=4):
    n, best, best_end, end = len(tokens), 0, 0, len(tokens) - 1
    while end >= low:
        length = 0
        while length < high and length < end and tokens[end - 1 - length] == tokens[n - 1 - length]:
            length += 1
        if length > best:
            best, best_end = length, end
            if best == high:
                break
        end -= 1
    return (best_end, best) if best >= low else None


def run_length(history, start, answer, i):
    """How many of the answer's tokens from i the text from `start` gives (up to MAX_DRAFT)."""
    n = 0
    while n < MAX_DRAFT and start + n < len(history) and i + n < len(answer) and history[start + n] == answer[i + n]:
        n += 1
    return n


def replay(prompt, answer, cost, follow_misses, bound=None):
    """tokens per step and the modelled speed-up; follow_misses None: no copying on. bound: None (the
    rule), "source" (the best source, the rule's lengths) or "oracle" (the best source, exact lengths)."""
    history, i, steps, charged = prompt + answer[:1], 1, 0, 0.0
    schedule, following = Schedule(cost, 6), 5
    distance, misses = None, 0
    while i < len(answer):
        source, drafts = match(history), []
        if source is None and follow_misses is not None and distance is not None and distance <= len(history):
            source = (len(history) - distance, following)
        if bound is not None:
            best = max(range(len(history)), key=lambda s: run_length(history, s, answer, i))
            if run_length(history, best, answer, i) > 0:
                source = (best, source[1] if source else 2)
        if source is not None:
            if bound == "oracle":
                k = run_length(history, source[0], answer, i)
            else:
                k = min(schedule.next(source[1]), len(history) - source[0], len(answer) - i - 1)
            drafts = history[source[0]:source[0] + max(k, 0)]
        kept = 0
        while kept < len(drafts) and drafts[kept] == answer[i + kept]:
            kept += 1
        if drafts:
            if bound != "oracle":
                schedule.record(len(drafts), kept)
            position = len(history)
        steps, charged = steps + 1, charged + cost[1 + len(drafts)]
        history += answer[i:i + kept + 1]
        i += kept + 1
        if drafts:
            clean = kept == len(drafts) and len(history) > position + kept and history[position + kept] == history[source[0] + kept]
            misses = 0 if clean else (misses + 1 if kept == 0 else 1)
            distance = position - source[0] if follow_misses is not None and misses <= follow_misses else None
    return (len(answer) - 1) / steps, (len(answer) - 1) / charged


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--bora", default=os.path.join(speculative.ROOT, ".build", "release", "bora"))
    parser.add_argument("--tokens", type=int, default=192)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--depth", type=int, default=300, help="depth of the --verify steps that price the rows")
    parser.add_argument("--costs", default=None, help="costs of steps of 2…9 rows against a decode step (skips the measurement)")
    args = parser.parse_args()
    if args.model is None:
        args.model = subprocess.run([os.path.join(speculative.ROOT, "Tools", "fetch-default-model.sh")],
                                    capture_output=True, text=True, check=True).stdout.strip()
    if args.costs:
        cost = [0, 1] + [float(c) for c in args.costs.split(",")]
        if len(cost) != 10:
            sys.exit("--costs takes 8 values: steps of 2 … 9 rows")
    else:
        out = subprocess.run([args.bora, "bench", args.model, "-p", "0", "-n", "0", "--verify", "1,2,3,4,5,6,7,8,9",
                              "-d", str(args.depth), "-r", "30", "-t", str(args.threads), "--json", "--no-memory-probe"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"bora bench failed:\n{out.stderr[-2000:]}")
        # as Benchmarks/verification-cost.py: a step's time is its rows over its sample's rate
        steps = {int(t["name"].split()[0][1:]): [t["n_prompt"] / s for s in t["samples"]] for t in json.loads(out.stdout)["tests"]}
        cost = [0] + [statistics.median(s / d for s, d in zip(steps[k], steps[1])) for k in range(1, 10)]
    print(f"model {os.path.basename(args.model)} | step costs 2…9 rows: {', '.join(f'{c:.2f}' for c in cost[2:])}")
    rules = ("match", "follow", "follow-0", "follow-2", "best source", "oracle")
    print("| workload | prompt | answer | " + " | ".join(f"{r}: tokens/step, speed-up" for r in rules) + " |")
    print("|---|---|---|" + "---|" * len(rules))
    for name, (mode, text) in speculative.workloads().items():
        run = speculative.bora(args.bora, args.model, mode, text, args.tokens, args.threads, False, MAX_DRAFT, None)
        with tempfile.NamedTemporaryFile("w", suffix=".json") as chat:
            if mode == "chat":
                json.dump([{"role": "system", "content": speculative.SYSTEM}, {"role": "user", "content": text}], chat)
                chat.flush()
                source = ["--chat", chat.name]
            else:
                source = ["--text", text]
            ids = subprocess.run([args.bora, "tokenize", args.model, *source, "--json"], capture_output=True, text=True, check=True)
        prompt = [int(x) for x in json.loads(ids.stdout)["ids"]]
        if len(prompt) != run["prompt_tokens"]:
            sys.exit(f"{name}: bora tokenize gave {len(prompt)} prompt ids, bora run read {run['prompt_tokens']}")
        cells = [replay(prompt, run["tokens"], cost, misses) for misses in (None, 1, 0, 2)]
        cells += [replay(prompt, run["tokens"], cost, 1, bound) for bound in ("source", "oracle")]
        print(f"| {name} | {len(prompt)} | {len(run['tokens'])} | " + " | ".join(f"{t:.2f}, {s:.2f}×" for t, s in cells) + " |")


if __name__ == "__main__":
    main()
