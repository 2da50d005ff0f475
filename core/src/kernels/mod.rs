//! Kernels: the loops every op and layer runs. None of them allocates.
//!
//! | module | what |
//! | --- | --- |
//! | [`gemm`] | matrix multiply: packed `f32`/`f64` kernel, generic loop for other scalars |
//! | [`im2col`] | 2-D convolution as a matrix product: `im2col`, its adjoint `col2im`, output sizes |

pub mod gemm;
pub mod im2col;
