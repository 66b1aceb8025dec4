import Foundation
import Testing
@testable import Bora

@Suite(.serialized) struct GenerationTests {
    static func smol() throws -> LanguageModel? { try DefaultModelTests.model() }

    func collect(_ g: Generator, _ prompt: [Int], _ p: GenerationParameters, startOfText: Bool = false,
                 cancelAfter: Int? = nil) throws -> (text: String, tokens: [Int], stats: GenerationStats) {
        var text = "", tokens: [Int] = []
        let stats = try g.generate(prompt: prompt, parameters: p, startOfText: startOfText,
                                   isCancelled: { cancelAfter.map { tokens.count >= $0 } ?? false }) { event in
            switch event {
            case .text(let t): text += t
            case .token(let t): tokens.append(t.id)
            case .finished: break
            }
        }
        return (text, tokens, stats)
    }

    @Test func seededSamplingRepeatsAndPrefixIsReused() throws {
        guard let model = try Self.smol() else { return }
        let g = try Generator(model: model)
        var p = GenerationParameters()
        p.seed = 7
        p.maxTokens = 12
        let prompt = g.tokenizer.encode("Once upon a time")
        let first = try collect(g, prompt, p)
        let second = try collect(g, prompt, p)
        #expect(first.tokens == second.tokens && first.text == second.text && first.tokens.count == 12)
        // The second request shares the whole prompt with the cache: only its last token is evaluated.
        #expect(second.stats.evaluatedPromptTokens == 1)

        // A prompt extending the cached tokens (the prompt and all but the last generated token, which
        // was never fed back) evaluates only what is new.
        let longer = prompt + first.tokens + g.tokenizer.encode(" and then")
        let third = try collect(g, longer, p)
        #expect(third.stats.evaluatedPromptTokens == longer.count - (prompt.count + first.tokens.count - 1))

        p.seed = 8
        #expect(try collect(g, prompt, p).tokens != first.tokens)
    }

    @Test func stopsAndCancellation() throws {
        guard let model = try Self.smol() else { return }
        let g = try Generator(model: model)
        let prompt = g.tokenizer.encode("The capital of France is")
        var p = GenerationParameters.greedy
        p.maxTokens = 20
        let free = try collect(g, prompt, p)
        #expect(free.text.hasPrefix(" Paris.\n\nThe"))

        p.stop = [".\n"]
        let stopped = try collect(g, prompt, p)
        #expect(stopped.stats.stopReason == .stopString && stopped.text == " Paris")

        p.stop = []
        let cancelled = try collect(g, prompt, p, cancelAfter: 3)
        #expect(cancelled.stats.stopReason == .cancelled && cancelled.tokens.count == 3)
        // The generator is reusable after a cancellation and gives the same answer as before.
        #expect(try collect(g, prompt, p).tokens == free.tokens)

        p.maxTokens = 4
        let short = try collect(g, prompt, p)
        #expect(short.stats.stopReason == .maxTokens && short.tokens == Array(free.tokens.prefix(4)))
    }

    @Test func endOfSequenceAndLogprobs() throws {
        guard let model = try Self.smol() else { return }
        let g = try Generator(model: model)
        let choice = try model.chatFormat()
        let prompt = try choice.format.encode([.user("Say hi.")], tokenizer: g.tokenizer, defaultSystemPrompt: choice.defaultSystemPrompt)
        var p = GenerationParameters.greedy
        p.maxTokens = 60
        p.logprobs = 3
        var logprobs: [GeneratedToken] = []
        let stats = try g.generate(prompt: prompt, parameters: p, startOfText: true) { event in
            if case .token(let t) = event { logprobs.append(t) }
        }
        #expect(stats.stopReason == .endOfSequence)
        for t in logprobs {
            #expect(t.topLogprobs.count == 3 && t.topLogprobs[0].id == t.id)   // greedy picks the most likely
            #expect(t.logprob! <= 0 && abs(t.logprob! - t.topLogprobs[0].logprob) < 1e-4)
            #expect(t.topLogprobs[0].logprob >= t.topLogprobs[1].logprob)
        }
    }

    @Test func contextLimits() throws {
        guard let model = try Self.smol() else { return }
        let g = try Generator(model: model, options: ContextOptions(maxContext: 16))
        let prompt = g.tokenizer.encode("The capital of France is")
        var p = GenerationParameters.greedy
        p.ignoreEndOfSequence = true
        let limited = try collect(g, prompt, p)
        #expect(limited.stats.stopReason == .maxTokens && g.context.length == 16)
        #expect(limited.tokens.count == 16 - prompt.count + 1)

        p.contextOverflow = .shift(keep: 2)
        p.maxTokens = 30
        let shifted = try collect(g, prompt, p)
        #expect(shifted.tokens.count == 30 && g.context.length <= 16)

        let long = Array(repeating: 504, count: 17)
        #expect(throws: BoraError.contextOverflow(needed: 17, capacity: 16)) { try collect(g, long, p) }
    }

