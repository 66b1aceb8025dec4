import CBoraKernels

/// How cached keys and values are stored.
public enum KVCacheType: String, Sendable, CaseIterable {
    case f32, f16

    var bytesPerElement: Int { self == .f32 ? 4 : 2 }
}

/// Keys and values of past positions, per layer and KV head.
///
/// Storage is `[layer][kvHead][slot][headDim]`, so the keys one head attends over are contiguous.
/// Implementations decide which slot a position lives in and which positions they still hold.
public protocol KVCache: AnyObject {
    var layerCount: Int { get }
    var kvHeadCount: Int { get }
    var headDim: Int { get }
    var elementType: KVCacheType { get }
    /// Number of slots per layer and head.
    var slotCount: Int { get }
    /// Positions the cache holds once positions `0..<length` have been stored, oldest first.
    func heldPositions(length: Int) -> Range<Int>
    /// The slot of a held position.
    func slot(of position: Int) -> Int
    /// The largest sequence length this cache can serve; nil when unbounded (rolling buffer).
    var maximumLength: Int? { get }
    /// Whether a sequence of `length` positions can be cut back to its first `newLength` and go on
    /// from there: always with a full cache; with a rolling cache while every key the next query
    /// can see is still held.
    func canCut(length: Int, to newLength: Int) -> Bool
    /// Told after `store` wrote the keys and values of `positions` (one call per layer).
    func didStore(_ positions: Range<Int>)
    /// Base of the keys (or values) of one layer and KV head: `slotCount × headDim` elements.
    func keys(layer: Int, head: Int) -> UnsafeMutableRawPointer
    func values(layer: Int, head: Int) -> UnsafeMutableRawPointer
}

extension KVCache {
    /// Bytes the cache occupies.
    public var byteCount: Int { 2 * layerCount * kvHeadCount * slotCount * headDim * elementType.bytesPerElement }

    /// Stores the keys and values of positions `positions` for one layer, from rows of
    /// `kvHeadCount × headDim` floats (row `t` belongs to position `positions.lowerBound + t`).
    /// Only the positions the cache will hold once the chunk is stored are written.
    public func store(layer: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, positions: Range<Int>) {
        let kept = heldPositions(length: positions.upperBound).clamped(to: positions)
        let rowWidth = kvHeadCount * headDim
        for head in 0..<kvHeadCount {
            let keyBase = keys(layer: layer, head: head)
            let valueBase = values(layer: layer, head: head)
            for position in kept {
                let row = position - positions.lowerBound
                let offset = slot(of: position) * headDim
                let kSource = k + row * rowWidth + head * headDim
                let vSource = v + row * rowWidth + head * headDim
                switch elementType {
                case .f32:
                    (keyBase.assumingMemoryBound(to: Float.self) + offset).update(from: kSource, count: headDim)
                    (valueBase.assumingMemoryBound(to: Float.self) + offset).update(from: vSource, count: headDim)
                case .f16:
                    bora_f32_to_f16(kSource, keyBase.assumingMemoryBound(to: UInt16.self) + offset, headDim)
                    bora_f32_to_f16(vSource, valueBase.assumingMemoryBound(to: UInt16.self) + offset, headDim)
                }
            }
        }
        didStore(positions)
    }
}

extension KVCache {
    /// How many leading tokens of `prompt` a cache holding `cached` can keep (at least the prompt's
    /// last token is evaluated again, for its logits); 0 when the cache cannot be cut back that far.
    func reusablePrefix(cached: [Int], prompt: [Int]) -> Int {
        let common = min(zip(cached, prompt).prefix { $0 == $1 }.count, prompt.count - 1)
        return canCut(length: cached.count, to: common) ? common : 0
    }
}

