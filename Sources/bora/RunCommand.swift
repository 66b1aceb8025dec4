import ArgumentParser
import Bora
import Foundation

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Generate text from a prompt, streaming it as it is produced.")

    @Argument(help: "Model: a GGUF file, a Hugging Face folder or a Mistral folder (default: SmolLM2-135M-Instruct).")
    var model: String?

    @Option(name: [.short, .long], help: "The prompt.")
    var prompt: String

    @Option(name: [.customShort("n"), .customLong("n-predict")], help: "Tokens to generate at most.")
    var maxTokens = 128

    @Option(name: [.customShort("t"), .long], help: "Threads (default: physical cores).")
    var threads: Int?

    @Option(name: .customLong("sliding-window"), help: "Override the sliding window W (0 turns it off).")
    var slidingWindow: Int?

    @Option(name: .customLong("max-context"), help: "Positions the KV cache holds (default: the model's context length).")
    var maxContext: Int?

    func run() throws {
        let path = try DefaultModel.resolve(model)
        let model = try LanguageModel(path: path, options: ModelLoadOptions(slidingWindow: slidingWindow))
        let tokenizer = try model.tokenizer()
        for warning in tokenizer.warnings { printError("warning: \(warning)") }
        let context = try InferenceContext(model: model, options: ContextOptions(maxContext: maxContext, threads: threads))
        let ids = tokenizer.encode(prompt)
        guard ids.count <= context.cache.maximumLength ?? .max else {
            throw BoraError.contextOverflow(needed: ids.count, capacity: context.cache.maximumLength!)
        }
        writeOut(prompt)
        let (_, stats) = try GreedyDecoder.run(prompt: ids, context: context, tokenizer: tokenizer, maxTokens: maxTokens) { text in
            writeOut(text)
        }
        writeOut("\n")
        printError(String(format: "prompt: %d tokens, %.1f tokens/s | generation: %d tokens, %.1f tokens/s | stop: %@",
                          stats.promptTokens, stats.promptTokensPerSecond, stats.generatedTokens,
                          stats.generationTokensPerSecond, stats.stopReason.rawValue))
    }
}
