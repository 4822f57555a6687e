"""Models: loading, registry, batched runner, uncertainty, training (the only torch user)."""
