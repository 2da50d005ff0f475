//! LeNet-5's int8 twin, as `network!` generates it, with one entry point that runs its
//! integer forward pass. Linked for thumbv6m-none-eabi, where the compiler has no float
//! instructions and calls a routine (`__aeabi_fmul`, `__aeabi_dadd`, ...) for every float
//! operation: the linked program holding none of them proves the path float-free.
#![no_std]
#![no_main]

use monograd::prelude::*;

network! {
    #[quantize(LeNetI8)]
    pub struct LeNet {
        input: [1, 28, 28],
        conv1: Conv2d<1, 6, 5>,
        act1: ReLU,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<6, 16, 5>,
        act2: ReLU,
        pool2: MaxPool2d<2>,
        flat: Flatten,
        fc1: Linear<256, 120>,
        act3: ReLU,
        fc2: Linear<120, 84>,
        act4: ReLU,
        fc3: Linear<84, 10>,
    }
}

network! {
    /// The other integer kernels: depthwise and separable convolutions, average pooling, a
    /// standalone ReLU, Add, Concat, a one-dimensional convolution.
    #[quantize(ZooI8)]
    pub struct Zoo {
        input x: [2, 12, 12],
        conv: Conv2d<2, 4, 3>,
        act1: ReLU,
        dw: DepthwiseConv2d<4, 3, 1, 1>,
        sep: SeparableConv2d<4, 4, 3, 1, 1>,
        sum(act1, sep): Add,
        cat(sum, dw): Concat,
        avg: AvgPool2d<2, 1>,
        relu: ReLU,
        gap: GlobalAvgPool2d,
        head: Linear<8, 3>,
    }
}

network! {
    #[quantize(SeqI8)]
    pub struct Seq {
        input: [3, 16],
        c1: Conv1d<3, 5, 3, 1, 1>,
        a1: ReLU,
        flat: Flatten,
        fc: LinearNoBias<80, 6>,
    }
}

/// The entry point: every twin's integer forward on inputs the caller gives. Returns the
/// first output of each, summed, or -1 on an error.
///
/// # Safety
/// Each pointer must be valid for its type.
#[no_mangle]
pub unsafe extern "C" fn quant_forward(
    lenet: *const LeNetI8,
    lenet_state: *mut LeNetI8State,
    zoo: *const ZooI8,
    zoo_state: *mut ZooI8State,
    seq: *const SeqI8,
    seq_state: *mut SeqI8State,
    x: *const i8,
) -> i32 {
    // SAFETY: the caller's contract.
    let (lenet, ls, zoo, zs, seq, ss) =
        unsafe { (&*lenet, &mut *lenet_state, &*zoo, &mut *zoo_state, &*seq, &mut *seq_state) };
    // SAFETY: the caller's contract: 784 values.
    let x = unsafe { core::slice::from_raw_parts(x, 784) };
    let mut sum = 0i32;
    match lenet.forward(x, ls) {
        Ok(y) => sum += i32::from(y[0]),
        Err(_) => return -1,
    }
    match zoo.forward(&x[..288], zs) {
        Ok(y) => sum += i32::from(y[0]),
        Err(_) => return -1,
    }
    match seq.forward(&x[..48], ss) {
        Ok(y) => sum += i32::from(y[0]),
        Err(_) => return -1,
    }
    #[cfg(feature = "control-float")]
    {
        // SAFETY: as above.
        sum += (f32::from(x[0]) * lenet.input_params().scale) as i32;
    }
    sum
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
