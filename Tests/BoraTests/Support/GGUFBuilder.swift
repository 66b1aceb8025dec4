import Foundation
@testable import Bora

/// Writes GGUF bytes field by field, so tests can craft valid files and every kind of broken one.
struct GGUFBuilder {
    enum Value {
        case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
        case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
        case array(elementType: UInt32, [Value])

        var typeCode: UInt32 {
            switch self {
            case .uint8: return 0
            case .int8: return 1
            case .uint16: return 2
            case .int16: return 3
            case .uint32: return 4
            case .int32: return 5
            case .float32: return 6
            case .bool: return 7
            case .string: return 8
            case .array: return 9
            case .uint64: return 10
            case .int64: return 11
            case .float64: return 12
            }
        }
    }

    struct Tensor {
        var name: String
        var dims: [UInt64]          // ggml order, innermost first
        var type: UInt32
        var offset: UInt64? = nil   // nil: placed after the previous tensor
        var data: [UInt8]
        /// Written in the tensor info instead of the real offset (to describe data that is not there).
        var declaredOffset: UInt64? = nil
    }

    var version: UInt32 = 3
    var metadata: [(String, Value)] = []
    var tensors: [Tensor] = []
    var alignment = 32

    func bytes() -> [UInt8] {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func putString(_ s: String) { put(UInt64(s.utf8.count)); out.append(contentsOf: s.utf8) }
        func putValue(_ v: Value) {
            switch v {
            case .uint8(let x): put(x)
            case .int8(let x): put(x)
            case .uint16(let x): put(x)
            case .int16(let x): put(x)
            case .uint32(let x): put(x)
            case .int32(let x): put(x)
            case .uint64(let x): put(x)
            case .int64(let x): put(x)
            case .float32(let x): put(x.bitPattern)
            case .float64(let x): put(x.bitPattern)
            case .bool(let x): put(UInt8(x ? 1 : 0))
            case .string(let s): putString(s)
            case .array(let type, let values):
                put(type)
                put(UInt64(values.count))
                values.forEach(putValue)
            }
        }
        put(UInt32(0x4655_4747))
        put(version)
        put(UInt64(tensors.count))
        put(UInt64(metadata.count))
        for (key, value) in metadata {
            putString(key)
            put(value.typeCode)
            putValue(value)
        }
        var offsets: [UInt64] = []
        var next: UInt64 = 0
        for t in tensors {
            let offset = t.offset ?? next
            offsets.append(offset)
            next = (offset + UInt64(t.data.count) + UInt64(alignment) - 1) / UInt64(alignment) * UInt64(alignment)
        }
        for (t, offset) in zip(tensors, offsets) {
            putString(t.name)
            put(UInt32(t.dims.count))
            t.dims.forEach { put($0) }
            put(t.type)
            put(t.declaredOffset ?? offset)
        }
        while out.count % alignment != 0 { out.append(0) }
        let dataStart = out.count
        for (t, offset) in zip(tensors, offsets) {
            let end = dataStart + Int(offset) + t.data.count
            if out.count < end { out.append(contentsOf: [UInt8](repeating: 0, count: end - out.count)) }
            out.replaceSubrange((dataStart + Int(offset))..<end, with: t.data)
        }
        return out
    }

    func write(to path: String) throws {
        try Data(bytes()).write(to: URL(fileURLWithPath: path))
    }

    /// A complete, valid one-layer llama model with F32 weights (dim 32, 2 heads, 1 KV head, FFN 64,
    /// vocabulary 16), small enough to write per test.
    static func tinyLlama(dim: Int = 32, heads: Int = 2, kvHeads: Int = 1, ffn: Int = 64, vocab: Int = 16) -> GGUFBuilder {
        var b = GGUFBuilder()
        b.metadata = [
            ("general.architecture", .string("llama")),
            ("llama.context_length", .uint32(64)),
            ("llama.embedding_length", .uint32(UInt32(dim))),
            ("llama.block_count", .uint32(1)),
            ("llama.feed_forward_length", .uint32(UInt32(ffn))),
            ("llama.attention.head_count", .uint32(UInt32(heads))),
            ("llama.attention.head_count_kv", .uint32(UInt32(kvHeads))),
            ("llama.rope.freq_base", .float32(10000)),
            ("llama.attention.layer_norm_rms_epsilon", .float32(1e-5)),
        ]
        let headDim = dim / heads
        func f32(_ name: String, _ rows: Int, _ cols: Int, _ value: Float = 0.01) -> Tensor {
            let floats = (0..<(rows * cols)).map { i in value * Float((i * 7919) % 13) - 0.06 }
            let data = floats.flatMap { f in withUnsafeBytes(of: f.bitPattern.littleEndian) { Array($0) } }
            return Tensor(name: name, dims: rows == 1 ? [UInt64(cols)] : [UInt64(cols), UInt64(rows)], type: 0, data: data)
        }
        b.tensors = [
            f32("token_embd.weight", vocab, dim),
            f32("output_norm.weight", 1, dim, 0.1),
            f32("blk.0.attn_norm.weight", 1, dim, 0.1),
            f32("blk.0.attn_q.weight", heads * headDim, dim),
            f32("blk.0.attn_k.weight", kvHeads * headDim, dim),
            f32("blk.0.attn_v.weight", kvHeads * headDim, dim),
            f32("blk.0.attn_output.weight", dim, heads * headDim),
            f32("blk.0.ffn_norm.weight", 1, dim, 0.1),
            f32("blk.0.ffn_gate.weight", ffn, dim),
            f32("blk.0.ffn_up.weight", ffn, dim),
            f32("blk.0.ffn_down.weight", dim, ffn),
        ]
        return b
    }
}
