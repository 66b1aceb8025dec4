/// Scalar reference dequantization of ggml's block formats, written from ggml's `dequantize_row_*`
/// (ggml-quants.c) and checked against the `gguf` Python package on the same bytes (see the tests).
/// The fast kernels are tested against these.
public enum QuantBlocks {
    /// Dequantizes `count` elements (a whole number of blocks) starting at `source`.
    public static func dequantize(_ dtype: DType, _ source: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
        let blocks = count / dtype.blockSize
        let bytes = source.assumingMemoryBound(to: UInt8.self)
        switch dtype {
        case .f32:
            for i in 0..<count { out[i] = source.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
        case .f16:
            for i in 0..<count { out[i] = floatFromHalf(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .bf16:
            for i in 0..<count { out[i] = floatFromBFloat16(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .q8_0:
            for b in 0..<blocks { q8_0(bytes + b * 34, out + b * 32) }
        case .q4_0:
            for b in 0..<blocks { q4_0(bytes + b * 18, out + b * 32) }
        case .q4_1:
            for b in 0..<blocks { q4_1(bytes + b * 20, out + b * 32) }
        case .q5_0:
            for b in 0..<blocks { q5_0(bytes + b * 22, out + b * 32) }
        case .q5_1:
            for b in 0..<blocks { q5_1(bytes + b * 24, out + b * 32) }
        case .q4_K:
            for b in 0..<blocks { q4_K(bytes + b * 144, out + b * 256) }
        case .q5_K:
            for b in 0..<blocks { q5_K(bytes + b * 176, out + b * 256) }
        case .q6_K:
            for b in 0..<blocks { q6_K(bytes + b * 210, out + b * 256) }
        case .q2_K:
            for b in 0..<blocks { q2_K(bytes + b * 84, out + b * 256) }
        case .q3_K:
            for b in 0..<blocks { q3_K(bytes + b * 110, out + b * 256) }
        case .iq4_nl:
            for b in 0..<blocks { iq4_nl(bytes + b * 18, out + b * 32) }
        case .iq4_xs:
            for b in 0..<blocks { iq4_xs(bytes + b * 136, out + b * 256) }
        }
    }

    @inline(__always)
    static func half(_ p: UnsafePointer<UInt8>, _ offset: Int = 0) -> Float {
        floatFromHalf(UInt16(p[offset]) | UInt16(p[offset + 1]) << 8)
    }

    static func q8_0(_ b: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b)
        for j in 0..<32 { y[j] = Float(Int8(bitPattern: b[2 + j])) * d }
    }

    static func q4_0(_ b: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b)
        let qs = b + 2
        for j in 0..<16 {
            y[j] = Float(Int(qs[j] & 0x0F) - 8) * d
            y[j + 16] = Float(Int(qs[j] >> 4) - 8) * d
        }
    }

    static func q4_1(_ b: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b), m = half(b, 2)
        let qs = b + 4
        for j in 0..<16 {
            y[j] = Float(qs[j] & 0x0F) * d + m
            y[j + 16] = Float(qs[j] >> 4) * d + m
        }
    }

    @inline(__always)
    static func highBits(_ p: UnsafePointer<UInt8>) -> UInt32 {
        UInt32(p[0]) | UInt32(p[1]) << 8 | UInt32(p[2]) << 16 | UInt32(p[3]) << 24
    }

    static func q5_0(_ b: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b)
        let qh = highBits(b + 2)
        let qs = b + 6
        for j in 0..<16 {
            let h0 = ((qh >> UInt32(j)) << 4) & 0x10
            let h1 = (qh >> UInt32(j + 12)) & 0x10
            y[j] = Float(Int32((UInt32(qs[j] & 0x0F) | h0)) - 16) * d
            y[j + 16] = Float(Int32((UInt32(qs[j] >> 4) | h1)) - 16) * d
        }
    }

    static func q5_1(_ b: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b), m = half(b, 2)
        let qh = highBits(b + 4)
        let qs = b + 8
        for j in 0..<16 {
            let h0 = ((qh >> UInt32(j)) << 4) & 0x10
            let h1 = (qh >> UInt32(j + 12)) & 0x10
            y[j] = Float(UInt32(qs[j] & 0x0F) | h0) * d + m
            y[j + 16] = Float(UInt32(qs[j] >> 4) | h1) * d + m
        }
    }

    /// The 6-bit scale and min of sub-block `j` (0..<8) packed in K-quants' 12 scale bytes.
    @inline(__always)
    static func scaleMinK4(_ j: Int, _ q: UnsafePointer<UInt8>) -> (scale: UInt8, min: UInt8) {
        if j < 4 {
            return (q[j] & 63, q[j + 4] & 63)
        }
        return ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }

