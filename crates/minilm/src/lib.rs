//! The MiniLM encoder (a small BERT, as all-MiniLM-L6-v2) for one sequence
//! at a time, and the [`CrossEncoder`] built on it that scores a pair of
//! texts read together.
//!
//! Dense layers run on candle's matrix multiply; everything else (embedding
//! lookup, attention over a few dozen tokens, layer norm, GELU, pooling)
//! runs in plain loops; the word embeddings stay in f16. For one short prompt this is about twice as
//! fast as a generic BERT graph, which pays a dispatch per head and per op.

#![forbid(unsafe_code)]

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use half::f16;
use serde::Deserialize;

/// The `config.json` fields the encoder needs.
#[derive(Debug, Deserialize)]
pub struct BertConfig {
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    layer_norm_eps: f64,
    #[serde(default = "default_act")]
    hidden_act: String,
}

fn default_act() -> String {
    "gelu".into()
}

/// Loaded weights, ready to encode.
pub struct MiniLm {
    hidden: usize,
    heads: usize,
    max_positions: usize,
    /// Kept in f16: the largest table, read a row per token.
    word: Vec<f16>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    norm: Norm,
    layers: Vec<Layer>,
}

struct Layer {
    qkv: Dense,
    attention_out: Dense,
    attention_norm: Norm,
    up: Dense,
    down: Dense,
    out_norm: Norm,
}

/// `y = x W^T + b`, with `W^T` stored contiguous as `[in, out]`.
struct Dense {
    weight: Tensor,
    bias: Vec<f32>,
}

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

type Weights = HashMap<String, Tensor>;

fn tensor<'a>(weights: &'a Weights, name: &str) -> Result<&'a Tensor, String> {
    weights
        .get(name)
        .ok_or_else(|| format!("model.safetensors has no tensor {name}"))
}

fn floats(weights: &Weights, name: &str) -> Result<Vec<f32>, String> {
    tensor(weights, name)?
        .to_dtype(DType::F32)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1())
        .map_err(|e| format!("{name}: {e}"))
}

fn halves(weights: &Weights, name: &str) -> Result<Vec<f16>, String> {
    tensor(weights, name)?
        .to_dtype(DType::F16)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1())
        .map_err(|e| format!("{name}: {e}"))
}

impl Dense {
    /// Stacks the named `[out, in]` weights (and biases) into one layer.
    fn load(weights: &Weights, prefixes: &[&str]) -> Result<Self, String> {
        let mut parts = Vec::with_capacity(prefixes.len());
        let mut bias = Vec::new();
        for prefix in prefixes {
            parts.push(tensor(weights, &format!("{prefix}.weight"))?.clone());
            bias.extend(floats(weights, &format!("{prefix}.bias"))?);
        }
        let weight = Tensor::cat(&parts, 0)
            .and_then(|w| w.to_dtype(DType::F32))
            .and_then(|w| w.t())
            .and_then(|w| w.contiguous())
            .map_err(|e| format!("{}: {e}", prefixes.join("+")))?;
        Ok(Self { weight, bias })
    }

    fn forward(&self, x: &[f32], rows: usize) -> candle_core::Result<Vec<f32>> {
        let inputs = x.len() / rows.max(1);
        let mut y = Tensor::from_slice(x, (rows, inputs), &Device::Cpu)?
            .matmul(&self.weight)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        for row in y.chunks_exact_mut(self.bias.len()) {
            row.iter_mut().zip(&self.bias).for_each(|(v, b)| *v += b);
        }
        Ok(y)
    }
}

impl Norm {
    fn load(weights: &Weights, prefix: &str, eps: f64) -> Result<Self, String> {
        Ok(Self {
            gamma: floats(weights, &format!("{prefix}.weight"))?,
            beta: floats(weights, &format!("{prefix}.bias"))?,
            eps: eps as f32,
        })
    }

    /// Normalises each row of `x` in place.
    fn apply(&self, x: &mut [f32]) {
        let width = self.gamma.len() as f32;
        for row in x.chunks_exact_mut(self.gamma.len()) {
            let mean = row.iter().sum::<f32>() / width;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / width;
            let scale = 1.0 / (var + self.eps).sqrt();
            for ((v, g), b) in row.iter_mut().zip(&self.gamma).zip(&self.beta) {
                *v = (*v - mean) * scale * g + b;
            }
        }
    }
}

