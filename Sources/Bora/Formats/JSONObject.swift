import Foundation

/// A thin typed reader over a parsed JSON object, with errors that name the file and key.
struct JSONObject {
    let values: [String: Any]
    let path: String

    init(values: [String: Any], path: String) {
        self.values = values
        self.path = path
    }

    init(contentsOf path: String) throws(BoraError) {
        guard FileManager.default.fileExists(atPath: path) else { throw .fileNotFound(path: path) }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .cannotRead(path: path, reason: error.localizedDescription)
        }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data) } catch {
            throw .invalidJSON(path: path, reason: error.localizedDescription)
        }
        guard let object = parsed as? [String: Any] else { throw .invalidJSON(path: path, reason: "the top level is not an object") }
        self.init(values: object, path: path)
    }

    func has(_ key: String) -> Bool { values[key] != nil && !(values[key] is NSNull) }

    func object(_ key: String) -> JSONObject? {
        (values[key] as? [String: Any]).map { JSONObject(values: $0, path: path) }
    }

    func string(_ key: String) -> String? { values[key] as? String }

    func bool(_ key: String) -> Bool? { (values[key] as? NSNumber)?.boolValue }

    func int(_ key: String) throws(BoraError) -> Int? {
        guard let value = values[key], !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber, let int = Int(exactly: number.doubleValue) else {
            throw .invalidJSON(path: path, reason: "'\(key)' should be an integer, found \(value)")
        }
        return int
    }

    func requiredInt(_ key: String) throws(BoraError) -> Int {
        guard let value = try int(key) else { throw .invalidJSON(path: path, reason: "missing '\(key)'") }
        return value
    }

    func double(_ key: String) throws(BoraError) -> Double? {
        guard let value = values[key], !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber else {
            throw .invalidJSON(path: path, reason: "'\(key)' should be a number, found \(value)")
        }
        return number.doubleValue
    }
}
