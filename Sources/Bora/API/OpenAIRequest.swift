import Foundation

/// A request refused the way the OpenAI API refuses it: an HTTP status and the error object
/// `{"error": {"message", "type", "param", "code"}}` its clients read.
package struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    package let status: Int
    package let type: String
    package let message: String
    package let param: String?
    package let code: String?

    package init(status: Int, type: String, message: String, param: String? = nil, code: String? = nil) {
        (self.status, self.type, self.message, self.param, self.code) = (status, type, message, param, code)
    }

    /// 400 `invalid_request_error`.
    package static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, type: "invalid_request_error", message: message, param: param, code: code)
    }

    /// The error a failure of the engine becomes: a prompt past the context is the client's fault
    /// (llama-server's `exceed_context_size_error`, with both numbers), so are bad ids and
    /// parameters; the rest is the server's.
    package static func from(_ error: any Error, promptParam: String? = nil) -> APIError {
        if let api = error as? APIError { return api }
        guard let bora = error as? BoraError else { return APIError(status: 500, type: "server_error", message: "\(error)") }
        switch bora {
        case .contextOverflow(let needed, let capacity):
            return .invalid("the request needs \(needed) tokens but the context holds \(capacity)", param: promptParam, code: "exceed_context_size_error")
        case .invalidTokenID, .invalidArgument, .invalidConversation:
            return .invalid(bora.description)
        case .engineStopped:
            return APIError(status: 503, type: "unavailable_error", message: bora.description)
        default:
            return APIError(status: 500, type: "server_error", message: bora.description)
        }
    }

    package var json: JSONValue {
        .object(["error": .object([
            "message": .string(message), "type": .string(type),
            "param": param.map { .string($0) } ?? .null, "code": code.map { .string($0) } ?? .null,
        ])])
    }

    package var description: String { message }
}

