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
    /// The most tokens one step drafts (1…`maximumDraft`). The draft length adapts below it, to
    /// the share of drafts kept and what a step's rows cost (`DraftSchedule`), and drafting pauses,
    /// for longer each time, while no draft pays (free text then runs as plain decoding).
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
/// Where no suffix recurs, it goes on copying the text the last drafts came from, past the token the
/// model wrote in place of the one there: a rewrite with a word changed, or a new argument line
/// written over an old one (`("-o", "--output"` after `("-i", "--input"`), differs from its source in
/// single tokens, after which no 2-token suffix recurs for a while but the source still holds.
struct PromptLookup {
    let ngramMin: Int
    let ngramMax: Int
    /// How far back the text being copied lies (the history's next position minus its source), while
    /// copying holds.
    private var distance: Int?
    /// Drafts that fell short of their source in a row: 0 after one kept whole with the model going
    /// on as the source does, 1 after one that fell short (a substitution: the copy goes on after
    /// it), and one more for each after it that kept nothing.
    private var misses = 0
    /// The running step's source: where its drafts were copied from and the position of the first.
    private var step: (source: Int, position: Int)?

    init(ngramMin: Int, ngramMax: Int) {
        self.ngramMin = ngramMin
        self.ngramMax = ngramMax
    }

    /// The kind of a draft copied along the text being followed (`DraftSchedule`'s kinds are the
    /// match lengths below it).
    var followingKind: Int { ngramMax + 1 }

    /// Where the continuation of the most recent earlier occurrence of the longest recurring suffix
    /// starts in `tokens`, and that suffix's length (nil when no suffix of `ngramMin` tokens recurs).
    /// One backward scan: the first (most recent) position matching the longest suffix wins.
    func match(in tokens: [Int]) -> (continuation: Int, length: Int)? {
        let n = tokens.count
        guard n > ngramMin else { return nil }
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
        return best >= ngramMin ? (bestEnd, best) : nil
    }

    /// Where the next drafts come from in `history` and their kind: the suffix match, else the text
    /// being followed; nil when there is neither.
    func source(in history: [Int]) -> (start: Int, kind: Int)? {
        if let match = match(in: history) { return (match.continuation, match.length) }
        if let distance, distance <= history.count { return (history.count - distance, followingKind) }
        return nil
    }

    /// The step about to run feeds drafts copied from `source` at `position` (the history's length).
    mutating func drafting(from source: Int, at position: Int) {
        step = (source, position)
    }

    /// The step's outcome: `drafted` drafts, `kept` of them kept; `history` ends with the token the
    /// model chose after them. Copying goes on at the same distance unless a draft that fell short is
    /// followed by one that keeps nothing (the replay of `Benchmarks/lookup-replay.py` over the
    /// workloads of `Benchmarks/speculative.py` tried stopping after one miss and after three: both
    /// did worse on the code file).
    mutating func settle(drafted: Int, kept: Int, history: [Int]) {
        guard let (source, position) = step else { return }
        step = nil
        guard drafted > 0 else { return }
        if kept == drafted, history.count > position + kept, history[position + kept] == history[source + kept] {
            misses = 0
        } else {
            misses = kept == 0 ? misses + 1 : 1
        }
        distance = misses <= 1 ? position - source : nil
    }
}

/// The draft length of one sequence, chosen for the most tokens per unit of time: with α the
/// chance that a drafted position is kept, k drafts give 1 + α + … + α^k tokens for one step of
/// k + 1 rows, whose cost relative to a decode step c(k + 1) is measured as a greedy sequence runs
/// (`observe`; until measured, and always for sampled sequences, whose tokens must not depend on
/// timing: 1 + 0.25 per extra row, about what both the 7B-shaped file and SmolLM2 cost on 2
/// threads); in an engine's step of several sequences, against the sequence's share of the step
/// (`BatchPrice`). α is a decayed count of the positions tried and kept (a prior of ½; recent steps
/// weigh most, so a sequence that starts quoting picks up at once), kept apart per kind of draft:
/// prompt lookup's drafts by the length of the suffix that matched, since a 4-token match is kept
/// far more often than a 2-token one (SmolLM2 continuing a code file, `Benchmarks/speculative.py`:
/// 73% of positions after 4-token matches, 23% after 2-token ones), and one pooled share would
/// draft too little after the first and too much after the second (drafts copied along the text
/// being followed, where no suffix matched, are a kind of their own). When no draft of a kind pays,
/// drafting after it pauses — 8 of its occurrences, doubling up to 256 while probes keep nothing —
/// then one probe of up to 2 drafts updates its α, so text that never repeats costs nothing but
/// the rare probe.
struct DraftSchedule {
    let maximum: Int
    /// One kind of draft's decayed counts and pause.
    private struct Kind {
        var tried = 0.0
        var kept = 0.0
        var pause = 0
        var pauseLength = 8
        var probing = false
    }
    /// Per kind of draft (index: the lookup's match length; 0 for a draft model).
    private var kinds: [Kind]
    /// The kind of the draft `next` sized last, which `record` updates.
    private var current = 0
    /// What this sequence's own steps cost, measured while it runs alone (greedy only).
    private var costs: StepCosts
    private static let decay = 0.8

