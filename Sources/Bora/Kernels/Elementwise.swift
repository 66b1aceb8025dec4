import CBoraKernels

public enum Elementwise {
    /// SwiGLU's gate: `gate[i] = silu(gate[i]) * up[i]`, with silu(x) = x / (1 + e^-x).
    public static func siluMultiply(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
        bora_silu_mul(gate, up, count)
    }

    /// `target[i] += source[i]`.
    public static func add(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int) {
        bora_axpy_f32(target, 1, source, count)
    }
}
