//! Tuple structs are visited by index; a unit struct is a module without parameters.
#![deny(warnings)]

use monograd::core::module::Path;
use monograd::prelude::*;

#[derive(Clone, Module)]
struct Pair(Linear<2, 1>, [f32; 3]);

#[derive(Clone, Module)]
struct Nothing;

fn main() {
    let pair = Pair(Linear::ZERO, [0.0; 3]);
    let mut names = Vec::new();
    pair.visit(&Path::ROOT, &mut |t| names.push(t.path.to_string()));
    assert_eq!(names, ["0.weight", "0.bias", "1"]);
    assert_eq!(<Nothing as Module<f32>>::PARAMS, 0);
    Nothing.visit(&Path::ROOT, &mut |_| unreachable!());
}
