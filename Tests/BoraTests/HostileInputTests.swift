import Foundation
import CBoraKernels
import Testing
@testable import Bora

/// Reproducers of the failures a hostile tester found (traps, aborts, near-hangs, silent garbage):
/// each must now be a clear error naming the problem, or a correct result.
@Suite struct HostileInputTests {
    // MARK: Traps and aborts

    /// A piece type varint that does not fit an Int (it used to trap converting it).
    @Test func sentencePieceVarintBeyondInt() {
        // ModelProto.pieces { piece: "a", type: 2⁶⁴ − 1 }
        let piece: [UInt8] = [0x0A, 0x01, 0x61, 0x18] + [UInt8](repeating: 0xFF, count: 9) + [0x01]
        let bytes: [UInt8] = [0x0A, UInt8(piece.count)] + piece
        #expect(throws: BoraError.invalidTokenizer("t.model: unknown piece type \(UInt64.max)")) {
            try bytes.withUnsafeBytes { try SentencePieceModelFile(bytes: $0, path: "t.model") }
        }
    }

    /// A KV cache for a context no machine holds, and one whose size overflows Int: errors naming the
    /// bytes, before anything is allocated.
    @Test func kvCacheBeyondMemory() {
        #expect {
            _ = try FullKVCache(layers: 32, kvHeads: 8, headDim: 128, capacity: 16_777_216, type: .f16)
        } throws: { error in
            guard case .insufficientMemory(let what, let needed, _) = error as? BoraError else { return false }
            return needed == 16_777_216 * 32 * 8 * 128 * 2 * 2 && what.contains("16777216 positions")
        }
        #expect {
            _ = try FullKVCache(layers: 32, kvHeads: 8, headDim: 128, capacity: Int.max / 2, type: .f32)
        } throws: { error in
            guard case .insufficientMemory(_, let needed, _) = error as? BoraError else { return false }
            return needed == .max && "\(error)".contains("more than")
        }
    }

    /// --max-context near Int.max and at 10⁸ on a real-sized configuration: errors, not aborts.
    @Test func absurdContextIsAnError() throws {
        let path = Fixtures.temporaryFile("tiny-context.gguf")
        try GGUFBuilder.tinyLlama().write(to: path)
        let model = try LanguageModel(path: path)
        for limit in [Int.max, Int.max / 3, 1 << 50] {
            #expect(throws: BoraError.self) { try InferenceContext(model: model, options: ContextOptions(maxContext: limit)) }
        }
        // A rolling cache does not bound the chunk: its scratch is what must fit.
        var windowed = GGUFBuilder.tinyLlama()
        windowed.metadata.append(("llama.attention.sliding_window", .uint32(8)))
        try windowed.write(to: path)
        let rolling = try LanguageModel(path: path)
        #expect { _ = try InferenceContext(model: rolling, options: ContextOptions(chunkSize: Int.max / 2)) } throws: {
            "\($0)".contains("the activations of a")
        }
        #expect { _ = try InferenceContext(model: rolling, options: ContextOptions(chunkSize: 1 << 40)) } throws: {
            "\($0)".contains("of memory are available")
        }
    }

    @Test func threadCountsOutOfRange() {
        for threads in [0, -3, 1000] {
            #expect(throws: BoraError.invalidArgument("threads must be between 1 and 512, got \(threads)")) {
                _ = try ThreadPool(threads: threads)
            }
        }
    }

    /// A metadata key whose length field swallows the rest of the file: a short error at once.
    @Test func ggufNameSwallowingTheFile() throws {
        var bytes = GGUFBuilder.tinyLlama().bytes()
        // The first key's length sits after magic, version and the two counts (24 bytes).
        let length = UInt64(bytes.count - 32)
        withUnsafeBytes(of: length.littleEndian) { bytes.replaceSubrange(24..<32, with: $0) }
        let path = Fixtures.temporaryFile("swallow.gguf")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try LanguageModel(path: path)
        } throws: { error in
            let text = "\(error)"
            return text.contains("names are at most 1024 bytes") && text.count < 300
        }
    }

    // MARK: Non-finite values

    /// A NaN in an activation block poisons its products instead of being squashed into codes.
    @Test func quantizedActivationsCarryNaN() {
        for isa in KernelTests.allLevels {
            for bad in [Float.nan, .infinity, -.infinity] {
                var x = [Float](repeating: 0.5, count: 64)
                x[37] = bad
                var q = [Int8](repeating: 0, count: 64), d = [Float](repeating: 0, count: 2)
                var s16 = [Float](repeating: 0, count: 4), sum = [Int32](repeating: 0, count: 2)
                bora_quantize_q8_isa(isa, x, 64, 1, &q, &d, &s16, &sum)
                #expect(d[0].isFinite && d[0] > 0, "isa \(isa): the clean block keeps its scale")
                #expect(d[1].isNaN && s16[2].isNaN && s16[3].isNaN, "isa \(isa): \(bad) must make its block's scale NaN")
            }
        }
    }

    /// A NaN norm gain (F32 file) and a NaN block scale (Q8_0 file): evaluation stops with an error
    /// naming the position, and the tensor check names the tensor.
    @Test func nonFiniteWeightsStopEvaluation() throws {
        var builder = GGUFBuilder.tinyLlama()
        let nan = Float.nan.bitPattern.littleEndian
        withUnsafeBytes(of: nan) { builder.tensors[1].data.replaceSubrange(8..<12, with: $0) }  // output_norm.weight[2]
        let f32Path = Fixtures.temporaryFile("nan-gain.gguf")
        try builder.write(to: f32Path)
        let model = try LanguageModel(path: f32Path)
        #expect(throws: BoraError.nonFiniteLogits(position: 2)) {
            try InferenceContext(model: model).evaluate([1, 2, 3])
        }
        let found = try TensorCheck.nonFinite(in: model.files.tensors)
        #expect(found == [NonFiniteWeight(tensor: "output_norm.weight", element: 2, value: .nan, count: 1)] || (found.count == 1 && found[0].tensor == "output_norm.weight" && found[0].element == 2))
        #expect(throws: BoraError.self) { try LanguageModel(path: f32Path, options: ModelLoadOptions(checkTensors: true)) }

        // Q8_0: the first block scale of blk.0.attn_q.weight becomes an f16 NaN.
        let source = Fixtures.model("tiny-mistral-q8_0.gguf")
        let gguf = try GGUFFile(file: MappedFile(path: source))
        let info = try #require(gguf.tensors.first { $0.name == "blk.0.attn_q.weight" })
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        bytes[gguf.dataOffset + info.offset] = 0x00
        bytes[gguf.dataOffset + info.offset + 1] = 0x7E
        let q8Path = Fixtures.temporaryFile("nan-scale.gguf")
        try Data(bytes).write(to: URL(fileURLWithPath: q8Path))
        let broken = try LanguageModel(path: q8Path)
        #expect(throws: BoraError.nonFiniteLogits(position: 1)) { try InferenceContext(model: broken).evaluate([1, 5]) }
        let bad = try TensorCheck.nonFinite(in: broken.files.tensors)
        #expect(bad.map(\.tensor) == ["blk.0.attn_q.weight"] && bad.first?.count == 32 && bad.first?.element == 0)
        #expect(try TensorCheck.nonFinite(in: LanguageModel(path: source).files.tensors).isEmpty)
    }

    // MARK: Configurations checked against the tensors

    /// A copy of the tiny Hugging Face Mistral with its config.json edited.
    static func editedMistral(_ name: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
        let folder = Fixtures.temporaryFile(name)
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let source = Fixtures.model("tiny-mistral-hf")
        try FileManager.default.createSymbolicLink(atPath: folder + "/model.safetensors", withDestinationPath: source + "/model.safetensors")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))) as! [String: Any]
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/config.json"))
        return folder
    }

    @Test func inconsistentConfigurations() throws {
        let negative = try Self.editedMistral("negative-window") { $0["sliding_window"] = -4 }
        #expect(throws: BoraError.invalidMetadata(key: "sliding_window", reason: "must be ≥ 0 or null, found -4")) {
            try ModelFiles.open(path: negative)
        }
        let fewerLayers = try Self.editedMistral("fewer-layers") { $0["num_hidden_layers"] = 2 }
        #expect {
            _ = try LanguageModel(path: fewerLayers)
        } throws: { "\($0)".contains("'model.layers.2.") && "\($0)".contains("2-layer") }
        let epsilon = try Self.editedMistral("epsilon") { $0["rms_norm_eps"] = 3.0 }
        #expect { _ = try ModelFiles.open(path: epsilon) } throws: { "\($0)".contains("RMS norm epsilon") }
        let theta = try Self.editedMistral("theta") { $0["rope_parameters"] = ["rope_theta": 1e30, "rope_type": "default"] }
        #expect { _ = try ModelFiles.open(path: theta) } throws: { "\($0)".contains("rope theta") }
    }

    @Test func ggufNegativeWindowAndRopeScaling() throws {
        var negative = GGUFBuilder.tinyLlama()
        negative.metadata.append(("llama.attention.sliding_window", .int32(-1)))
        let path = Fixtures.temporaryFile("negative-window.gguf")
        try negative.write(to: path)
        #expect { _ = try ModelFiles.open(path: path) } throws: { "\($0)".contains("llama.attention.sliding_window") }

        var yarn = GGUFBuilder.tinyLlama()
        yarn.metadata += [("llama.rope.scaling.type", .string("yarn")), ("llama.rope.scaling.factor", .float32(4))]
        try yarn.write(to: path)
        #expect { _ = try ModelFiles.open(path: path) } throws: { "\($0)".contains("RoPE scaling 'yarn'") }

        var freqs = GGUFBuilder.tinyLlama()
        freqs.tensors.append(.init(name: "rope_freqs.weight", dims: [8], type: 0, data: [UInt8](repeating: 0, count: 32)))
        try freqs.write(to: path)
        #expect { _ = try ModelFiles.open(path: path) } throws: { "\($0)".contains("rope_freqs.weight") }

        var unscaled = GGUFBuilder.tinyLlama()
        unscaled.metadata += [("llama.rope.scaling.type", .string("none"))]
        try unscaled.write(to: path)
        _ = try LanguageModel(path: path)
    }

    /// A broken tokenizer.model does not stop a model from loading and evaluating ids (`bora logits`):
    /// the tokenizer is read on first use, and only then fails.
    @Test func brokenTokenizerOnlyFailsWhenUsed() throws {
        let folder = try Self.editedMistral("broken-tokenizer") { _ in }
        try Data([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]).write(to: URL(fileURLWithPath: folder + "/tokenizer.model"))
        let model = try LanguageModel(path: folder)
        #expect(try InferenceContext(model: model).evaluate([1, 2, 3]).count == 320)
        #expect(throws: BoraError.self) { try model.tokenizer() }
        #expect(throws: BoraError.self) { try model.tokenizer() }   // the failure is kept, not retried
    }

    /// A shard index may only name files of the model's folder.
    @Test func shardIndexOutsideTheFolder() throws {
        let folder = try Self.editedMistral("escaping-index") { _ in }
        let index = ["weight_map": ["model.embed_tokens.weight": "../../etc/model.safetensors"]]
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: folder + "/model.safetensors.index.json"))
        #expect { _ = try ModelFiles.open(path: folder) } throws: { "\($0)".contains("is not a file name in the model folder") }
    }

    @Test func contextShiftMustFreeRoom() throws {
        let model = try LanguageModel(path: Fixtures.model("tiny-llama-mixed.gguf"))
        let tokenizer = try Tokenizer.fromTokenizerJSON(path: Fixtures.tokenizer("mistral-v1-hf/tokenizer.json"), config: nil)
        let generator = try Generator(model: model, options: ContextOptions(maxContext: 16), tokenizer: tokenizer)
        var parameters = GenerationParameters()
        parameters.contextOverflow = .shift(keep: 12)
        #expect(throws: BoraError.invalidArgument("the context shift keeps 12 tokens but the context holds 16: keep at most 8")) {
            try generator.generate(prompt: [1, 2, 3], parameters: parameters, startOfText: false) { _ in }
        }
    }

    // MARK: Tokenizers

    /// A SentencePiece-style tokenizer.json whose `model` member is edited.
    static func tokenizerJSON(_ name: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
        let source = Fixtures.tokenizer("mistral-v1-hf/tokenizer.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source))) as! [String: Any]
        edit(&json)
        let path = Fixtures.temporaryFile(name)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func tokenizerJSONOfTheWrongShape() throws {
        let merges = try Self.tokenizerJSON("merges-object.json") { json in
            var model = json["model"] as! [String: Any]
            model["merges"] = ["a": "b"]
            json["model"] = model
        }
        #expect(throws: BoraError.invalidJSON(path: merges, reason: "model.merges is not a list")) {
            try Tokenizer.fromTokenizerJSON(path: merges, config: nil)
        }
        for id in [-1, 1 << 40] {
            let added = try Self.tokenizerJSON("added-\(id).json") { json in
                json["added_tokens"] = [["id": id, "content": "<x>", "special": true]]
            }
            #expect { _ = try Tokenizer.fromTokenizerJSON(path: added, config: nil) } throws: { "\($0)".contains("added token") }
        }
    }

    @Test func tokenizerMustCoverTheEmbedding() throws {
        let tokenizer = try Tokenizer.fromTokenizerJSON(path: Fixtures.tokenizer("mistral-v1-hf/tokenizer.json"), config: nil)
        #expect(tokenizer.vocabularySize == 32_000)
        try Tokenizer.checkCoverage(tokenizer, modelRows: 32_000)
        try Tokenizer.checkCoverage(tokenizer, modelRows: 32_064)   // padding to a multiple of 64
        #expect { try Tokenizer.checkCoverage(tokenizer, modelRows: 32_002) } throws: { "\($0)".contains("32002 rows") }
        #expect { try Tokenizer.checkCoverage(tokenizer, modelRows: 31_000) } throws: { "\($0)".contains("only 31000 rows") }
        // Ids past the vocabulary decode to nothing rather than trapping.
        #expect(tokenizer.decode([1, 32_001, 1_000_000]) == "" && tokenizer.piece(40_000) == "")
    }

    // MARK: Mistral 7B v0.1 without its window key

    @Test func mistralV01ShapeGetsItsWindow() {
        var mistral = ModelConfig(architecture: "llama", vocabularySize: 32_000, embeddingDim: 4096, layerCount: 32, headCount: 32,
                                  kvHeadCount: 8, headDim: 128, feedForwardDim: 14_336, contextLength: 32_768, ropeTheta: 10_000,
                                  rmsNormEpsilon: 1e-5, slidingWindow: nil, ropeStyle: .interleaved, tiedEmbeddings: false)
        #expect(mistral.impliedMistralWindow(fileStatesWindow: false) == 4096)
        #expect(mistral.impliedMistralWindow(fileStatesWindow: true) == nil)
        mistral.vocabularySize = 32_002   // ChatML fine-tunes
        #expect(mistral.impliedMistralWindow(fileStatesWindow: false) == 4096)
        var v02 = mistral
        v02.ropeTheta = 1_000_000
        #expect(v02.impliedMistralWindow(fileStatesWindow: false) == nil)
        var llama2 = mistral
        (llama2.kvHeadCount, llama2.feedForwardDim, llama2.contextLength) = (32, 11_008, 4096)
        #expect(llama2.impliedMistralWindow(fileStatesWindow: false) == nil)
    }
}

