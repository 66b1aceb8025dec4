import CBoraKernels
import Synchronization

/// Which implementation computes matrix products.
public enum KernelChoice: String, Sendable, CaseIterable {
    /// SIMD kernels; activations are quantized to 8 bits for quantized weights (as llama.cpp does).
    case fast
    /// Scalar F32 reference: weights dequantized, F32 activations. Slow; the yardstick of the tests.
    case reference
}

extension DType {
    /// The kernels' type code (CBoraKernels' BORA_* enum).
    var kernelCode: Int32 {
        switch self {
        case .f32: return Int32(BORA_F32)
        case .f16: return Int32(BORA_F16)
        case .bf16: return Int32(BORA_BF16)
        case .q8_0: return Int32(BORA_Q8_0)
        case .q4_0: return Int32(BORA_Q4_0)
        case .q4_1: return Int32(BORA_Q4_1)
        case .q5_0: return Int32(BORA_Q5_0)
        case .q5_1: return Int32(BORA_Q5_1)
        case .q4_K: return Int32(BORA_Q4_K)
        case .q5_K: return Int32(BORA_Q5_K)
        case .q6_K: return Int32(BORA_Q6_K)
        case .q2_K: return Int32(BORA_Q2_K)
        case .q3_K: return Int32(BORA_Q3_K)
        case .iq4_nl: return Int32(BORA_IQ4_NL)
        case .iq4_xs: return Int32(BORA_IQ4_XS)
        }
    }
}

/// Activation rows in F32 and, once a quantized weight asks for them, in 8 bits (quantized once,
/// shared by every matrix that reads the same rows, e.g. Q, K and V).
public final class Activations: @unchecked Sendable {
    public let capacity: Int
    private let q: UnsafeMutablePointer<Int8>
    private let d: UnsafeMutablePointer<Float>
    private let s16: UnsafeMutablePointer<Float>
    private let sum32: UnsafeMutablePointer<Int32>
    private let bf16: UnsafeMutablePointer<UInt16>
    private(set) var floats: UnsafePointer<Float>
    private(set) var rows = 0
    private(set) var cols = 0
    private var isQuantized = false
    private var isRoundedToBF16 = false

    /// `capacity`: the most floats (rows × cols) ever held at once.
    public init(capacity: Int) {
        self.capacity = capacity
        q = .allocate(capacity: capacity)
        d = .allocate(capacity: capacity / 32 + 1)
        s16 = .allocate(capacity: capacity / 16 + 2)
        sum32 = .allocate(capacity: capacity / 32 + 1)
        bf16 = .allocate(capacity: capacity)
        floats = UnsafePointer(d)
    }

    deinit {
        q.deallocate()
        d.deallocate()
        s16.deallocate()
        sum32.deallocate()
        bf16.deallocate()
    }

    /// Points at new rows (nothing is copied); the previous quantization is forgotten.
    public func set(_ x: UnsafePointer<Float>, rows: Int, cols: Int) {
        precondition(rows * cols <= capacity, "activation buffer too small")
        floats = x
        self.rows = rows
        self.cols = cols
        isQuantized = false
        isRoundedToBF16 = false
    }

    /// The rows rounded to BF16, for BF16 dot products (computed on first use).
    func roundedToBF16() -> UnsafePointer<UInt16> {
        if !isRoundedToBF16 {
            bora_to_bf16(floats, bf16, rows * cols)
            isRoundedToBF16 = true
        }
        return UnsafePointer(bf16)
    }

    /// The rows quantized to 8 bits in blocks of 32 (computed on first use).
    func quantized(pool: ThreadPool) -> Quantized {
        if !isQuantized {
            // A few rows (decode) quantize faster on this thread than the pool can be woken for them.
            if rows * cols <= 65_536 {
                quantizeJob.execute(thread: 0, threads: 1)
            } else {
                pool.run(quantizeJob)
            }
            isQuantized = true
        }
        return Quantized(q: q, d: d, s16: s16, sum32: sum32)
    }

