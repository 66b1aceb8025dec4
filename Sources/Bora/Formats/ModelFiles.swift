import Foundation

/// The checkpoint layouts Bora loads.
public enum ModelFormat: String, Sendable {
    case gguf = "GGUF"
    case huggingFace = "Hugging Face safetensors"
    case mistral = "Mistral native (consolidated.safetensors)"
}

/// A model's files, opened and validated: its configuration and a source for its tensors.
public struct ModelFiles: Sendable {
    public let path: String
    public let format: ModelFormat
    public let config: ModelConfig
    public let tensors: any TensorSource
    public let naming: TensorNaming
    /// The GGUF file itself (tokenizer and chat template live in its metadata).
    public let gguf: GGUFFile?
    /// The folder of a safetensors checkpoint (tokenizer files live beside the weights).
    public let folder: String?
    /// What loading decided on the user's behalf, one line each, for a front end to show.
    public var notes: [String] = []

    /// Opens a GGUF file, a Hugging Face folder (`config.json` + safetensors) or a Mistral folder
    /// (`params.json` + `consolidated.safetensors`). A `.safetensors` file path means its folder.
    public static func open(path: String, options: ModelLoadOptions = .init()) throws(BoraError) -> ModelFiles {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .fileNotFound(path: path) }
        if !isDirectory.boolValue && path.hasSuffix(".safetensors") {
            return try open(path: (path as NSString).deletingLastPathComponent, options: options)
        }
        if isDirectory.boolValue {
            let folder = path
            let has = { (name: String) in FileManager.default.fileExists(atPath: folder + "/" + name) }
            if has("config.json") { return try openHuggingFace(folder: folder, options: options) }
            if has("params.json") { return try openMistral(folder: folder, options: options) }
            throw .unsupportedModel("\(folder) holds neither config.json (Hugging Face) nor params.json (Mistral)")
        }
        let file = try MappedFile(path: path)
        guard file.size >= 4 else { throw .truncated(path: path, what: "the file magic") }
        let magic = file.base.loadUnaligned(as: UInt32.self)
        guard magic == GGUFFile.magic else { throw .badMagic(path: path, found: GGUFFile.describeMagic(file.bytes)) }
        let gguf = try GGUFFile(file: file)
        var config = try ModelConfig(gguf: gguf)
        var notes: [String] = []
        if options.slidingWindow == nil,
           let window = config.impliedMistralWindow(fileStatesWindow: gguf.metadata["\(config.architecture).attention.sliding_window"] != nil) {
            config.slidingWindow = window
            notes.append("this file has Mistral 7B v0.1's hyper-parameters but no sliding-window key: running it with Mistral's window of \(window) (--sliding-window 0 turns it off)")
        }
        try apply(options, to: &config)
        var files = ModelFiles(path: path, format: .gguf, config: config, tensors: gguf, naming: .gguf, gguf: gguf, folder: nil)
        files.notes = notes
        return files
    }

    private static func apply(_ options: ModelLoadOptions, to config: inout ModelConfig) throws(BoraError) {
        if let window = options.slidingWindow {
            guard window >= 0 else { throw .invalidArgument("--sliding-window must be 0 (off) or positive, got \(window)") }
            config.slidingWindow = window == 0 ? nil : window
        }
        try config.validate()
    }

    private static func openHuggingFace(folder: String, options: ModelLoadOptions) throws(BoraError) -> ModelFiles {
        let json = try JSONObject(contentsOf: folder + "/config.json")
        var config = try ModelConfig(huggingFace: json)
        let tensors = try safetensors(in: folder, index: "model.safetensors.index.json", preferred: ["model.safetensors"])
        if config.tiedEmbeddings == false, try tensors.tensor(named: "lm_head.weight") == nil {
            throw .missingTensor("lm_head.weight")
        }
        try apply(options, to: &config)
        return ModelFiles(path: folder, format: .huggingFace, config: config, tensors: tensors, naming: .huggingFace, gguf: nil, folder: folder)
    }

    private static func openMistral(folder: String, options: ModelLoadOptions) throws(BoraError) -> ModelFiles {
        let json = try JSONObject(contentsOf: folder + "/params.json")
        let tensors = try safetensors(in: folder, index: nil, preferred: ["consolidated.safetensors"])
        var config = try ModelConfig(mistralParams: json, tensors: tensors)
        try apply(options, to: &config)
        return ModelFiles(path: folder, format: .mistral, config: config, tensors: tensors, naming: .mistral, gguf: nil, folder: folder)
    }

    /// The safetensors files of a folder: those named by a shard index, else the preferred single
    /// file, else every `.safetensors` file present.
    private static func safetensors(in folder: String, index: String?, preferred: [String]) throws(BoraError) -> SafetensorsCollection {
        var names: [String] = []
        if let index, FileManager.default.fileExists(atPath: folder + "/" + index) {
            let json = try JSONObject(contentsOf: folder + "/" + index)
            guard let map = json["weight_map"]?.members, map.allSatisfy({ $0.1.string != nil }) else {
                throw .invalidJSON(path: folder + "/" + index, reason: "missing or malformed 'weight_map'")
            }
            names = Array(Set(map.compactMap { $0.1.string })).sorted()
            // Shards are files of this folder: a name with a path in it could reach anywhere.
            for name in names where name.isEmpty || name.contains("/") || name.contains("\\") || name == "." || name == ".." {
                throw .invalidJSON(path: folder + "/" + index, reason: "shard '\(BoraError.shortened(name))' is not a file name in the model folder")
            }
        } else if let single = preferred.first(where: { FileManager.default.fileExists(atPath: folder + "/" + $0) }) {
            names = [single]
        } else {
            let listing = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            names = listing.filter { $0.hasSuffix(".safetensors") }.sorted()
        }
        guard !names.isEmpty else { throw .unsupportedModel("\(folder) holds no .safetensors file") }
        var files: [SafetensorsFile] = []
        for name in names { files.append(try SafetensorsFile(path: folder + "/" + name)) }
        return try SafetensorsCollection(files: files)
    }
}
