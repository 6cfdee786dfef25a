"""Compile throughput: recipients per second for five designs, in one run, on the same data.

    .venv/bin/python bench/compile.py                 # 100k rows for (c)-(e), then the 1M memory run
    .venv/bin/python bench/compile.py --tiny          # a few hundred rows, no 1M run (for CI)
    .venv/bin/python bench/compile.py --skip-big --json results.json
    .venv/bin/python bench/compile.py --check         # only check that the designs agree
    .venv/bin/python bench/compile.py --lists-only    # TEXT's (d) on CSV, its memory, then .xlsx

Two message shapes, generated into a temporary folder with a fixed seed:

- TEXT: one text leaf with 2 variables, `to` from the record.
- CAROUSEL: 3 columns x 3 actions, 23 dynamic leaves, 7 of them with a filter or
  `{% if %}`; every generated row is within LINE's limits.

The recipients are one CSV of 15 columns with mixed scripts, combining accents,
emoji (ZWJ sequences too), quotes and commas. Smaller files are prefixes of the
bigger ones, so every design sees the same rows.

Designs, each reading that CSV and writing one JSON body per line to a file:

(a) naive: per recipient, render the whole YAML *text* with Jinja (sandboxed), parse
    it with ruamel.yaml, validate with the cached `BodyValidator`, `json.dumps`.
(b) obvious: YAML parsed once, each string leaf a compiled Jinja template
    (sandboxed), a fresh dict per recipient, full validation with the cached
    `BodyValidator`, `json.dumps`.
(c) linepress as a library: `Compiler(...).compile_records(open_records(csv))`,
    `result.json()` written to a file.
(d) `linepress compile DEF --data CSV --out FILE` as a child process: wall time
    including interpreter start-up (reported separately, from a 1-row run).
(e) floor: `csv.reader` and the same bodies built by plain Python substitution, no
    Jinja, no validation, written with orjson.

Then .xlsx recipient lists: the same rows in a workbook (`points` as numbers,
`joined` as dates, as Excel holds them), `linepress compile` on it beside (d) on
the CSV (the bodies must be byte-identical), its peak memory at 10k and 1M rows,
and the readers alone on the same files at 10k, 100k and 1M rows: openpyxl's
read-only mode, python-calamine (when installed: `pip install -e '.[bench]'`)
and linepress's own (openpyxl's cell parser driven row by row).

Every peak memory figure is the child's own high-water mark (VmHWM from
/proc/self/status, printed at its exit), never wait4's ru_maxrss: Linux carries
the parent's high-water mark into a child started by vfork+exec, so that figure
is floored at this (large) process's peak.

Set-up (parsing the definition, building validators) is outside the timings of
(a), (b), (c) and (e); (d) pays for everything. Every design reports the best of up
to 3 runs (fewer once it has taken a minute), so no design is favoured by the
noise of a shared machine. Nothing is asserted about speed: targets are printed as
met or not.
Before timing, the bodies of (a), (b), (c), (d) and (e) are compared on the first
rows; the run exits 1 if they differ (the comparison would be unfair) or a design fails.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import filecmp
import hashlib
import json
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from jinja2 import StrictUndefined, Template
from jinja2.sandbox import ImmutableSandboxedEnvironment
from ruamel.yaml import YAML

import linepress
from linepress import Compiler
from linepress.recipients.records import open_records
from linepress.validate.body import BodyValidator

SEED = 20240501
BUFFER = 1 << 20
FROM = "8F0792F86035A9F4290821F1EE6BC06A"
DESIGNS = ("a", "b", "c", "d", "e")
DESIGN_NAMES = {
    "a": "(a) naive",
    "b": "(b) obvious",
    "c": "(c) library",
    "d": "(d) command",
    "e": "(e) floor",
}
#: (shape, numerator, denominator, at least): the ratios of rates we aim for.
TARGETS = (("TEXT", "d", "b", 30.0), ("TEXT", "d", "e", 0.33), ("CAROUSEL", "d", "b", 15.0))
MEMORY_TARGET_MB = 50.0
MEMORY_SMALL_ROWS = 10_000

# --------------------------------------------------------------------------- #
# The two shapes: a definition, and the same body by plain substitution

COLUMNS = (
    "to", "name", "email", "code", "tier", "city", "points", "coupon", "joined",
    "sku1", "item1", "sku2", "item2", "sku3", "item3",
)  # fmt: skip

# Every templated string is double-quoted, so that (a) can splice escaped values in.
# No Jinja markers in comments: (a) renders the whole file.
TEXT_YAML = f"""\
description: bench TEXT, one text leaf with 2 variables
from: "{FROM}"
to: "{{{{ to }}}}"
message:
  type: "TEXT"
  text: "Hello {{{{ name }}}}, your code is {{{{ code }}}}"
"""

CAROUSEL_YAML = f"""\
description: bench CAROUSEL, 3 columns x 3 actions, 23 dynamic leaves, 7 with filters or if
from: "{FROM}"
to: "{{{{ to }}}}"
message:
  type: "TEMPLATE"
  altText: "{{{{ name }}}}{{% if tier %}} ({{{{ tier | capitalize }}}} member){{% endif %}}: three picks for you"
  template:
    type: "CAROUSEL"
    columns:
      - thumbnailImageUrl: "https://cdn.example.com/p/{{{{ sku1 }}}}.jpg"
        title: "{{{{ item1 }}}}"
        text: "{{% if coupon %}}Code {{{{ coupon | upper }}}}: {{% endif %}}{{{{ points }}}} points, {{{{ name }}}}"
        actions:
          - type: "URI"
            label: "View"
            uri: "https://shop.example.com/p/{{{{ sku1 }}}}?ref={{{{ code }}}}&n={{{{ name | urlencode }}}}"
          - type: "POSTBACK"
            label: "Save"
            data: "action=save&sku={{{{ sku1 }}}}&to={{{{ to }}}}"
          - type: "MESSAGE"
            label: "About {{{{ sku1 }}}}"
            text: "Tell me more about {{{{ item1 }}}}"
      - thumbnailImageUrl: "https://cdn.example.com/p/{{{{ sku2 }}}}.jpg"
        title: "{{{{ item2 }}}}"
        text: "{{{{ name }}}}, picked for you in {{{{ city }}}}"
        actions:
          - type: "URI"
            label: "View"
            uri: "https://shop.example.com/p/{{{{ sku2 }}}}?ref={{{{ code }}}}&n={{{{ name | urlencode }}}}"
          - type: "POSTBACK"
            label: "Save"
            data: "action=save&sku={{{{ sku2 }}}}&to={{{{ to }}}}"
          - type: "MESSAGE"
            label: "{{{{ (tier or 'member') | capitalize }}}} perks"
            text: "Tell me more about {{{{ item2 }}}}"
      - thumbnailImageUrl: "https://cdn.example.com/p/{{{{ sku3 }}}}.jpg"
        title: "{{{{ item3 }}}}"
        text: "Member since {{{{ joined }}}}, thanks {{{{ name }}}}"
        actions:
          - type: "URI"
            label: "View"
            uri: "https://shop.example.com/p/{{{{ sku3 }}}}?ref={{{{ code }}}}&n={{{{ name | urlencode }}}}"
          - type: "POSTBACK"
            label: "Save"
            data: "action=save&sku={{{{ sku3 }}}}&to={{{{ to }}}}{{% if coupon %}}&coupon={{{{ coupon }}}}{{% endif %}}"
          - type: "MESSAGE"
            label: "Like {{{{ sku3 }}}}"
            text: "Show me items like {{{{ item3 }}}}"
