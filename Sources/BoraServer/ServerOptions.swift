import Bora

/// How `bora serve` listens and whom it lets in.
package struct ServerOptions: Sendable {
    package var host = "127.0.0.1"
    package var port = 8080
    /// Required as `Authorization: Bearer KEY` on `/v1/*`, `/tokenize` and `/detokenize` when set.
    package var apiKey: String?
    /// The model's name in responses and `/v1/models` (default: its file or folder name).
    package var alias: String?
    /// `Access-Control-Allow-Origin` for this origin (`*` for any); no CORS headers when nil.
    package var corsOrigin: String?
    /// Log prompt and answer text (never by default).
    package var logPrompts = false
    /// Larger request bodies get 413.
    package var maxBodyBytes = 16 << 20
    /// How long running streams may go on after SIGINT/SIGTERM before they are cancelled.
    package var shutdownGraceSeconds = 10.0
    /// Speculative decoding for requests that do not ask otherwise (their `speculative` field).
    package var speculation: SpeculativeDecoding?

    package init() {}
}
