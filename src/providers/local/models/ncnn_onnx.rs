//! Turns an ncnn graph ([`super::ncnn::Graph`]) into an in-memory ONNX model, so ncnn-published
//! weights run on the ONNX Runtime the other local models use.
//!
//! Each ncnn layer maps onto standard ONNX operators (opset 17) with the semantics ncnn gives
//! it: zero-padded convolutions in OIHW layout, `Interp` with ncnn's sampling (nearest = floor of
//! the asymmetric source coordinate; bilinear/bicubic with half-pixel centres, edge-clamped,
//! bicubic coefficient -0.75), `PixelShuffle` = `DepthToSpace` in CRD order. The input is
//! `1×3×H×W` float32 with symbolic H and W.

use prost::Message;

use super::ncnn::{Activation, Graph, InterpMode, Op};
use super::onnx_proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto, attribute_type, data_type,
};
use crate::error::{Error, Result};

const OPSET: i64 = 17;
const IR_VERSION: i64 = 8;

/// The serialised ONNX model of `graph`.
pub fn to_onnx(graph: &Graph, name: &str) -> Result<Vec<u8>> {
    let input = graph
        .input()
        .ok_or_else(|| Error::internal(format!("{name}: the ncnn graph has no Input layer")))?;
    let output = graph
        .output()
        .ok_or_else(|| Error::internal(format!("{name}: the ncnn graph is empty")))?;
    let mut b = Builder::default();
    for layer in &graph.layers {
        let inputs: Vec<String> = layer.inputs.iter().map(|i| b.resolve(i)).collect();
        let out = layer.outputs.first().cloned().unwrap_or_default();
        match &layer.op {
            Op::Input => {}
            Op::Split => {
                // ONNX values can be read any number of times: every branch is the input.
                for o in &layer.outputs {
                    b.alias(o, &inputs[0]);
                }
            }
            Op::Convolution(conv) => {
                let k = conv.kernel as i64;
                let w = b.constant(
                    &format!("{}.weight", layer.name),
                    &[conv.out_channels as i64, conv.in_channels as i64, k, k],
                    &conv.weights,
                );
                let mut conv_inputs = vec![inputs[0].clone(), w];
                if let Some(bias) = &conv.bias {
                    conv_inputs.push(b.constant(
                        &format!("{}.bias", layer.name),
                        &[conv.out_channels as i64],
                        bias,
                    ));
                }
                let p = conv.pad as i64;
                let attrs = vec![
                    ints("kernel_shape", &[k, k]),
                    ints("pads", &[p, p, p, p]),
                    ints("strides", &[conv.stride as i64; 2]),
                    ints("dilations", &[conv.dilation as i64; 2]),
                ];
                match conv.activation {
                    Activation::None => b.node("Conv", conv_inputs, &out, attrs),
                    Activation::Relu => {
                        let raw = format!("{out}.conv");
                        b.node("Conv", conv_inputs, &raw, attrs);
                        b.node("Relu", vec![raw], &out, vec![]);
                    }
                    Activation::LeakyRelu(slope) => {
                        let raw = format!("{out}.conv");
                        b.node("Conv", conv_inputs, &raw, attrs);
                        b.node("LeakyRelu", vec![raw], &out, vec![float("alpha", slope)]);
                    }
                }
            }
            Op::PRelu(slopes) => b.prelu(&layer.name, &inputs[0], &out, slopes),
            Op::Sum(coeffs) => {
                let mut terms = Vec::with_capacity(inputs.len());
                for (i, (input, &c)) in inputs.iter().zip(coeffs).enumerate() {
                    if c == 1.0 {
                        terms.push(input.clone());
                    } else {
                        let scale = b.constant(&format!("{}.coeff{i}", layer.name), &[], &[c]);
                        let scaled = format!("{out}.term{i}");
                        b.node("Mul", vec![input.clone(), scale], &scaled, vec![]);
                        terms.push(scaled);
                    }
                }
                b.node("Sum", terms, &out, vec![]);
            }
            Op::Concat => b.node("Concat", inputs, &out, vec![int("axis", 1)]),
            Op::Interp(interp) => {
                let scales = b.constant(
                    &format!("{}.scales", layer.name),
                    &[4],
                    &[1.0, 1.0, interp.height_scale, interp.width_scale],
                );
                let (mode, transform) = match interp.mode {
                    InterpMode::Nearest => ("nearest", "asymmetric"),
                    InterpMode::Bilinear => ("linear", "half_pixel"),
                    InterpMode::Bicubic => ("cubic", "half_pixel"),
                };
                let attrs = vec![
                    string("mode", mode),
                    string("coordinate_transformation_mode", transform),
                    string("nearest_mode", "floor"),
                    float("cubic_coeff_a", -0.75),
                ];
                b.node(
                    "Resize",
                    vec![inputs[0].clone(), String::new(), scales],
                    &out,
                    attrs,
                );
            }
            Op::PixelShuffle(r) => b.node(
                "DepthToSpace",
                inputs,
                &out,
                vec![int("blocksize", *r as i64), string("mode", "CRD")],
            ),
        }
    }
    let result = b.resolve(output);
    let model = ModelProto {
        ir_version: IR_VERSION,
        producer_name: "imgforge ncnn import".into(),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        graph: Some(GraphProto {
            name: name.to_owned(),
            node: b.nodes,
            initializer: b.initializers,
            input: vec![image_value(input)],
            output: vec![image_value(&result)],
        }),
    };
    Ok(model.encode_to_vec())
}

