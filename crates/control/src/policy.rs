//! Step policies: how much of a proposed step to take (spec §4).

use crate::InvalidSetting;
use serde::{Deserialize, Serialize};
use zoo::{ParamVec, Real};

/// How a controller turns a proposed step p into the applied step s·p.
///
/// In YAML: `{kind: plain}`, `{kind: clip-grad, max_norm: 1.0}`,
/// `{kind: rho-cap, r_target: 1.0}`, `{kind: rho-set, r_target: 1.0}`,
/// `{kind: grad-norm-cap}` (unknown keys are refused).
///
/// Every optimiser in this crate has p linear in the learning rate, so a
/// scale s is the same as stepping at lr_eff = s·lr.
///
/// Non-exhaustive: more policies may come.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum StepPolicy {
    /// Take the proposed step (s = 1): the plain optimiser.
    Plain,
    /// Gradient clipping (spec C6): rescale g to global L2 norm ≤ `max_norm`
    /// before proposing (PyTorch's `clip_grad_norm_`, see [`clip_to_norm`]),
    /// then take the step (s = 1). The clipped gradient is what the
    /// optimiser's moments see, as in PyTorch.
    ClipGrad {
        /// The largest gradient norm passed on (spec: 1.0).
        #[serde(default = "one")]
        max_norm: f64,
    },
    /// ρ-cap (paper Prop. 5.2, spec C1): v = p/‖p‖,
    /// s = min(1, r_target·ρa(v)/‖p‖), so the applied step has
    /// r = τ/ρa ≤ r_target. A step inside the radius is taken unchanged.
    RhoCap {
        /// Largest normalised step r allowed (paper: 1).
        #[serde(default = "one")]
        r_target: f64,
    },
    /// ρ-set (spec C2): no base rate; s = r_target·ρa(v)/‖p‖ every step, so
    /// τ = r_target·ρa exactly (s may exceed 1). The schedule only sets the
    /// lr the step is proposed at, which cancels.
    RhoSet {
        /// The normalised step r every step takes (paper: 1).
        #[serde(default = "one")]
        r_target: f64,
    },
    /// The arch-grid code's gradient-norm controller (spec C5, not the
    /// paper's definition): ρa along −g/‖g‖, τ_raw = lr·‖g‖,
    /// s = min(τ_raw, ρa)/τ_raw applied to the optimiser's step. Adam's real
    /// step is not lr·‖g‖, so this does not bound the applied step's r.
    GradNormCap,
    /// ρ-set on a network radius (spec C8 with C2, the transformer
    /// experiment's adaptive modes): one JVP along v = p/‖p‖ with the
    /// layers' probes gives ρ_out (logit slopes), ρ_attn (attention-score
    /// tangents) and ρ_ffn (FFN kink distances, [`crate::ComponentRadii`]);
    /// ρ_net is the smallest of the `terms`, and s = r_target·ρ_net/‖p‖, so
    /// τ = r_target·ρ_net exactly.
    RhoNet {
        /// The normalised step τ/ρ_net every step takes (paper: 1).
        #[serde(default = "one")]
        r_target: f64,
        /// Which radii ρ_net is the minimum of.
        terms: NetTerms,
        /// The quantile of the FFN kink distances taken as ρ_ffn (spec C8:
        /// 0.01).
        #[serde(default = "ffn_quantile")]
        ffn_quantile: f64,
    },
}

fn one() -> f64 {
    1.0
}

fn ffn_quantile() -> f64 {
    0.01
}

/// The radii a network radius ρ_net takes the minimum of (spec C8 and the
/// author's code's variants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetTerms {
    /// ρ_net = min(ρ_out, ρ_attn, ρ_ffn): the paper's all-radii controller.
    AllRadii,
    /// ρ_net = min(ρ_out, ρ_attn) (the author's code only).
    AttnOut,
    /// ρ_net = ρ_out: the plain ρa of the logits.
    OutputOnly,
}

impl NetTerms {
    /// The terms, in the author's order of ties (out, attn, ffn).
    pub fn terms(self) -> &'static [crate::RadiusTerm] {
        use crate::RadiusTerm::{Attn, Ffn, Out};
        match self {
            NetTerms::AllRadii => &[Out, Attn, Ffn],
            NetTerms::AttnOut => &[Out, Attn],
            NetTerms::OutputOnly => &[Out],
        }
    }
}

impl StepPolicy {
    /// The paper's ρ-cap with r_target = 1.
    pub fn rho_cap() -> Self {
        StepPolicy::RhoCap { r_target: 1.0 }
    }

    /// True if the policy needs ρa along the proposed step itself.
    pub fn needs_step_radius(&self) -> bool {
        matches!(
            self,
            StepPolicy::RhoCap { .. } | StepPolicy::RhoSet { .. } | StepPolicy::RhoNet { .. }
        )
    }

    /// Check values serde cannot (positive finite `max_norm`, `r_target`).
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let (key, value) = match *self {
            StepPolicy::ClipGrad { max_norm } => ("policy.max_norm", max_norm),
            StepPolicy::RhoCap { r_target } | StepPolicy::RhoSet { r_target } => {
                ("policy.r_target", r_target)
            }
            StepPolicy::RhoNet {
                r_target,
                ffn_quantile,
                ..
            } => {
                if !(0.0..=1.0).contains(&ffn_quantile) {
                    return Err(InvalidSetting::new(
                        "policy.ffn_quantile",
                        format!("must be a quantile in [0, 1], got {ffn_quantile}"),
                    ));
                }
                ("policy.r_target", r_target)
            }
            StepPolicy::Plain | StepPolicy::GradNormCap => return Ok(()),
        };
        if value.is_finite() && value > 0.0 {
            Ok(())
        } else {
            Err(InvalidSetting::new(
                key,
                format!("must be a positive finite number, got {value}"),
            ))
        }
    }
}

