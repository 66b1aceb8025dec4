import CBoraKernels
import Foundation

/// One sequence's generation as a step-wise state machine: it is handed the logits after its
/// prompt, then after each token it asked for, and answers with the next token to feed or with
/// the end. Sampler chain, seeded random draws, penalty history, detokenizer and stop strings live
/// here, so the single-sequence `Generator` and the batched `Engine` run the same generation loop;
/// they only decide when the sequence's rows go through the model.
final class SequenceGeneration {
    let parameters: GenerationParameters
    let tokenizer: Tokenizer
    private(set) var stats = GenerationStats()
    private(set) var isFinished = false

    private let chain: SamplerChain
    private var random: SeededRandom
    private var detokenizer: StreamingDetokenizer
    private var stops: StopStringMatcher
    private var history: [Int]
    private var candidates: TokenCandidates
    private let constraint: (any TokenConstraint)?
    private let started: ContinuousClock.Instant
    private var firstToken: ContinuousClock.Instant

    /// What the driver does when the context cannot take the next position.
    enum Room: Equatable {
        case available
        /// End the generation (stop reason `length`).
        case full
        /// Keep the first `keep` positions, drop the next `discard` (a full cache's context shift).
        case shift(keep: Int, discard: Int)
    }

    /// - Parameter startOfText: the answer is a text of its own (a chat answer), so SentencePiece's
    ///   leading space is dropped; false when it continues the prompt's text.
    init(prompt: [Int], parameters: GenerationParameters, tokenizer: Tokenizer, startOfText: Bool,
         positionLimit: Int?) throws(BoraError) {
        try parameters.validate()
        guard !prompt.isEmpty else { throw .invalidArgument("the prompt has no tokens") }
        if let limit = positionLimit, prompt.count > limit {
            throw .contextOverflow(needed: prompt.count, capacity: limit)
        }
        // Each shift must free a real share of the context, or shifting degenerates into one
        // re-rotation of the whole cache per token.
        if case .shift(let keep) = parameters.contextOverflow, let limit = positionLimit, keep > limit / 2 {
            throw .invalidArgument("the context shift keeps \(keep) tokens but the context holds \(limit): keep at most \(limit / 2)")
        }
        self.parameters = parameters
        self.tokenizer = tokenizer
        chain = SamplerChain(parameters: parameters)
        random = SeededRandom(seed: parameters.seed ?? UInt64.random(in: 0...UInt64.max))
        detokenizer = StreamingDetokenizer(tokenizer: tokenizer, startOfText: startOfText)
        stops = StopStringMatcher(stops: parameters.stop)
        history = prompt
        history.reserveCapacity(prompt.count + min(parameters.maxTokens ?? 256, 1 << 16))
        candidates = TokenCandidates(capacity: tokenizer.vocabularySize)
        constraint = try parameters.grammar.map { (g: GrammarConstraint) throws(BoraError) in
            try GrammarState(g, tokenizer: tokenizer, startOfText: startOfText)
        }
        started = .now
        firstToken = started
        stats.promptTokens = prompt.count
        stats.stopReason = .maxTokens
    }

    deinit { candidates.deallocate() }

    /// The prompt is in the cache: `evaluated` of its tokens were run (the rest were reused).
    func promptEvaluated(_ evaluated: Int) {
        stats.evaluatedPromptTokens = evaluated
        stats.promptSeconds = started.secondsElapsed
    }

