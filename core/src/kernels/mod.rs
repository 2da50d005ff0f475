//! Kernels: the loops every op and layer runs. None of them allocates.
//!
//! | module | what |
//! | --- | --- |
//! | [`gemm`] | matrix multiply: packed `f32`/`f64` kernel, generic loop for other scalars |

pub mod gemm;
