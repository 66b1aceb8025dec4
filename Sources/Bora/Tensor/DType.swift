/// The storage types Bora reads. Quantized layouts are ggml's, bit for bit (see `QuantBlocks.swift`),
/// so GGUF files from the llama.cpp ecosystem load without conversion.
public enum DType: String, Sendable, CaseIterable, Hashable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case q8_0 = "Q8_0"
    case q4_0 = "Q4_0"
    case q4_1 = "Q4_1"
    case q5_0 = "Q5_0"
    case q5_1 = "Q5_1"
    case q4_K = "Q4_K"
    case q5_K = "Q5_K"
    case q6_K = "Q6_K"
    case q2_K = "Q2_K"
    case q3_K = "Q3_K"
    case iq4_nl = "IQ4_NL"
    case iq4_xs = "IQ4_XS"

    /// Elements per block (1 for plain floats).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .iq4_nl: return 32
        case .q4_K, .q5_K, .q6_K, .q2_K, .q3_K, .iq4_xs: return 256
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q8_0: return 34   // f16 d, 32 × i8
        case .q4_0: return 18   // f16 d, 16 bytes of nibbles
        case .q4_1: return 20   // f16 d, f16 m, 16 bytes of nibbles
        case .q5_0: return 22   // f16 d, 4 bytes of high bits, 16 bytes of nibbles
        case .q5_1: return 24   // f16 d, f16 m, 4 bytes of high bits, 16 bytes of nibbles
        case .q4_K: return 144  // f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
        case .q5_K: return 176  // as Q4_K plus 32 bytes of high bits
        case .q6_K: return 210  // 128 bytes low nibbles, 64 bytes high bits, 16 × i8 scales, f16 d
        case .q2_K: return 84   // 16 bytes of 4-bit scale/min pairs, 64 bytes of 2-bit values, f16 d, f16 dmin
        case .q3_K: return 110  // 32 bytes of high bits, 64 bytes of 2-bit values, 12 bytes of 6-bit scales, f16 d
        case .iq4_nl: return 18 // f16 d, 16 bytes of nibbles indexing a non-linear table
        case .iq4_xs: return 136 // f16 d, u16 high scale bits, 4 bytes of low scale nibbles, 128 bytes of nibbles
        }
    }

    public var isQuantized: Bool { blockSize > 1 }

    /// Bytes needed for `count` elements, or nil when `count` is not a whole number of blocks.
    public func byteCount(elements count: Int) -> Int? {
        guard count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }

    /// ggml's `enum ggml_type` value.
    public var ggmlType: UInt32 {
        switch self {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q4_1: return 3
        case .q5_0: return 6
        case .q5_1: return 7
        case .q8_0: return 8
        case .q4_K: return 12
        case .q5_K: return 13
        case .q6_K: return 14
        case .q2_K: return 10
        case .q3_K: return 11
        case .iq4_nl: return 20
        case .iq4_xs: return 23
        case .bf16: return 30
        }
    }

    public init?(ggmlType: UInt32) {
        guard let match = DType.allCases.first(where: { $0.ggmlType == ggmlType }) else { return nil }
        self = match
    }

    /// The name of any ggml type id, so an error about an unsupported one can say what it is.
    public static func ggmlTypeName(_ id: UInt32) -> String {
        let names: [UInt32: String] = [
            0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
            10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS",
            17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS",
            24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16",
            34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
        ]
        return names[id] ?? "ggml type \(id)"
    }
}
