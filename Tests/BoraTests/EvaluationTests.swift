import Foundation
import Testing
@testable import Bora

/// Multiple-choice scoring: the per-choice log-likelihoods against the logits, the task formats,
/// and llama-perplexity's HellaSwag answers.
@Suite struct EvaluationTests {
    /// Prefix reuse changes nothing: each choice's sum and mean equal the log-softmax of the logits
    /// `evaluateAll` gives for the whole sequence, in Double.
    @Test func choiceScoresEqualTheLogits() throws {
        let model = try LanguageModel(path: Fixtures.model("tiny-llama-mixed.gguf"))
        var rng = KernelTests.RNG(state: 21)
        let context = [1] + (0..<9).map { _ in 3 + Int(rng.next() % 250) }
        let choices = (0..<3).map { n in context + (0..<(2 + n)).map { _ in 3 + Int(rng.next() % 250) } }
        let evaluation = try InferenceContext(model: model, options: ContextOptions(maxContext: 64))
        let scores = try MultipleChoice.scoreTokens(context: evaluation, contextLength: context.count, choices: choices)
        for (tokens, score) in zip(choices, scores) {
            let rows = try InferenceContext(model: model, options: ContextOptions(maxContext: 64)).evaluateAll(tokens)
            var lp: [Double] = []
            for t in context.count..<tokens.count {
                let row = rows[t - 1].map(Double.init), top = row.max()!
                lp.append(row[tokens[t]] - top - Foundation.log(row.map { Foundation.exp($0 - top) }.reduce(0, +)))
            }
            #expect(abs(score.sum - lp.reduce(0, +)) < 1e-4)
            #expect(abs(score.mean - lp.reduce(0, +) / Double(lp.count)) < 1e-4)
        }
    }

    @Test func readsBothFormats() throws {
        let (format, tasks) = try ChoiceTask.read(path: Fixtures.root + "/tasks/everyday.hellaswag.txt")
        #expect(format == "hellaswag" && tasks.count == 8 && tasks[1].gold == 1 && tasks[1].choices.count == 4)
        let jsonl = Fixtures.temporaryFile("tasks.jsonl")
        try #"{"context": "2 + 2 =", "choices": ["4", "5"], "gold": 0}"#.write(toFile: jsonl, atomically: true, encoding: .utf8)
        #expect(try ChoiceTask.read(path: jsonl).tasks == [ChoiceTask(context: "2 + 2 =", choices: ["4", "5"], gold: 0)])
        try #"{"context": "x", "choices": ["a"], "gold": 3}"#.write(toFile: jsonl, atomically: true, encoding: .utf8)
        #expect(throws: BoraError.self) { try ChoiceTask.read(path: jsonl) }
        let bad = Fixtures.temporaryFile("tasks.txt")
        try "context\n9\na\nb\nc\nd\n".write(toFile: bad, atomically: true, encoding: .utf8)
        #expect(throws: BoraError.self) { try ChoiceTask.read(path: bad) }
    }

    /// The HellaSwag file's answers are llama-perplexity's wherever the choice is not a near tie
    /// (our best and second-best per-token means more than 0.05 apart).
    @Test func hellaswagAnswersMatchLlamaPerplexity() throws {
        guard let model = try DefaultModelTests.model() else { return }
        let (_, tasks) = try ChoiceTask.read(path: Fixtures.root + "/tasks/everyday.hellaswag.txt")
        let reference = try Fixtures.json(Fixtures.root + "/tasks/everyday.llama-perplexity.json")
        let picked = try #require(reference["picked_gold"]?.array).map { $0.bool! }
        let result = try MultipleChoice.score(model: model, tokenizer: model.tokenizer(), tasks: tasks, threads: 2)
        var compared = 0
        for (i, scores) in result.scores.enumerated() {
            let means = scores.map(\.mean).sorted(by: >)
            guard means[0] - means[1] > 0.05 else { continue }
            let best = scores.indices.max { scores[$0].mean < scores[$1].mean }!
            #expect((best == tasks[i].gold) == picked[i], "task \(i + 1)")
            compared += 1
        }
        #expect(compared >= 6)
        #expect(result.tasks == 8 && result.accPerToken.value >= 0.5)
    }
}
