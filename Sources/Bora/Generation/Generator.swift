import Foundation

/// The generation loop over one inference context: prompt (reusing the cached prefix), then
/// sample, stream and stop. Synchronous and single-threaded from the caller's side; `Session`
/// wraps it in an actor and an `AsyncThrowingStream`.
public final class Generator {
    public let model: LanguageModel
    public let context: InferenceContext
    public let tokenizer: Tokenizer
    /// Tokens whose keys and values are in the context, in order.
    public private(set) var cachedTokens: [Int] = []
    private var candidates: TokenCandidates

    /// - Parameter tokenizer: overrides the model's own (for models stored without one).
    public init(model: LanguageModel, options: ContextOptions = .init(), tokenizer: Tokenizer? = nil) throws(BoraError) {
        self.model = model
        if let tokenizer {
            self.tokenizer = tokenizer
        } else {
            self.tokenizer = try model.tokenizer()
        }
        self.context = try InferenceContext(model: model, options: options)
        candidates = TokenCandidates(capacity: model.config.vocabularySize)
    }

    deinit { candidates.deallocate() }

    /// Forgets the cached tokens.
    public func reset() {
        context.reset()
        cachedTokens.removeAll()
    }

    /// Generates after `prompt` (token ids). `emit` receives the events; `isCancelled` is asked
    /// before each token. Returns the summary (also emitted last).
    /// - Parameter startOfText: the answer is a text of its own (a chat answer), so SentencePiece's
    ///   leading space is dropped; false when it continues the prompt's text.
    @discardableResult
    public func generate(
        prompt: [Int], parameters: GenerationParameters, startOfText: Bool,
        isCancelled: () -> Bool = { false }, emit: (GenerationEvent) -> Void
    ) throws(BoraError) -> GenerationStats {
        try parameters.validate()
        guard !prompt.isEmpty else { throw .invalidArgument("the prompt has no tokens") }
        let limit = context.positionLimit
        if let limit, prompt.count > limit {
            throw .contextOverflow(needed: prompt.count, capacity: limit)
        }
        // Each shift must free a real share of the context, or shifting degenerates into one
        // re-rotation of the whole cache per token.
        if case .shift(let keep) = parameters.contextOverflow, let limit, keep > limit / 2 {
            throw .invalidArgument("the context shift keeps \(keep) tokens but the context holds \(limit): keep at most \(limit / 2)")
        }
        var stats = GenerationStats()
        stats.promptTokens = prompt.count
        let start = ContinuousClock.now

        // Reuse the longest cached prefix (at least the last prompt token is evaluated for its logits).
        var common = zip(cachedTokens, prompt).prefix { $0 == $1 }.count
        common = min(common, prompt.count - 1)
        if common < cachedTokens.count {
            if context.canTruncate(to: common) {
                try context.truncate(to: common)
                cachedTokens.removeLast(cachedTokens.count - common)
            } else {
                reset()
                common = 0
            }
        }
        stats.evaluatedPromptTokens = prompt.count - common
        var logits = try context.evaluate(Array(prompt[common...]))
        cachedTokens = prompt
        stats.promptSeconds = start.secondsElapsed

        let chain = SamplerChain(parameters: parameters)
        var random = SeededRandom(seed: parameters.seed ?? UInt64.random(in: 0...UInt64.max))
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer, startOfText: startOfText)
        var stops = StopStringMatcher(stops: parameters.stop)
        var history = prompt
        var firstToken = ContinuousClock.now
        stats.stopReason = .maxTokens

        generation: while true {
            if let maxTokens = parameters.maxTokens, stats.generatedTokens >= maxTokens { stats.stopReason = .maxTokens; break }
            if isCancelled() { stats.stopReason = .cancelled; break }
            // Only ids the tokenizer knows: an embedding padded past it has rows no text stands for.
            let sampled = UnsafeBufferPointer(rebasing: logits[..<min(logits.count, tokenizer.vocabularySize)])
            let logprobs = parameters.logprobs.map { Self.logprobs(sampled, top: $0) }
            candidates.load(sampled)
            let token = chain.sample(&candidates, history: history[...], random: &random)
            if !parameters.ignoreEndOfSequence && tokenizer.endOfGenerationIDs.contains(token) {
                stats.stopReason = .endOfSequence
                break
            }
            stats.generatedTokens += 1
            if stats.generatedTokens == 1 {
                stats.timeToFirstToken = start.secondsElapsed
                firstToken = .now
            }
            history.append(token)
            emit(.token(GeneratedToken(
                id: token, logprob: logprobs.map { $0.all[token] },
                topLogprobs: logprobs?.top ?? [])))
            let (text, stopped) = stops.append(detokenizer.append(token))
            if !text.isEmpty { emit(.text(text)) }
            if stopped { stats.stopReason = .stopString; break }
            if let maxTokens = parameters.maxTokens, stats.generatedTokens >= maxTokens { break }

            // Room for the next position?
            if let limit, context.length >= limit {
                switch parameters.contextOverflow {
                case .stop:
                    stats.stopReason = .maxTokens
                    break generation
                case .shift(let keep):
                    let kept = min(keep, context.length - 1)
                    let discard = max(1, (context.length - kept) / 2)
                    try context.shift(keep: kept, discard: discard)
                    cachedTokens.removeSubrange(kept..<(kept + discard))
                }
            }
            logits = try context.evaluate([token])
            cachedTokens.append(token)
        }
        if stats.stopReason != .stopString {
            let rest = stops.append(detokenizer.finish()).emit + stops.finish()
            if !rest.isEmpty { emit(.text(rest)) }
        }
        stats.generationSeconds = stats.generatedTokens > 1 ? firstToken.secondsElapsed : 0
        emit(.finished(stats))
        return stats
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
