import Foundation
import Synchronization
import Testing
@testable import Bora

/// Speculative decoding with prompt lookup: the same tokens (and log-probability bits) as plain
/// decoding when greedy, the target's distribution when sampling, rejected drafts cut off in every
/// cache (the rolling one past its window included), alone and in the batched engine.
@Suite struct SpeculativeDecodingTests {
    typealias Outcome = EngineTests.Outcome

    static func speculative(_ p: GenerationParameters, maxDraft: Int = 8) -> GenerationParameters {
        var p = p
        p.speculation = SpeculativeDecoding(drafter: .promptLookup(), maxDraft: maxDraft)
        return p
    }

    /// A prompt that repeats itself (what prompt lookup feeds on), from a small vocabulary range.
    static func repetitivePrompt(length: Int, period: Int, vocabulary: Int, seed: UInt64) -> [Int] {
        var random = SeededRandom(seed: seed)
        let phrase = (0..<period).map { _ in 3 + Int(random.next() % UInt64(vocabulary - 3)) }
        return (0..<length).map { phrase[$0 % period] }
    }

    /// Every request submitted to the engine at once; their outcomes in order.
    static func allAtOnce(_ requests: [(prompt: [Int], parameters: GenerationParameters)], engine: Engine) async throws -> [Outcome] {
        try await withThrowingTaskGroup(of: (Int, Outcome).self) { group in
            for (i, r) in requests.enumerated() {
                let stream = engine.generate(tokens: r.prompt, parameters: r.parameters)
                group.addTask { (i, try await EngineTests.collect(stream)) }
            }
            var results = [Outcome](repeating: Outcome(), count: requests.count)
            for try await (i, o) in group { results[i] = o }
            return results
        }
    }

    /// Plain and speculative greedy decoding of `prompts` on one model: identical outcomes, and the
    /// speculative runs drafted, kept some drafts and rejected others (so cut-backs happened).
    static func checkGreedyIdentity(model: LanguageModel, tokenizer: Tokenizer, maxContext: Int?, prompts: [[Int]],
                                    maxTokens: Int) throws -> GenerationStats {
        var total = GenerationStats()
        for (i, prompt) in prompts.enumerated() {
            var p = GenerationParameters.greedy
            p.maxTokens = maxTokens
            p.ignoreEndOfSequence = true
            p.logprobs = 2
            let plain = try EngineTests.alone(model, tokenizer: tokenizer, maxContext: maxContext, prompt: prompt, p)
            for maxDraft in [1, 5, SpeculativeDecoding.maximumDraft] {
                let fast = try EngineTests.alone(model, tokenizer: tokenizer, maxContext: maxContext, prompt: prompt,
                                                 speculative(p, maxDraft: maxDraft))
                #expect(fast == plain, "prompt \(i), draft ≤ \(maxDraft)")
                let s = try #require(fast.stats)
                total.draftedTokens += s.draftedTokens
                total.acceptedDraftTokens += s.acceptedDraftTokens
                total.weightPasses += s.weightPasses
                total.generatedTokens += s.generatedTokens
            }
        }
        #expect(total.acceptedDraftTokens > 0)
        #expect(total.acceptedDraftTokens < total.draftedTokens)
        #expect(total.weightPasses < total.generatedTokens)
        return total
    }

    /// W = 8: the sequences run many windows through the rolling cache, cut back after rejected drafts.
    @Test func greedyIdentityRollingCache() throws {
        let model = try LanguageModel(path: Fixtures.model("tiny-mistral-hf"))
        #expect(model.config.slidingWindow == 8)
        let prompts = (0..<4).map { Self.repetitivePrompt(length: 12 + 7 * $0, period: 3 + $0, vocabulary: 300, seed: UInt64($0)) }
        let stats = try Self.checkGreedyIdentity(model: model, tokenizer: EngineTests.mistralTokenizer(), maxContext: nil,
                                                 prompts: prompts, maxTokens: 60)
        #expect(stats.tokensPerWeightPass > 1)
    }

    /// A full cache of 48 positions: drafts are clipped to the room left, and generation stops at the end.
    @Test func greedyIdentityFullCache() throws {
        let model = try LanguageModel(path: Fixtures.model("tiny-llama-hf"))
        let prompts = (0..<3).map { Self.repetitivePrompt(length: 10 + 5 * $0, period: 2 + $0, vocabulary: 250, seed: UInt64(10 + $0)) }
        _ = try Self.checkGreedyIdentity(model: model, tokenizer: EngineTests.mistralTokenizer(), maxContext: 48,
                                         prompts: prompts, maxTokens: 100)
    }