#[derive(Default)]
struct Builder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    aliases: std::collections::HashMap<String, String>,
}

impl Builder {
    fn resolve(&self, name: &str) -> String {
        self.aliases
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_owned())
    }

    fn alias(&mut self, name: &str, target: &str) {
        self.aliases.insert(name.to_owned(), target.to_owned());
    }

    fn constant(&mut self, name: &str, dims: &[i64], values: &[f32]) -> String {
        self.initializers.push(TensorProto {
            dims: dims.to_vec(),
            data_type: data_type::FLOAT,
            name: name.to_owned(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name.to_owned()
    }

    /// PReLU as `a·x + (1 − a)·relu(x)`, per-channel scales written as 1×1 depthwise
    /// convolutions. ONNX Runtime's NCHWc layout (its fast CPU convolutions) has no PRelu
    /// kernel, so a `PRelu` node costs a reorder out of and back into the blocked layout around
    /// every convolution; Relu, depthwise Conv and Add all stay blocked. On animevideov3 (17
    /// PReLUs) the PRelu nodes and their reorders were ~22 % of ONNX Runtime's profile.
    fn prelu(&mut self, layer: &str, input: &str, out: &str, slopes: &[f32]) {
        if let [slope] = slopes {
            self.node(
                "LeakyRelu",
                vec![input.to_owned()],
                out,
                vec![float("alpha", *slope)],
            );
            return;
        }
        let channels = slopes.len() as i64;
        let keep: Vec<f32> = slopes.iter().map(|a| 1.0 - a).collect();
        let depthwise = |b: &mut Builder, name: &str, x: String, scales: &[f32], y: &str| {
            let w = b.constant(name, &[channels, 1, 1, 1], scales);
            b.node(
                "Conv",
                vec![x, w],
                y,
                vec![ints("kernel_shape", &[1, 1]), int("group", channels)],
            );
        };
        let relu = format!("{out}.relu");
        self.node("Relu", vec![input.to_owned()], &relu, vec![]);
        let positive = format!("{out}.positive");
        let linear = format!("{out}.linear");
        depthwise(self, &format!("{layer}.keep"), relu, &keep, &positive);
        depthwise(
            self,
            &format!("{layer}.slope"),
            input.to_owned(),
            slopes,
            &linear,
        );
        self.node("Add", vec![linear, positive], out, vec![]);
    }

    fn node(&mut self, op: &str, input: Vec<String>, output: &str, attribute: Vec<AttributeProto>) {
        self.nodes.push(NodeProto {
            input,
            output: vec![output.to_owned()],
            name: format!("{op}:{output}"),
            op_type: op.to_owned(),
            attribute,
        });
    }
}

/// `1×3×H×W` float32 with symbolic height and width.
fn image_value(name: &str) -> ValueInfoProto {
    let fixed = |v| Dimension {
        dim_value: Some(v),
        dim_param: None,
    };
    let symbolic = |p: &str| Dimension {
        dim_value: None,
        dim_param: Some(p.to_owned()),
    };
    ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto {
                    dim: vec![fixed(1), fixed(3), symbolic("height"), symbolic("width")],
                }),
            }),
        }),
    }
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        ints: values.to_vec(),
        r#type: attribute_type::INTS,
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        i: value,
        r#type: attribute_type::INT,
        ..Default::default()
    }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        f: value,
        r#type: attribute_type::FLOAT,
        ..Default::default()
    }
}

fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        s: value.as_bytes().to_vec(),
        r#type: attribute_type::STRING,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_become_aliases_and_sums_scale_their_terms() {
        let param = "7767517\n4 5\n\
            Input in 0 1 data\n\
            Split sp 1 2 data a b\n\
            Eltwise e 2 1 a b s 0=1 -23301=2,2.000000e-01,1.000000e+00\n\
            PixelShuffle ps 1 1 s output 0=1\n";
        let graph = Graph::parse(param, &[], "t").unwrap();
        let bytes = to_onnx(&graph, "t").unwrap();
        let model = ModelProto::decode(bytes.as_slice()).unwrap();
        let g = model.graph.unwrap();
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Mul", "Sum", "DepthToSpace"]);
        assert_eq!(g.node[0].input[0], "data");
        assert_eq!(g.node[1].input, ["s.term0", "data"]);
        assert_eq!(g.output[0].name, "output");
        assert_eq!(g.initializer[0].raw_data, 0.2f32.to_le_bytes());
    }

    #[test]
    fn prelu_is_split_into_ops_that_keep_the_blocked_layout() {
        let param = "7767517\n2 2\n\
            Input in 0 1 data\n\
            PReLU pr 1 1 data output 0=2\n";
        let slopes: Vec<u8> = [0.25f32, -0.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let graph = Graph::parse(param, &slopes, "t").unwrap();
        let model = ModelProto::decode(to_onnx(&graph, "t").unwrap().as_slice()).unwrap();
        let g = model.graph.unwrap();
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Relu", "Conv", "Conv", "Add"]);
        assert_eq!(g.node[3].output, ["output"]);
        let floats = |t: &TensorProto| -> Vec<f32> {
            t.raw_data
                .chunks(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        // relu(x)·(1 − a) + x·a: x ≥ 0 gives x, x < 0 gives a·x.
        assert_eq!(floats(&g.initializer[0]), [0.75, 1.5]);
        assert_eq!(floats(&g.initializer[1]), [0.25, -0.5]);
    }
}
