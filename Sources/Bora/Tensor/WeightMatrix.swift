/// A `rows × cols` weight matrix in any supported dtype, row-major, read in place from its file.
/// Row `r` holds output feature `r`; a product with an activation vector gives `rows` outputs.
public struct WeightMatrix: @unchecked Sendable {
    public let name: String
    public let dtype: DType
    public let rows: Int
    public let cols: Int
    public let data: UnsafeRawPointer
    public let rowBytes: Int
    /// Keeps the mapping alive.
    let storage: TensorData

    public init(_ tensor: TensorData, rows expectedRows: Int, cols expectedCols: Int) throws(BoraError) {
        guard tensor.shape == [expectedRows, expectedCols] else {
            throw .unexpectedShape(tensor: tensor.name, expected: [expectedRows, expectedCols], found: tensor.shape)
        }
        guard let rowBytes = tensor.dtype.byteCount(elements: expectedCols) else {
            throw .invalidMetadata(key: tensor.name, reason: "row length \(expectedCols) is not a multiple of the \(tensor.dtype.rawValue) block size")
        }
        guard rowBytes * expectedRows == tensor.byteCount else {
            throw .tensorSizeMismatch(tensor: tensor.name, shape: tensor.shape, dtype: tensor.dtype.rawValue,
                                      expectedBytes: rowBytes * expectedRows, actualBytes: tensor.byteCount)
        }
        self.name = tensor.name
        self.dtype = tensor.dtype
        self.rows = expectedRows
        self.cols = expectedCols
        self.data = tensor.pointer
        self.rowBytes = rowBytes
        self.storage = tensor
    }

    public var byteCount: Int { rows * rowBytes }

    @inline(__always)
    public func rowPointer(_ row: Int) -> UnsafeRawPointer { data + row * rowBytes }

    /// Dequantizes row `row` (e.g. one token's embedding) into `out[0..<cols]`.
    public func dequantizeRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        QuantBlocks.dequantize(dtype, rowPointer(row), count: cols, into: out)
    }
}
