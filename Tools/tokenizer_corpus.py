"""The tokenizer conformance corpus: hand-picked hard cases plus seeded random mixtures of them."""
import random

HAND_PICKED = [
    # empty and whitespace
    "", " ", "  ", "   ", "\t", "\n", "\n\n", "\n\n\n", " \n ", "\r\n", "\r", "\t\t", " \t \n",
    "a  b", "a   b", "a    b", "  leading", "trailing  ", "  both  ", "tab\tseparated\tvalues", "line\nbreak",
    "multiple\n\n\nnewlines", "windows\r\nline\r\nendings", "mixed \t\n whitespace", "end with newline\n",
    "\n starts with newline", "       many spaces before", "word \n\n word",
    # plain English, punctuation, contractions
    "Hello", "Hello world", "Hello, world!", "The quick brown fox jumps over the lazy dog.",
    "I'm", "don't", "they'll", "we've", "she'd", "IT'S", "You're", "O'Neill", "rock 'n' roll", "'quoted'",
    "\"double quoted\"", "Wait... what?!", "semi;colon: and, comma.", "(parentheses) [brackets] {braces}",
    "email@example.com", "Mr. Smith went to Washington.", "e.g. i.e. etc.", "--dash-- and — em dash – en dash",
    "ALL CAPS SENTENCE", "camelCaseIdentifier", "snake_case_identifier", "kebab-case-word", "#hashtag @mention",
    # numbers
    "0", "7", "42", "123", "1234", "12345678901234567890", "3.14159", "1,234.56", "-17", "+42", "1e-10",
    "2024-11-27", "12:30:45", "0x1F", "0b1010", "$100", "€50", "50%", "1/2", "10^6", "v1.2.3", " 42", "a1b2c3",
    "phone: +1 (555) 123-4567", "In 1969, 3 astronauts flew 384,400 km.",
    # accents, composed and combining
    "café", "cafe\u0301", "naïve", "résumé", "Ångström", "Straße", "Ærøskøbing", "İstanbul", "Tiếng Việt",
    "Crème brûlée", "señor", "jalapeño", "Zürich", "e\u0301\u0302\u0303", "o\u0308", "\u00c5\u212b",
    # CJK, including rare characters needing byte fallback
    "你好", "你好，世界！", "中文字符测试", "日本語のテキスト", "ひらがな", "カタカナ", "漢字とかな", "한국어", "안녕하세요 세계",
    "𠀀", "𪚥", "𠮷野家", "𩸽", "龘", "齉", "鿿", "㐀㐁", "繁體中文與簡體中文", "東京都渋谷区",
    # emoji
    "🙂", "😀😃😄", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "🇯🇵🇺🇸", "🏳️‍🌈", "❤️", "✨ sparkles ✨", "I ❤ NY", "🤖 robots",
    "🧑🏿‍💻", "🫠", "a🙂b",
    # RTL scripts
    "مرحبا بالعالم", "العربية 123", "שלום עולם", "עברית and English", "فارسی", "اردو",
    # other scripts
    "Привет, мир!", "Ελληνικά", "हिन्दी", "தமிழ்", "ภาษาไทยไม่มีช่องว่าง", "ქართული", "Հայերեն", "አማርኛ", "ᚠᛇᚻ",
    # control and invisible characters
    "\u0001", "bell\u0007", "esc\u001b[31mred\u001b[0m", "del\u007f", "nel\u0085", "zero\u200bwidth", "nb\u00a0sp",
    "line\u2028sep", "ideo\u3000space", "\ufeffbom", "soft\u00adhyphen", "rtl\u200fmark", "zwj\u200djoin",
    "\u000b\u000c", "\u001c\u001d\u001e\u001f",
    # code
    "def f(x):\n    return x * 2\n", "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}",
    "{\"key\": \"value\", \"list\": [1, 2, 3]}", "<div class=\"a\">Hello</div>", "SELECT * FROM users WHERE id = 1;",
    "let x: [Int] = [1, 2, 3]\nprint(x.map { $0 * 2 })", "if [ -f ~/.bashrc ]; then source ~/.bashrc; fi",
    "#include <stdio.h>\nint main() { printf(\"hi\\n\"); }", "x = lambda a, b: a ** b  # power",
    "    indented\n        more\n    less", "a->b && c || !d", "std::vector<int> v{1,2};", "`backticks` and ~tilde~",
    # URLs
    "https://example.com/path?query=1&b=2#frag", "http://localhost:8080/api/v1/chat/completions",
    "ftp://files.example.org/a.tar.gz", "www.example.co.uk", "https://ja.wikipedia.org/wiki/日本",
    # literal special-token text
    "[INST]", "[/INST]", "<s>", "</s>", "<unk>", "[INST] hello [/INST]", "<s>[INST] hi [/INST]</s>",
    "<|im_start|>user\nhi<|im_end|>", "<|endoftext|>", "<<SYS>>\nsystem\n<</SYS>>", "[REFERENCE_DOC_3]",
    "text[REFERENCE_DOC_19]more", "[TOOL_CALLS]", "<0x41>", "▁", "▁▁", "a▁b", "<|user|>", "</s><s>",
    # math and symbols
    "∑∫√≈≠≤≥", "x² + y³ = z⁴", "½ ¼ ¾", "α β γ δ", "∀x ∃y: x ≠ y", "°C ±5 µm", "©®™", "→ ← ↑ ↓", "♠♥♦♣",
    "…", "‰", "•bullet", "¡Hola! ¿Qué?",
    # repeated characters
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "!!!!!!!!", "........", "----------", "==========", "    \n    \n",
    "ab" * 40, "🙂" * 10, "的" * 20, "0" * 30,
]

LONG_PARAGRAPH = (
    "Mistral 7B is a 7.3 billion parameter language model that outperforms Llama 2 13B on all benchmarks "
    "reported in its paper. It uses grouped-query attention (GQA) for faster inference and sliding window "
    "attention (SWA) to handle longer sequences at a smaller cost. With a window of 4096 tokens, information "
    "can still travel across k × 4096 tokens after k layers, because each layer looks back one window further. "
    "A rolling buffer cache keeps memory fixed: position i is stored at i mod W. During prefill, the prompt is "
    "split into chunks, and each chunk attends over the cache and itself with a single mask. Ce modèle est "
    "distribué sous licence Apache 2.0 — « libre » et ouvert. 它可以在普通的CPU上运行。 🚀\n\n"
    "def attention(q, k, v, window=4096):\n    scores = q @ k.T / sqrt(d)\n    return softmax(scores) @ v\n"
)


def corpus():
    items = list(HAND_PICKED)
    items.append(LONG_PARAGRAPH)
    items.append(LONG_PARAGRAPH * 3)
    rng = random.Random(1234)
    atoms = [s for s in HAND_PICKED if s] + [" ", " ", "\n", "the", " of", "ing", "1", "23"]
    while len(items) < 360:
        n = rng.randint(2, 7)
        items.append("".join(rng.choice(atoms) for _ in range(n)))
    return items
