"""An .xlsx cell's number as a person sees it in Excel: its number format applied.

No well-kept Python library formats Excel number formats (openpyxl reads them but
never applies them), so this is a small, documented subset (README "Recipient
data"):

- General: 15 significant digits, as Excel keeps them (`1100.0000000000002` is
  1100), written out in full (`12345678901234567` is 12345678901234600, never 1.2E+16).
- Digit placeholders `0 # ?` with `.` decimals, `,` grouping (or, at the end,
  thousands scaling), `%`, literal text (`"kg"`, `\\-`, `$`, currency `[$€-407]`),
  literals between digits (`000-0000`, a Japanese postal code): `00000` shows 123 as
  `00123`, `0.0%` shows 0.125 as `12.5%`, `#,##0.00` 1234.5 as `1,234.50`. A second
  section is for negative numbers, a third for zero.
- Dates and times: a custom format by its tokens (`yyyy/mm/dd`, `d mmm yyyy`,
  `hh:mm`, `AM/PM`); Excel's built-in date formats, which Excel shows in the
  reader's locale (the short date, 14, and the East Asian ones), as ISO 8601
  (`2024-03-31`, `2024-03-31T09:30:00`, `09:30:00`); durations
  (`[h]:mm:ss`) as hours:minutes:seconds.
- Anything else (scientific `0.00E+00`, fractions `# ?/?`, conditions `[>100]`) is
  the General number.

A date serial Excel cannot show (negative, or past year 9999) raises `CellError`.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

#: Built-in date formats Excel shows in the reader's locale (14 and 22, marked * in
#: Excel's dialog; 27-36 and 50-58, the East Asian ones openpyxl does not list): ISO 8601.
_LOCALE_DATES = frozenset([14, 22, *range(27, 37), *range(50, 59)])

Format = Callable[[int | float], str]


class CellError(ValueError):
    """A cell whose value Excel itself cannot show (the message says why)."""


def general(value: int | float) -> str:
    """A number as Excel's General format shows it, but never in scientific notation."""
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = format(_decimal(value), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _decimal(value: int | float) -> Decimal:
    """The value to Excel's precision: 15 significant digits (no binary noise)."""
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(f"{value:.15g}")


class NumberFormats:
    """One formatter per cell style of a workbook, made when a style is first met."""

    def __init__(self, book: Any) -> None:
        self._styles = list(getattr(book, "_cell_styles", []))
        self._custom = list(getattr(book, "_number_formats", []))
        self._epoch = book.epoch
        self._made: dict[int, Format] = {}

    def text(self, value: int | float, style: int) -> str:
        """`value` (a numeric cell of style index `style`) as Excel shows it; CellError."""
        made = self._made.get(style)
        if made is None:
            made = self._made[style] = self._make(style)
        return made(value)

    def code(self, style: int) -> str:
        """The number format code of style index `style` ("General" when it has none)."""
        return self._code(self._format_id(style))

    def _format_id(self, style: int) -> int:
        if 0 <= style < len(self._styles):
            return int(self._styles[style].numFmtId)
        return 0

    def _code(self, fmt_id: int) -> str:
        from openpyxl.styles.numbers import BUILTIN_FORMATS, BUILTIN_FORMATS_MAX_SIZE

        if fmt_id < BUILTIN_FORMATS_MAX_SIZE:
            return str(BUILTIN_FORMATS.get(fmt_id, "General"))
        index = fmt_id - BUILTIN_FORMATS_MAX_SIZE
        return str(self._custom[index]) if index < len(self._custom) else "General"

    def _make(self, style: int) -> Format:
        from openpyxl.styles.numbers import is_date_format, is_timedelta_format

        fmt_id = self._format_id(style)
        if fmt_id in _LOCALE_DATES:
            return self._dates(_iso, False)
        code = self._code(fmt_id)
        if is_timedelta_format(code):
            return self._durations()
        if is_date_format(code):
            return self._dates(_date_format(code), False)
        return number_format(code)

    def _dates(self, show: Callable[[datetime.datetime], str], time_only: bool) -> Format:
        from openpyxl.utils.datetime import from_excel

        epoch = self._epoch

        def date(value: int | float) -> str:
            try:
                moment = from_excel(value, epoch)
            except (OverflowError, ValueError):
                moment = None
            if not isinstance(moment, datetime.datetime | datetime.time) or value < 0:
                raise CellError(
                    f"is formatted as a date but holds {general(value)}, a number no date "
                    "can be made of (Excel shows ######)"
                )
            if isinstance(moment, datetime.time):
                if time_only or show is not _iso:
                    moment = datetime.datetime.combine(datetime.date(1900, 1, 1), moment)
                else:
                    return moment.isoformat()
            if time_only:
                return moment.time().isoformat(timespec="seconds")
            return show(moment)

        return date

    def _durations(self) -> Format:
        def duration(value: int | float) -> str:
            seconds = round(abs(value) * 86400)
            hours, rest = divmod(seconds, 3600)
            sign = "-" if value < 0 else ""
            return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"

        return duration


def _iso(moment: datetime.datetime) -> str:
    if moment.time() == datetime.time(0):
        return moment.date().isoformat()
    return moment.isoformat(timespec="seconds")


# --------------------------------------------------------------------------- #
# Numbers

#: One piece of a format section: a quoted literal, an escaped character, a [...] code,
#: a padding/fill pair (`_)`, `* `), or one character.
_PIECE = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]|[_*].|.', re.DOTALL)


