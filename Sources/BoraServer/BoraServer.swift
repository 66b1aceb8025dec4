import Bora
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// `bora serve`: the OpenAI API over a batched engine. The HTTP side only: requests are parsed and
/// answered with the library's API types (`APIRequest`, `APIResponse`) and run on its `Engine`.
package enum BoraServer {
    /// Listens at once (`/health` answers 503 while the model loads), loads the engine with
    /// `load`, serves until SIGINT or SIGTERM, then lets running streams finish for the grace
    /// period before it cancels them.
    /// - Parameters:
    ///   - load: makes the engine, reporting load progress (0 to 1).
    ///   - announce: told the lines a user wants on startup (listening address, model, slots).
    package static func run(
        options: ServerOptions, modelName: String, logger: Logger,
        load: @escaping @Sendable (@escaping @Sendable (Double) -> Void) async throws -> Engine,
        announce: @escaping @Sendable (String) -> Void
    ) async throws {
        let state = ServerState()
        let responder = OpenAIResponder(state: state, options: options, modelName: options.alias ?? modelName, logger: logger)
        let host = options.host, port = options.port
        let app = Application(
            responder: responder,
            configuration: .init(address: .hostname(host, port: port), serverName: "bora"),
            onServerRunning: { channel in
                let address = channel.localAddress?.port.map { "http://\(host):\($0)" } ?? "http://\(host):\(port)"
                announce("listening on \(address)")
            },
            logger: logger)
        let engineService = EngineService(state: state, options: options, logger: logger, load: load, announce: announce)
        // Shut down in reverse order: the engine drains its streams first while the server still
        // answers (503 for new completions), then the server stops.
        let group = ServiceGroup(services: [app, engineService], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

/// Where the server stands: the model loading, then serving, then draining on shutdown.
final class ServerState: Sendable {
    enum Phase: Sendable {
        case loading(progress: Double)
        case ready(Engine)
        case draining(Engine)
        case failed(String)
    }

    private let phase = Mutex(Phase.loading(progress: 0))
    let metrics = Mutex<ServerMetrics?>(nil)
    let started = Date()

    var current: Phase { phase.withLock { $0 } }
    func set(_ p: Phase) { phase.withLock { $0 = p } }
}

/// Loads the engine, then waits for shutdown and drains it.
struct EngineService: Service {
    let state: ServerState
    let options: ServerOptions
    let logger: Logger
    let load: @Sendable (@escaping @Sendable (Double) -> Void) async throws -> Engine
    let announce: @Sendable (String) -> Void

    func run() async throws {
        let state = self.state
        let engine: Engine
        do {
            engine = try await load { progress in state.set(.loading(progress: progress)) }
        } catch {
            state.set(.failed("\(error)"))
            throw error
        }
        state.metrics.withLock { $0 = ServerMetrics(slotCount: engine.parallel) }
        state.set(.ready(engine))
        let context = engine.positionLimit.map { "\($0) positions" } ?? "unbounded (rolling W = \(engine.window.size ?? 0))"
        announce("model \(engine.model.files.path.split(separator: "/").last.map(String.init) ?? "") ready: \(engine.parallel) slots, context \(context) each, KV caches \(String(format: "%.2f", Double(engine.cacheBytes) / 1e9)) GB")
        // Until SIGINT/SIGTERM (or the group ends).
        try? await gracefulShutdown()
        state.set(.draining(engine))
        logger.info("shutting down: letting \(engine.load.running + engine.load.waiting) requests finish (up to \(options.shutdownGraceSeconds) s)")
        let deadline = ContinuousClock.now + .seconds(options.shutdownGraceSeconds)
        while engine.load != (0, 0) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if engine.load != (0, 0) { logger.info("cancelling \(engine.load.running + engine.load.waiting) requests still running") }
        engine.shutdown()
    }
}
