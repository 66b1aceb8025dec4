#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Memory for a model's packed weights: large slabs on 2 MB boundaries, handed out end to end in
/// load order (which is decode's reading order), that Linux may back with 2 MB pages.
///
/// Why: decode streams every packed byte once per token. With 4 KB pages that is a new page, and a
/// TLB miss, every 4 KB of a 0.6–4 GB stream; transparent huge pages remove them, but this host
/// runs THP in `madvise` mode (only memory that asks gets huge pages) and malloc'd memory does not
/// ask. `Benchmarks/model-stream.sh` (the 1.1B model's Q4_K matrices streamed in decode's order and
/// chunking, interleaved pass by pass with the same on 4 KB pages, 2 threads): +3–7% read rate on
/// huge pages; the bandwidth probe gains 5–20%, so `MemoryProbe` reads memory of this kind too.
/// One slab per matrix rounded to 2 MB would cost up to 2 MB of resident memory per matrix (the
/// 1.1B model's 44 K/V matrices are 0.3 MB each). Shared slabs cost at most the one partly used
/// 2 MB page at the end of each: the rest of a slab's tail is never touched, so never resident.
final class PackedArena: Sendable {
    /// Slabs are at least this large (address space, not memory, until touched); a larger request
    /// gets a slab of its own size.
    static let slabSize = 256 << 20

    private struct State {
        var slab: HugePageBuffer?
        var used = 0
    }
    private let state = Mutex(State())

    init() {}

    /// `bytes` bytes on a 64-byte boundary, and the slab that owns them (keep it while using them).
    func allocate(_ bytes: Int, for what: String) throws(BoraError) -> (HugePageBuffer, UnsafeMutableRawPointer) {
        let result = state.withLock { state -> (HugePageBuffer, UnsafeMutableRawPointer)? in
            let start = (state.used + 63) & ~63
            if let slab = state.slab, start + bytes <= slab.size {
                state.used = start + bytes
                return (slab, slab.base + start)
            }
            guard let slab = HugePageBuffer(bytes: max(bytes, Self.slabSize)) else { return nil }
            // A request larger than the open slab's room starts a new one; the old one's tail stays unused.
            state.slab = slab
            state.used = bytes
            return (slab, slab.base)
        }
        guard let result else { throw .insufficientMemory(what: what, needed: bytes, available: MemoryBudget.availableBytes) }
        return result
    }
}

/// Memory on 2 MB boundaries that Linux may back with 2 MB pages (`madvise(MADV_HUGEPAGE)`; where
/// THP is off it keeps 4 KB pages). Freed with the object.
final class HugePageBuffer: Sendable {
    static let pageSize = 2 << 20

    nonisolated(unsafe) let base: UnsafeMutableRawPointer
    let size: Int

    /// nil when the system has no `bytes` to give.
    init?(bytes: Int) {
        let size = (max(bytes, 1) + Self.pageSize - 1) / Self.pageSize * Self.pageSize
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, Self.pageSize, size) == 0, let raw else { return nil }
        #if os(Linux)
        _ = madvise(raw, size, MADV_HUGEPAGE)
        #endif
        (base, self.size) = (raw, size)
    }

    deinit { free(base) }
}
