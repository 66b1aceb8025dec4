#!/usr/bin/env python3
"""Generates the tiny checkpoints and reference outputs under Tests/BoraTests/Fixtures/models.

The references come from the real libraries: Hugging Face transformers (MistralForCausalLM /
LlamaForCausalLM, eager attention, float32) for logits and greedy continuations, and the `gguf`
package for writing GGUF files (block-format references: Tools/make_quant_references.py).

    python3 -m venv .venv-ref && .venv-ref/bin/pip install torch transformers safetensors gguf numpy
    .venv-ref/bin/python Tools/make_reference_models.py

Deterministic (fixed seeds). Every file it writes is small (< 5 MB) and committed.
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
import gguf
from gguf import GGMLQuantizationType as Q
from safetensors.numpy import save_file
import transformers
from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "BoraTests", "Fixtures", "models")


def log(*args):
    print(*args, file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Weight layouts

def permute_for_interleaved_rope(w, n_head):
    """Hugging Face Q/K rows -> Meta/Mistral/GGUF rows (llama.cpp's convert_hf_to_gguf `permute`)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute_from_interleaved_rope(w, n_head):
    """Meta/GGUF Q/K rows -> Hugging Face rows (transformers' GGUF `reverse_permute`)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_state(model):
    return {k: v.detach().float().numpy().copy() for k, v in model.state_dict().items()}


def load_state(model, state):
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=False)


# ---------------------------------------------------------------------------------------------
# K-quant writers (the gguf package only dequantizes K-quants). Simple min/max quantizers: the
# weights of a test model are whatever its bytes dequantize to, so only the layout must be exact.

def _pack_scale_min_k4(sc, mn):
    """Inverse of ggml's get_scale_min_k4 for 8 six-bit scales and mins -> 12 bytes."""
    q = np.zeros(12, dtype=np.uint8)
    for j in range(8):
        if j < 4:
            q[j] |= sc[j] & 63
            q[j + 4] |= mn[j] & 63
        else:
            q[j + 4] |= (sc[j] & 0xF) | ((mn[j] & 0xF) << 4)
            q[j - 4] |= (sc[j] >> 4) << 6
            q[j] |= (mn[j] >> 4) << 6
    return q


def _f16_bytes(x):
    return np.array([x], dtype=np.float16).view(np.uint8)


def quantize_k(x, qtype):
    rows, cols = x.shape
    assert cols % 256 == 0
    out = []
    for block in x.reshape(-1, 256):
        if qtype in (Q.Q4_K, Q.Q5_K):
            levels = 15 if qtype == Q.Q4_K else 31
            sub = block.reshape(8, 32)
            lo = np.minimum(sub.min(axis=1), 0)
            hi = sub.max(axis=1)
            scale = (hi - lo) / levels
            d = max(scale.max() / 63, 1e-8)
            dmin = max((-lo).max() / 63, 1e-8)
            sc = np.clip(np.round(scale / d), 1, 63).astype(np.uint8)
            mn = np.clip(np.round(-lo / dmin), 0, 63).astype(np.uint8)
            d16 = np.float16(d).astype(np.float32)
            dmin16 = np.float16(dmin).astype(np.float32)
            q = np.clip(np.round((sub + dmin16 * mn[:, None]) / (d16 * sc[:, None])), 0, levels).astype(np.uint8)
            head = np.concatenate([_f16_bytes(d), _f16_bytes(dmin), _pack_scale_min_k4(sc, mn)])
            qs = np.zeros(128, dtype=np.uint8)
            qh = np.zeros(32, dtype=np.uint8)
            for pair in range(4):
                a, b = q[2 * pair], q[2 * pair + 1]
                qs[32 * pair:32 * pair + 32] = (a & 0xF) | ((b & 0xF) << 4)
                if qtype == Q.Q5_K:
                    qh |= ((a >> 4) & 1) << (2 * pair)
                    qh |= ((b >> 4) & 1) << (2 * pair + 1)
            body = [qs] if qtype == Q.Q4_K else [qh, qs]
            out.append(np.concatenate([head] + body))
        elif qtype == Q.Q6_K:
            sub = block.reshape(16, 16)
            amax = np.abs(sub).max(axis=1)
            scale = amax / 31
            d = max(scale.max() / 127, 1e-8)
            sc = np.clip(np.round(scale / d), 1, 127).astype(np.int8)
            d16 = np.float16(d).astype(np.float32)
            q = np.clip(np.round(sub / (d16 * sc[:, None].astype(np.float32))), -32, 31).astype(np.int32) + 32
            q = q.reshape(256).astype(np.uint8)
            ql = np.zeros(128, dtype=np.uint8)
            qh = np.zeros(64, dtype=np.uint8)
            for half in range(2):
                qq = q[128 * half:128 * half + 128]
                for l in range(32):
                    q1, q2, q3, q4 = qq[l], qq[l + 32], qq[l + 64], qq[l + 96]
                    ql[64 * half + l] = (q1 & 0xF) | ((q3 & 0xF) << 4)
                    ql[64 * half + l + 32] = (q2 & 0xF) | ((q4 & 0xF) << 4)
                    qh[32 * half + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6)
            out.append(np.concatenate([ql, qh, sc.view(np.uint8), _f16_bytes(d)]))
        else:
            raise ValueError(qtype)
    return np.stack(out).reshape(rows, -1)


def quantize(x, qtype):
    if qtype in (Q.F32,):
        return x.astype(np.float32)
    if qtype in (Q.Q4_K, Q.Q5_K, Q.Q6_K):
        return quantize_k(x, qtype)
    return gguf.quants.quantize(x.astype(np.float32), qtype)


def dequantize(data, qtype):
    if qtype == Q.F32:
        return data.astype(np.float32)
    return gguf.quants.dequantize(data, qtype).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# GGUF writing

GGUF_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
GGUF_LAYER_NAMES = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}


