/// The role a tensor plays in the decoder, independent of how a file format names it.
public enum WeightRole: CaseIterable, Sendable {
    case tokenEmbedding, outputNorm, output
    case attentionNorm, query, key, value, attentionOutput
    case feedForwardNorm, feedForwardGate, feedForwardUp, feedForwardDown

    var isPerLayer: Bool {
        switch self {
        case .tokenEmbedding, .outputNorm, .output: return false
        default: return true
        }
    }
}

/// Tensor names of the three checkpoint layouts Bora reads.
public enum TensorNaming: String, Sendable {
    /// llama.cpp's GGUF names (`blk.N.attn_q.weight`).
    case gguf
    /// Hugging Face transformers (`model.layers.N.self_attn.q_proj.weight`).
    case huggingFace
    /// Mistral's own consolidated checkpoints (`layers.N.attention.wq.weight`).
    case mistral

    public func name(_ role: WeightRole, layer: Int = 0) -> String {
        switch self {
        case .gguf:
            let p = "blk.\(layer)."
            switch role {
            case .tokenEmbedding: return "token_embd.weight"
            case .outputNorm: return "output_norm.weight"
            case .output: return "output.weight"
            case .attentionNorm: return p + "attn_norm.weight"
            case .query: return p + "attn_q.weight"
            case .key: return p + "attn_k.weight"
            case .value: return p + "attn_v.weight"
            case .attentionOutput: return p + "attn_output.weight"
            case .feedForwardNorm: return p + "ffn_norm.weight"
            case .feedForwardGate: return p + "ffn_gate.weight"
            case .feedForwardUp: return p + "ffn_up.weight"
            case .feedForwardDown: return p + "ffn_down.weight"
            }
        case .huggingFace:
            let p = "model.layers.\(layer)."
            switch role {
            case .tokenEmbedding: return "model.embed_tokens.weight"
            case .outputNorm: return "model.norm.weight"
            case .output: return "lm_head.weight"
            case .attentionNorm: return p + "input_layernorm.weight"
            case .query: return p + "self_attn.q_proj.weight"
            case .key: return p + "self_attn.k_proj.weight"
            case .value: return p + "self_attn.v_proj.weight"
            case .attentionOutput: return p + "self_attn.o_proj.weight"
            case .feedForwardNorm: return p + "post_attention_layernorm.weight"
            case .feedForwardGate: return p + "mlp.gate_proj.weight"
            case .feedForwardUp: return p + "mlp.up_proj.weight"
            case .feedForwardDown: return p + "mlp.down_proj.weight"
            }
        case .mistral:
            let p = "layers.\(layer)."
            switch role {
            case .tokenEmbedding: return "tok_embeddings.weight"
            case .outputNorm: return "norm.weight"
            case .output: return "output.weight"
            case .attentionNorm: return p + "attention_norm.weight"
            case .query: return p + "attention.wq.weight"
            case .key: return p + "attention.wk.weight"
            case .value: return p + "attention.wv.weight"
            case .attentionOutput: return p + "attention.wo.weight"
            case .feedForwardNorm: return p + "ffn_norm.weight"
            case .feedForwardGate: return p + "feed_forward.w1.weight"
            case .feedForwardUp: return p + "feed_forward.w3.weight"
            case .feedForwardDown: return p + "feed_forward.w2.weight"
            }
        }
    }
}
