import Foundation
import Testing
@testable import Bora

/// KL divergence of one model's next-token distributions from another's, saved base and full vocabulary.
@Suite struct KLDivergenceTests {
    /// 20 chunks of 8 tokens (the tiny Mistral's window is 8, so its F32 file, published without the
    /// window key, attends exactly as the windowed Q8_0 file does within a chunk).
    static let context = 8
    static func tokens() -> [Int] {
        var rng = KernelTests.RNG(state: 11)
        return [1] + (0..<159).map { _ in 3 + Int(rng.next() % 317) }
    }
    static func models() throws -> (f32: LanguageModel, q8: LanguageModel, tokenizer: Tokenizer) {
        (try LanguageModel(path: Fixtures.model("tiny-mistral-f32.gguf")),
         try LanguageModel(path: Fixtures.model("tiny-mistral-q8_0.gguf")),
         try Tokenizer.load(path: Fixtures.tokenizer("mistral-v1-tokenizer.gguf")))
    }

    /// A model against its own saved base: exactly 0, the same top token everywhere, Δp 0; the
    /// base's perplexity is the one `Perplexity.run` reports.
    @Test func aModelAgainstItselfIsZero() throws {
        let (_, q8, tokenizer) = try Self.models()
        let (base, ppl) = try KLDivergence.base(model: q8, tokenizer: tokenizer, tokens: Self.tokens(), context: Self.context,
                                                chunks: nil, top: 16, threads: 1)
        #expect(base.chunks == 20 && base.positions == 20 * 3 && ppl.tokensScored == base.positions)
        let result = try KLDivergence.score(model: q8, tokenizer: tokenizer, against: base, threads: 1)
        #expect(result.count == base.positions && result.chunks == 20)
        #expect(result.klds.allSatisfy { $0 == 0 })
        #expect(result.sameTop == result.count)
        #expect(result.pDiffs.allSatisfy { abs($0) < 1e-6 })
        #expect(abs(result.perplexityBase.0 / ppl.perplexity - 1) < 1e-6)
    }

