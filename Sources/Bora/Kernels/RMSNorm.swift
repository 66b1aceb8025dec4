import CBoraKernels

public enum RMSNorm {
    /// `out = x / sqrt(mean(x²) + eps) * gain` for each of `rows` rows of `gain.count` elements.
    public static func apply(
        _ x: UnsafePointer<Float>, gain: [Float], epsilon: Float, rows: Int, output out: UnsafeMutablePointer<Float>
    ) {
        let n = gain.count
        gain.withUnsafeBufferPointer { g in
            for r in 0..<rows {
                let row = x + r * n
                let meanSquare = bora_dot_f32(row, row, n) / Float(n)
                bora_scale_mul(row, 1 / (meanSquare + epsilon).squareRoot(), g.baseAddress!, out + r * n, n)
            }
        }
    }
}
