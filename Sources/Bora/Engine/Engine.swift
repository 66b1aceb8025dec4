import Foundation

/// Options of a batched engine.
public struct EngineOptions: Sendable {
    /// Sequence slots: how many requests generate at once (llama-server's `--parallel`).
    public var parallel: Int
    /// Positions per slot. Models without a sliding window: the slot's KV cache (default: the
    /// model's context length). Sliding-window models keep W positions per slot however long a
    /// sequence runs; this caps a sequence's length (default: no cap).
    public var maxContext: Int?
    /// Positions of all slots together, shared out evenly (llama-server's `-c` with `-np`): each
    /// slot gets `totalContext / parallel`. Excludes `maxContext`.
    public var totalContext: Int?
    /// The most tokens one step evaluates while sequences are generating: every generating
    /// sequence's next token, then prompt chunks of the sequences still reading theirs. A long
    /// prompt is spread over steps of this size, so it holds running streams up for one step at a
    /// time (on the 7B-shaped Q4_0 file with 4 streams running, 64 tokens: 2.4 s at worst; 512: 17 s).
    public var stepTokens: Int
    /// The most tokens a step takes when no sequence is generating (prompts alone: nobody waits
    /// between tokens, so the chunks may be longer).
    public var promptStepTokens: Int
    /// Worker threads, the engine's own included; defaults to the number of physical cores.
    public var threads: Int?
    public var kvCacheType: KVCacheType
    public var kernels: KernelChoice
    /// The most requests waiting for a slot; one more is refused (`BoraError.queueFull`). Nil: no limit.
    public var maxQueued: Int?
    /// A smaller model with the same vocabulary, for requests that draft with it
    /// (`SpeculativeDecoding.Drafter.draftModel`): each slot gets a KV cache for it too, and it runs
    /// on the engine's threads between steps, one pass per drafted position for every sequence
    /// drafting with it.
    public var draftModel: LanguageModel?
    /// Whether a greedy request's draft length weighs its extra rows (and a draft model's passes)
    /// against its share of a step of several sequences, from the step times the engine measures:
    /// the weights' reads are shared by the batch already, so speculation pays less the more
    /// sequences decode together, and it backs off. False: each sequence drafts as if alone.
    /// Sampled requests always draft as if alone, so that a seed gives the same answer beside any
    /// others.
    public var speculationWeighsBatch: Bool

    public init(parallel: Int = 4, maxContext: Int? = nil, totalContext: Int? = nil, stepTokens: Int = 128,
                promptStepTokens: Int = 512, threads: Int? = nil, kvCacheType: KVCacheType = .f16, kernels: KernelChoice = .fast,
                maxQueued: Int? = nil, draftModel: LanguageModel? = nil, speculationWeighsBatch: Bool = true) {
        self.parallel = parallel
        self.maxContext = maxContext
        self.totalContext = totalContext
        self.stepTokens = stepTokens
        self.promptStepTokens = promptStepTokens
        self.threads = threads
        self.kvCacheType = kvCacheType
        self.kernels = kernels
        self.maxQueued = maxQueued
        self.draftModel = draftModel
        self.speculationWeighsBatch = speculationWeighsBatch
    }
}

/// Many sequences generating at once over one loaded model (continuous batching).
///
/// The engine owns the thread pool, the scratch buffers of the largest step and `parallel` sequence
/// slots, each with its own KV cache (a rolling buffer of W entries for a sliding-window model, a
/// full cache otherwise), all allocated up front within the memory available. Requests are queued;
/// a request takes a free slot — the idle one whose cached tokens share the longest prefix with its
/// prompt, so a chat's next turn lands on its own earlier slot — and joins the next step. Each step
/// is one pass over the weights for the next token of every generating sequence plus prompt chunks
/// of the ones still reading theirs (`EngineOptions.stepTokens`, or `promptStepTokens` when none is
/// generating). Each sequence runs the same
/// state machine as a `Generator` (`SequenceGeneration`), and its logits do not depend on what else
/// is in the step: the same request gives the same tokens alone or beside any others.
///
/// Cancelling the consuming task (or dropping the stream) frees the slot at the next step, between
/// the chunks of a long prompt too.
public final class Engine: Sendable {
    public let model: LanguageModel
    public let tokenizer: Tokenizer
    /// Sequence slots.
    public let parallel: Int
    /// The most positions one sequence may reach (nil: unbounded, a rolling cache without a cap).
    public let positionLimit: Int?
    /// The attention window every slot runs under.
    public let window: AttentionWindow
    /// Bytes of all the slots' KV caches (the draft model's included).
    public let cacheBytes: Int
    /// Whether requests may draft with a draft model.
    public let hasDraftModel: Bool
    let scheduler: Scheduler

