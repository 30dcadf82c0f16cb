"""What matching's rules are fed from: the read model's tables (written by the event
reactions), the in-memory directory built from them, the sentence vectors and the model."""
