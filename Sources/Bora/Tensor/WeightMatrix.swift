import CBoraKernels
import Dispatch

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
    /// The rows repacked for the packed kernels (whole groups of 16), when the CPU runs them.
    public private(set) var packed: PackedMatrix?

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

    /// Repacks the weights for the CPU's fastest kernels if it has some for this format; returns
    /// whether it did. See pack.c for why repacking pays.
    mutating func repackIfSupported(into arena: PackedArena) throws(BoraError) -> Bool {
        guard packed == nil, bora_packed_supported(dtype.kernelCode, Int64(cols)) != 0, rows >= 16 else { return false }
        let copy = try PackedMatrix(self, arena: arena)
        packed = copy
        // The kernels read the packed copy from now on: the mapped pages the packing read would
        // otherwise stay resident beside it, doubling the model's memory. (The reference kernels
        // and the rows past the last group still read the mapping; their pages fault back in.)
        storage.file.releasePages(data, count: copy.groups * 16 * rowBytes)
        return true
    }

    @inline(__always)
    public func rowPointer(_ row: Int) -> UnsafeRawPointer { data + row * rowBytes }

    /// Dequantizes row `row` (e.g. one token's embedding) into `out[0..<cols]`.
    public func dequantizeRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        QuantBlocks.dequantize(dtype, rowPointer(row), count: cols, into: out)
    }
}

/// Weights in the interleaved layout of the packed kernels (pack.c), in memory of their own.
public final class PackedMatrix: @unchecked Sendable {
    public let groups: Int
    public let byteCount: Int
    let bytes: UnsafeMutableRawPointer
    /// Owns `bytes`.
    private let slab: HugePageBuffer

    init(_ w: WeightMatrix, arena: PackedArena) throws(BoraError) {
        groups = w.rows / 16
        byteCount = bora_packed_bytes(w.dtype.kernelCode, Int64(groups), Int64(w.cols))
        (slab, bytes) = try arena.allocate(max(byteCount, 1), for: "the repacked \(w.name)")
        let groups = self.groups
        let parts = min(groups, 64)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let g0 = groups * part / parts, g1 = groups * (part + 1) / parts
            bora_pack(w.dtype.kernelCode, w.data, w.rowBytes, Int64(w.cols), Int64(g0), Int64(g1), self.bytes)
        }
    }
}
