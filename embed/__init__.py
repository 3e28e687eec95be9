"""Images to vectors: decoding, encoders behind a registry, the vector index."""
