import ArgumentParser
import Bora
import Foundation

/// Where Tools/fetch-default-model.sh puts SmolLM2-135M-Instruct Q4_1.
enum DefaultModel {
    static var path: String {
        CacheDirectory.path + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    /// The model argument, or the default model if it has been fetched.
    static func resolve(_ argument: String?) throws -> String {
        if let argument { return argument }
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("no model given, and the default model is not at \(path); fetch it with Tools/fetch-default-model.sh or name a model file")
        }
        return path
    }
}

func printError(_ text: String, newline: Bool = true) {
    FileHandle.standardError.write(Data((newline ? text + "\n" : text).utf8))
}

/// Unbuffered write to standard output, for streamed text.
func writeOut(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
