import Foundation

/// One multiple-choice task: a context, its possible continuations and the right one. Winogrande's
/// tasks go the other way: each choice fills the context's blank and all share one continuation,
/// scored given each filled context (lm-evaluation-harness's partial scoring).
package struct ChoiceTask: Sendable, Equatable {
    package var context: String
    package var choices: [String]
    package var gold: Int
    /// Set for Winogrande-style tasks: the text after the blank (with its leading space).
    package var continuation: String?

    package init(context: String, choices: [String], gold: Int, continuation: String? = nil) {
        (self.context, self.choices, self.gold, self.continuation) = (context, choices, gold, continuation)
    }

    /// Each choice's context and continuation, as lm-evaluation-harness scores them: the shared
    /// context and " " + choice, or (Winogrande) the context with the choice in place of its blank
    /// and the shared continuation.
    package var pairs: [(context: String, continuation: String)] {
        if let continuation { return choices.map { (context + $0, continuation) } }
        return choices.map { (context, " " + $0) }
    }

    /// Reads a task file, returning the format's name:
    /// - JSONL: `{"context", "choices", "gold"}` per line;
    /// - llama.cpp's HellaSwag text format: 6 lines per task (context, gold index, 4 endings);
    /// - Winogrande CSV: `index,sentence,option1,option2,answer` (answer 1 or 2, a `_` blank in the sentence);
    /// - MMLU CSV: `question,A,B,C,D,answer` (answer a letter), with `shots` examples from `dev` in
    ///   lm-evaluation-harness's prompt; the subject comes from the file name (`college_physics_test.csv`).
    /// A header row is skipped in either CSV.
    package static func read(path: String, shots: Int = 0, dev: String? = nil) throws(BoraError) -> (format: String, tasks: [ChoiceTask]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw .fileNotFound(path: path) }
        guard let text = String(data: data, encoding: .utf8) else { throw .cannotRead(path: path, reason: "not UTF-8 text") }
        if path.lowercased().hasSuffix(".csv") {
            let rows = try CSV.rows(text, path: path)
            guard let width = rows.first?.count else { throw .cannotRead(path: path, reason: "no rows") }
            switch width {
            case 5:
                guard shots == 0 else { throw .invalidArgument("k-shot prompts are for MMLU-style files; \(path) is Winogrande") }
                return ("winogrande", try winogrande(rows, path: path))
            case 6:
                var examples: [[String]] = []
                if shots > 0 {
                    guard let dev else { throw .invalidArgument("\(shots)-shot needs the examples' file (--dev, e.g. the subject's _dev.csv)") }
                    guard let devData = FileManager.default.contents(atPath: dev) else { throw .fileNotFound(path: dev) }
                    guard let devText = String(data: devData, encoding: .utf8) else { throw .cannotRead(path: dev, reason: "not UTF-8 text") }
                    examples = try mmluRows(try CSV.rows(devText, path: dev), path: dev)
                    guard examples.count >= shots else { throw .invalidArgument("\(dev) holds \(examples.count) examples; \(shots)-shot needs \(shots)") }
                    examples = Array(examples.prefix(shots))
                }
                return ("mmlu", mmlu(try mmluRows(rows, path: path), examples: examples, subject: subject(of: path)))
            default:
                throw .cannotRead(path: path, reason: "a CSV of \(width) columns: Winogrande has 5 (index,sentence,option1,option2,answer), MMLU 6 (question,A,B,C,D,answer)")
            }
        }
        guard shots == 0 else { throw .invalidArgument("k-shot prompts are for MMLU-style CSV files") }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
        if text.drop(while: \.isWhitespace).first == "{" {
            var tasks: [ChoiceTask] = []
            for (n, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                let json: JSONValue
                do throws(JSONValue.ParseError) { json = try JSONValue.parse(line) } catch {
                    throw .invalidJSON(path: path, reason: "line \(n + 1): \(error)")
                }
                guard let context = json["context"]?.string, let choices = json["choices"]?.array?.compactMap({ $0.string }),
                      choices.count >= 2, choices.count == json["choices"]?.array?.count,
                      let gold = json["gold"]?.int, choices.indices.contains(gold) else {
                    throw .invalidJSON(path: path, reason: "line \(n + 1): expected {\"context\": string, \"choices\": [2 or more strings], \"gold\": index}")
                }
                tasks.append(ChoiceTask(context: context, choices: choices, gold: gold))
            }
            return ("jsonl", tasks)
        }
        let content = lines.last == "" ? Array(lines.dropLast()) : lines
        guard content.count % 6 == 0, !content.isEmpty else {
            throw .cannotRead(path: path, reason: "HellaSwag format has 6 lines per task; the file has \(content.count)")
        }
        var tasks: [ChoiceTask] = []
        for i in stride(from: 0, to: content.count, by: 6) {
            guard let gold = Int(content[i + 1].trimmingCharacters(in: .whitespaces)), (0..<4).contains(gold) else {
                throw .cannotRead(path: path, reason: "line \(i + 2): the gold ending's index must be 0 to 3")
            }
            tasks.append(ChoiceTask(context: content[i], choices: Array(content[(i + 2)..<(i + 6)]), gold: gold))
        }
        return ("hellaswag", tasks)
    }

    /// Winogrande rows: the blank `_` splits each sentence into the context the options fill and the
    /// continuation all share (lm-evaluation-harness: the part after the blank, stripped, after a space).
    static func winogrande(_ rows: [[String]], path: String) throws(BoraError) -> [ChoiceTask] {
        var tasks: [ChoiceTask] = []
        for (n, row) in rows.enumerated() {
            if n == 0 && row.map({ $0.lowercased() }) == ["index", "sentence", "option1", "option2", "answer"] { continue }
            guard row.count == 5 else { throw .cannotRead(path: path, reason: "row \(n + 1) has \(row.count) fields, not 5") }
            guard let blank = row[1].firstIndex(of: "_") else { throw .cannotRead(path: path, reason: "row \(n + 1): the sentence has no _ blank") }
            guard let answer = Int(row[4].trimmingCharacters(in: .whitespaces)), answer == 1 || answer == 2 else {
                throw .cannotRead(path: path, reason: "row \(n + 1): the answer must be 1 or 2, got \"\(row[4])\"")
            }
            let after = row[1][row[1].index(after: blank)...].trimmingCharacters(in: .whitespaces)
            tasks.append(ChoiceTask(context: String(row[1][..<blank]), choices: [row[2], row[3]], gold: answer - 1, continuation: " " + after))
        }
        return tasks
    }

    /// MMLU rows, checked: six fields, the answer a letter A–D (a header row skipped).
    static func mmluRows(_ rows: [[String]], path: String) throws(BoraError) -> [[String]] {
        var out: [[String]] = []
        for (n, row) in rows.enumerated() {
            if n == 0 && row.map({ $0.lowercased() }) == ["question", "a", "b", "c", "d", "answer"] { continue }
            guard row.count == 6 else { throw .cannotRead(path: path, reason: "row \(n + 1) has \(row.count) fields, not 6") }
            guard ["A", "B", "C", "D"].contains(row[5].trimmingCharacters(in: .whitespaces)) else {
                throw .cannotRead(path: path, reason: "row \(n + 1): the answer must be A, B, C or D, got \"\(row[5])\"")
            }
            out.append(row)
        }
        return out
    }

    /// lm-evaluation-harness's MMLU prompt: the description, each example answered, then the question
    /// with "Answer:"; the choices are the letters (scored as " A" … " D").
    static func mmlu(_ rows: [[String]], examples: [[String]], subject: String) -> [ChoiceTask] {
        func question(_ row: [String]) -> String {
            row[0].trimmingCharacters(in: .whitespacesAndNewlines) + "\nA. \(row[1])\nB. \(row[2])\nC. \(row[3])\nD. \(row[4])\nAnswer:"
        }
        let header = "The following are multiple choice questions (with answers) about \(subject).\n\n"
            + examples.map { question($0) + " " + $0[5].trimmingCharacters(in: .whitespaces) + "\n\n" }.joined()
        return rows.map { row in
            ChoiceTask(context: header + question(row), choices: ["A", "B", "C", "D"],
                       gold: ["A", "B", "C", "D"].firstIndex(of: row[5].trimmingCharacters(in: .whitespaces))!)
        }
    }

    /// The subject a file name gives (`high_school_physics_test.csv` → "high school physics").
    static func subject(of path: String) -> String {
        var name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        for suffix in ["_test", "_dev", "_val"] where name.hasSuffix(suffix) { name.removeLast(suffix.count) }
        return name.replacingOccurrences(of: "_", with: " ")
    }
}

