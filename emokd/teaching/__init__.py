"""What the book shares: chapter helpers, exercises and their checks, playgrounds."""
