import ArgumentParser
import Bora
import Foundation

struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits", abstract: "Print the raw logits of a token sequence (for debugging and external checks).")

    @Argument(help: "Model: a GGUF file, a Hugging Face folder or a Mistral folder.")
    var model: String

    @Option(help: "Comma-separated token ids.")
    var ids: String

    @Option(help: "Which positions: last, all, or comma-separated indices.")
    var positions: String = "last"

    @Option(name: .customLong("sliding-window"), help: "Override the sliding window (0 turns it off).")
    var slidingWindow: Int?

    @Option(help: "Tokens per prefill chunk.")
    var chunk: Int?

    @Option(name: [.customShort("t"), .long], help: "Threads.")
    var threads: Int?

    @Option(help: "Kernels: fast or reference.")
    var kernels: String = "fast"

    @Flag(help: "Keep weights in their file layout (no repacking for the CPU's fastest kernels).")
    var noRepack = false

    @Option(help: "KV cache type: f16 or f32.")
    var kvCache: String = "f16"

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let tokens = try ids.split(separator: ",").map { part -> Int in
            guard let id = Int(part.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--ids: '\(part)' is not a token id")
            }
            return id
        }
        guard !tokens.isEmpty else { throw ValidationError("--ids is empty") }
        guard let kernelChoice = KernelChoice(rawValue: kernels) else { throw ValidationError("--kernels must be fast or reference") }
        guard let cacheType = KVCacheType(rawValue: kvCache) else { throw ValidationError("--kv-cache must be f16 or f32") }
        let model = try LanguageModel(path: self.model, options: ModelLoadOptions(slidingWindow: slidingWindow, repackWeights: !noRepack))
        for note in model.files.notes { printError("note: \(note)") }
        let context = try InferenceContext(model: model, options: ContextOptions(
            chunkSize: chunk, threads: threads, kvCacheType: cacheType, kernels: kernelChoice))
        let all = try context.evaluateAll(tokens)
        let selected: [Int]
        switch positions {
        case "last": selected = [tokens.count - 1]
        case "all": selected = Array(0..<tokens.count)
        default:
            selected = try positions.split(separator: ",").map { part in
                guard let i = Int(part), i >= 0, i < tokens.count else {
                    throw ValidationError("--positions: '\(part)' is not a position in 0..<\(tokens.count)")
                }
                return i
            }
        }
        if json {
            let object: [String: Any] = ["ids": tokens, "positions": selected, "logits": selected.map { all[$0].map(Double.init) }]
            let data = try JSONSerialization.data(withJSONObject: object)
            print(String(decoding: data, as: UTF8.self))
        } else {
            for p in selected {
                let row = all[p]
                // NaN ranks last, so a broken row cannot scramble the order of the others.
                let rank = { (i: Int) -> Float in row[i].isNaN ? -.infinity : row[i] }
                let top = row.indices.sorted { rank($0) > rank($1) }.prefix(5)
                print("position \(p): top", top.map { "\($0)=\(row[$0])" }.joined(separator: " "))
            }
        }
    }
}
