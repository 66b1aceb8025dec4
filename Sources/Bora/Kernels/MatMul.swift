import CBoraKernels

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
    private(set) var floats: UnsafePointer<Float>
    private(set) var rows = 0
    private(set) var cols = 0
    private var isQuantized = false

    /// `capacity`: the most floats (rows × cols) ever held at once.
    public init(capacity: Int) {
        self.capacity = capacity
        q = .allocate(capacity: capacity)
        d = .allocate(capacity: capacity / 32 + 1)
        s16 = .allocate(capacity: capacity / 16 + 2)
        floats = UnsafePointer(d)
    }

    deinit {
        q.deallocate()
        d.deallocate()
        s16.deallocate()
    }

    /// Points at new rows (nothing is copied); the previous quantization is forgotten.
    public func set(_ x: UnsafePointer<Float>, rows: Int, cols: Int) {
        precondition(rows * cols <= capacity, "activation buffer too small")
        floats = x
        self.rows = rows
        self.cols = cols
        isQuantized = false
    }

    /// The rows quantized to 8 bits in blocks of 32 (computed on first use).
    func quantized(pool: ThreadPool) -> (q: UnsafePointer<Int8>, d: UnsafePointer<Float>, s16: UnsafePointer<Float>) {
        if !isQuantized {
            let blocks = cols / 32
            let (x, q, d, s16, cols) = (floats, self.q, self.d, self.s16, self.cols)
            pool.parallelFor(rows) { range, _ in
                bora_quantize_q8(x + range.lowerBound * cols, Int64(cols), Int64(range.count),
                                 q + range.lowerBound * cols, d + range.lowerBound * blocks, s16 + 2 * range.lowerBound * blocks)
            }
            isQuantized = true
        }
        return (UnsafePointer(q), UnsafePointer(d), UnsafePointer(s16))
    }
}

/// Products of weight matrices with batches of activation rows: `out[b][r] = W[r] · x[b]`.
public enum MatMul {
    /// Rows handed to one thread at a time stay multiples of this (the micro-kernels' tile height).
    static let rowGranularity = 4

    public static func multiply(
        _ w: WeightMatrix, _ x: Activations, output out: UnsafeMutablePointer<Float>,
        kernels: KernelChoice, pool: ThreadPool, workspace: Workspace
    ) {
        precondition(x.cols == w.cols, "\(w.name): \(w.cols) columns, activations have \(x.cols)")
        let batch = x.rows
        if kernels == .reference {
            reference(w, input: x.floats, batch: batch, output: out, pool: pool, workspace: workspace)
            return
        }
        let (code, data, rowBytes, k, rows) = (w.dtype.kernelCode, w.data, w.rowBytes, Int64(w.cols), Int64(w.rows))
        if w.dtype.isQuantized {
            let (q, d, s16) = x.quantized(pool: pool)
            pool.parallelFor(w.rows, granularity: rowGranularity) { range, _ in
                bora_matmul_q(code, data, rowBytes, k, Int64(range.lowerBound), Int64(range.upperBound),
                              q, d, s16, Int64(batch), out, rows)
            }
        } else {
            let input = x.floats
            pool.parallelFor(w.rows, granularity: rowGranularity) { range, _ in
                bora_matmul_f(code, data, rowBytes, k, Int64(range.lowerBound), Int64(range.upperBound),
                              input, Int64(batch), out, rows)
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
