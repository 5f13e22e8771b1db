"""Limits, quotas and budgets: a key's policy, prices and the cost of each exchange."""
