/// Where a grammar's input stands: the set of parse stacks still alive (llama.cpp's method). Each
/// stack lists the elements still to match, the next one last; a stack whose next element is a
/// rule reference is expanded into one stack per alternative of that rule, so every live stack
/// waits on a character class (or is empty: the input may end there). Bytes are decoded as UTF-8
/// as they come, so a character split across tokens is matched once it is whole.
package struct GrammarMatcher: Sendable {
    /// An element of an alternative: rule, alternative, index of the element.
    struct Position: Hashable, Sendable {
        let rule: Int32
        let alternative: Int32
        let index: Int32
    }

    let grammar: Grammar
    private(set) var stacks: Set<[Position]>
    /// A character's bytes so far, and how many it needs.
    private var pending: UInt32 = 0
    private var needed = 0
    /// The smallest character the bytes so far may encode (UTF-8 has no overlong forms).
    private var smallest: UInt32 = 0

    package init(_ grammar: Grammar) {
        self.grammar = grammar
        var stacks = Set<[Position]>()
        for (a, alternative) in grammar.rules[grammar.root].enumerated() {
            Self.advance(grammar, alternative.isEmpty ? [] : [Position(rule: Int32(grammar.root), alternative: Int32(a), index: 0)], into: &stacks)
        }
        self.stacks = stacks
    }

    /// Everything that decides what the matcher takes next (two matchers of one grammar with equal
    /// keys accept the same inputs).
    package struct Key: Hashable {
        let stacks: Set<[Position]>
        let pending: UInt32
        let needed: Int
        let smallest: UInt32
    }

    package var key: Key { Key(stacks: stacks, pending: pending, needed: needed, smallest: smallest) }

    /// Whether no character is half-read (the stacks alone then say where the input stands).
    var isWhole: Bool { needed == 0 }

    /// Whether no input can continue: every stack died.
    package var isDead: Bool { stacks.isEmpty }

    /// Whether the input so far is a whole sentence of the grammar (generation may end here).
    package var canEnd: Bool { needed == 0 && stacks.contains { $0.isEmpty } }

    /// Feeds one Unicode scalar; false (the state left unchanged) when the grammar cannot take it.
    @discardableResult
    package mutating func accept(_ c: UInt32) -> Bool {
        var next = Set<[Position]>()
        for stack in stacks {
            guard let top = stack.last else { continue }
            let element = grammar.rules[Int(top.rule)][Int(top.alternative)][Int(top.index)]
            guard element.matches(c) else { continue }
            var rest = Array(stack.dropLast())
            if Int(top.index) + 1 < grammar.rules[Int(top.rule)][Int(top.alternative)].count {
                rest.append(Position(rule: top.rule, alternative: top.alternative, index: top.index + 1))
            }
            Self.advance(grammar, rest, into: &next)
        }
        guard !next.isEmpty else { return false }
        stacks = next
        return true
    }

    /// Feeds a string's scalars; false when one is refused (the state then stands after the last accepted).
    @discardableResult
    package mutating func accept(_ text: String) -> Bool {
        for c in text.unicodeScalars where !accept(c.value) { return false }
        return true
    }

    /// Feeds one byte of UTF-8; false when it is invalid UTF-8 or completes a refused character.
    @discardableResult
    package mutating func accept(byte b: UInt8) -> Bool {
        if needed == 0 {
            let start: (UInt32, Int, UInt32)
            switch b {
            case 0..<0x80: return accept(UInt32(b))
            case 0xC2..<0xE0: start = (UInt32(b & 0x1F), 1, 0x80)
            case 0xE0..<0xF0: start = (UInt32(b & 0x0F), 2, 0x800)
            case 0xF0..<0xF5: start = (UInt32(b & 0x07), 3, 0x10000)
            default: return false
            }
            // A character's first bytes are taken only if some character they can begin is.
            guard couldTake(prefix: start.0, missing: start.1, smallest: start.2) else { return false }
            (pending, needed, smallest) = start
            return true
        }
        guard b & 0xC0 == 0x80 else { return false }
        let value = pending << 6 | UInt32(b & 0x3F)
        if needed > 1 {
            guard couldTake(prefix: value, missing: needed - 1, smallest: smallest) else { return false }
            (pending, needed) = (value, needed - 1)
            return true
        }
        // Overlong and surrogate encodings are not characters.
        guard value >= 0x80, !(0xD800...0xDFFF).contains(value), value <= 0x10FFFF else { return false }
        guard accept(value) else { return false }
        (pending, needed) = (0, 0)
        return true
    }

    /// Whether a live stack waits on a class holding some character of `prefix` followed by
    /// `missing` continuation bytes (llama.cpp's partial-character match).
    private func couldTake(prefix: UInt32, missing: Int, smallest: UInt32) -> Bool {
        let first = prefix << (6 * UInt32(missing))
        let low = max(first, smallest), high = min(first | ((1 << (6 * UInt32(missing))) - 1), 0x10FFFF)
        guard low <= high else { return false }
        for stack in stacks {
            guard let top = stack.last,
                  case .characters(let ranges, let negated) = grammar.rules[Int(top.rule)][Int(top.alternative)][Int(top.index)] else { continue }
            if negated {
                // Some character of low…high lies outside every excluded range unless one covers them all.
                if !ranges.contains(where: { $0.lowerBound <= low && $0.upperBound >= high }) { return true }
            } else if ranges.contains(where: { $0.lowerBound <= high && $0.upperBound >= low }) {
                return true
            }
        }
        return false
    }

    /// Expands `stack` until every resulting stack waits on a character class or is empty
    /// (llama.cpp's advance_stack). Stacks never hold a position past its alternative's end; a
    /// stack met twice in one expansion is expanded once, so rules that repeat something that can
    /// be empty (`( [x]* )*`) end.
    private static func advance(_ grammar: Grammar, _ start: [Position], into out: inout Set<[Position]>) {
        var todo = [start]
        var seen = Set<[Position]>()
        while let stack = todo.popLast() {
            guard seen.insert(stack).inserted else { continue }
            guard let top = stack.last else {
                out.insert(stack)
                continue
            }
            let alternative = grammar.rules[Int(top.rule)][Int(top.alternative)]
            switch alternative[Int(top.index)] {
            case .characters:
                out.insert(stack)
            case .rule(let r):
                var base = Array(stack.dropLast())
                if Int(top.index) + 1 < alternative.count {
                    base.append(Position(rule: top.rule, alternative: top.alternative, index: top.index + 1))
                }
                for (a, sub) in grammar.rules[r].enumerated() {
                    todo.append(sub.isEmpty ? base : base + [Position(rule: Int32(r), alternative: Int32(a), index: 0)])
                }
            }
        }
    }
}