"""


def text_body(r: Sequence[str]) -> dict[str, Any]:
    """TEXT_YAML's body for one `csv.reader` row, by plain substitution."""
    return {
        "from": FROM,
        "to": r[0],
        "message": {"type": "TEXT", "text": f"Hello {r[1]}, your code is {r[3]}"},
    }


def carousel_body(r: Sequence[str]) -> dict[str, Any]:
    """CAROUSEL_YAML's body for one `csv.reader` row, by plain substitution."""
    to, name, _email, code, tier, city, points, coupon, joined = r[:9]
    sku1, item1, sku2, item2, sku3, item3 = r[9:15]
    quoted = quote(name, safe="/")  # Jinja's `urlencode` of a string

    def view(sku: str) -> dict[str, str]:
        return {
            "type": "URI",
            "label": "View",
            "uri": f"https://shop.example.com/p/{sku}?ref={code}&n={quoted}",
        }

    def save(sku: str, extra: str = "") -> dict[str, str]:
        return {
            "type": "POSTBACK",
            "label": "Save",
            "data": f"action=save&sku={sku}&to={to}{extra}",
        }

    return {
        "from": FROM,
        "to": to,
        "message": {
            "type": "TEMPLATE",
            "altText": f"{name}{f' ({tier.capitalize()} member)' if tier else ''}: three picks for you",
            "template": {
                "type": "CAROUSEL",
                "columns": [
                    {
                        "thumbnailImageUrl": f"https://cdn.example.com/p/{sku1}.jpg",
                        "title": item1,
                        "text": f"{f'Code {coupon.upper()}: ' if coupon else ''}{points} points, {name}",
                        "actions": [
                            view(sku1),
                            save(sku1),
                            {
                                "type": "MESSAGE",
                                "label": f"About {sku1}",
                                "text": f"Tell me more about {item1}",
                            },
                        ],
                    },
                    {
                        "thumbnailImageUrl": f"https://cdn.example.com/p/{sku2}.jpg",
                        "title": item2,
                        "text": f"{name}, picked for you in {city}",
                        "actions": [
                            view(sku2),
                            save(sku2),
                            {
                                "type": "MESSAGE",
                                "label": f"{(tier or 'member').capitalize()} perks",
                                "text": f"Tell me more about {item2}",
                            },
                        ],
                    },
                    {
                        "thumbnailImageUrl": f"https://cdn.example.com/p/{sku3}.jpg",
                        "title": item3,
                        "text": f"Member since {joined}, thanks {name}",
                        "actions": [
                            view(sku3),
                            save(sku3, f"&coupon={coupon}" if coupon else ""),
                            {
                                "type": "MESSAGE",
                                "label": f"Like {sku3}",
                                "text": f"Show me items like {item3}",
                            },
                        ],
                    },
                ],
            },
        },
    }


@dataclass(frozen=True)
class Shape:
    name: str
    yaml: str
    floor_body: Callable[[Sequence[str]], dict[str, Any]]


SHAPES = (Shape("TEXT", TEXT_YAML, text_body), Shape("CAROUSEL", CAROUSEL_YAML, carousel_body))

# --------------------------------------------------------------------------- #
# Recipient data

# Names: at most 12 + 1 + 8 + 2 graphemes, which keeps every carousel text <= 60.
FIRST = (
    "Yuki", "太郎", "さくら", "Jose\u0301", "Zoë", "Søren", "Nguyễn", "สมชาย", "민준", "Олег",
    "محمد", "Chloé", "François", "Łukasz", 'Robert "Bob"', "O'Neil", "Siobhán", "美咲",
    "Małgorzata", "Aroha", "Ana", "Ingrid", "Ahmet", "Priya",
)  # fmt: skip
LAST = (
    "Tanaka", "山田", "佐藤", "García", "Müller", "Øster", "Trần", "ใจดี", "김", "Иванов",
    "العلي", "Dubois", "Kowalski", "Nørgaard", "Smith", "O'Brien", "Wójcik", "Ngata", "Şahin",
)  # fmt: skip
EMOJI = ("", "", "", "", "", " 🌸", " 👍🏽", " 👨‍👩‍👧")
CITIES = (
    "Tokyo", "大阪", "Chiyoda, Tokyo", "São Paulo", "กรุงเทพฯ", "Zürich", "서울", "Düsseldorf",
    "Reykjavík", "Москва", "القاهرة", "台北", "Kraków", "İstanbul", "München, DE",
)  # fmt: skip
ITEMS = (
    "抹茶ギフトセット", "Yuzu Hand Cream 柚子ハンドクリーム", "Crème brûlée kit",
    "ชาไทย Thai Tea 250 g", "🍵 Sencha, first flush", "Kimchi 김치 500 g", "Hōjicha Latte Mix",
    "Café de Olla — 1 kg", "Pão de queijo ×12", "Lebkuchen „Nürnberger“", "Борщ set",
    "Baklava بقلاوة box", 'Matcha "Premium" tin', "Wagashi assortment (12)",
)  # fmt: skip
SKU_PREFIXES = ("MT", "YZ", "CB", "TT", "SN", "KC", "HJ", "CO")
TIERS = ("gold", "silver", "platinum", "", "")
COUPONS = ("", "", "", "spring24", "vip10", "welcome", "line5")
ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
EPOCH = dt.date(2015, 1, 1)


