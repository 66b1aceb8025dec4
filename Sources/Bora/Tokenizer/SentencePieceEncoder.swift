/// SentencePiece BPE (Llama 2, Mistral): normalization and segmentation exactly as the
/// `sentencepiece` library does them (normalizer.cc, bpe_model.cc, sentencepiece_processor.cc).
struct SentencePieceEncoder: Sendable {
    struct Options: Sendable, Equatable {
        /// Prepend "▁" to the text (sentencepiece's dummy prefix).
        var addDummyPrefix = true
        /// Hugging Face's Metaspace pre-tokenizer prepends "▁" only when the text does not already
        /// start with a space; sentencepiece always does.
        var dummyPrefixOnlyIfMissing = false
        var removeExtraWhitespaces = false
        var byteFallback = true
        /// Split the normalized text before every "▁" and merge each word alone (Metaspace split).
        var splitWords = false
        var unknownSurface = " \u{2047} "
    }

    let vocabulary: Vocabulary
    let scores: [Float]
    let options: Options
    let unknownID: Int
    /// Token id of each byte's `<0xNN>` piece.
    let byteIDs: [Int32]
    /// Pieces a merge may produce (normal, user-defined, unused).
    private let mergeable: [Bool]
    private let hasUnused: Bool
    /// No piece holds "▁" after another character (only leading "▁" or runs of "▁"), so no merge can
    /// cross the start of a word: words are merged separately, with small heaps, and give the same ids.
    private let mergesStayInWords: Bool
    private let userDefined: SpecialTokenMatcher
    /// Hugging Face BPE merges (`tokenizer.json`): pair → rank. Nil: merge by vocabulary scores.
    private let pairRanks: PairRankTable?

    init(vocabulary: Vocabulary, scores: [Float], options: Options, pairRanks: PairRankTable? = nil) throws(BoraError) {
        self.vocabulary = vocabulary
        self.scores = scores
        self.options = options
        self.pairRanks = pairRanks
        mergeable = vocabulary.types.map { $0 == .normal || $0 == .userDefined || $0 == .unused }
        hasUnused = vocabulary.types.contains(.unused)
        mergesStayInWords = pairRanks == nil && !vocabulary.types.contains(.unused) && !zip(vocabulary.pieces, vocabulary.types).contains { piece, type in
            guard type == .normal || type == .userDefined else { return false }
            let scalars = Array(piece.unicodeScalars)
            return scalars.indices.dropFirst().contains { scalars[$0] == "\u{2581}" && scalars[$0 - 1] != "\u{2581}" }
        }
        userDefined = SpecialTokenMatcher(tokens: vocabulary.ids(ofType: [.userDefined]).map { (vocabulary.pieces[$0], $0) })
        var byteIDs = [Int32](repeating: -1, count: 256)
        for id in vocabulary.ids(ofType: [.byte]) {
            if let byte = Self.byteValue(of: vocabulary.pieces[id]) { byteIDs[Int(byte)] = Int32(id) }
        }
        if options.byteFallback && byteIDs.contains(-1) {
            throw .invalidTokenizer("byte fallback is on but not all 256 <0xNN> pieces exist")
        }
        self.byteIDs = byteIDs
        if let unknown = vocabulary.types.firstIndex(of: .unknown) {
            unknownID = unknown
        } else if options.byteFallback {
            unknownID = -1  // never emitted: unknown text always falls back to bytes
        } else {
            throw .invalidTokenizer("no unknown piece is defined and byte fallback is off")
        }
    }