    static func q4_K(_ b: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b), dmin = half(b, 2)
        let scales = b + 4
        var q = b + 16
        var out = y
        for pair in 0..<4 {
            let (s1, m1) = scaleMinK4(2 * pair, scales)
            let (s2, m2) = scaleMinK4(2 * pair + 1, scales)
            let d1 = d * Float(s1), min1 = dmin * Float(m1)
            let d2 = d * Float(s2), min2 = dmin * Float(m2)
            for l in 0..<32 { out[l] = d1 * Float(q[l] & 0x0F) - min1 }
            for l in 0..<32 { out[32 + l] = d2 * Float(q[l] >> 4) - min2 }
            q += 32
            out += 64
        }
    }

    static func q5_K(_ b: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b), dmin = half(b, 2)
        let scales = b + 4
        let qh = b + 16
        var ql = b + 48
        var out = y
        var u1: UInt8 = 1, u2: UInt8 = 2
        for pair in 0..<4 {
            let (s1, m1) = scaleMinK4(2 * pair, scales)
            let (s2, m2) = scaleMinK4(2 * pair + 1, scales)
            let d1 = d * Float(s1), min1 = dmin * Float(m1)
            let d2 = d * Float(s2), min2 = dmin * Float(m2)
            for l in 0..<32 { out[l] = d1 * Float((ql[l] & 0x0F) + (qh[l] & u1 != 0 ? 16 : 0)) - min1 }
            for l in 0..<32 { out[32 + l] = d2 * Float((ql[l] >> 4) + (qh[l] & u2 != 0 ? 16 : 0)) - min2 }
            ql += 32
            out += 64
            u1 <<= 2
            u2 <<= 2
        }
    }

    static func q6_K(_ b: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        var ql = b
        var qh = b + 128
        var sc = UnsafeRawPointer(b + 192).assumingMemoryBound(to: Int8.self)
        let d = half(b, 208)
        var out = y
        for _ in 0..<2 {
            for l in 0..<32 {
                let group = l / 16
                let q1 = Int(Int8(bitPattern: (ql[l] & 0x0F) | ((qh[l] >> 0) & 3) << 4)) - 32
                let q2 = Int(Int8(bitPattern: (ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4)) - 32
                let q3 = Int(Int8(bitPattern: (ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4)) - 32
                let q4 = Int(Int8(bitPattern: (ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4)) - 32
                out[l] = d * Float(sc[group]) * Float(q1)
                out[l + 32] = d * Float(sc[group + 2]) * Float(q2)
                out[l + 64] = d * Float(sc[group + 4]) * Float(q3)
                out[l + 96] = d * Float(sc[group + 6]) * Float(q4)
            }
            out += 128
            ql += 64
            qh += 32
            sc += 8
        }
    }

    static func q2_K(_ b: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let scales = b, d = half(b, 80), dmin = half(b, 82)
        var q = b + 16
        var out = y
        var index = 0
        for _ in 0..<2 {
            for shift in stride(from: 0, to: 8, by: 2) {
                for part in 0..<2 {
                    let sc = scales[index]
                    index += 1
                    let dl = d * Float(sc & 0x0F), ml = dmin * Float(sc >> 4)
                    for l in 0..<16 { out[l] = dl * Float((q[16 * part + l] >> UInt8(shift)) & 3) - ml }
                    out += 16
                }
            }
            q += 32
        }
    }

    /// Q3_K's 16 six-bit scales, unpacked from 12 bytes as ggml's dequantize_row_q3_K does, minus 32.
    static func scalesQ3K(_ p: UnsafePointer<UInt8>) -> [Int] {
        (0..<16).map { i -> Int in
            let low = i < 8 ? (p[i] & 0x0F) : (p[i - 8] >> 4)
            let high = (p[8 + i % 4] >> UInt8(2 * (i / 4))) & 3
            return Int(low | high << 4) - 32
        }
    }

    static func q3_K(_ b: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let hmask = b, d = half(b, 108)
        let scales = scalesQ3K(b + 96)
        var q = b + 32
        var out = y
        var index = 0
        var m: UInt8 = 1
        for _ in 0..<2 {
            for shift in stride(from: 0, to: 8, by: 2) {
                for part in 0..<2 {
                    let dl = d * Float(scales[index])
                    index += 1
                    for l in 0..<16 {
                        let low = Int((q[16 * part + l] >> UInt8(shift)) & 3)
                        out[l] = dl * Float(low - (hmask[16 * part + l] & m != 0 ? 0 : 4))
                    }
                    out += 16
                }
                m <<= 1
            }
            q += 32
        }
    }

    /// IQ4_NL's and IQ4_XS's non-linear 4-bit values (ggml's kvalues_iq4nl).
    static let iq4Values: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

    static func iq4_nl(_ b: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b)
        for j in 0..<16 {
            y[j] = d * Float(iq4Values[Int(b[2 + j] & 0x0F)])
            y[j + 16] = d * Float(iq4Values[Int(b[2 + j] >> 4)])
        }
    }

    static func iq4_xs(_ b: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b)
        let scalesHigh = UInt16(b[2]) | UInt16(b[3]) << 8
        for ib in 0..<8 {
            let low = (b[4 + ib / 2] >> UInt8(4 * (ib % 2))) & 0x0F
            let high = UInt8((scalesHigh >> UInt16(2 * ib)) & 3)
            let dl = d * Float(Int(low | high << 4) - 32)
            let qs = b + 8 + 16 * ib
            for j in 0..<16 {
                y[32 * ib + j] = dl * Float(iq4Values[Int(qs[j] & 0x0F)])
                y[32 * ib + j + 16] = dl * Float(iq4Values[Int(qs[j] >> 4)])
            }
        }
    }
}
