"""A local Elasticsearch stand-in: the REST subset the platform uses, spoken to the official client 8.x.

No real Elasticsearch can be installed on the development machines, so this package serves ES's JSON
shapes for: cluster info and ping, index templates, indices (settings, mappings, aliases, auto-create),
``_bulk`` and the single-document API, ``_search``/``_count``/``_delete_by_query`` with the query DSL
subset in ``query.py``, sorting with ``search_after``, ``_source`` filtering and the aggregations in
``aggs.py``. Run it with ``python -m emulators.elastic --port 9200 --data PATH``; start it from code or
tests with ``emulators.elastic.launcher.start``.

Limits, by design:
- Anything outside that subset (an unknown query, aggregation, parameter or endpoint) is refused with an
  ES-shaped 400 that names it, never answered approximately.
- Writes are visible to search at once (no refresh interval); ``refresh`` is accepted and changes nothing.
- One shard per index; scores are not BM25 (see ``query.py``), so sort explicitly where order matters.
- Dynamic mapping maps new string fields to ``keyword`` (ES: ``text`` + ``.keyword``); see ``mapping.py``.
- Durability is an append-only JSON-lines journal (``--data``), flushed before each write is answered and
  compacted at start; without ``--data`` everything lives in memory.
- ``/_standin/faults`` injects per-item 429s in bulk and 503s on requests (see ``faults.py``).
"""
