/// One symbol of a word being merged: a byte range of the input and the token it currently is.
struct BPESymbol {
    var start: Int32
    var length: Int32
    var id: Int32        // -1 when the bytes are no token (only possible before merging)
    var prev: Int32
    var next: Int32
    var frozen: Bool     // user-defined symbols never merge
}

/// Decides whether two adjacent symbols merge, and how urgently (higher scores merge first).
protocol MergeRules {
    func merge(_ bytes: UnsafePointer<UInt8>, _ left: BPESymbol, _ right: BPESymbol) -> (score: Float, id: Int32)?
}

/// The BPE merge loop of sentencepiece's `bpe_model.cc`, shared by SentencePiece (scores) and
/// byte-level BPE (merge ranks): repeatedly merge the best adjacent pair, ties going to the leftmost.
struct BPEMerger {
    private struct Candidate {
        var score: Float
        var left: Int32
        var right: Int32
        var size: Int32
        var id: Int32
    }

    private var heap: [Candidate] = []
    var symbols: [BPESymbol] = []

    /// sentencepiece's `SymbolPairComparator`: true when `a` ranks below `b`. Scores are compared
    /// through their bit patterns exactly as sentencepiece does, so even ±0 order the same way.
    @inline(__always)
    private static func ranksBelow(_ a: Candidate, _ b: Candidate) -> Bool {
        let i1 = Int32(bitPattern: a.score.bitPattern), i2 = Int32(bitPattern: b.score.bitPattern)
        if (i1 & i2) < 0 { return i1 > i2 || (i1 == i2 && a.left > b.left) }
        let scoreLess = (i1 ^ i2) < 0 ? i1 < 0 : i1 < i2
        return scoreLess || (i1 == i2 && a.left > b.left)
    }

    private mutating func push(_ c: Candidate) {
        heap.append(c)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.ranksBelow(heap[parent], heap[i]) else { break }
            heap.swapAt(parent, i)
            i = parent
        }
    }

    private mutating func pop() -> Candidate {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var best = i
                if l < heap.count && Self.ranksBelow(heap[best], heap[l]) { best = l }
                if r < heap.count && Self.ranksBelow(heap[best], heap[r]) { best = r }
                if best == i { break }
                heap.swapAt(i, best)
                i = best
            }
        }
        return top
    }

    @inline(__always)
    private mutating func consider<R: MergeRules>(_ left: Int32, _ right: Int32, _ bytes: UnsafePointer<UInt8>, _ rules: R) {
        guard left >= 0, right >= 0 else { return }
        let l = symbols[Int(left)], r = symbols[Int(right)]
        guard !l.frozen, !r.frozen, let m = rules.merge(bytes, l, r) else { return }
        push(Candidate(score: m.score, left: left, right: right, size: l.length + r.length, id: m.id))
    }

    /// Merges `symbols` (already split and linked in order) until no pair merges.
    /// `onMerge` sees every performed merge (merged symbol, left part, right part).
    mutating func run<R: MergeRules>(_ bytes: UnsafePointer<UInt8>, rules: R, onMerge: ((BPESymbol, BPESymbol, BPESymbol) -> Void)? = nil) {
        heap.removeAll(keepingCapacity: true)
        guard symbols.count > 1 else { return }
        for i in 0..<(symbols.count - 1) { consider(Int32(i), Int32(i + 1), bytes, rules) }
        while !heap.isEmpty {
            let top = pop()
            let l = symbols[Int(top.left)], r = symbols[Int(top.right)]
            // Stale: one side was merged away or grew since this pair was queued.
            if l.length == 0 || r.length == 0 || l.length + r.length != top.size { continue }
            var merged = l
            merged.length = l.length + r.length
            merged.id = top.id
            merged.next = r.next
            symbols[Int(top.left)] = merged
            if r.next >= 0 { symbols[Int(r.next)].prev = top.left }
            symbols[Int(top.right)].length = 0
            onMerge?(merged, l, r)
            consider(merged.prev, top.left, bytes, rules)
            consider(top.left, merged.next, bytes, rules)
        }
    }

    /// Indices of the surviving symbols, in order.
    func survivors() -> [Int] {
        var result: [Int] = []
        var i = symbols.isEmpty ? -1 : 0
        while i >= 0 {
            result.append(i)
            i = Int(symbols[i].next)
        }
        return result
    }
}
