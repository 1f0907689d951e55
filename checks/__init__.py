"""Built-in checks: one module per check, found by walking this package."""
