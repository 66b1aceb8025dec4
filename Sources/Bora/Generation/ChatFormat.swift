/// The chat formats Bora builds in, each reproducing its reference token for token:
/// mistral-common's `encode_chat_completion` for the Mistral formats, and transformers'
/// `apply_chat_template` with the model's own template for the others.
public enum ChatFormat: String, Sendable, CaseIterable {
    /// Mistral-7B-Instruct v0.1 (and v0.2 on the 32000 vocabulary): `[INST]` written as text.
    case mistralV1 = "mistral-v1"
    /// Mistral Instruct on the 32768 vocabulary: `[INST]`/`[/INST]` are control tokens.
    case mistralV3 = "mistral-v3"
    /// Llama-2-chat: `<s>[INST] <<SYS>>\n…\n<</SYS>>\n\n… [/INST] answer </s>`.
    case llama2
    /// Zephyr: `<|system|>`, `<|user|>`, `<|assistant|>` blocks ended by `</s>`.
    case zephyr
    /// ChatML: `<|im_start|>role\n…<|im_end|>\n`.
    case chatml

    /// Token ids of `messages`, ending with the prompt for the assistant's answer.
    ///
    /// If the conversation ends with an assistant message, that message is left open (no
    /// end-of-turn token) so generation continues it.
    /// - Parameter defaultSystemPrompt: ChatML only; inserted when the conversation has no system
    ///   message (SmolLM2's template does this).
    public func encode(_ messages: [ChatMessage], tokenizer: Tokenizer, defaultSystemPrompt: String? = nil) throws(BoraError) -> [Int] {
        guard !messages.isEmpty else { throw .invalidConversation("the conversation has no messages") }
        switch self {
        case .mistralV1, .mistralV3: return try encodeMistral(messages, tokenizer: tokenizer)
        case .llama2: return try encodeLlama2(messages, tokenizer: tokenizer)
        case .zephyr: return try encodeZephyr(messages, tokenizer: tokenizer)
        case .chatml: return try encodeChatML(messages, tokenizer: tokenizer, defaultSystemPrompt: defaultSystemPrompt)
        }
    }

    private func require(_ id: Int?, _ what: String) throws(BoraError) -> Int {
        guard let id else { throw .invalidConversation("the tokenizer has no \(what) token, which the \(rawValue) format needs") }
        return id
    }

    private func special(_ tokenizer: Tokenizer, _ piece: String) throws(BoraError) -> Int {
        guard let id = tokenizer.id(of: piece), tokenizer.isSpecial(id) else {
            throw .invalidConversation("the \(rawValue) format needs the control token \(piece), which this tokenizer lacks")
        }
        return id
    }

    // MARK: Mistral (mistral-common's InstructRequestNormalizer + InstructTokenizerV1/V3)

    private func encodeMistral(_ messages: [ChatMessage], tokenizer: Tokenizer) throws(BoraError) -> [Int] {
        // Role order, as mistral-common's validator allows it.
        var previous: ChatMessage.Role? = nil
        for message in messages {
            if previous == .assistant && message.role == .system {
                throw .invalidConversation("a system message cannot follow an assistant message")
            }
            previous = message.role
        }
        if messages.count == 1 && messages[0].role == .assistant {
            throw .invalidConversation("a conversation must start with a user or system message")
        }
        let continuesAnswer = messages.count > 1 && messages.last!.role == .assistant

        // System messages become one system prompt; runs of same-role messages merge with "\n\n".
        let systemParts = messages.filter { $0.role == .system }.map(\.content)
        let systemPrompt = systemParts.isEmpty ? nil : systemParts.joined(separator: "\n\n")
        var turns: [ChatMessage] = []
        var group: [ChatMessage] = []
        func flush() {
            guard let role = group.first?.role else { return }
            if role != .system { turns.append(ChatMessage(role: role, content: group.map(\.content).joined(separator: "\n\n"))) }
            group.removeAll()
        }
        for message in messages {
            if let role = group.first?.role, role != message.role { flush() }
            group.append(message)
        }
        flush()
        if turns.first?.role != .user { turns.insert(.user(""), at: 0) }

        let bos = try require(tokenizer.bosID, "BOS")
        let eos = try require(tokenizer.eosID, "EOS")
        let firstUser = turns.firstIndex { $0.role == .user }
        let lastUser = turns.lastIndex { $0.role == .user }
        var ids = [bos]
        for (index, turn) in turns.enumerated() {
            switch turn.role {
            case .user:
                // v1 puts the system prompt in the first user message, v2/v3 in the last one.
                let target = self == .mistralV1 ? firstUser : lastUser
                var content = turn.content
                if index == target, let systemPrompt, !systemPrompt.isEmpty { content = systemPrompt + "\n\n" + content }
                if self == .mistralV1 {
                    ids += tokenizer.encode(segments: [.text("[INST] " + content + " [/INST]")])
                } else {
                    ids.append(try special(tokenizer, "[INST]"))
                    ids += tokenizer.encode(segments: [.text(content)])
                    ids.append(try special(tokenizer, "[/INST]"))
                }
            case .assistant:
                guard !turn.content.isEmpty else { throw .invalidConversation("assistant message \(index) is empty") }
                let content = self == .mistralV1 ? turn.content : String(turn.content.trimmingTrailing(" "))
                ids += tokenizer.encode(segments: [.text(content)])
                if !(continuesAnswer && index == turns.count - 1) { ids.append(eos) }
            case .system:
                break
            }
        }
        return ids
    }

