import Foundation
import Testing
@testable import Bora

@Suite struct SamplingTests {
    /// Runs one sampler over hand-made logits; returns the surviving ids in order.
    func survivors(_ sampler: any Sampler, _ logits: [Float], history: [Int] = []) -> (ids: [Int], logits: [Float]) {
        var c = TokenCandidates(capacity: logits.count)
        defer { c.deallocate() }
        logits.withUnsafeBufferPointer { c.load($0) }
        sampler.apply(&c, history: history[...])
        return ((0..<c.count).map { Int(c.ids[$0]) }, (0..<c.count).map { c.logits[$0] })
    }

    /// Logits whose softmax is exactly the given probabilities.
    func logits(_ probabilities: [Double]) -> [Float] { probabilities.map { Float(log($0)) } }

    @Test func topK() {
        #expect(survivors(TopKSampler(k: 2), [0.1, 3, -1, 2, 2.5]).ids == [1, 4])
        #expect(survivors(TopKSampler(k: 10), [0.1, 3, -1]).ids == [1, 0, 2])
        #expect(survivors(TopKSampler(k: 0), [0.1, 3, -1]).ids == [0, 1, 2])
    }

    @Test func topP() {
        let l = logits([0.05, 0.5, 0.15, 0.3])
        #expect(survivors(TopPSampler(p: 0.79), l).ids == [1, 3])         // 0.5 + 0.3 reaches 0.79
        #expect(survivors(TopPSampler(p: 0.81), l).ids == [1, 3, 2])
        #expect(survivors(TopPSampler(p: 1), l).ids == [0, 1, 2, 3])
    }

    @Test func minP() {
        let l = logits([0.05, 0.5, 0.15, 0.3])
        #expect(survivors(MinPSampler(p: 0.2), l).ids == [1, 3, 2])        // ≥ 0.1
        #expect(survivors(MinPSampler(p: 0.7), l).ids == [1])              // ≥ 0.35
    }

    @Test func typical() {
        // Entropy H of [0.5, 0.25, 0.125, 0.125] = 1.75 bits = 1.213 nats; |−ln p − H| is smallest
        // for p = 0.25 (0.173), then 0.5 (0.52), then 0.125 (0.866).
        let l = logits([0.125, 0.5, 0.25, 0.125])
        #expect(Set(survivors(TypicalSampler(p: 0.3), l).ids) == [2, 1])   // 0.25 < 0.3, so 0.5 joins
        #expect(Set(survivors(TypicalSampler(p: 0.2), l).ids) == [2])
    }

    @Test func temperatureAndBias() {
        #expect(survivors(TemperatureSampler(temperature: 0.5), [1, -2]).logits == [2, -4])
        let biased = survivors(LogitBiasSampler(bias: [0: -.infinity, 2: 1.5]), [5, 1, 1])
        #expect(biased.logits == [-.infinity, 1, 2.5])
    }

    @Test func penalties() {
        // Token 0 seen twice, token 1 once, token 2 never (within the window of 3).
        let history = [2, 2, 2, 0, 1, 0]
        let r = survivors(PenaltySampler(window: 3, repeat_: 2, frequency: 0.5, presence: 0.25), [4, -4, 4], history: history)
        let expected: [Float] = [2 - 1 - 0.25, -8 - 0.5 - 0.25, 4]  // 4/2 − 2·0.5 − 0.25; −4·2 − 1·0.5 − 0.25; untouched
        #expect(r.logits == expected)
        let all = survivors(PenaltySampler(window: -1, repeat_: 1, frequency: 1, presence: 0), [0, 0, 0], history: history)
        #expect(all.logits == [-2, -1, -3])
    }

    @Test func greedyChain() {
        var p = GenerationParameters.greedy
        p.logitBias = [3: 10]
        let chain = SamplerChain(parameters: p)
        var c = TokenCandidates(capacity: 4)
        defer { c.deallocate() }
        var random = SeededRandom(seed: 1)
        let logits: [Float] = [1, 9, 2, 0]
        logits.withUnsafeBufferPointer { c.load($0) }
        #expect(chain.sample(&c, history: [], random: &random) == 3)
    }

