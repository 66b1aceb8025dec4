/// A parsed, validated, memory-mapped `.safetensors` file: an 8-byte little-endian header length,
/// a JSON header `{name: {dtype, shape, data_offsets: [begin, end]}}`, then the raw tensor bytes.
public final class SafetensorsFile: Sendable {
    public struct Entry: Sendable {
        public let name: String
        /// The dtype as written (`F32`, `BF16`, `I64`, ...). Only float types can be used as weights.
        public let dtypeName: String
        public let shape: [Int]
        public let begin: Int
        public let end: Int
    }

    public let file: MappedFile
    public let entries: [String: Entry]
    public let dataOffset: Int

    public convenience init(path: String) throws(BoraError) {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws(BoraError) {
        self.file = file
        let path = file.path
        var reader = ByteReader(file.bytes, path: path)
        let headerLength = try reader.read(UInt64.self, "the safetensors header length")
        guard headerLength <= UInt64(reader.remaining) else {
            if headerLength > 100_000_000 {
                throw .badMagic(path: path, found: "a header length of \(headerLength) bytes")
            }
            throw .truncated(path: path, what: "the safetensors JSON header")
        }
        let header = try reader.readBytes(Int(headerLength), "the safetensors JSON header")
        self.dataOffset = 8 + Int(headerLength)
        let available = file.size - dataOffset

        let json: JSONValue
        do {
            json = try JSONValue.parse(header)
        } catch {
            throw .invalidJSON(path: path, reason: "safetensors header: \(error.description)")
        }
        guard let members = json.members else {
            throw .invalidJSON(path: path, reason: "safetensors header is not a JSON object")
        }
        var entries: [String: Entry] = [:]
        for (name, info) in members where name != "__metadata__" {
            guard let dtype = info["dtype"]?.string,
                  let shapeValues = info["shape"]?.array,
                  let offsets = info["data_offsets"]?.array, offsets.count == 2,
                  let begin = offsets[0].int, let end = offsets[1].int
            else {
                throw .invalidJSON(path: path, reason: "entry '\(name)' lacks dtype, shape or data_offsets")
            }
            var shape: [Int] = []
            var elements = 1
            for s in shapeValues {
                guard let d = s.int, d >= 0, d <= 1 << 40 else {
                    throw .absurdDimension(name: "a dimension of '\(name)'", value: s.int ?? -1)
                }
                shape.append(d)
                let (product, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow, product <= 1 << 40 else { throw .absurdDimension(name: "element count of '\(name)'", value: Int.max) }
                elements = product
            }
            guard begin >= 0, end >= begin else {
                throw .invalidJSON(path: path, reason: "entry '\(name)' has data_offsets [\(begin), \(end)]")
            }
            guard end <= available else { throw .tensorOutOfBounds(tensor: name, end: end, available: available) }
            if let width = Self.elementWidth(dtype) {
                let expected = elements * width
                guard expected == end - begin else {
                    throw .tensorSizeMismatch(tensor: name, shape: shape, dtype: dtype, expectedBytes: expected, actualBytes: end - begin)
                }
            }
            entries[name] = Entry(name: name, dtypeName: dtype, shape: shape, begin: begin, end: end)
        }
        let sorted = entries.values.filter { $0.end > $0.begin }.sorted { $0.begin < $1.begin }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.end > b.begin {
            throw .tensorsOverlap(a.name, b.name)
        }
        self.entries = entries
    }

    /// The tensor as weights: fails with `unknownDType` for types that are not float weights.
    public func tensor(named name: String) throws(BoraError) -> TensorData? {
        guard let entry = entries[name] else { return nil }
        let dtype: DType
        switch entry.dtypeName {
        case "F32": dtype = .f32
        case "F16": dtype = .f16
        case "BF16": dtype = .bf16
        default: throw .unknownDType(tensor: name, dtype: entry.dtypeName)
        }
        return TensorData(
            name: name, dtype: dtype, shape: entry.shape, pointer: file.base + dataOffset + entry.begin,
            byteCount: entry.end - entry.begin, file: file)
    }

    private static func elementWidth(_ dtype: String) -> Int? {
        switch dtype {
        case "F64", "I64", "U64": return 8
        case "F32", "I32", "U32": return 4
        case "F16", "BF16", "I16", "U16": return 2
        case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2": return 1
        default: return nil
        }
    }
}
