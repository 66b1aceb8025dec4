/// One generated token, with its log-probability when asked for.
public struct GeneratedToken: Sendable, Equatable {
    public let id: Int
    /// log p(token) under the model's distribution (temperature 1, before any sampler).
    public let logprob: Float?
    /// The most likely alternatives at this step, most likely first.
    public let topLogprobs: [TokenLogprob]
}

public struct TokenLogprob: Sendable, Equatable {
    public let id: Int
    public let logprob: Float
}

/// What a generation stream delivers.
public enum GenerationEvent: Sendable, Equatable {
    /// A token the model produced (before its text, which may need later tokens to be complete).
    case token(GeneratedToken)
    /// Text, always complete UTF-8, with stop strings held back.
    case text(String)
    /// The end: why and how fast. Always the last event.
    case finished(GenerationStats)
}
