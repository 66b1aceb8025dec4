import Bora
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The request context: Hummingbird's core storage plus the connection, watched so that a client
/// who goes away cancels its request.
struct BoraRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Every route of the server, by hand: known paths with the wrong method get 405, unknown paths
/// 404, and every error is the OpenAI error object.
struct OpenAIResponder: HTTPResponder {
    typealias Context = BoraRequestContext

    let state: ServerState
    let options: ServerOptions
    let modelName: String
    let logger: Logger
    /// A fingerprint of this server's configuration, as OpenAI's responses carry one.
    var fingerprint: String { "fp_bora_" + String(UInt32(truncatingIfNeeded: stableHash(modelName)), radix: 16) }

    static let routes: [String: HTTPRequest.Method] = [
        "/health": .get, "/metrics": .get, "/v1/models": .get,
        "/v1/chat/completions": .post, "/v1/completions": .post, "/tokenize": .post, "/detokenize": .post,
    ]

    func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        let path = request.uri.path
        let endpoint = path.hasPrefix("/v1/models/") ? "/v1/models" : Self.routes[path] != nil ? path : "other"
        var response = await route(request, path: path, context: context)
        if let origin = options.corsOrigin {
            response.headers[.accessControlAllowOrigin] = origin
            if request.method == .options {
                response.headers[.accessControlAllowMethods] = "GET, POST, OPTIONS"
                response.headers[.accessControlAllowHeaders] = "Authorization, Content-Type"
            }
        }
        state.metrics.withLock { $0 }?.request(endpoint: endpoint, status: Int(response.status.code))
        logger.info("\(request.method) \(path) \(response.status.code) \(String(format: "%.3f", (ContinuousClock.now - started).seconds)) s")
        return response
    }

    private func route(_ request: Request, path: String, context: Context) async -> Response {
        let method = request.method
        let known = Self.routes[path] ?? (path.hasPrefix("/v1/models/") ? .get : nil)
        guard let expected = known else {
            return error(APIError(status: 404, type: "not_found_error", message: "no route for \(method) \(path)"))
        }
        if method == .options, options.corsOrigin != nil { return Response(status: .noContent) }
        guard method == expected else {
            var r = error(APIError(status: 405, type: "invalid_request_error", message: "\(path) takes \(expected), not \(method)"))
            r.headers[.allow] = expected.rawValue
            return r
        }
        if path.hasPrefix("/v1/") || path == "/tokenize" || path == "/detokenize", let key = options.apiKey {
            guard let given = request.headers[.authorization], constantTimeEqual(given, "Bearer " + key) else {
                return error(APIError(status: 401, type: "authentication_error", message: "a valid API key is required: Authorization: Bearer KEY",
                                      code: "invalid_api_key"))
            }
        }
        switch path {
        case "/health":
            switch state.current {
            case .ready: return json(.object(["status": .string("ok")]))
            case .loading(let progress):
                return error(APIError(status: 503, type: "unavailable_error",
                                      message: "the model is loading (\(Int(progress * 100))%)", code: "loading"))
            case .draining: return error(APIError(status: 503, type: "unavailable_error", message: "the server is shutting down"))
            case .failed(let reason): return error(APIError(status: 500, type: "server_error", message: "the model failed to load: \(reason)"))
            }
        case "/metrics":
            guard let metrics = state.metrics.withLock({ $0 }) else { return text("", contentType: "text/plain; version=0.0.4") }
            if case .ready(let engine) = state.current { metrics.load(waiting: engine.load.waiting, running: engine.load.running) }
            return text(metrics.text(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        case "/v1/models":
            return json(.object(["object": .string("list"), "data": .array([modelObject])]))
        default:
            if path.hasPrefix("/v1/models/") {
                let id = String(path.dropFirst("/v1/models/".count)).removingPercentEncoding ?? ""
                return id == modelName ? json(modelObject) : error(APIError(status: 404, type: "not_found_error",
                                                                            message: "no model '\(id)': this server serves '\(modelName)'", code: "model_not_found"))
            }
        }
        // The POST routes: a JSON body within the limit, then a ready engine.
        let body: JSONValue
        switch await readBody(request) {
        case .success(let b): body = b
        case .failure(let e): return error(e)
        }
        let engine: Engine
        switch state.current {
        case .ready(let e): engine = e
        case .loading: return error(APIError(status: 503, type: "unavailable_error", message: "the model is loading", code: "loading"))
        case .draining: return error(APIError(status: 503, type: "unavailable_error", message: "the server is shutting down"))
        case .failed(let reason): return error(APIError(status: 500, type: "server_error", message: "the model failed to load: \(reason)"))
        }
        switch path {
        case "/tokenize": return tokenize(body, engine: engine)
        case "/detokenize": return detokenize(body, engine: engine)
        default: return await complete(body, chat: path == "/v1/chat/completions", engine: engine, context: context)
        }
    }

    private var modelObject: JSONValue {
        .object(["id": .string(modelName), "object": .string("model"), "created": .number(Double(Int(state.started.timeIntervalSince1970))),
                 "owned_by": .string("bora")])
    }

    /// The body as JSON: 413 past the limit, 400 when it is not JSON.
    private func readBody(_ request: Request) async -> Result<JSONValue, APIError> {
        let limit = options.maxBodyBytes
        let tooLarge = APIError(status: 413, type: "invalid_request_error", message: "the request body is larger than \(limit) bytes",
                                code: "request_too_large")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { return .failure(tooLarge) }
        var request = request
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: limit) } catch { return .failure(tooLarge) }
        return buffer.withUnsafeReadableBytes { bytes in
            do throws(JSONValue.ParseError) { return .success(try JSONValue.parse(bytes)) } catch {
                return .failure(.invalid("the request body is not valid JSON: \(error)", code: "invalid_json"))
            }
        }
    }

    // MARK: Completions

    private func complete(_ body: JSONValue, chat: Bool, engine: Engine, context: Context) async -> Response {
        let arrived = ContinuousClock.now
        let request: APIRequest
        let submission: (stream: AsyncThrowingStream<GenerationEvent, Error>, cancel: @Sendable () -> Void)
        let promptTokens: [Int]
        do throws(APIError) {
            request = try chat ? APIRequest.chat(body, speculation: options.speculation)
                           : APIRequest.completion(body, speculation: options.speculation)
            let (tokens, startOfText) = try engine.prompt(for: request)
            promptTokens = tokens
            do throws(BoraError) {
                submission = try engine.start(tokens: tokens, parameters: request.parameters, startOfText: startOfText)
            } catch {
                if case .queueFull = error {
                    var r = self.error(APIError(status: 503, type: "unavailable_error", message: error.description, code: "queue_full"))
                    r.headers[.retryAfter] = "1"
                    return r
                }
                throw APIError.from(error, promptParam: chat ? "messages" : "prompt")
            }
            if options.logPrompts { logger.info("prompt: \(String(reflecting: engine.tokenizer.decode(tokens)))") }
        } catch {
            return self.error(error)
        }
        // A client that goes away cancels its request (the engine frees the slot at its next step).
        let watch = ConnectionWatch(cancel: submission.cancel, metrics: state.metrics.withLock { $0 }, logger: logger)
        context.channel.closeFuture.whenComplete { _ in watch.connectionClosed() }
        let id = APIResponse.newID(chat ? "chatcmpl-" : "cmpl-")
        let created = Int(Date().timeIntervalSince1970)
        let timing = TokenTiming(arrived: arrived, metrics: state.metrics.withLock { $0 })
        if request.stream {
            let echo = engine.echoText(for: request, tokens: promptTokens)
            let stream = StreamWriter(request: request, id: id, created: created, model: modelName, fingerprint: fingerprint,
                                      tokenizer: engine.tokenizer, echo: echo, metrics: state.metrics.withLock { $0 }, logger: logger,
                                      logPrompts: options.logPrompts)
            let events = submission.stream
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                            body: ResponseBody { writer in
                                try await stream.write(events, to: &writer, timing: timing, watch: watch)
                            })
        }
        let result: APICompletion
        do throws(APIError) {
            result = try await APICompletion.collect(submission.stream, for: request, echo: engine.echoText(for: request, tokens: promptTokens),
                                                     onToken: timing.token)
        } catch {
            watch.finished()
            return self.error(error)
        }
        watch.finished()
        state.metrics.withLock { $0 }?.finished(result.stats)
        if options.logPrompts { logger.info("answer: \(String(reflecting: result.text))") }
        return json(APIResponse.body(request, result, id: id, created: created, model: modelName, fingerprint: fingerprint,
                                     tokenizer: engine.tokenizer))
    }

    // MARK: Tokenizer routes (llama-server's shapes)

    private func tokenize(_ body: JSONValue, engine: Engine) -> Response {
        guard let content = body["content"]?.string else { return error(.invalid("'content' must be a string", param: "content")) }
        let addSpecial = body["add_special"]?.bool ?? false
        let withPieces = body["with_pieces"]?.bool ?? false
        let ids = engine.tokenizer.encode(content, addSpecialTokens: addSpecial, parseSpecial: true)
        let tokens: [JSONValue] = ids.map { id in
            guard withPieces else { return .number(Double(id)) }
            let piece = engine.tokenizer.decode([id], skipSpecialTokens: false)
            return .object(["id": .number(Double(id)), "piece": .string(piece)])
        }
        return json(.object(["tokens": .array(tokens)]))
    }

    private func detokenize(_ body: JSONValue, engine: Engine) -> Response {
        guard let items = body["tokens"]?.array, items.allSatisfy({ $0.int != nil }) else {
            return error(.invalid("'tokens' must be a list of token ids", param: "tokens"))
        }
        let ids = items.map { $0.int! }
        let size = engine.tokenizer.vocabularySize
        if let bad = ids.first(where: { $0 < 0 || $0 >= size }) {
            return error(.invalid("token id \(bad) is outside the vocabulary of \(size)", param: "tokens"))
        }
        return json(.object(["content": .string(engine.tokenizer.decode(ids, skipSpecialTokens: false))]))
    }

    // MARK: Responses

    func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized)))
    }

    func text(_ value: String, contentType: String) -> Response {
        Response(status: .ok, headers: [.contentType: contentType], body: ResponseBody(byteBuffer: ByteBuffer(string: value)))
    }

    func error(_ e: APIError) -> Response {
        json(e.json, status: HTTPResponse.Status(code: e.status))
    }
}

