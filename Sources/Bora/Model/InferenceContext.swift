import CBoraKernels

/// Options of an inference context.
public struct ContextOptions: Sendable {
    /// The most positions the context holds. Models without a sliding window: the KV cache's size
    /// (default: the model's context length). Sliding-window models keep only W positions in their
    /// rolling cache and may run past their context length; this caps them (default: no cap).
    public var maxContext: Int?
    /// Tokens per prefill chunk; defaults to W for sliding-window models, 512 otherwise.
    public var chunkSize: Int?
    /// Worker threads, the caller included; defaults to the number of physical cores.
    public var threads: Int?
    /// Storage of cached keys and values (F16 halves the memory and the attention's reads).
    public var kvCacheType: KVCacheType
    public var kernels: KernelChoice

    public init(maxContext: Int? = nil, chunkSize: Int? = nil, threads: Int? = nil,
                kvCacheType: KVCacheType = .f16, kernels: KernelChoice = .fast) {
        self.maxContext = maxContext
        self.chunkSize = chunkSize
        self.threads = threads
        self.kvCacheType = kvCacheType
        self.kernels = kernels
    }
}

/// The mutable state of one sequence: its KV cache, scratch buffers and thread pool.
///
/// Tokens are fed with `evaluate`; each call continues the sequence where the last one stopped.
/// Not thread-safe: use one context from one task at a time.
public final class InferenceContext {
    public let model: LanguageModel
    public let cache: any KVCache
    public let window: AttentionWindow
    public let chunkSize: Int
    public let pool: ThreadPool
    public let kernels: KernelChoice
    /// Positions evaluated so far.
    public private(set) var length = 0
    /// The most positions this context can hold (nil: unbounded, a rolling cache without a cap).
    public let positionLimit: Int?

    /// The cache's memory (the same object as `cache`).
    private let storage: KVStorage
    private let buffers: ForwardBuffers
    private let activations: Activations
    private let workspace: Workspace
    private let rope: RoPE
    private let attention: Attention

    public init(model: LanguageModel, options: ContextOptions = .init()) throws(BoraError) {
        let c = model.config
        self.model = model
        if let requested = options.maxContext, requested < 1 {
            throw .invalidArgument("the context must hold at least one position, got \(requested)")
        }
        // A window at least as long as the context never hides a key: plain causal attention then.
        if let w = c.slidingWindow, w < (options.maxContext ?? c.contextLength) {
            window = AttentionWindow(size: w)
            let rolling = try RollingKVCache(layers: c.layerCount, kvHeads: c.kvHeadCount, headDim: c.headDim, window: w, type: options.kvCacheType)
            (cache, storage) = (rolling, rolling)
            positionLimit = options.maxContext
        } else {
            let capacity = options.maxContext ?? c.contextLength
            window = AttentionWindow(size: nil)
            let full = try FullKVCache(layers: c.layerCount, kvHeads: c.kvHeadCount, headDim: c.headDim, capacity: capacity, type: options.kvCacheType)
            (cache, storage) = (full, full)
            positionLimit = capacity
        }
        let chunk = options.chunkSize ?? window.size ?? 512
        guard chunk >= 1 else { throw .invalidArgument("the chunk size must be at least 1, got \(chunk)") }
        chunkSize = min(chunk, cache.maximumLength ?? chunk)
        // The chunk's activation buffers (ForwardBuffers, Activations), about two of each row.
        let rowFloats = 2 * c.embeddingDim + 2 * c.queryDim + 2 * c.kvDim + c.headDim
        try MemoryBudget.require(chunkSize, rowFloats, 2 * MemoryLayout<Float>.size, for: "the activations of a \(chunkSize)-token chunk")
        pool = try ThreadPool(threads: options.threads)
        kernels = options.kernels
        buffers = ForwardBuffers(config: c, chunk: chunkSize)
        activations = Activations(capacity: max(chunkSize * max(c.embeddingDim, c.queryDim),
                                                buffers.feedForwardRows * c.feedForwardDim))
        workspace = Workspace(threadCount: pool.threadCount, floatsPerThread: max(c.embeddingDim, c.feedForwardDim, c.queryDim))
        rope = RoPE(headDim: c.headDim, theta: c.ropeTheta, style: c.ropeStyle)
        attention = Attention(headCount: c.headCount, kvHeadCount: c.kvHeadCount, headDim: c.headDim, window: window,
                              maximumKeys: window.size ?? cache.maximumLength ?? cache.slotCount, threads: pool.threadCount)
    }

