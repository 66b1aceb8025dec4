#!/usr/bin/env python3
"""Writes Tests/BoraTests/Fixtures/grammars/: llama.cpp's example grammars (grammars/*.gbnf) and
the grammar cases of its own test suite (tests/test-grammar-integration.cpp: a GBNF grammar, the
strings it must accept, the strings it must refuse), as JSON, from the llama.cpp that PyPI's
llama-cpp-python source package vendors.

    python3 Tools/make_grammar_references.py [LLAMA_CPP_SOURCE]

Without an argument the source package is fetched with pip into a temporary folder. Cases that use
llama.cpp's token syntax (token(…), <[…]>) are left out: it is not GBNF text. The JSON Schema
cases (test_schema: a schema, the JSON it must accept, the JSON it must refuse) go to
llama-schema-integration.json.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "BoraTests", "Fixtures", "grammars")


def source_tree():
    if len(sys.argv) > 1:
        return sys.argv[1]
    tmp = tempfile.mkdtemp()
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", "llama-cpp-python",
                    LLAMA_CPP_PYTHON, "-d", tmp], check=True)
    sdist = glob.glob(os.path.join(tmp, "llama_cpp_python-*.tar.gz"))[0]
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        tar.extractall(tmp, filter="data")
    return os.path.join(tmp, top, "vendor", "llama.cpp")


def c_string(text, i):
    """A C++ string literal at text[i] (plain or R\"\"\"(…)\"\"\"): its value and the index after it."""
    if text.startswith('R"""(', i):
        end = text.index(')"""', i)
        return text[i + 5:end], end + 4
    assert text[i] == '"', text[i:i + 20]
    out, j = [], i + 1
    escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
    while text[j] != '"':
        if text[j] == "\\":
            e = text[j + 1]
            if e == "x":
                m = re.match(r"[0-9a-fA-F]+", text[j + 2:])
                out.append(chr(int(m.group(0), 16)))
                j += 2 + len(m.group(0))
                continue
            out.append(escapes[e])
            j += 2
        else:
            out.append(text[j])
            j += 1
    return "".join(out), j + 1


def skip_space(text, i):
    while True:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if text.startswith("//", i):
            i = text.index("\n", i)
        else:
            return i


def string_list(text, i):
    """A braced list of string literals at text[i]; None if an entry is anything else."""
    i = skip_space(text, i)
    assert text[i] == "{"
    i += 1
    items = []
    while True:
        i = skip_space(text, i)
        if text[i] == "}":
            return items, i + 1
        if text[i] != '"' and not text.startswith('R"""(', i):
            return None, text.index("}", i) + 1
        value, i = c_string(text, i)
        # Adjacent literals concatenate.
        while True:
            j = skip_space(text, i)
            if text[j] == '"':
                more, i = c_string(text, j)
                value += more
            else:
                break
        items.append(value)
        i = skip_space(text, i)
        if text[i] == ",":
            i += 1


def cases(path):
    text = open(path, encoding="utf-8").read()
    out = []
    for m in re.finditer(r"\btest_grammar\(\s*", text):
        i = m.end()
        if text[i] != '"':
            continue   # the definition
        desc, i = c_string(text, i)
        i = skip_space(text, i)
        if text[i] != ",":
            continue
        i = skip_space(text, i + 1)
        if text[i] != '"' and not text.startswith('R"""(', i):
            continue
        grammar, i = c_string(text, i)
        i = skip_space(text, i)
        assert text[i] == ","
        passing, i = string_list(text, i + 1)
        i = skip_space(text, i)
        assert text[i] == ","
        failing, i = string_list(text, i + 1)
        if passing is None or failing is None or "<[" in grammar:
            continue
        out.append({"description": desc, "grammar": grammar, "passing": passing, "failing": failing})
    return out


def schema_cases(path):
    """test_schema([description,] schema, passing, failing) calls: a JSON Schema, the JSON texts the
    grammar llama.cpp makes of it must accept and those it must refuse."""
    text = open(path, encoding="utf-8").read()
    out = []
    for m in re.finditer(r"\btest_schema\(\s*", text):
        i = skip_space(text, m.end())
        if text[i] != '"' and not text.startswith('R"""(', i):
            continue   # the definition
        first, i = c_string(text, i)
        i = skip_space(text, i)
        assert text[i] == ","
        i = skip_space(text, i + 1)
        if text[i] == '"' or text.startswith('R"""(', i):
            desc, (schema, i) = first, c_string(text, i)
            i = skip_space(text, i)
            assert text[i] == ","
            i += 1
        else:
            desc, schema = "", first
        passing, i = string_list(text, i)
        i = skip_space(text, i)
        assert text[i] == ","
        failing, i = string_list(text, i + 1)
        if passing is None or failing is None:
            continue
        out.append({"description": desc, "schema": json.loads(schema), "passing": passing, "failing": failing})
    return out


def main():
    src = source_tree()
    os.makedirs(OUT, exist_ok=True)
    for g in sorted(glob.glob(os.path.join(src, "grammars", "*.gbnf"))):
        shutil.copy(g, OUT)
    found = cases(os.path.join(src, "tests", "test-grammar-integration.cpp"))
    with open(os.path.join(OUT, "llama-grammar-integration.json"), "w", encoding="utf-8") as f:
        json.dump({"source": LLAMA_CPP_PYTHON + " vendor/llama.cpp/tests/test-grammar-integration.cpp", "cases": found},
                  f, ensure_ascii=False, indent=1)
    schemas = schema_cases(os.path.join(src, "tests", "test-grammar-integration.cpp"))
    with open(os.path.join(OUT, "llama-schema-integration.json"), "w", encoding="utf-8") as f:
        json.dump({"source": LLAMA_CPP_PYTHON + " vendor/llama.cpp/tests/test-grammar-integration.cpp (test_schema)",
                   "cases": schemas}, f, ensure_ascii=False, indent=1)
    print(f"{len(found)} grammar cases, {len(schemas)} schema cases, {len(glob.glob(os.path.join(OUT, '*.gbnf')))} grammars in {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
