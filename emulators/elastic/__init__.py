"""A local Elasticsearch stand-in: the REST subset the platform uses, spoken to the official client 8.x.

No real Elasticsearch can be installed on the development machines, so this package serves ES's JSON shapes
for what the platform and the consume proxy send: cluster info and ping, the shard limit, index templates,
indices with the template's field types, ``_bulk`` index actions, ``_search``/``_count``/``_delete_by_query``
with the query DSL in ``query.py``, sorting with ``search_after`` (``sorting.py``), ``_source`` filtering and the
aggregations in ``aggs.py``. Run it with ``python -m emulators.elastic --port 9200 --data PATH``; start it from
code or tests with ``emulators.elastic.launcher.start``.

Modules: ``server`` (HTTP) → ``routes`` (endpoints) → ``documents`` (bulk, get) and ``search`` (search, count,
delete by query; ``query``, ``sorting``, ``aggs``) → ``store`` (indices, templates, aliases, cluster settings,
journal replay) → ``indices`` (one index: docs, postings, columns), ``templates``, ``mapping``, ``dates``.

Limits, by design:
- Anything outside that subset (an unknown or unsupported field type, query, aggregation, parameter or
  endpoint) is refused with an ES-shaped 400 that names it, never answered approximately.
- Writes are visible to search at once (no refresh interval); ``refresh`` is accepted and changes nothing.
- One shard per index; scores are not BM25 (see ``query.py``), so sort explicitly where order matters.
- Documents are flat and every field is mapped: no objects, arrays of values or dynamic mapping.
- Durability is an append-only JSON-lines journal (``--data``), flushed before each write is answered and
  compacted at start; without ``--data`` everything lives in memory.
- ``/_standin/faults`` injects per-item 429s in bulk and 503s on requests (see ``faults.py``).
"""