/// The cache a sequence gets, decided once from the model and the context asked for: a rolling
/// buffer of W slots (and `rollbackSlots` more) for a sliding-window model whose window is shorter
/// than the context, else a full cache of the context's length. Shared by `InferenceContext` and the batched engine's slots.
package struct CachePlan {
    package let window: AttentionWindow
    /// The most positions a sequence may reach (nil: unbounded, a rolling cache without a cap).
    let positionLimit: Int?
    /// Slots per layer and KV head.
    let slots: Int
    let isRolling: Bool
    /// Slots a rolling cache holds beyond W, so that a speculative step's rejected drafts overwrite
    /// only keys no query will see again (see `RollingKVCache`).
    static let rollbackSlots = SpeculativeDecoding.maximumDraft
    let layers, kvHeads, headDim: Int
    let type: KVCacheType

    package init(config c: ModelConfig, maxContext: Int?, type: KVCacheType) throws(BoraError) {
        if let maxContext, maxContext < 1 {
            throw .invalidArgument("the context must hold at least one position, got \(maxContext)")
        }
        // A window at least as long as the context never hides a key: plain causal attention then.
        if let w = c.slidingWindow, w < (maxContext ?? c.contextLength) {
            window = AttentionWindow(size: w)
            (slots, isRolling, positionLimit) = (w + Self.rollbackSlots, true, maxContext)
        } else {
            window = AttentionWindow(size: nil)
            let capacity = maxContext ?? c.contextLength
            (slots, isRolling, positionLimit) = (capacity, false, capacity)
        }
        (layers, kvHeads, headDim, self.type) = (c.layerCount, c.kvHeadCount, c.headDim, type)
    }

    /// The most keys one query can see.
    package var maximumKeys: Int { window.size ?? slots }

    /// Bytes of one cache.
    var bytes: Int { 2 * layers * kvHeads * slots * headDim * type.bytesPerElement }

    package func makeCache() throws(BoraError) -> KVStorage & KVCache {
        isRolling ? try RollingKVCache(layers: layers, kvHeads: kvHeads, headDim: headDim, window: window.size!,
                                       extraSlots: slots - window.size!, type: type)
                  : try FullKVCache(layers: layers, kvHeads: kvHeads, headDim: headDim, capacity: slots, type: type)
    }
}

/// Shared storage of both caches.
public class KVStorage: @unchecked Sendable {
    public let layerCount: Int
    public let kvHeadCount: Int
    public let headDim: Int
    public let elementType: KVCacheType
    public let slotCount: Int
    private let memory: UnsafeMutableRawPointer
    private let headStride: Int
    /// Bytes of all keys and values.
    var storageBytes: Int { 2 * layerCount * kvHeadCount * headStride }

    init(layers: Int, kvHeads: Int, headDim: Int, slots: Int, type: KVCacheType) throws(BoraError) {
        let what = "a KV cache of \(slots) positions × \(layers) layers × \(kvHeads) KV heads × \(headDim) in \(type.rawValue.uppercased())"
        let stride = try MemoryBudget.bytes(slots, headDim, type.bytesPerElement, for: what)
        let bytes = try MemoryBudget.bytes(2, layers, kvHeads, stride, for: what)
        // Untouched pages of a large allocation are never committed, so a long context costs memory
        // only as it fills; but it will fill, so it must fit.
        try MemoryBudget.check(bytes, for: what)
        layerCount = layers
        kvHeadCount = kvHeads
        self.headDim = headDim
        elementType = type
        slotCount = slots
        headStride = stride
        memory = .allocate(byteCount: max(bytes, 1), alignment: 64)
    }

    deinit { memory.deallocate() }

