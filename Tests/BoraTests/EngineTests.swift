import Foundation
import Synchronization
import Testing
@testable import Bora

/// The batched engine: the same tokens and log-probabilities, bit for bit, as each request alone;
/// slots, budgets, cancellation and prefix reuse.
@Suite struct EngineTests {
    /// One request's outcome: token ids, each token's log-probability bits, and why it stopped.
    struct Outcome: Equatable {
        var tokens: [Int] = []
        var logprobBits: [UInt32] = []
        var text = ""
        var stopReason: StopReason?
        var stats: GenerationStats?

        static func == (a: Outcome, b: Outcome) -> Bool {
            a.tokens == b.tokens && a.logprobBits == b.logprobBits && a.text == b.text && a.stopReason == b.stopReason
        }

        mutating func take(_ event: GenerationEvent) {
            switch event {
            case .token(let t):
                tokens.append(t.id)
                logprobBits.append(t.logprob?.bitPattern ?? 0)
            case .text(let s): text += s
            case .finished(let s): stopReason = s.stopReason; stats = s
            }
        }
    }

    static func collect(_ stream: AsyncThrowingStream<GenerationEvent, Error>) async throws -> Outcome {
        var outcome = Outcome()
        for try await event in stream { outcome.take(event) }
        return outcome
    }

    static func alone(_ model: LanguageModel, tokenizer: Tokenizer, maxContext: Int?, prompt: [Int],
                      _ p: GenerationParameters) throws -> Outcome {
        let generator = try Generator(model: model, options: ContextOptions(maxContext: maxContext), tokenizer: tokenizer)
        var outcome = Outcome()
        try generator.generate(prompt: prompt, parameters: p, startOfText: false) { outcome.take($0) }
        return outcome
    }

    /// Requests of different lengths and samplers (greedy and seeded), some running past the window.
    static func requests(count: Int, vocabulary: Int, seed: UInt64) -> [(prompt: [Int], parameters: GenerationParameters)] {
        var random = SeededRandom(seed: seed)
        let promptLengths = [3, 12, 20, 1, 30, 9, 17, 6]
        let answerLengths = [10, 40, 5, 25, 14, 33, 2, 19]
        return (0..<count).map { i in
            let prompt = (0..<promptLengths[i % 8]).map { _ in 3 + Int(random.next() % UInt64(vocabulary - 3)) }
            var p = i % 2 == 0 ? GenerationParameters.greedy : GenerationParameters()
            if i % 2 == 1 {
                p.seed = UInt64(100 + i)
                p.temperature = 1.1
                p.repeatPenalty = 1.1
            }
            p.maxTokens = answerLengths[i % 8]
            p.ignoreEndOfSequence = true
            p.logprobs = 0
            return (prompt, p)
        }
    }

    /// Every request through an engine of `parallel` slots at once against each one alone.
    static func checkBatchedEqualsAlone(model: LanguageModel, tokenizer: Tokenizer, maxContext: Int?,
                                        parallel: Int, stepTokens: Int, count: Int) async throws {
        let requests = Self.requests(count: count, vocabulary: min(model.config.vocabularySize, tokenizer.vocabularySize), seed: 7)
        let engine = try Engine(model: model, options: EngineOptions(parallel: parallel, maxContext: maxContext, stepTokens: stepTokens,
                                                                     promptStepTokens: stepTokens + 3),
                                tokenizer: tokenizer)
        let batched = try await withThrowingTaskGroup(of: (Int, Outcome).self) { group in
            for (i, r) in requests.enumerated() {
                let stream = engine.generate(tokens: r.prompt, parameters: r.parameters)
                group.addTask { (i, try await collect(stream)) }
            }
            var results = [Outcome](repeating: Outcome(), count: requests.count)
            for try await (i, o) in group { results[i] = o }
            return results
        }
        for (i, r) in requests.enumerated() {
            let expected = try alone(model, tokenizer: tokenizer, maxContext: maxContext, prompt: r.prompt, r.parameters)
            #expect(batched[i] == expected, "request \(i): prompt \(r.prompt.count) tokens, \(r.parameters.maxTokens ?? 0) to generate")
            #expect(!expected.tokens.isEmpty)
        }
    }

