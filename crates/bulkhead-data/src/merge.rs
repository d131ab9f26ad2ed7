//! Deterministic k-way merge of several sources by timestamp.

use crate::{DataError, MarketSource};
use bulkhead_abi::Event;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Merges several [`MarketSource`]s (instruments, venues, files) into one
/// stream in timestamp order. Ties are broken by source index, then by each
/// source's own order, so the output is the same on every run.
pub struct MergedSource {
    sources: Vec<Box<dyn MarketSource>>,
    heads: Vec<Option<Event>>,
    /// (ts_ns, source index) of every source with a pending head.
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    primed: bool,
    last_ts: u64,
}

impl MergedSource {
    pub fn new(sources: Vec<Box<dyn MarketSource>>) -> MergedSource {
        let n = sources.len();
        MergedSource { sources, heads: vec![None; n], heap: BinaryHeap::with_capacity(n), primed: false, last_ts: 0 }
    }

    pub fn sources(&self) -> &[Box<dyn MarketSource>] {
        &self.sources
    }

    fn pull(&mut self, i: usize) -> Result<(), DataError> {
        if let Some(e) = self.sources[i].next_event()? {
            self.heap.push(Reverse((e.ts_ns, i)));
            self.heads[i] = Some(e);
        }
        Ok(())
    }
}

impl MarketSource for MergedSource {
    fn next_event(&mut self) -> Result<Option<Event>, DataError> {
        if !self.primed {
            self.primed = true;
            for i in 0..self.sources.len() {
                self.pull(i)?;
            }
        }
        let Some(Reverse((_, i))) = self.heap.pop() else { return Ok(None) };
        let e = self.heads[i].take().expect("heap entry has a head");
        self.pull(i)?;
        debug_assert!(e.ts_ns >= self.last_ts, "a source went backwards in time");
        self.last_ts = e.ts_ns;
        Ok(Some(e))
    }

    /// Sum of the sources' hints, if all are known.
    fn len_hint(&self) -> Option<u64> {
        self.sources.iter().map(|s| s.len_hint()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Generator, GeneratorSpec};
    use bulkhead_abi::EventKind;

    struct Fixed(std::vec::IntoIter<Event>);
    impl MarketSource for Fixed {
        fn next_event(&mut self) -> Result<Option<Event>, DataError> {
            Ok(self.0.next())
        }
        fn len_hint(&self) -> Option<u64> {
            None
        }
    }

    fn ev(inst: u32, ts: u64, id: u64) -> Event {
        let mut e = Event::new(EventKind::Trade, inst, ts);
        e.id = id;
        e
    }

    #[test]
    fn ties_break_by_source_index_then_file_order() {
        let a = vec![ev(0, 5, 1), ev(0, 5, 2), ev(0, 9, 3)];
        let b = vec![ev(1, 1, 4), ev(1, 5, 5), ev(1, 9, 6)];
        let c: Vec<Event> = vec![];
        let mut m = MergedSource::new(vec![
            Box::new(Fixed(a.into_iter())),
            Box::new(Fixed(c.into_iter())),
            Box::new(Fixed(b.into_iter())),
        ]);
        let mut ids = Vec::new();
        while let Some(e) = m.next_event().unwrap() {
            ids.push(e.id);
        }
        assert_eq!(ids, vec![4, 1, 2, 5, 3, 6]);
        assert_eq!(m.next_event().unwrap(), None);
    }

    #[test]
    fn merge_is_sorted_complete_and_deterministic() {
        let run = || {
            let mut m = MergedSource::new(
                (0..4)
                    .map(|i| {
                        Box::new(Generator::new(GeneratorSpec {
                            seed: i,
                            instrument: i as u32,
                            events: 2_000 + 500 * i,
                            ..Default::default()
                        })) as Box<dyn MarketSource>
                    })
                    .collect(),
            );
            assert_eq!(m.len_hint(), Some(2_000 + 2_500 + 3_000 + 3_500));
            let mut v = Vec::new();
            while let Some(e) = m.next_event().unwrap() {
                v.push(e);
            }
            v
        };
        let a = run();
        assert_eq!(a.len(), 11_000);
        assert!(a.windows(2).all(|w| (w[0].ts_ns, w[0].instrument) <= (w[1].ts_ns, w[1].instrument)));
        for i in 0..4u32 {
            let mine: Vec<Event> = a.iter().filter(|e| e.instrument == i).copied().collect();
            let direct: Vec<Event> = Generator::new(GeneratorSpec {
                seed: i as u64,
                instrument: i,
                events: 2_000 + 500 * i as u64,
                ..Default::default()
            })
            .collect();
            assert_eq!(mine, direct);
        }
        assert_eq!(a, run());
    }
}
