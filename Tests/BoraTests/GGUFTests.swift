import Foundation
import Testing
@testable import Bora

@Suite struct GGUFTests {
    private func load(_ builder: GGUFBuilder, _ name: String = #function) throws -> LanguageModel {
        let path = Fixtures.temporaryFile(name.filter { $0.isLetter || $0.isNumber } + ".gguf")
        try builder.write(to: path)
        return try LanguageModel(path: path)
    }

    private func expectError(_ expected: BoraError, _ builder: GGUFBuilder, name: String = #function) throws {
        let path = Fixtures.temporaryFile(name.filter { $0.isLetter || $0.isNumber } + ".gguf")
        try builder.write(to: path)
        #expect(throws: expected) { try LanguageModel(path: path) }
    }

    @Test func validBuilderModelLoadsAndRuns() throws {
        let model = try load(.tinyLlama())
        #expect(model.config.embeddingDim == 32 && model.config.kvHeadCount == 1 && model.config.tiedEmbeddings)
        let logits = try InferenceContext(model: model).evaluate([1, 2, 3])
        #expect(logits.count == 16 && logits.allSatisfy(\.isFinite))
    }

    @Test func everyMetadataTypeIsRead() throws {
        var b = GGUFBuilder.tinyLlama()
        b.version = 2
        b.metadata += [
            ("t.u8", .uint8(200)), ("t.i8", .int8(-100)), ("t.u16", .uint16(60000)), ("t.i16", .int16(-30000)),
            ("t.u32", .uint32(4_000_000_000)), ("t.i32", .int32(-2_000_000_000)), ("t.u64", .uint64(1 << 60)),
            ("t.i64", .int64(-(1 << 60))), ("t.f32", .float32(1.5)), ("t.f64", .float64(-2.25)), ("t.bool", .bool(true)),
            ("t.str", .string("héllo ✓")),
            ("t.arr", .array(elementType: 5, [.int32(1), .int32(-2)])),
            ("t.nested", .array(elementType: 9, [.array(elementType: 8, [.string("a"), .string("b")]), .array(elementType: 8, [])])),
        ]
        let path = Fixtures.temporaryFile("metadata.gguf")
        try b.write(to: path)
        let file = try GGUFFile(path: path)
        let m = file.metadata
        #expect(file.version == 2)
        #expect(m["t.u8"] == .uint8(200) && m["t.i8"] == .int8(-100) && m["t.u16"] == .uint16(60000))
        #expect(m["t.i16"] == .int16(-30000) && m["t.u32"] == .uint32(4_000_000_000) && m["t.i32"] == .int32(-2_000_000_000))
        #expect(m["t.u64"] == .uint64(1 << 60) && m["t.i64"] == .int64(-(1 << 60)))
        #expect(m["t.f32"] == .float32(1.5) && m["t.f64"] == .float64(-2.25) && m["t.bool"] == .bool(true))
        #expect(m["t.str"]?.string == "héllo ✓")
        #expect(m["t.arr"] == .array([.int32(1), .int32(-2)]))
        #expect(m["t.nested"] == .array([.array([.string("a"), .string("b")]), .array([])]))
        #expect(file.metadataKeys.first == "general.architecture" && file.metadataKeys.last == "t.nested")
    }

    @Test func customAlignmentIsHonoured() throws {
        var b = GGUFBuilder.tinyLlama()
        b.alignment = 64
        b.metadata.append(("general.alignment", .uint32(64)))
        let model = try load(b)
        #expect(model.files.gguf?.alignment == 64)
        #expect(try InferenceContext(model: model).evaluate([1]).allSatisfy(\.isFinite))
    }

