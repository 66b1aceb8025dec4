#!/usr/bin/env python3
"""Random blocks of every ggml block format Bora reads, and the `gguf` package's dequantization of
them (Tests/BoraTests/Fixtures/quant/NAME.bin and NAME.f32). Needs only numpy and gguf:

    pip install gguf numpy && python3 Tools/make_quant_references.py

Deterministic (fixed seed). QuantBlocksTests compares Bora's dequantization with these bit for bit.
"""
import os

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def quant_blocks():
    """Random blocks of every format and the gguf package's dequantization of them."""
    folder = os.path.join(ROOT, "Tests", "BoraTests", "Fixtures", "quant")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(3)
    # New formats go at the end, so the random bytes of the earlier ones stay as they were.
    for qtype in [Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q4_K, Q.Q5_K, Q.Q6_K,
                  Q.Q2_K, Q.Q3_K, Q.IQ4_NL, Q.IQ4_XS]:
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        count = 8 * (256 // block) if block > 1 else 512
        raw = rng.integers(0, 256, size=(count, size), dtype=np.uint8)
        # Overwrite the f16 scale fields with finite values of a sensible size.
        scale_offsets = {Q.Q8_0: [0], Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2],
                         Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
                         Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.IQ4_NL: [0], Q.IQ4_XS: [0]}.get(qtype, [])
        for off in scale_offsets:
            scales = (rng.standard_normal(count) * 0.05).astype(np.float16).view(np.uint8).reshape(count, 2)
            raw[:, off:off + 2] = scales
        if qtype == Q.F16:
            raw = (rng.standard_normal(count) * 4).astype(np.float16).view(np.uint8).reshape(count, 2)
        if qtype == Q.BF16:
            raw = ((rng.standard_normal(count) * 4).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(count, 2)
        values = gguf.quants.dequantize(raw.reshape(-1), qtype).astype(np.float32)
        name = qtype.name
        raw.tofile(os.path.join(folder, f"{name}.bin"))
        values.tofile(os.path.join(folder, f"{name}.f32"))


if __name__ == "__main__":
    quant_blocks()
