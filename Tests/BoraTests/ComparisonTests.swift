import Foundation
import Testing
@testable import Bora

/// `bora compare`'s figures and reports: what a model is, its KV cache at 4k and 32k tokens (the
/// rolling cache's saving), and the table, JSON and self-contained HTML built from them.
@Suite struct ComparisonTests {
    static func entries() throws -> (mistral: ComparisonEntry, llama: ComparisonEntry, config: (ModelConfig, ModelConfig)) {
        let mistral = try LanguageModel(path: Fixtures.model("tiny-mistral-q8_0.gguf"))
        let llama = try LanguageModel(path: Fixtures.model("tiny-llama-mixed.gguf"))
        return (try ComparisonEntry(path: Fixtures.model("tiny-mistral-q8_0.gguf"), model: mistral),
                try ComparisonEntry(path: Fixtures.model("tiny-llama-mixed.gguf"), model: llama), (mistral.config, llama.config))
    }

    /// The window's model keeps W = 8 slots (+16 for drafts) at both lengths; the other needs one per token, and
    /// 32k is past its context. Parameters and type shares come from the tensors.
    @Test func describesModelsAndTheirCaches() throws {
        let (m, l, (mc, lc)) = try Self.entries()
        #expect(m.kvCache.map(\.tokens) == [4096, 32768] && m.kvCache.map(\.slots) == [24, 24])
        #expect(m.kvCache.allSatisfy { $0.bytes == mc.kvBytesPerToken(bytesPerElement: 2) * 24 && !$0.beyondContext })
        #expect(l.kvCache.map(\.slots) == [4096, 32768])
        #expect(l.kvCache[1].bytes == lc.kvBytesPerToken(bytesPerElement: 2) * 32768 && l.kvCache[1].beyondContext)
        let model = try LanguageModel(path: Fixtures.model("tiny-mistral-q8_0.gguf"))
        #expect(m.model.parameters == model.files.tensors.tensorSummaries.reduce(0) { $0 + $1.elements })
        #expect(m.model.quantization == "Q8_0" && m.model.types.first?.type == "Q8_0")
        #expect(abs(m.model.types.reduce(0) { $0 + $1.share } - 1) < 1e-12 && m.model.slidingWindow == 8 && l.model.slidingWindow == nil)
        #expect(m.model.bitsPerWeight > 8 && m.model.fileBytes == model.files.tensors.fileBytes)
        // A GGUF that names its file type is labelled by it (the default model says Q4_1).
        if let path = Fixtures.defaultModel {
            #expect(try ComparisonEntry(path: path, model: LanguageModel(path: path)).model.quantization == "Q4_1")
        }
    }

    @Test func tableJSONAndHTML() throws {
        var (m, l, _) = try Self.entries()
        m.model.file = "mistral <tiny> & co.gguf"
        m.perplexity = ComparisonEntry.PerplexityFigures(file: "text.txt", ppl: 12.5, pplError: 0.25, bitsPerByte: 0.8123,
                                                         tokensScored: 100, chunks: 2, context: 128)
        l.perplexity = ComparisonEntry.PerplexityFigures(file: "text.txt", ppl: 20, pplError: nil, bitsPerByte: 0.9,
                                                         tokensScored: 100, chunks: 2, context: 128)
        m.tasks = [ComparisonEntry.TaskFigures(file: "hs.txt", format: "hellaswag", shots: 0, tasks: 4, acc: 0.75, accError: 0.25,
                                               accNorm: 0.5, accNormError: 0.29, accPerToken: 0.5, accPerTokenError: 0.29)]
        m.speed = ComparisonEntry.Speed(Benchmark.Report(tests: [
            Benchmark.Test(name: "pp64", prompt: 64, generated: 0, depth: 0, samples: [100, 110]),
            Benchmark.Test(name: "tg16", prompt: 0, generated: 16, depth: 0, samples: [40, 44])], threadCount: 2, memoryBytesPerSecond: 4e10))
        l.speed = ComparisonEntry.Speed(Benchmark.Report(tests: [
            Benchmark.Test(name: "tg16", prompt: 0, generated: 16, depth: 0, samples: [30])], threadCount: 2, memoryBytesPerSecond: nil))
        m.peakResidentBytes = 3 << 20
        let report = ComparisonReport(entries: [m, l], threads: 2)

        let table = report.table()
        let line = { (label: String) in table.split(separator: "\n").first { $0.hasPrefix(label) }.map(String.init) ?? "" }
        #expect(line("bits per byte").split(separator: " ").suffix(2) == ["0.8123", "0.9000"])
        #expect(line("perplexity").contains("12.500 ± 0.250") && line("perplexity").hasSuffix("20.000"))
        #expect(line("hs.txt acc ").contains("75.00 ± 25.00 %") && line("hs.txt acc ").hasSuffix("—"))
        #expect(line("decode tg16").contains("42.00 ± 2.83") && line("decode tg16").hasSuffix("30.00 ± 0.00"))
        #expect(line("prefill pp64").hasSuffix("—") && line("peak resident memory").contains("3.0 MiB"))
        #expect(line("KV cache, 32k").contains("(rolling, 24 slots)") && line("KV cache, 32k").contains("(past its"))
        #expect(table.contains("hs.txt: 4 hellaswag tasks, 0-shot"))

        let json = try JSONValue.parse(try report.json())
        let first = try #require(json["entries"]?.array?.first)
        #expect(json["entries"]?.array?.count == 2 && json["threads"]?.int == 2)
        #expect(first["perplexity"]?["bits_per_byte"]?.double == 0.8123 && first["peak_resident_bytes"]?.int == 3 << 20)
        #expect(first["kv_cache"]?.array?.first?["slots"]?.int == 24 && first["model"]?["sliding_window"]?.int == 8)
        #expect(first["tasks"]?.array?.first?["acc_norm"]?.double == 0.5)

        // The hand-over between processes keeps everything, non-finite numbers included.
        var odd = l
        odd.perplexity?.ppl = .nan
        let back = try ComparisonEntry.decode(odd.encoded())
        #expect(back.perplexity?.ppl.isNaN == true && back.kvCache.map(\.bytes) == l.kvCache.map(\.bytes))

        let html = report.html()
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.hasSuffix("</html>\n"))
        #expect(html.components(separatedBy: "<svg").count == 3 && html.components(separatedBy: "</svg>").count == 3)
        #expect(html.contains("mistral &lt;tiny&gt; &amp; co.gguf") && !html.contains("<tiny>"))
        // Self-contained: no scripts, no links, nothing fetched.
        #expect(!html.contains("<script") && !html.contains("href=") && !html.contains("src=") && !html.contains("@import"))
        #expect(html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").range(of: "http") == nil)
        #expect(html.contains("bits per byte (lower is better)") && html.contains("Memory per model"))
    }

    @Test func axisTicksAreRound() {
        #expect(ComparisonReport.ticks(0...47) == [0, 10, 20, 30, 40])
        let fine = ComparisonReport.ticks(0.81...0.93)
        #expect(fine.count == 2 && abs(fine[0] - 0.85) < 1e-12 && abs(fine[1] - 0.9) < 1e-12)
        #expect(ComparisonReport.number(-0.0) == "0" && ComparisonReport.number(250) == "250" && ComparisonReport.number(0.125) == "0.125")
    }
}
