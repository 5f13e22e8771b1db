"""The gateway request path: one :class:`Exchange` per request, one finished hook."""

from node.serve.exchange import Exchange
from node.serve.finished import Accounting, Finished, FinishedHook

__all__ = ["Accounting", "Exchange", "Finished", "FinishedHook"]
