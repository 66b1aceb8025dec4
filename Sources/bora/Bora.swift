import ArgumentParser

@main
struct BoraCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bora",
        abstract: "Run Mistral 7B and Llama-family models on the CPU.",
        subcommands: [RunCommand.self, ChatCommand.self, ServeCommand.self, BatchCommand.self, PerplexityCommand.self, EvalCommand.self, CompareCommand.self, InfoCommand.self, BenchCommand.self, TokenizeCommand.self, LogitsCommand.self])
}
