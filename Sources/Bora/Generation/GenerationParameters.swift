/// How to generate: sampling, limits and stops. Defaults follow llama.cpp's.
public struct GenerationParameters: Sendable, Equatable {
    /// Tokens to generate at most; nil generates until an end token, a stop string or the context's end.
    public var maxTokens: Int?
    /// 0 means greedy decoding.
    public var temperature: Float = 0.8
    /// 0 disables.
    public var topK: Int = 40
    /// 1 disables.
    public var topP: Float = 0.95
    /// 0 disables.
    public var minP: Float = 0.05
    /// 1 disables.
    public var typicalP: Float = 1
    /// 1 disables. Positive logits are divided by it, negative ones multiplied.
    public var repeatPenalty: Float = 1
    /// Tokens the penalties look back over: 0 disables them, -1 means the whole context.
    public var repeatLastN: Int = 64
    public var presencePenalty: Float = 0
    public var frequencyPenalty: Float = 0
    /// Added to the logits of the given token ids (−infinity bans a token).
    public var logitBias: [Int: Float] = [:]
    /// Same seed and same input give the same output. Nil picks a random seed.
    public var seed: UInt64?
    /// Generation stops when one of these appears; the stop string itself is not returned.
    public var stop: [String] = []
    /// Keep generating past end-of-sequence tokens.
    public var ignoreEndOfSequence = false
    /// Report the log-probability of each generated token and of this many alternatives.
    public var logprobs: Int?
    /// What to do when the context of a model without a sliding window fills up.
    public var contextOverflow: ContextOverflowPolicy = .stop
    /// A grammar the generated text must follow (`GrammarConstraint.jsonObject`: one JSON object):
    /// a token it cannot take is never chosen, and the generation ends only where it may end.
    public var grammar: GrammarConstraint?
    /// Speculative decoding (nil: off). The output is what plain decoding gives (greedy: the same
    /// tokens; sampling: the same distribution), faster where drafts are kept. Not combined with a
    /// grammar: such a generation decodes plainly.
    public var speculation: SpeculativeDecoding?

    public init() {}

    /// Greedy decoding with no other sampling.
    public static var greedy: GenerationParameters {
        var p = GenerationParameters()
        p.temperature = 0
        return p
    }

    /// Throws `invalidArgument` naming the first out-of-range value.
    public func validate() throws(BoraError) {
        func fail(_ text: String) -> BoraError { .invalidArgument(text) }
        if let maxTokens, maxTokens < 0 { throw fail("max tokens must be 0 or more, got \(maxTokens)") }
        guard temperature.isFinite, temperature >= 0 else { throw fail("temperature must be 0 or more, got \(temperature)") }
        guard topK >= 0 else { throw fail("top-k must be 0 (off) or more, got \(topK)") }
        guard topP.isFinite, topP > 0, topP <= 1 else { throw fail("top-p must be in (0, 1], got \(topP)") }
        guard minP.isFinite, minP >= 0, minP <= 1 else { throw fail("min-p must be in [0, 1], got \(minP)") }
        guard typicalP.isFinite, typicalP > 0, typicalP <= 1 else { throw fail("typical-p must be in (0, 1], got \(typicalP)") }
        guard repeatPenalty.isFinite, repeatPenalty > 0 else { throw fail("repeat penalty must be positive, got \(repeatPenalty)") }
        guard repeatLastN >= -1 else { throw fail("repeat-last-n must be -1, 0 or more, got \(repeatLastN)") }
        guard presencePenalty.isFinite, frequencyPenalty.isFinite else { throw fail("penalties must be finite numbers") }
        for (token, bias) in logitBias where token < 0 || bias.isNaN {
            throw fail("logit bias \(bias) for token \(token) is not valid")
        }
        if stop.contains("") { throw fail("stop strings must not be empty") }
        if let logprobs, logprobs < 0 || logprobs > 20 { throw fail("logprobs must be between 0 and 20, got \(logprobs)") }
        if case .shift(let keep) = contextOverflow, keep < 0 { throw fail("tokens to keep when shifting must be 0 or more, got \(keep)") }
        try grammar?.validate()
        try speculation?.validate()
    }
}

/// When prompt and answer outgrow the context of a model without a sliding window.
public enum ContextOverflowPolicy: Sendable, Equatable {
    /// Stop with stop reason `length`.
    case stop
    /// Keep the first `keep` tokens, drop the oldest half of the rest and go on (llama.cpp's
    /// context shift): the kept keys are rotated to their new positions.
    case shift(keep: Int)
}
