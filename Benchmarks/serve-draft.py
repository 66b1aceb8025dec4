#!/usr/bin/env python3
"""Speculation with a draft model under concurrent load: `bora serve MODEL --draft DRAFT`, N chat
requests at once (greedy, one story topic each), their aggregate completion tokens/s with the draft
model (the server's default) and with `"speculative": false`, alternating by round.

With --lookup, `bora serve MODEL --lookup` instead (prompt lookup; default model: the Q4_1 file), and
the requests are Benchmarks/speculative.py's chat workloads in turn (rewrite, quotes, free, then again).

    python3 Tools/make_smollm2_variants.py F16
    python3 Benchmarks/serve-draft.py [--bora .build/release/bora] [--model ~/.cache/bora/models/SmolLM2-135M-Instruct.F16.gguf]
        [--draft ~/.cache/bora/models/SmolLM2-135M-Instruct.Q4_1.gguf] [--parallel 4] [--rounds 3] [--tokens 128]
"""
import argparse
import json
import os
import subprocess
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.expanduser("~/.cache/bora/models")
TOPICS = ["a lighthouse keeper", "a baker in Paris", "a lost robot", "a sailor and a whale", "a mountain village",
          "a clockmaker's apprentice", "a night train", "a garden in winter"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bora", default=os.path.join(ROOT, ".build", "release", "bora"))
    parser.add_argument("--model", default=os.path.join(MODELS, "SmolLM2-135M-Instruct.F16.gguf"))
    parser.add_argument("--draft", default=os.path.join(MODELS, "SmolLM2-135M-Instruct.Q4_1.gguf"))
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--port", type=int, default=8097)
    parser.add_argument("--lookup", action="store_true", help="prompt lookup instead of a draft model")
    args = parser.parse_args()
    prompts = {f"a story about {t}": f"Write a short story about {t}." for t in TOPICS}
    if args.lookup:
        import speculative
        chats = [(name, text) for name, (mode, text) in speculative.workloads().items() if mode == "chat"]
        prompts = {f"{chats[i % len(chats)][0]} {i + 1}": chats[i % len(chats)][1] for i in range(len(TOPICS))}
        if args.model == parser.get_default("model"):
            args.model = os.path.join(MODELS, "SmolLM2-135M-Instruct.Q4_1.gguf")
    if not 1 <= args.parallel <= len(TOPICS):
        raise SystemExit(f"--parallel takes 1 to {len(TOPICS)}")
    method = ["--lookup"] if args.lookup else ["--draft", args.draft]
    server = subprocess.Popen([args.bora, "serve", args.model, *method, "--parallel", str(args.parallel),
                               "--port", str(args.port), "-t", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/health", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit("bora serve exited")
                time.sleep(0.2)

        def ask(topic, speculative, answers):
            body = {"model": "m", "messages": [{"role": "user", "content": prompts[topic]}],
                    "max_tokens": args.tokens, "temperature": 0, "speculative": speculative}
            request = urllib.request.Request(base + "/v1/chat/completions", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            answer = json.loads(urllib.request.urlopen(request, timeout=600).read())
            answers[topic] = (answer["usage"]["completion_tokens"], answer["choices"][0]["message"]["content"])

        rates = {False: [], True: []}
        texts = {}
        # One untimed round of each first: the first requests of a process run slower (the figures of
        # 2026-12-07 night were measured before this, their first rounds reading plain first).
        for speculative in (False, True):
            warm = [threading.Thread(target=ask, args=(t, speculative, {})) for t in list(prompts)[:args.parallel]]
            for t in warm:
                t.start()
            for t in warm:
                t.join()
        for r in range(args.rounds):
            for speculative in ([False, True] if r % 2 == 0 else [True, False]):
                answers = {}
                threads = [threading.Thread(target=ask, args=(t, speculative, answers)) for t in list(prompts)[:args.parallel]]
                began = time.time()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                seconds = time.time() - began
                tokens = sum(n for n, _ in answers.values())
                rates[speculative].append(tokens / seconds)
                texts.setdefault(speculative, {t: a for t, (_, a) in answers.items()})
                print(f"round {r + 1}: {'speculative' if speculative else 'plain'} {tokens} tokens, {tokens / seconds:.1f} tokens/s")
        if texts[False] != texts[True]:
            raise SystemExit("the speculative answers differ from plain decoding")
        plain, draft = rates[False], rates[True]
        drafter = "prompt lookup" if args.lookup else os.path.basename(args.draft)
        print(f"{os.path.basename(args.model)} drafted for by {drafter}, {args.parallel} requests at once, "
              f"{args.tokens} tokens each, greedy: plain {', '.join(f'{x:.1f}' for x in plain)}; "
              f"draft {', '.join(f'{x:.1f}' for x in draft)} tokens/s aggregate; draft/plain per round "
              f"{', '.join(f'{d / p:.2f}' for p, d in zip(plain, draft))}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