    /// - Parameter kinds: kinds of draft 0..<kinds.
    init(maximum: Int, kinds: Int = 1) {
        self.maximum = maximum
        costs = StepCosts(maximumRows: maximum + 1)
        self.kinds = [Kind](repeating: Kind(), count: max(1, kinds))
    }

    /// The estimated chance that a drafted position of this kind is kept.
    func acceptance(kind: Int = 0) -> Double { (kinds[kind].kept + 1) / (kinds[kind].tried + 2) }

    /// The cost of a step of `rows` rows relative to a decode step.
    func cost(rows: Int) -> Double { costs.cost(rows: rows) }

    /// The cost of this sequence's step of `rows` rows (the token and its drafts) relative to its
    /// plain step: alone, `cost(rows:)`; in a step of several sequences, its extra rows and draft
    /// passes at `price`, against its share of the step.
    func cost(rows: Int, price: BatchPrice?) -> Double {
        guard let price else { return cost(rows: rows) }
        return 1 + Double(rows - 1) * (price.row + price.draftPass)
    }

    /// How many tokens of this kind to draft now (0 while paused or when no draft pays); counts one
    /// occurrence of the kind's pause. `price`: what drafts cost in an engine's step of several
    /// sequences (nil: the sequence's step is its own).
    mutating func next(kind: Int = 0, price: BatchPrice? = nil) -> Int {
        current = kind
        if kinds[kind].pause > 0 {
            kinds[kind].pause -= 1
            if kinds[kind].pause == 0 { kinds[kind].probing = true }
            return 0
        }
        let a = acceptance(kind: kind)
        let best = length(acceptance: a) { cost(rows: $0, price: price) }
        if kinds[kind].probing { return max(best, min(2, maximum)) }
        // The pause is for drafts that do not pay at all; in a batch they may pay again when it shrinks.
        if best == 0, price == nil || length(acceptance: a, cost: { cost(rows: $0) }) == 0 {
            kinds[kind].pause = kinds[kind].pauseLength
            kinds[kind].pauseLength = min(256, kinds[kind].pauseLength * 2)
        }
        return best
    }

    /// The draft length that gives the most tokens per unit of cost at acceptance `a` (0: none pays).
    private func length(acceptance a: Double, cost: (Int) -> Double) -> Int {
        var best = 0, bestValue = 1.0, gain = 1.0, term = 1.0
        for k in 1...maximum {
            term *= a
            gain += term
            let value = gain / cost(k + 1)
            if value > bestValue { (best, bestValue) = (k, value) }
        }
        return best
    }

    /// The outcome of a step that drafted `drafted` tokens (of the kind `next` sized) and kept
    /// `kept`: positions up to the first one not kept were tried.
    mutating func record(drafted: Int, kept: Int) {
        guard drafted > 0 else { return }
        kinds[current].tried = Self.decay * kinds[current].tried + Double(kept + (kept < drafted ? 1 : 0))
        kinds[current].kept = Self.decay * kinds[current].kept + Double(kept)
        if kinds[current].probing {
            kinds[current].probing = false
            if kept > 0 { kinds[current].pauseLength = 8 }
        }
    }

    /// A step of `rows` rows took `seconds` (the single-sequence driver times its steps).
    mutating func observe(rows: Int, seconds: Double) { costs.observe(rows: rows, seconds: seconds) }
}

/// What a draft costs a sequence in an engine's step of several sequences, against its share of
/// the step (the step's time over its sequences). A step of one sequence's rows reads every weight
/// for one token, so a draft costs only its arithmetic there while it saves a whole decode step; in
/// a batch the weights' reads are shared already, a sequence's share of the step is small, and the
/// same rows weigh more against it: speculation pays less the more sequences decode together (vLLM
/// turns it off past a batch size; this weighs it per step).
struct BatchPrice: Equatable {
    /// One more row of the step.
    var row: Double
    /// One drafted position's pass of the draft model, shared by the sequences drafting with it.
    var draftPass: Double

