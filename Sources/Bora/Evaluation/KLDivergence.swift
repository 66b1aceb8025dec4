import CBoraKernels
import Foundation

/// A base model's next-token distributions over a text, saved so that other models (quantizations of
/// it) can be scored against it without loading both: `bora perplexity --kl-divergence-base`.
///
/// For every position llama-perplexity scores (the second half of each chunk) it keeps the `top` most
/// likely tokens with their log-probabilities, the log of the probability left outside them, and the
/// target token's log-probability, all in F32: 8 + 8 × top bytes a position (1,032 for the default
/// 128), where llama-perplexity keeps 2 bytes for every entry of the vocabulary (98 KB a position for
/// SmolLM2). A model scored against the file rounds its own log-probabilities of the same tokens to
/// F32 too, so a model against itself gives exactly 0. (F16 log-probabilities, tried first, cost 1% of
/// a small divergence in rounding alone.) What the truncation costs is
/// measured against the full-vocabulary divergence (`KLDivergence.exact`), in the tests and the README.
package struct KLDivergenceBase: Sendable, Equatable {
    package var vocabulary: Int
    package var context: Int
    package var top: Int
    /// The scored chunks' tokens as the text was tokenized (chunks × context; BOS replaces each chunk's
    /// first when the model is run).
    package var tokens: [Int32]
    /// Per position: ln p(target), ln (1 − Σ top p), and `top` (id, ln p) entries, most likely first.
    package var targetLogProbs: [Float] = []
    package var restLogProbs: [Float] = []
    package var ids: [Int32] = []
    package var logProbs: [Float] = []

    package var chunks: Int { tokens.count / context }
    package var positionsPerChunk: Int { context - 1 - context / 2 }
    package var positions: Int { targetLogProbs.count }

    static let magic = Array("BORAKLD1".utf8)
    static let version: UInt32 = 1
    /// Entries kept per position at most: the file stays a small fraction of llama.cpp's.
    package static let maximumTop = 1024
    package static let defaultTop = 128

    package init(vocabulary: Int, context: Int, top: Int, tokens: [Int32]) {
        self.vocabulary = vocabulary
        self.context = context
        self.top = top
        self.tokens = tokens
    }

    /// Appends one position's summary of the base model's logits.
    mutating func append(logits: UnsafeBufferPointer<Float>, target: Int) {
        let lse = Perplexity.logSumExp(logits)
        targetLogProbs.append(Float(Double(logits[target]) - lse))
        let best = KLDivergence.largest(top, of: logits)
        var mass = 0.0
        for id in best {
            let lp = Double(logits[id]) - lse
            mass += exp(lp)
            ids.append(Int32(id))
            logProbs.append(Float(lp))
        }
        restLogProbs.append(KLDivergence.restLogProb(topMass: mass))
    }

    // MARK: File

    package func write(to path: String) throws(BoraError) {
        var data = Data(Self.magic)
        func put(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
        put(Self.version)
        put(UInt32(vocabulary)); put(UInt32(context)); put(UInt32(top)); put(UInt32(chunks))
        for t in tokens { put(UInt32(bitPattern: t)) }
        for v in targetLogProbs { put(v.bitPattern) }
        for v in restLogProbs { put(v.bitPattern) }
        for id in ids { put(UInt32(bitPattern: id)) }
        for v in logProbs { put(v.bitPattern) }
        do { try data.write(to: URL(fileURLWithPath: path)) } catch {
            throw .cannotRead(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }

    /// Reads and checks a file `write` made: every count against the file's size, every id
    /// against the vocabulary, every log-probability finite and ≤ 0 (within rounding).
    package static func read(path: String) throws(BoraError) -> KLDivergenceBase {
        guard FileManager.default.fileExists(atPath: path) else { throw .fileNotFound(path: path) }
        guard let data = FileManager.default.contents(atPath: path) else { throw .cannotRead(path: path, reason: "unreadable") }
        let bytes = [UInt8](data)
        guard bytes.count >= 8, Array(bytes[0..<8]) == magic else {
            throw .badMagic(path: path, found: String(decoding: bytes.prefix(8), as: UTF8.self))
        }
        var offset = 8
        func u32(_ what: String) throws(BoraError) -> UInt32 {
            guard offset + 4 <= bytes.count else { throw .truncated(path: path, what: what) }
            defer { offset += 4 }
            return UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
        }
        let version = try u32("the version")
        guard version == Self.version else { throw .unsupportedVersion(format: "Bora KL-divergence base", version: Int(version)) }
        let vocabulary = Int(try u32("the vocabulary size")), context = Int(try u32("the context"))
        let top = Int(try u32("the entries per position")), chunks = Int(try u32("the chunk count"))
        guard (1...(1 << 24)).contains(vocabulary) else { throw .absurdDimension(name: "vocabulary size", value: vocabulary) }
        guard (4...(1 << 24)).contains(context) else { throw .absurdDimension(name: "context", value: context) }
        guard (1...min(maximumTop, vocabulary)).contains(top) else { throw .absurdDimension(name: "entries per position", value: top) }
        guard (1...(1 << 24)).contains(chunks) else { throw .absurdDimension(name: "chunk count", value: chunks) }
        var base = KLDivergenceBase(vocabulary: vocabulary, context: context, top: top, tokens: [])
        let positions = chunks * base.positionsPerChunk
        // 4 bytes a token, 8 + 8 × top a position; all far below Int's range after the checks above.
        let expected = offset + 4 * chunks * context + positions * (8 + 8 * top)
        guard bytes.count >= expected else {
            throw .truncated(path: path, what: "\(chunks) chunks of \(context) tokens with \(top) entries a position (\(expected) bytes, the file has \(bytes.count))")
        }
        guard bytes.count == expected else {
            throw .cannotRead(path: path, reason: "\(bytes.count - expected) bytes after the \(positions) positions")
        }
        func tokenID(_ what: String) throws(BoraError) -> Int32 {
            let id = Int(try u32(what))
            guard id < vocabulary else { throw .invalidTokenID(id, vocabularySize: vocabulary) }
            return Int32(id)
        }
        func logProb(_ value: Float, _ what: String) throws(BoraError) -> Float {
            guard value.isFinite, value <= 1e-3 else { throw .cannotRead(path: path, reason: "\(what) \(value) is not a log-probability") }
            return value
        }
        base.tokens.reserveCapacity(chunks * context)
        for _ in 0..<(chunks * context) { base.tokens.append(try tokenID("the tokens")) }
        for _ in 0..<positions { base.targetLogProbs.append(try logProb(Float(bitPattern: try u32("")), "a target's")) }
        for _ in 0..<positions { base.restLogProbs.append(try logProb(Float(bitPattern: try u32("")), "a rest mass's")) }
        base.ids.reserveCapacity(positions * top)
        for _ in 0..<(positions * top) { base.ids.append(try tokenID("the entries")) }
        base.logProbs.reserveCapacity(positions * top)
        for _ in 0..<(positions * top) { base.logProbs.append(try logProb(Float(bitPattern: try u32("")), "an entry's")) }
        return base
    }
}

/// What scoring a model against a base measured, with llama-perplexity's statistics.
package struct KLDivergenceResult: Sendable {
    package var count = 0
    package var sumNLL = 0.0, sumNLL2 = 0.0, sumNLLBase = 0.0, sumNLLBase2 = 0.0, sumNLLNLLBase = 0.0
    package var sumKLD = 0.0, sumKLD2 = 0.0
    package var sumPDiff = 0.0, sumPDiff2 = 0.0, sumPDiff4 = 0.0
    package var sameTop = 0
    /// Per position, in order.
    package var klds: [Double] = []
    package var pDiffs: [Double] = []
    package var chunks = 0

    mutating func add(kld: Double, nll: Double, nllBase: Double, sameTop same: Bool) {
        count += 1
        sumNLL += nll; sumNLL2 += nll * nll
        sumNLLBase += nllBase; sumNLLBase2 += nllBase * nllBase
        sumNLLNLLBase += nll * nllBase
        sumKLD += kld; sumKLD2 += kld * kld
        let pDiff = exp(-nll) - exp(-nllBase)
        sumPDiff += pDiff
        sumPDiff2 += pDiff * pDiff
        sumPDiff4 += pDiff * pDiff * pDiff * pDiff
        if same { sameTop += 1 }
        klds.append(kld)
        pDiffs.append(pDiff)
    }

    /// Mean and standard error as llama-perplexity computes them (0 below 11 values).
    package static func meanAndError(_ sum: Double, _ sum2: Double, _ n: Int) -> (Double, Double) {
        guard n > 0 else { return (0, 0) }
        let mean = sum / Double(n), variance = sum2 / Double(n) - mean * mean
        return (mean, variance > 0 && n > 10 ? (variance / Double(n - 1)).squareRoot() : 0)
    }

    package var kld: (Double, Double) { Self.meanAndError(sumKLD, sumKLD2, count) }
    package var logPPL: (Double, Double) { Self.meanAndError(sumNLL, sumNLL2, count) }
    package var logPPLBase: (Double, Double) { Self.meanAndError(sumNLLBase, sumNLLBase2, count) }
    package var perplexity: (Double, Double) { let (m, e) = logPPL; return (exp(m), exp(m) * e) }
    package var perplexityBase: (Double, Double) { let (m, e) = logPPLBase; return (exp(m), exp(m) * e) }
    /// Covariance of the two means of −ln p.
    package var logPPLCovariance: Double {
        guard count >= 10 else { return 0 }
        let n = Double(count)
        return (sumNLLNLLBase / n - (sumNLL / n) * (sumNLLBase / n)) / (n - 1)
    }
    package var logPPLCorrelation: Double { logPPLCovariance / (logPPL.1 * logPPLBase.1) }
    package var logPPLRatio: (Double, Double) {
        let (a, ea) = logPPL, (b, eb) = logPPLBase
        return (a - b, max(0, ea * ea + eb * eb - 2 * logPPLCovariance).squareRoot())
    }
    package var perplexityRatio: (Double, Double) { let (m, e) = logPPLRatio; return (exp(m), exp(m) * e) }
    package var perplexityDifference: (Double, Double) {
        let (q, eq) = perplexity, (b, eb) = perplexityBase
        return (q - b, max(0, eq * eq + eb * eb - 2 * q * b * logPPLCovariance).squareRoot())
    }
    package var pDiff: (Double, Double) { Self.meanAndError(sumPDiff, sumPDiff2, count) }
    package var pDiffRMS: (Double, Double) {
        let (mse, e) = Self.meanAndError(sumPDiff2, sumPDiff4, count)
        let rms = mse.squareRoot()
        return (rms, rms > 0 ? 0.5 / rms * e : 0)
    }
    package var sameTopFraction: (Double, Double) {
        let p = count > 0 ? Double(sameTop) / Double(count) : 0
        return (p, count > 1 ? (p * (1 - p) / Double(count - 1)).squareRoot() : 0)
    }

    /// llama-perplexity's percentile: linear between the two nearest sorted values.
    package static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        guard let first = sorted.first, let last = sorted.last else { return .nan }
        if fraction <= 0 { return first }
        if fraction >= 1 { return last }
        let p = fraction * Double(sorted.count - 1), i = Int(p), f = p - Double(i)
        return (1 - f) * sorted[i] + f * sorted[min(i + 1, sorted.count - 1)]
    }

    package static func median(_ sorted: [Double]) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let n = sorted.count
        return n % 2 == 0 ? 0.5 * (sorted[n / 2] + sorted[n / 2 - 1]) : sorted[n / 2]
    }
}

/// KL divergence of a model's next-token distributions from a base model's, KL(base ‖ model), on
/// llama-perplexity's positions, with its statistics (`bora perplexity --kl-divergence`).
package enum KLDivergence {
    /// Runs the base model over `tokens` (llama-perplexity's chunks) and keeps its distributions.
    package static func base(model: LanguageModel, tokenizer: Tokenizer, tokens: [Int], context: Int, chunks: Int?,
                             top: Int = KLDivergenceBase.defaultTop, threads: Int?, kernels: KernelChoice = .fast,
                             shouldStop: () -> Bool = { false },
                             progress: (PerplexityResult) -> Void = { _ in }) throws(BoraError) -> (KLDivergenceBase, PerplexityResult) {
        let vocabulary = model.config.vocabularySize
        guard (1...min(KLDivergenceBase.maximumTop, vocabulary)).contains(top) else {
            throw .invalidArgument("the entries kept per position must be between 1 and \(min(KLDivergenceBase.maximumTop, vocabulary)), got \(top)")
        }
        var base = KLDivergenceBase(vocabulary: vocabulary, context: context, top: top, tokens: [])
        let result = try Perplexity.run(model: model, tokenizer: tokenizer, tokens: tokens, context: context, chunks: chunks,
                                        threads: threads, kernels: kernels, shouldStop: shouldStop, progress: progress) { _, target, logits in
            base.append(logits: logits, target: target)
        }
        base.tokens = tokens.prefix(result.chunks * context).map { Int32($0) }
        return (base, result)
    }

    /// Scores `model` against a saved base: same vocabulary, the base's own tokens.
    package static func score(model: LanguageModel, tokenizer: Tokenizer, against base: KLDivergenceBase, threads: Int?,
                              kernels: KernelChoice = .fast, shouldStop: () -> Bool = { false },
                              progress: (KLDivergenceResult) -> Void = { _ in }) throws(BoraError) -> KLDivergenceResult {
        guard model.config.vocabularySize == base.vocabulary else {
            throw .invalidArgument("the model has \(model.config.vocabularySize) tokens in its vocabulary but the base was made with \(base.vocabulary): KL divergence needs the same vocabulary")
        }
        var result = KLDivergenceResult()
        _ = try Perplexity.runChunks(model: model, tokenizer: tokenizer, tokens: base.tokens.map(Int.init), context: base.context,
                                     chunks: base.chunks, threads: threads, kernels: kernels, shouldStop: shouldStop,
                                     progress: { partial in
                                         result.chunks = partial.chunks
                                         progress(result)
                                     }) { position, target, logits in
            let lse = Perplexity.logSumExp(logits)
            let entries = (position * base.top)..<((position + 1) * base.top)
            // Σ p (ln p − ln q) over the kept entries, q's log-probabilities rounded to F32 as the base's were.
            var kld = 0.0, mass = 0.0, sum = 0.0, sum2 = 0.0
            for e in entries {
                let lp = Double(base.logProbs[e])
                let exact = Double(logits[Int(base.ids[e])]) - lse
                mass += exp(exact)
                let d = Double(Float(exact)) - lp
                kld -= exp(lp) * d
                sum += d
                sum2 += d * d
            }
            // The rest as one outcome, plus its spread: to second order the divergence inside the rest
            // is ½ p_rest Var(ln q − ln p), the variance estimated from the kept entries. Without the
            // spread the top 32 of SmolLM2's 49,152 tokens gave 20% less than the full divergence.
            let rest = Double(base.restLogProbs[position])
            let n = Double(base.top), spread = max(0, sum2 / n - (sum / n) * (sum / n))
            kld += exp(rest) * (rest - Double(restLogProb(topMass: mass)) + 0.5 * spread)
            let nll = lse - Double(logits[target])
            let same = argmax(logits) == Int(base.ids[entries.lowerBound])
            result.add(kld: kld, nll: nll, nllBase: -Double(base.targetLogProbs[position]), sameTop: same)
        }
        return result
    }

    /// The full-vocabulary divergence, both models evaluated chunk by chunk together: the yardstick of
    /// the saved base's truncation.
    package static func exact(base: LanguageModel, model: LanguageModel, tokenizer: Tokenizer, tokens: [Int], context: Int,
                              chunks: Int?, threads: Int?, kernels: KernelChoice = .fast,
                              shouldStop: () -> Bool = { false }) throws(BoraError) -> KLDivergenceResult {
        guard model.config.vocabularySize == base.config.vocabularySize else {
            throw .invalidArgument("the models' vocabularies differ (\(base.config.vocabularySize) and \(model.config.vocabularySize) tokens)")
        }
        let vocabulary = base.config.vocabularySize
        var result = KLDivergenceResult()
        let available = tokens.count / context
        for chunk in 0..<min(chunks ?? available, available) {
            if shouldStop() { break }
            let piece = Array(tokens[(chunk * context)..<((chunk + 1) * context)])
            var baseRows: [[Double]] = []
            _ = try Perplexity.runChunks(model: base, tokenizer: tokenizer, tokens: piece, context: context, chunks: 1,
                                         threads: threads, kernels: kernels, shouldStop: { false }, progress: { _ in }) { _, _, logits in
                let lse = Perplexity.logSumExp(logits)
                baseRows.append((0..<vocabulary).map { Double(logits[$0]) - lse })
            }
            _ = try Perplexity.runChunks(model: model, tokenizer: tokenizer, tokens: piece, context: context, chunks: 1,
                                         threads: threads, kernels: kernels, shouldStop: { false }, progress: { _ in }) { position, target, logits in
                let lse = Perplexity.logSumExp(logits)
                let p = baseRows[position]
                var kld = 0.0
                for v in 0..<vocabulary { kld += exp(p[v]) * (p[v] - (Double(logits[v]) - lse)) }
                let same = argmax(logits) == p.indices.max(by: { p[$0] < p[$1] })
                result.add(kld: kld, nll: lse - Double(logits[target]), nllBase: -p[target], sameTop: same)
            }
            result.chunks += 1
        }
        return result
    }

    // MARK: Shared arithmetic

    /// ln of the probability outside the kept entries, from their exact mass (floored at 1e-30, so a
    /// base whose entries hold all the mass still gives a finite term).
    static func restLogProb(topMass: Double) -> Float { Float(log(max(1 - topMass, 1e-30))) }

    /// The first index of the largest logit (the kernels' argmax, as greedy sampling picks).
    static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int { Int(bora_argmax(logits.baseAddress!, logits.count)) }

    /// The `count` largest entries' indices, largest first (ties: lower index first).
    static func largest(_ count: Int, of logits: UnsafeBufferPointer<Float>) -> [Int] {
        var heap: [Int] = []  // the kept indices, sorted by value descending
        heap.reserveCapacity(count + 1)
        for i in 0..<logits.count {
            let v = logits[i]
            if heap.count == count, let last = heap.last, !(v > logits[last]) { continue }
            var at = heap.count
            while at > 0, v > logits[heap[at - 1]] { at -= 1 }
            heap.insert(i, at: at)
            if heap.count > count { heap.removeLast() }
        }
        return heap
    }
}
