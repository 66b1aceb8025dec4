import ArgumentParser
import Bora
import Foundation

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score multiple-choice tasks by log-likelihood (acc, acc_norm, llama.cpp's per-token HellaSwag score).",
        discussion: """
            Task files: JSONL, one {"context", "choices", "gold"} per line; llama.cpp's HellaSwag text \
            format (6 lines per task: context, gold index, 4 endings); Winogrande CSV \
            (index,sentence,option1,option2,answer); MMLU CSV (question,A,B,C,D,answer), k-shot with \
            --shots K --dev SUBJECT_dev.csv in lm-evaluation-harness's prompt. Each choice is scored as \
            lm-evaluation-harness does: context + " " + choice, continuation = the tokens after the \
            context's (Winogrande: each option fills the blank, the rest of the sentence is scored). \
            acc takes the largest sum of log-probabilities, acc_norm that sum over the choice's \
            characters, acc_per_token the largest mean over the tokens after the prefix all choices \
            share (llama-perplexity --hellaswag; Winogrande: after each option). Ctrl-C prints the \
            result so far.
            """)

    @Argument(help: "Model: a GGUF file, a Hugging Face folder or a Mistral folder (default: SmolLM2-135M-Instruct).")
    var model: String?

    @Option(help: "The task file.")
    var task: String

    @Option(help: "Examples before each MMLU question (k-shot), taken in order from --dev.")
    var shots = 0

    @Option(help: "The MMLU examples' file for --shots (the subject's _dev.csv).")
    var dev: String?

    @Option(help: "Score the first N tasks only.")
    var limit: Int?

    @Option(name: [.customShort("t"), .long], help: "Threads (default: physical cores).")
    var threads: Int?

    @Option(help: "Kernels: fast or reference.")
    var kernels = "fast"

    @Option(name: .customLong("kv-cache"), help: "KV cache storage: f16 or f32 (with --kernels reference: F32 throughout).")
    var kvCache = "f16"

    @Flag(help: "Print each task's gold index, the per-token means of its choices and the choice they pick.")
    var verbose = false

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        guard (0...64).contains(shots) else { throw ValidationError("--shots must be between 0 and 64") }
        guard let kernelChoice = KernelChoice(rawValue: kernels) else { throw ValidationError("--kernels must be fast or reference") }
        guard let cacheType = KVCacheType(rawValue: kvCache) else { throw ValidationError("--kv-cache must be f16 or f32") }
        let (format, all) = try ChoiceTask.read(path: task, shots: shots, dev: dev)
        guard !all.isEmpty else { throw ValidationError("\(task) holds no tasks") }
        let tasks = Array(all.prefix(limit ?? all.count))
        let path = try DefaultModel.resolve(model)
        let model = try LanguageModel(path: path)
        for note in model.files.notes { printError("note: \(note)") }
        Interruption.catchSIGINT()
        defer { Interruption.release() }
        let bar = ProgressBar(label: "tasks")
        let result = try MultipleChoice.score(model: model, tokenizer: model.tokenizer(), tasks: tasks, threads: threads,
                                              kernels: kernelChoice, kvCacheType: cacheType, shouldStop: { Interruption.requested }) { partial in
            bar.update(done: partial.tasks, of: tasks.count, detail: String(format: "acc %.4f", partial.acc.value))
        }
        bar.finish()
        if json {
            let object = JSONValue.object([
                "model": .string((path as NSString).lastPathComponent), "format": .string(format), "shots": .number(Double(shots)),
                "tasks": .number(Double(result.tasks)),
                "acc": .number(result.acc.value), "acc_stderr": .number(result.acc.error),
                "acc_norm": .number(result.accNorm.value), "acc_norm_stderr": .number(result.accNorm.error),
                "acc_per_token": .number(result.accPerToken.value), "acc_per_token_stderr": .number(result.accPerToken.error),
                "interrupted": .bool(Interruption.requested),
            ])
            print(object.serialized)
            return
        }
        if verbose {
            for (i, scores) in result.scores.enumerated() {
                let means = scores.map { String(format: "%.4f", $0.mean) }.joined(separator: " ")
                let pick = scores.indices.max { scores[$0].mean < scores[$1].mean || (scores[$0].mean == scores[$1].mean && $0 > $1) }!
                print("task \(i + 1): gold \(tasks[i].gold), per-token means \(means), picks \(pick)")
            }
        }
        if Interruption.requested { print("interrupted: the figures below cover the first \(result.tasks) tasks") }
        print("\((task as NSString).lastPathComponent): \(result.tasks) tasks, format \(format), \(shots)-shot")
        for (name, x) in [("acc", result.acc), ("acc_norm", result.accNorm), ("acc_per_token", result.accPerToken)] {
            print(name.padding(toLength: 14, withPad: " ", startingAt: 0) + String(format: "%.4f ± %.4f", x.value, x.error))
        }
    }
}
