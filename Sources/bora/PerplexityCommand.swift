import ArgumentParser
import Bora
import Foundation

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity and bits per byte of a text, by llama-perplexity's method (comparable with its figures).",
        discussion: """
            The text is tokenized once (with BOS where the tokenizer adds one) and cut into chunks of \
            -c tokens, each evaluated from an empty cache with BOS first; the second half of each chunk \
            is scored. Bits per byte does not depend on the tokenizer, so it compares models with \
            different vocabularies (Mistral and Llama 2), as token perplexity cannot. Ctrl-C prints \
            the result so far.
            """)

    @Argument(help: "Model: a GGUF file, a Hugging Face folder or a Mistral folder (default: SmolLM2-135M-Instruct).")
    var model: String?

    @Option(name: [.customShort("f"), .long], help: "The text file.")
    var file: String

    @Option(name: [.customShort("c"), .customLong("ctx-size")], help: "Tokens per chunk.")
    var context = 512

    @Option(help: "Chunks to score at most (default: all the text holds).")
    var chunks: Int?

    @Flag(name: .customLong("sliding-window"), help: "Score the whole text as one sequence: each token from all the context the model keeps (a sliding-window model's last W tokens, past its context length). -c and --chunks do not apply.")
    var document = false

    @Option(name: [.customShort("t"), .long], help: "Threads (default: physical cores).")
    var threads: Int?

    @Option(help: "Kernels: fast or reference.")
    var kernels = "fast"

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        guard let kernelChoice = KernelChoice(rawValue: kernels) else { throw ValidationError("--kernels must be fast or reference") }
        guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
        guard let text = String(data: data, encoding: .utf8) else { throw ValidationError("\(file) is not UTF-8 text") }
        let path = try DefaultModel.resolve(model)
        let model = try LanguageModel(path: path)
        for note in model.files.notes { printError("note: \(note)") }
        let tokenizer = try model.tokenizer()
        Interruption.catchSIGINT()
        defer { Interruption.release() }
        let started = ContinuousClock.now
        let show: (PerplexityResult) -> Void = { partial in
            if !json { writeOut(String(format: "[%d]%.4f,", partial.chunks, partial.perplexity)) }
        }
        let result = document
            ? try Perplexity.runDocument(model: model, tokenizer: tokenizer, tokens: tokenizer.encode(text), threads: threads,
                                         kernels: kernelChoice, shouldStop: { Interruption.requested }, progress: show)
            : try Perplexity.run(model: model, tokenizer: tokenizer, text: text, context: context, chunks: chunks,
                                 threads: threads, kernels: kernelChoice, shouldStop: { Interruption.requested },
                                 progress: show)
        let seconds = Double((ContinuousClock.now - started).components.seconds)
        if json {
            let object = JSONValue.object([
                "model": .string((path as NSString).lastPathComponent), "ppl": .number(result.perplexity),
                "ppl_error": .number(result.perplexityError), "bits_per_byte": .number(result.bitsPerByte),
                "tokens_scored": .number(Double(result.tokensScored)), "bytes_scored": .number(Double(result.bytesScored)),
                "chunks": .number(Double(result.chunks)), "ctx": .number(Double(document ? result.context : context)),
                "mode": .string(document ? "document" : "chunks"),
                "interrupted": .bool(Interruption.requested),
            ])
            print(object.serialized)
            return
        }
        writeOut("\n")
        if Interruption.requested { print("interrupted: the figures below cover the first \(result.chunks) chunks") }
        print(String(format: "Final estimate: PPL = %.4f +/- %.5f", result.perplexity, result.perplexityError))
        let shape = document ? "one sequence of \(result.context) tokens" : "\(result.chunks) chunks of \(context)"
        print(String(format: "bits per byte: %.4f (%d tokens scored, %d bytes, %@, %.0f s)", result.bitsPerByte,
                     result.tokensScored, result.bytesScored, shape, seconds))
    }
}
