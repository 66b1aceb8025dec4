/// A bounds-checked little-endian cursor over a byte range. Every read that would pass the end throws
/// `BoraError.truncated`, so malformed files can never make the parser read outside the mapping.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let path: String
    private(set) var offset: Int = 0

    init(_ bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    var remaining: Int { bytes.count - offset }

    mutating func require(_ count: Int, _ what: @autoclosure () -> String) throws(BoraError) {
        guard count >= 0, count <= remaining else { throw .truncated(path: path, what: what()) }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws(BoraError) -> T {
        try require(MemoryLayout<T>.size, what())
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return value
    }

    mutating func readFloat(_ what: @autoclosure () -> String) throws(BoraError) -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    mutating func readDouble(_ what: @autoclosure () -> String) throws(BoraError) -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    mutating func readBytes(_ count: Int, _ what: @autoclosure () -> String) throws(BoraError) -> UnsafeRawBufferPointer {
        try require(count, what())
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
        offset += count
        return slice
    }

    mutating func skip(_ count: Int, _ what: @autoclosure () -> String) throws(BoraError) {
        try require(count, what())
        offset += count
    }
}
