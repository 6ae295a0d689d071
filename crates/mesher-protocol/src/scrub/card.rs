//! Payment card numbers inside free text.
//!
//! Hand-written rather than a regular expression: this crate has no regex dependency, the
//! Luhn check cannot be expressed as a pattern anyway, and one byte scan that gives up early on
//! strings with fewer than [`MIN_DIGITS`] digits keeps the common case (no card anywhere) cheap
//! on a path every event takes.
//!
//! A card number is 13 to 19 digits, written together or in groups separated by single spaces
//! or dashes (`4111 1111 1111 1111`, `4111-1111-1111-1111`), starting with an issuer digit 2–6
//! (Mastercard 2-series, Amex, Visa, Mastercard, Discover: Relay's vendor prefixes, widened),
//! standing alone as a word and passing the Luhn check. The Luhn check is what keeps ids,
//! timestamps and other long numbers that merely have the right length: only one random digit
//! string in ten passes it.

use super::FILTERED;

/// Fewest digits of a card number.
pub(crate) const MIN_DIGITS: usize = 13;
/// Most digits of a card number.
const MAX_DIGITS: usize = 19;

/// Replaces each card number in `text` by [`FILTERED`] and returns how many were replaced.
/// Allocates only when one is found.
pub(crate) fn scrub_cards(text: &mut String) -> u32 {
    // Most strings have too few digits for a card: stop counting as soon as there are enough.
    let enough = text
        .bytes()
        .filter(u8::is_ascii_digit)
        .nth(MIN_DIGITS - 1)
        .is_some();
    if !enough {
        return 0;
    }
    let bytes = text.as_bytes();
    let mut replaced: Option<String> = None;
    let mut copied = 0;
    let mut from = 0;
    let mut count = 0;
    while let Some((start, end)) = find_card(bytes, from) {
        let out = replaced.get_or_insert_with(|| String::with_capacity(text.len()));
        // Matches start and end on ASCII digits, so these are character boundaries.
        out.push_str(&text[copied..start]);
        out.push_str(FILTERED);
        copied = end;
        from = end;
        count += 1;
    }
    if let Some(mut out) = replaced {
        out.push_str(&text[copied..]);
        *text = out;
    }
    count
}

/// Whether `text` holds digit groups joined by single spaces or dashes with at least
/// [`MIN_DIGITS`] digits together: what every card number in it is, and most other text is not.
pub(crate) fn long_digit_run(text: &str) -> bool {
    let b = text.as_bytes();
    let mut digits = 0;
    for (i, &c) in b.iter().enumerate() {
        if c.is_ascii_digit() {
            digits += 1;
            if digits >= MIN_DIGITS {
                return true;
            }
        } else {
            let joins = matches!(c, b' ' | b'-')
                && i > 0
                && b[i - 1].is_ascii_digit()
                && b.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !joins {
                digits = 0;
            }
        }
    }
    false
}

/// Letters, digits and `_` continue a word: a card number must not touch them.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The byte range of the first card number at or after `from`.
fn find_card(b: &[u8], mut i: usize) -> Option<(usize, usize)> {
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A run: digit groups joined by single separators. Groups past what a card can hold
        // are not recorded; the run is still consumed so the scan moves on.
        let run_start = i;
        let mut groups = [(0usize, 0usize); MAX_DIGITS];
        let mut n = 0;
        let mut j = i;
        loop {
            let group_start = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if n < groups.len() {
                groups[n] = (group_start, j);
                n += 1;
            }
            let joined =
                j + 1 < b.len() && matches!(b[j], b' ' | b'-') && b[j + 1].is_ascii_digit();
            if !joined {
                break;
            }
            j += 1;
        }
        let run_end = j;
        let alone = (run_start == 0 || !is_word(b[run_start - 1]))
            && (run_end == b.len() || !is_word(b[run_end]));
        if alone && let Some(found) = card_in_groups(b, &groups[..n]) {
            return Some(found);
        }
        i = run_end;
    }
    None
}

