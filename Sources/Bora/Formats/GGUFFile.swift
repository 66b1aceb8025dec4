/// A GGUF metadata value (every type of the GGUF v2/v3 specification, arrays nested to any depth).
public indirect enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        case .bool(let v): return v ? 1 : 0
        default: return nil
        }
    }

    public var double: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return int.map(Double.init)
        }
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return int.map { $0 != 0 }
    }

    public var array: [GGUFValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// A short human-readable rendering (long arrays are summarised).
    public var summary: String {
        switch self {
        case .string(let s): return s.count > 60 ? "\"\(s.prefix(57))...\"" : "\"\(s)\""
        case .array(let a):
            let head = a.prefix(4).map(\.summary).joined(separator: ", ")
            return a.count > 4 ? "[\(head), ... (\(a.count) items)]" : "[\(head)]"
        case .float32(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        default: return int.map(String.init) ?? "?"
        }
    }
}

public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// ggml order: innermost (contiguous) dimension first.
    public let dimensions: [Int]
    public let dtype: DType
    /// Offset from the start of the data section.
    public let offset: Int
    public let byteCount: Int
}

/// A parsed, validated, memory-mapped GGUF file (versions 2 and 3).
public final class GGUFFile: Sendable {
    public static let magic: UInt32 = 0x4655_4747  // "GGUF" read little-endian

    public let file: MappedFile
    public let version: Int
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute offset of the tensor data section.
    public let dataOffset: Int
    private let tensorIndex: [String: Int]

