"""Networks: the TCN, frame CNNs (and the paper's IR-50), teacher and students, loading the shipped
face backbone, its cached embeddings, the losses."""

#: the layer's public modules, in reading order (each module's public names are those without a leading
#: underscore); ``from emokd.nn import *`` imports them. tests/test_api.py checks this list against
#: the folder, the README's module map and emokd's docstring.
__all__ = ["models", "ir50", "backbone", "embeddings", "losses"]
