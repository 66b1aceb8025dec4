import ArgumentParser
import Bora
import Foundation

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Describe a model: architecture, hyper-parameters, tensors, memory, tokenizer.")

    @Argument(help: "Model: a GGUF file, a Hugging Face folder or a Mistral folder (default: SmolLM2-135M-Instruct).")
    var model: String?

    @Option(name: .customLong("sliding-window"), help: "Override the sliding window W (0 turns it off).")
    var slidingWindow: Int?

    @Flag(name: .customLong("check-tensors"), help: "Scan every tensor for NaN and infinity; exit 1 if one is found.")
    var checkTensors = false

    func run() throws {
        let path = try DefaultModel.resolve(model)
        let model = try LanguageModel(path: path, options: ModelLoadOptions(slidingWindow: slidingWindow, repackWeights: false))
        for note in model.files.notes { printError("note: \(note)") }
        let c = model.config
        let files = model.files
        let summaries = files.tensors.tensorSummaries
        var byType: [String: Int] = [:]
        for s in summaries { byType[s.dtype, default: 0] += 1 }
        let parameters = summaries.reduce(0) { $0 + $1.elements }
        func mb(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }

        var lines: [(String, String)] = [
            ("model", path),
            ("format", files.format.rawValue + (files.gguf.map { " v\($0.version)" } ?? "")),
            ("architecture", c.architecture),
            ("parameters", String(format: "%.1f M", Double(parameters) / 1e6)),
            ("vocabulary", "\(c.vocabularySize)"),
            ("embedding", "\(c.embeddingDim)"),
            ("layers", "\(c.layerCount)"),
            ("attention heads", "\(c.headCount) query, \(c.kvHeadCount) key/value (head dim \(c.headDim))"),
            ("feed-forward", "\(c.feedForwardDim)"),
            ("context length", "\(c.contextLength)"),
            ("rope", "theta \(c.ropeTheta), \(c.ropeStyle == .interleaved ? "adjacent pairs" : "half-split pairs")"),
            ("rms norm epsilon", "\(c.rmsNormEpsilon)"),
            ("sliding window", c.slidingWindow.map { "\($0) (rolling KV cache of \($0) positions)" } ?? "none (full causal attention)"),
            ("output", c.tiedEmbeddings ? "tied to the token embedding" : "separate LM head"),
            ("tensors", "\(summaries.count) (" + byType.sorted { $0.value > $1.value }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")"),
            ("file size", mb(files.tensors.fileBytes)),
            ("weights per token", mb(model.weights.bytesPerToken)),
            ("KV cache per token", "\(c.kvBytesPerToken(bytesPerElement: 2) / 1024) KiB in F16, \(c.kvBytesPerToken(bytesPerElement: 4) / 1024) KiB in F32"),
        ]
        do {
            let tokenizer = try model.tokenizer()
            let kind = tokenizer.isSentencePiece ? "SentencePiece BPE" : "byte-level BPE"
            let special = [tokenizer.bosID.map { "BOS \($0) \(tokenizer.piece($0).debugDescription)" },
                           tokenizer.eosID.map { "EOS \($0) \(tokenizer.piece($0).debugDescription)" }].compactMap { $0 }
            lines.append(("tokenizer", "\(kind), \(tokenizer.vocabularySize) tokens, " + special.joined(separator: ", ") + (tokenizer.addBOS ? ", adds BOS" : "")))
            let chat = try model.chatFormat()
            lines.append(("chat format", chat.format.rawValue + (chat.warning.map { " (\($0))" } ?? "")))
        } catch {
            lines.append(("tokenizer", "none: \(error)"))
        }
        let width = lines.map(\.0.count).max() ?? 0
        for (key, value) in lines { print(key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value) }
        if checkTensors {
            let bad = try TensorCheck.nonFinite(in: files.tensors)
            print("tensor check".padding(toLength: width, withPad: " ", startingAt: 0) + "  " +
                  (bad.isEmpty ? "every value of \(summaries.count) tensors is finite" : "\(bad.count == 10 ? "at least " : "")\(bad.count) tensors hold NaN or infinity"))
            for b in bad { print("  " + b.description) }
            if !bad.isEmpty { throw ExitCode(1) }
        }
    }
}