    public convenience init(path: String) throws(BoraError) {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws(BoraError) {
        self.file = file
        let path = file.path
        var reader = ByteReader(file.bytes, path: path)
        let magic = try reader.read(UInt32.self, "the GGUF magic")
        guard magic == GGUFFile.magic else {
            throw .badMagic(path: path, found: Self.describeMagic(file.bytes))
        }
        let version = Int(try reader.read(UInt32.self, "the GGUF version"))
        guard version == 2 || version == 3 else { throw .unsupportedVersion(format: "GGUF", version: version) }
        self.version = version
        let tensorCount = try reader.read(UInt64.self, "the tensor count")
        let keyCount = try reader.read(UInt64.self, "the metadata count")
        guard keyCount <= 1 << 24 else { throw .absurdDimension(name: "GGUF metadata count", value: Int(clamping: keyCount)) }
        guard tensorCount <= 1 << 24 else { throw .absurdDimension(name: "GGUF tensor count", value: Int(clamping: tensorCount)) }

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        // Each entry takes at least 12 bytes: never reserve more than the file could hold.
        keys.reserveCapacity(min(Int(keyCount), reader.remaining / 12))
        for index in 0..<Int(keyCount) {
            let key = try Self.readName(&reader, "the name of metadata entry \(index)")
            let type = try reader.read(UInt32.self, "the type of metadata '\(key)'")
            let value = try Self.readValue(&reader, type: type, key: key, depth: 0)
            if metadata.updateValue(value, forKey: key) == nil { keys.append(key) }
        }
        self.metadata = metadata
        self.metadataKeys = keys

        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard let a = value.int, a > 0, a & (a - 1) == 0, a <= 1 << 20 else {
                throw .invalidMetadata(key: "general.alignment", reason: "must be a power of two, found \(value.summary)")
            }
            alignment = a
        }
        self.alignment = alignment

        struct RawInfo { let name: String; let dims: [Int]; let type: UInt32; let offset: UInt64 }
        var raw: [RawInfo] = []
        raw.reserveCapacity(min(Int(tensorCount), reader.remaining / 24))
        for index in 0..<Int(tensorCount) {
            let name = try Self.readName(&reader, "the name of tensor \(index)")
            let dimCount = Int(try reader.read(UInt32.self, "the dimension count of '\(name)'"))
            guard (1...4).contains(dimCount) else { throw .absurdDimension(name: "dimension count of '\(name)'", value: dimCount) }
            var dims: [Int] = []
            for _ in 0..<dimCount {
                let d = try reader.read(UInt64.self, "the dimensions of '\(name)'")
                guard d >= 1, d <= 1 << 40 else { throw .absurdDimension(name: "a dimension of '\(name)'", value: Int(clamping: d)) }
                dims.append(Int(d))
            }
            let type = try reader.read(UInt32.self, "the type of '\(name)'")
            let offset = try reader.read(UInt64.self, "the offset of '\(name)'")
            raw.append(RawInfo(name: name, dims: dims, type: type, offset: offset))
        }

        let dataOffset = (reader.offset + alignment - 1) / alignment * alignment
        guard dataOffset <= file.size else { throw .truncated(path: path, what: "the padding before the tensor data") }
        self.dataOffset = dataOffset
        let available = file.size - dataOffset

        var tensors: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        for info in raw {
            guard let dtype = DType(ggmlType: info.type) else {
                throw .unknownDType(tensor: info.name, dtype: DType.ggmlTypeName(info.type))
            }
            var elements = 1
            for d in info.dims {
                let (product, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow, product <= 1 << 40 else { throw .absurdDimension(name: "element count of '\(info.name)'", value: Int.max) }
                elements = product
            }
            guard info.dims[0] % dtype.blockSize == 0, let bytes = dtype.byteCount(elements: elements) else {
                throw .invalidMetadata(key: info.name, reason: "row length \(info.dims[0]) is not a multiple of the \(dtype.rawValue) block size \(dtype.blockSize)")
            }
            guard info.offset % UInt64(alignment) == 0 else {
                throw .invalidMetadata(key: info.name, reason: "data offset \(info.offset) is not aligned to \(alignment) bytes")
            }
            guard info.offset <= UInt64(available), Int(info.offset) + bytes <= available else {
                throw .tensorOutOfBounds(tensor: info.name, end: Int(clamping: info.offset) &+ bytes, available: available)
            }
            guard index[info.name] == nil else { throw .invalidMetadata(key: info.name, reason: "tensor name appears twice") }
            index[info.name] = tensors.count
            tensors.append(GGUFTensorInfo(name: info.name, dimensions: info.dims, dtype: dtype, offset: Int(info.offset), byteCount: bytes))
        }
        let byOffset = tensors.sorted { $0.offset < $1.offset }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where a.offset + a.byteCount > b.offset {
            throw .tensorsOverlap(a.name, b.name)
        }
        self.tensors = tensors
        self.tensorIndex = index
    }

    public func tensor(named name: String) -> TensorData? {
        guard let i = tensorIndex[name] else { return nil }
        let info = tensors[i]
        return TensorData(
            name: name, dtype: info.dtype, shape: info.dimensions.reversed(),
            pointer: file.base + dataOffset + info.offset, byteCount: info.byteCount, file: file)
    }

    // MARK: Reading values

    /// The longest key or tensor name read (llama.cpp's own limit for tensor names is 64 bytes): a
    /// corrupt length must not turn the rest of the file into a name.
    static let maximumNameBytes = 1024

    private static func readName(_ reader: inout ByteReader, _ what: @autoclosure () -> String) throws(BoraError) -> String {
        try readString(&reader, what(), limit: maximumNameBytes)
    }

    private static func readString(_ reader: inout ByteReader, _ what: @autoclosure () -> String, limit: Int = .max) throws(BoraError) -> String {
        let length = try reader.read(UInt64.self, what())
        guard length <= UInt64(limit) else {
            throw .invalidMetadata(key: what(), reason: "a name of \(length) bytes (names are at most \(limit) bytes: corrupt file?)")
        }
        guard length <= UInt64(reader.remaining) else { throw .truncated(path: reader.path, what: what()) }
        let bytes = try reader.readBytes(Int(length), what())
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func readValue(_ reader: inout ByteReader, type: UInt32, key: String, depth: Int) throws(BoraError) -> GGUFValue {
        let what = "the value of '\(key)'"
        switch type {
        case 0: return .uint8(try reader.read(UInt8.self, what))
        case 1: return .int8(try reader.read(Int8.self, what))
        case 2: return .uint16(try reader.read(UInt16.self, what))
        case 3: return .int16(try reader.read(Int16.self, what))
        case 4: return .uint32(try reader.read(UInt32.self, what))
        case 5: return .int32(try reader.read(Int32.self, what))
        case 6: return .float32(try reader.readFloat(what))
        case 7:
            let byte = try reader.read(UInt8.self, what)
            guard byte <= 1 else { throw .invalidMetadata(key: key, reason: "boolean byte \(byte) is neither 0 nor 1") }
            return .bool(byte == 1)
        case 8: return .string(try readString(&reader, what))
        case 9:
            guard depth < 8 else { throw .invalidMetadata(key: key, reason: "arrays nested more than 8 deep") }
            let elementType = try reader.read(UInt32.self, what)
            let count = try reader.read(UInt64.self, what)
            // Every element takes at least one byte, so a larger count is a truncated or corrupt file.
            guard count <= UInt64(reader.remaining) else { throw .truncated(path: reader.path, what: what) }
            var values: [GGUFValue] = []
            values.reserveCapacity(Int(count))
            for _ in 0..<Int(count) {
                values.append(try readValue(&reader, type: elementType, key: key, depth: depth + 1))
            }
            return .array(values)
        case 10: return .uint64(try reader.read(UInt64.self, what))
        case 11: return .int64(try reader.read(Int64.self, what))
        case 12: return .float64(try reader.readDouble(what))
        default: throw .invalidMetadata(key: key, reason: "unknown value type \(type)")
        }
    }

    static func describeMagic(_ bytes: UnsafeRawBufferPointer) -> String {
        let head = bytes.prefix(4)
        let printable = head.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
        return printable ? "\"\(String(decoding: head, as: UTF8.self))\"" : head.map { String($0, radix: 16) }.joined(separator: " ")
    }
}
