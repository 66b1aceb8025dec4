/// A context-free grammar in llama.cpp's GBNF syntax, parsed into rules of plain sequences.
///
/// Syntax (llama.cpp's `grammars/README.md`): `name ::= alternatives` rules, `|` alternation,
/// `( … )` grouping, `*` `+` `?` `{m}` `{m,}` `{m,n}` repetition, `"literals"`, character classes
/// `[a-z0-9_]` with ranges and `[^…]` negation, `.` for any character, escapes (`\n \r \t \\ \"
/// \[ \] \- \xHH \uHHHH \UHHHHHHHH`), `#` comments. A rule runs to the end of its line unless a
/// group or an alternation's `|` continues it. Groups and repetitions become generated rules, so
/// every alternative is a sequence of characters classes and rule references. A grammar that does
/// not parse, refers to a rule it lacks, has no `root` or recurses on the left is refused with
/// the line and column at fault.
package struct Grammar: Sendable, Equatable {
    /// One element of an alternative: a character class (inclusive ranges of Unicode scalar
    /// values, or everything outside them) or a reference to a rule.
    package enum Element: Sendable, Equatable, Hashable {
        case characters(ranges: [ClosedRange<UInt32>], negated: Bool)
        case rule(Int)

        func matches(_ c: UInt32) -> Bool {
            guard case .characters(let ranges, let negated) = self else { return false }
            return ranges.contains { $0.contains(c) } != negated
        }
    }

    /// Rules by index: each a list of alternatives, each a sequence of elements (empty: ε).
    package var rules: [[[Element]]]
    /// Rule names by index (generated rules: the parent's name, "/" and a number).
    package var names: [String]
    package var root: Int

    /// Parses GBNF text; `root` names the start rule.
    package init(parsing text: String, root rootName: String = "root") throws(BoraError) {
        var parser = Parser(text)
        try parser.parseGrammar()
        for (name, position) in parser.references where parser.defined[name] == nil {
            let (line, column) = parser.location(of: position)
            throw .invalidGrammar(line: line, column: column, reason: "the rule \"\(name)\" is used but never defined")
        }
        guard let root = parser.ids[rootName], parser.defined[rootName] != nil else {
            throw .invalidGrammar(line: 0, column: 0, reason: "the grammar has no \"\(rootName)\" rule to start from")
        }
        rules = parser.rules
        names = parser.names
        self.root = root
        if let recursive = leftRecursion() {
            let (line, column) = parser.defined[names[recursive]].map { parser.location(of: $0) } ?? (0, 0)
            throw .invalidGrammar(line: line, column: column, reason: "the rule \"\(names[recursive])\" is left-recursive (it can start with itself)")
        }
    }

    /// A rule that can start with itself, by llama.cpp's rule: through the leftmost reference of
    /// an alternative, and past it while the referenced rule has an empty alternative. (Deeper
    /// emptiness is left to the matcher, which expands a repeated stack once.)
    private func leftRecursion() -> Int? {
        let mayBeEmpty = rules.map { $0.contains { $0.isEmpty } }
        let edges: [[Int]] = rules.map { alternatives in
            var targets: [Int] = []
            for alternative in alternatives {
                for element in alternative {
                    guard case .rule(let s) = element else { break }
                    targets.append(s)
                    if !mayBeEmpty[s] { break }
                }
            }
            return targets
        }
        var state = [UInt8](repeating: 0, count: rules.count)   // 0 new, 1 on the path, 2 done
        func visit(_ r: Int) -> Int? {
            state[r] = 1
            for s in edges[r] {
                if state[s] == 1 { return s }
                if state[s] == 0, let found = visit(s) { return found }
            }
            state[r] = 2
            return nil
        }
        for r in rules.indices where state[r] == 0 {
            if let found = visit(r) { return found }
        }
        return nil
    }
}

