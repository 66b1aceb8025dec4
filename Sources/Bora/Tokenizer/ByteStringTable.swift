/// A read-only hash table from byte strings to token ids, looked up straight from a byte buffer
/// without building a `String` (the tokenizer's inner loop looks up every candidate merge).
struct ByteStringTable: Sendable {
    private var arena: [UInt8] = []
    private var starts: [Int32] = []
    private var lengths: [Int32] = []
    private var slots: [Int32]        // index into starts/lengths/values, or -1
    private var hashes: [UInt64]
    private var values: [Int32] = []
    private let mask: Int

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        hashes = [UInt64](repeating: 0, count: size)
        mask = size - 1
    }

    /// Builds a table of `keys[i] → i`; on duplicate keys the first id wins.
    init<S: Sequence>(keys: S, count: Int) where S.Element == [UInt8] {
        self.init(capacity: count)
        for (id, key) in keys.enumerated() { insert(key, value: Int32(id)) }
    }

    @inline(__always)
    static func hash(_ p: UnsafePointer<UInt8>, _ count: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in 0..<count { h = (h ^ UInt64(p[i])) &* 0x100_0000_01b3 }
        return h
    }

    /// Inserts unless the key is present; returns false when it was.
    @discardableResult
    mutating func insert(_ key: [UInt8], value: Int32) -> Bool {
        let h = key.withUnsafeBufferPointer { Self.hash($0.baseAddress!, $0.count) }
        if key.withUnsafeBufferPointer({ find($0.baseAddress!, $0.count, h) }) != nil { return false }
        var i = Int(truncatingIfNeeded: h) & mask
        while slots[i] >= 0 { i = (i + 1) & mask }
        slots[i] = Int32(values.count)
        hashes[i] = h
        starts.append(Int32(arena.count))
        lengths.append(Int32(key.count))
        arena.append(contentsOf: key)
        values.append(value)
        return true
    }

    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>, _ count: Int) -> Int32? {
        find(p, count, Self.hash(p, count))
    }

    func lookup(_ key: [UInt8]) -> Int32? {
        key.withUnsafeBufferPointer { $0.count == 0 ? nil : lookup($0.baseAddress!, $0.count) }
    }

    func lookup(_ key: String) -> Int32? { lookup(Array(key.utf8)) }

    @inline(__always)
    private func find(_ p: UnsafePointer<UInt8>, _ count: Int, _ h: UInt64) -> Int32? {
        var i = Int(truncatingIfNeeded: h) & mask
        return arena.withUnsafeBufferPointer { arena in
            while true {
                let entry = Int(slots[i])
                if entry < 0 { return nil }
                if hashes[i] == h, Int(lengths[entry]) == count,
                   count == 0 || memcmp(arena.baseAddress! + Int(starts[entry]), p, count) == 0 {
                    return values[entry]
                }
                i = (i + 1) & mask
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
