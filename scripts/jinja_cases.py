#!/usr/bin/env python3
"""Writes tests/data/jinja_cases.json: templates that exercise every filter, test, method, global
and statement purelm's Jinja interpreter implements (src/purelm/tokenizer/jinja/), each with its
context and the output real Jinja2 gives, or the error it raises. tests/jinja_test.cpp renders
them with purelm and compares exactly.

Jinja2 is set up as transformers sets it up for chat templates (utils/chat_template_utils.py):
ImmutableSandboxedEnvironment(trim_blocks, lstrip_blocks, loopcontrols), raise_exception,
strftime_now and a tojson that is json.dumps without HTML escaping.

    python3 scripts/jinja_cases.py      # needs python3-jinja2 (Debian), only to regenerate
"""

import json
import pathlib
import re
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = pathlib.Path(__file__).resolve().parent.parent


class Generation(Extension):
    """transformers' AssistantTracker as rendering sees it: {% generation %} renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller):
        return caller()


def hf_environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[Generation, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


def render(env, template, context):
    """{"output": ...} or {"error": message, "raised": True when raise_exception raised it}."""
    try:
        return {"output": env.from_string(template).render(**context)}
    except Exception as e:  # any error: purelm must fail too
        return {"error": f"{type(e).__name__}: {e}",
                "raised": type(e) is jinja2.exceptions.TemplateError}


MSGS = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "What is 2+2?"},
]
PEOPLE = [
    {"name": "bob", "age": 30, "tags": ["a"], "addr": {"city": "Oslo"}},
    {"name": "Alice", "age": 25, "tags": [], "addr": {"city": "Bergen"}},
    {"name": "carol", "age": 35, "addr": {"city": "oslo"}},
]
D = {"b": 2, "A": 1, "c": 3}

# (name, template, context): context values are plain JSON.
CASES = [
    # --- Output, literals and Python's str() of values -------------------------------------
    ("text", "plain text", {}),
    ("output", "a{{ x }}b", {"x": "X"}),
    ("none bools", "{{ none }} {{ None }} {{ true }} {{ True }} {{ false }} {{ False }}", {}),
    ("ints floats", "{{ 1 }} {{ -3 }} {{ 1.5 }} {{ 2.0 }} {{ 1e3 }} {{ 1_000 }} {{ 0.1 + 0.2 }}", {}),
    ("float repr", "{{ 1/3 }} {{ 10/4 }} {{ 1e20 * 10 }} {{ 1e-7 }} {{ 123456789.0 * 1000 }}", {}),
    ("list repr", "{{ [1, 'a', none, true, 1.5, [2]] }}", {}),
    ("tuple repr", "{{ (1,) }} {{ (1, 'b') }} {{ () }}", {}),
    ("dict repr", "{{ {'a': 1, 'b': [none]} }} {{ {} }}", {}),
    ("string repr quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'back\\\\slash', 'nl\\n'] }}", {}),
    ("context values repr", "{{ x }}|{{ y }}|{{ z }}", {"x": {"k": [1, 2.5, None]}, "y": [True, "s"], "z": 3.0}),
    ("string escapes", "{{ 'a\\nb\\t\"c\"' }}|{{ \"it's\" }}|{{ '\\u00e9\\x41' }}", {}),
    ("unicode passthrough", "{{ s }}|{{ s | length }}|{{ s[1] }}|{{ s[::-1] }}", {"s": "héllo😀"}),
    ("comment", "a{# gone #}b{#- trimmed -#}   c", {}),
    ("raw block", "{% raw %}{{ not evaluated }}{% endraw %}", {}),
    ("more float repr", "{{ 1e16 }} {{ 1e15 }} {{ 1.5e-5 }} {{ 1.0e-4 }} {{ -0.0 }} {{ 0.1 + 0.7 }} {{ 1e300 * 1e10 }} {{ -(1e300 * 1e10) }} {{ 5e-324 }} {{ 2.5e-8 }}", {}),
    ("number literals", "{{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 1_000.5 }} {{ 1E2 }}", {}),
    ("adjacent string literals", "{{ 'a' 'b' \"c\" }}", {}),
    ("big ints", "{{ x }} {{ x - 1 }} {{ y }} {{ 2 ** 62 }} {{ -x }}", {"x": 9223372036854775807, "y": 9007199254740993}),
    ("non-printable repr", "{{ ['\\x01', '\u200b', 'é', '\\t', '\\x7f', '\u00a0'] }}", {}),
    ("percent operator", "{{ '%d items' % 3 }}|{{ '%s and %s' % ('a', 'b') }}|{{ '%s' % [1] }}|{{ '%(a)s' % {'a': 1} }}|{{ '%.3f' % 2 }}|{{ '%5.1f%%' % 12.345 }}", {}),
    ("markup concat escapes", "{{ ('<a>' | safe) + '<b>' }}|{{ '<' ~ ('x' | e) }}|{{ ('<a>' | e) ~ '<' }}|{{ ['<x>'] | join('<br>' | safe) }}", {}),
    ("tuple set", "{% set a = 1, 2 %}{{ a }}{% set b = (3,) %}{{ b }}{{ b | length }}", {}),
    ("tuple vs list equality", "{{ (1, 2) == [1, 2] }}{{ [1, 2] == [1, 2] }}{{ 1 in [true] }}{{ 1 == true }}{{ none == none }}{{ 'a' == none }}", {}),
    ("index out of range string", "[{{ 'abc'[5] }}][{{ 'abc'[-1] }}][{{ [][0] }}]", {}),
    ("negative modulo floordiv", "{{ 10 % -3 }} {{ -10 % 3 }} {{ 7 // 2.0 }} {{ -7.5 // 2 }} {{ 7 % 2.5 }} {{ -7 % 2.5 }}", {}),
    ("not binds looser than is", "{{ not x is defined }}{{ not x is none }}{{ x is not none and x | length > 0 }}", {"x": "ab"}),
    ("filter binds tighter than division", "{{ 3 / 2 | int }} {{ -2 | abs }} {{ (-2) | abs }}", {}),
    ("dict literal keys", "{{ {1: 'a', 'b': 2, none: 3}[1] }}{{ {1: 'a'} }}{{ {'a': 1, 'a': 2} }}", {}),
    ("loop variable leaks nothing", "{% for i in range(3) %}{% set x = i %}{% endfor %}[{{ x }}][{{ i }}]", {}),
    ("set from itself", "{% set x = x | default(5) %}{{ x }}{% set y = y | default(7) %}{{ y }}", {"x": 1}),
    ("namespace set block", "{% set ns = namespace(a='') %}{% set ns.a %}blk{{ 1 }}{% endset %}{{ ns.a }}", {}),
    ("length sum of contents", "{{ messages | map(attribute='content') | map('length') | sum }}{{ messages | map(attribute='content') | map('string') | join('+') }}", {"messages": MSGS}),
    ("none tools", "{{ tools | length if tools else 0 }}|{{ tools is none }}|{% if tools is not none %}x{% endif %}{% if tools %}y{% endif %}", {"tools": None}),
    ("in none", "{{ 'x' in none }}", {}),
    ("slice undefined", "{{ missing[1:] }}", {}),
    # --- Whitespace control (trim_blocks, lstrip_blocks, - and +) ---------------------------
    ("trim_blocks", "{% if true %}\nx\n{% endif %}\ny", {}),
    ("lstrip_blocks", "a\n    {% if true %}\n    b\n    {% endif %}\nc", {}),
    ("minus trims", "a   {{- 'b' -}}   c  {%- if true -%}  d  {%- endif %}", {}),
    ("output keeps newline", "{{ 'a' }}\n{{ 'b' }}\n", {}),
    ("plus disables lstrip", "x\n  {%+ if true %}y{% endif %}", {}),
    ("plus disables trim", "{% if true +%}\nz{% endif %}", {}),
    ("comment trim", "a\n  {# c #}\nb", {}),
    ("final newline dropped", "x\n", {}),
    ("lstrip only at line start", "a  \n  {% if true %}  x  {% endif %}  \nb {% if true %}c{% endif %}", {}),
    ("trim only the newline", "{% if true %}  \nx{% endif %}\n\n", {}),
    ("tab lstrip", "\t {% if true %}y{% endif %}", {}),
    ("raw with trims", "  {%- raw -%}  a  {%- endraw -%}  |", {}),
    ("comment lstrip", "  {# c #}x\n{{ 'a' }}   {#- c #}b", {}),
    ("typical loop layout", "{% for x in [1, 2] %}\n  {{ x }}\n{% endfor %}\n", {}),
    ("typical minus layout", "{%- for x in [1, 2] -%}\n  {{ x }}\n{%- endfor %}\n  end", {}),
    ("output minus lstrip", "a\n   {{- 'b' }}\n   {{ 'c' -}}   \n d", {}),
    ("crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\n", {}),
    ("delimiters inside strings", "{{ '}}' }}|{{ '{{' ~ \"%}\" }}|{{ '{# not a comment #}' }}", {}),
    ("tags inside comments", "a{# {{ x }} {% if %} #}b", {}),
    ("stray braces in text", "} }} %} #} {x}", {}),
    ("tags without spaces", "{%if true%}a{%endif%}{%-if true-%} b {%-endif-%}{{1-1}}{{-1}}{{- -1 -}}", {}),
    ("minus before number", "{{ 5 -}} x {{- 3 }}", {}),
    ("raw keeps tags", "{% raw %}{% if %}{{ x }}{# c #}{% endraw %}", {}),
    ("whitespace in raw", "a\n  {% raw %}\n  b\n  {% endraw %}\nc", {}),
    ("lstrip before comment and raw", "  {# c #}\n  {%- raw %}r{% endraw %}", {}),
    ("set block trims", "{% set x -%}\n  inner  \n{%- endset %}[{{ x }}]", {}),
    ("macro whitespace", "{% macro m(a) -%}\n  <{{ a }}>\n{%- endmacro %}\n{{ m(1) }}\n{{- m(2) }}", {}),
    # --- Operators ----------------------------------------------------------------------------
    ("arithmetic", "{{ 1 + 2 }} {{ 7 - 10 }} {{ 2 * 3 }} {{ 7 / 2 }} {{ 6 / 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}", {}),
    ("float arithmetic", "{{ 1.5 + 1 }} {{ 7.5 // 2 }} {{ 7.5 % 2 }} {{ -1.5 * 2 }} {{ 2 ** 0.5 }}", {}),
    ("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ 10 - 2 - 3 }}", {}),
    ("string ops", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ 2 * 'x' }} {{ 'n=' ~ 3 ~ true ~ none }}", {}),
    ("list ops", "{{ [1] + [2, 3] }} {{ [0] * 3 }}", {}),
    ("comparisons", "{{ 1 < 2 }}{{ 2 <= 1 }}{{ 'a' == 'a' }}{{ 'a' != 'a' }}{{ 3 > 2 }}{{ 1 >= 1 }}{{ 1 == 1.0 }}{{ true == 1 }}", {}),
    ("chained comparison", "{{ 1 < 2 < 3 }}{{ 1 < 3 < 2 }}{{ 3 > 2 == 2 }}", {}),
    ("compare strings lists", "{{ 'abc' < 'abd' }}{{ 'B' < 'a' }}{{ [1, 2] < [1, 3] }}{{ [1] == [1] }}{{ {'a': 1} == {'a': 1} }}", {}),
    ("logic", "{{ true and false }}{{ true or false }}{{ not true }}{{ not (1 == 2) }}{{ 0 or 'x' }}{{ '' and 'y' }}{{ 1 and 2 }}{{ none or [] }}", {}),
    ("in", "{{ 'b' in 'abc' }}{{ 2 in [1, 2] }}{{ 'k' in d }}{{ 'q' not in d }}{{ 1 in (1, 2) }}{{ '' in 'x' }}", {"d": {"k": 1}}),
    ("truthiness", "{% for v in [0, 1, '', 'a', [], [0], {}, none, 0.0] %}{{ 'T' if v else 'F' }}{% endfor %}", {}),
    ("conditional expression", "{{ 'yes' if flag else 'no' }}[{{ 'a' if false }}]{{ 1 if 0 else 2 if 0 else 3 }}", {"flag": True}),
    ("unary", "{{ -x }} {{ +x }} {{ - -x }} {{ not not x }}", {"x": 4}),
    # --- Subscripts, attributes, slices -------------------------------------------------------
    ("subscript", "{{ xs[0] }}{{ xs[-1] }}{{ d['k'] }}{{ d.k }}{{ xs.0 }}{{ m[1].content }}{{ m[1]['role'] }}", {"xs": [1, 2, 3], "d": {"k": "v"}, "m": MSGS}),
    ("slices", "{{ xs[1:] }}{{ xs[:2] }}{{ xs[-2:] }}{{ xs[::-1] }}{{ xs[::2] }}{{ xs[1::2] }}{{ xs[-1:0:-1] }}{{ xs[:-2:-1] }}{{ xs[10:] }}{{ xs[3:1] }}", {"xs": [1, 2, 3, 4, 5]}),
    ("string slices", "{{ 'hello'[1:3] }}|{{ 'hello'[::-1] }}|{{ 'hello'[-3:] }}|{{ 'héllo'[1:2] }}", {}),
    ("attribute prefers methods of dicts", "{{ d.items is callable }}|{{ d['items'] }}|{{ d.items() | list }}|{{ d.other }}", {"d": {"items": "mine", "other": 1}}),
    ("missing key is undefined", "[{{ d.nope }}][{{ d['nope'] }}][{{ xs[10] }}]{{ d.nope is defined }}", {"d": {}, "xs": [1]}),
    ("tuple unpacking", "{% set a, b = [1, 2] %}{{ a }}{{ b }}{% for x, (y, z) in [[1, [2, 3]]] %}{{ x }}{{ y }}{{ z }}{% endfor %}", {}),
    # --- Undefined --------------------------------------------------------------------------
    ("undefined prints nothing", "[{{ missing }}]", {}),
    ("undefined iterates empty", "{% for x in missing %}x{% else %}empty{% endfor %}|{{ missing | length }}|{{ missing | list }}", {}),
    ("undefined tests", "{{ missing is defined }}{{ missing is undefined }}{{ missing is none }}{{ missing is not defined }}", {}),
    ("undefined default", "{{ missing | default('d') }}|{{ missing | d('x') }}|{{ none | default('n') }}|{{ '' | default('e', true) }}|{{ 0 | default('z', boolean=true) }}", {}),
    ("undefined attribute of undefined", "{{ missing.attr }}", {}),
    ("undefined item of undefined", "{{ missing['k'] }}", {}),
    ("undefined arithmetic", "{{ missing + 1 }}", {}),
    ("undefined call", "{{ missing() }}", {}),
    ("undefined attribute of none", "{{ x.y }}", {"x": None}),
    ("undefined method", "{{ 'abc'.nosuchmethod() }}", {}),
    ("undefined comparison", "{{ missing == none }}{{ missing != 1 }}", {}),
    ("undefined in if", "{% if missing %}t{% else %}f{% endif %}{% if not missing %}!{% endif %}", {}),
    ("undefined concat", "[{{ missing ~ 'x' }}]", {}),
    ("undefined in list", "{{ 1 in missing }}", {}),
    # --- Statements ---------------------------------------------------------------------------
    ("if elif else", "{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %},{% endfor %}", {}),
    ("for else", "{% for x in [] %}x{% else %}empty{% endfor %}", {}),
    ("for if", "{% for x in [1, 2, 3, 4] if x % 2 == 0 %}{{ loop.index }}:{{ x }}/{{ loop.length }}{% if not loop.last %},{% endif %}{% endfor %}", {}),
    ("for over dict", "{% for k in d %}{{ k }}{% endfor %}|{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {"d": D}),
    ("for over string", "{% for c in 'héy' %}[{{ c }}]{% endfor %}", {}),
    ("loop variables", "{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.depth }}{{ loop.depth0 }};{% endfor %}", {"items": ["a", "b", "c"]}),
    ("loop previtem nextitem", "{% for x in [1, 2, 3] %}({{ loop.previtem }}|{{ loop.nextitem }}|{{ loop.previtem is defined }}){% endfor %}", {}),
    ("loop cycle", "{% for x in range(5) %}{{ loop.cycle('a', 'b', 'c') }}{% endfor %}", {}),
    ("loop changed", "{% for x in [1, 1, 2, 2, 1] %}{{ loop.changed(x) }},{% endfor %}", {}),
    ("nested loops", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }}{% endfor %}{{ loop.index }};{% endfor %}", {}),
    ("recursive loop", "{% for n in tree recursive %}<{{ n.name }}{{ loop.depth }}{% if n.kids %}{{ loop(n.kids) }}{% endif %}>{% endfor %}", {"tree": [{"name": "a", "kids": [{"name": "b", "kids": [{"name": "c"}]}, {"name": "d"}]}, {"name": "e"}]}),
    ("break continue", "{% for n in [1, 2, 3, 4] %}{% if n == 2 %}{% continue %}{% endif %}{% if n == 4 %}{% break %}{% endif %}{{ n }}{% endfor %}", {}),
    ("break in nested", "{% for a in [1, 2] %}{% for b in [1, 2, 3] %}{% if b == 2 %}{% break %}{% endif %}{{ a }}{{ b }}{% endfor %}{% endfor %}", {}),
    ("set and scope", "{% set a = 1 %}{% for x in [1] %}{% set a = 2 %}{{ a }}{% endfor %}{{ a }}{% if true %}{% set b = 3 %}{% endif %}{{ b }}", {}),
    ("set shadows context", "{{ x }}{% set x = 'new' %}{{ x }}", {"x": "old"}),
    ("set block", "{% set s %}a{{ 1 + 1 }}b{% endset %}[{{ s }}]{% set t | upper %}x{% endset %}{{ t }}", {}),
    ("namespace", "{% set ns = namespace(total=0, seen=false) %}{% for x in [1, 2, 3] %}{% set ns.total = ns.total + x %}{% if x == 2 %}{% set ns.seen = true %}{% endif %}{% endfor %}{{ ns.total }} {{ ns.seen }}", {}),
    ("namespace new attribute", "{% set ns = namespace() %}{% set ns.a = 'x' %}{{ ns.a }}{{ ns.b is defined }}", {}),
    ("namespace from dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}", {}),
    ("set attribute of non-namespace", "{% set d = {'a': 1} %}{% set d.a = 2 %}{{ d.a }}", {}),
    ("with", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", {}),
    ("with sees outer", "{% set x = 5 %}{% with y = x * 2 %}{{ x }}{{ y }}{% endwith %}", {}),
    ("filter block", "{% filter upper %}abc{{ 'd' }}{% endfilter %}|{% filter replace('a', 'b') | trim %}  aa  {% endfilter %}", {}),
    ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Bo') }} {{ greet('Al', '?') }} {{ greet(punct='.', name='Cy') }}", {}),
    ("macro defaults use earlier params", "{% macro f(a, b=a * 2) %}{{ a }},{{ b }}{% endmacro %}{{ f(3) }}", {}),
    ("macro varargs kwargs", "{% macro f(a) %}{{ a }}|{{ varargs }}|{{ kwargs }}{% endmacro %}{{ f(1, 2, 3, k='v') }}", {}),
    ("macro missing argument", "{% macro f(a, b) %}[{{ a }}][{{ b }}]{% endmacro %}{{ f(1) }}", {}),
    ("macro too many arguments", "{% macro f(a) %}{{ a }}{% endmacro %}{{ f(1, 2) }}", {}),
    ("macro unknown keyword", "{% macro f(a) %}{{ a }}{% endmacro %}{{ f(b=1) }}", {}),
    ("macro recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1) | int }}{% endif %}{% endmacro %}{{ fact(5) }}", {}),
    ("macro scope", "{% set x = 'outer' %}{% macro f() %}{{ x }}{% set x = 'inner' %}{{ x }}{% endmacro %}{{ f() }}{{ x }}", {}),
    ("macro name", "{% macro f() %}{% endmacro %}{{ f.name }}", {}),
    ("call block", "{% macro box(title) %}[{{ title }}:{{ caller() }}]{% endmacro %}{% call box('t') %}body{{ 1 }}{% endcall %}", {}),
    ("call block with args", "{% macro each(xs) %}{% for x in xs %}{{ caller(x, loop.index) }}{% endfor %}{% endmacro %}{% call(item, i) each(['a', 'b']) %}{{ i }}={{ item }};{% endcall %}", {}),
    ("generation block", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% set inner = 1 %}{% endgeneration %}{% else %}{{ m.content }}{% endif %}|{% endfor %}[{{ inner }}]", {"messages": MSGS}),
    ("if in loop with set", "{% set ns = namespace(sys='') %}{% for m in messages %}{% if m.role == 'system' %}{% set ns.sys = m.content %}{% endif %}{% endfor %}{{ ns.sys }}", {"messages": MSGS}),
    # --- Globals -----------------------------------------------------------------------------
    ("range", "{{ range(3) | list }}{{ range(1, 8, 3) | list }}{{ range(3, -1, -1) | list }}{{ range(0, 3, -1) | list }}{{ range(2, 2) | list }}", {}),
    ("range in for", "{% for i in range(3) %}{{ i }}{% endfor %}", {}),
    ("range too big", "{{ range(200000) | length }}", {}),
    ("range step zero", "{{ range(1, 2, 0) | list }}", {}),
    ("dict global", "{{ dict(a=1, b='x') }}{{ dict([['k', 'v']]) }}{{ dict({'z': 0}, y=1) }}", {}),
    ("joiner", "{% set j = joiner(' | ') %}{% for x in 'abc' %}{{ j() }}{{ x }}{% endfor %}{% set k = joiner() %}{{ k() }}{{ k() }}", {}),
    ("cycler", "{% set c = cycler('odd', 'even') %}{% for x in range(3) %}{{ c.next() }}{% endfor %}|{{ c.current }}|{{ c.reset() }}{{ c.current }}", {}),
    ("raise_exception", "before{{ raise_exception('roles must alternate') }}after", {}),
    ("raise_exception in branch", "{% for m in messages %}{% if m.role == 'tool' %}{{ raise_exception('no tools: ' ~ m.content) }}{% endif %}{% endfor %}", {"messages": [{"role": "tool", "content": "x"}]}),
    ("strftime_now", "{{ strftime_now('%Y') | length }} {{ strftime_now('%d %b %Y') | length }} {{ strftime_now('%%') }}", {}),
    ("globals are defined", "{{ strftime_now is defined }} {{ raise_exception is defined }} {{ range is defined }} {{ namespace is defined }} {{ nothing is defined }} {{ range is callable }}", {}),
    # --- Filters ------------------------------------------------------------------------------
    ("abs", "{{ -3 | abs }} {{ 2.5 | abs }} {{ -0.0 | abs }} {{ true | abs }}", {}),
    ("abs of string", "{{ 'x' | abs }}", {}),
    ("attr", "[{{ d | attr('k') }}]|{{ 'ab' | attr('upper') is defined }}|{{ d | attr('keys') is callable }}", {"d": {"k": 1}}),
    ("attr namespace", "{% set ns = namespace(v=7) %}{{ ns | attr('v') }}", {}),
    ("batch", "{{ range(7) | batch(3) | list }}{{ range(7) | batch(3, 'x') | list }}{{ [] | batch(2) | list }}", {}),
    ("capitalize", "{{ 'hELLO wORLD' | capitalize }}|{{ '' | capitalize }}|{{ 'éa' | capitalize }}|{{ 1 | capitalize }}", {}),
    ("center", "[{{ 'ab' | center(7) }}][{{ 'ab' | center(6) }}][{{ 'abc' | center(2) }}][{{ 'x' | center }}]", {}),
    ("count length", "{{ [1, 2] | count }} {{ 'héllo' | length }} {{ {'a': 1} | length }} {{ range(4) | length }}", {}),
    ("default", "{{ x | default('d') }}|{{ none | default('d') }}|{{ false | default('d', true) }}|{{ [] | default('empty', true) }}|{{ 'v' | default('d', true) }}|{{ missing | default }}", {"x": 0}),
    ("dictsort", "{{ d | dictsort }}{{ d | dictsort(true) }}{{ d | dictsort(by='value') }}{{ d | dictsort(reverse=true) }}", {"d": D}),
    ("dictsort bad by", "{{ d | dictsort(by='x') }}", {"d": D}),
    ("escape", "{{ '<a href=\"x\">&\\'</a>' | escape }}|{{ '<b>' | e }}|{{ '<b>' | e | e }}|{{ 5 | e }}", {}),
    ("forceescape safe", "{{ '<i>' | safe | escape }}|{{ '<i>' | safe | forceescape }}|{{ ('<i>' | safe) is escaped }}|{{ '<i>' is escaped }}", {}),
    ("first last", "{{ [1, 2, 3] | first }}{{ [1, 2, 3] | last }}{{ 'abc' | first }}{{ 'abc' | last }}[{{ [] | first }}][{{ [] | last }}]{{ d | first }}", {"d": D}),
    ("first of generator", "{{ [1, 2, 3] | select('odd') | first }}", {}),
    ("last of generator", "{{ [1, 2, 3] | select('odd') | last }}", {}),
    ("float", "{{ '3.5' | float }} {{ 2 | float }} {{ 'x' | float }} {{ 'x' | float(1.5) }} {{ ' 1e2 ' | float }} {{ '1_0.5' | float }} {{ 'inf' | float }} {{ '-nan' | float }} {{ true | float }}", {}),
    ("int", "{{ '42' | int }} {{ 3.9 | int }} {{ -3.9 | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ '0x1A' | int(base=16) }} {{ 'ff' | int(0, 16) }} {{ '1_000' | int }} {{ ' 12 ' | int }} {{ '3.7' | int }} {{ true | int }} {{ '0b101' | int(base=0) }}", {}),
    ("format", "{{ '%s-%d-%.2f' | format('a', 3, 2.5) }}|{{ '%(x)s %(y)05d' | format(x='k', y=42) }}|{{ '%5s|%-5s|%x|%o|%e|%r|%%' | format('ab', 'cd', 255, 8, 1234.5, 'q') }}", {}),
    ("indent", "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}|{{ 'a\\nb' | indent('> ') }}|{{ 'x\\n' | indent(1) }}", {}),
    ("items", "{% for k, v in d | items %}{{ k }}{{ v }}{% endfor %}|{{ missing | items | list }}", {"d": D}),
    ("join", "{{ [1, 2, 3] | join }}|{{ [1, 2, 3] | join(', ') }}|{{ people | join('/', attribute='name') }}|{{ 'abc' | join('.') }}|{{ people | join(',', 'addr.city') }}", {"people": PEOPLE}),
    ("list", "{{ 'abc' | list }}{{ d | list }}{{ range(2) | list }}{{ (1, 2) | list }}", {"d": D}),
    ("lower upper", "{{ 'AbÇ' | lower }}|{{ 'abç ß' | upper }}|{{ 5 | upper }}", {}),
    ("map attribute", "{{ people | map(attribute='name') | list }}{{ people | map(attribute='addr.city') | list }}{{ people | map(attribute='tags', default='-') | list }}", {"people": PEOPLE}),
    ("map filter", "{{ ['a', 'B'] | map('upper') | list }}{{ [1.26, 2.5] | map('round', 1) | list }}{{ ['a,b'] | map('replace', ',', ';') | join }}", {}),
    ("map of missing key", "{{ people | map(attribute='tags') | list }}", {"people": PEOPLE}),
    ("max min", "{{ [3, 1, 2] | max }}{{ [3, 1, 2] | min }}{{ ['b', 'A', 'c'] | max }}{{ ['b', 'A', 'c'] | min }}{{ ['b', 'A', 'c'] | max(case_sensitive=true) }}{{ (people | max(attribute='age')).name }}{{ (people | min(attribute='name')).name }}[{{ [] | max }}]", {"people": PEOPLE}),
    ("select reject", "{{ range(6) | select('odd') | list }}{{ range(6) | reject('odd') | list }}{{ [0, 1, '', 'a', none] | select | list }}{{ [0, 1, '', 'a', none] | reject | list }}{{ range(6) | select('divisibleby', 3) | list }}{{ [1, 5, 9] | select('gt', 4) | list }}{{ ['a', 'b'] | select('in', ['b']) | list }}", {}),
    ("selectattr rejectattr", "{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }}{{ msgs | rejectattr('role', 'eq', 'user') | map(attribute='role') | list }}{{ people | selectattr('tags') | map(attribute='name') | list }}{{ people | selectattr('tags', 'defined') | map(attribute='name') | list }}{{ people | rejectattr('tags', 'defined') | map(attribute='name') | list }}{{ people | selectattr('addr.city', 'equalto', 'Oslo') | map(attribute='name') | list }}", {"msgs": MSGS, "people": PEOPLE}),
    ("selectattr then length", "{{ msgs | selectattr('role', 'equalto', 'user') | list | length }} {{ (msgs | selectattr('role', 'equalto', 'user') | list)[-1].content }}", {"msgs": MSGS}),
    ("select unknown test", "{{ [1] | select('nosuchtest') | list }}", {}),
    ("replace", "{{ 'aaa' | replace('a', 'b') }}|{{ 'aaa' | replace('a', 'b', 2) }}|{{ 'abc' | replace('', '-') }}|{{ 'héé' | replace('é', 'e') }}|{{ 12 | replace('1', 'x') }}", {}),
    ("reverse", "{{ 'abc' | reverse }}|{{ [1, 2, 3] | reverse | list }}|{{ range(3) | reverse | join }}|{{ [1, 2, 3] | select('odd') | reverse | list }}", {}),
    ("round", "{{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} {{ 1.25 | round(1) }} {{ 1.2345 | round(2, 'floor') }} {{ 1.2345 | round(2, 'ceil') }} {{ -1.5 | round }} {{ 42 | round }} {{ 1234 | round(-2) }} {{ 1250.0 | round(-2) }} {{ 2.5 | round(0, 'ceil') }} {{ 7 | round(1) }}", {}),
    ("round int negative precision", "{{ 1250 | round(-2) }} {{ 1350 | round(-2) }} {{ -1250 | round(-2) }} {{ -1251 | round(-2) }} {{ 15 | round(-1) }} {{ 5 | round(-20) }} {{ 25.0 | round(-1) }}", {}),
    ("round bad method", "{{ 2.5 | round(0, 'up') }}", {}),
    ("slice", "{{ range(7) | slice(3) | list }}{{ range(7) | slice(3, 'x') | list }}{{ range(2) | slice(4) | list }}", {}),
    ("sort", "{{ [3, 1, 2] | sort }}{{ [3, 1, 2] | sort(true) }}{{ ['b', 'A', 'c'] | sort }}{{ ['b', 'A', 'c'] | sort(case_sensitive=true) }}{{ people | sort(attribute='age') | map(attribute='name') | list }}{{ people | sort(attribute='name') | map(attribute='name') | list }}{{ people | sort(attribute='addr.city,age', reverse=true) | map(attribute='name') | list }}{{ 'cab' | sort }}", {"people": PEOPLE}),
    ("sort is stable", "{{ pairs | sort(attribute='k') | map(attribute='v') | join }}{{ pairs | sort(attribute='k', reverse=true) | map(attribute='v') | join }}", {"pairs": [{"k": 1, "v": "a"}, {"k": 0, "v": "b"}, {"k": 1, "v": "c"}, {"k": 0, "v": "d"}]}),
    ("sort mixed types", "{{ [1, 'a'] | sort }}", {}),
    ("string", "{{ 1 | string }}{{ [1, 'a'] | string }}{{ none | string }}{{ (1 | string) is string }}{{ 1.0 | string }}", {}),
    ("sum", "{{ [1, 2, 3] | sum }} {{ [1, 2] | sum(start=10) }} {{ people | sum(attribute='age') }} {{ [0.5, 0.25] | sum }} {{ [] | sum }}", {"people": PEOPLE}),
    ("sum of strings", "{{ ['a', 'b'] | sum }}", {}),
    ("title", "{{ 'hello wORLD' | title }}|{{ \"they're bill's\" | title }}|{{ 'a-b (c) [d] {e} <f>' | title }}|{{ 'x1y  z' | title }}", {}),
    ("tojson", "{{ {'a': [1, 'x', none, true, 1.5]} | tojson }}|{{ 'é\"\\n<>&' | tojson }}|{{ 'é' | tojson(ensure_ascii=true) }}|{{ 3 | tojson }}", {}),
    ("tojson indent", "{{ {'b': [1, {'c': 'x'}], 'a': {}, 'e': []} | tojson(indent=2) }}|{{ [1] | tojson(indent='\\t') }}|{{ [] | tojson(indent=2) }}", {}),
    ("tojson separators sort", "{{ {'b': 1, 'a': [1, 2]} | tojson(separators=(',', ':')) }}|{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}", {}),
    ("tojson context", "{{ tools | tojson }}", {"tools": [{"type": "function", "function": {"name": "f", "description": "é", "parameters": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}}}]}),
    ("tojson floats", "{{ [1.0, 0.1, 1e100, -2.5e-8, 100.0] | tojson }}", {}),
    ("tojson keys", "{{ {1: 'a', none: 'b', true: 'c', 1.5: 'd'} | tojson }}|{{ (1, 'x') | tojson }}|{{ {'z': (1,)} | tojson(indent=0) }}|{{ [1, [2]] | tojson(separators=[',', ':']) }}", {}),
    ("tojson of undefined", "{{ missing | tojson }}", {}),
    ("tojson of a generator", "{{ [1] | select | tojson }}", {}),
    ("tojson of a namespace", "{{ namespace(a=1) | tojson }}", {}),
    ("tojson sort mixed keys", "{{ {1: 'a', 'b': 2} | tojson(sort_keys=true) }}", {}),
    ("tojson context floats", "{{ x | tojson }}|{{ x }}", {"x": [1e-07, 123456789012.5, 0.1, -0.0, 3.0]}),
    ("filter corners", "{{ {'b': 1, 'a': 2} | batch(1) | list }}|{{ ['a', 'b'] | sum(start='') if false else 'x' }}|{{ [3, 'a'] | first }}|{{ 'no-spaces-here-at-all' | truncate(10) }}|{{ 'héllo wörld' | wordcount }}|{{ 'a\nb' | indent('--', true, true) }}|{{ [1, 2, 3, 4] | slice(2, 0) | list }}", {}),
    ("sort none", "{{ [none, 1] | sort }}", {}),
    ("max mixed", "{{ [1, 'a'] | max }}", {}),
    ("trim", "[{{ '  a b \\n' | trim }}][{{ 'xxaxx' | trim('x') }}][{{ '\\u3000a' | trim }}]", {}),
    ("truncate", "{{ 'foo bar baz qux' | truncate(9) }}|{{ 'foo bar baz qux' | truncate(9, true) }}|{{ 'foo bar baz qux' | truncate(9, end='~') }}|{{ 'foo bar baz qux' | truncate(11, leeway=0) }}|{{ 'short' | truncate(3) }}|{{ 'foo bar' | truncate(255) }}", {}),
    ("unique", "{{ [1, 2, 1, 3] | unique | list }}{{ ['a', 'A', 'b'] | unique | list }}{{ ['a', 'A', 'b'] | unique(true) | list }}{{ people | unique(attribute='addr.city') | map(attribute='name') | list }}", {"people": PEOPLE}),
    ("wordcount", "{{ 'hello big world' | wordcount }} {{ 'a-b c_d  e.f' | wordcount }} {{ '' | wordcount }}", {}),
    ("filter chain precedence", "{{ 'a' + ' b ' | trim + 'c' }}|{{ -1 | abs }}|{{ [3, 1] | sort | first + 1 }}", {}),
    ("unknown filter", "{{ 1 | nosuchfilter }}", {}),
    # --- Tests --------------------------------------------------------------------------------
    ("defined undefined none", "{{ x is defined }}{{ y is defined }}{{ y is undefined }}{{ n is none }}{{ x is none }}", {"x": 1, "n": None}),
    ("boolean true false", "{{ true is boolean }}{{ 1 is boolean }}{{ true is true }}{{ 1 is true }}{{ false is false }}{{ 0 is false }}{{ none is false }}", {}),
    ("number integer float", "{{ 1 is number }}{{ 1.5 is number }}{{ true is number }}{{ 'a' is number }}{{ 1 is integer }}{{ true is integer }}{{ 1.0 is integer }}{{ 1.0 is float }}{{ 1 is float }}", {}),
    ("string mapping", "{{ 'a' is string }}{{ 1 is string }}{{ d is mapping }}{{ [] is mapping }}{{ none is string }}", {"d": {}}),
    ("iterable sequence", "{{ 'a' is iterable }}{{ [] is iterable }}{{ d is iterable }}{{ 1 is iterable }}{{ none is iterable }}{{ 'a' is sequence }}{{ [] is sequence }}{{ d is sequence }}{{ 1 is sequence }}{{ (range(2) | select) is iterable }}{{ (range(2) | select) is sequence }}", {"d": {}}),
    ("callable", "{{ range is callable }}{{ 'a'.upper is callable }}{{ 'a' is callable }}{{ joiner() is callable }}{{ x is callable }}", {"x": 1}),
    ("sameas", "{{ none is sameas none }}{{ true is sameas true }}{{ 1 is sameas 1 }}{{ x is sameas x }}{{ [1] is sameas [1] }}{{ false is sameas 0 }}", {"x": [1]}),
    ("escaped", "{{ 'a' is escaped }}{{ ('a' | e) is escaped }}", {}),
    ("in test", "{{ 1 is in [1, 2] }}{{ 'a' is in 'cab' }}{{ 'z' is in d }}{{ 3 is not in [1] }}", {"d": {"z": 0}}),
    ("comparison tests", "{{ 1 is eq 1 }}{{ 1 is equalto 2 }}{{ 1 is ne 2 }}{{ 1 is lt 2 }}{{ 1 is lessthan 1 }}{{ 2 is le 2 }}{{ 3 is gt 2 }}{{ 3 is greaterthan 3 }}{{ 3 is ge 3 }}", {}),
    ("comparison tests by symbol", "{{ r | select('==', 2) | list }}{{ r | select('!=', 2) | list }}{{ r | select('<', 2) | list }}{{ r | select('<=', 2) | list }}{{ r | select('>', 2) | list }}{{ r | select('>=', 2) | list }}", {"r": [1, 2, 3]}),
    ("divisibleby odd even", "{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(2) }}{{ 3 is odd }}{{ 3 is even }}{{ 0 is even }}{{ -1 is odd }}", {}),
    ("lower upper tests", "{{ 'abc' is lower }}{{ 'aBc' is lower }}{{ 'ABC' is upper }}{{ 'A1' is upper }}{{ '123' is lower }}{{ '' is upper }}", {}),
    ("filter test tests", "{{ 'upper' is filter }}{{ 'nope' is filter }}{{ 'odd' is test }}{{ 'nope' is test }}", {}),
    ("test with argument expression", "{{ 10 is divisibleby 2 + 3 }}{{ x is not none and x is string }}", {"x": "s"}),
    ("odd of string", "{{ 'a' is odd }}", {}),
    ("unknown test", "{{ 1 is nosuchtest }}", {}),
    # --- str methods --------------------------------------------------------------------------
    ("str case methods", "{{ 'hello World'.capitalize() }}|{{ 'ß'.casefold() }}|{{ 'Hello'.swapcase() }}|{{ 'hello wOrld'.title() }}|{{ 'ÀB'.lower() }}|{{ 'àb'.upper() }}", {}),
    ("str casefold", "{{ 'Straße'.casefold() }}|{{ 'ﬁ'.casefold() }}|{{ 'ΣΑΣ'.casefold() }}|{{ 'ABC'.casefold() }}", {}),
    ("str padding", "[{{ 'ab'.center(6, '*') }}][{{ 'ab'.ljust(5) }}][{{ 'ab'.rjust(5, '0') }}][{{ '42'.zfill(5) }}][{{ '-42'.zfill(5) }}][{{ 'abc'.center(2) }}][{{ 'é'.center(3, 'ü') }}]", {}),
    ("str find", "{{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ 'hello'.find('l', 3) }} {{ 'hello'.find('', 5) }} {{ 'hello'.find('', 6) }} {{ 'héllo'.find('l') }} {{ 'hello'.index('e') }} {{ 'hello'.rindex('l') }} {{ 'hello'.find('l', -2) }}", {}),
    ("str index missing", "{{ 'hello'.index('z') }}", {}),
    ("str count", "{{ 'banana'.count('a') }} {{ 'banana'.count('an', 2) }} {{ 'aaa'.count('aa') }} {{ 'abc'.count('') }}", {}),
    ("str startswith endswith", "{{ 'abc'.startswith('ab') }}{{ 'abc'.startswith('b', 1) }}{{ 'abc'.startswith(('x', 'a')) }}{{ 'abc'.endswith('bc') }}{{ 'abc'.endswith('b', 0, 2) }}{{ 'abc'.endswith('') }}{{ 'a'.startswith('abc') }}", {}),
    ("str is methods", "{{ 'ab1'.isalnum() }}{{ 'ab'.isalpha() }}{{ 'é'.isalpha() }}{{ 'ab'.isascii() }}{{ 'é'.isascii() }}{{ '12'.isdecimal() }}{{ '12'.isdigit() }}{{ '½'.isnumeric() }}{{ ' \\t'.isspace() }}{{ ''.isspace() }}{{ 'ab'.islower() }}{{ 'AB'.isupper() }}{{ 'Ab Cd'.istitle() }}{{ 'ab Cd'.istitle() }}{{ ''.isalpha() }}", {}),
    ("str join", "{{ ', '.join(['a', 'b']) }}|{{ ''.join('xyz') }}|{{ '-'.join(d) }}", {"d": D}),
    ("str join non-strings", "{{ ','.join([1, 2]) }}", {}),
    ("str strip", "[{{ '  x  '.strip() }}][{{ '  x  '.lstrip() }}][{{ '  x  '.rstrip() }}][{{ '\\n\\nx\\n'.strip('\\n') }}][{{ 'xxay'.lstrip('x') }}][{{ 'ayyx'.rstrip('xy') }}][{{ ' a '.strip(none) }}]", {}),
    ("str split", "{{ 'a<b>c<b>'.split('<b>') }}{{ ' a  b '.split() }}{{ 'x'.split(',') }}{{ 'a,b,c'.split(',', 1) }}{{ 'a,b,c'.rsplit(',', 1) }}{{ '  a b  '.rsplit(none, 1) }}{{ ''.split() }}{{ ''.split(',') }}{{ 'r</think>a'.split('</think>')[-1] }}", {}),
    ("str split empty separator", "{{ 'abc'.split('') }}", {}),
    ("str splitlines", "{{ 'a\\nb\\r\\nc\\rd\\n'.splitlines() }}{{ 'a\\nb\\n'.splitlines(true) }}{{ ''.splitlines() }}", {}),
    ("str partition", "{{ 'a=b=c'.partition('=') }}{{ 'a=b=c'.rpartition('=') }}{{ 'abc'.partition('=') }}{{ 'abc'.rpartition('=') }}", {}),
    ("str remove affix", "{{ 'prefix-x'.removeprefix('prefix-') }}|{{ 'x.txt'.removesuffix('.txt') }}|{{ 'abc'.removeprefix('z') }}", {}),
    ("str replace method", "{{ 'aaa'.replace('a', 'b') }}|{{ 'aaa'.replace('a', 'b', 1) }}|{{ 'ab'.replace('', '.') }}", {}),
    ("str format method", "{{ '{} and {}'.format('a', 'b') }}|{{ '{1}{0}'.format('x', 'y') }}|{{ '{name}!'.format(name='n') }}|{{ '{:>5}|{:<4}|{:^5}|{:05.1f}|{:x}'.format('r', 'l', 'c', 3.14159, 255) }}|{{ '{{}}'.format() }}|{{ '{0[k]}'.format(d) }}", {"d": {"k": "v"}}),
    ("method on context string", "{{ m.content.strip().lower().startswith('what') }}", {"m": {"content": "  What?"}}),
    # --- dict and list methods ---------------------------------------------------------------
    ("dict methods", "{{ d.keys() | list }}{{ d.values() | list }}{{ d.items() | list }}{{ d.get('b') }}{{ d.get('z') }}{{ d.get('z', 0) }}{{ d.copy() }}", {"d": D}),
    ("dict views repr", "{{ d.keys() }}|{{ d.values() }}|{{ d.items() }}", {"d": {"a": 1}}),
    ("dict iteration order", "{% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %}{{ d | length }}{{ 'A' in d }}{{ 'a' in d }}", {"d": D}),
    ("dict pop is unsafe", "{{ d.pop('b') }}", {"d": D}),
    ("dict update is unsafe", "{% set x = d.update({'z': 1}) %}{{ d }}", {"d": D}),
    ("list methods", "{{ xs.count(1) }} {{ xs.index(2) }} {{ xs.copy() }}", {"xs": [1, 2, 1]}),
    ("list index missing", "{{ xs.index(5) }}", {"xs": [1]}),
    ("list append is unsafe", "{% set _ = xs.append(3) %}{{ xs }}", {"xs": [1]}),
    ("list append output is unsafe", "{{ xs.append(3) }}", {"xs": [1]}),
    ("tuple has no copy", "{{ (1, 2).copy() }}", {}),
    ("dunder attributes are undefined", "[{{ x.__class__ }}][{{ 'a'.__len__ }}]", {"x": {}}),
    # --- Corners of Python's formatting and object protocol --------------------------------
    ("str format specs", "{{ '{:,}'.format(1234567) }}|{{ '{:.1%}'.format(0.256) }}|{{ '{!r}'.format('a') }}|{{ '{0:>{1}}'.format('a', 4) }}|{{ '{:+d}'.format(5) }}|{{ '{:#x}'.format(255) }}|{{ '{:e}'.format(12345.678) }}|{{ '{:g}'.format(1e20) }}|{{ '{:*^9}'.format('mid') }}|{{ '{}'.format(none) }}|{{ '{}'.format([1, 'a']) }}|{{ '{:.3}'.format('abcdef') }}|{{ '{:{}}'.format('a', 3) }}|{{ '{:{fill}>{w}}'.format(7, fill='.', w=4) }}", {}),
    ("str format too deep", "{{ '{:{:{}}}'.format(1, 2, 3) }}", {}),
    ("percent format corners", "{{ '%5.2s|' % 'abc' }}{{ '%+d|' % 5 }}{{ '%#x|' % 255 }}{{ '%c|' % 65 }}{{ '%i|' % 3.9 }}{{ '%g|' % 1e20 }}{{ '%s|' % none }}{{ '%r|' % [1, 'a'] }}{{ '%-6.2f|' % 3.14159 }}{{ '%05d' % -42 }}", {}),
    ("percent format too few", "{{ '%s %s' % ('a',) }}", {}),
    ("float repr corners", "{{ 1e22 }} {{ 1.0e16 }} {{ 123456789.123456789 }} {{ 0.000123 }} {{ 1/7 }} {{ 2 ** 0.5 * 2 ** 0.5 }} {{ 3 | float | string }} {{ 0.1 | round(20) }}", {}),
    ("tojson corners", "{{ [9007199254740993, 1e16, 1e300 * 1e10, -(1e300 * 1e10), 0.5] | tojson }}|{{ ('<b>' | e) | tojson }}|{{ none | tojson }}|{{ '\\u0001\t\u2028' | tojson }}|{{ '\\u0001' | tojson(ensure_ascii=true) }}", {}),
    ("namespace repr", "{% set x = namespace(y=1) %}{{ x }}", {}),
    ("unicode repr", "{{ ['é', '日本', '😀', 'a\u0301'] }}|{{ {'k': 'ü'} }}", {}),
    ("chained attributes", "[{{ x.a.b }}][{{ x['n']['b'] }}][{{ x.n.b }}]", {"x": {"a": {"b": 1}, "n": None}}),
    ("chained attribute of undefined", "{{ x.missing.b }}", {"x": {}}),
    ("keyword arguments of methods", "{{ 'a,b,c'.split(',', maxsplit=1) }}{{ 'a b'.split(sep=none) }}{{ 'abc'.replace('b', new='x', old='a') }}", {}),
    ("method missing argument", "{{ 'x'.startswith() }}", {}),
    ("join with none", "{{ [none, 1] | join(',') }}|{{ ['a'] | join(none) }}", {}),
    ("str join with none", "{{ ' '.join(['a', none]) }}", {}),
    ("compare none", "{{ none < 1 }}", {}),
    ("loops over items", "{% for k, v in d | dictsort %}{{ k }}{{ v }}{% if not loop.last %},{% endif %}{% endfor %}|{% for k, v in d.items() %}{{ loop.index }}{{ k }}{% endfor %}", {"d": D}),
    ("batch of string", "{{ 'abcde' | batch(2) | list }}|{{ {'a': 1}.items() | list | first }}|{{ '101' | int(base=2) }}", {}),
    ("roles summary", "{{ messages | length > 0 and messages[0].role == 'system' }}|{{ ' '.join(messages | map(attribute='role')) }}|{{ range(3) | map('string') | join(',') }}", {"messages": MSGS}),
    ("sort by missing attribute", "{{ people | sort(attribute='tags') | map(attribute='name') | list }}", {"people": PEOPLE}),
    ("unique of dicts", "{{ [{'a': 1}, {'a': 1}, {'a': 2}] | unique | list }}", {}),
    ("unique of lists", "{{ [[1], [1]] | unique | list }}", {}),
    ("unique of tuples", "{{ [(1, 'a'), (1, 'a'), (2, 'b')] | unique | list }}", {}),
    ("generator truthiness", "{{ 'T' if ([] | select) else 'F' }}{{ 'T' if ([1] | select) else 'F' }}{{ ([1, 2] | select) | length }}", {}),
    ("generator consumed", "{% set g = [1, 2, 3] | select %}{{ g | list }}{{ g | list }}", {}),
    ("mapping is not a sequence of pairs", "{% for x in {'a': 1} %}{{ x }}{% endfor %}", {}),
    # --- Scoping of macros and loops ---------------------------------------------------------
    ("macro sees later top-level set", "{% macro f() %}{{ x }}{% endmacro %}{% set x = 1 %}{{ f() }}", {}),
    ("macro does not see loop variables", "{% macro f() %}[{{ x }}]{% endmacro %}{% for x in [1] %}{{ f() }}{% endfor %}", {}),
    ("macro defined in a loop", "{% for x in [1, 2] %}{% macro g() %}{{ x }}{% endmacro %}{{ g() }}{% endfor %}", {}),
    ("macro set does not leak", "{% set x = 1 %}{% macro f() %}{% set x = 2 %}{{ x }}{% endmacro %}{{ f() }}{{ x }}", {}),
    ("loop variable restored", "{% set x = 'out' %}{% for x in [1, 2] %}{{ x }}{% endfor %}{{ x }}", {}),
    ("loop outside a loop", "[{{ loop }}]{{ loop is defined }}", {}),
    ("nested loop sees outer loop", "{% for a in [1, 2] %}{% set outer = loop %}{% for b in [3] %}{{ outer.index }}{{ loop.index }}{% endfor %}{% endfor %}", {}),
    ("caller twice and varargs", "{% macro m() %}{{ caller() }}{{ caller() }}{{ varargs | length }}{% endmacro %}{% call m(1, 2) %}c{% endcall %}", {}),
    ("namespace in macro", "{% macro count(xs) %}{% set ns = namespace(n=0) %}{% for x in xs %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}{% endmacro %}{{ count([1, 2, 3]) }}", {}),
    ("recursive loop depth0", "{% for n in t recursive %}{{ loop.depth0 }}{{ n.v }}{% if n.k %}({{ loop(n.k) }}){% endif %}{% endfor %}", {"t": [{"v": "a", "k": [{"v": "b"}, {"v": "c", "k": [{"v": "d"}]}]}]}),
    ("continue in for else", "{% for x in [1, 2] %}{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% else %}none{% endfor %}", {}),
    # --- Call syntax and odd literals ---------------------------------------------------------
    ("star arguments", "{% macro f(a, b, c=0) %}{{ a }}{{ b }}{{ c }}{% endmacro %}{{ f(*[1, 2]) }}|{{ f(1, **{'b': 5, 'c': 6}) }}|{{ '%s-%s' | format(*['x', 'y']) }}", {}),
    ("star arguments to globals and methods", "{{ range(*[1, 4]) | list }}|{{ dict(b=2, **{'a': 1}) }}|{{ 'a-b-c'.split(*['-', 1]) }}|{{ namespace(**{'x': 3}).x }}", {}),
    ("star argument not iterable", "{{ range(*5) }}", {}),
    ("double star argument not a mapping", "{{ dict(**[1]) }}", {}),
    ("positional after star argument", "{{ range(*[1], 2) }}", {}),
    ("string literal escapes", "{{ '\\'' }}|{{ \"\\\"\" }}|{{ '\\\\' }}|{{ 'a' ~ none ~ 1.0 }}", {}),
    ("select by type tests", "{{ [1, 'a', {}, none, 2.5, [1]] | select('string') | list }}{{ [1, 'a', {}, none, 2.5] | select('number') | list }}{{ [1, {}, []] | select('mapping') | list }}{{ [1, none] | reject('none') | list }}", {}),
    ("message filters", "{{ messages | selectattr('role', 'in', ['user', 'system']) | list | length }}|{{ messages | rejectattr('tool_calls') | list | length }}|{{ tools | map(attribute='function') | map(attribute='name') | join(', ') }}", {"messages": MSGS, "tools": [{"function": {"name": "a"}}, {"function": {"name": "b"}}]}),
    # --- Errors the renderer must report -----------------------------------------------------
    ("syntax error unclosed block", "{% if x %}never closed", {}),
    ("syntax error bad expression", "{{ 1 + }}", {}),
    ("syntax error unknown tag", "{% frobnicate %}", {}),
    ("syntax error endfor mismatch", "{% for x in y %}{% endif %}", {}),
    ("syntax error unclosed output", "{{ x ", {}),
    ("type error add str int", "{{ 'a' + 1 }}", {}),
    ("type error int not iterable", "{% for x in 5 %}{% endfor %}", {}),
    ("division by zero", "{{ 1 / 0 }}", {}),
    ("floor division by zero", "{{ 1 // 0 }}", {}),
    ("modulo by zero", "{{ 1 % 0 }}", {}),
    ("call a string", "{{ 'a'() }}", {}),
    ("index a number", "{{ x[0] }}", {"x": 5}),
    ("unpack mismatch", "{% set a, b = [1, 2, 3] %}", {}),
    ("compare str int", "{{ 'a' < 1 }}", {}),
    ("loop outside recursive", "{% for x in [1] %}{{ loop([2]) }}{% endfor %}", {}),
]


def uncovered():
    """The names in the interpreter's filter, test, method and global tables that no case uses."""
    src = REPO / "src" / "purelm" / "tokenizer" / "jinja"
    def table(file, start, end="};"):
        text = (src / file).read_text()
        body = text[text.index(start):]
        return set(re.findall(r'\n\s*\{"([^"]+)",', body[:body.index(end)]))
    templates = "\n".join(t for _, t, _ in CASES)
    used = lambda pattern: re.search(pattern, templates) is not None
    missing = []
    for name in table("filters.cpp", "kFilters"):
        if not used(rf"\|\s*{re.escape(name)}\b|(map|attr)\('{re.escape(name)}'"):
            missing.append("filter " + name)
    for name in table("tests.cpp", "kTests"):
        n = re.escape(name)
        if not used(rf"\bis\s+(not\s+)?{n}\b|select(attr)?\(('[^']*', )?'{n}'"):
            missing.append("test " + name)
    for kind in ("kStrMethods", "kDictMethods", "kListMethods"):
        for name in table("methods.cpp", kind):
            if not used(rf"\.{name}\("):
                missing.append("method " + name)
    for name in table("globals.cpp", "global_functions()", "};\n}"):
        if not used(rf"\b{name}\("):
            missing.append("global " + name)
    return missing


def main():
    missing = uncovered()
    assert not missing, f"no case uses: {', '.join(missing)}"
    env = hf_environment()
    out = []
    names = set()
    for name, template, context in CASES:
        assert name not in names, name
        names.add(name)
        context = json.loads(json.dumps(context))  # exactly what the C++ side will see
        out.append({"name": name, "template": template, "context": context,
                    **render(env, template, context)})
    path = REPO / "tests" / "data" / "jinja_cases.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"jinja2": jinja2.__version__, "cases": out}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    errors = sum("error" in c for c in out)
    print(f"{path.relative_to(REPO)}: {len(out)} cases, {errors} of them errors")


if __name__ == "__main__":
    main()
