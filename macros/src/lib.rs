//! monograd-macros
