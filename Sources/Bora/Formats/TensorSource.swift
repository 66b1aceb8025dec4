/// Where a model's tensors come from: one GGUF file, or one or more safetensors files.
public protocol TensorSource: Sendable {
    /// The tensor with this name, or nil when the model has none.
    func tensor(named name: String) throws(BoraError) -> TensorData?
    /// Every tensor name, for `bora info` and diagnostics.
    var tensorNames: [String] { get }
    /// Total bytes of the files behind the tensors.
    var fileBytes: Int { get }
    /// Each tensor's storage type name (GGUF or safetensors spelling) and element count.
    var tensorSummaries: [(name: String, dtype: String, elements: Int)] { get }
}

extension GGUFFile: TensorSource {
    public var tensorNames: [String] { tensors.map(\.name) }
    public var fileBytes: Int { file.size }
    public var tensorSummaries: [(name: String, dtype: String, elements: Int)] {
        tensors.map { ($0.name, $0.dtype.rawValue, $0.dimensions.reduce(1, *)) }
    }
}

/// Tensors spread over safetensors shards (or a single file), by name.
public struct SafetensorsCollection: TensorSource {
    public let files: [SafetensorsFile]
    private let owner: [String: Int]

    public init(files: [SafetensorsFile]) throws(BoraError) {
        var owner: [String: Int] = [:]
        for (index, file) in files.enumerated() {
            for name in file.entries.keys {
                if owner.updateValue(index, forKey: name) != nil {
                    throw .invalidMetadata(key: name, reason: "tensor appears in more than one safetensors file")
                }
            }
        }
        self.files = files
        self.owner = owner
    }

    public func tensor(named name: String) throws(BoraError) -> TensorData? {
        guard let index = owner[name] else { return nil }
        return try files[index].tensor(named: name)
    }

    public var tensorNames: [String] { owner.keys.sorted() }
    public var fileBytes: Int { files.reduce(0) { $0 + $1.file.size } }
    public var tensorSummaries: [(name: String, dtype: String, elements: Int)] {
        files.flatMap { $0.entries.values.map { ($0.name, $0.dtypeName, $0.shape.reduce(1, *)) } }.sorted { $0.name < $1.name }
    }
}
