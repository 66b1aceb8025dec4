/// Activation buffers for one chunk, allocated once per context.
final class ForwardBuffers {
    let capacity: Int            // rows (tokens) per chunk
    let feedForwardRows: Int     // rows per feed-forward sub-batch (bounds the wide FFN buffers)
    let logitRows: Int           // rows per LM-head sub-batch
    let hidden: UnsafeMutablePointer<Float>
    let normed: UnsafeMutablePointer<Float>
    let queries: UnsafeMutablePointer<Float>
    let keys: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>
    let attention: UnsafeMutablePointer<Float>
    let gate: UnsafeMutablePointer<Float>
    let up: UnsafeMutablePointer<Float>
    let down: UnsafeMutablePointer<Float>
    let logits: UnsafeMutablePointer<Float>
    /// cos/sin of every RoPE frequency at each position of the chunk.
    let ropeTable: UnsafeMutablePointer<Float>
    private var all: [UnsafeMutablePointer<Float>] = []

    init(config c: ModelConfig, chunk: Int) {
        capacity = chunk
        feedForwardRows = min(chunk, 512)
        logitRows = min(chunk, 8)
        func make(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            return p
        }
        hidden = make(chunk * c.embeddingDim)
        normed = make(chunk * c.embeddingDim)
        queries = make(chunk * c.queryDim)
        keys = make(chunk * c.kvDim)
        values = make(chunk * c.kvDim)
        attention = make(chunk * c.queryDim)
        gate = make(feedForwardRows * c.feedForwardDim)
        up = make(feedForwardRows * c.feedForwardDim)
        down = make(feedForwardRows * c.embeddingDim)
        logits = make(logitRows * c.vocabularySize)
        ropeTable = make(chunk * c.headDim)
        all = [hidden, normed, queries, keys, values, attention, gate, up, down, logits, ropeTable]
    }

    deinit { for p in all { p.deallocate() } }
}
