"""Images to vectors: decoding, encoders behind a registry, the vector index.

It may import ``kg.core`` only (never ``extract``, ``graph`` or the application layer)."""
