import CBoraKernels
import Synchronization

/// Grouped-query attention of a chunk of queries over the cached keys plus the chunk's own keys,
/// under one mask (`AttentionWindow.visibleKeys`). Decode is the case of a one-token chunk.
///
/// Flash-attention style: a block of up to `queryTile` tokens × the query heads of one KV head walks
/// the keys it can see in tiles of `BORA_KEY_TILE` positions (aligned to absolute positions), each
/// tile's keys and values read where they lie when they lie in one run (the cache's slots, or the
/// chunk's own K/V rows) and gathered once for all the block's rows otherwise, with an online softmax
/// (bora_attention_tile), so no score row longer than a tile is ever held. Tiles are grouped in spans
/// of `keySpan` positions (also aligned to absolute positions): each span's softmax state starts
/// afresh and is folded into the rows' total in span order (bora_attention_merge). Threads take
/// (KV head, query block) items in turn; a chunk of one query block (decode, a speculative
/// verification step) whose KV heads do not share out evenly over the threads (SmolLM2's 3 on 2
/// threads) is split over spans as well: threads take (KV head, span) items as they come free,
/// then fold each head's spans in span order. A row's result depends only on its query and the
/// keys it sees: decode, split or not, and every chunking of a prompt give the same bits. A batched
/// step holds several sequences (segments), each over its own cache: their (query block, KV head)
/// items are dealt out together, and a row's bits do not depend on what else is in the step. One
/// instance per forward pass: it is also the thread pool's job, and its scratch is allocated once,
/// so a call allocates nothing.
final class Attention: ParallelJob {
    let headCount: Int
    let kvHeadCount: Int
    let headDim: Int
    let window: AttentionWindow
    /// Tokens per query block.
    static let queryTile = 16
    static let keyTile = Int(BORA_KEY_TILE)
    /// Positions per span of keys: long enough that folding spans costs nothing beside the span's
    /// work (a fold is rows × head dim multiply-adds, a span 256 × that twice over), short enough
    /// that the split's items share out evenly: at depth 1,100 SmolLM2's 3 heads make 15 items,
    /// where spans of 1,024 positions made 3 full ones and 3 of 77 keys, and one of two threads
    /// did nearly all the work.
    static let keySpan = 4 * keyTile
    /// The most spans one query block's keys can touch, for the split's partial states.
    let maximumSpans: Int
    /// Rows of one (KV head, span) partial state: a query block's (0 when every thread count up
    /// to the pool's shares the KV heads out evenly, so the split never runs).
    private let partialRows: Int

    /// - Parameters:
    ///   - maximumKeys: the most keys one query can see (W, or the cache's length).
    ///   - maximumRows: the most rows (tokens) one call serves, all sequences together.
    ///   - maximumSegments: the most sequences one call serves.
    init(headCount: Int, kvHeadCount: Int, headDim: Int, window: AttentionWindow, maximumKeys: Int,
         maximumRows: Int, maximumSegments: Int = 1, threads: Int) {
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.window = window
        scratch = (0..<threads).map { _ in Scratch(rows: Self.queryTile * (headCount / kvHeadCount), headDim: headDim) }
        // A query block's keys: up to `maximumKeys` before its first token, and its own.
        maximumSpans = (max(1, maximumKeys) + Self.queryTile - 1) / Self.keySpan + 2
        partialRows = (1...max(1, threads)).contains { kvHeadCount % $0 != 0 } ? Self.queryTile * (headCount / kvHeadCount) : 0
        partials = .allocate(capacity: max(1, kvHeadCount * maximumSpans * Self.partialFloats(rows: partialRows, headDim: headDim)))
        self.maximumSegments = max(1, maximumSegments)
        itemStarts = .allocate(capacity: self.maximumSegments + 1)
        self.maximumRows = max(1, maximumRows)
        headKeys = .allocate(capacity: self.maximumRows * kvHeadCount * headDim)
        headValues = .allocate(capacity: self.maximumRows * kvHeadCount * headDim)
    }

