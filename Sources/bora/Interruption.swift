import Foundation
import Synchronization

/// Ctrl-C during a long measurement (perplexity, eval): the run stops after its current piece and
/// prints what it has, instead of dying with nothing.
enum Interruption {
    private static let flag = Atomic<Bool>(false)

    /// Catches SIGINT until `release`.
    static func catchSIGINT() {
        signal(SIGINT) { _ in Interruption.flag.store(true, ordering: .relaxed) }
    }

    static func release() { signal(SIGINT, SIG_DFL) }

    static var requested: Bool { flag.load(ordering: .relaxed) }
}
