// bora-alloc-check: the per-token hot path allocates nothing, in the optimized build users run.
//
//     swift build -c release --product bora-alloc-check && .build/release/bora-alloc-check [MODEL ...]
//
// Counts every malloc of the process (CBoraMallocCounter replaces the allocator functions in this
// executable) around steady-state work, after a warm-up that has shown the buffers every shape:
//   1. single-sequence decode: `InferenceContext.evaluate` of one token, over and over;
//   2. batched steps: the forward pass with several sequences, decode rows beside prompt chunks;
//   3. speculative verification: a token and four drafts in one step, every row's logits, then the
//      rejected ones cut off (`InferenceContext.truncate`).
// Exits 1 naming the check that allocated. Models: the given ones, else the committed tiny GGUF and
// the default model when it has been fetched. Run by Tools/test.sh after the tests.
import Bora
import CBoraMallocCounter
import Foundation

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("bora-alloc-check: \(message)\n".utf8))
    bora_malloc_counter_print_stacks(2)
    exit(1)
}

func counted(_ body: () throws -> Void) rethrows -> UInt64 {
    bora_malloc_counter_start()
    try body()
    return bora_malloc_counter_stop()
}

guard bora_malloc_counter_available() != 0 else {
    print("bora-alloc-check: no malloc counter on this platform (Linux with glibc only); nothing checked")
    exit(0)
}
// The counter counts: fresh array storage is one allocation at least.
let probe = counted { _ = [Int](repeating: 1, count: Int.random(in: 100...200)) }
guard probe >= 1 else { fail("the malloc counter saw no allocation for a new array") }

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path
var models = Array(CommandLine.arguments.dropFirst())
if models.isEmpty {
    models = [root + "/Tests/BoraTests/Fixtures/models/tiny-mistral-q8_0.gguf"]
    let smol = CacheDirectory.path + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    if FileManager.default.fileExists(atPath: smol) { models.append(smol) }
}

for path in models {
    let name = (path as NSString).lastPathComponent
    let model = try LanguageModel(path: path)
    let vocabulary = model.config.vocabularySize

    // 1. Decode, one sequence.
    let context = try InferenceContext(model: model, options: ContextOptions(maxContext: 512, threads: 2))
    try context.evaluateInPlace(Array(3..<40))
    // (Mutated once before counting: an array literal may live in static storage, copied on first write.)
    var token = [7]
    token[0] = 8
    for _ in 0..<8 { try context.evaluateInPlace(token) }
    let decode = try counted {
        for i in 0..<64 {
            token[0] = 3 + (i * 31) % (vocabulary - 3)
            try context.evaluateInPlace(token)
        }
    }
    guard decode == 0 else { fail("\(name): \(decode) allocations in 64 decoded tokens") }

    // 3. Verification steps: 5 rows in, 2 kept each time.
    var verify = [3, 4, 5, 6, 7]
    var rows = 0
    func verifyStep(_ i: Int) throws {
        for j in verify.indices { verify[j] = 3 + (i * 13 + j * 5) % (vocabulary - 3) }
        let start = context.length
        try context.evaluate(verify, logitsFrom: 0) { _, logits in rows += logits.isEmpty ? 0 : 1 }
        try context.truncate(to: start + 2)
    }
    for i in 0..<4 { try verifyStep(i) }
    let verification = try counted { for i in 4..<36 { try verifyStep(i) } }
    guard rows == 36 * 5 else { fail("\(name): \(rows) logits rows from the verification steps") }
    guard verification == 0 else { fail("\(name): \(verification) allocations in 32 verification steps") }

    // 2. Batched steps: three sequences, two decoding and one reading a prompt in chunks of 5.
    let plan = try CachePlan(config: model.config, maxContext: 512, type: .f16)
    let caches = try (0..<3).map { _ in try plan.makeCache() }
    let pass = try ForwardPass(model: model, capacity: 16, maximumPieces: 3, window: plan.window,
                               maximumKeys: plan.maximumKeys, threads: 2, kernels: .fast)
    var lengths = [0, 0, 0]
    var tokens: [Int] = [], pieces: [ForwardPass.Piece] = []
    tokens.reserveCapacity(16)
    pieces.reserveCapacity(3)
    var received = 0
    func step(_ index: Int) {
        tokens.removeAll(keepingCapacity: true)
        pieces.removeAll(keepingCapacity: true)
        for s in 0..<3 where s < 2 || index % 2 == 0 {
            let count = s < 2 ? 1 : 5
            let first = tokens.count
            for i in 0..<count { tokens.append(3 + (index * 7 + s * 3 + i) % (vocabulary - 3)) }
            pieces.append(ForwardPass.Piece(cache: caches[s], start: lengths[s], tokens: first..<(first + count),
                                            logitRows: (count - 1)..<count))
            lengths[s] += count
        }
        pass.run(tokens: tokens, pieces: pieces) { _, _, logits in received += logits.isEmpty ? 0 : 1 }
    }
    for i in 0..<4 { step(i) }
    let batched = counted { for i in 4..<44 { step(i) } }
    guard received == 4 / 2 * 5 + 40 / 2 * 5 else { fail("\(name): \(received) logits rows from the batched steps") }
    guard batched == 0 else { fail("\(name): \(batched) allocations in 40 batched steps") }
    print("bora-alloc-check: \(name): 0 allocations in 64 decoded tokens, 32 verification steps and 40 batched steps")
}
