import ArgumentParser
import Bora
import Foundation

/// Which model and how to run it.
struct ModelOptions: ParsableArguments {
    @Argument(help: "Model: a GGUF file, a Hugging Face folder or a Mistral folder (default: SmolLM2-135M-Instruct).")
    var model: String?

    @Option(name: [.customShort("t"), .long], help: "Threads (default: physical cores).")
    var threads: Int?

    @Option(name: .customLong("sliding-window"), help: "Override the sliding window W (0 turns it off).")
    var slidingWindow: Int?

    @Option(name: .customLong("max-context"), help: "Positions the context holds (default: the model's context length; unbounded for sliding-window models).")
    var maxContext: Int?

    @Option(name: .customLong("draft"), help: "Speculative decoding with this draft model: a smaller model with the same tokenizer proposes tokens the model checks several at a time (output unchanged).")
    var draft: String?

    /// Loads the draft model, if one was asked for.
    func loadDraft() throws -> LanguageModel? {
        guard let draft else { return nil }
        let model = try LanguageModel(path: draft)
        for note in model.files.notes { printError("note: draft: \(note)") }
        return model
    }

    /// Loads the model, with a progress bar on a terminal.
    func load() throws -> LanguageModel {
        let path = try DefaultModel.resolve(model)
        let bar = ProgressBar(label: "loading \((path as NSString).lastPathComponent)")
        let model = try LanguageModel(path: path, options: ModelLoadOptions(slidingWindow: slidingWindow), progress: bar.update)
        bar.finish()
        for note in model.files.notes { printError("note: \(note)") }
        for warning in (try? model.tokenizer().warnings) ?? [] { printError("warning: \(warning)") }
        return model
    }

    var contextOptions: ContextOptions { ContextOptions(maxContext: maxContext, threads: threads) }
}

/// Sampling and stopping, with llama.cpp's option names and defaults.
struct SamplingOptions: ParsableArguments {
    @Option(name: [.customShort("n"), .customLong("n-predict")], help: "Tokens to generate at most (-1: until the end).")
    var maxTokens = -1

    @Option(name: .customLong("temp"), help: "Temperature (0: greedy).")
    var temperature: Float = 0.8

    @Option(name: .customLong("top-k"), help: "Top-k (0: off).")
    var topK = 40

    @Option(name: .customLong("top-p"), help: "Top-p (1: off).")
    var topP: Float = 0.95

    @Option(name: .customLong("min-p"), help: "Min-p (0: off).")
    var minP: Float = 0.05

    @Option(name: .customLong("typical-p"), help: "Locally typical sampling (1: off).")
    var typicalP: Float = 1

    @Option(name: .customLong("repeat-penalty"), help: "Repetition penalty (1: off).")
    var repeatPenalty: Float = 1

    @Option(name: .customLong("repeat-last-n"), help: "Tokens the penalties look back over (0: off, -1: all).")
    var repeatLastN = 64

    @Option(name: .customLong("presence-penalty"), help: "Presence penalty.")
    var presencePenalty: Float = 0

    @Option(name: .customLong("frequency-penalty"), help: "Frequency penalty.")
    var frequencyPenalty: Float = 0

    @Option(help: "Random seed (default: random).")
    var seed: UInt64?

    @Option(name: .customLong("stop"), help: "Stop at this string (repeatable).")
    var stop: [String] = []

    @Flag(name: .customLong("ignore-eos"), help: "Keep generating past end-of-sequence tokens.")
    var ignoreEOS = false

    @Option(name: .customLong("context-shift"), help: "When a model without sliding window fills its context, keep this many first tokens and drop half of the rest instead of stopping.")
    var contextShiftKeep: Int?

    @Option(help: "Constrain the output to a GBNF grammar (llama.cpp's syntax) read from FILE.")
    var grammar: String?

    @Option(name: .customLong("grammar-text"), help: "Constrain the output to this GBNF grammar.")
    var grammarText: String?

    @Flag(name: .customLong("json-object"), help: "Constrain the output to one JSON object (OpenAI's json_object mode).")
    var jsonObject = false

    @Option(name: .customLong("json-schema"), help: "Constrain the output to JSON that the JSON Schema in FILE accepts.")
    var jsonSchema: String?

    @Flag(name: .customLong("lookup"), help: "Speculative decoding with prompt lookup: draft the tokens that followed the last repeat of the recent text (output unchanged, faster on repetitive work).")
    var lookup = false

    @Option(name: .customLong("lookup-ngram"), help: "Prompt lookup's n-gram sizes, MIN:MAX (default 2:4): the longest recent suffix of MAX down to MIN tokens that occurred before is looked up.")
    var lookupNgram: String?

    @Option(name: .customLong("draft-max"), help: "Speculative decoding: the most tokens one step drafts (1-\(SpeculativeDecoding.maximumDraft), default 8); the draft length adapts below it.")
    var draftMax: Int?

