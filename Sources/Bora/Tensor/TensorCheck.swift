/// A weight that is NaN or infinite, as `TensorCheck` finds it.
public struct NonFiniteWeight: Sendable, Equatable, CustomStringConvertible {
    public let tensor: String
    /// Index of the first bad element of the tensor (row-major), and its value.
    public let element: Int
    public let value: Float
    /// How many of the tensor's elements are not finite.
    public let count: Int

    public var description: String {
        "tensor '\(BoraError.shortened(tensor))': \(count) non-finite value\(count == 1 ? "" : "s"), the first \(value) at element \(element)"
    }
}

/// Scans tensors for NaN and infinity (a corrupt block scale poisons 32 or 256 weights; quantized
/// activations would otherwise hide it in finite-looking logits).
public enum TensorCheck {
    /// Every tensor of `source` with a non-finite value, in name order, the first `limit` of them.
    public static func nonFinite(in source: any TensorSource, limit: Int = 10) throws(BoraError) -> [NonFiniteWeight] {
        var found: [NonFiniteWeight] = []
        for name in source.tensorNames.sorted() where found.count < limit {
            guard let tensor = try source.tensor(named: name) else { continue }
            if let bad = nonFinite(in: tensor) { found.append(bad) }
        }
        return found
    }

    /// The tensor's non-finite values, decoded a run of blocks at a time.
    public static func nonFinite(in tensor: TensorData) -> NonFiniteWeight? {
        let block = tensor.dtype.blockSize
        let total = tensor.elementCount
        guard total % block == 0, let bytesPerBlock = tensor.dtype.byteCount(elements: block),
              tensor.dtype.byteCount(elements: total).map({ $0 <= tensor.byteCount }) ?? false else { return nil }
        let chunk = 64 * 256
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: chunk)
        defer { buffer.deallocate() }
        var first: (Int, Float)?
        var count = 0
        var start = 0
        while start < total {
            let n = min(chunk, total - start)
            QuantBlocks.dequantize(tensor.dtype, tensor.pointer + start / block * bytesPerBlock, count: n, into: buffer)
            for i in 0..<n where !buffer[i].isFinite {
                if first == nil { first = (start + i, buffer[i]) }
                count += 1
            }
            start += n
        }
        return first.map { NonFiniteWeight(tensor: tensor.name, element: $0.0, value: $0.1, count: count) }
    }
}
