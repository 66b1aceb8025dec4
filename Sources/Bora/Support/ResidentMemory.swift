import Foundation

/// The process's resident memory.
package enum ResidentMemory {
    /// The most this process has held resident: Linux's VmHWM (this program image's own, not
    /// what a parent held before it started this one, as getrusage's figure can be), elsewhere
    /// getrusage's maximum resident set.
    package static var peakBytes: Int? {
        #if os(Linux)
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
           let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") {
            return kib * 1024
        }
        return nil
        #else
        var usage = rusage()
        guard getrusage(RUSAGE_SELF, &usage) == 0 else { return nil }
        return Int(usage.ru_maxrss)   // bytes on macOS
        #endif
    }
}
