/// SentencePiece's (and GGUF's) token types.
public enum TokenType: Int, Sendable {
    case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

/// Token strings, their types and a byte-string index over them.
struct Vocabulary: Sendable {
    let pieces: [String]
    let types: [TokenType]
    let index: ByteStringTable

    init(pieces: [String], types: [TokenType]) {
        precondition(pieces.count == types.count)
        self.pieces = pieces
        self.types = types
        self.index = ByteStringTable(keys: pieces.lazy.map { Array($0.utf8) }, count: pieces.count)
    }

    var count: Int { pieces.count }

    func id(of piece: String) -> Int? { index.lookup(piece).map(Int.init) }

    /// Ids of tokens of the given types.
    func ids(ofType wanted: Set<TokenType>) -> [Int] { types.indices.filter { wanted.contains(types[$0]) } }
}

/// Matches whole special-token strings inside text (longest match first).
struct SpecialTokenMatcher: Sendable {
    private let table: ByteStringTable
    private let lengthsByFirstByte: [[Int]]   // candidate lengths, longest first, per first byte

    init(tokens: [(String, Int)]) {
        var table = ByteStringTable(capacity: max(tokens.count, 1))
        var lengths = [[Int]](repeating: [], count: 256)
        for (text, id) in tokens where !text.isEmpty {
            let bytes = Array(text.utf8)
            if table.insert(bytes, value: Int32(id)) {
                lengths[Int(bytes[0])].append(bytes.count)
            }
        }
        self.table = table
        lengthsByFirstByte = lengths.map { Array(Set($0)).sorted(by: >) }
        isEmpty = lengths.allSatisfy { $0.isEmpty }
    }

    let isEmpty: Bool

    /// The longest token starting at `offset`: its byte length and id.
    @inline(__always)
    func match(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> (length: Int, id: Int)? {
        for length in lengthsByFirstByte[Int(bytes[offset])] where offset + length <= bytes.count {
            if let id = table.lookup(bytes.baseAddress! + offset, length) { return (length, Int(id)) }
        }
        return nil
    }

    /// Splits text into plain segments and special tokens.
    func split(_ text: String) -> [TextSegment] {
        guard !isEmpty else { return [.text(text)] }
        var utf8 = Array(text.utf8)
        return utf8.withUnsafeMutableBufferPointer { buffer -> [TextSegment] in
            let bytes = UnsafeBufferPointer(buffer)
            var segments: [TextSegment] = []
            var plainStart = 0
            var i = 0
            while i < bytes.count {
                if let (length, id) = match(bytes, at: i) {
                    if plainStart < i {
                        segments.append(.text(String(decoding: bytes[plainStart..<i], as: UTF8.self)))
                    }
                    segments.append(.special(id))
                    i += length
                    plainStart = i
                } else {
                    i += 1
                }
            }
            if plainStart < bytes.count { segments.append(.text(String(decoding: bytes[plainStart...], as: UTF8.self))) }
            return segments
        }
    }
}

/// A piece of text to tokenize: plain text, or an already known special token.
public enum TextSegment: Sendable, Equatable {
    case text(String)
    case special(Int)
}
