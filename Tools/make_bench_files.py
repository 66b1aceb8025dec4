#!/usr/bin/env python3
"""Benchmark files in llama.cpp's real type mixes, made by llama.cpp's own `llama-quantize`.

    python3 Tools/make_bench_files.py 7b Q4_K_M Q5_K_M          # -> CACHE/bench/mistral-7b-shaped-Q4_K_M.gguf, ...
    python3 Tools/make_bench_files.py 1.1b Q6_K Q5_0 Q3_K_M IQ4_XS BF16

A random F16 GGUF in the model's shape (Tools/make_synthetic_gguf.py: Mistral 7B or TinyLlama 1.1B)
is quantized by `llama-quantize F16.gguf OUT.gguf TYPE`, so the files have exactly the tensor types
llama.cpp gives a downloaded Q4_K_M (Q6_K for `output.weight` and half of `attn_v` / `ffn_down`),
Q5_K_M, Q3_K_M (Q3_K/Q4_K/Q5_K), IQ4_XS, ... CACHE is $BORA_CACHE, else $XDG_CACHE_HOME/bora, else
~/.cache/bora. llama.cpp comes from PyPI's llama-cpp-python 0.3.36 source package (its vendored
llama.cpp, built with native CPU flags into CACHE/llama.cpp; about 10 minutes on 2 cores, once), which
also gives `llama-bench`, `llama-batched-bench` and `llama-server` for Benchmarks/compare-llamabench.py,
compare-batched.py and load-server.py. The F16 file is removed afterwards
unless --keep-f16. Files are generated on demand and never committed (the 7B ones are 4–15 GB).
"""
import argparse
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"
NAMES = {"7b": "mistral-7b-shaped", "1.1b": "tinyllama-1.1b-shaped"}


def cache_dir():
    if os.environ.get("BORA_CACHE"):
        return os.environ["BORA_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bora")


def run(cmd, **kw):
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, **kw)


def llama_cpp_tools(cache):
    """Builds llama-quantize, llama-bench, llama-batched-bench and llama-server from the llama-cpp-python
    sdist if they are missing."""
    root = os.path.join(cache, "llama.cpp")
    bin_dir = os.path.join(root, "build", "bin")
    tools = [os.path.join(bin_dir, t) for t in ("llama-quantize", "llama-bench", "llama-batched-bench", "llama-server")]
    if all(os.path.exists(t) for t in tools):
        return bin_dir
    os.makedirs(root, exist_ok=True)
    sdists = glob.glob(os.path.join(root, "llama_cpp_python-*.tar.gz"))
    if not sdists:
        run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", "llama-cpp-python",
             LLAMA_CPP_PYTHON, "-d", root])
        sdists = glob.glob(os.path.join(root, "llama_cpp_python-*.tar.gz"))
    source = os.path.join(root, "src")
    if not os.path.isdir(source):
        with tarfile.open(sdists[0]) as tar:
            top = tar.getnames()[0].split("/")[0]
            tar.extractall(root, filter="data")
        os.rename(os.path.join(root, top, "vendor", "llama.cpp"), source)
    build = os.path.join(root, "build")
    run(["cmake", "-S", source, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF",
         "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_SERVER=ON"])
    run(["cmake", "--build", build, "-j", str(os.cpu_count() or 2), "--target", "llama-quantize", "llama-bench", "llama-batched-bench",
         "llama-server"])
    return bin_dir


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("shape", choices=sorted(NAMES))
    parser.add_argument("types", nargs="+", help="llama-quantize type names: Q4_K_M, Q5_K_M, Q6_K, Q3_K_M, IQ4_XS, Q5_0, BF16, ...")
    parser.add_argument("--out", help="output folder (default CACHE/bench)")
    parser.add_argument("--keep-f16", action="store_true")
    args = parser.parse_args()
    # What the run needs, checked before a build of several minutes rather than after it.
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if importlib.util.find_spec("gguf") is None or importlib.util.find_spec("numpy") is None:
        missing.append("the gguf and numpy Python packages (pip install gguf numpy)")
    if missing:
        sys.exit("make_bench_files.py needs " + ", ".join(missing))
    cache = cache_dir()
    out = args.out or os.path.join(cache, "bench")
    os.makedirs(out, exist_ok=True)
    bin_dir = llama_cpp_tools(cache)
    name = NAMES[args.shape]
    f16 = os.path.join(out, f"{name}-F16.gguf")
    todo = [t for t in args.types if not os.path.exists(os.path.join(out, f"{name}-{t}.gguf"))]
    if todo and not os.path.exists(f16):
        run([sys.executable, os.path.join(HERE, "make_synthetic_gguf.py"), "F16", f16 + ".partial", "--shape", args.shape])
        os.rename(f16 + ".partial", f16)
    for t in todo:
        target = os.path.join(out, f"{name}-{t}.gguf")
        if t == "F16":
            continue
        run([os.path.join(bin_dir, "llama-quantize"), f16, target + ".partial", t, str(os.cpu_count() or 2)],
            stdout=subprocess.DEVNULL)
        os.rename(target + ".partial", target)
    if os.path.exists(f16) and not args.keep_f16 and "F16" not in args.types:
        os.remove(f16)
    for t in args.types:
        print(os.path.join(out, f"{name}-{t}.gguf"))


if __name__ == "__main__":
    main()
