/// One decoder block's weights.
public struct LayerWeights: Sendable {
    public let attentionNorm: [Float]
    public let query: WeightMatrix
    public let key: WeightMatrix
    public let value: WeightMatrix
    public let attentionOutput: WeightMatrix
    public let feedForwardNorm: [Float]
    public let feedForwardGate: WeightMatrix
    public let feedForwardUp: WeightMatrix
    public let feedForwardDown: WeightMatrix

    public var matrices: [WeightMatrix] {
        [query, key, value, attentionOutput, feedForwardGate, feedForwardUp, feedForwardDown]
    }
}

/// All weights of a model, validated against its configuration. Matrices stay in the mapped file;
/// only the small norm gains are converted to F32 arrays.
public struct ModelWeights: Sendable {
    public let tokenEmbedding: WeightMatrix
    public let layers: [LayerWeights]
    public let outputNorm: [Float]
    /// The LM head; the token embedding itself when the model ties them.
    public let output: WeightMatrix

    public init(files: ModelFiles, repack: Bool = true, progress: (@Sendable (Double) -> Void)? = nil) throws(BoraError) {
        let c = files.config
        let naming = files.naming
        let source = files.tensors
        func tensor(_ role: WeightRole, _ layer: Int = 0) throws(BoraError) -> TensorData {
            let name = naming.name(role, layer: layer)
            guard let t = try source.tensor(named: name) else { throw .missingTensor(name) }
            return t
        }
        func matrix(_ role: WeightRole, _ layer: Int, _ rows: Int, _ cols: Int) throws(BoraError) -> WeightMatrix {
            try WeightMatrix(tensor(role, layer), rows: rows, cols: cols)
        }
        func vector(_ role: WeightRole, _ layer: Int = 0) throws(BoraError) -> [Float] {
            let t = try tensor(role, layer)
            guard t.shape == [c.embeddingDim] else {
                throw .unexpectedShape(tensor: t.name, expected: [c.embeddingDim], found: t.shape)
            }
            guard !t.dtype.isQuantized, t.dtype.byteCount(elements: c.embeddingDim) == t.byteCount else {
                throw .unknownDType(tensor: t.name, dtype: t.dtype.rawValue + " (a norm gain must be F32, F16 or BF16)")
            }
            return [Float](unsafeUninitializedCapacity: c.embeddingDim) { buffer, count in
                QuantBlocks.dequantize(t.dtype, t.pointer, count: c.embeddingDim, into: buffer.baseAddress!)
                count = c.embeddingDim
            }
        }

        // Matrices used in products (not the embedding, which is only looked up row by row).
        let arena = PackedArena()
        func product(_ role: WeightRole, _ layer: Int, _ rows: Int, _ cols: Int) throws(BoraError) -> WeightMatrix {
            var m = try matrix(role, layer, rows, cols)
            if repack { _ = try m.repackIfSupported(into: arena) }
            return m
        }
        tokenEmbedding = try matrix(.tokenEmbedding, 0, c.vocabularySize, c.embeddingDim)
        outputNorm = try vector(.outputNorm)
        if c.tiedEmbeddings, try source.tensor(named: naming.name(.output)) == nil {
            var tied = tokenEmbedding
            if repack { _ = try tied.repackIfSupported(into: arena) }
            output = tied
        } else {
            output = try product(.output, 0, c.vocabularySize, c.embeddingDim)
        }
        var layers: [LayerWeights] = []
        progress?(0)
        for l in 0..<c.layerCount {
            defer { progress?(Double(l + 1) / Double(c.layerCount)) }
            layers.append(LayerWeights(
                attentionNorm: try vector(.attentionNorm, l),
                query: try product(.query, l, c.queryDim, c.embeddingDim),
                key: try product(.key, l, c.kvDim, c.embeddingDim),
                value: try product(.value, l, c.kvDim, c.embeddingDim),
                attentionOutput: try product(.attentionOutput, l, c.embeddingDim, c.queryDim),
                feedForwardNorm: try vector(.feedForwardNorm, l),
                feedForwardGate: try product(.feedForwardGate, l, c.feedForwardDim, c.embeddingDim),
                feedForwardUp: try product(.feedForwardUp, l, c.feedForwardDim, c.embeddingDim),
                feedForwardDown: try product(.feedForwardDown, l, c.embeddingDim, c.feedForwardDim)))
        }
        self.layers = layers
        // A tensor Bora does not run (a layer past the configured count, a bias, an adapter) means
        // the configuration and the file disagree, or the model has parts this engine lacks: running
        // without it would be silently wrong.
        var used = Set([WeightRole.tokenEmbedding, .outputNorm, .output].map { naming.name($0) })
        for l in 0..<c.layerCount {
            for role in WeightRole.allCases where role.isPerLayer { used.insert(naming.name(role, layer: l)) }
        }
        for name in source.tensorNames.sorted() where !used.contains(name) && !Self.isDerivedBuffer(name) {
            throw .unsupportedModel("the file holds tensor '\(BoraError.shortened(name))', which a \(c.layerCount)-layer " +
                                    "\(c.architecture) model does not use (the configuration and the tensors disagree, or the model has parts Bora does not run)")
        }
    }

    /// Buffers some checkpoints save that are derived from the configuration, not weights.
    static func isDerivedBuffer(_ name: String) -> Bool { name.hasSuffix("rotary_emb.inv_freq") }

    /// Bytes of weights read per decoded token (every matrix once, plus one embedding row).
    public var bytesPerToken: Int {
        layers.reduce(0) { $0 + $1.matrices.reduce(0) { $0 + $1.byteCount } } + output.byteCount + tokenEmbedding.rowBytes
    }
}
