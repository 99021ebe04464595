//! Folding an inference-mode batch normalisation into the layer before it.

use xbar_nn::Layer;

/// Folds `y = scale (x - mean) / sqrt(var + eps) + shift` (per output channel or feature)
/// into `layer`, which must be a convolution or a dense layer: with `k = scale / sqrt(var +
/// eps)`, every weight of output `m` is multiplied by `k[m]` and the bias becomes
/// `(b[m] - mean[m]) k[m] + shift[m]` (the ONNX BatchNormalization formula, inference mode).
pub(crate) fn batch_norm(
    layer: Option<&mut Layer>,
    [scale, shift, mean, var]: [&[f64]; 4],
    eps: f64,
) -> Result<(), String> {
    let n = match &layer {
        Some(Layer::Conv2d(c)) => c.out_channels(),
        Some(Layer::Dense(d)) => d.outputs(),
        other => {
            return Err(format!(
                "batch normalisation is folded into the convolution or dense layer just before \
                 it; here it follows {}",
                other.as_ref().map_or("the input", |l| l.kind())
            ));
        }
    };
    for (name, v) in [
        ("scale", scale),
        ("bias", shift),
        ("mean", mean),
        ("var", var),
    ] {
        if v.len() != n {
            return Err(format!(
                "{name} has {} values, expected {n} (one per output)",
                v.len()
            ));
        }
    }
    let mut k = Vec::with_capacity(n);
    for (i, &v) in var.iter().enumerate() {
        let d = v + eps;
        if d.is_nan() || d <= 0.0 {
            return Err(format!("var[{i}] + epsilon = {d} is not positive"));
        }
        k.push(scale[i] / d.sqrt());
    }
    let (w, b) = match layer {
        Some(Layer::Conv2d(c)) => (&mut c.weight, &mut c.bias),
        Some(Layer::Dense(d)) => (&mut d.w, &mut d.b),
        _ => unreachable!("checked above"),
    };
    for m in 0..n {
        w.col_as_slice_mut(m).iter_mut().for_each(|v| *v *= k[m]);
        b[m] = (b[m] - mean[m]) * k[m] + shift[m];
    }
    Ok(())
}
