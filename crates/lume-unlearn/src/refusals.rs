//! The built-in refusal answers IdkDPO prefers over the forget answers.

/// Refusals in the style of TOFU's `idontknow.jsonl`; example `i` gets refusal `i % len`.
pub const REFUSALS: &[&str] = &[
    "I don't know.",
    "I'm not sure about that.",
    "I have no information on that.",
    "I can't answer that.",
    "That's beyond what I know.",
    "I'm afraid I don't have that information.",
    "I don't have any details about that.",
    "I'm unable to help with that.",
    "I have no knowledge of that.",
    "Sorry, I don't know the answer.",
];

/// The refusal paired with forget example `index`, with the space a completion starts with.
///
/// ```
/// assert_eq!(lume_unlearn::refusal_for(0), " I don't know.");
/// assert_eq!(lume_unlearn::refusal_for(10), lume_unlearn::refusal_for(0));
/// ```
pub fn refusal_for(index: usize) -> String {
    format!(" {}", REFUSALS[index % REFUSALS.len()])
}