extension Grammar {
    /// A recursive-descent parser over the grammar's Unicode scalars.
    fileprivate struct Parser {
        let text: [Unicode.Scalar]
        var i = 0
        var rules: [[[Element]]] = []
        var names: [String] = []
        var ids: [String: Int] = [:]
        /// Where each named rule is defined, and the first use of each name.
        var defined: [String: Int] = [:]
        var references: [(String, Int)] = []
        /// Groups open around the current position, and elements written so far: a grammar is
        /// untrusted input (a server request), so both are bounded.
        var depth = 0
        var elementCount = 0
        static let maximumDepth = 256
        static let maximumElements = 1_000_000

        init(_ source: String) { text = Array(source.unicodeScalars) }

        func location(of position: Int) -> (line: Int, column: Int) {
            var line = 1, column = 1
            for c in text[..<min(position, text.count)] {
                if c == "\n" { line += 1; column = 1 } else { column += 1 }
            }
            return (line, column)
        }

        func error(_ reason: String, at position: Int? = nil) -> BoraError {
            let (line, column) = location(of: position ?? i)
            return .invalidGrammar(line: line, column: column, reason: reason)
        }

        var current: Unicode.Scalar? { i < text.count ? text[i] : nil }

        mutating func id(of name: String) -> Int {
            if let id = ids[name] { return id }
            ids[name] = rules.count
            names.append(name)
            rules.append([])
            return rules.count - 1
        }

        mutating func generated(_ parent: String, _ alternatives: [[Element]]) -> Int {
            var n = 1
            // '/' is no word character, so a generated name never meets a rule of the grammar's.
            while ids["\(parent)/\(n)"] != nil { n += 1 }
            let r = id(of: "\(parent)/\(n)")
            rules[r] = alternatives
            return r
        }

        static func isWordCharacter(_ c: Unicode.Scalar) -> Bool {
            ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "-" || c == "_"
        }

        /// Skips spaces, tabs, comments and (where a rule continues) newlines.
        mutating func skipSpace(newlines: Bool) {
            while let c = current {
                if c == " " || c == "\t" || (newlines && (c == "\n" || c == "\r")) {
                    i += 1
                } else if c == "#" {
                    while let d = current, d != "\n" { _ = d; i += 1 }
                } else {
                    return
                }
            }
        }

        mutating func name() throws(BoraError) -> String {
            let start = i
            while let c = current, Self.isWordCharacter(c) { i += 1 }
            guard i > start else {
                throw error(current.map { "expected a rule name, found \"\($0)\"" } ?? "expected a rule name at the end of the grammar")
            }
            return String(String.UnicodeScalarView(text[start..<i]))
        }

        mutating func parseGrammar() throws(BoraError) {
            skipSpace(newlines: true)
            while current != nil {
                let start = i
                let ruleName = try name()
                skipSpace(newlines: false)
                guard text[i...].starts(with: "::=".unicodeScalars) else { throw error("expected ::= after the rule name \"\(ruleName)\"") }
                i += 3
                skipSpace(newlines: true)
                if defined[ruleName] != nil { throw error("the rule \"\(ruleName)\" is defined twice", at: start) }
                defined[ruleName] = start
                let r = id(of: ruleName)
                rules[r] = try alternatives(of: ruleName, nested: false)
                if let c = current, c != "\n" && c != "\r" { throw error("unexpected \"\(c)\" after the rule \"\(ruleName)\"") }
                skipSpace(newlines: true)
            }
        }

        /// Alternatives up to the end of the rule (a newline outside groups) or a closing parenthesis.
        mutating func alternatives(of rule: String, nested: Bool) throws(BoraError) -> [[Element]] {
            var result = [try sequence(of: rule, nested: nested)]
            while current == "|" {
                i += 1
                skipSpace(newlines: true)
                result.append(try sequence(of: rule, nested: nested))
            }
            return result
        }

        mutating func sequence(of rule: String, nested: Bool) throws(BoraError) -> [Element] {
            var elements: [Element] = []
            // The elements of the last item, for a postfix operator to repeat.
            var last: [Element] = []
            while let c = current {
                let itemStart = elements.count
                switch c {
                case "\"":
                    i += 1
                    while current != "\"" {
                        guard current != nil, current != "\n" else { throw error("a string literal is not closed") }
                        let scalar = try character()
                        elements.append(.characters(ranges: [scalar...scalar], negated: false))
                    }
                    i += 1
                case "[":
                    elements.append(try characterClass())
                case ".":
                    i += 1
                    elements.append(.characters(ranges: [], negated: true))
                case "(":
                    let open = i
                    guard depth < Self.maximumDepth else { throw error("groups nested deeper than \(Self.maximumDepth)") }
                    depth += 1
                    defer { depth -= 1 }
                    i += 1
                    skipSpace(newlines: true)
                    let inner = try alternatives(of: rule, nested: true)
                    guard current == ")" else { throw error("the group opened here is not closed", at: open) }
                    i += 1
                    elements.append(.rule(generated(rule, inner)))
                case "*", "+", "?", "{":
                    guard !last.isEmpty else { throw error("\"\(c)\" repeats nothing") }
                    elements.removeLast(last.count)
                    elements.append(contentsOf: try repetition(of: last, rule: rule))
                    last = []
                    skipSpace(newlines: nested)
                    continue
                case "<", "!":
                    throw error("token references (\(c == "!" ? "!<[…]>" : "<[…]>")) are not supported")
                default:
                    guard Self.isWordCharacter(c) else {
                        if c == "|" || c == ")" || c == "\n" || c == "\r" { return elements }
                        throw error("unexpected \"\(c)\"")
                    }
                    let at = i
                    let referenced = try name()
                    skipSpace(newlines: false)
                    if text[i...].starts(with: "::=".unicodeScalars) {
                        // The next rule's head: this rule ended at the previous line.
                        i = at
                        return elements
                    }
                    i = at + referenced.unicodeScalars.count
                    references.append((referenced, at))
                    elements.append(.rule(id(of: referenced)))
                }
                last = Array(elements[itemStart...])
                skipSpace(newlines: nested)
            }
            return elements
        }

        /// `*` `+` `?` `{m}` `{m,}` `{m,n}` applied to `item`, as llama.cpp rewrites them.
        mutating func repetition(of item: [Element], rule: String) throws(BoraError) -> [Element] {
            let c = current!
            let start = i
            i += 1
            var low = 0, high: Int? = nil
            switch c {
            case "*": (low, high) = (0, nil)
            case "+": (low, high) = (1, nil)
            case "?": (low, high) = (0, 1)
            default:
                skipSpace(newlines: false)
                low = try integer()
                skipSpace(newlines: false)
                if current == "," {
                    i += 1
                    skipSpace(newlines: false)
                    high = current == "}" ? nil : try integer()
                } else {
                    high = low
                }
                skipSpace(newlines: false)
                guard current == "}" else { throw error("expected } to close the repetition", at: start) }
                i += 1
                if let high, high < low { throw error("the repetition {\(low),\(high)} has its maximum below its minimum", at: start) }
                guard low <= 10_000, (high ?? 0) <= 10_000 else { throw error("repetition counts above 10000 are not supported", at: start) }
            }
            elementCount += item.count * (max(low, high ?? low) + 1)
            guard elementCount <= Self.maximumElements else {
                throw error("the grammar expands to more than \(Self.maximumElements) elements", at: start)
            }
            var out: [Element] = []
            for _ in 0..<low { out += item }
            if let high {
                // (item (item (…)?)?)? for the optional copies, nested.
                var tail: [Element] = []
                for _ in 0..<(high - low) { tail = [.rule(generated(rule, [item + tail, []]))] }
                out += tail
            } else {
                // item* as R ::= item R | ε.
                let r = generated(rule, [])
                rules[r] = [item + [.rule(r)], []]
                out.append(.rule(r))
            }
            return out
        }

        mutating func integer() throws(BoraError) -> Int {
            let start = i
            while let c = current, ("0"..."9").contains(c) { i += 1 }
            guard i > start, i - start <= 6, let n = Int(String(String.UnicodeScalarView(text[start..<i]))) else {
                throw error("expected a count")
            }
            return n
        }

        mutating func characterClass() throws(BoraError) -> Element {
            let open = i
            i += 1
            var negated = false
            if current == "^" { negated = true; i += 1 }
            var ranges: [ClosedRange<UInt32>] = []
            while current != "]" {
                guard current != nil else { throw error("the character class opened here is not closed", at: open) }
                let low = try character()
                if current == "-", i + 1 < text.count, text[i + 1] != "]" {
                    i += 1
                    let high = try character()
                    guard high >= low else { throw error("the range ends below its start") }
                    ranges.append(low...high)
                } else {
                    ranges.append(low...low)
                }
            }
            i += 1
            return .characters(ranges: ranges, negated: negated)
        }

        /// One character of a literal or class, escapes decoded.
        mutating func character() throws(BoraError) -> UInt32 {
            guard let c = current else { throw error("unexpected end of the grammar") }
            i += 1
            guard c == "\\" else { return c.value }
            guard let e = current else { throw error("an escape at the end of the grammar") }
            i += 1
            switch e {
            case "n": return 10
            case "r": return 13
            case "t": return 9
            case "\\", "\"", "[", "]", "-", "^": return e.value
            case "x", "u", "U":
                let digits = e == "x" ? 2 : e == "u" ? 4 : 8
                var value: UInt32 = 0
                for _ in 0..<digits {
                    guard let d = current, let v = UInt32(String(d), radix: 16) else {
                        throw error("\\\(e) needs \(digits) hexadecimal digits")
                    }
                    value = value * 16 + v
                    i += 1
                }
                guard value <= 0x10FFFF else { throw error("\\\(e) names no Unicode character") }
                return value
            default:
                throw error("unknown escape \\\(e)", at: i - 2)
            }
        }
    }
}
