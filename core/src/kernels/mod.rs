//! Kernels: the loops every op and layer runs. None of them allocates.
//!
//! | module | what |
//! | --- | --- |
//! | [`gemm`] | matrix multiply: packed `f32`/`f64` kernel, generic loop for other scalars |
//! | [`im2col`] | 2-D convolution as a matrix product: `im2col`, its adjoint `col2im`, output sizes |
//! | [`tanh`] | `tanh` in `f32` without the C library: one value, or a slice in AVX-512/AVX2 |
//! | [`winograd`] | 3x3 convolutions of stride 1 as Winograd's F(2x2, 3x3): 16 products over transformed tiles |

pub mod gemm;
pub mod im2col;
pub mod tanh;
pub mod winograd;
