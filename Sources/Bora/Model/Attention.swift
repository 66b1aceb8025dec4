import CBoraKernels

/// Grouped-query attention of a chunk of queries over the cached keys plus the chunk's own keys,
/// under one mask (`AttentionWindow.visibleKeys`). Decode is the case of a one-token chunk.
///
/// Flash-attention style: a block of up to `queryTile` tokens × the query heads of one KV head walks
/// the keys it can see in tiles of `BORA_KEY_TILE` positions (aligned to absolute positions), each
/// tile's keys and values converted once to F32 for all the block's rows, with an online softmax
/// (bora_attention_tile), so no score row longer than a tile is ever held. Threads take (KV head,
/// query block) items in turn. A row's result depends only on its query and the keys it sees: decode
/// and every chunking of a prompt give the same bits. One instance per context: it is also the
/// thread pool's job, and its scratch is allocated once, so a call allocates nothing.
final class Attention: ParallelJob {
    let headCount: Int
    let kvHeadCount: Int
    let headDim: Int
    let window: AttentionWindow
    /// Tokens per query block.
    static let queryTile = 16
    static let keyTile = Int(BORA_KEY_TILE)

    init(headCount: Int, kvHeadCount: Int, headDim: Int, window: AttentionWindow, threads: Int) {
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.window = window
        scratch = (0..<threads).map { _ in Scratch(rows: Self.queryTile * (headCount / kvHeadCount), headDim: headDim) }
    }

    // The call in progress.
    private var queries: UnsafePointer<Float>?
    private var keys: UnsafePointer<Float>?
    private var values: UnsafePointer<Float>?
    private var count = 0
    private var start = 0
    private var cache: (any KVCache)?
    private var layer = 0
    private var output: UnsafeMutablePointer<Float>?

    var group: Int { headCount / kvHeadCount }

    /// One thread's buffers: the block's queries, running softmax state and outputs, visible key
    /// ranges, scores of one tile, and one tile of keys and values in F32.
    final class Scratch {
        let q, o, m, l, s, k, v: UnsafeMutablePointer<Float>
        let first, last: UnsafeMutablePointer<Int64>

        init(rows: Int, headDim: Int) {
            q = .allocate(capacity: rows * headDim)
            o = .allocate(capacity: rows * headDim)
            m = .allocate(capacity: rows)
            l = .allocate(capacity: rows)
            s = .allocate(capacity: rows * Attention.keyTile)
            k = .allocate(capacity: Attention.keyTile * headDim)
            v = .allocate(capacity: Attention.keyTile * headDim)
            first = .allocate(capacity: rows)
            last = .allocate(capacity: rows)
        }

        deinit {
            for p in [q, o, m, l, s, k, v] { p.deallocate() }
            first.deallocate()
            last.deallocate()
        }
    }

    private let scratch: [Scratch]

    /// - Parameters:
    ///   - queries: `count` rows of `headCount × headDim`, already rotated.
    ///   - keys, values: the chunk's own `count` rows of `kvHeadCount × headDim` (keys rotated).
    ///   - start: absolute position of the chunk's first token; the cache holds what precedes it.
    ///   - output: `count` rows of `headCount × headDim`.
    func callAsFunction(
        queries: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        count: Int, start: Int, cache: any KVCache, layer: Int,
        output: UnsafeMutablePointer<Float>, pool: ThreadPool
    ) {
        precondition(pool.threadCount <= scratch.count, "attention scratch made for fewer threads")
        (self.queries, self.keys, self.values, self.count, self.start) = (queries, keys, values, count, start)
        (self.cache, self.layer, self.output) = (cache, layer, output)
        pool.run(self)
        self.cache = nil
    }

    func execute(thread: Int, threads: Int) {
        guard let queries, let keys, let values, let cache, let output else { return }
        let blocks = (count + Self.queryTile - 1) / Self.queryTile
        let items = blocks * kvHeadCount
        // Items in turn, so the long blocks at the end of a causal chunk are shared out too.
        for item in stride(from: thread, to: items, by: threads) {
            block(item / kvHeadCount, kvHead: item % kvHeadCount, queries: queries, keys: keys, values: values,
                  cache: cache, output: output, scratch: scratch[thread])
        }
    }

    private func block(_ b: Int, kvHead: Int, queries: UnsafePointer<Float>, keys: UnsafePointer<Float>,
                       values: UnsafePointer<Float>, cache: any KVCache, output: UnsafeMutablePointer<Float>, scratch x: Scratch) {
        let hd = headDim, group = self.group
        let queryWidth = headCount * hd, kvWidth = kvHeadCount * hd
        let t0 = b * Self.queryTile, t1 = min(count, t0 + Self.queryTile)
        let rows = (t1 - t0) * group
        for t in t0..<t1 {
            let visible = window.visibleKeys(query: start + t)
            for g in 0..<group {
                let r = (t - t0) * group + g
                (x.q + r * hd).update(from: queries + t * queryWidth + (kvHead * group + g) * hd, count: hd)
                x.first[r] = Int64(visible.lowerBound)
                x.last[r] = Int64(visible.upperBound)
            }
        }
        x.m.initialize(repeating: -.infinity, count: rows)
        x.l.initialize(repeating: 0, count: rows)
        x.o.initialize(repeating: 0, count: rows * hd)

        // Keys the block sees: from its first query's window start to its last query. The cache
        // holds every one of them before `start` (the rolling cache keeps the last W).
        let low = window.visibleKeys(query: start + t0).lowerBound, high = start + t1 - 1
        let isHalf = cache.elementType == .f16
        let cachedKeys = cache.keys(layer: layer, head: kvHead), cachedValues = cache.values(layer: layer, head: kvHead)
        let scale = 1 / Float(hd).squareRoot()
        var tileStart = low / Self.keyTile * Self.keyTile
        while tileStart <= high {
            let n = min(Self.keyTile, high - tileStart + 1)
            for p in max(tileStart, low)..<(tileStart + n) {
                let j = p - tileStart
                if p < start {
                    let offset = cache.slot(of: p) * hd
                    if isHalf {
                        bora_f16_to_f32(cachedKeys.assumingMemoryBound(to: UInt16.self) + offset, x.k + j * hd, hd)
                        bora_f16_to_f32(cachedValues.assumingMemoryBound(to: UInt16.self) + offset, x.v + j * hd, hd)
                    } else {
                        (x.k + j * hd).update(from: cachedKeys.assumingMemoryBound(to: Float.self) + offset, count: hd)
                        (x.v + j * hd).update(from: cachedValues.assumingMemoryBound(to: Float.self) + offset, count: hd)
                    }
                } else {
                    (x.k + j * hd).update(from: keys + (p - start) * kvWidth + kvHead * hd, count: hd)
                    (x.v + j * hd).update(from: values + (p - start) * kvWidth + kvHead * hd, count: hd)
                }
            }
            bora_attention_tile(x.q, Int64(rows), Int64(hd), x.k, x.v, Int64(n), Int64(tileStart), x.first, x.last,
                                scale, x.m, x.l, x.o, x.s)
            tileStart += Self.keyTile
        }
        for t in t0..<t1 {
            for g in 0..<group {
                let r = (t - t0) * group + g
                let out = output + t * queryWidth + (kvHead * group + g) * hd
                let inverse = 1 / x.l[r]
                for i in 0..<hd { out[i] = x.o[r * hd + i] * inverse }
            }
        }
    }
}
