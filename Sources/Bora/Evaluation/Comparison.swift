import Foundation

/// What `bora compare` measured of one model: what it is, its quality on the text and tasks, its
/// speed and its memory. Codable: it crosses from the process that measured it to the report.
package struct ComparisonEntry: Sendable, Codable {
    package struct Model: Sendable, Codable {
        package var file: String
        package var format: String
        package var architecture: String
        package var parameters: Int
        /// llama.cpp's file type (`Q4_K_M`) where the GGUF names one, else the dominant storage type.
        package var quantization: String
        /// Storage types by share of the parameters, largest first.
        package var types: [TypeShare]
        package var fileBytes: Int
        package var weightBytesPerToken: Int
        package var vocabulary: Int
        package var contextLength: Int
        package var slidingWindow: Int?

        /// Bits per weight: the file's bits over the parameters (llama.cpp's BPW).
        package var bitsPerWeight: Double { Double(fileBytes) * 8 / Double(max(parameters, 1)) }
    }

    package struct TypeShare: Sendable, Codable {
        package var type: String
        package var share: Double
    }

    /// The F16 KV cache one sequence of `tokens` needs: a rolling cache of W slots (plus
    /// `SpeculativeDecoding.maximumDraft` for drafts) for a sliding-window model, one slot per
    /// token otherwise.
    package struct KVMemory: Sendable, Codable {
        package var tokens: Int
        package var slots: Int
        package var bytes: Int
        /// Past the context length of a model without a window (what a full cache would take).
        package var beyondContext: Bool
    }

    package struct PerplexityFigures: Sendable, Codable {
        package var file: String
        package var ppl: Double
        package var pplError: Double?
        package var bitsPerByte: Double
        package var tokensScored: Int
        package var chunks: Int
        package var context: Int
    }

    package struct TaskFigures: Sendable, Codable {
        package var file: String
        package var format: String
        package var shots: Int
        package var tasks: Int
        package var acc: Double
        package var accError: Double?
        package var accNorm: Double
        package var accNormError: Double?
        package var accPerToken: Double
        package var accPerTokenError: Double?
    }

    package struct Speed: Sendable, Codable {
        package var tests: [Benchmark.Test]
        package var threads: Int
        package var memoryBytesPerSecond: Double?

        package var prefill: Benchmark.Test? { tests.first { $0.prompt > 0 } }
        package var decode: Benchmark.Test? { tests.first { $0.generated > 0 } }
    }

    package var path: String
    package var model: Model
    package var kvCache: [KVMemory]
    package var perplexity: PerplexityFigures?
    package var tasks: [TaskFigures] = []
    package var speed: Speed?
    /// The measuring process's peak resident memory: weights it touched, caches, buffers.
    package var peakResidentBytes: Int?
    package var seconds: Double = 0
    package var interrupted = false
    /// Why the model could not be measured (the rest is then what was measured before).
    package var error: String?

    /// The KV-cache lengths the comparison shows: Llama 2's and Mistral's context, and long chats.
    package static let kvLengths = [4096, 32768]

    package init(path: String, model: LanguageModel) throws(BoraError) {
        self.path = path
        let c = model.config
        let summaries = model.files.tensors.tensorSummaries
        let parameters = summaries.reduce(0) { $0 + $1.elements }
        var byType: [String: Int] = [:]
        for s in summaries { byType[s.dtype.uppercased(), default: 0] += s.elements }
        let types = byType.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
            .map { TypeShare(type: $0.key, share: Double($0.value) / Double(max(parameters, 1))) }
        let fileType = model.files.gguf?.metadata["general.file_type"]?.int.flatMap { Self.fileTypeNames[$0] }
        self.model = Model(file: (path as NSString).lastPathComponent, format: model.files.format.rawValue,
                           architecture: c.architecture, parameters: parameters,
                           quantization: fileType ?? types.first?.type ?? "?", types: types,
                           fileBytes: model.files.tensors.fileBytes, weightBytesPerToken: model.weights.bytesPerToken,
                           vocabulary: c.vocabularySize, contextLength: c.contextLength, slidingWindow: c.slidingWindow)
        kvCache = try Self.kvLengths.map { (n: Int) throws(BoraError) in
            let plan = try CachePlan(config: c, maxContext: n, type: .f16)
            return KVMemory(tokens: n, slots: plan.slots, bytes: plan.bytes, beyondContext: c.slidingWindow == nil && n > c.contextLength)
        }
    }

    /// llama.cpp's `general.file_type` values (llama_ftype), as llama-quantize names them.
    static let fileTypeNames: [Int: String] = [
        0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M",
        13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS",
        21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
        29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    ]

    /// The entry as the measuring process hands it over (non-finite numbers spelled out).
    package func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(self)
    }

    package static func decode(_ data: Data) throws -> ComparisonEntry {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(ComparisonEntry.self, from: data)
    }

    /// A finite value, or nil (a standard error of one sample).
    package static func finite(_ x: Double) -> Double? { x.isFinite ? x : nil }
}

