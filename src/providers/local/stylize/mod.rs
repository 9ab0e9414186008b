//! Character stylisation presets (seed 000): default, cartoon, watercolor.
