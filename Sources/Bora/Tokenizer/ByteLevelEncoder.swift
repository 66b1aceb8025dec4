/// GPT-2-style byte-level BPE (SmolLM2, Llama 3, ...): text is split by a pre-tokenizer, each
/// piece's bytes are mapped to printable characters (GPT-2's `bytes_to_unicode`), then merged by
/// rank.
struct ByteLevelEncoder: Sendable {
    let vocabulary: Vocabulary
    let preTokenizer: PreTokenizer
    let ignoreMerges: Bool
    let unknownID: Int?
    private let ranks: PairRankTable
    /// Token id of the single mapped character of each byte.
    private let byteTokenIDs: [Int32]
    /// UTF-8 of the mapped character of each byte.
    static let byteToCharacter: [[UInt8]] = {
        var table = [[UInt8]](repeating: [], count: 256)
        var extra: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            let scalar = Unicode.Scalar(printable ? UInt32(b) : { defer { extra += 1 }; return extra }())!
            table[b] = Array(String(Character(scalar)).utf8)
        }
        return table
    }()
    /// Mapped character → byte, for decoding.
    static let characterToByte: [Unicode.Scalar: UInt8] = {
        var map: [Unicode.Scalar: UInt8] = [:]
        for b in 0..<256 {
            map[String(decoding: byteToCharacter[b], as: UTF8.self).unicodeScalars.first!] = UInt8(b)
        }
        return map
    }()

    /// `merges` are "left right" strings in rank order, as GGUF and tokenizer.json store them.
    init(vocabulary: Vocabulary, merges: [(String, String)], preTokenizer: PreTokenizer,
         ignoreMerges: Bool, unknownID: Int?) throws(BoraError) {
        self.vocabulary = vocabulary
        self.preTokenizer = preTokenizer
        self.ignoreMerges = ignoreMerges
        self.unknownID = unknownID
        var table: [(Int32, Int32, Int32)] = []
        table.reserveCapacity(merges.count)
        for (left, right) in merges {
            guard let l = vocabulary.index.lookup(left), let r = vocabulary.index.lookup(right),
                  let m = vocabulary.index.lookup(left + right) else {
                throw .invalidTokenizer("merge '\(left) \(right)' names a token that is not in the vocabulary")
            }
            table.append((l, r, m))
        }
        ranks = PairRankTable(merges: table)
        byteTokenIDs = Self.byteToCharacter.map { vocabulary.index.lookup($0) ?? -1 }
    }

    /// Appends the ids of `text` (no special-token handling) to `ids`.
    func encode(_ text: String, into ids: inout [Int], merger: inout BPEMerger) {
        let utf8 = Array(text.utf8)
        for piece in preTokenizer.split(text) {
            encodeWord(utf8[piece], into: &ids, merger: &merger)
        }
    }

    private func encodeWord(_ word: ArraySlice<UInt8>, into ids: inout [Int], merger: inout BPEMerger) {
        var mapped: [UInt8] = []
        mapped.reserveCapacity(word.count * 2)
        merger.symbols.removeAll(keepingCapacity: true)
        for byte in word {
            let n = Int32(merger.symbols.count)
            let character = Self.byteToCharacter[Int(byte)]
            merger.symbols.append(BPESymbol(
                start: Int32(mapped.count), length: Int32(character.count), id: byteTokenIDs[Int(byte)],
                prev: n - 1, next: n + 1, frozen: false))
            mapped += character
        }
        guard !merger.symbols.isEmpty else { return }
        merger.symbols[merger.symbols.count - 1].next = -1
        // Llama 3's tokenizer (`ignore_merges`) takes a word that is itself a token as is.
        if ignoreMerges, let id = vocabulary.index.lookup(mapped) {
            ids.append(Int(id))
            return
        }
        mapped.withUnsafeBufferPointer { merger.run($0.baseAddress!, rules: RankRules(table: ranks)) }
        for index in merger.survivors() {
            let id = merger.symbols[index].id
            if id >= 0 { ids.append(Int(id)) } else if let unknownID { ids.append(unknownID) }
        }
    }
}
