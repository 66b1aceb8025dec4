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
    /// The tokens of one step (the token fed and its drafts), kept with their capacity.
    private var input: [Int] = []
    /// The draft model's state, for requests that draft with it (`SpeculativeDecoding.Drafter.draftModel`).
    let draft: DraftModelRunner?

    /// - Parameters:
    ///   - tokenizer: overrides the model's own (for models stored without one).
    ///   - draft: a smaller model with the same vocabulary, for speculative decoding with a draft
    ///     model; it runs on the context's threads, in a context of its own of the same length.
    public init(model: LanguageModel, options: ContextOptions = .init(), tokenizer: Tokenizer? = nil,
                draft: LanguageModel? = nil) throws(BoraError) {
        self.model = model
        if let tokenizer {
            self.tokenizer = tokenizer
        } else {
            self.tokenizer = try model.tokenizer()
        }
        self.context = try InferenceContext(model: model, options: options)
        if let draft {
            try DraftModelCheck.check(draft: draft, target: model, tokenizer: self.tokenizer)
            let plan = try CachePlan(config: draft.config, maxContext: options.maxContext ?? context.positionLimit, type: options.kvCacheType)
            let pass = try ForwardPass(model: draft, capacity: context.chunkSize, maximumPieces: 1, window: plan.window,
                                       maximumKeys: plan.maximumKeys, threads: nil, pool: context.pool, kernels: options.kernels)
            self.draft = try DraftModelRunner(pass: pass, plan: plan)
        } else {
            self.draft = nil
        }
    }

    /// Forgets the cached tokens.
    public func reset() {
        context.reset()
        cachedTokens.removeAll()
        draft?.reset()
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
        if parameters.speculation?.drafter == .draftModel && draft == nil {
            throw .invalidArgument("speculative decoding with a draft model needs a generator made with one")
        }
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
        // The draft model reads the prompt too, as part of the prompt's time (it keeps what it shares
        // with its cache). A draft that fails here drafts nothing; the answer is the same.
        if sequence.usesDraftModel, let draft { try? draft.prime(prompt) }
        var outcome = SequenceGeneration.RowOutcome.finished
        try context.evaluate(Array(prompt[common...]), logitsFrom: prompt.count - common - 1) { _, logits in
            outcome = sequence.acceptRow(logits, isCancelled: isCancelled(), emit: emit)
        }
        cachedTokens = prompt
        sequence.promptEvaluated(prompt.count - common)

        // One step per token fed, with the sequence's drafts after it when it has any: their rows
        // are taken in order until one is not kept, and the positions after it are cut off.
        while case .next(let token, _) = outcome {
            switch sequence.room(length: context.length, limit: limit) {
            case .available: break
            case .full:
                sequence.end(.maxTokens, emit: emit)
                return sequence.stats
            case .shift(let keep, let discard):
                try context.shift(keep: keep, discard: discard)
                cachedTokens.removeSubrange(keep..<(keep + discard))
            }
            sequence.proposeDrafts(room: limit.map { $0 - context.length - 1 } ?? SpeculativeDecoding.maximumDraft, draftModel: draft)
            input.removeAll(keepingCapacity: true)
            input.append(token)
            input.append(contentsOf: sequence.drafts)
            let start = context.length
            outcome = .accepted
            // The step's time, up to its first logits row, tells the draft length what rows cost.
            let began = ContinuousClock.now
            var timed = false
            try context.evaluate(input, logitsFrom: 0) { _, logits in
                if !timed {
                    timed = true
                    sequence.observeStep(rows: input.count, seconds: began.secondsElapsed)
                }
                guard outcome == .accepted else { return }
                outcome = sequence.acceptRow(logits, isCancelled: isCancelled(), emit: emit)
            }
            if case .next(_, let kept) = outcome, kept + 1 < input.count {
                try context.truncate(to: start + 1 + kept)
                cachedTokens.append(contentsOf: input[..<(1 + kept)])
            } else {
                cachedTokens.append(contentsOf: input)
            }
        }
        return sequence.stats
    }
}
