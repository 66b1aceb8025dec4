import ArgumentParser
import Bora
import Foundation

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare models on this machine: quality (bits per byte, perplexity, task accuracy) beside speed and memory.",
        discussion: """
            Each model is measured in a process of its own, one after another, so its peak resident \
            memory is its own and one model's pages do not slow the next: speed first (-p prompt \
            tokens at once, -n generated one at a time, -r repetitions, as bora bench), then the \
            --perplexity text (llama-perplexity's chunks of -c tokens) and each --task file (as bora \
            eval). Bits per byte compares models with different tokenizers (Mistral against Llama 2); \
            token perplexity does not. The KV-cache rows show one sequence's F16 cache at 4k and 32k \
            tokens: a sliding-window model keeps W + 16 slots however long the sequence.

            --shots K gives MMLU files K examples each, from the --dev files in the order of the MMLU \
            task files, or else from the subject's _dev.csv beside the _test.csv (or in ../dev/, \
            MMLU's own layout). Ctrl-C stops the model being measured and prints what was measured.
            """)

    @Argument(help: "Models to compare: GGUF files, Hugging Face folders or Mistral folders.")
    var models: [String] = []

    @Option(help: "A text for bits per byte and perplexity.")
    var perplexity: String?

    @Option(name: [.customShort("c"), .customLong("ctx-size")], help: "Tokens per perplexity chunk.")
    var context = 512

    @Option(help: "Perplexity chunks to score at most (default: all the text holds).")
    var chunks: Int?

    @Option(help: "A multiple-choice task file (repeatable): HellaSwag text, Winogrande or MMLU CSV, JSONL.")
    var task: [String] = []

    @Option(help: "Examples before each MMLU question (k-shot).")
    var shots = 0

    @Option(help: "An MMLU examples' file for --shots (repeatable, in the order of the MMLU task files).")
    var dev: [String] = []

    @Option(help: "Score the first N tasks of each task file only.")
    var limit: Int?

    @Option(name: [.customShort("p"), .customLong("n-prompt")], help: "Prompt tokens of the prefill test (0 skips it).")
    var promptTokens = 512

    @Option(name: [.customShort("n"), .customLong("n-gen")], help: "Tokens of the decode test (0 skips it).")
    var generatedTokens = 64

    @Option(name: [.customShort("r"), .long], help: "Repetitions of each speed test.")
    var repetitions = 2

    @Option(name: [.customShort("t"), .long], help: "Threads (default: physical cores).")
    var threads: Int?

    @Option(help: "Write a self-contained HTML report (table and charts) to this file.")
    var report: String?

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    @Flag(help: .hidden)
    var worker = false

    func validate() throws {
        guard !models.isEmpty else { throw ValidationError("give the models to compare") }
        if worker && models.count != 1 { throw ValidationError("--worker measures one model") }
        guard context >= 4 else { throw ValidationError("-c must be at least 4") }
        if let chunks, chunks < 1 { throw ValidationError("--chunks must be at least 1") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        guard (0...64).contains(shots) else { throw ValidationError("--shots must be between 0 and 64") }
        guard (0...1_000_000).contains(promptTokens), (0...1_000_000).contains(generatedTokens) else {
            throw ValidationError("-p and -n take counts from 0 to 1000000")
        }
        guard (1...1000).contains(repetitions) else { throw ValidationError("-r must be from 1 to 1000") }
        if let threads, !(1...1024).contains(threads) { throw ValidationError("-t must be from 1 to 1024") }
        if !dev.isEmpty && shots == 0 { throw ValidationError("--dev gives k-shot examples: it needs --shots") }
        for file in [perplexity].compactMap({ $0 }) + task + dev where !FileManager.default.isReadableFile(atPath: file) {
            throw ValidationError("cannot read \(file)")
        }
    }

    func run() throws {
        if worker { return try measure(models[0]) }
        let paths = try models.map { try DefaultModel.resolve($0) }
        for path in paths where !FileManager.default.fileExists(atPath: path) { throw BoraError.fileNotFound(path: path) }
        Interruption.catchSIGINT()
        defer { Interruption.release() }
        var entries: [ComparisonEntry] = []
        var failed: [String] = []
        // The bandwidth probe runs here, after each model, not in the workers: its buffer would
        // count in their peak memory.
        let pool = try ThreadPool(threads: threads)
        for (i, path) in paths.enumerated() {
            if Interruption.requested { break }
            printError("[\(i + 1)/\(paths.count)] \(path)")
            let (output, status) = try Subprocess.run(executable: Self.executable, arguments: workerArguments(path))
            guard status == 0, var entry = try? ComparisonEntry.decode(output) else {
                printError("error: measuring \(path) failed (exit status \(status)); its error is above")
                failed.append(path)
                continue
            }
            if entry.speed?.decode != nil, !Interruption.requested { entry.speed?.memoryBytesPerSecond = try MemoryBandwidth.measure(pool: pool) }
            entries.append(entry)
        }
        let comparison = ComparisonReport(entries: entries, threads: threads)
        if let report {
            do { try comparison.html().write(toFile: report, atomically: true, encoding: .utf8) } catch {
                throw ValidationError("cannot write \(report): \(error.localizedDescription)")
            }
        }
        if json {
            print(try comparison.json())
        } else if !entries.isEmpty {
            print(comparison.table(), terminator: "")
            if let report { print("report: \(report)") }
        }
        if Interruption.requested { printError("interrupted: \(entries.count) of \(paths.count) models measured") }
        // A model that failed, or whose measurement stopped on an error, fails the command.
        if !failed.isEmpty || entries.contains(where: { $0.error != nil }) { throw ExitCode(1) }
    }

    /// This program, to run the workers.
    static var executable: String {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        #endif
        return Bundle.main.executablePath ?? CommandLine.arguments[0]
    }

    /// The options a worker gets: this command's own, for one model.
    private func workerArguments(_ path: String) -> [String] {
        var a = ["compare", "--worker", path, "-c", "\(context)", "--shots", "\(shots)", "-p", "\(promptTokens)",
                 "-n", "\(generatedTokens)", "-r", "\(repetitions)"]
        if let perplexity { a += ["--perplexity", perplexity] }
        if let chunks { a += ["--chunks", "\(chunks)"] }
        if let limit { a += ["--limit", "\(limit)"] }
        if let threads { a += ["-t", "\(threads)"] }
        for t in task { a += ["--task", t] }
        for d in dev { a += ["--dev", d] }
        return a
    }

    /// The worker: measures one model and prints its entry as JSON (partial after Ctrl-C, with
    /// `interrupted`), progress on standard error.
    private func measure(_ model: String) throws {
        Interruption.catchSIGINT()
        defer { Interruption.release() }
        let started = ContinuousClock.now
        let path = try DefaultModel.resolve(model)
        let bar = ProgressBar(label: "loading")
        let loaded = try LanguageModel(path: path, options: ModelLoadOptions(), progress: bar.update)
        bar.finish()
        for note in loaded.files.notes { printError("note: \(note)") }
        var entry = try ComparisonEntry(path: path, model: loaded)
        defer {
            entry.seconds = (ContinuousClock.now - started).seconds
            entry.interrupted = Interruption.requested
            entry.peakResidentBytes = ResidentMemory.peakBytes
            if let data = try? entry.encoded() { print(String(decoding: data, as: UTF8.self)) }
        }
        do {
            try measureAll(loaded, into: &entry)
        } catch {
            entry.error = "\(error)"
            printError("error: \(error)")
        }
    }

    private func measureAll(_ model: LanguageModel, into entry: inout ComparisonEntry) throws {
        if promptTokens > 0 || generatedTokens > 0 {
            let bar = ProgressBar(label: "speed     ")
            let report = try Benchmark.run(model: model, prompts: [promptTokens], generations: [generatedTokens],
                                           repetitions: repetitions, threads: threads, probeMemory: false, shouldStop: { Interruption.requested }) {
                bar.update(done: $0, of: $1)
            }
            bar.finish()
            entry.speed = .init(report)
        }
        let tokenizer = try model.tokenizer()
        if let perplexity, !Interruption.requested {
            guard let data = FileManager.default.contents(atPath: perplexity), let text = String(data: data, encoding: .utf8) else {
                throw ValidationError("cannot read \(perplexity) as UTF-8 text")
            }
            let tokens = tokenizer.encode(text)
            let total = min(chunks ?? tokens.count / context, tokens.count / context)
            let bar = ProgressBar(label: "perplexity")
            let r = try Perplexity.run(model: model, tokenizer: tokenizer, tokens: tokens, context: context, chunks: chunks,
                                       threads: threads, shouldStop: { Interruption.requested }) {
                bar.update(done: $0.chunks, of: total, detail: String(format: "PPL %.3f", $0.perplexity))
            }
            bar.finish()
            guard r.tokensScored > 0 else { return }
            entry.perplexity = .init(file: (perplexity as NSString).lastPathComponent, result: r)
        }
        var mmluIndex = 0
        for file in task where !Interruption.requested {
            var (format, tasks) = try ChoiceTask.read(path: file)
            var taskShots = 0
            if format == "mmlu", shots > 0 {
                let examples = try devFile(for: file, index: mmluIndex)
                mmluIndex += 1
                (format, tasks) = try ChoiceTask.read(path: file, shots: shots, dev: examples)
                taskShots = shots
            }
            guard !tasks.isEmpty else { throw ValidationError("\(file) holds no tasks") }
            tasks = Array(tasks.prefix(limit ?? tasks.count))
            let name = (file as NSString).lastPathComponent
            let bar = ProgressBar(label: name.count > 10 ? String(name.prefix(10)) : name.padding(toLength: 10, withPad: " ", startingAt: 0))
            let r = try MultipleChoice.score(model: model, tokenizer: tokenizer, tasks: tasks, threads: threads,
                                             shouldStop: { Interruption.requested }) {
                bar.update(done: $0.tasks, of: tasks.count, detail: String(format: "acc %.3f", $0.acc.value))
            }
            bar.finish()
            guard r.tasks > 0 else { return }
            entry.tasks.append(.init(file: name, format: format, shots: taskShots, result: r))
        }
    }

    /// The k-shot examples of the `index`-th MMLU task file: the `index`-th --dev, or the
    /// subject's _dev.csv beside its _test.csv (or in ../dev/).
    private func devFile(for test: String, index: Int) throws -> String {
        if !dev.isEmpty {
            guard index < dev.count else { throw ValidationError("--shots \(shots): \(test) is MMLU task file \(index + 1), but only \(dev.count) --dev files are given") }
            return dev[index]
        }
        let url = URL(fileURLWithPath: test)
        let name = url.lastPathComponent
        let subject = name.hasSuffix("_test.csv") ? String(name.dropLast("_test.csv".count)) : (name as NSString).deletingPathExtension
        let folder = url.deletingLastPathComponent()
        for candidate in [folder.appendingPathComponent(subject + "_dev.csv"),
                          folder.deletingLastPathComponent().appendingPathComponent("dev").appendingPathComponent(subject + "_dev.csv")]
        where FileManager.default.isReadableFile(atPath: candidate.path) {
            return candidate.path
        }
        throw ValidationError("--shots \(shots): no examples for \(test) (give --dev, or put \(subject)_dev.csv beside it)")
    }
}