    /// Forgets the sequence.
    public func reset() { length = 0 }

    /// Whether the sequence can be cut back to its first `newLength` positions: always with a full
    /// cache; with a rolling cache only while no position has been overwritten.
    public func canTruncate(to newLength: Int) -> Bool {
        guard newLength >= 0, newLength <= length else { return false }
        return newLength == length || cache.maximumLength != nil || length <= cache.slotCount
    }

    /// Forgets every position from `newLength` on, keeping the cache of the ones before.
    public func truncate(to newLength: Int) throws(BoraError) {
        guard canTruncate(to: newLength) else {
            throw .invalidArgument("cannot cut the sequence back to \(newLength) of \(length) positions: the rolling cache has overwritten them")
        }
        length = newLength
    }

    /// Context shift for a full cache: keeps the first `keep` positions, drops the next `discard`,
    /// and moves the rest down, rotating their keys to their new positions (RoPE rotations compose,
    /// so one rotation by −discard does it).
    public func shift(keep: Int, discard: Int) throws(BoraError) {
        guard cache.maximumLength != nil, keep >= 0, discard > 0, keep + discard <= length else {
            throw .invalidArgument("cannot shift: keep \(keep), discard \(discard) of \(length) positions")
        }
        let c = model.config
        let hd = c.headDim
        let angles = buffers.ropeTable
        rope.fillTable(positions: 0..<1, into: angles, offset: -discard)
        let row = workspace.floats(for: 0)
        let half = cache.elementType == .f16
        for layer in 0..<c.layerCount {
            for head in 0..<c.kvHeadCount {
                let keys = cache.keys(layer: layer, head: head), values = cache.values(layer: layer, head: head)
                let bytes = cache.elementType.bytesPerElement
                for position in (keep + discard)..<length {
                    let from = cache.slot(of: position) * hd, to = cache.slot(of: position - discard) * hd
                    if half {
                        let k = keys.assumingMemoryBound(to: UInt16.self)
                        for i in 0..<hd { row[i] = floatFromHalf(k[from + i]) }
                        rope.apply(row, heads: 1, angles: angles)
                        bora_f32_to_f16(row, k + to, hd)
                    } else {
                        let k = keys.assumingMemoryBound(to: Float.self)
                        (k + to).update(from: k + from, count: hd)
                        rope.apply(k + to, heads: 1, angles: angles)
                    }
                    (values + to * bytes).copyMemory(from: values + from * bytes, byteCount: hd * bytes)
                }
            }
        }
        length -= discard
    }

    /// The sequence's state (its length and every cached key and value), to come back to with
    /// `restore`: what llama-bench does between repetitions of a test at depth.
    package struct Snapshot {
        let length: Int
        let storage: [UInt8]
    }

    package func snapshot() -> Snapshot {
        Snapshot(length: length, storage: storage.copyStorage())
    }

    package func restore(_ snapshot: Snapshot) {
        storage.restoreStorage(snapshot.storage)
        length = snapshot.length
    }

    /// Feeds `tokens` and returns the logits after the last one (valid until the next call).
    @discardableResult
    public func evaluate(_ tokens: [Int]) throws(BoraError) -> UnsafeBufferPointer<Float> {
        try run(tokens) { _, _ in }
        return UnsafeBufferPointer(start: buffers.logits, count: model.config.vocabularySize)
    }

    /// Feeds `tokens` and returns the logits after every one of them.
    public func evaluateAll(_ tokens: [Int]) throws(BoraError) -> [[Float]] {
        var rows: [[Float]] = []
        rows.reserveCapacity(tokens.count)
        try run(tokens, allLogits: true) { logits, _ in rows.append(Array(logits)) }
        return rows
    }

    /// Runs the tokens chunk by chunk; `receive` gets logits rows (all rows, or only the last).
    private func run(_ tokens: [Int], allLogits: Bool = false, receive: (UnsafeBufferPointer<Float>, Int) -> Void) throws(BoraError) {
        let c = model.config
        guard !tokens.isEmpty else { throw .invalidArgument("no tokens to evaluate") }
        for t in tokens where t < 0 || t >= c.vocabularySize { throw .invalidTokenID(t, vocabularySize: c.vocabularySize) }
        if let limit = positionLimit, length + tokens.count > limit {
            throw .contextOverflow(needed: length + tokens.count, capacity: limit)
        }
        var offset = 0
        while offset < tokens.count {
            let count = min(chunkSize, tokens.count - offset)
            let isLast = offset + count == tokens.count
            let rows: Range<Int> = allLogits ? 0..<count : (isLast ? (count - 1)..<count : count..<count)
            let chunkStart = length
            var nonFinite: Int?
            forward(tokens[offset..<(offset + count)], logitRows: rows) { logits, row in
                // NaN or infinity here means broken weights or an overflow: an error, never a sample.
                if nonFinite == nil, !logits.allSatisfy({ $0.isFinite }) { nonFinite = chunkStart + row }
                receive(logits, offset + row)
            }
            if let nonFinite { throw .nonFiniteLogits(position: nonFinite) }
            offset += count
        }
    }

