"""Fuzzing: mutated definitions and data never end in a traceback or a hang.

Hypothesis mutates working definitions and recipient files, by bytes (cut, insert
YAML/Jinja/JSON tokens and stray bytes, duplicate) and by structure (a definition
built from valid keys with odd values and Jinja pieces), and runs `compile`,
`check` and `preview` through the command line. Each must end with exit 0, 1 or 2
and, when not 0, a message, never a Python traceback (an internal error is exit
70, which fails here). Examples are bounded so this runs in seconds in CI.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linepress.cli.main import main

#: More examples, found afresh each run: LINEPRESS_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz.py
_EXAMPLES = int(os.environ.get("LINEPRESS_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=_EXAMPLES or 40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=not _EXAMPLES,  # in CI the same examples every run: results do not wander
    database=None,
)

MACROS = "{% macro yen(x) %}¥{{ '{:,}'.format(x | int) }}{% endmacro %}\n"

SEED_DEFINITIONS = [
    """from: F1
vars:
  shop: https://shop.example.com
imports:
  fmt: m.j2
message:
  type: TEXT
  text: "Hello {{ name | title }}, {{ fmt.yen(price) }} at {{ shop }}/sale"
""",
    """from: F1
to: "{{ to }}"
message:
  type: TEMPLATE
  altText: Spring sale
  template:
    type: CAROUSEL
    columns:
      - $for: p in products
        title: "{{ p.name }}"
        text: "{{ p.price }} yen{% if p.price > 100 %} (sale){% endif %}"
        thumbnailImageUrl: "https://img.example/{{ p.sku | urlencode }}.jpg"
        actions:
          - {type: URI, label: View, uri: "https://shop.example/p/{{ p.sku }}"}
          - $if: coupon is defined and coupon
            type: POSTBACK
            label: Coupon
            data: "c={{ coupon }}"
""",
    """from: F1
defaults: {to: U0}
variants:
  by: lang
  fallback: en
  messages:
    ja: {type: TEXT, text: "こんにちは {{ name }}さん"}
    en: &en {type: TEXT, text: "Hello {{ name }}"}
    th: {<<: *en, text: "สวัสดี {{ name }}"}
