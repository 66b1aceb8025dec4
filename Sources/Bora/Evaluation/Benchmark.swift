/// Prompt-processing and generation speed in the style of llama-bench: `ppN` evaluates N tokens
/// at once, `tgN` generates N one at a time, each after `depth` tokens already in the cache, from
/// random token ids; and `vK`, speculative decoding's verification step of K rows. Shared by
/// `bora bench` and `bora compare`.
package enum Benchmark {
    /// One test's tokens/s, one sample per repetition.
    package struct Test: Sendable, Codable, Equatable {
        package var name: String
        package var prompt: Int
        package var generated: Int
        package var depth: Int
        package var samples: [Double]
        /// Generation tests: the memory probe's bytes/s beside each sample, the mean of one read just
        /// before and one just after it (nil: not probed, or a prompt test).
        package var memorySamples: [Double]? = nil

        package var mean: Double { Benchmark.statistics(samples).mean }
        package var standardDeviation: Double { Benchmark.statistics(samples).stddev }

        /// The mean over samples of the weight bytes a sample streamed per second over the probe's
        /// reading beside it (nil without probe readings).
        package func probeShare(bytesPerToken: Double) -> Double? {
            guard let memory = memorySamples, memory.count == samples.count, !memory.isEmpty else { return nil }
            return zip(samples, memory).map { $0 * bytesPerToken / $1 }.reduce(0, +) / Double(memory.count)
        }
    }

    package struct Report: Sendable {
        package var tests: [Test]
        package var threadCount: Int
        /// The memory-bandwidth probe's bytes/s, in the same run and thread pool: the best of five
        /// reads after the tests (nil: not probed). Each generation test also has the reads taken
        /// beside its samples (`Test.memorySamples`).
        package var memoryBytesPerSecond: Double?
    }

    /// Mean and sample standard deviation (0 for one sample).
    package static func statistics(_ samples: [Double]) -> (mean: Double, stddev: Double) {
        guard !samples.isEmpty else { return (.nan, .nan) }
        let m = samples.reduce(0, +) / Double(samples.count)
        guard samples.count > 1 else { return (m, 0) }
        return (m, (samples.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(samples.count - 1)).squareRoot())
    }

    /// Runs every prompt and generation test at every depth, `repetitions` times each after one
    /// uncounted warm-up; `progress(done, total)` after each run.
    /// - Parameter verifications: sizes K of verification steps (`vK`): K tokens fed at once with the
    ///   logits of every one, as a speculative step of the token and K − 1 drafts runs, cut back after
    ///   it as a rejected draft is. They run interleaved, one step of each size per repetition, so
    ///   that their ratios (`v1` is a decode step) are read over the same moments of the host.
    package static func run(model: LanguageModel, prompts: [Int], generations: [Int], verifications: [Int] = [],
                            depths: [Int] = [0], repetitions: Int, threads: Int?, kernels: KernelChoice = .fast,
                            probeMemory: Bool = true, shouldStop: () -> Bool = { false },
                            progress: (Int, Int) -> Void = { _, _ in }) throws(BoraError) -> Report {
        let prompts = prompts.filter { $0 > 0 }, generations = generations.filter { $0 > 0 }
        let verifications = verifications.filter { $0 > 0 }
        guard repetitions >= 1 else { throw .invalidArgument("repetitions must be at least 1, got \(repetitions)") }
        guard depths.allSatisfy({ $0 >= 0 }) else { throw .invalidArgument("depths cannot be negative") }
        let c = model.config
        let longest = max(prompts.max() ?? 0, generations.max() ?? 0, verifications.max() ?? 0, 1)
        let deepest = depths.max() ?? 0
        // Prompts (and the depth) are evaluated in chunks as long as the longest prompt, at least 512
        // (llama-bench's micro-batch), so `-p 0 -d N` does not fill the depth token by token; at
        // most W for sliding-window models, as Mistral's reference does.
        let chunk = min(max(prompts.max() ?? 0, 512), c.slidingWindow ?? Int.max)
        let context = try InferenceContext(model: model, options: ContextOptions(
            maxContext: deepest + longest + 1, chunkSize: chunk, threads: threads, kernels: kernels))
        var random = SystemRandomNumberGenerator()
        let tokens = (0..<(deepest + longest)).map { _ in Int.random(in: min(3, c.vocabularySize - 1)..<c.vocabularySize, using: &random) }
        let total = depths.count * (prompts.count + generations.count + verifications.count) * (repetitions + 1)
        var done = 0

        // One buffer for the reads beside each generation repetition and the best-of-5 at the end.
        var probe: MemoryProbe?
        func memoryProbe() throws(BoraError) -> MemoryProbe {
            if let probe { return probe }
            let made = try MemoryProbe(megabytes: 1024, threads: context.pool.threadCount)
            probe = made
            return made
        }

        var tests: [Test] = []
        depthLoop: for depth in depths {
            // The depth is evaluated once, untimed, and restored before every repetition (as llama-bench does).
            context.reset()
            var start: InferenceContext.Snapshot?
            if depth > 0 {
                try context.evaluateInPlace(Array(tokens.prefix(depth)))
                start = context.snapshot()
            }
            let suffix = depth > 0 ? " @ d\(depth)" : ""
            /// Samples in tokens/s and, with a probe, the bandwidth read beside each (one read after
            /// every run, the warm-up's included, so each sample sits between two reads; untimed).
            func repeated(_ count: Int, probe: MemoryProbe? = nil,
                          _ body: () throws(BoraError) -> Void) throws(BoraError) -> (tokens: [Double], memory: [Double]) {
                var samples: [Double] = [], memory: [Double] = []
                var before: Double?
                for rep in 0...repetitions {   // the first run warms the caches and is not counted
                    if shouldStop() { break }
                    if let start { context.restore(start) } else { context.reset() }
                    let began = ContinuousClock.now
                    try body()
                    let seconds = (ContinuousClock.now - began).seconds
                    if rep > 0 { samples.append(Double(count) / seconds) }
                    if let probe {
                        let read = probe.read(pool: context.pool)
                        if rep > 0, let before { memory.append((before + read) / 2) }
                        before = read
                    }
                    done += 1
                    progress(done, total)
                }
                return (samples, memory)
            }
            for p in prompts {
                let samples = try repeated(p) { () throws(BoraError) in try context.evaluateInPlace(Array(tokens[depth..<(depth + p)])) }.tokens
                if samples.isEmpty { break depthLoop }
                tests.append(Test(name: "pp\(p)" + suffix, prompt: p, generated: 0, depth: depth, samples: samples))
            }
            for n in generations {
                let (samples, memory) = try repeated(n, probe: probeMemory ? memoryProbe() : nil) { () throws(BoraError) in
                    for t in tokens[depth..<(depth + n)] { try context.evaluateInPlace([t]) }
                }
                if samples.isEmpty { break depthLoop }
                tests.append(Test(name: "tg\(n)" + suffix, prompt: 0, generated: n, depth: depth, samples: samples,
                                  memorySamples: memory.count == samples.count ? memory : nil))
            }
            if !verifications.isEmpty {
                var samples = [[Double]](repeating: [], count: verifications.count)
                for rep in 0...repetitions {
                    for (i, k) in verifications.enumerated() {
                        if shouldStop() { break depthLoop }
                        // Back to the depth as `Generator` cuts off rejected drafts (a full restore
                        // copies the whole cache, evicting what a real step would find cached).
                        if context.canTruncate(to: depth) {
                            try context.truncate(to: depth)
                        } else if let start {
                            context.restore(start)
                        } else {
                            context.reset()
                        }
                        let began = ContinuousClock.now
                        try context.evaluate(Array(tokens[depth..<(depth + k)]), logitsFrom: 0) { _, _ in }
                        let seconds = (ContinuousClock.now - began).seconds
                        if rep > 0 { samples[i].append(Double(k) / seconds) }
                        done += 1
                        progress(done, total)
                    }
                }
                for (i, k) in verifications.enumerated() {
                    tests.append(Test(name: "v\(k)" + suffix, prompt: k, generated: 0, depth: depth, samples: samples[i]))
                }
            }
        }
        let memory = probeMemory && !shouldStop() ? try memoryProbe().best(of: 5, pool: context.pool) : nil
        return Report(tests: tests, threadCount: context.pool.threadCount, memoryBytesPerSecond: memory)
    }
}
