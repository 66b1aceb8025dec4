import CBoraKernels

/// Products of a weight matrix with a batch of F32 activation rows: `out[b][r] = W[r] · x[b]`.
public enum MatMul {
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
                    out[b * w.rows + r] = bora_dot_f32(weights, x + b * w.cols, w.cols)
                }
            }
        }
    }
}
