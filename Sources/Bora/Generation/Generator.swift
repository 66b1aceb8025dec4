import Foundation

/// Generation over one inference context: the prompt (reusing the cached prefix), then the
/// sequence's state machine (`SequenceGeneration`, the same one the batched engine runs) is fed
/// its logits token by token. Synchronous and single-threaded from the caller's side; `Session`
/// wraps it in an actor and an `AsyncThrowingStream`.
public final class Generator {
    public let model: LanguageModel
    public let context: InferenceContext
    public let tokenizer: Tokenizer
    /// Tokens whose keys and values are in the context, in order.
    public private(set) var cachedTokens: [Int] = []

    /// - Parameter tokenizer: overrides the model's own (for models stored without one).
    public init(model: LanguageModel, options: ContextOptions = .init(), tokenizer: Tokenizer? = nil) throws(BoraError) {
        self.model = model
        if let tokenizer {
            self.tokenizer = tokenizer
        } else {
            self.tokenizer = try model.tokenizer()
        }
        self.context = try InferenceContext(model: model, options: options)
    }

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
        let limit = context.positionLimit
        let sequence = try SequenceGeneration(prompt: prompt, parameters: parameters, tokenizer: tokenizer,
                                              startOfText: startOfText, positionLimit: limit)
        // Reuse the longest cached prefix (at least the last prompt token is evaluated for its logits).
        let common = context.cache.reusablePrefix(cached: cachedTokens, prompt: prompt)
        if common == 0 {
            reset()
        } else if common < cachedTokens.count {
            try context.truncate(to: common)
            cachedTokens.removeLast(cachedTokens.count - common)
        }
        var logits = try context.evaluateInPlace(Array(prompt[common...]))
        cachedTokens = prompt
        sequence.promptEvaluated(prompt.count - common)

        while let token = sequence.accept(logits, isCancelled: isCancelled(), emit: emit) {
            switch sequence.room(length: context.length, limit: limit) {
            case .available: break
            case .full:
                sequence.end(.maxTokens, emit: emit)
                return sequence.stats
            case .shift(let keep, let discard):
                try context.shift(keep: keep, discard: discard)
                cachedTokens.removeSubrange(keep..<(keep + discard))
            }
            logits = try context.evaluateInPlace([token])
            cachedTokens.append(token)
        }
        return sequence.stats
    }
}
