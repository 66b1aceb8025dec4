/// Per-thread scratch memory, allocated once per context so kernels never allocate per token.
public final class Workspace: @unchecked Sendable {
    public let threadCount: Int
    public let floatsPerThread: Int
    private let floats: UnsafeMutablePointer<Float>

    public init(threadCount: Int, floatsPerThread: Int) {
        self.threadCount = threadCount
        self.floatsPerThread = floatsPerThread
        floats = .allocate(capacity: threadCount * floatsPerThread)
        floats.initialize(repeating: 0, count: threadCount * floatsPerThread)
    }

    deinit { floats.deallocate() }

    @inline(__always)
    public func floats(for thread: Int) -> UnsafeMutablePointer<Float> {
        floats + thread * floatsPerThread
    }
}
