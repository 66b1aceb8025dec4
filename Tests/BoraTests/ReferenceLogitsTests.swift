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

    @Test(arguments: cases)
    func logitsMatchTransformers(_ c: Case) throws {
        let reference = try Fixtures.reference(c.reference)
        let model = try LanguageModel(path: Fixtures.model(c.path), options: ModelLoadOptions(slidingWindow: c.slidingWindow))
        let context = try InferenceContext(model: model)
        let logits = try context.evaluateAll(reference.ids)
        #expect(logits.count == reference.ids.count)
        for (position, (row, expected)) in zip(logits, reference.logits).enumerated() {
            let difference = maxAbsDifference(row, expected)
            #expect(difference < 1e-3, "position \(position): max |Δ| = \(difference)")
        }
    }

    /// The window matters: without it, the sequence (4 windows long) gives different logits past W.
    @Test func mistralGGUFWithoutWindowDiffersPastTheWindow() throws {
        let reference = try Fixtures.reference("tiny-mistral-f32")
        let model = try LanguageModel(path: Fixtures.model("tiny-mistral-f32.gguf"))
        #expect(model.config.slidingWindow == nil)
        let logits = try InferenceContext(model: model).evaluateAll(reference.ids)
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
