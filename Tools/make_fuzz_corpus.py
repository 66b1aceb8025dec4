#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (Fuzz/) and the small fixed files their harness pairs
each input with, from scratch, so every seed is small enough to mutate fast (a few KB):

    python3 Tools/make_fuzz_corpus.py          # writes Fuzz/Corpus/<target>/ and Fuzz/Corpus/fixtures/

Targets: gguf, safetensors, index, config, params, sentencepiece, tokenizer-json, chat. The model
is a Llama/Mistral decoder of dim 8, 1 layer, 2 query / 1 KV heads, FFN 16, vocabulary 8. Needs
numpy, gguf and sentencepiece (pip). Crash reproducers found by fuzzing go in Fuzz/Corpus/<target>/
too (named crash-*), so CI replays them.
"""
import io
import json
import os
import struct

import numpy as np
import gguf
import sentencepiece as spm

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fuzz", "Corpus")
DIM, FFN, VOCAB, HEADS, KV_HEADS = 8, 16, 8, 2, 1
HEAD_DIM = DIM // HEADS
rng = np.random.default_rng(7)


def write(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def matrices(naming):
    """(name, shape) of every tensor, rows first, in one naming scheme."""
    if naming == "hf":
        p = "model.layers.0."
        return [("model.embed_tokens.weight", (VOCAB, DIM)), ("lm_head.weight", (VOCAB, DIM)), ("model.norm.weight", (DIM,)),
                (p + "input_layernorm.weight", (DIM,)), (p + "post_attention_layernorm.weight", (DIM,)),
                (p + "self_attn.q_proj.weight", (DIM, DIM)), (p + "self_attn.k_proj.weight", (KV_HEADS * HEAD_DIM, DIM)),
                (p + "self_attn.v_proj.weight", (KV_HEADS * HEAD_DIM, DIM)), (p + "self_attn.o_proj.weight", (DIM, DIM)),
                (p + "mlp.gate_proj.weight", (FFN, DIM)), (p + "mlp.up_proj.weight", (FFN, DIM)), (p + "mlp.down_proj.weight", (DIM, FFN))]
    p = "layers.0."
    return [("tok_embeddings.weight", (VOCAB, DIM)), ("output.weight", (VOCAB, DIM)), ("norm.weight", (DIM,)),
            (p + "attention_norm.weight", (DIM,)), (p + "ffn_norm.weight", (DIM,)),
            (p + "attention.wq.weight", (DIM, DIM)), (p + "attention.wk.weight", (KV_HEADS * HEAD_DIM, DIM)),
            (p + "attention.wv.weight", (KV_HEADS * HEAD_DIM, DIM)), (p + "attention.wo.weight", (DIM, DIM)),
            (p + "feed_forward.w1.weight", (FFN, DIM)), (p + "feed_forward.w3.weight", (FFN, DIM)), (p + "feed_forward.w2.weight", (DIM, FFN))]


def safetensors(naming, dtype="F32"):
    header, blobs, offset = {}, [], 0
    for name, shape in matrices(naming):
        values = (0.1 * rng.standard_normal(shape)).astype(np.float32)
        raw = values.tobytes() if dtype == "F32" else values.astype(np.float16).tobytes()
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def gguf_model(qtype, with_tokenizer):
    out = io.BytesIO()
    path = os.path.join(ROOT, "..", ".seed.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_context_length(64)
    w.add_embedding_length(DIM)
    w.add_block_count(1)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_sliding_window(4)
    if with_tokenizer:
        pieces = ["<unk>", "<s>", "</s>", "\u2581a", "\u2581b", "a", "b", "\u2581"]
        w.add_tokenizer_model("llama")
        w.add_token_list(pieces)
        w.add_token_scores([0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -4.0, -5.0])
        w.add_token_types([2, 3, 3, 1, 1, 1, 1, 1])
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_chat_template("{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}")
    gg = {"token_embd.weight": (VOCAB, DIM), "output.weight": (VOCAB, DIM), "output_norm.weight": (DIM,),
          "blk.0.attn_norm.weight": (DIM,), "blk.0.ffn_norm.weight": (DIM,), "blk.0.attn_q.weight": (DIM, DIM),
          "blk.0.attn_k.weight": (KV_HEADS * HEAD_DIM, DIM), "blk.0.attn_v.weight": (KV_HEADS * HEAD_DIM, DIM),
          "blk.0.attn_output.weight": (DIM, DIM), "blk.0.ffn_gate.weight": (FFN, DIM), "blk.0.ffn_up.weight": (FFN, DIM),
          "blk.0.ffn_down.weight": (DIM, FFN)}
    for name, shape in gg.items():
        values = (0.1 * rng.standard_normal(shape)).astype(np.float32)
        if len(shape) == 1 or qtype == "F32":
            w.add_tensor(name, values)
        else:
            w.add_tensor(name, values.astype(np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(path, "rb") as f:
        data = f.read()
    os.remove(path)
    return data


def sentencepiece_model():
    text = "a b ab ba aab bba abab the cat sat on the mat\n" * 20
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(text.splitlines()), model_writer=model, model_type="bpe",
                                   vocab_size=24, byte_fallback=False, character_coverage=1.0, bos_id=1, eos_id=2, unk_id=0,
                                   normalization_rule_name="identity", minloglevel=2)
    return model.getvalue()


def tokenizer_json(kind):
    if kind == "metaspace":
        vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "\u2581": 3, "a": 4, "b": 5, "\u2581a": 6, "ab": 7}
        merges = ["\u2581 a", "a b"]
        pre = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}
        return json.dumps({"version": "1.0", "added_tokens": [{"id": 1, "content": "<s>", "special": True}],
                           "normalizer": None, "pre_tokenizer": pre,
                           "model": {"type": "BPE", "vocab": vocab, "merges": merges, "unk_token": "<unk>", "byte_fallback": False}})
    vocab = {"<|endoftext|>": 0, "a": 1, "b": 2, "\u0120": 3, "\u0120a": 4, "ab": 5, "<|im_start|>": 6, "<|im_end|>": 7}
    return json.dumps({"version": "1.0",
                       "added_tokens": [{"id": 6, "content": "<|im_start|>", "special": True}, {"id": 7, "content": "<|im_end|>", "special": True}],
                       "normalizer": None, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
                       "model": {"type": "BPE", "vocab": vocab, "merges": [["\u0120", "a"], ["a", "b"]]}})


def main():
    hf_config = {"architectures": ["MistralForCausalLM"], "hidden_size": DIM, "intermediate_size": FFN, "num_attention_heads": HEADS,
                 "num_key_value_heads": KV_HEADS, "num_hidden_layers": 1, "vocab_size": VOCAB, "sliding_window": 4,
                 "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False}
    params = {"dim": DIM, "n_layers": 1, "head_dim": HEAD_DIM, "hidden_dim": FFN, "n_heads": HEADS, "n_kv_heads": KV_HEADS,
              "norm_eps": 1e-5, "sliding_window": 4, "vocab_size": VOCAB, "rope_theta": 10000.0}
    # Fixed files each input is paired with.
    write("fixtures", "config.json", json.dumps(hf_config))
    write("fixtures", "model.safetensors", safetensors("hf"))
    write("fixtures", "consolidated.safetensors", safetensors("native"))
    write("fixtures", "tokenizer.json", tokenizer_json("metaspace"))

    write("gguf", "seed-f16-tokenizer.gguf", gguf_model("F16", True))
    write("gguf", "seed-f32.gguf", gguf_model("F32", False))
    write("safetensors", "seed-f32.safetensors", safetensors("hf"))
    write("safetensors", "seed-f16.safetensors", safetensors("hf", "F16"))
    names = [n for n, _ in matrices("hf")]
    write("index", "seed.json", json.dumps({"metadata": {"total_size": 0}, "weight_map": {n: "model.safetensors" for n in names}}))
    write("config", "seed.json", json.dumps(hf_config))
    write("config", "seed-rope.json", json.dumps({**hf_config, "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"}}))
    write("params", "seed.json", json.dumps(params))
    write("sentencepiece", "seed.model", sentencepiece_model())
    write("tokenizer-json", "seed-metaspace.json", tokenizer_json("metaspace"))
    write("tokenizer-json", "seed-bytelevel.json", tokenizer_json("bytelevel"))
    write("chat", "seed.json", json.dumps([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "ab"},
                                           {"role": "assistant", "content": "ba"}, {"role": "user", "content": "a b"}]))
    write("chat", "seed-parts.json", json.dumps([{"role": "user", "content": [{"type": "text", "text": "ab"}]}]))


if __name__ == "__main__":
    main()
