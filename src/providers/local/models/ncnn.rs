//! Reader of ncnn model files: the text graph (`.param`) and its weight blob (`.bin`).
//!
//! Only what Real-ESRGAN's published graphs use is understood (Input, Split, Convolution with
//! an optional fused (Leaky)ReLU, PReLU, Eltwise, BinaryOp add, Concat, Interp, PixelShuffle);
//! any other layer or option is refused by name rather than guessed at.
//!
//! Format (ncnn wiki, "param and model file structure"): the `.param` starts with the magic
//! `7767517`, then `layer_count blob_count`, then one line per layer:
//! `type name bottom_count top_count bottoms... tops... key=value...`, where a key `-233xx`
//! carries an array `n,v1,...,vn` for id `xx`. The `.bin` holds, layer after layer in `.param`
//! order, each layer's blobs: a Convolution's weights start with a 4-byte tag (0 = float32,
//! `0x01306B47` = float16, 4-byte aligned), its bias and a PReLU's slopes are raw float32.

use std::collections::HashMap;

use crate::error::{Error, ErrorCode, Result};

const MAGIC: &str = "7767517";
const TAG_FLOAT32: u32 = 0;
const TAG_FLOAT16: u32 = 0x0130_6B47;

/// One layer, with its weights when it has any.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub name: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Input,
    /// Fans one blob out to several names.
    Split,
    Convolution(Convolution),
    /// Per-channel slopes.
    PRelu(Vec<f32>),
    /// Weighted sum of the inputs (`Eltwise` op 1 with coefficients, `BinaryOp` add).
    Sum(Vec<f32>),
    /// Along the channel axis.
    Concat,
    Interp(Interp),
    /// `PixelShuffle` mode 0: PyTorch's `pixel_shuffle`, ONNX's `DepthToSpace` CRD.
    PixelShuffle(u32),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Convolution {
    pub out_channels: usize,
    pub in_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    pub pad: usize,
    /// `out × in × k × k`, row-major.
    pub weights: Vec<f32>,
    pub bias: Option<Vec<f32>>,
    pub activation: Activation,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    None,
    Relu,
    LeakyRelu(f32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterpMode {
    Nearest,
    Bilinear,
    Bicubic,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interp {
    pub mode: InterpMode,
    pub height_scale: f32,
    pub width_scale: f32,
}

/// A parsed graph: layers in file order (which is a topological order).
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    pub layers: Vec<Layer>,
}

impl Graph {
    /// Parses `param` (the `.param` text) and takes the weights from `bin`; `what` names the
    /// model in errors.
    pub fn parse(param: &str, bin: &[u8], what: &str) -> Result<Graph> {
        let bad = |line: usize, message: String| {
            Error::new(
                ErrorCode::FailedPrecondition,
                format!("{what}: .param line {line}: {message}"),
            )
        };
        let mut lines = param
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        match lines.next() {
            Some((_, magic)) if magic.trim() == MAGIC => {}
            _ => return Err(bad(1, format!("not an ncnn graph (magic {MAGIC} missing)"))),
        }
        let (line, counts) = lines
            .next()
            .ok_or_else(|| bad(2, "layer count missing".into()))?;
        let layer_count: usize = counts
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| bad(line + 1, format!("bad counts {counts:?}")))?;
        let mut weights = Weights { bin, offset: 0 };
        let mut layers = Vec::with_capacity(layer_count);
        let mut channels: HashMap<String, usize> = HashMap::new();
        for (index, text) in lines {
            let layer = parse_layer(text, &mut weights, &mut channels)
                .map_err(|message| bad(index + 1, message))?;
            layers.push(layer);
        }
        if layers.len() != layer_count {
            return Err(bad(
                2,
                format!("announces {layer_count} layers, has {}", layers.len()),
            ));
        }
        if weights.offset != bin.len() {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "{what}: the .bin has {} bytes, the graph uses {}; the files do not belong together",
                    bin.len(),
                    weights.offset
                ),
            ));
        }
        Ok(Graph { layers })
    }

    /// The name of the graph's input blob.
    pub fn input(&self) -> Option<&str> {
        self.layers
            .iter()
            .find(|l| l.op == Op::Input)
            .and_then(|l| l.outputs.first().map(String::as_str))
    }

    /// The last layer's output: the graph's result.
    pub fn output(&self) -> Option<&str> {
        self.layers
            .last()
            .and_then(|l| l.outputs.first().map(String::as_str))
    }
}

