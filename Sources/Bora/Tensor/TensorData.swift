/// A tensor's bytes inside a memory-mapped file, never copied.
///
/// `shape` lists the outermost dimension first, like PyTorch: a matrix of `rows` rows with `cols`
/// contiguous elements each is `[rows, cols]`. (GGUF lists dimensions innermost first; its parser
/// reverses them.)
public struct TensorData: @unchecked Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let pointer: UnsafeRawPointer
    public let byteCount: Int
    /// Keeps the mapping alive.
    let file: MappedFile

    public var elementCount: Int { shape.reduce(1, *) }
}
