import Foundation
import Testing
@testable import Bora

/// Chat encodings against mistral-common and transformers' apply_chat_template (references written
/// by Tools/make_chat_references.py).
@Suite struct ChatFormatTests {
    enum Expected {
        case ids([Int])
        case refused(String)
        case skipped
    }

    struct Case {
        let messages: [ChatMessage]
        let expected: [String: Expected]
    }

    static func cases() throws -> (cases: [Case], templates: [String: String]) {
        let root = try Fixtures.json(Fixtures.tokenizer("chat.json"))
        let cases = try root["cases"]!.array!.map { item in
            Case(messages: try ChatMessage.parseList(item["messages"]!),
                 expected: Dictionary(uniqueKeysWithValues: item["expected"]!.members!.map { name, value in
                     (name, value["ids"].map { Expected.ids($0.array!.map { $0.int! }) } ?? value["error"].map { .refused($0.string!) } ?? .skipped)
                 }))
        }
        let templates = Dictionary(uniqueKeysWithValues: root["templates"]!.members!.map { ($0.0, $0.1.string!) })
        return (cases, templates)
    }

    /// The tokenizer each reference used.
    static func tokenizer(for format: ChatFormat) throws -> Tokenizer? {
        switch format {
        case .mistralV1: return try Fixtures.mistralTokenizer("tokenizer.model.v1").map(Tokenizer.load(path:))
        case .mistralV3: return try Fixtures.mistralTokenizer("mistral_instruct_tokenizer_240323.model.v3").map(Tokenizer.load(path:))
        case .llama2, .zephyr: return try Tokenizer.load(path: Fixtures.tokenizer("mistral-v1-hf"))
        case .chatml: return try Tokenizer.load(path: Fixtures.tokenizer("smollm2-tokenizer.gguf"))
        }
    }

    @Test(arguments: ChatFormat.allCases)
    func encodingMatchesReference(format: ChatFormat) throws {
        guard let tokenizer = try Self.tokenizer(for: format) else {
            #expect(!Fixtures.requireDefaultModel, "run Tools/fetch-mistral-tokenizers.sh")
            return
        }
        let (cases, _) = try Self.cases()
        let choice = ChatFormat.detect(template: tokenizer.chatTemplate, tokenizer: tokenizer)
        let system = format == .chatml ? choice.defaultSystemPrompt : nil
        var checked = 0
        for c in cases {
            let expected = try #require(c.expected[format.rawValue])
            switch expected {
            case .ids(let ids):
                let got = try format.encode(c.messages, tokenizer: tokenizer, defaultSystemPrompt: system)
                #expect(got == ids, "\(format.rawValue): \(c.messages.map(\.role.rawValue))")
                checked += 1
            case .skipped:
                continue
            case .refused(let reason):
                #expect(throws: BoraError.self, "reference refused (\(reason))") {
                    try format.encode(c.messages, tokenizer: tokenizer, defaultSystemPrompt: system)
                }
            }
        }
        #expect(checked >= 10)
    }

    @Test func templatesAreRecognised() throws {
        let (_, templates) = try Self.cases()
        let spm = try Tokenizer.load(path: Fixtures.tokenizer("mistral-v1-hf"))
        let smol = try Tokenizer.load(path: Fixtures.tokenizer("smollm2-tokenizer.gguf"))
        #expect(ChatFormat.detect(template: templates["llama2"], tokenizer: spm) == ChatFormatChoice(format: .llama2, defaultSystemPrompt: nil, warning: nil))
        #expect(ChatFormat.detect(template: templates["zephyr"], tokenizer: spm).format == .zephyr)
        let chatml = ChatFormat.detect(template: smol.chatTemplate, tokenizer: smol)
        #expect(chatml.format == .chatml && chatml.warning == nil)
        #expect(chatml.defaultSystemPrompt == "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        let mistralTemplate = "{{ bos_token }}{% for message in messages %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endfor %}"
        #expect(ChatFormat.detect(template: mistralTemplate, tokenizer: spm).format == .mistralV1)
        if let v3 = try Self.tokenizer(for: .mistralV3) {
            #expect(ChatFormat.detect(template: mistralTemplate, tokenizer: v3).format == .mistralV3)
            #expect(ChatFormat.detect(template: nil, tokenizer: v3).format == .mistralV3)
        }
        let unknown = ChatFormat.detect(template: "{{ messages }}", tokenizer: smol)
        #expect(unknown.format == .chatml)
        #expect(unknown.warning == "the model's chat template is not one Bora recognises; using the chatml format (choose another with --chat-template)")
        #expect(ChatFormat.detect(template: nil, tokenizer: spm).warning?.hasPrefix("the model has no chat template; using the mistral-v1 format") == true)
    }

    @Test func invalidConversations() throws {
        let spm = try Tokenizer.load(path: Fixtures.tokenizer("mistral-v1-hf"))
        for format in ChatFormat.allCases where format != .chatml && format != .mistralV3 {
            #expect(throws: BoraError.invalidConversation("the conversation has no messages")) { try format.encode([], tokenizer: spm) }
        }
        #expect(throws: BoraError.self) { try ChatFormat.llama2.encode([.assistant("hi")], tokenizer: spm) }
        #expect(throws: BoraError.self) { try ChatFormat.mistralV1.encode([.assistant("hi")], tokenizer: spm) }
        #expect(throws: BoraError.invalidConversation("the chatml format needs the control token <|im_start|>, which this tokenizer lacks")) {
            try ChatFormat.chatml.encode([.user("hi")], tokenizer: spm)
        }
        #expect(throws: BoraError.invalidConversation("message 0 has role 'tool'; expected system, user or assistant")) {
            try ChatMessage.parseList(JSONValue.parse(#"[{"role": "tool", "content": "x"}]"#))
        }
    }

    /// Message text is never parsed for special tokens: "<|im_end|>" typed by a user stays text.
    @Test func specialTokenTextInMessagesStaysText() throws {
        let smol = try Tokenizer.load(path: Fixtures.tokenizer("smollm2-tokenizer.gguf"))
        let ids = try ChatFormat.chatml.encode([.user("<|im_end|>")], tokenizer: smol)
        #expect(ids.filter { $0 == 2 }.count == 1)  // only the format's own end-of-turn
    }
}
