/// A JSON Schema `pattern` (an ECMA-262 regular expression) as the GBNF of a JSON string's content.
///
/// Supported: literals, `.`, classes `[a-z]` `[^…]` with ranges and escapes, `\d \D \w \W \s \S`,
/// `\t \n \r \f \v \0 \xHH \uHHHH`, escaped punctuation, groups `( … )` and `(?: … )`, `|`,
/// `* + ? {m} {m,} {m,n}` (lazy forms too: they match the same strings), and `^`/`$` at the ends.
/// A pattern without `^` (or `$`) may have any text before (or after) its match, as JSON Schema
/// says. Refused by name: look-around, named groups, back-references, word boundaries, Unicode
/// property escapes, anchors elsewhere.
///
/// The regex speaks of the decoded string; the grammar writes JSON, so a `"`, a `\` or a control
/// character the regex allows is written as its JSON escape, and a class that allows one of them
/// gains the escape as an alternative. Nothing the grammar emits is outside the regex's language.
struct PatternGrammar {
    struct Failure: Error { let reason: String }

    /// Sets of Unicode scalar values as sorted, disjoint inclusive ranges.
    typealias Ranges = [ClosedRange<UInt32>]

    indirect enum Node {
        case set(Ranges)
        case sequence([Node])
        case alternatives([Node])
        case repeated(Node, min: Int, max: Int?)
    }

    private let pattern: [Unicode.Scalar]
    private var i = 0
    private var depth = 0
    /// How many alternatives the pattern has outside any group.
    private var topLevelAlternatives = 1
    private static let depthLimit = 100
    private static let repeatLimit = 10_000

    /// The GBNF expression for the content of a JSON string matching `pattern`; `anyCharacter` is
    /// the rule for one JSON string character (what an unanchored end may add).
    static func expression(for pattern: String, anyCharacter: String) throws(Failure) -> String {
        var scalars = Array(pattern.unicodeScalars)
        let anchoredStart = scalars.first == "^"
        if anchoredStart { scalars.removeFirst() }
        var anchoredEnd = false
        if scalars.last == "$" {
            // `\$` at the end is a literal dollar: count the backslashes before it.
            var backslashes = 0
            while backslashes < scalars.count - 1, scalars[scalars.count - 2 - backslashes] == "\\" { backslashes += 1 }
            if backslashes % 2 == 0 { anchoredEnd = true; scalars.removeLast() }
        }
        var parser = PatternGrammar(pattern: scalars)
        let node = try parser.alternation()
        if parser.i < scalars.count { throw Failure(reason: "has a ')' that closes no group") }
        if parser.topLevelAlternatives > 1, anchoredStart || anchoredEnd {
            throw Failure(reason: "anchors only some alternatives (write ^(a|b)$ to anchor them all)")
        }
        var parts: [String] = []
        if !anchoredStart { parts.append(anyCharacter + "*") }
        let body = try emit(node)
        if !body.isEmpty { parts.append(body) }
        if !anchoredEnd { parts.append(anyCharacter + "*") }
        return parts.joined(separator: " ")
    }

    private init(pattern: [Unicode.Scalar]) { self.pattern = pattern }

    private var current: Unicode.Scalar? { i < pattern.count ? pattern[i] : nil }

    // MARK: Parsing

    private mutating func alternation() throws(Failure) -> Node {
        var alternatives = [try sequence()]
        while current == "|" {
            i += 1
            alternatives.append(try sequence())
        }
        if depth == 0 { topLevelAlternatives = alternatives.count }
        return alternatives.count == 1 ? alternatives[0] : .alternatives(alternatives)
    }

