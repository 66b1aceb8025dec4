import Foundation

/// What a perplexity run measured.
package struct PerplexityResult: Sendable {
    /// Chunks scored, each of `context` tokens.
    package var chunks = 0
    package var context = 0
    /// Tokens predicted (the second half of each chunk, less its last position).
    package var tokensScored = 0
    /// Σ −ln p and Σ (−ln p)² over the scored tokens.
    package var nll = 0.0
    package var nll2 = 0.0
    /// UTF-8 bytes of the scored tokens' text.
    package var bytesScored = 0
    /// The perplexity after each chunk.
    package var running: [Double] = []

    package var perplexity: Double { tokensScored > 0 ? exp(nll / Double(tokensScored)) : .nan }

    /// llama-perplexity's error: PPL × the standard error of the mean −ln p.
    package var perplexityError: Double {
        let n = Double(tokensScored)
        guard n > 1 else { return .nan }
        let mean = nll / n
        let variance = nll2 / n - mean * mean
        return variance > 0 ? (variance / (n - 1)).squareRoot() * perplexity : .nan
    }

    /// Bits per byte of the scored text: comparable across tokenizers, as token perplexity is not.
    package var bitsPerByte: Double { bytesScored > 0 ? nll / log(2) / Double(bytesScored) : .nan }
}