    /// The default model, asked to repeat a passage: most of its answer comes from drafts.
    @Test func greedyIdentitySmolLM2() throws {
        guard let model = try DefaultModelTests.model() else { return }
        let tokenizer = try model.tokenizer()
        let passage = "The harbour was quiet at dawn. Fishermen mended their nets on the quay while gulls circled the boats."
        let messages: [ChatMessage] = [.user("Repeat this text exactly, twice: \(passage)")]
        let choice = try model.chatFormat()
        let prompt = try choice.format.encode(messages, tokenizer: tokenizer, defaultSystemPrompt: choice.defaultSystemPrompt)
        let stats = try Self.checkGreedyIdentity(model: model, tokenizer: tokenizer, maxContext: 512, prompts: [prompt], maxTokens: 80)
        #expect(stats.draftAcceptanceRate > 0.3)
    }

    /// Speculative requests beside plain ones in one engine: each gives what it gives alone.
    @Test(arguments: [(1, 64, true), (4, 12, false), (6, 512, false), (4, 12, true)])
    func batchedEqualsAlone(parallel: Int, stepTokens: Int, weighsBatch: Bool) async throws {
        let model = try LanguageModel(path: Fixtures.model("tiny-mistral-hf"))
        let tokenizer = try EngineTests.mistralTokenizer()
        // Without the batch weighed, drafting happens beside other sequences too; with it, a tiny
        // model's extra rows cost about as much as its share of a step, and it seldom drafts there.
        let engine = try Engine(model: model, options: EngineOptions(parallel: parallel, stepTokens: stepTokens, promptStepTokens: stepTokens + 3,
                                                                     speculationWeighsBatch: weighsBatch),
                                tokenizer: tokenizer)
        var requests: [(prompt: [Int], parameters: GenerationParameters)] = []
        for i in 0..<8 {
            var p = GenerationParameters.greedy
            p.maxTokens = 20 + 5 * i
            p.ignoreEndOfSequence = true
            p.logprobs = 0
            if i % 2 == 1 { p = Self.speculative(p, maxDraft: 3 + i) }
            requests.append((Self.repetitivePrompt(length: 9 + i, period: 2 + i % 3, vocabulary: 300, seed: UInt64(30 + i)), p))
        }
        let batched = try await Self.allAtOnce(requests, engine: engine)
        var kept = 0
        for (i, r) in requests.enumerated() {
            // Greedy: the plain answer, whatever the drafts and the budget did to the steps.
            var plain = r.parameters
            plain.speculation = nil
            let expected = try EngineTests.alone(model, tokenizer: tokenizer, maxContext: nil, prompt: r.prompt, plain)
            #expect(batched[i] == expected, "request \(i)")
            kept += batched[i].stats?.acceptedDraftTokens ?? 0
        }
        if !weighsBatch || parallel == 1 { #expect(kept > 0) }
        // A slot that ran speculative requests serves a request sharing its prefix as if new.
        try await EngineTests.waitUntilIdle(engine)
        for r in requests.suffix(2) {
            var again = r.parameters
            again.maxTokens = 30
            let prompt = r.prompt + [5, 6, 7]
            let reused = try await EngineTests.collect(engine.generate(tokens: prompt, parameters: again))
            again.speculation = nil
            #expect(reused == (try EngineTests.alone(model, tokenizer: tokenizer, maxContext: nil, prompt: prompt, again)))
        }
    }

    /// A seed gives the same sampled answer every time with speculation on too (the draft lengths
    /// of a sampled request do not depend on timing), and the answer differs from another seed's.
    @Test func seededSpeculativeSamplingRepeats() throws {
        let (generator, _, _) = try Self.draftGenerator()
        let prompt = Self.repetitivePrompt(length: 24, period: 5, vocabulary: 300, seed: 90)
        var p = GenerationParameters()
        (p.maxTokens, p.ignoreEndOfSequence, p.seed) = (60, true, 11)
        p.speculation = SpeculativeDecoding(drafter: .draftModel, maxDraft: 6)
        func run() throws -> Outcome {
            var o = Outcome()
            generator.reset()
            try generator.generate(prompt: prompt, parameters: p, startOfText: false) { o.take($0) }
            return o
        }
        let first = try run()
        #expect(try run() == first)
        #expect((first.stats?.acceptedDraftTokens ?? 0) > 0)
        p.seed = 12
        #expect(try run() != first)
    }

    /// The rolling cache of W + D slots can be cut back past positions a draft overwrote only while
    /// the next query's keys are intact.
    @Test func rollingCacheCutBack() throws {
        let cache = try RollingKVCache(layers: 1, kvHeads: 1, headDim: 4, window: 8, extraSlots: 4, type: .f32)
        #expect(cache.slotCount == 12)
        let rows = [Float](repeating: 1, count: 4 * 40)
        // 30 positions, then 4 drafts written past the end (positions 30..<34).
        cache.store(layer: 0, keys: rows, values: rows, positions: 0..<30)
        #expect(cache.canCut(length: 30, to: 25))   // keys 18..<25 held (18 ≥ 30 − 12)
        #expect(!cache.canCut(length: 30, to: 24))  // key 17 is gone
        cache.store(layer: 0, keys: rows, values: rows, positions: 30..<34)
        // Positions up to 21 lost their slots to 30..<34: the query at 31 sees 24…30, still held.
        #expect(cache.canCut(length: 34, to: 31))
        #expect(cache.canCut(length: 34, to: 29))   // sees 22…28
        #expect(!cache.canCut(length: 34, to: 28))  // would see key 21, overwritten by 33
        #expect(cache.canCut(length: 34, to: 0))
        // A sequence started afresh forgets what the last one wrote.
        cache.store(layer: 0, keys: rows, values: rows, positions: 0..<5)
        #expect(cache.canCut(length: 5, to: 1))
    }

    /// The acceptance rule draws each token with the target's probability: chi-square of seeded
    /// draws against softmax(logits / T), for a draft the target likes, one it finds unlikely, and
    /// one it never draws (top-k cuts it).
    @Test(arguments: [(0, 0), (4, 0), (0, 5)])
    func samplingRuleKeepsTheDistribution(draftRank: Int, topK: Int) throws {
        let tokenizer = try EngineTests.mistralTokenizer()
        let vocabulary = tokenizer.vocabularySize
        // Five tokens carry the mass: ids 10…14; a draft of id 10 + draftRank.
        let support = [2.0, 1.2, 0.8, 0.1, -0.6].map(Float.init)
        let temperature: Float = 0.8
        var logits = [Float](repeating: -30, count: vocabulary)
        for (i, l) in support.enumerated() { logits[10 + i] = l }
        if topK > 0 { logits[50] = -20 }  // the draft, 6th: outside the top 5
        let draft = topK > 0 ? 50 : 10 + draftRank
        // The prompt ends so that lookup drafts `draft` after the forced first token 7.
        let prompt = [3, 7, draft, 4, 3]
        var certain = [Float](repeating: -.infinity, count: vocabulary)
        certain[7] = 0
        let expected = support.map { exp(Double($0 / temperature)) }
        let norm = expected.reduce(0, +)
        var counts = [Int](repeating: 0, count: support.count)
        var keptDrafts = 0
        let draws = 6000
        for seed in 0..<draws {
            var p = Self.speculative(GenerationParameters(), maxDraft: 2)
            (p.temperature, p.topK, p.topP, p.minP, p.seed) = (temperature, topK, 1, 0, UInt64(seed))
            let sequence = try SequenceGeneration(prompt: prompt, parameters: p, tokenizer: tokenizer, startOfText: false, positionLimit: nil)
            var tokens: [Int] = []
            let emit: (GenerationEvent) -> Void = { if case .token(let t) = $0 { tokens.append(t.id) } }
            let first = certain.withUnsafeBufferPointer { sequence.acceptRow($0, isCancelled: false, emit: emit) }
            try #require(first == .next(7, kept: 0))
            sequence.proposeDrafts(room: 8)
            try #require(sequence.drafts.first == draft)
            let outcome = logits.withUnsafeBufferPointer { sequence.acceptRow($0, isCancelled: false, emit: emit) }
            if outcome == .accepted { keptDrafts += 1 }
            let token = tokens.last ?? -1
            try #require(tokens.count == 2 && (10..<15).contains(token))
            counts[token - 10] += 1
        }
        var chiSquare = 0.0
        for (i, n) in counts.enumerated() {
            let e = Double(draws) * expected[i] / norm
            chiSquare += (Double(n) - e) * (Double(n) - e) / e
        }
        // 4 degrees of freedom: P(χ² > 18.47) = 0.001.
        #expect(chiSquare < 18.47, "counts \(counts), χ² = \(chiSquare)")
        if topK > 0 { #expect(keptDrafts == 0) } else {
            let p = expected[draftRank] / norm
            #expect(abs(Double(keptDrafts) / Double(draws) - p) < 4 * (p * (1 - p) / Double(draws)).squareRoot() + 1e-9)
        }
    }

    // MARK: Draft model

    static func draftGenerator(maxContext: Int? = nil) throws -> (Generator, LanguageModel, LanguageModel) {
        let target = try LanguageModel(path: Fixtures.model("tiny-mistral-hf"))
        // The BF16 copy of the same weights: a draft that is mostly, not always, right.
        let draft = try LanguageModel(path: Fixtures.model("tiny-mistral-hf-bf16"))
        let generator = try Generator(model: target, options: ContextOptions(maxContext: maxContext),
                                      tokenizer: EngineTests.mistralTokenizer(), draft: draft)
        return (generator, target, draft)
    }

    /// Greedy with a draft model, through the rolling cache of both: the plain tokens.
    @Test func draftModelGreedyIdentity() throws {
        let (generator, target, _) = try Self.draftGenerator()
        var drafted = 0, kept = 0
        for i in 0..<4 {
            let prompt = Self.repetitivePrompt(length: 5 + 6 * i, period: 7, vocabulary: 300, seed: UInt64(50 + i))
            var p = GenerationParameters.greedy
            (p.maxTokens, p.ignoreEndOfSequence, p.logprobs) = (50, true, 1)
            let plain = try EngineTests.alone(target, tokenizer: generator.tokenizer, maxContext: nil, prompt: prompt, p)
            p.speculation = SpeculativeDecoding(drafter: .draftModel, maxDraft: 2 + 3 * i)
            var fast = Outcome()
            try generator.generate(prompt: prompt, parameters: p, startOfText: false) { fast.take($0) }
            #expect(fast == plain, "prompt \(i)")
            drafted += fast.stats?.draftedTokens ?? 0
            kept += fast.stats?.acceptedDraftTokens ?? 0
        }
        #expect(kept > 0 && kept < drafted)
    }

    /// With sampling, a token drafted from the draft model's q is kept with min(1, p/q), else drawn
    /// from the residual: the target's p either way (χ² of seeded draws against p).
    @Test func draftModelSamplingKeepsTheDistribution() throws {
        let tokenizer = try EngineTests.mistralTokenizer()
        let draft = try LanguageModel(path: Fixtures.model("tiny-mistral-hf"))
        let plan = try CachePlan(config: draft.config, maxContext: nil, type: .f16)
        let pass = try ForwardPass(model: draft, capacity: 64, maximumPieces: 1, window: plan.window, maximumKeys: plan.maximumKeys,
                                   threads: 1, kernels: .fast)
        let runner = try DraftModelRunner(pass: pass, plan: plan)
        let prompt = [3, 40, 41, 42, 43]
        // The target's row: the draft's own logits, sharpened and perturbed, so p and q overlap
        // without being equal.
        let draftRow = Array(try runner.logits(after: prompt + [7], [][...]))
        let vocabulary = tokenizer.vocabularySize
        var target = [Float](repeating: -.infinity, count: vocabulary)
        for i in 0..<min(vocabulary, draftRow.count) { target[i] = 1.5 * draftRow[i] + 0.8 * sin(Float(i) * 1.7) }
        let maximum = target.max()!
        let p = target.map { exp(Double($0 - maximum)) }
        let norm = p.reduce(0, +)
        let top = Array(p.indices.sorted { p[$0] > p[$1] }.prefix(6))
        var certain = [Float](repeating: -.infinity, count: vocabulary)
        certain[7] = 0
        var counts = [Int](repeating: 0, count: top.count + 1)
        var keptDrafts = 0
        let draws = 6000
        for seed in 0..<draws {
            var parameters = GenerationParameters()
            (parameters.temperature, parameters.topK, parameters.topP, parameters.minP, parameters.seed) = (1, 0, 1, 0, UInt64(seed))
            parameters.speculation = SpeculativeDecoding(drafter: .draftModel, maxDraft: 1)
            parameters.ignoreEndOfSequence = true
            let sequence = try SequenceGeneration(prompt: prompt, parameters: parameters, tokenizer: tokenizer, startOfText: false,
                                                  positionLimit: nil)
            var tokens: [Int] = []
            let emit: (GenerationEvent) -> Void = { if case .token(let t) = $0 { tokens.append(t.id) } }
            let first = certain.withUnsafeBufferPointer { sequence.acceptRow($0, isCancelled: false, emit: emit) }
            try #require(first == .next(7, kept: 0))
            try #require(sequence.proposeDrafts(room: 8, draftModel: runner) == 1)
            let outcome = target.withUnsafeBufferPointer { sequence.acceptRow($0, isCancelled: false, emit: emit) }
            if outcome == .accepted { keptDrafts += 1 }
            try #require(tokens.count == 2)
            counts[top.firstIndex(of: tokens[1]) ?? top.count] += 1
        }
        var chiSquare = 0.0
        let expected = top.map { p[$0] / norm } + [1 - top.reduce(0) { $0 + p[$1] } / norm]
        for (n, e) in zip(counts, expected) {
            let mean = Double(draws) * e
            chiSquare += (Double(n) - mean) * (Double(n) - mean) / mean
        }
        // 6 degrees of freedom: P(χ² > 22.46) = 0.001.
        #expect(chiSquare < 22.46, "counts \(counts), expected \(expected.map { $0 * Double(draws) }), χ² = \(chiSquare)")
        #expect(keptDrafts > draws / 10 && keptDrafts < draws * 9 / 10)
    }

    /// Draft-model requests beside lookup and plain ones in one engine: greedy ones give the plain
    /// tokens, sampled ones what they give alone with the same draft model.
    @Test func draftModelInTheEngine() async throws {
        let (generator, target, draft) = try Self.draftGenerator()
        let engine = try Engine(model: target, options: EngineOptions(parallel: 3, stepTokens: 512, draftModel: draft,
                                                                      speculationWeighsBatch: false),
                                tokenizer: generator.tokenizer)
        var requests: [(prompt: [Int], parameters: GenerationParameters)] = []
        for i in 0..<6 {
            var p = i % 3 == 2 ? GenerationParameters() : GenerationParameters.greedy
            (p.maxTokens, p.ignoreEndOfSequence, p.logprobs, p.seed) = (24 + 4 * i, true, 0, UInt64(i))
            p.speculation = SpeculativeDecoding(drafter: i % 3 == 1 ? .promptLookup() : .draftModel, maxDraft: 4 + i)
            requests.append((Self.repetitivePrompt(length: 6 + i, period: 4, vocabulary: 300, seed: UInt64(70 + i)), p))
        }
        // The draft model drafts for all the sequences drafting with it in one pass per position:
        // some steps draw more drafts than they run passes (one pass per draft would not).
        let reports = Mutex<[StepReport]>([])
        engine.observeSteps { report in reports.withLock { $0.append(report) } }
        let batched = try await Self.allAtOnce(requests, engine: engine)
        engine.observeSteps(nil)
        let drafting = reports.withLock { $0 }.filter { $0.draftModelPasses > 0 }
        #expect(drafting.allSatisfy { $0.draftModelPasses <= $0.draftModelDrafts && $0.draftModelPasses <= 9 })
        #expect(drafting.contains { $0.draftModelDrafts > $0.draftModelPasses })
        for (i, r) in requests.enumerated() {
            var alone = Outcome()
            generator.reset()
            try generator.generate(prompt: r.prompt, parameters: r.parameters, startOfText: false) { alone.take($0) }
            #expect(batched[i] == alone, "request \(i)")
            if r.parameters.temperature == 0 {
                var plain = r.parameters
                plain.speculation = nil
                #expect(alone == (try EngineTests.alone(target, tokenizer: generator.tokenizer, maxContext: nil, prompt: r.prompt, plain)))
            }
        }
    }

    /// The draft model reads the prompt with the model, in the prompt's time (not at the first draft,
    /// inside the generation and, in an engine, inside a step every sequence waits on); requests
    /// that do not draft with it leave it alone.
    @Test func draftModelReadsThePromptWithTheModel() async throws {
        let (generator, target, draft) = try Self.draftGenerator()
        let prompt = Self.repetitivePrompt(length: 40, period: 7, vocabulary: 300, seed: 90)
        var p = GenerationParameters.greedy
        (p.maxTokens, p.ignoreEndOfSequence) = (1, true)  // one token: the draft model never drafts
        try generator.generate(prompt: prompt, parameters: p, startOfText: false) { _ in }
        #expect(generator.draft?.tokens == [])
        p.speculation = SpeculativeDecoding(drafter: .draftModel)
        try generator.generate(prompt: prompt, parameters: p, startOfText: false) { _ in }
        #expect(generator.draft?.tokens == prompt)
        // A longer prompt with the same start: the draft then holds all of it.
        let longer = prompt + [5, 6, 7]
        try generator.generate(prompt: longer, parameters: p, startOfText: false) { _ in }
        #expect(generator.draft?.tokens == longer)

        // The engine reads each prompt chunk (16 tokens a step) into the draft model after the model.
        let engine = try Engine(model: target, options: EngineOptions(parallel: 2, stepTokens: 16, promptStepTokens: 16, draftModel: draft),
                                tokenizer: generator.tokenizer)
        var plain = p
        plain.speculation = nil
        let outcomes = try await Self.allAtOnce([(prompt, p), (longer, plain)], engine: engine)
        #expect(outcomes.allSatisfy { $0.stats?.generatedTokens == 1 })
        let primed = engine.scheduler.slots.compactMap { $0.draft?.tokens }.filter { !$0.isEmpty }
        #expect(primed == [prompt])
    }

    @Test func refusesADraftOfAnotherVocabulary() throws {
        let target = try LanguageModel(path: Fixtures.model("tiny-mistral-hf"))
        let other = try LanguageModel(path: Fixtures.model("tiny-llama-hf"))
        let tokenizer = try EngineTests.mistralTokenizer()
        #expect(throws: BoraError.invalidArgument("the draft model's vocabulary has 256 tokens, the model's 320: a draft must share the tokenizer")) {
            try Generator(model: target, tokenizer: tokenizer, draft: other)
        }
        // A request for a draft model where there is none.
        let generator = try Generator(model: target, tokenizer: tokenizer)
        var p = GenerationParameters.greedy
        p.speculation = SpeculativeDecoding(drafter: .draftModel)
        #expect(throws: BoraError.self) { try generator.generate(prompt: [3, 4], parameters: p, startOfText: false) { _ in } }
        let engine = try Engine(model: target, options: EngineOptions(parallel: 1), tokenizer: tokenizer)
        #expect(throws: BoraError.self) { _ = try engine.submit(tokens: [3, 4], parameters: p, startOfText: false) }
    }