    deinit {
        partials.deallocate()
        itemStarts.deallocate()
        headKeys.deallocate()
        headValues.deallocate()
    }

    /// The rows of one sequence in a step: `count` rows from row `row` of the step's buffers, at
    /// positions `start..<start + count`, over that sequence's cache (which holds what precedes `start`).
    struct Segment {
        let row: Int
        let count: Int
        let start: Int
        let cache: any KVCache
    }

    // The call in progress.
    private var queries: UnsafePointer<Float>?
    /// The step's own keys and values by KV head: head h's row r at (h · stepRows + r) · headDim,
    /// copied once per call. A chunk's tiles are then runs of whole rows, read in place. In the
    /// step's layout a key sits between the other heads' (1 KB apart on TinyLlama, 4 KB on the 7B
    /// models, which maps a tile's keys onto a few L1 sets), so each query block gathered each tile
    /// of them afresh: 3% of a 2,048-token prompt on TinyLlama-shaped Q4_K_M was that copying.
    private let headKeys: UnsafeMutablePointer<Float>
    private let headValues: UnsafeMutablePointer<Float>
    private let maximumRows: Int
    /// Rows of the call in progress (the step's tokens, all sequences).
    private var stepRows = 0
    private var segments: [Segment] = []
    /// Where each segment's (query block, KV head) items start in the list of the step's items.
    private let itemStarts: UnsafeMutablePointer<Int>
    private let maximumSegments: Int
    private var layer = 0
    private var output: UnsafeMutablePointer<Float>?
    private var phase = Phase.blocks
    /// The next (query block, KV head) item to take: threads take items as they finish theirs, so
    /// items of different lengths (sequences at different depths) share out evenly. Which thread
    /// computes an item never changes its bits.
    private let nextItem = Atomic<Int>(0)

    /// What the pool's threads do in `execute`.
    private enum Phase {
        /// (KV head, query block) items, each walking all its spans.
        case blocks
        /// The split: (KV head, span) items into `partials`, spans `first..<first + count`, taken
        /// as threads come free.
        case spans(first: Int, count: Int)
        /// The split's second half: each KV head folds its spans' partial states in span order.
        case fold(spans: Int)
    }

    var group: Int { headCount / kvHeadCount }

    /// One thread's buffers: the block's queries, running softmax state and outputs, a span's own
    /// state, visible key ranges, scores of one tile, and one tile of keys and values in F32.
    final class Scratch {
        let q, o, m, l, so, sm, sl, s, k, v: UnsafeMutablePointer<Float>
        let first, last: UnsafeMutablePointer<Int64>

        init(rows: Int, headDim: Int) {
            q = .allocate(capacity: rows * headDim)
            o = .allocate(capacity: rows * headDim)
            m = .allocate(capacity: rows)
            l = .allocate(capacity: rows)
            so = .allocate(capacity: rows * headDim)
            sm = .allocate(capacity: rows)
            sl = .allocate(capacity: rows)
            s = .allocate(capacity: rows * Attention.keyTile)
            k = .allocate(capacity: Attention.keyTile * headDim)
            v = .allocate(capacity: Attention.keyTile * headDim)
            first = .allocate(capacity: rows)
            last = .allocate(capacity: rows)
        }

        deinit {
            for p in [q, o, m, l, so, sm, sl, s, k, v] { p.deallocate() }
            first.deallocate()
            last.deallocate()
        }
    }

    private let scratch: [Scratch]
    /// Softmax states of the decode split, per (KV head, span): m and l of `group` rows, then their outputs.
    private let partials: UnsafeMutablePointer<Float>

    private static func partialFloats(rows: Int, headDim: Int) -> Int { rows * (headDim + 2) }

    /// The state (m, l, o) of `rows` rows of one (KV head, span) item of the split.
    private func partial(kvHead: Int, span: Int, rows: Int) -> (m: UnsafeMutablePointer<Float>, l: UnsafeMutablePointer<Float>, o: UnsafeMutablePointer<Float>) {
        let base = partials + (kvHead * maximumSpans + span) * Self.partialFloats(rows: partialRows, headDim: headDim)
        return (base, base + rows, base + 2 * rows)
    }

