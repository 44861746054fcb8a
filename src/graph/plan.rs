//! Memory plan: which device buffer each transient tensor of a training step lives in.
//!
//! A step is a fixed list of instructions, each reading and writing tensors. A transient
//! tensor is live from the first instruction that writes it to the last one that reads it;
//! buffers are handed out greedily in instruction order and reused once their tensor dies
//! (best fit by size). Persistent tensors (inputs, parameters, gradients, optimizer and
//! batch-norm state, metric accumulators) are not planned here: they live for the whole run.
//!
//! Legend: instruction index i in 0..n; tensor t in 0..tensors; sizes in bytes.

/// What the planner needs to know about one instruction.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub reads: Vec<usize>,
    pub writes: Vec<usize>,
}

/// The result: `slot[t]` is the buffer index of transient tensor t (None for persistent or
/// unused ones), `slot_bytes[s]` the size of buffer s.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub slot: Vec<Option<usize>>,
    pub slot_bytes: Vec<u64>,
}

impl Plan {
    /// Bytes of all planned buffers together (the transient peak).
    pub fn peak_bytes(&self) -> u64 {
        self.slot_bytes.iter().sum()
    }
}

/// Plan buffers for the tensors marked `transient`, of sizes `bytes`, used by `steps` in order.
pub fn plan(steps: &[Access], bytes: &[u64], transient: &[bool]) -> Plan {
    let n = bytes.len();
    let mut first = vec![usize::MAX; n];
    let mut last = vec![0usize; n];
    for (i, s) in steps.iter().enumerate() {
        for &t in s.writes.iter().chain(&s.reads) {
            first[t] = first[t].min(i);
            last[t] = last[t].max(i);
        }
    }
    let mut slot = vec![None; n];
    let mut slot_bytes: Vec<u64> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        // Allocate before the instruction: its outputs must not share a buffer with anything
        // it reads, and nothing it reads has been freed yet (frees happen after).
        for &t in &s.writes {
            if !transient[t] || slot[t].is_some() {
                continue;
            }
            let best = free
                .iter()
                .enumerate()
                .filter(|(_, &b)| slot_bytes[b] >= bytes[t])
                .min_by_key(|(_, &b)| slot_bytes[b])
                .map(|(k, _)| k);
            slot[t] = Some(match best {
                Some(k) => free.swap_remove(k),
                None => {
                    slot_bytes.push(bytes[t]);
                    slot_bytes.len() - 1
                }
            });
        }
        // Free the tensors whose last use was this instruction.
        let mut dying: Vec<usize> = s.writes.iter().chain(&s.reads).copied().collect();
        dying.sort_unstable();
        dying.dedup();
        for t in dying {
            if transient[t] && last[t] == i {
                if let Some(b) = slot[t] {
                    free.push(b);
                }
            }
        }
    }
    Plan { slot, slot_bytes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(reads: &[usize], writes: &[usize]) -> Access {
        Access {
            reads: reads.to_vec(),
            writes: writes.to_vec(),
        }
    }

    #[test]
    fn a_chain_reuses_two_buffers() {
        // t0 -> t1 -> t2 -> t3 -> t4: at most two tensors are live at once.
        let steps: Vec<Access> = (0..4).map(|i| acc(&[i], &[i + 1])).collect();
        let p = plan(&steps, &[100; 5], &[true; 5]);
        assert_eq!(p.slot_bytes.len(), 2);
        assert_eq!(p.peak_bytes(), 200);
        for (i, s) in steps.iter().enumerate() {
            assert_ne!(
                p.slot[s.reads[0]], p.slot[s.writes[0]],
                "step {i} aliases input and output"
            );
        }
    }

    #[test]
    fn live_tensors_never_share_and_persistent_ones_are_skipped() {
        // t0 is persistent; t1 is read at the very end, so it must keep its buffer.
        let steps = vec![
            acc(&[0], &[1]),
            acc(&[1], &[2]),
            acc(&[2], &[3]),
            acc(&[3, 1], &[4]),
        ];
        let transient = [false, true, true, true, true];
        let p = plan(&steps, &[8, 8, 8, 8, 8], &transient);
        assert_eq!(p.slot[0], None);
        assert_ne!(p.slot[1], p.slot[2]);
        assert_ne!(p.slot[1], p.slot[3]);
        assert_ne!(p.slot[1], p.slot[4]);
        assert_ne!(p.slot[3], p.slot[4]);
    }

    #[test]
    fn best_fit_picks_the_smallest_buffer_that_holds_the_tensor() {
        // t0 (big) and t1 (small) die after step 1; t3 (small) should take t1's buffer.
        let steps = vec![
            acc(&[], &[0, 1]),
            acc(&[0, 1], &[2]),
            acc(&[2], &[3]),
            acc(&[3, 2], &[]),
        ];
        let p = plan(&steps, &[1000, 10, 10, 10], &[true; 4]);
        assert_eq!(p.slot[3], p.slot[1]);
        assert_eq!(p.peak_bytes(), 1020);
    }
}
