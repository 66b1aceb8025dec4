import Synchronization

/// The vocabulary's token bytes as a trie, built once per tokenizer: a grammar's allowed tokens
/// are found by walking it with the grammar's state, so tokens that share a prefix share its
/// matching, and a byte the grammar refuses prunes every token that starts with it.
package final class TokenTrie: Sendable {
    /// The trie flattened: node n's children are `childBytes`/`childNodes[childStart[n] ..<
    /// childStart[n + 1]]`, the tokens ending at it `tokens[tokenStart[n] ..< tokenStart[n + 1]]`.
    /// Node 0 is the root.
    private let childStart: [Int32]
    private let childBytes: [UInt8]
    private let childNodes: [Int32]
    private let tokenStart: [Int32]
    private let tokens: [Int32]
    /// Tokens that stand for no bytes (control tokens), never allowed by a grammar.
    package let tokenCount: Int

    init(tokenizer: Tokenizer) {
        struct Node {
            var children: [(byte: UInt8, node: Int32)] = []
            var tokens: [Int32] = []
        }
        var nodes = [Node()]
        for id in 0..<tokenizer.vocabularySize {
            guard let bytes = tokenizer.bytes(of: id), !bytes.isEmpty else { continue }
            var at = 0
            for b in bytes {
                if let child = nodes[at].children.first(where: { $0.byte == b }) {
                    at = Int(child.node)
                } else {
                    nodes.append(Node())
                    nodes[at].children.append((b, Int32(nodes.count - 1)))
                    at = nodes.count - 1
                }
            }
            nodes[at].tokens.append(Int32(id))
        }
        var childStart: [Int32] = [0], childBytes: [UInt8] = [], childNodes: [Int32] = []
        var tokenStart: [Int32] = [0], tokens: [Int32] = []
        for node in nodes {
            for (b, n) in node.children {
                childBytes.append(b)
                childNodes.append(n)
            }
            childStart.append(Int32(childBytes.count))
            tokens += node.tokens
            tokenStart.append(Int32(tokens.count))
        }
        (self.childStart, self.childBytes, self.childNodes, self.tokenStart, self.tokens) = (childStart, childBytes, childNodes, tokenStart, tokens)
        tokenCount = tokenizer.vocabularySize
    }

    /// Every token the grammar can take whole from `matcher`'s state, in id order. With
    /// `skipLeadingSpace`, a token's first byte may be a space the text will not show (the
    /// SentencePiece "▁" a detokenizer drops at the start of an answer).
    package func allowed(from matcher: GrammarMatcher, skipLeadingSpace: Bool = false) -> [Int32] {
        let automaton = GrammarAutomaton(matcher)
        return allowed(from: 0, in: automaton, skipLeadingSpace: skipLeadingSpace)
    }

    /// Every token the grammar can take whole from state `start` of `automaton`, in id order.
    package func allowed(from start: Int32, in automaton: GrammarAutomaton, skipLeadingSpace: Bool = false) -> [Int32] {
        var out: [Int32] = []
        var todo: [(node: Int32, state: Int32)] = []
        if skipLeadingSpace, let space = (Int(childStart[0])..<Int(childStart[1])).first(where: { childBytes[$0] == 0x20 }) {
            todo.append((childNodes[space], start))
        }
        todo.append((0, start))
        var atRoot = true
        childStart.withUnsafeBufferPointer { childStart in
            childBytes.withUnsafeBufferPointer { childBytes in
                childNodes.withUnsafeBufferPointer { childNodes in
                    tokenStart.withUnsafeBufferPointer { tokenStart in
                        tokens.withUnsafeBufferPointer { tokens in
                            while let (node, state) = todo.popLast() {
                                let n = Int(node)
                                out.append(contentsOf: tokens[Int(tokenStart[n])..<Int(tokenStart[n + 1])])
                                for c in Int(childStart[n])..<Int(childStart[n + 1]) {
                                    // The skipped space's subtree is already queued from the root's state.
                                    if atRoot && skipLeadingSpace && childBytes[c] == 0x20 { continue }
                                    let next = automaton.next(state, childBytes[c])
                                    if next >= 0 { todo.append((childNodes[c], next)) }
                                }
                                if n == 0 { atRoot = false }
                            }
                        }
                    }
                }
            }
        }
        out.sort()
        // A token reached twice (its bytes with and without the skipped space) counts once.
        var unique: [Int32] = []
        unique.reserveCapacity(out.count)
        for t in out where unique.last != t { unique.append(t) }
        return unique
    }
}

/// A grammar's matcher states, each interned once, and the byte transitions between them, found
/// as walks first need them. A mask walks the whole vocabulary trie, and most of its nodes lead
/// to states already met (inside a string, every plain character leads to the same few), so a
/// node costs one table look-up instead of a matcher step (a microsecond or more of stack sets): a
/// walk over all of SmolLM2's vocabulary inside a JSON string fell from 212 ms to 13 ms.
package final class GrammarAutomaton {
    package static let dead: Int32 = -1
    private(set) var matchers: [GrammarMatcher] = []
    private var ids: [GrammarMatcher.Key: Int32] = [:]
    /// The first `denseStates` states keep a 256-entry row each (next state, `dead`, or
    /// `unknown`); later ones, rarer, go to a dictionary keyed by state << 8 | byte. The rows bound
    /// the table to 16 MB whatever the grammar.
    private var dense: [Int32] = []
    private var sparse: [Int: Int32] = [:]
    private static let unknown: Int32 = -2
    private static let denseStates = 16_384

    package init(_ start: GrammarMatcher) { _ = intern(start) }

    /// How many states and sparse transitions are stored (the owner starts afresh past a bound).
    var size: Int { matchers.count + sparse.count }

    private func intern(_ m: GrammarMatcher) -> Int32 {
        let key = m.key
        if let id = ids[key] { return id }
        let id = Int32(matchers.count)
        matchers.append(m)
        ids[key] = id
        if matchers.count <= Self.denseStates { dense.append(contentsOf: repeatElement(Self.unknown, count: 256)) }
        return id
    }

    /// The state after `byte` from `state`, or `dead` when the grammar refuses it.
    @inline(__always)
    package func next(_ state: Int32, _ byte: UInt8) -> Int32 {
        let index = Int(state) << 8 | Int(byte)
        if index < dense.count {
            let known = dense[index]
            if known != Self.unknown { return known }
        } else if let known = sparse[index] {
            return known
        }
        var m = matchers[Int(state)]
        let result = m.accept(byte: byte) ? intern(m) : Self.dead
        if index < dense.count { dense[index] = result } else { sparse[index] = result }
        return result
    }

    func matcher(_ state: Int32) -> GrammarMatcher { matchers[Int(state)] }
}

extension Tokenizer {
    /// The vocabulary's trie, built on first use.
    package var tokenTrie: TokenTrie {
        trieStore.value(self)
    }
}

/// Holds a tokenizer's trie once built (a lock, so concurrent generations build it once).
final class TrieStore: Sendable {
    private let trie = Mutex<TokenTrie?>(nil)

    func value(_ tokenizer: Tokenizer) -> TokenTrie {
        trie.withLock { stored in
            if let stored { return stored }
            let made = TokenTrie(tokenizer: tokenizer)
            stored = made
            return made
        }
    }
}
