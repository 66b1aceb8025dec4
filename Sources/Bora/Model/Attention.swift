import CBoraKernels

/// Grouped-query attention of a chunk of queries over the cached keys plus the chunk's own keys,
/// under one mask (`AttentionWindow.isVisible`). Decode is the case of a one-token chunk.
struct Attention {
    let headCount: Int
    let kvHeadCount: Int
    let headDim: Int
    let window: AttentionWindow

    /// Scratch floats a thread needs when the cache holds `heldKeys` positions and the chunk has `chunk`.
    static func workspaceFloats(heldKeys: Int, chunk: Int, headDim: Int) -> Int {
        heldKeys + chunk + 2 * headDim
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
        let held = cache.heldPositions(length: start)
        let queryWidth = headCount * headDim
        let kvWidth = kvHeadCount * headDim
        let group = headCount / kvHeadCount
        let scale = 1 / Float(headDim).squareRoot()
        let candidates = held.count + count
        precondition(workspace.floatsPerThread >= Self.workspaceFloats(heldKeys: held.count, chunk: count, headDim: headDim))

        pool.parallelFor(count * headCount) { items, thread in
            let scores = workspace.floats(for: thread)
            let converted = scores + candidates  // one F16 row converted to F32
            for item in items {
                let t = item / headCount, head = item % headCount, kvHead = head / group
                let position = start + t
                let q = queries + t * queryWidth + head * headDim
                let cachedKeys = cache.keys(layer: layer, head: kvHead)
                let cachedValues = cache.values(layer: layer, head: kvHead)

                for (n, j) in held.enumerated() {
                    if window.isVisible(query: position, key: j) {
                        let k = row(cachedKeys, slot: cache.slot(of: j), type: cache.elementType, scratch: converted)
                        scores[n] = bora_dot_f32(q, k, headDim) * scale
                    } else {
                        scores[n] = -.infinity
                    }
                }
                for u in 0..<count {
                    let j = start + u
                    scores[held.count + u] = window.isVisible(query: position, key: j)
                        ? bora_dot_f32(q, keys + u * kvWidth + kvHead * headDim, headDim) * scale
                        : -.infinity
                }
                Activations.softmax(scores, count: candidates)

                let out = output + t * queryWidth + head * headDim
                out.initialize(repeating: 0, count: headDim)
                for (n, j) in held.enumerated() where scores[n] > 0 {
                    let v = row(cachedValues, slot: cache.slot(of: j), type: cache.elementType, scratch: converted)
                    accumulate(out, v, weight: scores[n])
                }
                for u in 0..<count where scores[held.count + u] > 0 {
                    accumulate(out, values + u * kvWidth + kvHead * headDim, weight: scores[held.count + u])
                }
            }
        }
    }

    @inline(__always)
    private func row(_ base: UnsafeMutableRawPointer, slot: Int, type: KVCacheType, scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        switch type {
        case .f32:
            return UnsafePointer(base.assumingMemoryBound(to: Float.self) + slot * headDim)
        case .f16:
            let source = base.assumingMemoryBound(to: UInt16.self) + slot * headDim
            for i in 0..<headDim { scratch[i] = floatFromHalf(source[i]) }
            return UnsafePointer(scratch)
        }
    }

    @inline(__always)
    private func accumulate(_ out: UnsafeMutablePointer<Float>, _ v: UnsafePointer<Float>, weight: Float) {
        for i in 0..<headDim { out[i] += weight * v[i] }
    }
}
