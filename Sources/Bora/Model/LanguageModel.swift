import Foundation

/// A loaded model: configuration and memory-mapped weights. Immutable and shareable; the mutable
/// state of a conversation (KV cache, scratch) lives in an `InferenceContext`.
public final class LanguageModel: Sendable {
    public let files: ModelFiles
    public let weights: ModelWeights

    public var config: ModelConfig { files.config }

    public init(files: ModelFiles) throws(BoraError) {
        self.files = files
        self.weights = try ModelWeights(files: files)
    }

    /// Opens, validates and maps a model (GGUF file, Hugging Face folder or Mistral folder).
    public convenience init(path: String, options: ModelLoadOptions = .init()) throws(BoraError) {
        try self.init(files: ModelFiles.open(path: path, options: options))
    }

    /// Loads a model off the caller's executor.
    public static func load(from url: URL, options: ModelLoadOptions = .init()) async throws -> LanguageModel {
        let path = url.path
        return try await Task.detached(priority: .userInitiated) {
            try LanguageModel(path: path, options: options)
        }.value
    }
}
