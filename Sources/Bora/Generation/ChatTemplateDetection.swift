import Foundation

/// A chat format chosen for a model, and how it was chosen.
public struct ChatFormatChoice: Sendable, Equatable {
    public let format: ChatFormat
    /// The system prompt the model's template inserts when a conversation has none (ChatML).
    public let defaultSystemPrompt: String?
    /// Set when the model's template was missing or not recognised, naming the fallback.
    public let warning: String?
}

extension ChatFormat {
    /// Recognises the model's Jinja chat template (GGUF `tokenizer.chat_template`, or
    /// `chat_template` in tokenizer_config.json). Without a recognisable template the format is
    /// guessed from the vocabulary, with a warning that names it.
    public static func detect(template: String?, tokenizer: Tokenizer) -> ChatFormatChoice {
        if let template, let format = recognise(template, tokenizer: tokenizer) {
            return ChatFormatChoice(format: format, defaultSystemPrompt: format == .chatml ? chatMLDefaultSystemPrompt(template) : nil, warning: nil)
        }
        let fallback = guess(tokenizer)
        let reason = template == nil ? "the model has no chat template" : "the model's chat template is not one Bora recognises"
        return ChatFormatChoice(format: fallback, defaultSystemPrompt: nil,
                                warning: "\(reason); using the \(fallback.rawValue) format (choose another with --chat-template)")
    }

    /// The format named by `override` (an error lists the valid names), or the detected one.
    public static func choose(for tokenizer: Tokenizer, override: String?) throws(BoraError) -> ChatFormatChoice {
        let detected = detect(template: tokenizer.chatTemplate, tokenizer: tokenizer)
        guard let override else { return detected }
        guard let format = ChatFormat(rawValue: override) else {
            throw .invalidArgument("unknown chat template '\(override)'; choose one of \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return ChatFormatChoice(format: format, defaultSystemPrompt: format == detected.format ? detected.defaultSystemPrompt : nil, warning: nil)
    }

    private static func recognise(_ template: String, tokenizer: Tokenizer) -> ChatFormat? {
        if template.contains("<|im_start|>") { return .chatml }
        if template.contains("<|user|>") && template.contains("<|assistant|>") { return .zephyr }
        if template.contains("<<SYS>>") { return .llama2 }
        if template.contains("[INST]") { return hasControlInst(tokenizer) ? .mistralV3 : .mistralV1 }
        return nil
    }

    private static func hasControlInst(_ tokenizer: Tokenizer) -> Bool {
        tokenizer.id(of: "[INST]").map(tokenizer.isSpecial) ?? false
    }

    private static func guess(_ tokenizer: Tokenizer) -> ChatFormat {
        if tokenizer.id(of: "<|im_start|>").map(tokenizer.isSpecial) ?? false { return .chatml }
        if hasControlInst(tokenizer) { return .mistralV3 }
        return tokenizer.isSentencePiece ? .mistralV1 : .chatml
    }

    /// The system prompt a ChatML template writes for conversations without one, e.g. SmolLM2's
    /// "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, ...<|im_end|>\n' }}".
    static func chatMLDefaultSystemPrompt(_ template: String) -> String? {
        for marker in ["'<|im_start|>system\n", "'<|im_start|>system\\n", "\"<|im_start|>system\n", "\"<|im_start|>system\\n"] {
            guard let start = template.range(of: marker), let end = template.range(of: "<|im_end|>", range: start.upperBound..<template.endIndex) else { continue }
            let raw = String(template[start.upperBound..<end.lowerBound])
            guard !raw.contains("{{"), !raw.contains("'"), !raw.contains("\"") else { continue }
            return raw.replacingOccurrences(of: "\\n", with: "\n")
        }
        return nil
    }
}
