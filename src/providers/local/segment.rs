//! Salient-object / person segmentation with U^2-Net-family models (rembg-compatible).
