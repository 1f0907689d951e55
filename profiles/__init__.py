"""Audit profiles (TOML) and their JSON Schema; loading them arrives with profile support.

Until then every audit uses the built-in default: all checks enabled, any failure counts.
"""