/// The first span of whole groups that is a card number. Spans inside a run are bounded by
/// separators, so they stand alone as words too (`2024-01-15 4111 1111 1111 1111`).
fn card_in_groups(b: &[u8], groups: &[(usize, usize)]) -> Option<(usize, usize)> {
    for (first, &(start, _)) in groups.iter().enumerate() {
        if !matches!(b[start], b'2'..=b'6') {
            continue;
        }
        let mut digits = 0;
        for &(group_start, group_end) in &groups[first..] {
            digits += group_end - group_start;
            if digits > MAX_DIGITS {
                break;
            }
            if digits >= MIN_DIGITS && luhn(b, &groups[first..], group_end) {
                return Some((start, group_end));
            }
        }
    }
    None
}

/// The Luhn checksum over the digits of `groups` up to byte `end`.
fn luhn(b: &[u8], groups: &[(usize, usize)], end: usize) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    // From the check digit leftwards, doubling every second digit.
    for &(group_start, group_end) in groups.iter().rev() {
        if group_start >= end {
            continue;
        }
        for &digit in b[group_start..group_end.min(end)].iter().rev() {
            let mut d = u32::from(digit - b'0');
            if double {
                d *= 2;
                if d > 9 {
                    d -= 9;
                }
            }
            sum += d;
            double = !double;
        }
    }
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrubbed(text: &str) -> (String, u32) {
        let mut text = text.to_owned();
        let n = scrub_cards(&mut text);
        (text, n)
    }

    #[test]
    fn issue_11_valid_cards_are_replaced_in_any_common_spelling() {
        for card in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5555 5555 5555 4444",
            "378282246310005",
            "3782 822463 10005",
            "6011 1111 1111 1117",
            "2223 0031 2200 3222",
        ] {
            assert_eq!(
                scrubbed(&format!("charge {card} declined")),
                ("charge [Filtered] declined".to_owned(), 1),
                "{card}"
            );
            assert_eq!(scrubbed(card), ("[Filtered]".to_owned(), 1), "{card}");
        }
    }

    #[test]
    fn issue_11_numbers_failing_luhn_are_kept() {
        for text in [
            "4111 1111 1111 1112",
            "4111111111111113",
            "order 5555555555554445",
            // Right length and Luhn-valid, but no issuer starts with 1 or 9: a timestamp in ms.
            "at 1700000000008",
            "id 9111111111111111",
        ] {
            assert_eq!(scrubbed(text), (text.to_owned(), 0), "{text}");
        }
    }

    #[test]
    fn issue_11_long_digit_runs_cover_every_card() {
        for card in [
            "4111111111111111",
            "x 4111 1111 1111 1111.",
            "\\n4111-1111-1111-1111",
        ] {
            assert!(long_digit_run(card), "{card}");
        }
        for text in [
            "2024-01-15 10:00:00",
            "123456789012",
            "12 345 678 9012 -3",
            "a1b2c3d4e5f6g7h8i9j0k1l2m3n4",
        ] {
            assert!(!long_digit_run(text), "{text}");
        }
        assert!(long_digit_run("id 1234567890123"));
    }

    #[test]
    fn issue_11_cards_must_stand_alone() {
        for text in [
            "x4111111111111111",
            "4111111111111111x",
            "id_4111111111111111",
            // Too many digits: an id, not a card.
            "41111111111111111111111",
            "4111 1111",
        ] {
            assert_eq!(scrubbed(text), (text.to_owned(), 0), "{text}");
        }
    }

    #[test]
    fn issue_11_several_cards_and_neighbouring_numbers() {
        assert_eq!(
            scrubbed("2024-01-15 4111 1111 1111 1111, then 5555-5555-5555-4444."),
            ("2024-01-15 [Filtered], then [Filtered].".to_owned(), 2)
        );
        assert_eq!(
            scrubbed("kärtchen=4111111111111111 ✓"),
            ("kärtchen=[Filtered] ✓".to_owned(), 1)
        );
    }

    #[test]
    fn luhn_known_values() {
        let check = |s: &str| luhn(s.as_bytes(), &[(0, s.len())], s.len());
        assert!(check("79927398713"));
        assert!(!check("79927398710"));
        assert!(check("4111111111111111"));
    }
}
