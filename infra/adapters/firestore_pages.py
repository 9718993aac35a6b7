"""Listings on Firestore: pages in document-id order, which need only Firestore's automatic single-field indexes."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from google.cloud import firestore

from infra.domain.model import Page, PageRequest

T = TypeVar("T")


def id_ordered_page(db: firestore.Client, collection: str, query, page: PageRequest,
                    parse: Callable[[Any], T]) -> Page[T]:
    """One page of ``query`` (on ``collection``) in document-id order, after the document ``page.cursor``."""
    query = query.order_by("__name__")
    if page.cursor:
        query = query.start_after({"__name__": db.collection(collection).document(page.cursor)})
    snapshots = list(query.limit(page.limit + 1).stream())
    more = len(snapshots) > page.limit
    snapshots = snapshots[:page.limit]
    return Page([parse(s) for s in snapshots], snapshots[-1].id if more else None)
