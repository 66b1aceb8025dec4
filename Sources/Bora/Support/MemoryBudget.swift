#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The one check before any large allocation whose size comes from a file or a flag (KV caches,
/// scratch): sizes are multiplied with overflow checks, and a request beyond the memory this
/// process can get is refused with both numbers, instead of aborting inside the allocator.
package enum MemoryBudget {
    /// The product of `factors` bytes, after checking it fits in the memory available now.
    package static func require(_ factors: Int..., for what: String) throws(BoraError) {
        try check(product(factors, for: what), for: what)
    }

    /// The product of `factors`, or an error naming `what` when it does not fit in an Int.
    package static func bytes(_ factors: Int..., for what: String) throws(BoraError) -> Int {
        try product(factors, for: what)
    }

    private static func product(_ factors: [Int], for what: String) throws(BoraError) -> Int {
        var total = 1
        for factor in factors {
            guard factor >= 0 else { throw .invalidArgument("\(what): negative size \(factor)") }
            let (product, overflow) = total.multipliedReportingOverflow(by: factor)
            guard !overflow else { throw .insufficientMemory(what: what, needed: .max, available: availableBytes) }
            total = product
        }
        return total
    }

    /// Throws unless `needed` bytes fit in the memory available now.
    package static func check(_ needed: Int, for what: String) throws(BoraError) {
        let available = availableBytes
        guard needed <= available else { throw .insufficientMemory(what: what, needed: needed, available: available) }
    }

    /// Memory this process can still get: the least of the system's available memory, the cgroup's
    /// remaining limit (containers) and the address-space limit (`ulimit -v`).
    package static var availableBytes: Int {
        var limits: [Int] = []
        #if os(Linux)
        if let meminfo = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kB = Int(line.split(separator: " ").dropFirst().first ?? "") {
            limits.append(kB * 1024)
        }
        if let maximum = readInteger("/sys/fs/cgroup/memory.max") {
            limits.append(max(0, maximum - (readInteger("/sys/fs/cgroup/memory.current") ?? 0)))
        }
        #else
        limits.append(Int(clamping: ProcessInfo.processInfo.physicalMemory))
        #endif
        var limit = rlimit()
        #if os(Linux)
        let resource = Int32(RLIMIT_AS.rawValue)
        #else
        let resource = RLIMIT_AS
        #endif
        if getrlimit(resource, &limit) == 0, limit.rlim_cur != rlim_t.max {   // RLIM_INFINITY
            limits.append(max(0, Int(clamping: limit.rlim_cur) - mappedBytes))
        }
        return limits.min() ?? .max
    }

    /// The process's address space in use now (what `ulimit -v` counts), where the system says.
    private static var mappedBytes: Int {
        #if os(Linux)
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = Int(statm.split(separator: " ").first ?? "") else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        #else
        return 0
        #endif
    }

    private static func readInteger(_ path: String) -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// "1.5 GB", "386.2 GB", "more than Int.max bytes".
    package static func format(_ bytes: Int) -> String {
        if bytes == .max { return "more than \(Int.max) bytes" }
        if bytes >= 1 << 30 { return String(format: "%.1f GB", Double(bytes) / Double(1 << 30)) }
        if bytes >= 1 << 20 { return String(format: "%.1f MB", Double(bytes) / Double(1 << 20)) }
        return "\(bytes) bytes"
    }
}