    private lazy var quantizeJob = QuantizeJob(self)
    lazy var productJob = MatMul.ProductJob()

    private final class QuantizeJob: ParallelJob {
        unowned let owner: Activations
        init(_ owner: Activations) { self.owner = owner }

        func execute(thread: Int, threads: Int) {
            let a = owner
            let range = ThreadPool.share(of: a.rows, thread: thread, threads: threads)
            guard !range.isEmpty else { return }
            let b = range.lowerBound * (a.cols / 32)
            bora_quantize_q8(a.floats + range.lowerBound * a.cols, Int64(a.cols), Int64(range.count),
                             a.q + range.lowerBound * a.cols, a.d + b, a.s16 + 2 * b, a.sum32 + b)
        }
    }

    struct Quantized {
        let q: UnsafePointer<Int8>
        let d: UnsafePointer<Float>
        let s16: UnsafePointer<Float>
        let sum32: UnsafePointer<Int32>

        init(q: UnsafeMutablePointer<Int8>, d: UnsafeMutablePointer<Float>, s16: UnsafeMutablePointer<Float>, sum32: UnsafeMutablePointer<Int32>) {
            self.q = UnsafePointer(q)
            self.d = UnsafePointer(d)
            self.s16 = UnsafePointer(s16)
            self.sum32 = UnsafePointer(sum32)
        }
    }
}

/// Products of weight matrices with batches of activation rows: `out[b][r] = W[r] · x[b]`.
public enum MatMul {
    /// Rows handed to one thread at a time stay multiples of this (the micro-kernels' tile height).
    static let rowGranularity = 4

    /// `out = W · x`, and up to two more products reading the same activations (Q, K and V; gate
    /// and up) in the same dispatch to the thread pool, so the threads meet at one barrier, not three.
    public static func multiply(
        _ w: WeightMatrix, _ x: Activations, output out: UnsafeMutablePointer<Float>,
        and second: (WeightMatrix, UnsafeMutablePointer<Float>)? = nil,
        and third: (WeightMatrix, UnsafeMutablePointer<Float>)? = nil,
        then next: Upcoming? = nil,
        kernels: KernelChoice, pool: ThreadPool, workspace: Workspace
    ) {
        if kernels == .reference {
            for (m, o) in [(w, out), second, third].compactMap({ $0 }) {
                precondition(x.cols == m.cols, "\(m.name): \(m.cols) columns, activations have \(x.cols)")
                reference(m, input: x.floats, batch: x.rows, output: o, pool: pool, workspace: workspace)
            }
            return
        }
        let job = x.productJob
        job.set(0, weights: w, output: out)
        job.count = 1
        if let (m, o) = second { job.set(1, weights: m, output: o); job.count = 2 }
        if let (m, o) = third { job.set(2, weights: m, output: o); job.count = 3 }
        let needsQuantized = w.dtype.isQuantized || second?.0.dtype.isQuantized == true || third?.0.dtype.isQuantized == true
        precondition(x.cols == w.cols && (second.map { $0.0.cols == x.cols } ?? true) && (third.map { $0.0.cols == x.cols } ?? true),
                     "\(w.name): activations have \(x.cols) columns")
        job.quantized = needsQuantized ? x.quantized(pool: pool) : nil
        func bf16Dot(_ m: WeightMatrix?) -> Bool { m?.dtype == .bf16 && m?.packed != nil }
        let needsBF16 = (bf16Dot(w) || bf16Dot(second?.0) || bf16Dot(third?.0)) && bora_has_bf16_dot() != 0
        job.bf16 = needsBF16 ? x.roundedToBF16() : nil
        job.floats = x.floats
        job.batch = x.rows
        job.next = x.rows <= ProductJob.mostRowsPrefetching ? next : nil
        job.reset(threads: pool.threadCount)
        pool.run(job)
        job.clear()
    }

