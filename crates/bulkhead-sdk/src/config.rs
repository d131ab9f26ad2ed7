//! Allocation-free `key = value` config parsing.

/// A view over config bytes of the form
///
/// ```text
/// # comment
/// instrument = 0
/// spread_ticks = 1_000     # trailing comments allowed
/// name = "mm-1"            # strings may be quoted ("…" or '…')
/// ```
///
/// Blank lines, `#` / `;` comments and `[section]` headers are ignored; keys and
/// values are trimmed; integers may carry `_` separators and a sign. When a key
/// appears twice the last one wins. Nothing is copied: lookups scan the bytes.
#[derive(Clone, Copy, Debug)]
pub struct Config<'a> {
    bytes: &'a [u8],
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() { b = rest } else { break }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() { b = rest } else { break }
    }
    b
}

/// Strip a trailing comment (`#` outside quotes) and surrounding quotes.
fn clean_value(v: &[u8]) -> &[u8] {
    let v = trim(v);
    if let Some(&q) = v.first()
        && (q == b'"' || q == b'\'')
        && let Some(end) = v[1..].iter().position(|&c| c == q)
    {
        return &v[1..1 + end];
    }
    let end = v.iter().position(|&c| c == b'#').unwrap_or(v.len());
    trim(&v[..end])
}

fn parse_i64(v: &[u8]) -> Option<i64> {
    let (neg, digits) = match v {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, v),
    };
    let mut any = false;
    let mut acc: i64 = 0;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                acc = acc.checked_mul(10)?.checked_sub((c - b'0') as i64)?;
                any = true;
            }
            b'_' if any => {}
            _ => return None,
        }
    }
    if !any {
        return None;
    }
    // accumulated negatively so i64::MIN parses
    if neg { Some(acc) } else { acc.checked_neg() }
}

impl<'a> Config<'a> {
    /// Wrap config bytes (never fails; unparseable lines are skipped).
    pub fn parse(bytes: &'a [u8]) -> Config<'a> {
        Config { bytes }
    }

    /// Every `(key, value)` pair in order (values cleaned as for [`Config::get_str`];
    /// non-UTF-8 lines are skipped). Useful to warn about unknown keys.
    pub fn entries(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.raw_entries().filter_map(|(k, v)| Some((core::str::from_utf8(k).ok()?, core::str::from_utf8(v).ok()?)))
    }

    fn raw_entries(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        self.bytes.split(|&c| c == b'\n').filter_map(|line| {
            let line = trim(line);
            if line.is_empty() || matches!(line[0], b'#' | b';' | b'[') {
                return None;
            }
            let eq = line.iter().position(|&c| c == b'=')?;
            let key = trim(&line[..eq]);
            if key.is_empty() {
                return None;
            }
            Some((key, clean_value(&line[eq + 1..])))
        })
    }

    fn raw(&self, key: &str) -> Option<&'a [u8]> {
        self.raw_entries().filter(|(k, _)| *k == key.as_bytes()).last().map(|(_, v)| v)
    }

    /// The value of `key` as text (quotes removed).
    pub fn get_str(&self, key: &str) -> Option<&'a str> {
        core::str::from_utf8(self.raw(key)?).ok()
    }

    /// The value of `key` as an integer; `None` if absent or not an integer.
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        parse_i64(self.raw(key)?)
    }

    /// The value of `key` as a non-negative integer.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get_i64(key).and_then(|v| u64::try_from(v).ok())
    }

    /// The value of `key` as a bool (`true/false/1/0/yes/no/on/off`).
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        match self.raw(key)? {
            b"true" | b"1" | b"yes" | b"on" => Some(true),
            b"false" | b"0" | b"no" | b"off" => Some(false),
            _ => None,
        }
    }

    /// Whether `key` is present at all.
    pub fn contains(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    /// [`Config::get_i64`] with a default.
    pub fn i64_or(&self, key: &str, default: i64) -> i64 {
        self.get_i64(key).unwrap_or(default)
    }

    /// [`Config::get_u64`] with a default.
    pub fn u64_or(&self, key: &str, default: u64) -> u64 {
        self.get_u64(key).unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ints_strings_comments_and_overrides() {
        let c = Config::parse(
            b"# header\n[section]\n instrument = 3 \nspread_ticks=1_000 # ten\nname = \"mm # 1\"\nneg = -42\n\
              \r\nbad = 12x\nflag = yes\nspread_ticks = 7\nother='x'\nempty =\n=5\nnoeq\n",
        );
        assert_eq!(c.get_i64("instrument"), Some(3));
        assert_eq!(c.get_i64("spread_ticks"), Some(7), "last wins");
        assert_eq!(c.get_str("name"), Some("mm # 1"));
        assert_eq!(c.get_str("other"), Some("x"));
        assert_eq!(c.get_i64("neg"), Some(-42));
        assert_eq!(c.get_u64("neg"), None);
        assert_eq!(c.get_i64("bad"), None);
        assert_eq!(c.get_str("bad"), Some("12x"));
        assert_eq!(c.get_bool("flag"), Some(true));
        assert_eq!(c.get_str("empty"), Some(""));
        assert_eq!(c.get_i64("empty"), None);
        assert_eq!(c.get_i64("missing"), None);
        assert_eq!(c.i64_or("missing", 9), 9);
        assert!(!c.contains("noeq"));
        assert!(!c.contains("section"));
        assert_eq!(c.entries().count(), 9);
    }

    #[test]
    fn integer_edges() {
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"_1"), None);
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_i64(b"+5"), Some(5));
    }

    #[test]
    fn survives_garbage() {
        let junk: [u8; 6] = [0xff, b'=', 0xfe, b'\n', b'a', b'='];
        let c = Config::parse(&junk);
        assert_eq!(c.get_str("a"), Some(""));
        assert_eq!(c.entries().count(), 1);
    }
}