    /// - Parameters:
    ///   - queries: the step's rows of `headCount × headDim`, already rotated.
    ///   - keys, values: the step's own rows of `kvHeadCount × headDim` (keys rotated).
    ///   - segments: which rows belong to which sequence, in row order.
    ///   - output: the step's rows of `headCount × headDim`.
    func callAsFunction(
        queries: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        segments: [Segment], layer: Int, output: UnsafeMutablePointer<Float>, pool: ThreadPool
    ) {
        precondition(pool.threadCount <= scratch.count, "attention scratch made for fewer threads")
        precondition(segments.count <= maximumSegments, "attention made for fewer sequences")
        let rows = segments.last.map { $0.row + $0.count } ?? 0
        precondition(rows <= maximumRows, "attention made for fewer rows")
        let hd = headDim, kvWidth = kvHeadCount * headDim
        for h in 0..<kvHeadCount {
            for r in 0..<rows {
                (headKeys + (h * rows + r) * hd).update(from: keys + r * kvWidth + h * hd, count: hd)
                (headValues + (h * rows + r) * hd).update(from: values + r * kvWidth + h * hd, count: hd)
            }
        }
        (self.queries, self.segments, stepRows) = (queries, segments, rows)
        (self.layer, self.output) = (layer, output)
        itemStarts[0] = 0
        for (i, segment) in segments.enumerated() {
            itemStarts[i + 1] = itemStarts[i] + (segment.count + Self.queryTile - 1) / Self.queryTile * kvHeadCount
        }
        let spans = segments.count == 1 ? spanRange(keys: keyRange(tokens: 0..<segments[0].count, start: segments[0].start)) : 0...0
        if segments.count == 1, segments[0].count <= Self.queryTile, spans.count > 1, kvHeadCount % pool.threadCount != 0 {
            precondition(spans.count <= maximumSpans && segments[0].count * group <= partialRows, "attention made for fewer keys or threads")
            phase = .spans(first: spans.lowerBound, count: spans.count)
            nextItem.store(0, ordering: .relaxed)
            pool.run(self)
            phase = .fold(spans: spans.count)
            pool.run(self)
        } else {
            phase = .blocks
            nextItem.store(0, ordering: .relaxed)
            pool.run(self)
        }
        self.segments = []
    }

    /// A one-sequence call: `count` rows at positions `start..<start + count` (builds the segment
    /// list, so it allocates; the forward pass keeps its own list).
    func callAsFunction(
        queries: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        count: Int, start: Int, cache: any KVCache, layer: Int,
        output: UnsafeMutablePointer<Float>, pool: ThreadPool
    ) {
        self(queries: queries, keys: keys, values: values, segments: [Segment(row: 0, count: count, start: start, cache: cache)],
             layer: layer, output: output, pool: pool)
    }

