"""Fakes at one seam each: an OpenAI-compatible upstream and HTTP/SOCKS5 proxies."""
