/// Streams text while watching for stop strings: text that might be the start of a stop string is
/// held back until it is known not to be, so a stop string never reaches the consumer, even when it
/// arrives split across tokens.
public struct StopStringMatcher: Sendable {
    public let stops: [String]
    private var held = ""

    public init(stops: [String]) {
        self.stops = stops
    }

    /// Adds text; returns what can be emitted now and whether a stop string was found (in which case
    /// the returned text is everything before it).
    public mutating func append(_ text: String) -> (emit: String, stopped: Bool) {
        guard !stops.isEmpty else { return (text, false) }
        held += text
        // The earliest complete stop string ends the generation.
        var earliest: Range<String.Index>? = nil
        for stop in stops {
            if let r = held.scalarRange(of: stop), earliest == nil || r.lowerBound < earliest!.lowerBound { earliest = r }
        }
        if let earliest {
            let before = String(held[..<earliest.lowerBound])
            held = ""
            return (before, true)
        }
        // Hold back the longest tail that is a prefix of some stop string.
        var keep = 0
        let scalars = Array(held.unicodeScalars)
        for stop in stops {
            let s = Array(stop.unicodeScalars)
            for length in stride(from: min(s.count - 1, scalars.count), to: keep, by: -1) where scalars.suffix(length).elementsEqual(s.prefix(length)) {
                keep = length
                break
            }
        }
        let emitCount = scalars.count - keep
        let emit = String(String.UnicodeScalarView(scalars[..<emitCount]))
        held = String(String.UnicodeScalarView(scalars[emitCount...]))
        return (emit, false)
    }

    /// Ends the stream: the held text was not a stop string after all.
    public mutating func finish() -> String {
        defer { held = "" }
        return held
    }
}

extension String {
    /// The first occurrence of `needle`, compared scalar by scalar (not by grapheme).
    func scalarRange(of needle: String) -> Range<String.Index>? {
        guard !needle.isEmpty else { return nil }
        let hay = unicodeScalars, target = Array(needle.unicodeScalars)
        var i = hay.startIndex
        while i != hay.endIndex {
            var j = i, k = 0
            while k < target.count, j != hay.endIndex, hay[j] == target[k] {
                j = hay.index(after: j)
                k += 1
            }
            if k == target.count { return i..<j }
            i = hay.index(after: i)
        }
        return nil
    }
}
