//! An exact sliding-window log, for quotas that allow bursts (per hour, per day, tokens).

use std::collections::VecDeque;

/// The most entries a log keeps; beyond that, the two oldest are merged (see `commit`).
const MAX_ENTRIES: usize = 4096;

/// A log of `(time, weight)` acquisitions within the last `period`. An acquisition of `w` at
/// `now` is allowed when the weights logged after `now - period` plus `w` stay within `limit`,
/// which is exactly "no window of length `period` holds more than `limit`".
///
/// Memory is bounded: past `MAX_ENTRIES`, the two oldest entries merge into one stamped with the
/// later time. That can only make an entry expire later than it would have, so the limit is never
/// exceeded; at worst a slot comes free slightly late.
#[derive(Debug)]
pub(crate) struct WindowLog {
    limit: u64,
    period: u64,
    entries: VecDeque<(u64, u64)>,
    cap: usize,
    sum: u64,
}

impl WindowLog {
    pub(crate) fn new(limit: u32, period_nanos: u64) -> Self {
        let capacity = (limit as usize).min(MAX_ENTRIES);
        WindowLog {
            limit: u64::from(limit),
            period: period_nanos,
            entries: VecDeque::with_capacity(capacity),
            cap: capacity.max(1),
            sum: 0,
        }
    }

    fn expire(&mut self, now: u64) {
        while let Some(&(t, w)) = self.entries.front() {
            if t.saturating_add(self.period) > now {
                break;
            }
            self.sum -= w;
            self.entries.pop_front();
        }
    }

    /// `Ok` when `weight` fits now; otherwise nanoseconds until it would (`None`: never).
    pub(crate) fn check(&mut self, now: u64, weight: u32) -> Result<(), Option<u64>> {
        let w = u64::from(weight);
        if w > self.limit {
            return Err(None);
        }
        self.expire(now);
        if self.sum + w <= self.limit {
            return Ok(());
        }
        let mut to_free = self.sum + w - self.limit;
        for &(t, weight) in &self.entries {
            if weight >= to_free {
                // An entry logged by a thread that read the clock later than ours may lie
                // after `now`: never a negative wait.
                return Err(Some(t.saturating_add(self.period).saturating_sub(now)));
            }
            to_free -= weight;
        }
        // Unreachable when the sum is consistent; fall back to a full period.
        Err(Some(self.period))
    }

    /// Logs an acquisition that `check` allowed at `now`.
    pub(crate) fn commit(&mut self, now: u64, weight: u32) {
        let w = u64::from(weight);
        self.sum += w;
        // Same instant: one entry, so bursts do not eat the log.
        if let Some(last) = self.entries.back_mut().filter(|last| last.0 == now) {
            last.1 += w;
            return;
        }
        if self.entries.len() >= self.cap {
            if let Some((_, oldest)) = self.entries.pop_front() {
                match self.entries.front_mut() {
                    Some(second) => second.1 += oldest,
                    // A one-entry log: the new entry absorbs the old weight.
                    None => {
                        self.entries.push_back((now, w + oldest));
                        return;
                    }
                }
            }
        }
        self.entries.push_back((now, w));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_limit_then_waits_for_oldest_to_expire() {
        let mut log = WindowLog::new(3, 100);
        for t in [0, 10, 20] {
            assert_eq!(log.check(t, 1), Ok(()));
            log.commit(t, 1);
        }
        assert_eq!(log.check(30, 1), Err(Some(70)));
        assert_eq!(log.check(100, 1), Ok(()));
        assert_eq!(log.check(30, 4), Err(None));
    }

    #[test]
    fn merging_when_full_never_admits_more() {
        // A limit far above the entry cap: merging kicks in, the sum stays exact.
        let mut log = WindowLog::new(10_000, 1_000_000);
        let mut admitted = 0;
        for t in 0..20_000u64 {
            if log.check(t, 1).is_ok() {
                log.commit(t, 1);
                admitted += 1;
            }
        }
        assert_eq!(admitted, 10_000);
        assert!(log.entries.len() <= MAX_ENTRIES);
    }
}
