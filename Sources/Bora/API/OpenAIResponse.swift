import Foundation

/// A finished request: its prompt's size, the answer and the summary.
package struct APICompletion: Sendable {
    package var promptText: String?
    package var text = ""
    package var tokens: [GeneratedToken] = []
    package var stats = GenerationStats()

    package init() {}
}

extension Engine {
    /// The prompt's token ids: a chat in the model's chat format, a text with the tokenizer's BOS
    /// rule, or the ids given; and whether the answer starts a text of its own (a chat answer).
    package func prompt(for request: APIRequest) throws(APIError) -> (tokens: [Int], startOfText: Bool) {
        do throws(BoraError) {
            switch request.input {
            case .chat(let messages):
                let choice = try model.chatFormat()
                return (try choice.format.encode(messages, tokenizer: tokenizer, defaultSystemPrompt: choice.defaultSystemPrompt), true)
            case .text(let text):
                return (tokenizer.encode(text), false)
            case .tokens(let ids):
                return (ids, false)
            }
        } catch {
            throw APIError.from(error, promptParam: request.isChat ? "messages" : "prompt")
        }
    }

    /// The prompt as a request with `echo` gets it back: the text given, or the ids' text.
    package func echoText(for request: APIRequest, tokens: [Int]) -> String? {
        guard request.echo else { return nil }
        if case .text(let text) = request.input { return text }
        return tokenizer.decode(tokens)
    }

    /// Runs a request to its end and collects the answer.
    package func complete(_ request: APIRequest) async throws(APIError) -> APICompletion {
        let (tokens, startOfText) = try prompt(for: request)
        let stream: AsyncThrowingStream<GenerationEvent, Error>
        do throws(BoraError) { stream = try submit(tokens: tokens, parameters: request.parameters, startOfText: startOfText) } catch {
            throw APIError.from(error, promptParam: request.isChat ? "messages" : "prompt")
        }
        return try await APICompletion.collect(stream, for: request, echo: echoText(for: request, tokens: tokens))
    }
}

extension APICompletion {
    /// Reads a request's events to the end; `onToken` is told of each token as it arrives.
    package static func collect(_ stream: AsyncThrowingStream<GenerationEvent, Error>, for request: APIRequest, echo: String?,
                                onToken: () -> Void = {}) async throws(APIError) -> APICompletion {
        var result = APICompletion()
        result.promptText = echo
        do {
            for try await event in stream {
                switch event {
                case .token(let t):
                    onToken()
                    result.tokens.append(t)
                case .text(let s): result.text += s
                case .finished(let s): result.stats = s
                }
            }
        } catch {
            throw APIError.from(error, promptParam: request.isChat ? "messages" : "prompt")
        }
        return result
    }
}

/// Response bodies in the OpenAI API's shapes.
package enum APIResponse {
    /// "stop" for an end token or a stop string, "length" for the token budget or the context.
    package static func finishReason(_ reason: StopReason) -> String {
        switch reason {
        case .endOfSequence, .stopString, .cancelled: return "stop"
        case .maxTokens: return "length"
        }
    }

    /// A fresh id after the API's prefix ("chatcmpl-", "cmpl-", "batch_req_").
    package static func newID(_ prefix: String) -> String {
        var random = SystemRandomNumberGenerator()
        let hex = (0..<24).map { _ in String(Int.random(in: 0..<16, using: &random), radix: 16) }.joined()
        return prefix + hex
    }

    package static func usage(_ stats: GenerationStats) -> JSONValue {
        .object(["prompt_tokens": .number(Double(stats.promptTokens)), "completion_tokens": .number(Double(stats.generatedTokens)),
                 "total_tokens": .number(Double(stats.promptTokens + stats.generatedTokens))])
    }

    /// The `chat.completion` or `text_completion` object of a finished request.
    package static func body(_ request: APIRequest, _ c: APICompletion, id: String, created: Int, model: String,
                             fingerprint: String? = nil, tokenizer: Tokenizer) -> JSONValue {
        let finish = JSONValue.string(finishReason(c.stats.stopReason))
        let choice: JSONValue
        if request.isChat {
            choice = .object([
                "index": .number(0),
                "message": .object(["role": .string("assistant"), "content": .string(c.text)]),
                "logprobs": request.logprobs ? chatLogprobs(c.tokens, tokenizer: tokenizer) : .null,
                "finish_reason": finish,
            ])
        } else {
            choice = .object([
                "index": .number(0), "text": .string((c.promptText ?? "") + c.text),
                "logprobs": request.logprobs ? completionLogprobs(c.tokens, tokenizer: tokenizer) : .null,
                "finish_reason": finish,
            ])
        }
        var pairs: [(String, JSONValue)] = [
            ("id", .string(id)), ("object", .string(request.isChat ? "chat.completion" : "text_completion")),
            ("created", .number(Double(created))), ("model", .string(model)),
        ]
        if let fingerprint { pairs.append(("system_fingerprint", .string(fingerprint))) }
        pairs += [("choices", .array([choice])), ("usage", usage(c.stats))]
        return .object(Dictionary(uniqueKeysWithValues: pairs), keys: pairs.map { $0.0 })
    }

    /// A token's text as the API shows it (its piece, special tokens included), and its UTF-8 bytes.
    static func piece(_ id: Int, _ tokenizer: Tokenizer) -> (text: String, bytes: JSONValue) {
        let text = tokenizer.decode([id], skipSpecialTokens: false)
        return (text, .array(text.utf8.map { .number(Double($0)) }))
    }

    /// Chat logprobs: `{"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}`.
    package static func chatLogprobs(_ tokens: [GeneratedToken], tokenizer: Tokenizer) -> JSONValue {
        .object(["content": .array(tokens.map { t in
            let (text, bytes) = piece(t.id, tokenizer)
            return .object([
                "token": .string(text), "logprob": .number(Double(t.logprob ?? 0)), "bytes": bytes,
                "top_logprobs": .array(t.topLogprobs.map { alt in
                    let (altText, altBytes) = piece(alt.id, tokenizer)
                    return .object(["token": .string(altText), "logprob": .number(Double(alt.logprob)), "bytes": altBytes])
                }),
            ])
        })])
    }

    /// Legacy completions logprobs: parallel lists of tokens, their logprobs, top alternatives and text offsets.
    package static func completionLogprobs(_ tokens: [GeneratedToken], tokenizer: Tokenizer) -> JSONValue {
        var offset = 0
        var texts: [JSONValue] = [], logprobs: [JSONValue] = [], tops: [JSONValue] = [], offsets: [JSONValue] = []
        for t in tokens {
            let text = piece(t.id, tokenizer).text
            texts.append(.string(text))
            logprobs.append(.number(Double(t.logprob ?? 0)))
            var top: [(String, JSONValue)] = []
            for alt in t.topLogprobs { top.append((piece(alt.id, tokenizer).text, .number(Double(alt.logprob)))) }
            tops.append(.object(Dictionary(top, uniquingKeysWith: { a, _ in a }), keys: top.map { $0.0 }.uniqued()))
            offsets.append(.number(Double(offset)))
            offset += text.count
        }
        return .object(["tokens": .array(texts), "token_logprobs": .array(logprobs), "top_logprobs": .array(tops), "text_offset": .array(offsets)])
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each first occurrence only.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
