//! Mask refinement: guided filter, alpha matting, foreground colour estimation.