/// RFC 4180 CSV: fields in double quotes may hold commas, newlines and "" for a quote.
enum CSV {
    static func rows(_ text: String, path: String) throws(BoraError) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = "", quoted = false, atStart = true
        var chars = Array(text.unicodeScalars)[...]
        if chars.first == "\u{FEFF}" { chars = chars.dropFirst() }
        var i = chars.startIndex
        func endField() { row.append(field); field = ""; atStart = true }
        func endRow() { endField(); if !(row.count == 1 && row[0].isEmpty) { rows.append(row) }; row = [] }
        while i < chars.endIndex {
            let c = chars[i]
            if quoted {
                if c == "\"" {
                    if chars.index(after: i) < chars.endIndex, chars[chars.index(after: i)] == "\"" {
                        field.unicodeScalars.append("\""); i = chars.index(after: i)
                    } else { quoted = false }
                } else { field.unicodeScalars.append(c) }
            } else if c == "\"" && atStart {
                quoted = true; atStart = false
            } else if c == "," {
                endField()
            } else if c == "\n" || c == "\r" {
                if c == "\r", chars.index(after: i) < chars.endIndex, chars[chars.index(after: i)] == "\n" { i = chars.index(after: i) }
                endRow()
            } else {
                field.unicodeScalars.append(c); atStart = false
            }
            i = chars.index(after: i)
        }
        guard !quoted else { throw .cannotRead(path: path, reason: "a quoted field is not closed at the end of the file") }
        if !field.isEmpty || !row.isEmpty { endRow() }
        return rows
    }
}

