import Foundation
import CBoraKernels
import Testing
@testable import Bora

/// The attention of a whole chunk or of one token, over a cache holding thousands of keys: spans of
/// keys folded in order, the decode split over spans, and the window at span boundaries.
@Suite struct AttentionTests {
    static let headDim = 64, kvHeads = 3, heads = 6

    /// `attention` of positions `chunk` with `cache` first given every position before it (rows of
    /// `keys` and `values`, kvHeads × headDim wide; `queries` heads × headDim).
    static func attend(_ chunk: Range<Int>, queries: [Float], keys: [Float], values: [Float], cache: any KVCache,
                       attention: Attention, pool: ThreadPool) -> [Float] {
        let kvWidth = kvHeads * headDim, queryWidth = heads * headDim
        keys.withUnsafeBufferPointer { k in
            values.withUnsafeBufferPointer { v in
                cache.store(layer: 0, keys: k.baseAddress!, values: v.baseAddress!, positions: 0..<chunk.lowerBound)
            }
        }
        var output = [Float](repeating: .nan, count: chunk.count * queryWidth)
        let q = Array(queries[(chunk.lowerBound * queryWidth)..<(chunk.upperBound * queryWidth)])
        let k = Array(keys[(chunk.lowerBound * kvWidth)..<(chunk.upperBound * kvWidth)])
        let v = Array(values[(chunk.lowerBound * kvWidth)..<(chunk.upperBound * kvWidth)])
        output.withUnsafeMutableBufferPointer { out in
            attention(queries: q, keys: k, values: v, count: chunk.count, start: chunk.lowerBound, cache: cache, layer: 0,
                      output: out.baseAddress!, pool: pool)
        }
        return output
    }

    /// Random keys and values for positions 0..<length in a one-layer F32 cache, and random queries.
    struct Case {
        let cache: FullKVCache
        let keys: [Float], values: [Float], queries: [Float]
        let length: Int

        init(length: Int, seed: UInt64) {
            var rng = KernelTests.RNG(state: seed)
            let kvWidth = AttentionTests.kvHeads * AttentionTests.headDim
            keys = (0..<(length * kvWidth)).map { _ in rng.float() * 2 }
            values = (0..<(length * kvWidth)).map { _ in rng.float() }
            queries = (0..<(length * AttentionTests.heads * AttentionTests.headDim)).map { _ in rng.float() * 4 }
            cache = try! FullKVCache(layers: 1, kvHeads: AttentionTests.kvHeads, headDim: AttentionTests.headDim, capacity: length, type: .f32)
            self.length = length
        }

        /// Evaluates positions `chunk` with the cache holding every position before it.
        func attend(_ chunk: Range<Int>, window: AttentionWindow, threads: Int) -> [Float] {
            let attention = Attention(headCount: AttentionTests.heads, kvHeadCount: AttentionTests.kvHeads, headDim: AttentionTests.headDim,
                                      window: window, maximumKeys: length, maximumRows: length, threads: threads)
            return AttentionTests.attend(chunk, queries: queries, keys: keys, values: values, cache: cache,
                                         attention: attention, pool: try! ThreadPool(threads: threads))
        }

        /// The attention of the query at `position`, head h, as a direct softmax in Double.
        func expected(position: Int, head h: Int, window: AttentionWindow) -> [Double] {
            let hd = AttentionTests.headDim, kvWidth = AttentionTests.kvHeads * hd
            let kvHead = h / (AttentionTests.heads / AttentionTests.kvHeads)
            let query = (position * AttentionTests.heads + h) * hd
            let visible = Array(window.visibleKeys(query: position))
            var scores = [Double]()
            for j in visible {
                var dot = 0.0
                for i in 0..<hd { dot += Double(queries[query + i]) * Double(keys[j * kvWidth + kvHead * hd + i]) }
                scores.append(dot / Double(hd).squareRoot())
            }
            let top = scores.max()!
            let weights = scores.map { Foundation.exp($0 - top) }
            let total = weights.reduce(0, +)
            var out = [Double](repeating: 0, count: hd)
            for (n, j) in visible.enumerated() {
                for i in 0..<hd { out[i] += weights[n] / total * Double(values[j * kvWidth + kvHead * hd + i]) }
            }
            return out
        }
    }

