import ArgumentParser
import Bora
import Foundation

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Generate text from a prompt, streaming it as it is produced.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingOptions

    @Option(name: [.short, .long], help: "The prompt.")
    var prompt: String

    @Flag(help: "Wrap the prompt in a chat format (as one user message) even when the model has no chat template.")
    var chat = false

    @Flag(help: "Continue the prompt as plain text, even for a model with a chat template.")
    var raw = false

    @Option(help: "System prompt (in chat mode).")
    var system: String?

    @Option(name: .customLong("chat-template"), help: "Chat format: mistral-v1, mistral-v3, llama2, zephyr or chatml (default: from the model).")
    var chatTemplate: String?

    @Flag(help: "Print one JSON object (text, token ids, stop reason, timings) instead of streaming.")
    var json = false

    func run() throws {
        if chat && raw { throw ValidationError("--chat and --raw exclude each other") }
        if raw && system != nil { throw ValidationError("--system needs chat mode, not --raw") }
        let parameters = try sampling.parameters(draftModel: modelOptions.draft != nil)
        let model = try modelOptions.load()
        let generator = try Generator(model: model, options: modelOptions.contextOptions, draft: modelOptions.loadDraft())
        // As ollama and llama-cli do: an instruct model (one with a chat template) is chatted with.
        let chat = !raw && (self.chat || generator.tokenizer.chatTemplate != nil)
        let ids: [Int]
        if chat {
            let choice = try model.chatFormat(named: chatTemplate)
            if let warning = choice.warning { printError("warning: \(warning)") }
            var messages: [ChatMessage] = []
            if let system { messages.append(.system(system)) }
            messages.append(.user(prompt))
            ids = try choice.format.encode(messages, tokenizer: generator.tokenizer, defaultSystemPrompt: choice.defaultSystemPrompt)
        } else {
            ids = generator.tokenizer.encode(prompt)
        }
        if !json && !chat { writeOut(prompt) }
        var text = ""
        var tokens: [Int] = []
        let stats = try generator.generate(prompt: ids, parameters: parameters, startOfText: chat) { event in
            switch event {
            case .text(let piece):
                text += piece
                if !json { writeOut(piece) }
            case .token(let token):
                tokens.append(token.id)
            case .finished:
                break
            }
        }
        if json {
            let object: [String: Any] = [
                "text": text, "tokens": tokens, "stop_reason": stats.stopReason.rawValue,
                "prompt_tokens": stats.promptTokens, "generated_tokens": stats.generatedTokens,
                "time_to_first_token": stats.timeToFirstToken,
                "prompt_tokens_per_second": stats.promptTokensPerSecond,
                "generation_tokens_per_second": stats.generationTokensPerSecond,
                "generation_seconds": stats.generationSeconds,
                "constraint_seconds": stats.constraintSeconds,
                "drafted_tokens": stats.draftedTokens, "accepted_draft_tokens": stats.acceptedDraftTokens,
                "draft_acceptance_rate": stats.draftAcceptanceRate, "weight_passes": stats.weightPasses,
                "tokens_per_weight_pass": stats.tokensPerWeightPass,
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            writeOut("\n")
            printError(statsLine(stats))
        }
    }
}