/// PyTorch's `clip_grad_norm_`: if c = max_norm/(‖g‖ + 1e-6) < 1, return c·g
/// (global L2 norm just below `max_norm`, up to the element type's
/// rounding), else g unchanged.
pub fn clip_to_norm<E: Real>(grad: &ParamVec<E>, max_norm: f64) -> ParamVec<E> {
    let coefficient = max_norm / (grad.norm() + 1e-6);
    let mut clipped = grad.clone();
    if coefficient < 1.0 {
        clipped.scale(coefficient);
    }
    clipped
}

/// ρ-cap scale s = min(1, r_target·ρa/‖p‖) (spec C1). The zero step gives 1
/// (nothing to cap); a NaN radius gives NaN (the caller must not step).
pub fn rho_cap_scale(step_norm: f64, rho_a: f64, r_target: f64) -> f64 {
    if step_norm == 0.0 {
        return 1.0;
    }
    // f64::min(1, NaN) is 1: a broken radius must not pass as "inside".
    let s = r_target * rho_a / step_norm;
    if s.is_nan() {
        f64::NAN
    } else {
        s.min(1.0)
    }
}

/// ρ-set scale s = r_target·ρa/‖p‖ (spec C2). The zero step gives 1; a NaN
/// radius gives NaN.
pub fn rho_set_scale(step_norm: f64, rho_a: f64, r_target: f64) -> f64 {
    if step_norm == 0.0 {
        return 1.0;
    }
    r_target * rho_a / step_norm
}

/// Gradient-norm controller scale (spec C5): τ_raw = lr·‖g‖,
/// s = min(τ_raw, ρa)/τ_raw, where ρa is measured along −g/‖g‖. A zero
/// τ_raw gives 1; a NaN radius gives NaN.
pub fn grad_norm_cap_scale(lr: f64, grad_norm: f64, rho_a_grad: f64) -> f64 {
    let tau_raw = lr * grad_norm;
    if tau_raw == 0.0 {
        return 1.0;
    }
    if rho_a_grad.is_nan() {
        return f64::NAN;
    }
    tau_raw.min(rho_a_grad) / tau_raw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_rescales_to_at_most_max_norm() {
        let g = ParamVec(vec![3.0f64, 4.0, 0.0]);
        let c = clip_to_norm(&g, 1.0);
        assert!(c.norm() <= 1.0 && c.norm() > 1.0 - 1e-6, "{}", c.norm());
        // Direction kept.
        assert!((c.0[0] / c.0[1] - 0.75).abs() < 1e-15);
        // Below the limit: untouched, bit for bit.
        assert_eq!(clip_to_norm(&g, 10.0), g);
        for &m in &[1e-8, 1e-3, 0.5, 4.99] {
            assert!(clip_to_norm(&g, m).norm() <= m);
        }
    }

    #[test]
    fn scales() {
        assert_eq!(rho_cap_scale(2.0, 10.0, 1.0), 1.0);
        assert_eq!(rho_cap_scale(2.0, 1.0, 1.0), 0.5);
        assert_eq!(rho_cap_scale(0.0, f64::NAN, 1.0), 1.0);
        assert!(rho_cap_scale(2.0, f64::NAN, 1.0).is_nan());
        assert_eq!(rho_set_scale(2.0, 10.0, 0.5), 2.5);
        assert_eq!(grad_norm_cap_scale(10.0, 2.0, 5.0), 0.25);
        assert_eq!(grad_norm_cap_scale(0.1, 2.0, 5.0), 1.0);
        assert!(grad_norm_cap_scale(10.0, 2.0, f64::NAN).is_nan());
    }

    #[test]
    fn yaml_forms() {
        let p: StepPolicy = serde_yaml::from_str("kind: rho-cap\n").unwrap();
        assert_eq!(p, StepPolicy::rho_cap());
        let p: StepPolicy = serde_yaml::from_str("kind: rho-set\nr_target: 0.5\n").unwrap();
        assert_eq!(p, StepPolicy::RhoSet { r_target: 0.5 });
        let p: StepPolicy = serde_yaml::from_str("kind: clip-grad\n").unwrap();
        assert_eq!(p, StepPolicy::ClipGrad { max_norm: 1.0 });
        let p: StepPolicy = serde_yaml::from_str("kind: grad-norm-cap\n").unwrap();
        assert_eq!(p, StepPolicy::GradNormCap);
        let p: StepPolicy = serde_yaml::from_str("kind: rho-net\nterms: all-radii\n").unwrap();
        assert_eq!(
            p,
            StepPolicy::RhoNet {
                r_target: 1.0,
                terms: NetTerms::AllRadii,
                ffn_quantile: 0.01
            }
        );
        assert!(StepPolicy::RhoNet {
            r_target: 1.0,
            terms: NetTerms::OutputOnly,
            ffn_quantile: 1.5
        }
        .validate()
        .is_err());
        assert!(serde_yaml::from_str::<StepPolicy>("kind: rho-cap\nr: 1\n").is_err());
        assert!(serde_yaml::from_str::<StepPolicy>("kind: rho-clamp\n").is_err());
        assert!(StepPolicy::RhoCap { r_target: 0.0 }.validate().is_err());
        assert!(StepPolicy::ClipGrad { max_norm: f64::NAN }
            .validate()
            .is_err());
        assert!(StepPolicy::Plain.validate().is_ok());
    }
}
