import Foundation
import Testing
@testable import Bora

/// GBNF grammars: llama.cpp's own grammar test cases and example grammars
/// (Tools/make_grammar_references.py), parse errors with their positions, and UTF-8 bytes.
@Suite struct GrammarTests {
    static let folder = Fixtures.root + "/grammars"

    /// Whether the grammar takes the whole string and may end after it.
    static func matches(_ grammar: Grammar, _ text: String) -> Bool {
        var matcher = GrammarMatcher(grammar)
        return matcher.accept(text) && matcher.canEnd
    }

    /// Every case of llama.cpp's tests/test-grammar-integration.cpp that is plain GBNF: the strings
    /// it must accept are accepted whole, the ones it must refuse are not.
    @Test func llamaCppGrammarCases() throws {
        let cases = try #require(Fixtures.json(Self.folder + "/llama-grammar-integration.json")["cases"]?.array)
        #expect(cases.count >= 12)
        for c in cases {
            let name = c["description"]?.string ?? "?"
            let grammar = try Grammar(parsing: try #require(c["grammar"]?.string))
            for s in try #require(c["passing"]?.array).map({ $0.string! }) {
                #expect(Self.matches(grammar, s), "\(name): should accept \(s.debugDescription)")
            }
            for s in try #require(c["failing"]?.array).map({ $0.string! }) {
                #expect(!Self.matches(grammar, s), "\(name): should refuse \(s.debugDescription)")
            }
        }
    }

    /// llama.cpp's example grammars parse; its JSON grammar takes JSON and refuses what is not.
    @Test func exampleGrammars() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.folder).filter { $0.hasSuffix(".gbnf") }.sorted()
        #expect(files.count == 8)
        for file in files {
            let text = try String(contentsOfFile: Self.folder + "/" + file, encoding: .utf8)
            #expect(throws: Never.self, "\(file)") { _ = try Grammar(parsing: text) }
        }
        let json = try Grammar(parsing: String(contentsOfFile: Self.folder + "/json.gbnf", encoding: .utf8))
        for good in [#"{}"#, #"{"a": 1}"#, #"{"list": [1, -2.5e3, true, null, "x\ny", {"deep": []}]}"#, "{\"unicode\": \"héllo ✓ \\u00e9\"}"] {
            #expect(Self.matches(json, good), "should accept \(good)")
        }
        for bad in [#"{"a" 1}"#, #"{"a": 01}"#, #"[1, 2]"#, #"{"a": tru}"#, #"{"a": 1"#] {
            #expect(!Self.matches(json, bad), "should refuse \(bad)")
        }
        let arithmetic = try Grammar(parsing: String(contentsOfFile: Self.folder + "/arithmetic.gbnf", encoding: .utf8))
        #expect(Self.matches(arithmetic, "(1+2)*3=x9\n") && !Self.matches(arithmetic, "(1+2)*3=9"))
    }

    /// A grammar that does not parse is refused with the line and column of the fault.
    @Test func parseErrorsNameThePlace() {
        func fails(_ text: String, _ expected: BoraError) {
            #expect(throws: expected, "\(text.debugDescription)") { try Grammar(parsing: text) }
        }
        fails("root ::= \"a\" | (b", .invalidGrammar(line: 1, column: 16, reason: "the group opened here is not closed"))
        fails("root ::= item\n", .invalidGrammar(line: 1, column: 10, reason: "the rule \"item\" is used but never defined"))
        fails("item ::= \"x\"\n", .invalidGrammar(line: 0, column: 0, reason: "the grammar has no \"root\" rule to start from"))
        fails("root ::= a\na ::= a \"x\" | \"y\"\n", .invalidGrammar(line: 2, column: 1, reason: "the rule \"a\" is left-recursive (it can start with itself)"))
        fails("root ::= \"a\\q\"", .invalidGrammar(line: 1, column: 12, reason: "unknown escape \\q"))
        fails("root ::= \"a\"\nroot ::= \"b\"", .invalidGrammar(line: 2, column: 1, reason: "the rule \"root\" is defined twice"))
        fails("root ::= [a-", .invalidGrammar(line: 1, column: 10, reason: "the character class opened here is not closed"))
        fails("root ::= \"a\"{3,1}", .invalidGrammar(line: 1, column: 13, reason: "the repetition {3,1} has its maximum below its minimum"))
        fails("root ::= * \"a\"", .invalidGrammar(line: 1, column: 10, reason: "\"*\" repeats nothing"))
        fails("root = \"a\"", .invalidGrammar(line: 1, column: 6, reason: "expected ::= after the rule name \"root\""))
        // Untrusted grammars are bounded: deep nesting and huge expansions are refused, not run.
        fails("root ::= " + String(repeating: "(", count: 300) + "\"a\"" + String(repeating: ")", count: 300),
              .invalidGrammar(line: 1, column: 266, reason: "groups nested deeper than 256"))
        fails("root ::= \"" + String(repeating: "a", count: 200) + "\"{9999}",
              .invalidGrammar(line: 1, column: 212, reason: "the grammar expands to more than 1000000 elements"))
        // llama.cpp's test_failure_left_recursion, _missing_reference, _missing_root and _missing_root_symbol grammars.
        for text in ["root ::= \"a\" | root \"a\"", "root ::= asdf\nasdf ::= \"a\" | asdf \"a\"\n",
                     "root ::= asdf\nasdf ::= \"a\" | foo \"b\"\nfoo ::= \"c\" | asdf \"d\" | \"e\"",
                     "root ::= asdf\nasdf ::= \"a\" | foo \"b\"\nfoo ::= \"c\" | empty asdf \"d\" | \"e\"\nempty ::= \"blah\" | ",
                     "root ::= expr\nexpr ::= term (\"+\" term)*\nterm ::= numero\nnumber ::= [0-9]+",
                     "rot ::= expr\nexpr ::= term (\"+\" term)*\nterm ::= number\nnumber ::= [0-9]+"] {
            #expect(throws: BoraError.self, "\(text.debugDescription)") { try Grammar(parsing: text) }
        }
        #expect(throws: BoraError.invalidGrammar(line: 0, column: 0, reason: "the grammar has no \"nonexistent\" rule to start from")) {
            try Grammar(parsing: "root ::= \"foobar\"", root: "nonexistent")
        }
        #expect(throws: Never.self) { try Grammar(parsing: "start ::= \"foobar\"", root: "start") }
    }

    /// Bytes are decoded as UTF-8 as they come: a character split across tokens matches once whole;
    /// invalid UTF-8 is refused; escapes, negated classes and comments behave as in llama.cpp.
    @Test func bytesAndClasses() throws {
        let grammar = try Grammar(parsing: "# a comment\nroot ::= [é] [^a-z\\x41] \"\\u2713\" # trailing\n")
        var m = GrammarMatcher(grammar)
        let bytes = Array("éB✓".utf8)
        var taken = [m.accept(byte: bytes[0])]
        let endsMidCharacter = m.canEnd
        for b in bytes[1...] { taken.append(m.accept(byte: b)) }
        #expect(taken.allSatisfy { $0 } && !endsMidCharacter && m.canEnd)
        var n = GrammarMatcher(grammar)
        let invalid = [n.accept(byte: 0xFF), n.accept(byte: 0x80)]
        #expect(invalid == [false, false])
        #expect(!Self.matches(grammar, "éA✓") && !Self.matches(grammar, "éb✓") && Self.matches(grammar, "é1✓"))
        // 0xE0 starts only characters from U+0800 on: refused where the grammar wants ASCII.
        var ascii = GrammarMatcher(try Grammar(parsing: "root ::= \"t\""))
        let lead = ascii.accept(byte: 0xE0)
        #expect(!lead)
        var refused = GrammarMatcher(grammar)
        let x = refused.accept("x")
        #expect(!x && !refused.isDead)   // a refused character leaves the state as it was
    }
}