/// What a `/v1/chat/completions` or `/v1/completions` body asks for, checked field by field.
/// Absent sampling fields keep Bora's (llama.cpp's) defaults, as llama-server does; unknown fields
/// are ignored, as the OpenAI API does.
package struct APIRequest: Sendable {
    package enum Input: Sendable, Equatable {
        case chat([ChatMessage])
        case text(String)
        case tokens([Int])
    }

    package var input: Input
    package var parameters: GenerationParameters
    package var model: String?
    package var stream = false
    /// `stream_options.include_usage`: a last chunk with the token counts.
    package var includeUsage = false
    /// Chat `logprobs: true` (with `top_logprobs`), or the legacy completions' `logprobs: N`.
    package var logprobs = false
    /// Legacy completions' `echo`: the prompt's text comes back before the answer.
    package var echo = false

    package var isChat: Bool { if case .chat = input { return true } else { return false } }

    /// A `/v1/chat/completions` body. `speculation`: the server's default, which the body's
    /// `speculative` field overrides.
    package static func chat(_ body: JSONValue, speculation: SpeculativeDecoding? = nil) throws(APIError) -> APIRequest {
        let fields = try Fields(body)
        guard let messagesValue = body["messages"] else { throw .invalid("'messages' is required", param: "messages") }
        let messages: [ChatMessage]
        do throws(BoraError) { messages = try ChatMessage.parseList(messagesValue) } catch {
            throw .invalid(error.description, param: "messages")
        }
        guard !messages.isEmpty else { throw .invalid("'messages' must hold at least one message", param: "messages") }
        var parameters = GenerationParameters()
        parameters.speculation = speculation
        var request = APIRequest(input: .chat(messages), parameters: parameters)
        try request.readCommon(fields, maxTokensKeys: ["max_completion_tokens", "max_tokens"], defaultMaxTokens: nil)
        if try fields.bool("logprobs") == true {
            request.logprobs = true
            request.parameters.logprobs = try fields.int("top_logprobs", in: 0...20) ?? 0
        } else if try fields.int("top_logprobs", in: 0...20) != nil {
            throw .invalid("'top_logprobs' needs 'logprobs': true", param: "top_logprobs")
        }
        if let tools = body["tools"], !tools.isNull, tools.array?.isEmpty != true {
            throw .invalid("tools are not supported", param: "tools")
        }
        return request
    }

    /// A `/v1/completions` body (the legacy API: `max_tokens` defaults to 16 there).
    package static func completion(_ body: JSONValue, speculation: SpeculativeDecoding? = nil) throws(APIError) -> APIRequest {
        let fields = try Fields(body)
        let input: Input
        switch body["prompt"] {
        case .string(let text)?:
            input = .text(text)
        case .array(let items)? where items.count == 1 && items[0].string != nil:
            input = .text(items[0].string!)
        case .array(let items)? where !items.isEmpty && items.allSatisfy({ $0.int != nil }):
            input = .tokens(items.map { $0.int! })
        case .array(let items)? where items.count == 1 && items[0].array?.allSatisfy({ $0.int != nil }) == true && items[0].array?.isEmpty == false:
            input = .tokens(items[0].array!.map { $0.int! })
        case .array(let items)? where items.count > 1:
            throw .invalid("only one prompt per request is supported (got \(items.count))", param: "prompt")
        case nil, .null?:
            throw .invalid("'prompt' is required", param: "prompt")
        default:
            throw .invalid("'prompt' must be a string, a list of one string, or a list of token ids", param: "prompt")
        }
        var parameters = GenerationParameters()
        parameters.speculation = speculation
        var request = APIRequest(input: input, parameters: parameters)
        try request.readCommon(fields, maxTokensKeys: ["max_tokens"], defaultMaxTokens: 16)
        if let n = try fields.int("logprobs", in: 0...20) {
            request.logprobs = true
            request.parameters.logprobs = n
        }
        request.echo = try fields.bool("echo") ?? false
        if let suffix = body["suffix"], !suffix.isNull { throw .invalid("'suffix' is not supported", param: "suffix") }
        if let bestOf = try fields.int("best_of", in: 0...Int.max), bestOf != 1 {
            throw .invalid("'best_of' must be 1", param: "best_of")
        }
        return request
    }

    /// The constraint a request asks for: OpenAI's `response_format` (`json_object`, or
    /// `json_schema` with `json_schema.schema`), or llama-server's `grammar` (GBNF) or `json_schema`
    /// (a schema); at most one of them.
    private static func grammar(_ f: Fields) throws(APIError) -> GrammarConstraint? {
        var asked: [(String, GrammarConstraint)] = []
        func schema(_ value: JSONValue, param: String) throws(APIError) -> GrammarConstraint {
            do throws(BoraError) { return try GrammarConstraint(jsonSchema: value) } catch { throw .invalid(error.description, param: param) }
        }
        if let format = f.body["response_format"], !format.isNull {
            guard case .object = format else { throw .invalid("'response_format' must be an object", param: "response_format") }
            switch format["type"]?.string {
            case "text"?: break
            case "json_object"?: asked.append(("response_format", .jsonObject))
            case "json_schema"?:
                guard let spec = format["json_schema"], case .object = spec else {
                    throw .invalid("'response_format.json_schema' must be an object with a 'schema'", param: "response_format")
                }
                if let strict = spec["strict"], strict.bool == nil, !strict.isNull {
                    throw .invalid("'response_format.json_schema.strict' must be a boolean", param: "response_format")
                }
                guard let value = spec["schema"] else {
                    throw .invalid("'response_format.json_schema.schema' is missing", param: "response_format")
                }
                asked.append(("response_format", try schema(value, param: "response_format")))
            default:
                throw .invalid("'response_format' of type '\(format["type"]?.string ?? "?")' is not supported; only 'text', 'json_object' and 'json_schema'", param: "response_format")
            }
        }
        // llama-server's `grammar`: GBNF text the answer must follow.
        if let text = try f.string("grammar") {
            let grammar = GrammarConstraint(gbnf: text)
            do throws(BoraError) { try grammar.validate() } catch { throw .invalid(error.description, param: "grammar") }
            asked.append(("grammar", grammar))
        }
        // llama-server's `json_schema`: a schema the answer must satisfy.
        if let value = f.body["json_schema"], !value.isNull {
            asked.append(("json_schema", try schema(value, param: "json_schema")))
        }
        guard asked.count <= 1 else {
            throw .invalid("'\(asked[0].0)' and '\(asked[1].0)' exclude each other", param: asked[1].0)
        }
        return asked.first?.1
    }

    /// Speculative decoding for this request: `speculative` true or false, or an object of
    /// `method` ("ngram": prompt lookup; "draft": the server's draft model), `n_max` (the most
    /// tokens drafted per step; 0 turns it off), `ngram_min` and `ngram_max` (prompt lookup's
    /// n-gram sizes); llama-server's flat `speculative.n_max` too. Absent: the server's default.
    private static func speculation(_ f: Fields, default base: SpeculativeDecoding?) throws(APIError) -> SpeculativeDecoding? {
        var s = base
        func maxDraft(_ n: Int) { if n == 0 { s = nil } else { s = s ?? .promptLookup; s!.maxDraft = n } }
        switch f.value("speculative") {
        case nil: break
        case .bool(let on)?: s = on ? (base ?? .promptLookup) : nil
        case .object?:
            let o = try Fields(f.body["speculative"]!)
            switch try o.string("method") {
            case nil: break
            case "ngram"?: s = SpeculativeDecoding(drafter: .promptLookup(), maxDraft: s?.maxDraft ?? 8)
            case "draft"?: s = SpeculativeDecoding(drafter: .draftModel, maxDraft: s?.maxDraft ?? 8)
            case let other?: throw .invalid("'speculative.method' must be 'ngram' or 'draft', got '\(other)'", param: "speculative")
            }
            if let n = try o.int("n_max", in: 0...SpeculativeDecoding.maximumDraft) { maxDraft(n) } else { s = s ?? .promptLookup }
            if s != nil, case .promptLookup(var low, var high) = s!.drafter {
                low = try o.int("ngram_min", in: 1...8) ?? low
                high = try o.int("ngram_max", in: 1...8) ?? high
                guard low <= high else { throw .invalid("'speculative.ngram_min' must not exceed 'speculative.ngram_max'", param: "speculative") }
                s!.drafter = .promptLookup(ngramMin: low, ngramMax: high)
            }
        default:
            throw .invalid("'speculative' must be true, false or an object", param: "speculative")
        }
        if let n = try f.int("speculative.n_max", in: 0...SpeculativeDecoding.maximumDraft) { maxDraft(n) }
        return s
    }

    /// The fields both endpoints share.
    private mutating func readCommon(_ f: Fields, maxTokensKeys: [String], defaultMaxTokens: Int?) throws(APIError) {
        model = try f.string("model")
        var p = parameters
        p.maxTokens = defaultMaxTokens
        for key in maxTokensKeys {
            if let n = try f.int(key, in: -1...Int.max) { p.maxTokens = n < 0 ? nil : n; break }
        }
        if let n = try f.int("n", in: 0...Int.max), n != 1 { throw .invalid("'n' must be 1: one choice per request", param: "n") }
        if let t = try f.number("temperature") { p.temperature = Float(t) }
        if let v = try f.number("top_p") { p.topP = Float(v) }
        if let v = try f.int("top_k", in: 0...Int.max) { p.topK = v }
        if let v = try f.number("min_p") { p.minP = Float(v) }
        if let v = try f.number("typical_p") { p.typicalP = Float(v) }
        if let v = try f.number("repeat_penalty") { p.repeatPenalty = Float(v) }
        if let v = try f.int("repeat_last_n", in: -1...Int.max) { p.repeatLastN = v }
        if let v = try f.number("presence_penalty") { p.presencePenalty = Float(v) }
        if let v = try f.number("frequency_penalty") { p.frequencyPenalty = Float(v) }
        if let seed = try f.int("seed", in: Int.min...Int.max) { p.seed = UInt64(bitPattern: Int64(seed)) }
        if let ignore = try f.bool("ignore_eos") { p.ignoreEndOfSequence = ignore }
        switch f.body["stop"] {
        case nil, .null?: break
        case .string(let s)?: p.stop = [s]
        case .array(let items)? where items.allSatisfy({ $0.string != nil }): p.stop = items.map { $0.string! }
        default: throw .invalid("'stop' must be a string or a list of strings", param: "stop")
        }
        switch f.body["logit_bias"] {
        case nil, .null?: break
        case .object?:
            for (key, value) in f.body["logit_bias"]!.members! {
                guard let id = Int(key), id >= 0 else { throw .invalid("'logit_bias' keys must be token ids, got '\(key)'", param: "logit_bias") }
                guard let bias = value.double, bias.isFinite else { throw .invalid("'logit_bias' values must be numbers", param: "logit_bias") }
                p.logitBias[id] = Float(bias)
            }
        default: throw .invalid("'logit_bias' must be an object of token id → bias", param: "logit_bias")
        }
        p.grammar = try Self.grammar(f)
        p.speculation = try Self.speculation(f, default: p.speculation)
        stream = try f.bool("stream") ?? false
        if let options = f.body["stream_options"], !options.isNull {
            guard options["include_usage"].map({ $0.bool != nil || $0.isNull }) ?? true else {
                throw .invalid("'stream_options.include_usage' must be a boolean", param: "stream_options")
            }
            includeUsage = options["include_usage"]?.bool ?? false
        }
        do throws(BoraError) { try p.validate() } catch { throw .invalid(error.description) }
        parameters = p
    }

    /// Typed access to a body's fields, each error naming its field.
    private struct Fields {
        let body: JSONValue

        init(_ body: JSONValue) throws(APIError) {
            guard case .object = body else { throw .invalid("the request body must be a JSON object") }
            self.body = body
        }

        func value(_ key: String) -> JSONValue? {
            guard let v = body[key], !v.isNull else { return nil }
            return v
        }

        func number(_ key: String) throws(APIError) -> Double? {
            guard let v = value(key) else { return nil }
            guard let d = v.double, d.isFinite else { throw .invalid("'\(key)' must be a number", param: key) }
            return d
        }

        func int(_ key: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
            guard let v = value(key) else { return nil }
            guard let d = v.double, let i = Int(exactly: d) else { throw .invalid("'\(key)' must be an integer", param: key) }
            guard range.contains(i) else {
                let bounds = range.upperBound == Int.max ? "at least \(range.lowerBound)" : "from \(range.lowerBound) to \(range.upperBound)"
                throw .invalid("'\(key)' must be \(bounds), got \(i)", param: key)
            }
            return i
        }

        func bool(_ key: String) throws(APIError) -> Bool? {
            guard let v = value(key) else { return nil }
            guard let b = v.bool else { throw .invalid("'\(key)' must be true or false", param: key) }
            return b
        }

        func string(_ key: String) throws(APIError) -> String? {
            guard let v = value(key) else { return nil }
            guard let s = v.string else { throw .invalid("'\(key)' must be a string", param: key) }
            return s
        }
    }
}
