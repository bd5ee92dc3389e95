//! Learning-rate schedules: a constant base rate with an optional spike
//! (spec C7).

use crate::InvalidSetting;
use serde::{Deserialize, Serialize};

/// lr(t) = base, times the spike's multiplier while the spike lasts.
///
/// In YAML (unknown keys are refused):
///
/// ```yaml
/// base: 0.015
/// spike: {multiplier: 1000, start: 50, duration: 1}   # arch-grid code: one step
/// ```
///
/// Leave `duration` out to hold the spike to the end (lr-spike: 150 of 200
/// steps), and `spike` out for a constant rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The base learning rate η0.
    pub base: f64,
    /// An optional spike.
    #[serde(default)]
    pub spike: Option<Spike>,
}

/// A learning-rate spike: lr = base·multiplier for steps start..start+duration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spike {
    /// M: the factor the base rate is multiplied by.
    pub multiplier: f64,
    /// First spiked step index (0-based; the paper's 50).
    pub start: usize,
    /// Number of spiked steps; `None` holds the spike to the end of training.
    #[serde(default)]
    pub duration: Option<usize>,
}

impl Spike {
    /// True if step `step` is spiked.
    pub fn covers(&self, step: usize) -> bool {
        step >= self.start
            && match self.duration {
                None => true,
                Some(d) => step - self.start < d,
            }
    }
}

impl Schedule {
    /// A constant rate.
    pub fn constant(base: f64) -> Self {
        Schedule { base, spike: None }
    }

    /// The same schedule with a spike.
    pub fn with_spike(mut self, spike: Spike) -> Self {
        self.spike = Some(spike);
        self
    }

    /// The learning rate at step index `step` (0-based).
    pub fn lr(&self, step: usize) -> f64 {
        match self.spike {
            Some(s) if s.covers(step) => self.base * s.multiplier,
            _ => self.base,
        }
    }

    /// Check values serde cannot: positive finite base and multiplier, a
    /// duration of at least one step.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if !(self.base.is_finite() && self.base > 0.0) {
            return Err(InvalidSetting::new(
                "schedule.base",
                format!("must be a positive finite number, got {}", self.base),
            ));
        }
        if let Some(s) = &self.spike {
            if !(s.multiplier.is_finite() && s.multiplier > 0.0) {
                return Err(InvalidSetting::new(
                    "schedule.spike.multiplier",
                    format!("must be a positive finite number, got {}", s.multiplier),
                ));
            }
            if s.duration == Some(0) {
                return Err(InvalidSetting::new(
                    "schedule.spike.duration",
                    "must be at least 1 (leave it out to hold the spike to the end)",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spike_shapes() {
        let one_step = Schedule::constant(0.015).with_spike(Spike {
            multiplier: 100.0,
            start: 50,
            duration: Some(1),
        });
        let lrs: Vec<f64> = (0..200).map(|t| one_step.lr(t)).collect();
        assert_eq!(lrs[49], 0.015);
        assert_eq!(lrs[50], 0.015 * 100.0);
        assert_eq!(lrs[51], 0.015);
        assert_eq!(lrs.iter().filter(|&&l| l != 0.015).count(), 1);

        let held = Schedule::constant(1e-3).with_spike(Spike {
            multiplier: 1000.0,
            start: 50,
            duration: None,
        });
        assert_eq!(held.lr(49), 1e-3);
        assert!((50..200).all(|t| held.lr(t) == 1e-3 * 1000.0));
        assert_eq!((0..200).filter(|&t| held.lr(t) != 1e-3).count(), 150);

        let three = Spike {
            multiplier: 10.0,
            start: 5,
            duration: Some(3),
        };
        assert_eq!(
            (0..12).filter(|&t| three.covers(t)).collect::<Vec<_>>(),
            vec![5, 6, 7]
        );
        assert!((0..1000).all(|t| Schedule::constant(0.1).lr(t) == 0.1));
    }

    #[test]
    fn yaml_round_trip_and_refusals() {
        let s: Schedule =
            serde_yaml::from_str("base: 0.001\nspike: {multiplier: 1000, start: 50}\n").unwrap();
        assert_eq!(s.spike.unwrap().duration, None);
        assert!((s.lr(199) - 1.0).abs() < 1e-15);
        let back: Schedule = serde_yaml::from_str(&serde_yaml::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert!(serde_yaml::from_str::<Schedule>("base: 0.1\nspkie: null\n").is_err());
        assert!(serde_yaml::from_str::<Schedule>(
            "base: 0.1\nspike: {multiplier: 2, start: 1, length: 3}\n"
        )
        .is_err());
        assert!(Schedule::constant(0.0).validate().is_err());
        let zero = Schedule::constant(0.1).with_spike(Spike {
            multiplier: 2.0,
            start: 0,
            duration: Some(0),
        });
        assert!(zero.validate().is_err());
        assert!(s.validate().is_ok());
    }
}
