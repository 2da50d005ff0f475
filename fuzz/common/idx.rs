//! What every IDX array that loads must satisfy, for the IDX and MNIST targets.

use monograd_nn::data::idx::Idx;

/// Elements match the dimensions, every item is reachable, the magic number is the one
/// asked for (its rank, for images and labels).
#[allow(dead_code)] // not every target that includes this calls it
pub fn consistent(a: &Idx, magic: Option<u32>) {
    let numel = a.dims().iter().try_fold(1usize, |n, &d| n.checked_mul(d)).expect("dimensions that multiply");
    assert_eq!(a.data().len(), numel, "elements against dimensions {:?}", a.dims());
    if let Some(m) = magic {
        assert_eq!(a.magic(), m);
    }
    assert_eq!(a.magic() & 0xff, a.dims().len() as u32);
    if !a.dims().is_empty() {
        assert_eq!(a.len() * a.item_len(), numel);
        if !a.is_empty() {
            assert_eq!(a.item(a.len() - 1).len(), a.item_len());
        }
    }
}
