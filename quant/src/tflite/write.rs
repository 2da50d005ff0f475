//! Serializes a converted model as a FlatBuffer, table by table, with the field slots of
//! [`schema`](super::schema) (no generated code).

use alloc::vec::Vec;

use flatbuffers::{FlatBufferBuilder, WIPOffset};

use super::convert::{Options, TflModel, TflOp, TflTensor};
use super::schema::{self, options as opt};

type Fbb<'a> = FlatBufferBuilder<'a>;
type Table = WIPOffset<flatbuffers::TableFinishedWIPOffset>;

/// Alignment of buffer data: the schema asks for 16 (`force_align: 16`), which the Rust
/// builder does not apply by itself.
const DATA_ALIGN: usize = 16;

/// Pads so that a byte vector of `len` bytes built next starts `DATA_ALIGN`-aligned from
/// the end of the buffer; the file's total length is made a multiple of `DATA_ALIGN` at
/// the end, so offsets from its start are aligned too.
fn pad_for_data(b: &mut Fbb, len: usize) {
    let used = b.unfinished_data().len();
    let pad = (DATA_ALIGN - (used + len) % DATA_ALIGN) % DATA_ALIGN;
    for _ in 0..pad {
        b.push(0u8);
    }
}

fn buffer(b: &mut Fbb, data: Option<&[u8]>) -> Table {
    let v = data.map(|d| {
        pad_for_data(b, d.len());
        b.create_vector(d)
    });
    let t = b.start_table();
    if let Some(v) = v {
        b.push_slot_always(schema::buffer::DATA, v);
    }
    b.end_table(t)
}

fn tensor(b: &mut Fbb, t: &TflTensor, buffer: u32) -> Table {
    let shape = b.create_vector(&t.shape);
    let name = b.create_string(&t.name);
    let scale = b.create_vector(&t.scale);
    let zero_point = b.create_vector(&t.zero_point);
    let q = b.start_table();
    b.push_slot_always(schema::quantization::SCALE, scale);
    b.push_slot_always(schema::quantization::ZERO_POINT, zero_point);
    b.push_slot(schema::quantization::QUANTIZED_DIMENSION, t.quantized_dimension, 0);
    let q = b.end_table(q);
    let s = b.start_table();
    b.push_slot_always(schema::tensor::SHAPE, shape);
    b.push_slot(schema::tensor::TYPE, t.ty, 0);
    b.push_slot(schema::tensor::BUFFER, buffer, 0);
    b.push_slot_always(schema::tensor::NAME, name);
    b.push_slot_always(schema::tensor::QUANTIZATION, q);
    b.end_table(s)
}

/// The operator's `BuiltinOptions` table and its union tag.
fn options(b: &mut Fbb, o: &Options) -> (u8, Option<Table>) {
    use schema::{
        add_options as add, concatenation_options as cat, conv_2d_options as conv, depthwise_conv_2d_options as dw,
        fully_connected_options as fc, pool_2d_options as pool, reshape_options as rs,
    };
    let (tag, table) = match o {
        Options::None => return (opt::NONE, None),
        Options::Conv { padding, stride, dilation, activation } => {
            let t = b.start_table();
            b.push_slot(conv::PADDING, *padding, 0);
            b.push_slot(conv::STRIDE_W, stride[1], 0);
            b.push_slot(conv::STRIDE_H, stride[0], 0);
            b.push_slot(conv::FUSED_ACTIVATION, *activation, 0);
            b.push_slot(conv::DILATION_W, dilation[1], 1);
            b.push_slot(conv::DILATION_H, dilation[0], 1);
            (opt::CONV_2D, b.end_table(t))
        }
        Options::Depthwise { padding, stride, dilation, multiplier, activation } => {
            let t = b.start_table();
            b.push_slot(dw::PADDING, *padding, 0);
            b.push_slot(dw::STRIDE_W, stride[1], 0);
            b.push_slot(dw::STRIDE_H, stride[0], 0);
            b.push_slot(dw::DEPTH_MULTIPLIER, *multiplier, 0);
            b.push_slot(dw::FUSED_ACTIVATION, *activation, 0);
            b.push_slot(dw::DILATION_W, dilation[1], 1);
            b.push_slot(dw::DILATION_H, dilation[0], 1);
            (opt::DEPTHWISE_CONV_2D, b.end_table(t))
        }
        Options::Pool { padding, stride, filter } => {
            let t = b.start_table();
            b.push_slot(pool::PADDING, *padding, 0);
            b.push_slot(pool::STRIDE_W, stride[1], 0);
            b.push_slot(pool::STRIDE_H, stride[0], 0);
            b.push_slot(pool::FILTER_WIDTH, filter[1], 0);
            b.push_slot(pool::FILTER_HEIGHT, filter[0], 0);
            b.push_slot(pool::FUSED_ACTIVATION, schema::activation::NONE, 0);
            (opt::POOL_2D, b.end_table(t))
        }
        Options::FullyConnected { activation } => {
            let t = b.start_table();
            b.push_slot(fc::FUSED_ACTIVATION, *activation, 0);
            (opt::FULLY_CONNECTED, b.end_table(t))
        }
        Options::Add { activation } => {
            let t = b.start_table();
            b.push_slot(add::FUSED_ACTIVATION, *activation, 0);
            (opt::ADD, b.end_table(t))
        }
        Options::Concat { axis } => {
            let t = b.start_table();
            b.push_slot(cat::AXIS, *axis, 0);
            b.push_slot(cat::FUSED_ACTIVATION, schema::activation::NONE, 0);
            (opt::CONCATENATION, b.end_table(t))
        }
        Options::Reshape { new_shape } => {
            let v = b.create_vector(new_shape);
            let t = b.start_table();
            b.push_slot_always(rs::NEW_SHAPE, v);
            (opt::RESHAPE, b.end_table(t))
        }
    };
    (tag, Some(table))
}

