import CBoraKernels
import Foundation

/// The engine's step loop, on a thread of its own: admits queued requests to slots, builds each
/// step (decode rows first, then prompt chunks within the token budget), runs it through the
/// forward pass and hands every sequence its logits.
final class Scheduler: @unchecked Sendable {
    private let pass: ForwardPass
    /// The draft model's pass, shared by the slots' draft caches.
    private let draftPass: ForwardPass?
    let slots: [Slot]
    private let stepTokens: Int
    private let promptStepTokens: Int
    private let positionLimit: Int?
    private let maxQueued: Int?

    // Shared with the submitting threads, under `condition`.
    private let condition = NSCondition()
    private var queue: [Request] = []
    private var stopping = false
    private var counts = (waiting: 0, running: 0)
    private var thread: Thread?
    private let exited = DispatchSemaphore(value: 0)
    private var observer: (@Sendable (StepReport) -> Void)?

    // The engine thread's own.
    /// Requests taken from the queue, waiting for a slot (first come, first served).
    private var waiting: [Request] = []
    private var running: [Running] = []
    private var stepCount = 0
    // One step's lists, kept with their capacity.
    private var tokens: [Int] = []
    private var pieces: [ForwardPass.Piece] = []
    private var owners: [Running] = []
    private var outcomes: [SequenceGeneration.RowOutcome] = []
    private var failures: [Int?] = []
    // One step's draft model passes: the sequences drawing drafts, and one pass's lists.
    private var drawing: [Running] = []
    private var draftTokens: [Int] = []
    private var draftPieces: [ForwardPass.Piece] = []
    private var draftOwners: [Running] = []
    private var draftFailed: [Bool] = []
    /// `EngineOptions.speculationWeighsBatch`.
    private let weighsBatch: Bool
    /// What decode steps (no prompt rows) of each number of rows take here: greedy sequences price
    /// their drafts' rows from them against their share of the step (`BatchPrice`).
    private var stepCosts: StepCosts
    /// The same for the draft model's passes (by rows; one row per sequence drawing, after the first).
    private var draftCosts: StepCosts

    /// A request in a slot.
    final class Running {
        let request: Request
        let slot: Slot
        /// Tokens still to feed (the prompt's unevaluated part, then each sampled token and its
        /// drafts), from `next`.
        var input: [Int]
        var next = 0
        var promptDone = false
        let evaluatedPrompt: Int

        init(request: Request, slot: Slot, input: [Int]) {
            self.request = request
            self.slot = slot
            self.input = input
            evaluatedPrompt = input.count
        }

        var remaining: Int { input.count - next }
    }

    init(pass: ForwardPass, draftPass: ForwardPass? = nil, slots: [Slot], stepTokens: Int, promptStepTokens: Int,
         positionLimit: Int?, maxQueued: Int?, weighsBatch: Bool = true) {
        self.weighsBatch = weighsBatch
        self.maxQueued = maxQueued
        self.pass = pass
        self.draftPass = draftPass
        self.slots = slots
        self.stepTokens = stepTokens
        self.promptStepTokens = promptStepTokens
        self.positionLimit = positionLimit
        stepCosts = StepCosts(maximumRows: stepTokens)
        draftCosts = StepCosts(maximumRows: draftPass?.capacity ?? 1)
        tokens.reserveCapacity(promptStepTokens)
        pieces.reserveCapacity(slots.count)
        owners.reserveCapacity(slots.count)
        outcomes.reserveCapacity(slots.count)
        failures.reserveCapacity(slots.count)
        running.reserveCapacity(slots.count)
        drawing.reserveCapacity(slots.count)
        draftTokens.reserveCapacity(draftPass?.capacity ?? 0)
        draftPieces.reserveCapacity(slots.count)
        draftOwners.reserveCapacity(slots.count)
        draftFailed.reserveCapacity(slots.count)
    }

    func start() {
        let thread = Thread { [self] in
            loop()
            exited.signal()
        }
        thread.name = "bora-engine"
        thread.stackSize = 8 << 20
        self.thread = thread
        thread.start()
    }

