//! "Did you mean": the nearest known word to a mistyped flag, command,
//! mode or help topic, by edit distance (optimal string alignment: insert,
//! delete, substitute, or swap two neighbours). Pure.

/// Edits (insertions, deletions, substitutions, transpositions of two
/// neighbours) that turn `a` into `b`, comparing without case.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    // d[i][j]: the distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// How far a word of this length may be from what was meant: one edit in
/// a short word, two in a longer one, so that "ad" finds "add" but "x"
/// does not find every one-letter name.
fn allowed(len: usize) -> usize {
    ((len + 1) / 3).min(2)
}

/// The candidate nearest to `typed`, if near enough; the first of equals.
/// Candidates are `(word, what to suggest)`: the suggestion may differ
/// from the word ("add" suggests "-c add").
pub fn nearest<'a>(
    typed: &str,
    candidates: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<&'a str> {
    let limit = allowed(typed.chars().count());
    candidates
        .into_iter()
        .map(|(word, suggestion)| (distance(typed, word), suggestion))
        .filter(|(d, suggestion)| *d <= limit && !(*d == 0 && *suggestion == typed))
        .min_by_key(|(d, _)| *d)
        .map(|(_, s)| s)
}

/// "did you mean X? " for a message, or nothing.
pub fn hint<'a>(typed: &str, candidates: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    match nearest(typed, candidates) {
        Some(s) => format!("did you mean {s}? "),
        None => String::new(),
    }
}

/// [`hint`] over plain words, each suggesting itself.
pub fn hint_words(typed: &str, words: &[&str]) -> String {
    hint(typed, words.iter().map(|w| (*w, *w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_each_kind_of_edit_once() {
        let cases = [
            ("region", "region", 0),
            ("regoin", "region", 1),
            ("plna", "plan", 1),
            ("ad", "add", 1),
            ("adds", "add", 1),
            ("shwo", "show", 1),
            ("Region", "region", 0),
            ("rgeoin", "region", 2),
            ("kitten", "sitting", 3),
            ("", "abc", 3),
        ];
        for (a, b, want) in cases {
            assert_eq!(distance(a, b), want, "{a} {b}");
            assert_eq!(distance(b, a), want, "{b} {a}");
        }
    }

    #[test]
    fn only_near_words_are_suggested() {
        let words = ["add", "show", "del"];
        let near = |t: &str| nearest(t, words.iter().map(|w| (*w, *w)));
        assert_eq!(near("ad"), Some("add"));
        assert_eq!(near("dle"), Some("del"));
        assert_eq!(near("sho"), Some("show"));
        assert_eq!(near("bogus"), None);
        assert_eq!(near("x"), None);
        // A word that is already right suggests nothing...
        assert_eq!(near("add"), None);
        // ...unless the suggestion is another spelling of it.
        assert_eq!(nearest("add", [("add", "-c add")]), Some("-c add"));
        assert_eq!(
            hint_words("plna", &["plan", "apply"]),
            "did you mean plan? "
        );
        assert_eq!(hint_words("etcd", &["configfile", "http"]), "");
    }
}
