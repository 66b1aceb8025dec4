import ArgumentParser
import Bora
import Foundation
import Synchronization

extension BenchCommand {
    /// One batched test: `parallel` sequences of `prompt` tokens each, generating `generated` each.
    struct BatchedResult {
        let parallel: Int
        let prompt: Int
        let generated: Int
        /// Aggregate tokens/s of each repetition: prompt rows, and decode rows.
        let prefill: [Double]
        let decode: [Double]
    }

    /// llama-batched-bench's measurement on the engine: all prompts in one step (the step's token
    /// budget is parallel × prompt), then `generated` decode steps of one row per sequence. The
    /// times are the engine's own step times (forward pass and sampling).
    func runBatched(counts: [Int]) async throws {
        let parallels = counts.filter { $0 > 0 }
        let prompts = try Self.counts(promptTokens, option: "-p").filter { $0 > 0 }
        let gens = try Self.counts(generatedTokens, option: "-n").filter { $0 > 0 }
        guard !parallels.isEmpty, parallels.allSatisfy({ $0 <= 4096 }) else { throw ValidationError("--parallel takes sequence counts from 1 to 4096") }
        guard !prompts.isEmpty, !gens.isEmpty else { throw ValidationError("batched mode needs -p and -n above 0") }
        guard repetitions >= 1, repetitions <= 1000 else { throw ValidationError("-r must be from 1 to 1000") }
        guard let kernelChoice = KernelChoice(rawValue: kernels) else { throw ValidationError("--kernels must be fast or reference") }
        guard depths == "0" else { throw ValidationError("-d is not supported with --parallel") }
        let path = try DefaultModel.resolve(model)
        let model = try LanguageModel(path: path)
        for note in model.files.notes { printError("note: \(note)") }
        let c = model.config
        let tokenizer = try? model.tokenizer()
        var results: [BatchedResult] = []
        for n in parallels {
            for p in prompts {
                for g in gens {
                    let engine = try Engine(model: model, options: EngineOptions(
                        parallel: n, maxContext: p + g + 1, stepTokens: n * p, promptStepTokens: n * p, threads: threads, kernels: kernelChoice),
                        tokenizer: tokenizer)
                    let steps = Mutex<[StepReport]>([])
                    engine.observeSteps { report in steps.withLock { $0.append(report) } }
                    var prefill: [Double] = [], decode: [Double] = []
                    for rep in 0...repetitions {   // the first run warms the caches and is not counted
                        steps.withLock { $0.removeAll() }
                        var parameters = GenerationParameters.greedy
                        parameters.maxTokens = g + 1   // g decode steps after the prompt step
                        parameters.ignoreEndOfSequence = true
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            for _ in 0..<n {
                                let prompt = (0..<p).map { _ in Int.random(in: 3..<c.vocabularySize) }
                                let stream = engine.generate(tokens: prompt, parameters: parameters)
                                group.addTask { for try await _ in stream {} }
                            }
                            try await group.waitForAll()
                        }
                        let done = steps.withLock { $0 }
                        let promptSteps = done.filter { $0.promptRows > 0 }, decodeSteps = done.filter { $0.promptRows == 0 }
                        let promptSeconds = promptSteps.reduce(0) { $0 + $1.seconds }, decodeSeconds = decodeSteps.reduce(0) { $0 + $1.seconds }
                        let promptRows = promptSteps.reduce(0) { $0 + $1.promptRows }, decodeRows = decodeSteps.reduce(0) { $0 + $1.decodeRows }
                        if rep > 0 {
                            prefill.append(Double(promptRows) / promptSeconds)
                            decode.append(Double(decodeRows) / decodeSeconds)
                        }
                    }
                    engine.observeSteps(nil)
                    results.append(BatchedResult(parallel: n, prompt: p, generated: g, prefill: prefill, decode: decode))
                }
            }
        }
        let name = (path as NSString).lastPathComponent
        let stats = Self.statistics
        if json {
            let object: [String: Any] = [
                "model": name, "file_bytes": model.files.tensors.fileBytes, "kernels": kernelChoice.rawValue,
                "parallel": results.map { r in
                    ["parallel": r.parallel, "n_prompt": r.prompt, "n_gen": r.generated,
                     "pp_tps": stats(r.prefill).mean, "pp_stddev": stats(r.prefill).stddev, "pp_samples": r.prefill,
                     "tg_tps": stats(r.decode).mean, "tg_stddev": stats(r.decode).stddev, "tg_samples": r.decode] as [String: Any]
                },
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        print(String(format: "model %@ | %.2f GB | %@ kernels | aggregate tokens/s over all sequences", name,
                     Double(model.files.tensors.fileBytes) / 1e9, kernelChoice.rawValue))
        print("parallel  n_prompt  n_gen       pp tokens/s          tg tokens/s")
        for r in results {
            let (pp, tg) = (stats(r.prefill), stats(r.decode))
            print(String(format: "%8d  %8d  %5d  %9.2f ± %-7.2f  %9.2f ± %.2f", r.parallel, r.prompt, r.generated, pp.mean, pp.stddev, tg.mean, tg.stddev))
        }
    }
}

extension BenchCommand {
    /// Continuous batching under a long arrival: `n` sequences decode, then a request of
    /// `joinPrompt` tokens joins and is read in chunks of the step budget beside them. The gaps are
    /// measured where a client sees them: between the token events of each running stream.
    func runJoin(counts: [Int], joinPrompt: Int) async throws {
        let parallels = counts.filter { $0 > 0 }
        let prompt = try Self.counts(promptTokens, option: "-p").first { $0 > 0 } ?? 32
        let generated = try Self.counts(generatedTokens, option: "-n").first { $0 > 0 } ?? 64
        guard (1...1_000_000).contains(joinPrompt) else { throw ValidationError("--join takes a prompt length from 1 to 1000000") }
        guard stepTokens >= 1 else { throw ValidationError("--step-tokens must be at least 1") }
        guard !parallels.isEmpty, parallels.allSatisfy({ $0 < 4096 }) else { throw ValidationError("--parallel takes sequence counts from 1 to 4095") }
        guard let kernelChoice = KernelChoice(rawValue: kernels) else { throw ValidationError("--kernels must be fast or reference") }
        let path = try DefaultModel.resolve(model)
        let model = try LanguageModel(path: path)
        let c = model.config
        var records: [[String: Any]] = []
        if !json {
            print(String(format: "model %@ | step budget %d tokens | %d-token prompt joins running sequences (-p %d -n %d)",
                         (path as NSString).lastPathComponent, stepTokens, joinPrompt, prompt, generated))
            print("running  joining prompt read in   worst gap while it is read   median gap before")
        }
        for n in parallels {
            let engine = try Engine(model: model, options: EngineOptions(
                parallel: n + 1, maxContext: max(prompt, joinPrompt) + generated + 1, stepTokens: stepTokens,
                threads: threads, kernels: kernelChoice))
            var parameters = GenerationParameters.greedy
            parameters.ignoreEndOfSequence = true
            parameters.maxTokens = generated
            let times = TokenTimes(streams: n)
            let (joinStart, joinEnd) = try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<n {
                    let stream = engine.generate(tokens: (0..<prompt).map { _ in Int.random(in: 3..<c.vocabularySize) }, parameters: parameters)
                    group.addTask {
                        for try await event in stream {
                            if case .token = event { times.record(i) }
                        }
                    }
                }
                // Join once every running sequence has a few tokens (and so decodes step by step).
                while times.all.contains(where: { $0.count < 4 }) { try await Task.sleep(for: .milliseconds(2)) }
                var one = GenerationParameters.greedy
                one.maxTokens = 1
                let start = ContinuousClock.now
                let joining = engine.generate(tokens: (0..<joinPrompt).map { _ in Int.random(in: 3..<c.vocabularySize) }, parameters: one)
                var end = start
                for try await event in joining { if case .token = event { end = .now } }
                try await group.waitForAll()
                return (start, end)
            }
            var during: [Double] = [], before: [Double] = []
            for stream in times.all {
                for (a, b) in zip(stream, stream.dropFirst()) {
                    if b <= joinStart { before.append((b - a).seconds) } else if a < joinEnd { during.append((b - a).seconds) }
                }
            }
            let worst = during.max() ?? 0
            let median = before.sorted()[before.count / 2]
            let read = (joinEnd - joinStart).seconds
            records.append(["parallel": n, "join_prompt": joinPrompt, "step_tokens": stepTokens, "join_seconds": read,
                            "worst_gap_seconds": worst, "median_gap_seconds": median])
            if !json {
                print(String(format: "%7d  %20.2f s   %22.1f ms   %15.1f ms", n, read, worst * 1000, median * 1000))
            }
        }
        if json {
            let object: [String: Any] = ["model": (path as NSString).lastPathComponent, "join": records]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        }
    }
}

/// When each stream's tokens arrived.
final class TokenTimes: Sendable {
    private let times: Mutex<[[ContinuousClock.Instant]]>

    init(streams: Int) { times = Mutex(Array(repeating: [], count: streams)) }

    func record(_ stream: Int) { times.withLock { $0[stream].append(.now) } }

    var all: [[ContinuousClock.Instant]] { times.withLock { $0 } }
}