    /// Sliding-window models run past their context length: the rolling cache keeps exactly the keys a
    /// query can see. `maxContext` still caps them.
    @Test func slidingWindowModelRunsPastItsContext() throws {
        let model = try LanguageModel(path: Fixtures.model("tiny-mistral-hf"))
        #expect(model.config.contextLength == 64)
        let tokenizer = try Tokenizer.load(path: Fixtures.tokenizer("mistral-v1-tokenizer.gguf"))
        let g = try Generator(model: model, tokenizer: tokenizer)
        var p = GenerationParameters()
        p.seed = 1
        p.maxTokens = 150
        p.ignoreEndOfSequence = true
        let r = try collect(g, [1, 5, 9], p)
        #expect(r.tokens.count == 150 && g.context.length > 64 && r.tokens.allSatisfy { $0 < 320 })

        let capped = try Generator(model: model, options: ContextOptions(maxContext: 40), tokenizer: tokenizer)
        p.maxTokens = nil
        #expect(try collect(capped, [1, 5, 9], p).stats.stopReason == .maxTokens && capped.context.length == 40)
    }

    @Test func sessionStreamsAndSurvivesCancellation() async throws {
        guard let model = try Self.smol() else { return }
        let session = try Session(model: model)
        var p = GenerationParameters.greedy
        p.maxTokens = 8
        var text = ""
        var summary: GenerationStats?
        for try await event in session.generate(prompt: "The capital of France is", parameters: p) {
            switch event {
            case .text(let t): text += t
            case .finished(let s): summary = s
            case .token: break
            }
        }
        #expect(text.hasPrefix(" Paris") && summary?.generatedTokens == 8)

        // The consumer stops after two events: the generation ends within a token.
        p.maxTokens = nil
        p.ignoreEndOfSequence = true
        let endless = p
        let consumer = Task {
            var seen = 0
            for try await _ in session.generate(prompt: "Count: one, two,", parameters: endless) {
                seen += 1
                if seen == 2 { break }
            }
        }
        try await consumer.value
        var waited = 0
        while await session.lastStats?.stopReason != .cancelled && waited < 200 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        // The stream is consumed on another thread, so a few tokens may be produced before the
        // consumer's exit is seen; from then on the loop stops within one token (stopsAndCancellation
        // checks that bound exactly on the synchronous generator). Unbounded, it would run forever.
        let stats = await session.lastStats
        #expect(stats?.stopReason == .cancelled && (stats?.generatedTokens ?? 999) < 100, "\(String(describing: stats))")

        // Still usable; a chat request goes through the model's chat format. (This system prompt
        // keeps every greedy step's top-2 margin above 1.3 logits — measured — so 8-bit activation
        // noise cannot flip the answer; with "You are a helpful assistant." the first margin is 0.06.)
        var answer = ""
        p.maxTokens = 30
        p.ignoreEndOfSequence = false
        for try await event in session.chat([.system("Answer in one sentence."), .user("What is the capital of France?")], parameters: p) {
            if case .text(let t) = event { answer += t }
        }
        #expect(answer.contains("Paris"))
    }

    @Test func loadReportsProgress() async throws {
        let seen = ProgressLog()
        _ = try await Model.load(from: URL(fileURLWithPath: Fixtures.model("tiny-mistral-q8_0.gguf")), progress: seen.record)
        let values = seen.values
        #expect(values.first == 0 && values.last == 1 && values == values.sorted())
    }

    final class ProgressLog: @unchecked Sendable {
        private let lock = NSLock()
        private var log: [Double] = []
        func record(_ value: Double) { lock.lock(); log.append(value); lock.unlock() }
        var values: [Double] { lock.lock(); defer { lock.unlock() }; return log }
    }
}

/// The README's library example, as written there (on the default model).
@Suite struct ReadmeExampleTests {
    @Test func libraryExampleRuns() async throws {
        guard let path = Fixtures.defaultModel else {
            #expect(!Fixtures.requireDefaultModel)
            return
        }
        let model = try await Model.load(from: URL(fileURLWithPath: path), options: ModelLoadOptions()) { progress in
            _ = "loading: \(Int(progress * 100))%"
        }
        let session = try Session(model: model)
        var parameters = GenerationParameters()
        parameters.temperature = 0.7
        parameters.maxTokens = 20
        parameters.seed = 3
        var text = ""
        var finished: GenerationStats?
        for try await event in session.chat([.system("Be concise."), .user("Why is the sky blue?")], parameters: parameters) {
            switch event {
            case .text(let piece): text += piece
            case .token(let token): _ = token.id
            case .finished(let stats): finished = stats
            }
        }
        #expect(!text.isEmpty && finished != nil && finished!.generatedTokens <= 20)
    }
}
