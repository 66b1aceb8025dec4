#!/usr/bin/env python3
"""`bora serve` against llama.cpp's `llama-server` under concurrent streaming clients, alternating.

    python3 Benchmarks/load-server.py [-t 2] [--concurrency 1,2,4,8] [--requests 2] [--max-tokens 64] [--rounds 1] MODEL.gguf

For each concurrency C, each server is started with C slots (`--parallel C`, llama-server `-np C`,
context C × 2048, 2 threads), then C clients each send `--requests` streaming chat completions one
after the other (different prompts, greedy, `max_tokens` tokens, end tokens ignored so every answer
has the same length). Reported: aggregate generated tokens/s (all tokens over the wall time from the
first request to the last token) and the time to first token (p50 and p99 over all requests).
Needs `requests` (pip). llama-server is built by Tools/make_bench_files.py.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

import requests

from benchcommon import BORA, llama_tool
TOPICS = ["the sea", "mountains", "the moon", "bread", "rivers", "owls", "glass", "trains", "music", "snow", "maps", "bees",
          "copper", "clocks", "rain", "salt"]



def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(engine, args, model, concurrency):
    port = free_port()
    if engine == "bora":
        cmd = [args.bora, "serve", model, "--port", str(port), "--parallel", str(concurrency), "-t", str(args.threads),
               "--max-context", "2048"]
    else:
        cmd = [args.llama_server, "-m", model, "--port", str(port), "-np", str(concurrency), "-t", str(args.threads),
               "-tb", str(args.threads), "-c", str(2048 * concurrency)]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if requests.get(url + "/health", timeout=2).status_code == 200:
                return process, url
        except requests.ConnectionError:
            pass
        if process.poll() is not None:
            sys.exit(f"{engine} server exited with {process.returncode}: {' '.join(cmd)}")
        time.sleep(0.2)
    process.kill()
    sys.exit(f"{engine} server did not become ready")


def one_request(url, prompt, max_tokens):
    """Streams one chat completion; returns (time to first token, tokens, end time)."""
    body = {"model": "m", "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens, "temperature": 0,
            "stream": True, "ignore_eos": True, "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    first, tokens = None, 0
    with requests.post(url + "/v1/chat/completions", json=body, stream=True, timeout=600) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            if chunk.get("choices") and chunk["choices"][0].get("delta", {}).get("content") and first is None:
                first = time.perf_counter() - start
    return first if first is not None else time.perf_counter() - start, tokens, time.perf_counter()


def load(url, concurrency, args):
    ttfts, totals = [], []
    lock = threading.Lock()

    def client(c):
        for i in range(args.requests):
            topic = TOPICS[(c * args.requests + i) % len(TOPICS)]
            ttft, tokens, _ = one_request(url, f"Client {c}, request {i}: tell me about {topic}.", args.max_tokens)
            with lock:
                ttfts.append(ttft)
                totals.append(tokens)

    begin = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - begin
    ttfts.sort()
    p99 = ttfts[min(len(ttfts) - 1, int(round(0.99 * (len(ttfts) - 1))))]
    return sum(totals) / wall, statistics.median(ttfts), p99


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("-t", "--threads", type=int, default=2)
    parser.add_argument("--concurrency", default="1,2,4,8")
    parser.add_argument("--requests", type=int, default=2, help="requests per client")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--bora", default=BORA)
    parser.add_argument("--llama-server", default=llama_tool("llama-server"))
    args = parser.parse_args()
    if not os.path.exists(args.llama_server):
        sys.exit(f"no llama-server at {args.llama_server}: run Tools/make_bench_files.py first")
    results = {}
    for _ in range(args.rounds):
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            for engine in ("llama.cpp", "bora"):
                process, url = start(engine, args, args.model, concurrency)
                try:
                    one_request(url, "Warm up.", 4)
                    results.setdefault((concurrency, engine), []).append(load(url, concurrency, args))
                finally:
                    process.terminate()
                    process.wait(timeout=60)
                print(f"  C={concurrency} {engine} done", file=sys.stderr, flush=True)
    print(f"{os.path.basename(args.model)}: {args.threads} threads, {args.requests} streaming chat requests per client, "
          f"{args.max_tokens} tokens each, {args.rounds} round(s)\n")
    print("| concurrency | llama-server tokens/s | Bora tokens/s | Bora / llama-server | llama-server TTFT p50 / p99 | Bora TTFT p50 / p99 |")
    print("|---|---|---|---|---|---|")
    for concurrency in [int(c) for c in args.concurrency.split(",")]:
        l, b = results[(concurrency, "llama.cpp")], results[(concurrency, "bora")]
        lt, bt = statistics.mean(r[0] for r in l), statistics.mean(r[0] for r in b)
        print(f"| {concurrency} | {lt:.2f} | {bt:.2f} | {bt / lt:.2f}× | {statistics.mean(r[1] for r in l):.2f} / {statistics.mean(r[2] for r in l):.2f} s "
              f"| {statistics.mean(r[1] for r in b):.2f} / {statistics.mean(r[2] for r in b):.2f} s |")


if __name__ == "__main__":
    main()
