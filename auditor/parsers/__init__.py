"""Pure parsers: text or bytes in, facts out; no host access."""
