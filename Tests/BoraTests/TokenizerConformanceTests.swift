import Foundation
import Testing
@testable import Bora

/// Token ids and decodes on a 360-string corpus against the reference libraries' (references
/// written by Tools/make_tokenizer_references.py).
@Suite struct TokenizerConformanceTests {
    /// Records each mismatch (up to a few) with the string, so a failure says what differs.
    private func compare(_ tokenizer: Tokenizer, _ reference: Fixtures.TokenizerReference, parseSpecial: Bool = false,
                         checkDecode: Bool = true, skipSpecialInDecode: Bool = true, label: String) throws {
        let corpus = try Fixtures.corpus
        let expectedIDs = parseSpecial ? try #require(reference.ids_parse_special) : reference.ids
        #expect(corpus.count >= 300)
        var idFailures = 0, decodeFailures = 0
        for (index, text) in corpus.enumerated() {
            let ids = tokenizer.encode(text, addSpecialTokens: false, parseSpecial: parseSpecial)
            if ids != expectedIDs[index] {
                idFailures += 1
                if idFailures <= 5 { Issue.record("\(label) ids differ for \(text.debugDescription): \(ids) vs \(expectedIDs[index])") }
            }
            if checkDecode {
                let decoded = tokenizer.decode(expectedIDs[index], skipSpecialTokens: skipSpecialInDecode)
                if decoded != reference.decoded[index] {
                    decodeFailures += 1
                    if decodeFailures <= 5 { Issue.record("\(label) decode differs for \(text.debugDescription): \(decoded.debugDescription) vs \(reference.decoded[index].debugDescription)") }
                }
            }
        }
        #expect(idFailures == 0, "\(label): \(idFailures) strings tokenized differently")
        #expect(decodeFailures == 0, "\(label): \(decodeFailures) strings decoded differently")
    }

    static let mistralModels = [
        ("mistral-v1", "tokenizer.model.v1"),
        ("mistral-v2", "mistral_instruct_tokenizer_240216.model.v2"),
        ("mistral-v3", "mistral_instruct_tokenizer_240323.model.v3"),
    ]

    @Test(arguments: mistralModels)
    func sentencePieceModelsMatchSentencepiece(name: String, file: String) throws {
        guard let path = Fixtures.mistralTokenizer(file) else {
            #expect(!Fixtures.requireDefaultModel, "run Tools/fetch-mistral-tokenizers.sh")
            return
        }
        let tokenizer = try Tokenizer.load(path: path)
        try compare(tokenizer, Fixtures.TokenizerReference(Fixtures.tokenizer(name + ".json")), label: name)
    }

    @Test func sentencePieceFromGGUFMatchesSentencepiece() throws {
        let tokenizer = try Tokenizer.load(path: Fixtures.tokenizer("mistral-v1-tokenizer.gguf"))
        #expect(tokenizer.isSentencePiece && tokenizer.bosID == 1 && tokenizer.eosID == 2 && tokenizer.addBOS)
        try compare(tokenizer, Fixtures.TokenizerReference(Fixtures.tokenizer("mistral-v1.json")), label: "gguf v1")
    }

    @Test func sentencePieceTokenizerJSONMatchesHuggingFace() throws {
        let tokenizer = try Tokenizer.load(path: Fixtures.tokenizer("mistral-v1-hf"))
        #expect(tokenizer.isSentencePiece && tokenizer.addBOS)
        try compare(tokenizer, Fixtures.TokenizerReference(Fixtures.tokenizer("mistral-v1-hf.json")), label: "tokenizer.json v1")
    }

    @Test func byteLevelFromGGUFMatchesHuggingFace() throws {
        let tokenizer = try Tokenizer.load(path: Fixtures.tokenizer("smollm2-tokenizer.gguf"))
        #expect(!tokenizer.isSentencePiece && !tokenizer.addBOS && tokenizer.bosID == 1 && tokenizer.eosID == 2)
        #expect(tokenizer.warnings.isEmpty)
        let reference = try Fixtures.TokenizerReference(Fixtures.tokenizer("smollm2.json"))
        try compare(tokenizer, reference, skipSpecialInDecode: false, label: "smollm2 gguf")
        try compare(tokenizer, reference, parseSpecial: true, checkDecode: false, label: "smollm2 gguf special")
    }

    @Test func byteLevelFromTokenizerJSONMatchesHuggingFace() throws {
        let tokenizer = try Tokenizer.load(path: Fixtures.tokenizer("smollm2-hf"))
        #expect(!tokenizer.isSentencePiece && tokenizer.eosID == 2)
        let reference = try Fixtures.TokenizerReference(Fixtures.tokenizer("smollm2.json"))
        try compare(tokenizer, reference, skipSpecialInDecode: false, label: "smollm2 json")
        try compare(tokenizer, reference, parseSpecial: true, checkDecode: false, label: "smollm2 json special")
    }
}

/// The hand-written pre-tokenizer splits against Hugging Face's regex pre-tokenizers (Oniguruma),
/// string by string (references from Tools/make_tokenizer_references.py).
@Suite struct PreTokenizerTests {
    @Test(arguments: PreTokenizer.allCases)
    func splitsMatchHuggingFace(pre: PreTokenizer) throws {
        let corpus = try Fixtures.corpus
        let expected = try Fixtures.json(Fixtures.tokenizer("pretokenizers.json"))[pre.rawValue]!.array!
        var failures = 0
        for (text, reference) in zip(corpus, expected) {
            let utf8 = Array(text.utf8)
            let pieces = pre.split(text).map { String(decoding: utf8[$0], as: UTF8.self) }
            let wanted = reference.array!.map { $0.string! }
            if pieces != wanted {
                failures += 1
                if failures <= 3 { Issue.record("\(pre) splits \(text.debugDescription) as \(pieces), not \(wanted)") }
            }
        }
        #expect(failures == 0)
    }

    @Test func unknownPreTokenizerWarns() throws {
        var b = GGUFBuilder()
        b.metadata = [
            ("general.architecture", .string("llama")),
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("deepseek-coder")),
            ("tokenizer.ggml.tokens", .array(elementType: 8, [.string("a"), .string("b"), .string("ab")])),
            ("tokenizer.ggml.merges", .array(elementType: 8, [.string("a b")])),
        ]
        let path = Fixtures.temporaryFile("pre.gguf")
        try b.write(to: path)
        let tokenizer = try Tokenizer.load(path: path)
        #expect(tokenizer.warnings == ["unknown pre-tokenizer 'deepseek-coder' in \(path); using the GPT-2 split, token ids may differ from the reference"])
        #expect(tokenizer.encode("ab", addSpecialTokens: false) == [2])
    }
}
