/// Speculative decoding: a cheap guess of the next few tokens (a draft) goes through the model in
/// one step beside the token being fed, and every drafted token the model would have produced is
/// kept. Decode reads all the weights for one token; a step of k + 1 rows reads them once for all,
/// so each kept draft is a token at prefill's cost instead of decode's.
///
/// Exact: greedy output is the same token for token as plain decoding (a row's logits do not depend
/// on the other rows of its step), and with sampling each kept token is drawn from the target's own
/// distribution by the speculative-sampling rule (`SpeculativeSampling`).
public struct SpeculativeDecoding: Sendable, Equatable {
    /// The most tokens one step drafts; rolling caches keep this many slots beyond W so rejected
    /// drafts never overwrite a key the window still needs.
    public static let maximumDraft = 16

    /// Where drafts come from.
    public enum Drafter: Sendable, Equatable {
        /// Prompt lookup (llama.cpp's n-gram lookup, vLLM's `ngram`): the tokens that followed the
        /// most recent earlier occurrence of the longest suffix of the text so far (prompt and
        /// output), trying suffixes of `ngramMax` down to `ngramMin` tokens. No second model.
        case promptLookup(ngramMin: Int = 2, ngramMax: Int = 4)
        /// The draft model the generator or engine was made with (`Generator(…, draft:)`,
        /// `EngineOptions.draftModel`): it proposes tokens one step at a time, sampled as the
        /// request samples, and the target keeps each with probability min(1, p/q).
        case draftModel
    }

    public var drafter: Drafter
    /// The most tokens one step drafts (1…`maximumDraft`). The draft length adapts below it: it
    /// grows while drafts are kept and shrinks when they are not, and drafting pauses, for longer
    /// each time, while nothing drafted is kept (free text then runs as plain decoding).
    public var maxDraft: Int

    public init(drafter: Drafter = .promptLookup(), maxDraft: Int = 8) {
        self.drafter = drafter
        self.maxDraft = maxDraft
    }

    /// Prompt lookup with the defaults.
    public static var promptLookup: SpeculativeDecoding { SpeculativeDecoding() }

    /// Throws `invalidArgument` naming the first out-of-range value.
    public func validate() throws(BoraError) {
        guard (1...Self.maximumDraft).contains(maxDraft) else {
            throw .invalidArgument("the draft length must be between 1 and \(Self.maximumDraft), got \(maxDraft)")
        }
        if case .promptLookup(let low, let high) = drafter, !(low >= 1 && high >= low && high <= 8) {
            throw .invalidArgument("prompt lookup n-grams must satisfy 1 ≤ min ≤ max ≤ 8, got \(low)…\(high)")
        }
    }
}

/// Prompt lookup over a sequence's tokens (prompt, then output): finds the most recent earlier
/// occurrence of the longest suffix of `ngramMax` … `ngramMin` tokens and proposes what followed it.
struct PromptLookup {
    let ngramMin: Int
    let ngramMax: Int

    /// Up to `count` tokens continuing `tokens`, appended to `draft` (nothing when no suffix recurs).
    /// One backward scan: the first (most recent) position matching the longest suffix wins.
    func propose(after tokens: [Int], count: Int, into draft: inout [Int]) {
        let n = tokens.count
        guard count > 0, n > ngramMin else { return }
        var best = 0, bestEnd = 0
        // `end`: one past the candidate occurrence's last token; it must leave a token to propose.
        var end = n - 1
        while end >= ngramMin {
            var length = 0
            while length < ngramMax, length < end, tokens[end - 1 - length] == tokens[n - 1 - length] { length += 1 }
            if length > best {
                (best, bestEnd) = (length, end)
                if best == ngramMax { break }
            }
            end -= 1
        }
        guard best >= ngramMin else { return }
        for i in bestEnd..<min(n, bestEnd + count) { draft.append(tokens[i]) }
    }
}

/// The draft length of one sequence, adapted to how many drafted tokens are kept: +2 after a step
/// whose whole draft was kept, −1 after one that kept less (Hugging Face's "heuristic" schedule),
/// between 1 and the maximum. After steps that keep nothing, drafting pauses: 8 tokens after the
/// second such step in a row, doubling up to 256, so text that never repeats costs nothing but
/// the rare retry.
struct DraftSchedule {
    let maximum: Int
    private(set) var length: Int
    private var misses = 0
    private var pause = 0
    private var pauseLength = 8

    init(maximum: Int) {
        self.maximum = maximum
        length = min(4, maximum)
    }

    /// How many tokens to draft now (0 while paused); counts one token of a pause.
    mutating func next() -> Int {
        if pause > 0 {
            pause -= 1
            return 0
        }
        return length
    }

    /// The outcome of a step that drafted `drafted` tokens and kept `kept`.
    mutating func record(drafted: Int, kept: Int) {
        guard drafted > 0 else { return }
        if kept == drafted { length = min(maximum, length + 2) } else { length = max(1, length - 1) }
        if kept == 0 {
            misses += 1
            if misses >= 2 {
                pause = pauseLength
                pauseLength = min(256, pauseLength * 2)
                misses = 0
            }
        } else {
            misses = 0
            pauseLength = 8
        }
    }
}

/// The speculative-sampling acceptance rule (Leviathan et al. 2023; Chen et al. 2023): a drafted
/// token d, proposed with probability q(d), is kept with probability min(1, p(d) / q(d)) under the
/// target's distribution p; when it is not, the token is drawn from the residual max(0, p − q),
/// normalized. Every token kept or drawn is then distributed as p. Prompt lookup's drafts are
/// certain (q(d) = 1): keep d with probability p(d), else draw from p without d.
enum SpeculativeSampling {
    /// The token at one drafted position. `candidates` hold the target's distribution p after its
    /// sampler chain (probabilities normalized, the first `count` entries); `draftProbability` is
    /// q(draft), `draftDistribution(id)` gives q for the residual (nil: q is certain, all on `draft`).
    static func choose(draft: Int, draftProbability: Float = 1, draftDistribution: ((Int) -> Float)? = nil,
                       candidates c: inout TokenCandidates, random: inout SeededRandom) -> Int {
        var p: Float = 0
        for i in 0..<c.count where Int(c.ids[i]) == draft { p = c.probabilities[i] }
        let u = random.nextUnit()
        if p > 0, u < min(1, p / draftProbability) { return draft }
        // The residual: p − q where positive (with q certain, p without the draft).
        var total: Float = 0
        for i in 0..<c.count {
            let id = Int(c.ids[i])
            let q = draftDistribution?(id) ?? (id == draft ? 1 : 0)
            let r = max(0, c.probabilities[i] - q)
            c.probabilities[i] = r
            total += r
        }
        // p ≤ q everywhere means p = q, where the draft is kept with probability 1: only rounding gets here.
        guard total > 0 else { return draft }
        let v = random.nextUnit() * total
        var cumulative: Float = 0
        for i in 0..<c.count where c.probabilities[i] > 0 {
            cumulative += c.probabilities[i]
            if v < cumulative { return Int(c.ids[i]) }
        }
        var last = c.count - 1
        while last > 0 && c.probabilities[last] == 0 { last -= 1 }
        return Int(c.ids[last])
    }
}
