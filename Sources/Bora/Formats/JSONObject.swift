/// A typed reader over a JSON object, with errors that name the file and key.
struct JSONObject {
    let value: JSONValue
    let path: String

    init(value: JSONValue, path: String) throws(BoraError) {
        guard case .object = value else { throw .invalidJSON(path: path, reason: "the top level is not an object") }
        self.value = value
        self.path = path
    }

    init(contentsOf path: String) throws(BoraError) {
        let file = try MappedFile(path: path)
        let parsed: JSONValue
        do { parsed = try JSONValue.parse(file.bytes) } catch {
            throw .invalidJSON(path: path, reason: error.description)
        }
        try self.init(value: parsed, path: path)
    }

    subscript(key: String) -> JSONValue? { value[key] }

    func has(_ key: String) -> Bool { value[key].map { !$0.isNull } ?? false }

    func object(_ key: String) -> JSONObject? {
        guard let v = value[key], case .object = v else { return nil }
        return try? JSONObject(value: v, path: path)
    }

    func string(_ key: String) -> String? { value[key]?.string }

    func bool(_ key: String) -> Bool? { value[key]?.bool }

    func int(_ key: String) throws(BoraError) -> Int? {
        guard let v = value[key], !v.isNull else { return nil }
        guard let int = v.int else { throw .invalidJSON(path: path, reason: "'\(key)' should be an integer, found \(v.serialized)") }
        return int
    }

    func requiredInt(_ key: String) throws(BoraError) -> Int {
        guard let value = try int(key) else { throw .invalidJSON(path: path, reason: "missing '\(key)'") }
        return value
    }

    func double(_ key: String) throws(BoraError) -> Double? {
        guard let v = value[key], !v.isNull else { return nil }
        guard let d = v.double else { throw .invalidJSON(path: path, reason: "'\(key)' should be a number, found \(v.serialized)") }
        return d
    }
}
