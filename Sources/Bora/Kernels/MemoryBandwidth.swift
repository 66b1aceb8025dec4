import CBoraKernels

/// Measures how fast the pool's threads can stream memory: the ceiling of memory-bound decode.
public enum MemoryBandwidth {
    /// Best of `repetitions` reads of a `megabytes` buffer (much larger than the caches), in bytes/s.
    public static func measure(pool: ThreadPool, megabytes: Int = 1024, repetitions: Int = 5) throws(BoraError) -> Double {
        try MemoryProbe(megabytes: megabytes, threads: pool.threadCount).best(of: repetitions, pool: pool)
    }
}

/// A buffer much larger than the caches, read once per call on the pool's threads: the bandwidth
/// a streaming read gets at that moment. On a host whose bandwidth moves within seconds, a decode
/// measurement is only comparable with reads taken beside it (`Benchmark` reads one after each
/// repetition of a generation test), not with a best-of-N probe taken minutes apart.
final class MemoryProbe {
    /// On the pages the packed weights get (`PackedArena`), so that the probe and decode read
    /// memory mapped alike.
    private let memory: HugePageBuffer
    private let buffer: UnsafeMutableRawPointer
    private let part: Int
    private let parts: Int
    private let sums: UnsafeMutablePointer<UInt64>

    init(megabytes: Int, threads: Int) throws(BoraError) {
        let bytes = megabytes << 20
        parts = max(1, threads)
        part = bytes / parts / 128 * 128
        guard let memory = HugePageBuffer(bytes: bytes) else {
            throw .insufficientMemory(what: "the memory probe's buffer", needed: bytes, available: MemoryBudget.availableBytes)
        }
        self.memory = memory
        buffer = memory.base
        buffer.initializeMemory(as: UInt8.self, repeating: 1, count: bytes)
        sums = .allocate(capacity: parts)
    }

    deinit { sums.deallocate() }

    /// The fastest of `reads` reads, in bytes/s.
    func best(of reads: Int, pool: ThreadPool) -> Double {
        (0..<max(1, reads)).map { _ in read(pool: pool) }.max()!
    }

    /// One read of the whole buffer, in bytes/s.
    func read(pool: ThreadPool) -> Double {
        precondition(pool.threadCount <= parts, "a probe made for \(parts) threads")
        let (buffer, part, sums) = (buffer, part, sums)
        let start = ContinuousClock.now
        pool.run { thread in sums[thread] = bora_read_bytes(buffer + thread * part, part) }
        let seconds = start.secondsElapsed
        var checksum: UInt64 = 0
        for t in 0..<pool.threadCount { checksum &+= sums[t] }
        // Every byte is 1: a zero sum would mean the read did not happen.
        precondition(checksum != 0)
        return Double(part * pool.threadCount) / seconds
    }
}
