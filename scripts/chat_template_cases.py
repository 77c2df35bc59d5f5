#!/usr/bin/env python3
"""Writes tests/data/chat_templates/renders.json: conversations rendered by real Jinja2 with the
chat templates of popular model families (tests/data/chat_templates/*.jinja, sources in SOURCES.md),
with the variables transformers' apply_chat_template passes (messages, tools, documents,
add_generation_prompt, the special tokens, extra keyword arguments). tests/chat_templates_test.cpp
checks that purelm renders each byte for byte, or fails where Jinja2 fails.

    python3 scripts/chat_template_cases.py      # needs python3-jinja2 (Debian), only to regenerate
"""

import json
import pathlib

import jinja2

from jinja_cases import hf_environment, render

DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "chat_templates"

# The special tokens map of each model's tokenizer (transformers passes the non-null ones).
TOKENS = {
    "mistral": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "gemma": {"bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>",
              "pad_token": "<pad>"},
    "phi": {"bos_token": "<s>", "eos_token": "<|endoftext|>", "unk_token": "<unk>",
            "pad_token": "<|endoftext|>"},
    "deepseek": {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>",
                 "pad_token": "<｜end▁of▁sentence｜>"},
    "hermes": {"bos_token": "<|begin_of_text|>", "eos_token": "<|im_end|>"},
    "smollm": {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
               "unk_token": "<|endoftext|>", "pad_token": "<|im_end|>"},
}
TEMPLATES = {
    "mistral-7b-instruct-v0.3.jinja": "mistral",
    "mistral-nemo-instruct-2407.jinja": "mistral",
    "gemma-2-2b-it.jinja": "gemma",
    "gemma-3-4b-it.jinja": "gemma",
    "phi-3.5-mini-instruct.jinja": "phi",
    "deepseek-r1-distill.jinja": "deepseek",
    "deepseek-v3.1.jinja": "deepseek",
    "smollm2-1.7b-instruct.jinja": "smollm",
    "hermes-3-llama-3.1-8b-tool_use.jinja": "hermes",
}

SYSTEM = {"role": "system", "content": "You are a concise assistant."}
USER = {"role": "user", "content": "What is the capital of France?"}
ANSWER = {"role": "assistant", "content": "Paris."}
FOLLOW_UP = {"role": "user", "content": "And of Norway?"}
UNUSUAL = {"role": "user",
           "content": "  Spaces, é, 😀, {{ not a tag }}, \"quotes\",\nnewlines\n\n  "}
THOUGHT = {"role": "assistant", "content": "<think>\nThe capital is Paris.\n</think>\n\nParis."}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
        "return": {"type": "number", "description": "The temperature"},
    },
}
TIME_TOOL = {"type": "function", "function": {"name": "get_time", "description": "Now",
                                              "parameters": {"type": "object", "properties": {}}}}
ASK_WEATHER = {"role": "user", "content": "How warm is it in Paris?"}

# Conversations every template renders: (name, messages, add_generation_prompt, extra variables).
COMMON = [
    ("one user turn", [USER], True, {}),
    ("one user turn, no generation prompt", [USER], False, {}),
    ("system and user", [SYSTEM, USER], True, {}),
    ("multi-turn", [USER, ANSWER, FOLLOW_UP], True, {}),
    ("multi-turn ending with the assistant", [USER, ANSWER], False, {}),
    ("system and multi-turn", [SYSTEM, USER, ANSWER, FOLLOW_UP], True, {}),
    ("system and multi-turn ending with the assistant", [SYSTEM, USER, ANSWER], False, {}),
    ("unusual characters", [UNUSUAL], True, {}),
    ("assistant that reasoned", [USER, THOUGHT, FOLLOW_UP], True, {}),
    ("roles that do not alternate", [USER, FOLLOW_UP], True, {}),
    ("assistant first", [ANSWER, USER], True, {}),
    ("no messages", [], True, {}),
]