/// Accuracy by three rules, each with its standard error (of a mean of 0/1 outcomes, n − 1).
package struct ChoiceResult: Sendable {
    package var tasks = 0
    /// lm-evaluation-harness's `acc`: the largest sum of the continuation's log-probabilities.
    package var correct = 0
    /// `acc_norm`: that sum over the choice's length in characters.
    package var correctNorm = 0
    /// llama.cpp's HellaSwag score: the mean log-probability of the tokens after the prefix all choices share.
    package var correctPerToken = 0
    /// Each task's scores, in task order.
    package var scores: [[MultipleChoice.Score]] = []

    package static func fraction(_ k: Int, of n: Int) -> (value: Double, error: Double) {
        guard n > 0 else { return (.nan, .nan) }
        let p = Double(k) / Double(n)
        return (p, n > 1 ? (p * (1 - p) / Double(n - 1)).squareRoot() : .nan)
    }

    package var acc: (value: Double, error: Double) { Self.fraction(correct, of: tasks) }
    package var accNorm: (value: Double, error: Double) { Self.fraction(correctNorm, of: tasks) }
    package var accPerToken: (value: Double, error: Double) { Self.fraction(correctPerToken, of: tasks) }
}

/// Log-likelihood scoring of multiple-choice tasks. Each choice is tokenized as
/// lm-evaluation-harness does (encode context + " " + choice; its continuation is what follows the
/// context's own token count); the prefix all choices share is evaluated once per task and the
/// choices of several tasks run together in the batched forward pass (`ChoiceScorer`).
package enum MultipleChoice {
    /// One choice's log-probabilities: `sum` over the harness's continuation tokens, `mean` over
    /// the tokens after the common prefix (llama.cpp's per-token figure).
    package struct Score: Sendable, Equatable {
        package var sum: Double
        package var mean: Double
    }

    package static func score(model: LanguageModel, tokenizer: Tokenizer, tasks: [ChoiceTask], threads: Int?,
                              kernels: KernelChoice = .fast, kvCacheType: KVCacheType = .f16,
                              shouldStop: () -> Bool = { false },
                              progress: (ChoiceResult) -> Void = { _ in }) throws(BoraError) -> ChoiceResult {
        let requests = tasks.map { task in
            let pairs = task.pairs
            return ChoiceScorer.Request(choices: pairs.map { tokenizer.encode($0.context + $0.continuation) },
                                        contextLengths: pairs.map { tokenizer.encode($0.context).count },
                                        meanFromCommonPrefix: task.continuation == nil)
        }
        for (i, request) in requests.enumerated() {
            do throws(BoraError) { try request.check() } catch {
                if case .invalidArgument(let reason) = error { throw .invalidArgument("task \(i + 1): \(reason)") }
                throw error
            }
        }
        let longest = requests.lazy.flatMap { $0.choices.map(\.count) }.max() ?? 2
        let scorer = try ChoiceScorer(model: model, longest: max(longest, 2), threads: threads, kernels: kernels, kvCacheType: kvCacheType)
        var result = ChoiceResult()
        var next = 0
        while next < tasks.count, !shouldStop() {
            // A batch: tasks while their choices fit the scorer and their tokens fill a few steps.
            var end = next, sequences = 0, rows = 0
            while end < tasks.count, sequences + requests[end].choices.count <= scorer.maximumSequences,
                  end == next || rows + requests[end].evaluatedTokens <= 2 * scorer.stepTokens {
                sequences += requests[end].choices.count
                rows += requests[end].evaluatedTokens
                end += 1
            }
            guard end > next else {
                throw .invalidArgument("task \(next + 1) has \(requests[next].choices.count) choices; at most \(scorer.maximumSequences) are scored")
            }
            let batch = try scorer.score(Array(requests[next..<end]))
            for (task, scores) in zip(tasks[next..<end], batch) {
                func best(_ value: (Int) -> Double) -> Int {
                    var b = 0
                    for i in 1..<scores.count where value(i) > value(b) { b = i }
                    return b
                }
                result.tasks += 1
                result.scores.append(scores)
                if best({ scores[$0].sum }) == task.gold { result.correct += 1 }
                // lm-evaluation-harness normalizes by the choice's characters (Winogrande's choices share
                // one continuation, so there it is the continuation's and changes nothing).
                let characters = { (i: Int) in Double(max(task.continuation?.count ?? task.choices[i].count, 1)) }
                if best({ scores[$0].sum / characters($0) }) == task.gold { result.correctNorm += 1 }
                if best({ scores[$0].mean }) == task.gold { result.correctPerToken += 1 }
            }
            progress(result)
            next = end
        }
        return result
    }
}
