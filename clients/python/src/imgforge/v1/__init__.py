"""Generated from proto/imgforge/v1 by scripts/check_clients.sh; never edited by hand."""