/// `key=value` parameters of one layer.
struct Params(HashMap<i32, String>);

impl Params {
    fn int(&self, key: i32, default: i64) -> std::result::Result<i64, String> {
        match self.0.get(&key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("parameter {key}={v} is not an integer")),
        }
    }

    fn float(&self, key: i32, default: f32) -> std::result::Result<f32, String> {
        match self.0.get(&key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("parameter {key}={v} is not a number")),
        }
    }

    /// Array parameter `id` (written with key `-23300 - id`), without its leading count.
    fn floats(&self, id: i32) -> std::result::Result<Option<Vec<f32>>, String> {
        let Some(v) = self.0.get(&(-23300 - id)) else {
            return Ok(None);
        };
        let mut parts = v.split(',');
        let count: usize = parts
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("array parameter {id} {v:?} has no count"))?;
        let values = parts
            .map(|p| {
                p.parse::<f32>()
                    .map_err(|_| format!("array parameter {id}: {p:?}"))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if values.len() != count {
            return Err(format!("array parameter {id} announces {count} values"));
        }
        Ok(Some(values))
    }

    /// Refuses options this reader does not implement, so a graph using them fails loudly.
    fn only(&self, known: &[i32]) -> std::result::Result<(), String> {
        match self.0.keys().find(|k| !known.contains(k)) {
            Some(k) => Err(format!("parameter {k} is not supported")),
            None => Ok(()),
        }
    }
}