    @Test func lookupProposesTheMostRecentLongestMatch() {
        let lookup = PromptLookup(ngramMin: 1, ngramMax: 3)
        // Suffix [1, 2, 3] occurs at 0 (followed by 9) and at 5 (followed by 4 5 7): the later wins.
        #expect(lookup.match(in: [1, 2, 3, 9, 8, 1, 2, 3, 4, 5, 7, 1, 2, 3])! == (8, 3))
        // Only [3] recurs: the 1-gram match, continued by 6 6.
        #expect(lookup.match(in: [3, 6, 6, 0, 3])! == (1, 1))
        #expect(lookup.match(in: [1, 2, 3, 4]) == nil)
        // The occurrence must leave a token to propose: [5] at 0, continued by the last token.
        #expect(lookup.match(in: [5, 5])! == (1, 1))
        // The longest suffix is capped at ngramMax: [2, 3, 4] of the 4-token repeat.
        #expect(lookup.match(in: [1, 2, 3, 4, 0, 1, 2, 3, 4])! == (4, 3))
        #expect(PromptLookup(ngramMin: 2, ngramMax: 3).match(in: [3, 6, 6, 0, 3]) == nil)
    }

    /// Without a recurring suffix, lookup goes on copying the text its last drafts came from, past
    /// a token the model wrote in place of the one there; a draft that keeps nothing right after one
    /// that fell short ends it.
    @Test func lookupFollowsTheTextPastASubstitution() {
        var lookup = PromptLookup(ngramMin: 2, ngramMax: 4)
        let following = lookup.followingKind
        func source(_ history: [Int]) -> [Int]? { lookup.source(in: history).map { [$0.start, $0.kind] } }
        var history = [10, 11, 12, 13, 14, 15, 16, 17, 50, 10, 11]
        // [10, 11] recurs: draft 12 13 14 from position 2; the model writes 99 instead of 12.
        #expect(source(history) == [2, 2])
        lookup.drafting(from: 2, at: history.count)
        history.append(99)
        lookup.settle(drafted: 3, kept: 0, history: history)
        // No suffix of [11, 99] recurs, but the copy goes on after the replaced 12: 13 14 15 …
        #expect(lookup.match(in: history) == nil)
        #expect(source(history) == [3, following])
        lookup.drafting(from: 3, at: history.count)
        history += [13, 14, 15, 16]  // all three kept, then 16 as in the source
        lookup.settle(drafted: 3, kept: 3, history: history)
        // A recurring suffix ([13, 14, 15, 16]) takes over again.
        #expect(source(history) == [7, 4])
        // A draft kept in part is a substitution too; the copy goes on after it.
        history += [60, 61]
        #expect(source(history) == [9, following])
        lookup.drafting(from: 9, at: history.count)
        history += [10, 62]  // kept 10, then 62 in place of 11
        lookup.settle(drafted: 2, kept: 1, history: history)
        #expect(source(history) == [11, following])
        // A draft that keeps nothing right after one that fell short: copying stops.
        lookup.drafting(from: 11, at: history.count)
        history.append(70)
        lookup.settle(drafted: 2, kept: 0, history: history)
        #expect(source(history) == nil)
    }

