"""emokd."""
