import CBoraKernels
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Work that every thread of a pool runs a share of.
public protocol ParallelJob: AnyObject {
    func execute(thread: Int, threads: Int)
    /// Memory that `thread` will read first in the job after this one, which it brings toward its
    /// cache once its share of this job is done, while it waits (nil: nothing). Called on that
    /// thread after `execute`, before the job counts it as done.
    func upcomingReads(thread: Int, threads: Int) -> UnsafeRawBufferPointer?
}

extension ParallelJob {
    public func upcomingReads(thread: Int, threads: Int) -> UnsafeRawBufferPointer? { nil }
}

/// A persistent pool of worker threads for data-parallel kernels.
///
/// Decode issues a few hundred small matrix products per token, so dispatch must cost about a
/// microsecond: workers spin on an epoch counter for a while after each job (cheap wake-up), then
/// sleep on a condition variable so an idle pool does not burn CPU. The calling thread takes part
/// as worker 0.
public final class ThreadPool: @unchecked Sendable {
    public let threadCount: Int

    private let epoch = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var threads: [pthread_t] = []
    /// The job of the current epoch; only touched by the caller between `epoch` bumps.
    private var job: (any ParallelJob)?
    /// Spin iterations before a worker sleeps (roughly 50–200 µs).
    private let spinLimit = 20_000

    /// The most threads a pool runs (ggml's limit too): beyond it a request is a mistake.
    public static let maximumThreads = 512

    /// `threads` includes the calling thread; nil means the number of physical cores. Throws when
    /// the count is out of range or the system cannot start a thread (a memory or process limit).
    public init(threads: Int? = nil) throws(BoraError) {
        if let threads, !(1...Self.maximumThreads).contains(threads) {
            throw .invalidArgument("threads must be between 1 and \(Self.maximumThreads), got \(threads)")
        }
        threadCount = threads ?? max(1, ThreadPool.physicalCoreCount)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
        for index in 1..<threadCount {
            let box = Unmanaged.passRetained(WorkerStart(pool: self, index: index))
            var thread = pthread_t()
            #if canImport(Glibc)
            let status = pthread_create(&thread, nil, { raw in
                let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
                start.pool.workerLoop(index: start.index)
                return nil
            }, box.toOpaque())
            #else
            let status = pthread_create(&thread, nil, { raw in
                let start = Unmanaged<WorkerStart>.fromOpaque(raw).takeRetainedValue()
                start.pool.workerLoop(index: start.index)
                return nil
            }, box.toOpaque())
            #endif
            guard status == 0 else {
                box.release()
                stopWorkers()
                throw .threadStartFailed(index: index, code: status)
            }
            self.threads.append(thread)
        }
    }

    deinit {
        stopWorkers()
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    /// Stops and joins every started worker.
    private func stopWorkers() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(&mutex)
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
        for thread in threads { pthread_join(thread, nil) }
        threads.removeAll()
    }

    private final class WorkerStart {
        // Not `unowned`: a pool released before a worker has started is already deinitializing when
        // the worker first reads this, and a checked unowned read traps then. The memory stays valid
        // because `deinit` joins every worker before it returns.
        unowned(unsafe) let pool: ThreadPool
        let index: Int
        init(pool: ThreadPool, index: Int) { self.pool = pool; self.index = index }
    }

    /// Runs `job.execute` once on every thread of the pool and returns when all are done. Dispatch
    /// allocates nothing, so hot paths keep their jobs in objects made once. Not reentrant.
    public func run(_ job: any ParallelJob) {
        if threadCount == 1 { job.execute(thread: 0, threads: 1); return }
        self.job = job
        pending.store(threadCount - 1, ordering: .sequentiallyConsistent)
        epoch.add(1, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(&mutex)
            pthread_cond_broadcast(&condition)
            pthread_mutex_unlock(&mutex)
        }
        job.execute(thread: 0, threads: threadCount)
        var ahead = job.upcomingReads(thread: 0, threads: threadCount)
        while pending.load(ordering: .acquiring) > 0 {
            if !Self.prefetchPiece(of: &ahead) { bora_cpu_relax() }
        }
        self.job = nil
    }

