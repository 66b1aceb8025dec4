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

    public init() {}

    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(evaluatedPromptTokens) / promptSeconds : 0 }
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