fn operator(b: &mut Fbb, o: &TflOp, opcode_index: u32) -> Table {
    let inputs = b.create_vector(&o.inputs);
    let outputs = b.create_vector(&o.outputs);
    let (tag, opts) = options(b, &o.options);
    let t = b.start_table();
    b.push_slot(schema::operator::OPCODE_INDEX, opcode_index, 0);
    b.push_slot_always(schema::operator::INPUTS, inputs);
    b.push_slot_always(schema::operator::OUTPUTS, outputs);
    b.push_slot(schema::operator::BUILTIN_OPTIONS_TYPE, tag, opt::NONE);
    if let Some(opts) = opts {
        b.push_slot_always(schema::operator::BUILTIN_OPTIONS, opts);
    }
    b.end_table(t)
}

fn operator_code(b: &mut Fbb, code: i32, version: i32) -> Table {
    let t = b.start_table();
    // Readers before the extended field read the byte; codes past 127 would store the
    // placeholder 127 there (none of ours are).
    b.push_slot(schema::operator_code::DEPRECATED_BUILTIN_CODE, code.min(127) as i8, 0);
    b.push_slot(schema::operator_code::VERSION, version, 1);
    b.push_slot(schema::operator_code::BUILTIN_CODE, code, 0);
    b.end_table(t)
}

/// The `.tflite` bytes of `m`.
pub(crate) fn write(m: &TflModel, description: &str) -> Vec<u8> {
    let data_len: usize = m.tensors.iter().filter_map(|t| t.data.as_ref()).map(Vec::len).sum();
    let mut b = FlatBufferBuilder::with_capacity(data_len + 1024 + 256 * m.tensors.len());

    // Buffer 0 is the empty sentinel every activation points at; each constant has its own.
    let mut buffers = Vec::with_capacity(m.tensors.len() + 1);
    buffers.push(buffer(&mut b, None));
    let mut buffer_of = Vec::with_capacity(m.tensors.len());
    for t in &m.tensors {
        match &t.data {
            Some(d) => {
                buffer_of.push(buffers.len() as u32);
                buffers.push(buffer(&mut b, Some(d)));
            }
            None => buffer_of.push(0),
        }
    }
    let buffers = b.create_vector(&buffers);

    let tensors: Vec<Table> = m.tensors.iter().zip(&buffer_of).map(|(t, &buf)| tensor(&mut b, t, buf)).collect();
    let tensors = b.create_vector(&tensors);

    // One operator code per (code, version), in order of first use.
    let mut codes: Vec<(i32, i32)> = Vec::new();
    let mut ops = Vec::with_capacity(m.ops.len());
    for o in &m.ops {
        let key = (o.code, o.version);
        let index = match codes.iter().position(|c| *c == key) {
            Some(i) => i,
            None => {
                codes.push(key);
                codes.len() - 1
            }
        };
        ops.push(operator(&mut b, o, index as u32));
    }
    let ops = b.create_vector(&ops);
    let codes: Vec<Table> = codes.iter().map(|&(c, v)| operator_code(&mut b, c, v)).collect();
    let codes = b.create_vector(&codes);

    let inputs = b.create_vector(&m.inputs);
    let outputs = b.create_vector(&m.outputs);
    let name = b.create_string("main");
    let sg = b.start_table();
    b.push_slot_always(schema::subgraph::TENSORS, tensors);
    b.push_slot_always(schema::subgraph::INPUTS, inputs);
    b.push_slot_always(schema::subgraph::OUTPUTS, outputs);
    b.push_slot_always(schema::subgraph::OPERATORS, ops);
    b.push_slot_always(schema::subgraph::NAME, name);
    let sg = b.end_table(sg);
    let subgraphs = b.create_vector(&[sg]);

    let description = b.create_string(description);
    let root = b.start_table();
    b.push_slot(schema::model::VERSION, schema::VERSION, 0);
    b.push_slot_always(schema::model::OPERATOR_CODES, codes);
    b.push_slot_always(schema::model::SUBGRAPHS, subgraphs);
    b.push_slot_always(schema::model::DESCRIPTION, description);
    b.push_slot_always(schema::model::BUFFERS, buffers);
    let root = b.end_table(root);

    // `finish` aligns, then adds the identifier and the root offset (8 bytes): leave the
    // buffer 8 bytes short of a multiple of 16 so that the file's length is one, and
    // every buffer's data (aligned from the end) is aligned from the start too.
    while !(b.unfinished_data().len() + 8).is_multiple_of(DATA_ALIGN) {
        b.push(0u8);
    }
    b.finish(root, Some(schema::FILE_IDENTIFIER));
    b.finished_data().to_vec()
}
