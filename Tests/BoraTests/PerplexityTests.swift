import Foundation
import Testing
@testable import Bora

/// `Perplexity` against llama.cpp's `llama-perplexity` on the same GGUF and text, and its own checks.
@Suite struct PerplexityTests {
    static let text = Fixtures.root + "/text/gpl-3.txt"

    /// Within 1% of llama-perplexity's figures (chunk by chunk too), with the same error formula.
    @Test func matchesLlamaPerplexity() throws {
        guard let model = try DefaultModelTests.model() else { return }
        let reference = try Fixtures.json(Fixtures.root + "/text/gpl-3.llama-perplexity.json")
        let text = try String(contentsOfFile: Self.text, encoding: .utf8)
        let result = try Perplexity.run(model: model, tokenizer: model.tokenizer(), text: text, context: 512, chunks: 3, threads: 2)
        #expect(result.chunks == 3 && result.tokensScored == 3 * 255)
        let expected = try #require(reference["ppl"]?.double)
        #expect(abs(result.perplexity / expected - 1) < 0.01, "PPL \(result.perplexity) against llama-perplexity's \(expected)")
        for (mine, theirs) in zip(result.running, try #require(reference["running"]?.array).map { $0.double! }) {
            #expect(abs(mine / theirs - 1) < 0.02, "running PPL \(mine) against \(theirs)")
        }
        let error = try #require(reference["ppl_error"]?.double)
        #expect(abs(result.perplexityError / error - 1) < 0.05)
        // Bits per byte: the same −ln p over the scored text's bytes.
        #expect(result.bytesScored > 3 * 255 && result.bitsPerByte > 0.3 && result.bitsPerByte < 3)
        #expect(abs(result.bitsPerByte - result.nll / log(2) / Double(result.bytesScored)) < 1e-12)
    }

    /// The scored −ln p are the log-softmax of the logits `evaluateAll` gives, in Double; a text too
    /// short for two chunks is refused, naming both numbers.
    @Test func scoresTheSecondHalfOfEachChunk() throws {
        let model = try LanguageModel(path: Fixtures.model("tiny-mistral-q8_0.gguf"))
        let tokenizer = try Tokenizer.load(path: Fixtures.tokenizer("mistral-v1-tokenizer.gguf"))
        // Ids within the tiny model's 320 rows (Mistral's byte tokens and first pieces).
        var rng = KernelTests.RNG(state: 3)
        let tokens = [1] + (0..<47).map { _ in 3 + Int(rng.next() % 317) }
        let context = 16
        let result = try Perplexity.run(model: model, tokenizer: tokenizer, tokens: tokens, context: context, chunks: 2, threads: 1)
        var nll = 0.0
        for chunk in 0..<2 {
            var input = Array(tokens[(chunk * context)..<((chunk + 1) * context)])
            input[0] = tokenizer.bosID!
            let rows = try InferenceContext(model: model, options: ContextOptions(maxContext: context)).evaluateAll(input)
            for i in (context / 2)..<(context - 1) {
                let row = rows[i].map(Double.init), top = row.max()!
                let logSum = top + Foundation.log(row.map { Foundation.exp($0 - top) }.reduce(0, +))
                nll += logSum - row[tokens[chunk * context + i + 1]]
            }
        }
        #expect(result.tokensScored == 2 * (context - 1 - context / 2))
        #expect(abs(result.nll - nll) < 1e-4 * nll)
        #expect(result.chunks == 2 && result.bytesScored > 0)
        #expect(throws: BoraError.invalidArgument("the text has 48 tokens; a context of 32 needs at least 64")) {
            try Perplexity.run(model: model, tokenizer: tokenizer, tokens: tokens, context: 32, chunks: nil, threads: 1)
        }
    }

    /// Document mode: one sequence through Mistral's rolling cache, past the context length (100
    /// tokens, W = 8, context 64): the −ln p of every position as `evaluateAll` gives them; a model
    /// without a window refuses a document longer than its context.
    @Test func documentModeRunsPastTheContext() throws {
        let model = try LanguageModel(path: Fixtures.model("tiny-mistral-q8_0.gguf"))
        #expect(model.config.slidingWindow == 8 && model.config.contextLength < 100)
        let tokenizer = try Tokenizer.load(path: Fixtures.tokenizer("mistral-v1-tokenizer.gguf"))
        var rng = KernelTests.RNG(state: 8)
        let tokens = [1] + (0..<99).map { _ in 3 + Int(rng.next() % 317) }
        let result = try Perplexity.runDocument(model: model, tokenizer: tokenizer, tokens: tokens, threads: 1, piece: 30)
        let rows = try InferenceContext(model: model).evaluateAll(tokens)
        var nll = 0.0
        for i in 0..<(tokens.count - 1) {
            let row = rows[i].map(Double.init), top = row.max()!
            nll += top + Foundation.log(row.map { Foundation.exp($0 - top) }.reduce(0, +)) - row[tokens[i + 1]]
        }
        #expect(result.tokensScored == 99 && result.chunks == 4 && result.running.count == 4)
        #expect(abs(result.nll - nll) < 1e-4 * nll)
        let llama = try LanguageModel(path: Fixtures.model("tiny-llama-hf"))
        #expect(throws: BoraError.self) {
            try Perplexity.runDocument(model: llama, tokenizer: tokenizer, tokens: Array(tokens.prefix(100)).map { $0 % 256 }, threads: 1)
        }
    }

    /// With F32 kernels and cache, a document's perplexity is within 1e-4 relative of the one
    /// transformers' logits give for the same tokens (committed references of the tiny checkpoints;
    /// the Mistral one has W = 8, so its 32 tokens run through the rolling cache, in pieces of 5).
    @Test(arguments: ["tiny-mistral-hf", "tiny-llama-hf"])
    func documentPerplexityMatchesTransformers(_ name: String) throws {
        let reference = try Fixtures.reference(name)
        let model = try LanguageModel(path: Fixtures.model(name))
        let tokenizer = try Tokenizer.load(path: Fixtures.tokenizer("mistral-v1-tokenizer.gguf"))
        let result = try Perplexity.runDocument(model: model, tokenizer: tokenizer, tokens: reference.ids, threads: 2,
                                                kvCacheType: .f32, piece: 5)
        let ids = reference.ids
        let nll = (1..<ids.count).map { -EvaluationTests.logProbability(reference.logits, ids, at: $0) }.reduce(0, +)
        let expected = Foundation.exp(nll / Double(ids.count - 1))
        #expect(result.tokensScored == ids.count - 1)
        #expect(abs(result.perplexity / expected - 1) < 1e-4, "\(name): PPL \(result.perplexity) against transformers' \(expected)")
    }
}
