// Fuzz targets for every reader of untrusted bytes: GGUF, safetensors, the shard index, config.json,
// params.json, tokenizer.model, tokenizer.json and chat-message JSON. Each input must give a model,
// a tokenizer, or a BoraError, never a crash, hang or sanitizer report.
//
//   bora-fuzz replay [FOLDER|FILE]...      every file of Fuzz/Corpus/<target>/ through its target
//                                          (the default folders: Fuzz/Corpus); exit 1 on a failure
//   bora-fuzz TARGET [libFuzzer flags] [CORPUS]...   fuzz, in a build made with
//       swift build -c release --build-path .build-fuzz --product bora-fuzz \
//           -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld -Xcc -DBORA_FUZZ
//   (Tools/fuzz.sh does both.)
import Bora
import CBoraFuzz
import Foundation

enum Target: String, CaseIterable {
    case gguf, safetensors, index, config, params, sentencepiece
    case tokenizerJSON = "tokenizer-json"
    case chat
}

/// Where the corpora and the fixed files paired with each input live.
let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Corpus").path
let fixtures = corpus + "/fixtures"

/// A scratch folder of this process (in memory where the system has /dev/shm).
let scratch: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = base + "/bora-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}()

func write(_ data: UnsafeRawBufferPointer, to path: String) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(data))
}

/// A model folder made of the fixed files, with `name` replaced by the input.
func folder(_ target: Target, with data: UnsafeRawBufferPointer, as name: String, fixed: [String]) -> String {
    let path = scratch + "/" + target.rawValue
    try? FileManager.default.removeItem(atPath: path)
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    for file in fixed { try? FileManager.default.createSymbolicLink(atPath: path + "/" + file, withDestinationPath: fixtures + "/" + file) }
    write(data, to: path + "/" + name)
    return path
}

/// Loads what loads, and runs a token or two through it: the tensors' shapes are the file's claims.
func exercise(model path: String) {
    guard let model = try? LanguageModel(path: path, options: ModelLoadOptions(repackWeights: true)) else { return }
    if let context = try? InferenceContext(model: model, options: ContextOptions(maxContext: 8, threads: 1)) {
        _ = try? context.evaluateInPlace([0, min(1, model.config.vocabularySize - 1)])
    }
    if let tokenizer = try? model.tokenizer() { exercise(tokenizer: tokenizer) }
}

func exercise(tokenizer: Tokenizer) {
    for text in ["ab a b", " the  cat\n", "<|im_start|>é😀\u{0}"] {
        let ids = tokenizer.encode(text, parseSpecial: true)
        _ = tokenizer.decode(ids)
        _ = tokenizer.decode(ids + [-1, tokenizer.vocabularySize, Int.max])
    }
}

let chatTokenizer = try! Tokenizer.load(path: fixtures + "/tokenizer.json")

func run(_ target: Target, _ data: UnsafeRawBufferPointer) {
    switch target {
    case .gguf:
        let path = scratch + "/input.gguf"
        write(data, to: path)
        exercise(model: path)
    case .safetensors:
        exercise(model: folder(target, with: data, as: "model.safetensors", fixed: ["config.json"]))
    case .index:
        exercise(model: folder(target, with: data, as: "model.safetensors.index.json", fixed: ["config.json", "model.safetensors"]))
    case .config:
        exercise(model: folder(target, with: data, as: "config.json", fixed: ["model.safetensors", "tokenizer.json"]))
    case .params:
        exercise(model: folder(target, with: data, as: "params.json", fixed: ["consolidated.safetensors"]))
    case .sentencepiece:
        let path = scratch + "/tokenizer.model"
        write(data, to: path)
        if let tokenizer = try? Tokenizer.load(path: path) { exercise(tokenizer: tokenizer) }
    case .tokenizerJSON:
        let path = scratch + "/tokenizer.json"
        write(data, to: path)
        if let tokenizer = try? Tokenizer.load(path: path) { exercise(tokenizer: tokenizer) }
    case .chat:
        guard let json = try? JSONValue.parse(data), let messages = try? ChatMessage.parseList(json) else { return }
        for format in ChatFormat.allCases {
            _ = try? format.encode(messages, tokenizer: chatTokenizer, defaultSystemPrompt: "Be brief.")
        }
    }
}

nonisolated(unsafe) var fuzzed = Target.gguf

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: bora-fuzz replay [FOLDER|FILE]... | bora-fuzz TARGET [libFuzzer flags] [CORPUS]...\n".utf8))
    exit(2)
}
if arguments[1] == "replay" {
    // Each file runs through the target named by its folder (Corpus/<target>/file).
    var inputs: [(Target, String)] = []
    for root in arguments.count > 2 ? Array(arguments[2...]) : [corpus] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isFolder) else { print("no such file: \(root)"); exit(1) }
        let files = isFolder.boolValue ? (FileManager.default.subpaths(atPath: root) ?? []).map { root + "/" + $0 } : [root]
        for file in files.sorted() {
            let parent = URL(fileURLWithPath: file).deletingLastPathComponent().lastPathComponent
            guard let target = Target(rawValue: parent) else { continue }
            inputs.append((target, file))
        }
    }
    for (target, file) in inputs {
        guard let data = FileManager.default.contents(atPath: file) else { print("cannot read \(file)"); exit(1) }
        data.withUnsafeBytes { run(target, $0) }
    }
    print("replayed \(inputs.count) inputs")
    exit(0)
}
guard let target = Target(rawValue: arguments[1]) else {
    FileHandle.standardError.write(Data("unknown target \(arguments[1]); targets: \(Target.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
    exit(2)
}
fuzzed = target
// libFuzzer sees argv without the target name.
var argv = [arguments[0]] + arguments.dropFirst(2)
var cStrings = argv.map { strdup($0) }
var argc = Int32(cStrings.count)
let status = cStrings.withUnsafeMutableBufferPointer { buffer -> Int32 in
    var base: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
    return bora_fuzz_run(&argc, &base) { data, size in
        run(fuzzed, UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }
}
if status == -1 {
    FileHandle.standardError.write(Data("this bora-fuzz was built without libFuzzer: build it as Tools/fuzz.sh does\n".utf8))
    exit(2)
}
exit(status)
