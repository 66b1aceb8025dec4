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
        job.reset(threads: pool.threadCount)
        pool.run(job)
        job.clear()
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
    /// at a 56 GB/s one.) Which thread computes a row never changes its bits. Made once per
    /// activation buffer.
    final class ProductJob: ParallelJob {
        private var weights: (WeightMatrix?, WeightMatrix?, WeightMatrix?) = (nil, nil, nil)
        private var outputs: (UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?) = (nil, nil, nil)
        var count = 0
        var quantized: Activations.Quantized?
        var floats: UnsafePointer<Float>?
        var bf16: UnsafePointer<UInt16>?
        var batch = 0
        /// Chunks per thread: enough that uneven threads even out (≥ 2 groups each, so the kernels'
        /// two-group tiles apply).
        private static let chunksPerThread = 8
        /// How each matrix is cut (`plan`), and where its chunks start in the job's numbering.
        private var cuts: [(units: Int, perChunk: Int, chunks: Int)] = [(0, 0, 0), (0, 0, 0), (0, 0, 0)]
        private var firstChunk = [0, 0, 0, 0]
        /// Per thread, its run of chunk numbers still to take (`bora_take_chunk`).
        private var runs = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        private var runCapacity = 1

        deinit { runs.deallocate() }

        func set(_ index: Int, weights w: WeightMatrix, output: UnsafeMutablePointer<Float>) {
            switch index {
            case 0: weights.0 = w; outputs.0 = output
            case 1: weights.1 = w; outputs.1 = output
            default: weights.2 = w; outputs.2 = output
            }
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
                guard let (w, _) = matrix(i) else { break }
                cuts[i] = plan(w, threads: threads)
                firstChunk[i + 1] = firstChunk[i] + cuts[i].chunks
            }
            // Runs of about equal work: thread t starts at the chunk holding unit total · t / threads.
            var totalUnits = 0
            for i in 0..<count { totalUnits += cuts[i].units }
            var first = 0
            for t in 0..<threads {
                var end = firstChunk[count]
                if t + 1 < threads {
                    var target = totalUnits * (t + 1) / threads, i = 0
                    while i + 1 < count && target >= cuts[i].units { target -= cuts[i].units; i += 1 }
                    end = max(first, min(firstChunk[i + 1], firstChunk[i] + target / cuts[i].perChunk))
                }
                runs[t] = UInt64(end) << 32 | UInt64(first)
                first = end
            }
        }

        func clear() {
            weights = (nil, nil, nil)
            count = 0
        }

        private func matrix(_ i: Int) -> (WeightMatrix, UnsafeMutablePointer<Float>)? {
            switch i {
            case 0: if let w = weights.0, let o = outputs.0 { return (w, o) }
            case 1: if let w = weights.1, let o = outputs.1 { return (w, o) }
            default: if let w = weights.2, let o = outputs.2 { return (w, o) }
            }
            return nil
        }

        /// How `w` is cut: units (groups of 16 rows, or rows in multiples of `rowGranularity`),
        /// units per chunk, and chunks (one more for rows past the last packed group).
        private func plan(_ w: WeightMatrix, threads: Int) -> (units: Int, perChunk: Int, chunks: Int) {
            let groups = w.dtype.isQuantized ? (quantized == nil ? nil : w.packed?.groups) : (floats == nil ? nil : w.packed?.groups)
            let units = groups ?? (w.rows + MatMul.rowGranularity - 1) / MatMul.rowGranularity
            var perChunk = max(2, units / max(1, threads * Self.chunksPerThread))
            perChunk += perChunk & 1
            let tail = groups.map { 16 * $0 < w.rows } == true ? 1 : 0
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
                    guard let (w, out) = matrix(i) else { return }
                    let cut = cuts[i]
                    let start = (c - firstChunk[i]) * cut.perChunk
                    run(w, out, units: start < cut.units ? start..<min(cut.units, start + cut.perChunk) : nil)
                }
            }
        }

        /// Units `units` of `w` (nil: the rows after the last packed group).
        private func run(_ w: WeightMatrix, _ out: UnsafeMutablePointer<Float>, units: Range<Int>?) {
            let (code, data, rowBytes, k, rows, batch) = (w.dtype.kernelCode, w.data, w.rowBytes, Int64(w.cols), Int64(w.rows), Int64(batch))
            if let packed = w.packed, !w.dtype.isQuantized, let input = floats {
                if let units {
                    bora_matmul_packed_float(code, packed.bytes, k, Int64(units.lowerBound), Int64(units.upperBound),
                                             input, bf16, batch, out, rows)
                } else {
                    bora_matmul_f(code, data, rowBytes, k, Int64(16 * packed.groups), rows, input, batch, out, rows)
                }
            } else if let packed = w.packed, let x = quantized {
                // Rows past the last group of 16 keep the original layout.
                if let units {
                    bora_matmul_packed(code, packed.bytes, k, Int64(units.lowerBound), Int64(units.upperBound),
                                       x.q, x.d, x.s16, x.sum32, batch, out, rows)
                } else {
                    bora_matmul_q(code, data, rowBytes, k, Int64(16 * packed.groups), rows, x.q, x.d, x.s16, batch, out, rows)
                }
            } else if let units {
                let g = MatMul.rowGranularity
                let range = Int64(units.lowerBound * g)..<Int64(min(w.rows, units.upperBound * g))
                if w.dtype.isQuantized, let x = quantized {
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