def gguf_name(hf_name):
    if hf_name in GGUF_NAMES:
        return GGUF_NAMES[hf_name]
    parts = hf_name.split(".")
    layer = parts[2]
    key = ".".join(parts[3:-1])
    return f"blk.{layer}.{GGUF_LAYER_NAMES[key]}.weight"


def write_gguf(path, cfg, state, types, window=None):
    """Writes `state` (HF names, HF layouts) as a llama GGUF; `types(name)` picks each matrix's type.
    Returns the HF-layout state the file really holds (after quantization), for reference logits."""
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name(os.path.basename(path))
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_rope_dimension_count(cfg.head_dim)
    writer.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    if window is not None:
        writer.add_uint32("llama.attention.sliding_window", window)
    held = {}
    for name, w in state.items():
        if name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue
        rows = w
        if name.endswith("q_proj.weight"):
            rows = permute_for_interleaved_rope(w, cfg.num_attention_heads)
        elif name.endswith("k_proj.weight"):
            rows = permute_for_interleaved_rope(w, cfg.num_key_value_heads)
        qtype = Q.F32 if w.ndim == 1 else types(name)
        data = quantize(rows, qtype)
        writer.add_tensor(gguf_name(name), data, raw_dtype=qtype)
        back = dequantize(data, qtype).reshape(w.shape)
        if name.endswith("q_proj.weight"):
            back = unpermute_from_interleaved_rope(back, cfg.num_attention_heads)
        elif name.endswith("k_proj.weight"):
            back = unpermute_from_interleaved_rope(back, cfg.num_key_value_heads)
        held[name] = back
    if cfg.tie_word_embeddings:
        held["lm_head.weight"] = held["model.embed_tokens.weight"]
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return held


# ---------------------------------------------------------------------------------------------
# Reference outputs

def logits_of(model_class, cfg, state, ids):
    model = model_class(cfg).eval()
    load_state(model, state)
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def greedy_full_recompute(model_class, cfg, state, prompt, steps):
    """Greedy decoding that re-runs the whole sequence every step (no cache at all)."""
    model = model_class(cfg).eval()
    load_state(model, state)
    ids = list(prompt)
    margins = []
    with torch.no_grad():
        for _ in range(steps):
            last = model(torch.tensor([ids]), use_cache=False).logits[0, -1]
            top = torch.topk(last, 2).values
            margins.append(float(top[0] - top[1]))
            ids.append(int(torch.argmax(last)))
    return ids[len(prompt):], min(margins)


def save_reference(name, ids, logits, extra=None):
    record = {"ids": ids, "logits": [[round(float(v), 6) for v in row] for row in logits]}
    record.update(extra or {})
    with open(os.path.join(ROOT, name + ".reference.json"), "w") as f:
        json.dump(record, f, separators=(",", ":"))