/// Cancels a request when its connection closes before the request is done, once.
final class ConnectionWatch: Sendable {
    private let cancel: @Sendable () -> Void
    private let metrics: ServerMetrics?
    private let logger: Logger
    private let done = Atomic<Bool>(false)

    init(cancel: @escaping @Sendable () -> Void, metrics: ServerMetrics?, logger: Logger) {
        self.cancel = cancel
        self.metrics = metrics
        self.logger = logger
    }

    func finished() { done.store(true, ordering: .releasing) }

    func connectionClosed() {
        guard done.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        logger.info("client went away: request cancelled")
        metrics?.disconnected()
        cancel()
    }
}

/// Time to first token and between tokens, into the metrics.
final class TokenTiming: Sendable {
    private let arrived: ContinuousClock.Instant
    private let metrics: ServerMetrics?
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    init(arrived: ContinuousClock.Instant, metrics: ServerMetrics?) {
        self.arrived = arrived
        self.metrics = metrics
    }

    func token() {
        let now = ContinuousClock.now
        let previous = last.withLock { value -> ContinuousClock.Instant? in
            defer { value = now }
            return value
        }
        if let previous { metrics?.nextToken(after: now - previous) } else { metrics?.firstToken(after: now - arrived) }
    }
}

/// Writes a generation as server-sent events in the OpenAI chunk shapes.
struct StreamWriter: Sendable {
    let request: APIRequest
    let id: String
    let created: Int
    let model: String
    let fingerprint: String
    let tokenizer: Tokenizer
    /// The prompt's text when the request asked for `echo`.
    let echo: String?
    let metrics: ServerMetrics?
    let logger: Logger
    let logPrompts: Bool

