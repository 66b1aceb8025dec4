#!/usr/bin/env python3
"""Speculative decoding with prompt lookup against plain decoding, same run, alternating.

Workloads on the default model (SmolLM2-135M-Instruct), greedy, as chats with one system prompt:
  rewrite  rewrite a given paragraph with one small edit
  code     continue a code file (this repository's Tools/make_bench_files.py as of commit db8836e,
           its first 70 lines, read with git so that later edits of the file do not change the
           workload), as a raw completion
  quotes   answer with quotes from a long prompt
  free     free text (a story), where drafts rarely hold
Each round runs `bora run --json --temp 0 -n N` plain, then with `--lookup` (order alternating by
round), checks the two answers are the same tokens, and records decode tokens/s, drafted and kept
tokens and tokens per weight pass. Where llama.cpp's llama-lookup is found (--llama-lookup, else
CACHE/llama.cpp/build/bin: after Tools/make_bench_files.py has configured llama.cpp there,
`cmake --build CACHE/llama.cpp/build --target llama-lookup`) each round also runs it on the same
chat text with its fixed draft length (--draft-max) and with 0 (its plain decoding, same loop).

  python3 Benchmarks/speculative.py [MODEL] [--rounds 5] [--tokens 192] [--threads 2] [--only rewrite,free]

With --draft DRAFT, the speculative runs draft with that model (`bora run --draft DRAFT`) instead of
prompt lookup, and llama.cpp is left out. The only real weights here are SmolLM2's, so the pair is
that model at full precision against its Q4_1 file as the draft (Tools/make_smollm2_variants.py):

  python3 Tools/make_smollm2_variants.py F16
  python3 Benchmarks/speculative.py ~/.cache/bora/models/SmolLM2-135M-Instruct.F16.gguf \
      --draft ~/.cache/bora/models/SmolLM2-135M-Instruct.Q4_1.gguf --rounds 4

Prints a table (mean ± sd over rounds) and, with --json FILE, every sample.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSTEM = "You are a helpful assistant."
# The revision whose Tools/make_bench_files.py the code workload continues (the prompt of the
# published numbers: an edit of that file changed the answer, and with it the kept share, 53% → 79%).
CODE_REVISION = "db8836e"

PARAGRAPH = ("The harbour was quiet at dawn. Fishermen mended their nets on the quay while gulls circled the boats, "
             "waiting for scraps. An old woman sold bread from a cart by the harbour wall, and the smell of it drifted "
             "over the water. By noon the sun stood high, the tide had turned, and the first boats came back heavy with "
             "fish. Children ran along the harbour steps to meet them, and the market filled with voices until evening.")

LONG = "\n\n".join([
    "Section 1. The committee met on the third of March to review the budget. It agreed that the library would "
    "receive new shelving, that the roof of the community hall would be repaired before winter, and that the "
    "summer festival would move from the square to the park.",
    "Section 2. Residents raised concerns about traffic on Mill Road. The committee asked the council to study "
    "a one-way system and to report back by June. Until then, a temporary speed limit of twenty miles per hour "
    "will apply between the school and the bridge.",
    "Section 3. The treasurer reported that donations had risen by twelve percent over the year. The committee "
    "thanked the volunteers who ran the book sale and the garden tour, which together raised more than four "
    "thousand pounds for the children's reading program.",
    "Section 4. The next meeting will be held on the fifth of May in the community hall. Members who cannot "
    "attend may send written comments to the secretary at least one week before the meeting.",
])


def workloads():
    """name → (chat or raw, text)."""
    source = subprocess.run(["git", "-C", ROOT, "show", f"{CODE_REVISION}:Tools/make_bench_files.py"],
                            capture_output=True, text=True)
    if source.returncode != 0:
        sys.exit(f"the code workload reads Tools/make_bench_files.py at {CODE_REVISION} with git: {source.stderr.strip()}")
    code = "".join(source.stdout.splitlines(keepends=True)[:70])
    return {
        "rewrite": ("chat", f"Rewrite the following paragraph, replacing the word 'harbour' with 'port' everywhere. "
                            f"Change nothing else.\n\n{PARAGRAPH}"),
        "code": ("raw", code),
        "quotes": ("chat", f"{LONG}\n\nQuote sections 2 and 3 of the minutes above word for word."),
        "free": ("chat", "Write a short story about a lighthouse keeper who finds a message in a bottle."),
    }


def chatml(user):
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
            f"<|im_start|>assistant\n")


def bora(binary, model, mode, prompt, tokens, threads, lookup, draft_max, ngram, draft=None):
    cmd = [binary, "run", model, "--json", "--temp", "0", "-n", str(tokens), "-t", str(threads), "-p", prompt]
    cmd += ["--chat", "--system", SYSTEM] if mode == "chat" else ["--raw"]
    if lookup and draft:
        cmd += ["--draft", draft, "--draft-max", str(draft_max)]
    elif lookup:
        cmd += ["--lookup", "--draft-max", str(draft_max)] + (["--lookup-ngram", ngram] if ngram else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bora failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout)


def llama_lookup(binary, model, text, tokens, threads, draft):
    cmd = [binary, "-m", model, "-p", text, "-n", str(tokens), "-t", str(threads), "--temp", "0",
           "--spec-draft-n-max", str(draft), "--spec-draft-n-min", "0", "-c", "4096"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"llama-lookup failed:\n{out.stderr[-2000:]}")
    log = out.stdout + out.stderr
    decoded = re.search(r"decoded\s+(\d+) tokens in\s+([\d.]+) seconds", log)
    encoded = re.search(r"encoded\s+(\d+) tokens", log)
    drafted = re.search(r"n_drafted\s+=\s+(\d+)", log)
    accepted = re.search(r"n_accept\s+=\s+(\d+)", log)
    if not decoded:
        sys.exit(f"llama-lookup printed no timing:\n{log[-2000:]}")
    n, seconds = int(decoded.group(1)), float(decoded.group(2))
    return {"tokens_per_second": n / seconds, "prompt_tokens": int(encoded.group(1)) if encoded else None,
            "drafted": int(drafted.group(1)) if drafted else 0, "accepted": int(accepted.group(1)) if accepted else 0}


def summary(xs):
    return (statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--bora", default=os.path.join(ROOT, ".build", "release", "bora"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=192)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--draft-max", type=int, default=8)
    parser.add_argument("--ngram", default=None, help="bora's --lookup-ngram MIN:MAX")
    parser.add_argument("--draft", default=None, help="draft with this model (bora's --draft) instead of prompt lookup")
    parser.add_argument("--only", default=None, help="comma-separated workloads")
    parser.add_argument("--llama-lookup", default=None, help="llama.cpp's llama-lookup (default: CACHE/llama.cpp/build/bin)")
    parser.add_argument("--json", default=None, help="write every sample here")
    args = parser.parse_args()
    if args.model is None:
        args.model = subprocess.run([os.path.join(ROOT, "Tools", "fetch-default-model.sh")], capture_output=True,
                                    text=True, check=True).stdout.strip()
    cache = os.environ.get("BORA_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bora")
    lookup_bin = args.llama_lookup or os.path.join(cache, "llama.cpp", "build", "bin", "llama-lookup")
    have_llama = os.path.exists(lookup_bin) and not args.draft
    chosen = workloads()
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(",")}

    method = "draft" if args.draft else "lookup"
    samples = {name: {"plain": [], "lookup": [], "drafted": [], "accepted": [], "passes": [], "generated": [],
                      "llama_plain": [], "llama_lookup": [], "llama_accept": []} for name in chosen}
    for r in range(args.rounds):
        for name, (mode, prompt) in chosen.items():
            s = samples[name]
            order = [False, True] if r % 2 == 0 else [True, False]
            results = {}
            for lookup in order:
                results[lookup] = bora(args.bora, args.model, mode, prompt, args.tokens, args.threads, lookup, args.draft_max,
                                       args.ngram, args.draft)
            plain, fast = results[False], results[True]
            if plain["tokens"] != fast["tokens"]:
                sys.exit(f"{name}: speculative output differs from plain decoding")
            s["plain"].append(plain["generation_tokens_per_second"])
            s["lookup"].append(fast["generation_tokens_per_second"])
            s["drafted"].append(fast["drafted_tokens"])
            s["accepted"].append(fast["accepted_draft_tokens"])
            s["passes"].append(fast["weight_passes"])
            s["generated"].append(fast["generated_tokens"])
            if have_llama:
                for draft in ([0, args.draft_max] if r % 2 == 0 else [args.draft_max, 0]):
                    text = chatml(prompt) if mode == "chat" else prompt
                    l = llama_lookup(lookup_bin, args.model, text, len(plain["tokens"]), args.threads, draft)
                    if l["prompt_tokens"] is not None and l["prompt_tokens"] != plain["prompt_tokens"]:
                        print(f"note: {name}: llama-lookup read {l['prompt_tokens']} prompt tokens, bora {plain['prompt_tokens']}",
                              file=sys.stderr)
                    if draft == 0:
                        s["llama_plain"].append(l["tokens_per_second"])
                    else:
                        s["llama_lookup"].append(l["tokens_per_second"])
                        s["llama_accept"].append(l["accepted"] / max(l["drafted"], 1))
            print(f"round {r + 1}/{args.rounds} {name}: plain {s['plain'][-1]:.1f}, {method} {s['lookup'][-1]:.1f} tokens/s, "
                  f"kept {fast['accepted_draft_tokens']}/{fast['drafted_tokens']}", file=sys.stderr)

    drafting = f"--draft {os.path.basename(args.draft)}" if args.draft else "--lookup" + (f" --lookup-ngram {args.ngram}" if args.ngram else "")
    print(f"model {os.path.basename(args.model)} | {args.threads} threads | greedy, {args.tokens} tokens at most | "
          f"{drafting} --draft-max {args.draft_max} | {args.rounds} rounds, alternating")
    header = f"| workload | answer tokens | plain t/s | {method} t/s | speed-up | drafts kept | tokens/pass |"
    if have_llama:
        header += " llama.cpp plain t/s | llama-lookup t/s | llama.cpp speed-up | llama-lookup kept |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name, s in samples.items():
        (pm, ps), (lm, ls) = summary(s["plain"]), summary(s["lookup"])
        ratios = [b / a for a, b in zip(s["plain"], s["lookup"])]
        rm, rs = summary(ratios)
        kept = sum(s["accepted"]) / max(sum(s["drafted"]), 1)
        per_pass = sum(s["generated"]) / max(sum(s["passes"]), 1)
        row = (f"| {name} | {s['generated'][0]} | {pm:.1f} ± {ps:.1f} | {lm:.1f} ± {ls:.1f} | {rm:.2f} ± {rs:.2f} | "
               f"{kept:.0%} | {per_pass:.2f} |")
        if have_llama:
            (a, sa), (b, sb) = summary(s["llama_plain"]), summary(s["llama_lookup"])
            lr = summary([y / x for x, y in zip(s["llama_plain"], s["llama_lookup"])])
            row += f" {a:.1f} ± {sa:.1f} | {b:.1f} ± {sb:.1f} | {lr[0]:.2f} ± {lr[1]:.2f} | {statistics.mean(s['llama_accept']):.0%} |"
        print(row)
    if not have_llama and not args.draft:
        print(f"(no llama-lookup at {lookup_bin}: llama.cpp's columns left out)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(samples, f, indent=1)


if __name__ == "__main__":
    main()