    /// The grammar the options ask for, if any.
    func grammarConstraint() throws -> GrammarConstraint? {
        if [grammar != nil, grammarText != nil, jsonObject, jsonSchema != nil].filter({ $0 }).count > 1 {
            throw ValidationError("--grammar, --grammar-text, --json-object and --json-schema exclude each other")
        }
        if let jsonSchema {
            guard let data = FileManager.default.contents(atPath: jsonSchema), let text = String(data: data, encoding: .utf8) else {
                throw ValidationError("cannot read the JSON Schema file \(jsonSchema) as UTF-8 text")
            }
            return try GrammarConstraint(jsonSchema: text)
        }
        if let grammar {
            guard let data = FileManager.default.contents(atPath: grammar), let text = String(data: data, encoding: .utf8) else {
                throw ValidationError("cannot read the grammar file \(grammar) as UTF-8 text")
            }
            return GrammarConstraint(gbnf: text)
        }
        if let grammarText { return GrammarConstraint(gbnf: grammarText) }
        return jsonObject ? .jsonObject : nil
    }

    /// - Parameter draftModel: a draft model was given (`--draft`): it drafts, not prompt lookup.
    func parameters(draftModel: Bool = false) throws -> GenerationParameters {
        var p = GenerationParameters()
        p.grammar = try grammarConstraint()
        p.maxTokens = maxTokens < 0 ? nil : maxTokens
        p.temperature = temperature
        p.topK = topK
        p.topP = topP
        p.minP = minP
        p.typicalP = typicalP
        p.repeatPenalty = repeatPenalty
        p.repeatLastN = repeatLastN
        p.presencePenalty = presencePenalty
        p.frequencyPenalty = frequencyPenalty
        p.seed = seed
        p.stop = stop
        p.ignoreEndOfSequence = ignoreEOS
        if let keep = contextShiftKeep { p.contextOverflow = .shift(keep: keep) }
        if draftMax != nil && !lookup && !draftModel { throw ValidationError("--draft-max needs --lookup or --draft") }
        if lookup && draftModel { throw ValidationError("--lookup and --draft exclude each other") }
        if lookupNgram != nil && !lookup { throw ValidationError("--lookup-ngram needs --lookup") }
        if lookup || draftModel {
            var drafter = SpeculativeDecoding.Drafter.draftModel
            if lookup {
                drafter = .promptLookup()
                if let lookupNgram {
                    let parts = lookupNgram.split(separator: ":").map { Int($0) }
                    guard parts.count == 2, let low = parts[0], let high = parts[1] else {
                        throw ValidationError("--lookup-ngram must be MIN:MAX, got '\(lookupNgram)'")
                    }
                    drafter = .promptLookup(ngramMin: low, ngramMax: high)
                }
            }
            p.speculation = SpeculativeDecoding(drafter: drafter, maxDraft: draftMax ?? 8)
            if p.grammar != nil { printError("note: a grammar's state would have to follow every draft: this generation decodes without speculation") }
        }
        try p.validate()
        return p
    }
}

/// A load progress bar on standard error, drawn only when it is a terminal.
final class ProgressBar: @unchecked Sendable {
    private let label: String
    private let enabled = isatty(2) != 0
    private var last = -1

    init(label: String) { self.label = label }

    func update(_ fraction: Double) {
        guard enabled else { return }
        let percent = Int(fraction * 100)
        guard percent != last else { return }
        last = percent
        let filled = percent * 30 / 100
        printError("\r\(label) [" + String(repeating: "#", count: filled) + String(repeating: " ", count: 30 - filled) + "] \(percent)%", newline: false)
    }

    private var started: ContinuousClock.Instant?
    private var lastDrawn: ContinuousClock.Instant?

    /// Counted progress with the time left, estimated from the pace so far (redrawn at most 10
    /// times a second, and at the end).
    func update(done: Int, of total: Int, detail: String = "") {
        guard enabled, total > 0 else { return }
        let now = ContinuousClock.now
        if started == nil { started = now }
        if let lastDrawn, now - lastDrawn < .milliseconds(100), done < total { return }
        lastDrawn = now
        last = 0
        let filled = min(done, total) * 30 / total
        var line = "\r\u{1B}[2K\(label) [" + String(repeating: "#", count: filled) + String(repeating: " ", count: 30 - filled) + "] \(done)/\(total)"
        let elapsed = (now - started!).seconds
        if done > 0, done < total {
            let left = Int((elapsed / Double(done) * Double(total - done)).rounded())
            line += String(format: ", %d:%02d left", left / 60, left % 60)
        }
        if !detail.isEmpty { line += "  " + detail }
        printError(line, newline: false)
    }

    func finish() {
        guard enabled, last >= 0 else { return }
        printError("\r\u{1B}[2K", newline: false)
    }
}

func statsLine(_ s: GenerationStats) -> String {
    let reused = s.promptTokens - s.evaluatedPromptTokens
    return String(format: "[prompt %d tokens (%d reused), %.1f tokens/s | answer %d tokens, %.1f tokens/s | first token %.2f s | stop: %@]",
                  s.promptTokens, reused, s.promptTokensPerSecond, s.generatedTokens, s.generationTokensPerSecond,
                  s.timeToFirstToken, s.stopReason.rawValue)
        + (s.constraintSeconds > 0 && s.generatedTokens > 0
            ? String(format: " [grammar %.3f ms/token]", s.constraintSeconds * 1000 / Double(s.generatedTokens)) : "")
        + (s.draftedTokens > 0
            ? String(format: " [drafts %d, kept %d (%.0f%%), %.2f tokens/pass]", s.draftedTokens, s.acceptedDraftTokens,
                     s.draftAcceptanceRate * 100, s.tokensPerWeightPass) : "")
}
