/// The regex splits GPT-2-style byte-level BPE applies before merging, written out as hand-made
/// matchers (no regex engine) over Unicode scalars. Character classes follow Oniguruma, which
/// Hugging Face `tokenizers` uses: `\p{L}` letters, `\p{N}` numbers, `\s` = White_Space.
public enum PreTokenizer: String, Sendable, CaseIterable {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// Llama 3's: case-insensitive contractions, `[^\r\n\p{L}\p{N}]?\p{L}+`, `\p{N}{1,3}`, ...
    case llama3
    /// SmolLM: every number character on its own, then the GPT-2 split (HF: Digits + ByteLevel).
    case smollm

    /// GGUF `tokenizer.ggml.pre` names.
    public init?(ggufName: String) {
        switch ggufName {
        case "gpt2", "default": self = .gpt2
        case "llama-bpe", "llama3", "llama-v3": self = .llama3
        case "smollm": self = .smollm
        default: return nil
        }
    }

    private enum CharacterClass: UInt8 { case letter, number, whitespace, other }

    @inline(__always)
    private static func classify(_ s: Unicode.Scalar) -> CharacterClass {
        if s.value < 0x80 {
            let v = s.value
            if (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) { return .letter }
            if v >= 0x30 && v <= 0x39 { return .number }
            if v == 0x20 || (v >= 0x09 && v <= 0x0D) { return .whitespace }
            return .other
        }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return s.properties.isWhitespace ? .whitespace : .other
        }
    }

    /// Splits `text` into the pieces BPE merges separately (as UTF-8 byte ranges of `text.utf8`).
    func split(_ text: String) -> [Range<Int>] {
        let scalars = Array(text.unicodeScalars)
        let classes = scalars.map(Self.classify)
        var offsets = [Int](repeating: 0, count: scalars.count + 1)
        for (i, s) in scalars.enumerated() { offsets[i + 1] = offsets[i] + UTF8.width(s) }
        var pieces: [Range<Int>] = []
        func emit(_ range: Range<Int>) {
            var i = range.lowerBound
            while i < range.upperBound {
                let end = self == .llama3 ? llama3Match(scalars, classes, i, range.upperBound) : gpt2Match(scalars, classes, i, range.upperBound)
                pieces.append(offsets[i]..<offsets[end])
                i = end
            }
        }
        if self == .smollm {
            var start = 0
            for i in 0..<scalars.count where classes[i] == .number {
                emit(start..<i)
                pieces.append(offsets[i]..<offsets[i + 1])
                start = i + 1
            }
            emit(start..<scalars.count)
        } else {
            emit(0..<scalars.count)
        }
        return pieces
    }

    private func whitespaceRunEnd(_ c: [CharacterClass], _ i: Int, _ n: Int) -> Int {
        var k = i
        while k < n && c[k] == .whitespace { k += 1 }
        return k
    }

    /// End of the GPT-2 regex match starting at `i` (text ends at `n`).
    private func gpt2Match(_ s: [Unicode.Scalar], _ c: [CharacterClass], _ i: Int, _ n: Int) -> Int {
        if s[i] == "'" && i + 1 < n {
            let a = s[i + 1]
            if a == "s" || a == "t" || a == "m" || a == "d" { return i + 2 }
            if i + 2 < n {
                let b = s[i + 2]
                if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return i + 3 }
            }
        }
        let j = s[i] == " " && i + 1 < n ? i + 1 : i
        for wanted in [CharacterClass.letter, .number, .other] where c[j] == wanted {
            var k = j + 1
            while k < n && c[k] == wanted { k += 1 }
            return k
        }
        if c[i] == .whitespace {
            let k = whitespaceRunEnd(c, i, n)
            if k == n || k - 1 == i { return k }   // \s+(?!\S) to the end, or a lone \s via \s+
            return k - 1                            // leave the last space to prefix the next word
        }
        return i + 1
    }

    /// End of the Llama 3 regex match starting at `i`.
    private func llama3Match(_ s: [Unicode.Scalar], _ c: [CharacterClass], _ i: Int, _ n: Int) -> Int {
        if s[i] == "'" && i + 1 < n {
            let a = Character(s[i + 1]).lowercased()
            if a == "s" || a == "t" || a == "m" || a == "d" { return i + 2 }
            if i + 2 < n {
                let pair = a + Character(s[i + 2]).lowercased()
                if pair == "re" || pair == "ve" || pair == "ll" { return i + 3 }
            }
        }
        let isNewline = { (k: Int) in s[k] == "\r" || s[k] == "\n" }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        var j = i
        if c[i] != .letter && c[i] != .number && !isNewline(i) && i + 1 < n && c[i + 1] == .letter { j = i + 1 }
        if c[j] == .letter {
            var k = j + 1
            while k < n && c[k] == .letter { k += 1 }
            return k
        }
        // \p{N}{1,3}
        if c[i] == .number {
            var k = i + 1
            while k < n && k < i + 3 && c[k] == .number { k += 1 }
            return k
        }
        //  ?[^\s\p{L}\p{N}]+[\r\n]*
        let o = s[i] == " " && i + 1 < n ? i + 1 : i
        if c[o] == .other {
            var k = o + 1
            while k < n && c[k] == .other { k += 1 }
            while k < n && isNewline(k) { k += 1 }
            return k
        }
        if c[i] == .whitespace {
            let k = whitespaceRunEnd(c, i, n)
            // \s*[\r\n]+ : up to the last newline of the run
            if let last = (i..<k).last(where: isNewline) { return last + 1 }
            if k == n || k - 1 == i { return k }
            return k - 1
        }
        return i + 1
    }
}