    /// Takes the logits after the last token fed and returns the next token to feed, or nil when
    /// the generation is over (its closing events already emitted).
    func accept(_ logits: UnsafeBufferPointer<Float>, isCancelled: Bool, emit: (GenerationEvent) -> Void) -> Int? {
        precondition(!isFinished, "a finished generation was handed logits")
        if let maxTokens = parameters.maxTokens, stats.generatedTokens >= maxTokens { return end(.maxTokens, emit: emit) }
        if isCancelled { return end(.cancelled, emit: emit) }
        // Only ids the tokenizer knows: an embedding padded past it has rows no text stands for.
        let sampled = UnsafeBufferPointer(rebasing: logits[..<min(logits.count, tokenizer.vocabularySize)])
        let logprobs = parameters.logprobs.map { Self.logprobs(sampled, top: $0) }
        var token: Int
        if chain.greedy && chain.samplers.isEmpty {
            // Plain greedy: the first of the highest logits, as the chain's argmax picks it.
            token = Int(bora_argmax(sampled.baseAddress!, sampled.count))
        } else {
            candidates.load(sampled)
            token = chain.sample(&candidates, history: history[...], random: &random)
        }
        if let constraint {
            // llama.cpp's order: the token drawn as usual stands if the grammar takes it; else the
            // grammar masks every token it cannot take and the chain draws again.
            let start = ContinuousClock.now
            if !constraint.allows(token) {
                candidates.load(sampled)
                guard constraint.mask(&candidates) > 0 else {
                    stats.constraintSeconds += start.secondsElapsed
                    return end(.endOfSequence, emit: emit)
                }
                token = chain.sample(&candidates, history: history[...], random: &random)
            }
            constraint.accept(token)
            stats.constraintSeconds += start.secondsElapsed
        }
        if !parameters.ignoreEndOfSequence && tokenizer.endOfGenerationIDs.contains(token) {
            return end(.endOfSequence, emit: emit)
        }
        stats.generatedTokens += 1
        if stats.generatedTokens == 1 {
            stats.timeToFirstToken = started.secondsElapsed
            firstToken = .now
        }
        history.append(token)
        emit(.token(GeneratedToken(id: token, logprob: logprobs.map { $0.all[token] }, topLogprobs: logprobs?.top ?? [])))
        let (text, stopped) = stops.append(detokenizer.append(token))
        if !text.isEmpty { emit(.text(text)) }
        if stopped { return end(.stopString, emit: emit) }
        if let maxTokens = parameters.maxTokens, stats.generatedTokens >= maxTokens { return end(.maxTokens, emit: emit) }
        return token
    }

    /// Whether a sequence of `length` positions may take one more under `limit`, and if not, what
    /// the parameters say to do.
    func room(length: Int, limit: Int?) -> Room {
        guard let limit, length >= limit else { return .available }
        switch parameters.contextOverflow {
        case .stop:
            return .full
        case .shift(let keep):
            let kept = min(keep, length - 1)
            return .shift(keep: kept, discard: max(1, (length - kept) / 2))
        }
    }

    /// Ends the generation for a reason the driver found (a full context, a cancellation, an error
    /// of its own): flushes the text held back and emits the summary.
    @discardableResult
    func end(_ reason: StopReason, emit: (GenerationEvent) -> Void) -> Int? {
        guard !isFinished else { return nil }
        isFinished = true
        stats.stopReason = reason
        if reason != .stopString {
            let rest = stops.append(detokenizer.finish()).emit + stops.finish()
            if !rest.isEmpty { emit(.text(rest)) }
        }
        stats.generationSeconds = stats.generatedTokens > 1 ? firstToken.secondsElapsed : 0
        emit(.finished(stats))
        return nil
    }

    /// log-softmax of the raw logits, and the `top` most likely tokens.
    static func logprobs(_ logits: UnsafeBufferPointer<Float>, top: Int) -> (all: LogSoftmax, top: [TokenLogprob]) {
        let all = LogSoftmax(logits)
        var best: [TokenLogprob] = []
        if top > 0 {
            for (i, l) in logits.enumerated() where best.count < top || l > logits[best[best.count - 1].id] {
                let entry = TokenLogprob(id: i, logprob: l - all.logNormalizer)
                let at = best.firstIndex { logits[$0.id] < l } ?? best.count
                best.insert(entry, at: at)
                if best.count > top { best.removeLast() }
            }
        }
        return (all, best)
    }

    struct LogSoftmax {
        let logits: UnsafeBufferPointer<Float>
        let logNormalizer: Float

        init(_ logits: UnsafeBufferPointer<Float>) {
            self.logits = logits
            let maximum = logits.max() ?? 0
            var sum = 0.0
            for l in logits { sum += exp(Double(l - maximum)) }
            logNormalizer = maximum + Float(log(sum))
        }

        subscript(id: Int) -> Float { logits[id] - logNormalizer }
    }
}