    func write(_ events: AsyncThrowingStream<GenerationEvent, Error>, to writer: inout any ResponseBodyWriter,
               timing: TokenTiming, watch: ConnectionWatch) async throws {
        var pending: [GeneratedToken] = []
        var answer = ""
        if request.isChat {
            try await send(chunk(delta: .object(["role": .string("assistant"), "content": .string("")]), finish: nil), to: &writer)
        } else if let echo {
            try await send(chunk(text: echo, finish: nil), to: &writer)
        }
        do {
            for try await event in events {
                switch event {
                case .token(let t):
                    timing.token()
                    pending.append(t)
                case .text(let s):
                    if logPrompts { answer += s }
                    try await send(request.isChat ? chunk(delta: .object(["content": .string(s)]), finish: nil, tokens: pending)
                                                  : chunk(text: s, finish: nil, tokens: pending), to: &writer)
                    pending.removeAll()
                case .finished(let stats):
                    logger.info("stream \(id): \(stats.promptTokens) prompt tokens, \(stats.generatedTokens) generated, stop \(stats.stopReason.rawValue)")
                    metrics?.finished(stats)
                    if !pending.isEmpty && request.logprobs {
                        try await send(request.isChat ? chunk(delta: .object(["content": .string("")]), finish: nil, tokens: pending)
                                                      : chunk(text: "", finish: nil, tokens: pending), to: &writer)
                    }
                    let reason = JSONValue.string(APIResponse.finishReason(stats.stopReason))
                    try await send(request.isChat ? chunk(delta: .object([:]), finish: reason) : chunk(text: "", finish: reason), to: &writer)
                    if request.includeUsage {
                        try await send(envelope(choices: [], usage: APIResponse.usage(stats)), to: &writer)
                    }
                }
            }
        } catch let error where !(error is CancellationError) {
            // After the headers went out, an error is a last event the client raises.
            watch.finished()
            try await send(APIError.from(error, promptParam: request.isChat ? "messages" : "prompt").json, to: &writer)
            try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await writer.finish(nil)
            return
        }
        watch.finished()
        if logPrompts { logger.info("answer: \(String(reflecting: answer))") }
        try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
        try await writer.finish(nil)
    }

