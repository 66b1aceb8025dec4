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

    @Flag(help: "Recognise special-token strings such as <s> or [INST] in the text.")
    var parseSpecial = false

    @Flag(help: "Do not add BOS/EOS.")
    var noSpecialTokens = false

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let tokenizer = try Tokenizer.load(path: source)
        for warning in tokenizer.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        let input = try text ?? readStandardInput()
        let ids = tokenizer.encode(input, addSpecialTokens: !noSpecialTokens, parseSpecial: parseSpecial)
        if json {
            let object: [String: Any] = ["ids": ids, "pieces": ids.map(tokenizer.piece)]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
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
