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
