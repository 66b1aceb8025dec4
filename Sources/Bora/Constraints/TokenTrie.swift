import Synchronization

/// The vocabulary's token bytes as a trie, built once per tokenizer: a grammar's allowed tokens
/// are found by walking it with the grammar's state, so tokens that share a prefix share its
/// matching, and a byte the grammar refuses prunes every token that starts with it.
package final class TokenTrie: Sendable {
    struct Node: Sendable {
        var children: [(byte: UInt8, node: Int32)] = []
        /// Tokens whose bytes end here.
        var tokens: [Int32] = []
    }

    let nodes: [Node]
    /// Tokens that stand for no bytes (control tokens), never allowed by a grammar.
    package let tokenCount: Int

    init(tokenizer: Tokenizer) {
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
        self.nodes = nodes
        tokenCount = tokenizer.vocabularySize
    }

    /// Every token the grammar can take whole from `matcher`'s state, in id order. With
    /// `skipLeadingSpace`, a token's first byte may be a space the text will not show (the
    /// SentencePiece "▁" a detokenizer drops at the start of an answer).
    package func allowed(from matcher: GrammarMatcher, skipLeadingSpace: Bool = false) -> [Int32] {
        var out: [Int32] = []
        func walk(_ node: Int, _ state: GrammarMatcher, skipping: Bool) {
            out.append(contentsOf: nodes[node].tokens)
            for (byte, child) in nodes[node].children {
                if skipping && byte == 0x20 {
                    walk(Int(child), state, skipping: false)
                    continue
                }
                var next = state
                if next.accept(byte: byte) { walk(Int(child), next, skipping: false) }
            }
        }
        for (byte, child) in nodes[0].children {
            if skipLeadingSpace && byte == 0x20 {
                walk(Int(child), matcher, skipping: false)
                continue
            }
            var next = matcher
            if next.accept(byte: byte) { walk(Int(child), next, skipping: false) }
        }
        out.sort()
        // A token reached twice (its bytes with and without the skipped space) counts once.
        var unique: [Int32] = []
        unique.reserveCapacity(out.count)
        for t in out where unique.last != t { unique.append(t) }
        return unique
    }
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
