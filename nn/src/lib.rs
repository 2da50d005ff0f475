//! monograd-nn
#![no_std]
