"""Ticketsmith: Bedrock Agent action groups, a code knowledge base and Jira tickets without duplicates."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ticketsmith")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