    func execute(thread: Int, threads: Int) {
        guard let queries, let output else { return }
        let x = scratch[thread]
        let queryWidth = headCount * headDim
        switch phase {
        case .blocks:
            let items = itemStarts[segments.count]
            var s = 0
            // Items as threads come free, so the long blocks at the end of a causal chunk and the
            // deep sequences of a batch are shared out too.
            while true {
                let item = nextItem.wrappingAdd(1, ordering: .relaxed).oldValue
                guard item < items else { break }
                while item >= itemStarts[s + 1] { s += 1 }
                let segment = segments[s]
                let local = item - itemStarts[s]
                let b = local / kvHeadCount, kvHead = local % kvHeadCount
                let tokens = (b * Self.queryTile)..<min(segment.count, (b + 1) * Self.queryTile)
                let rows = prepare(tokens: tokens, start: segment.start, kvHead: kvHead,
                                   queries: queries + segment.row * queryWidth, scratch: x)
                let keyRange = keyRange(tokens: tokens, start: segment.start)
                let spans = spanRange(keys: keyRange)
                for span in spans {
                    // The first span's state is the total; each later one is folded into it.
                    let state = span == spans.lowerBound ? (x.m, x.l, x.o) : (x.sm, x.sl, x.so)
                    walk(span: span, keys: keyRange, start: segment.start, rows: rows, kvHead: kvHead, state: state,
                         chunkRow: segment.row, cache: segment.cache, scratch: x)
                    if span > spans.lowerBound { bora_attention_merge(Int64(rows), Int64(headDim), x.m, x.l, x.o, x.sm, x.sl, x.so) }
                }
                write(tokens: tokens, kvHead: kvHead, state: (x.l, x.o), output: output + segment.row * queryWidth)
            }
        case .spans(let first, let spanCount):
            let segment = segments[0]
            let tokens = 0..<segment.count
            let keyRange = keyRange(tokens: tokens, start: segment.start)
            // Items in span order, every head's span before the next span: spans differ in length
            // (the first and last are partial), and threads taking items as they come free even
            // that out.
            while true {
                let item = nextItem.wrappingAdd(1, ordering: .relaxed).oldValue
                guard item < kvHeadCount * spanCount else { break }
                let kvHead = item % kvHeadCount, span = item / kvHeadCount
                let rows = prepare(tokens: tokens, start: segment.start, kvHead: kvHead, queries: queries, scratch: x)
                walk(span: first + span, keys: keyRange, start: segment.start, rows: rows, kvHead: kvHead,
                     state: partial(kvHead: kvHead, span: span, rows: rows), chunkRow: 0, cache: segment.cache, scratch: x)
            }
        case .fold(let spanCount):
            let segment = segments[0]
            let rows = segment.count * group
            for kvHead in stride(from: thread, to: kvHeadCount, by: threads) {
                let total = partial(kvHead: kvHead, span: 0, rows: rows)
                for span in 1..<spanCount {
                    let next = partial(kvHead: kvHead, span: span, rows: rows)
                    bora_attention_merge(Int64(rows), Int64(headDim), total.m, total.l, total.o, next.m, next.l, next.o)
                }
                write(tokens: 0..<segment.count, kvHead: kvHead, state: (total.l, total.o), output: output)
            }
        }
    }

    /// Keys the chunk's tokens see together: from the first token's window start to the last token.
    /// The cache holds every one of them before `start` (the rolling cache keeps the last W).
    private func keyRange(tokens: Range<Int>, start: Int) -> ClosedRange<Int> {
        window.visibleKeys(query: start + tokens.lowerBound).lowerBound...(start + tokens.upperBound - 1)
    }

    private func spanRange(keys: ClosedRange<Int>) -> ClosedRange<Int> {
        (keys.lowerBound / Self.keySpan)...(keys.upperBound / Self.keySpan)
    }

    /// Copies the tokens' queries of one KV head's query heads into the scratch, with each row's
    /// visible keys; returns the number of rows.
    private func prepare(tokens: Range<Int>, start: Int, kvHead: Int, queries: UnsafePointer<Float>, scratch x: Scratch) -> Int {
        let hd = headDim, group = self.group, queryWidth = headCount * hd
        for t in tokens {
            let visible = window.visibleKeys(query: start + t)
            for g in 0..<group {
                let r = (t - tokens.lowerBound) * group + g
                (x.q + r * hd).update(from: queries + t * queryWidth + (kvHead * group + g) * hd, count: hd)
                x.first[r] = Int64(visible.lowerBound)
                x.last[r] = Int64(visible.upperBound)
            }
        }
        return tokens.count * group
    }

