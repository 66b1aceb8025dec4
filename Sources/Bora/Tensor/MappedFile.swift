#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole file. Weights are used in place from the mapping (zero copy);
/// the mapping lives as long as any tensor that points into it holds a reference to this object.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let base: UnsafeRawPointer
    public let size: Int

    public init(path: String) throws(BoraError) {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            let err = errno
            if err == ENOENT { throw .fileNotFound(path: path) }
            throw .cannotRead(path: path, reason: String(cString: strerror(err)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw .cannotRead(path: path, reason: String(cString: strerror(errno)))
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw .cannotRead(path: path, reason: "it is a folder, not a file")
        }
        let size = Int(info.st_size)
        guard size > 0 else { throw .truncated(path: path, what: "the header (the file is empty)") }
        guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapping != MAP_FAILED else {
            throw .cannotRead(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        self.base = UnsafeRawPointer(mapping)
        self.size = size
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), size)
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }

    /// Gives back the resident pages wholly inside `count` bytes from `start` (part of this
    /// mapping). The mapping is private, read-only and never written, so a later read faults the
    /// same bytes in again from the file: this drops memory, never data.
    func releasePages(_ start: UnsafeRawPointer, count: Int) {
        precondition(start >= base && start + count <= base + size, "a range outside the mapping of \(path)")
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: start) + page - 1) / page * page
        let end = (Int(bitPattern: start) + count) / page * page
        guard end > first, let pointer = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(pointer, end - first, MADV_DONTNEED)
    }
}
