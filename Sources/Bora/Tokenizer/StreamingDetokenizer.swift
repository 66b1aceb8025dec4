import Foundation

/// Turns token ids into text one token at a time, emitting text as soon as it is complete UTF-8.
///
/// The concatenation of everything it returns equals the tokenizer's full `decode`, which follows
/// the reference libraries: sentencepiece for SentencePiece models (the first "▁" of the text is
/// dropped, invalid bytes become U+FFFD one by one) and Hugging Face's byte-level decoder for
/// byte-level models (invalid sequences become one U+FFFD each).
public struct StreamingDetokenizer: Sendable {
    public let tokenizer: Tokenizer
    public let skipSpecialTokens: Bool
    private var pending: [UInt8] = []
    private var emittedAny = false
    /// sentencepiece's `is_bos_ws`: the next piece's leading "▁" is the dummy prefix.
    private var atStartOfText: Bool

    /// - Parameter startOfText: true when the ids begin a text (a whole document, or a chat answer
    ///   shown on its own), so SentencePiece's dummy-prefix space is dropped; false when they continue
    ///   a prompt, so " Paris" after "The capital of France is" keeps its space.
    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = true, startOfText: Bool = true) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
        self.atStartOfText = startOfText
    }

    /// Bytes held back because they may begin a character the next token completes.
    public var heldBytes: Int { pending.count }

    /// Feeds one token; returns the text that is now complete.
    public mutating func append(_ id: Int) -> String {
        if tokenizer.isSentencePiece { return appendSentencePiece(id) }
        var out = ""
        guard let bytes = tokenizer.bytes(of: id) else {
            if !skipSpecialTokens {
                out = flushAll(perByte: false) + tokenizer.piece(id)
            }
            return out
        }
        pending += bytes
        return flushComplete(perByte: false)
    }

    /// Ends the stream; returns whatever was held back (incomplete bytes become U+FFFD).
    public mutating func finish() -> String {
        flushAll(perByte: tokenizer.isSentencePiece)
    }

    private mutating func appendSentencePiece(_ id: Int) -> String {
        let type = tokenizer.tokenType(id)
        if type == .byte, let byte = SentencePieceEncoder.byteValue(of: tokenizer.piece(id)) {
            pending.append(byte)
            return flushComplete(perByte: true)
        }
        var out = flushAll(perByte: true)
        if emittedAny { atStartOfText = false }
        if type == .control {
            if !skipSpecialTokens { out += tokenizer.piece(id); noteEmitted(out) }
            return out
        }
        var piece = Substring(tokenizer.piece(id))
        var strippedPrefix = false
        if atStartOfText, case .sentencePiece(let e) = tokenizer.encoder,
           e.options.addDummyPrefix || e.options.removeExtraWhitespaces, piece.hasPrefix("\u{2581}") {
            piece = piece.dropFirst()
            strippedPrefix = !e.options.removeExtraWhitespaces
        }
        let text: String
        if type == .unknown, case .sentencePiece(let e) = tokenizer.encoder {
            text = e.options.unknownSurface
        } else {
            text = piece.replacingOccurrences(of: "\u{2581}", with: " ")
        }
        out += text
        noteEmitted(out)
        if strippedPrefix || emittedAny { atStartOfText = false }
        return out
    }

    private mutating func noteEmitted(_ text: String) {
        if !text.isEmpty { emittedAny = true }
    }

    /// Emits the pending bytes except a trailing, still-valid, incomplete character.
    private mutating func flushComplete(perByte: Bool) -> String {
        let keep = UTF8Repair.incompleteSuffixLength(pending)
        guard pending.count > keep else { return "" }
        let text = UTF8Repair.decode(pending[..<(pending.count - keep)], perByte: perByte)
        pending.removeFirst(pending.count - keep)
        noteEmitted(text)
        return text
    }

    private mutating func flushAll(perByte: Bool) -> String {
        guard !pending.isEmpty else { return "" }
        let text = UTF8Repair.decode(pending[...], perByte: perByte)
        pending.removeAll(keepingCapacity: true)
        noteEmitted(text)
        return text
    }
}

/// UTF-8 validation with the two repair policies of the reference decoders.
enum UTF8Repair {
    /// Length of one valid UTF-8 character at `bytes[i...]`, or nil if none starts there.
    static func validCharacterLength(_ bytes: ArraySlice<UInt8>, at i: Int) -> Int? {
        let b0 = bytes[i]
        let need: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch b0 {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: need = 2
        case 0xE0: need = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: need = 3
        case 0xED: need = 3; high = 0x9F
        case 0xF0: need = 4; low = 0x90
        case 0xF1...0xF3: need = 4
        case 0xF4: need = 4; high = 0x8F
        default: return nil
        }
        guard i + need <= bytes.endIndex else { return nil }
        guard (low...high).contains(bytes[i + 1]) else { return nil }
        for k in 2..<need where !(0x80...0xBF).contains(bytes[i + k]) { return nil }
        return need
    }

    /// Bytes at the end that form a valid but incomplete character (0–3).
    static func incompleteSuffixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        for back in 1...min(3, n) {
            let b0 = bytes[n - back]
            guard b0 >= 0xC0 else { continue }   // continuation byte: keep looking for the lead
            let need: Int
            switch b0 {
            case 0xC2...0xDF: need = 2
            case 0xE0...0xEF: need = 3
            case 0xF0...0xF4: need = 4
            default: return 0
            }
            guard back < need else { return 0 }
            // The bytes present must be a valid prefix (second-byte ranges of E0, ED, F0, F4).
            if back >= 2 {
                let b1 = bytes[n - back + 1]
                let ok: Bool
                switch b0 {
                case 0xE0: ok = (0xA0...0xBF).contains(b1)
                case 0xED: ok = (0x80...0x9F).contains(b1)
                case 0xF0: ok = (0x90...0xBF).contains(b1)
                case 0xF4: ok = (0x80...0x8F).contains(b1)
                default: ok = (0x80...0xBF).contains(b1)
                }
                if !ok { return 0 }
                for k in 2..<back where !(0x80...0xBF).contains(bytes[n - back + k]) { return 0 }
            }
            return back
        }
        return 0
    }

    /// Decodes bytes, replacing invalid input with U+FFFD: one per byte (`perByte`, sentencepiece)
    /// or one per maximal invalid subpart (Hugging Face, Swift and the Unicode recommendation).
    static func decode(_ bytes: ArraySlice<UInt8>, perByte: Bool) -> String {
        guard perByte else { return String(decoding: bytes, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if let length = validCharacterLength(bytes, at: i) {
                out += bytes[i..<(i + length)]
                i += length
            } else {
                out += [0xEF, 0xBF, 0xBD]
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
