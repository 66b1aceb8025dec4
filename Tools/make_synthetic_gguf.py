#!/usr/bin/env python3
"""Writes a GGUF with Mistral 7B's exact shapes and random weights, for benchmarks.

    python3 Tools/make_synthetic_gguf.py Q4_0 ~/.cache/bora/bench/mistral-7b-shaped-Q4_0.gguf

Shapes: dim 4096, 32 layers, 32 query / 8 KV heads (head dim 128), FFN 14336, vocabulary 32000,
context 32768, sliding window 4096. Types: Q4_0, Q8_0 or Q4_K for every matrix (the token
embedding and LM head too), F32 norms. Quantized blocks are random bytes with small float16 scales, so
every weight is finite. A minimal SentencePiece-style vocabulary (<unk>, <s>, </s>, 256 byte tokens,
filler pieces) lets llama.cpp load the file as well. The files are 4–8 GB: generate them on demand,
never commit them. Needs numpy and gguf (pip).
"""
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

DIM, LAYERS, HEADS, KV_HEADS, FFN, VOCAB, CONTEXT, WINDOW = 4096, 32, 32, 8, 14336, 32000, 32768, 4096
HEAD_DIM = DIM // HEADS
# Byte offsets of the float16 scale fields inside each block.
SCALE_FIELDS = {Q.Q4_0: [0], Q.Q8_0: [0], Q.Q4_K: [0, 2]}


def tensors():
    yield "token_embd.weight", (VOCAB, DIM), True
    for i in range(LAYERS):
        p = f"blk.{i}."
        yield p + "attn_norm.weight", (DIM,), False
        yield p + "attn_q.weight", (HEADS * HEAD_DIM, DIM), True
        yield p + "attn_k.weight", (KV_HEADS * HEAD_DIM, DIM), True
        yield p + "attn_v.weight", (KV_HEADS * HEAD_DIM, DIM), True
        yield p + "attn_output.weight", (DIM, HEADS * HEAD_DIM), True
        yield p + "ffn_norm.weight", (DIM,), False
        yield p + "ffn_gate.weight", (FFN, DIM), True
        yield p + "ffn_up.weight", (FFN, DIM), True
        yield p + "ffn_down.weight", (DIM, FFN), True
    yield "output_norm.weight", (DIM,), False
    yield "output.weight", (VOCAB, DIM), True


def random_blocks(rng, qtype, rows, cols):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    nblocks = rows * cols // block
    raw = rng.integers(0, 256, size=(nblocks, size), dtype=np.uint8)
    for offset in SCALE_FIELDS[qtype]:
        scales = (np.abs(rng.standard_normal(nblocks)) * 0.002 + 0.0005).astype(np.float16)
        raw[:, offset:offset + 2] = scales.view(np.uint8).reshape(nblocks, 2)
    return raw.reshape(rows, cols // block * size)


def main(type_name, path):
    qtype = Q[type_name]
    assert qtype in SCALE_FIELDS, "choose Q4_0, Q8_0 or Q4_K"
    rng = np.random.default_rng(42)
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name(f"Mistral-7B-shaped synthetic {type_name}")
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(DIM)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_uint32("llama.attention.sliding_window", WINDOW)
    writer.add_file_type({Q.Q4_0: 2, Q.Q8_0: 7, Q.Q4_K: 15}[qtype])
    tokens = [b"<unk>", b"<s>", b"</s>"] + [f"<0x{i:02X}>".encode() for i in range(256)]
    tokens += [f"\u2581tok{i}".encode() for i in range(VOCAB - len(tokens))]
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0, 0.0, 0.0] + [0.0] * 256 + [-float(i) for i in range(VOCAB - 259)])
    writer.add_token_types([2, 3, 3] + [6] * 256 + [1] * (VOCAB - 259))
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)

    shapes = list(tensors())
    for name, shape, quantized in shapes:
        if quantized:
            block, size = gguf.GGML_QUANT_SIZES[qtype]
            byte_shape = (shape[0], shape[1] // block * size)
            writer.add_tensor_info(name, byte_shape, np.dtype(np.uint8), shape[0] * byte_shape[1], raw_dtype=qtype)
        else:
            writer.add_tensor_info(name, shape, np.dtype(np.float32), 4 * shape[0], raw_dtype=Q.F32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for name, shape, quantized in shapes:
        if quantized:
            writer.write_tensor_data(random_blocks(rng, qtype, *shape))
        else:
            writer.write_tensor_data((1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32))
        print(name, file=sys.stderr, end="\r")
    writer.close()
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