def _sections(code: str) -> list[list[str]]:
    sections: list[list[str]] = [[]]
    for piece in _PIECE.findall(code):
        if piece == ";":
            sections.append([])
        else:
            sections[-1].append(piece)
    return sections


def number_format(code: str) -> Format:
    """A formatter for the number format `code` (the subset in the module docstring)."""
    sections = _sections(code)
    if code in ("General", "@", "") or any(_unsupported(s) for s in sections[:3]):
        return general
    parsed = [_Section(s) for s in sections[:3]]

    def show(value: int | float) -> str:
        if value < 0 and len(parsed) > 1:
            return parsed[1].show(-_decimal(value), "")
        if value == 0 and len(parsed) > 2:
            return parsed[2].show(Decimal(0), "")
        number = _decimal(value)
        return parsed[0].show(abs(number), "-" if number < 0 else "")

    return show


def _unsupported(section: list[str]) -> bool:
    for piece in section:
        if piece in ("E", "e", "/", "@") or (piece.startswith("[") and piece[1:2] in "<>="):
            return True
    return False


class _Section:
    """One section of a number format, parsed: literal text around digit placeholders."""

    def __init__(self, pieces: list[str]) -> None:
        # Placeholders and what they mean, literals as the text they show.
        tokens: list[str] = []
        for piece in pieces:
            if piece[0] in "0#?.,%" and len(piece) == 1:
                tokens.append(piece)
            elif piece[0] in "_*":
                continue  # padding to another character's width, or a fill: no text
            elif piece.startswith("["):
                tokens.append("\0" + _bracket(piece))
            elif piece.startswith('"'):
                tokens.append("\0" + piece[1:-1])
            elif piece.startswith("\\"):
                tokens.append("\0" + piece[1:])
            else:
                tokens.append("\0" + piece)
        self.tokens = tokens
        digits = [i for i, t in enumerate(tokens) if t in ("0", "#", "?")]
        self.first = digits[0] if digits else len(tokens)
        self.last = digits[-1] if digits else -1
        self.percent = tokens.count("%")
        middle = tokens[self.first : self.last + 1]
        dot = middle.index(".") if "." in middle else len(middle)
        self.integer = [t for t in middle[:dot] if t != ","]
        self.fraction = [t for t in middle[dot + 1 :] if t in ("0", "#", "?")]
        self.dot = dot < len(middle)
        self.grouping = "," in middle[:dot]
        # Commas right after the last integer digit scale by 1,000 each (`0,` shows thousands).
        scaled = 0
        after = self.last + 1 if not self.dot else self.first + dot
        while after < len(tokens) and tokens[after] == ",":
            scaled += 1
            after += 1
        self.scale = scaled

    def show(self, number: Decimal, sign: str) -> str:
        if not self.integer and not self.fraction:  # only text (`"none"`), or nothing
            return sign + "".join(t[1:] if t[0] == "\0" else t for t in self.tokens)
        number = number * (100**self.percent) / (1000**self.scale)
        places = len(self.fraction)
        rounded = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        whole, _, part = format(rounded, "f").partition(".")
        part = part.ljust(places, "0")
        # Trailing zeros under `#` and `?` go (`?` pads with a space: no text); `0` keeps them.
        shown_part = list(part)
        for i in range(places - 1, -1, -1):
            if shown_part[i] != "0" or self.fraction[i] == "0":
                break
            shown_part[i] = ""
        if whole == "0" and "0" not in self.integer:
            whole = ""
        out = [sign]
        for token in self.tokens[: self.first]:
            out.append(self._text(token))
        out.append(self._integer(whole))
        if self.dot:
            out.append(".")
        out.append("".join(shown_part))
        for token in self.tokens[self.last + 1 :]:
            out.append(self._text(token))
        return "".join(out)

    def _integer(self, whole: str) -> str:
        """The integer digits into the placeholders (and any literals between them)."""
        middle = self.tokens[self.first : self.last + 1]
        if "." in middle:
            middle = middle[: middle.index(".")]
        minimum = self.integer.count("0")
        whole = whole.rjust(minimum, "0") if whole or minimum else whole
        if self.grouping:
            head = f"{int(whole):,}" if whole else ""
            return head
        if not any(t[0] == "\0" for t in middle):
            return whole
        # Literals between digit placeholders (`000-0000`): digits fill from the right.
        digits = list(whole)
        out: list[str] = []
        for token in reversed(middle):
            if token[0] == "\0":
                out.append(token[1:])
            elif token in ("0", "#", "?"):
                out.append(digits.pop() if digits else "0" if token == "0" else "")
        out.append("".join(digits))  # more digits than placeholders: all shown, in front
        return "".join(reversed(out))

    @staticmethod
    def _text(token: str) -> str:
        if token[0] == "\0":
            return token[1:]
        return "" if token == "," else token