def generate_rows(seed: int = SEED) -> Iterator[list[str]]:
    """Endless recipient rows, deterministic for a seed; the first rows cycle the name pools."""
    rng = random.Random(seed)
    for i in range(sys.maxsize):
        first = FIRST[i] if i < len(FIRST) else rng.choice(FIRST)
        last = LAST[i % len(LAST)] if i < len(FIRST) else rng.choice(LAST)
        sep = "" if first[0] >= "\u3000" and last[0] >= "\u3000" else " "
        code = "".join(rng.choices(ALNUM, k=3)) + "-" + "".join(rng.choices(ALNUM, k=4))
        skus = [f"{rng.choice(SKU_PREFIXES)}-{rng.randrange(10_000):04d}" for _ in range(3)]
        items = rng.sample(ITEMS, 3)
        yield [
            f"U{rng.getrandbits(128):032x}",
            first + sep + last + rng.choice(EMOJI),
            f"user{i}.{rng.randrange(1000)}@example.com",
            code,
            rng.choice(TIERS),
            CITIES[i % len(CITIES)] if i < len(CITIES) else rng.choice(CITIES),
            str(rng.randrange(100_000)),
            rng.choice(COUPONS),
            (EPOCH + dt.timedelta(days=rng.randrange(3650))).isoformat(),
            skus[0],
            items[0],
            skus[1],
            items[1],
            skus[2],
            items[2],
        ]


def write_csvs(folder: Path, sizes: Sequence[int], seed: int = SEED) -> dict[int, Path]:
    """One CSV per size, each a prefix of the same row stream: {rows: path}."""
    paths = {n: folder / f"recipients-{n}.csv" for n in sorted(set(sizes))}
    with ExitStack() as stack:
        writers = []
        for n, path in paths.items():
            writer = csv.writer(stack.enter_context(open(path, "w", encoding="utf-8", newline="")))
            writer.writerow(COLUMNS)
            writers.append((n, writer))
        for i, row in enumerate(islice(generate_rows(seed), max(paths))):
            for n, writer in writers:
                if i < n:
                    writer.writerow(row)
    return paths


def write_definitions(folder: Path) -> dict[str, Path]:
    """The shapes' YAML files: {shape name: path}."""
    paths = {}
    for shape in SHAPES:
        path = folder / f"{shape.name.lower()}.yaml"
        path.write_text(shape.yaml, encoding="utf-8")
        paths[shape.name] = path
    return paths


# --------------------------------------------------------------------------- #
# The designs. Each takes the shape and its definition file, does its set-up
# (untimed), and returns `run(data, out) -> rows written`, which is timed.

#: Writes `out` from `data`; returns the rows written, or None: count out's lines (untimed).
Run = Callable[[Path, Path], int | None]


def sandbox(**options: Any) -> ImmutableSandboxedEnvironment:
    """Jinja as linepress configures it: sandboxed, strict, no autoescape."""
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, **options
    )


def yaml_quoted(value: Any) -> str:
    """A value spliced into a double-quoted YAML scalar: JSON string escapes are YAML's.

    Without this, (a) breaks on a name holding `"` (and the data could inject YAML).
    """
    return json.dumps(str(value), ensure_ascii=False)[1:-1]


def dumps(body: Any) -> str:
    """json.dumps as compact as orjson's output."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def checked(validator: BodyValidator, body: Any, row: int) -> Any:
    issues = validator.issues(body)
    if issues:
        raise RuntimeError(f"row {row}: {issues[0]}")
    return body


def design_naive(shape: Shape, definition: Path) -> Run:
    """(a) Per recipient: render the YAML text, parse it, validate, json.dumps."""
    template = sandbox(finalize=yaml_quoted).from_string(definition.read_text(encoding="utf-8"))
    yaml = YAML(typ="safe")
    validator = BodyValidator()

    def run(data: Path, out: Path) -> int:
        n = 0
        with (
            open(data, encoding="utf-8", newline="") as f,
            open(out, "w", encoding="utf-8", buffering=BUFFER) as o,
        ):
            for n, fields in enumerate(csv.DictReader(f), 1):
                document = yaml.load(template.render(fields))
                body = {key: document[key] for key in ("from", "to", "message")}
                o.write(dumps(checked(validator, body, n)) + "\n")
        return n

    return run


def design_obvious(shape: Shape, definition: Path) -> Run:
    """(b) YAML parsed once, a compiled template per string leaf, fresh dict, validate, json.dumps."""
    env = sandbox()
    document = YAML(typ="safe").load(definition.read_text(encoding="utf-8"))
    tree = compile_leaves(env, {key: document[key] for key in ("from", "to", "message")})
    validator = BodyValidator()

    def run(data: Path, out: Path) -> int:
        n = 0
        with (
            open(data, encoding="utf-8", newline="") as f,
            open(out, "w", encoding="utf-8", buffering=BUFFER) as o,
        ):
            for n, fields in enumerate(csv.DictReader(f), 1):
                o.write(dumps(checked(validator, build(tree, fields), n)) + "\n")
        return n

    return run


def compile_leaves(env: ImmutableSandboxedEnvironment, value: Any) -> Any:
    """The tree with every string that uses Jinja replaced by its compiled template."""
    if isinstance(value, dict):
        return {key: compile_leaves(env, child) for key, child in value.items()}
    if isinstance(value, list):
        return [compile_leaves(env, child) for child in value]
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return env.from_string(value)
    return value


def build(tree: Any, fields: dict[str, str]) -> Any:
    """A fresh body: templates rendered, everything else copied."""
    if isinstance(tree, dict):
        return {key: build(child, fields) for key, child in tree.items()}
    if isinstance(tree, list):
        return [build(child, fields) for child in tree]
    if isinstance(tree, Template):
        return tree.render(fields)
    return tree


def design_library(shape: Shape, definition: Path) -> Run:
    """(c) linepress in process: Compiler.compile_records(open_records(csv)), result.json()."""
    compiler = Compiler(definition)

    def run(data: Path, out: Path) -> int:
        n = 0
        with open_records(data) as records, open(out, "wb", buffering=BUFFER) as o:
            for result in compiler.compile_records(records):
                if not result.ok:
                    raise RuntimeError(f"row {result.row}: {result.problems[0].format()}")
                o.write(result.json() + b"\n")
                n += 1
        return n

    return run


def design_floor(shape: Shape, definition: Path) -> Run:
    """(e) csv.reader, the body by plain substitution, orjson: no Jinja, no validation."""
    body = shape.floor_body
    option = orjson.OPT_APPEND_NEWLINE

    def run(data: Path, out: Path) -> int:
        n = 0
        with open(data, encoding="utf-8", newline="") as f, open(out, "wb", buffering=BUFFER) as o:
            reader = csv.reader(f)
            next(reader)
            write, encode = o.write, orjson.dumps
            for row in reader:
                write(encode(body(row), option=option))
                n += 1
        return n

    return run


IN_PROCESS: dict[str, Callable[[Shape, Path], Run]] = {
    "a": design_naive,
    "b": design_obvious,
    "c": design_library,
    "e": design_floor,
}


@dataclass
class ChildRun:
    seconds: float
    max_rss_mb: float
    returncode: int
    stderr: str


def linepress_command() -> list[str]:
    """The `linepress` script next to this interpreter, else on PATH, else `python -m linepress`."""
    script = Path(sys.executable).with_name("linepress")
    if script.exists():
        return [str(script)]
    found = shutil.which("linepress")
    return [found] if found else [sys.executable, "-m", "linepress"]


def run_command(
    definition: Path, data: Path, out: Path, env: dict[str, str] | None = None
) -> ChildRun:
    """(d) `linepress compile` as a child process: wall time (and wait4's ru_maxrss).

    The ru_maxrss is no measure of the child: Linux carries this process's
    high-water mark into a child started by vfork+exec, so it is floored at this
    process's peak. Peak memory comes from `own_peak` (the child's VmHWM).
    """
    argv = [
        *linepress_command(),
        "compile",
        str(definition),
        "--data",
        str(data),
        "--out",
        str(out),
    ]
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)  # this child's rusage, not all children's
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return ChildRun(seconds, usage.ru_maxrss * unit / 1e6, child.returncode, stderr)


def design_command(shape: Shape, definition: Path) -> Run:
    """(d) as a `Run`, failing on a non-zero exit."""

    def run(data: Path, out: Path) -> None:
        child = run_command(definition, data, out)
        if child.returncode:
            raise RuntimeError(f"linepress exited {child.returncode}: {child.stderr[-2000:]}")

    return run


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(BUFFER), b""))


# --------------------------------------------------------------------------- #
# Cross-check: the designs must produce the same bodies


def cross_check(
    folder: Path, rows: int = 40, seed: int = SEED, command: bool = True
) -> dict[str, dict[str, list[Any]]]:
    """Every design's bodies for the first `rows` rows, parsed: {shape: {design: [body]}}."""
    folder.mkdir(parents=True, exist_ok=True)
    definitions = write_definitions(folder)
    data = write_csvs(folder, [rows], seed)[rows]
    designs = dict(IN_PROCESS)
    if command:
        designs["d"] = design_command
    bodies: dict[str, dict[str, list[Any]]] = {}
    for shape in SHAPES:
        bodies[shape.name] = {}
        for key, design in sorted(designs.items()):
            out = folder / f"check-{shape.name.lower()}-{key}.jsonl"
            design(shape, definitions[shape.name])(data, out)
            with open(out, "rb") as f:
                bodies[shape.name][key] = [orjson.loads(line) for line in f]
    return bodies


