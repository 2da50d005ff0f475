//! Primitives: each op's forward and its vector-Jacobian product side by side.
