/// One message of a conversation, as in the OpenAI chat API.
public struct ChatMessage: Sendable, Equatable, Hashable {
    public enum Role: String, Sendable, Hashable, CaseIterable {
        case system, user, assistant
    }

    public var role: Role
    public var content: String

    public init(role: Role, content: String) {
        self.role = role
        self.content = content
    }

    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: .system, content: content) }
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: .user, content: content) }
    public static func assistant(_ content: String) -> ChatMessage { ChatMessage(role: .assistant, content: content) }

    /// Reads OpenAI-style messages: `[{"role": "user", "content": "..."}, ...]` (or `{"messages": [...]}`).
    public static func parseList(_ json: JSONValue) throws(BoraError) -> [ChatMessage] {
        let list = json["messages"]?.array ?? json.array
        guard let list else { throw .invalidConversation("expected a list of messages") }
        var messages: [ChatMessage] = []
        for (index, item) in list.enumerated() {
            guard let roleName = item["role"]?.string else { throw .invalidConversation("message \(index) has no role") }
            guard let role = Role(rawValue: roleName) else {
                throw .invalidConversation("message \(index) has role '\(roleName)'; expected system, user or assistant")
            }
            let content: String
            if let text = item["content"]?.string {
                content = text
            } else if let parts = item["content"]?.array {
                // OpenAI content parts: only text parts are supported.
                var text = ""
                for part in parts {
                    guard part["type"]?.string == "text", let t = part["text"]?.string else {
                        throw .invalidConversation("message \(index): only text content parts are supported")
                    }
                    text += t
                }
                content = text
            } else {
                throw .invalidConversation("message \(index) has no text content")
            }
            messages.append(ChatMessage(role: role, content: content))
        }
        return messages
    }
}