/// Grammars on tokens: the trie's allowed tokens against a brute-force walk of every token's bytes,
/// and constrained generation on SmolLM2 (single-sequence and batched).
@Suite struct ConstrainedGenerationTests {
    /// Every token the grammar can take from a state, by feeding each token's bytes on its own.
    static func bruteForce(_ tokenizer: Tokenizer, _ matcher: GrammarMatcher, skipLeadingSpace: Bool) -> [Int32] {
        (0..<tokenizer.vocabularySize).compactMap { id -> Int32? in
            guard var bytes = tokenizer.bytes(of: id), !bytes.isEmpty else { return nil }
            if skipLeadingSpace, bytes.first == 0x20 { bytes.removeFirst() }
            var m = matcher
            for b in bytes where !m.accept(byte: b) { return nil }
            return Int32(id)
        }
    }

    /// Mistral's SentencePiece vocabulary (32,000 tokens, byte fallback): the trie's allowed set
    /// equals the brute-force set from several states, with and without the answer's dropped space,
    /// including a state inside a multi-byte character.
    @Test func trieMasksEqualBruteForce() throws {
        let tokenizer = try Tokenizer.load(path: Fixtures.tokenizer("mistral-v1-tokenizer.gguf"))
        let grammar = try Grammar(parsing: #"root ::= "{" ( [a-z]+ | "é" [0-9]{2} | "日本" ) ( " " [a-z]* )? "}""#)
        let trie = tokenizer.tokenTrie
        for prefix in ["", "{", "{ab", "{é", "{é1", "{日", "{ab "] {
            var m = GrammarMatcher(grammar)
            let took = m.accept(prefix)
            #expect(took, "prefix \(prefix)")
            for skip in [false, true] {
                let fast = trie.allowed(from: m, skipLeadingSpace: skip), slow = Self.bruteForce(tokenizer, m, skipLeadingSpace: skip)
                #expect(fast == slow, "after \(prefix.debugDescription), skip \(skip): \(fast.count) against \(slow.count)")
                #expect(!slow.isEmpty)
            }
        }
        // Half of "日" (3 bytes): the trie from there equals brute force too.
        var half = GrammarMatcher(grammar)
        _ = half.accept("{")
        let bytes = Array("日".utf8)
        let taken = [half.accept(byte: bytes[0]), half.accept(byte: bytes[1])]
        #expect(taken == [true, true])
        #expect(trie.allowed(from: half) == Self.bruteForce(tokenizer, half, skipLeadingSpace: false))
        // A first byte no allowed character starts with is refused at once.
        var other = GrammarMatcher(grammar)
        _ = other.accept("{")
        let refused = other.accept(byte: Array("ж".utf8)[0])
        #expect(!refused)
    }

    /// Seeded sampling at temperature 1 under grammars: every answer is a sentence of its grammar
    /// (whole where it ended on EOS), JSON answers parse; the same seeds give the same answers
    /// through the batched engine.
    @Test func generationFollowsTheGrammar() async throws {
        guard let model = try DefaultModelTests.model() else { return }
        let tokenizer = try model.tokenizer()
        let small = GrammarConstraint(gbnf: #"root ::= "{\"n\": " [1-9] [0-9]{0,2} ", \"ok\": " ("true" | "false") "}""#)
        let prompt = tokenizer.encode("Write a short JSON object:")
        let generator = try Generator(model: model)
        var outcomes: [(String, StopReason)] = []
        for (grammar, seeds) in [(small, UInt64(1)...6), (GrammarConstraint.jsonObject, UInt64(1)...3)] {
            let parsed = try Grammar(parsing: grammar.text)
            for seed in seeds {
                var p = GenerationParameters()
                p.temperature = 1
                p.seed = seed
                p.maxTokens = 160
                p.grammar = grammar
                var text = ""
                let stats = try generator.generate(prompt: prompt, parameters: p, startOfText: true) { if case .text(let t) = $0 { text += t } }
                var m = GrammarMatcher(parsed)
                let follows = m.accept(text)
                #expect(follows, "seed \(seed): \(text.debugDescription) leaves the grammar")
                if stats.stopReason == .endOfSequence {
                    #expect(m.canEnd, "seed \(seed): \(text.debugDescription) ended early")
                    #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) != nil, "seed \(seed): \(text) does not parse")
                }
                outcomes.append((text, stats.stopReason))
            }
        }
        #expect(outcomes.prefix(6).allSatisfy { $0.1 == .endOfSequence })
        // The same requests through the engine, side by side.
        let engine = try Engine(model: model, options: EngineOptions(parallel: 3))
        defer { engine.shutdown() }
        for (i, seed) in (UInt64(1)...3).enumerated() {
            var p = GenerationParameters()
            p.temperature = 1
            p.seed = seed
            p.maxTokens = 160
            p.grammar = small
            let outcome = try await EngineTests.collect(engine.generate(tokens: prompt, parameters: p, startOfText: true))
            #expect(outcome.text == outcomes[i].0, "seed \(seed): the engine's answer differs")
        }
    }

    /// A grammar that does not parse is refused before anything runs, naming the place.
    @Test func badGrammarIsRefused() throws {
        var p = GenerationParameters()
        p.grammar = GrammarConstraint(gbnf: "root ::= [a-")
        #expect(throws: BoraError.invalidGrammar(line: 1, column: 10, reason: "the character class opened here is not closed")) { try p.validate() }
    }
}
