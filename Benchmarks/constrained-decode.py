#!/usr/bin/env python3
"""What a grammar costs in decode speed: `bora run` with and without a constraint, same run, alternating.

    python3 Benchmarks/constrained-decode.py MODEL [MODEL...] [--rounds 5] [--tokens 128] [--threads 2]
                                             [--only json-schema|json-object]

Per model and round: one constrained generation (the JSON Schema below, then `--json-object`) at
temperature 1 with a fixed seed, then an unconstrained one of exactly as many tokens
(`--ignore-eos -n N`), in alternating order. Reported: decode tokens/s of each (mean ± sd over the
rounds), their ratio, and the grammar's own time per generated token (`constraint_seconds` from
`bora run --json`: checking each drawn token, masking the vocabulary when the grammar refuses it,
advancing the matcher). Prompt evaluation is not part of decode tokens/s.

BORA (env) is the binary, default .build/release/bora.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BORA = os.environ.get("BORA", os.path.join(HERE, "..", ".build", "release", "bora"))

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "tags": {"type": "array", "items": {"enum": ["red", "green", "blue"]}, "maxItems": 6},
        "notes": {"type": "array", "items": {"type": "string", "maxLength": 60}, "maxItems": 8},
    },
    "required": ["name", "age", "tags", "notes"],
}
PROMPT = "Describe a person as JSON with a name, an age, colour tags and some notes."


def run(model, threads, extra):
    cmd = [BORA, "run", model, "-p", PROMPT, "--temp", "1", "--seed", "7", "-t", str(threads), "--json", *extra]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def summary(xs):
    return f"{statistics.mean(xs):7.2f} ± {statistics.stdev(xs) if len(xs) > 1 else 0:5.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=128, help="most tokens a constrained generation may take")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=["json-schema", "json-object"], help="measure one constraint")
    args = ap.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(SCHEMA, f)
        schema_file = f.name
    constraints = [("json-schema", ["--json-schema", schema_file]), ("json-object", ["--json-object"])]
    constraints = [c for c in constraints if args.only in (None, c[0])]
    print(f"| model | constraint | tokens | constrained t/s | plain t/s | ratio | grammar ms/token |")
    print(f"|---|---|---|---|---|---|---|")
    for model in args.models:
        for label, flags in constraints:
            constrained, plain, ms, counts = [], [], [], []
            for r in range(args.rounds):
                def constrained_run():
                    return run(model, args.threads, flags + ["-n", str(args.tokens)])
                if r % 2 == 0:
                    c = constrained_run()
                    n = max(c["generated_tokens"], 2)
                    p = run(model, args.threads, ["--ignore-eos", "-n", str(n)])
                else:
                    # Plain first: its length comes from the previous round's constrained run.
                    p = run(model, args.threads, ["--ignore-eos", "-n", str(counts[-1])])
                    c = constrained_run()
                    n = max(c["generated_tokens"], 2)
                constrained.append(c["generation_tokens_per_second"])
                plain.append(p["generation_tokens_per_second"])
                ms.append(1000 * c["constraint_seconds"] / max(c["generated_tokens"], 1))
                counts.append(n)
            ratio = statistics.mean(constrained) / statistics.mean(plain)
            print(f"| {os.path.basename(model)} | {label} | {statistics.mean(counts):.0f} | {summary(constrained)} | "
                  f"{summary(plain)} | {ratio:.3f} | {statistics.mean(ms):.3f} |", flush=True)
    os.unlink(schema_file)


if __name__ == "__main__":
    sys.exit(main())
