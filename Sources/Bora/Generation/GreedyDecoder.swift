/// Greedy decoding: the most likely token every step (ties go to the lowest id).
public enum GreedyDecoder {
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for (i, v) in logits.enumerated() where v > bestValue {
            best = i
            bestValue = v
        }
        return best
    }

    /// Feeds `prompt` to `context` and extends it greedily until an end-of-generation token or
    /// `maxTokens`. `onText` receives each complete piece of text as it is decoded.
    @discardableResult
    public static func run(
        prompt: [Int], context: InferenceContext, tokenizer: Tokenizer, maxTokens: Int,
        startOfText: Bool = false, onText: (String) -> Void
    ) throws(BoraError) -> (tokens: [Int], stats: GenerationStats) {
        var stats = GenerationStats()
        stats.promptTokens = prompt.count
        stats.evaluatedPromptTokens = prompt.count
        let start = ContinuousClock.now
        var logits = try context.evaluate(prompt)
        stats.promptSeconds = start.secondsElapsed
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer, startOfText: startOfText)
        var tokens: [Int] = []
        var firstToken = ContinuousClock.now
        while tokens.count < maxTokens {
            let next = argmax(logits)
            if tokenizer.endOfGenerationIDs.contains(next) { stats.stopReason = .endOfSequence; break }
            tokens.append(next)
            if tokens.count == 1 {
                stats.timeToFirstToken = start.secondsElapsed
                firstToken = .now
            }
            let text = detokenizer.append(next)
            if !text.isEmpty { onText(text) }
            if tokens.count == maxTokens { break }
            if let limit = context.cache.maximumLength, context.length >= limit { break }
            logits = try context.evaluate([next])
        }
        let rest = detokenizer.finish()
        if !rest.isEmpty { onText(rest) }
        stats.generatedTokens = tokens.count
        // From the first token to the last: the decode rate excludes prompt processing.
        stats.generationSeconds = tokens.count > 1 ? firstToken.secondsElapsed : 0
        return (tokens, stats)
    }
}