fn parse_layer(
    text: &str,
    weights: &mut Weights<'_>,
    channels: &mut HashMap<String, usize>,
) -> std::result::Result<Layer, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.len() < 4 {
        return Err(format!("short layer line {text:?}"));
    }
    let (kind, name) = (fields[0], fields[1].to_owned());
    let count = |s: &str| {
        s.parse::<usize>()
            .map_err(|_| format!("bad blob count {s:?}"))
    };
    let (bottoms, tops) = (count(fields[2])?, count(fields[3])?);
    if fields.len() < 4 + bottoms + tops {
        return Err(format!("{name}: fewer blob names than announced"));
    }
    let inputs: Vec<String> = fields[4..4 + bottoms]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let outputs: Vec<String> = fields[4 + bottoms..4 + bottoms + tops]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut params = HashMap::new();
    for kv in &fields[4 + bottoms + tops..] {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("{name}: bad parameter {kv:?}"))?;
        let k: i32 = k.parse().map_err(|_| format!("{name}: bad key {kv:?}"))?;
        params.insert(k, v.to_owned());
    }
    let params = Params(params);
    let in_channels = inputs
        .iter()
        .map(|i| channels.get(i).copied())
        .collect::<Option<Vec<usize>>>();
    let wrap = |m: String| format!("{kind} {name}: {m}");
    let op = match kind {
        "Input" => {
            channels.insert(outputs[0].clone(), 3);
            Op::Input
        }
        "Split" => Op::Split,
        "Convolution" => {
            params
                .only(&[0, 1, 2, 3, 4, 5, 6, 9, -23310])
                .map_err(wrap)?;
            let out_channels = params.int(0, 0).map_err(wrap)? as usize;
            let kernel = params.int(1, 0).map_err(wrap)? as usize;
            let size = params.int(6, 0).map_err(wrap)? as usize;
            if out_channels == 0 || kernel == 0 || size % (out_channels * kernel * kernel) != 0 {
                return Err(wrap(format!(
                    "weight size {size} does not fit {out_channels} outputs of {kernel}x{kernel}"
                )));
            }
            let activation = match params.int(9, 0).map_err(wrap)? {
                0 => Activation::None,
                1 => Activation::Relu,
                2 => Activation::LeakyRelu(
                    params
                        .floats(10)
                        .map_err(wrap)?
                        .and_then(|v| v.first().copied())
                        .unwrap_or(0.0),
                ),
                other => return Err(wrap(format!("activation type {other} is not supported"))),
            };
            let weights_data = weights.tagged(size).map_err(wrap)?;
            let bias = match params.int(5, 0).map_err(wrap)? {
                0 => None,
                _ => Some(weights.raw(out_channels).map_err(wrap)?),
            };
            Op::Convolution(Convolution {
                out_channels,
                in_channels: size / (out_channels * kernel * kernel),
                kernel,
                stride: params.int(3, 1).map_err(wrap)? as usize,
                dilation: params.int(2, 1).map_err(wrap)? as usize,
                pad: params.int(4, 0).map_err(wrap)?.max(0) as usize,
                weights: weights_data,
                bias,
                activation,
            })
        }
        "PReLU" => {
            params.only(&[0]).map_err(wrap)?;
            let n = params.int(0, 0).map_err(wrap)? as usize;
            Op::PRelu(weights.raw(n).map_err(wrap)?)
        }
        "Eltwise" => {
            params.only(&[0, -23301]).map_err(wrap)?;
            if params.int(0, 1).map_err(wrap)? != 1 {
                return Err(wrap("only the sum (op 1) is supported".into()));
            }
            let coeffs = params
                .floats(1)
                .map_err(wrap)?
                .unwrap_or_else(|| vec![1.0; inputs.len()]);
            if coeffs.len() != inputs.len() {
                return Err(wrap("one coefficient per input is needed".into()));
            }
            Op::Sum(coeffs)
        }
        "BinaryOp" => {
            params.only(&[0]).map_err(wrap)?;
            if params.int(0, 0).map_err(wrap)? != 0 || inputs.len() != 2 {
                return Err(wrap("only the addition of two blobs is supported".into()));
            }
            Op::Sum(vec![1.0, 1.0])
        }
        "Concat" => {
            params.only(&[0]).map_err(wrap)?;
            if params.int(0, 0).map_err(wrap)? != 0 {
                return Err(wrap("only the channel axis is supported".into()));
            }
            Op::Concat
        }
        "Interp" => {
            params.only(&[0, 1, 2]).map_err(wrap)?;
            let mode = match params.int(0, 0).map_err(wrap)? {
                1 => InterpMode::Nearest,
                2 => InterpMode::Bilinear,
                3 => InterpMode::Bicubic,
                other => return Err(wrap(format!("resize type {other} is not supported"))),
            };
            Op::Interp(Interp {
                mode,
                height_scale: params.float(1, 1.0).map_err(wrap)?,
                width_scale: params.float(2, 1.0).map_err(wrap)?,
            })
        }
        "PixelShuffle" => {
            params.only(&[0, 1]).map_err(wrap)?;
            if params.int(1, 0).map_err(wrap)? != 0 {
                return Err(wrap("only mode 0 is supported".into()));
            }
            Op::PixelShuffle(params.int(0, 1).map_err(wrap)?.max(1) as u32)
        }
        other => return Err(format!("{name}: layer type {other} is not supported")),
    };
    // Channel counts follow the graph so a convolution's input width can be checked.
    let out_ch = match (&op, in_channels.as_deref()) {
        (Op::Convolution(c), Some([ch])) if *ch != c.in_channels => {
            return Err(format!(
                "{name}: weights expect {} input channels, the graph gives {ch}",
                c.in_channels
            ));
        }
        (Op::Convolution(c), _) => Some(c.out_channels),
        (Op::Concat, Some(chs)) => Some(chs.iter().sum()),
        (Op::PixelShuffle(r), Some([ch])) => Some(ch / (*r as usize * *r as usize)),
        (Op::Input, _) => Some(3),
        (_, Some([ch, ..])) => Some(*ch),
        _ => None,
    };
    if let Some(ch) = out_ch {
        for output in &outputs {
            channels.insert(output.clone(), ch);
        }
    }
    Ok(Layer {
        name,
        inputs,
        outputs,
        op,
    })
}

