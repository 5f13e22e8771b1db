"""The offline ``mock`` provider: the adapter (``adapter``) and its deterministic answers
(``text``)."""
