import CBoraKernels
import Testing
@testable import Bora

/// Logits at every position against transformers' (float32, eager attention) on the same weights.
@Suite struct ReferenceLogitsTests {
    struct Case: CustomStringConvertible, Sendable {
        let path: String
        let reference: String
        var slidingWindow: Int? = nil
        var description: String { path }
    }

    static let cases: [Case] = [
        Case(path: "tiny-mistral-hf", reference: "tiny-mistral-hf"),
        Case(path: "tiny-mistral-hf-bf16", reference: "tiny-mistral-hf-bf16"),
        Case(path: "tiny-mistral-native", reference: "tiny-mistral-native"),
        // Published Mistral-7B GGUFs lack the window key: the override restores it.
        Case(path: "tiny-mistral-f32.gguf", reference: "tiny-mistral-f32", slidingWindow: 8),
        Case(path: "tiny-mistral-q8_0.gguf", reference: "tiny-mistral-q8_0"),
        Case(path: "tiny-llama-hf", reference: "tiny-llama-hf"),
        Case(path: "tiny-llama-mixed.gguf", reference: "tiny-llama-mixed"),
    ]

    /// Largest and mean |Δ| over all positions and logits.
    private func differences(_ c: Case, options: ContextOptions) throws -> (max: Float, mean: Float) {
        let reference = try Fixtures.reference(c.reference)
        let model = try LanguageModel(path: Fixtures.model(c.path), options: ModelLoadOptions(slidingWindow: c.slidingWindow))
        let logits = try InferenceContext(model: model, options: options).evaluateAll(reference.ids)
        #expect(logits.count == reference.ids.count)
        let all = zip(logits, reference.logits).flatMap { zip($0, $1).map { abs($0 - $1) } }
        return (all.max() ?? .infinity, all.reduce(0, +) / Float(max(all.count, 1)))
    }

    private func worstDifference(_ c: Case, options: ContextOptions) throws -> Float {
        try differences(c, options: options).max
    }

    /// BF16 weights run BF16 dot products on CPUs with AVX-512 BF16, which round activations to BF16.
    static var bf16RoundsActivations: Bool { bora_has_bf16_dot() != 0 }

    /// F32 everywhere: the reference kernels for quantized weights (F32 activations) and for BF16
    /// where the fast kernels round activations to BF16, the fast ones for the other float weights
    /// (which keep activations in F32), and an F32 KV cache.
    @Test(arguments: cases)
    func logitsMatchTransformers(_ c: Case) throws {
        let quantized = c.path.hasSuffix(".gguf") && !c.path.contains("f32")
        let roundsActivations = quantized || (c.path.contains("bf16") && Self.bf16RoundsActivations)
        let options = ContextOptions(kvCacheType: .f32, kernels: roundsActivations ? .reference : .fast)
        let difference = try worstDifference(c, options: options)
        #expect(difference < 1e-3, "max |Δ| = \(difference)")
    }

    /// The fast kernels quantize activations to 8 bits in blocks of 32, as llama.cpp does (each
    /// value off by up to half its block's scale; KernelTests checks that bound exactly). Through
    /// these small random models it moves logits of magnitude ~5 by, measured, max 0.25 / mean 0.032
    /// (Q8_0) and max 0.68 / mean 0.078 (all formats mixed); the limits leave 2× room.
    @Test(arguments: [(cases[4], Float(0.5), Float(0.065)), (cases[6], Float(1.4), Float(0.16))])
    func fastQuantizedKernelsStayClose(_ c: Case, maxLimit: Float, meanLimit: Float) throws {
        let (worst, mean) = try differences(c, options: ContextOptions(kvCacheType: .f32, kernels: .fast))
        #expect(worst < maxLimit && mean < meanLimit, "max |Δ| = \(worst), mean |Δ| = \(mean)")
        #expect(worst > 1e-5, "activation quantization should show")
    }

    /// BF16 dot products round each activation to BF16 (8 significant bits, as llama.cpp does for
    /// BF16 weights). Measured through the BF16 Mistral fixture: max |Δ| 0.0706, mean |Δ| 0.0087; the
    /// limits leave 2× room.
    @Test func fastBF16KernelsStayClose() throws {
        guard Self.bf16RoundsActivations else { return }
        let (worst, mean) = try differences(Self.cases[1], options: ContextOptions(kvCacheType: .f32, kernels: .fast))
        #expect(worst < 0.15 && mean < 0.018, "max |Δ| = \(worst), mean |Δ| = \(mean)")
        #expect(worst > 1e-4, "BF16 rounding of the activations should show")
    }

    /// The default F16 KV cache rounds keys and values to 11 significant bits; measured worst |Δ|:
    /// 0.0038 on the Mistral fixture.
    @Test func f16CacheStaysClose() throws {
        let difference = try worstDifference(Self.cases[0], options: ContextOptions(kvCacheType: .f16, kernels: .fast))
        #expect(difference < 0.01, "max |Δ| = \(difference)")
    }

    /// The window matters: without it, the sequence (4 windows long) gives different logits past W.
    @Test func mistralGGUFWithoutWindowDiffersPastTheWindow() throws {
        let reference = try Fixtures.reference("tiny-mistral-f32")
        let model = try LanguageModel(path: Fixtures.model("tiny-mistral-f32.gguf"))
        #expect(model.config.slidingWindow == nil)
        let logits = try InferenceContext(model: model, options: ContextOptions(kvCacheType: .f32)).evaluateAll(reference.ids)
        for position in 0..<8 {
            #expect(maxAbsDifference(logits[position], reference.logits[position]) < 1e-3)
        }
        #expect(maxAbsDifference(logits[31], reference.logits[31]) > 1e-2)
    }

    @Test func formatsAgreeOnConfiguration() throws {
        let hf = try LanguageModel(path: Fixtures.model("tiny-mistral-hf")).config
        let native = try LanguageModel(path: Fixtures.model("tiny-mistral-native")).config
        let gguf = try LanguageModel(path: Fixtures.model("tiny-mistral-q8_0.gguf")).config
        for c in [hf, native, gguf] {
            #expect(c.embeddingDim == 64 && c.layerCount == 3 && c.headCount == 4 && c.kvHeadCount == 2)
            #expect(c.headDim == 16 && c.feedForwardDim == 160 && c.vocabularySize == 320)
            #expect(c.slidingWindow == 8 && c.ropeTheta == 10000 && !c.tiedEmbeddings)
        }
        #expect(hf.ropeStyle == .halfSplit && native.ropeStyle == .interleaved && gguf.ropeStyle == .interleaved)
        let llama = try LanguageModel(path: Fixtures.model("tiny-llama-hf")).config
        #expect(llama.tiedEmbeddings && llama.ropeTheta == 100_000 && llama.slidingWindow == nil && llama.architecture == "llama")
        #expect(try LanguageModel(path: Fixtures.model("tiny-llama-mixed.gguf")).config.tiedEmbeddings)
    }
}