extension ComparisonEntry.PerplexityFigures {
    package init(file: String, result r: PerplexityResult) {
        self.init(file: file, ppl: r.perplexity, pplError: ComparisonEntry.finite(r.perplexityError), bitsPerByte: r.bitsPerByte,
                  tokensScored: r.tokensScored, chunks: r.chunks, context: r.context)
    }
}

extension ComparisonEntry.TaskFigures {
    package init(file: String, format: String, shots: Int, result r: ChoiceResult) {
        let f = ComparisonEntry.finite
        self.init(file: file, format: format, shots: shots, tasks: r.tasks, acc: r.acc.value, accError: f(r.acc.error),
                  accNorm: r.accNorm.value, accNormError: f(r.accNorm.error),
                  accPerToken: r.accPerToken.value, accPerTokenError: f(r.accPerToken.error))
    }
}

extension ComparisonEntry.Speed {
    package init(_ report: Benchmark.Report) {
        self.init(tests: report.tests, threads: report.threadCount, memoryBytesPerSecond: report.memoryBytesPerSecond)
    }
}

/// The comparison of several models: a terminal table, JSON, and a self-contained HTML report
/// with inline SVG charts (no scripts, fonts or anything fetched).
package struct ComparisonReport: Sendable, Codable {
    package var entries: [ComparisonEntry]
    package var threads: Int?
    package var created: String

    package init(entries: [ComparisonEntry], threads: Int?, created: Date = Date()) {
        self.entries = entries
        self.threads = threads
        let formatter = ISO8601DateFormatter()
        self.created = formatter.string(from: created)
    }

    package func json() throws(BoraError) -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { return String(decoding: try encoder.encode(self), as: UTF8.self) } catch {
            throw .invalidArgument("the comparison cannot be written as JSON: \(error)")
        }
    }

    // MARK: The table

    /// One row of the table: a label and one cell per model.
    package struct Row: Sendable {
        package var label: String
        package var cells: [String]
    }

    package var rows: [Row] {
        func row(_ label: String, _ cell: (ComparisonEntry) -> String?) -> Row {
            Row(label: label, cells: entries.map { cell($0) ?? "—" })
        }
        var rows: [Row] = [
            row("architecture") { e in e.model.architecture + (e.model.slidingWindow.map { ", window \($0)" } ?? "") },
            row("parameters") { Self.count($0.model.parameters) },
            row("quantization") { e in e.model.quantization + String(format: ", %.2f bits/weight", e.model.bitsPerWeight) },
            row("file size") { Self.bytes($0.model.fileBytes) },
        ]
        if entries.contains(where: { $0.perplexity != nil }) {
            rows.append(row("bits per byte") { $0.perplexity.map { String(format: "%.4f", $0.bitsPerByte) } })
            rows.append(row("perplexity (own tokens)") { e in
                e.perplexity.map { String(format: "%.3f", $0.ppl) + ($0.pplError.map { String(format: " ± %.3f", $0) } ?? "") }
            })
        }
        for file in taskFiles {
            func figure(_ value: Double, _ error: Double?) -> String {
                String(format: "%.2f", 100 * value) + (error.map { String(format: " ± %.2f", 100 * $0) } ?? "") + " %"
            }
            rows.append(row("\(file) acc") { e in e.tasks.first { $0.file == file }.map { figure($0.acc, $0.accError) } })
            rows.append(row("\(file) acc_norm") { e in e.tasks.first { $0.file == file }.map { figure($0.accNorm, $0.accNormError) } })
        }
        func speed(_ test: Benchmark.Test?) -> String? {
            test.map { String(format: "%.2f ± %.2f", $0.mean, $0.standardDeviation) }
        }
        if let prefill = entries.lazy.compactMap({ $0.speed?.prefill }).first {
            rows.append(row("prefill \(prefill.name), tokens/s") { speed($0.speed?.prefill) })
        }
        if let decode = entries.lazy.compactMap({ $0.speed?.decode }).first {
            rows.append(row("decode \(decode.name), tokens/s") { speed($0.speed?.decode) })
            rows.append(row("decode bandwidth") { e in
                guard let d = e.speed?.decode else { return nil }
                let rate = d.mean * Double(e.model.weightBytesPerToken)
                return String(format: "%.1f GB/s", rate / 1e9) + (e.speed?.memoryBytesPerSecond.map { String(format: " (%.0f%% of probe)", 100 * rate / $0) } ?? "")
            })
        }
        rows.append(row("peak resident memory") { $0.peakResidentBytes.map(Self.bytes) })
        for (i, n) in ComparisonEntry.kvLengths.enumerated() {
            rows.append(row("KV cache, \(n / 1024)k tokens (F16)") { e in
                guard i < e.kvCache.count else { return nil }
                let kv = e.kvCache[i]
                return Self.bytes(kv.bytes) + (kv.slots < kv.tokens ? " (rolling, \(kv.slots) slots)" : "")
                    + (kv.beyondContext ? " (past its \(e.model.contextLength) context)" : "")
            })
        }
        if entries.contains(where: { $0.error != nil || $0.interrupted }) {
            rows.append(row("note") { e in e.error.map { "failed: \($0)" } ?? (e.interrupted ? "interrupted: partial figures" : "") })
        }
        return rows
    }

    /// The task files, in the order they first appear.
    private var taskFiles: [String] {
        entries.flatMap { $0.tasks.map(\.file) }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    }

    /// What the rows measured: the text, the tasks, the memory figures.
    package var notes: [String] {
        var notes: [String] = []
        if let p = entries.lazy.compactMap(\.perplexity).first {
            notes.append("bits per byte and perplexity: \(p.file), \(p.chunks) chunks of \(p.context) tokens (llama-perplexity's method); bits per byte compares tokenizers, perplexity does not")
        }
        for file in taskFiles {
            let t = entries.lazy.flatMap(\.tasks).first { $0.file == file }!
            notes.append("\(file): \(t.tasks) \(t.format) tasks, \(t.shots)-shot; acc by summed log-probabilities, acc_norm per character (lm-evaluation-harness)")
        }
        if entries.contains(where: { $0.peakResidentBytes != nil }) {
            notes.append("peak resident memory: the measuring process's, the model's mapped pages it touched included")
        }
        notes.append("KV cache: one sequence in F16; a sliding-window model's rolling cache keeps W + 16 slots however long the sequence")
        return notes
    }

    /// The table as text: one column per model, cells right-aligned under their model's name.
    package func table() -> String {
        let rows = self.rows
        let header = Row(label: "", cells: entries.map(\.model.file))
        let labelWidth = ([header] + rows).map(\.label.count).max() ?? 0
        let widths = entries.indices.map { i in ([header] + rows).map { $0.cells[i].count }.max() ?? 0 }
        func line(_ r: Row) -> String {
            r.label.padding(toLength: labelWidth, withPad: " ", startingAt: 0) + zip(r.cells, widths).map { cell, width in
                "  " + String(repeating: " ", count: width - cell.count) + cell
            }.joined()
        }
        var text = line(header) + "\n" + String(repeating: "-", count: labelWidth + widths.reduce(0) { $0 + $1 + 2 }) + "\n"
        for r in rows { text += line(r) + "\n" }
        text += "\n" + notes.map { "- " + $0 + "\n" }.joined()
        return text
    }

    static func bytes(_ n: Int) -> String {
        let x = Double(n), mib = 1024.0 * 1024, gib = mib * 1024
        if x >= gib { return String(format: "%.2f GiB", x / gib) }
        if x >= mib { return String(format: "%.1f MiB", x / mib) }
        return String(format: "%.1f KiB", x / 1024)
    }

    static func count(_ n: Int) -> String {
        let x = Double(n)
        return x >= 1e9 ? String(format: "%.2f B", x / 1e9) : String(format: "%.1f M", x / 1e6)
    }

    // MARK: The HTML report

    /// One self-contained HTML page: the table, then quality against decode speed and memory per
    /// model as inline SVG.
    package func html() -> String {
        let rows = self.rows
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Bora: model comparison</title>
            <style>
            body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; padding: 0 1em; }
            table { border-collapse: collapse; margin: 1em 0; } th, td { padding: .3em .8em; border-bottom: 1px solid #ddd; }
            td { text-align: right; font-variant-numeric: tabular-nums; } td:first-child, th:first-child { text-align: left; }
            th { background: #f4f4f4; } svg { display: block; margin: 1em 0; } .note { color: #666; }
            </style></head><body>
            <h1>Model comparison</h1>
            <p class="note">Measured by Bora on \(Self.escape(created))\(threads.map { ", \($0) threads" } ?? "").
            Bits per byte compares models with different tokenizers; perplexity is per each model's own tokens.</p>
            <table><tr><th></th>
            """
        for e in entries { page += "<th>\(Self.escape(e.model.file))</th>" }
        page += "</tr>\n"
        for r in rows {
            page += "<tr><td>\(Self.escape(r.label))</td>" + r.cells.map { "<td>\(Self.escape($0))</td>" }.joined() + "</tr>\n"
        }
        page += "</table>\n<ul class=\"note\">" + notes.map { "<li>\(Self.escape($0))</li>" }.joined() + "</ul>\n"
        page += qualityChart()
        page += memoryChart()
        page += "</body></html>\n"
        return page
    }

    private static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    /// Quality (bits per byte, lower is better; else the first task's accuracy) against decode speed.
    private func qualityChart() -> String {
        typealias Point = (name: String, x: Double, y: Double, color: String)
        let yName: String
        let quality: (ComparisonEntry) -> Double?
        if entries.contains(where: { $0.perplexity != nil }) {
            (yName, quality) = ("bits per byte (lower is better)", { $0.perplexity?.bitsPerByte })
        } else if let task = entries.lazy.flatMap(\.tasks).first?.file {
            (yName, quality) = ("\(task) acc, % (higher is better)", { e in e.tasks.first { $0.file == task }.map { 100 * $0.acc } })
        } else {
            return "<p class=\"note\">No quality measured (give --perplexity or --task): no quality chart.</p>\n"
        }
        let points: [Point] = entries.enumerated().compactMap { i, e in
            guard let y = quality(e), let x = e.speed?.decode?.mean, y.isFinite, x.isFinite else { return nil }
            return (e.model.file, x, y, Self.palette[i % Self.palette.count])
        }
        guard !points.isEmpty else { return "<p class=\"note\">No model has both a quality figure and a decode speed: no quality chart.</p>\n" }
        let (width, height, left, bottom, top, right) = (720.0, 380.0, 70.0, 50.0, 30.0, 30.0)
        let xs = Self.range(points.map(\.x), includeZero: true), ys = Self.range(points.map(\.y), includeZero: false)
        func px(_ x: Double) -> Double { left + (x - xs.lowerBound) / (xs.upperBound - xs.lowerBound) * (width - left - right) }
        func py(_ y: Double) -> Double { height - bottom - (y - ys.lowerBound) / (ys.upperBound - ys.lowerBound) * (height - bottom - top) }
        var svg = "<h2>Quality against decode speed</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-size=\"12\">\n"
        svg += Self.axes(width: width, height: height, left: left, bottom: bottom, top: top, right: right,
                         xTicks: Self.ticks(xs).map { (px($0), Self.number($0)) }, yTicks: Self.ticks(ys).map { (py($0), Self.number($0)) },
                         xName: "decode tokens/s (higher is better)", yName: yName)
        // Labels beside their points, left of them near the right edge, moved down past the
        // labels already placed (points of equal figures would write over each other).
        var placed: [(x: ClosedRange<Double>, y: Double)] = []
        for p in points {
            let x = px(p.x), labelWidth = Double(p.name.count) * 6.6
            let right = x + 9 + labelWidth <= width - 4
            let span = right ? (x + 9)...(x + 9 + labelWidth) : (x - 9 - labelWidth)...(x - 9)
            var y = py(p.y) - 8
            while placed.contains(where: { $0.x.overlaps(span) && abs($0.y - y) < 14 }) { y += 14 }
            placed.append((span, y))
            svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"%@\" fill-opacity=\"0.8\"/>", x, py(p.y), p.color)
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"%@\" text-anchor=\"%@\">%@</text>\n",
                          right ? x + 9 : x - 9, y, p.color, right ? "start" : "end", Self.escape(p.name))
        }
        return svg + "</svg>\n"
    }

    /// File size, peak resident memory and the 32k-token KV cache of each model, as bars.
    private func memoryChart() -> String {
        let kvIndex = ComparisonEntry.kvLengths.count - 1
        let series: [(String, String, (ComparisonEntry) -> Int?)] = [
            ("file", "#1f77b4", { $0.model.fileBytes }),
            ("peak resident", "#ff7f0e", { $0.peakResidentBytes }),
            ("KV cache, \(ComparisonEntry.kvLengths[kvIndex] / 1024)k tokens", "#2ca02c", { $0.kvCache.count > kvIndex ? $0.kvCache[kvIndex].bytes : nil }),
        ]
        let largest = entries.flatMap { e in series.compactMap { $0.2(e) } }.max() ?? 0
        guard largest > 0 else { return "" }
        let barHeight = 16.0, groupGap = 18.0, left = 230.0, chartWidth = 420.0, top = 30.0
        let groupHeight = Double(series.count) * barHeight + groupGap
        let height = top + Double(entries.count) * groupHeight + 30
        var svg = "<h2>Memory per model</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(left + chartWidth + 120))\" height=\"\(Int(height))\" font-size=\"12\">\n"
        for (j, s) in series.enumerated() {
            svg += String(format: "<rect x=\"%.0f\" y=\"8\" width=\"12\" height=\"12\" fill=\"%@\"/><text x=\"%.0f\" y=\"18\">%@</text>",
                          left + Double(j) * 170, s.1, left + Double(j) * 170 + 16, Self.escape(s.0))
        }
        svg += "\n"
        for (i, e) in entries.enumerated() {
            let y0 = top + Double(i) * groupHeight
            svg += String(format: "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%@</text>\n", left - 8, y0 + Double(series.count) * barHeight / 2 + 4,
                          Self.escape(e.model.file))
            for (j, s) in series.enumerated() {
                guard let value = s.2(e) else { continue }
                let w = max(1, Double(value) / Double(largest) * chartWidth), y = y0 + Double(j) * barHeight
                svg += String(format: "<rect x=\"%.0f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\" fill=\"%@\"/>", left, y, w, barHeight - 2, s.1)
                svg += String(format: "<text x=\"%.1f\" y=\"%.1f\">%@</text>\n", left + w + 5, y + barHeight - 5, Self.escape(Self.bytes(value)))
            }
        }
        return svg + "</svg>\n"
    }

    private static func axes(width: Double, height: Double, left: Double, bottom: Double, top: Double, right: Double,
                             xTicks: [(Double, String)], yTicks: [(Double, String)], xName: String, yName: String) -> String {
        var svg = String(format: "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#999\"/>\n",
                         left, top, width - left - right, height - top - bottom)
        for (x, label) in xTicks {
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#eee\"/>", x, top, x, height - bottom)
            svg += String(format: "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%@</text>\n", x, height - bottom + 16, label)
        }
        for (y, label) in yTicks {
            svg += String(format: "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#eee\"/>", left, y, width - right, y)
            svg += String(format: "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%@</text>\n", left - 6, y + 4, label)
        }
        svg += String(format: "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">%@</text>\n", (left + width - right) / 2, height - 10, escape(xName))
        svg += String(format: "<text transform=\"translate(16 %.0f) rotate(-90)\" text-anchor=\"middle\">%@</text>\n", (top + height - bottom) / 2, escape(yName))
        return svg
    }

    /// A padded axis range around the values.
    static func range(_ values: [Double], includeZero: Bool) -> ClosedRange<Double> {
        var low = values.min()!, high = values.max()!
        if includeZero { low = min(low, 0) }
        let pad = high > low ? (high - low) * 0.12 : max(abs(high) * 0.1, 0.5)
        return (includeZero && low >= 0 ? 0 : low - pad)...(high + pad)
    }

    /// About five round tick values inside the range.
    static func ticks(_ range: ClosedRange<Double>) -> [Double] {
        let span = range.upperBound - range.lowerBound
        let raw = span / 5, magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw }!
        var t = ceil(range.lowerBound / step) * step, ticks: [Double] = []
        while t <= range.upperBound + step * 1e-9 { ticks.append(t); t += step }
        return ticks
    }

    static func number(_ x: Double) -> String {
        if abs(x) < 1e-9 { return "0" }
        return abs(x) >= 100 || x == x.rounded() ? String(format: "%.0f", x) : abs(x) >= 1 ? String(format: "%.1f", x) : String(format: "%.3g", x)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
