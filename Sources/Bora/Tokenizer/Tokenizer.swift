import Foundation

/// Text ⇄ token ids for a model: SentencePiece BPE (Llama 2, Mistral) or byte-level BPE
/// (SmolLM2, Llama 3), with the model's special tokens and BOS/EOS rules.
///
/// Special tokens (`<s>`, `[INST]`, `<|im_start|>`, ...) are recognised in text only when asked
/// (`parseSpecial`), never in user text by default.
public final class Tokenizer: Sendable {
    enum Encoder: Sendable {
        case sentencePiece(SentencePieceEncoder)
        case byteLevel(ByteLevelEncoder)
    }

    let encoder: Encoder
    let vocabulary: Vocabulary
    public let bosID: Int?
    public let eosID: Int?
    public let addBOS: Bool
    public let addEOS: Bool
    /// Tokens that end a generation: EOS and end-of-turn tokens (`<|im_end|>`, `<|eot_id|>`, ...).
    public let endOfGenerationIDs: Set<Int>
    /// The chat template the model file carries, if any (Jinja source).
    public let chatTemplate: String?
    /// Things worth telling the user about how the tokenizer was set up (e.g. an unknown pre-tokenizer).
    public let warnings: [String]
    /// Control tokens, recognised only with `parseSpecial`.
    private let controlTokens: SpecialTokenMatcher
    /// Byte-level user-defined (added, non-special) tokens: always recognised, as Hugging Face does.
    private let addedTokens: SpecialTokenMatcher
    /// The token-bytes trie grammars walk (`tokenTrie`), built on first use.
    let trieStore = TrieStore()

    init(encoder: Encoder, bosID: Int?, eosID: Int?, addBOS: Bool, addEOS: Bool,
         extraEndOfGeneration: [Int] = [], chatTemplate: String?, warnings: [String] = []) {
        self.encoder = encoder
        let vocabulary: Vocabulary
        switch encoder {
        case .sentencePiece(let e): vocabulary = e.vocabulary
        case .byteLevel(let e): vocabulary = e.vocabulary
        }
        self.vocabulary = vocabulary
        self.bosID = bosID
        self.eosID = eosID
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.chatTemplate = chatTemplate
        self.warnings = warnings
        controlTokens = SpecialTokenMatcher(tokens: vocabulary.ids(ofType: [.control]).map { (vocabulary.pieces[$0], $0) })
        if case .byteLevel = encoder {
            addedTokens = SpecialTokenMatcher(tokens: vocabulary.ids(ofType: [.userDefined]).map { (vocabulary.pieces[$0], $0) })
        } else {
            addedTokens = SpecialTokenMatcher(tokens: [])
        }
        var ends = Set(extraEndOfGeneration)
        if let eosID { ends.insert(eosID) }
        for name in ["<|im_end|>", "<|eot_id|>", "<|end_of_turn|>", "<end_of_turn>", "<|endoftext|>", "<|end|>"] {
            if let id = vocabulary.id(of: name), vocabulary.types[id] == .control { ends.insert(id) }
        }
        endOfGenerationIDs = ends
    }

    public var vocabularySize: Int { vocabulary.count }
    public var isSentencePiece: Bool { if case .sentencePiece = encoder { return true } else { return false } }

    /// The piece of a token id ("" for an id outside the vocabulary).
    public func piece(_ id: Int) -> String { vocabulary.pieces.indices.contains(id) ? vocabulary.pieces[id] : "" }
    public func tokenType(_ id: Int) -> TokenType { vocabulary.types.indices.contains(id) ? vocabulary.types[id] : .unused }
    public func id(of piece: String) -> Int? { vocabulary.id(of: piece) }
    public func isSpecial(_ id: Int) -> Bool { tokenType(id) == .control }

    /// Token ids of `text`.
    /// - Parameters:
    ///   - addSpecialTokens: add BOS/EOS as the model's tokenizer config says.
    ///   - parseSpecial: recognise control-token strings in the text (for prompts a program built,
    ///     not for text a user typed).
    public func encode(_ text: String, addSpecialTokens: Bool = true, parseSpecial: Bool = false) -> [Int] {
        let segments = parseSpecial ? controlTokens.split(text) : [.text(text)]
        var ids: [Int] = []
        if addSpecialTokens && addBOS, let bosID { ids.append(bosID) }
        ids += encode(segments: segments)
        if addSpecialTokens && addEOS, let eosID { ids.append(eosID) }
        return ids
    }

    /// Token ids of a sequence of text segments and special tokens. Each text segment is encoded on
    /// its own (SentencePiece gives each its dummy-prefix "▁", as Hugging Face's Llama tokenizers do).
    public func encode(segments: [TextSegment]) -> [Int] {
        var ids: [Int] = []
        var merger = BPEMerger()
        for segment in segments {
            switch segment {
            case .special(let id): ids.append(id)
            case .text(let text):
                switch encoder {
                case .sentencePiece(let e):
                    e.encode(text, into: &ids, merger: &merger)
                case .byteLevel(let e):
                    for part in addedTokens.split(text) {
                        switch part {
                        case .special(let id): ids.append(id)
                        case .text(let plain): e.encode(plain, into: &ids, merger: &merger)
                        }
                    }
                }
            }
        }
        return ids
    }

    /// The text of `ids`, as the reference library decodes it.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) -> String {
        var detokenizer = StreamingDetokenizer(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
        var text = ""
        for id in ids { text += detokenizer.append(id) }
        return text + detokenizer.finish()
    }

    /// Bytes a token stands for in decoded text (nil for control tokens and ids outside the vocabulary).
    func bytes(of id: Int) -> [UInt8]? {
        guard vocabulary.types.indices.contains(id) else { return nil }
        switch vocabulary.types[id] {
        case .control: return nil
        case .byte:
            if case .sentencePiece = encoder, let b = SentencePieceEncoder.byteValue(of: vocabulary.pieces[id]) { return [b] }
            return Array(vocabulary.pieces[id].utf8)
        default:
            switch encoder {
            case .sentencePiece:
                return Array(vocabulary.pieces[id].replacingOccurrences(of: "\u{2581}", with: " ").utf8)
            case .byteLevel:
                if vocabulary.types[id] == .userDefined { return Array(vocabulary.pieces[id].utf8) }
                var out: [UInt8] = []
                for scalar in vocabulary.pieces[id].unicodeScalars {
                    if let b = ByteLevelEncoder.characterToByte[scalar] { out.append(b) } else { out += Array(String(scalar).utf8) }
                }
                return out
            }
        }
    }
}
