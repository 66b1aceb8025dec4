import ArgumentParser
import Bora
import Foundation

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text, or of a chat conversation in the model's chat format.")

    @Argument(help: "A model (GGUF file, Hugging Face or Mistral folder) or a tokenizer file (tokenizer.model, tokenizer.json).")
    var source: String

    @Option(help: "The text (default: standard input).")
    var text: String?

    @Option(help: "Read the text from a file.")
    var file: String?

    @Option(help: "Encode this many times and report the throughput on standard error (for benchmarks).")
    var repeatCount: Int?

    @Flag(help: "Recognise special-token strings such as <s> or [INST] in the text.")
    var parseSpecial = false

    @Flag(help: "Do not add BOS/EOS.")
    var noSpecialTokens = false

    @Option(help: "A conversation (OpenAI-style messages JSON) to encode in the model's chat format instead of --text.")
    var chat: String?

    @Option(name: .customLong("chat-template"), help: "Chat format for --chat: mistral-v1, mistral-v3, llama2, zephyr or chatml (default: from the model).")
    var chatTemplate: String?

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let tokenizer = try Tokenizer.load(path: source)
        for warning in tokenizer.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        if let chat {
            guard let data = FileManager.default.contents(atPath: chat) else { throw BoraError.fileNotFound(path: chat) }
            let messages: [ChatMessage]
            do {
                messages = try ChatMessage.parseList(data.withUnsafeBytes { try JSONValue.parse($0) })
            } catch let error as JSONValue.ParseError {
                throw BoraError.invalidJSON(path: chat, reason: error.description)
            }
            let choice = try ChatFormat.choose(for: tokenizer, override: chatTemplate)
            if let warning = choice.warning { printError("warning: \(warning)") }
            let ids = try choice.format.encode(messages, tokenizer: tokenizer, defaultSystemPrompt: choice.defaultSystemPrompt)
            try printIDs(ids, tokenizer: tokenizer)
            return
        }
        let input: String
        if let file {
            guard let contents = FileManager.default.contents(atPath: file), let string = String(data: contents, encoding: .utf8) else {
                throw ValidationError("cannot read UTF-8 text from \(file)")
            }
            input = string
        } else {
            input = try text ?? readStandardInput()
        }
        var ids = tokenizer.encode(input, addSpecialTokens: !noSpecialTokens, parseSpecial: parseSpecial)
        if let repeatCount, repeatCount > 0 {
            var best = Double.infinity
            for _ in 0..<repeatCount {
                let start = ContinuousClock.now
                ids = tokenizer.encode(input, addSpecialTokens: !noSpecialTokens, parseSpecial: parseSpecial)
                let elapsed = ContinuousClock.now - start
                best = min(best, elapsed.seconds)
            }
            let megabytes = Double(input.utf8.count) / 1_000_000
            FileHandle.standardError.write(Data(String(format: "encoded %.2f MB into %d tokens: best %.3f s, %.2f MB/s\n", megabytes, ids.count, best, megabytes / best).utf8))
        }
        try printIDs(ids, tokenizer: tokenizer)
    }

    private func printIDs(_ ids: [Int], tokenizer: Tokenizer) throws {
        if json {
            let object = JSONValue.object(["ids": .array(ids.map { .number(Double($0)) }),
                                           "pieces": .array(ids.map { .string(tokenizer.piece($0)) })])
            print(object.serialized)
        } else {
            for id in ids { print(id, tokenizer.piece(id).debugDescription) }
            print("\(ids.count) tokens")
        }
    }
}

func readStandardInput() throws -> String {
    let data = FileHandle.standardInput.readDataToEndOfFile()
    guard let text = String(data: data, encoding: .utf8) else { throw ValidationError("standard input is not UTF-8 text") }
    return text
}