impl MiniLm {
    /// Builds the encoder from loaded weights named as in `model.safetensors`.
    fn from_weights(config: &BertConfig, weights: &Weights) -> Result<Self, String> {
        if config.hidden_act != "gelu" {
            return Err(format!("unsupported activation {}", config.hidden_act));
        }
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err("hidden_size must divide into the attention heads".into());
        }
        let eps = config.layer_norm_eps;
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                Ok(Layer {
                    qkv: Dense::load(
                        weights,
                        &[
                            &format!("{p}.attention.self.query"),
                            &format!("{p}.attention.self.key"),
                            &format!("{p}.attention.self.value"),
                        ],
                    )?,
                    attention_out: Dense::load(weights, &[&format!("{p}.attention.output.dense")])?,
                    attention_norm: Norm::load(
                        weights,
                        &format!("{p}.attention.output.LayerNorm"),
                        eps,
                    )?,
                    up: Dense::load(weights, &[&format!("{p}.intermediate.dense")])?,
                    down: Dense::load(weights, &[&format!("{p}.output.dense")])?,
                    out_norm: Norm::load(weights, &format!("{p}.output.LayerNorm"), eps)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let model = Self {
            hidden: config.hidden_size,
            heads: config.num_attention_heads,
            max_positions: config.max_position_embeddings,
            word: halves(weights, "embeddings.word_embeddings.weight")?,
            position: floats(weights, "embeddings.position_embeddings.weight")?,
            token_type: floats(weights, "embeddings.token_type_embeddings.weight")?,
            norm: Norm::load(weights, "embeddings.LayerNorm", eps)?,
            layers,
        };
        let shapes_ok = model.position.len() == model.max_positions * model.hidden
            && model.token_type.len() >= model.hidden
            && model.word.len().is_multiple_of(model.hidden)
            && model
                .layers
                .iter()
                .all(|l| l.up.bias.len() == config.intermediate_size);
        if !shapes_ok {
            return Err("model.safetensors does not match config.json".into());
        }
        Ok(model)
    }

    /// The last hidden state of the first token (`[CLS]`) of a sequence
    /// with segment ids (`type_ids` may be empty: all segment 0).
    pub fn first_token(&self, ids: &[u32], type_ids: &[u32]) -> Result<Vec<f32>, String> {
        let mut x = self.hidden_states(ids, type_ids)?;
        x.truncate(self.hidden);
        Ok(x)
    }

    /// Hidden states of every token, `[tokens, hidden]` row-major; at most
    /// `max_position_embeddings` tokens are read.
    fn hidden_states(&self, ids: &[u32], type_ids: &[u32]) -> Result<Vec<f32>, String> {
        let h = self.hidden;
        let tokens = ids.len().min(self.max_positions);
        if tokens == 0 {
            return Ok(vec![0.0; h]);
        }
        let vocab = self.word.len() / h;
        let types = self.token_type.len() / h;
        let mut x = Vec::with_capacity(tokens * h);
        for (position, &id) in ids[..tokens].iter().enumerate() {
            let id = id as usize;
            if id >= vocab {
                return Err(format!("token id {id} outside the vocabulary"));
            }
            let kind = type_ids.get(position).copied().unwrap_or(0) as usize;
            if kind >= types {
                return Err(format!("segment id {kind} outside the model's {types}"));
            }
            let word = &self.word[id * h..(id + 1) * h];
            let pos = &self.position[position * h..(position + 1) * h];
            let segment = &self.token_type[kind * h..(kind + 1) * h];
            x.extend(
                word.iter()
                    .zip(pos)
                    .zip(segment)
                    .map(|((w, p), t)| f32::from(*w) + p + t),
            );
        }
        self.norm.apply(&mut x);
        for layer in &self.layers {
            x = self.layer(layer, x, tokens).map_err(|e| e.to_string())?;
        }
        Ok(x)
    }

    fn layer(&self, layer: &Layer, x: Vec<f32>, tokens: usize) -> candle_core::Result<Vec<f32>> {
        let qkv = layer.qkv.forward(&x, tokens)?;
        let context = self.attention(&qkv, tokens);
        let mut h1 = layer.attention_out.forward(&context, tokens)?;
        h1.iter_mut().zip(&x).for_each(|(a, b)| *a += b);
        layer.attention_norm.apply(&mut h1);
        let mut inner = layer.up.forward(&h1, tokens)?;
        inner.iter_mut().for_each(|v| *v = gelu(*v));
        let mut out = layer.down.forward(&inner, tokens)?;
        out.iter_mut().zip(&h1).for_each(|(a, b)| *a += b);
        layer.out_norm.apply(&mut out);
        Ok(out)
    }

    /// Scaled dot-product attention per head over rows of `[q | k | v]`
    /// (no padding: one sequence, every token attends to every token).
    fn attention(&self, qkv: &[f32], tokens: usize) -> Vec<f32> {
        let h = self.hidden;
        let head = h / self.heads;
        let scale = 1.0 / (head as f32).sqrt();
        let mut context = vec![0.0f32; tokens * h];
        let mut scores = vec![0.0f32; tokens];
        for hd in 0..self.heads {
            let off = hd * head;
            for i in 0..tokens {
                let q = &qkv[i * 3 * h + off..][..head];
                for (j, score) in scores.iter_mut().enumerate() {
                    let k = &qkv[j * 3 * h + h + off..][..head];
                    *score = dot(q, k) * scale;
                }
                softmax(&mut scores);
                let out = &mut context[i * h + off..][..head];
                for (j, p) in scores.iter().enumerate() {
                    let v = &qkv[j * 3 * h + 2 * h + off..][..head];
                    out.iter_mut().zip(v).for_each(|(o, v)| *o += p * v);
                }
            }
        }
        context
    }
}

/// A cross-encoder on the same encoder: reads two texts together
/// (`[CLS] a [SEP] b [SEP]`, segment ids 0 then 1) and scores them with a
/// linear head on the `[CLS]` state (`classifier.weight`, `classifier.bias`).
pub struct CrossEncoder {
    encoder: MiniLm,
    weight: Vec<f32>,
    bias: f32,
}

impl CrossEncoder {
    /// Builds the cross-encoder from `config.json` and a safetensors file
    /// (read through a memory map, once).
    pub fn load_file(config: &BertConfig, path: &std::path::Path) -> Result<Self, String> {
        let weights = candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let encoder = MiniLm::from_weights(config, &weights)?;
        let weight = floats(&weights, "classifier.weight")?;
        let bias = floats(&weights, "classifier.bias")?;
        if weight.len() != encoder.hidden || bias.len() != 1 {
            return Err("classifier does not match the encoder".into());
        }
        Ok(Self {
            encoder,
            weight,
            bias: bias[0],
        })
    }

