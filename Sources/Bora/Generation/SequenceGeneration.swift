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
    /// Speculative decoding's drafter and draft length (nil: plain decoding, or a grammar: its state
    /// would have to follow each draft).
    private var lookup: PromptLookup?
    /// Whether this sequence drafts with the draft model (the driver reads its prompt into it too).
    let usesDraftModel: Bool
    private var schedule: DraftSchedule
    /// A sampled draft model's distribution q at each drafted position (its candidates' ids and
    /// probabilities), and q spread over the vocabulary while a row is decided.
    private var draftCandidates: TokenCandidates?
    private var draftQ: [(ids: [Int32], probabilities: [Float])] = []
    private var denseQ: UnsafeMutableBufferPointer<Float>?
    /// The tokens drafted after the token being fed, in the step now running.
    private(set) var drafts: [Int] = []
    /// Draft-model drafts still to draw this step, when the driver draws them (`proposeDrafts(…,
    /// drawLater: true)`, then `takeDraft` with each).
    private(set) var pendingDraws = 0
    /// Drafts of the running step kept so far.
    private var kept = 0
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
        schedule = DraftSchedule(maximum: 1)
        let speculation = constraint == nil ? parameters.speculation : nil
        if case .promptLookup(let low, let high)? = speculation?.drafter {
            lookup = PromptLookup(ngramMin: low, ngramMax: high)
        } else {
            lookup = nil
        }
        usesDraftModel = speculation?.drafter == .draftModel
        if let s = speculation {
            if usesDraftModel && !chain.greedy {
                draftCandidates = TokenCandidates(capacity: tokenizer.vocabularySize)
                denseQ = .allocate(capacity: tokenizer.vocabularySize)
                denseQ!.initialize(repeating: 0)
                draftQ = (0..<s.maxDraft).map { _ in ([Int32](), [Float]()) }
            }
            schedule = DraftSchedule(maximum: s.maxDraft, kinds: (lookup?.followingKind ?? 0) + 1)
            drafts.reserveCapacity(s.maxDraft)
        }
        started = .now
        firstToken = started
        stats.promptTokens = prompt.count
        stats.stopReason = .maxTokens
    }

    deinit {
        candidates.deallocate()
        draftCandidates?.deallocate()
        denseQ?.deallocate()
    }

    /// The prompt is in the cache: `evaluated` of its tokens were run (the rest were reused).
    func promptEvaluated(_ evaluated: Int) {
        stats.evaluatedPromptTokens = evaluated
        stats.promptSeconds = started.secondsElapsed
    }

    /// What one row of logits decided.
    enum RowOutcome: Equatable {
        /// The row's drafted token was kept: the next row (the one after that token) decides on.
        case accepted
        /// The token to feed next, after the token fed and the `kept` drafts kept of this step
        /// (the rest of the step's rows, and their cached keys, are dropped).
        case next(Int, kept: Int)
        /// The generation is over (its closing events already emitted).
        case finished
    }

    /// Drafts up to `room` tokens to feed after the next token (the positions the context has left
    /// beyond it), within the token budget; they are in `drafts` until the step's rows are taken.
    /// `draftModel`: the sequence's draft model state, for the `.draftModel` drafter; `drawLater`:
    /// the driver runs the draft model itself (an engine, for all its sequences in one pass per
    /// position) and hands each draft's logits to `takeDraft`, `pendingDraws` times. `price`: what
    /// drafts cost in an engine's step of several sequences (`BatchPrice`). Greedy requests only,
    /// as with measured costs: a sampled one's tokens depend on its draft lengths, so a seed gives
    /// the same answer whatever else runs beside it.
    @discardableResult
    func proposeDrafts(room: Int, draftModel: DraftModelRunner? = nil, drawLater: Bool = false, price: BatchPrice? = nil) -> Int {
        drafts.removeAll(keepingCapacity: true)
        kept = 0
        pendingDraws = 0
        guard lookup != nil || usesDraftModel, !isFinished else { return 0 }
        // The next token, the drafts and the token after them must all fit the budget.
        var count = room
        if let maxTokens = parameters.maxTokens { count = min(count, maxTokens - stats.generatedTokens - 1) }
        let price = chain.greedy ? price : nil
        if lookup != nil {
            // The draft length follows how often drafts of this kind (the match's length, or copying
            // on without one) were kept; lookup runs no draft model, so its drafts cost rows only.
            if count > 0, let source = lookup?.source(in: history) {
                let rowsOnly = price.map { BatchPrice(row: $0.row, draftPass: 0) }
                count = min(count, schedule.next(kind: source.kind, price: rowsOnly), history.count - source.start)
                if count > 0 {
                    drafts.append(contentsOf: history[source.start..<(source.start + count)])
                    lookup?.drafting(from: source.start, at: history.count)
                }
            }
        } else if usesDraftModel && drawLater {
            pendingDraws = max(0, min(count, schedule.next(price: price)))
        } else if let draftModel {
            count = min(count, schedule.next(price: price))
            if count > 0 { draw(count, from: draftModel) }
        }
        stats.draftedTokens += drafts.count
        return drafts.count
    }

    /// What the draft model must have read for the next draft: the history, then the drafts so far.
    var draftInput: (history: [Int], drafts: ArraySlice<Int>) { (history, drafts[...]) }

    /// The draft model's logits after `draftInput`: the next of the `pendingDraws` drafts.
    func takeDraft(_ logits: UnsafeBufferPointer<Float>) {
        guard pendingDraws > 0 else { return }
        appendDraft(from: logits)
        stats.draftedTokens += 1
        pendingDraws -= 1
    }

    /// The draft model failed (non-finite logits, a full context): no more drafts this step.
    func stopDrawing() { pendingDraws = 0 }

    /// `count` tokens from the draft model, one step each: its argmax when the request is greedy,
    /// else a draw from its distribution under the request's sampler chain (kept as q). A draft
    /// model that fails (non-finite logits, a full context) drafts nothing more this step.
    private func draw(_ count: Int, from draftModel: DraftModelRunner) {
        for _ in 0..<count {
            guard let logits = try? draftModel.logits(after: history, drafts[...]) else { return }
            appendDraft(from: logits)
        }
    }

    /// One draft from the draft model's logits after the history and the drafts so far.
    private func appendDraft(from logits: UnsafeBufferPointer<Float>) {
        let i = drafts.count
        let sampled = UnsafeBufferPointer(rebasing: logits[..<min(logits.count, tokenizer.vocabularySize)])
        if chain.greedy && chain.samplers.isEmpty {
            drafts.append(Int(bora_argmax(sampled.baseAddress!, sampled.count)))
        } else if chain.greedy {
            candidates.load(sampled)
            drafts.append(chain.sample(&candidates, history: history[...], random: &random))
        } else {
            draftCandidates!.load(sampled)
            chain.distribution(&draftCandidates!, history: history[...])
            let c = draftCandidates!
            draftQ[i].ids.removeAll(keepingCapacity: true)
            draftQ[i].probabilities.removeAll(keepingCapacity: true)
            for j in 0..<c.count where c.probabilities[j] > 0 {
                draftQ[i].ids.append(c.ids[j])
                draftQ[i].probabilities.append(c.probabilities[j])
            }
            drafts.append(chain.draw(&draftCandidates!, random: &random))
        }
    }

    /// A step of `rows` rows of this sequence alone took `seconds` (the draft length weighs it).
    /// Greedy requests only: a sampled one's tokens depend on its draft lengths, so they follow the
    /// fixed cost estimate, and a seed gives the same answer every time.
    func observeStep(rows: Int, seconds: Double) {
        guard lookup != nil || usesDraftModel, chain.greedy else { return }
        schedule.observe(rows: rows, seconds: seconds)
    }

    /// Keeps the first `count` drafts only (a step without room for all of them).
    func trimDrafts(to count: Int) {
        guard count < drafts.count else { return }
        stats.draftedTokens -= drafts.count - count
        drafts.removeLast(drafts.count - count)
    }

    /// Takes the step's logits rows one at a time, in order: the row after the token fed, then the
    /// row after each draft as long as drafts are kept. Plain decoding is the step without drafts.
    func acceptRow(_ logits: UnsafeBufferPointer<Float>, isCancelled: Bool, emit: (GenerationEvent) -> Void) -> RowOutcome {
        if kept == 0 { stats.weightPasses += 1 }
        let draft = kept < drafts.count ? drafts[kept] : nil
        guard let token = accept(logits, isCancelled: isCancelled, draft: draft, emit: emit) else {
            settleDrafts()
            return .finished
        }
        if let draft, token == draft {
            kept += 1
            return .accepted
        }
        let outcome = RowOutcome.next(token, kept: kept)
        settleDrafts()
        return outcome
    }

    private func settleDrafts() {
        guard !drafts.isEmpty else { return }
        stats.acceptedDraftTokens += kept
        schedule.record(drafted: drafts.count, kept: kept)
        lookup?.settle(drafted: drafts.count, kept: kept, history: history)
        drafts.removeAll(keepingCapacity: true)
        kept = 0
    }

    /// Takes the logits after the last token fed and returns the next token to feed, or nil when
    /// the generation is over (its closing events already emitted). With a `draft` (the token fed
    /// after it, in the same step), the token is chosen by the speculative-sampling rule: the
    /// draft when kept, else one drawn from the rest, each with the target's own probability.
    private func accept(_ logits: UnsafeBufferPointer<Float>, isCancelled: Bool, draft: Int?,
                        emit: (GenerationEvent) -> Void) -> Int? {
        precondition(!isFinished, "a finished generation was handed logits")
        if let maxTokens = parameters.maxTokens, stats.generatedTokens >= maxTokens { return end(.maxTokens, emit: emit) }
        if isCancelled { return end(.cancelled, emit: emit) }
        // Only ids the tokenizer knows: an embedding padded past it has rows no text stands for.
        let sampled = UnsafeBufferPointer(rebasing: logits[..<min(logits.count, tokenizer.vocabularySize)])
        let logprobs = parameters.logprobs.map { Self.logprobs(sampled, top: $0) }
        var token: Int
        if let draft, !chain.greedy {
            candidates.load(sampled)
            chain.distribution(&candidates, history: history[...])
            if let denseQ, usesDraftModel {
                // q of the draft model at this position, spread out for the residual, then cleared.
                let q = draftQ[kept]
                for (id, probability) in zip(q.ids, q.probabilities) { denseQ[Int(id)] = probability }
                token = SpeculativeSampling.choose(draft: draft, draftProbability: denseQ[draft], draftDistribution: { denseQ[$0] },
                                                   candidates: &candidates, random: &random)
                for id in q.ids { denseQ[Int(id)] = 0 }
            } else {
                token = SpeculativeSampling.choose(draft: draft, candidates: &candidates, random: &random)
            }
        } else if chain.greedy && chain.samplers.isEmpty {
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
