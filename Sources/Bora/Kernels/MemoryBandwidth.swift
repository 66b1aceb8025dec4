import CBoraKernels

/// Measures how fast the pool's threads can stream memory: the ceiling of memory-bound decode.
public enum MemoryBandwidth {
    /// Best of `repetitions` reads of a `megabytes` buffer (much larger than the caches), in bytes/s.
    public static func measure(pool: ThreadPool, megabytes: Int = 1024, repetitions: Int = 5) -> Double {
        let bytes = megabytes << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 1, count: bytes)
        let parts = pool.threadCount
        let part = bytes / parts / 128 * 128
        var best = 0.0
        var checksum: UInt64 = 0
        let sums = UnsafeMutablePointer<UInt64>.allocate(capacity: parts)
        defer { sums.deallocate() }
        for _ in 0..<repetitions {
            let start = ContinuousClock.now
            pool.run { thread in sums[thread] = bora_read_bytes(buffer + thread * part, part) }
            let seconds = start.secondsElapsed
            for t in 0..<parts { checksum &+= sums[t] }
            best = max(best, Double(part * parts) / seconds)
        }
        precondition(checksum != 0)
        return best
    }
}
