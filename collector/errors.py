"""The base of every error worth one clear line to a person (and exit status 2 from the CLI):
a bad setting, a damaged or mismatched keyring, a registry edit that cannot be done. Kept free of
imports so that the command line can catch it without loading the service."""

from __future__ import annotations


class UserError(Exception):
    """A failure the user can act on; its message says how, and never quotes a secret."""
