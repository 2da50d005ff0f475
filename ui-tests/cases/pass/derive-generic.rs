//! A module generic over its scalar runs on f32, f64 and dual numbers.
#![deny(warnings)]

use monograd::prelude::*;

#[derive(Clone, Module)]
struct Mlp<T: Scalar = f32> {
    fc1: Linear<4, 8, T>,
    fc2: Linear<8, 2, T>,
    scale: [T; 2],
}

/// The bound in a where clause works as well as inline; `PhantomData` holds nothing.
#[derive(Clone, Module)]
struct Wrapped<T, U>
where
    T: Scalar,
{
    inner: Mlp<T>,
    _tag: core::marker::PhantomData<U>,
}

#[derive(Clone)]
struct Tag;

fn params<T: Scalar, M: Module<T>>() -> usize {
    M::PARAMS
}

fn main() {
    assert_eq!(params::<f32, Mlp>(), 40 + 18 + 2);
    assert_eq!(params::<f64, Mlp<f64>>(), 60);
    assert_eq!(params::<Dual<f64, 2>, Wrapped<Dual<f64, 2>, Tag>>(), 60);
}