    // MARK: Llama-2-chat (its tokenizer_config.json template)

    private func encodeLlama2(_ messages: [ChatMessage], tokenizer: Tokenizer) throws(BoraError) -> [Int] {
        var loop = messages
        var system: String? = nil
        if messages[0].role == .system {
            system = messages[0].content
            loop.removeFirst()
        }
        let bos = try require(tokenizer.bosID, "BOS")
        let eos = try require(tokenizer.eosID, "EOS")
        var segments: [TextSegment] = []
        var text = ""
        for (index, message) in loop.enumerated() {
            // The template's only check; a later system message passes it and renders as nothing.
            guard (message.role == .user) == (index % 2 == 0) else {
                throw .invalidConversation("Llama-2-chat roles must alternate user/assistant/user/..., after an optional first system message")
            }
            var content = message.content
            if index == 0, let system { content = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content }
            if message.role == .user {
                if !text.isEmpty { segments.append(.text(text)); text = "" }
                segments.append(.special(bos))
                text = "[INST] " + content.pythonStripped() + " [/INST]"
            } else if message.role == .assistant {
                text += " " + content.pythonStripped() + " "
                segments.append(.text(text))
                segments.append(.special(eos))
                text = ""
            }
        }
        if !text.isEmpty { segments.append(.text(text)) }
        return tokenizer.encode(segments: segments)
    }

    // MARK: Zephyr (zephyr-7b-beta's template)

    private func encodeZephyr(_ messages: [ChatMessage], tokenizer: Tokenizer) throws(BoraError) -> [Int] {
        let eos = try require(tokenizer.eosID, "EOS")
        var segments: [TextSegment] = []
        var pending = ""
        for message in messages {
            pending += "<|\(message.role.rawValue)|>\n" + message.content
            segments.append(.text(pending))
            segments.append(.special(eos))
            pending = "\n"
        }
        pending += "<|assistant|>\n"
        segments.append(.text(pending))
        return tokenizer.encode(segments: segments)
    }

    // MARK: ChatML

    private func encodeChatML(_ messages: [ChatMessage], tokenizer: Tokenizer, defaultSystemPrompt: String?) throws(BoraError) -> [Int] {
        let start = try special(tokenizer, "<|im_start|>")
        let end = try special(tokenizer, "<|im_end|>")
        var turns = messages
        if let defaultSystemPrompt, messages[0].role != .system {
            turns.insert(.system(defaultSystemPrompt), at: 0)
        }
        var segments: [TextSegment] = []
        for message in turns {
            segments += [.special(start), .text(message.role.rawValue + "\n" + message.content), .special(end), .text("\n")]
        }
        segments += [.special(start), .text("assistant\n")]
        return tokenizer.encode(segments: segments)
    }
}

extension String {
    /// Python's `str.strip()`: removes what `str.isspace()` calls whitespace from both ends.
    func pythonStripped() -> String {
        let isSpace: (Unicode.Scalar) -> Bool = { s in
            switch s.value {
            case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
            default: return false
            }
        }
        var scalars = Substring(self).unicodeScalars[...]
        while let first = scalars.first, isSpace(first) { scalars = scalars.dropFirst() }
        while let last = scalars.last, isSpace(last) { scalars = scalars.dropLast() }
        return String(String.UnicodeScalarView(scalars))
    }

    func trimmingTrailing(_ character: Character) -> Substring {
        var s = Substring(self)
        while s.last == character { s = s.dropLast() }
        return s
    }
}
