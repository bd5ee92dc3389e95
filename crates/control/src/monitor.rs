//! A per-step monitor for a user's own training loop: given the update the
//! user's optimiser is about to apply, how far it reaches against the
//! radius ρa (paper §4, eq. 8: ρa = π/Δa along the update's direction), and
//! which sample and which classes set that radius. It only measures; it
//! changes nothing (the cap factor it reports is what
//! [`crate::StepPolicy::RhoCap`] would apply).
//!
//! ```
//! use control::Monitor;
//! use zoo::{arch, ArchConfig, Batch, ParamVec};
//!
//! let model = arch::find("linear")?.build::<f64>(&ArchConfig::default());
//! let state = model.init(0);
//! let x: Vec<f64> = (0..128).map(|i| (i % 17) as f64 / 16.0).collect();
//! let batch = Batch::new(x, 64, vec![3, 7], 10);
//! // The update the user's optimiser proposes (here: a random one of norm 5).
//! let mut update = ParamVec::random_unit(model.num_params(), 1);
//! update.scale(5.0);
//! let rec = Monitor::new().with_top2().with_exact().observe(0, &model, &state, &batch, &update);
//! assert_eq!(rec.tau, update.norm());
//! assert!((rec.r - rec.tau / rec.rho_a).abs() <= 1e-12 * rec.r);
//! // ρa is a lower bound on every sample's exact radius (paper Thm. 4.2).
//! assert!(rec.rho_a <= rec.rho_exact.unwrap());
//! # Ok::<(), anyhow::Error>(())
//! ```

use crate::probe::set_radius;
use radius::Aggregation;
use serde::{Deserialize, Deserializer, Serialize};
use zoo::{Batch, Model, ParamVec, Real, State};

/// What [`Monitor`] measures.
#[derive(Debug, Clone)]
pub struct Monitor {
    /// How per-sample spreads become the set's Δa (default: the worst
    /// sample, the theory's choice; a quantile is the robust variant).
    pub aggregation: Aggregation,
    /// The r the cap factor aims at (default 1: τ ≤ ρa).
    pub r_target: f64,
    /// How many samples closest to binding to report (default 5).
    pub closest: usize,
    /// Also the top-2 radius (paper eq. 13) of the worst sample.
    pub top2: bool,
    /// Also the certified exact radius ρ* (nearest zero of F) of the worst
    /// sample: a root solve per sample, the costly option.
    pub exact: bool,
}

impl Default for Monitor {
    fn default() -> Self {
        Monitor::new()
    }
}

/// One sample near binding: its index in the batch and its own radius
/// π·T/Δa(x).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NearBinding {
    /// Row of the batch.
    pub sample: usize,
    /// That sample's ρa(x) (same units as τ: parameter-space distance).
    #[serde(deserialize_with = "nullable_f64")]
    pub rho_a: f64,
}

/// One step as the monitor saw it. Serialises to one JSON object, a line
/// of the monitor's JSON Lines log ([`crate::MonitorLog`]; keys, types and
/// units in [`crate::jsonl`]); non-finite numbers are written as `null` and
/// read back as NaN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorRecord {
    /// The caller's step counter.
    pub step: u64,
    /// τ = ‖u‖, the update's Euclidean norm over all parameters.
    #[serde(deserialize_with = "nullable_f64")]
    pub tau: f64,
    /// Δa of the batch along u/‖u‖ (aggregated spread of the logit slopes).
    #[serde(deserialize_with = "nullable_f64")]
    pub delta_a: f64,
    /// ρa = π·T/Δa (paper eq. 8; T the loss temperature, 1 by default).
    #[serde(deserialize_with = "nullable_f64")]
    pub rho_a: f64,
    /// r = τ/ρa, the normalised step (r < 1: inside the guaranteed radius).
    #[serde(deserialize_with = "nullable_f64")]
    pub r: f64,
    /// The factor the paper's cap would apply: min(1, r_target·ρa/τ)
    /// ([`crate::rho_cap_scale`], Prop. 5.2).
    #[serde(deserialize_with = "nullable_f64")]
    pub cap_factor: f64,
    /// The sample that sets ρa (row of the batch).
    pub binding_sample: Option<usize>,
    /// The binding sample's class pair (k_max, k_min): the classes with the
    /// largest and the smallest slope, whose difference is Δa(x).
    pub class_pair: Option<(usize, usize)>,
    /// The samples closest to binding, smallest radius first.
    pub closest: Vec<NearBinding>,
    /// ρ_top2 of the worst sample (min over the batch; label = the batch's
    /// label), when asked for. `None` is written as no key at all (a
    /// measured NaN as `null`), so it reads back as `None`.
    #[serde(default, deserialize_with = "nullable_opt_f64", skip_serializing_if = "Option::is_none")]
    pub rho_top2: Option<f64>,
    /// Certified ρ* of the worst sample (min over the batch), when asked
    /// for; written as [`MonitorRecord::rho_top2`] is.
    #[serde(default, deserialize_with = "nullable_opt_f64", skip_serializing_if = "Option::is_none")]
    pub rho_exact: Option<f64>,
    /// The monitor's own wall time for this step, milliseconds (one JVP on
    /// the batch plus the radii).
    pub ms: f64,
}