    /// "<0x41>" → 0x41.
    static func byteValue(of piece: String) -> UInt8? {
        let u = Array(piece.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
    }

    // MARK: Normalization

    /// Identity normalization with sentencepiece's whitespace rules: dummy prefix, spaces → "▁",
    /// optional removal of leading, trailing and repeated spaces.
    func normalize(_ text: String) -> [UInt8] {
        var input = Substring(text).utf8[...]
        var out: [UInt8] = []
        if options.removeExtraWhitespaces {
            while input.first == 0x20 { input = input.dropFirst() }
        }
        if input.isEmpty { return out }
        out.reserveCapacity(input.count + input.count / 2 + 3)
        if options.addDummyPrefix && !(options.dummyPrefixOnlyIfMissing && input.first == 0x20) {
            out += [0xE2, 0x96, 0x81]
        }
        var previousWasSpace = options.removeExtraWhitespaces
        for byte in input {
            if byte == 0x20 {
                if options.removeExtraWhitespaces && previousWasSpace { continue }
                out += [0xE2, 0x96, 0x81]
                previousWasSpace = options.removeExtraWhitespaces
            } else {
                out.append(byte)
                previousWasSpace = false
            }
        }
        if options.removeExtraWhitespaces {
            while out.count >= 3 && out[out.count - 3] == 0xE2 && out[out.count - 2] == 0x96 && out[out.count - 1] == 0x81 {
                out.removeLast(3)
            }
        }
        return out
    }

    // MARK: Encoding

    /// Appends the ids of `text` (no BOS/EOS) to `ids`.
    func encode(_ text: String, into ids: inout [Int], merger: inout BPEMerger) {
        let normalized = normalize(text)
        guard !normalized.isEmpty else { return }
        normalized.withUnsafeBufferPointer { buffer in
            if options.splitWords {
                var start = 0
                for i in 1...buffer.count where i == buffer.count || (buffer[i] == 0xE2 && i + 2 < buffer.count && buffer[i + 1] == 0x96 && buffer[i + 2] == 0x81) {
                    encodeNormalized(UnsafeBufferPointer(rebasing: buffer[start..<i]), into: &ids, merger: &merger)
                    start = i
                }
            } else if mergesStayInWords {
                // Cut before each "▁" that follows another character.
                var start = 0
                var i = 3
                while i <= buffer.count {
                    if i == buffer.count || (buffer[i] == 0xE2 && i + 2 < buffer.count && buffer[i + 1] == 0x96 && buffer[i + 2] == 0x81
                                             && !(buffer[i - 3] == 0xE2 && buffer[i - 2] == 0x96 && buffer[i - 1] == 0x81)) {
                        encodeNormalized(UnsafeBufferPointer(rebasing: buffer[start..<i]), into: &ids, merger: &merger)
                        start = i
                        i += 3
                    } else {
                        i += 1
                    }
                }
                if start < buffer.count { encodeNormalized(UnsafeBufferPointer(rebasing: buffer[start...]), into: &ids, merger: &merger) }
            } else {
                encodeNormalized(buffer, into: &ids, merger: &merger)
            }
        }
    }

    private func encodeNormalized(_ bytes: UnsafeBufferPointer<UInt8>, into ids: inout [Int], merger: inout BPEMerger) {
        let base = bytes.baseAddress!
        // Initial symbols: user-defined pieces (longest match, frozen), else one UTF-8 character.
        merger.symbols.removeAll(keepingCapacity: true)
        var i = 0
        while i < bytes.count {
            var length = Self.utf8Length(bytes[i])
            var frozen = false
            if let (matched, _) = userDefined.isEmpty ? nil : userDefined.match(bytes, at: i) {
                length = matched
                frozen = true
            }
            length = min(length, bytes.count - i)
            let n = Int32(merger.symbols.count)
            merger.symbols.append(BPESymbol(
                start: Int32(i), length: Int32(length), id: pieceID(base + i, length),
                prev: n - 1, next: i + length < bytes.count ? n + 1 : -1, frozen: frozen))
            i += length
        }

        var reverseMerges: [String: (String, String)] = [:]
        if let pairRanks {
            merger.run(base, rules: RankRules(table: pairRanks))
        } else if hasUnused {
            merger.run(base, rules: ScoreRules(encoder: self)) { merged, left, right in
                guard merged.id >= 0, self.vocabulary.types[Int(merged.id)] == .unused else { return }
                reverseMerges[Self.string(base, merged)] = (Self.string(base, left), Self.string(base, right))
            }
        } else {
            merger.run(base, rules: ScoreRules(encoder: self))
        }

        var previousWasUnknown = false
        func emit(_ id: Int, unknownBytes: UnsafeBufferPointer<UInt8>?) {
            if let unknownBytes {
                if options.byteFallback {
                    for b in unknownBytes { ids.append(Int(byteIDs[Int(b)])) }
                    previousWasUnknown = false
                } else {
                    if !previousWasUnknown { ids.append(unknownID) }
                    previousWasUnknown = true
                }
            } else {
                ids.append(id)
                previousWasUnknown = false
            }
        }
        func resegment(_ piece: String, depth: Int) {
            guard let id = vocabulary.id(of: piece), mergeable[id] else {
                var copy = Array(piece.utf8)
                copy.withUnsafeMutableBufferPointer { emit(unknownID, unknownBytes: UnsafeBufferPointer($0)) }
                return
            }
            if vocabulary.types[id] != .unused || depth > 100 { emit(id, unknownBytes: nil); return }
            guard let (left, right) = reverseMerges[piece] else {
                var copy = Array(piece.utf8)
                copy.withUnsafeMutableBufferPointer { emit(unknownID, unknownBytes: UnsafeBufferPointer($0)) }
                return
            }
            resegment(left, depth: depth + 1)
            resegment(right, depth: depth + 1)
        }

        for index in merger.survivors() {
            let s = merger.symbols[index]
            let piece = UnsafeBufferPointer(start: base + Int(s.start), count: Int(s.length))
            if s.id < 0 {
                emit(unknownID, unknownBytes: piece)
            } else if hasUnused && vocabulary.types[Int(s.id)] == .unused {
                resegment(Self.string(base, s), depth: 0)
            } else {
                emit(Int(s.id), unknownBytes: nil)
            }
        }
    }

    /// The id of a piece if a merge could produce it (or it is user-defined), else -1.
    @inline(__always)
    func pieceID(_ p: UnsafePointer<UInt8>, _ length: Int) -> Int32 {
        guard let id = vocabulary.index.lookup(p, length), mergeable[Int(id)] else { return -1 }
        return id
    }

    @inline(__always)
    static func utf8Length(_ lead: UInt8) -> Int {
        if lead < 0x80 { return 1 }
        if lead < 0xE0 { return 2 }
        if lead < 0xF0 { return 3 }
        return 4
    }

    private static func string(_ base: UnsafePointer<UInt8>, _ s: BPESymbol) -> String {
        String(decoding: UnsafeBufferPointer(start: base + Int(s.start), count: Int(s.length)), as: UTF8.self)
    }

    /// sentencepiece's rule: two symbols merge when their concatenation is a mergeable piece; its score decides.
    private struct ScoreRules: MergeRules {
        let encoder: SentencePieceEncoder
        @inline(__always)
        func merge(_ bytes: UnsafePointer<UInt8>, _ left: BPESymbol, _ right: BPESymbol) -> (score: Float, id: Int32)? {
            let id = encoder.pieceID(bytes + Int(left.start), Int(left.length + right.length))
            return id < 0 ? nil : (encoder.scores[Int(id)], id)
        }
    }
}

/// Merge ranks of Hugging Face BPE, keyed by the pair of token ids.
struct PairRankTable: Sendable {
    private var keys: [UInt64]
    private var ranks: [Int32]
    private var results: [Int32]
    private let mask: Int