    /// The price for `batch` sequences from the engine's measured step times (`steps`: the model's
    /// decode steps by rows; `draftPasses`: its draft model's passes by rows), nil for one sequence.
    /// Until the steps are measured at two row counts, a row costs ¼ of a one-row step; until a draft
    /// pass is measured, it costs nothing.
    init?(batch: Int, steps: StepCosts, draftPasses: StepCosts) {
        guard batch > 1 else { return nil }
        let estimate = 1 + 0.25 * Double(batch - 1)
        guard let step = steps.estimate(rows: batch) else {
            (row, draftPass) = (0.25 * Double(batch) / estimate, 0)
            return
        }
        let slope = steps.line()?.slope ?? 0.25 * step / estimate
        row = slope * Double(batch) / step
        // A pass serves every sequence drafting: its time over theirs, against the share of the step.
        draftPass = draftPasses.estimate(rows: batch).map { $0 / step } ?? 0
    }

    init(row: Double, draftPass: Double) {
        (self.row, self.draftPass) = (row, draftPass)
    }
}

/// What steps of each number of rows take: the median of each count's last `window` times. A mean
/// would follow the spikes a busy host puts in single steps (a 2-row step measured at 7 ms beside
/// 4 ms decode steps): drafting then looks dear and pauses. Where a count is not measured, a step
/// costs 1 + ¼ per extra row against a one-row step, about what both the 7B-shaped file and
/// SmolLM2 cost on 2 threads. Fixed storage: observing allocates nothing.
struct StepCosts {
    /// Seconds of a step of `index` rows (0 where not measured).
    private var times: [Double]
    /// The last `window` step times of each row count (a ring per count) and how many came.
    private var samples: [Double]
    private var counts: [Int]
    private static let window = 5

    init(maximumRows: Int) {
        times = [Double](repeating: 0, count: maximumRows + 1)
        samples = [Double](repeating: 0, count: (maximumRows + 1) * Self.window)
        counts = [Int](repeating: 0, count: maximumRows + 1)
    }

    /// A step of `rows` rows took `seconds` (counts beyond the table are not kept).
    mutating func observe(rows: Int, seconds time: Double) {
        guard rows >= 1, rows < times.count, time > 0 else { return }
        let first = rows * Self.window
        samples[first + counts[rows] % Self.window] = time
        counts[rows] += 1
        times[rows] = Self.median(samples[first..<(first + min(counts[rows], Self.window))])
    }

    /// The median seconds of a step of `rows` rows (nil where not measured).
    func seconds(rows: Int) -> Double? { rows >= 1 && rows < times.count && times[rows] > 0 ? times[rows] : nil }

    /// The seconds of a step of `rows` rows: measured, else on the line through the measured counts
    /// (where it stays above 0: a steep line reaches 0 before the counts below those measured), else
    /// those of the smallest count measured (nil: none is).
    func estimate(rows: Int) -> Double? {
        if let measured = seconds(rows: rows) { return measured }
        if let (intercept, slope) = line(), intercept + slope * Double(rows) > 0 { return intercept + slope * Double(rows) }
        return times.first { $0 > 0 }
    }

    /// The least-squares line through the measured counts' times (nil below two counts); the slope
    /// is at least 0.
    func line() -> (intercept: Double, slope: Double)? {
        var n = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0
        for (rows, time) in times.enumerated() where time > 0 {
            let x = Double(rows)
            (n, sx, sy, sxx, sxy) = (n + 1, sx + x, sy + time, sxx + x * x, sxy + x * time)
        }
        guard n >= 2 else { return nil }
        let slope = max(0, (n * sxy - sx * sy) / (n * sxx - sx * sx))
        return ((sy - slope * sx) / n, slope)
    }

    /// The cost of a step of `rows` rows against a one-row step: their measured times where both
    /// are, else the estimate.
    func cost(rows: Int) -> Double {
        if let step = seconds(rows: rows), let one = seconds(rows: 1) { return step / one }
        return 1 + 0.25 * Double(rows - 1)
    }

    /// The lower median (no allocation: a handful of values).
    private static func median(_ values: ArraySlice<Double>) -> Double {
        let half = (values.count - 1) / 2
        for x in values {
            var below = 0, notAbove = 0
            for y in values {
                if y < x { below += 1 }
                if y <= x { notAbove += 1 }
            }
            if below <= half && notAbove > half { return x }
        }
        return values.first ?? 0
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