    /// A step's cost is the median of its recent times: one slow step (the host busy) does not make
    /// drafting look dear, while a lasting change is followed within a few steps.
    @Test func scheduleCostIsTheMedianOfRecentSteps() {
        var s = DraftSchedule(maximum: 8)
        for _ in 0..<3 { s.observe(rows: 1, seconds: 0.010) }
        for seconds in [0.011, 0.011, 0.050, 0.011] { s.observe(rows: 2, seconds: seconds) }
        #expect(abs(s.cost(rows: 2) - 1.1) < 1e-9)
        for _ in 0..<3 { s.observe(rows: 2, seconds: 0.020) }
        #expect(abs(s.cost(rows: 2) - 2.0) < 1e-9)
        // Not measured yet: the estimate of a quarter of a decode step per extra row.
        #expect(s.cost(rows: 5) == 2.0)
    }

    /// The draft length follows the kept share and what rows cost; when nothing pays it pauses,
    /// then probes.
    @Test func scheduleWeighsAcceptanceAgainstCost() {
        var s = DraftSchedule(maximum: 8)
        // Prior: α = ½, a row costs a quarter of a decode step: one draft pays best.
        #expect(s.next() == 1)
        for _ in 0..<6 { s.record(drafted: 4, kept: 4) }
        #expect(s.acceptance() > 0.9)
        let long = s.next()
        #expect(long >= 5)
        // Rows measured as nearly free: the longest draft.
        s.observe(rows: 1, seconds: 0.010)
        for rows in 2...9 { s.observe(rows: rows, seconds: 0.0105) }
        #expect(s.next() == 8)
        // Rows measured at three decode steps each, and drafts that are never kept: none pays.
        var t = DraftSchedule(maximum: 8)
        t.observe(rows: 1, seconds: 0.010)
        for rows in 2...9 { t.observe(rows: rows, seconds: 0.030) }
        for _ in 0..<3 { t.record(drafted: 2, kept: 0) }
        #expect(t.next() == 0)
        for _ in 0..<8 { #expect(t.next() == 0) }
        #expect(t.next() == 2)  // the probe after the pause
        t.record(drafted: 2, kept: 0)
        #expect(t.next() == 0)
        for _ in 0..<16 { #expect(t.next() == 0) }  // the pause doubled
        #expect(t.next() == 2)
    }

    /// Kinds of draft (the lookup's match lengths) keep their own kept share and pause: drafts
    /// after 4-token matches that hold grow long while those after 2-token matches, never kept,
    /// stop and pause, and the one kind's pause neither stops the other nor counts its steps.
    @Test func scheduleKeepsKindsApart() {
        var s = DraftSchedule(maximum: 8, kinds: 5)
        for _ in 0..<6 {
            let k = s.next(kind: 4)
            #expect(k >= 1)
            s.record(drafted: k, kept: k)
        }
        #expect(s.acceptance(kind: 4) > 0.9)
        // Drafts after 2-token matches, never kept, until none pays.
        var tries = 0
        while tries < 20, case let k = s.next(kind: 2), k > 0 {
            s.record(drafted: k, kept: 0)
            tries += 1
        }
        #expect(tries < 20 && s.acceptance(kind: 2) < 0.25)
        #expect(s.acceptance(kind: 4) > 0.9)
        for _ in 0..<8 {
            #expect(s.next(kind: 2) == 0)
            let k = s.next(kind: 4)
            #expect(k >= 5)
            s.record(drafted: k, kept: k)
        }
        #expect(s.next(kind: 2) == 2)  // the probe after its pause of 8 occurrences
        #expect(s.acceptance(kind: 3) == 0.5)  // a kind not seen keeps the prior
    }

    /// In a step of several sequences the weights' reads are shared already: the same rows weigh
    /// more against a sequence's share of the step, so drafts shrink, and stop where a draft model's
    /// passes cost more than they save — without the pause, which is for drafts that do not pay alone.
    @Test func scheduleWeighsRowsAgainstTheBatch() throws {
        var s = DraftSchedule(maximum: 8)
        for _ in 0..<6 { s.record(drafted: 4, kept: 4) }
        let alone = s.next()
        #expect(alone >= 5)
        var steps = StepCosts(maximumRows: 64), passes = StepCosts(maximumRows: 64)
        #expect(BatchPrice(batch: 1, steps: steps, draftPasses: passes) == nil)
        // 8 sequences, no step measured (1 + ¼ per extra row): a row is 0.25 / (2.75 / 8) ≈ 0.73 of
        // a sequence's share of the step.
        let estimated = try #require(BatchPrice(batch: 8, steps: steps, draftPasses: passes))
        #expect(abs(estimated.row - 0.25 * 8 / 2.75) < 1e-12 && estimated.draftPass == 0)
        let batched = s.next(price: estimated)
        #expect(batched >= 1 && batched < alone)
        // Measured steps where extra rows are nearly free (a memory-bound model): long drafts again.
        for rows in 8...17 { steps.observe(rows: rows, seconds: 0.100 + 0.001 * Double(rows - 8)) }
        let cheap = try #require(BatchPrice(batch: 8, steps: steps, draftPasses: passes))
        #expect(abs(cheap.row - 0.08) < 1e-9)
        #expect(s.next(price: cheap) == 8)
        // A draft model whose pass costs as much as the model's step: no draft pays, and the sequence
        // alone drafts at once (no pause).
        passes.observe(rows: 16, seconds: 0.100)
        let dear = try #require(BatchPrice(batch: 8, steps: steps, draftPasses: passes))
        #expect(abs(dear.draftPass - 1) < 1e-9)
        #expect(s.next(price: dear) == 0)
        #expect(s.next() == alone)
    }

    /// Step times: the median per row count, the least-squares line through the counts measured,
    /// and the one count measured where there is one.
    @Test func stepCostsEstimateUnmeasuredCounts() throws {
        var c = StepCosts(maximumRows: 32)
        #expect(c.estimate(rows: 4) == nil && c.line() == nil)
        c.observe(rows: 4, seconds: 0.010)
        #expect(c.estimate(rows: 9) == 0.010)
        c.observe(rows: 8, seconds: 0.014)
        c.observe(rows: 8, seconds: 0.050)  // a spike: the median of [0.014, 0.050] is the lower
        let line = try #require(c.line())
        #expect(abs(line.slope - 0.001) < 1e-12)
        #expect(abs((c.estimate(rows: 12) ?? 0) - 0.018) < 1e-12)
        #expect(c.estimate(rows: 8) == 0.014)
        // A line that falls to 0 above the count asked for gives the smallest count's time instead.
        var steep = StepCosts(maximumRows: 32)
        steep.observe(rows: 16, seconds: 0.010)
        steep.observe(rows: 24, seconds: 0.030)
        #expect(steep.estimate(rows: 4) == 0.010)
        #expect(BatchPrice(batch: 4, steps: steep, draftPasses: StepCosts(maximumRows: 32)).map { $0.row > 0 } == true)
    }

    @Test func refusesBadDraftLengths() {
        var p = GenerationParameters()
        p.speculation = SpeculativeDecoding(maxDraft: 0)
        #expect(throws: BoraError.invalidArgument("the draft length must be between 1 and 16, got 0")) { try p.validate() }
        p.speculation = SpeculativeDecoding(drafter: .promptLookup(ngramMin: 3, ngramMax: 2))
        #expect(throws: BoraError.self) { try p.validate() }
    }
}
