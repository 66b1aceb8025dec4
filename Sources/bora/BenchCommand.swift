import ArgumentParser
import Bora
import Foundation

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure prompt processing and generation speed, in the style of llama-bench.")

    @Argument(help: "Model: a GGUF file, a Hugging Face folder or a Mistral folder (default: SmolLM2-135M-Instruct).")
    var model: String?

    @Option(name: [.customShort("p"), .customLong("n-prompt")], help: "Prompt tokens processed at once, a comma-separated list (0 skips the test).")
    var promptTokens = "512"

    @Option(name: [.customShort("n"), .customLong("n-gen")], help: "Tokens generated one at a time, a comma-separated list (0 skips the test).")
    var generatedTokens = "128"

    @Option(help: "Speculative verification steps: K tokens at once with the logits of every one (the token fed and K − 1 drafts), a comma-separated list; run interleaved, one step of each size per repetition (1: a decode step), reported as tokens/s of each step.")
    var verify = "0"

    @Option(name: [.customShort("d"), .customLong("n-depth")], help: "Tokens already in the cache when each test starts, a comma-separated list (llama-bench's -d).")
    var depths = "0"

    @Option(name: [.customShort("t"), .long], help: "Threads (default: physical cores).")
    var threads: Int?

    @Option(name: [.customShort("r"), .long], help: "Repetitions of each test.")
    var repetitions = 3

    @Option(help: "Kernels: fast or reference.")
    var kernels: String = "fast"

    @Option(help: "Batched mode (llama-batched-bench): sequence counts, a comma-separated list. Each count runs that many sequences at once in the engine, each reading -p prompt tokens and generating -n; aggregate tokens/s over all of them.")
    var parallel: String?

    @Option(help: "With --parallel: once the sequences decode, one more request of this many prompt tokens joins; reports the worst gap between the running sequences' tokens while it is read.")
    var join: Int?

    @Option(name: .customLong("step-tokens"), help: "With --join: the engine's token budget per step (prompt chunks beside the running sequences).")
    var stepTokens = 128

    @Flag(help: "Skip the memory-bandwidth probe.")
    var noMemoryProbe = false

    @Flag(help: "Print JSON.")
    var json = false

    /// Mean and sample standard deviation (0 for one sample).
    static func statistics(_ samples: [Double]) -> (mean: Double, stddev: Double) { Benchmark.statistics(samples) }

    /// A comma-separated list of counts ≥ 0 (≥ 1 where zero means nothing).
    static func counts(_ text: String, option: String) throws -> [Int] {
        let values = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? -1) >= 0 && $0! <= 1_000_000 }) else {
            throw ValidationError("\(option) takes comma-separated counts from 0 to 1000000, got '\(text)'")
        }
        return values.map { $0! }
    }

    func run() async throws {
        if let parallel {
            let counts = try Self.counts(parallel, option: "--parallel")
            if let join { try await runJoin(counts: counts, joinPrompt: join) } else { try await runBatched(counts: counts) }
            return
        }
        if join != nil { throw ValidationError("--join needs --parallel") }
        let prompts = try Self.counts(promptTokens, option: "-p").filter { $0 > 0 }
        let gens = try Self.counts(generatedTokens, option: "-n").filter { $0 > 0 }
        let verifications = try Self.counts(verify, option: "--verify").filter { $0 > 0 }
        let depthList = try Self.counts(depths, option: "-d")
        guard repetitions >= 1, repetitions <= 1000 else { throw ValidationError("-r must be from 1 to 1000") }
        guard let kernelChoice = KernelChoice(rawValue: kernels) else { throw ValidationError("--kernels must be fast or reference") }
        let path = try DefaultModel.resolve(model)
        let model = try LanguageModel(path: path)
        for note in model.files.notes { printError("note: \(note)") }
        let report = try Benchmark.run(model: model, prompts: prompts, generations: gens, verifications: verifications, depths: depthList,
                                       repetitions: repetitions, threads: threads, kernels: kernelChoice,
                                       probeMemory: !noMemoryProbe)
        let results = report.tests
        let weightBytes = Double(model.weights.bytesPerToken)
        let firstDecode = results.first { $0.name.hasPrefix("tg") }
        let decode = firstDecode.map { $0.mean * weightBytes }
        let memory = report.memoryBytesPerSecond
        // The share against the probe read beside each sample: comparable on a host whose bandwidth moves.
        let share = firstDecode?.probeShare(bytesPerToken: weightBytes)

        let name = (path as NSString).lastPathComponent
        if json {
            var object: [String: Any] = [
                "model": name, "file_bytes": model.files.tensors.fileBytes, "weight_bytes_per_token": Int(weightBytes),
                "threads": report.threadCount, "kernels": kernelChoice.rawValue,
                "tests": results.map { test -> [String: Any] in
                    var entry: [String: Any] = ["name": test.name, "mean": test.mean, "stddev": test.standardDeviation,
                                                "samples": test.samples, "n_prompt": test.prompt, "n_gen": test.generated,
                                                "n_depth": test.depth]
                    if let memory = test.memorySamples { entry["memory_samples"] = memory }
                    return entry
                },
            ]
            if let decode { object["decode_bytes_per_second"] = decode }
            if let memory { object["memory_bytes_per_second"] = memory }
            if let share { object["decode_probe_share"] = share }
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        print(String(format: "model %@ | %.2f GB | %d threads | %@ kernels", name, Double(model.files.tensors.fileBytes) / 1e9,
                     report.threadCount, kernelChoice.rawValue))
        for r in results {
            let label = r.name.padding(toLength: max(16, r.name.count), withPad: " ", startingAt: 0)
            print(label + String(format: " %10.2f ± %.2f tokens/s", r.mean, r.standardDeviation))
        }
        if let decode {
            var line = String(format: "decode reads %.2f GB per token: %.1f GB/s", weightBytes / 1e9, decode / 1e9)
            if let share, let beside = firstDecode?.memorySamples {
                line += String(format: ", %.0f%% of the probe read beside it (%.1f GB/s)", 100 * share,
                               beside.reduce(0, +) / Double(beside.count) / 1e9)
            }
            if let memory { line += String(format: "; best probe %.1f GB/s (%.0f%%)", memory / 1e9, 100 * decode / memory) }
            print(line)
        } else if let memory {
            print(String(format: "memory bandwidth: %.1f GB/s", memory / 1e9))
        }
    }
}