    /// The engine counts its sequences after each step, a moment after the last events went out.
    static func waitUntilIdle(_ engine: Engine) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while engine.load != (0, 0) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(engine.load == (0, 0))
    }

    static func mistralTokenizer() throws -> Tokenizer { try Tokenizer.load(path: Fixtures.tokenizer("mistral-v1-tokenizer.gguf")) }

    /// Sliding window W = 8, so most sequences run past W in their rolling caches.
    @Test(arguments: [(1, 64), (3, 7), (8, 512)])
    func batchedEqualsAloneWindowed(parallel: Int, stepTokens: Int) async throws {
        let model = try LanguageModel(path: Fixtures.model("tiny-mistral-hf"))
        #expect(model.config.slidingWindow == 8)
        try await Self.checkBatchedEqualsAlone(model: model, tokenizer: Self.mistralTokenizer(), maxContext: nil,
                                               parallel: parallel, stepTokens: stepTokens, count: 8)
    }

    /// No window, a full cache of 40 positions: some requests run out of context (stop reason length).
    @Test(arguments: [(3, 5), (8, 512)])
    func batchedEqualsAloneFullCache(parallel: Int, stepTokens: Int) async throws {
        let model = try LanguageModel(path: Fixtures.model("tiny-llama-hf"))
        try await Self.checkBatchedEqualsAlone(model: model, tokenizer: Self.mistralTokenizer(), maxContext: 40,
                                               parallel: parallel, stepTokens: stepTokens, count: 8)
    }

    @Test func batchedEqualsAloneQuantizedGGUF() async throws {
        let model = try LanguageModel(path: Fixtures.model("tiny-mistral-q8_0.gguf"))
        try await Self.checkBatchedEqualsAlone(model: model, tokenizer: Self.mistralTokenizer(), maxContext: nil,
                                               parallel: 4, stepTokens: 16, count: 8)
    }

    @Test func batchedEqualsAloneSmolLM2() async throws {
        guard let model = try DefaultModelTests.model() else { return }
        try await Self.checkBatchedEqualsAlone(model: model, tokenizer: model.tokenizer(), maxContext: 256,
                                               parallel: 4, stepTokens: 24, count: 6)
    }

    @Test func slotsAreSharedOutInTurn() async throws {
        let model = try LanguageModel(path: Fixtures.model("tiny-mistral-hf"))
        let engine = try Engine(model: model, options: EngineOptions(parallel: 1), tokenizer: Self.mistralTokenizer())
        var p = GenerationParameters.greedy
        p.maxTokens = 30
        p.ignoreEndOfSequence = true
        let first = engine.generate(tokens: [5, 6, 7], parameters: p)
        let second = engine.generate(tokens: [9, 10, 11], parameters: p)
        async let a = Self.collect(first)
        async let b = Self.collect(second)
        let (x, y) = try await (a, b)
        #expect(x.tokens.count == 30 && y.tokens.count == 30)
        try await Self.waitUntilIdle(engine)
        // One slot: the second waited for the first, so its first token came after the first's last.
        let (sx, sy) = (try #require(x.stats), try #require(y.stats))
        #expect(sy.timeToFirstToken > sx.timeToFirstToken)
    }

    @Test func budgetsAndLimits() async throws {
        let model = try LanguageModel(path: Fixtures.model("tiny-llama-hf"))
        let tokenizer = try Self.mistralTokenizer()
        // 1,000 slots of 10⁸ positions: far past any machine's memory, refused with both numbers.
        #expect {
            try Engine(model: model, options: EngineOptions(parallel: 1000, maxContext: 100_000_000), tokenizer: tokenizer)
        } throws: { error in
            guard case BoraError.insufficientMemory(let what, let needed, let available) = error else { return false }
            return what.contains("1000 slots") && needed > available
        }
        #expect(throws: BoraError.self) { try Engine(model: model, options: EngineOptions(parallel: 0), tokenizer: tokenizer) }
        #expect(throws: BoraError.self) { try Engine(model: model, options: EngineOptions(parallel: 4, totalContext: 3), tokenizer: tokenizer) }
        #expect(throws: BoraError.self) { try Engine(model: model, options: EngineOptions(maxContext: 8, totalContext: 64), tokenizer: tokenizer) }
        // A total shared out: 4 slots of 64 / 4 = 16 positions each.
        let shared = try Engine(model: model, options: EngineOptions(parallel: 4, totalContext: 64), tokenizer: tokenizer)
        #expect(shared.positionLimit == 16)
        #expect(throws: BoraError.self) { try Engine(model: model, options: EngineOptions(promptStepTokens: 0), tokenizer: tokenizer) }

        let engine = try Engine(model: model, options: EngineOptions(parallel: 2, maxContext: 16), tokenizer: tokenizer)
        await #expect(throws: BoraError.contextOverflow(needed: 17, capacity: 16)) {
            _ = try await Self.collect(engine.generate(tokens: Array(repeating: 5, count: 17)))
        }
        await #expect(throws: BoraError.invalidTokenID(256, vocabularySize: 256)) {
            _ = try await Self.collect(engine.generate(tokens: [5, 256]))
        }
        var bad = GenerationParameters()
        bad.topP = 0
        await #expect(throws: BoraError.self) { _ = try await Self.collect(engine.generate(tokens: [5], parameters: bad)) }
        // A prompt that fills the context still gets its one token, then stops for length.
        var p = GenerationParameters.greedy
        p.ignoreEndOfSequence = true
        let full = try await Self.collect(engine.generate(tokens: Array(repeating: 5, count: 16), parameters: p))
        #expect(full.tokens.count == 1 && full.stopReason == .maxTokens)
    }

    @Test func cancellationFreesTheSlot() async throws {
        let model = try LanguageModel(path: Fixtures.model("tiny-mistral-hf"))
        let engine = try Engine(model: model, options: EngineOptions(parallel: 1, stepTokens: 2, promptStepTokens: 2), tokenizer: Self.mistralTokenizer())
        var endless = GenerationParameters.greedy
        endless.ignoreEndOfSequence = true
        // Mid-decode: the consumer leaves after three tokens.
        var seen = 0
        for try await event in engine.generate(tokens: [5, 6, 7], parameters: endless) {
            if case .token = event { seen += 1 }
            if seen == 3 { break }
        }
        // Mid-prefill: a 400-token prompt in 2-token steps whose stream is dropped after the third
        // step (dropping the stream ends it as a cancelled consumer does, at once, on this thread).
        let stream = Mutex<AsyncThrowingStream<GenerationEvent, Error>?>(nil)
        let promptSteps = Mutex(0)
        engine.observeSteps { report in
            guard report.promptRows > 0 else { return }
            let n = promptSteps.withLock { $0 += 1; return $0 }
            if n == 3 { stream.withLock { $0 = nil } }
        }
        stream.withLock { $0 = engine.generate(tokens: Array(repeating: 9, count: 400), parameters: endless) }
        try await Self.waitUntilIdle(engine)
        engine.observeSteps(nil)
        // Dropped at the next step boundary: no chunk ran after the third.
        #expect(promptSteps.withLock { $0 } == 3)
        // The one slot is free again: a request after both is answered.
        var p = GenerationParameters.greedy
        p.maxTokens = 4
        p.ignoreEndOfSequence = true
        let after = try await Self.collect(engine.generate(tokens: [5, 6, 7], parameters: p))
        #expect(after.tokens.count == 4)
        try await Self.waitUntilIdle(engine)
    }

    @Test func aRequestTakesTheSlotHoldingItsPrefix() async throws {
        let model = try LanguageModel(path: Fixtures.model("tiny-llama-hf"))
        let engine = try Engine(model: model, options: EngineOptions(parallel: 3, maxContext: 64), tokenizer: Self.mistralTokenizer())
        var p = GenerationParameters.greedy
        p.maxTokens = 6
        p.ignoreEndOfSequence = true
        let a = Array(10..<30), b = Array(40..<60), c = Array(70..<90)
        var answers: [[Int]] = []
        for prompt in [a, b, c] { answers.append(try await Self.collect(engine.generate(tokens: prompt, parameters: p)).tokens) }
        // The next turn of b's conversation: b, its answer (all but the last token, which was never
        // fed), then new tokens. It lands on b's slot and evaluates only what is new.
        let turn = b + answers[1].dropLast() + [100, 101, 102]
        let next = try await Self.collect(engine.generate(tokens: turn, parameters: p))
        let stats = try #require(next.stats)
        #expect(stats.promptTokens == turn.count)
        #expect(stats.evaluatedPromptTokens == 3)
        let expected = try Self.alone(model, tokenizer: Self.mistralTokenizer(), maxContext: 64, prompt: turn, p)
        #expect(next == expected)
        // A prompt sharing nothing evaluates everything, in the least recently used slot (a's).
        let fresh = try await Self.collect(engine.generate(tokens: Array(120..<130), parameters: p))
        #expect(fresh.stats?.evaluatedPromptTokens == 10)
        let again = try await Self.collect(engine.generate(tokens: c + [1, 2], parameters: p))
        #expect(again.stats?.evaluatedPromptTokens == 2)
    }
}
