import Bora
import Prometheus

/// The server's Prometheus metrics (`GET /metrics`).
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let promptTokens: Counter
    private let generatedTokens: Counter
    private let disconnects: Counter
    private let draftedTokens: Counter
    private let acceptedDraftTokens: Counter
    private let weightPasses: Counter
    private let timeToFirstToken: DurationHistogram
    private let interToken: DurationHistogram
    private let running: Gauge
    private let queued: Gauge
    private let slotsInUse: Gauge
    private let slots: Gauge

    init(slotCount: Int) {
        promptTokens = registry.makeCounter(name: "bora_prompt_tokens_total", help: "Prompt tokens of finished requests")
        generatedTokens = registry.makeCounter(name: "bora_generated_tokens_total", help: "Tokens generated")
        disconnects = registry.makeCounter(name: "bora_client_disconnects_total", help: "Requests whose client went away before the end")
        draftedTokens = registry.makeCounter(name: "bora_draft_tokens_total", help: "Tokens drafted by speculative decoding")
        acceptedDraftTokens = registry.makeCounter(name: "bora_draft_accepted_tokens_total", help: "Drafted tokens the model kept")
        weightPasses = registry.makeCounter(name: "bora_sequence_steps_total",
                                            help: "Steps through the model that gave a finished request tokens (generated tokens / this: tokens per weight pass)")
        let latency: [Duration] = [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                                   .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30)]
        timeToFirstToken = registry.makeDurationHistogram(name: "bora_time_to_first_token_seconds", buckets: latency,
                                                          help: "From the request's arrival to its first generated token")
        interToken = registry.makeDurationHistogram(name: "bora_inter_token_seconds", buckets: latency,
                                                    help: "Between consecutive generated tokens of a stream")
        running = registry.makeGauge(name: "bora_sequences_running", help: "Sequences in slots")
        queued = registry.makeGauge(name: "bora_sequences_queued", help: "Requests waiting for a slot")
        slotsInUse = registry.makeGauge(name: "bora_kv_slots_in_use", help: "KV cache slots holding a running sequence")
        slots = registry.makeGauge(name: "bora_kv_slots", help: "KV cache slots")
        slots.set(Double(slotCount))
    }

    func request(endpoint: String, status: Int) {
        registry.makeCounter(name: "bora_requests_total", labels: [("endpoint", endpoint), ("status", String(status))],
                             help: "Requests by endpoint and status").increment()
    }

    func finished(_ stats: GenerationStats) {
        promptTokens.increment(by: Int64(stats.promptTokens))
        generatedTokens.increment(by: Int64(stats.generatedTokens))
        draftedTokens.increment(by: Int64(stats.draftedTokens))
        acceptedDraftTokens.increment(by: Int64(stats.acceptedDraftTokens))
        weightPasses.increment(by: Int64(stats.weightPasses))
    }

    func firstToken(after d: Duration) { timeToFirstToken.record(d) }
    func nextToken(after d: Duration) { interToken.record(d) }
    func disconnected() { disconnects.increment() }

    func load(waiting: Int, running r: Int) {
        running.set(Double(r))
        slotsInUse.set(Double(r))
        queued.set(Double(waiting))
    }

    func text() -> String { registry.emitToString() }
}