    /// The softmax state of the prepared rows over the keys of `keys` in one span, from scratch.
    private func walk(span: Int, keys keyRange: ClosedRange<Int>, start: Int, rows: Int, kvHead: Int,
                      state: (m: UnsafeMutablePointer<Float>, l: UnsafeMutablePointer<Float>, o: UnsafeMutablePointer<Float>),
                      chunkRow: Int, cache: any KVCache, scratch x: Scratch) {
        let hd = headDim
        // The segment's own keys and values of this head, position `start` first.
        let keys = headKeys + (kvHead * stepRows + chunkRow) * hd, values = headValues + (kvHead * stepRows + chunkRow) * hd
        state.m.initialize(repeating: -.infinity, count: rows)
        state.l.initialize(repeating: 0, count: rows)
        state.o.initialize(repeating: 0, count: rows * hd)
        let low = max(keyRange.lowerBound, span * Self.keySpan), high = min(keyRange.upperBound, (span + 1) * Self.keySpan - 1)
        guard low <= high else { return }
        let isHalf = cache.elementType == .f16
        let cachedKeys = cache.keys(layer: layer, head: kvHead), cachedValues = cache.values(layer: layer, head: kvHead)
        let scale = 1 / Float(hd).squareRoot()
        var tileStart = low / Self.keyTile * Self.keyTile
        while tileStart <= high {
            let n = min(Self.keyTile, high - tileStart + 1)
            let first = max(tileStart, low), last = tileStart + n - 1
            let count = Int64(last - first + 1)
            // A tile wholly in the cache, in consecutive slots, or wholly in the chunk is read where it
            // lies (F16 converted as it loads). The same bits as copying it first: the kernel starts
            // at the same first key, and keys before it are visible to none of the rows.
            if last < start, cache.slot(of: last) - cache.slot(of: first) == last - first {
                let offset = cache.slot(of: first) * hd
                if isHalf {
                    if bora_attention_tile_f16(x.q, Int64(rows), Int64(hd), cachedKeys.assumingMemoryBound(to: UInt16.self) + offset,
                                               cachedValues.assumingMemoryBound(to: UInt16.self) + offset, count,
                                               Int64(first), x.first, x.last, scale, state.m, state.l, state.o, x.s) != 0 {
                        tileStart += Self.keyTile
                        continue
                    }
                } else {
                    bora_attention_tile(x.q, Int64(rows), Int64(hd), cachedKeys.assumingMemoryBound(to: Float.self) + offset,
                                        cachedValues.assumingMemoryBound(to: Float.self) + offset, count,
                                        Int64(first), x.first, x.last, scale, state.m, state.l, state.o, x.s)
                    tileStart += Self.keyTile
                    continue
                }
            } else if first >= start {
                let offset = (first - start) * hd
                bora_attention_tile(x.q, Int64(rows), Int64(hd), keys + offset, values + offset, count,
                                    Int64(first), x.first, x.last, scale, state.m, state.l, state.o, x.s)
                tileStart += Self.keyTile
                continue
            }
            // A tile across the cache's end and the chunk or the rolling buffer's wrap, or an F16 one
            // where the instruction set has no F16 tile: gathered in F32.
            for p in first..<(tileStart + n) {
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
                    (x.k + j * hd).update(from: keys + (p - start) * hd, count: hd)
                    (x.v + j * hd).update(from: values + (p - start) * hd, count: hd)
                }
            }
            bora_attention_tile(x.q, Int64(rows), Int64(hd), x.k, x.v, Int64(n), Int64(tileStart), x.first, x.last,
                                scale, state.m, state.l, state.o, x.s)
            tileStart += Self.keyTile
        }
    }

    /// Output rows o / l of the tokens, for one KV head's query heads.
    private func write(tokens: Range<Int>, kvHead: Int, state: (l: UnsafeMutablePointer<Float>, o: UnsafeMutablePointer<Float>),
                       output: UnsafeMutablePointer<Float>) {
        let hd = headDim, group = self.group, queryWidth = headCount * hd
        for t in tokens {
            for g in 0..<group {
                let r = (t - tokens.lowerBound) * group + g
                let out = output + t * queryWidth + (kvHead * group + g) * hd
                let inverse = 1 / state.l[r]
                for i in 0..<hd { out[i] = state.o[r * hd + i] * inverse }
            }
        }
    }
}