/// A Mistral fine-tune with two ChatML tokens added after tokenizer.model's 32,000 pieces
/// (OpenHermes-style), built at test time: embedding and LM head of 32,002 rows, every layer zero,
/// and an LM head whose only non-zero row is `<|im_end|>`'s, so greedy decoding picks it at once.
@Suite struct AddedTokenFineTuneTests {
    static func writeSafetensors(_ tensors: [(String, [Int], [Float])], to path: String) throws {
        var header: [String: Any] = [:]
        var offset = 0
        for (name, shape, values) in tensors {
            header[name] = ["dtype": "F32", "shape": shape, "data_offsets": [offset, offset + 4 * values.count]]
            offset += 4 * values.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for (_, _, values) in tensors { values.withUnsafeBytes { data.append(contentsOf: $0) } }
        try data.write(to: URL(fileURLWithPath: path))
    }

    static func makeFolder(_ name: String) throws -> String? {
        guard let sentencePiece = Fixtures.mistralTokenizer("tokenizer.model.v1") else { return nil }
        let folder = Fixtures.temporaryFile(name)
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let (dim, ffn, vocab, kvDim) = (16, 32, 32_002, 8)
        let config: [String: Any] = [
            "architectures": ["MistralForCausalLM"], "hidden_size": dim, "intermediate_size": ffn, "num_attention_heads": 2,
            "num_key_value_heads": 1, "head_dim": 8, "num_hidden_layers": 1, "vocab_size": vocab, "sliding_window": 4096,
            "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false,
        ]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/config.json"))
        var head = [Float](repeating: 0, count: vocab * dim)
        for i in 0..<dim { head[32_001 * dim + i] = 1 }
        let zeros = { (n: Int) in [Float](repeating: 0, count: n) }
        let p = "model.layers.0."
        try writeSafetensors([
            ("model.embed_tokens.weight", [vocab, dim], [Float](repeating: 1, count: vocab * dim)),
            ("lm_head.weight", [vocab, dim], head),
            ("model.norm.weight", [dim], [Float](repeating: 1, count: dim)),
            (p + "input_layernorm.weight", [dim], [Float](repeating: 1, count: dim)),
            (p + "post_attention_layernorm.weight", [dim], [Float](repeating: 1, count: dim)),
            (p + "self_attn.q_proj.weight", [dim, dim], zeros(dim * dim)),
            (p + "self_attn.k_proj.weight", [kvDim, dim], zeros(kvDim * dim)),
            (p + "self_attn.v_proj.weight", [kvDim, dim], zeros(kvDim * dim)),
            (p + "self_attn.o_proj.weight", [dim, dim], zeros(dim * dim)),
            (p + "mlp.gate_proj.weight", [ffn, dim], zeros(ffn * dim)),
            (p + "mlp.up_proj.weight", [ffn, dim], zeros(ffn * dim)),
            (p + "mlp.down_proj.weight", [dim, ffn], zeros(dim * ffn)),
        ], to: folder + "/model.safetensors")
        try FileManager.default.copyItem(atPath: sentencePiece, toPath: folder + "/tokenizer.model")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.tokenizer("mistral-v1-hf/tokenizer.json")))) as! [String: Any]
        json["added_tokens"] = (json["added_tokens"] as! [Any]) + [
            ["id": 32_000, "content": "<|im_start|>", "special": true],
            ["id": 32_001, "content": "<|im_end|>", "special": true],
        ]
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: folder + "/tokenizer.json"))
        return folder
    }

    @Test func generatesAndStopsAtAddedEndToken() throws {
        guard let folder = try Self.makeFolder("chatml-finetune") else {
            #expect(!Fixtures.requireDefaultModel, "Mistral's tokenizer.model.v1 is missing (Tools/fetch-mistral-tokenizers.sh)")
            return
        }
        let model = try LanguageModel(path: folder)
        let tokenizer = try model.tokenizer()
        #expect(tokenizer.vocabularySize == 32_002)
        #expect(tokenizer.encode("<|im_start|>user", addSpecialTokens: false, parseSpecial: true).first == 32_000)
        #expect(tokenizer.endOfGenerationIDs.contains(32_001))

        let generator = try Generator(model: model)
        var parameters = GenerationParameters()
        parameters.temperature = 0
        parameters.maxTokens = 8
        let prompt = tokenizer.encode("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", parseSpecial: true)
        let stats = try generator.generate(prompt: prompt, parameters: parameters, startOfText: true) { _ in }
        #expect(stats.stopReason == .endOfSequence && stats.generatedTokens == 0)

        // Past the end token, the added id is sampled and detokenized (as nothing: it is special).
        parameters.ignoreEndOfSequence = true
        var ids: [Int] = []
        var text = ""
        _ = try generator.generate(prompt: prompt, parameters: parameters, startOfText: true) { event in
            if case .token(let t) = event { ids.append(t.id) }
            if case .text(let piece) = event { text += piece }
        }
        #expect(ids == [Int](repeating: 32_001, count: 8) && text.isEmpty)
    }

    /// Without the added tokens the 32,002-row model is refused, naming both counts.
    @Test func refusedWithoutTheAddedTokens() throws {
        guard let folder = try Self.makeFolder("chatml-finetune-without-added") else { return }
        try FileManager.default.removeItem(atPath: folder + "/tokenizer.json")
        #expect { _ = try LanguageModel(path: folder).tokenizer() } throws: {
            "\($0)".contains("32002 rows") && "\($0)".contains("32000 ids")
        }
    }
}

/// The fuzz corpora (seeds from Tools/make_fuzz_corpus.py, and any crasher Tools/fuzz.sh found)
/// replayed through every fuzz target by the plain bora-fuzz build: none may crash.
@Suite struct FuzzCorpusTests {
    @Test func corporaReplayCleanly() throws {
        let result = try runProduct("bora-fuzz", ["replay"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let count = Int(result.stdout.split(separator: " ").dropFirst().first ?? "") ?? 0
        #expect(count >= 13, "\(result.stdout)")   // the seeds of Tools/make_fuzz_corpus.py
    }
}