    /// One token over 2,600 keys (eleven spans): split over spans on 2 threads (3 KV heads do not
    /// share out evenly), walked by one thread, and as the last row of a 5-token chunk — the same bits,
    /// and the softmax in Double to F32 rounding. Chunks of one query block (a speculative
    /// verification step: 2, 5, 16 tokens) are split too, a 17-token chunk is not: each gives the
    /// bits one thread gives walking it whole, and each row those of its token decoded alone. With a
    /// window the keys start mid-span.
    @Test(arguments: [nil, 1500] as [Int?])
    func decodeSplitOverSpansMatchesChunk(windowSize: Int?) {
        let length = 2600
        let c = Case(length: length, seed: 77)
        let window = AttentionWindow(size: windowSize)
        let last = length - 1
        let split = c.attend(last..<length, window: window, threads: 2)
        let single = c.attend(last..<length, window: window, threads: 1)
        let chunk = c.attend((length - 5)..<length, window: window, threads: 2)
        let width = Self.heads * Self.headDim
        func differing(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Int { zip(a, b).filter { $0 != $1 }.count }
        #expect(split.count == width && single.count == width)
        #expect(differing(split[...], single[...]) == 0, "the decode split changed the bits")
        #expect(differing(chunk[(4 * width)...], split[...]) == 0, "decode and the chunk's last row differ")
        for h in 0..<Self.heads {
            let expected = c.expected(position: last, head: h, window: window)
            for i in 0..<Self.headDim {
                #expect(abs(Double(split[h * Self.headDim + i]) - expected[i]) <= 1e-5, "head \(h) [\(i)]")
            }
        }
        for count in [2, 5, 16, 17] {
            let positions = (length - count)..<length
            let twoThreads = c.attend(positions, window: window, threads: 2)
            let oneThread = c.attend(positions, window: window, threads: 1)
            #expect(differing(twoThreads[...], oneThread[...]) == 0, "a \(count)-token chunk split over spans changed the bits")
            for t in [0, count / 2, count - 1] {
                let alone = c.attend((positions.lowerBound + t)..<(positions.lowerBound + t + 1), window: window, threads: 2)
                #expect(differing(twoThreads[(t * width)..<((t + 1) * width)], alone[...]) == 0,
                        "row \(t) of a \(count)-token chunk differs from its token decoded alone")
            }
        }
    }

    /// Folding spans: a state split at any tile boundary and merged equals the direct softmax, and a
    /// span that saw no key leaves the state as it was.
    @Test func mergeFoldsSpans() {
        var rng = KernelTests.RNG(state: 5)
        let hd = 32, keys = 192, tile = Int(BORA_KEY_TILE)
        let q = (0..<hd).map { _ in rng.float() * 6 }
        let k = (0..<(keys * hd)).map { _ in rng.float() }
        let v = (0..<(keys * hd)).map { _ in rng.float() }
        let scale = 1 / Float(hd).squareRoot()
        func state(_ tiles: Range<Int>) -> (m: [Float], l: [Float], o: [Float]) {
            var m: [Float] = [-.infinity], l: [Float] = [0], o = [Float](repeating: 0, count: hd), s = [Float](repeating: 0, count: tile)
            for t in tiles {
                bora_attention_tile(q, 1, Int64(hd), Array(k[(t * tile * hd)..<((t + 1) * tile * hd)]),
                                    Array(v[(t * tile * hd)..<((t + 1) * tile * hd)]), Int64(tile), Int64(t * tile),
                                    [0], [Int64(keys - 1)], scale, &m, &l, &o, &s)
            }
            return (m, l, o)
        }
        let whole = state(0..<3)
        var total = state(0..<1)
        let rest = state(1..<3)
        bora_attention_merge(1, Int64(hd), &total.m, &total.l, &total.o, rest.m, rest.l, rest.o)
        let empty = state(0..<0)
        let before = total
        bora_attention_merge(1, Int64(hd), &total.m, &total.l, &total.o, empty.m, empty.l, empty.o)
        #expect(total.o == before.o && total.l == before.l && total.m == before.m)
        #expect(total.m == whole.m)
        for i in 0..<hd {
            #expect(abs(total.o[i] / total.l[0] - whole.o[i] / whole.l[0]) <= 1e-6)
        }
    }