    private func send(_ value: JSONValue, to writer: inout any ResponseBodyWriter) async throws {
        try await writer.write(ByteBuffer(string: "data: " + value.serialized + "\n\n"))
    }

    private func envelope(choices: [JSONValue], usage: JSONValue? = nil) -> JSONValue {
        var pairs: [(String, JSONValue)] = [
            ("id", .string(id)), ("object", .string(request.isChat ? "chat.completion.chunk" : "text_completion")),
            ("created", .number(Double(created))), ("model", .string(model)), ("system_fingerprint", .string(fingerprint)),
            ("choices", .array(choices)),
        ]
        if let usage { pairs.append(("usage", usage)) }
        return .object(Dictionary(uniqueKeysWithValues: pairs), keys: pairs.map { $0.0 })
    }

    private func chunk(delta: JSONValue, finish: JSONValue?, tokens: [GeneratedToken] = []) -> JSONValue {
        let logprobs = request.logprobs && !tokens.isEmpty ? APIResponse.chatLogprobs(tokens, tokenizer: tokenizer) : JSONValue.null
        return envelope(choices: [.object(["index": .number(0), "delta": delta, "logprobs": logprobs, "finish_reason": finish ?? .null])])
    }

    private func chunk(text: String, finish: JSONValue?, tokens: [GeneratedToken] = []) -> JSONValue {
        let logprobs = request.logprobs && !tokens.isEmpty ? APIResponse.completionLogprobs(tokens, tokenizer: tokenizer) : JSONValue.null
        return envelope(choices: [.object(["index": .number(0), "text": .string(text), "logprobs": logprobs, "finish_reason": finish ?? .null])])
    }
}

/// FNV-1a, stable across runs (Swift's hashValue is seeded per process).
func stableHash(_ s: String) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
}

/// Compares two strings in time that does not depend on where they differ.
func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    var difference = UInt8(x.count == y.count ? 0 : 1)
    for i in 0..<max(x.count, y.count) { difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
    return difference == 0
}
