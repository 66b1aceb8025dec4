import ArgumentParser
import Bora
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Ctrl-C state, shared with the signal handler.
private let answering = Atomic<Bool>(false)
private let interruptRequested = Atomic<Bool>(false)

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with a model in the terminal.",
        discussion: """
            Type a message and press Enter. Commands: /reset clears the conversation, /system TEXT sets \
            the system prompt (and clears the conversation), /exit quits. Ctrl-C stops an answer; at the \
            prompt (or pressed twice) it quits, as does Ctrl-D. Reads one message per line when standard \
            input is not a terminal.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingOptions

    @Option(help: "System prompt.")
    var system: String?

    @Option(name: .customLong("chat-template"), help: "Chat format: mistral-v1, mistral-v3, llama2, zephyr or chatml (default: from the model).")
    var chatTemplate: String?

    func run() throws {
        let parameters = try sampling.parameters(draftModel: modelOptions.draft != nil)
        let model = try modelOptions.load()
        let generator = try Generator(model: model, options: modelOptions.contextOptions, draft: modelOptions.loadDraft())
        let choice = try model.chatFormat(named: chatTemplate)
        if let warning = choice.warning { printError("warning: \(warning)") }
        let interactive = isatty(0) != 0

        signal(SIGINT) { _ in
            if answering.load(ordering: .acquiring) && !interruptRequested.load(ordering: .acquiring) {
                interruptRequested.store(true, ordering: .releasing)
            } else {
                _ = write(2, "\n", 1)
                _exit(130)
            }
        }

        var systemPrompt = system
        var history: [ChatMessage] = []
        func resetConversation() {
            history = systemPrompt.map { [.system($0)] } ?? []
            generator.reset()
        }
        resetConversation()
        if interactive { printError("Chatting with \(model.files.path) (\(choice.format.rawValue)). /exit to quit, /reset to start over.") }

        while true {
            if interactive { printError(">>> ", newline: false) }
            guard let raw = readLine(strippingNewline: true) else { break }
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if line == "/exit" || line == "/bye" { break }
            if line == "/reset" {
                resetConversation()
                printError("(conversation cleared)")
                continue
            }
            if line.hasPrefix("/system") {
                let text = line.dropFirst("/system".count).trimmingCharacters(in: .whitespaces)
                systemPrompt = text.isEmpty ? nil : text
                resetConversation()
                printError(text.isEmpty ? "(system prompt removed, conversation cleared)" : "(system prompt set, conversation cleared)")
                continue
            }
            if line.hasPrefix("/") {
                printError("unknown command \(line); commands: /reset, /system TEXT, /exit")
                continue
            }

            history.append(.user(line))
            let ids: [Int]
            do {
                ids = try choice.format.encode(history, tokenizer: generator.tokenizer, defaultSystemPrompt: choice.defaultSystemPrompt)
            } catch {
                history.removeLast()
                printError("error: \(error)")
                continue
            }
            var answer = ""
            interruptRequested.store(false, ordering: .releasing)
            answering.store(true, ordering: .releasing)
            let stats: GenerationStats
            do {
                stats = try generator.generate(prompt: ids, parameters: parameters, startOfText: true,
                                               isCancelled: { interruptRequested.load(ordering: .acquiring) }) { event in
                    if case .text(let text) = event {
                        answer += text
                        writeOut(text)
                    }
                }
            } catch {
                answering.store(false, ordering: .releasing)
                history.removeLast()
                printError("error: \(error)")
                continue
            }
            answering.store(false, ordering: .releasing)
            writeOut("\n")
            if answer.isEmpty {
                history.removeLast()  // nothing was answered; keep the conversation well-formed
            } else {
                history.append(.assistant(answer))
            }
            printError(statsLine(stats))
        }
    }
}
