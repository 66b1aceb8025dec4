/// A grammar the generated text must follow: GBNF text (llama.cpp's syntax) and its start rule.
/// `GrammarConstraint.jsonObject` is OpenAI's `json_object` mode: one JSON object.
public struct GrammarConstraint: Sendable, Equatable {
    public var text: String
    public var root: String

    public init(gbnf text: String, root: String = "root") {
        self.text = text
        self.root = root
    }

    /// The grammar of the JSON values `schema` accepts (the subset of JSON Schema that
    /// `JSONSchemaGrammar` lists; any other keyword throws `invalidSchema` naming it).
    public init(jsonSchema schema: JSONValue) throws(BoraError) {
        let text = try JSONSchemaGrammar.gbnf(for: schema)
        do throws(BoraError) { _ = try Grammar(parsing: text) } catch {
            throw .invalidSchema(path: "#", reason: "the grammar it makes is refused (\(error.description))")
        }
        self.init(gbnf: text)
    }

    /// The grammar of the JSON values the JSON Schema `text` accepts.
    public init(jsonSchema text: String) throws(BoraError) {
        let schema: JSONValue
        do throws(JSONValue.ParseError) { schema = try JSONValue.parse(text) } catch {
            throw .invalidSchema(path: "#", reason: "the schema is not JSON: \(error.description)")
        }
        try self.init(jsonSchema: schema)
    }

    /// Parses the grammar, or throws `invalidGrammar` naming the line and column at fault.
    public func validate() throws(BoraError) { _ = try Grammar(parsing: text, root: root) }

    /// Any JSON object (llama.cpp's grammars/json.gbnf).
    public static let jsonObject = GrammarConstraint(gbnf: #"""
        root   ::= object
        value  ::= object | array | string | number | ("true" | "false" | "null") ws

        object ::=
          "{" ws (
                    string ":" ws value
            ("," ws string ":" ws value)*
          )? "}" ws

        array  ::=
          "[" ws (
                    value
            ("," ws value)*
          )? "]" ws

        string ::=
          "\"" (
            [^"\\\x7F\x00-\x1F] |
            "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
          )* "\"" ws

        number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

        # Optional space: by convention, applied in this grammar after literal chars when allowed
        ws ::= | " " | "\n" [ \t]{0,20}
        """#)
}

/// A constraint on the tokens a generation may take, as the one generation loop applies it: the
/// token the sampler chain draws stands if the constraint allows it; otherwise the constraint
/// masks the candidates and the chain draws again; then the constraint is told the chosen token.
/// Grammars are the one constraint today; the loop knows only this seam.
protocol TokenConstraint: AnyObject {
    /// Whether `token` may come next (an end-of-generation token: whether the output may end here).
    func allows(_ token: Int) -> Bool
    /// Sets the logits of every candidate that may not come next to −∞; returns how many stay.
    func mask(_ candidates: inout TokenCandidates) -> Int
    /// Advances past the chosen token.
    func accept(_ token: Int)
}

/// A generation's grammar as it goes: its state in the grammar's automaton, the vocabulary's
/// trie, and the allowed tokens of states already met (a state recurs often: after every `,` of a
/// JSON array).
final class GrammarState: TokenConstraint {
    private var automaton: GrammarAutomaton
    private var state: Int32 = 0
    private let trie: TokenTrie
    private let tokenizer: Tokenizer
    /// SentencePiece drops the first token's leading space at the start of an answer.
    private var skipLeadingSpace: Bool
    private var cache: [Int32: [Int32]] = [:]
    private static let cacheLimit = 512
    /// Past this many stored states and transitions the automaton starts again from the current
    /// state (a hostile grammar cannot grow it without bound).
    private static let automatonLimit = 100_000

    init(_ constraint: GrammarConstraint, tokenizer: Tokenizer, startOfText: Bool) throws(BoraError) {
        automaton = GrammarAutomaton(GrammarMatcher(try Grammar(parsing: constraint.text, root: constraint.root)))
        trie = tokenizer.tokenTrie
        self.tokenizer = tokenizer
        skipLeadingSpace = startOfText && tokenizer.isSentencePiece
    }

    /// The bytes the grammar sees of `token`.
    private func bytes(_ token: Int) -> [UInt8]? {
        guard var b = tokenizer.bytes(of: token), !b.isEmpty else { return nil }
        if skipLeadingSpace, b.first == 0x20 { b.removeFirst() }
        return b
    }

    private var canEnd: Bool { automaton.matcher(state).canEnd }

    /// Whether the grammar takes `token` next (an end-of-generation token: where it may end).
    func allows(_ token: Int) -> Bool {
        if tokenizer.endOfGenerationIDs.contains(token) { return canEnd }
        guard let bytes = bytes(token) else { return false }
        var s = state
        for b in bytes {
            s = automaton.next(s, b)
            if s < 0 { return false }
        }
        return true
    }

    /// Sets the logits of every token the grammar cannot take next to −∞ (candidates in id order,
    /// as `TokenCandidates.load` leaves them); returns how many stay.
    func mask(_ candidates: inout TokenCandidates) -> Int {
        let allowed: [Int32]
        if !skipLeadingSpace, let cached = cache[state] {
            allowed = cached
        } else {
            allowed = trie.allowed(from: state, in: automaton, skipLeadingSpace: skipLeadingSpace)
            if !skipLeadingSpace {
                if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
                cache[state] = allowed
            }
        }
        var keep = [Bool](repeating: false, count: candidates.count)
        for t in allowed where Int(t) < keep.count { keep[Int(t)] = true }
        if canEnd { for t in tokenizer.endOfGenerationIDs where t < keep.count { keep[t] = true } }
        var kept = 0
        for i in 0..<candidates.count {
            if keep[Int(candidates.ids[i])] { kept += 1 } else { candidates.logits[i] = -.infinity }
        }
        return kept
    }

    /// Advances past the chosen token.
    func accept(_ token: Int) {
        guard !tokenizer.endOfGenerationIDs.contains(token), let bytes = bytes(token) else { return }
        for b in bytes {
            let next = automaton.next(state, b)
            if next >= 0 { state = next }
        }
        skipLeadingSpace = false
        if automaton.size > Self.automatonLimit {
            automaton = GrammarAutomaton(automaton.matcher(state))
            state = 0
            cache.removeAll()
        }
    }
}