fn nullable_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn nullable_opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    // A present null is a measured NaN; an absent key is "not asked for"
    // (serde's default).
    Ok(Some(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN)))
}

impl Monitor {
    /// ρa of the worst sample, r_target 1, the 5 samples closest to binding,
    /// no top-2 or exact radius.
    pub fn new() -> Self {
        Monitor {
            aggregation: Aggregation::Max,
            r_target: 1.0,
            closest: 5,
            top2: false,
            exact: false,
        }
    }

    /// Aggregate the per-sample spreads this way instead.
    pub fn with_aggregation(mut self, aggregation: Aggregation) -> Self {
        self.aggregation = aggregation;
        self
    }

    /// Cap factor towards r = `r_target` instead of 1.
    pub fn with_r_target(mut self, r_target: f64) -> Self {
        self.r_target = r_target;
        self
    }

    /// Report the `k` samples closest to binding.
    pub fn with_closest(mut self, k: usize) -> Self {
        self.closest = k;
        self
    }

    /// Also measure the top-2 radius.
    pub fn with_top2(mut self) -> Self {
        self.top2 = true;
        self
    }

    /// Also measure the certified exact radius.
    pub fn with_exact(mut self) -> Self {
        self.exact = true;
        self
    }

    /// Measures step `step`: the update `update` (the parameter change the
    /// optimiser is about to apply, any norm) at parameters `state`, on
    /// `batch`, by one eval-mode exact JVP along u/‖u‖ ([`Model::jvp`]).
    /// Works on any backend and element type. A zero update has no
    /// direction: its slopes are 0, so Δa = 0 and ρa is the floored,
    /// huge radius ([`crate::SPREAD_FLOOR`]). NaN in the update or the
    /// model gives NaN radii (never a panic).
    pub fn observe<E: Real>(
        &self,
        step: u64,
        model: &Model<E>,
        state: &State<E>,
        batch: &Batch<E>,
        update: &ParamVec<E>,
    ) -> MonitorRecord {
        let start = std::time::Instant::now();
        let tau = update.norm();
        let jvp = model.jvp(state, &batch.x, &update.normalized());
        let k = model.classes;
        let to64 = |m: &[E]| -> Vec<f64> { m.iter().map(|v| v.to_f64().unwrap_or(f64::NAN)).collect() };
        let (z, a) = (to64(&jvp.logits.data), to64(&jvp.slopes.data));
        let set = set_radius(&jvp.slopes.data, k, self.aggregation, model.temperature);
        let spreads = radius::spreads_of_rows(&a, k);
        let t = model.temperature;
        let own = |s: f64| radius::rho_a_tempered(s.max(crate::SPREAD_FLOOR), t);
        // Closest to binding: largest spread first (NaN first: it binds).
        let mut order: Vec<usize> = (0..spreads.len()).collect();
        order.sort_by(|&i, &j| {
            let key = |s: f64| if s.is_nan() { f64::INFINITY } else { s };
            key(spreads[j]).total_cmp(&key(spreads[i])).then(i.cmp(&j))
        });
        let closest = order
            .iter()
            .take(self.closest)
            .map(|&i| NearBinding { sample: i, rho_a: if spreads[i].is_nan() { f64::NAN } else { own(spreads[i]) } })
            .collect();
        let class_pair = set.bottleneck.and_then(|b| {
            let row = a.get(b * k..(b + 1) * k)?;
            let arg = |better: fn(f64, f64) -> bool| {
                (0..k).fold(0, |best, c| if better(row[c], row[best]) { c } else { best })
            };
            Some((arg(|x, y| x > y), arg(|x, y| x < y)))
        });
        // The loss is CE(z/T): its radius along τ is that of z/T, a/T.
        let row = |m: &[f64], i: usize| -> Vec<f64> { m[i * k..(i + 1) * k].iter().map(|v| v / t).collect() };
        let rows = batch.labels.len().min(spreads.len());
        let worst = |f: &dyn Fn(usize) -> f64| -> f64 {
            (0..rows).map(f).fold(f64::INFINITY, |m, v| if v.is_nan() || m.is_nan() { f64::NAN } else { m.min(v) })
        };
        let rho_top2 = self.top2.then(|| {
            worst(&|i| {
                radius::top2(&row(&z, i), &row(&a, i), Some(batch.labels[i])).map_or(f64::NAN, |p| p.rho_top2)
            })
        });
        let rho_exact = self.exact.then(|| {
            worst(&|i| radius::exact_radius(&row(&z, i), &row(&a, i)).map_or(f64::NAN, |e| e.rho_exact))
        });
        MonitorRecord {
            step,
            tau,
            delta_a: set.delta_a,
            rho_a: set.rho_a,
            r: radius::normalized_step(tau, set.rho_a),
            cap_factor: crate::rho_cap_scale(tau, set.rho_a, self.r_target),
            binding_sample: set.bottleneck,
            class_pair,
            closest,
            rho_top2,
            rho_exact,
            ms: start.elapsed().as_secs_f64() * 1e3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoo::{arch, ArchConfig};

    fn setup() -> (Model<f64>, State<f64>, Batch<f64>) {
        let model = arch::find("mlp-ln").unwrap().build::<f64>(&ArchConfig::default());
        let state = model.init(3);
        let x: Vec<f64> = (0..64 * 12).map(|i| ((i * 7) % 17) as f64 / 16.0).collect();
        let batch = Batch::new(x, 64, (0..12).map(|i| i % 10).collect(), 10);
        (model, state, batch)
    }

    #[test]
    fn record_agrees_with_the_probe_and_the_radius_core() {
        let (model, state, batch) = setup();
        let mut u = ParamVec::random_unit(model.num_params(), 7);
        u.scale(3.0);
        let rec = Monitor::new().with_closest(3).with_top2().with_exact().observe(9, &model, &state, &batch, &u);
        let probe = crate::RadiusProbe::<f64>::on_current_batch().measure(&model, &state, &batch, &u);
        assert_eq!(rec.rho_a, probe.rho_a);
        assert_eq!(rec.binding_sample, probe.bottleneck);
        assert_eq!(rec.step, 9);
        assert!((rec.tau - 3.0).abs() < 1e-12);
        assert_eq!(rec.cap_factor, crate::rho_cap_scale(rec.tau, rec.rho_a, 1.0));
        // The binding sample comes first among the closest, with ρa itself.
        assert_eq!(rec.closest.len(), 3);
        assert_eq!(Some(rec.closest[0].sample), rec.binding_sample);
        assert!((rec.closest[0].rho_a - rec.rho_a).abs() <= 1e-12 * rec.rho_a);
        assert!(rec.closest.windows(2).all(|w| w[0].rho_a <= w[1].rho_a));
        // The class pair spans the binding sample's spread.
        let jvp = model.jvp(&state, &batch.x, &u.normalized());
        let (b, (hi, lo)) = (rec.binding_sample.unwrap(), rec.class_pair.unwrap());
        let s = &jvp.slopes.data[b * 10..(b + 1) * 10];
        assert!((s[hi] - s[lo] - rec.delta_a).abs() <= 1e-12 * rec.delta_a.abs().max(1.0));
        // ρa bounds both finer radii from below (paper §4).
        assert!(rec.rho_a <= rec.rho_exact.unwrap() * (1.0 + 1e-9));
        assert!(rec.rho_a <= rec.rho_top2.unwrap() * (1.0 + 1e-9));
    }

    #[test]
    fn a_nan_update_gives_nan_radii_not_a_panic() {
        let (model, state, batch) = setup();
        let mut u = ParamVec::random_unit(model.num_params(), 1);
        u.0[0] = f64::NAN;
        let rec = Monitor::new().with_exact().observe(0, &model, &state, &batch, &u);
        assert!(rec.rho_a.is_nan() && rec.r.is_nan(), "{rec:?}");
        assert!(rec.rho_exact.unwrap().is_nan());
    }
}
