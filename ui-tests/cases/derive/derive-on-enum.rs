use monograd::prelude::*;

#[derive(Clone, Module)]
enum Head {
    Small(Linear<4, 2>),
    Large(Linear<4, 8>),
}

fn main() {
    // The derive still emits an impl, so this line adds no error of its own.
    let _ = <Head as Module<f32>>::PARAMS;
}
