import Foundation
import Synchronization

/// A model with its own context and KV cache, for one conversation or completion stream at a time.
///
/// An actor: calls from concurrent tasks are served one after the other. Each request returns an
/// `AsyncThrowingStream` of ``GenerationEvent``s; cancelling the consuming task (or dropping the
/// stream) stops the generation within one token and leaves the session ready for the next request.
/// A request reuses the KV cache of the prefix it shares with the previous one, so the turns of a
/// chat only evaluate what is new.
///
/// ```swift
/// let model = try await Model.load(from: URL(fileURLWithPath: "mistral-7b-instruct.Q4_0.gguf"))
/// let session = try Session(model: model)
/// for try await event in await session.chat([.user("Why is the sky blue?")]) {
///     if case .text(let text) = event { print(text, terminator: "") }
/// }
/// ```
public actor Session {
    public let model: LanguageModel
    private let generator: Generator
    /// The summary of the last finished request.
    public private(set) var lastStats: GenerationStats?
    /// The session runs on a thread of its own: a generation holds its actor for its whole length.
    private let executor = ThreadExecutor(name: "bora.session")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// - Parameter draft: a smaller model with the same vocabulary, for requests whose
    ///   `GenerationParameters.speculation` drafts with a draft model.
    public init(model: LanguageModel, options: ContextOptions = .init(), draft: LanguageModel? = nil) throws {
        self.model = model
        self.generator = try Generator(model: model, options: options, draft: draft)
    }

    deinit { executor.stop() }

    /// Tokens whose keys and values the session holds.
    public var cachedTokenCount: Int { generator.cachedTokens.count }

    /// Forgets the cached conversation.
    public func reset() { generator.reset() }

    /// Continues `prompt` (BOS added as the model's tokenizer says).
    public nonisolated func generate(prompt: String, parameters: GenerationParameters = .init()) -> AsyncThrowingStream<GenerationEvent, Error> {
        stream(parameters: parameters, startOfText: false) { tokenizer in tokenizer.encode(prompt) }
    }

    /// Continues a prompt given as token ids.
    public nonisolated func generate(tokens: [Int], parameters: GenerationParameters = .init()) -> AsyncThrowingStream<GenerationEvent, Error> {
        stream(parameters: parameters, startOfText: false) { _ in tokens }
    }

    /// Answers the last message of a conversation, in the model's chat format (or `format`).
    public nonisolated func chat(_ messages: [ChatMessage], parameters: GenerationParameters = .init(),
                                 format: ChatFormatChoice? = nil) -> AsyncThrowingStream<GenerationEvent, Error> {
        let model = self.model
        return stream(parameters: parameters, startOfText: true) { tokenizer in
            let choice = try format ?? model.chatFormat()
            return try choice.format.encode(messages, tokenizer: tokenizer, defaultSystemPrompt: choice.defaultSystemPrompt)
        }
    }

    private nonisolated func stream(parameters: GenerationParameters, startOfText: Bool,
                                    prompt: @escaping @Sendable (Tokenizer) throws -> [Int]) -> AsyncThrowingStream<GenerationEvent, Error> {
        AsyncThrowingStream { continuation in
            let cancelled = CancellationFlag()
            let task = Task {
                do {
                    try await self.run(prompt: prompt, parameters: parameters, startOfText: startOfText, cancelled: cancelled, continuation: continuation)
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in
                cancelled.set()
                task.cancel()
            }
        }
    }

    private func run(prompt: (Tokenizer) throws -> [Int], parameters: GenerationParameters, startOfText: Bool,
                     cancelled: CancellationFlag, continuation: AsyncThrowingStream<GenerationEvent, Error>.Continuation) throws {
        let ids = try prompt(generator.tokenizer)
        let stats = try generator.generate(
            prompt: ids, parameters: parameters, startOfText: startOfText,
            isCancelled: { cancelled.isSet || Task.isCancelled },
            emit: { continuation.yield($0) })
        lastStats = stats
    }
}

/// Set once from any thread, read per token by the generation loop.
final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

/// `Model` is the name the library's documentation uses for a loaded model.
public typealias Model = LanguageModel
