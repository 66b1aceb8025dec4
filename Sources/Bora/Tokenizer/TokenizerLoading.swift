import Foundation

extension Tokenizer {
    /// Loads a tokenizer from a model (GGUF file, Hugging Face or Mistral folder) or from a tokenizer
    /// file (`tokenizer.model`, `tokenizer.model.v3`, `tokenizer.json`).
    public static func load(path: String) throws(BoraError) -> Tokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .fileNotFound(path: path) }
        if isDirectory.boolValue { return try fromFolder(path) }
        let name = (path as NSString).lastPathComponent
        if name.hasSuffix(".json") { return try fromTokenizerJSON(path: path, config: nil) }
        let file = try MappedFile(path: path)
        if file.size >= 4, file.base.loadUnaligned(as: UInt32.self) == GGUFFile.magic {
            return try fromGGUF(GGUFFile(file: file))
        }
        return try fromSentencePieceModel(file: file, addBOS: true, addEOS: false, chatTemplate: nil)
    }

    /// The tokenizer that belongs to an opened model.
    public static func forModel(_ files: ModelFiles) throws(BoraError) -> Tokenizer {
        let rows = files.config.vocabularySize
        let tokenizer: Tokenizer
        if let gguf = files.gguf {
            tokenizer = try fromGGUF(gguf)
        } else {
            guard let folder = files.folder else { throw .invalidTokenizer("the model has no tokenizer") }
            tokenizer = try fromFolder(folder)
        }
        try checkCoverage(tokenizer, modelRows: rows)
        return tokenizer
    }

    /// The tokenizer and the model must agree on the ids: text must not encode to an id past the
    /// embedding, and an embedding row past the tokenizer cannot be detokenized when sampled.
    /// Tokens past the embedding are accepted only when special (a pad token a fine-tune declared
    /// but never trained: text never encodes to it). Rows past the tokenizer are accepted only as
    /// padding (an embedding rounded up to a multiple of 64 rows); generation never samples them.
    static func checkCoverage(_ tokenizer: Tokenizer, modelRows rows: Int) throws(BoraError) {
        let count = tokenizer.vocabularySize
        if count > rows, let id = (rows..<count).first(where: { tokenizer.tokenType($0) != .control }) {
            throw .invalidTokenizer("the tokenizer has \(count) tokens but the model's embedding only \(rows) rows " +
                                    "(token \(id), '\(BoraError.shortened(tokenizer.piece(id)))', has no row)")
        }
        if count < rows, rows % 64 != 0 {
            throw .invalidTokenizer("the model's embedding has \(rows) rows but the tokenizer covers only \(count) ids: " +
                                    "the \(rows - count) extra tokens (a fine-tune's added tokens?) are in neither tokenizer.json's added_tokens nor added_tokens.json")
        }
    }

    // MARK: SentencePiece model files

    /// - Parameter folder: where to look for tokens a fine-tune added after the model's pieces.
    static func fromSentencePieceModel(file: MappedFile, addBOS: Bool, addEOS: Bool, chatTemplate: String?,
                                       addedTokensFolder folder: String? = nil) throws(BoraError) -> Tokenizer {
        var model = try SentencePieceModelFile(bytes: file.bytes, path: file.path)
        for token in try folder.map({ folder throws(BoraError) in try addedTokens(in: folder, from: model.pieces.count) }) ?? [] {
            guard token.id == model.pieces.count else {
                throw .invalidTokenizer("\(file.path): added token '\(BoraError.shortened(token.content))' has id \(token.id), expected \(model.pieces.count) (added ids must follow the model's pieces)")
            }
            model.pieces.append(token.content)
            model.scores.append(0)
            model.types.append(token.special ? .control : .userDefined)
        }
        guard model.modelType == 2 else {
            throw .invalidTokenizer("\(file.path) is a \(model.modelType == 1 ? "unigram" : "type \(model.modelType)") sentencepiece model; Bora reads BPE models")
        }
        guard model.precompiledCharsmapBytes == 0 else {
            throw .invalidTokenizer("\(file.path) uses the '\(model.normalizerName)' normalizer; only identity normalization is supported")
        }
        guard model.escapeWhitespaces, !model.treatWhitespaceAsSuffix else {
            throw .invalidTokenizer("\(file.path): whitespace options other than sentencepiece's defaults are not supported")
        }
        var options = SentencePieceEncoder.Options()
        options.addDummyPrefix = model.addDummyPrefix
        options.removeExtraWhitespaces = model.removeExtraWhitespaces
        options.byteFallback = model.byteFallback
        if let surface = model.unknownSurface { options.unknownSurface = surface }
        let vocabulary = Vocabulary(pieces: model.pieces, types: model.types)
        let encoder = try SentencePieceEncoder(vocabulary: vocabulary, scores: model.scores, options: options)
        let valid = { (id: Int) in id >= 0 && id < vocabulary.count ? id : nil }
        return Tokenizer(encoder: .sentencePiece(encoder), bosID: valid(model.bosID), eosID: valid(model.eosID),
                         addBOS: addBOS, addEOS: addEOS, chatTemplate: chatTemplate)
    }

    // MARK: GGUF metadata

    static func fromGGUF(_ gguf: GGUFFile) throws(BoraError) -> Tokenizer {
        let m = gguf.metadata
        guard let kind = m["tokenizer.ggml.model"]?.string else {
            throw .invalidTokenizer("\(gguf.file.path) carries no tokenizer (tokenizer.ggml.model is missing)")
        }
        guard let tokenValues = m["tokenizer.ggml.tokens"]?.array else { throw .invalidMetadata(key: "tokenizer.ggml.tokens", reason: "missing") }
        let pieces = tokenValues.map { $0.string ?? "" }
        var types = [TokenType](repeating: .normal, count: pieces.count)
        if let raw = m["tokenizer.ggml.token_type"]?.array {
            guard raw.count == pieces.count else {
                throw .invalidMetadata(key: "tokenizer.ggml.token_type", reason: "\(raw.count) types for \(pieces.count) tokens")
            }
            for (i, v) in raw.enumerated() { types[i] = TokenType(rawValue: v.int ?? 1) ?? .normal }
        }
        func id(_ key: String) -> Int? {
            guard let v = m["tokenizer.ggml.\(key)"]?.int, v >= 0, v < pieces.count else { return nil }
            return v
        }
        let template = m["tokenizer.chat_template"]?.string
        let vocabulary = Vocabulary(pieces: pieces, types: types)
        var extraEnds: [Int] = []
        for key in ["eot_token_id", "eom_token_id"] { if let e = id(key) { extraEnds.append(e) } }

        switch kind {
        case "llama":
            var scores = [Float](repeating: 0, count: pieces.count)
            if let raw = m["tokenizer.ggml.scores"]?.array {
                guard raw.count == pieces.count else {
                    throw .invalidMetadata(key: "tokenizer.ggml.scores", reason: "\(raw.count) scores for \(pieces.count) tokens")
                }
                for (i, v) in raw.enumerated() { scores[i] = Float(v.double ?? 0) }
            }
            var options = SentencePieceEncoder.Options()
            options.addDummyPrefix = m["tokenizer.ggml.add_space_prefix"]?.bool ?? true
            options.removeExtraWhitespaces = m["tokenizer.ggml.remove_extra_whitespaces"]?.bool ?? false
            options.byteFallback = types.filter { $0 == .byte }.count == 256
            let encoder = try SentencePieceEncoder(vocabulary: vocabulary, scores: scores, options: options)
            return Tokenizer(encoder: .sentencePiece(encoder), bosID: id("bos_token_id"), eosID: id("eos_token_id"),
                             addBOS: m["tokenizer.ggml.add_bos_token"]?.bool ?? true,
                             addEOS: m["tokenizer.ggml.add_eos_token"]?.bool ?? false,
                             extraEndOfGeneration: extraEnds, chatTemplate: template)
        case "gpt2":
            guard let mergeValues = m["tokenizer.ggml.merges"]?.array else { throw .invalidMetadata(key: "tokenizer.ggml.merges", reason: "missing") }
            var merges: [(String, String)] = []
            merges.reserveCapacity(mergeValues.count)
            for v in mergeValues {
                let text = v.string ?? ""
                guard let pair = splitMerge(text) else { throw .invalidMetadata(key: "tokenizer.ggml.merges", reason: "entry '\(text)' is not 'left right'") }
                merges.append(pair)
            }
            var warnings: [String] = []
            let preName = m["tokenizer.ggml.pre"]?.string ?? "default"
            let pre: PreTokenizer
            if let known = PreTokenizer(ggufName: preName) {
                pre = known
            } else {
                pre = .gpt2
                warnings.append("unknown pre-tokenizer '\(preName)' in \(gguf.file.path); using the GPT-2 split, token ids may differ from the reference")
            }
            let encoder = try ByteLevelEncoder(vocabulary: vocabulary, merges: merges, preTokenizer: pre,
                                               // llama.cpp drops bytes its vocabulary lacks rather than emitting <unk>.
                                               ignoreMerges: pre == .llama3, unknownID: nil)
            return Tokenizer(encoder: .byteLevel(encoder), bosID: id("bos_token_id"), eosID: id("eos_token_id"),
                             addBOS: m["tokenizer.ggml.add_bos_token"]?.bool ?? false,
                             addEOS: m["tokenizer.ggml.add_eos_token"]?.bool ?? false,
                             extraEndOfGeneration: extraEnds, chatTemplate: template, warnings: warnings)
        default:
            throw .invalidTokenizer("tokenizer model '\(kind)' is not supported (Bora reads 'llama' SentencePiece and 'gpt2' byte-level BPE)")
        }
    }

    /// "Ġt he" → ("Ġt", "he"): split at the first space after the first character (as llama.cpp does).
    static func splitMerge(_ text: String) -> (String, String)? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 3, let space = utf8[1...].firstIndex(of: 0x20) else { return nil }
        return (String(decoding: utf8[..<space], as: UTF8.self), String(decoding: utf8[(space + 1)...], as: UTF8.self))
    }

    // MARK: Folders and tokenizer.json

    static func fromFolder(_ folder: String) throws(BoraError) -> Tokenizer {
        let fm = FileManager.default
        let configPath = folder + "/tokenizer_config.json"
        let config = fm.fileExists(atPath: configPath) ? try JSONObject(contentsOf: configPath) : nil
        let template = config.flatMap(chatTemplate(in:))
        // sentencepiece's own model file is the exact reference; prefer it over a converted tokenizer.json.
        for name in ["tokenizer.model", "tokenizer.model.v3", "tokenizer.model.v2", "tokenizer.model.v1"] where fm.fileExists(atPath: folder + "/" + name) {
            let addBOS = config?.bool("add_bos_token") ?? true
            let addEOS = config?.bool("add_eos_token") ?? false
            return try fromSentencePieceModel(file: MappedFile(path: folder + "/" + name), addBOS: addBOS, addEOS: addEOS,
                                              chatTemplate: template, addedTokensFolder: folder)
        }
        if fm.fileExists(atPath: folder + "/tokenizer.json") {
            return try fromTokenizerJSON(path: folder + "/tokenizer.json", config: config)
        }
        if let tekken = (try? fm.contentsOfDirectory(atPath: folder))?.first(where: { $0.hasPrefix("tekken") }) {
            throw .invalidTokenizer("\(folder)/\(tekken): Mistral's tekken tokenizer is not supported")
        }
        throw .invalidTokenizer("\(folder) holds no tokenizer.model or tokenizer.json")
    }

    /// A token a fine-tune added to a SentencePiece vocabulary.
    struct AddedToken: Equatable {
        let id: Int
        let content: String
        let special: Bool
    }

    /// The added tokens of a folder with ids from `first` on, in id order, as transformers' slow
    /// tokenizer adds them to `tokenizer.model`: from tokenizer.json's `added_tokens`, else
    /// `added_tokens.json` (content → id; special when tokenizer_config.json says so).
    static func addedTokens(in folder: String, from first: Int) throws(BoraError) -> [AddedToken] {
        let fm = FileManager.default
        var tokens: [Int: AddedToken] = [:]
        if fm.fileExists(atPath: folder + "/tokenizer.json") {
            let path = folder + "/tokenizer.json"
            for token in try addedTokenList(of: JSONObject(contentsOf: path), path: path) where token.id >= first { tokens[token.id] = token }
        } else if fm.fileExists(atPath: folder + "/added_tokens.json") {
            let path = folder + "/added_tokens.json"
            guard let members = try JSONObject(contentsOf: path).value.members else {
                throw .invalidJSON(path: path, reason: "expected an object of token → id")
            }
            let config = fm.fileExists(atPath: folder + "/tokenizer_config.json") ? try JSONObject(contentsOf: folder + "/tokenizer_config.json") : nil
            let decoder = config?["added_tokens_decoder"]
            for (content, value) in members {
                guard let id = value.int else { throw .invalidJSON(path: path, reason: "'\(BoraError.shortened(content))' has no integer id") }
                if id >= first { tokens[id] = AddedToken(id: id, content: content, special: decoder?["\(id)"]?["special"]?.bool ?? true) }
            }
        }
        guard let last = tokens.keys.max() else { return [] }
        guard last - first + 1 <= 1_000_000 else { throw .invalidTokenizer("\(folder): added token id \(last) is absurd") }
        return try (first...last).map { id throws(BoraError) in
            guard let token = tokens[id] else { throw .invalidTokenizer("\(folder): the added tokens skip id \(id)") }
            return token
        }
    }

    /// tokenizer.json's `added_tokens`: a list of {id, content, special}.
    static func addedTokenList(of json: JSONObject, path: String) throws(BoraError) -> [AddedToken] {
        guard json["added_tokens"].map({ $0.array != nil || $0.isNull }) ?? true else {
            throw .invalidJSON(path: path, reason: "added_tokens is not a list")
        }
        return try (json["added_tokens"]?.array ?? []).map { added throws(BoraError) in
            guard let id = added["id"]?.int, id >= 0, id < 10_000_000, let content = added["content"]?.string else {
                throw .invalidJSON(path: path, reason: "added token \(BoraError.shortened(added.serialized)) needs an id in 0..<10000000 and a content string")
            }
            return AddedToken(id: id, content: content, special: added["special"]?.bool ?? false)
        }
    }

    static func chatTemplate(in config: JSONObject) -> String? {
        if let text = config.string("chat_template") { return text }
        if let list = config["chat_template"]?.array {
            return (list.first { $0["name"]?.string == "default" } ?? list.first)?["template"]?.string
        }
        return nil
    }

    static func fromTokenizerJSON(path: String, config: JSONObject?) throws(BoraError) -> Tokenizer {
        let json = try JSONObject(contentsOf: path)
        guard let model = json.object("model"), model.string("type") == "BPE" else {
            throw .invalidTokenizer("\(path): only BPE tokenizer.json models are supported (found '\(json.object("model")?.string("type") ?? "none")')")
        }
        guard let vocab = model["vocab"]?.members else { throw .invalidJSON(path: path, reason: "model.vocab is missing") }
        var byID: [Int: (String, TokenType)] = [:]
        for (piece, value) in vocab {
            guard let id = value.int, id >= 0, id < 10_000_000 else { throw .invalidJSON(path: path, reason: "bad id for '\(BoraError.shortened(piece))'") }
            byID[id] = (piece, .normal)
        }
        let byteFallback = model.bool("byte_fallback") ?? false
        let unknown = model.string("unk_token")
        for (id, entry) in byID {
            if entry.0 == unknown { byID[id]!.1 = .unknown }
            if byteFallback, SentencePieceEncoder.byteValue(of: entry.0) != nil { byID[id]!.1 = .byte }
        }
        for added in try addedTokenList(of: json, path: path) {
            byID[added.id] = (added.content, added.content == unknown ? .unknown : (added.special ? .control : .userDefined))
        }
        let count = (byID.keys.max() ?? -1) + 1
        var pieces = [String](repeating: "", count: count)
        var types = [TokenType](repeating: .unused, count: count)
        for (id, entry) in byID { pieces[id] = entry.0; types[id] = entry.1 }
        for id in 0..<count where byID[id] == nil { pieces[id] = "<unused_\(id)>" }
        let vocabulary = Vocabulary(pieces: pieces, types: types)

        var merges: [(String, String)] = []
        guard model["merges"].map({ $0.array != nil || $0.isNull }) ?? true else {
            throw .invalidJSON(path: path, reason: "model.merges is not a list")
        }
        for entry in model["merges"]?.array ?? [] {
            if let text = entry.string, let pair = splitMerge(text) {
                merges.append(pair)
            } else if let pair = entry.array?.compactMap(\.string), pair.count == 2 {
                merges.append((pair[0], pair[1]))
            } else {
                throw .invalidJSON(path: path, reason: "unreadable merge \(BoraError.shortened(entry.serialized))")
            }
        }

        func tokenName(_ key: String) -> String? {
            config?.string(key) ?? config?[key]?["content"]?.string
        }
        let bosID = tokenName("bos_token").flatMap(vocabulary.id(of:))
        let eosID = tokenName("eos_token").flatMap(vocabulary.id(of:))
        let addBOS = config?.bool("add_bos_token") ?? postProcessorAddsBOS(json, bos: tokenName("bos_token"))
        let addEOS = config?.bool("add_eos_token") ?? false
        let template = config.flatMap(chatTemplate(in:))
        let components = describe(json["pre_tokenizer"]) + describe(json["normalizer"])
        let type = { (c: JSONValue) in c["type"]?.string }

        if components.contains(where: { type($0) == "ByteLevel" }) {
            var warnings: [String] = []
            var pre = PreTokenizer.gpt2
            if components.contains(where: { type($0) == "Digits" && $0["individual_digits"]?.bool == true }) {
                pre = .smollm
            } else if let split = components.first(where: { type($0) == "Split" }) {
                let pattern = split["pattern"]?["Regex"]?.string ?? ""
                if pattern.contains("\\p{N}{1,3}") { pre = .llama3 } else {
                    warnings.append("\(path): unrecognised pre-tokenizer pattern; using the GPT-2 split, token ids may differ from the reference")
                }
            }
            let encoder = try ByteLevelEncoder(vocabulary: vocabulary, merges: merges, preTokenizer: pre,
                                               ignoreMerges: model.bool("ignore_merges") ?? false,
                                               unknownID: unknown.flatMap(vocabulary.id(of:)))
            return Tokenizer(encoder: .byteLevel(encoder), bosID: bosID, eosID: eosID, addBOS: addBOS, addEOS: addEOS,
                             chatTemplate: template, warnings: warnings)
        }

        // SentencePiece-style BPE converted to tokenizer.json: "▁" for spaces, merges by rank.
        var options = SentencePieceEncoder.Options()
        options.byteFallback = byteFallback
        let prepends = components.contains { type($0) == "Prepend" }
        if let metaspace = components.first(where: { type($0) == "Metaspace" }) {
            let scheme = metaspace["prepend_scheme"]?.string ?? (metaspace["add_prefix_space"]?.bool == false ? "never" : "always")
            options.addDummyPrefix = scheme != "never"
            options.dummyPrefixOnlyIfMissing = true
            options.splitWords = metaspace["split"]?.bool ?? true
        } else if components.contains(where: { type($0) == "Replace" }) {
            options.addDummyPrefix = prepends
        } else {
            throw .invalidTokenizer("\(path): neither a byte-level nor a SentencePiece-style (▁) BPE tokenizer")
        }
        var rankTable: [(Int32, Int32, Int32)] = []
        for (left, right) in merges {
            guard let l = vocabulary.id(of: left), let r = vocabulary.id(of: right), let m = vocabulary.id(of: left + right) else {
                throw .invalidTokenizer("merge '\(left) \(right)' names a token that is not in the vocabulary")
            }
            rankTable.append((Int32(l), Int32(r), Int32(m)))
        }
        let encoder = try SentencePieceEncoder(vocabulary: vocabulary, scores: [Float](repeating: 0, count: count),
                                               options: options, pairRanks: PairRankTable(merges: rankTable))
        return Tokenizer(encoder: .sentencePiece(encoder), bosID: bosID, eosID: eosID, addBOS: addBOS, addEOS: addEOS, chatTemplate: template)
    }

    /// A pipeline component, or each one of a `Sequence`, flattened.
    private static func describe(_ value: JSONValue?) -> [JSONValue] {
        guard let value, value.members != nil else { return [] }
        if value["type"]?.string == "Sequence" {
            let parts = (value["pretokenizers"] ?? value["normalizers"] ?? value["decoders"])?.array ?? []
            return parts.flatMap { describe($0) }
        }
        return [value]
    }

    private static func postProcessorAddsBOS(_ json: JSONObject, bos: String?) -> Bool {
        guard let bos, let single = json["post_processor"]?["single"]?.array else { return false }
        return single.contains { $0["SpecialToken"]?["id"]?.string == bos }
    }
}
