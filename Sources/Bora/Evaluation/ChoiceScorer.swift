/// Scores the choices of many multiple-choice tasks together, through the batched forward pass.
///
/// Each task's prefix (the tokens all its choices share, up to the shortest context) is evaluated
/// once, into the cache of its first choice; the prefix's keys and values are then copied into its
/// other choices' caches, and every choice's continuation runs as a sequence of its own. Steps
/// hold the pieces of many tasks at once (up to `stepTokens` rows, a long piece split across
/// steps), so one weight pass serves many choices. The forward pass is batch invariant, so a
/// choice's scores are the same bits whichever tasks share its steps.
package final class ChoiceScorer {
    /// One task's token sequences: each choice's whole sequence and how many of its first tokens
    /// are its context. The mean runs over the tokens after the prefix all choices share
    /// (llama.cpp's HellaSwag figure), or after each choice's own context.
    package struct Request: Sendable {
        package var choices: [[Int]]
        package var contextLengths: [Int]
        package var meanFromCommonPrefix: Bool

        package init(choices: [[Int]], contextLengths: [Int], meanFromCommonPrefix: Bool = true) {
            (self.choices, self.contextLengths, self.meanFromCommonPrefix) = (choices, contextLengths, meanFromCommonPrefix)
        }

        /// Refuses a request the scorer cannot score, saying why.
        package func check() throws(BoraError) {
            guard choices.count >= 2, contextLengths.count == choices.count,
                  zip(choices, contextLengths).allSatisfy({ $0.count > $1 }) else {
                throw .invalidArgument("each choice must add tokens to the context")
            }
            guard split.from >= 1 else { throw .invalidArgument("the context has no token to predict the choices from (no BOS and an empty context)") }
        }

        /// Tokens a batch evaluates for it: the prefix once, each choice's rest.
        var evaluatedTokens: Int {
            let from = split.from
            return from + choices.reduce(0) { $0 + $1.count - from }
        }

        /// The prefix all choices share (at most the shortest less one), and where predictions start:
        /// the shared prefix or the shortest context, whichever ends first.
        var split: (common: Int, from: Int) {
            var common = choices[0].count
            for c in choices.dropFirst() { common = min(common, zip(choices[0], c).prefix { $0 == $1 }.count) }
            common = min(common, choices.map(\.count).min()! - 1)
            return (common, min(common, contextLengths.min()!))
        }
    }

    let model: LanguageModel
    let plan: CachePlan
    /// The most rows one step holds.
    package let stepTokens: Int
    /// The most sequences (choices) one call may hold.
    package let maximumSequences: Int
    /// The longest sequence a call may hold.
    package let longest: Int
    private let pass: ForwardPass
    private var caches: [KVStorage & KVCache] = []

    /// - Parameters:
    ///   - longest: the longest choice sequence to score.
    ///   - maximumSequences: the most choices one `score` call holds (caches are made as needed;
    ///     their pages cost memory only as they fill).
    package init(model: LanguageModel, longest: Int, stepTokens: Int = 512, maximumSequences: Int = 32, threads: Int?,
                 kernels: KernelChoice = .fast, kvCacheType: KVCacheType = .f16) throws(BoraError) {
        guard longest >= 2 else { throw .invalidArgument("a choice sequence needs at least 2 tokens, got \(longest)") }
        guard stepTokens >= 1 else { throw .invalidArgument("a step must hold at least one token, got \(stepTokens)") }
        let c = model.config
        if c.slidingWindow == nil, longest > c.contextLength {
            throw .invalidArgument("a choice has \(longest) tokens but the model, which has no sliding window, holds \(c.contextLength)")
        }
        self.model = model
        self.longest = longest
        self.stepTokens = stepTokens
        self.maximumSequences = max(2, maximumSequences)
        plan = try CachePlan(config: c, maxContext: longest, type: kvCacheType)
        pass = try ForwardPass(model: model, capacity: stepTokens, maximumPieces: self.maximumSequences, window: plan.window,
                               maximumKeys: plan.maximumKeys, threads: threads, kernels: kernels)
    }

    /// The worker threads the scorer's forward pass runs on.
    package var threadCount: Int { pass.pool.threadCount }

    /// Each request's scores, in order: per choice, the sum of the log-probabilities of the tokens
    /// after its context, and their mean after the common prefix (or its context).
    package func score(_ requests: [Request]) throws(BoraError) -> [[MultipleChoice.Score]] {
        let vocabulary = model.config.vocabularySize
        var base: [Int] = []   // each request's first cache
        var sequences = 0
        for r in requests {
            try r.check()
            for tokens in r.choices {
                guard tokens.count <= longest else {
                    throw .invalidArgument("a choice has \(tokens.count) tokens; this scorer holds \(longest)")
                }
                for t in tokens where t < 0 || t >= vocabulary { throw .invalidTokenID(t, vocabularySize: vocabulary) }
            }
            base.append(sequences)
            sequences += r.choices.count
        }
        guard sequences <= maximumSequences else {
            throw .invalidArgument("\(sequences) choices in one call; this scorer holds \(maximumSequences)")
        }
        while caches.count < sequences { caches.append(try plan.makeCache()) }

        // logprob[r][c][t] = ln p(choice c's token t | its tokens before t), for t from the prefix's end.
        var logprob = requests.map { r in r.choices.map { [Double](repeating: 0, count: $0.count) } }
        let splits = requests.map(\.split)

        // The prefixes, each into its first choice's cache: the last row predicts every choice's next token.
        run(requests.indices.map { r in
            Job(cache: base[r], tokens: requests[r].choices[0], range: 0..<splits[r].from, wanted: splits[r].from - 1, owner: (r, nil))
        }) { owner, position, logits in
            let r = owner.request
            for (c, tokens) in requests[r].choices.enumerated() {
                logprob[r][c][position + 1] = Perplexity.logSoftmax(logits, at: tokens[position + 1])
            }
        }
        for (r, request) in requests.enumerated() {
            let from = caches[base[r]]
            for c in 1..<request.choices.count {
                caches[base[r] + c].copy(positions: from.heldPositions(length: splits[r].from), from: from)
            }
        }
        // Every choice's continuation, in its own cache after its copy of the prefix.
        var jobs: [Job] = []
        for (r, request) in requests.enumerated() {
            for (c, tokens) in request.choices.enumerated() {
                jobs.append(Job(cache: base[r] + c, tokens: tokens, range: splits[r].from..<tokens.count,
                                wanted: splits[r].from, owner: (r, c)))
            }
        }
        run(jobs) { owner, position, logits in
            let tokens = requests[owner.request].choices[owner.choice!]
            if position + 1 < tokens.count {
                logprob[owner.request][owner.choice!][position + 1] = Perplexity.logSoftmax(logits, at: tokens[position + 1])
            }
        }

        return requests.enumerated().map { r, request in
            let (common, from) = splits[r]
            return zip(logprob[r], request.contextLengths).map { lp, contextLength in
                let sum = lp[max(contextLength, from)...].reduce(0, +)
                let tail = lp[(request.meanFromCommonPrefix ? common : contextLength)...]
                return MultipleChoice.Score(sum: sum, mean: tail.reduce(0, +) / Double(tail.count))
            }
        }
    }

    /// A run of one sequence's tokens to evaluate, with logits wanted from position `wanted` on.
    private struct Job {
        let cache: Int
        let tokens: [Int]
        var range: Range<Int>
        let wanted: Int
        let owner: (request: Int, choice: Int?)
    }

    /// Runs the jobs in steps of up to `stepTokens` rows (a job that does not fit is split and
    /// continues first in the next step); `receive` gets each wanted position's logits.
    private func run(_ jobs: [Job], receive: ((request: Int, choice: Int?), Int, UnsafeBufferPointer<Float>) -> Void) {
        var pending = jobs[...]
        var tokens: [Int] = []
        var pieces: [ForwardPass.Piece] = []
        var owners: [Job] = []
        tokens.reserveCapacity(stepTokens)
        while !pending.isEmpty {
            tokens.removeAll(keepingCapacity: true)
            pieces.removeAll(keepingCapacity: true)
            owners.removeAll(keepingCapacity: true)
            while var job = pending.first, tokens.count < stepTokens, pieces.count < maximumSequences {
                let take = min(job.range.count, stepTokens - tokens.count)
                let start = job.range.lowerBound
                let rows = (start..<(start + take)).clamped(to: job.wanted..<Int.max)
                pieces.append(ForwardPass.Piece(cache: caches[job.cache], start: start, tokens: tokens.count..<(tokens.count + take),
                                                logitRows: (rows.lowerBound - start)..<(rows.upperBound - start)))
                tokens.append(contentsOf: job.tokens[start..<(start + take)])
                owners.append(job)
                job.range = (start + take)..<job.range.upperBound
                if job.range.isEmpty { pending.removeFirst() } else { pending[pending.startIndex] = job }
            }
            pass.run(tokens: tokens, pieces: pieces) { p, row, logits in
                receive(owners[p].owner, pieces[p].start + row, logits)
            }
        }
    }
}

extension KVCache {
    /// Copies the keys and values of `positions` from a cache of the same shape and slot rule.
    func copy(positions: Range<Int>, from other: any KVCache) {
        precondition(other.layerCount == layerCount && other.kvHeadCount == kvHeadCount && other.headDim == headDim
                     && other.elementType == elementType && other.slotCount == slotCount, "a copy between caches of different shapes")
        let rowBytes = headDim * elementType.bytesPerElement
        for layer in 0..<layerCount {
            for head in 0..<kvHeadCount {
                for (to, from) in [(keys(layer: layer, head: head), other.keys(layer: layer, head: head)),
                                   (values(layer: layer, head: head), other.values(layer: layer, head: head))] {
                    for position in positions {
                        (to + slot(of: position) * rowBytes).copyMemory(from: from + other.slot(of: position) * rowBytes, byteCount: rowBytes)
                    }
                }
            }
        }
        didStore(positions)
    }
}
