/// JSON Schema → GBNF, for the subset of JSON Schema that structured output needs, after llama.cpp's
/// `common/json-schema-to-grammar.cpp` (the same rule shapes, names and whitespace rule, so a schema
/// constrains Bora as it constrains llama-server).
///
/// Supported: `type` (object, array, string, number, integer, boolean, null, or a list of them),
/// `properties`, `required`, `additionalProperties`, `items` (a schema, or a list as a tuple),
/// `prefixItems`, `minItems`/`maxItems`, `enum`, `const`, `anyOf`/`oneOf` (both as a union: the
/// alternatives should not overlap), `allOf` of one schema, `$ref` into the same document
/// (`#/$defs/…`, `#/definitions/…`, any JSON pointer, recursion included), `minLength`/`maxLength`,
/// `pattern` (ECMA-262 regular expressions without look-around, back-references or word
/// boundaries; see `PatternGrammar`), `format` date, time, date-time and uuid, and `minimum`,
/// `maximum`, `exclusiveMinimum`, `exclusiveMaximum` on integers. Annotations (`title`,
/// `description`, `default`, `examples`, …) are ignored. Any other keyword is refused by name:
/// a constraint Bora cannot enforce is never silently dropped.
///
/// The grammar accepts a subset of what the schema allows, never more: object keys come in the
/// order of `properties` (required and optional ones as llama.cpp orders them), an object with
/// `properties` and no `additionalProperties` takes no other keys, strings use no `\/` escape or
/// U+007F, numbers have at most 16 digits per part, and a tuple takes exactly its items.
package struct JSONSchemaGrammar {
    private let document: JSONValue
    private var rules: [String: String] = ["space": Self.spaceRule]
    private var refsInProgress: Set<String> = []
    private var depth = 0

    /// The GBNF grammar (start rule `root`) for `schema`.
    package static func gbnf(for schema: JSONValue) throws(BoraError) -> String {
        var converter = JSONSchemaGrammar(document: schema)
        _ = try converter.visit(schema, name: "", path: "#")
        return converter.rules.keys.sorted().map { "\($0) ::= \(converter.rules[$0]!)\n" }.joined()
    }

    private init(document: JSONValue) { self.document = document }

    // MARK: Keywords

    /// Keywords that describe without constraining.
    private static let annotations: Set<String> = [
        "title", "description", "$schema", "$id", "$comment", "$anchor", "default", "examples",
        "deprecated", "readOnly", "writeOnly", "$defs", "definitions",
    ]
    /// The keywords that apply to each type.
    private static let typeKeywords: [String: Set<String>] = [
        "object": ["properties", "required", "additionalProperties"],
        "array": ["items", "prefixItems", "minItems", "maxItems"],
        "string": ["minLength", "maxLength", "pattern", "format"],
        "integer": ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"],
        "number": ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"],
        "boolean": [], "null": [],
    ]
    private static let typeOrder = ["object", "array", "string", "integer", "number", "boolean", "null"]
    private static let combinators: Set<String> = ["$ref", "anyOf", "oneOf", "allOf", "enum", "const", "type"]
    private static let typedKeywords = typeKeywords.values.reduce(into: Set<String>()) { $0.formUnion($1) }
    /// How deep schemas may nest (a request's schema is untrusted).
    private static let depthLimit = 128

    private func fail(_ path: String, _ reason: String) -> BoraError { .invalidSchema(path: path, reason: reason) }

    // MARK: Visiting

    /// Adds the rules for `schema` and returns the name of the rule that matches it.
    private mutating func visit(_ schema: JSONValue, name: String, path: String) throws(BoraError) -> String {
        let ruleName = Self.isReserved(name) ? name + "-" : name.isEmpty ? "root" : name
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.depthLimit else { throw fail(path, "schemas nest deeper than \(Self.depthLimit)") }

        switch schema {
        case .bool(true): return addRule(ruleName, addPrimitive("value"))
        case .bool(false): throw fail(path, "the schema false accepts no value")
        case .object: break
        default: throw fail(path, "a schema must be an object or a boolean")
        }
        let keys = Set(schema.members!.map(\.0)).subtracting(Self.annotations)
        for key in schema.members!.map(\.0) where keys.contains(key) {
            guard Self.combinators.contains(key) || Self.typedKeywords.contains(key) else {
                throw fail(path, "the keyword '\(key)' is not supported")
            }
        }
        func alone(_ keyword: String, besides allowed: Set<String> = []) throws(BoraError) {
            if let other = keys.subtracting(allowed).subtracting([keyword]).sorted().first {
                throw fail(path, "'\(keyword)' beside '\(other)' is not supported")
            }
        }

        if let ref = schema["$ref"] {
            try alone("$ref")
            guard let ref = ref.string else { throw fail(path, "$ref must be a string") }
            return addRule(ruleName, try resolve(ref, path: path))
        }
        if keys.contains("anyOf") || keys.contains("oneOf") {
            let key = keys.contains("anyOf") ? "anyOf" : "oneOf"
            try alone(key)
            guard let alternatives = schema[key]?.array, !alternatives.isEmpty else { throw fail(path, "\(key) must be a non-empty array of schemas") }
            var names: [String] = []
            for (i, alternative) in alternatives.enumerated() {
                names.append(try visit(alternative, name: name + (name.isEmpty ? "alternative-" : "-") + String(i), path: "\(path)/\(key)/\(i)"))
            }
            return addRule(ruleName, names.joined(separator: " | "))
        }
        if let all = schema["allOf"] {
            try alone("allOf")
            guard let parts = all.array, !parts.isEmpty else { throw fail(path, "allOf must be a non-empty array of schemas") }
            guard parts.count == 1 else { throw fail(path, "allOf with more than one schema is not supported") }
            return addRule(ruleName, try visit(parts[0], name: name, path: path + "/allOf/0"))
        }

        let types = try declaredTypes(schema, path: path)
        if keys.contains("enum") || keys.contains("const") {
            if keys.contains("enum"), keys.contains("const") { throw fail(path, "'enum' beside 'const' is not supported") }
            let key = keys.contains("enum") ? "enum" : "const"
            try alone(key, besides: ["type"])
            let values: [JSONValue]
            if key == "const" { values = [schema["const"]!] } else {
                guard let list = schema["enum"]?.array, !list.isEmpty else { throw fail(path, "enum must be a non-empty array") }
                values = list
            }
            if let types, let value = values.first(where: { v in !types.contains { Self.fits(v, $0) } }) {
                throw fail(path, "the \(key) value \(value.serialized) is not of type \(types.joined(separator: " or "))")
            }
            return addRule(ruleName, "(" + values.map { Self.literal($0.serialized) }.joined(separator: " | ") + ")")
        }

        let present = keys.intersection(Self.typedKeywords)
        guard let types else {
            // Without `type`, the keywords say which type is meant.
            var candidates = Self.typeOrder.filter { !present.isDisjoint(with: Self.typeKeywords[$0]!) }
            if candidates == ["integer", "number"] { candidates = ["number"] }
            if candidates.isEmpty { return addRule(ruleName, addPrimitive("value")) }
            guard candidates.count == 1 else {
                throw fail(path, "keywords of several types (\(present.sorted().joined(separator: ", "))) without 'type'")
            }
            return try visitTyped(candidates[0], schema, keywords: present, name: name, ruleName: ruleName, path: path)
        }
        for key in present where !types.contains(where: { Self.typeKeywords[$0]!.contains(key) }) {
            throw fail(path, "'\(key)' does not apply to type \(types.joined(separator: " or "))")
        }
        if types.count == 1 {
            return try visitTyped(types[0], schema, keywords: present, name: name, ruleName: ruleName, path: path)
        }
        var names: [String] = []
        for (i, type) in types.enumerated() {
            let altName = name + (name.isEmpty ? "alternative-" : "-") + String(i)
            let own = present.intersection(Self.typeKeywords[type]!)
            names.append(try visitTyped(type, schema, keywords: own, name: altName,
                                        ruleName: Self.isReserved(altName) ? altName + "-" : altName, path: "\(path)/type/\(i)"))
        }
        return addRule(ruleName, names.joined(separator: " | "))
    }

    /// `type` as a list of known type names, or nil when absent.
    private func declaredTypes(_ schema: JSONValue, path: String) throws(BoraError) -> [String]? {
        guard let type = schema["type"] else { return nil }
        let names: [String]
        if let one = type.string { names = [one] } else if let list = type.array, !list.isEmpty, list.allSatisfy({ $0.string != nil }) {
            names = list.map { $0.string! }
        } else {
            throw fail(path, "type must be a type name or a non-empty array of them")
        }
        for n in names where Self.typeKeywords[n] == nil { throw fail(path, "unknown type '\(n)'") }
        guard Set(names).count == names.count else { throw fail(path, "type lists a type twice") }
        return names
    }

    private static func fits(_ value: JSONValue, _ type: String) -> Bool {
        switch (value, type) {
        case (.null, "null"), (.bool, "boolean"), (.number, "number"), (.string, "string"), (.array, "array"), (.object, "object"): true
        case (.number(let d), "integer"): d.rounded() == d && d.isFinite
        default: false
        }
    }

    private mutating func visitTyped(_ type: String, _ schema: JSONValue, keywords: Set<String>, name: String,
                                     ruleName: String, path: String) throws(BoraError) -> String {
        switch type {
        case "object": return try visitObject(schema, keywords: keywords, name: name, ruleName: ruleName, path: path)
        case "array": return try visitArray(schema, keywords: keywords, name: name, ruleName: ruleName, path: path)
        case "string": return try visitString(schema, keywords: keywords, ruleName: ruleName, path: path)
        case "integer":
            if keywords.isEmpty { return addPrimitive(ruleName == "root" ? "root" : "integer", as: "integer") }
            let (low, high) = try integerBounds(schema, path: path)
            var out = "("
            Self.integerRange(low, high, into: &out)
            return addRule(ruleName, out + ")")
        case "number" where !keywords.isEmpty:
            return addRule(ruleName, try boundedNumber(schema, path: path))
        default: return addPrimitive(ruleName == "root" ? "root" : type, as: type)
        }
    }

    /// Numbers within `minimum`/`maximum` (or their exclusive forms), written without an exponent:
    /// the integers in range, and numbers with a fraction in each open interval (J, J+1) that lies
    /// in range. A fraction has a non-zero digit, so `2.0` is written `2`.
    /// Exact for integer bounds; a fractional bound drops the partial interval next to it.
    private mutating func boundedNumber(_ schema: JSONValue, path: String) throws(BoraError) -> String {
        let (low, high) = try integerBounds(schema, path: path)
        // The intervals (J, J+1) in range: J from the lower bound's ceiling (an integer bound may
        // start one, as J < x), to the upper bound's floor minus one (J + 1 ≤ the bound).
        func bound(_ key: String) -> Double? { schema[key]?.double }
        let lowerBound = [bound("minimum"), bound("exclusiveMinimum")].compactMap { $0 }.max()
        let upperBound = [bound("maximum"), bound("exclusiveMaximum")].compactMap { $0 }.min()
        let firstJ = lowerBound.map { Int($0.rounded(.up)) }
        let lastJ = upperBound.map { Int($0.rounded(.down)) - 1 }
        let fraction = #""." [0]{0,15} [1-9] [0-9]{0,15}"#
        var alternatives: [String] = []
        if low == nil || high == nil || low! <= high! {
            var out = ""
            if low == nil, high == nil { out = addPrimitive("integer") } else { Self.integerRange(low, high, into: &out) }
            alternatives.append("(" + out + ")")
        }
        // J ≥ 0: "J.F". J < 0: "-k.F" with k = −J−1, which lies in (J, J+1).
        let positiveFrom = max(firstJ ?? 0, 0)
        if lastJ.map({ $0 >= positiveFrom }) ?? true {
            var out = ""
            Self.integerRange(positiveFrom, lastJ, into: &out)
            alternatives.append("(" + out + ") " + fraction)
        }
        let kFrom = max(0, lastJ.map { -$0 - 1 } ?? 0)
        let kTo = firstJ.map { -$0 - 1 }
        if kTo.map({ $0 >= kFrom }) ?? true {
            var out = ""
            Self.integerRange(kFrom, kTo, into: &out)
            alternatives.append(#""-" ("# + out + ") " + fraction)
        }
        guard !alternatives.isEmpty else { throw fail(path, "no number lies between the bounds") }
        return alternatives.joined(separator: " | ")
    }

    private func count(_ schema: JSONValue, _ key: String, path: String) throws(BoraError) -> Int? {
        guard let value = schema[key] else { return nil }
        guard let n = value.int, n >= 0, n <= 1_000_000 else { throw fail(path, "\(key) must be an integer from 0 to 1000000") }
        return n
    }

    private mutating func visitObject(_ schema: JSONValue, keywords: Set<String>, name: String, ruleName: String,
                                      path: String) throws(BoraError) -> String {
        var properties: [(String, JSONValue)] = []
        if let p = schema["properties"] {
            guard let members = p.members else { throw fail(path, "properties must be an object") }
            properties = members
        }
        var required: Set<String> = []
        if let r = schema["required"] {
            guard let names = r.array, names.allSatisfy({ $0.string != nil }) else { throw fail(path, "required must be an array of names") }
            required = Set(names.map { $0.string! })
            if let missing = names.map({ $0.string! }).first(where: { n in !properties.contains { $0.0 == n } }) {
                throw fail(path, "the required property '\(missing)' is not among the properties")
            }
        }
        // Without `additionalProperties`, an object with properties takes only those (as llama.cpp
        // does: a subset of what the schema allows); one without properties takes any members.
        var additional: JSONValue? = properties.isEmpty && schema["properties"] == nil ? .bool(true) : nil
        if let a = schema["additionalProperties"] {
            switch a {
            case .bool(true): additional = .bool(true)
            case .bool(false): additional = nil
            case .object: additional = a
            default: throw fail(path, "additionalProperties must be a boolean or a schema")
            }
        }
        if properties.isEmpty, additional == .bool(true) { return addRule(ruleName, addPrimitive("object")) }
        return addRule(ruleName, try objectRule(properties, required: required, name: name, additional: additional, path: path))
    }

    private mutating func objectRule(_ properties: [(String, JSONValue)], required: Set<String>, name: String,
                                     additional: JSONValue?, path: String) throws(BoraError) -> String {
        let prefix = name + (name.isEmpty ? "" : "-")
        var requiredNames: [String] = []
        var optionalNames: [String] = []
        var kvRules: [String: String] = [:]
        for (propName, propSchema) in properties {
            let valueRule = try visit(propSchema, name: prefix + propName, path: "\(path)/properties/\(propName)")
            kvRules[propName] = addRule(prefix + propName + "-kv", Self.literal(JSONValue.string(propName).serialized) + " space \":\" space " + valueRule)
            if required.contains(propName) { requiredNames.append(propName) } else { optionalNames.append(propName) }
        }
        if let additional {
            let sub = prefix + "additional"
            let valueRule = additional == .bool(true) ? addPrimitive("value")
                : try visit(additional, name: sub + "-value", path: path + "/additionalProperties")
            let keyRule = properties.isEmpty ? addPrimitive("string") : addRule(sub + "-k", notStrings(properties.map(\.0)))
            kvRules["*"] = addRule(sub + "-kv", keyRule + " \":\" space " + valueRule)
            optionalNames.append("*")
        }
        if requiredNames.isEmpty, optionalNames.isEmpty { return #""{" space "}""# }

        var rule = #""{" space "#
        rule += requiredNames.map { kvRules[$0]! }.joined(separator: #" "," space "#)
        if !optionalNames.isEmpty {
            rule += " ("
            if !requiredNames.isEmpty { rule += #" "," space ( "# }
            // The optional members from the k-th on, each present or not, in order.
            func rest(_ names: ArraySlice<String>, firstIsOptional: Bool) -> String {
                guard let k = names.first else { return "" }
                let kv = kvRules[k]!
                let commaRef = #"( "," space "# + kv + " )"
                var result = firstIsOptional ? commaRef + (k == "*" ? "*" : "?") : kv + (k == "*" ? " " + commaRef + "*" : "")
                if names.count > 1 {
                    result += " " + addRule(prefix + k + "-rest", rest(names.dropFirst(), firstIsOptional: true))
                }
                return result
            }
            rule += optionalNames.indices.map { rest(optionalNames[$0...], firstIsOptional: false) }.joined(separator: " | ")
            if !requiredNames.isEmpty { rule += " )" }
            rule += " )?"
        }
        return rule + #" space "}""#
    }

    /// A JSON string that is none of `strings` (keys beside the declared properties).
    private mutating func notStrings(_ strings: [String]) -> String {
        final class Node { var children: [(Unicode.Scalar, Node)] = []; var isEnd = false }
        let trie = Node()
        for s in strings {
            var node = trie
            for c in s.unicodeScalars {
                if let next = node.children.first(where: { $0.0 == c })?.1 { node = next } else {
                    let next = Node()
                    node.children.append((c, next))
                    node = next
                }
            }
            node.isEnd = true
        }
        let char = addPrimitive("char")
        func escaped(_ c: Unicode.Scalar) -> String { Self.classCharacter(c.value) }
        var out = #"["] ( "#
        func walk(_ node: Node) {
            var rejects = ""
            for (i, (c, child)) in node.children.enumerated() {
                rejects += escaped(c)
                if i > 0 { out += " | " }
                out += "[" + escaped(c) + "]"
                if !child.children.isEmpty {
                    out += " ("
                    walk(child)
                    out += ")"
                } else {
                    out += " \(char)+"
                }
            }
            if !node.children.isEmpty { out += #" | [^"\\"# + rejects + "] \(char)*" }
        }
        walk(trie)
        out += " )"
        if !trie.isEnd { out += "?" }
        return out + #" ["]"#
    }

    private mutating func visitArray(_ schema: JSONValue, keywords: Set<String>, name: String, ruleName: String,
                                     path: String) throws(BoraError) -> String {
        let sub = name + (name.isEmpty ? "" : "-")
        let minItems = try count(schema, "minItems", path: path) ?? 0
        let maxItems = try count(schema, "maxItems", path: path)
        if let maxItems, maxItems < minItems { throw fail(path, "maxItems \(maxItems) is below minItems \(minItems)") }
        let tupleKey = schema["prefixItems"] != nil ? "prefixItems" : schema["items"]?.array != nil ? "items" : nil
        if let tupleKey {
            guard let items = schema[tupleKey]?.array else { throw fail(path, "prefixItems must be an array of schemas") }
            if tupleKey == "prefixItems", let rest = schema["items"], rest != .bool(false) {
                throw fail(path, "'items' beside 'prefixItems' is not supported (a tuple takes exactly its items)")
            }
            if keywords.contains("minItems") || keywords.contains("maxItems") {
                throw fail(path, "minItems and maxItems on a tuple are not supported")
            }
            var rule = #""[" space "#
            for (i, item) in items.enumerated() {
                if i > 0 { rule += #" "," space "# }
                rule += try visit(item, name: sub + "tuple-" + String(i), path: "\(path)/\(tupleKey)/\(i)")
            }
            return addRule(ruleName, rule + #" space "]""#)
        }
        let items = schema["items"] ?? .bool(true)
        if items == .bool(true), minItems == 0, maxItems == nil {
            return addPrimitive(ruleName == "root" ? "root" : "array", as: "array")
        }
        if items == .bool(false) {
            guard minItems == 0 else { throw fail(path, "items false with minItems \(minItems) accepts no array") }
            return addRule(ruleName, #""[" space "]""#)
        }
        let itemRule = try visit(items, name: sub + "item", path: path + "/items")
        return addRule(ruleName, #""[" space "# + Self.repetition(itemRule, min: minItems, max: maxItems, separator: #""," space"#) + #" space "]""#)
    }

    private mutating func visitString(_ schema: JSONValue, keywords: Set<String>, ruleName: String, path: String) throws(BoraError) -> String {
        let minLength = try count(schema, "minLength", path: path) ?? 0
        let maxLength = try count(schema, "maxLength", path: path)
        if let maxLength, maxLength < minLength { throw fail(path, "maxLength \(maxLength) is below minLength \(minLength)") }
        let shapes = ["pattern", "format"].filter(keywords.contains)
        if shapes.count > 1 || (!shapes.isEmpty && (keywords.contains("minLength") || keywords.contains("maxLength"))) {
            throw fail(path, "\(shapes.joined(separator: " and ")) together with \(keywords.subtracting(shapes).sorted().joined(separator: " and ")) is not supported")
        }
        if let pattern = schema["pattern"] {
            guard let pattern = pattern.string else { throw fail(path, "pattern must be a string") }
            let body: String
            do throws(PatternGrammar.Failure) {
                body = try PatternGrammar.expression(for: pattern, anyCharacter: addPrimitive("char"))
            } catch {
                throw fail(path, "the pattern \(JSONValue.string(pattern).serialized) \(error.reason)")
            }
            return addRule(ruleName, #""\"" ("# + body + #") "\"""#)
        }
        if let format = schema["format"] {
            switch format.string {
            case "uuid"?: return addPrimitive(ruleName == "root" ? "root" : "uuid", as: "uuid")
            case let f? where ["date", "time", "date-time"].contains(f): return addRule(ruleName, addPrimitive(f + "-string"))
            default: throw fail(path, "the format \(format.serialized) is not supported (date, time, date-time and uuid are)")
            }
        }
        if keywords.contains("minLength") || keywords.contains("maxLength") {
            return addRule(ruleName, #""\"" "# + Self.repetition(addPrimitive("char"), min: minLength, max: maxLength) + #" "\"""#)
        }
        return addPrimitive(ruleName == "root" ? "root" : "string", as: "string")
    }

    /// `minimum`/`maximum` (fractional bounds rounded inwards) and their exclusive forms, as
    /// inclusive integer bounds.
    private func integerBounds(_ schema: JSONValue, path: String) throws(BoraError) -> (Int?, Int?) {
        func bound(_ key: String) throws(BoraError) -> Double? {
            guard let v = schema[key] else { return nil }
            guard let d = v.double, d.isFinite, abs(d) < 1e18 else { throw fail(path, "\(key) must be a number of magnitude below 1e18") }
            return d
        }
        var low: Int? = try bound("minimum").map { Int($0.rounded(.up)) }
        if let e = try bound("exclusiveMinimum") { low = max(low ?? .min, Int(e.rounded(.down)) + 1) }
        var high: Int? = try bound("maximum").map { Int($0.rounded(.down)) }
        if let e = try bound("exclusiveMaximum") { high = min(high ?? .max, Int(e.rounded(.up)) - 1) }
        if let low, let high, low > high { throw fail(path, "no integer lies between the minimum \(low) and the maximum \(high)") }
        return (low, high)
    }

    // MARK: References

    private mutating func resolve(_ ref: String, path: String) throws(BoraError) -> String {
        guard ref == "#" || ref.hasPrefix("#/") else {
            throw fail(path, "the $ref '\(ref)' is not supported (only references into the same document, '#/…')")
        }
        let fragment = String(ref.dropFirst())
        let refName = "ref" + Self.ruleNameSafe(fragment)
        if rules[Self.ruleNameSafe(refName)] != nil || refsInProgress.contains(ref) { return Self.ruleNameSafe(refName) }
        var target = document
        for raw in fragment.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            let token = (String(raw).removingPercentEncoding ?? String(raw))
                .replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            if let next = target[token] {
                target = next
            } else if let items = target.array, let i = Int(token), items.indices.contains(i) {
                target = items[i]
            } else {
                throw fail(path, "the $ref '\(ref)' points at nothing ('\(token)' not found)")
            }
        }
        refsInProgress.insert(ref)
        defer { refsInProgress.remove(ref) }
        return try visit(target, name: refName, path: ref)
    }

    // MARK: Rules

    private static let spaceRule = #"| " " | "\n"{1,2} [ \t]{0,20}"#

    /// llama.cpp's primitive rules: GBNF text and the rules it uses.
    private static let primitives: [String: (String, [String])] = [
        "boolean": (#"("true" | "false")"#, []),
        "decimal-part": ("[0-9]{1,16}", []),
        "integral-part": ("[0] | [1-9] [0-9]{0,15}", []),
        "number": (#"("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)?"#, ["integral-part", "decimal-part"]),
        "integer": (#"("-"? integral-part)"#, ["integral-part"]),
        "value": ("object | array | string | number | boolean | null", ["object", "array", "string", "number", "boolean", "null"]),
        "object": (#""{" space ( string ":" space value ("," space string ":" space value)* )? space "}""#, ["string", "value"]),
        "array": (#""[" space ( value ("," space value)* )? space "]""#, ["value"]),
        "uuid": (#""\"" [0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12} "\"""#, []),
        "char": (#"[^"\\\x7F\x00-\x1F] | [\\] (["\\bfnrt] | "u" [0-9a-fA-F]{4})"#, []),
        "string": (#""\"" char* "\"""#, ["char"]),
        "null": (#""null""#, []),
        // Unlike llama.cpp's date rule (any month to day 31), days fit their month; February stops
        // at 28 (the grammar cannot know leap years).
        "date": (#"[0-9]{4} "-" ( ( "0" [13578] | "1" [02] ) "-" ( "0" [1-9] | [12] [0-9] | "3" [01] ) | ( "0" [469] | "11" ) "-" ( "0" [1-9] | [12] [0-9] | "30" ) | "02-" ( "0" [1-9] | "1" [0-9] | "2" [0-8] ) )"#, []),
        "time": (#"([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{3} )? ( "Z" | ( "+" | "-" ) ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )"#, []),
        "date-time": (#"date "T" time"#, ["date", "time"]),
        "date-string": (#""\"" date "\"""#, ["date"]),
        "time-string": (#""\"" time "\"""#, ["time"]),
        "date-time-string": (#""\"" date-time "\"""#, ["date-time"]),
    ]

    private static func isReserved(_ name: String) -> Bool { name == "root" || primitives[name] != nil }

    /// Adds primitive `primitive` (and the rules it uses) under `name`; returns the rule's name.
    private mutating func addPrimitive(_ name: String, as primitive: String? = nil) -> String {
        let (content, uses) = Self.primitives[primitive ?? name]!
        let added = addRule(name, content)
        for use in uses where rules[use] == nil { _ = addPrimitive(use) }
        return added
    }

    private static func ruleNameSafe(_ name: String) -> String {
        var out = ""
        var inRun = false
        for c in name.unicodeScalars {
            if c.isASCII, c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "-" {
                out.unicodeScalars.append(c)
                inRun = false
            } else if !inRun {
                out += "-"
                inRun = true
            }
        }
        return out
    }

    /// Adds a rule, numbering the name when another rule already has it; returns the name used.
    private mutating func addRule(_ name: String, _ rule: String) -> String {
        let safe = Self.ruleNameSafe(name)
        if rules[safe] == nil || rules[safe] == rule {
            rules[safe] = rule
            return safe
        }
        var i = 0
        while let existing = rules[safe + String(i)], existing != rule { i += 1 }
        rules[safe + String(i)] = rule
        return safe + String(i)
    }

    /// A GBNF string literal.
    static func literal(_ text: String) -> String {
        var out = "\""
        for c in text.unicodeScalars {
            switch c {
            case "\r": out += "\\r"
            case "\n": out += "\\n"
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }

    /// A character inside a GBNF class: letters and digits as they are, anything else escaped.
    static func classCharacter(_ v: UInt32) -> String {
        if v < 0x80, let s = Unicode.Scalar(v), s.properties.isAlphabetic || ("0"..."9").contains(s) { return String(Character(s)) }
        func hex(_ digits: Int) -> String {
            let h = String(v, radix: 16, uppercase: true)
            return String(repeating: "0", count: max(0, digits - h.count)) + h
        }
        return v <= 0xFF ? "\\x" + hex(2) : v <= 0xFFFF ? "\\u" + hex(4) : "\\U" + hex(8)
    }

    /// `item` repeated `min`…`max` times (nil: no limit), with `separator` between items.
    static func repetition(_ item: String, min: Int, max: Int?, separator: String = "") -> String {
        if max == 0 { return "" }
        if min == 0, max == 1 { return item + "?" }
        if separator.isEmpty {
            switch (min, max) {
            case (1, nil): return item + "+"
            case (0, nil): return item + "*"
            default: return item + "{\(min)," + (max.map(String.init) ?? "") + "}"
            }
        }
        let rest = repetition("(" + separator + " " + item + ")", min: min == 0 ? 0 : min - 1, max: max.map { $0 - 1 })
        let result = item + " " + rest
        return min == 0 ? "(" + result + ")?" : result
    }

    // MARK: Integer ranges

    /// The decimal integers from `low` to `high` (nil: unbounded) without leading zeros, as GBNF
    /// (llama.cpp's `build_min_max_int`).
    static func integerRange(_ low: Int?, _ high: Int?, into out: inout String, decimalsLeft: Int = 16, topLevel: Bool = true) {
        func digitRange(_ from: Character, _ to: Character) {
            out += from == to ? "[\(from)]" : "[\(from)-\(to)]"
        }
        func moreDigits(_ minDigits: Int, _ maxDigits: Int?) {
            out += "[0-9]"
            if minDigits == 1, maxDigits == 1 { return }
            out += "{\(minDigits)"
            if maxDigits != minDigits {
                out += ","
                if let maxDigits { out += String(maxDigits) }
            }
            out += "}"
        }
        func shifted(_ c: Character, _ by: Int) -> Character {
            Character(Unicode.Scalar(UInt8(Int(c.asciiValue!) + by)))
        }
        func uniformRange(_ from: [Character], _ to: [Character]) {
            var i = 0
            while i < from.count, i < to.count, from[i] == to[i] { i += 1 }
            if i > 0 { out += "\"" + String(from[0..<i]) + "\"" }
            guard i < from.count, i < to.count else { return }
            if i > 0 { out += " " }
            let subLength = from.count - i - 1
            guard subLength > 0 else {
                out += "[\(from[i])-\(to[i])]"
                return
            }
            let fromSub = Array(from[(i + 1)...]), toSub = Array(to[(i + 1)...])
            let zeros = [Character](repeating: "0", count: subLength), nines = [Character](repeating: "9", count: subLength)
            var toReached = false
            out += "("
            if fromSub == zeros {
                digitRange(from[i], shifted(to[i], -1))
                out += " "
                moreDigits(subLength, subLength)
            } else {
                out += "[\(from[i])] ("
                uniformRange(fromSub, nines)
                out += ")"
                if from[i] < shifted(to[i], -1) {
                    out += " | "
                    if toSub == nines {
                        digitRange(shifted(from[i], 1), to[i])
                        toReached = true
                    } else {
                        digitRange(shifted(from[i], 1), shifted(to[i], -1))
                    }
                    out += " "
                    moreDigits(subLength, subLength)
                }
            }
            if !toReached {
                out += " | "
                digitRange(to[i], to[i])
                out += " "
                uniformRange(zeros, toSub)
            }
            out += ")"
        }

        if var low, let high {
            if low < 0, high < 0 {
                out += "\"-\" ("
                integerRange(-high, -low, into: &out, decimalsLeft: decimalsLeft, topLevel: true)
                out += ")"
                return
            }
            if low < 0 {
                out += "\"-\" ("
                integerRange(0, -low, into: &out, decimalsLeft: decimalsLeft, topLevel: true)
                out += ") | "
                low = 0
            }
            var lowDigits = Array(String(low))
            let highDigits = Array(String(high))
            for digits in lowDigits.count..<highDigits.count {
                uniformRange(lowDigits, [Character](repeating: "9", count: digits))
                lowDigits = Array("1" + String(repeating: "0", count: digits))
                out += " | "
            }
            uniformRange(lowDigits, highDigits)
            return
        }
        let lessDecimals = max(decimalsLeft - 1, 1)
        if let low {
            if low < 0 {
                out += "\"-\" ("
                integerRange(nil, -low, into: &out, decimalsLeft: decimalsLeft, topLevel: false)
                out += ") | [0] | [1-9] "
                moreDigits(0, decimalsLeft - 1)
            } else if low == 0 {
                if topLevel {
                    out += "[0] | [1-9] "
                    moreDigits(0, lessDecimals)
                } else {
                    moreDigits(1, decimalsLeft)
                }
            } else if low <= 9 {
                let c = Character(String(low))
                let rangeStart: Character = topLevel ? "1" : "0"
                if c > rangeStart {
                    digitRange(rangeStart, shifted(c, -1))
                    out += " "
                    moreDigits(1, lessDecimals)
                    out += " | "
                }
                digitRange(c, "9")
                out += " "
                moreDigits(0, lessDecimals)
            } else {
                let s = Array(String(low))
                let c = s[0]
                if c > "1" {
                    digitRange(topLevel ? "1" : "0", shifted(c, -1))
                    out += " "
                    moreDigits(s.count, lessDecimals)
                    out += " | "
                }
                digitRange(c, c)
                out += " ("
                integerRange(Int(String(s[1...]))!, nil, into: &out, decimalsLeft: lessDecimals, topLevel: false)
                out += ")"
                if c < "9" {
                    out += " | "
                    digitRange(shifted(c, 1), "9")
                    out += " "
                    moreDigits(s.count - 1, lessDecimals)
                }
            }
            return
        }
        if let high {
            if high >= 0 {
                if topLevel {
                    out += "\"-\" [1-9] "
                    moreDigits(0, lessDecimals)
                    out += " | "
                }
                integerRange(0, high, into: &out, decimalsLeft: decimalsLeft, topLevel: true)
            } else {
                out += "\"-\" ("
                integerRange(-high, nil, into: &out, decimalsLeft: decimalsLeft, topLevel: false)
                out += ")"
            }
        }
    }
}