    /// A weight matrix as the kernels see it: plain values (no references), so that taking a
    /// chunk of a product costs no reference counting.
    struct Operand {
        var code: Int32 = 0
        var isQuantized = false
        var data: UnsafeRawPointer?
        var rowBytes = 0
        var rows = 0
        var cols = 0
        /// The packed copy (pack.c) and its whole groups of 16 rows; nil when there is none.
        var packed: UnsafeRawPointer?
        var groups = 0
        var packedBytes = 0
        var output: UnsafeMutablePointer<Float>?

        init() {}

        init(_ w: WeightMatrix, output: UnsafeMutablePointer<Float>? = nil) {
            code = w.dtype.kernelCode
            isQuantized = w.dtype.isQuantized
            data = w.data
            (rowBytes, rows, cols) = (w.rowBytes, w.rows, w.cols)
            if let p = w.packed { (packed, groups, packedBytes) = (UnsafeRawPointer(p.bytes), p.groups, p.byteCount) }
            self.output = output
        }
    }

    /// The matrices of the product that follows one (its first, second and third), whose first
    /// bytes the threads bring toward their caches when they finish early (`ProductJob`).
    public struct Upcoming {
        fileprivate let operands: (Operand, Operand, Operand)
        fileprivate let count: Int

        public init(_ first: WeightMatrix, _ second: WeightMatrix? = nil, _ third: WeightMatrix? = nil) {
            operands = (Operand(first), second.map { Operand($0) } ?? Operand(), third.map { Operand($0) } ?? Operand())
            count = third != nil ? 3 : second != nil ? 2 : 1
        }

        fileprivate func operand(_ i: Int) -> Operand { i == 0 ? operands.0 : i == 1 ? operands.1 : operands.2 }
    }

    /// Products of up to three matrices with the same activations, cut into chunks of rows (of
    /// groups of 16 rows for repacked weights), the matrices' chunks numbered one after another.
    /// Each thread starts with its own contiguous run of them and takes its chunks in order, so
    /// its weights stream without a break (the matrices of one job lie end to end in
    /// `PackedArena`); a thread done with its run takes chunks from the back of another's, so a
    /// thread slowed by the system leaves work to the others instead of holding them at the
    /// barrier. (Dealing the chunks out one by one instead — thread A the 1st, B the 2nd, A the
    /// 3rd… — started a cold stream at every chunk: on the 1.1B model's matrices,
    /// `Benchmarks/model-stream.sh`'s harness read 3–4% slower at a 32–34 GB/s probe and 10–11%
    /// at a 56 GB/s one.) Which thread computes a row never changes its bits.
    ///
    /// A thread that has no chunk left waits: for the others at the barrier, then (a worker) for
    /// the next job while the calling thread does the work between products (norms, RoPE,
    /// attention, the activations' quantization). Memory is idle then, so for steps of a few rows
    /// (decode, whose time is the weights' streaming) each thread prefetches into its L2 the start
    /// of its run in the next product (`Upcoming`), up to `prefetchLimit` bytes. (1.1B Q4_K_M
    /// decode, runs with and without it alternating in one process, 20–30 pairs each: medians
    /// +0.9–1.5% at 128 KB, +0.5% at 32 KB, +1.7% at 512 KB; on 2026-12-07 `perf` put the threads'
    /// waiting at about 4% of decode time.) Made once per activation buffer.
    final class ProductJob: ParallelJob {
        typealias Cut = (units: Int, perChunk: Int, chunks: Int)
        /// Steps of more rows are compute-bound (their threads rarely wait), and their activations
        /// are what the L2 should hold.
        static let mostRowsPrefetching = 8
        /// The most bytes a thread prefetches of the next product: about what one core's share of
        /// the bandwidth (25–30 GB/s) brings in in the 5 µs between two products, and an eighth
        /// of a Zen 4 core's L2.
        static let prefetchLimit = 128 * 1024
        var next: Upcoming?
        /// The job's matrices (`count` of them), set before each run.
        private let operands = UnsafeMutablePointer<Operand>.allocate(capacity: 3)
        var count = 0
        var quantized: Activations.Quantized?
        var floats: UnsafePointer<Float>?
        var bf16: UnsafePointer<UInt16>?
        var batch = 0
        /// Chunks per thread: enough that uneven threads even out (≥ 2 groups each, so the kernels'
        /// two-group tiles apply).
        private static let chunksPerThread = 8
        /// How each matrix is cut (`plan`), and where its chunks start in the job's numbering.
        private var cuts: [Cut] = [(0, 0, 0), (0, 0, 0), (0, 0, 0)]
        private var firstChunk = [0, 0, 0, 0]
        /// Per thread, its run of chunk numbers still to take (`bora_take_chunk`).
        private var runs = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        private var runCapacity = 1

