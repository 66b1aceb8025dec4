import ArgumentParser
import Bora
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure prompt processing and generation speed, in the style of llama-bench.")

    @Argument(help: "Model: a GGUF file, a Hugging Face folder or a Mistral folder (default: SmolLM2-135M-Instruct).")
    var model: String?

    @Option(name: [.customShort("p"), .customLong("n-prompt")], help: "Prompt tokens processed at once (0 skips the test).")
    var promptTokens = 512

    @Option(name: [.customShort("n"), .customLong("n-gen")], help: "Tokens generated one at a time (0 skips the test).")
    var generatedTokens = 128

    @Option(name: [.customShort("t"), .long], help: "Threads (default: physical cores).")
    var threads: Int?

    @Option(name: [.customShort("r"), .long], help: "Repetitions of each test.")
    var repetitions = 3

    @Option(help: "Kernels: fast or reference.")
    var kernels: String = "fast"

    @Flag(help: "Skip the memory-bandwidth probe.")
    var noMemoryProbe = false

    @Flag(help: "Print JSON.")
    var json = false

    struct Result {
        let name: String
        let samples: [Double]
        var mean: Double { samples.reduce(0, +) / Double(samples.count) }
        var standardDeviation: Double {
            guard samples.count > 1 else { return 0 }
            let m = mean
            return (samples.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(samples.count - 1)).squareRoot()
        }
    }

    func run() throws {
        guard repetitions >= 1, promptTokens >= 0, generatedTokens >= 0 else { throw ValidationError("counts must be positive") }
        guard let kernelChoice = KernelChoice(rawValue: kernels) else { throw ValidationError("--kernels must be fast or reference") }
        let path = try DefaultModel.resolve(model)
        let model = try LanguageModel(path: path)
        let c = model.config
        let context = try InferenceContext(model: model, options: ContextOptions(
            maxContext: max(promptTokens, generatedTokens) + 1, chunkSize: max(promptTokens, 1), threads: threads, kernels: kernelChoice))
        var random = SystemRandomNumberGenerator()
        let tokens = (0..<max(promptTokens, generatedTokens)).map { _ in Int.random(in: 3..<c.vocabularySize, using: &random) }

        func measure(_ body: () throws -> Void) rethrows -> Double {
            let start = ContinuousClock.now
            try body()
            let d = ContinuousClock.now - start
            return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        }
        var results: [Result] = []
        if promptTokens > 0 {
            var samples: [Double] = []
            for rep in 0...repetitions {   // the first run warms the caches and is not counted
                context.reset()
                let seconds = try measure { try context.evaluate(Array(tokens.prefix(promptTokens))) }
                if rep > 0 { samples.append(Double(promptTokens) / seconds) }
            }
            results.append(Result(name: "pp\(promptTokens)", samples: samples))
        }
        if generatedTokens > 0 {
            var samples: [Double] = []
            for rep in 0...repetitions {
                context.reset()
                let seconds = try measure {
                    for t in tokens.prefix(generatedTokens) { try context.evaluate([t]) }
                }
                if rep > 0 { samples.append(Double(generatedTokens) / seconds) }
            }
            results.append(Result(name: "tg\(generatedTokens)", samples: samples))
        }
        let weightBytes = Double(model.weights.bytesPerToken)
        let decode = results.first { $0.name.hasPrefix("tg") }.map { $0.mean * weightBytes }
        let memory = noMemoryProbe ? nil : MemoryBandwidth.measure(pool: context.pool)

        let name = (path as NSString).lastPathComponent
        if json {
            var object: [String: Any] = [
                "model": name, "file_bytes": model.files.tensors.fileBytes, "weight_bytes_per_token": Int(weightBytes),
                "threads": context.pool.threadCount, "kernels": kernelChoice.rawValue,
                "tests": results.map { ["name": $0.name, "mean": $0.mean, "stddev": $0.standardDeviation, "samples": $0.samples] },
            ]
            if let decode { object["decode_bytes_per_second"] = decode }
            if let memory { object["memory_bytes_per_second"] = memory }
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        print(String(format: "model %@ | %.2f GB | %d threads | %@ kernels", name, Double(model.files.tensors.fileBytes) / 1e9,
                     context.pool.threadCount, kernelChoice.rawValue))
        for r in results {
            print(String(format: "%-8@ %10.2f ± %.2f tokens/s", r.name, r.mean, r.standardDeviation))
        }
        if let decode {
            var line = String(format: "decode reads %.2f GB per token: %.1f GB/s", weightBytes / 1e9, decode / 1e9)
            if let memory { line += String(format: " of %.1f GB/s measured (%.0f%%)", memory / 1e9, 100 * decode / memory) }
            print(line)
        } else if let memory {
            print(String(format: "memory bandwidth: %.1f GB/s", memory / 1e9))
        }
    }
}
