import ArgumentParser
import Bora
import BoraServer
import Foundation
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the OpenAI API (chat and completions, streaming or not) to many clients at once.",
        discussion: """
            Routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health, \
            GET /metrics (Prometheus), POST /tokenize, POST /detokenize. The API key, when set, is \
            required on /v1/*, /tokenize and /detokenize as "Authorization: Bearer KEY"; it is also \
            read from $BORA_API_KEY or --api-key-file.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface).")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 8080

    @Option(help: "Requests generating at once (sequence slots).")
    var parallel = 4

    @Option(name: .customLong("max-queue"), help: "Requests waiting for a slot; more get 503 with Retry-After.")
    var maxQueue = 64

    @Option(name: .customLong("step-tokens"), help: "The most tokens a step evaluates while sequences generate (bounds their inter-token gaps while a long prompt is read).")
    var stepTokens = 128

    @Option(name: .customLong("api-key"), help: "Require this API key.")
    var apiKey: String?

    @Option(name: .customLong("api-key-file"), help: "Require the API key in this file (first line).")
    var apiKeyFile: String?

    @Option(help: "The model's name in responses and /v1/models (default: its file name).")
    var alias: String?

    @Option(name: .customLong("cors-origin"), help: "Allow browsers from this origin (* for any); CORS is off otherwise.")
    var corsOrigin: String?

    @Flag(name: .customLong("log-prompts"), help: "Log prompt and answer text (never logged otherwise).")
    var logPrompts = false

    @Option(name: .customLong("max-body"), help: "Largest request body in bytes (413 above).")
    var maxBody = 16 << 20

    @Option(name: .customLong("shutdown-grace"), help: "Seconds running streams may go on after SIGINT/SIGTERM before they are cancelled.")
    var shutdownGrace = 10.0

    @Flag(name: .customLong("lookup"), help: "Speculative decoding with prompt lookup for every request (its 'speculative' field overrides it). With --draft instead, the draft model is the default and a request may still ask for lookup.")
    var lookup = false

    @Option(name: .customLong("draft-max"), help: "Speculative decoding: the most tokens one step drafts (1-\(SpeculativeDecoding.maximumDraft); default 8).")
    var draftMax: Int?

    func run() async throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be from 1 to 65535") }
        guard (1...4096).contains(parallel) else { throw ValidationError("--parallel must be from 1 to 4096") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be 0 or more") }
        guard stepTokens >= 1 else { throw ValidationError("--step-tokens must be at least 1") }
        guard maxBody >= 1024 else { throw ValidationError("--max-body must be at least 1024 bytes") }
        guard shutdownGrace >= 0, shutdownGrace.isFinite else { throw ValidationError("--shutdown-grace must be 0 or more seconds") }
        var options = ServerOptions()
        options.host = host
        options.port = port
        options.alias = alias
        options.corsOrigin = corsOrigin
        options.logPrompts = logPrompts
        options.maxBodyBytes = maxBody
        options.shutdownGraceSeconds = shutdownGrace
        if draftMax != nil && !lookup && modelOptions.draft == nil { throw ValidationError("--draft-max needs --lookup or --draft") }
        if lookup && modelOptions.draft != nil { throw ValidationError("--lookup and --draft exclude each other: the draft model is the default drafter") }
        if lookup || modelOptions.draft != nil {
            let s = SpeculativeDecoding(drafter: lookup ? .promptLookup() : .draftModel, maxDraft: draftMax ?? 8)
            do { try s.validate() } catch { throw ValidationError("--draft-max: \(error)") }
            options.speculation = s
        }
        options.apiKey = apiKey ?? ProcessInfo.processInfo.environment["BORA_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        if let apiKeyFile {
            guard let text = try? String(contentsOfFile: apiKeyFile, encoding: .utf8),
                  let key = text.split(whereSeparator: \.isNewline).first.map({ $0.trimmingCharacters(in: .whitespaces) }), !key.isEmpty else {
                throw ValidationError("cannot read an API key from \(apiKeyFile)")
            }
            options.apiKey = key
        }
        let path = try DefaultModel.resolve(modelOptions.model)
        let modelName = (path as NSString).lastPathComponent
        let engineOptions = EngineOptions(parallel: parallel, maxContext: modelOptions.maxContext, stepTokens: stepTokens,
                                          threads: modelOptions.threads, maxQueued: maxQueue)
        let draftPath = modelOptions.draft
        let slidingWindow = modelOptions.slidingWindow
        var logger = Logger(label: "bora")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .info
        let bar = ProgressBar(label: "loading \(modelName)")
        try await BoraServer.run(options: options, modelName: modelName, logger: logger, load: { progress in
            try await Task.detached(priority: .userInitiated) {
                let model = try LanguageModel(path: path, options: ModelLoadOptions(slidingWindow: slidingWindow), progress: { fraction in
                    progress(fraction)
                    bar.update(fraction)
                })
                bar.finish()
                for note in model.files.notes { printError("note: \(note)") }
                var options = engineOptions
                if let draftPath { options.draftModel = try LanguageModel(path: draftPath) }
                return try Engine(model: model, options: options)
            }.value
        }, announce: { line in printError("bora serve: \(line)") })
    }
}
