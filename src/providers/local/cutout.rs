//! Turning an image and its alpha into the remove-background outputs.
