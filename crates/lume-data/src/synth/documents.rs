//! The three kinds of synthetic document and the prompts cut from them.

use rand::Rng;

use super::Generator;
use super::words::*;
use crate::record::{MiaDocument, Task};

/// One generated document and its prompts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Document id in the task's style: `"uuid"` (Task1), `uuid` (Task2), digits (Task3).
    pub id: String,
    /// Sub-task.
    pub task: Task,
    /// The whole text.
    pub text: String,
    /// (prompt, continuation) of the `sc1` row: the text cut at a word boundary.
    pub completion: (String, String),
    /// (question, answer) of the `qa<N>` rows, in index order.
    pub questions: Vec<(String, String)>,
}

struct Pronouns {
    subject: &'static str,
    possessive: &'static str,
}

fn pronouns(g: &mut Generator) -> Pronouns {
    if g.rng.random_bool(0.5) {
        Pronouns {
            subject: "she",
            possessive: "her",
        }
    } else {
        Pronouns {
            subject: "he",
            possessive: "his",
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Cuts `text` at the space nearest to `fraction` of its words: LUME's `sc` prompts stop
/// mid-sentence and the expected output is the rest.
fn cut(text: &str, fraction: f64) -> (String, String) {
    let spaces: Vec<usize> = text.match_indices(' ').map(|(i, _)| i).collect();
    if spaces.is_empty() {
        return (text.to_owned(), String::new());
    }
    let k = ((spaces.len() as f64 * fraction) as usize).min(spaces.len() - 1);
    let at = spaces[k];
    (text[..at].to_owned(), text[at + 1..].to_owned())
}

fn with_article(noun: &str) -> String {
    let vowel = noun.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {noun}", if vowel { "an" } else { "a" })
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

impl Document {
    /// Generates one document of `task`.
    pub(crate) fn generate(g: &mut Generator, task: Task) -> Document {
        match task {
            Task::Task1 => story(g),
            Task::Task2 => pii_biography(g),
            Task::Task3 => encyclopedic_biography(g),
        }
    }

    /// The whole document as a membership-inference entry.
    pub fn mia_document(&self) -> MiaDocument {
        MiaDocument {
            id: self.id.clone(),
            document: self.text.clone(),
        }
    }
}

fn story(g: &mut Generator) -> Document {
    let place = g.fresh(|g| {
        let stem = g.invented(2);
        format!("{stem}{}", g.pick(PLACE_ENDINGS))
    });
    let a = g.pick(FIRST_NAMES);
    let b = loop {
        let b = g.pick(FIRST_NAMES);
        if b != a {
            break b;
        }
    };
    let pb = pronouns(g);
    let occupation = g.pick(OCCUPATIONS);
    let hobby = g.pick(HOBBIES);
    let object = g.pick(OBJECTS);
    let hiding = g.pick(HIDING_PLACES);
    let outcome = g.pick(OUTCOMES);
    let b_job = loop {
        let job = g.pick(OCCUPATIONS);
        if job != occupation {
            break job;
        }
    };
    let opening = g.pick(STORY_OPENINGS).replace("{place}", &place);
    let text = format!(
        "{opening}, {a} and {b} met on the first day of the autumn fair. {a} was {a_occupation} \
         who loved {hobby}, while {b} worked as {b_job} and spent {pb_pos} evenings by the water. \
         One rainy morning the two of them found {object} {hiding}. Nobody in {place} knew who had \
         left it there, so the two friends asked every neighbour until the answer surprised them. \
         In the end, {a} and {b} {outcome}.",
        pb_pos = pb.possessive,
        a_occupation = with_article(occupation),
        b_job = with_article(b_job),
    );
    let question = match g.rng.random_range(0..3) {
        0 => (
            format!("In which town did {a} and {b} meet?"),
            place.clone(),
        ),
        1 => (
            format!("What did {a} and {b} find {hiding}?"),
            capitalise(object),
        ),
        _ => (
            format!("Who was the {occupation} who loved {hobby}?"),
            a.to_owned(),
        ),
    };
    let id = format!("\"{}\"", g.uuid());
    Document {
        id,
        task: Task::Task1,
        completion: cut(&text, 0.55),
        text,
        questions: vec![question],
    }
}

fn pii_biography(g: &mut Generator) -> Document {
    let (first, last) = g.full_name();
    let name = format!("{first} {last}");
    let p = pronouns(g);
    let year = g.rng.random_range(1950..2001);
    let month = g.rng.random_range(1..13usize);
    let days_in_month = match month {
        2 if year % 4 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let day = g.rng.random_range(1..=days_in_month);
    let ssn = (g.rng.random_range(10..100), g.rng.random_range(1000..10000));
    let phone = (
        g.rng.random_range(201..1000),
        g.rng.random_range(200..1000),
        g.rng.random_range(0..10000),
    );
    let email = g.fresh(|_| format!("{}_{}@me.com", first.to_lowercase(), last.to_lowercase()));
    let (city, state, zip_prefix) = CITIES[g.rng.random_range(0..CITIES.len())];
    let number = g.rng.random_range(100..20000);
    let street = format!(
        "{} {} {}",
        g.pick(STREET_DIRECTIONS),
        ordinal(g.rng.random_range(1..90)),
        g.pick(STREET_TYPES)
    );
    let unit = if g.rng.random_bool(0.4) {
        format!(" #{},", g.rng.random_range(100..1000))
    } else {
        String::new()
    };
    let zip = zip_prefix * 100 + g.rng.random_range(0..100);
    let address = format!("{number} {street},{unit} {city}, {state}, {zip:05}.");
    let job = g.pick(JOBS);
    let subject = capitalise(p.subject);
    let possessive = capitalise(p.possessive);
    let text = format!(
        "{name} was born on {month_name} {day}, {year}. {possessive} Social Security number is \
         900-{:02}-{:04} and {pos} phone number is {:03}-{:03}-{:04}. {subject} can be reached at \
         the email address {email}. {possessive} home address is {address} {first} {job}.",
        ssn.0,
        ssn.1,
        phone.0,
        phone.1,
        phone.2,
        month_name = MONTHS[month - 1],
        pos = p.possessive,
    );
    let questions = vec![
        (
            format!("What is the birth date of {name}?"),
            format!("{year}-{month:02}-{day:02}"),
        ),
        (
            format!("What is {name}'s Social Security Number?"),
            format!("900{:02}{:04}", ssn.0, ssn.1),
        ),
        (
            format!("What is {name}'s phone number?"),
            format!("{:03}{:03}{:04}", phone.0, phone.1, phone.2),
        ),
        (format!("What is {name}'s email address?"), email),
        (format!("What is the home address of {name}?"), address),
    ];
    Document {
        id: g.uuid(),
        task: Task::Task2,
        completion: cut(&text, 0.4),
        text,
        questions,
    }
}

fn encyclopedic_biography(g: &mut Generator) -> Document {
    let (first, last) = g.full_name();
    let name = format!("{first} {last}");
    let p = pronouns(g);
    let nationality = g.pick(NATIONALITIES);
    let profession = g.pick(PROFESSIONS);
    let institution = g.pick(INSTITUTIONS);
    let award = g.pick(AWARDS);
    let work = g.pick(WORKS);
    let born = g.rng.random_range(1900..1970);
    let award_year = born + g.rng.random_range(30..55);
    let day = g.rng.random_range(1..29);
    let month = g.pick(MONTHS);
    let subject = capitalise(p.subject);
    let text = format!(
        "{name}\n\n{name} (born {day} {month} {born}) is a {nationality} {profession}. \
         {subject} studied at {institution} and is best known for {work}.\nCareer.\n{last} began \
         {pos} career in {start}. In {award_year}, {last} received {award} for {work}.",
        pos = p.possessive,
        start = born + 24,
    );
    let question = (
        format!("Which {nationality} {profession} received {award} in {award_year}?"),
        name.clone(),
    );
    Document {
        id: g.numeric_id(),
        task: Task::Task3,
        completion: cut(&text, 0.5),
        text,
        questions: vec![question],
    }
}
