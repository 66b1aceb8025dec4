/// Every failure Bora reports. Each case names the problem (and where it was found) so that a user
/// pointing Bora at a broken or unsupported file learns what is wrong without reading a backtrace.
public enum BoraError: Error, Equatable, Sendable, CustomStringConvertible {
    // Files and formats
    case fileNotFound(path: String)
    case cannotRead(path: String, reason: String)
    case badMagic(path: String, found: String)
    case unsupportedVersion(format: String, version: Int)
    case truncated(path: String, what: String)
    case tensorOutOfBounds(tensor: String, end: Int, available: Int)
    case tensorsOverlap(String, String)
    case tensorSizeMismatch(tensor: String, shape: [Int], dtype: String, expectedBytes: Int, actualBytes: Int)
    case missingTensor(String)
    case unexpectedShape(tensor: String, expected: [Int], found: [Int])
    case unknownArchitecture(String)
    case unknownDType(tensor: String, dtype: String)
    case absurdDimension(name: String, value: Int)
    case invalidMetadata(key: String, reason: String)
    case invalidJSON(path: String, reason: String)
    case unsupportedModel(String)
    case nonFiniteWeight(NonFiniteWeight)

    // Running a model
    case contextOverflow(needed: Int, capacity: Int)
    case invalidTokenID(Int, vocabularySize: Int)
    case invalidArgument(String)
    case insufficientMemory(what: String, needed: Int, available: Int)
    case nonFiniteLogits(position: Int)
    case threadStartFailed(index: Int, code: Int32)
    case engineStopped
    case queueFull(limit: Int)

    // Tokenizers and chat
    case invalidTokenizer(String)
    case invalidConversation(String)

    // Constraints
    /// A GBNF grammar that does not parse (1-based line and column) or cannot be used.
    case invalidGrammar(line: Int, column: Int, reason: String)
    /// A JSON Schema that cannot become a grammar: the JSON pointer of the subschema at fault and why.
    case invalidSchema(path: String, reason: String)

    /// A name read from a file, cut to a length an error message can carry.
    static func shortened(_ name: String, limit: Int = 120) -> String {
        name.count <= limit ? name : String(name.prefix(limit)) + "… (\(name.utf8.count) bytes)"
    }

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "no such file or folder: \(path)"
        case .cannotRead(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .badMagic(let path, let found):
            return "\(path) is not a model file Bora knows (its first bytes are \(found))"
        case .unsupportedVersion(let format, let version):
            return "\(format) version \(version) is not supported"
        case .truncated(let path, let what):
            return "\(path) is truncated: it ends inside \(what)"
        case .tensorOutOfBounds(let tensor, let end, let available):
            return "tensor '\(tensor)' ends at byte \(end) but the data section holds only \(available) bytes (truncated file?)"
        case .tensorsOverlap(let a, let b):
            return "the data of tensors '\(a)' and '\(b)' overlap"
        case .tensorSizeMismatch(let tensor, let shape, let dtype, let expected, let actual):
            return "tensor '\(tensor)' of shape \(shape) in \(dtype) needs \(expected) bytes but has \(actual)"
        case .missingTensor(let name):
            return "the model has no tensor '\(name)'"
        case .unexpectedShape(let tensor, let expected, let found):
            return "tensor '\(tensor)' has shape \(found), expected \(expected)"
        case .unknownArchitecture(let arch):
            return "unknown architecture '\(arch)' (Bora runs llama and mistral models)"
        case .unknownDType(let tensor, let dtype):
            return "tensor '\(tensor)' has data type \(dtype), which Bora cannot read"
        case .absurdDimension(let name, let value):
            return "\(name) = \(value) is not a sensible value"
        case .invalidMetadata(let key, let reason):
            return "metadata '\(key)': \(reason)"
        case .invalidJSON(let path, let reason):
            return "\(path): invalid JSON (\(reason))"
        case .unsupportedModel(let reason):
            return "unsupported model: \(reason)"
        case .nonFiniteWeight(let bad):
            return "the weights are broken: \(bad)"
        case .contextOverflow(let needed, let capacity):
            return "the sequence needs \(needed) positions but the context holds \(capacity)"
        case .invalidTokenID(let id, let vocab):
            return "token id \(id) is outside the vocabulary (0..<\(vocab))"
        case .invalidArgument(let reason):
            return reason
        case .insufficientMemory(let what, let needed, let available):
            return "\(what) needs \(MemoryBudget.format(needed)), but only \(MemoryBudget.format(available)) of memory are available"
        case .nonFiniteLogits(let position):
            return "the logits at position \(position) are not finite (NaN or infinity): the model's weights or its activations overflowed"
        case .threadStartFailed(let index, let code):
            return "could not start worker thread \(index) (error \(code)): ask for fewer threads"
        case .engineStopped:
            return "the engine was shut down before the request finished"
        case .queueFull(let limit):
            return "the server is busy: \(limit) requests are already waiting for a slot"
        case .invalidTokenizer(let reason):
            return "tokenizer: \(reason)"
        case .invalidGrammar(let line, let column, let reason):
            return line > 0 ? "grammar, line \(line), column \(column): \(reason)" : "grammar: \(reason)"
        case .invalidSchema(let path, let reason):
            return "JSON schema, at \(path): \(reason)"
        case .invalidConversation(let reason):
            return "conversation: \(reason)"
        }
    }
}
