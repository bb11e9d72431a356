//! Import progress: ordered, weighted steps and counters inside long steps.

/// One step of an import plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDef {
    pub name: &'static str,
    pub weight: u32,
}

/// Computes an import's percentage from its plan. Progress never decreases
/// and stays at most 99 until the import has committed.
#[derive(Debug, Clone)]
pub struct ProgressModel {
    steps: Vec<StepDef>,
    total: u64,
    last: u8,
}

impl ProgressModel {
    pub fn new(steps: Vec<StepDef>) -> Self {
        let total = steps
            .iter()
            .map(|s| u64::from(s.weight))
            .sum::<u64>()
            .max(1);
        ProgressModel {
            steps,
            total,
            last: 1,
        }
    }

    pub fn steps(&self) -> &[StepDef] {
        &self.steps
    }

    /// Progress with steps `0..step` finished and step `step` at `done/of`.
    /// Returns the new percentage (1..=99), never lower than before.
    pub fn update(&mut self, step: usize, done: u64, of: u64) -> u8 {
        let before: u64 = self
            .steps
            .iter()
            .take(step)
            .map(|s| u64::from(s.weight))
            .sum();
        let w = self.steps.get(step).map_or(0, |s| u64::from(s.weight));
        let part = (w * done.min(of)).checked_div(of).unwrap_or(0);
        let pct = ((before + part) * 100 / self.total).clamp(1, 99) as u8;
        self.last = self.last.max(pct);
        self.last
    }

    pub fn current(&self) -> u8 {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ProgressModel {
        ProgressModel::new(vec![
            StepDef {
                name: "a",
                weight: 10,
            },
            StepDef {
                name: "b",
                weight: 80,
            },
            StepDef {
                name: "c",
                weight: 10,
            },
        ])
    }

    #[test]
    fn weights_and_counters() {
        let mut m = model();
        assert_eq!(m.current(), 1);
        assert_eq!(m.update(1, 0, 10), 10);
        assert_eq!(m.update(1, 5, 10), 50);
        assert_eq!(m.update(2, 0, 1), 90);
        assert_eq!(m.update(3, 0, 0), 99, "never 100 before commit");
    }

    #[test]
    fn never_decreases() {
        let mut m = model();
        m.update(1, 9, 10);
        assert_eq!(m.update(0, 0, 1), 82);
        assert_eq!(m.update(1, 99, 0), 82);
    }
}
