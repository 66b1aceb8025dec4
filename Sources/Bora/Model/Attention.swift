import CBoraKernels

/// Grouped-query attention of a chunk of queries over the cached keys plus the chunk's own keys,
/// under one mask (`AttentionWindow.isVisible`). Decode is the case of a one-token chunk.
///
/// Work is split by (token, KV head): each key and value row is read once for all the query heads
/// that share it. One instance per context: it is also the thread pool's job, so a call allocates nothing.
final class Attention: ParallelJob {
    let headCount: Int
    let kvHeadCount: Int
    let headDim: Int
    let window: AttentionWindow

    init(headCount: Int, kvHeadCount: Int, headDim: Int, window: AttentionWindow) {
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.window = window
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
    private var workspace: Workspace?

    var group: Int { headCount / kvHeadCount }

    /// Scratch floats a thread needs when the cache holds `heldKeys` positions and the chunk has `chunk`.
    static func workspaceFloats(heldKeys: Int, chunk: Int, group: Int) -> Int {
        group * (heldKeys + chunk)
    }

    /// - Parameters:
    ///   - queries: `count` rows of `headCount × headDim`, already rotated.
    ///   - keys, values: the chunk's own `count` rows of `kvHeadCount × headDim` (keys rotated).
    ///   - start: absolute position of the chunk's first token; the cache holds what precedes it.
    ///   - output: `count` rows of `headCount × headDim`.
    func callAsFunction(
        queries: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        count: Int, start: Int, cache: any KVCache, layer: Int,
        output: UnsafeMutablePointer<Float>, pool: ThreadPool, workspace: Workspace
    ) {
        precondition(workspace.floatsPerThread >= Self.workspaceFloats(heldKeys: cache.heldPositions(length: start).count, chunk: count, group: group))
        (self.queries, self.keys, self.values, self.count, self.start) = (queries, keys, values, count, start)
        (self.cache, self.layer, self.output, self.workspace) = (cache, layer, output, workspace)
        pool.run(self)
        self.cache = nil
        self.workspace = nil
    }

    func execute(thread: Int, threads: Int) {
        guard let queries, let keys, let values, let cache, let output, let workspace else { return }
        let items = ThreadPool.share(of: count * kvHeadCount, thread: thread, threads: threads)
        let held = cache.heldPositions(length: start)
        let queryWidth = headCount * headDim
        let kvWidth = kvHeadCount * headDim
        let group = self.group
        let scale = 1 / Float(headDim).squareRoot()
        let candidates = held.count + count
        let isHalf = cache.elementType == .f16
        let scratch = workspace.floats(for: thread)
        for item in items {
            let t = item / kvHeadCount, kvHead = item % kvHeadCount
            let position = start + t
            let cachedKeys = cache.keys(layer: layer, head: kvHead)
            let cachedValues = cache.values(layer: layer, head: kvHead)
            let firstQuery = queries + t * queryWidth + kvHead * group * headDim

            // Scores: group rows of `candidates` (cached keys oldest first, then the chunk's).
            for (n, j) in held.enumerated() {
                let visible = window.isVisible(query: position, key: j)
                let offset = cache.slot(of: j) * headDim
                for g in 0..<group {
                    let q = firstQuery + g * headDim
                    scratch[g * candidates + n] = !visible ? -.infinity : isHalf
                        ? bora_dot_f32_f16(q, cachedKeys.assumingMemoryBound(to: UInt16.self) + offset, headDim) * scale
                        : bora_dot_f32(q, cachedKeys.assumingMemoryBound(to: Float.self) + offset, headDim) * scale
                }
            }
            for u in 0..<count {
                let visible = window.isVisible(query: position, key: start + u)
                let k = keys + u * kvWidth + kvHead * headDim
                for g in 0..<group {
                    scratch[g * candidates + held.count + u] = visible ? bora_dot_f32(firstQuery + g * headDim, k, headDim) * scale : -.infinity
                }
            }
            for g in 0..<group { bora_softmax(scratch + g * candidates, candidates) }

            let firstOut = output + t * queryWidth + kvHead * group * headDim
            firstOut.initialize(repeating: 0, count: group * headDim)
            for (n, j) in held.enumerated() {
                let offset = cache.slot(of: j) * headDim
                for g in 0..<group {
                    let weight = scratch[g * candidates + n]
                    guard weight > 0 else { continue }
                    if isHalf {
                        bora_axpy_f16(firstOut + g * headDim, weight, cachedValues.assumingMemoryBound(to: UInt16.self) + offset, headDim)
                    } else {
                        bora_axpy_f32(firstOut + g * headDim, weight, cachedValues.assumingMemoryBound(to: Float.self) + offset, headDim)
                    }
                }
            }
            for u in 0..<count {
                let v = values + u * kvWidth + kvHead * headDim
                for g in 0..<group {
                    let weight = scratch[g * candidates + held.count + u]
                    if weight > 0 { bora_axpy_f32(firstOut + g * headDim, weight, v, headDim) }
                }
            }
        }
    }
}