def _bracket(piece: str) -> str:
    """`[$€-407]` -> `€`; `[Red]`, `[$-409]` -> ""."""
    inner = piece[1:-1]
    if inner.startswith("$"):
        return inner[1:].split("-", 1)[0]
    return ""


# --------------------------------------------------------------------------- #
# Dates

_DATE_TOKEN = re.compile(
    r'"[^"]*"|\\.|\[[^\]]*\]|_.|\*.|AM/PM|am/pm|A/P|a/p|yyyy|yy|e|'
    r"mmmmm|mmmm|mmm|mm|m|dddd|ddd|dd|d|hh|h|ss|s|\.0+|.",
    re.IGNORECASE | re.DOTALL,
)

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _date_format(code: str) -> Callable[[datetime.datetime], str]:
    """A formatter for the (first section of the) date format `code`."""
    tokens = [t for t in _DATE_TOKEN.findall(code.split(";")[0])]
    lowered = [t.lower() for t in tokens]
    twelve = any(t in ("am/pm", "a/p") for t in lowered)
    parts: list[Callable[[datetime.datetime], str]] = []
    for i, (token, low) in enumerate(zip(tokens, lowered, strict=True)):
        if low in ("m", "mm") and _is_minute(lowered, i):
            low = "min" + low
        parts.append(_date_part(token, low, twelve))

    def show(moment: datetime.datetime) -> str:
        return "".join(part(moment) for part in parts)

    return show


def _is_minute(tokens: list[str], i: int) -> bool:
    """`m`/`mm` is minutes right after an hour or right before seconds (literals skipped)."""
    kinds = ("h", "hh", "s", "ss", "m", "mm", "d", "dd", "yy", "yyyy", "mmm", "mmmm")
    before = next((t for t in reversed(tokens[:i]) if t in kinds), "")
    after = next((t for t in tokens[i + 1 :] if t in kinds), "")
    return before in ("h", "hh") or after in ("s", "ss")


def _date_part(token: str, low: str, twelve: bool) -> Callable[[datetime.datetime], str]:
    def hour(m: datetime.datetime) -> int:
        return (m.hour % 12 or 12) if twelve else m.hour

    table: dict[str, Callable[[datetime.datetime], str]] = {
        "yyyy": lambda m: f"{m.year:04d}",
        "e": lambda m: f"{m.year:04d}",
        "yy": lambda m: f"{m.year % 100:02d}",
        "mmmmm": lambda m: _MONTHS[m.month - 1][0],
        "mmmm": lambda m: _MONTHS[m.month - 1],
        "mmm": lambda m: _MONTHS[m.month - 1][:3],
        "mm": lambda m: f"{m.month:02d}",
        "m": lambda m: str(m.month),
        "dddd": lambda m: _DAYS[m.weekday()],
        "ddd": lambda m: _DAYS[m.weekday()][:3],
        "dd": lambda m: f"{m.day:02d}",
        "d": lambda m: str(m.day),
        "hh": lambda m: f"{hour(m):02d}",
        "h": lambda m: str(hour(m)),
        "minmm": lambda m: f"{m.minute:02d}",
        "minm": lambda m: str(m.minute),
        "ss": lambda m: f"{m.second:02d}",
        "s": lambda m: str(m.second),
        "am/pm": lambda m: "AM" if m.hour < 12 else "PM",
        "a/p": lambda m: "A" if m.hour < 12 else "P",
    }
    if low in table:
        return table[low]
    if low.startswith(".0"):
        places = len(low) - 1
        return lambda m: "." + f"{m.microsecond:06d}"[:places]
    if token.startswith('"'):
        text = token[1:-1]
    elif token.startswith("\\"):
        text = token[1:]
    elif (token[0] in "_*" and len(token) == 2) or token.startswith("["):
        text = ""
    else:
        text = token
    return lambda m: text