def mistral_tool_turns(call_id):
    return [
        ASK_WEATHER,
        {"role": "assistant", "tool_calls": [{"id": call_id, "type": "function", "function": {
            "name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]},
        {"role": "tool", "tool_call_id": call_id, "name": "get_weather", "content": "22"},
        {"role": "assistant", "content": "It is 22 °C in Paris."},
        {"role": "user", "content": "Thanks!"},
    ]


def deepseek_tool_turns(content=None):
    call = lambda name, args: {"type": "function", "function": {"name": name, "arguments": args}}
    return [
        ASK_WEATHER,
        {"role": "assistant", "content": content,
         "tool_calls": [call("get_weather", '{"city": "Paris"}'), call("get_time", "{}")]},
        {"role": "tool", "content": "22"},
        {"role": "tool", "content": "12:00"},
        {"role": "assistant", "content": "It is 22 °C at noon."},
    ]


# Template-specific conversations: tools, thinking switches, content parts.
EXTRA = {
    "hermes": [
        ("tools offered", [SYSTEM, ASK_WEATHER], True, {"tools": [WEATHER_TOOL, TIME_TOOL]}),
        ("tool calls and results", deepseek_tool_turns(), True,
         {"tools": [WEATHER_TOOL, TIME_TOOL]}),
        ("tool call with arguments as an object", mistral_tool_turns("a1B2c3D4e"), False,
         {"tools": [WEATHER_TOOL]}),
        ("parameter types", [ASK_WEATHER], True, {"tools": [{"type": "function", "function": {
            "name": "f", "description": " d ", "parameters": {"type": "object", "properties": {
                "a": {"type": "array", "items": {"type": "integer"}, "description": "xs"},
                "b": {"type": ["string", "integer"], "description": "either"},
                "c": {"type": "object", "additionalProperties": {"type": "number"},
                      "description": "map"},
                "d": {"description": "any"}}},
            "return": {"type": "boolean", "description": "ok"}}}]}),
        # The template maps a type it does not know by iterating over it: a string such as
        # "null" char by char, forever. Jinja2 stops at Python's recursion limit, purelm at its own.
        ("nullable parameter", [ASK_WEATHER], True, {"tools": [{"type": "function", "function": {
            "name": "g", "description": "", "parameters": {"type": "object", "properties": {
                "n": {"type": ["string", "null"], "description": "maybe"}}}}}]}),
    ],
    "mistral": [
        ("tools offered", [SYSTEM, ASK_WEATHER], True, {"tools": [WEATHER_TOOL, TIME_TOOL]}),
        ("tool call and result", mistral_tool_turns("a1B2c3D4e"), True, {"tools": [WEATHER_TOOL]}),
        ("tool call id of the wrong length", mistral_tool_turns("short"), True, {}),
    ],
    "gemma": [
        ("content parts", [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
                           {"role": "user", "content": [{"type": "image"},
                                                        {"type": "text", "text": " Describe. "}]}],
         True, {}),
    ],
    "deepseek": [
        ("tool calls and outputs", deepseek_tool_turns(), True, {}),
        ("tool calls with content", deepseek_tool_turns("Let me check."), False, {}),
        ("tool outputs last", deepseek_tool_turns()[:4], True, {}),
        ("thinking", [SYSTEM, USER], True, {"thinking": True}),
        ("two system messages", [SYSTEM, {"role": "system", "content": "Answer in French."}, USER],
         True, {}),
        ("prefix", [USER, {"role": "assistant", "content": "Par", "prefix": True}], False,
         {"thinking": True}),
    ],
}


def main():
    env = hf_environment()
    renders = []
    for name, family in TEMPLATES.items():
        source = (DATA / name).read_text(encoding="utf-8")
        for case, messages, gen, extra in COMMON + EXTRA.get(family, []):
            context = {"messages": messages, "tools": None, "documents": None,
                       "add_generation_prompt": gen, **TOKENS[family], **extra}
            context = json.loads(json.dumps(context))
            renders.append({"template": name, "name": case, "context": context,
                            **render(env, source, context)})
    doc = {"jinja2": jinja2.__version__, "renders": renders}
    (DATA / "renders.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n",
                                       encoding="utf-8")
    errors = sum("error" in r for r in renders)
    print(f"tests/data/chat_templates/renders.json: {len(renders)} renders of {len(TEMPLATES)} "
          f"templates, {errors} of them errors")


if __name__ == "__main__":
    main()