def randomize_norms(model, generator):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.copy_(0.5 + torch.rand(p.shape, generator=generator))
            else:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.15)



def round_bf16(x):
    t = torch.from_numpy(np.ascontiguousarray(x)).to(torch.bfloat16)
    return t.float().numpy()


def save_bf16_shards(folder, state, shards=2):
    import safetensors.torch as st
    names = sorted(state)
    weight_map = {}
    for i in range(shards):
        part = names[i::shards]
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        st.save_file({k: torch.from_numpy(np.ascontiguousarray(state[k])).to(torch.bfloat16) for k in part},
                     os.path.join(folder, fname), metadata={"format": "pt"})
        weight_map.update({k: fname for k in part})
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=1)


def write_config(folder, cfg, legacy_rope=False):
    cfg.save_pretrained(folder)
    path = os.path.join(folder, "config.json")
    with open(path) as f:
        data = json.load(f)
    if legacy_rope:  # Llama-2 / Mistral-7B folders in the wild: top-level rope_theta
        data["rope_theta"] = data.pop("rope_parameters")["rope_theta"]
    with open(path, "w") as f:
        json.dump(data, f, indent=2)


# ---------------------------------------------------------------------------------------------

def tiny_mistral():
    window = 8
    cfg = MistralConfig(
        vocab_size=320, hidden_size=64, intermediate_size=160, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=64, rms_norm_eps=1e-5,
        rope_parameters={"rope_theta": 10000.0, "rope_type": "default"}, sliding_window=window,
        tie_word_embeddings=False, attn_implementation="eager")
    generator = torch.Generator().manual_seed(7)
    model = MistralForCausalLM(cfg).eval()
    randomize_norms(model, generator)
    state = hf_state(model)
    ids = [int(i) for i in torch.randint(0, cfg.vocab_size, (32,), generator=generator)]  # 4 windows long

    # Hugging Face folder, F32, one file, rope_parameters form.
    folder = os.path.join(ROOT, "tiny-mistral-hf")
    os.makedirs(folder, exist_ok=True)
    write_config(folder, cfg)
    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, os.path.join(folder, "model.safetensors"))
    # A greedy continuation 5 windows long. Prompts are drawn until every step's top-2 logit margin is
    # comfortably above float32 noise, so the comparison tests the cache, not rounding luck.
    for attempt in range(100):
        prompt = [int(i) for i in torch.randint(0, cfg.vocab_size, (5,), generator=generator)]
        continuation, margin = greedy_full_recompute(MistralForCausalLM, cfg, state, prompt, 40)
        if margin > 0.01:
            break
    save_reference("tiny-mistral-hf", ids, logits_of(MistralForCausalLM, cfg, state, ids),
                   {"greedy_prompt": prompt, "greedy_continuation": continuation, "greedy_min_margin": margin})
    log("tiny-mistral greedy min top-2 margin", margin)

    # Hugging Face folder, BF16, two shards + index, legacy top-level rope_theta.
    folder = os.path.join(ROOT, "tiny-mistral-hf-bf16")
    os.makedirs(folder, exist_ok=True)
    write_config(folder, cfg, legacy_rope=True)
    save_bf16_shards(folder, state)
    bf16 = {k: round_bf16(v) for k, v in state.items()}
    save_reference("tiny-mistral-hf-bf16", ids, logits_of(MistralForCausalLM, cfg, bf16, ids))

    # Mistral native folder: params.json + consolidated.safetensors (F16, Meta Q/K row order).
    folder = os.path.join(ROOT, "tiny-mistral-native")
    os.makedirs(folder, exist_ok=True)
    params = {"dim": 64, "n_layers": 3, "head_dim": 16, "hidden_dim": 160, "n_heads": 4, "n_kv_heads": 2,
              "norm_eps": 1e-5, "sliding_window": window, "vocab_size": 320, "rope_theta": 10000.0}
    with open(os.path.join(folder, "params.json"), "w") as f:
        json.dump(params, f, indent=2)
    native = {"tok_embeddings.weight": state["model.embed_tokens.weight"], "norm.weight": state["model.norm.weight"],
              "output.weight": state["lm_head.weight"]}
    names = {"input_layernorm": "attention_norm", "self_attn.q_proj": "attention.wq", "self_attn.k_proj": "attention.wk",
             "self_attn.v_proj": "attention.wv", "self_attn.o_proj": "attention.wo",
             "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "feed_forward.w1",
             "mlp.down_proj": "feed_forward.w2", "mlp.up_proj": "feed_forward.w3"}
    for name, w in state.items():
        if not name.startswith("model.layers."):
            continue
        parts = name.split(".")
        key = ".".join(parts[3:-1])
        if key == "self_attn.q_proj":
            w = permute_for_interleaved_rope(w, 4)
        elif key == "self_attn.k_proj":
            w = permute_for_interleaved_rope(w, 2)
        native[f"layers.{parts[2]}.{names[key]}.weight"] = w
    save_file({k: np.ascontiguousarray(v).astype(np.float16) for k, v in native.items()},
              os.path.join(folder, "consolidated.safetensors"))
    f16 = {k: v.astype(np.float16).astype(np.float32) for k, v in state.items()}
    save_reference("tiny-mistral-native", ids, logits_of(MistralForCausalLM, cfg, f16, ids))

    # GGUF, F32, without a sliding-window key (as Mistral-7B GGUFs are published).
    held = write_gguf(os.path.join(ROOT, "tiny-mistral-f32.gguf"), cfg, state, lambda n: Q.F32)
    save_reference("tiny-mistral-f32", ids, logits_of(MistralForCausalLM, cfg, held, ids))
    # GGUF, Q8_0 matrices, with the sliding-window key.
    held = write_gguf(os.path.join(ROOT, "tiny-mistral-q8_0.gguf"), cfg, state, lambda n: Q.Q8_0, window=window)
    save_reference("tiny-mistral-q8_0", ids, logits_of(MistralForCausalLM, cfg, held, ids))


