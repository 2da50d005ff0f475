//! The parts of TFLite's FlatBuffers schema (`schema.fbs`, file identifier `TFL3`,
//! version 3) the writer uses: enum values and each table's field slots.
//!
//! A field's slot is its vtable offset, `4 + 2 * id`, where `id` counts the table's
//! fields in declaration order (a union takes two ids: its type, then its value).

/// The FlatBuffers vtable offset of the field with the given id.
const fn slot(id: u16) -> u16 {
    4 + 2 * id
}

/// The schema version the writer targets.
pub const VERSION: u32 = 3;
/// The file identifier.
pub const FILE_IDENTIFIER: &str = "TFL3";

/// `TensorType`.
pub mod tensor_type {
    pub const INT32: i8 = 2;
    pub const INT8: i8 = 9;
}

/// `Padding`.
pub mod padding {
    pub const SAME: i8 = 0;
    pub const VALID: i8 = 1;
}

/// `ActivationFunctionType`.
pub mod activation {
    pub const NONE: i8 = 0;
    pub const RELU: i8 = 1;
    pub const RELU6: i8 = 3;
}

/// `BuiltinOperator`.
pub mod op {
    pub const ADD: i32 = 0;
    pub const AVERAGE_POOL_2D: i32 = 1;
    pub const CONCATENATION: i32 = 2;
    pub const CONV_2D: i32 = 3;
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const MAX_POOL_2D: i32 = 17;
    pub const RELU: i32 = 19;
    pub const RELU6: i32 = 21;
    pub const RESHAPE: i32 = 22;
    pub const QUANTIZE: i32 = 114;
}

/// The `BuiltinOptions` union's type tags.
pub mod options {
    pub const NONE: u8 = 0;
    pub const CONV_2D: u8 = 1;
    pub const DEPTHWISE_CONV_2D: u8 = 2;
    pub const POOL_2D: u8 = 5;
    pub const FULLY_CONNECTED: u8 = 8;
    pub const CONCATENATION: u8 = 10;
    pub const ADD: u8 = 11;
    pub const RESHAPE: u8 = 17;
}

/// Field slots, one module per table.
pub mod model {
    use super::slot;
    pub const VERSION: u16 = slot(0);
    pub const OPERATOR_CODES: u16 = slot(1);
    pub const SUBGRAPHS: u16 = slot(2);
    pub const DESCRIPTION: u16 = slot(3);
    pub const BUFFERS: u16 = slot(4);
}

pub mod subgraph {
    use super::slot;
    pub const TENSORS: u16 = slot(0);
    pub const INPUTS: u16 = slot(1);
    pub const OUTPUTS: u16 = slot(2);
    pub const OPERATORS: u16 = slot(3);
    pub const NAME: u16 = slot(4);
}

pub mod tensor {
    use super::slot;
    pub const SHAPE: u16 = slot(0);
    pub const TYPE: u16 = slot(1);
    pub const BUFFER: u16 = slot(2);
    pub const NAME: u16 = slot(3);
    pub const QUANTIZATION: u16 = slot(4);
}

pub mod quantization {
    use super::slot;
    pub const SCALE: u16 = slot(2);
    pub const ZERO_POINT: u16 = slot(3);
    // slot(4) and slot(5): the `details` union.
    pub const QUANTIZED_DIMENSION: u16 = slot(6);
}

pub mod buffer {
    use super::slot;
    pub const DATA: u16 = slot(0);
}

pub mod operator_code {
    use super::slot;
    pub const DEPRECATED_BUILTIN_CODE: u16 = slot(0);
    pub const VERSION: u16 = slot(2);
    pub const BUILTIN_CODE: u16 = slot(3);
}

pub mod operator {
    use super::slot;
    pub const OPCODE_INDEX: u16 = slot(0);
    pub const INPUTS: u16 = slot(1);
    pub const OUTPUTS: u16 = slot(2);
    pub const BUILTIN_OPTIONS_TYPE: u16 = slot(3);
    pub const BUILTIN_OPTIONS: u16 = slot(4);
}

pub mod conv_2d_options {
    use super::slot;
    pub const PADDING: u16 = slot(0);
    pub const STRIDE_W: u16 = slot(1);
    pub const STRIDE_H: u16 = slot(2);
    pub const FUSED_ACTIVATION: u16 = slot(3);
    pub const DILATION_W: u16 = slot(4);
    pub const DILATION_H: u16 = slot(5);
}

pub mod depthwise_conv_2d_options {
    use super::slot;
    pub const PADDING: u16 = slot(0);
    pub const STRIDE_W: u16 = slot(1);
    pub const STRIDE_H: u16 = slot(2);
    pub const DEPTH_MULTIPLIER: u16 = slot(3);
    pub const FUSED_ACTIVATION: u16 = slot(4);
    pub const DILATION_W: u16 = slot(5);
    pub const DILATION_H: u16 = slot(6);
}

pub mod pool_2d_options {
    use super::slot;
    pub const PADDING: u16 = slot(0);
    pub const STRIDE_W: u16 = slot(1);
    pub const STRIDE_H: u16 = slot(2);
    pub const FILTER_WIDTH: u16 = slot(3);
    pub const FILTER_HEIGHT: u16 = slot(4);
    pub const FUSED_ACTIVATION: u16 = slot(5);
}

pub mod fully_connected_options {
    use super::slot;
    pub const FUSED_ACTIVATION: u16 = slot(0);
}

pub mod concatenation_options {
    use super::slot;
    pub const AXIS: u16 = slot(0);
    pub const FUSED_ACTIVATION: u16 = slot(1);
}

pub mod add_options {
    use super::slot;
    pub const FUSED_ACTIVATION: u16 = slot(0);
}

pub mod reshape_options {
    use super::slot;
    pub const NEW_SHAPE: u16 = slot(0);
}