def disagreements(bodies: dict[str, dict[str, list[Any]]]) -> list[str]:
    """What differs from (c)'s bodies, as readable lines; empty when all agree."""
    problems = []
    for shape, by_design in bodies.items():
        reference = by_design["c"]
        for key, found in by_design.items():
            if len(found) != len(reference):
                problems.append(f"{shape} ({key}): {len(found)} bodies, (c) has {len(reference)}")
                continue
            for row, (mine, theirs) in enumerate(zip(found, reference, strict=True), 1):
                if mine != theirs:
                    problems.append(f"{shape} ({key}) row {row}: {mine!r} != (c) {theirs!r}")
                    break
    return problems


# --------------------------------------------------------------------------- #
# Measuring


@dataclass
class Measure:
    rows: int = 0
    seconds: float = 0.0
    runs: int = 0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float | None:
        return self.rows / self.seconds if self.rows and self.seconds and not self.error else None


def best_of(run: Run, data: Path, out: Path, repeat: int, budget: float) -> Measure:
    """The fastest of up to `repeat` runs; no more repeats once `budget` seconds are spent."""
    measure = Measure(seconds=float("inf"))
    spent = 0.0
    try:
        while measure.runs < repeat and (measure.runs == 0 or spent + measure.seconds <= budget):
            start = time.perf_counter()
            rows = run(data, out)
            seconds = time.perf_counter() - start
            spent += seconds
            measure.runs += 1
            measure.rows = count_lines(out) if rows is None else rows
            measure.seconds = min(measure.seconds, seconds)
    except Exception as exc:
        measure.error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    return measure


def startup(definition: Path, data: Path, out: Path, repeat: int = 3) -> tuple[float, float]:
    """Wall time of `linepress compile` on a 1-row file: start-up and set-up.

    (first, best): the first run with an empty verdict cache (the definition's
    schema verdict is proven and remembered, see compiler/linepress/validate/verdicts.py), and the
    best of `repeat` runs after it.
    """
    with tempfile.TemporaryDirectory(prefix="linepress-verdicts-") as fresh:
        env = {**os.environ, "LINEPRESS_CACHE_DIR": fresh}
        first = run_command(definition, data, out, env).seconds
        best = min(run_command(definition, data, out, env).seconds for _ in range(repeat))
    return first, best


def memory(definition: Path, data: Path, out: Path) -> ChildRun:
    """`linepress compile` once in a fresh interpreter, for its own peak RSS; the output is deleted.

    Its VmHWM, not wait4's ru_maxrss, which is floored at this process's peak (see
    `run_command`): the run of 2026-11-27 printed 39.8 MB at 10k and at 1M rows, this
    process's figure, not linepress's.
    """
    try:
        return own_peak(
            LINEPRESS_MAIN, "compile", str(definition), "--data", str(data), "--out", str(out)
        )
    finally:
        out.unlink(missing_ok=True)


