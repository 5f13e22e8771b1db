"""The lean HTTP/1.1 client the upstream adapters POST through.

It knows URLs, connections, proxies and timeouts, and nothing about LLMs: no dialect and
no adapter is imported here. ``ClientPool`` (``client``) is the entry point; ``connection``
parses responses; ``dial`` opens sockets and maps their failures to ``ProviderError``.
"""
