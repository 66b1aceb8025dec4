#!/usr/bin/env python3
"""Writes Tests/BoraTests/Fixtures/grammars/patterns.json: JSON Schema `pattern` regexes, and for
each a list of strings as JSON text with whether Python's `jsonschema` finds the string valid
against {"type": "string", "pattern": …} (pip install jsonschema).

    python3 Tools/make_pattern_references.py

JSON Schema patterns are ECMA-262 regexes; `jsonschema` runs them with Python's `re` (a search, not
a full match). The two differ on non-ASCII \\d \\w, on `.` before U+2028/U+2029, on `$` before a final newline and
on `{,n}`, so
the strings here keep clear of those cases; on everything else they agree.
"""
import importlib.metadata
import json
import os

import jsonschema

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "BoraTests", "Fixtures", "grammars", "patterns.json")

CASES = [
    (r"^[a-zA-Z0-9_-]*$", ["", "abc_DEF-09", "a b", "é", "a\"b"]),
    (r"^\d{3}-\d{4}$", ["555-1212", "55-1212", "555-12123", "abc-defg"]),
    (r"^(\([0-9]{3}\))?[0-9]{3}-[0-9]{4}$", ["555-1212", "(888)555-1212", "(888)555-1212 ext. 532", "(800)FLOWERS"]),
    (r"^[A-Z][a-z]+( [A-Z][a-z]+)*$", ["Ada", "Ada Lovelace", "ada", "Ada  Lovelace", "Ada Lovelace "]),
    (r"abc", ["abc", "xxabcyy", "ab", "a\"abc\\", "\n abc \t"]),
    (r"^ab", ["ab", "abzzz", "zab"]),
    (r"xyz$", ["xyz", "aaxyz", "xyza"]),
    (r"^a.c$", ["abc", "a\"c", "a\\c", "a\nc", "a\tc", "ac", "a日c"]),
    (r'^[^"\\]*$', ["", "plain text", "with \"quote", "back\\slash", "tab\there", "ünï"]),
    (r'^["\\]+$', ["\"", "\\", "\"\\\"", "a", ""]),
    (r"^\w+@\w+\.com$", ["ada@example.com", "ada@examplecom", "a.b@c.com", "_@_.com"]),
    (r"^\s*x\s*$", ["x", "  x\t", "\nx\r", "\u00a0x\u3000", "xx", "\u000bx\u000c"]),
    (r"^(?:cat|dog)s?$", ["cat", "dogs", "cats", "cow", "catdog"]),
    (r"^a{2,}b{0,2}c{3}$", ["aaccc", "aaaaabbccc", "accc", "aabbbccc", "aacc"]),
    (r"^[\u00e9\u65e5-\u65e6]+$", ["é", "日", "日旦", "éé日", "e", "日本"]),
    (r"^\x41\u0042[\d\s]$", ["AB1", "AB ", "ABx", "AB"]),
    (r"^colou?r$", ["color", "colour", "colouur"]),
    (r"^\.\*\+\?\(\)\[\]\{\}\|\^\$$", [".*+?()[]{}|^$", "a*+?()[]{}|^$"]),
    (r"^[a-c-]$", ["a", "-", "c", "d"]),
    (r"^[-x]$", ["-", "x", "y"]),
    (r"^\t\n\r$", ["\t\n\r", "\t\n", " \n\r"]),
    (r"^.*$", ["", "anything \"quoted\" and \\", "ctrl \u0001 char", "new\nline"]),
    (r"^[^a-z]{2}$", ["AB", "\u0001Z", "\u001fZ", "\bZ", "ab", "A", "12", "\"\\"]),
    (r"^\S+$", ["abc", "a b", "日本語", "\"q\""]),
    (r"^x*?y+?$", ["y", "xxy", "xyy", "x", ""]),
    (r"^[\]\-\\]$", ["]", "-", "\\", "a"]),
    (r"^\$\d+(\.\d{2})?$", ["$5", "$10.00", "$10.0", "10.00"]),
    (r"^(\d+|none)$", ["123", "none", "nonee", "12a"]),
    (r"^[\W]{1,3}$", ["!", "?!.", "a", "!!!!", "\u0000"]),
    (r"^\D\d$", ["a1", "11", "\"1"]),
    (r"^(a|bc){2}$", ["aa", "abc", "bcbc", "a", "bcbcbc"]),
    (r"^{}$", ["{}", ""]),
    (r"^$", ["", "a"]),
    (r"^(a|)b$", ["ab", "b", "aab"]),
]


def main():
    cases = []
    for pattern, strings in CASES:
        validator = jsonschema.Draft202012Validator({"type": "string", "pattern": pattern})
        cases.append({"pattern": pattern, "strings": [
            {"json": json.dumps(s, ensure_ascii=False), "valid": validator.is_valid(s)} for s in strings]})
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"source": f"jsonschema {importlib.metadata.version('jsonschema')} Draft202012Validator",
                   "cases": cases}, f, ensure_ascii=False, indent=1)
    print(f"{len(cases)} patterns in {OUT}")


if __name__ == "__main__":
    main()
