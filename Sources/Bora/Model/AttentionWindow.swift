/// Which keys a query may attend to. This is the one definition of the attention mask; prefill,
/// chunked prefill and decode all ask it, and the rolling cache is sized from it.
public struct AttentionWindow: Sendable, Equatable {
    /// W: the number of keys a query sees, itself included; nil for full causal attention.
    public let size: Int?

    public init(size: Int?) {
        precondition(size.map { $0 > 0 } ?? true, "a sliding window holds at least one key")
        self.size = size
    }

    /// A query at position i sees keys j with 0 ≤ i − j < W (Mistral's rule, as in transformers ≥ 5
    /// and mistral-inference); without a window, every j ≤ i.
    @inline(__always)
    public func isVisible(query i: Int, key j: Int) -> Bool {
        let distance = i - j
        guard distance >= 0 else { return false }
        guard let size else { return true }
        return distance < size
    }

    /// The keys a query at position i ≥ 0 sees: exactly the j ≥ 0 for which `isVisible(query: i, key: j)`.
    @inline(__always)
    public func visibleKeys(query i: Int) -> ClosedRange<Int> {
        guard let size else { return 0...i }
        return max(0, i - size + 1)...i
    }
}
