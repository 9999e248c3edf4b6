"""Write each inline <script> of the HTML pages once (a backport of Sphinx 8.2.2's fix #13402).

Jupyter Book 1.x pins Sphinx 7, whose HTML builder registers an inline script (``add_js_file(None,
body=...)``) added after the builder was initialised twice: once as given (filename ``None``) and
once more from the registry with filename ``""``, which it does not recognise as the same script.
sphinx-thebe and sphinx-togglebutton add theirs at that point, so every page declared
``const THEBE_JS_URL`` twice and the browser logged "Uncaught SyntaxError: Identifier
'THEBE_JS_URL' has already been declared" (tests/book/test_browser.py reads the console). Sphinx 8.2.2
passes ``""`` on both paths; this extension does the same for the builder of this build.
"""

from __future__ import annotations

import sphinx


def _one_name_for_inline_scripts(app) -> None:
    builder = app.builder
    add = getattr(builder, "add_js_file", None)
    if add is None or getattr(add, "_inline_scripts_once", False):
        return

    def add_js_file(filename, **kwargs):
        return add(filename or "", **kwargs)

    add_js_file._inline_scripts_once = True
    builder.add_js_file = add_js_file


def setup(app):
    if sphinx.version_info[:3] < (8, 2, 2):
        # before the other extensions' builder-inited handlers add their inline scripts
        app.connect("builder-inited", _one_name_for_inline_scripts, priority=0)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
