import Foundation
import CBoraKernels
import Testing
@testable import Bora

/// The fast kernels against the scalar reference, on random data whose shapes are not multiples of
/// the tiles (4 or 2 weight rows × 4 activation rows), the threads or the 64-row activation chunks.
@Suite struct KernelTests {
    /// Every SIMD level the CPU runs, best first (x86-64: AVX-512 VNNI, AVX2; arm64: i8mm, dotprod,
    /// NEON): the packed kernels, which have no portable body, run at each.
    static var simdLevels: [Int32] { Array(stride(from: bora_isa(), to: Int32(BORA_ISA_PORTABLE), by: -1)) }
    /// The same and the portable C.
    static var allLevels: [Int32] { simdLevels + [Int32(BORA_ISA_PORTABLE)] }

    struct RNG {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func float() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
    }

    /// Random blocks of `dtype` with finite, moderate float16 scales.
    static func randomWeights(_ dtype: DType, rows: Int, cols: Int, rng: inout RNG) -> [UInt8] {
        let blocks = rows * cols / dtype.blockSize
        var bytes = (0..<(blocks * dtype.blockBytes)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let scaleOffsets: [Int]
        switch dtype {
        case .q8_0, .q4_0, .q5_0, .iq4_nl, .iq4_xs: scaleOffsets = [0]
        case .q4_1, .q5_1, .q4_K, .q5_K: scaleOffsets = [0, 2]
        case .q6_K: scaleOffsets = [208]
        case .q2_K: scaleOffsets = [80, 82]
        case .q3_K: scaleOffsets = [108]
        default: scaleOffsets = []
        }
        for b in 0..<blocks {
            for offset in scaleOffsets {
                let half = halfFromFloat(rng.float() * 0.05)
                bytes[b * dtype.blockBytes + offset] = UInt8(half & 0xFF)
                bytes[b * dtype.blockBytes + offset + 1] = UInt8(half >> 8)
            }
        }
        if !dtype.isQuantized {
            let values = (0..<(rows * cols)).map { _ in rng.float() }
            switch dtype {
            case .f32: bytes = values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
            case .f16: bytes = values.flatMap { v in withUnsafeBytes(of: halfFromFloat(v).littleEndian) { Array($0) } }
            default: bytes = values.flatMap { v in withUnsafeBytes(of: UInt16(v.bitPattern >> 16).littleEndian) { Array($0) } }
            }
        }
        return bytes
    }

    static func dequantized(_ dtype: DType, _ bytes: [UInt8], rows: Int, cols: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * cols)
        bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { QuantBlocks.dequantize(dtype, raw.baseAddress!, count: rows * cols, into: $0.baseAddress!) }
        }
        return out
    }

    static let quantizedTypes: [DType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K, .q2_K, .q3_K, .iq4_nl, .iq4_xs]
    static let shapes: [(rows: Int, batch: Int)] = [(13, 1), (7, 3), (9, 6), (6, 70)]

    /// Exact: the kernel's result equals the dot of the dequantized weights with the dequantized
    /// 8-bit activations, up to F32 rounding. Justified: it also stays within the activation
    /// quantization bound (each activation off by at most half its block's scale) of the F32 product.
    @Test(arguments: quantizedTypes)
    func quantizedMatmulMatchesReference(dtype: DType) {
        var rng = RNG(state: UInt64(dtype.ggmlType) * 7919)
        let cols = dtype.blockSize == 256 ? 512 : 96
        for (rows, batch) in Self.shapes {
            let weights = Self.randomWeights(dtype, rows: rows, cols: cols, rng: &rng)
            let w = Self.dequantized(dtype, weights, rows: rows, cols: cols)
            let x = (0..<(batch * cols)).map { _ in rng.float() * 3 }
            var q = [Int8](repeating: 0, count: batch * cols)
            var d = [Float](repeating: 0, count: batch * cols / 32)
            var s16 = [Float](repeating: 0, count: batch * cols / 16)
            var sum32 = [Int32](repeating: 0, count: batch * cols / 32)
            bora_quantize_q8(x, Int64(cols), Int64(batch), &q, &d, &s16, &sum32)
            for isa in KernelTests.allLevels {
                var out = [Float](repeating: .nan, count: batch * rows)
                // Two row ranges, as two threads would split them.
                let split = rows / 2 + 1
                bora_matmul_q_isa(isa, dtype.kernelCode, weights, weights.count / rows, Int64(cols), 0, Int64(split), q, d, s16, Int64(batch), &out, Int64(rows))
                bora_matmul_q_isa(isa, dtype.kernelCode, weights, weights.count / rows, Int64(cols), Int64(split), Int64(rows), q, d, s16, Int64(batch), &out, Int64(rows))
                for b in 0..<batch {
                    for r in 0..<rows {
                        var exact = 0.0, float = 0.0, magnitude = 0.0, bound = 0.0
                        for i in 0..<cols {
                            let wi = Double(w[r * cols + i])
                            let dx = Double(d[(b * cols + i) / 32])
                            exact += wi * dx * Double(q[b * cols + i])
                            float += wi * Double(x[b * cols + i])
                            magnitude += abs(wi * dx * Double(q[b * cols + i]))
                            bound += abs(wi) * dx / 2
                        }
                        let got = Double(out[b * rows + r])
                        #expect(abs(got - exact) <= 1e-5 * magnitude + 1e-6, "\(dtype) isa \(isa) [\(b), \(r)]: \(got) vs \(exact)")
                        #expect(abs(got - float) <= bound * 1.001 + 1e-5 * magnitude + 1e-6, "\(dtype) isa \(isa): beyond the quantization bound")
                    }
                }
            }
        }
    }

    /// A weight matrix over bytes written to a temporary file (as a model's would be mapped).
    static func matrix(_ dtype: DType, _ bytes: [UInt8], rows: Int, cols: Int, name: String) throws -> WeightMatrix {
        let path = Fixtures.temporaryFile(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let file = try MappedFile(path: path)
        let tensor = TensorData(name: name, dtype: dtype, shape: [rows, cols], pointer: file.base, byteCount: bytes.count, file: file)
        return try WeightMatrix(tensor, rows: rows, cols: cols)
    }

    /// The whole product as the model runs it (`MatMul.multiply`): repacked groups of 16 rows (on
    /// AVX2 or AVX-512 VNNI CPUs), the tail rows row-major, threads splitting the groups, activation
    /// rows in tiles and chunks of 128 — exact against the dequantized weights and 8-bit activations.
    /// The packed kernels of every instruction set the CPU has are also run directly.
    @Test(arguments: [DType.q4_0, .q4_1, .q8_0, .q4_K, .q5_0, .q5_1, .q5_K, .q6_K, .q3_K, .q2_K, .iq4_nl, .iq4_xs])
    func repackedMatmulMatchesReference(dtype: DType) throws {
        var rng = RNG(state: 4242 &+ UInt64(dtype.ggmlType))
        let cols = dtype.blockSize == 256 ? 512 : 96
        let pool = try ThreadPool(threads: 2)
        let workspace = Workspace(threadCount: 2, floatsPerThread: cols)
        let arena = PackedArena()
        for (rows, batch) in [(37, 1), (48, 1), (53, 7), (37, 131), (16, 2), (9, 3)] {
            let bytes = Self.randomWeights(dtype, rows: rows, cols: cols, rng: &rng)
            var w = try Self.matrix(dtype, bytes, rows: rows, cols: cols, name: "packed-\(dtype.rawValue)-\(rows)-\(batch)")
            let repacked = try w.repackIfSupported(into: arena)
            #expect(repacked == (bora_packed_supported(dtype.kernelCode, Int64(cols)) != 0 && rows >= 16))
            let wf = Self.dequantized(dtype, bytes, rows: rows, cols: cols)
            let x = (0..<(batch * cols)).map { _ in rng.float() * 2 }
            let activations = Activations(capacity: batch * cols)
            x.withUnsafeBufferPointer { activations.set($0.baseAddress!, rows: batch, cols: cols) }
            let quantized = activations.quantized(pool: pool)

            func check(_ out: [Float], rows checkedRows: Int, _ label: String) {
                for b in 0..<batch {
                    for r in 0..<checkedRows {
                        var exact = 0.0, magnitude = 0.0
                        for i in 0..<cols {
                            let xi = Double(quantized.d[(b * cols + i) / 32]) * Double(quantized.q[b * cols + i])
                            exact += Double(wf[r * cols + i]) * xi
                            magnitude += abs(Double(wf[r * cols + i]) * xi)
                        }
                        #expect(abs(Double(out[b * rows + r]) - exact) <= 1e-5 * magnitude + 1e-6, "\(label) \(dtype) \(rows)×\(batch) [\(b), \(r)]")
                    }
                }
            }
            var out = [Float](repeating: .nan, count: batch * rows)
            out.withUnsafeMutableBufferPointer { MatMul.multiply(w, activations, output: $0.baseAddress!, kernels: .fast, pool: pool, workspace: workspace) }
            check(out, rows: rows, "MatMul")
            // Batch invariance: each activation row alone gives the same bits as in the batch.
            for b in 0..<batch {
                let one = Activations(capacity: cols)
                var single = [Float](repeating: .nan, count: rows)
                x.withUnsafeBufferPointer { one.set($0.baseAddress! + b * cols, rows: 1, cols: cols) }
                single.withUnsafeMutableBufferPointer { MatMul.multiply(w, one, output: $0.baseAddress!, kernels: .fast, pool: pool, workspace: workspace) }
                #expect(Array(out[(b * rows)..<((b + 1) * rows)]) == single, "MatMul \(dtype) \(rows)×\(batch): row \(b) differs alone")
            }

            if let packed = w.packed {
                for isa in KernelTests.simdLevels {
                    var direct = [Float](repeating: .nan, count: batch * rows)
                    bora_matmul_packed_isa(isa, dtype.kernelCode, packed.bytes, Int64(cols), 0, Int64(packed.groups),
                                           quantized.q, quantized.d, quantized.s16, quantized.sum32, Int64(batch), &direct, Int64(rows))
                    check(direct, rows: 16 * packed.groups, "isa \(isa)")
                    for b in 0..<batch {
                        var single = [Float](repeating: .nan, count: rows)
                        let blocks = b * cols / 32
                        bora_matmul_packed_isa(isa, dtype.kernelCode, packed.bytes, Int64(cols), 0, Int64(packed.groups),
                                               quantized.q + b * cols, quantized.d + blocks, quantized.s16 + 2 * blocks,
                                               quantized.sum32 + blocks, 1, &single, Int64(rows))
                        for r in 0..<(16 * packed.groups) {
                            #expect(direct[b * rows + r] == single[r], "\(dtype) isa \(isa) \(rows)×\(batch): row \(b) differs alone")
                        }
                    }
                }
            }
        }
    }

    /// BF16 rounding to nearest even, written independently of the kernels' conversion.
    static func bf16Rounded(_ x: Float) -> Float {
        let bits = x.bitPattern
        if bits & 0x7F80_0000 == 0 { return Float(bitPattern: bits & 0x8000_0000) }
        let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000
        return Float(bitPattern: rounded)
    }

    /// Packed matrices lie end to end in shared 2 MB-aligned slabs, each on a 64-byte boundary; a
    /// request larger than a slab gets one of its own; the bytes outlive the arena.
    @Test func packedArenaSharesSlabs() throws {
        var arena: PackedArena? = PackedArena()
        let (first, a) = try arena!.allocate(1000, for: "a")
        let (second, b) = try arena!.allocate(3000, for: "b")
        #expect(first === second)
        #expect(Int(bitPattern: first.base) % HugePageBuffer.pageSize == 0)
        #expect(a == first.base && b == first.base + 1024)
        let (large, c) = try arena!.allocate(PackedArena.slabSize + 1, for: "c")
        #expect(large !== first && c == large.base && large.size >= PackedArena.slabSize + 1 && large.size % HugePageBuffer.pageSize == 0)
        // The next request does not fit the large slab's tail (under 2 MB): a new slab.
        let (next, _) = try arena!.allocate(HugePageBuffer.pageSize, for: "d")
        #expect(next !== large && next !== first)
        arena = nil
        b.storeBytes(of: 0xABCD_EF01, as: UInt32.self)
        #expect(b.load(as: UInt32.self) == 0xABCD_EF01)
        #expect(second.size == PackedArena.slabSize)
    }

    /// Repacked F16 and BF16 weights through `MatMul.multiply` and each instruction set's kernel:
    /// exact against F32 products (BF16 dot products: against the activations rounded to BF16), and
    /// a row's outputs are bit-identical whether it is multiplied alone (decode) or in a batch.
    @Test(arguments: [DType.f16, .bf16])
    func repackedFloatMatmulMatchesReference(dtype: DType) throws {
        var rng = RNG(state: 777 &+ UInt64(dtype.ggmlType))
        let cols = 96
        let pool = try ThreadPool(threads: 2)
        let workspace = Workspace(threadCount: 2, floatsPerThread: cols)
        let arena = PackedArena()
        // Batches that leave every remainder tile: 1…5 rows after the 6-row tiles (AVX-512), 1…3
        // after the 4-row ones (AVX2).
        for (rows, batch) in [(37, 1), (48, 1), (53, 7), (37, 70), (16, 2), (83, 13), (21, 5), (40, 9), (34, 11)] {
            let bytes = Self.randomWeights(dtype, rows: rows, cols: cols, rng: &rng)
            var w = try Self.matrix(dtype, bytes, rows: rows, cols: cols, name: "packed-\(dtype.rawValue)-\(rows)-\(batch)")
            #expect(try w.repackIfSupported(into: arena) == (bora_isa() > BORA_ISA_PORTABLE))
            let wf = Self.dequantized(dtype, bytes, rows: rows, cols: cols)
            let x = (0..<(batch * cols)).map { _ in rng.float() * 2 }
            for isa in KernelTests.simdLevels {
                guard let packed = w.packed else { break }
                let roundsActivations = dtype == .bf16 && bora_has_bf16_dot_isa(isa) != 0
                var xb = [UInt16](repeating: 0, count: x.count)
                bora_to_bf16(x, &xb, x.count)
                #expect(!roundsActivations || xb.map { Float(bitPattern: UInt32($0) << 16) } == x.map(Self.bf16Rounded))
                var out = [Float](repeating: .nan, count: batch * rows)
                bora_matmul_packed_float_isa(isa, dtype.kernelCode, packed.bytes, Int64(cols), 0, Int64(packed.groups), x, xb,
                                             Int64(batch), &out, Int64(rows))
                for b in 0..<batch {
                    var single = [Float](repeating: .nan, count: rows)
                    bora_matmul_packed_float_isa(isa, dtype.kernelCode, packed.bytes, Int64(cols), 0, Int64(packed.groups),
                                                 Array(x[(b * cols)..<((b + 1) * cols)]), Array(xb[(b * cols)..<((b + 1) * cols)]),
                                                 1, &single, Int64(rows))
                    for r in 0..<(16 * packed.groups) {
                        var exact = 0.0, magnitude = 0.0
                        for i in 0..<cols {
                            let xi = roundsActivations ? Self.bf16Rounded(x[b * cols + i]) : x[b * cols + i]
                            exact += Double(wf[r * cols + i]) * Double(xi)
                            magnitude += abs(Double(wf[r * cols + i]) * Double(xi))
                        }
                        #expect(abs(Double(out[b * rows + r]) - exact) <= 1e-6 * magnitude + 1e-7, "\(dtype) isa \(isa) \(rows)×\(batch) [\(b), \(r)]")
                        #expect(out[b * rows + r] == single[r], "\(dtype) isa \(isa): row \(b) differs alone and in a batch")
                    }
                }
            }
            let activations = Activations(capacity: batch * cols)
            x.withUnsafeBufferPointer { activations.set($0.baseAddress!, rows: batch, cols: cols) }
            var out = [Float](repeating: .nan, count: batch * rows)
            out.withUnsafeMutableBufferPointer { MatMul.multiply(w, activations, output: $0.baseAddress!, kernels: .fast, pool: pool, workspace: workspace) }
            let roundsActivations = dtype == .bf16 && w.packed != nil && bora_has_bf16_dot() != 0
            for b in 0..<batch {
                for r in 0..<rows {
                    var exact = 0.0, magnitude = 0.0
                    for i in 0..<cols {
                        // Tail rows past the last group of 16 run row-major on the F32 activations.
                        let xi = roundsActivations && r < 16 * (rows / 16) ? Self.bf16Rounded(x[b * cols + i]) : x[b * cols + i]
                        exact += Double(wf[r * cols + i]) * Double(xi)
                        magnitude += abs(Double(wf[r * cols + i]) * Double(xi))
                    }
                    #expect(abs(Double(out[b * rows + r]) - exact) <= 1e-6 * magnitude + 1e-7, "MatMul \(dtype) \(rows)×\(batch) [\(b), \(r)]")
                }
            }
        }
    }

    @Test(arguments: [DType.f32, .f16, .bf16])
    func floatMatmulMatchesReference(dtype: DType) {
        var rng = RNG(state: 99)
        let cols = 75  // not a multiple of 8: exercises the scalar tail
        for (rows, batch) in Self.shapes {
            let weights = Self.randomWeights(dtype, rows: rows, cols: cols, rng: &rng)
            let w = Self.dequantized(dtype, weights, rows: rows, cols: cols)
            let x = (0..<(batch * cols)).map { _ in rng.float() }
            for isa in KernelTests.allLevels {
                var out = [Float](repeating: .nan, count: batch * rows)
                bora_matmul_f_isa(isa, dtype.kernelCode, weights, weights.count / rows, Int64(cols), 0, Int64(rows), x, Int64(batch), &out, Int64(rows))
                for b in 0..<batch {
                    for r in 0..<rows {
                        var exact = 0.0, magnitude = 0.0
                        for i in 0..<cols {
                            exact += Double(w[r * cols + i]) * Double(x[b * cols + i])
                            magnitude += abs(Double(w[r * cols + i]) * Double(x[b * cols + i]))
                        }
                        #expect(abs(Double(out[b * rows + r]) - exact) <= 1e-6 * magnitude + 1e-7, "\(dtype) isa \(isa)")
                    }
                }
            }
        }
    }

    /// The attention tile kernel against a direct softmax in Double: several key tiles walked in order
    /// (the online softmax), rows that see different key ranges (some none of a tile), head sizes that
    /// are and are not multiples of 16, blocks of 4 rows and a remainder; and each row's result is
    /// bit-identical when computed alone.
    @Test func attentionTilesMatchSoftmax() {
        var rng = RNG(state: 2024)
        for hd in [16, 64, 72] {
            for isa in KernelTests.allLevels {
                let rows = 7, keys = 150
                let q = (0..<(rows * hd)).map { _ in rng.float() * 8 }
                let k = (0..<(keys * hd)).map { _ in rng.float() * 2 }
                let v = (0..<(keys * hd)).map { _ in rng.float() }
                let first: [Int64] = [0, 3, 70, 0, 10, 129, 64], last: [Int64] = [149, 3, 140, 63, 100, 149, 64]
                let scale = 1 / Float(hd).squareRoot()
                func run(_ rowsRun: [Int]) -> [[Float]] {
                    Self.tileAttention(isa: isa, hd: hd, q: q, k: k, v: v, first: first, last: last, scale: scale, rows: rowsRun)
                }
                let together = run(Array(0..<rows))
                for r in 0..<rows {
                    var scores = [Double]()
                    for j in Int(first[r])...Int(last[r]) {
                        var dot = 0.0
                        for i in 0..<hd { dot += Double(q[r * hd + i]) * Double(k[j * hd + i]) }
                        scores.append(dot * Double(scale))
                    }
                    let top = scores.max()!
                    let weights = scores.map { exp($0 - top) }
                    let total = weights.reduce(0, +)
                    for i in 0..<hd {
                        var expected = 0.0
                        for (n, j) in (Int(first[r])...Int(last[r])).enumerated() { expected += weights[n] / total * Double(v[j * hd + i]) }
                        #expect(abs(Double(together[r][i]) - expected) < 2e-5, "hd \(hd) isa \(isa) row \(r) [\(i)]")
                    }
                    #expect(run([r])[0] == together[r], "hd \(hd) isa \(isa): row \(r) alone differs")
                }
            }
        }
    }

    /// The rows `rows` of `q` (head dimension `hd`) through the attention tile kernel at `isa`, over the
    /// keys and values `k`, `v` from position 0 walked in tiles as Attention walks them: each row's output.
    private static func tileAttention(isa: Int32, hd: Int, q: [Float], k: [Float], v: [Float], first: [Int64], last: [Int64],
                              scale: Float, rows: [Int]) -> [[Float]] {
        let n = rows.count, keys = k.count / hd, tile = Int(BORA_KEY_TILE)
        var qq = [Float](), ff = [Int64](), ll = [Int64]()
        for r in rows { qq += q[(r * hd)..<((r + 1) * hd)]; ff.append(first[r]); ll.append(last[r]) }
        var m = [Float](repeating: -.infinity, count: n), l = [Float](repeating: 0, count: n)
        var o = [Float](repeating: 0, count: n * hd), s = [Float](repeating: 0, count: n * tile)
        var start = 0
        while start < keys {
            let count = min(tile, keys - start)
            bora_attention_tile_isa(isa, qq, Int64(n), Int64(hd), Array(k[(start * hd)..<((start + count) * hd)]),
                                    Array(v[(start * hd)..<((start + count) * hd)]), Int64(count), Int64(start),
                                    ff, ll, scale, &m, &l, &o, &s)
            start += tile
        }
        return (0..<n).map { i in (0..<hd).map { o[i * hd + $0] / l[i] } }
    }

    /// A score computed in a block of rows × keys (the kernel's fast path) has the bits of the same
    /// dot product computed alone (its tail path): rows that see 3 keys are alone all tail, and beside
    /// a row that sees 4 keys, in blocks (the first 4 rows, and the next 4: AVX2 splits a block of 4
    /// rows into 2 × 2, and scores a block's lone last row against 4 keys). Scores differing in their
    /// last bit change the softmax's weights, and so the output, in most of these rows.
    @Test func attentionBlocksKeepTheBitsOfOneDot() {
        var rng = RNG(state: 77)
        for hd in [64, 128] {
            for isa in KernelTests.allLevels {
                let rows = 8, keys = 4
                let k = (0..<(keys * hd)).map { _ in rng.float() * 2 }, v = (0..<(keys * hd)).map { _ in rng.float() }
                for _ in 0..<20 {
                    let q = (0..<(rows * hd)).map { _ in rng.float() * 4 }
                    let first = [Int64](repeating: 0, count: rows), last: [Int64] = [3, 2, 2, 2, 2, 2, 2, 2]
                    func run(_ rowsRun: [Int]) -> [[Float]] {
                        Self.tileAttention(isa: isa, hd: hd, q: q, k: k, v: v, first: first, last: last, scale: 0.125, rows: rowsRun)
                    }
                    let together = run(Array(0..<rows))
                    for r in 1..<rows {
                        let alone = run([r])[0]
                        #expect(alone == together[r], "hd \(hd) isa \(isa): row \(r) in a block differs from alone")
                    }
                }
            }
        }
    }

    @Test func activationQuantization() {
        var rng = RNG(state: 5)
        let cols = 128, rows = 3
        var x = (0..<(rows * cols)).map { _ in rng.float() * 10 }
        x[5] = 0; x[40] = -12.7; x[64..<96] = ArraySlice(repeating: 0, count: 32)  // an all-zero block
        var results: [[Float]] = []
        var qs: [[Int8]] = []
        for isa in KernelTests.allLevels {
            var q = [Int8](repeating: 0, count: rows * cols)
            var d = [Float](repeating: 0, count: rows * cols / 32)
            var s16 = [Float](repeating: 0, count: rows * cols / 16)
            var sum32 = [Int32](repeating: 0, count: rows * cols / 32)
            bora_quantize_q8_isa(isa, x, Int64(cols), Int64(rows), &q, &d, &s16, &sum32)
            for block in 0..<(rows * cols / 32) {
                let values = x[(32 * block)..<(32 * block + 32)]
                #expect(d[block] == (values.map(abs).max()! / 127))
                for i in 0..<32 {
                    let error = abs(Float(q[32 * block + i]) * d[block] - x[32 * block + i])
                    #expect(error <= d[block] / 2 * 1.0001)
                }
                for half in 0..<2 {
                    let sum = (0..<16).reduce(0) { $0 + Int(q[32 * block + 16 * half + $1]) }
                    #expect(s16[2 * block + half] == d[block] * Float(sum))
                }
                #expect(Int(sum32[block]) == (0..<32).reduce(0) { $0 + Int(q[32 * block + $1]) })
            }
            results.append(d + s16 + sum32.map(Float.init))
            qs.append(q)
        }
        #expect(results[0] == results[1] && qs[0] == qs[1], "AVX2 and portable quantization differ")
    }

    /// The logits checks: a NaN or infinity anywhere (vector body or tail) is found; argmax takes
    /// the first of equal maxima.
    @Test func finiteCheckAndArgmax() {
        for n in [1, 15, 16, 17, 49_152] {
            var x = (0..<n).map { Float($0 % 7) - 3 }
            #expect(bora_all_finite(x, n) == 1)
            for bad in [Float.nan, .infinity, -.infinity] {
                for at in Set([0, n / 2, n - 1]) {
                    let saved = x[at]
                    x[at] = bad
                    #expect(bora_all_finite(x, n) == 0, "\(bad) at \(at) of \(n)")
                    x[at] = saved
                }
            }
            #expect(bora_argmax(x, n) == Int64(n > 6 ? 6 : n - 1))
        }
        #expect(bora_argmax([1, 5, 5, 2], 4) == 1)
    }

    @Test func vectorHelpers() {
        var rng = RNG(state: 11)
        for n in [1, 7, 8, 31, 32, 33, 128, 131] {
            let a = (0..<n).map { _ in rng.float() }
            let b = (0..<n).map { _ in rng.float() }
            var halves = [UInt16](repeating: 0, count: n)
            bora_f32_to_f16(b, &halves, n)
            #expect(halves == b.map(halfFromFloat))
            var rounded = b
            bora_round_to_f16(&rounded, n)
            #expect(rounded == halves.map(floatFromHalf))
            var widened = [Float](repeating: .nan, count: n)
            bora_f16_to_f32(halves, &widened, n)
            #expect(widened == rounded)
            let exact = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            #expect(abs(Double(bora_dot_f32(a, b, n)) - exact) < 1e-5)
            var y = a
            bora_axpy_f32(&y, 0.5, b, n)
            for i in 0..<n { #expect(abs(y[i] - (a[i] + 0.5 * b[i])) < 1e-6) }
        }
    }

    /// SiLU times up: within 3.5 ulp of the double-precision value (on 4M random gates the kernel's
    /// worst was 2.37 ulp and the libm-expf formula's 2.35), the same bits at every level and wherever
    /// an element falls in a vector, and the edges: ±0, subnormals, gates whose exp overflows or
    /// underflows, ±infinity and NaN.
    @Test func siluMultiply() {
        var rng = RNG(state: 29)
        let n = 4099
        var gate = (0..<n).map { i -> Float in
            rng.float() * [4, 30, 200, 1e-3][i % 4]
        }
        gate[0...16] = [0, -0, 1e-40, -1e-40, 16.6, -16.6, 17, -17, 87, -87, 88.5, -88.5, -1000, 1000, .infinity, -.infinity, .nan]
        let up = (0..<n).map { _ in rng.float() }
        var outputs: [[Float]] = []
        for isa in KernelTests.allLevels {
            var out = gate
            bora_silu_mul_isa(isa, &out, up, n)
            outputs.append(out)
            // Each element alone: the same bits as inside the vector.
            for i in stride(from: 0, to: n, by: 97) {
                var one = gate[i]
                bora_silu_mul_isa(isa, &one, [up[i]], 1)
                #expect(one.bitPattern == out[i].bitPattern || (one.isNaN && out[i].isNaN), "isa \(isa) [\(i)] alone")
            }
        }
        for (level, out) in zip(KernelTests.allLevels, outputs) {
            #expect(zip(out, outputs[0]).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }, "isa \(level) differs")
        }
        let out = outputs[0]
        for i in 0..<n {
            let g = Double(gate[i]), u = Double(up[i])
            if g.isNaN || g == -.infinity {
                #expect(out[i].isNaN, "silu(\(g)) = \(out[i])")
                continue
            }
            if g == .infinity {
                #expect(out[i] == Float(u * .infinity), "silu(inf)")
                continue
            }
            let exact = g / (1 + Foundation.exp(-g)) * u
            if abs(exact) < 1e-35 {
                // exp(-g) overflows: the result is taken as 0 (its exact value is below 2^-116).
                #expect(abs(Double(out[i])) < 1e-35, "silu(\(g)) = \(out[i])")
                continue
            }
            // Two roundings of the product with up on top of the sigmoid's.
            let ulp = Double(Float(exact).ulp)
            #expect(abs(Double(out[i]) - exact) <= 3.5 * ulp, "silu(\(g)) · \(u): \(out[i]) vs \(exact)")
        }
    }

    @Test func threadPoolCoversEveryIndexOnce() throws {
        let pool = try ThreadPool(threads: 3)
        for count in [0, 1, 2, 5, 64, 1001] {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
            hits.initialize(repeating: 0, count: max(count, 1))
            for _ in 0..<50 {
                pool.parallelFor(count, granularity: 4) { range, _ in
                    for i in range { hits[i] += 1 }
                }
            }
            for i in 0..<count { #expect(hits[i] == 50) }
            hits.deallocate()
        }
    }

    /// A job's `upcomingReads` is asked of each thread once per run, after its share, and the
    /// pool prefetches it while waiting without losing a job or a wake-up.
    @Test func threadPoolPrefetchesWhatAJobNamesNext() throws {
        final class Job: ParallelJob {
            let asked = UnsafeMutablePointer<Int>.allocate(capacity: 3)
            let done = UnsafeMutablePointer<Int>.allocate(capacity: 3)
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 64)
            init() { asked.initialize(repeating: 0, count: 3); done.initialize(repeating: 0, count: 3) }
            deinit { asked.deallocate(); done.deallocate(); buffer.deallocate() }
            func execute(thread: Int, threads: Int) { done[thread] += 1 }
            func upcomingReads(thread: Int, threads: Int) -> UnsafeRawBufferPointer? {
                // Asked once per run, after this thread's share (counted as a wrong answer otherwise).
                asked[thread] += done[thread] == asked[thread] + 1 ? 1 : 1_000_000
                return UnsafeRawBufferPointer(start: buffer + thread * (256 << 10), count: 256 << 10)
            }
        }
        let pool = try ThreadPool(threads: 3)
        let job = Job()
        for _ in 0..<500 { pool.run(job) }
        for t in 0..<3 { #expect(job.done[t] == 500 && job.asked[t] == 500) }
    }

    /// What a thread prefetches after a product: the start of its own run in the next one (runs
    /// of about equal work over the next matrices' groups of 16 rows, whole chunks), at most
    /// `prefetchLimit` bytes and never past that matrix's packed bytes.
    @Test func productThreadsPrefetchTheirNextRun() throws {
        guard bora_isa() > BORA_ISA_PORTABLE else { return }   // nothing is repacked
        var rng = RNG(state: 99)
        let arena = PackedArena()
        let cols = 4096
        var matrices: [WeightMatrix] = []
        for (i, rows) in [64, 32, 32].enumerated() {
            var w = try Self.matrix(.q4_0, Self.randomWeights(.q4_0, rows: rows, cols: cols, rng: &rng),
                                    rows: rows, cols: cols, name: "next-\(i)")
            #expect(try w.repackIfSupported(into: arena))
            matrices.append(w)
        }
        let job = MatMul.ProductJob()
        job.next = MatMul.Upcoming(matrices[0], matrices[1], matrices[2])
        let group = matrices[0].packed!.byteCount / 4
        func start(_ thread: Int, of threads: Int) -> (UnsafeRawPointer, Int)? {
            job.upcomingReads(thread: thread, threads: threads).map { ($0.baseAddress!, $0.count) }
        }
        let bases = matrices.map { UnsafeRawPointer($0.packed!.bytes) }
        // 8 groups (4 + 2 + 2) in chunks of 2: two threads start at groups 0 and 4 (the second
        // matrix's first), three at 0, 2 (8/3 = 2) and 4 (16/3 = 5, in the chunk of groups 4–5).
        #expect(start(0, of: 2)! == (bases[0], min(MatMul.ProductJob.prefetchLimit, 4 * group)))
        #expect(start(1, of: 2)! == (bases[1], min(MatMul.ProductJob.prefetchLimit, 2 * group)))
        #expect(start(1, of: 3)! == (bases[0] + 2 * group, min(MatMul.ProductJob.prefetchLimit, 2 * group)))
        #expect(start(2, of: 3)! == (bases[1], min(MatMul.ProductJob.prefetchLimit, 2 * group)))
        #expect(4 * group > MatMul.ProductJob.prefetchLimit, "the limit is not exercised")
        job.clear()
        #expect(job.upcomingReads(thread: 0, threads: 2) == nil)
    }

    /// A pool released before its workers have started (a context made and dropped at once, as on
    /// an early error) must shut down cleanly, not trap in a worker.
    @Test func threadPoolReleasedBeforeWorkersStart() throws {
        for _ in 0..<300 {
            let pool = try ThreadPool(threads: 4)
            #expect(pool.threadCount == 4)
        }
    }
}
