import Foundation
import Testing
@testable import Bora

/// The real `bora` binary, driven as a user would.
@Suite(.serialized) struct CLITests {
    var available: Bool { Fixtures.defaultModel != nil || Fixtures.requireDefaultModel }

    @Test func seededRunRepeats() throws {
        guard available else { return }
        let args = ["run", "--raw", "-p", "Once upon a time", "-n", "16", "--seed", "1234", "--temp", "0.9"]
        let a = try runBora(args), b = try runBora(args)
        #expect(a.status == 0 && b.status == 0, "\(a.stderr)")
        #expect(a.stdout == b.stdout && a.stdout.count > "Once upon a time".count + 5)
        let c = try runBora(["run", "--raw", "-p", "Once upon a time", "-n", "16", "--seed", "99", "--temp", "0.9"])
        #expect(c.stdout != a.stdout)
    }

    @Test func runJSONAndChatWrapping() throws {
        guard available else { return }
        let r = try runBora(["run", "-p", "What is the capital of France?", "--chat", "--system", "Answer in one word.",
                             "--temp", "0", "-n", "20", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONValue.parse(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(json["text"]?.string?.contains("Paris") == true)
        #expect(json["stop_reason"]?.string == "eos" && (json["tokens"]?.array?.count ?? 0) > 0)
        #expect((json["prompt_tokens"]?.int ?? 0) > 10)
    }

    /// `bora batch`: the OpenAI Batch format in and out; a malformed line, an unknown url, a bad
    /// field and an over-long prompt each get their error record, the rest are answered (the greedy
    /// chat answer as `bora run` gives it).
    @Test func batchAnswersWhatItCanAndReportsTheRest() throws {
        guard available else { return }
        let long = String(repeating: "word ", count: 80)
        let lines = [
            #"{"custom_id": "chat", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": [{"role": "user", "content": "What is the capital of France?"}], "max_tokens": 12, "temperature": 0}}"#,
            #"{"custom_id": "text", "method": "POST", "url": "/v1/completions", "body": {"prompt": "The capital of France is", "max_tokens": 6, "temperature": 0, "logprobs": 2}}"#,
            "this is not json",
            #"{"custom_id": "embed", "method": "POST", "url": "/v1/embeddings", "body": {"input": "x"}}"#,
            #"{"custom_id": "hot", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}}"#,
            #"{"custom_id": "long", "method": "POST", "url": "/v1/completions", "body": {"prompt": "\#(long)", "max_tokens": 4}}"#,
            #"{"custom_id": "chat", "method": "POST", "url": "/v1/completions", "body": {"prompt": "again"}}"#,
        ]
        let input = Fixtures.temporaryFile("batch-in.jsonl"), output = Fixtures.temporaryFile("batch-out.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let r = try runBora(["batch", "-i", input, "-o", output, "--parallel", "3", "--max-context", "64"])
        #expect(r.status == 0, "\(r.stderr)")
        let records = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(String($0)) }
        try #require(records.count == lines.count)
        #expect(records.map { $0["custom_id"]?.string } == ["chat", "text", nil, "embed", "hot", "long", "chat"])
        for record in records { #expect(record["id"]?.string?.hasPrefix("batch_req_") == true) }

        let chat = try #require(records[0]["response"]?["body"])
        #expect(records[0]["response"]?["status_code"]?.int == 200 && records[0]["error"] == .null)
        #expect(chat["object"]?.string == "chat.completion" && chat["choices"]?.array?.first?["message"]?["role"]?.string == "assistant")
        let alone = try runBora(["run", "-p", "What is the capital of France?", "--chat", "--temp", "0", "-n", "12", "--json"])
        let aloneText = try JSONValue.parse(alone.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["text"]?.string
        #expect(chat["choices"]?.array?.first?["message"]?["content"]?.string == aloneText)
        #expect(chat["usage"]?["completion_tokens"]?.int ?? 0 > 0)

        let text = try #require(records[1]["response"]?["body"])
        #expect(text["object"]?.string == "text_completion" && text["choices"]?.array?.first?["text"]?.string?.hasPrefix(" Paris") == true)
        #expect(text["choices"]?.array?.first?["logprobs"]?["top_logprobs"]?.array?.first?.members?.count == 2)
        #expect(text["usage"]?["completion_tokens"]?.int == 6 && text["choices"]?.array?.first?["finish_reason"]?.string == "length")

        #expect(records[2]["error"]?["code"]?.string == "invalid_json" && records[2]["response"] == .null)
        #expect(records[3]["error"]?["code"]?.string == "invalid_url")
        #expect(records[4]["response"]?["status_code"]?.int == 400 && records[4]["response"]?["body"]?["error"]?["param"]?.string == "temperature")
        let overflow = records[5]["response"]?["body"]?["error"]
        #expect(records[5]["response"]?["status_code"]?.int == 400 && overflow?["code"]?.string == "exceed_context_size_error")
        #expect(overflow?["message"]?.string?.contains("context holds 64") == true)
        #expect(records[6]["error"]?["code"]?.string == "duplicate_custom_id")
    }

    /// `bora perplexity --kl-divergence-base` then `--kl-divergence` (no text: the base holds its
    /// tokens): a model against its own base is 0 with the base's perplexity; a text that is not the
    /// base's is refused.
    @Test func klDivergenceThroughTheCLI() throws {
        guard available else { return }
        let text = Fixtures.root + "/text/gpl-3.txt", base = Fixtures.temporaryFile("smollm2.kld")
        let saved = try runBora(["perplexity", "-f", text, "-c", "128", "--chunks", "2", "--kl-divergence-base", base, "--json"])
        #expect(saved.status == 0, "\(saved.stderr)")
        let made = try JSONValue.parse(saved.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(made["positions"]?.int == 2 * 63 && made["top"]?.int == 128)
        let scored = try runBora(["perplexity", "--kl-divergence", base, "--json"])
        #expect(scored.status == 0, "\(scored.stderr)")
        let json = try JSONValue.parse(scored.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(json["kld"]?.double == 0 && json["positions"]?.int == 126 && json["same_top"]?.array?.first?.double == 1)
        let ppl = try #require(json["ppl_base"]?.array?.first?.double), expected = try #require(made["ppl"]?.double)
        #expect(abs(ppl / expected - 1) < 1e-6)
        let other = Fixtures.temporaryFile("other.txt")
        try String(repeating: "Something else entirely. ", count: 200).write(toFile: other, atomically: true, encoding: .utf8)
        let refused = try runBora(["perplexity", "--kl-divergence", base, "-f", other])
        #expect(refused.status != 0 && refused.stderr.contains("does not tokenize to the tokens of"), "\(refused.stderr)")
    }

    /// `bora compare`: each model measured in a process of its own (the default model twice here),
    /// the same figures `bora perplexity` gives, speed, memory, KV rows, the HTML report; a file that
    /// is no model fails its column (exit 1) and the rest is still reported.
    @Test func compareMeasuresEachModel() throws {
        guard available else { return }
        let model = try #require(Fixtures.defaultModel)
        let text = Fixtures.root + "/text/gpl-3.txt", tasks = Fixtures.root + "/tasks/everyday.hellaswag.txt"
        let html = Fixtures.temporaryFile("compare.html")
        let r = try runBora(["compare", model, model, "--perplexity", text, "-c", "128", "--chunks", "2", "--task", tasks,
                             "--limit", "3", "-p", "16", "-n", "4", "-r", "1", "--json", "--report", html])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONValue.parse(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let entries = try #require(json["entries"]?.array)
        #expect(entries.count == 2)
        let alone = try runBora(["perplexity", "-f", text, "-c", "128", "--chunks", "2", "--json"])
        let ppl = try #require(JSONValue.parse(alone.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["ppl"]?.double)
        for e in entries {
            #expect(e["perplexity"]?["ppl"]?.double == ppl && e["perplexity"]?["chunks"]?.int == 2)
            #expect(e["tasks"]?.array?.first?["tasks"]?.int == 3 && e["tasks"]?.array?.first?["format"]?.string == "hellaswag")
            #expect(e["speed"]?["tests"]?.array?.map { $0["name"]?.string ?? "" } == ["pp16", "tg4"])
            #expect((e["speed"]?["memory_bytes_per_second"]?.double ?? 0) > 1e8)
            let file = try #require(e["model"]?["file_bytes"]?.int)
            #expect((e["peak_resident_bytes"]?.int ?? 0) > file / 2 && e["model"]?["quantization"]?.string == "Q4_1")
            #expect(e["kv_cache"]?.array?.map { $0["tokens"]?.int ?? 0 } == [4096, 32768])
        }
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("<svg") && page.contains("SmolLM2-135M-Instruct.Q4_1.gguf"))

        let broken = try runBora(["compare", model, text, "-p", "8", "-n", "2", "-r", "1"])
        #expect(broken.status == 1 && broken.stderr.contains("measuring \(text) failed"), "\(broken.stderr)")
        #expect(broken.stdout.contains("SmolLM2-135M-Instruct.Q4_1.gguf") && broken.stdout.contains("decode tg2"))
        // MMLU's own layout: the k-shot examples found in ../dev/ beside test/.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bora-mmlu-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/test", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/dev", withIntermediateDirectories: true)
        try "What is 2 + 2?,3,4,5,6,B\nWhat is 3 + 3?,6,7,8,9,A\n".write(toFile: root + "/test/arithmetic_test.csv", atomically: true, encoding: .utf8)
        try "What is 1 + 1?,1,2,3,4,B\n".write(toFile: root + "/dev/arithmetic_dev.csv", atomically: true, encoding: .utf8)
        let mmlu = try runBora(["compare", model, "--task", root + "/test/arithmetic_test.csv", "--shots", "1", "-p", "0", "-n", "0", "--json"])
        #expect(mmlu.status == 0, "\(mmlu.stderr)")
        let task = try JSONValue.parse(mmlu.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["entries"]?.array?.first?["tasks"]?.array?.first
        #expect(task?["format"]?.string == "mmlu" && task?["shots"]?.int == 1 && task?["tasks"]?.int == 2)
        let noDev = try runBora(["compare", model, "--task", root + "/test/arithmetic_test.csv", "--shots", "2", "-p", "0", "-n", "0"])
        #expect(noDev.status == 1 && noDev.stderr.contains("holds 1 examples; 2-shot needs 2"), "\(noDev.stderr)")
        let missing = try runBora(["compare", model, "/nonexistent.gguf"])
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent.gguf"))
    }

    @Test func badInputGivesClearErrors() throws {
        guard available else { return }
        let temp = try runBora(["run", "-p", "hi", "--temp=-1"])
        #expect(temp.status != 0 && temp.stderr.contains("temperature must be 0 or more"))
        let long = try runBora(["run", "--raw", "-p", "one two three four five six seven", "--max-context", "4"])
        #expect(long.status != 0 && long.stderr.contains("needs 7 positions but the context holds 4"), "stderr: \(long.stderr)")
        let missing = try runBora(["run", "/nonexistent.gguf", "-p", "hi"])
        #expect(missing.status != 0 && missing.stderr.contains("no such file or folder: /nonexistent.gguf"))
        let both = try runBora(["run", "-p", "hi", "--chat", "--raw"])
        #expect(both.status != 0 && both.stderr.contains("--chat and --raw exclude each other"))
        let rawSystem = try runBora(["run", "-p", "hi", "--raw", "--system", "Be brief."])
        #expect(rawSystem.status != 0 && rawSystem.stderr.contains("--system needs chat mode"))
        let template = try runBora(["run", "-p", "hi", "--chat", "--chat-template", "vicuna"])
        #expect(template.status != 0 && template.stderr.contains("unknown chat template 'vicuna'"))
        let draftMax = try runBora(["run", "-p", "hi", "--draft-max", "4"])
        #expect(draftMax.status != 0 && draftMax.stderr.contains("--draft-max needs --lookup or --draft"))
        let tooLong = try runBora(["run", "-p", "hi", "--lookup", "--draft-max", "40"])
        #expect(tooLong.status != 0 && tooLong.stderr.contains("the draft length must be between 1 and 16, got 40"), "\(tooLong.stderr)")
        let ngram = try runBora(["run", "-p", "hi", "--lookup", "--lookup-ngram", "3"])
        #expect(ngram.status != 0 && ngram.stderr.contains("--lookup-ngram must be MIN:MAX"))
        let otherVocabulary = try runBora(["run", "-p", "hi", "--draft", Fixtures.model("tiny-llama-hf")])
        #expect(otherVocabulary.status != 0 && otherVocabulary.stderr.contains("a draft must share the tokenizer"), "\(otherVocabulary.stderr)")
    }

    /// `bora bench --json`: llama-bench's tests, and beside each generation sample the memory probe's
    /// reading (the mean of the reads just before and after it), from which the decode share comes.
    @Test func benchReportsTheProbeBesideEachDecodeSample() throws {
        guard available else { return }
        let r = try runBora(["bench", "-p", "16", "-n", "4", "-r", "2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONValue.parse(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let tests = try #require(json["tests"]?.array)
        #expect(tests.map { $0["name"]?.string } == ["pp16", "tg4"])
        #expect(tests[0]["memory_samples"] == nil)
        let samples = (tests[1]["samples"]?.array ?? []).compactMap { $0.double }
        let memory = (tests[1]["memory_samples"]?.array ?? []).compactMap { $0.double }
        #expect(samples.count == 2 && memory.count == 2 && memory.allSatisfy { $0 > 1e8 })
        let bytes = try #require(json["weight_bytes_per_token"]?.double)
        let share = try #require(json["decode_probe_share"]?.double)
        let expected = zip(samples, memory).map { $0 * bytes / $1 }.reduce(0, +) / 2
        #expect(abs(share - expected) <= 1e-9 * expected && share > 0)
        #expect((json["memory_bytes_per_second"]?.double ?? 0) > 1e8 && json["decode_bytes_per_second"]?.double != nil)

        let unprobed = try runBora(["bench", "-p", "0", "-n", "4", "-r", "1", "--json", "--no-memory-probe"])
        #expect(unprobed.status == 0, "\(unprobed.stderr)")
        let plain = try JSONValue.parse(unprobed.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(plain["tests"]?.array?.first?["memory_samples"] == nil && plain["decode_probe_share"] == nil)
        #expect(plain["memory_bytes_per_second"] == nil && plain["decode_bytes_per_second"]?.double != nil)

        let noReps = try runBora(["bench", "-p", "16", "-n", "0", "-r", "0"])
        #expect(noReps.status != 0 && noReps.stderr.contains("-r must be from 1 to 1000"), "\(noReps.stderr)")
    }

    /// `bora bench --verify`: speculative verification steps of each size, one sample per repetition
    /// and size, at each depth, after the prompt and generation tests.
    @Test func benchMeasuresVerificationSteps() throws {
        guard available else { return }
        let r = try runBora(["bench", "-p", "8", "-n", "0", "--verify", "1,3,0", "-d", "0,5", "-r", "3", "--json", "--no-memory-probe"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONValue.parse(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let tests = try #require(json["tests"]?.array)
        #expect(tests.map { $0["name"]?.string } == ["pp8", "v1", "v3", "pp8 @ d5", "v1 @ d5", "v3 @ d5"])
        for test in tests {
            let samples = (test["samples"]?.array ?? []).compactMap { $0.double }
            #expect(samples.count == 3 && samples.allSatisfy { $0 > 0 }, "\(test)")
        }
        #expect(tests[2]["n_prompt"]?.int == 3 && tests[5]["n_depth"]?.int == 5)
        let bad = try runBora(["bench", "--verify", "2,x"])
        #expect(bad.status != 0 && bad.stderr.contains("--verify takes comma-separated counts"), "\(bad.stderr)")
    }

    /// `--lookup`: the greedy answer of plain decoding, with the drafts counted in `--json`.
    @Test func lookupThroughTheCLI() throws {
        guard available else { return }
        let prompt = "Repeat exactly: the quick brown fox jumps over the lazy dog, the quick brown fox jumps over the lazy dog."
        let plain = try runBora(["run", "-p", prompt, "--temp", "0", "-n", "40", "--json"])
        let fast = try runBora(["run", "-p", prompt, "--temp", "0", "-n", "40", "--json", "--lookup"])
        #expect(plain.status == 0 && fast.status == 0, "\(fast.stderr)")
        let a = try JSONValue.parse(plain.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let b = try JSONValue.parse(fast.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(a["tokens"] == b["tokens"] && a["drafted_tokens"]?.int == 0)
        #expect((b["accepted_draft_tokens"]?.int ?? 0) > 0 && (b["tokens_per_weight_pass"]?.double ?? 0) > 1)
    }

    /// Two turns through a pipe: the second answer reuses the cached first turn.
    @Test func chatThroughAPipe() throws {
        guard available else { return }
        // (SmolLM2-135M rambles with its default system prompt, under llama.cpp too. With this one every
        // greedy step of both answers has a top-2 margin of at least 1.3 logits, measured, so 8-bit
        // activation noise cannot flip them; "You are a helpful assistant." has margins of 0.06.)
        let r = try runBora(["chat", "--temp", "0", "-n", "40", "--system", "Answer in one sentence."],
                            stdin: "What is the capital of France?\nAnd of Germany?\n/exit\n")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Paris") && r.stdout.contains("Berlin"), "\(r.stdout)")
        let stats = r.stderr.split(separator: "\n").filter { $0.hasPrefix("[prompt") }
        #expect(stats.count == 2)
        // "[prompt N tokens (R reused), ...": the second turn reuses the first.
        let reused = stats.map { line -> Int in
            let inside = line.split(separator: "(")[1]
            return Int(inside.split(separator: " ")[0]) ?? -1
        }
        #expect(reused[0] == 0 && reused[1] > 20, "\(stats)")
    }

    @Test func chatCommandsReset() throws {
        guard available else { return }
        let r = try runBora(["chat", "--temp", "0", "-n", "10"], stdin: "Hi\n/reset\n/system Be brief.\n/nonsense\nHi\n")
        #expect(r.status == 0)
        #expect(r.stderr.contains("(conversation cleared)") && r.stderr.contains("(system prompt set, conversation cleared)"))
        #expect(r.stderr.contains("unknown command /nonsense"))
        let reused = r.stderr.split(separator: "\n").filter { $0.hasPrefix("[prompt") }
        #expect(reused.count == 2)
    }
}
