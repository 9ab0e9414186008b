//! SVG rasterisation with no access to files or the network.