    /// One chunk through every layer; the chunk attends over the cache plus itself, then is stored.
    private func forward(_ tokens: ArraySlice<Int>, logitRows: Range<Int>, receive: (UnsafeBufferPointer<Float>, Int) -> Void) {
        let c = model.config
        let w = model.weights
        let b = buffers
        let n = tokens.count
        let start = length
        let dim = c.embeddingDim

        for (t, token) in tokens.enumerated() {
            w.tokenEmbedding.dequantizeRow(token, into: b.hidden + t * dim)
        }
        rope.fillTable(positions: start..<(start + n), into: b.ropeTable)
        for (l, layer) in w.layers.enumerated() {
            RMSNorm.apply(b.hidden, gain: layer.attentionNorm, epsilon: c.rmsNormEpsilon, rows: n, output: b.normed)
            activations.set(b.normed, rows: n, cols: dim)
            MatMul.multiply(layer.query, activations, output: b.queries, and: (layer.key, b.keys), and: (layer.value, b.values),
                            kernels: kernels, pool: pool, workspace: workspace)
            for t in 0..<n {
                let angles = b.ropeTable + t * c.headDim
                rope.apply(b.queries + t * c.queryDim, heads: c.headCount, angles: angles)
                rope.apply(b.keys + t * c.kvDim, heads: c.kvHeadCount, angles: angles)
            }
            if cache.elementType == .f16 {
                // The chunk attends to its own keys as the cache will hold them, so a position's
                // logits do not depend on how the prompt was split into chunks.
                bora_round_to_f16(b.keys, n * c.kvDim)
                bora_round_to_f16(b.values, n * c.kvDim)
            }
            attention(queries: b.queries, keys: b.keys, values: b.values, count: n, start: start,
                      cache: cache, layer: l, output: b.attention, pool: pool)
            cache.store(layer: l, keys: b.keys, values: b.values, positions: start..<(start + n))
            activations.set(b.attention, rows: n, cols: c.queryDim)
            multiply(layer.attentionOutput, b.normed)
            Elementwise.add(b.normed, into: b.hidden, count: n * dim)

            RMSNorm.apply(b.hidden, gain: layer.feedForwardNorm, epsilon: c.rmsNormEpsilon, rows: n, output: b.normed)
            var row = 0
            while row < n {
                let rows = min(b.feedForwardRows, n - row)
                activations.set(b.normed + row * dim, rows: rows, cols: dim)
                MatMul.multiply(layer.feedForwardGate, activations, output: b.gate, and: (layer.feedForwardUp, b.up),
                                kernels: kernels, pool: pool, workspace: workspace)
                Elementwise.siluMultiply(b.gate, b.up, count: rows * c.feedForwardDim)
                activations.set(b.gate, rows: rows, cols: c.feedForwardDim)
                multiply(layer.feedForwardDown, b.down)
                Elementwise.add(b.down, into: b.hidden + row * dim, count: rows * dim)
                row += rows
            }
        }
        length = start + n

        var row = logitRows.lowerBound
        while row < logitRows.upperBound {
            let rows = min(b.logitRows, logitRows.upperBound - row)
            RMSNorm.apply(b.hidden + row * dim, gain: w.outputNorm, epsilon: c.rmsNormEpsilon, rows: rows, output: b.normed)
            activations.set(b.normed, rows: rows, cols: dim)
            multiply(w.output, b.logits)
            for r in 0..<rows {
                receive(UnsafeBufferPointer(start: b.logits + r * c.vocabularySize, count: c.vocabularySize), row + r)
            }
            row += rows
        }
    }

    /// `out = W · (the current activations)`.
    @inline(__always)
    private func multiply(_ w: WeightMatrix, _ out: UnsafeMutablePointer<Float>) {
        MatMul.multiply(w, activations, output: out, kernels: kernels, pool: pool, workspace: workspace)
    }
}