/// A cursor over the `.bin`.
struct Weights<'a> {
    bin: &'a [u8],
    offset: usize,
}

impl Weights<'_> {
    fn take(&mut self, bytes: usize) -> std::result::Result<&[u8], String> {
        let end = self
            .offset
            .checked_add(bytes)
            .filter(|&e| e <= self.bin.len());
        let Some(end) = end else {
            return Err(format!(
                "the .bin ends at {} bytes, {bytes} more are needed at {}",
                self.bin.len(),
                self.offset
            ));
        };
        let slice = &self.bin[self.offset..end];
        self.offset = end;
        Ok(slice)
    }

    fn raw(&mut self, count: usize) -> std::result::Result<Vec<f32>, String> {
        Ok(self
            .take(count * 4)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn tagged(&mut self, count: usize) -> std::result::Result<Vec<f32>, String> {
        let tag = self.take(4)?;
        let tag = u32::from_le_bytes([tag[0], tag[1], tag[2], tag[3]]);
        match tag {
            TAG_FLOAT32 => self.raw(count),
            TAG_FLOAT16 => {
                let values = self
                    .take(count * 2)?
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect();
                // fp16 blobs are padded to a multiple of 4 bytes.
                self.take((4 - (count * 2) % 4) % 4)?;
                Ok(values)
            }
            other => Err(format!(
                "weight storage tag {other:#010x} is not supported (float32 or float16 only)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_blob(values: &[f32]) -> Vec<u8> {
        let mut out = TAG_FLOAT16.to_le_bytes().to_vec();
        for v in values {
            out.extend(half::f16::from_f32(*v).to_le_bytes());
        }
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    const TINY: &str = "7767517\n3 3\n\
        Input in 0 1 data\n\
        Convolution conv 1 1 data c 0=1 1=1 5=1 6=3 9=2 -23310=1,2.000000e-01\n\
        PReLU act 1 1 c output 0=1\n";

    #[test]
    fn a_small_graph_and_its_weights_are_read() {
        let mut bin = f16_blob(&[0.5, -1.0, 2.0]);
        bin.extend(0.25f32.to_le_bytes());
        bin.extend(0.1f32.to_le_bytes());
        let graph = Graph::parse(TINY, &bin, "tiny").unwrap();
        assert_eq!(graph.input(), Some("data"));
        assert_eq!(graph.output(), Some("output"));
        let Op::Convolution(conv) = &graph.layers[1].op else {
            panic!("not a convolution")
        };
        assert_eq!(conv.weights, vec![0.5, -1.0, 2.0]);
        assert_eq!(conv.bias, Some(vec![0.25]));
        assert_eq!(conv.in_channels, 3);
        assert_eq!(conv.activation, Activation::LeakyRelu(0.2));
        assert_eq!(graph.layers[2].op, Op::PRelu(vec![0.1]));
    }

    #[test]
    fn mismatched_weights_and_unknown_layers_are_refused() {
        let bin = f16_blob(&[0.5, -1.0, 2.0]);
        let err = Graph::parse(TINY, &bin, "tiny").unwrap_err();
        assert!(err.message.contains("more are needed"), "{}", err.message);
        let mut long = f16_blob(&[0.5, -1.0, 2.0]);
        long.extend([0u8; 12]);
        let err = Graph::parse(TINY, &long, "tiny").unwrap_err();
        assert!(
            err.message.contains("do not belong together"),
            "{}",
            err.message
        );
        let odd = "7767517\n2 2\nInput in 0 1 data\nSoftmax s 1 1 data out\n";
        let err = Graph::parse(odd, &[], "odd").unwrap_err();
        assert!(
            err.message.contains("Softmax is not supported"),
            "{}",
            err.message
        );
        assert!(Graph::parse("hello", &[], "x").is_err());
    }
}
