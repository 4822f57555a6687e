"""Review without Qt: the guided queue, accepting pre-labels, the reviewer's pins."""
