//! Placing a cut-out subject on a new background (change background, composite mode).
