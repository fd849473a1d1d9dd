//! Length-grouped training batches, as `transformers`' `group_by_length`
//! (`trainer_pt_utils.get_length_grouped_indices`): a shuffled order is cut into megabatches of
//! `min(n / (4 * batch_size), 50)` batches (at least one), each megabatch is sorted by length,
//! longest first (stable), and the longest demonstration of all is swapped to the very front, so
//! that the largest batch runs first (an out-of-memory error comes at once, not hours in). Batches
//! then hold demonstrations of similar lengths and carry less padding; the order is still random
//! across megabatches and epochs.

use crate::demonstrations::Demonstration;

/// The length that groups a demonstration: bytes of the prompt plus its longest response (the
/// expert's or a baseline's). Bytes stand in for tokens, which only the reward model knows.
pub fn demonstration_length(d: &Demonstration) -> usize {
    let longest = d
        .baselines
        .iter()
        .map(String::len)
        .chain(std::iter::once(d.expert.len()))
        .max()
        .unwrap_or(0);
    d.prompt.len() + longest
}

/// Regroups `shuffled` (a permutation of `0..lengths.len()`) for batches of `batch_size`, as
/// `get_length_grouped_indices` does with the permutation it draws.
pub fn length_grouped_order(
    shuffled: &[usize],
    lengths: &[usize],
    batch_size: usize,
) -> Vec<usize> {
    let n = lengths.len();
    let mult = (n / (batch_size.max(1) * 4)).clamp(1, 50);
    let mut megabatches: Vec<Vec<usize>> = shuffled
        .chunks(mult * batch_size.max(1))
        .map(|m| {
            let mut m = m.to_vec();
            m.sort_by(|&a, &b| lengths[b].cmp(&lengths[a]));
            m
        })
        .collect();
    // The first megabatch holding the overall maximum (torch.argmax takes the first).
    let max_idx = megabatches
        .iter()
        .enumerate()
        .fold(None::<(usize, usize)>, |best, (i, m)| {
            let len = m.first().map_or(0, |&j| lengths[j]);
            match best {
                Some((_, l)) if l >= len => best,
                _ => Some((i, len)),
            }
        })
        .map_or(0, |(i, _)| i);
    if max_idx != 0 {
        let longest = megabatches[max_idx][0];
        megabatches[max_idx][0] = megabatches[0][0];
        megabatches[0][0] = longest;
    }
    megabatches.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_sorted_within_megabatches_and_longest_first() {
        // 16 items, batch 2: mult = 16 / 8 = 2, megabatches of 4.
        let lengths = [3, 9, 1, 7, 5, 2, 8, 6, 4, 30, 0, 11, 12, 13, 10, 14];
        let shuffled: Vec<usize> = (0..16).collect();
        let got = length_grouped_order(&shuffled, &lengths, 2);
        // Megabatches [3,9,1,7] [5,2,8,6] [4,30,0,11] [12,13,10,14], each sorted descending,
        // then 30 (third megabatch) swapped with 9 (the first one's head).
        let expected = vec![9, 3, 0, 2, 6, 7, 4, 5, 1, 11, 8, 10, 15, 13, 12, 14];
        assert_eq!(got, expected);
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, shuffled);
    }

    #[test]
    fn length_is_prompt_plus_longest_response() {
        let d = Demonstration {
            prompt: "abc".into(),
            expert: "de".into(),
            baselines: vec!["fghij".into(), "k".into()],
            expert_ref_logprob: None,
            baseline_ref_logprobs: None,
            expert_expert_logprob: None,
            baseline_expert_logprobs: None,
        };
        assert_eq!(demonstration_length(&d), 8);
    }
}
