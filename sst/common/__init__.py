"""Shared leaf utilities (redaction, JSON logging, TOML configuration).

Every SST package may import ``sst.common``; ``sst.common`` imports no project package.
"""