    /// Bytes prefetched between two looks at whether the wait is over (64 lines: about 0.2 µs of
    /// memory time on this kind of machine).
    private static let prefetchStep = 4096

    /// Prefetches the next piece of `range` and drops it from the range; false when nothing is left.
    @inline(__always)
    private static func prefetchPiece(of range: inout UnsafeRawBufferPointer?) -> Bool {
        guard let r = range, let base = r.baseAddress, r.count > 0 else { return false }
        let piece = min(r.count, prefetchStep)
        bora_prefetch_l2(base, Int64(piece))
        range = UnsafeRawBufferPointer(rebasing: r[piece...])
        return true
    }

    /// Runs `body(thread)` once on every thread (a convenience that allocates a little per call:
    /// for setup work and tests, not per-token paths).
    public func run(_ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { escapable in run(ClosureJob(escapable)) }
    }

    private final class ClosureJob: ParallelJob {
        let body: (Int) -> Void
        init(_ body: @escaping (Int) -> Void) { self.body = body }
        func execute(thread: Int, threads: Int) { body(thread) }
    }

    /// The share of `0..<count` that thread `thread` of `threads` takes: contiguous ranges, in
    /// multiples of `granularity` except the last.
    public static func share(of count: Int, granularity: Int = 1, thread: Int, threads: Int) -> Range<Int> {
        let units = (count + granularity - 1) / granularity
        let start = min(count, units * thread / threads * granularity)
        let end = min(count, units * (thread + 1) / threads * granularity)
        return start..<max(start, end)
    }

    /// Splits `0..<count` into one contiguous range per thread (see `share`) and runs
    /// `body(range, thread)` on each non-empty range in parallel.
    public func parallelFor(_ count: Int, granularity: Int = 1, _ body: (Range<Int>, Int) -> Void) {
        guard count > 0 else { return }
        let units = (count + granularity - 1) / granularity
        if min(threadCount, units) <= 1 { body(0..<count, 0); return }
        run { thread in
            let range = ThreadPool.share(of: count, granularity: granularity, thread: thread, threads: self.threadCount)
            if !range.isEmpty { body(range, thread) }
        }
    }

    private func workerLoop(index: Int) {
        var seen = 0
        // What the last job said this thread reads first in the next one: prefetched while waiting.
        var ahead: UnsafeRawBufferPointer?
        while true {
            var spins = 0
            while epoch.load(ordering: .acquiring) == seen {
                if stopping.load(ordering: .relaxed) { return }
                if Self.prefetchPiece(of: &ahead) { continue }
                spins += 1
                if spins < spinLimit {
                    bora_cpu_relax()
                    continue
                }
                pthread_mutex_lock(&mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while epoch.load(ordering: .sequentiallyConsistent) == seen && !stopping.load(ordering: .sequentiallyConsistent) {
                    pthread_cond_wait(&condition, &mutex)
                }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(&mutex)
                spins = 0
            }
            if stopping.load(ordering: .relaxed) { return }
            seen = epoch.load(ordering: .acquiring)
            job?.execute(thread: index, threads: threadCount)
            ahead = job?.upcomingReads(thread: index, threads: threadCount)
            pending.subtract(1, ordering: .releasing)
        }
    }

    /// Physical cores (hyper-threads share a core's execution units, so matmuls gain nothing from them).
    public static var physicalCoreCount: Int {
        #if os(Linux)
        if let count = linuxPhysicalCores() { return count }
        #endif
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    #if os(Linux)
    private static func linuxPhysicalCores() -> Int? {
        guard let file = fopen("/proc/cpuinfo", "r") else { return nil }
        defer { fclose(file) }
        var cores = Set<String>()
        var physical = "0"
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0 {
            let text = String(cString: line!)
            let parts = text.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: " \t\n") }
            guard parts.count == 2 else { continue }
            if parts[0] == "physical id" { physical = parts[1] }
            if parts[0] == "core id" { cores.insert(physical + "/" + parts[1]) }
        }
        let online = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        return cores.isEmpty ? nil : min(cores.count, online)
    }
    #endif
}

private extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
