//! Events per project in the last minute (the `counts` message), kept in memory from the
//! batches this node commits and the ones its peers announce: a range count over the events
//! table would cost a scan of up to a minute of events per project and second.

use std::collections::HashMap;

use time::OffsetDateTime;

const SECONDS: usize = 60;

/// Per project, sixty one-second buckets.
#[derive(Debug, Default)]
pub struct MinuteCounts {
    projects: HashMap<i64, [(i64, u64); SECONDS]>,
}

impl MinuteCounts {
    /// Adds `n` events of `project` at `at`.
    pub fn add(&mut self, project: i64, at: OffsetDateTime, n: u64) {
        let second = at.unix_timestamp();
        let buckets = self.projects.entry(project).or_insert([(0, 0); SECONDS]);
        let slot = &mut buckets[second.rem_euclid(SECONDS as i64) as usize];
        if slot.0 != second {
            *slot = (second, 0);
        }
        slot.1 += n;
    }

    /// Events of `project` in the 60 seconds up to `at`.
    pub fn count(&self, project: i64, at: OffsetDateTime) -> u64 {
        let now = at.unix_timestamp();
        self.projects.get(&project).map_or(0, |buckets| {
            buckets
                .iter()
                .filter(|(s, _)| *s > now - SECONDS as i64 && *s <= now)
                .map(|(_, n)| n)
                .sum()
        })
    }

    /// Forgets projects with nothing in the last minute.
    pub fn prune(&mut self, at: OffsetDateTime) {
        let now = at.unix_timestamp();
        self.projects
            .retain(|_, buckets| buckets.iter().any(|(s, _)| *s > now - SECONDS as i64));
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;

    /// STREAM-04: the last minute slides with controlled time.
    #[test]
    fn the_last_minute_slides() {
        let t = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let mut m = MinuteCounts::default();
        m.add(1, t, 5);
        m.add(1, t + Duration::seconds(30), 2);
        m.add(2, t, 1);
        assert_eq!(m.count(1, t + Duration::seconds(30)), 7);
        assert_eq!(m.count(1, t + Duration::seconds(59)), 7);
        assert_eq!(m.count(1, t + Duration::seconds(60)), 2);
        assert_eq!(m.count(1, t + Duration::seconds(90)), 0);
        // A bucket reused a minute later starts from zero.
        m.add(1, t + Duration::seconds(60), 1);
        assert_eq!(m.count(1, t + Duration::seconds(60)), 3);
        m.prune(t + Duration::seconds(61));
        assert_eq!(m.count(2, t + Duration::seconds(61)), 0);
        assert!(!m.projects.contains_key(&2));
        // A node restarted days later counts nothing old.
        assert_eq!(m.count(1, t + Duration::days(3)), 0);
    }
}
