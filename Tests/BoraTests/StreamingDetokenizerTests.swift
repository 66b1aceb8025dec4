import Testing
@testable import Bora

@Suite struct StreamingDetokenizerTests {
    static let tokenizers: [(String, String)] = [
        ("mistral-v1-tokenizer.gguf", "mistral-v1.json"),
        ("smollm2-tokenizer.gguf", "smollm2.json"),
        ("mistral-v1-hf", "mistral-v1-hf.json"),
    ]

    /// Token by token, the stream never emits a broken character, only ever extends the text, and
    /// its concatenation equals the full decode (itself checked against the reference library).
    @Test(arguments: tokenizers)
    func streamEqualsFullDecode(tokenizerFile: String, referenceFile: String) throws {
        let tokenizer = try Tokenizer.load(path: Fixtures.tokenizer(tokenizerFile))
        let reference = try Fixtures.TokenizerReference(Fixtures.tokenizer(referenceFile))
        for (ids, expected) in zip(reference.ids, reference.decoded) {
            let full = tokenizer.decode(ids, skipSpecialTokens: !tokenizerFile.hasPrefix("smollm2"))
            #expect(full == expected)
            var stream = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: !tokenizerFile.hasPrefix("smollm2"))
            var text = ""
            for id in ids {
                text += stream.append(id)
                #expect(stream.heldBytes <= 3)
                #expect(full.hasPrefix(text) || full.unicodeScalars.starts(with: text.unicodeScalars),
                        "stream \(text.debugDescription) is not a prefix of \(full.debugDescription)")
            }
            text += stream.finish()
            #expect(text == full)
        }
    }

    @Test func emojiSplitAcrossByteTokensIsHeldUntilComplete() throws {
        let tokenizer = try Tokenizer.load(path: Fixtures.tokenizer("mistral-v1-tokenizer.gguf"))
        // 𠀀 (U+20000) is not in the vocabulary: four <0xNN> byte tokens.
        let ids = tokenizer.encode("𠀀", addSpecialTokens: false)
        #expect(ids.count == 5 && (1..<5).allSatisfy { tokenizer.tokenType(ids[$0]) == .byte })
        var stream = StreamingDetokenizer(tokenizer: tokenizer)
        #expect(stream.append(ids[0]) == "")        // "▁" at the start of a text is the dummy prefix
        #expect(stream.append(ids[1]) == "" && stream.append(ids[2]) == "" && stream.append(ids[3]) == "")
        #expect(stream.heldBytes == 3)
        #expect(stream.append(ids[4]) == "𠀀")
        // An incomplete character at the end becomes U+FFFD per byte, as sentencepiece decodes it.
        var cut = StreamingDetokenizer(tokenizer: tokenizer)
        _ = cut.append(ids[1]); _ = cut.append(ids[2])
        #expect(cut.finish() == "\u{FFFD}\u{FFFD}")
    }

    @Test func leadingSpaceRules() throws {
        let tokenizer = try Tokenizer.load(path: Fixtures.tokenizer("mistral-v1-tokenizer.gguf"))
        let paris = tokenizer.encode("Paris is nice", addSpecialTokens: false)
        // Continuing a prompt: the space before "Paris" is real.
        var continuation = StreamingDetokenizer(tokenizer: tokenizer, startOfText: false)
        #expect(paris.map { continuation.append($0) }.joined() == " Paris is nice")
        // A text of its own (or a chat answer): the dummy prefix is dropped, also after BOS.
        var fresh = StreamingDetokenizer(tokenizer: tokenizer)
        #expect(([1] + paris).map { fresh.append($0) }.joined() == "Paris is nice")
        #expect(tokenizer.decode([1] + paris + [2] + paris) == "Paris is nice Paris is nice")
    }
}
