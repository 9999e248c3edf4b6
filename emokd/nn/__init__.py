"""Networks: the TCN, frame CNNs (and the paper's IR-50), teacher and students, loading the shipped
face backbone, its cached embeddings, the losses."""
