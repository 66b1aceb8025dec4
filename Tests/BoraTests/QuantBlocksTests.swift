import Foundation
import Testing
@testable import Bora

/// Dequantization must equal the `gguf` Python package's on the same bytes (random blocks written by
/// Tools/make_quant_references.py).
@Suite struct QuantBlocksTests {
    static let types: [(DType, String)] = [
        (.f16, "F16"), (.bf16, "BF16"), (.q8_0, "Q8_0"), (.q4_0, "Q4_0"), (.q4_1, "Q4_1"),
        (.q5_0, "Q5_0"), (.q5_1, "Q5_1"), (.q4_K, "Q4_K"), (.q5_K, "Q5_K"), (.q6_K, "Q6_K"),
        (.q2_K, "Q2_K"), (.q3_K, "Q3_K"), (.iq4_nl, "IQ4_NL"), (.iq4_xs, "IQ4_XS"),
    ]

    @Test(arguments: types)
    func dequantizationMatchesGGUFPackage(dtype: DType, name: String) throws {
        let raw = try Data(contentsOf: URL(fileURLWithPath: Fixtures.quant(name + ".bin")))
        let expectedData = try Data(contentsOf: URL(fileURLWithPath: Fixtures.quant(name + ".f32")))
        let expected = expectedData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(raw.count == expected.count / dtype.blockSize * dtype.blockBytes)
        var out = [Float](repeating: .nan, count: expected.count)
        raw.withUnsafeBytes { bytes in
            out.withUnsafeMutableBufferPointer { QuantBlocks.dequantize(dtype, bytes.baseAddress!, count: expected.count, into: $0.baseAddress!) }
        }
        var mismatches = 0
        for (a, b) in zip(out, expected) where !(a == b || (a.isNaN && b.isNaN)) { mismatches += 1 }
        #expect(mismatches == 0, "\(mismatches) of \(expected.count) values differ from gguf's")
    }

    @Test func halfConversionRoundTripsEveryHalf() {
        for bits in 0...UInt16.max {
            let f = floatFromHalf(bits)
            if f.isNaN { continue }
            #expect(halfFromFloat(f) == bits)
        }
    }

    @Test func halfRoundingIsNearestEven() {
        // 1 + 2^-11 lies exactly between two halves: ties go to the even one (1.0).
        #expect(halfFromFloat(1 + 0x1p-11) == 0x3C00)
        // 1 + 3·2^-11 lies between 1+2^-10 and 1+2^-9: ties to even (1 + 2^-9).
        #expect(halfFromFloat(1 + 3 * 0x1p-11) == 0x3C02)
        #expect(halfFromFloat(70000) == 0x7C00)          // overflow → +inf
        #expect(halfFromFloat(-0x1p-24) == 0x8001)       // smallest subnormal
        #expect(halfFromFloat(0x1p-26) == 0)             // underflow → 0
        #expect(floatFromHalf(halfFromFloat(.nan)).isNaN)
    }
}