        init() { operands.initialize(repeating: Operand(), count: 3) }

        deinit {
            operands.deallocate()
            runs.deallocate()
        }

        func set(_ index: Int, weights w: WeightMatrix, output: UnsafeMutablePointer<Float>) {
            operands[index] = Operand(w, output: output)
        }

        /// Call before each run, with the matrices, activations and `batch` set: cuts the matrices
        /// and gives each of `threads` threads its run of chunks.
        func reset(threads: Int) {
            if threads > runCapacity {
                runs.deallocate()
                runs = .allocate(capacity: threads)
                runCapacity = threads
            }
            for i in 0..<count {
                let m = operands[i]
                cuts[i] = Self.plan(m, packed: m.isQuantized ? quantized != nil : floats != nil, threads: threads)
                firstChunk[i + 1] = firstChunk[i] + cuts[i].chunks
            }
            var first = 0
            for t in 0..<threads {
                var end = firstChunk[count]
                if t + 1 < threads {
                    let (i, chunk) = Self.runStart(thread: t + 1, threads: threads, matrices: count) { cuts[$0] }
                    end = max(first, firstChunk[i] + chunk)
                }
                runs[t] = UInt64(end) << 32 | UInt64(first)
                first = end
            }
        }

        /// Where thread `thread`'s run starts (matrix, chunk within it): runs are of about equal
        /// work, thread t's starting at the chunk that holds unit total · t / threads.
        private static func runStart(thread: Int, threads: Int, matrices count: Int, cut: (Int) -> Cut) -> (matrix: Int, chunk: Int) {
            var total = 0
            for i in 0..<count { total += cut(i).units }
            var target = total * thread / threads, i = 0
            while i + 1 < count && target >= cut(i).units { target -= cut(i).units; i += 1 }
            return (i, min(cut(i).chunks, target / cut(i).perChunk))
        }

        func upcomingReads(thread: Int, threads: Int) -> UnsafeRawBufferPointer? {
            guard let next else { return nil }
            func cut(_ i: Int) -> Cut { Self.plan(next.operand(i), packed: true, threads: threads) }
            let (i, chunk) = Self.runStart(thread: thread, threads: threads, matrices: next.count, cut: cut)
            let m = next.operand(i), c = cut(i)
            let unit = chunk * c.perChunk
            guard unit < c.units else { return nil }
            guard let (base, unitBytes, total) = m.packed.map({ ($0, m.packedBytes / m.groups, m.packedBytes) })
                ?? m.data.map({ ($0, MatMul.rowGranularity * m.rowBytes, m.rows * m.rowBytes) }) else { return nil }
            let bytes = min(Self.prefetchLimit, total - unit * unitBytes)
            return bytes > 0 ? UnsafeRawBufferPointer(start: base + unit * unitBytes, count: bytes) : nil
        }

        func clear() {
            next = nil
            count = 0
        }

        /// How a matrix is cut: units (groups of 16 rows, or rows in multiples of `rowGranularity`),
        /// units per chunk, and chunks (one more for rows past the last packed group). `packed`:
        /// whether the packed copy is read (when the activations are in its kernel's form).
        private static func plan(_ m: Operand, packed: Bool, threads: Int) -> Cut {
            let groups = packed && m.packed != nil ? m.groups : nil
            let units = groups ?? (m.rows + MatMul.rowGranularity - 1) / MatMul.rowGranularity
            var perChunk = max(2, units / max(1, threads * Self.chunksPerThread))
            perChunk += perChunk & 1
            let tail = groups.map { 16 * $0 < m.rows } == true ? 1 : 0
            return (units, perChunk, (units + perChunk - 1) / perChunk + tail)
        }