    /// - Parameter tokenizer: overrides the model's own (for models stored without one).
    public init(model: LanguageModel, options: EngineOptions = .init(), tokenizer: Tokenizer? = nil) throws(BoraError) {
        guard (1...4096).contains(options.parallel) else {
            throw .invalidArgument("the engine needs between 1 and 4096 sequence slots, got \(options.parallel)")
        }
        guard options.stepTokens >= 1, options.promptStepTokens >= 1 else {
            throw .invalidArgument("a step must take at least one token, got \(min(options.stepTokens, options.promptStepTokens))")
        }
        var perSlot = options.maxContext
        if let total = options.totalContext {
            guard options.maxContext == nil else { throw .invalidArgument("give either a context per slot or a total, not both") }
            guard total >= options.parallel else {
                throw .invalidArgument("a total context of \(total) positions cannot be shared by \(options.parallel) slots")
            }
            perSlot = total / options.parallel
        }
        let plan = try CachePlan(config: model.config, maxContext: perSlot, type: options.kvCacheType)
        let draftPlan = try options.draftModel.map { (d: LanguageModel) throws(BoraError) in
            try CachePlan(config: d.config, maxContext: perSlot ?? plan.positionLimit, type: options.kvCacheType)
        }
        let slotBytes = plan.bytes + (draftPlan?.bytes ?? 0)
        cacheBytes = try MemoryBudget.bytes(options.parallel, slotBytes, for: "the KV caches of \(options.parallel) slots")
        try MemoryBudget.check(cacheBytes, for: "the KV caches of \(options.parallel) slots of \(plan.slots) positions (\(MemoryBudget.format(slotBytes)) each)")
        self.model = model
        if let tokenizer {
            self.tokenizer = tokenizer
        } else {
            self.tokenizer = try model.tokenizer()
        }
        if let d = options.draftModel { try DraftModelCheck.check(draft: d, target: model, tokenizer: self.tokenizer) }
        hasDraftModel = options.draftModel != nil
        parallel = options.parallel
        positionLimit = plan.positionLimit
        window = plan.window
        // Room for one decode row per slot beside the prompt chunks.
        let stepTokens = max(options.stepTokens, options.parallel)
        let promptStepTokens = max(options.promptStepTokens, stepTokens)
        let pass = try ForwardPass(model: model, capacity: promptStepTokens, maximumPieces: options.parallel, window: plan.window,
                                   maximumKeys: plan.maximumKeys, threads: options.threads, kernels: options.kernels)
        // The draft model drafts for every slot in one pass per drafted position.
        let draftPass = try options.draftModel.map { (d: LanguageModel) throws(BoraError) in
            try ForwardPass(model: d, capacity: promptStepTokens, maximumPieces: options.parallel, window: draftPlan!.window,
                            maximumKeys: draftPlan!.maximumKeys, threads: nil, pool: pass.pool, kernels: options.kernels)
        }
        var slots: [Slot] = []
        for _ in 0..<options.parallel {
            let draft = try draftPass.map { (p: ForwardPass) throws(BoraError) in try DraftModelRunner(pass: p, plan: draftPlan!) }
            slots.append(Slot(cache: try plan.makeCache(), draft: draft))
        }
        if let q = options.maxQueued, q < 0 { throw .invalidArgument("the queue limit must be 0 or more, got \(q)") }
        scheduler = Scheduler(pass: pass, draftPass: draftPass, slots: slots, stepTokens: stepTokens, promptStepTokens: promptStepTokens,
                              positionLimit: plan.positionLimit, maxQueued: options.maxQueued,
                              weighsBatch: options.speculationWeighsBatch)
        scheduler.start()
    }

    deinit { scheduler.stop() }

    /// Continues `prompt` (BOS added as the tokenizer says).
    public func generate(prompt: String, parameters: GenerationParameters = .init()) -> AsyncThrowingStream<GenerationEvent, Error> {
        submit(parameters: parameters, startOfText: false) { tokenizer in tokenizer.encode(prompt) }
    }

    /// Continues a prompt given as token ids.
    public func generate(tokens: [Int], parameters: GenerationParameters = .init(), startOfText: Bool = false) -> AsyncThrowingStream<GenerationEvent, Error> {
        submit(parameters: parameters, startOfText: startOfText) { _ in tokens }
    }