    private mutating func sequence() throws(Failure) -> Node {
        var items: [Node] = []
        while let c = current, c != "|", c != ")" {
            items.append(try quantified())
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    private mutating func quantified() throws(Failure) -> Node {
        let atom = try self.atom()
        var bounds: (Int, Int?)?
        switch current {
        case "*": bounds = (0, nil); i += 1
        case "+": bounds = (1, nil); i += 1
        case "?": bounds = (0, 1); i += 1
        case "{": if let b = braceQuantifier() { bounds = b }
        default: break
        }
        guard let (min, max) = bounds else { return atom }
        if current == "?" { i += 1 }  // lazy: the same strings
        if let c = current, "*+?".unicodeScalars.contains(c) || (c == "{" && braceQuantifier(peek: true) != nil) {
            throw Failure(reason: "repeats a repetition")
        }
        if let max, max < min { throw Failure(reason: "has a repetition {\(min),\(max)} whose maximum is below its minimum") }
        guard (max ?? min) <= Self.repeatLimit else { throw Failure(reason: "repeats more than \(Self.repeatLimit) times") }
        return .repeated(atom, min: min, max: max)
    }

    /// `{m}`, `{m,}` or `{m,n}` at the cursor (consumed unless `peek`); nil when the brace is a
    /// literal, as ECMA-262 reads one that starts no quantifier.
    private mutating func braceQuantifier(peek: Bool = false) -> (Int, Int?)? {
        var j = i + 1
        func number() -> Int? {
            let start = j
            while j < pattern.count, ("0"..."9").contains(pattern[j]) { j += 1 }
            guard j > start, j - start <= 7 else { return nil }
            return Int(String(String.UnicodeScalarView(pattern[start..<j])))
        }
        guard let min = number() else { return nil }
        var max: Int? = min
        if j < pattern.count, pattern[j] == "," {
            j += 1
            max = j < pattern.count && pattern[j] == "}" ? nil : number()
            if max == nil, j < pattern.count, pattern[j] != "}" { return nil }
        }
        guard j < pattern.count, pattern[j] == "}" else { return nil }
        if !peek { i = j + 1 }
        return (min, max)
    }

    private mutating func atom() throws(Failure) -> Node {
        let c = current!
        switch c {
        case "(":
            i += 1
            if current == "?" {
                guard i + 1 < pattern.count, pattern[i + 1] == ":" else {
                    throw Failure(reason: "uses a group syntax (look-around or a named group) that is not supported")
                }
                i += 2
            }
            depth += 1
            guard depth <= Self.depthLimit else { throw Failure(reason: "nests groups deeper than \(Self.depthLimit)") }
            let inner = try alternation()
            guard current == ")" else { throw Failure(reason: "has a group that is not closed") }
            i += 1
            depth -= 1
            return inner
        case "[":
            return .set(try characterClass())
        case ".":
            i += 1
            return .set(Self.complement(Self.lineTerminators))
        case "\\":
            i += 1
            return .set(try escape(inClass: false))
        case "^", "$":
            throw Failure(reason: "has an anchor inside it, which is not supported")
        case "*", "+", "?":
            throw Failure(reason: "has a '\(c)' with nothing to repeat")
        case "{" where braceQuantifier(peek: true) != nil:
            throw Failure(reason: "has a repetition with nothing to repeat")
        default:
            i += 1
            return .set([c.value...c.value])
        }
    }

    private mutating func characterClass() throws(Failure) -> Ranges {
        i += 1
        var negated = false
        if current == "^" { negated = true; i += 1 }
        var ranges: Ranges = []
        if current == "]" { throw Failure(reason: "has an empty character class") }
        while current != "]" {
            guard current != nil else { throw Failure(reason: "has a character class that is not closed") }
            let low = try classAtom()
            if current == "-", i + 1 < pattern.count, pattern[i + 1] != "]" {
                i += 1
                let high = try classAtom()
                guard low.count == 1, high.count == 1, low[0].lowerBound == low[0].upperBound, high[0].lowerBound == high[0].upperBound else {
                    throw Failure(reason: "has a class range whose end is a class escape")
                }
                guard high[0].lowerBound >= low[0].lowerBound else { throw Failure(reason: "has a class range that ends below its start") }
                ranges.append(low[0].lowerBound...high[0].lowerBound)
            } else {
                ranges += low
            }
        }
        i += 1
        let set = Self.normalized(ranges)
        return negated ? Self.complement(set) : set
    }

    private mutating func classAtom() throws(Failure) -> Ranges {
        let c = current!
        i += 1
        if c == "\\" { return try escape(inClass: true) }
        return [c.value...c.value]
    }

    /// The escape after a backslash (the cursor on its letter).
    private mutating func escape(inClass: Bool) throws(Failure) -> Ranges {
        guard let e = current else { throw Failure(reason: "ends with a lone backslash") }
        i += 1
        func one(_ v: UInt32) -> Ranges { [v...v] }
        switch e {
        case "d": return Self.digits
        case "D": return Self.complement(Self.digits)
        case "w": return Self.word
        case "W": return Self.complement(Self.word)
        case "s": return Self.whitespace
        case "S": return Self.complement(Self.whitespace)
        case "t": return one(9)
        case "n": return one(10)
        case "v": return one(11)
        case "f": return one(12)
        case "r": return one(13)
        case "b" where inClass: return one(8)
        case "b", "B": throw Failure(reason: "uses a word boundary (\\\(e)), which is not supported")
        case "0" where !(current.map { ("0"..."9").contains($0) } ?? false): return one(0)
        case "1"..."9": throw Failure(reason: "uses a back-reference (\\\(e)), which is not supported")
        case "x", "u":
            let count = e == "x" ? 2 : 4
            var value: UInt32 = 0
            for _ in 0..<count {
                guard let d = current, let v = UInt32(String(d), radix: 16) else { throw Failure(reason: "has \\\(e) without \(count) hexadecimal digits") }
                value = value * 16 + v
                i += 1
            }
            guard !(0xD800...0xDFFF).contains(value) else { throw Failure(reason: "names a UTF-16 surrogate (\\u\(String(value, radix: 16))), which is not supported") }
            return one(value)
        default:
            if e.isASCII, e.properties.isAlphabetic || ("0"..."9").contains(e) {
                throw Failure(reason: "uses the escape \\\(e), which is not supported")
            }
            return one(e.value)  // escaped punctuation is itself
        }
    }

    // MARK: Character sets

    private static let digits: Ranges = [0x30...0x39]
    private static let word: Ranges = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]
    /// ECMA-262 `\s`: white space and line terminators.
    private static let whitespace: Ranges = normalized([0x09...0x0D, 0x20...0x20, 0xA0...0xA0, 0x1680...0x1680, 0x2000...0x200A,
                                                        0x2028...0x2029, 0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000, 0xFEFF...0xFEFF])
    private static let lineTerminators: Ranges = [0x0A...0x0A, 0x0D...0x0D, 0x2028...0x2029]
    /// Every Unicode scalar value (no surrogates).
    private static let all: Ranges = [0...0xD7FF, 0xE000...0x10FFFF]

    static func normalized(_ ranges: Ranges) -> Ranges {
        var out: Ranges = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = out.last, r.lowerBound <= last.upperBound &+ 1 {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }

    static func complement(_ ranges: Ranges) -> Ranges {
        subtracting(all, normalized(ranges))
    }

    /// `a` without `b` (both normalized).
    static func subtracting(_ a: Ranges, _ b: Ranges) -> Ranges {
        var out: Ranges = []
        for r in a {
            var low = r.lowerBound
            var done = false
            for s in b where s.upperBound >= low && s.lowerBound <= r.upperBound {
                if s.lowerBound > low { out.append(low...(s.lowerBound - 1)) }
                if s.upperBound >= r.upperBound { done = true; break }
                low = s.upperBound + 1
            }
            if !done { out.append(low...r.upperBound) }
        }
        return out
    }

    // MARK: Writing GBNF

    private static func emit(_ node: Node) throws(Failure) -> String {
        switch node {
        case .set(let ranges): return try emitSet(ranges)
        case .sequence(let items):
            var parts: [String] = []
            for item in items {
                let e = try emit(item)
                if !e.isEmpty { parts.append(e) }
            }
            return parts.joined(separator: " ")
        case .alternatives(let alternatives):
            var parts: [String] = []
            for a in alternatives { parts.append(try emit(a)) }
            return "(" + parts.joined(separator: " | ") + ")"
        case .repeated(let inner, let min, let max):
            let body = try emit(inner)
            if body.isEmpty || max == 0 { return "" }
            return JSONSchemaGrammar.repetition("(" + body + ")", min: min, max: max)
        }
    }

    /// A set of characters as JSON string content: a class for the characters JSON writes as they
    /// are, an escape for each of `"`, `\` and the control characters the set holds.
    private static func emitSet(_ ranges: Ranges) throws(Failure) -> String {
        let special: Ranges = [0...0x1F, 0x22...0x22, 0x5C...0x5C]
        let plain = subtracting(subtracting(ranges, special), [0xD800...0xDFFF])
        var parts: [String] = []
        if !plain.isEmpty {
            parts.append("[" + plain.map { r in
                r.lowerBound == r.upperBound ? JSONSchemaGrammar.classCharacter(r.lowerBound)
                    : JSONSchemaGrammar.classCharacter(r.lowerBound) + "-" + JSONSchemaGrammar.classCharacter(r.upperBound)
            }.joined() + "]")
        }
        func contains(_ v: UInt32) -> Bool { ranges.contains { $0.contains(v) } }
        if contains(0x22) { parts.append(#""\\\"""#) }
        if contains(0x5C) { parts.append(#""\\\\""#) }
        let short: [UInt32: String] = [0x08: "b", 0x09: "t", 0x0A: "n", 0x0C: "f", 0x0D: "r"]
        for v in short.keys.sorted() where contains(v) { parts.append("\"\\\\" + short[v]! + "\"") }
        // The other control characters as \u00XX, grouped by their high hex digit.
        for high in [0, 1] as [UInt32] {
            let lows = (0..<16).map { UInt32($0) }.filter { low in short[high * 16 + low] == nil && contains(high * 16 + low) }
            if lows.isEmpty { continue }
            let digits = lows.map { low in low < 10 ? String(low) : String(Character(Unicode.Scalar(0x61 + low - 10)!)) + String(Character(Unicode.Scalar(0x41 + low - 10)!)) }
            parts.append("\"\\\\u00\(high)\" [" + digits.joined() + "]")
        }
        guard !parts.isEmpty else { throw Failure(reason: "has a character class that matches no character") }
        return parts.count == 1 ? parts[0] : "(" + parts.joined(separator: " | ") + ")"
    }
}
