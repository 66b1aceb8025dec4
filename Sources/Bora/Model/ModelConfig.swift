/// Hyper-parameters of a Llama-family decoder (Llama 2, Mistral 7B and their fine-tunes).
public struct ModelConfig: Sendable, Equatable {
    /// How RoPE pairs the dimensions of a head. Both describe the same rotation; they differ in how
    /// the rows of the Q and K projections were ordered when the checkpoint was written, so each
    /// format is run with its own pairing and no weights are copied or permuted.
    public enum RopeStyle: String, Sendable {
        /// Adjacent pairs (2i, 2i+1): Meta/Mistral native checkpoints and GGUF (llama.cpp's
        /// converter permutes Hugging Face's Q/K rows back to this order).
        case interleaved
        /// Pairs (i, i + headDim/2), `rotate_half`: Hugging Face transformers checkpoints.
        case halfSplit
    }

    public var architecture: String
    public var vocabularySize: Int
    public var embeddingDim: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var feedForwardDim: Int
    public var contextLength: Int
    public var ropeTheta: Float
    public var rmsNormEpsilon: Float
    /// Keys visible to a query, itself included (Mistral 7B v0.1: 4096); nil means full causal attention.
    public var slidingWindow: Int?
    public var ropeStyle: RopeStyle
    public var tiedEmbeddings: Bool

    /// Mistral 7B v0.1's hyper-parameters, which its fine-tunes (Instruct v0.1, Zephyr, OpenHermes…)
    /// share; a few added tokens may widen the vocabulary. Llama 2 7B differs (32 KV heads, FFN
    /// 11008), and so do Mistral v0.2+ (RoPE base 10⁶, no window).
    public var hasMistral7Bv01Shape: Bool {
        embeddingDim == 4096 && layerCount == 32 && headCount == 32 && kvHeadCount == 8 && headDim == 128
            && feedForwardDim == 14_336 && (32_000...32_064).contains(vocabularySize) && ropeTheta == 10_000
    }

    /// Mistral 7B v0.1's window for a file that has its shape but states no window: most published
    /// v0.1 GGUFs lack the key, and without it they would run with full attention, not as trained.
    /// nil when the file says anything about its window (a 0 included) or has another shape.
    public func impliedMistralWindow(fileStatesWindow: Bool) -> Int? {
        !fileStatesWindow && slidingWindow == nil && hasMistral7Bv01Shape ? 4096 : nil
    }

    public var queryDim: Int { headCount * headDim }
    public var kvDim: Int { kvHeadCount * headDim }

    /// Bytes of F32 keys and values one position takes in the cache, across all layers.
    public func kvBytesPerToken(bytesPerElement: Int = 4) -> Int { 2 * layerCount * kvDim * bytesPerElement }

    /// Rejects values no real model has, before anything is allocated from them.
    public func validate() throws(BoraError) {
        let checks: [(String, Int, ClosedRange<Int>)] = [
            ("vocabulary size", vocabularySize, 1...4_000_000),
            ("embedding dimension", embeddingDim, 1...65_536),
            ("layer count", layerCount, 1...1_024),
            ("head count", headCount, 1...1_024),
            ("KV head count", kvHeadCount, 1...1_024),
            ("head dimension", headDim, 2...2_048),
            ("feed-forward dimension", feedForwardDim, 1...1_048_576),
            ("context length", contextLength, 1...16_777_216),
        ]
        for (name, value, range) in checks where !range.contains(value) {
            throw .absurdDimension(name: name, value: value)
        }
        guard headCount % kvHeadCount == 0 else {
            throw .unsupportedModel("\(headCount) query heads cannot be grouped over \(kvHeadCount) KV heads")
        }
        guard headDim % 2 == 0 else { throw .absurdDimension(name: "head dimension (must be even for RoPE)", value: headDim) }
        if let window = slidingWindow, window < 1 { throw .absurdDimension(name: "sliding window", value: window) }
        // Real models use bases of 10⁴ to 10⁸ and epsilons of 10⁻¹² to 10⁻⁵.
        guard ropeTheta.isFinite, ropeTheta >= 1, ropeTheta <= 1e10 else {
            throw .invalidMetadata(key: "rope theta", reason: "must be between 1 and 1e10, found \(ropeTheta)")
        }
        guard rmsNormEpsilon.isFinite, rmsNormEpsilon >= 0, rmsNormEpsilon <= 0.01 else {
            throw .invalidMetadata(key: "RMS norm epsilon", reason: "must be between 0 and 0.01, found \(rmsNormEpsilon)")
        }
    }
}

/// Choices made when loading a model.
public struct ModelLoadOptions: Sendable {
    /// Replaces the model's sliding window: `.some(n)` sets W = n; `.some(0)` turns the window off;
    /// nil keeps what the file says (and gives a Mistral-7B-v0.1-shaped GGUF without the key its
    /// W = 4096, see `ModelConfig.impliedMistralWindow`).
    public var slidingWindow: Int?
    /// Repack quantized, F16 and BF16 weights at load into the interleaved layout of the packed
    /// kernels (AVX-512 VNNI, AVX2 or NEON), when the CPU runs them. Costs a copy of those weights in memory;
    /// off keeps the weights mapped only.
    public var repackWeights: Bool
    /// Scan every tensor for NaN and infinity before running (seconds for a 7B file) and refuse
    /// the model if one is found.
    public var checkTensors: Bool

    public init(slidingWindow: Int? = nil, repackWeights: Bool = true, checkTensors: Bool = false) {
        self.slidingWindow = slidingWindow
        self.repackWeights = repackWeights
        self.checkTensors = checkTensors
    }
}
