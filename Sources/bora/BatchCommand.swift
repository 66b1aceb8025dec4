import ArgumentParser
import Bora
import Foundation

struct BatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Answer a file of requests in the OpenAI Batch API format, many at once.",
        discussion: """
            Each input line is {"custom_id": ..., "method": "POST", "url": "/v1/chat/completions" or \
            "/v1/completions", "body": {...}}. Each output line is {"id", "custom_id", "response": \
            {"status_code", "request_id", "body"}, "error"}, in input order. A line that cannot be run \
            gets an error record; the others are answered.
            """)

    @Argument(help: "Model: a GGUF file, a Hugging Face folder or a Mistral folder (default: SmolLM2-135M-Instruct).")
    var model: String?

    @Option(name: [.customShort("i"), .long], help: "Requests, one JSON object per line.")
    var input: String

    @Option(name: [.customShort("o"), .long], help: "Where the results go (one JSON object per line).")
    var output: String

    @Option(help: "Requests generating at once (sequence slots).")
    var parallel = 8

    @Option(name: [.customShort("t"), .long], help: "Threads (default: physical cores).")
    var threads: Int?

    @Option(name: .customLong("max-context"), help: "Positions per sequence (default: the model's context length; unbounded for sliding-window models).")
    var maxContext: Int?

    @Option(name: .customLong("total-context"), help: "Positions of all slots together, shared out evenly (instead of --max-context).")
    var totalContext: Int?

    @Option(name: .customLong("step-tokens"), help: "The most tokens one step evaluates while sequences generate (prompt chunks beside them).")
    var stepTokens = 128

    func run() async throws {
        guard (1...4096).contains(parallel) else { throw ValidationError("--parallel must be from 1 to 4096") }
        guard let data = FileManager.default.contents(atPath: input) else { throw ValidationError("cannot read \(input)") }
        guard FileManager.default.createFile(atPath: output, contents: nil), let out = FileHandle(forWritingAtPath: output) else {
            throw ValidationError("cannot write \(output)")
        }
        defer { try? out.close() }
        let path = try DefaultModel.resolve(model)
        let bar = ProgressBar(label: "loading \((path as NSString).lastPathComponent)")
        let model = try LanguageModel(path: path, progress: bar.update)
        bar.finish()
        for note in model.files.notes { printError("note: \(note)") }
        let engine = try Engine(model: model, options: EngineOptions(parallel: parallel, maxContext: maxContext, totalContext: totalContext,
                                                                  stepTokens: stepTokens, threads: threads))
        let modelName = (path as NSString).lastPathComponent

        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
            .filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        let progress = BatchProgress(total: lines.count)
        var seen = Set<String>()
        var jobs: [BatchJob] = []
        for line in lines {
            let job = BatchJob(line: line)
            if case .request(let id, _, _) = job.state {
                if !seen.insert(id).inserted { job.state = .failed(customID: .string(id), code: "duplicate_custom_id", message: "custom_id '\(id)' appears more than once") }
            }
            jobs.append(job)
        }

        // At most twice the slots in flight, so the queue stays short; results go out in input order.
        var written = 0
        var finished: [Int: String] = [:]
        try await withThrowingTaskGroup(of: (Int, String).self) { group in
            var next = 0
            func launch() {
                guard next < jobs.count else { return }
                let index = next, job = jobs[next]
                next += 1
                group.addTask { (index, await job.run(engine: engine, model: modelName)) }
            }
            for _ in 0..<min(2 * parallel, jobs.count) { launch() }
            while let (index, record) = try await group.next() {
                finished[index] = record
                while let line = finished.removeValue(forKey: written) {
                    out.write(Data((line + "\n").utf8))
                    written += 1
                    progress.advance()
                }
                launch()
            }
        }
        progress.finish()
        let failures = jobs.filter { $0.failed }.count
        printError("\(jobs.count) requests, \(jobs.count - failures) answered, \(failures) with errors → \(output)")
    }
}

/// One input line: the request it holds, or why it cannot run.
final class BatchJob: @unchecked Sendable {
    enum State {
        case request(customID: String, url: String, body: JSONValue)
        case failed(customID: JSONValue, code: String, message: String)
    }

    var state: State
    private(set) var failed = false

    init(line: String) {
        let json: JSONValue
        do { json = try JSONValue.parse(line) } catch {
            state = .failed(customID: .null, code: "invalid_json", message: "the line is not JSON: \(error)")
            return
        }
        guard case .object = json else { state = .failed(customID: .null, code: "invalid_request", message: "the line is not a JSON object"); return }
        guard let id = json["custom_id"]?.string else {
            state = .failed(customID: json["custom_id"] ?? .null, code: "missing_custom_id", message: "'custom_id' must be a string")
            return
        }
        let method = json["method"]?.string ?? "POST"
        guard method == "POST" else { state = .failed(customID: .string(id), code: "invalid_method", message: "method '\(method)' is not supported; use POST"); return }
        guard let url = json["url"]?.string, ["/v1/chat/completions", "/v1/completions"].contains(url) else {
            let shown = json["url"]?.string.map { "'\($0)'" } ?? "missing"
            state = .failed(customID: .string(id), code: "invalid_url", message: "url \(shown): expected /v1/chat/completions or /v1/completions")
            return
        }
        guard let body = json["body"], case .object = body else { state = .failed(customID: .string(id), code: "invalid_body", message: "'body' must be a JSON object"); return }
        state = .request(customID: id, url: url, body: body)
    }

    /// The output line of this job.
    func run(engine: Engine, model: String) async -> String {
        let recordID = APIResponse.newID("batch_req_")
        switch state {
        case .failed(let customID, let code, let message):
            failed = true
            return JSONValue.object(["id": .string(recordID), "custom_id": customID, "response": .null,
                                     "error": .object(["code": .string(code), "message": .string(message)])]).serialized
        case .request(let customID, let url, let body):
            let requestID = APIResponse.newID("req_")
            let status: Int
            let responseBody: JSONValue
            do throws(APIError) {
                var request = try url == "/v1/chat/completions" ? APIRequest.chat(body) : APIRequest.completion(body)
                request.stream = false
                let completion = try await engine.complete(request)
                let prefix = request.isChat ? "chatcmpl-" : "cmpl-"
                responseBody = APIResponse.body(request, completion, id: APIResponse.newID(prefix), created: Int(Date().timeIntervalSince1970),
                                                model: request.model ?? model, tokenizer: engine.tokenizer)
                status = 200
            } catch {
                failed = true
                status = error.status
                responseBody = error.json
            }
            return JSONValue.object(["id": .string(recordID), "custom_id": .string(customID),
                                     "response": .object(["status_code": .number(Double(status)), "request_id": .string(requestID), "body": responseBody]),
                                     "error": .null]).serialized
        }
    }
}

/// "batch [#####     ] 12/40" on standard error, drawn only when it is a terminal.
final class BatchProgress {
    private let total: Int
    private var done = 0
    private let enabled = isatty(2) != 0

    init(total: Int) { self.total = total }

    func advance() {
        done += 1
        guard enabled else { return }
        let filled = total > 0 ? done * 30 / total : 30
        printError("\rbatch [" + String(repeating: "#", count: filled) + String(repeating: " ", count: 30 - filled) + "] \(done)/\(total)", newline: false)
    }

    func finish() {
        guard enabled else { return }
        printError("\r\u{1B}[2K", newline: false)
    }
}
