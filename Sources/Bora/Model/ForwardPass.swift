import CBoraKernels

/// The forward pass: the rows of one step, from any number of sequences, through every layer.
///
/// A step is a list of pieces, each a run of consecutive tokens of one sequence continuing at its
/// own position in its own KV cache: a whole prompt chunk, or one decode token. Every matrix
/// product reads the weights once for all the step's rows; attention runs per sequence over its own
/// cache under the one window rule (`Attention`), and each piece's keys and values are then stored
/// in its cache. Nothing a row computes depends on the other rows of the step: the kernels accumulate
/// each output in a fixed order whatever the number of rows, so a sequence's logits are the same
/// bits alone or in any batch.
///
/// Made once per context (one sequence) or per engine (many); buffers are sized for `capacity`
/// rows and nothing is allocated per step.
package final class ForwardPass {
    let model: LanguageModel
    let pool: ThreadPool
    let kernels: KernelChoice
    let window: AttentionWindow
    /// The most rows (tokens) one step holds.
    let capacity: Int
    /// The most pieces (sequences) one step holds.
    let maximumPieces: Int

    /// One sequence's part of a step.
    package struct Piece {
        /// The sequence's cache; it holds every position before `start` that the window can see.
        package let cache: any KVCache
        /// Position of the piece's first token.
        package let start: Int
        /// Where the piece's tokens are in the step's token list.
        package let tokens: Range<Int>
        /// Rows of the piece (0-based within it) whose logits are wanted.
        package let logitRows: Range<Int>

        package init(cache: any KVCache, start: Int, tokens: Range<Int>, logitRows: Range<Int>) {
            (self.cache, self.start, self.tokens, self.logitRows) = (cache, start, tokens, logitRows)
        }
    }

    private let buffers: ForwardBuffers
    private let activations: Activations
    let workspace: Workspace
    let rope: RoPE
    private let attention: Attention
    /// The step's sequences as attention sees them (kept, with its capacity, between steps).
    private var segments: [Attention.Segment] = []
    /// Rows whose logits a step wants: the piece and the row within it.
    private let logitPieces: UnsafeMutablePointer<Int>
    private let logitOffsets: UnsafeMutablePointer<Int>
    /// What follows each product of a step, for the threads to prefetch when done (`MatMul.Upcoming`),
    /// per layer: after Q/K/V the output projection, then gate and up, then down, then the next
    /// layer's Q/K/V (the last layer's: the LM head); after the LM head, the first layer's Q/K/V.
    /// Made once: the weights do not change.
    private let upcoming: [(attentionOutput: MatMul.Upcoming, feedForward: MatMul.Upcoming,
                            down: MatMul.Upcoming, next: MatMul.Upcoming)]
    private let afterOutput: MatMul.Upcoming?

    /// - Parameters:
    ///   - maximumKeys: the most keys one query can see (W, or the longest cache).
    ///   - pool: the threads to run on (a draft model's pass shares its target's); nil makes a pool of `threads`.
    package init(model: LanguageModel, capacity: Int, maximumPieces: Int, window: AttentionWindow, maximumKeys: Int,
         threads: Int?, pool: ThreadPool? = nil, kernels: KernelChoice) throws(BoraError) {
        let c = model.config
        guard capacity >= 1 else { throw .invalidArgument("a step must hold at least one token, got \(capacity)") }
        // The step's activation buffers (ForwardBuffers, Activations), about two of each row.
        // The step's buffers, and attention's copy of the keys and values by head.
        let rowFloats = 2 * c.embeddingDim + 2 * c.queryDim + 4 * c.kvDim + c.headDim
        try MemoryBudget.require(capacity, rowFloats, 2 * MemoryLayout<Float>.size, for: "the activations of a \(capacity)-token chunk")
        self.model = model
        self.capacity = capacity
        self.maximumPieces = max(1, min(maximumPieces, capacity))
        self.window = window
        self.kernels = kernels
        if let pool { self.pool = pool } else { self.pool = try ThreadPool(threads: threads) }
        buffers = ForwardBuffers(config: c, chunk: capacity)
        activations = Activations(capacity: max(capacity * max(c.embeddingDim, c.queryDim),
                                                buffers.feedForwardRows * c.feedForwardDim))
        workspace = Workspace(threadCount: self.pool.threadCount, floatsPerThread: max(c.embeddingDim, c.feedForwardDim, c.queryDim))
        rope = RoPE(headDim: c.headDim, theta: c.ropeTheta, style: c.ropeStyle)
        attention = Attention(headCount: c.headCount, kvHeadCount: c.kvHeadCount, headDim: c.headDim, window: window,
                              maximumKeys: maximumKeys, maximumRows: capacity, maximumSegments: self.maximumPieces,
                              threads: self.pool.threadCount)
        segments.reserveCapacity(self.maximumPieces)
        let layers = model.weights.layers
        let queryKeyValue = layers.map { MatMul.Upcoming($0.query, $0.key, $0.value) }
        upcoming = layers.indices.map { l in
            (MatMul.Upcoming(layers[l].attentionOutput), MatMul.Upcoming(layers[l].feedForwardGate, layers[l].feedForwardUp),
             MatMul.Upcoming(layers[l].feedForwardDown), l + 1 < layers.count ? queryKeyValue[l + 1] : MatMul.Upcoming(model.weights.output))
        }
        afterOutput = queryKeyValue.first
        logitPieces = .allocate(capacity: capacity)
        logitOffsets = .allocate(capacity: capacity)
    }

    deinit {
        logitPieces.deallocate()
        logitOffsets.deallocate()
    }

    /// Runs one step. `receive(piece, row, logits)` gets each wanted row's logits (valid during the
    /// call), pieces in order, rows in order within a piece. Token ids must be valid and the pieces
    /// must fit: the callers check both before they build a step.
    package func run(tokens: [Int], pieces: [Piece], receive: (Int, Int, UnsafeBufferPointer<Float>) -> Void) {
        let c = model.config
        let w = model.weights
        let b = buffers
        let dim = c.embeddingDim
        precondition(!pieces.isEmpty && pieces.count <= maximumPieces, "a step of \(pieces.count) sequences")
        var n = 0
        for piece in pieces {
            segments.append(Attention.Segment(row: n, count: piece.tokens.count, start: piece.start, cache: piece.cache))
            rope.fillTable(positions: piece.start..<(piece.start + piece.tokens.count), into: b.ropeTable + n * c.headDim)
            for (t, token) in tokens[piece.tokens].enumerated() {
                w.tokenEmbedding.dequantizeRow(token, into: b.hidden + (n + t) * dim)
            }
            n += piece.tokens.count
        }
        precondition(n <= capacity, "a step of \(n) tokens in buffers for \(capacity)")

        for (l, layer) in w.layers.enumerated() {
            RMSNorm.apply(b.hidden, gain: layer.attentionNorm, epsilon: c.rmsNormEpsilon, rows: n, output: b.normed)
            activations.set(b.normed, rows: n, cols: dim)
            MatMul.multiply(layer.query, activations, output: b.queries, and: (layer.key, b.keys), and: (layer.value, b.values),
                            then: upcoming[l].attentionOutput, kernels: kernels, pool: pool, workspace: workspace)
            for t in 0..<n {
                let angles = b.ropeTable + t * c.headDim
                rope.apply(b.queries + t * c.queryDim, heads: c.headCount, angles: angles)
                rope.apply(b.keys + t * c.kvDim, heads: c.kvHeadCount, angles: angles)
            }
            if pieces[0].cache.elementType == .f16 {
                // A chunk attends to its own keys as the cache will hold them, so a position's
                // logits do not depend on how the prompt was split into chunks.
                bora_round_to_f16(b.keys, n * c.kvDim)
                bora_round_to_f16(b.values, n * c.kvDim)
            }
            attention(queries: b.queries, keys: b.keys, values: b.values, segments: segments, layer: l,
                      output: b.attention, pool: pool)
            for (piece, segment) in zip(pieces, segments) {
                piece.cache.store(layer: l, keys: b.keys + segment.row * c.kvDim, values: b.values + segment.row * c.kvDim,
                                  positions: piece.start..<(piece.start + segment.count))
            }
            activations.set(b.attention, rows: n, cols: c.queryDim)
            multiply(layer.attentionOutput, b.normed, then: upcoming[l].feedForward)
            Elementwise.add(b.normed, into: b.hidden, count: n * dim)

            RMSNorm.apply(b.hidden, gain: layer.feedForwardNorm, epsilon: c.rmsNormEpsilon, rows: n, output: b.normed)
            var row = 0
            while row < n {
                let rows = min(b.feedForwardRows, n - row)
                activations.set(b.normed + row * dim, rows: rows, cols: dim)
                MatMul.multiply(layer.feedForwardGate, activations, output: b.gate, and: (layer.feedForwardUp, b.up),
                                then: upcoming[l].down, kernels: kernels, pool: pool, workspace: workspace)
                Elementwise.siluMultiply(b.gate, b.up, count: rows * c.feedForwardDim)
                activations.set(b.gate, rows: rows, cols: c.feedForwardDim)
                multiply(layer.feedForwardDown, b.down, then: upcoming[l].next)
                Elementwise.add(b.down, into: b.hidden + row * dim, count: rows * dim)
                row += rows
            }
        }

        // The rows that want logits, gathered: normalized into consecutive rows, then the LM head.
        var wanted = 0
        for (p, piece) in pieces.enumerated() {
            for r in piece.logitRows {
                logitPieces[wanted] = p
                logitOffsets[wanted] = r
                wanted += 1
            }
        }
        var first = 0
        while first < wanted {
            let rows = min(b.logitRows, wanted - first)
            for i in 0..<rows {
                let row = segments[logitPieces[first + i]].row + logitOffsets[first + i]
                RMSNorm.apply(b.hidden + row * dim, gain: w.outputNorm, epsilon: c.rmsNormEpsilon, rows: 1, output: b.normed + i * dim)
            }
            activations.set(b.normed, rows: rows, cols: dim)
            multiply(w.output, b.logits, then: afterOutput)
            for i in 0..<rows {
                receive(logitPieces[first + i], logitOffsets[first + i],
                        UnsafeBufferPointer(start: b.logits + i * c.vocabularySize, count: c.vocabularySize))
            }
            first += rows
        }
        segments.removeAll(keepingCapacity: true)
    }

    /// `out = W · (the current activations)`.
    @inline(__always)
    private func multiply(_ w: WeightMatrix, _ out: UnsafeMutablePointer<Float>, then next: MatMul.Upcoming?) {
        MatMul.multiply(w, activations, output: out, then: next, kernels: kernels, pool: pool, workspace: workspace)
    }
}
