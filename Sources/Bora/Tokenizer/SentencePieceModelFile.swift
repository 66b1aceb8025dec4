/// Reads sentencepiece's `tokenizer.model` (a serialized `ModelProto`) with a minimal protobuf
/// decoder: only the fields Bora needs are kept; unknown fields are skipped as protobuf requires.
struct SentencePieceModelFile {
    var pieces: [String] = []
    var scores: [Float] = []
    var types: [TokenType] = []
    var modelType = 1            // TrainerSpec.model_type: 1 unigram, 2 BPE
    var byteFallback = false
    var unknownSurface: String?
    var normalizerName = ""
    var precompiledCharsmapBytes = 0
    var addDummyPrefix = true
    var removeExtraWhitespaces = true
    var escapeWhitespaces = true
    var treatWhitespaceAsSuffix = false
    var bosID = 1
    var eosID = 2

    init(bytes: UnsafeRawBufferPointer, path: String) throws(BoraError) {
        var reader = ProtobufReader(bytes: bytes, path: path)
        while !reader.atEnd {
            let (field, wire) = try reader.key()
            switch (field, wire) {
            case (1, 2):
                var piece = try reader.message()
                var text = "", score: Float = 0, type = TokenType.normal
                while !piece.atEnd {
                    let (f, w) = try piece.key()
                    switch (f, w) {
                    case (1, 2): text = String(decoding: try piece.field(), as: UTF8.self)
                    case (2, 5): score = try piece.fixed32Float()
                    case (3, 0):
                        let raw = try piece.varint()
                        guard let t = Int(exactly: raw).flatMap(TokenType.init(rawValue:)) else {
                            throw .invalidTokenizer("\(path): unknown piece type \(raw)")
                        }
                        type = t
                    default: try piece.skip(wire: w)
                    }
                }
                pieces.append(text); scores.append(score); types.append(type)
            case (2, 2):
                var trainer = try reader.message()
                while !trainer.atEnd {
                    let (f, w) = try trainer.key()
                    switch (f, w) {
                    case (3, 0):
                        let raw = try trainer.varint()
                        guard let type = Int(exactly: raw) else { throw .invalidTokenizer("\(path): unknown model type \(raw)") }
                        modelType = type
                    case (24, 0): treatWhitespaceAsSuffix = try trainer.varint() != 0
                    case (35, 0): byteFallback = try trainer.varint() != 0
                    case (41, 0): bosID = Int(Int32(truncatingIfNeeded: try trainer.varint()))
                    case (42, 0): eosID = Int(Int32(truncatingIfNeeded: try trainer.varint()))
                    case (44, 2): unknownSurface = String(decoding: try trainer.field(), as: UTF8.self)
                    default: try trainer.skip(wire: w)
                    }
                }
            case (3, 2):
                var normalizer = try reader.message()
                while !normalizer.atEnd {
                    let (f, w) = try normalizer.key()
                    switch (f, w) {
                    case (1, 2): normalizerName = String(decoding: try normalizer.field(), as: UTF8.self)
                    case (2, 2): precompiledCharsmapBytes = try normalizer.field().count
                    case (3, 0): addDummyPrefix = try normalizer.varint() != 0
                    case (4, 0): removeExtraWhitespaces = try normalizer.varint() != 0
                    case (5, 0): escapeWhitespaces = try normalizer.varint() != 0
                    default: try normalizer.skip(wire: w)
                    }
                }
            default:
                try reader.skip(wire: wire)
            }
        }
        guard !pieces.isEmpty else { throw .invalidTokenizer("\(path) holds no pieces (is it a sentencepiece model?)") }
    }
}

/// Just enough protobuf wire-format decoding for `ModelProto`, bounds-checked throughout.
struct ProtobufReader {
    let bytes: UnsafeRawBufferPointer
    let path: String
    private var offset = 0

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    var atEnd: Bool { offset >= bytes.count }

    mutating func varint() throws(BoraError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.count, shift < 64 else { throw .invalidTokenizer("\(path): malformed protobuf varint") }
            let b = bytes[offset]
            offset += 1
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    mutating func key() throws(BoraError) -> (field: Int, wire: Int) {
        let k = try varint()
        return (Int(k >> 3), Int(k & 7))
    }

    mutating func field() throws(BoraError) -> UnsafeRawBufferPointer {
        let length = try varint()
        guard length <= UInt64(bytes.count - offset) else { throw .truncated(path: path, what: "a protobuf field") }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(length))])
        offset += Int(length)
        return slice
    }

    mutating func message() throws(BoraError) -> ProtobufReader {
        ProtobufReader(bytes: try field(), path: path)
    }

    mutating func fixed32Float() throws(BoraError) -> Float {
        guard offset + 4 <= bytes.count else { throw .truncated(path: path, what: "a protobuf float") }
        let value = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        offset += 4
        return value
    }

    mutating func skip(wire: Int) throws(BoraError) {
        switch wire {
        case 0: _ = try varint()
        case 1: guard offset + 8 <= bytes.count else { throw .truncated(path: path, what: "a protobuf field") }; offset += 8
        case 2: _ = try field()
        case 5: guard offset + 4 <= bytes.count else { throw .truncated(path: path, what: "a protobuf field") }; offset += 4
        default: throw .invalidTokenizer("\(path): unsupported protobuf wire type \(wire)")
        }
    }
}
