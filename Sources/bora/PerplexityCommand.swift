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

            KL divergence of a quantization from its base model, as llama-perplexity measures it: run \
            the base with --kl-divergence-base FILE.kld (it keeps the top --kl-top entries of every \
            scored distribution), then each other model with --kl-divergence FILE.kld (no -f needed: \
            the file holds the tokens). --kl-divergence-model BASE computes the full-vocabulary \
            divergence with both models loaded instead.
            """)

    @Argument(help: "Model: a GGUF file, a Hugging Face folder or a Mistral folder (default: SmolLM2-135M-Instruct).")
    var model: String?

    @Option(name: [.customShort("f"), .long], help: "The text file (not needed with --kl-divergence).")
    var file: String?

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

    @Option(name: .customLong("kv-cache"), help: "KV cache storage of the perplexity runs: f16 or f32 (with --kernels reference: F32 throughout).")
    var kvCache = "f16"

    @Option(name: .customLong("kl-divergence-base"), help: "Save this model's distributions to FILE, the base for --kl-divergence.")
    var klBase: String?

    @Option(name: .customLong("kl-divergence"), help: "Score this model against the base saved in FILE: KL divergence, Δp, same top token.")
    var klFile: String?

    @Option(name: .customLong("kl-divergence-model"), help: "Score this model against BASE, loaded too, over the whole vocabulary.")
    var klModel: String?

    @Option(name: .customLong("kl-top"), help: "Entries of each distribution --kl-divergence-base keeps.")
    var klTop = KLDivergenceBase.defaultTop

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        if [klBase, klFile, klModel].compactMap({ $0 }).count > 1 {
            throw ValidationError("--kl-divergence-base, --kl-divergence and --kl-divergence-model exclude each other")
        }
        if file == nil && klFile == nil { throw ValidationError("give the text with -f FILE") }
        if document && (klBase != nil || klFile != nil || klModel != nil) {
            throw ValidationError("KL divergence is measured on chunks; --sliding-window does not apply")
        }
    }

    func run() throws {
        guard let kernelChoice = KernelChoice(rawValue: kernels) else { throw ValidationError("--kernels must be fast or reference") }
        guard let cacheType = KVCacheType(rawValue: kvCache) else { throw ValidationError("--kv-cache must be f16 or f32") }
        let path = try DefaultModel.resolve(model)
        let model = try LanguageModel(path: path)
        for note in model.files.notes { printError("note: \(note)") }
        let tokenizer = try model.tokenizer()
        Interruption.catchSIGINT()
        defer { Interruption.release() }
        if let klFile {
            let base = try KLDivergenceBase.read(path: klFile)
            if let file {
                // The text is optional (the base holds its tokens); given, it must be the base's.
                guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                    throw ValidationError("cannot read \(file) as UTF-8 text")
                }
                guard tokenizer.encode(text).prefix(base.tokens.count).elementsEqual(base.tokens.map(Int.init)) else {
                    throw ValidationError("\(file) does not tokenize to the tokens of \(klFile): another text or another tokenizer made the base")
                }
            }
            let result = try KLDivergence.score(model: model, tokenizer: tokenizer, against: base, threads: threads,
                                                kernels: kernelChoice, shouldStop: { Interruption.requested }) { partial in
                if !json { writeOut("[\(partial.chunks)/\(base.chunks)]") }
            }
            if !json { writeOut("\n") }
            report(result, model: path, base: "\(klFile) (top \(base.top))")
            return
        }
        guard let file else { throw ValidationError("give the text with -f FILE") }
        guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
        guard let text = String(data: data, encoding: .utf8) else { throw ValidationError("\(file) is not UTF-8 text") }
        if let klModel {
            let basePath = try DefaultModel.resolve(klModel)
            let base = try LanguageModel(path: basePath)
            let result = try KLDivergence.exact(base: base, model: model, tokenizer: tokenizer, tokens: tokenizer.encode(text),
                                                context: context, chunks: chunks, threads: threads, kernels: kernelChoice,
                                                shouldStop: { Interruption.requested })
            report(result, model: path, base: "\(basePath) (whole vocabulary)")
            return
        }
        let started = ContinuousClock.now
        let tokens = tokenizer.encode(text)
        // On a terminal a progress bar with the time left; into a pipe or file, llama-perplexity's running values.
        let total = document ? (tokens.count + 4094) / 4096 : min(chunks ?? tokens.count / max(context, 1), tokens.count / max(context, 1))
        let bar = !json && isatty(1) != 0 && isatty(2) != 0 ? ProgressBar(label: "perplexity") : nil
        let show: (PerplexityResult) -> Void = { partial in
            if let bar {
                bar.update(done: partial.chunks, of: total, detail: String(format: "PPL %.4f", partial.perplexity))
            } else if !json {
                writeOut(String(format: "[%d]%.4f,", partial.chunks, partial.perplexity))
            }
        }
        if let klBase {
            let (base, result) = try KLDivergence.base(model: model, tokenizer: tokenizer, tokens: tokens,
                                                      context: context, chunks: chunks, top: klTop, threads: threads,
                                                      kernels: kernelChoice, shouldStop: { Interruption.requested }, progress: show)
            try base.write(to: klBase)
            bar?.finish()
            if !json {
                if bar == nil { writeOut("\n") }
                print(String(format: "Final estimate: PPL = %.4f +/- %.5f", result.perplexity, result.perplexityError))
                print("saved \(base.positions) distributions (top \(base.top)) of \(base.chunks) chunks to \(klBase)")
            } else {
                print(JSONValue.object(["ppl": .number(result.perplexity), "ppl_error": .number(result.perplexityError),
                                        "positions": .number(Double(base.positions)), "chunks": .number(Double(base.chunks)),
                                        "top": .number(Double(base.top)), "file": .string(klBase)]).serialized)
            }
            return
        }
        let result = document
            ? try Perplexity.runDocument(model: model, tokenizer: tokenizer, tokens: tokens, threads: threads,
                                         kernels: kernelChoice, kvCacheType: cacheType, shouldStop: { Interruption.requested }, progress: show)
            : try Perplexity.run(model: model, tokenizer: tokenizer, tokens: tokens, context: context, chunks: chunks,
                                 threads: threads, kernels: kernelChoice, kvCacheType: cacheType, shouldStop: { Interruption.requested },
                                 progress: show)
        let seconds = Double((ContinuousClock.now - started).components.seconds)
        bar?.finish()
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
        if bar == nil { writeOut("\n") }
        if Interruption.requested { print("interrupted: the figures below cover the first \(result.chunks) chunks") }
        print(String(format: "Final estimate: PPL = %.4f +/- %.5f", result.perplexity, result.perplexityError))
        let shape = document ? "one sequence of \(result.context) tokens" : "\(result.chunks) chunks of \(context)"
        print(String(format: "bits per byte: %.4f (%d tokens scored, %d bytes, %@, %.0f s)", result.bitsPerByte,
                     result.tokensScored, result.bytesScored, shape, seconds))
    }

    /// llama-perplexity's KL-divergence report (or one JSON object).
    private func report(_ r: KLDivergenceResult, model: String, base: String) {
        let klds = r.klds.sorted(), pDiffs = r.pDiffs.sorted()
        let percentiles: [(String, Double)] = [("99.9%", 0.999), ("99.0%", 0.99), ("95.0%", 0.95), ("90.0%", 0.9)]
        let lower: [(String, Double)] = [("10.0%", 0.1), (" 5.0%", 0.05), (" 1.0%", 0.01), (" 0.1%", 0.001)]
        if json {
            func pair(_ v: (Double, Double)) -> [JSONValue] { [.number(v.0), .number(v.1)] }
            let names = (percentiles + lower).map { $0.0.trimmingCharacters(in: .whitespaces) }
            var values: [String: JSONValue] = [:]
            for ((_, f), name) in zip(percentiles + lower, names) { values[name] = .number(KLDivergenceResult.percentile(klds, f)) }
            print(JSONValue.object([
                "model": .string((model as NSString).lastPathComponent), "base": .string(base),
                "positions": .number(Double(r.count)), "chunks": .number(Double(r.chunks)),
                "ppl": .array(pair(r.perplexity)), "ppl_base": .array(pair(r.perplexityBase)),
                "ln_ppl_ratio": .array(pair(r.logPPLRatio)), "ppl_correlation": .number(r.logPPLCorrelation),
                "kld": .number(r.kld.0), "kld_error": .number(r.kld.1),
                "kld_median": .number(KLDivergenceResult.median(klds)), "kld_max": .number(klds.last ?? .nan),
                "kld_percentiles": .object(values, keys: names),
                "delta_p": .array(pair(r.pDiff)), "delta_p_rms": .array(pair(r.pDiffRMS)),
                "same_top": .array(pair(r.sameTopFraction)),
                "interrupted": .bool(Interruption.requested),
            ]).serialized)
            return
        }
        if Interruption.requested { print("interrupted: the figures below cover the first \(r.chunks) chunks") }
        print("model \(model) against \(base): \(r.count) positions in \(r.chunks) chunks\n")
        print("====== Perplexity statistics ======")
        print(String(format: "Mean PPL(Q)                   : %10.6f ± %10.6f", r.perplexity.0, r.perplexity.1))
        print(String(format: "Mean PPL(base)                : %10.6f ± %10.6f", r.perplexityBase.0, r.perplexityBase.1))
        print(String(format: "Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%", 100 * r.logPPLCorrelation))
        print(String(format: "Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f", r.logPPLRatio.0, r.logPPLRatio.1))
        print(String(format: "Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f", r.perplexityRatio.0, r.perplexityRatio.1))
        print(String(format: "Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f", r.perplexityDifference.0, r.perplexityDifference.1))
        print("\n====== KL divergence statistics ======")
        print(String(format: "Mean    KLD: %10.6f ± %10.6f", r.kld.0, r.kld.1))
        print(String(format: "Maximum KLD: %10.6f", klds.last ?? .nan))
        for (name, f) in percentiles { print(String(format: "%@   KLD: %10.6f", name, KLDivergenceResult.percentile(klds, f))) }
        print(String(format: "Median  KLD: %10.6f", KLDivergenceResult.median(klds)))
        for (name, f) in lower { print(String(format: "%@   KLD: %10.6f", name, KLDivergenceResult.percentile(klds, f))) }
        print(String(format: "Minimum KLD: %10.6f", klds.first ?? .nan))
        print("\n====== Token probability statistics ======")
        print(String(format: "Mean    Δp: %6.3f ± %5.3f %%", 100 * r.pDiff.0, 100 * r.pDiff.1))
        print(String(format: "Maximum Δp: %6.3f%%", 100 * (pDiffs.last ?? .nan)))
        for (name, f) in percentiles + [("75.0%", 0.75)] { print(String(format: "%@   Δp: %6.3f%%", name, 100 * KLDivergenceResult.percentile(pDiffs, f))) }
        print(String(format: "Median  Δp: %6.3f%%", 100 * KLDivergenceResult.median(pDiffs)))
        for (name, f) in [("25.0%", 0.25)] + lower { print(String(format: "%@   Δp: %6.3f%%", name, 100 * KLDivergenceResult.percentile(pDiffs, f))) }
        print(String(format: "Minimum Δp: %6.3f%%", 100 * (pDiffs.first ?? .nan)))
        print(String(format: "RMS Δp    : %6.3f ± %5.3f %%", 100 * r.pDiffRMS.0, 100 * r.pDiffRMS.1))
        print(String(format: "Same top p: %6.3f ± %5.3f %%", 100 * r.sameTopFraction.0, 100 * r.sameTopFraction.1))
    }
}