    /// Q8_0 against the F32 weights it was quantized from: small and positive. The full-vocabulary
    /// divergence equals one computed here from `evaluateAll`'s logits in Double; the saved base
    /// (top 32 of 320 nearly uniform tokens, the worst case) is within 3% of it, and within 0.1% with
    /// every token kept.
    @Test func quantizedAgainstF32() throws {
        let (f32, q8, tokenizer) = try Self.models()
        let tokens = Self.tokens(), c = Self.context
        let exact = try KLDivergence.exact(base: f32, model: q8, tokenizer: tokenizer, tokens: tokens, context: c,
                                           chunks: nil, threads: 1)
        #expect(exact.count == 60 && exact.kld.0 > 0 && exact.kld.0 < 0.01, "mean KLD \(exact.kld.0)")
        #expect(exact.klds.allSatisfy { $0 >= -1e-9 })

        func logProbs(_ model: LanguageModel, _ input: [Int]) throws -> [[Double]] {
            try InferenceContext(model: model, options: ContextOptions(maxContext: c)).evaluateAll(input).map { row in
                let r = row.map(Double.init), top = r.max()!
                let lse = top + Foundation.log(r.map { Foundation.exp($0 - top) }.reduce(0, +))
                return r.map { $0 - lse }
            }
        }
        var expected: [Double] = []
        for chunk in 0..<20 {
            var input = Array(tokens[(chunk * c)..<((chunk + 1) * c)])
            input[0] = 1
            let p = try logProbs(f32, input), q = try logProbs(q8, input)
            for i in (c / 2)..<(c - 1) {
                expected.append(zip(p[i], q[i]).reduce(0) { $0 + Foundation.exp($1.0) * ($1.0 - $1.1) })
            }
        }
        for (mine, theirs) in zip(exact.klds, expected) { #expect(abs(mine - theirs) < 1e-6 + 1e-3 * theirs) }

        for (top, bound) in [(32, 0.03), (320, 0.001)] {
            let (base, _) = try KLDivergence.base(model: f32, tokenizer: tokenizer, tokens: tokens, context: c,
                                                  chunks: nil, top: top, threads: 1)
            let saved = try KLDivergence.score(model: q8, tokenizer: tokenizer, against: base, threads: 1)
            #expect(abs(saved.kld.0 / exact.kld.0 - 1) < bound, "top \(top): \(saved.kld.0) against \(exact.kld.0)")
            #expect(saved.sameTop == exact.sameTop)
            #expect(abs(saved.perplexity.0 / exact.perplexity.0 - 1) < 1e-9)
            #expect(abs(saved.perplexityBase.0 / exact.perplexityBase.0 - 1) < 1e-6)
        }
    }

    /// The file: written and read back equal; a truncated, foreign or out-of-range file and a
    /// model with another vocabulary are refused, naming the problem.
    @Test func theFileRoundTripsAndRefusesBadInput() throws {
        let (_, q8, tokenizer) = try Self.models()
        let (base, _) = try KLDivergence.base(model: q8, tokenizer: tokenizer, tokens: Self.tokens(), context: Self.context,
                                              chunks: 2, top: 4, threads: 1)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bora-kld-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try base.write(to: path)
        let bytes = try #require(FileManager.default.contents(atPath: path))
        #expect(bytes.count == 8 + 20 + 4 * 16 + 6 * (8 + 8 * 4))
        #expect(try KLDivergenceBase.read(path: path) == base)

        try bytes.prefix(bytes.count - 1).write(to: URL(fileURLWithPath: path))
        #expect(throws: BoraError.truncated(path: path, what: "2 chunks of 8 tokens with 4 entries a position (332 bytes, the file has 331)")) {
            try KLDivergenceBase.read(path: path)
        }
        var foreign = bytes
        foreign[0] = UInt8(ascii: "X")
        try foreign.write(to: URL(fileURLWithPath: path))
        #expect(throws: BoraError.badMagic(path: path, found: "XORAKLD1")) { try KLDivergenceBase.read(path: path) }
        var hostile = bytes
        hostile[28] = 0xFF; hostile[29] = 0xFF  // the first token id: 65,535 in a 320-token vocabulary
        try hostile.write(to: URL(fileURLWithPath: path))
        #expect(throws: BoraError.invalidTokenID(65_535, vocabularySize: 320)) { try KLDivergenceBase.read(path: path) }
        var huge = bytes
        huge[20] = 0xFF; huge[21] = 0xFF; huge[22] = 0xFF  // entries per position
        try huge.write(to: URL(fileURLWithPath: path))
        #expect(throws: BoraError.absurdDimension(name: "entries per position", value: 16_777_215)) { try KLDivergenceBase.read(path: path) }

        let smol = try DefaultModelTests.model()
        if let smol {
            #expect(throws: BoraError.invalidArgument("the model has 49152 tokens in its vocabulary but the base was made with 320: KL divergence needs the same vocabulary")) {
                try KLDivergence.score(model: smol, tokenizer: smol.tokenizer(), against: base, threads: 1)
            }
        }
        #expect(throws: BoraError.invalidArgument("the entries kept per position must be between 1 and 320, got 0")) {
            try KLDivergence.base(model: q8, tokenizer: tokenizer, tokens: Self.tokens(), context: Self.context, chunks: 1, top: 0, threads: 1)
        }
    }

    /// llama-perplexity's statistics helpers: its percentile (linear between neighbours) and median.
    @Test func percentilesAsLlamaPerplexity() {
        let sorted = [0.0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
        #expect(KLDivergenceResult.percentile(sorted, 0.95) == 9.5)
        #expect(abs(KLDivergenceResult.percentile(sorted, 0.999) - 9.99) < 1e-12)
        #expect(KLDivergenceResult.median([1, 2, 3, 4]) == 2.5 && KLDivergenceResult.median([1, 5, 7]) == 5)
    }
}
