import CBoraKernels

/// Draft-model drafting: a smaller model with the same tokenizer proposes the next tokens, one
/// single-row step each (cheap beside the target's), for the target to verify in one step.
enum DraftModelCheck {
    /// Refuses a draft whose vocabulary is not the target's: the same size, and where the draft
    /// carries a tokenizer, the same pieces in the same order.
    static func check(draft: LanguageModel, target: LanguageModel, tokenizer: Tokenizer) throws(BoraError) {
        let size = draft.config.vocabularySize, expected = target.config.vocabularySize
        guard size == expected else {
            throw .invalidArgument("the draft model's vocabulary has \(size) tokens, the model's \(expected): a draft must share the tokenizer")
        }
        guard let own = try? draft.tokenizer() else { return }
        guard own.vocabularySize == tokenizer.vocabularySize else {
            throw .invalidArgument("the draft model's tokenizer has \(own.vocabularySize) tokens, the model's \(tokenizer.vocabularySize): a draft must share the tokenizer")
        }
        for id in 0..<own.vocabularySize where own.piece(id) != tokenizer.piece(id) {
            throw .invalidArgument("the draft model's token \(id) is \(String(reflecting: own.piece(id))), the model's \(String(reflecting: tokenizer.piece(id))): a draft must share the tokenizer")
        }
    }
}

/// One sequence's draft model state: its KV cache and the tokens it holds, over a forward pass
/// that may be shared (an engine's slots share one, on the engine's threads, and draft in it
/// together: `appendPiece`). Each call feeds only what the cache lacks: after a step the target
/// rejected drafts in, the cache is cut back to the tokens both still agree on.
final class DraftModelRunner {
    let pass: ForwardPass
    let cache: KVStorage & KVCache
    let positionLimit: Int?
    /// Tokens whose keys and values the cache holds, in order.
    private(set) var tokens: [Int] = []
    private let logits: UnsafeMutableBufferPointer<Float>
    // One call's lists, kept with their capacity.
    private var input: [Int] = []
    private var pieces: [ForwardPass.Piece] = []

    init(pass: ForwardPass, plan: CachePlan) throws(BoraError) {
        self.pass = pass
        cache = try plan.makeCache()
        positionLimit = plan.positionLimit
        logits = .allocate(capacity: pass.model.config.vocabularySize)
        input.reserveCapacity(pass.capacity)
        pieces.reserveCapacity(1)
    }

    deinit { logits.deallocate() }

    /// The draft's logits after `prefix` then `extra` (valid until the next call).
    func logits(after prefix: [Int], _ extra: ArraySlice<Int>) throws(BoraError) -> UnsafeBufferPointer<Float> {
        try catchUp(prefix, extra, withLogits: true)
        return UnsafeBufferPointer(logits)
    }

    /// Feeds what the cache lacks of `tokens`, computing no logits: a prompt, while the target reads
    /// it, so that the first draft does not read the whole prompt inside the generation (and, in an
    /// engine, inside a step every running sequence waits on).
    func prime(_ tokens: [Int]) throws(BoraError) {
        try catchUp(tokens, [], withLogits: false)
    }

    /// This sequence's piece of a pass shared with other sequences' drafts: cuts the cache back to
    /// what it shares with `prefix` then `extra` and appends the tokens it lacks to `batch` and the
    /// piece (logits after the last token) to `pieces`. False, with nothing changed, when those are
    /// more than `room` tokens or past the context: `logits(after:)` then runs them alone. After the
    /// pass, `pieceRan`.
    func appendPiece(after prefix: [Int], _ extra: ArraySlice<Int>, room: Int, to batch: inout [Int],
                     pieces: inout [ForwardPass.Piece]) -> Bool {
        let total = prefix.count + extra.count
        if let limit = positionLimit, total > limit { return false }
        let common = shared(prefix, extra, upTo: total - 1)
        guard total - common <= room else { return false }
        tokens.removeLast(tokens.count - common)
        let first = batch.count
        for i in common..<total { batch.append(Self.token(i, prefix, extra)) }
        pieces.append(ForwardPass.Piece(cache: cache, start: common, tokens: first..<batch.count,
                                        logitRows: (total - common - 1)..<(total - common)))
        return true
    }

    /// The shared pass ran this sequence's piece, feeding `fed`; `failed`: its logits were not finite
    /// (the cache is then forgotten).
    func pieceRan(_ fed: ArraySlice<Int>, failed: Bool) {
        if failed { tokens.removeAll(keepingCapacity: true) } else { tokens.append(contentsOf: fed) }
    }

    /// How many of the cached tokens `prefix` then `extra` share, at most `limit`, and no more than
    /// the cache can be cut back to.
    private func shared(_ prefix: [Int], _ extra: ArraySlice<Int>, upTo limit: Int) -> Int {
        var common = 0
        while common < min(tokens.count, limit), tokens[common] == Self.token(common, prefix, extra) { common += 1 }
        return cache.canCut(length: tokens.count, to: common) ? common : 0
    }

    /// Token `i` of `prefix` then `extra`.
    private static func token(_ i: Int, _ prefix: [Int], _ extra: ArraySlice<Int>) -> Int {
        i < prefix.count ? prefix[i] : extra[extra.startIndex + i - prefix.count]
    }

    /// Brings the cache to `prefix` then `extra`, keeping the cached tokens both share; with logits,
    /// those after the last token in `logits`.
    private func catchUp(_ prefix: [Int], _ extra: ArraySlice<Int>, withLogits: Bool) throws(BoraError) {
        let total = prefix.count + extra.count
        if let limit = positionLimit, total > limit { throw .contextOverflow(needed: total, capacity: limit) }
        // The cached tokens still shared (for logits, the last one is fed again).
        let common = shared(prefix, extra, upTo: withLogits ? total - 1 : total)
        tokens.removeLast(tokens.count - common)
        var nonFinite: Int?
        while tokens.count < total {
            input.removeAll(keepingCapacity: true)
            let start = tokens.count
            for i in start..<min(total, start + pass.capacity) { input.append(Self.token(i, prefix, extra)) }
            let isLast = withLogits && start + input.count == total
            pieces.append(ForwardPass.Piece(cache: cache, start: start, tokens: 0..<input.count,
                                            logitRows: isLast ? (input.count - 1)..<input.count : input.count..<input.count))
            pass.run(tokens: input, pieces: pieces) { _, row, rowLogits in
                if bora_all_finite(rowLogits.baseAddress!, rowLogits.count) == 0 { nonFinite = start + row; return }
                _ = logits.update(fromContentsOf: rowLogits)
            }
            pieces.removeAll(keepingCapacity: true)
            tokens.append(contentsOf: input)
        }
        if let nonFinite {
            tokens.removeAll()
            throw .nonFiniteLogits(position: nonFinite)
        }
    }

    /// Forgets the cached tokens.
    func reset() { tokens.removeAll(keepingCapacity: true) }
}
