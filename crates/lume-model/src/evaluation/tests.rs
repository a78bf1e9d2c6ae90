use super::{SCORING_TOKENS, batch_bounds};
use proptest::prelude::*;

/// Padded tokens plus `cost` per batch.
fn total(lens: &[usize], bounds: &[std::ops::Range<usize>], cost: usize) -> usize {
    bounds.iter().map(|r| r.len() * lens[r.start] + cost).sum()
}

/// Cut wherever the next row no longer fits.
fn greedy(lens: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut bounds: Vec<std::ops::Range<usize>> = Vec::new();
    for i in 0..lens.len() {
        match bounds.last_mut() {
            Some(r) if (r.len() + 1) * lens[r.start] <= SCORING_TOKENS => r.end = i + 1,
            _ => bounds.push(i..i + 1),
        }
    }
    bounds
}

#[test]
fn short_rows_are_not_padded_to_a_long_ones_length() {
    let lens = [300, 290, 100, 95, 20, 20];
    assert_eq!(greedy(&lens), vec![0..6]);
    assert_eq!(batch_bounds(&lens, 64), vec![0..2, 2..4, 4..6]);
}

proptest! {
    #[test]
    fn batches_cover_every_row_once_within_the_limit_and_cost_no_more_than_greedy(
        mut lens in proptest::collection::vec(1usize..3000, 0..200),
        cost in 0usize..200,
    ) {
        lens.sort_unstable_by(|a, b| b.cmp(a));
        let bounds = batch_bounds(&lens, cost);
        let mut next = 0;
        for r in &bounds {
            prop_assert_eq!(r.start, next);
            prop_assert!(r.end > r.start);
            prop_assert!(r.len() == 1 || r.len() * lens[r.start] <= SCORING_TOKENS);
            next = r.end;
        }
        prop_assert_eq!(next, lens.len());
        prop_assert!(total(&lens, &bounds, cost) <= total(&lens, &greedy(&lens), cost));
        let singles: Vec<_> = (0..lens.len()).map(|i| i..i + 1).collect();
        prop_assert!(total(&lens, &bounds, cost) <= total(&lens, &singles, cost));
    }
}
