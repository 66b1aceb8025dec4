#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The candidates of one sampling step: token ids with their logits (and, once a sampler has
/// normalised them, probabilities). Samplers shrink and reorder this list in place; its buffers are
/// allocated once per generation, not per step.
public struct TokenCandidates {
    public var ids: UnsafeMutableBufferPointer<Int32>
    public var logits: UnsafeMutableBufferPointer<Float>
    public var probabilities: UnsafeMutableBufferPointer<Float>
    /// Candidates still in play: the first `count` entries.
    public var count: Int
    /// Whether the first `count` entries are sorted by logit, highest first.
    public var sorted = false

    init(capacity: Int) {
        ids = .allocate(capacity: capacity)
        logits = .allocate(capacity: capacity)
        probabilities = .allocate(capacity: capacity)
        count = 0
    }

    func deallocate() {
        ids.deallocate()
        logits.deallocate()
        probabilities.deallocate()
    }

    /// Loads every token's logit.
    mutating func load(_ source: UnsafeBufferPointer<Float>) {
        for i in 0..<source.count {
            ids[i] = Int32(i)
            logits[i] = source[i]
        }
        count = source.count
        sorted = false
    }

    /// Sorts the first `count` entries by logit, highest first (ties: lower id first).
    mutating func sortByLogit() {
        guard !sorted else { return }
        var pairs = [(Float, Int32)]()
        pairs.reserveCapacity(count)
        for i in 0..<count { pairs.append((logits[i], ids[i])) }
        pairs.sort { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        for (i, p) in pairs.enumerated() {
            logits[i] = p.0
            ids[i] = p.1
        }
        sorted = true
    }

    /// Keeps the `k` highest logits (sorted), in O(n) partial selection then a sort of k.
    mutating func keepTop(_ k: Int) {
        guard k < count else { sortByLogit(); return }
        // Quickselect the k-th largest, then sort the kept ones.
        var lo = 0, hi = count - 1
        while lo < hi {
            let pivot = logits[(lo + hi) / 2]
            var i = lo, j = hi
            while i <= j {
                while logits[i] > pivot { i += 1 }
                while logits[j] < pivot { j -= 1 }
                if i <= j {
                    logits.swapAt(i, j)
                    ids.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k - 1 <= j { hi = j } else if k - 1 >= i { lo = i } else { break }
        }
        count = k
        sorted = false
        sortByLogit()
    }

    /// Softmax of the candidates' logits into `probabilities`.
    mutating func normalize() {
        var maximum = -Float.infinity
        for i in 0..<count { maximum = max(maximum, logits[i]) }
        var sum: Double = 0
        for i in 0..<count {
            let e = expf(logits[i] - maximum)
            probabilities[i] = e
            sum += Double(e)
        }
        let inverse = Float(1 / sum)
        for i in 0..<count { probabilities[i] *= inverse }
    }
}

/// One stage of a sampler chain (llama.cpp's design): it narrows or reshapes the candidates.
public protocol Sampler: Sendable {
    func apply(_ candidates: inout TokenCandidates, history: ArraySlice<Int>)
}

/// Adds a bias to chosen tokens' logits (−infinity bans a token).
public struct LogitBiasSampler: Sampler {
    public let bias: [Int: Float]
    public func apply(_ c: inout TokenCandidates, history: ArraySlice<Int>) {
        guard !bias.isEmpty else { return }
        for i in 0..<c.count {
            if let b = bias[Int(c.ids[i])] { c.logits[i] += b }
        }
        c.sorted = false
    }
}

/// Repetition (divide positive / multiply negative logits), frequency and presence penalties over
/// the last `window` tokens, as llama.cpp applies them.
public struct PenaltySampler: Sampler {
    public let window: Int
    public let repeat_: Float
    public let frequency: Float
    public let presence: Float

    public func apply(_ c: inout TokenCandidates, history: ArraySlice<Int>) {
        guard window != 0, repeat_ != 1 || frequency != 0 || presence != 0 else { return }
        let recent = window < 0 ? history : history.suffix(window)
        guard !recent.isEmpty else { return }
        var counts: [Int32: Int] = [:]
        for t in recent { counts[Int32(t), default: 0] += 1 }
        for i in 0..<c.count {
            guard let n = counts[c.ids[i]] else { continue }
            var l = c.logits[i]
            if repeat_ != 1 { l = l > 0 ? l / repeat_ : l * repeat_ }
            l -= Float(n) * frequency + presence
            c.logits[i] = l
        }
        c.sorted = false
    }
}

/// Keeps the k most likely tokens.
public struct TopKSampler: Sampler {
    public let k: Int
    public func apply(_ c: inout TokenCandidates, history: ArraySlice<Int>) {
        guard k > 0 else { return }
        c.keepTop(min(k, c.count))
    }
}

/// Keeps the smallest set of most likely tokens whose probability reaches p.
public struct TopPSampler: Sampler {
    public let p: Float
    public func apply(_ c: inout TokenCandidates, history: ArraySlice<Int>) {
        guard p < 1 else { return }
        c.sortByLogit()
        c.normalize()
        var cumulative: Float = 0
        for i in 0..<c.count {
            cumulative += c.probabilities[i]
            if cumulative >= p { c.count = i + 1; return }
        }
    }
}

/// Drops tokens less likely than `p` × the most likely one.
public struct MinPSampler: Sampler {
    public let p: Float
    public func apply(_ c: inout TokenCandidates, history: ArraySlice<Int>) {
        guard p > 0 else { return }
        c.sortByLogit()
        // p_i ≥ p · p_max  ⇔  logit_i ≥ logit_max + ln p
        let threshold = c.logits[0] + logf(p)
        var kept = 1
        while kept < c.count && c.logits[kept] >= threshold { kept += 1 }
        c.count = kept
    }
}

/// Locally typical sampling: keeps the tokens whose surprise is closest to the distribution's
/// entropy, until their probability reaches p.
public struct TypicalSampler: Sampler {
    public let p: Float
    public func apply(_ c: inout TokenCandidates, history: ArraySlice<Int>) {
        guard p < 1, c.count > 1 else { return }
        c.sortByLogit()
        c.normalize()
        var entropy: Float = 0
        for i in 0..<c.count where c.probabilities[i] > 0 { entropy -= c.probabilities[i] * logf(c.probabilities[i]) }
        var order = (0..<c.count).map { i in (abs(-logf(max(c.probabilities[i], .leastNonzeroMagnitude)) - entropy), i) }
        order.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        var cumulative: Float = 0
        var keep = 0
        for (_, i) in order {
            cumulative += c.probabilities[i]
            keep += 1
            if cumulative >= p { break }
        }
        let chosen = order.prefix(keep).map { $0.1 }.sorted()
        let ids = chosen.map { c.ids[$0] }, logits = chosen.map { c.logits[$0] }
        for (i, _) in chosen.enumerated() {
            c.ids[i] = ids[i]
            c.logits[i] = logits[i]
        }
        c.count = keep
    }
}

/// Divides logits by the temperature.
public struct TemperatureSampler: Sampler {
    public let temperature: Float
    public func apply(_ c: inout TokenCandidates, history: ArraySlice<Int>) {
        guard temperature != 1 else { return }
        for i in 0..<c.count { c.logits[i] /= temperature }
    }
}

/// A seeded xoshiro256** generator: the same seed gives the same draws on every platform and run.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        // SplitMix64 spreads the seed over the state.
        var x = seed
        func next() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (next(), next(), next(), next())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// A uniform float in [0, 1) with 24 random bits.
    public mutating func nextUnit() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }
}

/// The ordered sampler chain of a generation, then the final draw (or argmax when greedy).
public struct SamplerChain: Sendable {
    public let samplers: [any Sampler]
    public let greedy: Bool

