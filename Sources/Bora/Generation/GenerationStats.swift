/// Why a generation ended.
public enum StopReason: String, Sendable, Equatable {
    /// The model produced an end-of-sequence or end-of-turn token.
    case endOfSequence = "eos"
    /// A stop string appeared in the text.
    case stopString = "stop"
    /// The token budget (or the context) ran out.
    case maxTokens = "length"
    /// The consumer cancelled.
    case cancelled
}

/// Counts and timings of one generation.
public struct GenerationStats: Sendable, Equatable {
    public var promptTokens = 0
    public var generatedTokens = 0
    /// Prompt tokens actually evaluated (fewer than `promptTokens` when a cached prefix was reused).
    public var evaluatedPromptTokens = 0
    public var promptSeconds = 0.0
    public var generationSeconds = 0.0
    public var timeToFirstToken = 0.0
    /// Time spent on the grammar constraint: checking each drawn token, masking the candidates
    /// when it refuses one, and advancing past the chosen token (0 without a grammar).
    public var constraintSeconds = 0.0
    public var stopReason: StopReason = .maxTokens
    /// Speculative decoding: tokens drafted, and those of them the model kept.
    public var draftedTokens = 0
    public var acceptedDraftTokens = 0
    /// Steps through the model that gave this sequence tokens (the prompt's last one included):
    /// with speculation, fewer than the tokens generated.
    public var weightPasses = 0

    public init() {}

    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(evaluatedPromptTokens) / promptSeconds : 0 }
    /// Kept drafts over drafted tokens (0 when nothing was drafted).
    public var draftAcceptanceRate: Double { draftedTokens > 0 ? Double(acceptedDraftTokens) / Double(draftedTokens) : 0 }
    /// Tokens generated per step through the model (1 for plain decoding).
    public var tokensPerWeightPass: Double { weightPasses > 0 ? Double(generatedTokens) / Double(weightPasses) : 0 }
    /// Decode speed: tokens after the first, over the time spent producing them.
    public var generationTokensPerSecond: Double { generationSeconds > 0 ? Double(max(generatedTokens - 1, 0)) / generationSeconds : 0 }
}

extension Duration {
    /// The duration in seconds.
    package var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

extension ContinuousClock.Instant {
    /// Seconds from `self` to now.
    var secondsElapsed: Double { (ContinuousClock.now - self).seconds }
}