    /// `merges[r] = (left id, right id, merged id)` for rank r.
    init(merges: [(Int32, Int32, Int32)]) {
        var size = 16
        while size < merges.count * 2 { size <<= 1 }
        keys = [UInt64](repeating: .max, count: size)
        ranks = [Int32](repeating: 0, count: size)
        results = [Int32](repeating: 0, count: size)
        mask = size - 1
        for (rank, m) in merges.enumerated() {
            let key = UInt64(UInt32(bitPattern: m.0)) << 32 | UInt64(UInt32(bitPattern: m.1))
            var i = Self.slot(key) & mask
            while keys[i] != .max && keys[i] != key { i = (i + 1) & mask }
            if keys[i] == key { continue }  // a repeated merge keeps its first (best) rank
            keys[i] = key
            ranks[i] = Int32(rank)
            results[i] = m.2
        }
    }

    @inline(__always)
    private static func slot(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 20)
    }

    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32) -> (rank: Int32, id: Int32)? {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        var i = Self.slot(key) & mask
        while true {
            let k = keys[i]
            if k == key { return (ranks[i], results[i]) }
            if k == .max { return nil }
            i = (i + 1) & mask
        }
    }
}

/// Hugging Face BPE's rule: a pair merges when the merge list holds it; lower ranks first.
struct RankRules: MergeRules {
    let table: PairRankTable
    @inline(__always)
    func merge(_ bytes: UnsafePointer<UInt8>, _ left: BPESymbol, _ right: BPESymbol) -> (score: Float, id: Int32)? {
        guard left.id >= 0, right.id >= 0, let m = table.lookup(left.id, right.id) else { return nil }
        return (-Float(m.rank), m.id)
    }
}
