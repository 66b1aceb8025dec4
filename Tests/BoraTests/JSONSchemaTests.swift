import Foundation
import Testing
@testable import Bora

/// JSON Schema → grammar: llama.cpp's own schema test cases, `pattern` regexes against Python's
/// `jsonschema` (Tools/make_grammar_references.py, Tools/make_pattern_references.py), and the
/// keywords Bora refuses, by name.
@Suite struct JSONSchemaTests {
    static func grammar(_ schema: JSONValue) throws -> Grammar {
        try Grammar(parsing: GrammarConstraint(jsonSchema: schema).text)
    }

    /// `schema` without the keyword `key`, wherever it appears.
    static func removing(_ key: String, from schema: JSONValue) -> JSONValue {
        switch schema {
        case .object(var members, let keys):
            members[key] = nil
            for k in members.keys { members[k] = removing(key, from: members[k]!) }
            return .object(members, keys: keys.filter { $0 != key })
        case .array(let items): return .array(items.map { removing(key, from: $0) })
        default: return schema
        }
    }

    /// Every test_schema case of llama.cpp's tests/test-grammar-integration.cpp: the JSON it must
    /// accept is accepted whole, the JSON it must refuse is not. llama.cpp ignores `uniqueItems`;
    /// Bora refuses it by name, so that case runs again without it.
    @Test func llamaCppSchemaCases() throws {
        let cases = try #require(Fixtures.json(GrammarTests.folder + "/llama-schema-integration.json")["cases"]?.array)
        #expect(cases.count >= 33)
        var refusedUnique = 0
        for c in cases {
            let name = c["description"]?.string ?? "?"
            var schema = try #require(c["schema"])
            if schema.serialized.contains("\"uniqueItems\"") {
                #expect(throws: BoraError.self, "\(name)") { try GrammarConstraint(jsonSchema: schema) }
                do { _ = try GrammarConstraint(jsonSchema: schema) } catch {
                    #expect(error.description.contains("the keyword 'uniqueItems' is not supported"), "\(error)")
                }
                refusedUnique += 1
                schema = Self.removing("uniqueItems", from: schema)
            }
            let grammar = try Self.grammar(schema)
            for s in try #require(c["passing"]?.array).map({ $0.string! }) {
                let accepted = GrammarTests.matches(grammar, s)
                #expect(accepted, "\(name): should accept \(s.debugDescription)")
            }
            for s in try #require(c["failing"]?.array).map({ $0.string! }) {
                let accepted = GrammarTests.matches(grammar, s)
                #expect(!accepted, "\(name): should refuse \(s.debugDescription)")
            }
        }
        #expect(refusedUnique == 1)
    }

    /// `pattern`: for each regex, strings that Python's `jsonschema` finds matching or not (as
    /// JSON text, escapes and all); the grammar agrees on every one.
    @Test func patternsAgreeWithPythonJSONSchema() throws {
        let cases = try #require(Fixtures.json(GrammarTests.folder + "/patterns.json")["cases"]?.array)
        #expect(cases.count >= 20)
        for c in cases {
            let pattern = try #require(c["pattern"]?.string)
            let grammar = try Self.grammar(.object(["type": .string("string"), "pattern": .string(pattern)]))
            for s in try #require(c["strings"]?.array) {
                let json = try #require(s["json"]?.string)
                let valid = try #require(s["valid"]?.bool)
                let accepted = GrammarTests.matches(grammar, json)
                #expect(accepted == valid, "\(pattern.debugDescription) on \(json): jsonschema says \(valid)")
            }
        }
    }

    /// Keywords Bora cannot enforce, and schemas no JSON fits, are refused with the place and the name.
    @Test func unsupportedKeywordsAreRefusedByName() throws {
        func refuses(_ text: String, _ path: String, _ reason: String) {
            #expect(throws: BoraError.invalidSchema(path: path, reason: reason), "\(text)") { try GrammarConstraint(jsonSchema: text) }
        }
        refuses(#"{"type": "array", "uniqueItems": true}"#, "#", "the keyword 'uniqueItems' is not supported")
        refuses(#"{"properties": {"a": {"type": "number", "multipleOf": 2}}}"#, "#/properties/a", "the keyword 'multipleOf' is not supported")
        refuses(#"{"type": "integer", "maxLength": 3}"#, "#", "'maxLength' does not apply to type integer")
        refuses(#"{"type": "string", "format": "email"}"#, "#", #"the format "email" is not supported (date, time, date-time and uuid are)"#)
        refuses(#"{"type": "string", "pattern": "^(?=a)b$"}"#, "#", #"the pattern "^(?=a)b$" uses a group syntax (look-around or a named group) that is not supported"#)
        refuses(#"{"type": "string", "pattern": "^(a)\\1$"}"#, "#", #"the pattern "^(a)\\1$" uses a back-reference (\1), which is not supported"#)
        refuses(#"{"type": "string", "pattern": "\\bword"}"#, "#", #"the pattern "\\bword" uses a word boundary (\b), which is not supported"#)
        refuses(#"{"type": "string", "pattern": "^a|b$"}"#, "#", #"the pattern "^a|b$" anchors only some alternatives (write ^(a|b)$ to anchor them all)"#)
        refuses(#"{"type": "string", "pattern": "^[a"}"#, "#", #"the pattern "^[a" has a character class that is not closed"#)
        refuses(#"{"type": "string", "pattern": "^a{3,1}$"}"#, "#", #"the pattern "^a{3,1}$" has a repetition {3,1} whose maximum is below its minimum"#)
        refuses(#"{"type": "string", "pattern": "^a**$"}"#, "#", #"the pattern "^a**$" repeats a repetition"#)
        refuses(#"{"type": "string", "pattern": "^a", "maxLength": 3}"#, "#", "pattern together with maxLength is not supported")
        refuses(##"{"$ref": "#/$defs/missing", "$defs": {}}"##, "#", "the $ref '#/$defs/missing' points at nothing ('missing' not found)")
        refuses(#"{"$ref": "https://example.com/s.json"}"#, "#", "the $ref 'https://example.com/s.json' is not supported (only references into the same document, '#/…')")
        refuses(##"{"$ref": "#/$defs/a", "type": "object", "$defs": {"a": {}}}"##, "#", "'$ref' beside 'type' is not supported")
        refuses(#"{"allOf": [{"type": "object"}, {"required": []}]}"#, "#", "allOf with more than one schema is not supported")
        refuses(#"{"type": "object", "properties": {"a": {}}, "required": ["b"]}"#, "#", "the required property 'b' is not among the properties")
        refuses(#"{"type": "integer", "minimum": 5, "maximum": 2}"#, "#", "no integer lies between the minimum 5 and the maximum 2")
        refuses(#"{"type": "array", "minItems": 3, "maxItems": 2}"#, "#", "maxItems 2 is below minItems 3")
        refuses(#"{"type": "string", "enum": ["a", 1]}"#, "#", "the enum value 1 is not of type string")
        refuses(#"{"type": "strin"}"#, "#", "unknown type 'strin'")
        refuses(#"{"minLength": 1, "minItems": 1}"#, "#", "keywords of several types (minItems, minLength) without 'type'")
        refuses(#"{"anyOf": []}"#, "#", "anyOf must be a non-empty array of schemas")
        refuses(#"{"properties": {"a": false}}"#, "#/properties/a", "the schema false accepts no value")
        refuses(#"{"type": "object""#, "#", "the schema is not JSON: unexpected end of input in an object at byte 17")
        // A schema that recurses without consuming anything makes a left-recursive grammar.
        refuses(##"{"$ref": "#"}"##, "#", "the grammar it makes is refused (grammar, line 1, column 1: the rule \"ref\" is left-recursive (it can start with itself))")
        // An untrusted schema cannot nest without bound.
        let deep = String(repeating: #"{"items": "#, count: 200) + "{}" + String(repeating: "}", count: 200)
        #expect(throws: BoraError.self) { try GrammarConstraint(jsonSchema: deep) }
    }

    /// What the subset covers, beyond llama.cpp's cases: types lists with their own keywords,
    /// $defs and recursion, tuples, anyOf, annotations, escapes and Unicode in enums and keys.
    @Test func schemasPeopleWrite() throws {
        func check(_ schema: String, accepts: [String], refuses: [String]) throws {
            let grammar = try Self.grammar(JSONValue.parse(schema))
            for s in accepts {
                let accepted = GrammarTests.matches(grammar, s)
                #expect(accepted, "\(schema) should accept \(s)")
            }
            for s in refuses {
                let accepted = GrammarTests.matches(grammar, s)
                #expect(!accepted, "\(schema) should refuse \(s)")
            }
        }
        try check(#"{"type": ["string", "null"], "maxLength": 2, "title": "t", "description": "d"}"#,
                  accepts: [#""ab""#, "null", #""""#], refuses: [#""abc""#, "1"])
        try check(##"{"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}}, "required": ["v", "next"]}}, "$ref": "#/$defs/node"}"##,
                  accepts: [#"{"v": 1, "next": null}"#, #"{"v": 1, "next": {"v": 2, "next": null}}"#], refuses: [#"{"v": 1}"#, #"{"next": null, "v": 1}"#])
        try check(##"{"definitions": {"color": {"enum": ["red", "gr\"een", "日本", "\n"]}}, "type": "array", "items": {"$ref": "#/definitions/color"}, "maxItems": 2}"##,
                  accepts: ["[]", #"["red", "gr\"een"]"#, #"["日本"]"#, #"["\n"]"#], refuses: [#"["blue"]"#, #"["red", "red", "red"]"#])
        try check(#"{"type": "array", "prefixItems": [{"type": "integer"}, {"type": "boolean"}]}"#,
                  accepts: ["[1, true]", "[1,false]"], refuses: ["[1]", "[true, 1]", "[1, true, 2]"])
        try check(#"{"type": "object", "properties": {"k\"ey": {"const": "v"}, "é": {"type": "boolean"}}, "required": ["k\"ey"], "additionalProperties": {"type": "integer"}}"#,
                  accepts: [#"{"k\"ey": "v"}"#, #"{"k\"ey": "v", "é": true, "x": 3}"#], refuses: [#"{"é": true}"#, #"{"k\"ey": "v", "x": "s"}"#, #"{"k\"ey": "v", "é": 1}"#])
        try check(#"{"type": "string", "format": "date"}"#, accepts: [#""2026-12-01""#, #""2026-01-31""#, #""2026-04-30""#, #""2026-02-28""#],
                  refuses: [#""2026-13-01""#, #""26-12-01""#, #""2026-04-31""#, #""2026-02-30""#, #""2026-00-10""#])
        try check(#"{"type": "integer", "exclusiveMinimum": -3.5, "maximum": 7.9}"#,
                  accepts: ["-3", "0", "7"], refuses: ["-4", "8", "7.5"])
        try check(#"{"type": "number", "exclusiveMinimum": 0}"#,
                  accepts: ["0.5", "1", "0.001", "12.25", "1000"], refuses: ["0", "-0.5", "-1", "1e3"])
        try check(#"{"type": "number", "minimum": -2, "exclusiveMaximum": 1}"#,
                  accepts: ["-2", "-1.5", "-0.25", "0", "0.75", "-1"], refuses: ["-2.5", "-3", "1", "1.5"])
        try check(#"{"minimum": 0.5, "maximum": 2.5}"#,
                  accepts: ["1", "2", "1.5"], refuses: ["0", "3", "2.75", "-1"])
    }
}