    /// An F16 cache read in place (whole tiles in consecutive slots) gives the bits of an F32 cache
    /// holding the same values, full or rolling (tiles across the rolling buffer's wrap are copied),
    /// in decode and in a chunk, with AVX-512 and with AVX2.
    @Test(arguments: [nil, 1500] as [Int?])
    func f16CacheInPlaceMatchesF32(windowSize: Int?) throws {
        let length = 2600, hd = Self.headDim, kvWidth = Self.kvHeads * hd, queryWidth = Self.heads * hd
        var rng = KernelTests.RNG(state: 99)
        func half(_ x: Float) -> Float { floatFromHalf(halfFromFloat(x)) }
        let keys = (0..<(length * kvWidth)).map { _ in half(rng.float() * 2) }
        let values = (0..<(length * kvWidth)).map { _ in half(rng.float()) }
        let queries = (0..<(length * queryWidth)).map { _ in rng.float() * 4 }
        let window = AttentionWindow(size: windowSize)
        func caches(_ type: KVCacheType) throws -> any KVCache {
            if let w = windowSize { return try RollingKVCache(layers: 1, kvHeads: Self.kvHeads, headDim: hd, window: w, type: type) }
            return try FullKVCache(layers: 1, kvHeads: Self.kvHeads, headDim: hd, capacity: length, type: type)
        }
        let pool = try ThreadPool(threads: 2)
        for chunk in [(length - 1)..<length, (length - 5)..<length] {
            var outputs: [[Float]] = []
            for type in [KVCacheType.f32, .f16] {
                let cache = try caches(type)
                let attention = Attention(headCount: Self.heads, kvHeadCount: Self.kvHeads, headDim: hd, window: window,
                                          maximumKeys: windowSize ?? length, maximumRows: length, threads: 2)
                let out = Self.attend(chunk, queries: queries, keys: keys, values: values, cache: cache, attention: attention, pool: pool)
                outputs.append(out)
            }
            #expect(outputs[0] == outputs[1], "window \(String(describing: windowSize)), \(chunk.count) tokens: F16 in place differs from F32")
        }
        // The kernels directly: each instruction set's F16 tile equals its F32 tile on converted keys.
        let n = 64, rows = 6
        let kh = (0..<(n * hd)).map { _ in halfFromFloat(rng.float() * 2) }, vh = (0..<(n * hd)).map { _ in halfFromFloat(rng.float()) }
        let kf = kh.map(floatFromHalf), vf = vh.map(floatFromHalf)
        let q = (0..<(rows * hd)).map { _ in rng.float() * 4 }
        let first: [Int64] = [0, 3, 10, 0, 63, 20], last: [Int64] = [63, 40, 63, 5, 63, 63]
        for isa in KernelTests.simdLevels {
            var m1 = [Float](repeating: -.infinity, count: rows), l1 = [Float](repeating: 0, count: rows)
            var o1 = [Float](repeating: 0, count: rows * hd), s1 = [Float](repeating: 0, count: rows * n)
            var (m2, l2, o2, s2) = (m1, l1, o1, s1)
            bora_attention_tile_isa(isa, q, Int64(rows), Int64(hd), kf, vf, Int64(n), 0, first, last, 0.125, &m1, &l1, &o1, &s1)
            #expect(bora_attention_tile_f16_isa(isa, q, Int64(rows), Int64(hd), kh, vh, Int64(n), 0, first, last, 0.125, &m2, &l2, &o2, &s2) == 1)
            #expect(o1 == o2 && l1 == l2 && m1 == m2, "isa \(isa)")
        }
    }
}