        func execute(thread: Int, threads: Int) {
            // Its own run first, from the front; then the others', from the back.
            for r in 0..<threads {
                let owner = (thread + r) % threads
                while true {
                    let c = Int(bora_take_chunk(runs + owner, r == 0 ? 0 : 1))
                    if c < 0 { break }
                    // Chunk c of the job: matrix i's chunks follow matrix i − 1's.
                    var i = 0
                    while c >= firstChunk[i + 1] { i += 1 }
                    let cut = cuts[i]
                    let start = (c - firstChunk[i]) * cut.perChunk
                    run(operands[i], units: start < cut.units ? start..<min(cut.units, start + cut.perChunk) : nil)
                }
            }
        }

        /// Units `units` of matrix `m` (nil: the rows after the last packed group).
        private func run(_ m: Operand, units: Range<Int>?) {
            guard let out = m.output, let data = m.data else { return }
            let (code, rowBytes, k, rows, batch) = (m.code, m.rowBytes, Int64(m.cols), Int64(m.rows), Int64(batch))
            if let packed = m.packed, !m.isQuantized, let input = floats {
                if let units {
                    bora_matmul_packed_float(code, packed, k, Int64(units.lowerBound), Int64(units.upperBound),
                                             input, bf16, batch, out, rows)
                } else {
                    bora_matmul_f(code, data, rowBytes, k, Int64(16 * m.groups), rows, input, batch, out, rows)
                }
            } else if let packed = m.packed, let x = quantized {
                // Rows past the last group of 16 keep the original layout.
                if let units {
                    bora_matmul_packed(code, packed, k, Int64(units.lowerBound), Int64(units.upperBound),
                                       x.q, x.d, x.s16, x.sum32, batch, out, rows)
                } else {
                    bora_matmul_q(code, data, rowBytes, k, Int64(16 * m.groups), rows, x.q, x.d, x.s16, batch, out, rows)
                }
            } else if let units {
                let g = MatMul.rowGranularity
                let range = Int64(units.lowerBound * g)..<Int64(min(m.rows, units.upperBound * g))
                if m.isQuantized, let x = quantized {
                    bora_matmul_q(code, data, rowBytes, k, range.lowerBound, range.upperBound, x.q, x.d, x.s16, batch, out, rows)
                } else if let input = floats {
                    bora_matmul_f(code, data, rowBytes, k, range.lowerBound, range.upperBound, input, batch, out, rows)
                }
            }
        }
    }

    /// The reference product: each weight row is dequantized to F32 once and dotted with every
    /// activation row in F32. Exact up to F32 rounding, so it is what the fast kernels are tested against.
    public static func reference(
        _ w: WeightMatrix, input x: UnsafePointer<Float>, batch: Int,
        output out: UnsafeMutablePointer<Float>, pool: ThreadPool, workspace: Workspace
    ) {
        precondition(workspace.floatsPerThread >= w.cols, "workspace too small for \(w.name)")
        pool.parallelFor(w.rows, granularity: 4) { rows, thread in
            let row = workspace.floats(for: thread)
            for r in rows {
                let weights: UnsafePointer<Float>
                if w.dtype == .f32 {
                    weights = w.rowPointer(r).assumingMemoryBound(to: Float.self)
                } else {
                    w.dequantizeRow(r, into: row)
                    weights = UnsafePointer(row)
                }
                for b in 0..<batch {
                    out[b * w.rows + r] = referenceDot(weights, x + b * w.cols, w.cols)
                }
            }
        }
    }

    /// Plain F32 dot product (8 partial sums), independent of the SIMD kernels under test.
    static func referenceDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var partial = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            partial += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var sum = partial.sum()
        while i < n { sum += a[i] * b[i]; i += 1 }
        return sum
    }
}
