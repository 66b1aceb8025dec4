import Foundation
import Testing
@testable import Bora

@Suite struct SafetensorsTests {
    /// Writes a safetensors file from a JSON header string and a data section.
    private func write(header: String, data: [UInt8], name: String) throws -> String {
        let path = Fixtures.temporaryFile(name + ".safetensors")
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes += Array(header.utf8) + data
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func readsTensors() throws {
        let floats: [Float] = [1, -2, 3.5, 4]
        let data = floats.flatMap { f in withUnsafeBytes(of: f) { Array($0) } }
        let path = try write(header: #"{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#, data: data, name: "ok")
        let file = try SafetensorsFile(path: path)
        let t = try #require(try file.tensor(named: "w"))
        #expect(t.shape == [2, 2] && t.dtype == .f32 && t.byteCount == 16)
        #expect(t.pointer.loadUnaligned(fromByteOffset: 8, as: Float.self) == 3.5)
    }

    @Test func errors() throws {
        let zeros = [UInt8](repeating: 0, count: 16)
        let cases: [(String, [UInt8], (String) -> BoraError)] = [
            (#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,32]}}"#, zeros, { _ in .tensorOutOfBounds(tensor: "w", end: 32, available: 16) }),
            (#"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}}"#, zeros,
             { _ in .tensorSizeMismatch(tensor: "w", shape: [2, 3], dtype: "F32", expectedBytes: 24, actualBytes: 16) }),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, zeros,
             { _ in .tensorsOverlap("a", "b") }),
            (#"{"w":{"dtype":"F32","shape":[2,2]}}"#, zeros, { p in .invalidJSON(path: p, reason: "entry 'w' lacks dtype, shape or data_offsets") }),
            (#"[1,2]"#, zeros, { p in .invalidJSON(path: p, reason: "safetensors header is not a JSON object") }),
        ]
        for (index, (header, data, expected)) in cases.enumerated() {
            let path = try write(header: header, data: data, name: "err\(index)")
            #expect(throws: expected(path)) { try SafetensorsFile(path: path) }
        }
        let broken = try write(header: #"{"w": {"dtype": "F32", "#, data: zeros, name: "json")
        #expect(throws: BoraError.self) { try SafetensorsFile(path: broken) }

        // Integer tensors are fine in a file but cannot be weights.
        let ints = try write(header: #"{"w":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#, data: zeros, name: "i64")
        #expect(throws: BoraError.unknownDType(tensor: "w", dtype: "I64")) { try SafetensorsFile(path: ints).tensor(named: "w") }
    }

    @Test func truncatedHeader() throws {
        let path = Fixtures.temporaryFile("short.safetensors")
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(500).littleEndian) { bytes.append(contentsOf: $0) }
        bytes += Array(#"{"w":"#.utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: BoraError.truncated(path: path, what: "the safetensors JSON header")) { try SafetensorsFile(path: path) }
    }
}

@Suite struct ModelFolderTests {
    /// A copy of a fixture folder that a test may modify.
    private func copy(_ fixture: String, _ name: String) throws -> String {
        let target = Fixtures.temporaryFile(name)
        try? FileManager.default.removeItem(atPath: target)
        try FileManager.default.copyItem(atPath: Fixtures.model(fixture), toPath: target)
        return target
    }

    private func editConfig(_ folder: String, file: String = "config.json", _ edit: (inout [String: Any]) -> Void) throws {
        let url = URL(fileURLWithPath: folder + "/" + file)
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        edit(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    @Test func unknownArchitecture() throws {
        let folder = try copy("tiny-mistral-hf", "arch")
        try editConfig(folder) { $0["architectures"] = ["GPT2LMHeadModel"] }
        #expect(throws: BoraError.unknownArchitecture("GPT2LMHeadModel")) { try LanguageModel(path: folder) }
    }

    @Test func ropeScalingIsRefused() throws {
        let folder = try copy("tiny-mistral-hf", "rope")
        try editConfig(folder) { $0["rope_scaling"] = ["rope_type": "yarn", "factor": 4.0] }
        #expect(throws: BoraError.unsupportedModel("RoPE scaling type 'yarn' is not supported")) { try LanguageModel(path: folder) }
    }

    @Test func malformedConfig() throws {
        let folder = try copy("tiny-mistral-hf", "badjson")
        try Data("{\"hidden_size\": 64,".utf8).write(to: URL(fileURLWithPath: folder + "/config.json"))
        #expect(throws: BoraError.self) { try LanguageModel(path: folder) }
        try editConfigMissingKey(folder)
    }

    private func editConfigMissingKey(_ folder: String) throws {
        try FileManager.default.copyItem(atPath: Fixtures.model("tiny-mistral-hf") + "/config.json", toPath: folder + "/c.json")
        try FileManager.default.removeItem(atPath: folder + "/config.json")
        try FileManager.default.moveItem(atPath: folder + "/c.json", toPath: folder + "/config.json")
        try editConfig(folder) { $0.removeValue(forKey: "num_hidden_layers") }
        #expect(throws: BoraError.invalidJSON(path: folder + "/config.json", reason: "missing 'num_hidden_layers'")) { try LanguageModel(path: folder) }
    }

    @Test func missingTensorInShards() throws {
        let folder = try copy("tiny-mistral-hf-bf16", "shards")
        // Point one tensor of the index at nothing: the shard that held it still holds it, so drop a shard instead.
        try FileManager.default.removeItem(atPath: folder + "/model-00002-of-00002.safetensors")
        #expect(throws: BoraError.fileNotFound(path: folder + "/model-00002-of-00002.safetensors")) { try LanguageModel(path: folder) }
    }

    @Test func missingLMHead() throws {
        let folder = try copy("tiny-mistral-hf", "nohead")
        try editConfig(folder) { $0["num_hidden_layers"] = 4 }
        #expect(throws: BoraError.missingTensor("model.layers.3.input_layernorm.weight")) { try LanguageModel(path: folder) }
    }

    @Test func folderWithoutConfig() throws {
        let folder = Fixtures.temporaryFile("emptyfolder")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        #expect(throws: BoraError.unsupportedModel("\(folder) holds neither config.json (Hugging Face) nor params.json (Mistral)")) {
            try LanguageModel(path: folder)
        }
    }

    @Test func safetensorsFilePathMeansItsFolder() throws {
        let model = try LanguageModel(path: Fixtures.model("tiny-mistral-hf") + "/model.safetensors")
        #expect(model.files.format == .huggingFace)
    }

    @Test func mistralParamsWithoutOptionalSizes() throws {
        let folder = try copy("tiny-mistral-native", "native")
        try editConfig(folder, file: "params.json") { $0.removeValue(forKey: "hidden_dim"); $0["vocab_size"] = -1 }
        let config = try LanguageModel(path: folder).config
        #expect(config.feedForwardDim == 160 && config.vocabularySize == 320)
    }
}
