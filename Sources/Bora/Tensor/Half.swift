/// IEEE half and bfloat16 conversions written out by hand: `Float16` is unavailable on some
/// platforms Bora supports (macOS on x86-64), and these must be exact, not approximate.
@inline(__always)
public func floatFromHalf(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        // Zero or subnormal: mantissa × 2^-24, exact in Float.
        let magnitude = Float(mantissa) * (1.0 / 16_777_216.0)
        return sign != 0 ? -magnitude : magnitude
    }
    if exponent == 31 {
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}

/// Float → half with round-to-nearest-even, overflow to infinity, NaN kept NaN (as F16C's `vcvtps2ph`).
@inline(__always)
public func halfFromFloat(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    let exponent = Int((bits >> 23) & 0xFF)
    var mantissa = bits & 0x7F_FFFF
    if exponent == 0xFF {
        return sign | 0x7C00 | (mantissa != 0 ? 0x200 : 0)
    }
    let halfExponent = exponent - 127 + 15
    if halfExponent >= 31 { return sign | 0x7C00 }
    if halfExponent <= 0 {
        // Subnormal half (or zero).
        if halfExponent < -10 { return sign }
        mantissa |= 0x80_0000
        let shift = UInt32(14 - halfExponent)
        var half = mantissa >> shift
        let remainder = mantissa & ((1 << shift) - 1)
        let halfway = UInt32(1) << (shift - 1)
        if remainder > halfway || (remainder == halfway && (half & 1) != 0) { half += 1 }
        return sign | UInt16(half)
    }
    var half = UInt32(halfExponent) << 10 | (mantissa >> 13)
    let remainder = mantissa & 0x1FFF
    if remainder > 0x1000 || (remainder == 0x1000 && (half & 1) != 0) { half += 1 }
    return sign | UInt16(half)   // a carry into the exponent rounds up correctly, to infinity at most
}

@inline(__always)
public func floatFromBFloat16(_ b: UInt16) -> Float {
    Float(bitPattern: UInt32(b) << 16)
}
