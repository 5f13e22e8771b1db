"""Vertex AI: the adapter (``adapter``) and the Google token that signs its requests
(``token``). Nothing is imported here, so google-auth loads only when Vertex is used."""
