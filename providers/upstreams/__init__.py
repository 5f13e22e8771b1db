"""Upstream adapters: one module per provider type (URLs, auth, IO orchestration).

``factory.build_provider`` picks the adapter for a config's ``type``; ``base.HttpAdapter``
is what the HTTP adapters share; ``sse_stream.SseStream`` relays an upstream SSE response.
Wire shapes come from ``providers.dialects``, bytes travel through ``providers.transport``.
"""