    /// A copy of every slot (for `InferenceContext.snapshot`).
    func copyStorage() -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: memory, count: storageBytes))
    }

    /// Overwrites every slot with a copy made by `copyStorage` of a cache of the same shape.
    func restoreStorage(_ bytes: [UInt8]) {
        precondition(bytes.count == storageBytes, "snapshot of a cache of another shape")
        bytes.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress!, byteCount: storageBytes) }
    }

    public func keys(layer: Int, head: Int) -> UnsafeMutableRawPointer {
        memory + ((2 * layer) * kvHeadCount + head) * headStride
    }

    /// Context shift for a full cache holding `length` positions: keeps the first `keep`, drops the
    /// next `discard`, and moves the rest down, rotating their keys to their new positions (RoPE
    /// rotations compose, so one rotation by −discard does it).
    func shift(keep: Int, discard: Int, length: Int, rope: RoPE) throws(BoraError) {
        guard self is FullKVCache, keep >= 0, discard > 0, keep + discard <= length else {
            throw .invalidArgument("cannot shift: keep \(keep), discard \(discard) of \(length) positions")
        }
        let hd = headDim
        var angles = [Float](repeating: 0, count: hd), row = [Float](repeating: 0, count: hd)
        angles.withUnsafeMutableBufferPointer { rope.fillTable(positions: 0..<1, into: $0.baseAddress!, offset: -discard) }
        let bytes = elementType.bytesPerElement
        row.withUnsafeMutableBufferPointer { rowBuffer in
            let row = rowBuffer.baseAddress!
            for layer in 0..<layerCount {
                for head in 0..<kvHeadCount {
                    let keys = self.keys(layer: layer, head: head), values = self.values(layer: layer, head: head)
                    // A full cache keeps position p in slot p.
                    for position in (keep + discard)..<length {
                        let from = position * hd, to = (position - discard) * hd
                        if elementType == .f16 {
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
        }
    }

    public func values(layer: Int, head: Int) -> UnsafeMutableRawPointer {
        memory + ((2 * layer + 1) * kvHeadCount + head) * headStride
    }
}

/// One slot per position, up to the context length: for models without a sliding window.
public final class FullKVCache: KVStorage, KVCache, @unchecked Sendable {
    public init(layers: Int, kvHeads: Int, headDim: Int, capacity: Int, type: KVCacheType) throws(BoraError) {
        try super.init(layers: layers, kvHeads: kvHeads, headDim: headDim, slots: capacity, type: type)
    }

    public func heldPositions(length: Int) -> Range<Int> { 0..<length }
    public func slot(of position: Int) -> Int { position }
    public var maximumLength: Int? { slotCount }
    public func canCut(length: Int, to newLength: Int) -> Bool { newLength >= 0 && newLength <= length }
    public func didStore(_ positions: Range<Int>) {}
}

/// Mistral's rolling buffer: position i in slot i mod S, S = W slots plus `extraSlots`. W slots hold
/// exactly the keys a sliding-window query can see, so its memory stays W entries however long the
/// sequence grows. The extra slots let a sequence be cut back by up to `extraSlots + 1` positions:
/// a speculative step writes the keys of drafts the model may reject, and with S = W + D the keys
/// those overwrite are older than any the next query sees.
public final class RollingKVCache: KVStorage, KVCache, @unchecked Sendable {
    /// W: the keys one query sees.
    public let window: Int

    public init(layers: Int, kvHeads: Int, headDim: Int, window: Int, extraSlots: Int = 0, type: KVCacheType) throws(BoraError) {
        guard window >= 1, extraSlots >= 0 else {
            throw .invalidArgument("a rolling cache needs a window of at least 1 and no negative extra slots, got \(window) and \(extraSlots)")
        }
        self.window = window
        try super.init(layers: layers, kvHeads: kvHeads, headDim: headDim, slots: window + extraSlots, type: type)
    }

    /// One past the furthest position written since the sequence last started at position 0: keys
    /// written past a sequence's end (rejected drafts) took the slots of the S positions before them.
    /// (Set back by a snapshot's restore, with the slots' bytes.)
    var writtenEnd = 0

    public func heldPositions(length: Int) -> Range<Int> { max(0, length - slotCount)..<length }
    public func slot(of position: Int) -> Int { position % slotCount }
    public var maximumLength: Int? { nil }

    /// The query at `newLength` sees keys from `newLength − W + 1` on; none may have been overwritten
    /// by a later position (the slots of positions before `writtenEnd − S` were).
    public func canCut(length: Int, to newLength: Int) -> Bool {
        guard newLength >= 0, newLength <= length else { return false }
        guard newLength > 0 else { return true }
        return max(0, newLength - window + 1) >= max(0, max(writtenEnd, length) - slotCount)
    }

    public func didStore(_ positions: Range<Int>) {
        writtenEnd = positions.lowerBound == 0 ? positions.upperBound : max(writtenEnd, positions.upperBound)
    }
}