    @Test func seededDrawsRepeat() {
        var a = SeededRandom(seed: 42), b = SeededRandom(seed: 42), c = SeededRandom(seed: 43)
        let x = (0..<100).map { _ in a.next() }, y = (0..<100).map { _ in b.next() }, z = (0..<100).map { _ in c.next() }
        #expect(x == y && x != z)
    }

    /// Temperature + top-p sampling against its intended distribution: chi-square over 40 000 draws
    /// (seeded, so the test is deterministic) below the 0.1% critical value.
    @Test func samplingMatchesTheIntendedDistribution() {
        let raw: [Float] = [2.0, 1.5, 1.0, 0.5, 0.0, -1.0]
        var p = GenerationParameters()
        p.temperature = 0.7
        p.topK = 0
        p.minP = 0
        p.topP = 0.9
        // Intended: top-p on the temperature-1 softmax keeps the smallest prefix reaching 0.9, then
        // the kept logits are divided by 0.7 and renormalised.
        let base = raw.map { exp(Double($0)) }
        let total = base.reduce(0, +)
        var kept = 0, cumulative = 0.0
        while cumulative < 0.9 { cumulative += base[kept] / total; kept += 1 }
        let tempered = raw.prefix(kept).map { exp(Double($0) / 0.7) }
        let expected = tempered.map { $0 / tempered.reduce(0, +) }
        #expect(kept == 4)

        let chain = SamplerChain(parameters: p)
        var c = TokenCandidates(capacity: raw.count)
        defer { c.deallocate() }
        var random = SeededRandom(seed: 2024)
        var counts = [Int](repeating: 0, count: raw.count)
        let draws = 40_000
        for _ in 0..<draws {
            raw.withUnsafeBufferPointer { c.load($0) }
            counts[chain.sample(&c, history: [], random: &random)] += 1
        }
        #expect(counts[kept...].allSatisfy { $0 == 0 }, "tokens cut by top-p were drawn")
        var chiSquare = 0.0
        for i in 0..<kept {
            let e = expected[i] * Double(draws)
            chiSquare += (Double(counts[i]) - e) * (Double(counts[i]) - e) / e
        }
        // 3 degrees of freedom: P(χ² > 16.27) = 0.001.
        #expect(chiSquare < 16.27, "χ² = \(chiSquare), counts \(counts), expected \(expected)")
    }

    @Test func stopStringsAreHeldAcrossChunks() {
        var m = StopStringMatcher(stops: ["###", "STOP"])
        #expect(m.append("ab#") == ("ab", false))
        #expect(m.append("#") == ("", false))
        #expect(m.append("#cd") == ("", true))

        var n = StopStringMatcher(stops: ["STOP"])
        #expect(n.append("xST") == ("x", false))
        #expect(n.append("OX") == ("STOX", false))   // not a stop after all
        #expect(n.append("ST") == ("", false))
        #expect(n.finish() == "ST")

        var e = StopStringMatcher(stops: ["🙂!"])
        #expect(e.append("hi 🙂") == ("hi ", false))
        #expect(e.append("!") == ("", true))
    }

    @Test func invalidParameters() {
        var p = GenerationParameters()
        p.temperature = -1
        #expect(throws: BoraError.invalidArgument("temperature must be 0 or more, got -1.0")) { try p.validate() }
        p = GenerationParameters(); p.topP = 0
        #expect(throws: BoraError.invalidArgument("top-p must be in (0, 1], got 0.0")) { try p.validate() }
        p = GenerationParameters(); p.topP = 1.5
        #expect(throws: BoraError.self) { try p.validate() }
        p = GenerationParameters(); p.minP = -0.1
        #expect(throws: BoraError.self) { try p.validate() }
        p = GenerationParameters(); p.repeatPenalty = 0
        #expect(throws: BoraError.self) { try p.validate() }
        p = GenerationParameters(); p.stop = [""]
        #expect(throws: BoraError.invalidArgument("stop strings must not be empty")) { try p.validate() }
        p = GenerationParameters(); p.maxTokens = -3
        #expect(throws: BoraError.self) { try p.validate() }
    }
}