def tiny_llama():
    cfg = LlamaConfig(
        vocab_size=256, hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=64, max_position_embeddings=64, rms_norm_eps=1e-6,
        rope_parameters={"rope_theta": 100000.0, "rope_type": "default"}, tie_word_embeddings=True,
        attn_implementation="eager")
    generator = torch.Generator().manual_seed(11)
    model = LlamaForCausalLM(cfg).eval()
    randomize_norms(model, generator)
    model.tie_weights()
    state = hf_state(model)
    state["lm_head.weight"] = state["model.embed_tokens.weight"]
    ids = [int(i) for i in torch.randint(0, cfg.vocab_size, (24,), generator=generator)]

    # Hugging Face folder, F16, tied embeddings (no lm_head tensor), legacy rope_theta.
    folder = os.path.join(ROOT, "tiny-llama-hf")
    os.makedirs(folder, exist_ok=True)
    write_config(folder, cfg, legacy_rope=True)
    save_file({k: np.ascontiguousarray(v).astype(np.float16) for k, v in state.items() if k != "lm_head.weight"},
              os.path.join(folder, "model.safetensors"))
    f16 = {k: v.astype(np.float16).astype(np.float32) for k, v in state.items()}
    save_reference("tiny-llama-hf", ids, logits_of(LlamaForCausalLM, cfg, f16, ids))

    # GGUF mixing every quantized block format Bora reads, as Q4_K_M / Q5_K_M files mix them.
    types = {"q_proj": Q.Q4_K, "k_proj": Q.Q5_K, "v_proj": Q.Q6_K, "o_proj": Q.Q4_0,
             "gate_proj": Q.Q4_1, "up_proj": Q.Q5_0, "down_proj": Q.Q5_1, "embed_tokens": Q.Q8_0}
    pick = lambda name: next(t for k, t in types.items() if k in name)
    held = write_gguf(os.path.join(ROOT, "tiny-llama-mixed.gguf"), cfg, state, pick)
    save_reference("tiny-llama-mixed", ids, logits_of(LlamaForCausalLM, cfg, held, ids))


if __name__ == "__main__":
    torch.manual_seed(0)
    log("transformers", transformers.__version__, "torch", torch.__version__, "gguf", gguf.__version__ if hasattr(gguf, "__version__") else "?")
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    os.makedirs(ROOT)
    tiny_mistral()
    tiny_llama()
    with open(os.path.join(ROOT, "VERSIONS.txt"), "w") as f:
        import importlib.metadata as md
        f.write("".join(f"{p} {md.version(p)}\n" for p in ["torch", "transformers", "gguf", "safetensors", "numpy"]))
    log("done")
