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
    private let pass: ForwardPass
    /// The step list of one chunk (kept, with its capacity, between chunks).
    private var pieces: [ForwardPass.Piece] = []

    public init(model: LanguageModel, options: ContextOptions = .init()) throws(BoraError) {
        let c = model.config
        self.model = model
        let plan = try CachePlan(config: c, maxContext: options.maxContext, type: options.kvCacheType)
        window = plan.window
        let made = try plan.makeCache()
        (cache, storage) = (made, made)
        positionLimit = plan.positionLimit
        let chunk = options.chunkSize ?? window.size ?? 512
        guard chunk >= 1 else { throw .invalidArgument("the chunk size must be at least 1, got \(chunk)") }
        chunkSize = min(chunk, cache.maximumLength ?? chunk)
        pass = try ForwardPass(model: model, capacity: chunkSize, maximumPieces: 1, window: window,
                               maximumKeys: plan.maximumKeys, threads: options.threads, kernels: options.kernels)
        pool = pass.pool
        kernels = options.kernels
        pieces.reserveCapacity(1)
    }

    /// Forgets the sequence.
    public func reset() { length = 0 }

    /// Whether the sequence can be cut back to its first `newLength` positions: always with a full
    /// cache; with a rolling cache while the keys the next query sees are still held (up to
    /// `SpeculativeDecoding.maximumDraft + 1` positions back, or any while none was overwritten).
    public func canTruncate(to newLength: Int) -> Bool {
        cache.canCut(length: length, to: newLength)
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
        try storage.shift(keep: keep, discard: discard, length: length, rope: pass.rope)
        length -= discard
    }

    /// The sequence's state (its length and every cached key and value), to come back to with
    /// `restore`: what llama-bench does between repetitions of a test at depth.
    package struct Snapshot {
        let length: Int
        let storage: [UInt8]
        let writtenExtent: Int?
    }

    package func snapshot() -> Snapshot {
        Snapshot(length: length, storage: storage.copyStorage(), writtenExtent: (cache as? RollingKVCache)?.writtenEnd)
    }

    package func restore(_ snapshot: Snapshot) {
        storage.restoreStorage(snapshot.storage)
        if let extent = snapshot.writtenExtent, let rolling = cache as? RollingKVCache { rolling.writtenEnd = extent }
        length = snapshot.length
    }

    /// Feeds `tokens` and returns (a copy of) the logits after the last one.
    @discardableResult
    public func evaluate(_ tokens: [Int]) throws(BoraError) -> [Float] {
        Array(try evaluateInPlace(tokens))
    }

    /// Feeds `tokens` and returns the logits after the last one in the context's own buffer: valid
    /// until the next call and only while the context lives (the generation loop and benchmarks,
    /// which must not allocate per token).
    @discardableResult
    package func evaluateInPlace(_ tokens: [Int]) throws(BoraError) -> UnsafeBufferPointer<Float> {
        var last = UnsafeBufferPointer<Float>(start: nil, count: 0)
        try run(tokens) { logits, _ in last = logits }
        return last
    }

    /// Feeds `tokens` and returns the logits after every one of them.
    public func evaluateAll(_ tokens: [Int]) throws(BoraError) -> [[Float]] {
        var rows: [[Float]] = []
        rows.reserveCapacity(tokens.count)
        try run(tokens, allLogits: true) { logits, _ in rows.append(Array(logits)) }
        return rows
    }

    /// Feeds `tokens`; `receive(index, logits)` gets the logits after each token from index
    /// `from` on (each row valid during the call only), so scoring a long text holds no rows.
    package func evaluate(_ tokens: [Int], logitsFrom from: Int, receive: (Int, UnsafeBufferPointer<Float>) -> Void) throws(BoraError) {
        try run(tokens, logitsFrom: from) { logits, index in receive(index, logits) }
    }

    /// Runs the tokens chunk by chunk; `receive` gets logits rows (all rows, those from
    /// `logitsFrom` on, or only the last).
    private func run(_ tokens: [Int], allLogits: Bool = false, logitsFrom: Int? = nil,
                     receive: (UnsafeBufferPointer<Float>, Int) -> Void) throws(BoraError) {
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
            var rows: Range<Int> = allLogits ? 0..<count : (isLast ? (count - 1)..<count : count..<count)
            if let from = logitsFrom { rows = min(max(from - offset, 0), count)..<count }
            let chunkStart = length
            var nonFinite: Int?
            forward(tokens, offset..<(offset + count), logitRows: rows) { logits, row in
                // NaN or infinity here means broken weights or an overflow: an error, never a sample.
                guard nonFinite == nil else { return }
                if bora_all_finite(logits.baseAddress!, logits.count) == 0 {
                    nonFinite = chunkStart + row
                    return
                }
                receive(logits, offset + row)
            }
            if let nonFinite { throw .nonFiniteLogits(position: nonFinite) }
            offset += count
        }
    }

    /// One chunk through every layer; the chunk attends over the cache plus itself, then is stored.
    private func forward(_ tokens: [Int], _ range: Range<Int>, logitRows: Range<Int>, receive: (UnsafeBufferPointer<Float>, Int) -> Void) {
        pieces.append(ForwardPass.Piece(cache: cache, start: length, tokens: range, logitRows: logitRows))
        pass.run(tokens: tokens, pieces: pieces) { _, row, logits in receive(logits, row) }
        pieces.removeAll(keepingCapacity: true)
        length += range.count
    }
}
