//! The generated code names everything by absolute path: it compiles without the prelude,
//! beside user items that shadow what it uses, and with user traits that add methods of
//! the same names to arrays.
#![deny(warnings)]

#[allow(non_camel_case_types, dead_code)]
#[no_implicit_prelude]
mod user {
    type usize = u8;
    struct Path;
    struct Tensor;
    struct Kind;
    trait FnMut {}
    mod core {}
    mod monograd {}

    pub trait Hijack {
        fn iter(&self) -> ::core::option::Option<()> {
            ::core::option::Option::None
        }
        fn as_flattened(&self) {}
    }
    impl<T, const N: ::core::primitive::usize> Hijack for [T; N] {}

    macro_rules! layers {
        ($t:ty) => {
            #[derive(::core::clone::Clone, ::monograd::Module)]
            pub struct Net {
                pub blocks: [::monograd::nn::Linear<2, 2>; 3],
                pub weights: [[$t; 2]; 2],
                pub __p: [$t; 1],
                pub __f: [$t; 1],
            }
        };
    }
    layers!(f32);
}

fn main() {
    use monograd::core::module::Path;
    use monograd::prelude::*;
    let net = user::Net { blocks: [Linear::ZERO; 3], weights: [[0.0; 2]; 2], __p: [1.0], __f: [2.0] };
    let mut n = 0;
    net.visit(&Path::ROOT, &mut |_| n += 1);
    assert_eq!(n, 3 * 2 + 3);
    assert_eq!(<user::Net as Module<f32>>::PARAMS, 3 * 6 + 4 + 2);
}