# --------------------------------------------------------------------------- #
# Reporting


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "linepress_source": code_fingerprint(),
        "bytecode": bytecode_state(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(
                line.split(":", 1)[1].strip() for line in f if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    head = git("rev-parse", "--short", "HEAD")
    if head:
        changed = len(git("status", "--porcelain", "compiler").splitlines())
        info["git"] = head + (f" + {changed} changed file(s) under compiler/" if changed else "")
    return info


def bytecode_state() -> str:
    """Whether linepress's modules load from compiled bytecode, as after `pip install`.

    An editable install under PYTHONDONTWRITEBYTECODE=1 compiles every module on every
    start (about 50 ms here): (d)'s start-up then says more about the set-up than about
    linepress. `python -m compileall compiler` writes the bytecode once.
    """
    import importlib.util

    sources = sorted(Path(linepress.__file__).parent.rglob("*.py"))
    stale = [
        p.name
        for p in sources
        if not (cached := Path(importlib.util.cache_from_source(str(p)))).exists()
        or cached.stat().st_mtime < p.stat().st_mtime
    ]
    if not stale:
        return "cached (as a regular install has it)"
    return (
        f"missing or stale for {len(stale)} of {len(sources)} modules: start-up includes "
        "compiling them (python -m compileall compiler)"
    )


def code_fingerprint() -> str:
    """A hash of linepress's source files: the code (d) runs is whatever is on disk then."""
    digest = hashlib.sha256()
    for path in sorted(Path(linepress.__file__).parent.rglob("*.py")):
        digest.update(
            str(path.relative_to(Path(linepress.__file__).parent)).encode() + path.read_bytes()
        )
    return digest.hexdigest()[:12]


def git(*args: str) -> str:
    """A git command's output in this repository, or "" if git cannot say."""
    repo = Path(__file__).resolve().parents[1]
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def fmt_rate(m: Measure | None) -> str:
    if m is None:
        return "-"
    if m.error:
        return "FAILED"
    return f"{m.rate:,.0f}" if m.rate else "-"


def ratio(results: dict[str, Measure], num: str, den: str) -> float | None:
    a, b = results.get(num), results.get(den)
    if a is None or b is None or a.rate is None or b.rate is None:
        return None
    return a.rate / b.rate


def print_table(
    results: dict[str, dict[str, Measure]], startups: dict[str, tuple[float, float]]
) -> list[dict[str, Any]]:
    head = f"{'shape':<9}" + "".join(f"{DESIGN_NAMES[k]:>13}" for k in DESIGNS)
    head += "".join(f" {name:>8}" for name in ("c/b", "d/b", "d/e"))
    print("\nrecipients per second; ratios of those rates")
    print(head)
    for shape, res in results.items():
        line = f"{shape:<9}" + "".join(f"{fmt_rate(res.get(k)):>13}" for k in DESIGNS)
        for num, den in (("c", "b"), ("d", "b"), ("d", "e")):
            r = ratio(res, num, den)
            line += f" {'-' if r is None else f'{r:.3g}':>8}"
        print(line)
    for shape, res in results.items():
        sizes = ", ".join(f"{k} {m.rows:,} x{m.runs}" for k, m in res.items() if m.rows)
        print(f"  {shape} rows x runs: {sizes}")
    for shape, res in results.items():
        d = res.get("d")
        if d is not None and d.rate and shape in startups:
            first, best = startups[shape]
            net = d.rows / max(d.seconds - best, 1e-9)
            print(
                f"  {shape} (d) start-up {best:.2f} s (1-row run; {first:.2f} s the first time, "
                f"before the schema verdict is remembered); without it {net:,.0f} rows/s"
            )
    print("\ntargets")
    verdicts = []
    for shape, num, den, goal in TARGETS:
        r = ratio(results.get(shape, {}), num, den)
        verdict = "unknown" if r is None else "met" if r >= goal else "not met"
        shown = "-" if r is None else f"{r:.3g}"
        print(f"  {shape:<9} ({num})/({den}) >= {goal:g}: {shown:>7}  {verdict}")
        verdicts.append(
            {"shape": shape, "ratio": f"{num}/{den}", "goal": goal, "value": r, "verdict": verdict}
        )
    return verdicts


# --------------------------------------------------------------------------- #
# Main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--rows", type=int, default=100_000, help="rows for (c), (d), (e) (default 100,000)"
    )
    p.add_argument("--naive-rows", type=int, default=2_000, help="rows for (a) (default 2,000)")
    p.add_argument("--obvious-rows", type=int, default=10_000, help="rows for (b) (default 10,000)")
    p.add_argument(
        "--big-rows", type=int, default=1_000_000, help="rows of the memory run (default 1,000,000)"
    )
    p.add_argument("--skip-big", action="store_true", help="no memory run")
    p.add_argument(
        "--big-budget",
        type=float,
        default=300.0,
        help="run CAROUSEL at --big-rows only if (d) predicts at most this many seconds (default 300)",
    )
    p.add_argument("--repeat", type=int, default=3, help="best of N for every design (default 3)")
    p.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="no more repeats once a design has taken this many seconds (default 60)",
    )
    p.add_argument(
        "--check-rows", type=int, default=40, help="rows compared across designs (default 40)"
    )
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--tiny", action="store_true", help="a few hundred rows and no memory run (CI)")
    p.add_argument(
        "--lists-only",
        action="store_true",
        help="only TEXT's (d) on CSV, its memory runs and the .xlsx phase (the list readers)",
    )
    p.add_argument(
        "--check", action="store_true", help="only compare the designs' bodies, then exit"
    )
    p.add_argument(
        "--key-forms",
        type=int,
        metavar="ROWS",
        help="only compare `linepress compile` on ROWS rows whose `to` is U + 32 hex with the "
        "same rows keyed by phones with dashes (090-1234-5678), a form it does not know",
    )
    p.add_argument("--json", metavar="FILE", type=Path, help="also write the results as JSON")
    p.add_argument(
        "--keep", action="store_true", help="keep the generated files (the folder is printed)"
    )
    args = p.parse_args(argv)
    if args.tiny:
        args.rows, args.naive_rows, args.obvious_rows = 300, 40, 200
        args.skip_big, args.repeat, args.budget, args.check_rows = True, 1, 5.0, 20
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine()
    print("linepress compile benchmark")
    for key, value in info.items():
        print(f"  {key}: {value}")
    folder = Path(tempfile.mkdtemp(prefix="linepress-bench-"))
    # Remembered schema verdicts (compiler/linepress/validate/verdicts.py) live in the run's own folder:
    # every run starts from none, whatever this machine's cache holds.
    os.environ["LINEPRESS_CACHE_DIR"] = str(folder / "verdicts")
    failed = False
    try:
        start = time.perf_counter()
        try:
            mismatches = disagreements(cross_check(folder / "check", args.check_rows, args.seed))
        except Exception as exc:  # a design that crashes: say so, still time the others
            traceback.print_exc()
            mismatches = [f"a design failed: {type(exc).__name__}: {exc}"]
        print(
            f"\ncross-check (a)-(e) on the first {args.check_rows} rows: "
            + ("identical bodies" if not mismatches else "DIFFERENT bodies")
            + f" ({time.perf_counter() - start:.1f} s)"
        )
        for line in mismatches:
            print("  " + line[:400])
        failed = bool(mismatches)
        if args.check:
            return 1 if failed else 0
        if args.key_forms:
            return key_forms(folder, args.key_forms, args.repeat, args.seed)
        report = benchmark(args, folder, info)
        report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        print(
            f"\nload average after the run: {report['load_average_after']} on {os.cpu_count()} CPUs"
        )
        report["linepress_source_after"] = code_fingerprint()
        if report["linepress_source_after"] != info["linepress_source"]:
            print(
                "WARNING: linepress's source changed during the run; the numbers mix versions"
                " (in process: the start's; each linepress command: what was on disk then)"
            )
        failed = failed or report["failed"]
        report["cross_check"] = mismatches or "identical"
        if args.json:
            args.json.write_text(
                json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            print(f"\nwrote {args.json}")
    finally:
        if args.keep:
            print(f"files kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 1 if failed else 0


def key_forms(folder: Path, rows: int, repeat: int, seed: int) -> int:
    """TEXT's (d) on `rows` rows keyed by U + 32 hex, then on the same rows keyed by dashed
    phones (a form of no known kind: one warning, every body written), alternating, best
    of `repeat` each; prints rows/s and the ratio. Exit 1 if a run fails or differs."""
    definition = write_definitions(folder)["TEXT"]
    paths = {"U + 32 hex": folder / "keys-hex.csv", "090-1234-5678": folder / "keys-dashed.csv"}
    with (
        open(paths["U + 32 hex"], "w", encoding="utf-8", newline="") as hexed,
        open(paths["090-1234-5678"], "w", encoding="utf-8", newline="") as dashed,
    ):
        writers = csv.writer(hexed), csv.writer(dashed)
        for writer in writers:
            writer.writerow(COLUMNS)
        for i, row in enumerate(islice(generate_rows(seed), rows)):
            writers[0].writerow(row)
            writers[1].writerow([f"090-{i // 10_000 % 10_000:04d}-{i % 10_000:04d}", *row[1:]])
    best: dict[str, float] = {}
    for _ in range(max(repeat, 1)):
        for label, data in paths.items():
            child = run_command(definition, data, folder / "keys-out.jsonl")
            written = count_lines(folder / "keys-out.jsonl")
            if child.returncode or written != rows:
                print(
                    f"{label}: exit {child.returncode}, {written:,} bodies: {child.stderr[-800:]}"
                )
                return 1
            best[label] = min(best.get(label, math.inf), child.seconds)
    print(f"\n`linepress compile` TEXT, {rows:,} rows, best of {max(repeat, 1)}:")
    for label, seconds in best.items():
        print(f"  to = {label:<14} {rows / seconds:>10,.0f} rows/s  ({seconds:.2f} s)")
    hexed_rate, dashed_rate = (rows / best[label] for label in paths)
    print(f"  ratio dashed / hex: {dashed_rate / hexed_rate:.2f}")
    return 0


def benchmark(args: argparse.Namespace, folder: Path, info: dict[str, Any]) -> dict[str, Any]:
    """Generate the data, time every design on every shape, then the memory runs."""
    definitions = write_definitions(folder)
    big = [] if args.skip_big else [MEMORY_SMALL_ROWS, args.big_rows]
    start = time.perf_counter()
    data = write_csvs(folder, [1, args.naive_rows, args.obvious_rows, args.rows, *big], args.seed)
    print(
        f"\ngenerated {max(data):,} rows of 15 columns in {time.perf_counter() - start:.1f} s "
        f"({data[max(data)].stat().st_size / 1e6:,.0f} MB at the largest)"
    )

    sizes = {
        "a": args.naive_rows,
        "b": args.obvious_rows,
        "c": args.rows,
        "d": args.rows,
        "e": args.rows,
    }
    results: dict[str, dict[str, Measure]] = {}
    startups: dict[str, tuple[float, float]] = {}
    for shape in SHAPES[:1] if args.lists_only else SHAPES:
        definition = definitions[shape.name]
        results[shape.name] = res = {}
        for key in ("d",) if args.lists_only else DESIGNS:
            out = folder / f"out-{shape.name.lower()}-{key}.jsonl"
            # Every design gets the same best-of-N (within the time budget), so the
            # ratios compare like with like.
            repeat = args.repeat
            try:
                run = (design_command if key == "d" else IN_PROCESS[key])(shape, definition)
            except Exception as exc:
                res[key] = Measure(error=f"{type(exc).__name__}: {exc}")
                traceback.print_exc()
                continue
            res[key] = best_of(run, data[sizes[key]], out, repeat, args.budget)
            print(
                f"  {shape.name:<9} {DESIGN_NAMES[key]:<12} {fmt_rate(res[key]):>10} rows/s  "
                f"({res[key].rows:,} rows, best {res[key].seconds:.2f} s of {res[key].runs})",
                flush=True,
            )
        c_out, d_out = (folder / f"out-{shape.name.lower()}-{k}.jsonl" for k in "cd")
        if c_out.exists() and d_out.exists():
            same = filecmp.cmp(c_out, d_out, shallow=False)
            res["d"].extra["same_bytes_as_c"] = same
            print(
                f"  {shape.name:<9} (d) output {'byte-identical to' if same else 'DIFFERS from'} (c)'s"
            )
        startups[shape.name] = startup(definition, data[1], folder / "startup.jsonl", args.repeat)
        for out in folder.glob("out-*.jsonl"):
            out.unlink()

    verdicts = print_table(results, startups)
    memory_report = memory_runs(args, folder, definitions, data, results)
    xlsx_report = xlsx_runs(args, folder, definitions, data, results, memory_report)
    failed = any(m.error for res in results.values() for m in res.values()) or any(
        m["verdict"] == "FAILED" for m in memory_report
    )
    return {
        "machine": info,
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "results": {
            shape: {
                k: {
                    "rows": m.rows,
                    "seconds": m.seconds,
                    "runs": m.runs,
                    "rows_per_s": m.rate,
                    "error": m.error,
                    **m.extra,
                }
                for k, m in res.items()
            }
            for shape, res in results.items()
        },
        "startup_seconds": {shape: best for shape, (_, best) in startups.items()},
        "startup_first_seconds": {shape: first for shape, (first, _) in startups.items()},
        "targets": verdicts,
        "memory": memory_report,
        "xlsx": xlsx_report,
        "failed": failed or xlsx_report.get("failed", False),
    }


def memory_runs(
    args: argparse.Namespace,
    folder: Path,
    definitions: dict[str, Path],
    data: dict[int, Path],
    results: dict[str, dict[str, Measure]],
) -> list[dict[str, Any]]:
    """Peak RSS of `linepress compile` at 10k rows and at --big-rows, per shape (time allowing)."""
    print(
        f"\npeak memory of `linepress compile` (the child's own VmHWM), {MEMORY_SMALL_ROWS:,} vs {args.big_rows:,} rows"
    )
    if args.skip_big:
        print("  skipped (--skip-big or --tiny)")
        return []
    report = []
    for shape in SHAPES:
        if shape.name not in results:  # --lists-only
            continue
        d = results[shape.name].get("d")
        estimate = args.big_rows / d.rate if d is not None and d.rate else None
        if shape.name != "TEXT" and (estimate is None or estimate > args.big_budget):
            shown = "unknown" if estimate is None else f"{estimate:,.0f} s"
            print(
                f"  {shape.name:<9} skipped: (d) predicts {shown} > --big-budget {args.big_budget:g} s"
            )
            continue
        definition = definitions[shape.name]
        small = memory(definition, data[MEMORY_SMALL_ROWS], folder / "memory.jsonl")
        large = memory(definition, data[args.big_rows], folder / "memory.jsonl")
        growth = large.max_rss_mb - small.max_rss_mb
        ok = not small.returncode and not large.returncode
        verdict = ("met" if growth <= MEMORY_TARGET_MB else "not met") if ok else "FAILED"
        print(
            f"  {shape.name:<9} {small.max_rss_mb:6.1f} MB -> {large.max_rss_mb:6.1f} MB: +{growth:.1f} MB "
            f"(target <= {MEMORY_TARGET_MB:g} MB: {verdict}); {args.big_rows:,} rows in {large.seconds:.1f} s "
            f"= {args.big_rows / large.seconds:,.0f} rows/s"
        )
        if not ok:
            print("  " + (small.stderr or large.stderr)[-1000:])
        report.append(
            {
                "shape": shape.name,
                "small_rows": MEMORY_SMALL_ROWS,
                "big_rows": args.big_rows,
                "small_max_rss_mb": small.max_rss_mb,
                "big_max_rss_mb": large.max_rss_mb,
                "growth_mb": growth,
                "verdict": verdict,
                "big_seconds": large.seconds,
            }
        )
    return report


# --------------------------------------------------------------------------- #
# .xlsx lists

XLSX_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
XLSX_PARTS = {
    "[Content_Types].xml": (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        f'<workbook xmlns="{XLSX_NS}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
        '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
    ),
    "xl/styles.xml": (
        f'<styleSheet xmlns="{XLSX_NS}"><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="1"><fill><patternFill patternType="none"/></fill></fills><borders count="1"><border/></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs></styleSheet>'
    ),
}
XLSX_EPOCH = dt.date(1899, 12, 30)


def write_xlsx(path: Path, rows: int, seed: int = SEED) -> Path:
    """The first `rows` generated rows as a workbook the way Excel writes one.

    Shared strings, a `<dimension>`, `points` as a number and `joined` as a date
    cell; openpyxl's own writer takes minutes for a million rows, this seconds.
    """
    import zipfile
    from xml.sax.saxutils import escape

    from linepress.recipients.xlsx import column_letter

    letters = [column_letter(i) for i in range(len(COLUMNS))]
    strings: dict[str, int] = {}

    def text(ref: str, value: str) -> str:
        return f'<c r="{ref}" t="s"><v>{strings.setdefault(value, len(strings))}</v></c>'

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        for name, part in XLSX_PARTS.items():
            book.writestr(name, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + part)
        with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{XLSX_NS}">'
                f'<dimension ref="A1:{letters[-1]}{rows + 1}"/><sheetData>'.encode()
            )
            head = "".join(text(f"{c}1", name) for c, name in zip(letters, COLUMNS, strict=True))
            chunk = [f'<row r="1">{head}</row>']
            for r, row in enumerate(islice(generate_rows(seed), rows), 2):
                cells = []
                for i, (c, value) in enumerate(zip(letters, row, strict=True)):
                    if COLUMNS[i] == "points":
                        cells.append(f'<c r="{c}{r}"><v>{value}</v></c>')
                    elif COLUMNS[i] == "joined":
                        serial = (dt.date.fromisoformat(value) - XLSX_EPOCH).days
                        cells.append(f'<c r="{c}{r}" s="1"><v>{serial}</v></c>')
                    else:
                        cells.append(text(f"{c}{r}", value))
                chunk.append(f'<row r="{r}">{"".join(cells)}</row>')
                if len(chunk) >= 2000:
                    sheet.write("".join(chunk).encode())
                    chunk.clear()
            sheet.write(("".join(chunk) + "</sheetData></worksheet>").encode())
        with book.open("xl/sharedStrings.xml", "w", force_zip64=True) as table:
            table.write(
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{XLSX_NS}" '
                f'count="{len(strings)}" uniqueCount="{len(strings)}">'.encode()
            )
            batch = []
            for value in strings:
                space = ' xml:space="preserve"' if value != value.strip() else ""
                batch.append(f"<si><t{space}>{escape(value)}</t></si>")
                if len(batch) >= 5000:
                    table.write("".join(batch).encode())
                    batch.clear()
            table.write(("".join(batch) + "</sst>").encode())
    return path


#: Reports the process's own peak RSS (VmHWM) on stderr at exit. A child's
#: ru_maxrss from wait4 is floored at this (big) parent's: Linux carries the
#: high-water mark across the vfork+exec that starts it.
HWM = (
    "import atexit, sys\n"
    "def hwm():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM'):\n"
    "            sys.stderr.write('\\nVmHWM ' + line.split()[1] + '\\n')\n"
    "atexit.register(hwm)\n"
)

#: Reads every row of the first sheet of argv[1] and prints the count: {library: code}.
XLSX_READERS = {
    "openpyxl read-only": (
        "import sys, warnings; warnings.simplefilter('ignore'); import openpyxl\n"
        "book = openpyxl.load_workbook(sys.argv[1], read_only=True, data_only=True)\n"
        "print(sum(1 for _ in book.worksheets[0].iter_rows(values_only=True)))"
    ),
    "python-calamine": (
        "import sys; from python_calamine import CalamineWorkbook\n"
        "sheet = CalamineWorkbook.from_path(sys.argv[1]).get_sheet_by_index(0)\n"
        "print(sum(1 for _ in sheet.iter_rows()))"
    ),
    "linepress (openpyxl, strings on disk)": (
        "import sys; from linepress.recipients.records import open_records\n"
        "with open_records(sys.argv[1]) as src: print(sum(1 for _ in src.rows()))"
    ),
}
LINEPRESS_MAIN = "from linepress.cli.main import main; sys.argv[0] = 'linepress'; main()"


def own_peak(code: str, *args: str) -> ChildRun:
    """`python -c HWM+code args` as a child: wall time and its own peak RSS (VmHWM)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", HWM + code, *args], stdout=subprocess.DEVNULL, stderr=err
        )
        seconds = time.perf_counter() - start
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    marks = [line.split()[1] for line in stderr.splitlines() if line.startswith("VmHWM ")]
    peak = int(marks[-1]) / 1024 * 1.048576 if marks else float("nan")  # KiB -> MB
    return ChildRun(seconds, peak, done.returncode, stderr)


def xlsx_runs(
    args: argparse.Namespace,
    folder: Path,
    definitions: dict[str, Path],
    data: dict[int, Path],
    results: dict[str, dict[str, Measure]],
    csv_memory: list[dict[str, Any]],
) -> dict[str, Any]:
    """`linepress compile` on .xlsx beside CSV, its memory at 10k and --big-rows, the readers.

    The readers alone (openpyxl's read-only mode, python-calamine, linepress's) at
    10k, --rows and --big-rows. Every peak is the child's own VmHWM (see `own_peak`).
    """
    print("\n.xlsx lists (TEXT shape; the same rows, points as numbers, joined as dates)")
    report: dict[str, Any] = {"failed": False}
    definition = definitions["TEXT"]
    # Same bodies as from the CSV, for both shapes: cells come back as the CSV's text.
    check = write_xlsx(folder / "check.xlsx", args.check_rows, args.seed)
    for shape in SHAPES:
        from_csv = run_command(
            definitions[shape.name],
            data[args.naive_rows],
            folder / "check-csv.jsonl",
        )
        from_xlsx = run_command(definitions[shape.name], check, folder / "check-xlsx.jsonl")
        csv_lines = (folder / "check-csv.jsonl").read_bytes().splitlines()[: args.check_rows]
        xlsx_lines = (folder / "check-xlsx.jsonl").read_bytes().splitlines()
        same = not from_csv.returncode and not from_xlsx.returncode and csv_lines == xlsx_lines
        print(
            f"  {shape.name:<9} bodies from .xlsx {'identical to' if same else 'DIFFER from'} the CSV's"
        )
        report[f"same_bodies_{shape.name.lower()}"] = same
        report["failed"] = report["failed"] or not same
    start = time.perf_counter()
    book = write_xlsx(folder / f"recipients-{args.rows}.xlsx", args.rows, args.seed)
    print(
        f"  wrote {args.rows:,} rows in {time.perf_counter() - start:.1f} s ({book.stat().st_size / 1e6:.1f} MB)"
    )
    measure = best_of(
        design_command(SHAPES[0], definition),
        book,
        folder / "out-xlsx.jsonl",
        args.repeat,
        args.budget,
    )
    csv_d = results["TEXT"].get("d")
    print(
        f"  (d) command on .xlsx {fmt_rate(measure):>10} rows/s beside {fmt_rate(csv_d)} rows/s on CSV "
        f"({measure.rows:,} rows, best {measure.seconds:.2f} s of {measure.runs})"
    )
    report["xlsx_rows_per_s"] = measure.rate
    report["csv_rows_per_s"] = csv_d.rate if csv_d else None
    report["failed"] = report["failed"] or bool(measure.error)
    sizes = [MEMORY_SMALL_ROWS, args.big_rows] if not args.skip_big else [args.rows]
    reader_sizes = sorted({*sizes, args.rows})
    books = {args.rows: book}
    for n in reader_sizes:
        if n not in books:
            start = time.perf_counter()
            books[n] = write_xlsx(folder / f"recipients-{n}.xlsx", n, args.seed)
            print(
                f"  wrote {n:,} rows in {time.perf_counter() - start:.1f} s ({books[n].stat().st_size / 1e6:.1f} MB)"
            )
    report["memory"] = []
    for n in sizes:
        out = folder / "memory.jsonl"
        child = own_peak(
            LINEPRESS_MAIN, "compile", str(definition), "--data", str(books[n]), "--out", str(out)
        )
        out.unlink(missing_ok=True)
        print(
            f"  `linepress compile` {n:>9,} rows: peak RSS {child.max_rss_mb:6.1f} MB, {n / child.seconds:,.0f} rows/s"
        )
        report["memory"].append(
            {"rows": n, "max_rss_mb": child.max_rss_mb, "seconds": child.seconds}
        )
        report["failed"] = report["failed"] or bool(child.returncode)
    report["readers"] = []
    for library in XLSX_READERS:
        for n in reader_sizes:
            child = own_peak(XLSX_READERS[library], str(books[n]))
            if child.returncode:
                print(f"  {library:<37} not measured: {child.stderr.strip().splitlines()[-1:]}")
                break
            print(
                f"  {library:<37} {n:>9,} rows: {n / child.seconds:>9,.0f} rows/s, peak RSS {child.max_rss_mb:6.1f} MB"
            )
            report["readers"].append(
                {
                    "library": library,
                    "rows": n,
                    "rows_per_s": n / child.seconds,
                    "max_rss_mb": child.max_rss_mb,
                }
            )
    print_lists_table(report, csv_d, csv_memory, args.rows)
    return report


def print_lists_table(
    report: dict[str, Any], csv_d: Measure | None, csv_memory: list[dict[str, Any]], rows: int
) -> None:
    """CSV and .xlsx side by side: (d)'s rows/s at `rows`, peak RSS at 10k and --big-rows."""
    text = next((m for m in csv_memory if m["shape"] == "TEXT"), None)
    xlsx = {m["rows"]: m["max_rss_mb"] for m in report.get("memory", [])}
    print(f"\n  TEXT shape   rows/s ({rows:,} rows)   peak RSS by rows (own VmHWM)")
    csv_peaks = (
        f"{text['small_rows']:,}: {text['small_max_rss_mb']:.1f} MB, "
        f"{text['big_rows']:,}: {text['big_max_rss_mb']:.1f} MB"
        if text
        else "-"
    )
    print(f"  CSV     {fmt_rate(csv_d):>16}   {csv_peaks}")
    xlsx_peaks = ", ".join(f"{n:,}: {mb:.1f} MB" for n, mb in sorted(xlsx.items())) or "-"
    print(f"  .xlsx   {fmt_rate_value(report.get('xlsx_rows_per_s')):>16}   {xlsx_peaks}")


def fmt_rate_value(rate: float | None) -> str:
    return f"{rate:,.0f}" if rate else "-"


if __name__ == "__main__":
    sys.exit(main())
