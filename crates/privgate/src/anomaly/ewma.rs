//! An exponentially weighted moving mean and variance (Finch, "Incremental calculation of
//! weighted mean and variance", 2009, §9), with a closed form for a run of empty intervals
//! so that a quiet night or weekend costs O(1), not one step per interval.

/// The running baseline of one series (records served per interval by one identity).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Ewma {
    /// The weighted mean.
    pub mean: f64,
    /// The weighted variance.
    pub var: f64,
    /// How many values (intervals) went in.
    pub count: u64,
}

impl Ewma {
    /// Folds in one value with weight `alpha` (0 < alpha ≤ 1). The first value sets the
    /// mean, with no variance.
    pub fn update(&mut self, alpha: f64, x: f64) {
        if self.count == 0 {
            self.mean = x;
            self.var = 0.0;
        } else {
            let diff = x - self.mean;
            let incr = alpha * diff;
            self.mean += incr;
            self.var = (1.0 - alpha) * (self.var + diff * incr);
        }
        self.count = self.count.saturating_add(1);
    }

    /// Folds in `n` zeros at once: with `r = 1 − alpha`, `mean·rⁿ` and
    /// `rⁿ·(var + mean²·(1 − rⁿ))`, which is what `n` calls of [`Ewma::update`] with 0
    /// give (up to rounding).
    pub fn update_zeros(&mut self, alpha: f64, n: u64) {
        if n == 0 {
            return;
        }
        let mut n = n;
        if self.count == 0 {
            self.update(alpha, 0.0);
            n -= 1;
        }
        // Past a few thousand steps rⁿ is 0 in f64 for any alpha the config allows.
        let rn = (1.0 - alpha).powi(n.min(100_000) as i32);
        let mean = self.mean;
        self.var = rn * (self.var + mean * mean * (1.0 - rn));
        self.mean = mean * rn;
        self.count = self.count.saturating_add(n);
    }

    /// The standard deviation.
    pub fn stddev(&self) -> f64 {
        self.var.max(0.0).sqrt()
    }

    /// `mean + k·stddev`, never below `floor`.
    pub fn threshold(&self, k: f64, floor: f64) -> f64 {
        (self.mean + k * self.stddev()).max(floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn first_value_sets_the_mean() {
        let mut e = Ewma::default();
        e.update(0.3, 42.0);
        assert_eq!((e.mean, e.var, e.count), (42.0, 0.0, 1));
    }

    #[test]
    fn constant_series_has_no_variance() {
        let mut e = Ewma::default();
        for _ in 0..50 {
            e.update(0.3, 10.0);
        }
        assert!(close(e.mean, 10.0));
        assert!(close(e.var, 0.0));
        assert_eq!(e.threshold(4.0, 0.0), 10.0);
        assert_eq!(e.threshold(4.0, 500.0), 500.0);
    }

    #[test]
    fn hand_computed_steps() {
        // 0 then 10 with alpha 0.3: diff 10, incr 3 → mean 3, var 0.7·(0 + 10·3) = 21.
        let mut e = Ewma::default();
        e.update(0.3, 0.0);
        e.update(0.3, 10.0);
        assert!(close(e.mean, 3.0));
        assert!(close(e.var, 21.0));
        // Then 3: diff 0 → mean 3, var 0.7·21 = 14.7.
        e.update(0.3, 3.0);
        assert!(close(e.mean, 3.0));
        assert!(close(e.var, 14.7));
        assert!(close(e.threshold(2.0, 0.0), 3.0 + 2.0 * 14.7f64.sqrt()));
    }

    #[test]
    fn converges_to_the_long_run_mean_and_variance() {
        // Alternating 0 and 100: mean near 50, variance near 2500 (± alpha effects).
        let mut e = Ewma::default();
        for i in 0..1000 {
            e.update(0.05, if i % 2 == 0 { 0.0 } else { 100.0 });
        }
        assert!((e.mean - 50.0).abs() < 3.0, "{}", e.mean);
        assert!((e.stddev() - 50.0).abs() < 3.0, "{}", e.stddev());
    }

    #[test]
    fn closed_form_zeros_match_stepwise_updates() {
        for alpha in [0.01, 0.1, 0.3, 0.9, 1.0] {
            for n in [1u64, 2, 5, 13, 100, 1000] {
                let mut stepwise = Ewma::default();
                let mut closed = Ewma::default();
                for x in [120.0, 80.0, 95.0, 150.0] {
                    stepwise.update(alpha, x);
                    closed.update(alpha, x);
                }
                for _ in 0..n {
                    stepwise.update(alpha, 0.0);
                }
                closed.update_zeros(alpha, n);
                assert!(close(stepwise.mean, closed.mean), "alpha {alpha} n {n}");
                assert!(close(stepwise.var, closed.var), "alpha {alpha} n {n}");
                assert_eq!(stepwise.count, closed.count);
            }
        }
    }

    #[test]
    fn zeros_on_an_empty_baseline() {
        let mut e = Ewma::default();
        e.update_zeros(0.3, 5);
        assert_eq!((e.mean, e.var, e.count), (0.0, 0.0, 5));
        e.update_zeros(0.3, 0);
        assert_eq!(e.count, 5);
        e.update_zeros(0.3, u64::MAX - 2);
        assert_eq!(e.count, u64::MAX);
    }
}
