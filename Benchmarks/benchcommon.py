"""What the benchmark scripts share: where Bora keeps its cache, and llama.cpp's tools in it."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BORA = os.path.join(ROOT, ".build", "release", "bora")


def cache_dir():
    """$BORA_CACHE, else $XDG_CACHE_HOME/bora, else ~/.cache/bora (as Bora's CacheDirectory)."""
    if os.environ.get("BORA_CACHE"):
        return os.environ["BORA_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bora")


def llama_tool(name):
    """A tool built by Tools/make_bench_files.py."""
    return os.path.join(cache_dir(), "llama.cpp", "build", "bin", name)