    public init(parameters p: GenerationParameters) {
        var chain: [any Sampler] = []
        if !p.logitBias.isEmpty { chain.append(LogitBiasSampler(bias: p.logitBias)) }
        if p.repeatPenalty != 1 || p.frequencyPenalty != 0 || p.presencePenalty != 0 {
            chain.append(PenaltySampler(window: p.repeatLastN, repeat_: p.repeatPenalty, frequency: p.frequencyPenalty, presence: p.presencePenalty))
        }
        greedy = p.temperature <= 0
        if !greedy {
            if p.topK > 0 { chain.append(TopKSampler(k: p.topK)) }
            if p.typicalP < 1 { chain.append(TypicalSampler(p: p.typicalP)) }
            if p.topP < 1 { chain.append(TopPSampler(p: p.topP)) }
            if p.minP > 0 { chain.append(MinPSampler(p: p.minP)) }
            chain.append(TemperatureSampler(temperature: p.temperature))
        }
        samplers = chain
    }

    /// Picks the next token from `candidates` (already loaded with the logits).
    public func sample(_ candidates: inout TokenCandidates, history: ArraySlice<Int>, random: inout SeededRandom) -> Int {
        for s in samplers { s.apply(&candidates, history: history) }
        return draw(&candidates, random: &random)
    }

    /// Runs the samplers and normalizes: the distribution `sample` draws from (not for greedy chains).
    func distribution(_ candidates: inout TokenCandidates, history: ArraySlice<Int>) {
        precondition(!greedy, "a greedy chain has no distribution to draw from")
        for s in samplers { s.apply(&candidates, history: history) }
        candidates.normalize()
    }

    /// The final draw over candidates the samplers have narrowed: argmax when greedy.
    func draw(_ candidates: inout TokenCandidates, random: inout SeededRandom) -> Int {
        if greedy {
            var best = 0
            for i in 1..<candidates.count
            where candidates.logits[i] > candidates.logits[best] || (candidates.logits[i] == candidates.logits[best] && candidates.ids[i] < candidates.ids[best]) {
                best = i
            }
            return Int(candidates.ids[best])
        }
        candidates.normalize()
        let u = random.nextUnit()
        var cumulative: Float = 0
        for i in 0..<candidates.count {
            cumulative += candidates.probabilities[i]
            if u < cumulative { return Int(candidates.ids[i]) }
        }
        return Int(candidates.ids[candidates.count - 1])
    }
}
