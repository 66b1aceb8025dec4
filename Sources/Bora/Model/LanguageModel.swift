import Foundation
import Synchronization

/// A loaded model: configuration and memory-mapped weights. Immutable and shareable; the mutable
/// state of a conversation (KV cache, scratch) lives in an `InferenceContext`.
public final class LanguageModel: Sendable {
    public let files: ModelFiles
    public let weights: ModelWeights
    /// Read on first use: `bora logits`, `bench` and a caller bringing its own tokenizer never pay
    /// for (or fail on) the model's.
    private let tokenizerResult = Mutex<Result<Tokenizer, BoraError>?>(nil)

    public var config: ModelConfig { files.config }

    /// - Parameter progress: called with the fraction of the weights prepared (0 to 1).
    public init(files: ModelFiles, repackWeights: Bool = true, progress: (@Sendable (Double) -> Void)? = nil) throws(BoraError) {
        self.files = files
        self.weights = try ModelWeights(files: files, repack: repackWeights, progress: progress)
    }

    /// The model's tokenizer; throws why there is none (a GGUF without tokenizer metadata, a
    /// folder without tokenizer files, an unsupported tokenizer type).
    public func tokenizer() throws(BoraError) -> Tokenizer {
        let files = self.files
        return try tokenizerResult.withLock { cached in
            if let cached { return cached }
            let result: Result<Tokenizer, BoraError>
            do throws(BoraError) { result = .success(try Tokenizer.forModel(files)) } catch { result = .failure(error) }
            cached = result
            return result
        }.get()
    }

    /// The chat format for this model (from its chat template, or a named override).
    public func chatFormat(named override: String? = nil) throws(BoraError) -> ChatFormatChoice {
        try ChatFormat.choose(for: tokenizer(), override: override)
    }

    /// Opens, validates and maps a model (GGUF file, Hugging Face folder or Mistral folder).
    public convenience init(path: String, options: ModelLoadOptions = .init(), progress: (@Sendable (Double) -> Void)? = nil) throws(BoraError) {
        let files = try ModelFiles.open(path: path, options: options)
        if options.checkTensors, let bad = try TensorCheck.nonFinite(in: files.tensors, limit: 1).first {
            throw .nonFiniteWeight(bad)
        }
        try self.init(files: files, repackWeights: options.repackWeights, progress: progress)
    }

    /// Opens, validates and maps a model off the caller's executor, reporting progress (0 to 1).
    public static func load(from url: URL, options: ModelLoadOptions = .init(),
                            progress: (@Sendable (Double) -> Void)? = nil) async throws -> LanguageModel {
        let path = url.path
        return try await Task.detached(priority: .userInitiated) {
            try LanguageModel(path: path, options: options, progress: progress)
        }.value
    }
}