    /// Answers the last message of a conversation, in the model's chat format (or `format`).
    public func chat(_ messages: [ChatMessage], parameters: GenerationParameters = .init(),
                     format: ChatFormatChoice? = nil) -> AsyncThrowingStream<GenerationEvent, Error> {
        let model = self.model
        return submit(parameters: parameters, startOfText: true) { tokenizer in
            let choice = try format ?? model.chatFormat()
            return try choice.format.encode(messages, tokenizer: tokenizer, defaultSystemPrompt: choice.defaultSystemPrompt)
        }
    }

    /// `body` is called on the engine's thread after every step (nil stops it).
    package func observeSteps(_ body: (@Sendable (StepReport) -> Void)?) { scheduler.observeSteps(body) }

    /// Requests waiting for a slot, and sequences in slots now.
    public var load: (waiting: Int, running: Int) { scheduler.load }

    private func submit(parameters: GenerationParameters, startOfText: Bool,
                        prompt: (Tokenizer) throws -> [Int]) -> AsyncThrowingStream<GenerationEvent, Error> {
        do {
            return try submit(tokens: prompt(tokenizer), parameters: parameters, startOfText: startOfText)
        } catch {
            let (stream, continuation) = AsyncThrowingStream<GenerationEvent, Error>.makeStream()
            continuation.finish(throwing: error)
            return stream
        }
    }

    /// Queues a request, or throws at once why it cannot run: a prompt past the context, an id past
    /// the vocabulary, a parameter out of range, a full queue, a stopped engine. (A server answers
    /// those before it starts a response.)
    package func submit(tokens ids: [Int], parameters: GenerationParameters, startOfText: Bool) throws(BoraError) -> AsyncThrowingStream<GenerationEvent, Error> {
        try start(tokens: ids, parameters: parameters, startOfText: startOfText).stream
    }

    /// `submit`, with a way to cancel the request from anywhere (a server whose client went away):
    /// the engine ends it at its next step, the stream closing with a `.cancelled` summary.
    package func start(tokens ids: [Int], parameters: GenerationParameters, startOfText: Bool) throws(BoraError)
        -> (stream: AsyncThrowingStream<GenerationEvent, Error>, cancel: @Sendable () -> Void) {
        let vocabulary = model.config.vocabularySize
        for t in ids where t < 0 || t >= vocabulary { throw BoraError.invalidTokenID(t, vocabularySize: vocabulary) }
        if parameters.speculation?.drafter == .draftModel && !hasDraftModel {
            throw BoraError.invalidArgument("speculative decoding with a draft model needs an engine made with one")
        }
        let sequence = try SequenceGeneration(prompt: ids, parameters: parameters, tokenizer: tokenizer,
                                              startOfText: startOfText, positionLimit: positionLimit)
        let (stream, continuation) = AsyncThrowingStream<GenerationEvent, Error>.makeStream()
        let request = Request(prompt: ids, sequence: sequence, continuation: continuation)
        continuation.onTermination = { [weak scheduler] _ in
            request.cancel()
            scheduler?.wake()
        }
        try scheduler.enqueue(request)
        return (stream, { [weak scheduler] in
            request.cancel()
            scheduler?.wake()
        })
    }

    /// Stops taking requests, ends the running ones with `BoraError.engineStopped` after the
    /// current step, and waits for the engine's thread. (Also done when the engine is released.)
    public func shutdown() { scheduler.stop() }
}

/// One request on its way through the engine. Its generation state is touched by the thread that
/// made it until it is queued, then only by the engine's thread.
final class Request: @unchecked Sendable {
    let prompt: [Int]
    let sequence: SequenceGeneration
    let continuation: AsyncThrowingStream<GenerationEvent, Error>.Continuation
    private let cancelled = CancellationFlag()

    init(prompt: [Int], sequence: SequenceGeneration, continuation: AsyncThrowingStream<GenerationEvent, Error>.Continuation) {
        self.prompt = prompt
        self.sequence = sequence
        self.continuation = continuation
    }

    func cancel() { cancelled.set() }
    var isCancelled: Bool { cancelled.isSet }
}

/// A sequence slot: a KV cache and the tokens whose keys and values it holds (for prefix reuse).
final class Slot {
    let cache: KVStorage & KVCache
    /// The draft model's cache and tokens, when the engine has a draft model.
    let draft: DraftModelRunner?
    var tokens: [Int] = []
    /// The step it last served (the least recently used idle slot is given away first).
    var lastUsed = 0
    var isBusy = false

    init(cache: KVStorage & KVCache, draft: DraftModelRunner? = nil) {
        self.cache = cache
        self.draft = draft
    }
}