    @Test func badMagic() throws {
        let path = Fixtures.temporaryFile("magic.gguf")
        var bytes = GGUFBuilder.tinyLlama().bytes()
        bytes.replaceSubrange(0..<4, with: Array("GGML".utf8))
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: BoraError.badMagic(path: path, found: "\"GGML\"")) { try LanguageModel(path: path) }
    }

    @Test(arguments: [1, 4])
    func unsupportedVersion(version: Int) throws {
        var b = GGUFBuilder.tinyLlama()
        b.version = UInt32(version)
        try expectError(.unsupportedVersion(format: "GGUF", version: version), b, name: "version\(version)")
    }

    /// Cutting the file anywhere (header, metadata, tensor infos, data) gives an error, never a crash.
    @Test func truncatedAnywhere() throws {
        let bytes = GGUFBuilder.tinyLlama().bytes()
        let path = Fixtures.temporaryFile("cut.gguf")
        var cuts = Array(0..<1200)
        cuts += stride(from: 1200, to: bytes.count, by: 97)
        cuts.append(bytes.count - 1)
        for cut in cuts where cut < bytes.count {
            try Data(bytes[0..<cut]).write(to: URL(fileURLWithPath: path))
            do {
                _ = try LanguageModel(path: path)
                Issue.record("a file cut at \(cut) of \(bytes.count) bytes loaded")
            } catch {
                switch error {
                case .truncated, .tensorOutOfBounds: break
                default: Issue.record("cut at \(cut): unexpected error \(error)")
                }
            }
        }
    }

    @Test func tensorOutOfBounds() throws {
        var b = GGUFBuilder.tinyLlama()
        b.tensors[3].declaredOffset = 1 << 20
        let path = Fixtures.temporaryFile("bounds.gguf")
        try b.write(to: path)
        do {
            _ = try LanguageModel(path: path)
            Issue.record("loaded")
        } catch {
            guard case .tensorOutOfBounds(let tensor, _, _) = error else { Issue.record("\(error)"); return }
            #expect(tensor == "blk.0.attn_q.weight")
        }
    }

    @Test func overlappingTensors() throws {
        var b = GGUFBuilder.tinyLlama()
        b.tensors[4].offset = 0   // attn_k placed over token_embd
        let path = Fixtures.temporaryFile("overlap.gguf")
        try b.write(to: path)
        #expect(throws: BoraError.tensorsOverlap("token_embd.weight", "blk.0.attn_k.weight")) { try LanguageModel(path: path) }
    }

    @Test func misalignedOffset() throws {
        var b = GGUFBuilder.tinyLlama()
        b.tensors[1].offset = 4100
        let path = Fixtures.temporaryFile("misaligned.gguf")
        try b.write(to: path)
        #expect(throws: BoraError.invalidMetadata(key: "output_norm.weight", reason: "data offset 4100 is not aligned to 32 bytes")) {
            try LanguageModel(path: path)
        }
    }

    @Test func rowNotAWholeNumberOfBlocks() throws {
        var b = GGUFBuilder.tinyLlama()
        b.tensors[9].type = 2           // Q4_0 rows must hold multiples of 32 elements
        b.tensors[9].dims = [30, 64]
        try expectError(.invalidMetadata(key: "blk.0.ffn_up.weight", reason: "row length 30 is not a multiple of the Q4_0 block size 32"), b)
    }

    @Test func shapeDisagreesWithConfiguration() throws {
        var b = GGUFBuilder.tinyLlama()
        b.tensors[9].dims = [32, 32]    // ffn_up should be 64 × 32
        b.tensors[9].data = Array(b.tensors[9].data.prefix(32 * 32 * 4))
        try expectError(.unexpectedShape(tensor: "blk.0.ffn_up.weight", expected: [64, 32], found: [32, 32]), b)
    }

    @Test func missingTensor() throws {
        var b = GGUFBuilder.tinyLlama()
        b.tensors.remove(at: 10)
        try expectError(.missingTensor("blk.0.ffn_down.weight"), b)
    }

    @Test func unknownArchitecture() throws {
        var b = GGUFBuilder.tinyLlama()
        b.metadata[0] = ("general.architecture", .string("gpt2"))
        try expectError(.unknownArchitecture("gpt2"), b)
    }

    @Test(arguments: [(16, "IQ2_XXS"), (99, "ggml type 99")])
    func unknownDType(code: Int, name: String) throws {
        var b = GGUFBuilder.tinyLlama()
        b.tensors[5].type = UInt32(code)
        try expectError(.unknownDType(tensor: "blk.0.attn_v.weight", dtype: name), b, name: "dtype\(code)")
    }

    @Test func absurdDimensions() throws {
        var b = GGUFBuilder.tinyLlama()
        b.metadata[3] = ("llama.block_count", .uint32(5_000_000))
        try expectError(.absurdDimension(name: "layer count", value: 5_000_000), b, name: "blocks")

        b = GGUFBuilder.tinyLlama()
        b.metadata[5] = ("llama.attention.head_count", .uint32(0))
        try expectError(.absurdDimension(name: "llama.attention.head_count", value: 0), b, name: "heads")

        b = GGUFBuilder.tinyLlama()
        b.tensors[0].dims = [32, 16, 1, 1, 1]
        try expectError(.absurdDimension(name: "dimension count of 'token_embd.weight'", value: 5), b, name: "ndims")

        b = GGUFBuilder.tinyLlama()
        b.tensors[0].dims = [1 << 41, 16]
        try expectError(.absurdDimension(name: "a dimension of 'token_embd.weight'", value: 1 << 41), b, name: "hugedim")
    }

    @Test func absurdCountsAreRejectedBeforeAllocating() throws {
        var bytes = GGUFBuilder.tinyLlama().bytes()
        // The metadata count (bytes 16..<24) set to 2^62.
        withUnsafeBytes(of: UInt64(1 << 62).littleEndian) { bytes.replaceSubrange(16..<24, with: $0) }
        let path = Fixtures.temporaryFile("counts.gguf")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: BoraError.absurdDimension(name: "GGUF metadata count", value: 1 << 62)) { try LanguageModel(path: path) }
        // A plausible count the file cannot hold is a truncated file.
        withUnsafeBytes(of: UInt64(100_000).littleEndian) { bytes.replaceSubrange(16..<24, with: $0) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try LanguageModel(path: path)
            Issue.record("loaded")
        } catch {
            // Reading on, it either runs out of file or meets a "name" longer than any real one.
            switch error {
            case .truncated: break
            case .invalidMetadata(_, let reason) where reason.contains("corrupt file?"): break
            default: Issue.record("\(error)")
            }
        }
    }

    @Test func metadataOfTheWrongType() throws {
        var b = GGUFBuilder.tinyLlama()
        b.metadata[2] = ("llama.embedding_length", .string("4096"))
        try expectError(.invalidMetadata(key: "llama.embedding_length", reason: "expected an integer, found \"4096\""), b)
    }

    @Test func slidingWindowKeyAndOverride() throws {
        var b = GGUFBuilder.tinyLlama()
        b.metadata.append(("llama.attention.sliding_window", .uint32(4)))
        let path = Fixtures.temporaryFile("window.gguf")
        try b.write(to: path)
        #expect(try LanguageModel(path: path).config.slidingWindow == 4)
        #expect(try LanguageModel(path: path, options: .init(slidingWindow: 0)).config.slidingWindow == nil)
        #expect(try LanguageModel(path: path, options: .init(slidingWindow: 4096)).config.slidingWindow == 4096)
        #expect(throws: BoraError.invalidArgument("--sliding-window must be 0 (off) or positive, got -1")) {
            try LanguageModel(path: path, options: .init(slidingWindow: -1))
        }
    }

    @Test func emptyAndMissingFiles() throws {
        let path = Fixtures.temporaryFile("empty.gguf")
        try Data().write(to: URL(fileURLWithPath: path))
        #expect(throws: BoraError.truncated(path: path, what: "the header (the file is empty)")) { try LanguageModel(path: path) }
        #expect(throws: BoraError.fileNotFound(path: "/nonexistent/model.gguf")) { try LanguageModel(path: "/nonexistent/model.gguf") }
    }
}
