#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Rotary position embedding, applied in place to every head of a row.
public struct RoPE: Sendable {
    public let headDim: Int
    public let style: ModelConfig.RopeStyle
    /// Inverse frequencies θ^(-2i/d), computed in F32 as transformers does, so angles match it bit for bit.
    private let inverseFrequencies: [Float]

    public init(headDim: Int, theta: Float, style: ModelConfig.RopeStyle) {
        self.headDim = headDim
        self.style = style
        inverseFrequencies = (0..<headDim / 2).map { i in
            1 / powf(theta, Float(2 * i) / Float(headDim))
        }
    }

    /// Fills `table` with `headDim` floats per position (cos of each frequency, then sin), once per
    /// chunk: every layer rotates with the same angles.
    /// `offset` is added to every position (a negative one gives the rotation back by that much).
    public func fillTable(positions: Range<Int>, into table: UnsafeMutablePointer<Float>, offset: Int = 0) {
        let half = headDim / 2
        for (t, position) in positions.enumerated() {
            let row = table + t * headDim
            let p = Float(position + offset)
            for i in 0..<half {
                // The angle is rounded to F32 first (torch multiplies in F32); cos/sin are evaluated in
                // double and rounded, within an ulp of torch's F32 results.
                let angle = Double(inverseFrequencies[i] * p)
                row[i] = Float(cos(angle))
                row[half + i] = Float(sin(angle))
            }
        }
    }

    /// Rotates `heads` heads of `headDim` values at `x` with one position's row of the table.
    public func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, angles: UnsafePointer<Float>) {
        let half = headDim / 2
        for h in 0..<heads {
            let v = x + h * headDim
            switch style {
            case .interleaved:
                for i in 0..<half {
                    let a = v[2 * i], b = v[2 * i + 1]
                    let c = angles[i], s = angles[half + i]
                    v[2 * i] = a * c - b * s
                    v[2 * i + 1] = a * s + b * c
                }
            case .halfSplit:
                for i in 0..<half {
                    let a = v[i], b = v[i + half]
                    let c = angles[i], s = angles[half + i]
                    v[i] = a * c - b * s
                    v[i + half] = a * s + b * c
                }
            }
        }
    }
}