""",
]

SEED_DATA = {
    "csv": 'to,name,price,lang\nU1,ann,1200,ja\nU2,bob,15,\nU3,"c, d",0,th\n',
    "jsonl": (
        '{"to": "U1", "name": "ann", "price": 5, "products": [{"name": "A", "price": 120, '
        '"sku": "a 1"}], "coupon": "X"}\n'
        '{"to": "U2", "name": null, "price": "9", "products": []}\n'
    ),
    "json": '[{"to": "U1", "name": "ann", "price": 1, "lang": "en", "products": []}]\n',
}

#: What the mutations insert: the tokens that steer YAML, Jinja, JSON and CSV.
TOKENS = [
    "{{", "}}", "{%", "%}", "{#", "#}", "|", ":", ": ", "- ", "\n", "\n  ", "\t", "'", '"',
    "[", "]", "{", "}", ",", "&a ", "*a", "<<: ", "!!binary ", "!!python/object:x ", "!x ",
    "? ", "%YAML 1.3\n", "---\n", "...\n", "#", "\\", "\\u", "\x00", "\xff", "\ufeff",
    "10**5000", "'a' * 99999999", " | uppr", " | center(999999999)", "range(100000)",
    "{% for i in range(99999) %}", "{% endfor %}", "{% include 'm.j2' %}", "fmt.nope()",
    "loop.cycle()", "row['x']", "$for: ", "$if: ", "null", "true", "1e999", "-0",
    "999999999999999999999", "[" * 300, "{" * 300, "[" * 5000, '{"a":' * 3000, "\u202e", "\U0001f44d", "\ud800",
]  # fmt: skip


#: Pieces of Jinja expressions, the dangerous ones among the ordinary.
ATOMS = st.sampled_from(
    ["name", "price", "products", "row", "coupon", "loop", "fmt", "range(5)", "lipsum(1)",
     "1", "0", "-1", "10", "999999999", "10**400", "2.5", "'a'", "'%d'", "'{:>5}'", "'x,y'",
     "[1, 2]", "{'a': 1}", "none", "true", "namespace(s='x')", "undefined_name"]
)  # fmt: skip
FILTERS = st.sampled_from(
    ["upper", "uppr", "int", "float", "length", "first", "join(',')", "center(99999999)",
     "indent(99999999)", "replace('a', 'aaaa')", "format(1)", "urlencode", "tojson",
     "default('x')", "slice(999999999)", "list", "sum", "batch(2)", "truncate(3)", "nope"]
)  # fmt: skip
OPERATORS = st.sampled_from([" ~ ", " + ", " * ", " ** ", " % ", " // ", " - ", " and ", " == "])
EXPRESSIONS = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.tuples(inner, OPERATORS, inner).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
        st.tuples(inner, FILTERS).map(lambda t: f"({t[0]} | {t[1]})"),
        st.tuples(inner, st.sampled_from(["center", "ljust", "zfill", "format", "split"])).map(
            lambda t: f"{t[0]}.{t[1]}(99999999)"
        ),
        st.tuples(st.sampled_from(["yen", "nope"]), inner).map(lambda t: f"fmt.{t[0]}({t[1]})"),
    ),
    max_leaves=6,
)
TEMPLATES = st.one_of(
    EXPRESSIONS.map(lambda e: "{{ " + e + " }}"),
    st.tuples(EXPRESSIONS, EXPRESSIONS).map(
        lambda t: "{% for i in " + t[0] + " %}{{ " + t[1] + " }}{% endfor %}"
    ),
    st.tuples(EXPRESSIONS, EXPRESSIONS).map(
        lambda t: "{% if " + t[0] + " is odd %}{{ " + t[1] + " }}{% endif %}"
    ),
)
_EXPRESSION = re.compile(rb"\{\{.*?\}\}|\{%.*?%\}")


@st.composite
def mutated(draw: st.DrawFn, seed: str) -> bytes:
    """`seed` with a few cuts, insertions, duplications and new templates, as bytes."""
    data = seed.encode("utf-8")
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "cut", "duplicate", "byte", "template"]))
        spots = list(_EXPRESSION.finditer(data))
        if kind == "template" and spots:  # one `{{ }}` or `{% %}` becomes another
            spot = draw(st.sampled_from(spots))
            new = draw(TEMPLATES).replace('"', "'").encode()
            data = data[: spot.start()] + new + data[spot.end() :]
        elif kind == "insert":
            token = draw(st.sampled_from(TOKENS)).encode("utf-8", "surrogatepass")
            data = data[:at] + token + data[at:]
        elif kind == "cut":
            end = draw(st.integers(at, min(len(data), at + 40)))
            data = data[:at] + data[end:]
        elif kind == "duplicate":
            end = draw(st.integers(at, min(len(data), at + 80)))
            data = data[:end] + data[at:end] + data[end:]
        else:
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at:]
    return data


JINJA = st.sampled_from(
    [
        "{{ name }}", "{{ name | upper }}", "{{ price * 2 }}", "{{ fmt.yen(price) }}",
        "{% if name %}x{% endif %}", "{{ products | length }}", "{{ row }}", "{{ products }}",
        "{{ 1 / 0 }}", "{{ name.__class__ }}", "{{ undefined_thing }}", "{{ 'x' ~ name }}",
        "{{ price | int + 1 }}", "{{ lipsum(2) }}", "{{ '%05d' % (price | int) }}",
    ]
)  # fmt: skip
SCALARS = st.one_of(
    st.text(max_size=30), st.integers(), st.floats(), st.booleans(), st.none(), JINJA
)
KEYS = st.sampled_from(
    ["type", "text", "altText", "template", "columns", "actions", "label", "uri", "title",
     "thumbnailImageUrl", "originalContentUrl", "previewImageUrl", "latitude", "duration",
     "$if", "$for", "data", "baseUrl", "baseSize", "area", "x", "width"]
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)
TYPES = st.sampled_from(["TEXT", "IMAGE", "TEMPLATE", "IMAGEMAP", "LOCATION", "STICKER", "X"])


@st.composite
def structured(draw: st.DrawFn) -> bytes:
    """A definition built from the valid top-level keys, with odd values inside."""
    import json

    message = draw(st.dictionaries(KEYS, VALUES | TEMPLATES, max_size=6))
    message["type"] = draw(TYPES)
    tree: dict[str, object] = {"from": "F1", "message": message}
    if draw(st.booleans()):
        tree["to"] = draw(st.sampled_from(["{{ to }}", "U1", "", "{{ name }}"]))
    if draw(st.booleans()):
        tree["vars"] = draw(st.dictionaries(st.sampled_from(["shop", "x", "name"]), SCALARS))
    if draw(st.booleans()):
        tree["imports"] = {"fmt": draw(st.sampled_from(["m.j2", "missing.j2", "../m.j2"]))}
    # JSON is YAML: any tree comes out as a definition the loader reads.
    return json.dumps(tree, ensure_ascii=draw(st.booleans()), allow_nan=True).encode()


def run_all(definition: bytes, data: bytes, kind: str) -> None:
    with tempfile.TemporaryDirectory(prefix="linepress-fuzz-") as folder:
        root = Path(folder)
        (root / "m.j2").write_text(MACROS, encoding="utf-8")
        (root / "d.yaml").write_bytes(definition)
        (root / f"r.{kind}").write_bytes(data)
        runner = CliRunner()
        spec, records = str(root / "d.yaml"), str(root / f"r.{kind}")
        for args in (
            ["compile", spec, "--data", records, "-o", str(root / "out.jsonl")],
            ["compile", spec],
            ["check", spec, "--data", records],
            ["preview", spec, "--data", records, "--edge-cases", "-o", str(root / "p.html")],
        ):
            full = args
            result = runner.invoke(main, full)
            assert result.exit_code in (0, 1, 2), (full, result.exit_code, result.output)
            assert result.exception is None or isinstance(result.exception, SystemExit), (
                full,
                result.exception,
            )
            assert "Traceback" not in result.output, result.output
            if result.exit_code != 0:
                assert result.output.strip(), full


@FUZZ
@given(
    st.sampled_from(SEED_DEFINITIONS).flatmap(mutated),
    st.sampled_from(sorted(SEED_DATA)),
)
def test_mutated_definitions(definition: bytes, kind: str) -> None:
    run_all(definition, SEED_DATA[kind].encode(), kind)


@FUZZ
@given(st.data())
def test_mutated_data(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(sorted(SEED_DATA)))
    definition = data.draw(st.sampled_from(SEED_DEFINITIONS))
    records = data.draw(mutated(SEED_DATA[kind]))
    run_all(definition.encode(), records, kind)


@FUZZ
@given(structured(), st.sampled_from(sorted(SEED_DATA)))
def test_structured_definitions(definition: bytes, kind: str) -> None:
    run_all(definition, SEED_DATA[kind].encode(), kind)
