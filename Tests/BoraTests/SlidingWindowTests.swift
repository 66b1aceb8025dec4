import Testing
@testable import Bora

/// Chunked, unchunked and token-by-token evaluation, and the rolling buffer over long sequences.
@Suite struct SlidingWindowTests {
    static let mistral = Fixtures.model("tiny-mistral-hf")

    @Test(arguments: [1, 3, 7, 8, 9, 32])
    func chunkedEqualsUnchunked(chunk: Int) throws {
        let reference = try Fixtures.reference("tiny-mistral-hf")
        let model = try LanguageModel(path: Self.mistral)
        let whole = try InferenceContext(model: model, options: ContextOptions(chunkSize: 64)).evaluateAll(reference.ids)
        let chunked = try InferenceContext(model: model, options: ContextOptions(chunkSize: chunk)).evaluateAll(reference.ids)
        for (a, b) in zip(whole, chunked) {
            #expect(maxAbsDifference(a, b) < 1e-5)
        }
    }

    @Test func tokenByTokenEqualsUnchunked() throws {
        let reference = try Fixtures.reference("tiny-mistral-hf")
        let model = try LanguageModel(path: Self.mistral)
        let whole = try InferenceContext(model: model).evaluateAll(reference.ids)
        let context = try InferenceContext(model: model)
        // Uneven pieces, then single tokens: each call continues the sequence through the cache.
        var position = 0
        for size in [5, 1, 2, 11, 1, 1, 1, 10] {
            let rows = try context.evaluateAll(Array(reference.ids[position..<(position + size)]))
            for (offset, row) in rows.enumerated() {
                #expect(maxAbsDifference(row, whole[position + offset]) < 1e-5, "position \(position + offset)")
            }
            position += size
        }
        #expect(position == reference.ids.count)
    }

    @Test func greedyDecodeWithRollingCacheMatchesFullRecompute() throws {
        let reference = try Fixtures.reference("tiny-mistral-hf")
        let prompt = try #require(reference.greedy_prompt)
        let expected = try #require(reference.greedy_continuation)
        let model = try LanguageModel(path: Self.mistral)
        let context = try InferenceContext(model: model)
        #expect(context.cache is RollingKVCache)
        var logits = try context.evaluate(prompt)
        var generated: [Int] = []
        for _ in 0..<expected.count {
            let next = logits.indices.max { logits[$0] < logits[$1] }!
            generated.append(next)
            logits = try context.evaluate([next])
        }
        #expect(generated == expected)
        #expect(context.length == prompt.count + expected.count)
        #expect(context.length > 5 * 8)
    }

    @Test func rollingCacheHoldsWindowSlotsAndDraftRoom() throws {
        let model = try LanguageModel(path: Self.mistral)
        let context = try InferenceContext(model: model, options: ContextOptions(maxContext: 4096))
        let cache = try #require(context.cache as? RollingKVCache)
        // W slots, plus the ones that let a speculative step's rejected drafts be cut off.
        let slots = 8 + SpeculativeDecoding.maximumDraft
        #expect(cache.slotCount == slots && cache.window == 8)
        #expect(cache.byteCount == 2 * 3 * 2 * slots * 16 * 2)  // F16: layers × K,V × KV heads × slots × head dim × 2 bytes
        #expect(cache.maximumLength == nil)
        // A sequence far longer than the model's stated context still runs in W slots.
        let tokens = (0..<200).map { ($0 * 37) % 320 }
        let rows = try context.evaluateAll(tokens)
        #expect(rows.count == 200 && rows.allSatisfy { $0.allSatisfy(\.isFinite) })
        #expect(cache.heldPositions(length: 200) == (200 - slots)..<200)
    }

    @Test func fullCacheRefusesToOverflow() throws {
        let model = try LanguageModel(path: Fixtures.model("tiny-llama-hf"))
        let context = try InferenceContext(model: model, options: ContextOptions(maxContext: 10))
        #expect(context.cache is FullKVCache)
        try context.evaluate(Array(repeating: 3, count: 8))
        #expect(throws: BoraError.contextOverflow(needed: 11, capacity: 10)) { try context.evaluate([1, 2, 3]) }
        #expect(context.length == 8)
    }

    @Test func windowRule() {
        let w = AttentionWindow(size: 4)
        #expect(w.isVisible(query: 10, key: 10))
        #expect(w.isVisible(query: 10, key: 7))       // 10 − 7 = 3 < 4
        #expect(!w.isVisible(query: 10, key: 6))      // W keys, itself included
        #expect(!w.isVisible(query: 10, key: 11))     // causal
        let full = AttentionWindow(size: nil)
        #expect(full.isVisible(query: 1000, key: 0) && !full.isVisible(query: 0, key: 1))
        // The range the attention kernels walk is exactly the keys the rule admits.
        for window in [AttentionWindow(size: nil), AttentionWindow(size: 1), AttentionWindow(size: 4)] {
            for query in 0..<20 {
                for key in 0..<25 { #expect(window.visibleKeys(query: query).contains(key) == window.isVisible(query: query, key: key)) }
            }
        }
    }

    /// A window as long as the sequence changes nothing; W = 1 leaves each token alone with itself.
    @Test func windowExtremes() throws {
        let reference = try Fixtures.reference("tiny-mistral-hf")
        let ids = Array(reference.ids.prefix(12))
        let noWindow = try InferenceContext(model: LanguageModel(path: Self.mistral, options: .init(slidingWindow: 0))).evaluateAll(ids)
        let wide = try InferenceContext(model: LanguageModel(path: Self.mistral, options: .init(slidingWindow: 12))).evaluateAll(ids)
        for (a, b) in zip(noWindow, wide) { #expect(maxAbsDifference(a, b) < 1e-5) }

        let single = try InferenceContext(model: LanguageModel(path: Self.mistral, options: .init(slidingWindow: 1))).evaluateAll(ids)
        // With W = 1 a token's logits depend on the token alone, not on what precedes it.
        let alone = try InferenceContext(model: LanguageModel(path: Self.mistral, options: .init(slidingWindow: 1))).evaluateAll([ids[7]])
        #expect(maxAbsDifference(single[7], alone[0]) < 1e-5)
    }
}