/// Perplexity by llama.cpp's `llama-perplexity` method, so the figures compare with it: the whole
/// text tokenized once (with BOS where the tokenizer adds one), cut into non-overlapping chunks of
/// `context` tokens, each evaluated from an empty cache with its first token replaced by BOS, and
/// only the second half of each chunk scored (positions context/2 … context−2, each predicting the
/// next token), −ln p from a log-softmax in double as llama.cpp computes it.
package enum Perplexity {
    package static func run(model: LanguageModel, tokenizer: Tokenizer, text: String, context: Int, chunks: Int?,
                            threads: Int?, kernels: KernelChoice = .fast, kvCacheType: KVCacheType = .f16,
                            shouldStop: () -> Bool = { false },
                            progress: (PerplexityResult) -> Void = { _ in }) throws(BoraError) -> PerplexityResult {
        try run(model: model, tokenizer: tokenizer, tokens: tokenizer.encode(text), context: context, chunks: chunks,
                threads: threads, kernels: kernels, kvCacheType: kvCacheType, shouldStop: shouldStop, progress: progress)
    }

    /// The same on a text already tokenized (with its BOS, if any); `tokenizer` gives BOS and the bytes.
    /// `visit` sees every scored position: its index among them, the target token and the logits.
    package static func run(model: LanguageModel, tokenizer: Tokenizer, tokens: [Int], context: Int, chunks: Int?,
                            threads: Int?, kernels: KernelChoice = .fast, kvCacheType: KVCacheType = .f16,
                            shouldStop: () -> Bool = { false },
                            progress: (PerplexityResult) -> Void = { _ in },
                            visit: (Int, Int, UnsafeBufferPointer<Float>) -> Void = { _, _, _ in }) throws(BoraError) -> PerplexityResult {
        guard context >= 4 else { throw .invalidArgument("the context must be at least 4 tokens, got \(context)") }
        // llama-perplexity's rule: a text shorter than two chunks is refused.
        guard tokens.count >= 2 * context else {
            throw .invalidArgument("the text has \(tokens.count) tokens; a context of \(context) needs at least \(2 * context)")
        }
        return try runChunks(model: model, tokenizer: tokenizer, tokens: tokens, context: context, chunks: chunks,
                             threads: threads, kernels: kernels, kvCacheType: kvCacheType, shouldStop: shouldStop,
                             progress: progress, visit: visit)
    }

    /// `run` without the two-chunk minimum (KL divergence replays a base's chunks, however few).
    static func runChunks(model: LanguageModel, tokenizer: Tokenizer, tokens: [Int], context: Int, chunks: Int?,
                          threads: Int?, kernels: KernelChoice, kvCacheType: KVCacheType = .f16, shouldStop: () -> Bool,
                          progress: (PerplexityResult) -> Void,
                          visit: (Int, Int, UnsafeBufferPointer<Float>) -> Void) throws(BoraError) -> PerplexityResult {
        guard context >= 4 else { throw .invalidArgument("the context must be at least 4 tokens, got \(context)") }
        if let chunks, chunks < 1 { throw .invalidArgument("the number of chunks must be at least 1, got \(chunks)") }
        guard tokens.count >= context else {
            throw .invalidArgument("the text has \(tokens.count) tokens, fewer than one chunk of \(context)")
        }
        let available = tokens.count / context
        let n = min(chunks ?? available, available)
        let evaluation = try InferenceContext(model: model, options: ContextOptions(
            maxContext: context, chunkSize: context, threads: threads, kvCacheType: kvCacheType, kernels: kernels))
        let first = context / 2
        var result = PerplexityResult()
        result.context = context
        for chunk in 0..<n {
            if shouldStop() { break }
            let start = chunk * context
            var input = Array(tokens[start..<(start + context)])
            if tokenizer.addBOS, let bos = tokenizer.bosID { input[0] = bos }
            evaluation.reset()
            var nll = 0.0, nll2 = 0.0
            let scored = result.tokensScored
            try evaluation.evaluate(input, logitsFrom: first) { index, logits in
                guard index < context - 1 else { return }
                let target = tokens[start + index + 1]
                let v = -logSoftmax(logits, at: target)
                nll += v
                nll2 += v * v
                visit(scored + index - first, target, logits)
            }
            result.nll += nll
            result.nll2 += nll2
            result.tokensScored += context - 1 - first
            // The scored tokens' bytes: the text through the chunk's end less the text before the
            // first target (both decoded from the chunk's second token, so boundaries are exact).
            let whole = tokenizer.decode(Array(tokens[(start + 1)..<(start + context)])).utf8.count
            let before = tokenizer.decode(Array(tokens[(start + 1)..<(start + first + 1)])).utf8.count
            result.bytesScored += whole - before
            result.chunks += 1
            result.running.append(result.perplexity)
            progress(result)
        }
        return result
    }

    /// A whole document as one sequence: every token after the first predicted from all the
    /// context the model keeps — for a sliding-window model the last W tokens, however long the
    /// document (its rolling cache), which chunked perplexity cannot show. Models without a window
    /// need the document to fit their context. `context` in the result is the document's length.
    package static func runDocument(model: LanguageModel, tokenizer: Tokenizer, tokens: [Int], threads: Int?,
                                    kernels: KernelChoice = .fast, kvCacheType: KVCacheType = .f16, piece: Int = 4096,
                                    shouldStop: () -> Bool = { false },
                                    progress: (PerplexityResult) -> Void = { _ in }) throws(BoraError) -> PerplexityResult {
        guard tokens.count >= 2 else { throw .invalidArgument("the document has \(tokens.count) tokens; scoring needs at least 2") }
        let c = model.config
        if c.slidingWindow == nil, tokens.count > c.contextLength {
            throw .invalidArgument("the document has \(tokens.count) tokens but the model, which has no sliding window, holds \(c.contextLength): score it in chunks (-c)")
        }
        let evaluation = try InferenceContext(model: model, options: ContextOptions(
            maxContext: c.slidingWindow == nil ? tokens.count : nil, threads: threads, kvCacheType: kvCacheType, kernels: kernels))
        var result = PerplexityResult()
        result.context = tokens.count
        var start = 0
        while start < tokens.count - 1, !shouldStop() {
            let end = min(start + piece, tokens.count)
            try evaluation.evaluate(Array(tokens[start..<end]), logitsFrom: 0) { index, logits in
                let position = start + index
                guard position < tokens.count - 1 else { return }
                let v = -logSoftmax(logits, at: tokens[position + 1])
                result.nll += v
                result.nll2 += v * v
                result.tokensScored += 1
            }
            result.chunks += 1
            result.bytesScored = tokenizer.decode(Array(tokens[1..<min(end + 1, tokens.count)])).utf8.count
            result.running.append(result.perplexity)
            progress(result)
            start = end
        }
        return result
    }

    /// ln softmax(logits)[target], as llama.cpp's perplexity tool computes it: exp in F32, sum in double.
    static func logSoftmax(_ logits: UnsafeBufferPointer<Float>, at target: Int) -> Double {
        Double(logits[target]) - logSumExp(logits)
    }

    /// ln Σ exp(logits), the softmax's normalizer: exp in F32 from the maximum, summed in Double.
    static func logSumExp(_ logits: UnsafeBufferPointer<Float>) -> Double {
        var maximum = logits[0]
        for l in logits where l > maximum { maximum = l }
        var sum = 0.0
        for l in logits { sum += Double(expf(l - maximum)) }
        return Double(maximum) + log(sum)
    }
}
