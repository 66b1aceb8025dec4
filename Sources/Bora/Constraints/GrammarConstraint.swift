/// A grammar the generated text must follow: GBNF text (llama.cpp's syntax) and its start rule.
/// `GrammarConstraint.jsonObject` is OpenAI's `json_object` mode: one JSON object.
public struct GrammarConstraint: Sendable, Equatable {
    public var text: String
    public var root: String

    public init(gbnf text: String, root: String = "root") {
        self.text = text
        self.root = root
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

/// A generation's grammar as it goes: the matcher, the vocabulary's trie, and the allowed tokens
/// of grammar states already met (a state recurs often: after every `,` of a JSON array).
final class GrammarState {
    private var matcher: GrammarMatcher
    private let trie: TokenTrie
    private let tokenizer: Tokenizer
    /// SentencePiece drops the first token's leading space at the start of an answer.
    private var skipLeadingSpace: Bool
    private var cache: [Set<[GrammarMatcher.Position]>: [Int32]] = [:]
    private static let cacheLimit = 512

    init(_ constraint: GrammarConstraint, tokenizer: Tokenizer, startOfText: Bool) throws(BoraError) {
        matcher = GrammarMatcher(try Grammar(parsing: constraint.text, root: constraint.root))
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

    /// Whether the grammar takes `token` next (an end-of-generation token: where it may end).
    func allows(_ token: Int) -> Bool {
        if tokenizer.endOfGenerationIDs.contains(token) { return matcher.canEnd }
        guard let bytes = bytes(token) else { return false }
        var m = matcher
        for b in bytes where !m.accept(byte: b) { return false }
        return true
    }

    /// Sets the logits of every token the grammar cannot take next to −∞ (candidates in id order,
    /// as `TokenCandidates.load` leaves them); returns how many stay.
    func mask(_ candidates: inout TokenCandidates) -> Int {
        let allowed: [Int32]
        if !skipLeadingSpace, matcher.isWhole, let cached = cache[matcher.stacks] {
            allowed = cached
        } else {
            allowed = trie.allowed(from: matcher, skipLeadingSpace: skipLeadingSpace)
            if !skipLeadingSpace, matcher.isWhole {
                if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
                cache[matcher.stacks] = allowed
            }
        }
        var keep = [Bool](repeating: false, count: candidates.count)
        for t in allowed where Int(t) < keep.count { keep[Int(t)] = true }
        if matcher.canEnd { for t in tokenizer.endOfGenerationIDs where t < keep.count { keep[t] = true } }
        var kept = 0
        for i in 0..<candidates.count {
            if keep[Int(candidates.ids[i])] { kept += 1 } else { candidates.logits[i] = -.infinity }
        }
        return kept
    }

    /// Advances past the chosen token.
    func accept(_ token: Int) {
        guard !tokenizer.endOfGenerationIDs.contains(token), let bytes = bytes(token) else { return }
        for b in bytes { matcher.accept(byte: b) }
        skipLeadingSpace = false
    }
}
