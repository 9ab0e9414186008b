"""imgforge's Python client: `imgforge.v1` is generated from the protos, `imgforge.client` is
the small hand-written layer (request signing, image inputs, cover streaming)."""
