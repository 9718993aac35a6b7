"""Pages of a listing filtered after it is read: what a store cannot filter itself (a device's status, a command's
expiry), scanned a bounded number of pages per request.

A filtered page may hold fewer than ``limit`` items even though more follow: its ``next_cursor`` is then the last
item scanned, and the caller follows cursors until one is null, as with any listing.
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from infra.domain.model import Page, PageRequest

T = TypeVar("T")
U = TypeVar("U")

MAX_SCANNED_PAGES = 5  # pages of the underlying listing one request may read


def filtered_page(fetch: Callable[[PageRequest], Page[T]], select: Callable[[Sequence[T]], Sequence[U | None]],
                  page: PageRequest, key: Callable[[T], str], *, max_pages: int = MAX_SCANNED_PAGES) -> Page[U]:
    """Up to ``page.limit`` results of ``select`` (None drops an item) over pages of ``fetch``, from ``page.cursor``.

    ``select`` sees one fetched page at a time (so it may read what it needs in one batch); ``key`` gives the cursor
    of an item.
    """
    chosen: list[U] = []
    cursor = page.cursor
    for _ in range(max_pages):
        fetched = fetch(PageRequest(page.limit, cursor))
        for index, (item, result) in enumerate(zip(fetched.items, select(fetched.items), strict=True)):
            if result is not None:
                chosen.append(result)
            if len(chosen) == page.limit:
                more = index < len(fetched.items) - 1 or fetched.next_cursor is not None
                return Page(chosen, key(item) if more else None)
        if fetched.next_cursor is None:
            return Page(chosen, None)
        cursor = fetched.next_cursor
    return Page(chosen, cursor)
