#!/usr/bin/env python3
"""Reference token ids of chat conversations in each built-in chat format.

* mistral-v1 / mistral-v3: mistral-common's `MistralTokenizer.encode_chat_completion` with Mistral's
  own tokenizer.model.v1 / .v3.
* llama2 and zephyr: transformers' `apply_chat_template` with the templates of Llama-2-chat and
  zephyr-7b-beta (copied from their tokenizer_config.json) on a Llama-style SentencePiece tokenizer
  (Mistral v1's vocabulary as tokenizer.json, which zephyr-7b-beta uses).
* chatml: transformers' `apply_chat_template` with SmolLM2's tokenizer and template.

Run after Tools/make_tokenizer_references.py:
    .venv-ref/bin/python Tools/make_chat_references.py
Writes Tests/BoraTests/Fixtures/tokenizer/chat.json.
"""
import json
import os

import mistral_common
from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
from transformers import PreTrainedTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "Tests", "BoraTests", "Fixtures", "tokenizer")
DATA = os.path.join(os.path.dirname(mistral_common.__file__), "data")

# meta-llama/Llama-2-7b-chat-hf, tokenizer_config.json "chat_template"
LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)

# HuggingFaceH4/zephyr-7b-beta, tokenizer_config.json "chat_template"
ZEPHYR_TEMPLATE = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
)

S, U, A = "system", "user", "assistant"
CONVERSATIONS = [
    [(U, "Hello!")],
    [(S, "You are a concise assistant."), (U, "What is the capital of France?")],
    [(U, "Hi"), (A, "Hello! How can I help?"), (U, "Tell me a joke.")],
    [(S, "Answer in French."), (U, "Good morning"), (A, "Bonjour !"), (U, "How are you?")],
    [(U, "Écris un haïku sur l'été ☀️"), (A, "Soleil de juillet,\nles cigales chantent fort —\nl'ombre est un trésor."), (U, "Merci 🙏")],
    [(U, "Translate to Chinese: good night"), (A, "晚安"), (U, "And to Japanese?")],
    [(U, "Fix this code:\n```python\ndef add(a, b):\n    return a - b\n```"), (A, "```python\ndef add(a, b):\n    return a + b\n```"), (U, "Now in Swift.")],
    [(S, "You are a JSON API."), (U, "{\"action\": \"list\", \"limit\": 3}")],
    [(U, "  leading and trailing spaces  "), (A, "  answer with spaces  "), (U, "\tok\n")],
    [(U, "Line one\n\nLine two\n"), (A, "Two lines."), (U, "Three?")],
    [(U, "What does [INST] mean? And <s>?"), (A, "They are markers."), (U, "Thanks.")],
    [(S, "Be brief."), (U, "1+1?"), (A, "2"), (U, "2+2?"), (A, "4"), (U, "3+3?")],
    [(U, "مرحبا، كيف حالك؟"), (A, "أنا بخير، شكرا!"), (U, "ממש טוב")],
    [(U, "Number: 1234567890, pi ≈ 3.14159, e = 2.71828.")],
]
# Shapes only some formats accept (mistral-common merges and reorders; Llama-2 requires alternation).
MISTRAL_ONLY = [
    [(U, "First part."), (U, "Second part."), (A, "Both parts read."), (U, "Good.")],
    [(S, "Rule one."), (U, "Hi"), (S, "Rule two."), (U, "Again")],
    [(S, "Only a system message.")],
    [(U, "Start an answer"), (A, "Once upon a time")],
]
FREE_FORM = [
    [(U, "Hello"), (U, "Are you there?")],
    [(S, "sys"), (U, "Hi"), (A, "Hello"), (S, "Be nicer"), (U, "Hi again")],
]


def messages(conversation):
    return [{"role": r, "content": c} for r, c in conversation]


def mistral(tokenizer, conversation):
    classes = {S: SystemMessage, U: UserMessage, A: AssistantMessage}
    items = []
    for i, (r, c) in enumerate(conversation):
        if r == A and i == len(conversation) - 1:
            items.append(AssistantMessage(content=c, prefix=True))
        else:
            items.append(classes[r](content=c))
    try:
        return {"ids": tokenizer.encode_chat_completion(ChatCompletionRequest(messages=items)).tokens}
    except Exception as e:  # noqa: BLE001 - the reference's refusal is a result too
        return {"error": f"{type(e).__name__}: {e}"}


def hf(tokenizer, conversation):
    try:
        out = tokenizer.apply_chat_template(messages(conversation), tokenize=True, add_generation_prompt=True)
        if isinstance(out, dict) or hasattr(out, "keys"):
            out = out["input_ids"]
        return {"ids": list(out)}
    except Exception as e:  # noqa: BLE001
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    v1 = MistralTokenizer.from_file(os.path.join(DATA, "tokenizer.model.v1"))
    v3 = MistralTokenizer.from_file(os.path.join(DATA, "mistral_instruct_tokenizer_240323.model.v3"))
    spm = PreTrainedTokenizerFast(tokenizer_file=os.path.join(FIXTURES, "mistral-v1-hf", "tokenizer.json"),
                                  bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    smol = PreTrainedTokenizerFast(tokenizer_file=os.path.join(FIXTURES, "smollm2-hf", "tokenizer.json"),
                                   bos_token="<|im_start|>", eos_token="<|im_end|>")
    smol_template = json.load(open(os.path.join(FIXTURES, "smollm2-hf", "tokenizer_config.json")))["chat_template"]

    def llama2(c):
        spm.chat_template = LLAMA2_TEMPLATE
        return hf(spm, c)

    def zephyr(c):
        spm.chat_template = ZEPHYR_TEMPLATE
        return hf(spm, c)

    def chatml(c):
        smol.chat_template = smol_template
        return hf(smol, c)

    formats = {"mistral-v1": lambda c: mistral(v1, c), "mistral-v3": lambda c: mistral(v3, c),
               "llama2": llama2, "zephyr": zephyr, "chatml": chatml}
    record = {"templates": {"llama2": LLAMA2_TEMPLATE, "zephyr": ZEPHYR_TEMPLATE, "chatml": smol_template}, "cases": []}
    for conversation in CONVERSATIONS + MISTRAL_ONLY + FREE_FORM:
        expected = {name: encode(conversation) for name, encode in formats.items()}
        # transformers parses special-token text inside message content ("<s>" becomes BOS); Bora
        # deliberately keeps message text as text, so such conversations are compared on Mistral only.
        if any(t in c for _, c in conversation for t in ["<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>"]):
            for name in ["llama2", "zephyr", "chatml"]:
                expected[name] = {"skip": "special-token text in a message"}
        record["cases"].append({"messages": messages(conversation), "expected": expected})
    with open(os.path.join(FIXTURES, "chat.json"), "w", encoding="utf-8") as f:
        json.dump(record, f, ensure_ascii=False, indent=0)
    for case in record["cases"]:
        errors = {k: v["error"][:60] for k, v in case["expected"].items() if "error" in v}
        if errors:
            print([m["role"] for m in case["messages"]], errors)


if __name__ == "__main__":
    main()