    /// Probability (0..1) the head gives the pair, from token and segment ids.
    pub fn score(&self, ids: &[u32], type_ids: &[u32]) -> Result<f32, String> {
        let cls = self.encoder.first_token(ids, type_ids)?;
        let logit = dot(&cls, &self.weight) + self.bias;
        Ok(1.0 / (1.0 + (-logit).exp()))
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

fn softmax(v: &mut [f32]) {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    v.iter_mut().for_each(|x| *x /= sum);
}

/// Exact GELU, `x/2 (1 + erf(x/√2))`.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// Rational approximation of erf for f32 (the one Eigen uses): odd
/// polynomial over even polynomial on [-4, 4], within a few ulp.
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    for a in [
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_6e-3,
        -1.609_603_3e-2,
    ] {
        p = p * x2 + a;
    }
    let mut q = -1.456_607_2e-5_f32;
    for b in [
        -2.133_740_6e-4,
        -1.682_827e-3,
        -7.373_329_3e-3,
        -1.426_474e-2,
    ] {
        q = q * x2 + b;
    }
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf by its Taylor series in f64 (exact enough on [-4, 4]).
    fn erf_series(x: f64) -> f64 {
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_matches_the_series() {
        let mut worst = 0.0f64;
        for i in -600..=600 {
            let x = i as f64 / 100.0;
            let expected = if x.abs() > 5.0 {
                x.signum()
            } else {
                erf_series(x)
            };
            worst = worst.max((erf(x as f32) as f64 - expected).abs());
        }
        assert!(worst < 5e-7, "erf error {worst}");
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut v = vec![1.0, 3.0, 2.0, -50.0];
        softmax(&mut v);
        assert!((v.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(v[1] > v[2] && v[2] > v[0] && v[3] < 1e-20);
    }

    #[test]
    fn dot_handles_tails() {
        let a: Vec<f32> = (0..13).map(|i| i as f32).collect();
        assert_eq!(dot(&a, &a), (0..13).map(|i| (i * i) as f32).sum::<f32>());
    }
}