    /// Stops the loop after its current step; every request not finished gets `engineStopped`.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        let thread = self.thread
        self.thread = nil
        condition.unlock()
        // (Once; and not from the engine's own thread, say an observer dropping the last reference.)
        if let thread, thread != Thread.current { exited.wait() }
    }

    func enqueue(_ request: Request) throws(BoraError) {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { throw .engineStopped }
        // Requests not in a slot yet, beyond the free slots, are the queue.
        if let maxQueued, counts.waiting - (slots.count - counts.running) >= maxQueued {
            throw .queueFull(limit: maxQueued)
        }
        queue.append(request)
        counts.waiting += 1
        condition.signal()
    }

    /// Wakes the loop (a stream was dropped: its request is dropped at the next step).
    func wake() {
        condition.lock()
        condition.signal()
        condition.unlock()
    }

    /// Called on the engine's thread after every step.
    func observeSteps(_ body: (@Sendable (StepReport) -> Void)?) {
        condition.lock()
        observer = body
        condition.unlock()
    }

    var load: (waiting: Int, running: Int) {
        condition.lock()
        defer { condition.unlock() }
        return counts
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && waiting.isEmpty && running.isEmpty && !stopping { condition.wait() }
            if stopping {
                let queued = queue
                queue = []
                condition.unlock()
                for request in queued + waiting { request.continuation.finish(throwing: BoraError.engineStopped) }
                for r in running { r.request.continuation.finish(throwing: BoraError.engineStopped) }
                waiting = []
                running = []
                return
            }
            waiting.append(contentsOf: queue)
            queue.removeAll(keepingCapacity: true)
            condition.unlock()

            dropCancelled()
            admit()
            let report = running.isEmpty ? nil : step()
            condition.lock()
            counts = (waiting.count + queue.count, running.count)
            let observer = self.observer
            condition.unlock()
            if let report, let observer { observer(report) }
        }
    }

    private func dropCancelled() {
        waiting.removeAll { request in
            guard request.isCancelled else { return false }
            request.sequence.end(.cancelled) { request.continuation.yield($0) }
            request.continuation.finish()
            return true
        }
        for r in running where r.request.isCancelled {
            r.request.sequence.end(.cancelled) { r.request.continuation.yield($0) }
            r.request.continuation.finish()
            release(r)
        }
    }

    /// Gives free slots to waiting requests, first come first served: each takes the idle slot
    /// whose cached tokens share the longest prefix with its prompt (the least recently used one
    /// among equals, so other slots keep their prefixes longer).
    private func admit() {
        while !waiting.isEmpty {
            let request = waiting[0]
            var best: (slot: Slot, reuse: Int)?
            for slot in slots where !slot.isBusy {
                let reuse = slot.cache.reusablePrefix(cached: slot.tokens, prompt: request.prompt)
                if let b = best, reuse < b.reuse || (reuse == b.reuse && slot.lastUsed >= b.slot.lastUsed) { continue }
                best = (slot, reuse)
            }
            guard let (slot, reuse) = best else { return }
            waiting.removeFirst()
            if reuse < slot.tokens.count { slot.tokens.removeLast(slot.tokens.count - reuse) }
            slot.isBusy = true
            running.append(Running(request: request, slot: slot, input: Array(request.prompt[reuse...])))
        }
    }

    private func release(_ r: Running) {
        r.slot.isBusy = false
        r.slot.lastUsed = stepCount
        running.removeAll { $0 === r }
    }

    /// One step: the next token of every generating sequence, then prompt chunks in admission order,
    /// within the step's token budget.
    private func step() -> StepReport {
        stepCount += 1
        var report = StepReport(index: stepCount)
        tokens.removeAll(keepingCapacity: true)
        pieces.removeAll(keepingCapacity: true)
        owners.removeAll(keepingCapacity: true)
        // Nobody waits between tokens while only prompts are read: longer chunks then.
        var budget = running.contains { $0.promptDone } ? stepTokens : promptStepTokens
        for decoding in 0..<2 {
            for r in running where r.promptDone == (decoding == 0) && budget > 0 {
                let count = min(r.remaining, budget)
                if r.promptDone && count < r.remaining {
                    // Drafts past the step's budget wait for another step.
                    r.request.sequence.trimDrafts(to: count - 1)
                    r.input.removeLast(r.remaining - count)
                }
                let first = tokens.count
                tokens.append(contentsOf: r.input[r.next..<(r.next + count)])
                // Logits where the sequence's input runs out (its prompt's last token), or for every
                // row of a generating sequence (the token fed, then each draft).
                let logitRows = r.promptDone ? 0..<count : count == r.remaining ? (count - 1)..<count : count..<count
                pieces.append(ForwardPass.Piece(cache: r.slot.cache, start: r.slot.tokens.count, tokens: first..<(first + count),
                                                logitRows: logitRows))
                owners.append(r)
                budget -= count
                if decoding == 0 {
                    report.decodeRows += 1
                    report.draftRows += count - 1
                } else {
                    report.promptRows += count
                }
            }
        }
        outcomes.removeAll(keepingCapacity: true)
        failures.removeAll(keepingCapacity: true)
        for _ in pieces { outcomes.append(.accepted); failures.append(nil) }

        let started = ContinuousClock.now
        let alone = pieces.count == 1 && owners[0].promptDone
        pass.run(tokens: tokens, pieces: pieces) { p, row, logits in
            // A sequence alone in its step learns what its rows cost (up to its first logits row).
            if alone && row == 0 { owners[0].request.sequence.observeStep(rows: pieces[0].tokens.count, seconds: started.secondsElapsed) }
            // Rows after the one that decided (a draft not kept, the end) are dropped.
            guard outcomes[p] == .accepted, failures[p] == nil else { return }
            let r = owners[p]
            // NaN or infinity here means broken weights or an overflow: an error, never a sample.
            if bora_all_finite(logits.baseAddress!, logits.count) == 0 {
                failures[p] = pieces[p].start + row
                return
            }
            let sequence = r.request.sequence
            if !r.promptDone { sequence.promptEvaluated(r.evaluatedPrompt) }
            outcomes[p] = sequence.acceptRow(logits, isCancelled: r.request.isCancelled) { r.request.continuation.yield($0) }
        }
        if report.promptRows == 0 { stepCosts.observe(rows: tokens.count, seconds: started.secondsElapsed) }
        // The sequences that decode in the next step (those still reading a prompt aside).
        var batch = 0
        if weighsBatch {
            for p in pieces.indices where !pieces[p].logitRows.isEmpty && failures[p] == nil {
                if case .next = outcomes[p] { batch += 1 }
            }
        }
        let price = BatchPrice(batch: batch, steps: stepCosts, draftPasses: draftCosts)

        drawing.removeAll(keepingCapacity: true)
        for (p, r) in owners.enumerated() {
            let piece = pieces[p]
            // A generating sequence keeps the token fed and the drafts kept; the cache's keys of
            // the others lie past its end, where the next step overwrites them.
            var fed = piece.tokens
            if r.promptDone, case .next(_, let kept) = outcomes[p] { fed = fed.lowerBound..<(fed.lowerBound + 1 + kept) }
            r.slot.tokens.append(contentsOf: tokens[fed])
            r.next += piece.tokens.count
            r.slot.lastUsed = stepCount
            if let position = failures[p] {
                r.request.continuation.finish(throwing: BoraError.nonFiniteLogits(position: position))
                r.slot.tokens.removeAll()
                release(r)
                continue
            }
            // The draft model reads each prompt chunk after the model (a draft that fails here drafts
            // nothing), so no step later stops to read a whole prompt into it.
            if !r.promptDone, r.request.sequence.usesDraftModel, let draft = r.slot.draft { try? draft.prime(r.slot.tokens) }
            guard !piece.logitRows.isEmpty else { continue }
            r.promptDone = true
            let sequence = r.request.sequence
            guard case .next(let token, _) = outcomes[p] else {
                r.request.continuation.finish()
                release(r)
                continue
            }
            switch sequence.room(length: r.slot.tokens.count, limit: positionLimit) {
            case .available: break
            case .full:
                sequence.end(.maxTokens) { r.request.continuation.yield($0) }
                r.request.continuation.finish()
                release(r)
                continue
            case .shift(let keep, let discard):
                do {
                    try r.slot.cache.shift(keep: keep, discard: discard, length: r.slot.tokens.count, rope: pass.rope)
                    r.slot.tokens.removeSubrange(keep..<(keep + discard))
                } catch {
                    r.request.continuation.finish(throwing: error)
                    r.slot.tokens.removeAll()
                    release(r)
                    continue
                }
            }
            r.input.removeAll(keepingCapacity: true)
            r.input.append(token)
            sequence.proposeDrafts(room: positionLimit.map { $0 - r.slot.tokens.count - 1 } ?? SpeculativeDecoding.maximumDraft,
                                   draftModel: r.slot.draft, drawLater: r.slot.draft != nil, price: price)
            if sequence.pendingDraws > 0 { drawing.append(r) } else { r.input.append(contentsOf: sequence.drafts) }
            r.next = 0
        }
        if !drawing.isEmpty {
            report.draftModelPasses = drawDrafts()
            for r in drawing {
                r.input.append(contentsOf: r.request.sequence.drafts)
                report.draftModelDrafts += r.request.sequence.drafts.count
            }
        }
        report.seconds = started.secondsElapsed
        return report
    }

    /// The draft-model drafts of the sequences in `drawing`: one pass of the draft model per drafted
    /// position for all of them (each sequence's piece is what its draft cache lacks: the tokens
    /// since its last draft, then one per draft), not one pass per sequence and position. A piece
    /// that does not fit the pass runs alone. Returns the draft model's passes, those alone included.
    private func drawDrafts() -> Int {
        guard let draftPass else { return 0 }
        var passes = 0
        while drawing.contains(where: { $0.request.sequence.pendingDraws > 0 }) {
            draftTokens.removeAll(keepingCapacity: true)
            draftPieces.removeAll(keepingCapacity: true)
            draftOwners.removeAll(keepingCapacity: true)
            for r in drawing where r.request.sequence.pendingDraws > 0 {
                let sequence = r.request.sequence, runner = r.slot.draft!
                let (history, drafts) = sequence.draftInput
                if draftPieces.count < draftPass.maximumPieces,
                   runner.appendPiece(after: history, drafts, room: draftPass.capacity - draftTokens.count,
                                      to: &draftTokens, pieces: &draftPieces) {
                    draftOwners.append(r)
                } else if let logits = try? runner.logits(after: history, drafts) {
                    sequence.takeDraft(logits)
                    passes += 1
                } else {
                    sequence.stopDrawing()
                }
            }
            guard !draftPieces.isEmpty else { continue }
            draftFailed.removeAll(keepingCapacity: true)
            for _ in draftPieces { draftFailed.append(false) }
            let started = ContinuousClock.now
            draftPass.run(tokens: draftTokens, pieces: draftPieces) { p, _, logits in
                if bora_all_finite(logits.baseAddress!, logits.count) == 0 {
                    draftFailed[p] = true
                    return
                }
                draftOwners[p].request.sequence.takeDraft(logits)
            }
            draftCosts.observe(rows: draftTokens.count, seconds: started.secondsElapsed)
            passes += 1
            for (p, r) in draftOwners.enumerated() {
                r.slot.draft!.pieceRan(draftTokens[draftPieces[p].tokens], failed: draftFailed[p])
                if draftFailed[p] { r.request.sequence.stopDrawing() }
            }
        }
        return passes
    }
}

/// What one step did (for benchmarks and tests).
package struct StepReport: Sendable {
    package let index: Int
    /// Rows of sequences generating (one each, the token fed), of their drafts, and of prompt chunks.
    package var decodeRows = 0
    package var draftRows = 0
    package var promptRows = 0
    /// Passes of the draft model over the sequences drafting with it (one per drafted position),
    /// and the drafts they drew.
    package var draftModelPasses = 0
    package var draftModelDrafts = 0
    /// Wall time of the step: the forward pass and every sequence's sampling.
    package var seconds = 0.0
}
