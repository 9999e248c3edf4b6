"""What the book shares: chapter helpers, exercises and their checks, playgrounds."""

#: the layer's public modules, in reading order (each module's public names are those without a leading
#: underscore); ``from emokd.teaching import *`` imports them. tests/test_api.py checks this list against
#: the folder, the README's module map and emokd's docstring.
__all__ = ["book", "exercises", "playgrounds", "playgrounds_html", "scarce_labels"]
