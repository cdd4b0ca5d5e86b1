"""Provider stand-ins: one per provider module of the product, each speaking its provider's real wire format."""
