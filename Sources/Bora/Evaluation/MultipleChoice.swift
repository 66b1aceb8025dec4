import Foundation

/// One multiple-choice task: a context, its possible continuations and the right one.
package struct ChoiceTask: Sendable, Equatable {
    package var context: String
    package var choices: [String]
    package var gold: Int

    package init(context: String, choices: [String], gold: Int) {
        (self.context, self.choices, self.gold) = (context, choices, gold)
    }

    /// Reads a task file: JSONL (`{"context", "choices", "gold"}` per line) or llama.cpp's
    /// HellaSwag text format (6 lines per task: context, gold index, 4 endings). Returns the format's name.
    package static func read(path: String) throws(BoraError) -> (format: String, tasks: [ChoiceTask]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw .fileNotFound(path: path) }
        guard let text = String(data: data, encoding: .utf8) else { throw .cannotRead(path: path, reason: "not UTF-8 text") }
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
/// context's own token count); the prefix all choices share is evaluated once per task and each
/// choice continues from it (the cache is cut back between choices).
package enum MultipleChoice {
    /// One choice's log-probabilities: `sum` over the harness's continuation tokens, `mean` over
    /// the tokens after the common prefix (llama.cpp's per-token figure).
    package struct Score: Sendable, Equatable {
        package var sum: Double
        package var mean: Double
    }

    package static func score(model: LanguageModel, tokenizer: Tokenizer, tasks: [ChoiceTask], threads: Int?,
                              kernels: KernelChoice = .fast, shouldStop: () -> Bool = { false },
                              progress: (ChoiceResult) -> Void = { _ in }) throws(BoraError) -> ChoiceResult {
        var result = ChoiceResult()
        var context: InferenceContext?
        for task in tasks {
            if shouldStop() { break }
            let contextTokens = tokenizer.encode(task.context)
            let wholes = task.choices.map { tokenizer.encode(task.context + " " + $0) }
            let longest = wholes.map(\.count).max() ?? 0
            if context == nil || (context!.positionLimit ?? .max) < longest {
                context = try InferenceContext(model: model, options: ContextOptions(maxContext: max(longest, 512), threads: threads, kernels: kernels))
            }
            let scores = try scoreTokens(context: context!, contextLength: contextTokens.count, choices: wholes)
            func best(_ value: (Int) -> Double) -> Int {
                var b = 0
                for i in 1..<scores.count where value(i) > value(b) { b = i }
                return b
            }
            result.tasks += 1
            result.scores.append(scores)
            if best({ scores[$0].sum }) == task.gold { result.correct += 1 }
            if best({ scores[$0].sum / Double(max(task.choices[$0].count, 1)) }) == task.gold { result.correctNorm += 1 }
            if best({ scores[$0].mean }) == task.gold { result.correctPerToken += 1 }
            progress(result)
        }
        return result
    }

    /// The scores of token sequences that share a context of `contextLength` tokens.
    package static func scoreTokens(context evaluation: InferenceContext, contextLength: Int, choices: [[Int]]) throws(BoraError) -> [Score] {
        guard choices.count >= 2, choices.allSatisfy({ $0.count > contextLength }) else {
            throw .invalidArgument("each choice must add tokens to the context")
        }
        var common = choices[0].count
        for c in choices.dropFirst() { common = min(common, zip(choices[0], c).prefix { $0 == $1 }.count) }
        common = min(common, choices.map(\.count).min()! - 1)
        // Predictions from position `from` on cover both the harness's continuation and llama.cpp's.
        let from = min(common, contextLength)
        guard from >= 1 else { throw .invalidArgument("the context has no token to predict the choices from (no BOS and an empty context)") }
        evaluation.reset()
        var firstRow: [Float] = []
        try evaluation.evaluate(Array(choices[0][0..<from]), logitsFrom: from - 1) { _, logits in firstRow = Array(logits) }
        var scores: [Score] = []
        for tokens in choices {
            // logprob[t] = ln p(tokens[t] | tokens[..<t]) for t in from..<count.
            var logprob = [Double](repeating: 0, count: tokens.count)
            firstRow.withUnsafeBufferPointer { logprob[from] = Perplexity.logSoftmax($0, at: tokens[from]) }
            try evaluation.truncate(to: from)
            try evaluation.evaluate(Array(tokens[from...]), logitsFrom: 0) { index, logits in
                let t = from + index + 1
                if t < tokens.count { logprob[t] = Perplexity.logSoftmax(logits, at: tokens[t]) }
            }
            let sum = logprob[max(contextLength, from)...].reduce(0, +)
            let tail = logprob[common...]
            scores.append(Score(sum: sum, mean: tail.reduce(0, +) / Double(tail.count)))
        }
        return scores
    }
}
