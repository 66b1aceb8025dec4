extension ModelConfig {
    /// Reads hyper-parameters from GGUF metadata (`{arch}.embedding_length`, ...).
    init(gguf: GGUFFile) throws(BoraError) {
        guard let arch = gguf.metadata["general.architecture"]?.string else {
            throw .invalidMetadata(key: "general.architecture", reason: "missing")
        }
        guard arch == "llama" else { throw .unknownArchitecture(arch) }
        func int(_ key: String, default value: Int? = nil) throws(BoraError) -> Int {
            let full = "\(arch).\(key)"
            if let v = gguf.metadata[full] {
                guard let i = v.int else { throw .invalidMetadata(key: full, reason: "expected an integer, found \(v.summary)") }
                return i
            }
            guard let value else { throw .invalidMetadata(key: full, reason: "missing") }
            return value
        }
        func float(_ key: String, default value: Float) throws(BoraError) -> Float {
            let full = "\(arch).\(key)"
            guard let v = gguf.metadata[full] else { return value }
            guard let d = v.double else { throw .invalidMetadata(key: full, reason: "expected a number, found \(v.summary)") }
            return Float(d)
        }
        let dim = try int("embedding_length")
        let heads = try int("attention.head_count")
        guard heads > 0 else { throw .absurdDimension(name: "\(arch).attention.head_count", value: heads) }
        let headDim = try int("attention.key_length", default: dim / heads)
        let ropeDim = try int("rope.dimension_count", default: headDim)
        guard ropeDim == headDim else {
            throw .unsupportedModel("RoPE over \(ropeDim) of \(headDim) head dimensions (partial rotary) is not supported")
        }
        guard let embedding = gguf.tensors.first(where: { $0.name == "token_embd.weight" }) else {
            throw .missingTensor("token_embd.weight")
        }
        let window = try int("attention.sliding_window", default: 0)
        guard window >= 0 else {
            throw .invalidMetadata(key: "\(arch).attention.sliding_window", reason: "must be ≥ 0 (0: no window), found \(window)")
        }
        // Scaled RoPE (linear, YaRN, Llama 3's per-frequency factors) is not implemented: refuse
        // rather than run such a model with unscaled positions.
        if let type = gguf.metadata["\(arch).rope.scaling.type"]?.string, type != "none" {
            let factor = gguf.metadata["\(arch).rope.scaling.factor"]?.double ?? 0
            if !(type == "linear" && factor == 1) {
                throw .unsupportedModel("RoPE scaling '\(BoraError.shortened(type))' (\(arch).rope.scaling.type) is not supported")
            }
        }
        if gguf.metadata["\(arch).rope.scale_linear"]?.double.map({ $0 != 1 }) ?? false {
            throw .unsupportedModel("linear RoPE scaling (\(arch).rope.scale_linear) is not supported")
        }
        if gguf.tensors.contains(where: { $0.name == "rope_freqs.weight" }) {
            throw .unsupportedModel("per-frequency RoPE factors (tensor rope_freqs.weight, Llama 3.1 style) are not supported")
        }
        self.init(
            architecture: arch,
            vocabularySize: embedding.dimensions.count == 2 ? embedding.dimensions[1] : try int("vocab_size"),
            embeddingDim: dim,
            layerCount: try int("block_count"),
            headCount: heads,
            kvHeadCount: try int("attention.head_count_kv", default: heads),
            headDim: headDim,
            feedForwardDim: try int("feed_forward_length"),
            contextLength: try int("context_length"),
            ropeTheta: try float("rope.freq_base", default: 10_000),
            rmsNormEpsilon: try float("attention.layer_norm_rms_epsilon", default: 1e-5),
            slidingWindow: window > 0 ? window : nil,
            ropeStyle: .interleaved,
            tiedEmbeddings: !gguf.tensors.contains { $0.name == "output.weight" })
    }

    /// Reads a Hugging Face `config.json` (`MistralForCausalLM` or `LlamaForCausalLM`).
    init(huggingFace json: JSONObject) throws(BoraError) {
        let architectures = json["architectures"]?.array?.compactMap(\.string) ?? []
        let modelType = json.string("model_type") ?? ""
        let arch: String
        if architectures.contains("MistralForCausalLM") || (architectures.isEmpty && modelType == "mistral") {
            arch = "mistral"
        } else if architectures.contains("LlamaForCausalLM") || (architectures.isEmpty && modelType == "llama") {
            arch = "llama"
        } else {
            throw .unknownArchitecture(architectures.first ?? (modelType.isEmpty ? "(none given)" : modelType))
        }
        let dim = try json.requiredInt("hidden_size")
        let heads = try json.requiredInt("num_attention_heads")
        guard heads > 0 else { throw .absurdDimension(name: "num_attention_heads", value: heads) }
        // transformers ≥ 5 writes rope_parameters {rope_theta, rope_type}; older configs a top-level rope_theta.
        var theta = try json.double("rope_theta")
        for key in ["rope_parameters", "rope_scaling"] {
            guard let rope = json.object(key) else { continue }
            if let type = rope.string("rope_type") ?? rope.string("type"), type != "default" {
                throw .unsupportedModel("RoPE scaling type '\(type)' is not supported")
            }
            if let t = try rope.double("rope_theta") { theta = t }
        }
        var window: Int? = nil
        if arch == "mistral", let w = try json.int("sliding_window") {
            guard w >= 0 else { throw .invalidMetadata(key: "sliding_window", reason: "must be ≥ 0 or null, found \(w)") }
            if w > 0 { window = w }
        }
        self.init(
            architecture: arch,
            vocabularySize: try json.requiredInt("vocab_size"),
            embeddingDim: dim,
            layerCount: try json.requiredInt("num_hidden_layers"),
            headCount: heads,
            kvHeadCount: try json.int("num_key_value_heads") ?? heads,
            headDim: try json.int("head_dim") ?? dim / heads,
            feedForwardDim: try json.requiredInt("intermediate_size"),
            contextLength: try json.int("max_position_embeddings") ?? 4096,
            ropeTheta: Float(theta ?? 10_000),
            rmsNormEpsilon: Float(try json.double("rms_norm_eps") ?? 1e-6),
            slidingWindow: window,
            ropeStyle: .halfSplit,
            tiedEmbeddings: json.bool("tie_word_embeddings") ?? false)
    }

    /// Reads a Mistral `params.json`. Sizes it leaves out (vocabulary, FFN width) come from the tensors.
    init(mistralParams json: JSONObject, tensors: any TensorSource) throws(BoraError) {
        let dim = try json.requiredInt("dim")
        let heads = try json.requiredInt("n_heads")
        guard heads > 0 else { throw .absurdDimension(name: "n_heads", value: heads) }
        func rows(_ name: String) throws(BoraError) -> Int {
            guard let t = try tensors.tensor(named: name) else { throw .missingTensor(name) }
            return t.shape.first ?? 0
        }
        var vocab = try json.int("vocab_size") ?? -1
        if vocab <= 0 { vocab = try rows("tok_embeddings.weight") }
        var hidden = try json.int("hidden_dim") ?? 0
        if hidden <= 0 { hidden = try rows("layers.0.feed_forward.w1.weight") }
        let window = try json.int("sliding_window")
        if let window, window < 0 { throw .invalidMetadata(key: "sliding_window", reason: "must be ≥ 0 or null, found \(window)") }
        let hasOutput = tensors.tensorNames.contains("output.weight")
        self.init(
            architecture: "mistral",
            vocabularySize: vocab,
            embeddingDim: dim,
            layerCount: try json.requiredInt("n_layers"),
            headCount: heads,
            kvHeadCount: try json.int("n_kv_heads") ?? heads,
            headDim: try json.int("head_dim") ?? dim / heads,
            feedForwardDim: hidden,
            contextLength: try json.int("max_seq_len") ?? 32_768,
            ropeTheta: Float(try json.double("rope_theta") ?? 10_000),
            rmsNormEpsilon: Float(try json.double("norm_eps") ?? 1e-5),
            slidingWindow: (window ?? 0) > 0 ? window : nil,
            ropeStyle: .interleaved,
            tiedEmbeddings: !hasOutput)
    }
}
